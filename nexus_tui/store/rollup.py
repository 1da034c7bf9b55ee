"""Incremental rollups: tasks and tool calls summed per (session, 15-minute bucket, dimensions), per hour, per UTC
day and per (session, day), kept by the writer (docs/rollups.md).

Why: the screens and reports ask for sums over time ranges (tokens, cost, calls, failures, latency percentiles by
model, routing, tool...). Summing every task on each refresh grows with the history; summing the rollup rows of the
range grows with the active days and combinations in it, and a new task only touches the rows of its own bucket.

Maintenance (``recompute``, or ``mark`` + ``apply_marks`` for a collector pass): the (session, bucket) pairs a write
touches are rebuilt from the tasks and tool calls, so the rollups can never disagree with the rows, whatever the
merge rules did (a streamed response growing, a rating, a tool result arriving after its call).

Reading (``task_source``/``tool_source``): ``plan`` splits a range into whole days, hours and quarter hours, read from
the rollups, and the partial quarter hours at its ends, read from the raw rows; all come back as rows of the same
shape, so a query groups them together. Percentiles: ``task_hists``/``tool_hists`` merge the histograms
(core/sketch.py), which locate the bin whose values are then read exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, case, literal, null, or_, select, true, union_all

from nexus_tui.core import sketch
from nexus_tui.core.filters import Filters
from nexus_tui.store.schema import (
    Task,
    TaskDay,
    TaskHour,
    TaskRollup,
    TaskSessionDay,
    ToolCall,
    ToolDay,
    ToolHour,
    ToolRollup,
    ToolSessionDay,
)
# upkeep (kept by the writer) is store/upkeep.py's; its names stay importable from here
from nexus_tui.store.upkeep import (  # noqa: F401
    _AUTO_SQL,
    _COST_MODE_SUMS,
    _TASK_DIMS,
    _TASK_SUMS,
    COST_MODES,
    D_MS,
    H_MS,
    Q_MS,
    ROLLUP_LOCK_KEY,
    _LN,
    _bin_sql,
    _marks,
    _p,
    _ranges,
    _session_chunks,
    apply_marks,
    bucket,
    keys_for_calls,
    keys_for_tasks,
    lock,
    mark,
    rebuild,
    recompute,
)

R = TaskRollup.__table__
RT = ToolRollup.__table__
TH = TaskHour.__table__
TOH = ToolHour.__table__
TD = TaskDay.__table__
TOD = ToolDay.__table__
TSD = TaskSessionDay.__table__
TOSD = ToolSessionDay.__table__
T = Task.__table__
TC = ToolCall.__table__



def cost_expr(mode: str = "auto", t=None):
    """A task's cost under the cost mode (``auto``, ``calculate``: our price of its tokens, ``display``: the cost the
    source reported, NULL where it reported none), as a SQL expression over the tasks table ``t``. The one place the
    modes are defined: the rollups sum each mode's cost (cost_usd, cost_auto_usd, cost_display_usd) and
    ``task_source`` hands the chosen one on as ``cost_usd``."""
    t = T if t is None else t
    if mode == "calculate":
        return t.c.cost_usd
    if mode == "display":
        return t.c.reported_cost_usd
    return case((and_(t.c.reported_cost_usd.isnot(None),
                      or_(t.c.cost_usd.is_(None), and_(t.c.cache_creation_tokens > 0,
                                                      t.c.cache_creation_5m_tokens.is_(None),
                                                      t.c.cache_creation_1h_tokens.is_(None)))),
                 t.c.reported_cost_usd), else_=t.c.cost_usd)


def cloud_expr(mode: str = "auto", t=None):
    """A task's cloud-cost equivalent under the cost mode: a cloud task's is its cost (so local savings stay
    cloud equivalent − cost), a local task's the stored price of the reference model."""
    t = T if t is None else t
    if mode == "calculate":
        return t.c.cloud_cost_equivalent
    return case((t.c.routing == "local", t.c.cloud_cost_equivalent), else_=cost_expr(mode, t))


# ---------------------------------------------------------------- reading
_LEVELS = (("quarter", Q_MS), ("hour", H_MS), ("day", D_MS))
_SESSION_LEVELS = (("quarter", Q_MS), ("sday", D_MS))  # per-session sums: (session, day) rows above quarter hours


