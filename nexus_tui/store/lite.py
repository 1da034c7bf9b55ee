"""The light write: a small ingest pass stored in a SQLite database through the standard ``sqlite3`` module, with
the writer's own compiled statements (store/sqlite_sql.py), so that ``nexus-insights ingest`` after a few appended
lines imports no SQLAlchemy, SQLModel or schema classes (most of such a pass's time).

It writes what ``Writer.write`` writes for the same rows, statement for statement: the sessions, tasks, tool calls
and errors, the cursors, the rollup marks in the same transaction, then the marks summed (store/upkeep.py, the same
code the writer runs) in a second one, as a collector pass does; the status line's session stats and quota
snapshots too (a status line writes an event after every message). Anything else (routing decisions, ratings,
recorded requests to link, a machine not registered yet, a database that refuses the rows)
answers None before anything is committed, and the caller takes the store's path, which handles everything.
``tests/test_lite.py`` compares the two paths' databases.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import replace
from operator import itemgetter

from nexus_tui.private import check_sqlite_path
from nexus_tui.store import upkeep
from nexus_tui.store.engine import bind_rows
from nexus_tui.store.rows import (CURSOR_COLS, CursorUpdate, Prepared, WriteResult, new_without_tool, pos, relabel,
                                   rollup_keys)
from nexus_tui.store.sqlite_sql import STATEMENTS

# the kinds of rows this path writes; a batch with any other kind of row goes through the store
KINDS = ("sessions", "tasks", "tool_use", "tool_result", "errors", "session_stats", "quota_snapshots", "message_uuids",
         "title_lines")
_CHUNK = 500


class _Dialect:
    name = "sqlite"
    paramstyle = "qmark"


class _Result:
    def __init__(self, cur: sqlite3.Cursor):
        self._cur = cur

    def fetchall(self) -> list:
        return self._cur.fetchall()

    def first(self):
        return self._cur.fetchone()

    def __iter__(self):
        return iter(self._cur)


class LiteConn:
    """The part of a SQLAlchemy connection the rows' statements and the rollup upkeep use (``exec_driver_sql``
    and ``dialect``), over a ``sqlite3`` connection set up as ``store.engine.make_engine`` sets up its own."""

    dialect = _Dialect()

    def __init__(self, path: str, busy_timeout_s: float):
        self.raw = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        cur = self.raw.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA wal_autocheckpoint=8192")
        cur.execute("PRAGMA journal_size_limit=33554432")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    def exec_driver_sql(self, sql: str, params=None) -> _Result:
        """SQLAlchemy's rule: a list of parameter tuples is an executemany, a tuple one execution."""
        if isinstance(params, list):
            return _Result(self.raw.executemany(sql, params))
        return _Result(self.raw.execute(sql, params if params is not None else ()))

    def write(self):
        return _WriteTx(self)

    def close(self) -> None:
        self.raw.close()


