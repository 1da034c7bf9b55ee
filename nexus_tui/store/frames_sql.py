"""Row reads for ``nexus_tui.frames`` (pandas) and the task export: every task, session, tool call, error and quota
snapshot in a range under the filters, as (column names, rows of tuples), read in pages of the primary key so memory
stays bounded per page. The conditions are the reports' own (store/queries.py), so sums over these rows equal the
reports' numbers."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine, and_, case, literal, select, true

from nexus_tui.core.filters import Filters
from nexus_tui.store.read.plan import active_session_cond, error_conds, task_conds, tool_conds
from nexus_tui.store.rules import cloud_expr, cost_expr
from nexus_tui.store.schema import ErrorEvent, QuotaSnapshot, Session, Task, ToolCall

T, S, TC = Task.__table__, Session.__table__, ToolCall.__table__
E, Q = ErrorEvent.__table__, QuotaSnapshot.__table__
PAGE = 5000


def _task_cols(mode: str) -> list:
    cost = cost_expr(mode)
    return [T.c.id.label("task_id"), T.c.session_id, T.c.ts_ms, T.c.end_ms, T.c.source, T.c.model, T.c.routing,
            T.c.cli_tool, T.c.project, T.c.agent_id, T.c.is_sidechain, T.c.status, T.c.stop_reason,
            T.c.tokens_in, T.c.tokens_out, T.c.cache_creation_tokens, T.c.cache_read_tokens, T.c.thinking_tokens,
            T.c.total_tokens, cost.label("cost_usd"), T.c.cost_usd.label("cost_computed_usd"),
            T.c.reported_cost_usd, cloud_expr(mode).label("cloud_cost_equivalent"),
            case((cost.is_(None), literal(True)), else_=literal(False)).label("unpriced"),
            T.c.latency_ms, T.c.ttft_ms, T.c.quality_rating, T.c.priced_as, T.c.machine]


def _paged(engine: Engine, q, key) -> Iterator[tuple]:
    """The rows of ``q`` in pages ordered by ``key`` (unique, the first column), keyset pagination."""
    last = None
    with engine.connect() as conn:
        while True:
            page = conn.execute((q if last is None else q.where(key > last)).order_by(key).limit(PAGE)).all()
            yield from page
            if len(page) < PAGE:
                return
            last = page[-1][0]


def _read(engine: Engine, cols: list, table, conds: list, key) -> tuple[list[str], list[tuple]]:
    q = select(*cols).where(and_(true(), *conds))
    names = [c.name for c in q.selected_columns]
    return names, [tuple(r) for r in _paged(engine, q, key)]


def tasks(engine: Engine, f: Filters) -> tuple[list[str], list[tuple]]:
    """Every task in range (by its time) under the filters; ``cost_usd`` in the filters' cost mode (NULL:
    unpriced), ``cost_computed_usd`` ours, ``reported_cost_usd`` the source's."""
    return _read(engine, _task_cols(f.cost_mode), T, task_conds(f), T.c.id)


def sessions(engine: Engine, f: Filters) -> tuple[list[str], list[tuple]]:
    """Every session that counts in range (a task or a tool call in it: the reports' one definition)."""
    cols = [S.c.id.label("session_id"), S.c.start_ms, S.c.end_ms, S.c.cli_tool, S.c.project, S.c.cwd,
            S.c.git_branch, S.c.cli_version, S.c.persona, S.c.machine]
    from nexus_tui.store.read.plan import session_conds as _session_conds

    return _read(engine, cols, S, [active_session_cond(f), *_session_conds(f)], S.c.id)


def tool_calls(engine: Engine, f: Filters) -> tuple[list[str], list[tuple]]:
    """Every tool call in range (by its start) under the filters; ``success`` NULL while no result was seen."""
    cols = [TC.c.id.label("tool_call_id"), TC.c.session_id, TC.c.task_id, TC.c.tool_name, TC.c.mcp_server,
            TC.c.agent_id, TC.c.started_ms, TC.c.ended_ms, TC.c.latency_ms, TC.c.wait_ms, TC.c.success,
            TC.c.error_type, TC.c.error_message, TC.c.input_size, TC.c.output_size, TC.c.machine]
    return _read(engine, cols, TC, tool_conds(f), TC.c.id)


def errors(engine: Engine, f: Filters) -> tuple[list[str], list[tuple]]:
    """Every stored error event in range (API errors, tool errors, ingest problems), messages as stored
    (redacted)."""
    cols = [E.c.id.label("error_id"), E.c.ts_ms, E.c.component, E.c.kind, E.c.message, E.c.session_id, E.c.task_id,
            E.c.machine]
    return _read(engine, cols, E, error_conds(f), E.c.id)


def quota_snapshots(engine: Engine, f: Filters) -> tuple[list[str], list[tuple]]:
    """Every quota window observation in range (by when it was observed); quota is per account, so the
    session filters do not apply."""
    conds = []
    if f.since_ms is not None:
        conds.append(Q.c.observed_ms >= f.since_ms)
    if f.until_ms is not None:
        conds.append(Q.c.observed_ms < f.until_ms)
    cols = [Q.c.id.label("snapshot_id"), Q.c.observed_ms, Q.c.source, Q.c.account, Q.c.window, Q.c.used_fraction,
            Q.c.resets_at_ms, Q.c.status, Q.c.machine]
    return _read(engine, cols, Q, conds, Q.c.id)