def plan(since_ms: int | None, until_ms: int | None, coarsest: str = "day") -> list[tuple[str, int | None, int | None]]:
    """How to read [since, until) (None = open): disjoint parts ("day" | "hour" | "quarter" | "raw", lo, hi)
    covering the range: whole UTC days from the daily rollups, whole hours at their ends from the hourly ones, whole
    quarter hours from the quarter-hour rollups, the partial quarter hours at the very ends from the raw rows; no
    level coarser than ``coarsest``."""
    parts: list = []
    lo, hi, finer = since_ms, until_ms, "raw"
    for name, size in (_SESSION_LEVELS if coarsest == "sday" else _LEVELS):
        alo = None if lo is None else -(-lo // size) * size
        ahi = None if hi is None else (hi // size) * size
        if alo is not None and ahi is not None and alo >= ahi:
            parts.append((finer, lo, hi))
            return parts
        if lo is not None and lo < alo:
            parts.append((finer, lo, alo))
        if hi is not None and ahi < hi:
            parts.append((finer, ahi, hi))
        lo, hi, finer = alo, ahi, name
        if name == coarsest:
            break
    parts.append((finer, lo, hi))
    return parts


def _coarsest(coarsest: str | None, session_conds: list, f: Filters | None = None) -> str:
    """Hourly and daily rows do not know their sessions; (session, day) rows know no model or source."""
    if coarsest == "sday":
        return "quarter" if f is not None and (f.model or f.source) else "sday"
    return "quarter" if session_conds else (coarsest or "day")


_TASK_TABLES = {"quarter": R, "hour": TH, "day": TD, "sday": TSD}
_TOOL_TABLES = {"quarter": RT, "hour": TOH, "day": TOD, "sday": TOSD}


def _agent_expr():
    return case((T.c.agent_id.is_(None), literal("main")), else_=literal("sub-agent"))


def _bounds(col, lo, hi) -> list:
    out = []
    if lo is not None:
        out.append(col >= lo)
    if hi is not None:
        out.append(col < hi)
    return out


_ROLLUP_TASK_COLS = ("tasks", *_TASK_SUMS, "cost_usd", "cloud_cost_equivalent", "unpriced", "lat_n", "lat_sum",
                     "lat_max", "rated_helpful", "rated_not_helpful", "first_ms", "last_ms")
_MODE_COLS = {"auto": {"cost_usd": "cost_auto_usd", "unpriced": "unpriced_auto",
                       "cloud_cost_equivalent": "cloud_auto_usd"},
              "display": {"cost_usd": "cost_display_usd", "unpriced": "unpriced_display",
                          "cloud_cost_equivalent": "cloud_display_usd"}}


def _rollup_cols(tbl, mode: str) -> list:
    """The rollup table's task columns; the cost, unpriced count and cloud equivalent of ``mode`` under the names
    cost_usd, unpriced and cloud_cost_equivalent."""
    names = _MODE_COLS.get(mode, {})
    return [tbl.c[names[k]].label(k) if k in names else tbl.c[k] for k in _ROLLUP_TASK_COLS]


def task_source(f: Filters, session_conds: list, extra_raw: list = (), extra_rollup: list = (),
                coarsest: str | None = None):
    """A subquery of task-shaped rows for the filters (see ``plan``). Columns: session_id (NULL in hourly and daily
    rows: ``coarsest="quarter"`` for per-session sums), ts_ms (a rollup row's bucket start), the dimensions, tasks, the token
    sums, cost_usd, cloud_cost_equivalent, unpriced, lat_n, lat_sum, lat_max, rated_helpful, rated_not_helpful,
    first_ms, last_ms. ``session_conds``: functions of a session_id column; ``extra_rollup``: functions of a rollup
    table; ``extra_raw``: conditions on tasks."""
    parts = []
    for level, lo, hi in plan(f.since_ms, f.until_ms, _coarsest(coarsest, session_conds, f)):
        if level == "raw":
            conds = _bounds(T.c.ts_ms, lo, hi)
            if f.model:
                conds.append(T.c.model == f.model)
            if f.source:
                conds.append(T.c.source == f.source)
            conds += [c(T.c.session_id) for c in session_conds] + list(extra_raw)
            parts.append(raw_task_rows(conds, f.cost_mode))
            continue
        tbl = _TASK_TABLES[level]
        conds = _bounds(tbl.c.bucket_ms, lo, hi)
        if level == "sday":  # no dimensions (and no model/source filter: see _coarsest)
            conds += [c(tbl.c.session_id) for c in session_conds]
            parts.append(select(tbl.c.session_id, tbl.c.bucket_ms.label("ts_ms"),
                                *[null().label(d) for d in _TASK_DIMS], *_rollup_cols(tbl, f.cost_mode))
                         .where(and_(true(), *conds)))
            continue
        if f.model:
            conds.append(tbl.c.model == f.model)
        if f.source:
            conds.append(tbl.c.source == f.source)
        conds += [c(tbl.c.session_id) for c in session_conds] + [c(tbl) for c in extra_rollup]
        sid = tbl.c.session_id if level == "quarter" else null().label("session_id")
        parts.append(select(sid, tbl.c.bucket_ms.label("ts_ms"), *[tbl.c[d] for d in _TASK_DIMS],
                            *_rollup_cols(tbl, f.cost_mode)).where(and_(true(), *conds)))
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("u")


def raw_task_rows(conds: list, cost_mode: str = "auto"):
    """Tasks as rows of task_source's shape (one task each), under ``conds``; cost_usd is the cost of ``cost_mode``."""
    one, zero = literal(1), literal(0)
    cost = cost_expr(cost_mode)
    return select(
        T.c.session_id, T.c.ts_ms, T.c.model, T.c.source, T.c.routing, T.c.tier, T.c.persona, T.c.cli_tool,
        _agent_expr().label("agent"), one.label("tasks"), *[T.c[k] for k in _TASK_SUMS], cost.label("cost_usd"),
        cloud_expr(cost_mode).label("cloud_cost_equivalent"), case((cost.is_(None), one), else_=zero).label("unpriced"),
        case((T.c.latency_ms.is_(None), zero), else_=one).label("lat_n"), T.c.latency_ms.label("lat_sum"),
        T.c.latency_ms.label("lat_max"), case((T.c.quality_rating == 1, one), else_=zero).label("rated_helpful"),
        case((T.c.quality_rating == 0, one), else_=zero).label("rated_not_helpful"),
        T.c.ts_ms.label("first_ms"), T.c.ts_ms.label("last_ms")).where(and_(true(), *conds))


def _task_filter(f: Filters) -> list:
    """Tool calls whose asking task matches the model/source filters."""
    tc = [T.c.model == f.model] if f.model else []
    if f.source:
        tc.append(T.c.source == f.source)
    return [TC.c.task_id.in_(select(T.c.id).where(and_(true(), *tc)))] if tc else []


def usable_for_tools(f: Filters) -> bool:
    """The tool rollups do not split calls by the asking task's model or source: with those filters every call is
    read raw."""
    return not (f.model or f.source)


def _tool_plan(f: Filters, session_conds: list, coarsest: str | None):
    if not usable_for_tools(f):
        return [("raw", f.since_ms, f.until_ms)], [*_task_filter(f)]
    return plan(f.since_ms, f.until_ms, _coarsest(coarsest, session_conds, f)), []


_ROLLUP_TOOL_COLS = ("tool_name", "mcp_server", "error_type", "calls", "failures", "pending", "ok_all", "ok_helpful",
                     "ok_not_helpful", "lat_n", "lat_sum", "lat_max")


def tool_source(f: Filters, session_conds: list, extra_raw: list = (), extra_rollup: list = (),
                coarsest: str | None = None):
    """Tool-call-shaped rows (see ``plan``): session_id (NULL in hourly rows), ts_ms, tool_name, mcp_server,
    error_type, calls, failures, pending, ok_all, ok_helpful, ok_not_helpful, lat_n, lat_sum, lat_max."""
    levels, more_raw = _tool_plan(f, session_conds, coarsest)
    parts = []
    for level, lo, hi in levels:
        if level == "raw":
            conds = [TC.c.tool_name.isnot(None), *_bounds(TC.c.started_ms, lo, hi), *more_raw]
            conds += [c(TC.c.session_id) for c in session_conds] + list(extra_raw)
            parts.append(raw_tool_rows(conds))
            continue
        tbl = _TOOL_TABLES[level]
        conds = _bounds(tbl.c.bucket_ms, lo, hi)
        conds += [c(tbl.c.session_id) for c in session_conds] + [c(tbl) for c in extra_rollup]
        sid = tbl.c.session_id if level in ("quarter", "sday") else null().label("session_id")
        cols = [tbl.c[k] if k in tbl.c else null().label(k) for k in _ROLLUP_TOOL_COLS]
        parts.append(select(sid, tbl.c.bucket_ms.label("ts_ms"), *cols).where(and_(true(), *conds)))
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("ut")


def raw_tool_rows(conds: list):
    """Tool calls as rows of tool_source's shape (one call each), under ``conds``."""
    one, zero = literal(1), literal(0)
    ok = TC.c.success.is_(True)
    rating = select(T.c.quality_rating).where(T.c.id == TC.c.task_id).scalar_subquery()
    return select(
        TC.c.session_id, TC.c.started_ms.label("ts_ms"), TC.c.tool_name, TC.c.mcp_server,
        case((TC.c.success.is_(False), TC.c.error_type), else_=null()).label("error_type"),
        one.label("calls"), case((TC.c.success.is_(False), one), else_=zero).label("failures"),
        case((TC.c.success.is_(None), one), else_=zero).label("pending"),
        case((ok, one), else_=zero).label("ok_all"),
        case((and_(ok, rating == 1), one), else_=zero).label("ok_helpful"),
        case((and_(ok, rating == 0), one), else_=zero).label("ok_not_helpful"),
        case((TC.c.latency_ms.is_(None), zero), else_=one).label("lat_n"), TC.c.latency_ms.label("lat_sum"),
        TC.c.latency_ms.label("lat_max")).where(and_(true(), *conds))


def task_hists(conn, f: Filters, session_conds: list, key: str, key_raw) -> dict:
    """Merged latency histograms of the tasks under the filters, per value of the dimension ``key`` (``key_raw``:
    the same on tasks): {value: hist}."""
    out: dict = defaultdict(dict)
    for level, lo, hi in plan(f.since_ms, f.until_ms, _coarsest(None, session_conds)):
        if level == "raw":
            conds = [T.c.latency_ms.isnot(None), *_bounds(T.c.ts_ms, lo, hi)]
            if f.model:
                conds.append(T.c.model == f.model)
            if f.source:
                conds.append(T.c.source == f.source)
            conds += [c(T.c.session_id) for c in session_conds]
            for k, lat in conn.execute(select(key_raw, T.c.latency_ms).where(and_(*conds))):
                hb = sketch.bin_of(lat)
                out[k][hb] = out[k].get(hb, 0) + 1
            continue
        tbl = _TASK_TABLES[level]
        conds = [tbl.c.lat_hist.isnot(None), *_bounds(tbl.c.bucket_ms, lo, hi)]
        if f.model:
            conds.append(tbl.c.model == f.model)
        if f.source:
            conds.append(tbl.c.source == f.source)
        conds += [c(tbl.c.session_id) for c in session_conds]
        for k, text in conn.execute(select(tbl.c[key], tbl.c.lat_hist).where(and_(*conds))):
            sketch.add_text(out[k], text)
    return out


def tool_hists(conn, f: Filters, session_conds: list, keys: list[str], keys_raw: list, extra_rollup: list = (),
               extra_raw: list = ()) -> dict:
    """Merged latency histograms of the tool calls per tuple of the columns ``keys`` (``keys_raw``: the same on
    tool_calls)."""
    levels, more_raw = _tool_plan(f, session_conds, None)
    out: dict = defaultdict(dict)
    for level, lo, hi in levels:
        if level == "raw":
            conds = [TC.c.tool_name.isnot(None), TC.c.latency_ms.isnot(None), *_bounds(TC.c.started_ms, lo, hi),
                     *more_raw, *[c(TC.c.session_id) for c in session_conds], *extra_raw]
            for row in conn.execute(select(*keys_raw, TC.c.latency_ms).where(and_(*conds))):
                hb = sketch.bin_of(row[-1])
                k = tuple(row[:-1])
                out[k][hb] = out[k].get(hb, 0) + 1
            continue
        tbl = _TOOL_TABLES[level]
        conds = [tbl.c.lat_hist.isnot(None), *_bounds(tbl.c.bucket_ms, lo, hi),
                 *[c(tbl.c.session_id) for c in session_conds], *[c(tbl) for c in extra_rollup]]
        for row in conn.execute(select(*[tbl.c[k] for k in keys], tbl.c.lat_hist).where(and_(*conds))):
            sketch.add_text(out[tuple(row[:-1])], row[-1])
    return out

