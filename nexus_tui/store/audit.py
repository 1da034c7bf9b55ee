"""A session's audit trail (session detail and ``--headless audit``): every tool call in order with its tool, target,
outcome, latency and the tokens of the turn that asked for it. One indexed read (``ix_tool_calls_session``) and a
primary-key join to the turn; the target is a stored column (schema version 9), so the trail costs no file reads
except for calls stored before version 9 (collect/reader.py ``fill_targets``)."""

from __future__ import annotations

from sqlalchemy import Engine, and_, case, func, literal, select

from nexus_tui.store.read.plan import S, TC, T, typed_rows
from nexus_tui.store.spans import stored_int


def session_exists(engine: Engine, session_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(S.c.id).where(S.c.id == session_id)).scalar() is not None


def session_calls(engine: Engine, session_id: str) -> list[dict]:
    """The session's tool calls in the order they were made (start time, then id; calls without one last). Each:
    seq (1-based), time_ms, tool, server, target, outcome (ok/failed/pending), error_type, latency_ms, wait_ms,
    agent ('main' or the sub-agent's id), task_id, turn_tokens_in (uncached + cache read + cache write),
    turn_tokens_out, and where the call's input sits (source_path, use_offset, use_length) for older rows."""
    outcome = case((TC.c.success.is_(None), literal("pending")), (TC.c.success.is_(True), literal("ok")),
                   else_=literal("failed"))
    tin = (func.coalesce(T.c.tokens_in, 0) + func.coalesce(T.c.cache_read_tokens, 0)
           + func.coalesce(T.c.cache_creation_tokens, 0))
    stmt = (select(TC.c.id, TC.c.started_ms.label("time_ms"), TC.c.tool_name.label("tool"),
                   TC.c.mcp_server.label("server"), TC.c.target, outcome.label("outcome"), TC.c.error_type,
                   TC.c.latency_ms, TC.c.wait_ms, func.coalesce(TC.c.agent_id, literal("main")).label("agent"),
                   TC.c.task_id, case((T.c.id.is_(None), None), else_=tin).label("turn_tokens_in"),
                   T.c.tokens_out.label("turn_tokens_out"), TC.c.source_path, TC.c.use_offset, TC.c.use_length)
            .select_from(TC.outerjoin(T, T.c.id == TC.c.task_id))
            .where(and_(TC.c.session_id == session_id, TC.c.tool_name.isnot(None)))
            .order_by(TC.c.started_ms.asc().nulls_last(), TC.c.id))
    with engine.connect() as conn:
        rows = typed_rows(conn, stmt)
    for i, r in enumerate(rows, 1):
        r["seq"] = i
        for k in ("turn_tokens_in", "turn_tokens_out"):
            if r[k] is not None:
                r[k] = stored_int(r[k])
    return rows
