"""The single writer: idempotent upserts of parsed batches together with their cursors, in one transaction.

Natural keys make every write idempotent. The SQL merge rules repeat core/merge.py's so that two processes
writing the same response at once still converge on the same row (ON CONFLICT ... DO UPDATE ... WHERE).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from operator import itemgetter

import math
import re
from dataclasses import fields as dc_fields

from sqlalchemy import (BigInteger, Boolean, Engine, Float, Integer, Numeric, String, Text, and_, case, func, or_,
                        select, update)
from sqlalchemy.exc import InterfaceError, OperationalError

from nexus_tui.core.events import Batch
from nexus_tui.core.merge import PROXY_FIELDS, SESSION_ATTRS, TASK_BEST_FIELDS, TASK_FILL_FIELDS  # noqa: F401
from nexus_tui.store import rollup
from nexus_tui.store.engine import bind_rows, upsert, write_tx
# the rows (no SQL) are store/rows.py's; their names stay importable from here
from nexus_tui.store.rows import (  # noqa: F401
    CURSOR_COLS,
    KIND_TABLES,
    RESULT_COLS,
    USE_COLS,
    new_without_tool,
    CursorUpdate,
    Prepared,
    WriteResult,
    layout,
    pos,
    relabel,
    relabel_plan,
    result_fields,
    rollup_keys,
    session_row,
    task_row,
    tool_rows,
    use_fields,
    prepare,
)
from nexus_tui.store.schema import (ErrorEvent, IngestCursor, MessageUuid, QuotaSnapshot, RoutingDecision, Session, Task,
                                     TitleLine, ToolCall)

_CHUNK = 500




_COMPILED: dict[tuple[str, str], tuple] = {}


def _compiled(conn, name: str, build):
    """Compile a statement once per dialect: (sql, positional keys or None, defaults)."""
    key = (conn.dialect.name, name)
    got = _COMPILED.get(key)
    if got is None:
        compiled = build(conn).compile(dialect=conn.dialect)
        keys = tuple(compiled.positiontup) if compiled.positional else None
        got = (str(compiled), keys, dict(compiled.params))
        _COMPILED[key] = got
    return got


def _executemany(conn, name: str, build, rows: list[dict]) -> None:
    """Run the statement ``build(conn)`` (compiled once, cached by ``name``) for many rows straight through the
    driver's executemany: SQLAlchemy's per-row parameter processing costs more than SQLite's own work on large
    batches. Missing keys take the statement's defaults."""
    if not rows:
        return
    sql, keys, defaults = _compiled(conn, name, build)
    if keys is not None:
        missing = {k: defaults[k] for k in keys if k not in rows[0]}
        get = itemgetter(*keys)
        try:
            params = [get(r | missing) for r in rows] if missing else [get(r) for r in rows]
        except KeyError:  # rows of different shapes
            params = [tuple(r[k] if k in r else defaults[k] for k in keys) for r in rows]
        if len(keys) == 1:
            params = [(p,) for p in params]
        params = bind_rows(conn.dialect.name, params)
    else:
        params = [{k: r[k] if k in r else v for k, v in defaults.items()} for r in rows]
    conn.exec_driver_sql(sql, params)


_ORDER_OK: dict[tuple[str, str], tuple | None] = {}


def _executemany_tuples(conn, name: str, build, table, rows: list[tuple]) -> None:
    """Like _executemany, for rows already laid out in the table's column order (prepared in a worker)."""
    if not rows:
        return
    sql, keys, defaults = _compiled(conn, name, build)
    cols = tuple(c.name for c in table.columns)
    if keys is not None and keys[:len(cols)] == cols:
        tail = tuple(defaults[k] for k in keys[len(cols):])
        conn.exec_driver_sql(sql, bind_rows(conn.dialect.name, rows, tail))
        return
    if conn.dialect.name == "postgresql" and len(rows) >= PG_STAGE_MIN_ROWS:
        staged = _staged_sql(name, sql, table, cols)
        if staged is not None:
            _pg_staged(conn, staged, table, cols, rows, defaults)
            return
    # another paramstyle or order: fall back to names
    _executemany(conn, name, build, [dict(zip(cols, r)) for r in rows])


