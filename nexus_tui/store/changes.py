"""Has anyone changed the database? A cheap check the open dashboard runs every poll interval, so rows written by
other processes (``collect --otlp`` in another terminal, an ``ingest``, another machine on PostgreSQL) show up
without a key press.

- SQLite: ``PRAGMA data_version`` on one connection kept open by the watcher: its value changes when any *other*
  connection committed a change since the last call (https://sqlite.org/pragma.html#pragma_data_version).
- PostgreSQL: the ``xmax`` of the current snapshot (the next transaction id to be assigned): it moves when any
  transaction that wrote something commits or aborts (read-only transactions take no id). It is per cluster, so a
  write to another database of the same server also counts: one needless refresh, never a missed one.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

PG_COUNTER_SQL = "SELECT txid_snapshot_xmax(txid_current_snapshot())"


class ChangeWatcher:
    """``changed()``: True when the database changed since the previous call (the first call sets the baseline and
    says False). Thread-safe; ``close()`` gives the kept connection back."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._lock = threading.Lock()
        self._raw = None  # SQLite: the one DBAPI connection data_version is read on
        self._last = None

    def _read(self):
        if self.dialect == "sqlite":
            if self._raw is None:
                self._raw = self.engine.raw_connection()  # autocommit (isolation_level None): no read transaction
            cur = self._raw.cursor()
            try:
                cur.execute("PRAGMA data_version")
                return cur.fetchone()[0]
            finally:
                cur.close()
        from sqlalchemy import text

        with self.engine.connect() as conn:
            value = conn.execute(text(PG_COUNTER_SQL)).scalar()
            conn.rollback()
        return value

    def changed(self) -> bool:
        with self._lock:
            value = self._read()
            before, self._last = self._last, value
        return before is not None and value != before

    def mark_seen(self) -> None:
        """Take the database as it is now as seen (the app already refreshes for a change it made itself)."""
        with self._lock:
            self._last = self._read()

    def close(self) -> None:
        with self._lock:
            if self._raw is not None:
                try:
                    self._raw.close()
                finally:
                    self._raw = None
