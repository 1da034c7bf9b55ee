"""The errors list (the Errors screen and ``--headless errors``): every failed tool call, API error turn and ingest
problem in the range, newest first, filtered and searched in SQL.

Two sources, one list:

- failed tool calls from ``tool_calls`` (``success`` false): the same calls the tools report counts as failures,
  with their tool, error type, (stored, redacted) message, task and agent — ``component`` is ``main`` or the
  sub-agent's id (``agent <id>``);
- every other row of ``errors`` (API errors, system errors, ingest problems, a receiver's or collector's errors):
  ``component`` is the row's own (``api``, ``ingest``, ...). A tool-failure row of ``errors`` whose call is in
  ``tool_calls`` is that call (listed once, from ``tool_calls``).

Messages are stored redacted (core/redact.py, in the writer's ``prepare``); nothing here changes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import Engine, and_, case, func, literal, not_, or_, select, true

from nexus_tui.core.filters import Filters
from nexus_tui.store.read.plan import E, TC, T, error_conds, tool_conds, typed_rows

AGENT_PREFIX = "agent "  # component of a sub-agent's failed call: 'agent a2898e3'
TOOL_PREFIX = "tool:"  # errors.id of a failed tool call: 'tool:<tool_calls.id>'


@dataclass
class ErrorQuery:
    """The Errors screen's own filters on top of the app's ``Filters`` (range, project, model, source, ...)."""

    session_id: str | None = None
    component: str | None = None  # 'main', 'agent <id>', 'api', 'ingest', ...
    kind: str | None = None  # the error type: edit_mismatch, api_error, skipped_lines, ...
    tool: str | None = None
    search: str | None = None  # case-insensitive substring of message, kind, tool, component or session id


@dataclass
class ErrorPage:
    rows: list[dict]
    total: int  # rows matching (the page shows the newest ``limit``)
    facets: dict[str, dict[str, int]] = field(default_factory=dict)  # component/kind/tool -> value -> count


def _like(col, q: str):
    return func.lower(col).contains(q.lower(), autoescape=True)


def _agent_component():
    return case((TC.c.agent_id.is_(None), literal("main")), else_=literal(AGENT_PREFIX) + TC.c.agent_id)


def _tool_part(f: Filters, q: ErrorQuery):
    """(columns, conditions) of the failed tool calls."""
    comp = _agent_component()
    cols = [TC.c.id.label("id"), func.coalesce(TC.c.ended_ms, TC.c.started_ms).label("time_ms"),
            comp.label("component"), func.coalesce(TC.c.error_type, literal("error")).label("kind"),
            TC.c.tool_name.label("tool"), func.coalesce(TC.c.error_message, literal("")).label("message"),
            TC.c.session_id.label("session_id"), TC.c.task_id.label("task_id"), literal("call").label("part")]
    conds = [TC.c.success.is_(False), *tool_conds(f)]
    if q.session_id:
        conds.append(TC.c.session_id == q.session_id)
    if q.component:
        conds.append(comp == q.component)
    if q.kind:
        conds.append(func.coalesce(TC.c.error_type, literal("error")) == q.kind)
    if q.tool:
        conds.append(TC.c.tool_name == q.tool)
    if q.search:
        conds.append(or_(_like(TC.c.error_message, q.search), _like(TC.c.error_type, q.search),
                         _like(TC.c.tool_name, q.search), _like(TC.c.agent_id, q.search),
                         _like(TC.c.session_id, q.search), _like(comp, q.search)))
    return cols, conds


def _error_part(f: Filters, q: ErrorQuery):
    """(columns, conditions) of the other error records (a tool failure whose call is stored is left out)."""
    call = select(TC.c.id).where(TC.c.id == func.substr(E.c.id, len(TOOL_PREFIX) + 1)).exists()
    cols = [E.c.id.label("id"), E.c.ts_ms.label("time_ms"), E.c.component.label("component"),
            E.c.kind.label("kind"), literal(None).label("tool"), E.c.message.label("message"),
            E.c.session_id.label("session_id"), E.c.task_id.label("task_id"), literal("error").label("part")]
    conds = [not_(and_(E.c.component == "tool", E.c.id.like(TOOL_PREFIX + "%"), call)), *error_conds(f)]
    if q.session_id:
        conds.append(E.c.session_id == q.session_id)
    if q.component:
        conds.append(E.c.component == q.component)
    if q.kind:
        conds.append(E.c.kind == q.kind)
    if q.tool:
        conds.append(literal(False))  # these records name no tool
    if q.search:
        conds.append(or_(_like(E.c.message, q.search), _like(E.c.kind, q.search), _like(E.c.component, q.search),
                         _like(E.c.session_id, q.search)))
    return cols, conds


def error_list(engine: Engine, f: Filters, q: ErrorQuery | None = None, limit: int | None = 1000,
               facets: bool = False) -> ErrorPage:
    """The errors matching ``f`` and ``q``, newest first (at most ``limit``), how many match, and (``facets``) for
    each of component, kind and tool its values (with their counts) among the errors matching everything else (the
    screen cycles through them, so every value it offers lists something)."""
    q = q or ErrorQuery()
    rows: list[dict] = []
    total = 0
    out_facets: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for part in (_tool_part, _error_part):
            cols, conds = part(f, q)
            where = and_(true(), *conds)
            from_ = TC if part is _tool_part else E
            total += int(conn.execute(select(func.count()).select_from(from_).where(where)).scalar() or 0)
            stmt = select(*cols).where(where).order_by(cols[1].desc().nulls_last(), cols[0])
            if limit is not None:
                stmt = stmt.limit(limit)
            rows.extend(typed_rows(conn, stmt))
            if facets:  # each filter's values under the other filters and the search (so each has rows)
                for name in ("component", "kind", "tool"):
                    fcols, fconds = part(f, replace(q, **{name: None}))
                    sub = select(*fcols).where(and_(true(), *fconds)).subquery()
                    counts = out_facets.setdefault(name, {})
                    for v, n in conn.execute(select(sub.c[name], func.count()).where(sub.c[name].isnot(None))
                                             .group_by(sub.c[name])):
                        counts[v] = counts.get(v, 0) + int(n)
    rows.sort(key=lambda r: (-(r["time_ms"] if r["time_ms"] is not None else -1), r["part"], r["id"]))
    if limit is not None:
        del rows[limit:]
    return ErrorPage(rows, total, out_facets)


def task_of_error(engine: Engine, row: dict) -> str | None:
    """The task an error belongs to: its own task, else (an API error turn) the session's last task at or before
    it, else the session's first task after it; None for a record of no session (an ingest problem)."""
    if row.get("task_id"):
        with engine.connect() as conn:
            if conn.execute(select(T.c.id).where(T.c.id == row["task_id"])).scalar() is not None:
                return row["task_id"]
    sid, t = row.get("session_id"), row.get("time_ms")
    if not sid:
        return None
    with engine.connect() as conn:
        if t is not None:
            before = conn.execute(select(T.c.id).where(T.c.session_id == sid, T.c.ts_ms <= t)
                                  .order_by(T.c.ts_ms.desc(), T.c.id).limit(1)).scalar()
            if before is not None:
                return before
        return conn.execute(select(T.c.id).where(T.c.session_id == sid)
                            .order_by(T.c.ts_ms.asc().nulls_last(), T.c.id).limit(1)).scalar()