# PostgreSQL: from this many rows, an upsert keyed by ``id`` is sent as a COPY into a temporary table of the same
# columns and one INSERT ... SELECT with the statement's own ON CONFLICT clause, instead of one execution a row
# (the server's per-statement work and psycopg's per-row parameters were most of a PostgreSQL ingest)
PG_STAGE_MIN_ROWS = 200
_STAGED: dict[str, tuple | None] = {}
_VALUES = re.compile(r"%\((\w+)\)s")


def _quoted(cols: tuple) -> str:
    return ", ".join('"' + c.replace('"', '""') + '"' for c in cols)


def _staged_sql(name: str, sql: str, table, cols: tuple) -> tuple | None:
    """(the statement reading from the staging table, its other parameters' names, the staging table), or None when
    the statement is not an ``INSERT ... VALUES (every column) ON CONFLICT (id)``."""
    if name in _STAGED:
        return _STAGED[name]
    got = None
    head, sep, rest = sql.partition(" VALUES (")
    values, sep2, tail = rest.partition(") ON CONFLICT (id) ")
    if sep and sep2 and cols and cols[0] == "id" and tuple(_VALUES.findall(values)) == cols \
            and head.startswith(f"INSERT INTO {table.name} ("):
        stage = f"nexus_stage_{table.name}"
        got = (f"{head} SELECT {_quoted(cols)} FROM {stage} ON CONFLICT (id) {tail}", tuple(_VALUES.findall(tail)),
               stage)
    _STAGED[name] = got
    return got


def _pg_staged(conn, staged: tuple, table, cols: tuple, rows: list[tuple], defaults: dict) -> None:
    """Rows in rounds, each holding an id at most once (INSERT ... ON CONFLICT may not touch a row twice), in the
    order an executemany would apply them to each id."""
    sql, other, stage = staged
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        # every time: a transaction rolled back takes the table it created with it (and a new connection has none)
        cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (LIKE {table.name} INCLUDING DEFAULTS)")
        rounds: list[list[tuple]] = [[]]
        seen: dict = {}
        for r in rows:
            n = seen.get(r[0], 0)
            seen[r[0]] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(r)
        params = {k: defaults[k] for k in other} or None
        columns = _quoted(cols)
        for part in rounds:
            with cur.copy(f"COPY {stage} ({columns}) FROM STDIN") as cp:
                for r in part:
                    cp.write_row(r)
            cur.execute(sql, params)
            cur.execute(f"TRUNCATE {stage}")


