"""Rollup upkeep: the (session, bucket) pairs a write touches rebuilt from the stored rows, in plain SQL through the
driver (``exec_driver_sql``), so it runs on any connection that has it, SQLAlchemy's or the light ingest path's
(``store/lite.py``), and imports no SQLAlchemy. Reading the rollups is ``store/rollup.py``'s (docs/rollups.md)."""

from __future__ import annotations

import math

from collections import defaultdict
from collections.abc import Iterable

from nexus_tui.core import sketch
from nexus_tui.store.engine import bind_rows
from nexus_tui.store import rollup_sql  # the measures and their SQL, generated from store/rules.py

Q_MS = 900_000  # the bucket: 15 minutes
H_MS = 3_600_000  # the hourly level
D_MS = 86_400_000  # the daily level (UTC days)

_TASK_DIMS = ("model", "source", "routing", "tier", "persona", "cli_tool", "agent")
COST_MODES = ("auto", "calculate", "display")
# what the rollups sum, and how: declared once in store/rules.py, generated into store/rollup_sql.py (the summed,
# maximum and minimum columns of the coarser levels; the measures' SQL text per dialect, cost modes included)


def bucket(ms: int | None) -> int | None:
    """The start of the quarter hour ``ms`` falls in (None for None)."""
    return None if ms is None else (int(ms) // Q_MS) * Q_MS


# ---------------------------------------------------------------- maintenance
def _marks(conn, n: int) -> str:
    return ",".join(["?"] * n) if conn.dialect.paramstyle == "qmark" else ",".join(["%s"] * n)


def _p(conn) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _by_session(keys: Iterable[tuple[str, int | None]]) -> dict[str, set]:
    out: dict[str, set] = defaultdict(set)
    for sid, b in keys:
        out[sid].add(b)
    return out


ROLLUP_LOCK_KEY = 0x6E6578_7572  # the PostgreSQL advisory lock held while rollup rows are rebuilt


def lock(conn) -> None:
    """Serialize rollup upkeep between writers. SQLite's writers are serialized already (BEGIN IMMEDIATE); on
    PostgreSQL two collectors (other processes, other machines) rebuilding the same bucket at once would each delete
    the old row and insert their own (READ COMMITTED): a transaction-scoped advisory lock makes the second wait, and
    its statements then see the first one's committed rows, so the last rebuild of a bucket counts every row."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ROLLUP_LOCK_KEY})")


def recompute(conn, task_keys: Iterable[tuple[str, int]] = (), tool_keys: Iterable[tuple[str, int | None]] = ()) -> None:
    """Rebuild the rollup rows of the given (session_id, bucket_ms) pairs from the stored rows (inside the
    caller's write transaction)."""
    task_keys, tool_keys = set(task_keys), set(tool_keys)
    if task_keys or tool_keys:
        lock(conn)
    if task_keys:
        _recompute_tasks(conn, task_keys)
        _recompute_coarser(conn, "task", {b for _s, b in task_keys})
        _recompute_session_days(conn, "task", {s for s, _b in task_keys})
    if tool_keys:
        _recompute_tools(conn, tool_keys)
        _recompute_coarser(conn, "tool", {b for _s, b in tool_keys})
        _recompute_session_days(conn, "tool", {s for s, _b in tool_keys})


_SESSION_DAY_SQL = {
    "task": ("task_session_days", "task_rollups",
             *rollup_sql.TASK_FOLD, ()),
    "tool": ("tool_session_days", "tool_rollups", *rollup_sql.TOOL_FOLD, ("tool_name",)),
}


def _recompute_session_days(conn, kind: str, sessions: set) -> None:
    """Rebuild every (session, UTC day) row of these sessions from their quarter-hour rows, in SQL."""
    dst, src, sums, maxes, mins, keys = _SESSION_DAY_SQL[kind]
    day = f"(bucket_ms / {D_MS}) * {D_MS}"
    cols = ("session_id", "bucket_ms", *keys, *sums, *maxes, *mins)
    exprs = ("session_id", day, *keys, *[f"SUM({c})" for c in sums], *[f"MAX({c})" for c in maxes],
             *[f"MIN({c})" for c in mins])
    group = ", ".join(("session_id", day, *keys))
    for where, params in _session_chunks(conn, sorted(sessions), "session_id"):
        conn.exec_driver_sql(f"DELETE FROM {dst} WHERE {where}", params)
        conn.exec_driver_sql(f"INSERT INTO {dst} ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM {src} "
                             f"WHERE {where} GROUP BY {group}", params)


def _recompute_coarser(conn, kind: str, quarters: set) -> None:
    """Rebuild the hourly rows of these quarter hours' hours, then the daily rows of their days."""
    hours = {None if b is None else (b // H_MS) * H_MS for b in quarters}
    _recompute_level(conn, kind, "hour", hours)
    _recompute_level(conn, kind, "day", {None if h is None else (h // D_MS) * D_MS for h in hours})


def mark(conn, task_keys: Iterable[tuple[str, int]] = (), tool_keys: Iterable[tuple[str, int | None]] = ()) -> None:
    """Queue these pairs for ``apply_marks`` (inside the caller's write transaction)."""
    p = _p(conn)
    rows = [("task", s, b) for s, b in set(task_keys)] + [("tool", s, b) for s, b in set(tool_keys)]
    if rows:
        conn.exec_driver_sql(f"INSERT INTO rollup_dirty (kind, session_id, bucket_ms) VALUES ({p}, {p}, {p})",
                             bind_rows(conn.dialect.name, rows))


def apply_marks(conn) -> bool:
    """Sum every queued pair into the rollups and empty the queue (one write transaction)."""
    lock(conn)
    rows = conn.exec_driver_sql("SELECT id, kind, session_id, bucket_ms FROM rollup_dirty").fetchall()
    if not rows:
        return False
    recompute(conn, {(s, b) for _i, k, s, b in rows if k == "task"}, {(s, b) for _i, k, s, b in rows if k == "tool"})
    # only the marks summed here: another writer's marks committed meanwhile stay queued for their own pass
    ids = sorted(r[0] for r in rows)
    p = _p(conn)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        conn.exec_driver_sql(f"DELETE FROM rollup_dirty WHERE id IN ({', '.join([p] * len(chunk))})", tuple(chunk))
    return True


_LEVEL_SPEC = {
    # kind: (key columns, summed columns, max columns, min columns)
    "task": (_TASK_DIMS, *rollup_sql.TASK_FOLD),
    "tool": (("tool_name", "mcp_server", "error_type"), *rollup_sql.TOOL_FOLD),
}
_TABLES = {("task", "quarter"): "task_rollups", ("task", "hour"): "task_hours", ("task", "day"): "task_days",
           ("tool", "quarter"): "tool_rollups", ("tool", "hour"): "tool_hours", ("tool", "day"): "tool_days"}
_FINER = {"hour": "quarter", "day": "hour"}
_SIZE = {"hour": H_MS, "day": D_MS}


def _recompute_level(conn, kind: str, level: str, hours: set) -> None:
    """Rebuild the rows of ``level`` ('hour' or 'day') for these bucket starts (None: calls without a start), from
    the next finer level."""
    size = _SIZE[level]
    src, dst = _TABLES[(kind, _FINER[level])], _TABLES[(kind, level)]
    keys, sums, maxes, mins = _LEVEL_SPEC[kind]
    p = _p(conn)
    cols = (*keys, *sums, *maxes, *mins, "lat_hist")
    sel = f"SELECT bucket_ms, {', '.join(cols)} FROM {src} WHERE "
    timed = sorted(h for h in hours if h is not None)
    rows: list = []
    if timed:
        if len(timed) <= 8:
            for h in timed:
                rows += conn.exec_driver_sql(sel + f"bucket_ms >= {p} AND bucket_ms < {p}", (h, h + size)).fetchall()
        else:
            rows += conn.exec_driver_sql(sel + f"bucket_ms >= {p} AND bucket_ms < {p}",
                                         (timed[0], timed[-1] + size)).fetchall()
    if None in hours:
        rows += conn.exec_driver_sql(sel + "bucket_ms IS NULL").fetchall()
    nk, ns, nm, nn = len(keys), len(sums), len(maxes), len(mins)
    groups: dict[tuple, list] = {}
    for r in rows:
        h = None if r[0] is None else (r[0] // size) * size
        if h not in hours:
            continue
        key = (h, *r[1:1 + nk])
        vals = r[1 + nk:]
        if not all(type(v) in _NUMBER for v in vals[:-1]):  # a text or blob that SQLite's MAX took over numbers
            vals = [v if type(v) in _NUMBER else None for v in vals[:-1]] + [vals[-1]]  # (another program's)
        g = groups.get(key)
        if g is None:
            g = groups[key] = [*vals[:ns + nm + nn], {}]
        else:
            for i in range(ns):
                v = vals[i]
                if v is not None:
                    g[i] = v if g[i] is None else g[i] + v
            for i in range(ns, ns + nm):
                v = vals[i]
                if v is not None and (g[i] is None or v > g[i]):
                    g[i] = v
            for i in range(ns + nm, ns + nm + nn):
                v = vals[i]
                if v is not None and (g[i] is None or v < g[i]):
                    g[i] = v
        sketch.add_text(g[-1], vals[-1])
    if timed:
        conn.exec_driver_sql(f"DELETE FROM {dst} WHERE bucket_ms = {p}", [(h,) for h in timed])
    if None in hours:
        conn.exec_driver_sql(f"DELETE FROM {dst} WHERE bucket_ms IS NULL")
    if groups:
        out = [(*key, *g[:-1], sketch.encode(g[-1]) or None) for key, g in groups.items()]
        names = ("bucket_ms", *cols)
        conn.exec_driver_sql(f"INSERT INTO {dst} ({', '.join(names)}) VALUES ({_marks(conn, len(names))})",
                             bind_rows(conn.dialect.name, out))


_LN: dict[str, bool] = {}


def _bin_sql(conn, col: str) -> str | None:
    """core.sketch.bin_of in SQL (the same double arithmetic), where the database has LN (PostgreSQL; SQLite built
    with its math functions, as Python's usually is); None otherwise (bins are then computed here)."""
    name = conn.dialect.name
    if name not in _LN:
        if name == "postgresql":
            _LN[name] = True
        else:
            try:
                _LN[name] = conn.exec_driver_sql("SELECT LN(2.0), FLOOR(2.5)").first() is not None
            except Exception:  # noqa: BLE001 - no math functions in this SQLite
                _LN[name] = False
    if not _LN[name]:
        return None
    return (f"CASE WHEN {col} < {sketch.EXACT} THEN (CASE WHEN {col} < 0 THEN 0 ELSE {col} END) "
            f"ELSE {sketch.EXACT} + CAST(FLOOR(LN({col} / {float(sketch.EXACT)!r}) / {sketch._LOG!r}) AS INTEGER) END")


def _hists(conn, sql_keys: str, frm: str, where: str, params: tuple, nkeys: int, lat: str) -> dict[tuple, str]:
    """{key: histogram text} of ``lat`` per key, grouped in SQL by key and bin (or binned here, where the database
    has no LN). SQLite's upkeep lists the latencies in its sums query instead (_hists_of)."""
    out: dict[tuple, dict] = {}
    b = _bin_sql(conn, lat)
    if b is not None:
        rows = conn.exec_driver_sql(f"SELECT {sql_keys}, {b} AS hb, COUNT(*) FROM {frm} WHERE {where} AND {lat} IS NOT "
                                    f"NULL GROUP BY {sql_keys}, hb", params).fetchall()
        for r in rows:
            h = out.setdefault(tuple(r[:nkeys]), {})
            h[r[nkeys]] = h.get(r[nkeys], 0) + r[nkeys + 1]
    else:
        for r in conn.exec_driver_sql(f"SELECT {sql_keys}, {lat} FROM {frm} WHERE {where} AND {lat} IS NOT NULL",
                                      params):
            h = out.setdefault(tuple(r[:nkeys]), {})
            hb = sketch.bin_of(r[nkeys])
            h[hb] = h.get(hb, 0) + 1
    return {k: sketch.encode(v) for k, v in out.items()}


_NUMBER = (int, float, type(None))

# SQLite: each group's latencies listed by the sums query itself (one scan and sort of the rows, not two), binned
# here; PostgreSQL groups by bin in SQL (_hists: fewer rows sent)
# (numbers only: SQLite keeps any value in a column, and a text or blob there, written by another program, made the
# list undecodable and the upkeep fail for good)
_LATENCIES = {"sqlite": ", group_concat(CASE WHEN typeof(latency_ms) IN ('integer', 'real') THEN latency_ms END, ' ')"}


def _hists_of(rows: list, nkeys: int) -> tuple[dict[tuple, str], list]:
    """({key: histogram text}, the rows without their last column) from sums rows whose last column lists the
    group's latencies as group_concat writes them (NULLs left out; integers, a REAL as its text)."""
    bin_of = sketch.bin_of
    out: dict[tuple, str] = {}
    for r in rows:
        text = r[-1]
        if not text:
            continue
        h: dict[int, int] = {}
        for x in text.split(" "):
            try:
                v = int(x)
            except ValueError:
                v = float(x)
                if not math.isfinite(v):
                    continue
            hb = bin_of(v)
            h[hb] = h.get(hb, 0) + 1
        out[tuple(r[:nkeys])] = sketch.encode(h)
    return out, [tuple(r[:-1]) for r in rows]


def _ranges(buckets: set) -> tuple[int, int] | None:
    timed = [b for b in buckets if b is not None]
    return (min(timed), max(timed) + Q_MS) if timed else None


_TASK_KEYS_SQL = (f"(ts_ms / {Q_MS}) * {Q_MS}, model, source, routing, tier, persona, cli_tool, "
                  "CASE WHEN agent_id IS NULL THEN 'main' ELSE 'sub-agent' END")
def _dialect(conn) -> str:
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


_FEW = 8  # sessions recomputed by bucket range; more are recomputed whole, a few queries for all of them


def _session_chunks(conn, sids: list[str], col: str) -> list[tuple[str, tuple]]:
    return [(f"{col} IN ({_marks(conn, len(sids[i:i + 500]))})", tuple(sids[i:i + 500]))
            for i in range(0, len(sids), 500)]


def _recompute_tasks(conn, keys: set) -> None:
    """Rebuild the quarter-hour rows of the marked sessions, grouped in SQL: over the span of the marked buckets
    when few sessions are marked (a live pass), whole sessions in a few queries otherwise (a cold ingest)."""
    p = _p(conn)
    by = _by_session(keys)
    cols = ("session_id", "bucket_ms", *_TASK_DIMS, *rollup_sql.TASK_MEASURES, "lat_hist")
    sums_sql = rollup_sql.TASK_SUMS_SQL[_dialect(conn)]
    if len(by) <= _FEW:
        parts = []
        for sid, buckets in by.items():
            lo, hi = _ranges(buckets)
            parts.append((f"session_id = {p} AND ts_ms >= {p} AND ts_ms < {p}", (sid, lo, hi)))
            conn.exec_driver_sql(f"DELETE FROM task_rollups WHERE session_id = {p} AND bucket_ms >= {p} "
                                 f"AND bucket_ms < {p}", (sid, lo, hi))
    else:
        parts = _session_chunks(conn, sorted(by), "session_id")
        for where, params in parts:
            conn.exec_driver_sql(f"DELETE FROM task_rollups WHERE {where}", params)
    keys_sql = f"session_id, {_TASK_KEYS_SQL}"
    lats = _LATENCIES.get(conn.dialect.name, "")
    for where, params in parts:
        sums = conn.exec_driver_sql(f"SELECT {keys_sql}, {sums_sql}{lats} FROM tasks WHERE {where} "
                                    f"GROUP BY {keys_sql}", params).fetchall()
        if not sums:
            continue
        if lats:
            hists, sums = _hists_of(sums, 9)
        else:
            hists = _hists(conn, keys_sql, "tasks", where, params, 9, "latency_ms")
        rows_out = [(*r, hists.get(tuple(r[:9])) or None) for r in sums]
        conn.exec_driver_sql(f"INSERT INTO task_rollups ({', '.join(cols)}) VALUES ({_marks(conn, len(cols))})",
                             bind_rows(conn.dialect.name, rows_out))


_TOOL_KEYS_SQL = (f"(started_ms / {Q_MS}) * {Q_MS}, tool_name, mcp_server, "
                  "CASE WHEN NOT success THEN error_type END")


def _recompute_tools(conn, keys: set) -> None:
    """As _recompute_tasks, for the tool calls (calls without a start time are the NULL bucket). The asking
    tasks' ratings (for the useful-change counts) come from a second query over the rated tasks only."""
    p = _p(conn)
    by = _by_session(keys)
    cols = ("session_id", "bucket_ms", "tool_name", "mcp_server", "error_type", *rollup_sql.TOOL_MEASURES,
            *rollup_sql.TOOL_RATED, "lat_hist")
    sums_sql = rollup_sql.TOOL_SUMS_SQL[_dialect(conn)]
    parts = []  # (conditions on tool_calls, params, conditions on tasks of the same sessions, params)
    if len(by) <= _FEW:
        for sid, buckets in by.items():
            span = _ranges(buckets)
            if span is not None:
                parts.append((f"session_id = {p} AND tool_name IS NOT NULL AND started_ms >= {p} "
                              f"AND started_ms < {p}", (sid, *span), f"session_id = {p}", (sid,)))
                conn.exec_driver_sql(f"DELETE FROM tool_rollups WHERE session_id = {p} AND bucket_ms >= {p} "
                                     f"AND bucket_ms < {p}", (sid, *span))
            if None in buckets:
                parts.append((f"session_id = {p} AND tool_name IS NOT NULL AND started_ms IS NULL", (sid,),
                              f"session_id = {p}", (sid,)))
                conn.exec_driver_sql(f"DELETE FROM tool_rollups WHERE session_id = {p} AND bucket_ms IS NULL", (sid,))
    else:
        for where, params in _session_chunks(conn, sorted(by), "session_id"):
            parts.append((where + " AND tool_name IS NOT NULL", params, where, params))
            conn.exec_driver_sql(f"DELETE FROM tool_rollups WHERE {where}", params)
    keys_sql = f"session_id, {_TOOL_KEYS_SQL}"
    lats = _LATENCIES.get(conn.dialect.name, "")
    for where, params, twhere, tparams in parts:
        sums = conn.exec_driver_sql(f"SELECT {keys_sql}, {sums_sql}{lats} FROM tool_calls WHERE {where} "
                                    f"GROUP BY {keys_sql}", params).fetchall()
        if not sums:
            continue
        if lats:
            hists, sums = _hists_of(sums, 5)
        else:
            hists = _hists(conn, keys_sql, "tool_calls", where, params, 5, "latency_ms")
        rated: dict[tuple, list] = {}
        for i, rating in enumerate((1, 0)):
            q = (f"SELECT {keys_sql}, COUNT(*) FROM tool_calls WHERE {where} AND success AND task_id IN "
                 f"(SELECT id FROM tasks WHERE {twhere} AND quality_rating = {rating}) GROUP BY {keys_sql}")
            for r in conn.exec_driver_sql(q, params + tparams):
                rated.setdefault(tuple(r[:5]), [0, 0])[i] = r[5]
        rows_out = [(*r, *rated.get(tuple(r[:5]), (0, 0)), hists.get(tuple(r[:5])) or None) for r in sums]
        conn.exec_driver_sql(f"INSERT INTO tool_rollups ({', '.join(cols)}) VALUES ({_marks(conn, len(cols))})",
                             bind_rows(conn.dialect.name, rows_out))


def rebuild(conn) -> None:
    """Rebuild every rollup row from the stored tasks and tool calls (migration to version 4, or rows written
    behind the writer's back, like the dashboard benchmark's generated database)."""
    for table in (*_TABLES.values(), "task_session_days", "tool_session_days", "rollup_dirty"):
        conn.exec_driver_sql(f"DELETE FROM {table}")
    task_keys: set = set()
    for sid, ts in conn.exec_driver_sql("SELECT session_id, ts_ms FROM tasks WHERE ts_ms IS NOT NULL"):
        task_keys.add((sid, bucket(ts)))
    tool_keys: set = set()
    for sid, ts in conn.exec_driver_sql("SELECT session_id, started_ms FROM tool_calls WHERE tool_name IS NOT NULL"):
        tool_keys.add((sid, bucket(ts)))
    recompute(conn, task_keys, tool_keys)


def keys_for_tasks(conn, task_ids: list[str]) -> tuple[set, set]:
    """The rollup pairs a change of these tasks' ratings touches: their own and their tool calls' buckets."""
    task_keys, tool_keys = set(), set()
    for i in range(0, len(task_ids), 500):
        part = task_ids[i:i + 500]
        for sid, ts in conn.exec_driver_sql(f"SELECT session_id, ts_ms FROM tasks WHERE id IN ({_marks(conn, len(part))})",
                                            tuple(part)):
            if ts is not None:
                task_keys.add((sid, bucket(ts)))
        for sid, ts in conn.exec_driver_sql(
                f"SELECT session_id, started_ms FROM tool_calls WHERE task_id IN ({_marks(conn, len(part))}) "
                "AND tool_name IS NOT NULL", tuple(part)):
            tool_keys.add((sid, bucket(ts)))
    return task_keys, tool_keys


def keys_for_calls(conn, call_ids: list[str]) -> set:
    """The tool rollup pairs of these stored calls (their stored start time)."""
    keys = set()
    for i in range(0, len(call_ids), 500):
        part = call_ids[i:i + 500]
        for sid, ts in conn.exec_driver_sql(
                f"SELECT session_id, started_ms FROM tool_calls WHERE id IN ({_marks(conn, len(part))})", tuple(part)):
            keys.add((sid, bucket(ts)))
    return keys
