"""Reads for the dashboard's Sessions, Session and Task screens that no headless report needs.

Numbers come from the same column expressions as ``store/queries.py`` (``_usage_cols``, ``tool_conds``), so a
session's header equals its row in the sessions report. Everything is bounded: one session's tasks a page at a
time, one task's tool calls, distinct filter values capped.
"""

from __future__ import annotations

from sqlalchemy import Engine, and_, case, func, or_, select, true

from nexus_tui.core.filters import Filters
from nexus_tui.store.queries import TC, T, _usage_cols, _usage_dict, tool_conds
from nexus_tui.store.schema import ErrorEvent, RoutingDecision, Session

S = Session.__table__
E = ErrorEvent.__table__
RD = RoutingDecision.__table__

SESSION_TASKS_LIMIT = 2000  # a session's task list is capped (the header still counts every task)


def session_count(engine: Engine) -> int:
    """Sessions in the whole database (to tell an empty database from an empty range), by the one definition of
    a session (queries.active_session_cond: with a task or a tool call)."""
    from nexus_tui.store.queries import session_count as count

    with engine.connect() as conn:
        return count(conn, Filters())


def session_header(engine: Engine, session_id: str) -> dict | None:
    """The session row, its usage totals (as in the sessions report, whole session), tool calls, agents, errors."""
    with engine.connect() as conn:
        s = conn.execute(select(S).where(S.c.id == session_id)).first()
        if s is None:
            return None
        d = dict(s._mapping)
        usage = _usage_dict(conn.execute(select(*_usage_cols()).where(T.c.session_id == session_id)).one())
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


def session_tasks(engine: Engine, session_id: str, limit: int = SESSION_TASKS_LIMIT, offset: int = 0,
                  cost_mode: str = "auto") -> list[dict]:
    """A session's tasks in time order, with the names of the tools each one used ('!' marks a failed call); the
    cost in the cost mode (store/rollup.py cost_expr)."""
    from nexus_tui.store.rollup import cost_expr

    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(T.c.id, T.c.ts_ms, T.c.model, T.c.routing, T.c.source, T.c.tokens_in, T.c.tokens_out,
                   T.c.cache_read_tokens, T.c.cache_creation_tokens, T.c.total_tokens, T.c.latency_ms,
                   cost_expr(cost_mode).label("cost_usd"),
                   T.c.quality_rating, T.c.agent_id, T.c.status, T.c.tier, T.c.persona)
            .where(T.c.session_id == session_id).order_by(T.c.ts_ms, T.c.id).limit(limit).offset(offset))]
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
    session, in time order (sub-tasks recorded under another session included), at most ``limit``."""
    with engine.connect() as conn:
        convs = select(T.c.conversation_id).where(T.c.session_id == session_id,
                                                  T.c.conversation_id.isnot(None)).distinct().scalar_subquery()
        return [dict(r._mapping) for r in conn.execute(
            select(T.c.id, T.c.session_id, T.c.ts_ms, T.c.model, T.c.conversation_id, T.c.branch_id,
                   T.c.parent_request_id, T.c.parent_task_request_id, T.c.is_subtask, T.c.tokens_in,
                   T.c.tokens_out, T.c.cache_read_tokens, T.c.cache_creation_tokens, T.c.cost_usd, T.c.latency_ms,
                   T.c.ttft_ms, T.c.http_status, T.c.error_type, T.c.status, T.c.stop_reason)
            .where(T.c.conversation_id.in_(convs)).order_by(T.c.ts_ms, T.c.id).limit(limit))]


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
        t = conn.execute(select(T).where(T.c.id == task_id)).first()
        if t is None:
            return None
        d = dict(t._mapping)
        d["routing_decisions"] = [dict(r._mapping) for r in conn.execute(
            select(RD).where(RD.c.task_id == task_id).order_by(RD.c.id))]
        d["tool_calls"] = [dict(r._mapping) for r in conn.execute(
            select(TC).where(TC.c.task_id == task_id).order_by(TC.c.started_ms, TC.c.id))]
        d["errors"] = [dict(r._mapping) for r in conn.execute(
            select(E).where(or_(E.c.task_id == task_id,
                                E.c.id.in_([f"tool:{c['id']}" for c in d["tool_calls"]])))
            .order_by(E.c.ts_ms, E.c.id))]
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


def current_session(engine: Engine, now_ms: int, cost_mode: str = "auto") -> dict | None:
    """The session in use at ``now_ms`` for the compact view: the later of the last session Claude Code's status
    line reported (``session_stats``, source 'statusline') and the session of the last task; its latest model, its
    cost (the sessions report's figure, ``session_header``) and, when the status line reported them, its context
    use, Claude Code's own cost and lines changed. None with no task and no status-line report."""
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
                                    SS.c.lines_removed)
                             .where(and_(SS.c.source == "statusline", SS.c.session_id == sid))).first()
    with engine.connect() as conn:
        model = conn.execute(select(T.c.model).where(and_(T.c.session_id == sid, T.c.ts_ms <= now_ms))
                             .order_by(T.c.ts_ms.desc()).limit(1)).scalar()
        usage = _usage_dict(conn.execute(select(*_usage_cols(cost_mode)).where(T.c.session_id == sid)).one())
    s = stats._mapping if stats is not None else {}
    return {"session_id": sid, "seen_ms": seen, "model": model, "tasks": usage["tasks"],
            "cost_usd": usage["cost_usd"] if usage["tasks"] else None,
            "reported_cost_usd": s.get("reported_cost_usd"), "context_used_pct": s.get("context_used_pct"),
            "lines_added": s.get("lines_added"), "lines_removed": s.get("lines_removed")}
