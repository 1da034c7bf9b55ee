"""Search over the error, tool call and task records (the agent's own MCP tool ``search``)."""

from __future__ import annotations

from sqlalchemy import Engine, and_, case, func, literal, or_, select, true

from nexus_tui.store.read.plan import E, T, TC


SEARCH_KINDS = ("errors", "tool_calls", "tasks")


def _contains(col, q: str):
    return func.lower(col).contains(q.lower(), autoescape=True)


def _agent_label(col):
    return case((col.is_(None), literal("main")), else_=literal("sub-agent:") + col)


def search(engine: Engine, query: str, kind: str | None = None, since_ms: int | None = None,
           limit: int = 50) -> list[dict]:
    """Records matching ``query`` (case-insensitive substring; empty: everything), newest first: error records
    (message, kind, component), tool calls (tool, server, error type and message) and tasks (model, status, stop
    reason, error message). Each: time_ms, kind, session_id, component, message, and the record's own fields."""
    kinds = [kind] if kind else list(SEARCH_KINDS)
    out: list[dict] = []
    q = query or ""
    with engine.connect() as conn:
        if "errors" in kinds:
            conds = [E.c.ts_ms >= since_ms] if since_ms is not None else []
            if q:
                conds.append(or_(_contains(E.c.message, q), _contains(E.c.kind, q), _contains(E.c.component, q)))
            for r in conn.execute(select(E.c.id, E.c.ts_ms, E.c.component, E.c.kind, E.c.message, E.c.session_id,
                                         E.c.task_id).where(and_(true(), *conds))
                                  .order_by(E.c.ts_ms.desc().nulls_last(), E.c.id).limit(limit)):
                out.append({"time_ms": r.ts_ms, "kind": "error", "session_id": r.session_id,
                            "component": r.component, "message": f"{r.kind}: {r.message}", "error_type": r.kind,
                            "task_id": r.task_id, "tool": None, "model": None})
        if "tool_calls" in kinds:
            conds = [TC.c.tool_name.isnot(None)]
            if since_ms is not None:
                conds.append(TC.c.started_ms >= since_ms)
            if q:
                conds.append(or_(_contains(TC.c.tool_name, q), _contains(TC.c.mcp_server, q),
                                 _contains(TC.c.error_type, q), _contains(TC.c.error_message, q)))
            for r in conn.execute(select(TC.c.started_ms, TC.c.tool_name, TC.c.mcp_server, TC.c.session_id,
                                         TC.c.task_id, _agent_label(TC.c.agent_id).label("component"), TC.c.success,
                                         TC.c.latency_ms, TC.c.error_type, TC.c.error_message)
                                  .where(and_(*conds)).order_by(TC.c.started_ms.desc().nulls_last(), TC.c.id)
                                  .limit(limit)):
                outcome = ("pending" if r.success is None else "ok" if r.success
                           else f"failed ({r.error_type or 'error'}): {r.error_message or ''}".rstrip(": "))
                name = r.tool_name + (f" [{r.mcp_server}]" if r.mcp_server else "")
                lat = f" in {r.latency_ms} ms" if r.latency_ms is not None else ""
                out.append({"time_ms": r.started_ms, "kind": "tool_call", "session_id": r.session_id,
                            "component": r.component, "message": f"{name}: {outcome}{lat}",
                            "error_type": r.error_type if r.success is False else None, "task_id": r.task_id,
                            "tool": r.tool_name, "model": None})
        if "tasks" in kinds:
            conds = [T.c.ts_ms >= since_ms] if since_ms is not None else []
            if q:
                conds.append(or_(_contains(T.c.model, q), _contains(T.c.status, q), _contains(T.c.stop_reason, q),
                                 _contains(T.c.error_message, q), _contains(T.c.component, q),
                                 _contains(T.c.source, q)))
            comp = func.coalesce(T.c.component, _agent_label(T.c.agent_id)).label("component")
            for r in conn.execute(select(T.c.id, T.c.ts_ms, T.c.session_id, comp, T.c.model, T.c.status,
                                         T.c.tokens_in, T.c.tokens_out, T.c.cache_read_tokens,
                                         T.c.cache_creation_tokens, T.c.cost_usd, T.c.error_message,
                                         T.c.stop_reason).where(and_(true(), *conds))
                                  .order_by(T.c.ts_ms.desc().nulls_last(), T.c.id).limit(limit)):
                tokens = sum(int(x or 0) for x in (r.tokens_in, r.tokens_out, r.cache_read_tokens,
                                                   r.cache_creation_tokens))
                cost = f"${r.cost_usd:.4f}" if r.cost_usd is not None else "unpriced"
                msg = f"{r.model}: {tokens} tokens, {cost}"
                if r.status == "error":
                    msg += f", error: {r.error_message or ''}".rstrip(": ")
                elif r.stop_reason:
                    msg += f", {r.stop_reason}"
                out.append({"time_ms": r.ts_ms, "kind": "task", "session_id": r.session_id,
                            "component": r.component, "message": msg,
                            "error_type": "error" if r.status == "error" else None, "task_id": r.id, "tool": None,
                            "model": r.model})
    out.sort(key=lambda d: -(d["time_ms"] if d["time_ms"] is not None else -1))
    return out[:limit]
