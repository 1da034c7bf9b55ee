"""Sessions: the sessions list (one definition of a session in a range: plan.active_session_cond), one
session's header, tasks and conversations, one task's detail, a session found by id, prefix or folder, filter values."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, case, distinct, exists, func, literal, or_, select, true, union

from nexus_tui.core.filters import Filters
from nexus_tui.store.read.plan import (
    E,
    S,
    T,
    TC,
    active_session_cond,
    active_session_count,
    session_conds,
    session_filter,
    task_conds,
    task_source,
    tool_conds,
    tool_source,
    typed_rows,
    usage_cols,
    usage_cols_u,
    usage_dict,
)
from nexus_tui.store.schema import RoutingDecision
from nexus_tui.store.spans import session_rows


SESSION_SORTS = {"start": "start_ms", "cost": "cost_usd", "tasks": "tasks", "tokens": "total_tokens",
                 "duration": "duration_ms", "errors": "tool_errors"}


@dataclass
class Page:
    rows: list[dict]
    total: int
    offset: int
    limit: int | None


def _search_cond(search: str):
    from nexus_tui.store.titles import search_cond as title_matches

    # the text typed, not a LIKE pattern ('my_app' matched my-app, '%' every session): its '\\', '%', '_' escaped
    like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    def has(col):
        return col.like(like, escape="\\")

    return or_(has(S.c.id), has(S.c.project), has(S.c.cwd), has(S.c.git_branch), has(S.c.cli_tool), has(S.c.persona),
               S.c.id.in_(select(T.c.session_id).where(has(T.c.model))), title_matches(S, has))


def _page_aggs(f: Filters, page_ids):
    """The sums of a page of sessions from their own rows (agg, tools subqueries)."""
    agg = (select(T.c.session_id.label("sid"), *usage_cols(f.cost_mode),
                  func.count(distinct(T.c.agent_id)).label("subagents"))
           .where(and_(true(), *task_conds(f), T.c.session_id.in_(page_ids))).group_by(T.c.session_id)
           .subquery("agg"))
    tools = (select(TC.c.session_id.label("sid"), func.count().label("tool_calls"),
                    func.coalesce(func.sum(case((TC.c.success.is_(False), 1), else_=0)), 0).label("tool_errors"))
             .where(and_(true(), *tool_conds(f), TC.c.session_id.in_(page_ids))).group_by(TC.c.session_id)
             .subquery("tools"))
    return agg, tools


def _rows_query(conds: list, agg, tools, sort: str, descending: bool):
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
    return q.order_by(sort_col.desc() if descending else sort_col.asc(), S.c.id)


def _ids_query(conds: list, descending: bool):
    order = S.c.start_ms.desc() if descending else S.c.start_ms.asc()
    return select(S.c.id).where(and_(true(), *conds)).order_by(order, S.c.id)


def session_models_statement(f: Filters, ids: list[str]):
    """The models of a chunk of sessions' tasks under the filters, as (session, model) in order; for a session with
    no such task, the model its status line reported (``session_stats.model``, source 'statusline'), if any."""
    from nexus_tui.store.schema import SessionStat

    SS = SessionStat.__table__
    tc = task_conds(f)
    of_tasks = select(T.c.session_id, T.c.model).where(and_(T.c.session_id.in_(ids), *tc))
    reported = select(SS.c.session_id, SS.c.model).where(and_(
        SS.c.session_id.in_(ids), SS.c.source == "statusline", SS.c.model.isnot(None),
        ~exists().where(and_(T.c.session_id == SS.c.session_id, *tc))))
    u = union(of_tasks, reported).subquery("models")
    return select(u.c.session_id, u.c.model).order_by(u.c.session_id, u.c.model)


def list_statements(f: Filters, page_ids: list[str]) -> tuple:
    """The reads of ``sessions`` with its defaults (every session, newest first; no model or source filter): the
    ids, and the rows of ``page_ids`` (the ids read)."""
    conds = [*session_conds(f), active_session_cond(f)]
    agg, tools = _page_aggs(f, page_ids)
    return _ids_query(conds, True), _rows_query([*conds, S.c.id.in_(page_ids)], agg, tools, "start", True)


def sessions(engine: Engine, f: Filters, *, limit: int | None = None, offset: int = 0, sort: str = "start",
             descending: bool = True, search: str | None = None, known_total: int | None = None) -> Page:
    """One row per session with activity in the range: its tasks, tokens, cost and tool calls in that range.

    Sorted by start (the default) without a model/source filter, the page of sessions is chosen first from the
    sessions table and only its tasks are aggregated, so the first page costs the same with 10 or 10 million tasks.
    Sorted by a sum, a page is chosen on that one sum (``_ranked_page``), then every sum is read for its sessions;
    without ``limit``, every session's sums in one statement (the same numbers: tests/test_dashboard_queries.py).
    ``known_total``: how many sessions these filters and search gave before, when the caller knows no row was
    written since (another page, another sort): not counted again.
    """
    tc = task_conds(f)
    conds = session_conds(f)
    page_ids = None
    fast = SESSION_SORTS.get(sort, "start_ms") == "start_ms" and not (f.model or f.source)
    conds.append(active_session_cond(f))  # the one definition of a session in a range
    if search:
        conds.append(_search_cond(search))
    if fast:
        ids_q = _ids_query(conds, descending)
        if limit is not None:
            ids_q = ids_q.limit(limit).offset(offset)
        with engine.connect() as conn:
            total_fast = known_total if known_total is not None else \
                conn.execute(select(func.count()).select_from(S).where(and_(true(), *conds))).scalar() or 0
            page_ids = [r[0] for r in conn.execute(ids_q)]
    elif limit is not None:  # sorted by a sum, one page: the page is chosen on its sort key alone
        with engine.connect() as conn:
            page_ids, total_ranked = _ranked_page(conn, f, conds, SESSION_SORTS.get(sort, "start_ms"), descending,
                                                  limit, offset, known_total)
    if page_ids is not None and fast:  # a page of sessions: its own rows, whatever the history's size
        agg, tools = _page_aggs(f, page_ids)
    else:  # sorted by a sum: the sessions' sums from the rollups (of the chosen page only, when there is one)
        sf = session_filter(f)
        if page_ids is not None:  # the page's ids once in the statement (a CTE), not once per row source
            page = select(S.c.id).where(S.c.id.in_(page_ids)).cte("page")
            sf = [*sf, lambda col: col.in_(select(page.c.id))]
        agg, tools = _rollup_sums(f, sf)
    if f.model or f.source:
        conds.append(agg.c.sid.isnot(None))
    if page_ids is not None:
        conds.append(S.c.id.in_(page_ids) if fast else S.c.id.in_(select(page.c.id)))
    q = _rows_query(conds, agg, tools, sort, descending)
    with engine.connect() as conn:
        if page_ids is not None:
            total = total_fast if fast else total_ranked
        else:
            if f.model or f.source:  # only sessions with such a task count
                total = conn.execute(select(func.count()).select_from(q.subquery())).scalar() or 0
            else:  # the conditions are on sessions alone: count them there
                total = conn.execute(select(func.count()).select_from(S).where(and_(true(), *conds))).scalar() or 0
            if limit is not None:
                q = q.limit(limit).offset(offset)
        rows = [dict(r._mapping) for r in conn.execute(q)]
        ids = [r["id"] for r in rows]
        if not fast and ids:  # the rollups do not keep sub-agent ids: count them for the page only
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
            for sid, model in conn.execute(session_models_statement(f, ids[i:i + 500])):
                model_map.setdefault(sid, []).append(model)
    return Page(rows=session_rows(rows, model_map), total=int(total), offset=offset, limit=limit)


def _rollup_sums(f: Filters, sf: list):
    """Per-session sums from the rollups, as (usage, tool calls) subqueries keyed by ``sid``; ``sf``: the session
    conditions (functions of a session_id column)."""
    u = task_source(f, sf, coarsest="sday")
    agg = (select(u.c.session_id.label("sid"), *usage_cols_u(u), literal(0).label("subagents"))
           .group_by(u.c.session_id).subquery("agg"))
    ts = tool_source(f, sf, coarsest="sday")
    tools = (select(ts.c.session_id.label("sid"), func.sum(ts.c.calls).label("tool_calls"),
                    func.coalesce(func.sum(ts.c.failures), 0).label("tool_errors"))
             .group_by(ts.c.session_id).subquery("tools"))
    return agg, tools


def _sort_key(key: str, agg, tools):
    """The sessions list's ORDER BY expression for a sort (over ``agg``/``tools`` of ``_rollup_sums``)."""
    if key == "total_tokens":
        return (func.coalesce(agg.c.tokens_in, 0) + func.coalesce(agg.c.tokens_out, 0)
                + func.coalesce(agg.c.cache_creation_tokens, 0) + func.coalesce(agg.c.cache_read_tokens, 0))
    if key == "cost_usd":
        return func.coalesce(agg.c.cost_usd, 0.0)
    if key == "tasks":
        return func.coalesce(agg.c.tasks, 0)
    if key == "tool_errors":
        return func.coalesce(tools.c.tool_errors, 0)
    return S.c.end_ms - S.c.start_ms if key == "duration_ms" else S.c.start_ms


