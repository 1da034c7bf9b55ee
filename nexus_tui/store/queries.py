"""Read queries for the reports and the screens: portable SQLAlchemy Core over (engine, Filters).

Every number the dashboard and the headless reports show comes from here, so both always agree. Sums over time
ranges read the rollups (store/rollup.py: whole quarter hours from the rollup rows, the partial ones at the range's
ends from the raw rows), so they cost the same whatever the history's size.
Percentiles are exact, by nearest rank (the value at rank ceil(p/100 * n) of the sorted latencies): the rollups'
merged histograms say which bin holds the rank and how many values lie below it, and the bin's own values (a 2 %
wide latency range) are read from the rows through an index (core.sketch.exact_percentiles), so memory and time stay
bounded whatever the table size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import Engine, and_, case, distinct, exists, func, literal, or_, select, true

from nexus_tui.core import sketch
from nexus_tui.core.events import iso_from_ms
from nexus_tui.core.filters import Filters
from nexus_tui.store import rollup
from nexus_tui.store.schema import ErrorEvent, Session, Task, ToolCall, money

T = Task.__table__
S = Session.__table__
TC = ToolCall.__table__
E = ErrorEvent.__table__

_BUCKET_MS = 900_000  # 15 minutes: every time zone offset is a multiple of it


def _session_conds(f: Filters) -> list:
    c = []
    if f.project:  # a project, or a project group's members (store/projects.py)
        from nexus_tui.store.projects import project_cond

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


def _session_subquery(f: Filters):
    conds = _session_conds(f)
    return select(S.c.id).where(and_(true(), *conds)) if conds else None


def session_filter(f: Filters) -> list:
    """The session-level filters as functions of a session_id column (for the rollup sources)."""
    sub = _session_subquery(f)
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


def _int_fix(d: dict) -> dict:
    for k in ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "unpriced_tasks",
              "rated_helpful", "rated_not_helpful"):
        if k in d and d[k] is not None:
            d[k] = int(d[k])
    return d


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
    sub = _session_subquery(f)
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
    sub = _session_subquery(f)
    if sub is not None:
        c.append(TC.c.session_id.in_(sub))
    return c


def error_conds(f: Filters) -> list:
    c = []
    if f.since_ms is not None:
        c.append(E.c.ts_ms >= f.since_ms)
    if f.until_ms is not None:
        c.append(E.c.ts_ms < f.until_ms)
    sub = _session_subquery(f)
    if sub is not None:
        c.append(E.c.session_id.in_(sub))
    return c


def active_session_cond(f: Filters):
    """THE definition of a session, used by every count and list of sessions: a session counts in a range when it
    has at least one task or one tool call in that range (under the filters). A session row with neither (an
    ``mcp-wrap`` run that made no call, a transcript of only summaries) is in no view. A condition on sessions.id."""
    return or_(exists().where(T.c.session_id == S.c.id, *task_conds(f)),
               exists().where(TC.c.session_id == S.c.id, *tool_conds(f)))


def session_count(conn, f: Filters) -> int:
    """How many sessions count in the range (``active_session_cond``) under the session-level filters."""
    return int(conn.execute(select(func.count()).select_from(S)
                            .where(and_(true(), *_session_conds(f), active_session_cond(f)))).scalar() or 0)


def _values_between(conn, col, conds: list):
    """A reader of the stored values of ``col`` in [lo, hi] under ``conds`` (an indexed range read), for
    core.sketch.exact_percentiles."""
    def read(lo: int, hi: int) -> list:
        return [r[0] for r in conn.execute(select(col).where(and_(*conds, col >= lo, col <= hi)))]
    return read


def _usage_cols(cost_mode: str = "auto"):
    cost = rollup.cost_expr(cost_mode)
    return [func.count().label("tasks"),
            func.coalesce(func.sum(T.c.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(T.c.tokens_out), 0).label("tokens_out"),
            func.coalesce(func.sum(T.c.cache_creation_tokens), 0).label("cache_creation_tokens"),
            func.coalesce(func.sum(T.c.cache_read_tokens), 0).label("cache_read_tokens"),
            func.sum(cost).label("cost_usd"),
            func.sum(rollup.cloud_expr(cost_mode)).label("cloud_cost_equivalent"),
            func.coalesce(func.sum(case((cost.is_(None), 1), else_=0)), 0).label("unpriced_tasks"),
            func.avg(T.c.latency_ms).label("avg_latency_ms"),
            func.coalesce(func.sum(case((T.c.quality_rating == 1, 1), else_=0)), 0).label("rated_helpful"),
            func.coalesce(func.sum(case((T.c.quality_rating == 0, 1), else_=0)), 0).label("rated_not_helpful")]


def cache_hit_rate(tokens_in: int, cache_read: int, cache_creation: int) -> float | None:
    """Share of total input served from cache: cache_read / (tokens_in + cache_read + cache_creation)."""
    total = tokens_in + cache_read + cache_creation
    return cache_read / total if total else None


def _usage_dict(r) -> dict:
    d = dict(r._mapping)
    d["cost_usd"] = float(d["cost_usd"]) if d["cost_usd"] is not None else (0.0 if d["tasks"] else 0.0)
    d["cloud_cost_equivalent"] = float(d["cloud_cost_equivalent"] or 0.0)
    d["total_tokens"] = d["tokens_in"] + d["tokens_out"] + d["cache_creation_tokens"] + d["cache_read_tokens"]
    d["cache_hit_rate"] = cache_hit_rate(d["tokens_in"], d["cache_read_tokens"], d["cache_creation_tokens"])
    d["avg_latency_ms"] = round(float(d["avg_latency_ms"]), 1) if d["avg_latency_ms"] is not None else None
    return d


# ---------------------------------------------------------------- summary
def summary(engine: Engine, f: Filters, top: int = 5) -> dict:
    sf = session_filter(f)
    u_src = rollup.task_source(f, sf)
    t_src = rollup.tool_source(f, sf)
    with engine.connect() as conn:
        u = _usage_dict(conn.execute(select(*usage_cols_u(u_src))).one())
        u = _int_fix(u)
        span = conn.execute(select(func.min(u_src.c.first_ms), func.max(u_src.c.last_ms))).one()
        n_sessions = session_count(conn, f)
        tools = conn.execute(select(func.coalesce(func.sum(t_src.c.calls), 0),
                                    func.coalesce(func.sum(t_src.c.failures), 0))).one()
        api_errors = conn.execute(select(func.count()).where(and_(E.c.component == "api", *error_conds(f)))).scalar()
    calls, failures = int(tools[0]), int(tools[1])
    ops = calls + u["tasks"] + api_errors
    return {
        "period": {"since": iso_from_ms(f.since_ms), "until": iso_from_ms(f.until_ms),
                   "first_task": iso_from_ms(span[0]), "last_task": iso_from_ms(span[1])},
        "sessions": n_sessions,
        **{k: u[k] for k in ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens",
                             "total_tokens", "cost_usd", "cloud_cost_equivalent", "unpriced_tasks",
                             "cache_hit_rate", "rated_helpful", "rated_not_helpful")},
        "local_savings_usd": u["cloud_cost_equivalent"] - u["cost_usd"],
        "tool_calls": calls, "tool_failures": failures,
        "tool_failure_rate": failures / calls if calls else None,
        "api_errors": int(api_errors),
        "failed_operation_rate": (failures + api_errors) / ops if ops else None,
        "top_models": models(engine, f)[:top],
        "top_tools": tools_report(engine, f)[:top],  # the tools report's rows (by calls)
    }


# ---------------------------------------------------------------- by dimension
DIMENSIONS = {
    "model": T.c.model,
    "routing": T.c.routing,
    "source": T.c.source,
    "cli_tool": T.c.cli_tool,
    "tier": T.c.tier,
    "persona": T.c.persona,
    "agent": case((T.c.agent_id.is_(None), literal("main")), else_=literal("sub-agent")),
}


def usage_by(engine: Engine, f: Filters, dimension: str, percentiles: bool = True) -> list[dict]:
    """Tasks, tokens by type, cost, share of cost, average and p95 latency, cache hit rate per value of a dimension."""
    col = DIMENSIONS[dimension]
    tc = task_conds(f)
    sf = session_filter(f)
    u_src = rollup.task_source(f, sf)
    ucol = u_src.c[dimension]
    with engine.connect() as conn:
        rows = conn.execute(select(ucol.label("key"), *usage_cols_u(u_src)).group_by(ucol)).all()
        hists = rollup.task_hists(conn, f, sf, dimension, col) if percentiles else None
        out = []
        total_cost = 0.0
        for r in rows:
            d = _int_fix(_usage_dict(r))
            d[dimension] = d.pop("key")
            total_cost += d["cost_usd"]
            if percentiles:
                cond = [col.is_(None)] if d[dimension] is None else [col == d[dimension]]
                d["p95_latency_ms"] = sketch.exact_percentiles(
                    hists.get(d[dimension], {}), (95,), _values_between(conn, T.c.latency_ms, tc + cond))[95]
            out.append(d)
    for d in out:
        d["cost_share"] = d["cost_usd"] / total_cost if total_cost else None
    out.sort(key=lambda d: (-d["cost_usd"], -d["tasks"]))
    return out


def models(engine: Engine, f: Filters) -> list[dict]:
    return usage_by(engine, f, "model", percentiles=True)


# ---------------------------------------------------------------- tools
def tools_report(engine: Engine, f: Filters, percentiles: bool = True) -> list[dict]:
    """Per tool and MCP server: calls, failures, failure rate, latency percentiles (nearest rank) and max."""
    conds = tool_conds(f)
    sf = session_filter(f)
    t = rollup.tool_source(f, sf)
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.tool_name, t.c.mcp_server, func.sum(t.c.calls),
                                   func.coalesce(func.sum(t.c.failures), 0), func.coalesce(func.sum(t.c.pending), 0),
                                   func.sum(t.c.lat_sum) * 1.0 / func.nullif(func.sum(t.c.lat_n), 0),
                                   func.max(t.c.lat_max))
                            .group_by(t.c.tool_name, t.c.mcp_server)).all()
        hists = (rollup.tool_hists(conn, f, sf, ["tool_name", "mcp_server"], [TC.c.tool_name, TC.c.mcp_server])
                 if percentiles else None)
        waits = _tool_waits(conn, conds)
        out = []
        for name, server, calls, failures, pending, avg, mx in rows:
            calls, failures = int(calls), int(failures)
            d = {"tool": name, "server": server, "calls": calls, "failures": failures,
                 "pending": int(pending), "failure_rate": failures / calls if calls else None,
                 "avg_ms": round(float(avg), 1) if avg is not None else None}
            if percentiles:
                sc = [TC.c.mcp_server.is_(None)] if server is None else [TC.c.mcp_server == server]
                p = sketch.exact_percentiles(hists.get((name, server), {}), (50, 95, 99),
                                             _values_between(conn, TC.c.latency_ms,
                                                             conds + [TC.c.tool_name == name] + sc), mx)
                d.update(p50_ms=p[50], p95_ms=p[95], p99_ms=p[99], max_ms=mx)
            d.update(waits.get((name, server), _NO_WAITS))
            out.append(d)
    out.sort(key=lambda d: (-d["calls"], d["tool"]))
    return out


_NO_WAITS = {"waits": 0, "wait_total_ms": 0, "wait_p50_ms": None, "wait_p95_ms": None}


def _tool_waits(conn, conds: list) -> dict:
    """Per (tool, server): the calls that waited for the user, their total wait and its p50/p95 (nearest rank).
    The latency columns of the report are execution time; these are the waits kept apart (docs/metrics.md)."""
    rows = conn.execute(select(TC.c.tool_name, TC.c.mcp_server, TC.c.wait_ms)
                        .where(*conds, TC.c.wait_ms > 0).order_by(TC.c.wait_ms)).all()
    by: dict = {}
    for name, server, w in rows:
        by.setdefault((name, server), []).append(int(w))
    out = {}
    for key, vals in by.items():
        p = {q: vals[max(0, -(-q * len(vals) // 100) - 1)] for q in (50, 95)}  # ceil(q% of n)-th smallest
        out[key] = {"waits": len(vals), "wait_total_ms": sum(vals), "wait_p50_ms": p[50], "wait_p95_ms": p[95]}
    return out


def tool_failures_by_type(engine: Engine, f: Filters, tool: str | None = None) -> list[dict]:
    extra_r = [lambda r: r.c.failures > 0] + ([lambda r: r.c.tool_name == tool] if tool else [])
    extra_t = [TC.c.success.is_(False)] + ([TC.c.tool_name == tool] if tool else [])
    t = rollup.tool_source(f, session_filter(f), extra_raw=extra_t, extra_rollup=extra_r)
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.tool_name, t.c.error_type, func.sum(t.c.failures))
                            .group_by(t.c.tool_name, t.c.error_type)).all()
    return sorted(({"tool": t, "error_type": e or "error", "failures": int(n)} for t, e, n in rows),
                  key=lambda d: (-d["failures"], d["tool"]))


def recent_tool_failures(engine: Engine, f: Filters, tool: str | None = None, limit: int = 50) -> list[dict]:
    conds = tool_conds(f) + [TC.c.success.is_(False)]
    if tool:
        conds.append(TC.c.tool_name == tool)
    with engine.connect() as conn:
        rows = conn.execute(select(TC.c.id, TC.c.tool_name, TC.c.mcp_server, TC.c.started_ms, TC.c.latency_ms,
                                   TC.c.error_type, TC.c.error_message, TC.c.session_id, TC.c.task_id)
                            .where(and_(true(), *conds)).order_by(TC.c.started_ms.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- sessions
SESSION_SORTS = {"start": "start_ms", "cost": "cost_usd", "tasks": "tasks", "tokens": "total_tokens",
                 "duration": "duration_ms", "errors": "tool_errors"}


@dataclass
class Page:
    rows: list[dict]
    total: int
    offset: int
    limit: int | None


def _search_cond(search: str):
    like = f"%{search}%"
    return or_(S.c.id.like(like), S.c.project.like(like), S.c.cwd.like(like), S.c.git_branch.like(like),
               S.c.cli_tool.like(like), S.c.persona.like(like),
               S.c.id.in_(select(T.c.session_id).where(T.c.model.like(like))))


def sessions(engine: Engine, f: Filters, *, limit: int | None = None, offset: int = 0, sort: str = "start",
             descending: bool = True, search: str | None = None) -> Page:
    """One row per session with activity in the range: its tasks, tokens, cost and tool calls in that range.

    Sorted by start (the default) without a model/source filter, the page of sessions is chosen first from the
    sessions table and only its tasks are aggregated, so the first page costs the same with 10 or 10 million tasks.
    """
    tc = task_conds(f)
    conds = _session_conds(f)
    page_ids = None
    fast = SESSION_SORTS.get(sort, "start_ms") == "start_ms" and not (f.model or f.source)
    conds.append(active_session_cond(f))  # the one definition of a session in a range
    if search:
        conds.append(_search_cond(search))
    if fast:
        order = S.c.start_ms.desc() if descending else S.c.start_ms.asc()
        ids_q = select(S.c.id).where(and_(true(), *conds)).order_by(order, S.c.id)
        if limit is not None:
            ids_q = ids_q.limit(limit).offset(offset)
        with engine.connect() as conn:
            total_fast = conn.execute(select(func.count()).select_from(S).where(and_(true(), *conds))).scalar() or 0
            page_ids = [r[0] for r in conn.execute(ids_q)]
    if page_ids is not None:  # a page of sessions: its own rows, whatever the history's size
        agg = (select(T.c.session_id.label("sid"), *_usage_cols(f.cost_mode),
                      func.count(distinct(T.c.agent_id)).label("subagents"))
               .where(and_(true(), *tc, T.c.session_id.in_(page_ids))).group_by(T.c.session_id).subquery("agg"))
        tools = (select(TC.c.session_id.label("sid"), func.count().label("tool_calls"),
                        func.coalesce(func.sum(case((TC.c.success.is_(False), 1), else_=0)), 0).label("tool_errors"))
                 .where(and_(true(), *tool_conds(f), TC.c.session_id.in_(page_ids))).group_by(TC.c.session_id)
                 .subquery("tools"))
    else:  # sorted by a sum: every session's sums, from the rollups
        sf = session_filter(f)
        u = rollup.task_source(f, sf, coarsest="sday")
        agg = (select(u.c.session_id.label("sid"), *usage_cols_u(u), literal(0).label("subagents"))
               .group_by(u.c.session_id).subquery("agg"))
        ts = rollup.tool_source(f, sf, coarsest="sday")
        tools = (select(ts.c.session_id.label("sid"), func.sum(ts.c.calls).label("tool_calls"),
                        func.coalesce(func.sum(ts.c.failures), 0).label("tool_errors"))
                 .group_by(ts.c.session_id).subquery("tools"))
    if f.model or f.source:
        conds.append(agg.c.sid.isnot(None))
    if page_ids is not None:
        conds.append(S.c.id.in_(page_ids))
    duration = (S.c.end_ms - S.c.start_ms).label("duration_ms")
    total_tokens = (func.coalesce(agg.c.tokens_in, 0) + func.coalesce(agg.c.tokens_out, 0)
                    + func.coalesce(agg.c.cache_creation_tokens, 0)
                    + func.coalesce(agg.c.cache_read_tokens, 0)).label("total_tokens")
    q = (select(S.c.id, S.c.machine, S.c.cli_tool, S.c.project, S.c.cwd, S.c.git_branch, S.c.persona, S.c.nexus_mode,
                S.c.cli_version, S.c.start_ms, S.c.end_ms, duration,
                func.coalesce(agg.c.tasks, 0).label("tasks"), func.coalesce(agg.c.tokens_in, 0).label("tokens_in"),
                func.coalesce(agg.c.tokens_out, 0).label("tokens_out"),
                func.coalesce(agg.c.cache_creation_tokens, 0).label("cache_creation_tokens"),
                func.coalesce(agg.c.cache_read_tokens, 0).label("cache_read_tokens"), total_tokens,
                func.coalesce(agg.c.cost_usd, 0.0).label("cost_usd"),
                func.coalesce(agg.c.unpriced_tasks, 0).label("unpriced_tasks"),
                func.coalesce(agg.c.rated_helpful, 0).label("rated_helpful"),
                func.coalesce(agg.c.rated_not_helpful, 0).label("rated_not_helpful"),
                func.coalesce(agg.c.subagents, 0).label("subagents"), agg.c.avg_latency_ms,
                func.coalesce(tools.c.tool_calls, 0).label("tool_calls"),
                func.coalesce(tools.c.tool_errors, 0).label("tool_errors"))
         .select_from(S.outerjoin(agg, agg.c.sid == S.c.id).outerjoin(tools, tools.c.sid == S.c.id))
         .where(and_(true(), *conds)))
    sort_col = {"start_ms": S.c.start_ms, "cost_usd": func.coalesce(agg.c.cost_usd, 0.0),
                "tasks": func.coalesce(agg.c.tasks, 0), "total_tokens": total_tokens, "duration_ms": duration,
                "tool_errors": func.coalesce(tools.c.tool_errors, 0)}[SESSION_SORTS.get(sort, "start_ms")]
    q = q.order_by(sort_col.desc() if descending else sort_col.asc(), S.c.id)
    with engine.connect() as conn:
        if page_ids is not None:
            total = total_fast
        else:
            if f.model or f.source:  # only sessions with such a task count
                total = conn.execute(select(func.count()).select_from(q.subquery())).scalar() or 0
            else:  # the conditions are on sessions alone: count them there
                total = conn.execute(select(func.count()).select_from(S).where(and_(true(), *conds))).scalar() or 0
            if limit is not None:
                q = q.limit(limit).offset(offset)
        rows = [dict(r._mapping) for r in conn.execute(q)]
        ids = [r["id"] for r in rows]
        if page_ids is None and ids:  # the rollups do not keep sub-agent ids: count them for the page only
            sub: dict[str, int] = {}
            for i in range(0, len(ids), 500):
                for sid, n in conn.execute(select(T.c.session_id, func.count(distinct(T.c.agent_id)))
                                           .where(and_(T.c.session_id.in_(ids[i:i + 500]), *tc))
                                           .group_by(T.c.session_id)):
                    sub[sid] = int(n)
            for r in rows:
                r["subagents"] = sub.get(r["id"], 0)
        model_map: dict[str, list[str]] = {}
        for i in range(0, len(ids), 500):
            for sid, model in conn.execute(select(T.c.session_id, T.c.model).distinct()
                                           .where(and_(T.c.session_id.in_(ids[i:i + 500]), *tc))
                                           .order_by(T.c.session_id, T.c.model)):
                model_map.setdefault(sid, []).append(model)
    for r in rows:
        r["session_id"] = r.pop("id")
        r["models"] = model_map.get(r["session_id"], [])
        r["start_time"] = iso_from_ms(r["start_ms"])
        r["end_time"] = iso_from_ms(r["end_ms"])
        r["cost_usd"] = float(r["cost_usd"] or 0.0)
        for k in ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "total_tokens",
                  "unpriced_tasks", "rated_helpful", "rated_not_helpful", "tool_calls", "tool_errors"):
            r[k] = int(r[k] or 0)
        r["cache_hit_rate"] = cache_hit_rate(r["tokens_in"], r["cache_read_tokens"], r["cache_creation_tokens"])
        if r["avg_latency_ms"] is not None:
            r["avg_latency_ms"] = round(float(r["avg_latency_ms"]), 1)
    return Page(rows=rows, total=int(total), offset=offset, limit=limit)


# ---------------------------------------------------------------- daily
def daily(engine: Engine, f: Filters, tz: tzinfo) -> list[dict]:
    """Usage per calendar day in ``tz``: grouped in SQL by 15-minute buckets, folded into days here."""
    sf = session_filter(f)
    from nexus_tui.store.analytics import zone_level

    level = zone_level(tz, f.since_ms, f.until_ms)  # rows that fall in one local day each
    u = rollup.task_source(f, sf, coarsest=level)
    t = rollup.tool_source(f, sf, coarsest=level)
    bucket = (u.c.ts_ms // _BUCKET_MS).label("b")
    tb = (t.c.ts_ms // _BUCKET_MS)
    with engine.connect() as conn:
        rows = conn.execute(select(bucket, *usage_cols_u(u)).group_by(bucket)).all()
        tools = conn.execute(select(tb.label("b"), func.sum(t.c.calls), func.coalesce(func.sum(t.c.failures), 0))
                             .group_by(tb)).all()
        model_rows = conn.execute(select(bucket, u.c.model).group_by(bucket, u.c.model)).all()
    days: dict[str, dict] = {}

    def day_of(b) -> str:
        return datetime.fromtimestamp(int(b) * _BUCKET_MS / 1000, tz).date().isoformat()

    keys = ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "unpriced_tasks",
            "rated_helpful", "rated_not_helpful")
    for r in rows:
        m = r._mapping
        d = days.setdefault(day_of(m["b"]), {"date": day_of(m["b"]), **dict.fromkeys(keys, 0), "cost_usd": 0.0,
                                             "tool_calls": 0, "tool_failures": 0, "models": set()})
        for k in keys:
            d[k] += int(m[k] or 0)
        d["cost_usd"] += float(m["cost_usd"] or 0.0)
    for b, calls, fails in tools:
        if b is None:
            continue
        d = days.setdefault(day_of(b), {"date": day_of(b), **dict.fromkeys(keys, 0), "cost_usd": 0.0,
                                        "tool_calls": 0, "tool_failures": 0, "models": set()})
        d["tool_calls"] += int(calls)
        d["tool_failures"] += int(fails)
    for b, model in model_rows:
        days[day_of(b)]["models"].add(model)
    out = []
    for key in sorted(days):
        d = days[key]
        d["models"] = sorted(d["models"])
        d["cost_usd"] = money(d["cost_usd"])  # folded in Python from quarter hours: the same figure on every plan
        d["total_tokens"] = d["tokens_in"] + d["tokens_out"] + d["cache_creation_tokens"] + d["cache_read_tokens"]
        d["cache_hit_rate"] = cache_hit_rate(d["tokens_in"], d["cache_read_tokens"], d["cache_creation_tokens"])
        out.append(d)
    return out