class _WriteTx:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (``store.engine.write_tx``)."""

    def __init__(self, conn: LiteConn):
        self.conn = conn

    def __enter__(self) -> LiteConn:
        self.conn.raw.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.raw.execute("ROLLBACK" if exc_type else "COMMIT")


def _executemany(conn: LiteConn, name: str, rows: list[tuple]) -> None:
    """writer._executemany_tuples for rows in table-column order."""
    if not rows:
        return
    sql, keys, defaults = STATEMENTS[name]
    tail = tuple(defaults[k] for k in keys[len(rows[0]):])
    conn.raw.executemany(sql, bind_rows("sqlite", rows, tail))


def _existing(conn: LiteConn, table: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        part = ids[i:i + _CHUNK]
        found.update(r[0] for r in conn.raw.execute(f"SELECT id FROM {table} WHERE id IN ({','.join('?' * len(part))})",
                                                    tuple(part)))
    return found


def _write(conn: LiteConn, p: Prepared, res: WriteResult) -> None:
    """Writer._write (deferring its rollups) for the KINDS of rows."""
    rows = p.rows
    task_keys, tool_keys, unknown_start = rollup_keys(rows)
    if rows.get("sessions"):
        ids = list(dict.fromkeys(r[0] for r in rows["sessions"]))
        known = _existing(conn, "sessions", ids)
        res.new_sessions += len(ids) - len(known)
        res.session_ids.update(ids)
        _executemany(conn, "sessions", rows["sessions"])
    if rows.get("tasks"):
        ids = list(dict.fromkeys(r[0] for r in rows["tasks"]))
        known = _existing(conn, "tasks", ids)
        new_ids = [i for i in ids if i not in known]
        res.new_tasks += len(new_ids)
        res.updated_tasks += len(known)
        res.task_ids.extend(new_ids)
        _executemany(conn, "tasks", rows["tasks"])
    calls = rows.get("tool_use", []) + rows.get("tool_result", [])
    if calls:
        ids = list(dict.fromkeys(r[0] for r in calls))
        known = _existing(conn, "tool_calls", ids)
        res.new_tool_calls += len(ids) - len(known)
        res.new_results_only += new_without_tool(calls, known)
        _executemany(conn, "tool_use", rows.get("tool_use", []))
        _executemany(conn, "tool_result", rows.get("tool_result", []))
    if rows.get("errors"):
        ids = list(dict.fromkeys(r[0] for r in rows["errors"]))
        known = _existing(conn, "errors", ids)
        res.new_errors += len(ids) - len(known)
        _executemany(conn, "errors", rows["errors"])
    _executemany(conn, "session_stats", rows.get("session_stats", []))  # the status line's (docs/quota.md)
    _executemany(conn, "quota_snapshots", rows.get("quota_snapshots", []))
    _executemany(conn, "message_uuids", rows.get("message_uuids", []))  # session titles (store/titles.py)
    _executemany(conn, "title_lines", rows.get("title_lines", []))
    qi = pos("tasks", "quality_rating")
    rated = [r[0] for r in rows.get("tasks", ()) if r[qi] is not None]
    if rated:
        more = upkeep.keys_for_tasks(conn, rated)
        task_keys |= more[0]
        tool_keys |= more[1]
    if unknown_start:
        tool_keys |= upkeep.keys_for_calls(conn, unknown_start)
    upkeep.mark(conn, task_keys, tool_keys)


def _cursors(conn: LiteConn, cursors: list[CursorUpdate], machine: str | None) -> None:
    if not cursors:
        return
    sql, keys, defaults = STATEMENTS["cursors"]
    get = itemgetter(*keys)
    rows = [{**defaults, **{k: getattr(c, k) for k in CURSOR_COLS}, "machine": machine} for c in cursors]
    conn.raw.executemany(sql, bind_rows("sqlite", [get(r) for r in rows]))


def writable(p: Prepared) -> bool:
    """Whether this path can write ``p`` (else the store's path must)."""
    return not p.ratings and not p.links and all(k in KINDS or not v for k, v in p.rows.items())


def write_pass(path: str, groups: list[tuple[Prepared, list[CursorUpdate]]], machine: str, name: str | None,
               busy_timeout_s: float | None = None) -> WriteResult | None:
    """Write a pass's groups of rows, each with its cursors, as the collector's writer would (one ``Writer.write``
    per group, then the marked rollups summed); None when this path cannot: the caller then takes the store's path
    (nothing committed but the machine's last-seen time, except when summing the rollups failed after the rows were
    stored: the store's path then finds no new line and sums the queued marks, or reports the database's failure). The groups share one transaction (all or nothing);
    each is written as its own ``Writer.write`` would, so the counts are the writer's."""
    if not all(writable(p) for p, _c in groups):
        return None
    if busy_timeout_s is None:
        from nexus_tui.store.engine import DEFAULT_BUSY_TIMEOUT_S

        busy_timeout_s = float(os.environ.get("NEXUS_INSIGHTS_BUSY_TIMEOUT", DEFAULT_BUSY_TIMEOUT_S))
    try:
        check_sqlite_path(path)  # a symbolic link SQLite would write through: the store's path says so
        conn = LiteConn(path, busy_timeout_s)
    except (sqlite3.Error, OSError):
        return None
    try:
        home = conn.raw.execute("SELECT home FROM machines WHERE id = ?", (machine,)).fetchone()
        if home is None:  # registering a machine (the home one takes older rows) is the store's
            return None
        with conn.write():  # machines.register for a machine registered before
            conn.raw.execute("UPDATE machines SET name = ?, last_seen_ms = ? WHERE machines.id = ?",
                             (name, int(time.time() * 1000), machine))
        prefix = "" if home[0] else f"{machine}/"
        total = WriteResult()
        try:
            with conn.write():
                for p, cursors in groups:
                    res = WriteResult()
                    _write(conn, relabel(p, machine, prefix), res)
                    _cursors(conn, [replace(c, path=prefix + c.path) for c in cursors] if prefix else cursors,
                             machine)
                    total.add(res)
        except sqlite3.Error:  # refused rows (the store's path checks every value) or the database's own failure
            return None
        try:  # Writer.apply_rollups
            if conn.raw.execute("SELECT 1 FROM rollup_dirty LIMIT 1").fetchone() is not None:
                with conn.write():
                    upkeep.apply_marks(conn)
        except sqlite3.Error as e:
            if isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "busy" in str(e)):
                return total  # another writer: the marks stay queued, the next pass sums them
            # the database's own failure (a damaged table, say): the rows are stored, the marks queued; the store's
            # path runs next, sums them, or reports the failure as every command does ("malformed", exit 1)
            return None
        return total
    finally:
        conn.close()


# --- store/sqlite_sql.py, generated from the schema and the writer's statements ---------------------------------