def _ranked_page(conn, f: Filters, conds: list, key: str, descending: bool, limit: int,
                 offset: int, known_total: int | None = None) -> tuple[list[str], int]:
    """(the ids of one page of sessions sorted by a sum, in order; how many sessions there are): the order is found
    from the one sum it sorts by (the rollups' per-session sums of one column; no tool calls unless sorting by
    them), then ``sessions`` sums every column of that page only. At 20,000 sessions this halves the query."""
    sf = session_filter(f)
    agg = tools = None
    needs_agg = key in ("cost_usd", "tasks", "total_tokens") or bool(f.model or f.source)
    if needs_agg:
        u = task_source(f, sf, coarsest="sday")
        cols = {c.name: c for c in usage_cols_u(u)}
        agg = select(u.c.session_id.label("sid"), *[cols[k] for k in _KEY_COLUMNS.get(key, ("tasks",))]
                     ).group_by(u.c.session_id).subquery("agg")
    if key == "tool_errors":
        ts = tool_source(f, sf, coarsest="sday")
        tools = (select(ts.c.session_id.label("sid"), func.coalesce(func.sum(ts.c.failures), 0).label("tool_errors"))
                 .group_by(ts.c.session_id).subquery("tools"))
    src = S
    conds = list(conds)
    if agg is not None:
        src = src.outerjoin(agg, agg.c.sid == S.c.id)
        if f.model or f.source:  # only sessions with such a task
            conds.append(agg.c.sid.isnot(None))
    if tools is not None:
        src = src.outerjoin(tools, tools.c.sid == S.c.id)
    order = _sort_key(key, agg, tools)
    q = select(S.c.id).select_from(src).where(and_(true(), *conds))
    ids = [r[0] for r in conn.execute(q.order_by(order.desc() if descending else order.asc(), S.c.id)
                                      .limit(limit).offset(offset))]
    if known_total is not None:
        total = known_total
    elif f.model or f.source:
        total = conn.execute(select(func.count()).select_from(q.subquery())).scalar() or 0
    else:  # the conditions are on sessions alone: count them there
        total = conn.execute(select(func.count()).select_from(S).where(and_(true(), *conds))).scalar() or 0
    return ids, int(total)


