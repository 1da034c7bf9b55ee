"""Cancel a read that runs in another thread: interrupt its SQLite statement and refuse its next connection.

Screens run their queries in worker threads. A thread cannot be stopped from outside, so a query the user no longer
needs (they left the screen, changed the range) would keep a core busy for as long as it takes. The canceller knows
which database connection each thread holds (pool checkout/checkin events) and, asked to cancel a thread, calls
``sqlite3.Connection.interrupt()`` on it (made to be called from another thread: the running statement stops with
"interrupted") and makes that thread's next checkout raise ``QueryCancelled``. Other dialects: the next checkout
raises; the running statement finishes.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, event


class QueryCancelled(Exception):
    """The query's thread was cancelled; its result is not wanted."""


class QueryCanceller:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._held: dict[int, list] = {}  # thread id -> dbapi connections it has checked out
        self._active: set[int] = set()  # threads between start() and finish()
        self._cancelled: set[int] = set()  # always a subset of _active
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)

    def close(self) -> None:
        event.remove(self.engine, "checkout", self._on_checkout)
        event.remove(self.engine, "checkin", self._on_checkin)

    def _on_checkout(self, dbapi_conn, _record, _proxy) -> None:
        ident = threading.get_ident()
        with self._lock:
            if ident in self._cancelled:
                raise QueryCancelled("query cancelled")
            self._held.setdefault(ident, []).append(dbapi_conn)

    def _on_checkin(self, dbapi_conn, _record) -> None:
        with self._lock:
            for ident, conns in list(self._held.items()):
                if dbapi_conn in conns:
                    conns.remove(dbapi_conn)
                    if not conns:
                        del self._held[ident]
                    break

    def start(self) -> int:
        """Called by the worker thread before it queries; returns its id for ``cancel``."""
        ident = threading.get_ident()
        with self._lock:
            self._active.add(ident)
            self._cancelled.discard(ident)  # thread ids are reused: a new query starts clean
        return ident

    def finish(self, ident: int) -> None:
        with self._lock:
            self._active.discard(ident)
            self._cancelled.discard(ident)

    def cancel(self, ident: int) -> None:
        """Stop the query running in thread ``ident`` (a no-op when it already finished)."""
        with self._lock:  # held while interrupting: the pool's checkin event (before the connection goes back to
            # the pool) waits for it, so the connection cannot be another thread's by the time it is interrupted
            if ident not in self._active:  # finished already; the id may belong to another thread by now
                return
            self._cancelled.add(ident)
            for c in self._held.get(ident, ()):
                interrupt = getattr(c, "interrupt", None)
                if interrupt is not None:
                    try:
                        interrupt()
                    except Exception:  # noqa: BLE001 - a closed connection: nothing left to stop
                        pass
