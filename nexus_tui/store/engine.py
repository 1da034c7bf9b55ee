"""Engines: SQLite (WAL, busy timeout, immediate write transactions) or any SQLAlchemy URL (PostgreSQL).

This is the one module that knows dialects; everything else uses portable SQLAlchemy Core. SQLAlchemy is imported
on first use, not with this module: ``config`` and the ingest command's parse side (``collect/parsing.py``) import
it without paying for SQLAlchemy, and ``quick_select`` reads a SQLite file with the standard library alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

DEFAULT_BUSY_TIMEOUT_S = 30.0


class StoreError(Exception):
    """A database problem told to the user in one clear sentence."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def folder_problem(url: str) -> str | None:
    """Why SQLite cannot write the plain SQLite file of ``url`` (its folder or the file is read-only), naming what
    to fix; None when it can (or ``url`` is not a plain file)."""
    path = sqlite_file(url)
    if path is None:
        return None
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(folder) and not os.access(folder, os.W_OK | os.X_OK):
        return (f"the folder {folder} is read-only: SQLite must create the database's -wal and -shm files beside "
                f"{os.path.basename(path)}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"the database file {path} is read-only"
    return None


def _read_only_url(path: str) -> str:
    """A read-only URL for ``path``: ``mode=ro``, and ``immutable`` when SQLite could not make the -shm it needs to
    read a WAL database (a read-only folder without one: nobody can be writing there)."""
    from urllib.parse import quote

    q = "mode=ro" if os.path.exists(f"{path}-shm") else "mode=ro&immutable=1"
    return f"sqlite:///file:{quote(os.path.abspath(path))}?{q}&uri=true"


def make_engine(url: str, busy_timeout_s: float | None = None, read_only: bool = False) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE for writers.

    A SQLite file is created 0600 in a 0700 folder (its -wal/-shm/-journal take the file's mode), and an existing
    one of ours is tightened to 0600. ``read_only``: a plain SQLite file is opened read-only (reports on a
    read-only home); nothing is created."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    if busy_timeout_s is None:
        busy_timeout_s = float(os.environ.get("NEXUS_INSIGHTS_BUSY_TIMEOUT", DEFAULT_BUSY_TIMEOUT_S))
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        db = u.database
        plain = sqlite_file(url)
        if read_only and plain is not None:
            url = _read_only_url(plain)
        elif db and db != ":memory:" and not db.startswith("file:"):
            from nexus_tui.private import check_sqlite_path, open_private, private_dir, tighten

            path = Path(db).expanduser()
            private_dir(path.parent)
            check_sqlite_path(path)
            if path.exists():
                for suffix in ("", "-wal", "-shm", "-journal"):
                    tighten(f"{path}{suffix}")
            else:
                os.close(open_private(path, os.O_WRONLY))  # empty: SQLite makes it a database, keeping its mode
        engine = create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _rec):  # pragma: no cover - exercised by every test
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            if not read_only:
                try:
                    cur.execute("PRAGMA journal_mode=WAL")
                except Exception:  # a read-only file cannot switch modes; reading still works
                    pass
                cur.execute("PRAGMA synchronous=NORMAL")
                # checkpoint every 32 MB of WAL rather than every 4 MB: a bulk ingest's commits do not each wait for
                # a checkpoint's fsyncs (durability is WAL + NORMAL's either way); the WAL is cut back to 32 MB
                cur.execute("PRAGMA wal_autocheckpoint=8192")
                cur.execute("PRAGMA journal_size_limit=33554432")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection):  # pragma: no cover
            if conn.get_execution_options().get("nexus_write"):
                _write_cache(conn)
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    if u.get_backend_name() == "postgresql" and u.get_driver_name() in ("", "psycopg2") :
        u = u.set(drivername="postgresql+psycopg")
    engine = create_engine(u, pool_pre_ping=True)
    if u.get_backend_name() == "postgresql":
        @event.listens_for(engine, "connect")
        def _on_pg_connect(dbapi_conn, _rec):  # pragma: no cover - exercised by the PostgreSQL tests
            _numeric_as_number(dbapi_conn)
    return engine


def _numeric_as_number(dbapi_conn) -> None:
    """PostgreSQL's SUM of an integer column is NUMERIC, which psycopg returns as Decimal; SQLite returns int or
    float. Read NUMERIC as int when integral, else float, so every query gives the same Python types on both."""
    from psycopg.adapt import Loader

    class _NumberLoader(Loader):
        def load(self, data):
            s = bytes(data).decode("ascii")
            try:
                return int(s)
            except ValueError:
                return float(s)

    dbapi_conn.adapters.register_loader("numeric", _NumberLoader)


_NAN = float("nan")