_KEY_COLUMNS = {"cost_usd": ("cost_usd",), "tasks": ("tasks",),
                "total_tokens": ("tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens")}


SESSION_TASKS_LIMIT = 2000  # a session's task list is capped (the header still counts every task)


RD = RoutingDecision.__table__


def session_count(engine: Engine) -> int:
    """Sessions in the whole database (to tell an empty database from an empty range), by the one definition of
    a session (queries.active_session_cond: with a task or a tool call)."""
    with engine.connect() as conn:
        return active_session_count(conn, Filters())


def session_header(engine: Engine, session_id: str) -> dict | None:
    """The session row, its usage totals (as in the sessions report, whole session), tool calls, agents, errors."""
    with engine.connect() as conn:
        s = conn.execute(select(S).where(S.c.id == session_id)).first()
        if s is None:
            return None
        d = dict(s._mapping)
        usage = usage_dict(conn.execute(select(*usage_cols()).where(T.c.session_id == session_id)).one())
        tools = conn.execute(select(func.count(), func.coalesce(func.sum(case((TC.c.success.is_(False), 1),
                                                                             else_=0)), 0))
                             .where(and_(TC.c.session_id == session_id, *tool_conds(Filters())))).one()
        agents = conn.execute(select(T.c.agent_id, func.count()).where(and_(T.c.session_id == session_id,
                                                                            T.c.agent_id.isnot(None)))
                              .group_by(T.c.agent_id).order_by(func.min(T.c.ts_ms))).all()
        api_errors = conn.execute(select(func.count()).where(and_(E.c.session_id == session_id,
                                                                  E.c.component == "api"))).scalar()
        models = [r[0] for r in conn.execute(select(T.c.model).where(T.c.session_id == session_id)
                                             .group_by(T.c.model).order_by(func.count().desc(), T.c.model))]
        if not models:  # no task names one: the model the status line reported, if any
            models = _reported_models(conn, session_id)
        statuses = dict(conn.execute(select(T.c.status, func.count()).where(T.c.session_id == session_id)
                                     .group_by(T.c.status)).all())
        from nexus_tui.store.titles import title_of  # the session's title line, if any (store/titles.py)

        d["title"], d["title_source"] = title_of(conn, session_id) or (None, None)
    d["usage"] = usage
    d["tool_calls"], d["tool_errors"] = int(tools[0]), int(tools[1])
    d["subagents"] = {a: int(n) for a, n in agents}
    d["api_errors"] = int(api_errors or 0)
    d["models"] = models
    d["task_errors"] = int(statuses.get("error", 0))
    return d


