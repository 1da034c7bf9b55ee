"""The plan: filters and ranges turned into conditions and row sources. Every subject module of the read side
(usage, sessions, tools, efficiency, quota, requests, search) asks this module how to read a range.

Conditions: ``task_conds``/``tool_conds``/``error_conds`` (rows under the filters), ``session_filter`` (the
session-level filters as functions of a session_id column), ``active_session_cond`` (THE definition of a session in
a range). Row sources: ``task_source``/``tool_source`` split a range (``plan``) into whole UTC days, hours and
quarter hours read from the rollups (kept by the writer: store/rollup.py) and the partial quarter hours at its ends
read from the raw rows; all come back as rows of one shape, so a query groups them together (docs/rollups.md).
Percentiles: ``task_hists``/``tool_hists`` merge the rollups' histograms (core/sketch.py), which locate the bin
whose values ``values_between`` then reads exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

from sqlalchemy import Float, Integer, Numeric, and_, case, exists, func, null, or_, select, true, union_all

from nexus_tui.core import sketch
from nexus_tui.core.filters import Filters
from nexus_tui.store.rollup import D_MS, H_MS, Q_MS
from nexus_tui.store.rules import (
    MODE_COLUMNS,
    TASK_DIMS,
    TASK_ROW_COLUMNS,
    TOKEN_COLUMNS,
    TOOL_ROW_COLUMNS,
    agent_expr,
    cloud_expr,
    cost_expr,
    task_measure,
    tool_error_type,
    tool_measure,
)
from nexus_tui.store.spans import (  # noqa: F401 (the read side's names; pure: the light read uses them too)
    cache_hit_rate,
    int_fix,
    merge_hist,
    merge_tool_hist,
    plan,
    stored_int,
    usage_dict,
    utc_offset_ms,
    zone_level,
)
from nexus_tui.store.schema import (
    ErrorEvent,
    Session,
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

T = Task.__table__
S = Session.__table__
TC = ToolCall.__table__
E = ErrorEvent.__table__
R = TaskRollup.__table__
RT = ToolRollup.__table__
TH = TaskHour.__table__
TOH = ToolHour.__table__
TD = TaskDay.__table__
TOD = ToolDay.__table__
TSD = TaskSessionDay.__table__
TOSD = ToolSessionDay.__table__


def _one_project(s, name: str):
    # the text, not a LIKE pattern: '_' and '%' in a project name match themselves ('my_app' matched /w/my-app)
    return or_(s.c.project == name, s.c.cwd.contains(name, autoescape=True))


def project_cond(s, f: Filters):
    """The condition on the sessions table ``s`` for ``f.project`` (a project, or a group's members: store/projects.py
    ``matches`` is the same rule in Python)."""
    members = f.project_members or (f.project,)
    return _one_project(s, members[0]) if len(members) == 1 else or_(*[_one_project(s, m) for m in members])


def session_conds(f: Filters) -> list:
    c = []
    if f.project:  # a project, or a project group's members (store/projects.py)
        c.append(project_cond(S, f))
    if f.persona:
        c.append(S.c.persona == f.persona)
    if f.cli_tool:
        c.append(S.c.cli_tool == f.cli_tool)
    if f.machine:  # its id, or its readable name
        from nexus_tui.store.schema import Machine

        m = Machine.__table__
        c.append(or_(S.c.machine == f.machine, S.c.machine.in_(select(m.c.id).where(m.c.name == f.machine))))
    return c


def session_subquery(f: Filters):
    conds = session_conds(f)
    return select(S.c.id).where(and_(true(), *conds)) if conds else None


def session_filter(f: Filters) -> list:
    """The session-level filters as functions of a session_id column (for the rollup sources)."""
    sub = session_subquery(f)
    return [] if sub is None else [lambda col: col.in_(sub)]


def usage_cols_u(u) -> list:
    """_usage_cols over a task_source subquery (rows that are sums)."""
    return [func.coalesce(func.sum(u.c.tasks), 0).label("tasks"),
            func.coalesce(func.sum(u.c.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(u.c.tokens_out), 0).label("tokens_out"),
            func.coalesce(func.sum(u.c.cache_creation_tokens), 0).label("cache_creation_tokens"),
            func.coalesce(func.sum(u.c.cache_read_tokens), 0).label("cache_read_tokens"),
            func.sum(u.c.cost_usd).label("cost_usd"),
            func.sum(u.c.cloud_cost_equivalent).label("cloud_cost_equivalent"),
            func.coalesce(func.sum(u.c.unpriced), 0).label("unpriced_tasks"),
            (func.sum(u.c.lat_sum) * 1.0 / func.nullif(func.sum(u.c.lat_n), 0)).label("avg_latency_ms"),
            func.coalesce(func.sum(u.c.rated_helpful), 0).label("rated_helpful"),
            func.coalesce(func.sum(u.c.rated_not_helpful), 0).label("rated_not_helpful")]


def task_conds(f: Filters) -> list:
    """WHERE conditions on tasks for the filters (time on the task's own time)."""
    c = []
    if f.since_ms is not None:
        c.append(T.c.ts_ms >= f.since_ms)
    if f.until_ms is not None:
        c.append(T.c.ts_ms < f.until_ms)
    if f.model:
        c.append(T.c.model == f.model)
    if f.source:
        c.append(T.c.source == f.source)
    sub = session_subquery(f)
    if sub is not None:
        c.append(T.c.session_id.in_(sub))
    return c


def tool_conds(f: Filters) -> list:
    """WHERE conditions on tool_calls (time on the call's start; model/source through the asking task)."""
    c = [TC.c.tool_name.isnot(None)]
    if f.since_ms is not None:
        c.append(TC.c.started_ms >= f.since_ms)
    if f.until_ms is not None:
        c.append(TC.c.started_ms < f.until_ms)
    if f.model or f.source:
        tc = [T.c.model == f.model] if f.model else []
        if f.source:
            tc.append(T.c.source == f.source)
        c.append(TC.c.task_id.in_(select(T.c.id).where(and_(true(), *tc))))
    sub = session_subquery(f)
    if sub is not None:
        c.append(TC.c.session_id.in_(sub))
    return c


def error_conds(f: Filters) -> list:
    c = []
    if f.since_ms is not None:
        c.append(E.c.ts_ms >= f.since_ms)
    if f.until_ms is not None:
        c.append(E.c.ts_ms < f.until_ms)
    sub = session_subquery(f)
    if sub is not None:
        c.append(E.c.session_id.in_(sub))
    return c


def _number_kind(t) -> str | None:
    """'int' or 'real' for a numeric column type (a TypeDecorator by what it stores), else None."""
    t = getattr(t, "impl_instance", None) or t
    if isinstance(t, Integer):
        return "int"
    if isinstance(t, (Float, Numeric)):
        return "real"
    return None


def typed_rows(conn, stmt) -> list[dict]:
    """The rows of ``stmt`` as dicts, each number of a numeric column a number or None: SQLite keeps any value in
    any column (a row another program wrote, a hand edit: the text 'lots' in tokens_in, bytes as a latency), and
    the screens and reports that lay raw rows out (a session's tasks, a task's detail, the requests report) ended
    with a traceback on one. Aggregates need none of this (SQL sums a text as 0)."""
    kinds = [(c.key, k) for c in stmt.selected_columns if (k := _number_kind(c.type)) is not None]
    out = []
    for r in conn.execute(stmt):
        d = dict(r._mapping)
        for key, kind in kinds:
            v = d.get(key)
            if v is None or type(v) is int or (kind == "real" and type(v) is float and math.isfinite(v)):
                continue
            d[key] = stored_int(v) if kind == "int" else None
        out.append(d)
    return out


def active_session_cond(f: Filters):
    """THE definition of a session, used by every count and list of sessions: a session counts in a range when it
    has at least one task or one tool call in that range (under the filters). A session row with neither (an
    ``mcp-wrap`` run that made no call, a transcript of only summaries) is in no view. A condition on sessions.id."""
    return or_(exists().where(T.c.session_id == S.c.id, *task_conds(f)),
               exists().where(TC.c.session_id == S.c.id, *tool_conds(f)))


def active_session_count_statement(f: Filters):
    return select(func.count()).select_from(S).where(and_(true(), *session_conds(f), active_session_cond(f)))


def active_session_count(conn, f: Filters) -> int:
    """How many sessions count in the range (``active_session_cond``) under the session-level filters."""
    return int(conn.execute(active_session_count_statement(f)).scalar() or 0)


def values_statement(col, conds: list, lo: int, hi: int):
    """The stored values of ``col`` in [lo, hi] under ``conds`` (an indexed range read)."""
    return select(col).where(and_(*conds, col >= lo, col <= hi))


def values_between(conn, col, conds: list):
    """A reader of the stored values of ``col`` in [lo, hi] under ``conds``, for core.sketch.exact_percentiles."""
    def read(lo: int, hi: int) -> list:
        return [r[0] for r in conn.execute(values_statement(col, conds, lo, hi))]
    return read


def usage_cols(cost_mode: str = "auto"):
    cost = cost_expr(cost_mode)
    return [func.count().label("tasks"),
            func.coalesce(func.sum(T.c.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(T.c.tokens_out), 0).label("tokens_out"),
            func.coalesce(func.sum(T.c.cache_creation_tokens), 0).label("cache_creation_tokens"),
            func.coalesce(func.sum(T.c.cache_read_tokens), 0).label("cache_read_tokens"),
            func.sum(cost).label("cost_usd"),
            func.sum(cloud_expr(cost_mode)).label("cloud_cost_equivalent"),
            func.coalesce(func.sum(case((cost.is_(None), 1), else_=0)), 0).label("unpriced_tasks"),
            func.avg(T.c.latency_ms).label("avg_latency_ms"),
            func.coalesce(func.sum(case((T.c.quality_rating == 1, 1), else_=0)), 0).label("rated_helpful"),
            func.coalesce(func.sum(case((T.c.quality_rating == 0, 1), else_=0)), 0).label("rated_not_helpful")]


# ---------------------------------------------------------------- row sources: rollups and raw rows
def _coarsest(coarsest: str | None, session_conds: list, f: Filters | None = None) -> str:
    """Hourly and daily rows do not know their sessions; (session, day) rows know no model or source."""
    if coarsest == "sday":
        return "quarter" if f is not None and (f.model or f.source) else "sday"
    return "quarter" if session_conds else (coarsest or "day")


_TASK_TABLES = {"quarter": R, "hour": TH, "day": TD, "sday": TSD}
_TOOL_TABLES = {"quarter": RT, "hour": TOH, "day": TOD, "sday": TOSD}


def _bounds(col, lo, hi) -> list:
    out = []
    if lo is not None:
        out.append(col >= lo)
    if hi is not None:
        out.append(col < hi)
    return out


def _rollup_cols(tbl, mode: str) -> list:
    """The rollup table's task columns; the cost, unpriced count and cloud equivalent of ``mode`` under the names
    cost_usd, unpriced and cloud_cost_equivalent."""
    names = MODE_COLUMNS.get(mode, {})
    return [tbl.c[names[k]].label(k) if k in names else tbl.c[k] for k in TASK_ROW_COLUMNS]


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
                                *[null().label(d) for d in TASK_DIMS], *_rollup_cols(tbl, f.cost_mode))
                         .where(and_(true(), *conds)))
            continue
        if f.model:
            conds.append(tbl.c.model == f.model)
        if f.source:
            conds.append(tbl.c.source == f.source)
        conds += [c(tbl.c.session_id) for c in session_conds] + [c(tbl) for c in extra_rollup]
        sid = tbl.c.session_id if level == "quarter" else null().label("session_id")
        parts.append(select(sid, tbl.c.bucket_ms.label("ts_ms"), *[tbl.c[d] for d in TASK_DIMS],
                            *_rollup_cols(tbl, f.cost_mode)).where(and_(true(), *conds)))
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("u")