def generate() -> str:
    """The source of store/sqlite_sql.py: every table's columns and the writer's statements compiled for SQLite.
    ``python -m nexus_tui.store.lite`` rewrites it; tests/test_lite.py fails when it is out of date."""
    from sqlalchemy.dialects import sqlite

    from nexus_tui.store import titles, writer
    from nexus_tui.store.schema import (SCHEMA_VERSION, TABLES, ErrorEvent, IngestCursor, QuotaSnapshot, Session,
                                        SessionStat, Task, ToolCall)
    from nexus_tui.store.engine import upsert

    class _C:  # what the statement builders ask of a connection
        dialect = sqlite.dialect()

    def cursors(c):
        t = IngestCursor.__table__
        ins = upsert(c, t)
        return ins.on_conflict_do_update(index_elements=["path"], set_={k.name: getattr(ins.excluded, k.name)
                                                                        for k in t.columns if k.name != "path"})

    builds = {"sessions": writer._session_upsert, "tasks": writer._task_upsert,
              "tool_use": lambda c: writer._tool_upserts(c)[0], "tool_result": lambda c: writer._tool_upserts(c)[1],
              "errors": lambda c: upsert(c, ErrorEvent.__table__).on_conflict_do_nothing(index_elements=["id"]),
              "session_stats": writer.session_stats_upsert, "quota_snapshots": writer.quota_insert,
              "message_uuids": titles.uuid_upsert, "title_lines": titles.title_insert, "cursors": cursors}
    tables = {"sessions": Session, "tasks": Task, "tool_use": ToolCall, "tool_result": ToolCall,
              "errors": ErrorEvent, "session_stats": SessionStat, "quota_snapshots": QuotaSnapshot,
              "message_uuids": titles.MessageUuid, "title_lines": titles.TitleLine}
    out = ['"""Generated by ``python -m nexus_tui.store.lite`` from store/schema.py and the writer\'s statements: do '
           'not edit.\nThe columns of every table, and the writer\'s statements compiled for SQLite (sql, parameter '
           'order, defaults), for the\nlight write (store/lite.py) and the rows (store/rows.py), which import no '
           'SQLAlchemy."""', "", f"SCHEMA_VERSION = {SCHEMA_VERSION}", "", "COLUMNS = {"]
    for m in TABLES:
        t = m.__table__
        out.append(f"    {t.name!r}: {tuple(c.name for c in t.columns)!r},")
    out += ["}", "", "STATEMENTS = {"]
    for name, build in builds.items():
        compiled = build(_C).compile(dialect=_C.dialect)
        keys = tuple(compiled.positiontup)
        if name in tables:
            cols = tuple(c.name for c in tables[name].__table__.columns)
            assert keys[:len(cols)] == cols, name  # rows in column order, then the statement's own parameters
        out.append(f"    {name!r}: ({str(compiled)!r},\n        {keys!r},\n        {dict(compiled.params)!r}),")
    out += ["}", ""]
    return "\n".join(out)


def generate_rollup() -> str:
    """The source of store/rollup_sql.py: the rollups' measures, how the coarser levels fold them, and the upkeep's
    SQL text per dialect, all from store/rules.py (the read side's declarations), so the upkeep (store/upkeep.py)
    sums what the read side reads without importing SQLAlchemy. Regenerated with store/sqlite_sql.py."""
    from nexus_tui.store import rules

    tool_all = (*rules.TOOL_MEASURES, *[(n, a) for n, a, _r in rules.TOOL_RATED])
    dialects = ("sqlite", "postgresql")
    out = ['"""Generated by ``python -m nexus_tui.store.lite`` from store/rules.py: do not edit.\nThe rollups\' measures,'
           ' how the coarser levels fold them (sums, maxima, minima) and the upkeep\'s SQL text per dialect, for\n'
           'store/upkeep.py, which imports no SQLAlchemy."""', "",
           f"TASK_MEASURES = {tuple(n for n, _a in rules.TASK_MEASURES)!r}",
           f"TASK_FOLD = {rules.by_fold()!r}",
           f"TOOL_MEASURES = {tuple(n for n, _a in rules.TOOL_MEASURES)!r}",
           f"TOOL_RATED = {tuple(n for n, _a, _r in rules.TOOL_RATED)!r}",
           f"TOOL_FOLD = {rules.by_fold(tool_all)!r}",
           "TASK_SUMS_SQL = {"]
    out += [f"    {d!r}: {rules.task_measures_sql(d)!r}," for d in dialects]
    out += ["}", "TOOL_SUMS_SQL = {"]
    out += [f"    {d!r}: {rules.tool_measures_sql(d)!r}," for d in dialects]
    out += ["}", ""]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    from pathlib import Path

    from nexus_tui.store import lite_read

    Path(__file__).with_name("sqlite_sql.py").write_text(generate())
    Path(__file__).with_name("read_sql.py").write_text(lite_read.generate())
    Path(__file__).with_name("rollup_sql.py").write_text(generate_rollup())