def _reported_models(conn, session_id: str) -> list[str]:
    """[the model the session's status line reported] (``session_stats.model``), or []."""
    from nexus_tui.store.schema import SessionStat

    SS = SessionStat.__table__
    m = conn.execute(select(SS.c.model).where(and_(SS.c.session_id == session_id, SS.c.source == "statusline",
                                                   SS.c.model.isnot(None)))).scalar()
    return [m] if m else []


def session_tasks(engine: Engine, session_id: str, limit: int = SESSION_TASKS_LIMIT, offset: int = 0,
                  cost_mode: str = "auto") -> list[dict]:
    """A session's tasks in time order, with the names of the tools each one used ('!' marks a failed call); the
    cost in the cost mode (store/rollup.py cost_expr)."""
    from nexus_tui.store.rules import cost_expr

    with engine.connect() as conn:
        rows = typed_rows(conn,
            select(T.c.id, T.c.ts_ms, T.c.model, T.c.routing, T.c.source, T.c.tokens_in, T.c.tokens_out,
                   T.c.cache_read_tokens, T.c.cache_creation_tokens, T.c.total_tokens, T.c.latency_ms,
                   cost_expr(cost_mode).label("cost_usd"),
                   T.c.quality_rating, T.c.agent_id, T.c.status, T.c.tier, T.c.persona)
            .where(T.c.session_id == session_id).order_by(T.c.ts_ms, T.c.id).limit(limit).offset(offset))
        ids = [r["id"] for r in rows]
        tools: dict[str, list[str]] = {}
        for i in range(0, len(ids), 500):
            for tid, name, ok in conn.execute(select(TC.c.task_id, TC.c.tool_name, TC.c.success)
                                              .where(TC.c.task_id.in_(ids[i:i + 500]))
                                              .order_by(TC.c.started_ms, TC.c.id)):
                tools.setdefault(tid, []).append((name or "?") + ("!" if ok is False else ""))
    for r in rows:
        r["tools"] = tools.get(r["id"], [])
    return rows


CONVERSATION_REQUESTS_LIMIT = 2000