def raw_task_rows(conds: list, cost_mode: str = "auto"):
    """Tasks as rows of task_source's shape (one task each), under ``conds``; cost_usd is the cost of ``cost_mode``.
    The columns are rules.task_measure, the same expressions the rollup upkeep sums."""
    return select(*_raw_task_columns(cost_mode)).where(and_(true(), *conds))


@lru_cache(maxsize=None)
def _raw_task_columns(cost_mode: str) -> tuple:
    """raw_task_rows' columns, built once per cost mode (SQL expressions are immutable: every statement can share
    them; building the CASE expressions again for each part of each range cost a few ms of CPU each time)."""
    return (T.c.session_id, T.c.ts_ms, T.c.model, T.c.source, T.c.routing, T.c.tier, T.c.persona, T.c.cli_tool,
            agent_expr().label("agent"), *[task_measure(k, cost_mode).label(k) for k in TASK_ROW_COLUMNS])


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
        cols = [tbl.c[k] if k in tbl.c else null().label(k) for k in TOOL_ROW_COLUMNS]
        parts.append(select(sid, tbl.c.bucket_ms.label("ts_ms"), *cols).where(and_(true(), *conds)))
    return (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("ut")


def raw_tool_rows(conds: list):
    """Tool calls as rows of tool_source's shape (one call each), under ``conds``: rules.tool_measure, the same
    expressions the rollup upkeep groups."""
    rating = select(T.c.quality_rating).where(T.c.id == TC.c.task_id).scalar_subquery()
    cols = {"tool_name": TC.c.tool_name, "mcp_server": TC.c.mcp_server, "error_type": tool_error_type(TC)}
    return select(TC.c.session_id, TC.c.started_ms.label("ts_ms"),
                  *[(cols[k] if k in cols else tool_measure(k, TC, rating)).label(k) for k in TOOL_ROW_COLUMNS]
                  ).where(and_(true(), *conds))


def task_hist_statements(f: Filters, session_conds: list, key: str, key_raw) -> list[tuple[bool, object]]:
    """The statements of ``task_hists``, one per part of the range's plan: (raw rows?, statement); a raw part's rows
    are (key, latency), a rollup part's (key, histogram text) (``spans.merge_hist``)."""
    out = []
    for level, lo, hi in plan(f.since_ms, f.until_ms, _coarsest(None, session_conds)):
        if level == "raw":
            conds = [T.c.latency_ms.isnot(None), *_bounds(T.c.ts_ms, lo, hi)]
            if f.model:
                conds.append(T.c.model == f.model)
            if f.source:
                conds.append(T.c.source == f.source)
            conds += [c(T.c.session_id) for c in session_conds]
            out.append((True, select(key_raw, T.c.latency_ms).where(and_(*conds))))
            continue
        tbl = _TASK_TABLES[level]
        conds = [tbl.c.lat_hist.isnot(None), *_bounds(tbl.c.bucket_ms, lo, hi)]
        if f.model:
            conds.append(tbl.c.model == f.model)
        if f.source:
            conds.append(tbl.c.source == f.source)
        conds += [c(tbl.c.session_id) for c in session_conds]
        out.append((False, select(tbl.c[key], tbl.c.lat_hist).where(and_(*conds))))
    return out


def task_hists(conn, f: Filters, session_conds: list, key: str, key_raw) -> dict:
    """Merged latency histograms of the tasks under the filters, per value of the dimension ``key`` (``key_raw``:
    the same on tasks): {value: hist}."""
    out: dict = defaultdict(dict)
    for raw, stmt in task_hist_statements(f, session_conds, key, key_raw):
        merge_hist(out, raw, conn.execute(stmt))
    return out


def tool_hist_statements(f: Filters, session_conds: list, keys: list[str], keys_raw: list, extra_rollup: list = (),
                         extra_raw: list = ()) -> list[tuple[bool, object]]:
    """The statements of ``tool_hists``, one per part of the plan: (raw rows?, statement); rows are the key columns
    then a latency (raw) or a histogram text (rollups): ``spans.merge_tool_hist``."""
    levels, more_raw = _tool_plan(f, session_conds, None)
    out = []
    for level, lo, hi in levels:
        if level == "raw":
            conds = [TC.c.tool_name.isnot(None), TC.c.latency_ms.isnot(None), *_bounds(TC.c.started_ms, lo, hi),
                     *more_raw, *[c(TC.c.session_id) for c in session_conds], *extra_raw]
            out.append((True, select(*keys_raw, TC.c.latency_ms).where(and_(*conds))))
            continue
        tbl = _TOOL_TABLES[level]
        conds = [tbl.c.lat_hist.isnot(None), *_bounds(tbl.c.bucket_ms, lo, hi),
                 *[c(tbl.c.session_id) for c in session_conds], *[c(tbl) for c in extra_rollup]]
        out.append((False, select(*[tbl.c[k] for k in keys], tbl.c.lat_hist).where(and_(*conds))))
    return out


def tool_hists(conn, f: Filters, session_conds: list, keys: list[str], keys_raw: list, extra_rollup: list = (),
               extra_raw: list = ()) -> dict:
    """Merged latency histograms of the tool calls per tuple of the columns ``keys`` (``keys_raw``: the same on
    tool_calls)."""
    out: dict = defaultdict(dict)
    for raw, stmt in tool_hist_statements(f, session_conds, keys, keys_raw, extra_rollup, extra_raw):
        merge_tool_hist(out, raw, conn.execute(stmt))
    return out



# ---------------------------------------------------------------- buckets in a time zone
def aligned(bucket_ms: int, off: int) -> bool:
    return bucket_ms % Q_MS == 0 and off % Q_MS == 0


def bucket_level(bucket_ms: int, off: int) -> str:
    """The coarsest rollup level whose rows each fall in one of these buckets (UTC days, hours or quarter hours)."""
    for name, size in (("day", D_MS), ("hour", H_MS)):
        if bucket_ms % size == 0 and off % size == 0:
            return name
    return "quarter"


def scope_conds(session_id: str | None, f: Filters) -> tuple[list, list]:
    """(task conditions, tool call conditions): one session's whole history, or the filters."""
    if session_id:
        return [T.c.session_id == session_id], [TC.c.session_id == session_id, TC.c.tool_name.isnot(None)]
    return task_conds(f), tool_conds(f)


def task_rows(f: Filters, session_id: str | None, start_ms: int, end_ms: int, bucket_ms: int, off: int):
    """Task-shaped rows of [start, end): the rollups when the buckets are whole quarter hours, else raw tasks."""
    if session_id or not aligned(bucket_ms, off):
        tc, _ = scope_conds(session_id, f)
        return raw_task_rows(tc + [T.c.ts_ms >= start_ms, T.c.ts_ms < end_ms]).subquery("u")
    return task_source(f.with_(since_ms=start_ms, until_ms=end_ms), session_filter(f),
                       coarsest=bucket_level(bucket_ms, off))


def total_tokens_sum(u):
    """The four token kinds summed over rows ``u`` (a row source or a subquery with the token columns)."""
    out = None
    for k in TOKEN_COLUMNS:
        term = func.coalesce(func.sum(u.c[k]), 0)
        out = term if out is None else out + term
    return out