def _existing_raw(conn, table: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` are already stored (plain SQL: no per-value expression building)."""
    found: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        part = ids[i:i + _CHUNK]
        marks = ",".join(["?"] * len(part)) if conn.dialect.paramstyle == "qmark" else ",".join(["%s"] * len(part))
        found.update(r[0] for r in conn.exec_driver_sql(f"SELECT id FROM {table} WHERE id IN ({marks})",
                                                        tuple(part)))
    return found


def _existing(conn, col, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        found.update(r[0] for r in conn.execute(select(col).where(col.in_(ids[i:i + _CHUNK]))))
    return found



# the merge policy, declared once in core/merge.py (which folds records in Python with the same lists)
_TASK_USAGE = (*TASK_BEST_FIELDS, "total_tokens")
_TASK_FILL = TASK_FILL_FIELDS


def _task_upsert(conn):
    t = Task.__table__
    ins = upsert(conn, t)
    ex = ins.excluded
    better = ex.total_tokens > t.c.total_tokens
    end_expr = case((or_(t.c.end_ms.is_(None), ex.end_ms > t.c.end_ms), ex.end_ms), else_=t.c.end_ms)
    trig_expr = case((or_(t.c.trigger_ms.is_(None), ex.trigger_ms < t.c.trigger_ms), ex.trigger_ms),
                     else_=t.c.trigger_ms)
    set_ = {c: case((better, getattr(ex, c)), else_=getattr(t.c, c)) for c in _TASK_USAGE}
    set_.update({c: func.coalesce(getattr(t.c, c), getattr(ex, c)) for c in _TASK_FILL})
    set_["end_ms"] = end_expr
    set_["trigger_ms"] = trig_expr
    set_["latency_ms"] = case((and_(end_expr.isnot(None), trig_expr.isnot(None)), end_expr - trig_expr),
                              else_=func.coalesce(t.c.latency_ms, ex.latency_ms))
    set_["is_sidechain"] = case((ex.is_sidechain.is_(False), False), else_=t.c.is_sidechain)
    where = or_(better, ex.end_ms > t.c.end_ms, and_(t.c.end_ms.is_(None), ex.end_ms.isnot(None)),
                ex.trigger_ms < t.c.trigger_ms, and_(t.c.trigger_ms.is_(None), ex.trigger_ms.isnot(None)),
                and_(t.c.latency_ms.is_(None), ex.latency_ms.isnot(None)),
                and_(t.c.is_sidechain.is_(True), ex.is_sidechain.is_(False)),
                *[and_(getattr(t.c, c).is_(None), getattr(ex, c).isnot(None)) for c in _TASK_FILL])
    return ins.on_conflict_do_update(index_elements=["id"], set_=set_, where=where)


def _session_upsert(conn):
    s = Session.__table__
    ins = upsert(conn, s)
    ex = ins.excluded
    earlier = ex.start_ms < s.c.start_ms
    later = ex.end_ms > s.c.end_ms
    fill = SESSION_ATTRS
    set_ = {"start_ms": case((earlier, ex.start_ms), else_=s.c.start_ms),
            "start_time": case((earlier, ex.start_time), else_=s.c.start_time),
            "end_ms": case((later, ex.end_ms), else_=s.c.end_ms),
            "end_time": case((later, ex.end_time), else_=s.c.end_time)}
    set_.update({c: func.coalesce(getattr(ex, c), getattr(s.c, c)) for c in fill})
    where = or_(earlier, later, *[and_(getattr(ex, c).isnot(None),
                                      or_(getattr(s.c, c).is_(None), getattr(s.c, c) != getattr(ex, c)))
                                 for c in fill])
    return ins.on_conflict_do_update(index_elements=["id"], set_=set_, where=where)



def _tool_upserts(conn):
    tc = ToolCall.__table__
    # call half arriving after its result
    ins_u = upsert(conn, tc)
    ex = ins_u.excluded
    set_u = {c: func.coalesce(getattr(tc.c, c), getattr(ex, c)) for c in USE_COLS}
    set_u["latency_ms"] = case((and_(tc.c.latency_ms.is_(None), tc.c.ended_ms.isnot(None)),
                                tc.c.ended_ms - ex.started_ms), else_=tc.c.latency_ms)
    use_stmt = ins_u.on_conflict_do_update(index_elements=["id"], set_=set_u,
                                           where=or_(tc.c.started_ms.is_(None), tc.c.tool_name.is_(None)))
    # result half arriving after its call (or both halves again)
    ins_r = upsert(conn, tc)
    ex = ins_r.excluded
    set_r = {c: getattr(ex, c) for c in RESULT_COLS}
    set_r.update({c: func.coalesce(getattr(tc.c, c), getattr(ex, c)) for c in USE_COLS})
    set_r["latency_ms"] = func.coalesce(ex.latency_ms, case((tc.c.started_ms.isnot(None),
                                                             ex.ended_ms - tc.c.started_ms), else_=None))
    res_stmt = ins_r.on_conflict_do_update(index_elements=["id"], set_=set_r,
                                           where=or_(tc.c.ended_ms.is_(None), tc.c.success.is_(None),
                                                     tc.c.tool_name.is_(None)))
    return use_stmt, res_stmt



def _link(conn, links: list, written: set) -> None:
    """Conversation linking (store/linking.py), in the transaction that wrote the task rows: each recorded
    request's hashes and link keys on its row (the last record of a request wins), then every pending request
    linked in time order. Links naming a task not written here (dropped as invalid) are skipped."""
    from nexus_tui.store.linking import link_pending_conn, save_request_keys

    last = {}
    for task_id, hashes, response_keys in links:
        if isinstance(task_id, str) and task_id in written and isinstance(hashes, dict):
            last[task_id] = (hashes, response_keys if isinstance(response_keys, list) else None)
    for task_id, (hashes, response_keys) in last.items():
        save_request_keys(conn, task_id, hashes, response_keys=response_keys)
    if last:
        link_pending_conn(conn)



def session_stats_upsert(c):
    """A session's status per source: each column's newest value (by ``updated_ms``) wins, a missing one keeps the
    stored one (the writer's statement, and the light write's: store/lite.py)."""
    from nexus_tui.store.schema import SessionStat

    ss = SessionStat.__table__
    ins = upsert(c, ss)
    return ins.on_conflict_do_update(
        index_elements=["session_id", "source"],
        set_={col.name: func.coalesce(getattr(ins.excluded, col.name), col) for col in ss.columns
              if col.name not in ("session_id", "source")},
        where=or_(ss.c.updated_ms.is_(None), ins.excluded.updated_ms >= ss.c.updated_ms))


def quota_insert(c):
    """A quota snapshot, once (its id says what it holds)."""
    from nexus_tui.store.schema import QuotaSnapshot

    return upsert(c, QuotaSnapshot.__table__).on_conflict_do_nothing(index_elements=["id"])


class Writer:
    """Writes batches; the only code that changes rows (ratings included)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._deferring = 0
        self.machine: str | None = None  # this collector's machine id (set_machine); None: rows name no machine
        self._prefix = ""  # "" for the home machine, "<id>/" for another (store/machines.py)

    def set_machine(self, machine_id: str, name: str | None = None) -> str:
        """Write as machine ``machine_id`` from now on (registering it); returns the id prefix of its rows."""
        from nexus_tui.store.machines import register

        self._prefix = register(self.engine, machine_id, name)
        self.machine = machine_id
        return self._prefix

    def _local(self, key: str) -> str:
        """An id or path of this machine as stored."""
        return self._prefix + key if self._prefix else key

    def cursor_rows(self, source: str) -> list[tuple]:
        """This machine's saved cursors of ``source``: (path as on this machine, offset, dev, inode, size, mtime_ns,
        head_hash, state, lines, skipped)."""
        t = IngestCursor.__table__
        q = select(t.c.path, t.c.offset, t.c.dev, t.c.inode, t.c.size, t.c.mtime_ns, t.c.head_hash, t.c.state,
                   t.c.lines, t.c.skipped).where(t.c.source == source)
        if self.machine is not None:
            mine = t.c.machine == self.machine
            q = q.where(or_(mine, t.c.machine.is_(None)) if not self._prefix else mine)
        with self.engine.connect() as conn:
            rows = conn.execute(q).fetchall()
        n = len(self._prefix)
        return [(r[0][n:], *r[1:]) for r in rows if r[0].startswith(self._prefix)]

    @contextmanager
    def deferred_rollups(self, apply: bool = True):
        """Inside, writes mark the rollup buckets they touch (in their own transaction) instead of summing them;
        on leaving, every marked bucket is summed once (``apply_rollups``). A collector pass writes its rows in
        groups: a session spread over several groups is summed once, not once per group. Marks left by a process
        that died are applied by the next pass."""
        self._deferring += 1
        try:
            yield self
        finally:
            self._deferring -= 1
        if apply and not self._deferring:
            self.apply_rollups()

    def apply_rollups(self) -> bool:
        """Sum the marked buckets into the rollups; True if there were any. Takes no write lock when none are."""
        with self.engine.connect() as conn:
            if conn.exec_driver_sql("SELECT 1 FROM rollup_dirty LIMIT 1").first() is None:
                return False
        with write_tx(self.engine) as conn:
            return rollup.apply_marks(conn)

    def write(self, batch: Batch | Prepared, cursors: list[CursorUpdate] = (),
              defer_rollups: bool | None = None) -> WriteResult:
        """Write one batch (raw or prepared) and the cursors that produced it, all in one transaction.

        ``defer_rollups``: mark the touched rollup buckets for ``apply_rollups`` instead of summing them now (a
        collector pass's batches: every bucket summed once at the pass's end); None: as ``deferred_rollups`` says.

        Never raises on the data: a batch the database refuses (a value out of the SQL integer range, a string it
        cannot encode, a NULL in a NOT NULL column, a dangling foreign key) is written again, in a new transaction,
        with every value checked against its column (``sanitize``); what cannot be stored is counted in
        ``WriteResult.dropped`` (on PostgreSQL an INTEGER column holds 32 bits: a larger count there is
        stored as NULL). Only the database's own failures (locked, read-only, gone) reach the caller."""
        dropped: dict[str, int] = {}
        if isinstance(batch, Prepared):
            prepared = batch
        else:
            try:
                prepared = prepare(batch)
            except Exception:  # noqa: BLE001 - records of the wrong types: coerce them, then lay them out
                prepared = prepare(sanitize_batch(batch, dropped))
        if self.machine is not None:
            prepared = relabel(prepared, self.machine, self._prefix)
            cursors = [replace(c, path=self._local(c.path)) for c in cursors]
        defer = bool(self._deferring) if defer_rollups is None else defer_rollups
        res = WriteResult()
        try:
            with write_tx(self.engine) as conn:
                self._write(conn, prepared, res, defer)
                self._cursors(conn, cursors)
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # noqa: BLE001 - the data: every value checked against its column, then again
            res = WriteResult()
            with write_tx(self.engine) as conn:
                clean = sanitize(prepared, dropped, conn)
                self._write(conn, clean, res, defer)
                self._cursors(conn, [_clean_cursor(c) for c in cursors])
        res.dropped = dropped
        return res

    def _write(self, conn, p: Prepared, res: WriteResult, defer: bool = False) -> None:
        rows = p.rows
        task_keys, tool_keys, unknown_start = rollup_keys(rows)
        if rows.get("sessions"):
            ids = list(dict.fromkeys(r[0] for r in rows["sessions"]))
            known = _existing_raw(conn, "sessions", ids)
            res.new_sessions += len(ids) - len(known)
            res.session_ids.update(ids)
            _executemany_tuples(conn, "sessions", _session_upsert, Session.__table__, rows["sessions"])
        if rows.get("tasks"):
            ids = list(dict.fromkeys(r[0] for r in rows["tasks"]))
            known = _existing_raw(conn, "tasks", ids)
            new_ids = [i for i in ids if i not in known]
            res.new_tasks += len(new_ids)
            res.updated_tasks += len(known)
            res.task_ids.extend(new_ids)
            _executemany_tuples(conn, "tasks", _task_upsert, Task.__table__, rows["tasks"])
        calls = rows.get("tool_use", []) + rows.get("tool_result", [])
        if calls:
            ids = list(dict.fromkeys(r[0] for r in calls))
            known = _existing_raw(conn, "tool_calls", ids)
            res.new_tool_calls += len(ids) - len(known)
            res.new_results_only += new_without_tool(calls, known)
            tc = ToolCall.__table__
            _executemany_tuples(conn, "tool_use", lambda c: _tool_upserts(c)[0], tc, rows.get("tool_use", []))
            _executemany_tuples(conn, "tool_result", lambda c: _tool_upserts(c)[1], tc, rows.get("tool_result", []))
        if rows.get("routing"):
            rt = RoutingDecision.__table__
            _executemany_tuples(conn, "routing", lambda c: upsert(c, rt).on_conflict_do_nothing(index_elements=["id"]),
                                rt, rows["routing"])
        if rows.get("errors"):
            et = ErrorEvent.__table__
            ids = list(dict.fromkeys(r[0] for r in rows["errors"]))
            known = _existing_raw(conn, "errors", ids)
            res.new_errors += len(ids) - len(known)
            _executemany_tuples(conn, "errors", lambda c: upsert(c, et).on_conflict_do_nothing(index_elements=["id"]),
                                et, rows["errors"])
        if rows.get("session_stats"):
            from nexus_tui.store.schema import SessionStat

            _executemany_tuples(conn, "session_stats", session_stats_upsert, SessionStat.__table__,
                                rows["session_stats"])
        if rows.get("quota_snapshots"):
            from nexus_tui.store.schema import QuotaSnapshot

            _executemany_tuples(conn, "quota_snapshots", quota_insert, QuotaSnapshot.__table__,
                                rows["quota_snapshots"])
        if rows.get("message_uuids") or rows.get("title_lines"):
            from nexus_tui.store.titles import write_rows

            write_rows(conn, rows, _executemany_tuples)
        qi = pos("tasks", "quality_rating")
        rated = [r[0] for r in rows.get("tasks", ()) if r[qi] is not None]
        if rated:  # tasks that arrive with a rating change their tool calls' useful-change counts
            more = rollup.keys_for_tasks(conn, rated)
            task_keys |= more[0]
            tool_keys |= more[1]
        if unknown_start:  # results whose call half came earlier: their stored start gives the bucket
            tool_keys |= rollup.keys_for_calls(conn, unknown_start)
        if defer:
            rollup.mark(conn, task_keys, tool_keys)
        else:
            rollup.recompute(conn, task_keys, tool_keys)
        for task_id, rating in p.ratings:
            res.ratings += self._rate(conn, task_id, rating, rated_by=self.machine)
        if p.links:
            _link(conn, p.links, {r[0] for r in rows.get("tasks", ())})

    def _cursors(self, conn, cursors: list[CursorUpdate]) -> None:
        """Every cursor of a write in one executemany (the statement compiled once per process)."""
        if not cursors:
            return
        t = IngestCursor.__table__

        def build(c):
            ins = upsert(c, t)
            return ins.on_conflict_do_update(index_elements=["path"],
                                             set_={k.name: getattr(ins.excluded, k.name) for k in t.columns
                                                   if k.name != "path"})

        machine = self.machine
        _executemany(conn, "cursors", build, [{**{k: getattr(c, k) for k in CURSOR_COLS}, "machine": machine}
                                              for c in cursors])

    @staticmethod
    def _rate(conn, task_id: str, rating: int | None, now_ms: int | None = None, rated_by: str | None = None) -> int:
        import time

        t = Task.__table__
        r = conn.execute(update(t).where(t.c.id == task_id).values(
            quality_rating=rating, rated_ms=now_ms or int(time.time() * 1000), rated_by=rated_by))
        if r.rowcount:
            rollup.recompute(conn, *rollup.keys_for_tasks(conn, [task_id]))
        return r.rowcount or 0

    def rate(self, task_id: str, rating: int | None) -> tuple[int | None, int]:
        """Set a task's quality rating (1, 0 or None); returns (previous rating, rows changed)."""
        if rating not in (None, 0, 1):
            raise ValueError("a rating is 1 (helpful), 0 (not helpful) or None (cleared)")
        t = Task.__table__
        with write_tx(self.engine) as conn:
            prev = conn.execute(select(t.c.quality_rating).where(t.c.id == task_id)).first()
            if prev is None:
                return None, 0
            return prev[0], self._rate(conn, task_id, rating, rated_by=self.machine)

    def forget_cursor(self, path: str) -> None:
        t = IngestCursor.__table__
        with write_tx(self.engine) as conn:
            conn.execute(t.delete().where(t.c.path == self._local(path)))


# --- the careful path: every value checked against its column ----------------------------------------------------

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_KIND_TABLE = {"sessions": Session, "tasks": Task, "tool_use": ToolCall, "tool_result": ToolCall,
               "routing": RoutingDecision, "errors": ErrorEvent, "message_uuids": MessageUuid,
               "title_lines": TitleLine, "quota_snapshots": QuotaSnapshot}


def _text(v) -> str | None:
    if isinstance(v, str):
        return _BAD_TEXT.sub("\ufffd", v) if _BAD_TEXT.search(v) else v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return None


def _integer(v) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v if _INT_MIN <= v <= _INT_MAX else None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and _INT_MIN <= v <= _INT_MAX:
        return int(v)
    return None


def _integer32(v) -> int | None:
    """PostgreSQL's INTEGER (SQLite's INTEGER holds 64 bits)."""
    v = _integer(v)
    return v if v is None or -(2**31) <= v < 2**31 else None


def _real(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _boolean(v) -> bool | None:
    return v if isinstance(v, bool) else (bool(v) if type(v) is int and v in (0, 1) else None)


def _coercer(col, dialect: str):
    t = col.type
    t = getattr(t, "impl_instance", None) or t  # a TypeDecorator (SQLModel's AutoString) by what it stores
    if isinstance(t, Boolean):
        return _boolean
    if isinstance(t, Integer):
        return _integer32 if dialect == "postgresql" and not isinstance(t, BigInteger) else _integer
    if isinstance(t, (Float, Numeric)):
        return _real
    if isinstance(t, (String, Text)):
        return _text
    return lambda v: v


_CHECKS: dict[tuple[str, str], list] = {}


def column_checks(table, int32: bool = False) -> list:
    """(column, coerce, required) for each column of ``table``, by the careful path's rules (a value of the wrong
    type or out of its column's range is None); ``int32``: an INTEGER column holds 32 bits on every backend (as on
    PostgreSQL; the parsers' counts, sizes and durations never pass it), a BIGINT one 64."""
    return _checks(table, "postgresql" if int32 else "sqlite")


def _checks(table, dialect: str) -> list:
    got = _CHECKS.get((table.name, dialect))
    if got is None:
        got = _CHECKS[(table.name, dialect)] = [(c.name, _coercer(c, dialect), not c.nullable) for c in table.columns]
    return got


def _clean_row(table, row: tuple, dropped: dict, kind: str, dialect: str = "sqlite") -> tuple | None:
    out = []
    for (name, coerce, required), v in zip(_checks(table, dialect), row):
        c = coerce(v) if v is not None else None
        if c is None and required:
            key = f"{kind}: {name} missing or invalid"
            dropped[key] = dropped.get(key, 0) + 1
            return None
        out.append(c)
    return tuple(out)


def sanitize(p: Prepared, dropped: dict, conn=None) -> Prepared:
    """A copy of ``p`` with every value of the type and range of its column (out-of-range integers and non-finite
    floats become NULL, strings lose NULs and lone surrogates), rows missing a required value dropped, and (with
    ``conn``) rows whose foreign key names a row neither in the batch nor stored dropped. Counts in ``dropped``."""
    from nexus_tui.store.schema import SessionStat

    out = Prepared()
    dialect = conn.dialect.name if conn is not None else "sqlite"
    for kind, rows in p.rows.items():
        table = SessionStat.__table__ if kind == "session_stats" else _KIND_TABLE[kind].__table__
        kept = [r for r in (_clean_row(table, tuple(r), dropped, kind, dialect) for r in rows) if r is not None]
        out.rows[kind] = kept
    if conn is not None:
        sessions = {r[0] for r in out.rows.get("sessions", ())}
        tasks = out.rows.get("tasks", [])
        si = pos("tasks", "session_id")
        missing = list({r[si] for r in tasks} - sessions)
        if missing:
            known = _existing_raw(conn, "sessions", missing)
            keep = [r for r in tasks if r[si] in sessions or r[si] in known]
            if len(keep) != len(tasks):
                dropped["tasks: session missing"] = dropped.get("tasks: session missing", 0) + len(tasks) - len(keep)
            out.rows["tasks"] = keep
        routing = out.rows.get("routing", [])
        if routing:
            ti = [c.name for c in RoutingDecision.__table__.columns].index("task_id")
            have = {r[0] for r in out.rows.get("tasks", ())}
            missing = list({r[ti] for r in routing} - have)
            known = _existing_raw(conn, "tasks", missing) if missing else set()
            keep = [r for r in routing if r[ti] in have or r[ti] in known]
            if len(keep) != len(routing):
                dropped["routing: task missing"] = dropped.get("routing: task missing", 0) + len(routing) - len(keep)
            out.rows["routing"] = keep
    out.links = list(p.links)  # their values are checked where they are stored (store/linking.py)
    for task_id, rating in p.ratings:
        tid = _text(task_id)
        r = rating if rating is None or (type(rating) is int and rating in (0, 1)) else \
            (int(rating) if isinstance(rating, float) and rating in (0.0, 1.0) else -1)
        if tid is None or r == -1:
            dropped["ratings: invalid"] = dropped.get("ratings: invalid", 0) + 1
        else:
            out.ratings.append((tid, r))
    return out


def _clean_cursor(c: CursorUpdate) -> CursorUpdate:
    return CursorUpdate(**{k: (_text(v) if isinstance(v, str) else
                               _integer(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                           for k, v in ((k, getattr(c, k)) for k in CURSOR_COLS)})


def _coerce_field(typ: str, v):
    if v is None:
        return None
    if "bool" in typ:
        return v if isinstance(v, bool) else None
    if "int" in typ:
        return _integer(v)
    if "float" in typ:
        return _real(v)
    if "str" in typ:
        return _text(v)
    if "list" in typ or "dict" in typ:
        return v if isinstance(v, (list, dict)) else None
    return v


def sanitize_batch(batch: Batch, dropped: dict) -> Batch:
    """A copy of ``batch`` whose records hold values of their declared types (else the record is dropped when the
    field is required, or the value becomes None); for a batch ``prepare`` could not lay out."""
    out = Batch(skipped=dict(batch.skipped), lines=batch.lines, links=list(batch.links),
                titles=[t for t in batch.titles if isinstance(t, tuple) and t and all(
                    v is None or isinstance(v, (str, int)) for v in t)])
    for name in ("sessions", "tasks", "tool_uses", "tool_results", "routing", "errors", "ratings"):
        kept = getattr(out, name)
        for rec in getattr(batch, name):
            vals = {}
            for f in dc_fields(rec):
                v = _coerce_field(str(f.type), getattr(rec, f.name, None))
                if v is None and "None" not in str(f.type):
                    v = f.default if f.default is not None and not callable(f.default) and \
                        type(f.default).__name__ != "_MISSING_TYPE" else None
                    if v is None:
                        key = f"{name}: {f.name} missing or invalid"
                        dropped[key] = dropped.get(key, 0) + 1
                        break
                vals[f.name] = v
            else:
                kept.append(type(rec)(**vals))
    for row in batch.session_stats:
        if isinstance(row, dict) and isinstance(row.get("session_id"), str) and isinstance(row.get("source"), str):
            clean = {k: v for k, v in row.items() if isinstance(k, str)}
            if type(clean.get("updated_ms")) is not int:
                clean["updated_ms"] = None
            out.session_stats.append(clean)
        else:
            dropped["session_stats: invalid"] = dropped.get("session_stats: invalid", 0) + 1
    return out