def session_conversations(engine: Engine, session_id: str, limit: int = CONVERSATION_REQUESTS_LIMIT) -> list[dict]:
    """The requests of every conversation (conversation linking, store/linking.py) that has a request in this
    session, in time order (sub-tasks recorded under another session included), at most ``limit``.

    The conversation ids are read first: as a subquery the planner walked every task in time order looking for
    them (0.5 s at 1,000,000 tasks); as a list it reads each conversation through its index."""
    with engine.connect() as conn:
        ids = select(T.c.conversation_id).where(T.c.session_id == session_id,
                                                T.c.conversation_id.isnot(None)).distinct()
        convs = [r[0] for r in conn.execute(ids.limit(501))]
        if not convs:  # a session the proxy never saw (most): no conversation
            return []
        if len(convs) > 500:  # more than a statement's parameters should hold: the subquery
            convs = ids.scalar_subquery()
        return typed_rows(conn,
            select(T.c.id, T.c.session_id, T.c.ts_ms, T.c.model, T.c.conversation_id, T.c.branch_id,
                   T.c.parent_request_id, T.c.parent_task_request_id, T.c.is_subtask, T.c.tokens_in,
                   T.c.tokens_out, T.c.cache_read_tokens, T.c.cache_creation_tokens, T.c.cost_usd, T.c.latency_ms,
                   T.c.ttft_ms, T.c.http_status, T.c.error_type, T.c.status, T.c.stop_reason)
            .where(T.c.conversation_id.in_(convs)).order_by(T.c.ts_ms, T.c.id).limit(limit))


def proxied_sessions(engine: Engine, session_ids: list[str]) -> set[str]:
    """Which of these sessions have a request the recording proxy saw (only its records carry an HTTP status)."""
    out: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(session_ids), 500):
            out.update(r[0] for r in conn.execute(
                select(T.c.session_id).where(T.c.session_id.in_(session_ids[i:i + 500]),
                                             T.c.http_status.isnot(None)).distinct()))
    return out


def task_detail(engine: Engine, task_id: str) -> dict | None:
    """One task with its routing decisions, tool calls (where their input and result are) and errors."""
    with engine.connect() as conn:
        found = typed_rows(conn, select(T).where(T.c.id == task_id).limit(1))
        if not found:
            return None
        d = found[0]
        d["routing_decisions"] = typed_rows(conn, select(RD).where(RD.c.task_id == task_id).order_by(RD.c.id))
        d["tool_calls"] = typed_rows(
            conn, select(TC).where(TC.c.task_id == task_id).order_by(TC.c.started_ms, TC.c.id))
        d["errors"] = typed_rows(conn,
            select(E).where(or_(E.c.task_id == task_id,
                                E.c.id.in_([f"tool:{c['id']}" for c in d["tool_calls"]])))
            .order_by(E.c.ts_ms, E.c.id))
    return d


def filter_choices(engine: Engine, limit: int = 50) -> dict[str, list[str]]:
    """Distinct values for the filter pickers, most used first (bounded: ``limit`` each)."""
    out = {}
    with engine.connect() as conn:
        for name, col, table in (("project", S.c.project, S), ("cli_tool", S.c.cli_tool, S),
                                 ("persona", S.c.persona, S), ("model", T.c.model, T), ("source", T.c.source, T),
                                 ("machine", S.c.machine, S)):
            q = (select(col).select_from(table).where(and_(true(), col.isnot(None))).group_by(col)
                 .order_by(func.count().desc(), col).limit(limit))
            out[name] = [r[0] for r in conn.execute(q)]
    return out