def bind_rows(dialect: str, rows: list[tuple], tail: tuple = ()) -> list[tuple]:
    """``rows`` (each followed by ``tail``) as the parameters of an executemany on ``dialect``.

    SQLite: every None is bound as NaN. Python's sqlite3 binds None through its adapter lookup (a few hundred
    nanoseconds a value, and a task row holds some thirty of them) but a float directly, and SQLite stores a NaN
    bound as a double as NULL whatever the column's type (sqlite3_bind_double: a NaN is NULL), so the rows store
    exactly what they would with None, at about half the binding cost (docs/performance.md). Every other database
    gets its rows as they are: PostgreSQL would store a NaN in a float column. Rows whose first holds no None (ids
    and times, as message ids' rows) are bound as they are too: a None among them binds as NULL all the same, and
    looking at every value would cost more than it saves."""
    if dialect != "sqlite" or not rows or (None not in rows[0] and None not in tail):
        return [r + tail for r in rows] if tail else rows
    nan = _NAN
    if tail:
        return [tuple([nan if v is None else v for v in r + tail]) for r in rows]
    return [tuple([nan if v is None else v for v in r]) for r in rows]


def upsert(engine_or_conn, table):
    """A dialect ``insert`` that supports ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    name = engine_or_conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover
        raise StoreError(f"unsupported database dialect {name!r} (use SQLite or PostgreSQL)")
    return insert(table)


# a write transaction's page cache on SQLite, in KiB (SQLite's default is 2 MB). A batch of a cold ingest dirties
# more pages than the default holds: SQLite then spills them to the WAL mid-transaction and reads them back (system
# time). With 16 MB the writer's CPU falls by a tenth (docs/performance.md); the connection gets its own size back
# when the transaction ends, so a pooled connection that reads (a dashboard's) never keeps the larger cache.
WRITE_CACHE_KIB = 16384


def _write_cache(conn: Connection) -> None:
    """The write transaction's cache size on this SQLite connection (its own size noted first, in the pool record)."""
    info = conn.connection.info
    raw = conn.connection.dbapi_connection
    if "read_cache_size" not in info:
        info["read_cache_size"] = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")


def _read_cache(conn: Connection) -> None:
    """The connection's own cache size again (a smaller size frees the pages above it)."""
    if conn.closed or conn.invalidated:
        return
    size = conn.connection.info.get("read_cache_size")
    if size is not None:
        try:
            conn.connection.dbapi_connection.execute(f"PRAGMA cache_size={int(size)}")
        except Exception:  # noqa: BLE001 - never hides what ended the transaction; the pool drops a broken link
            pass


@contextlib.contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite, so concurrent writers queue, never interleave; with a
    larger page cache for the transaction's time: WRITE_CACHE_KIB)."""
    with engine.connect().execution_options(nexus_write=True) as conn:
        try:
            with conn.begin():
                yield conn
        finally:
            if conn.dialect.name == "sqlite":
                _read_cache(conn)


def describe_db_error(exc: BaseException, url: str) -> str:
    """Turn a driver exception into one sentence a user can act on."""
    from sqlalchemy.engine import make_url

    text = str(getattr(exc, "orig", None) or exc)
    low = text.lower()
    try:
        safe = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse (its error is the one being described)
        from nexus_tui.core.redact import redact

        safe = repr(redact(url))
    if "readonly" in low or "read-only" in low:
        where = folder_problem(url) or f"the database {safe} is read-only"
        return (f"{where} ({text}). Fix the permissions, point --home or --db somewhere writable, or read the "
                f"reports as they are with --no-collect.")
    if "locked" in low or "busy" in low:
        return f"the database {safe} is locked by another process ({text}); nothing was written, try again."
    if "unable to open" in low:
        return f"cannot open the database {safe}: {text}"
    if "file is not a database" in low or "malformed" in low:
        return (f"{safe} is not a usable SQLite database: {text}. It is damaged: restore a copy, or move it aside "
                f"and run ingest again (the sources are read from the start)")
    return f"database error on {safe}: {text}"


def sqlite_file(url: str) -> str | None:
    """The file of a plain ``sqlite:///PATH`` URL (no driver, no query string); None for anything else."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url[len(prefix):]
    return os.path.expanduser(path) if path and path != ":memory:" else None


def quick_select(url: str, sql: str, params: tuple = (), timeout_s: float = 2.0) -> list[tuple] | None:
    """Rows of one read-only query through the standard ``sqlite3`` module, without importing SQLAlchemy.

    [] when the database file does not exist yet or the table is missing (neither holds rows); None when ``url``
    is not a plain SQLite file or the read fails for any other reason (the caller then goes through the engine,
    which reports the problem).
    """
    path = sqlite_file(url)
    if path is None:
        return None
    if not os.path.exists(path):
        return []
    import sqlite3
    from urllib.parse import quote

    from nexus_tui.private import check_sqlite_path

    try:
        check_sqlite_path(path)
        conn = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=timeout_s)
    except (sqlite3.Error, OSError):
        return None
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as e:
        return [] if "no such table" in str(e) else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()