def latest_session(engine: Engine, cwd: str | None = None, stop: tuple[str, ...] = ()) -> str | None:
    """The most recently active session (latest end, then start); with ``cwd``: of that working directory, else of
    the nearest folder above it that has sessions (an agent started in a sub-folder of its project), never going up
    to a folder in ``stop`` (the home folder) or above it, nor to the root."""
    last = func.coalesce(S.c.end_ms, S.c.start_ms)
    with engine.connect() as conn:
        if cwd is None:
            return conn.execute(select(S.c.id).order_by(last.desc().nulls_last(), S.c.id.desc()).limit(1)).scalar()
        barriers = {b.rstrip("/") for b in stop if b} | {""}
        path = cwd.rstrip("/")
        first = True
        while first or path not in barriers and not any(b.startswith(path + "/") for b in barriers if b):
            sid = conn.execute(select(S.c.id).where(S.c.cwd.in_([path or "/", path + "/"]))
                               .order_by(last.desc().nulls_last(), S.c.id.desc()).limit(1)).scalar()
            if sid is not None or "/" not in path:
                return sid
            first = False
            path = path.rsplit("/", 1)[0]
        return None


PREFIX_SHOWN = 5  # the sessions an ambiguous prefix names in its message


def find_session(engine: Engine, ref: str) -> tuple[str | None, list[str], int]:
    """(the session id, [], 1) for an exact id or a unique prefix; (None, the first ``PREFIX_SHOWN`` matches, how
    many match) when the prefix is ambiguous; (None, [], 0) when nothing matches (``core.report.no_such_session``
    words each case)."""
    with engine.connect() as conn:
        if conn.execute(select(S.c.id).where(S.c.id == ref)).scalar() is not None:
            return ref, [], 1
        cond = S.c.id.like(ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", escape="\\")
        ids = [r[0] for r in conn.execute(select(S.c.id).where(cond).order_by(S.c.id).limit(PREFIX_SHOWN))]
        total = len(ids) if len(ids) < PREFIX_SHOWN else conn.execute(select(func.count()).select_from(S).where(cond)).scalar()
    return (ids[0], [], 1) if total == 1 else (None, ids, total)


def current_session(engine: Engine, now_ms: int, cost_mode: str = "auto") -> dict | None:
    """The session in use at ``now_ms`` for the compact view: the later of the last session Claude Code's status
    line reported (``session_stats``, source 'statusline') and the session of the last task; its latest model (the
    status line's when no task names one), its cost (the sessions report's figure, ``session_header``) and, when the
    status line reported them, its context use, Claude Code's own cost and lines changed. None with no task and no
    status-line report."""
    from nexus_tui.store.schema import SessionStat

    SS = SessionStat.__table__
    with engine.connect() as conn:
        sl = conn.execute(select(SS.c.session_id, SS.c.updated_ms)
                          .where(and_(SS.c.source == "statusline", SS.c.updated_ms <= now_ms))
                          .order_by(SS.c.updated_ms.desc()).limit(1)).first()
        last = conn.execute(select(T.c.session_id, T.c.ts_ms).where(T.c.ts_ms <= now_ms)
                            .order_by(T.c.ts_ms.desc()).limit(1)).first()
    if sl is None and last is None:
        return None
    if sl is not None and (last is None or (sl.updated_ms or 0) >= (last.ts_ms or 0)):
        sid, seen = sl.session_id, sl.updated_ms
    else:
        sid, seen = last.session_id, last.ts_ms
    with engine.connect() as conn:
        stats = conn.execute(select(SS.c.context_used_pct, SS.c.reported_cost_usd, SS.c.lines_added,
                                    SS.c.lines_removed, SS.c.model)
                             .where(and_(SS.c.source == "statusline", SS.c.session_id == sid))).first()
    with engine.connect() as conn:
        model = conn.execute(select(T.c.model).where(and_(T.c.session_id == sid, T.c.ts_ms <= now_ms))
                             .order_by(T.c.ts_ms.desc()).limit(1)).scalar()
        usage = usage_dict(conn.execute(select(*usage_cols(cost_mode)).where(T.c.session_id == sid)).one())
    s = stats._mapping if stats is not None else {}
    return {"session_id": sid, "seen_ms": seen, "model": model or s.get("model"), "tasks": usage["tasks"],
            "cost_usd": usage["cost_usd"] if usage["tasks"] else None,
            "reported_cost_usd": s.get("reported_cost_usd"), "context_used_pct": s.get("context_used_pct"),
            "lines_added": s.get("lines_added"), "lines_removed": s.get("lines_removed")}
