"""Screen queries that no headless report shows: timeline buckets, spend windows, efficiency inputs, details.

Portable SQLAlchemy Core; aggregates run in the database, only bucketed or paged rows come back.
"""

from __future__ import annotations

from sqlalchemy import Engine, and_, case, func, or_, select, true

from nexus_tui.core.filters import Filters
from nexus_tui.core.scoring import FILE_CHANGING_TOOLS, _MCP_CHANGE_WORDS
from nexus_tui.store.queries import TC, T, task_conds, tool_conds
from nexus_tui.store.schema import ErrorEvent, RoutingDecision, Session

S = Session.__table__
E = ErrorEvent.__table__
RD = RoutingDecision.__table__

TOKEN_TYPES = ("tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens")


def span(engine: Engine, f: Filters) -> tuple[int | None, int | None]:
    with engine.connect() as conn:
        r = conn.execute(select(func.min(T.c.ts_ms), func.max(T.c.ts_ms)).where(and_(true(), *task_conds(f)))).one()
    return r[0], r[1]


def timeline(engine: Engine, f: Filters, bucket_ms: int, offset_ms: int = 0, by: str = "type",
             session_id: str | None = None) -> dict:
    """Token (and cost) sums per bucket; ``by='type'`` splits by token type, ``by='model'`` by model.

    Buckets start at multiples of ``bucket_ms`` in local time (``offset_ms`` = the zone's UTC offset).
    Returns {'buckets': [start_ms...], 'series': {name: [values]}, 'cost': [values]}.
    """
    conds = task_conds(f)
    if session_id:
        conds.append(T.c.session_id == session_id)
    b = ((T.c.ts_ms + offset_ms) // bucket_ms).label("b")
    cols = [b, func.sum(T.c.cost_usd).label("cost")]
    group = [b]
    if by == "model":
        cols += [T.c.model, func.sum(T.c.total_tokens).label("tokens")]
        group.append(T.c.model)
    else:
        cols += [func.sum(getattr(T.c, k)).label(k) for k in TOKEN_TYPES]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).where(and_(true(), *conds)).group_by(*group).order_by(b)).all()
    keys = sorted({int(r.b) for r in rows})
    index = {k: i for i, k in enumerate(keys)}
    cost = [0.0] * len(keys)
    series: dict[str, list[float]] = {}
    for r in rows:
        i = index[int(r.b)]
        cost[i] += float(r.cost or 0.0)
        if by == "model":
            series.setdefault(r.model, [0.0] * len(keys))[i] += float(r.tokens or 0)
        else:
            for k in TOKEN_TYPES:
                series.setdefault(k, [0.0] * len(keys))[i] += float(getattr(r, k) or 0)
    return {"buckets": [k * bucket_ms - offset_ms for k in keys], "series": series, "cost": cost}


def spend_between(engine: Engine, f: Filters, since_ms: int, until_ms: int) -> tuple[float, float, int]:
    """(cost_usd, cloud_cost_equivalent, tasks) of tasks in [since, until) under the non-time filters."""
    g = f.with_(since_ms=since_ms, until_ms=until_ms)
    with engine.connect() as conn:
        r = conn.execute(select(func.coalesce(func.sum(T.c.cost_usd), 0.0),
                                func.coalesce(func.sum(T.c.cloud_cost_equivalent), 0.0), func.count())
                         .where(and_(true(), *task_conds(g)))).one()
    return float(r[0]), float(r[1]), int(r[2])


def spend_per_bucket(engine: Engine, f: Filters, since_ms: int, until_ms: int, bucket_ms: int) -> list[float]:
    """Spend in each bucket of [since, until), zeros included."""
    g = f.with_(since_ms=since_ms, until_ms=until_ms)
    b = ((T.c.ts_ms - since_ms) // bucket_ms).label("b")
    with engine.connect() as conn:
        rows = conn.execute(select(b, func.sum(T.c.cost_usd)).where(and_(true(), *task_conds(g))).group_by(b)).all()
    n = max(0, (until_ms - since_ms + bucket_ms - 1) // bucket_ms)
    out = [0.0] * n
    for k, v in rows:
        if 0 <= int(k) < n:
            out[int(k)] += float(v or 0.0)
    return out


def _change_cond():
    names = [TC.c.tool_name.in_(sorted(FILE_CHANGING_TOOLS))]
    names += [and_(TC.c.tool_name.like("mcp\\_\\_%", escape="\\"), TC.c.tool_name.like(f"%{w}%"))
              for w in _MCP_CHANGE_WORDS]
    return and_(TC.c.success.is_(True), or_(*names))


def efficiency_inputs(engine: Engine, f: Filters, limit: int | None = None) -> list[dict]:
    """Per session: tokens, cost, successful file-changing tool calls, helpful / not helpful ratings."""
    tc = task_conds(f)
    usage = (select(T.c.session_id.label("sid"), func.sum(T.c.total_tokens).label("tokens"),
                    func.coalesce(func.sum(T.c.cost_usd), 0.0).label("cost"),
                    func.sum(case((T.c.quality_rating == 1, 1), else_=0)).label("helpful"),
                    func.sum(case((T.c.quality_rating == 0, 1), else_=0)).label("not_helpful"),
                    func.max(T.c.ts_ms).label("last_ms"))
             .where(and_(true(), *tc)).group_by(T.c.session_id).subquery())
    changes = (select(TC.c.session_id.label("sid"), func.count().label("changes"))
               .where(and_(_change_cond(), *tool_conds(f))).group_by(TC.c.session_id).subquery())
    q = (select(usage.c.sid, S.c.project, S.c.start_ms, usage.c.tokens, usage.c.cost, usage.c.helpful,
                usage.c.not_helpful, usage.c.last_ms, func.coalesce(changes.c.changes, 0).label("changes"))
         .select_from(usage.join(S, S.c.id == usage.c.sid).outerjoin(changes, changes.c.sid == usage.c.sid))
         .order_by(usage.c.last_ms.desc()))
    if limit:
        q = q.limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def efficiency_by_day(engine: Engine, f: Filters, offset_ms: int = 0) -> list[dict]:
    day = 86_400_000
    b = ((T.c.ts_ms + offset_ms) // day).label("d")
    cb = ((TC.c.started_ms + offset_ms) // day).label("d")
    with engine.connect() as conn:
        usage = conn.execute(select(b, func.sum(T.c.total_tokens), func.coalesce(func.sum(T.c.cost_usd), 0.0),
                                    func.sum(case((T.c.quality_rating == 1, 1), else_=0)),
                                    func.sum(case((T.c.quality_rating == 0, 1), else_=0)))
                             .where(and_(true(), *task_conds(f))).group_by(b)).all()
        ch = dict(conn.execute(select(cb, func.count()).where(and_(_change_cond(), *tool_conds(f))).group_by(cb)).all())
    return [{"day_ms": int(d) * day - offset_ms, "tokens": int(t or 0), "cost": float(c or 0), "helpful": int(h or 0),
             "not_helpful": int(n or 0), "changes": int(ch.get(d, 0))} for d, t, c, h, n in sorted(usage)]


# ---------------------------------------------------------------- details
def session_header(engine: Engine, session_id: str) -> dict | None:
    with engine.connect() as conn:
        s = conn.execute(select(S).where(S.c.id == session_id)).first()
        if s is None:
            return None
        d = dict(s._mapping)
        agents = conn.execute(select(T.c.agent_id, func.count()).where(and_(T.c.session_id == session_id,
                                                                            T.c.agent_id.isnot(None)))
                              .group_by(T.c.agent_id)).all()
        errors = conn.execute(select(func.count()).where(and_(E.c.session_id == session_id,
                                                              E.c.component == "api"))).scalar()
    d["subagents"] = {a: int(n) for a, n in agents}
    d["api_errors"] = int(errors or 0)
    return d


def session_tasks(engine: Engine, session_id: str, limit: int = 500, offset: int = 0) -> list[dict]:
    """A session's tasks in time order, with the names of the tools each one used."""
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(T.c.id, T.c.ts_ms, T.c.model, T.c.routing, T.c.source, T.c.tokens_in, T.c.tokens_out,
                   T.c.cache_read_tokens, T.c.cache_creation_tokens, T.c.total_tokens, T.c.latency_ms, T.c.cost_usd,
                   T.c.quality_rating, T.c.agent_id, T.c.status, T.c.tier, T.c.persona)
            .where(T.c.session_id == session_id).order_by(T.c.ts_ms, T.c.id).limit(limit).offset(offset))]
        ids = [r["id"] for r in rows]
        tools: dict[str, list[str]] = {}
        for i in range(0, len(ids), 500):
            for tid, name, ok in conn.execute(select(TC.c.task_id, TC.c.tool_name, TC.c.success)
                                              .where(TC.c.task_id.in_(ids[i:i + 500]))
                                              .order_by(TC.c.started_ms)):
                tools.setdefault(tid, []).append(name + ("!" if ok is False else ""))
    for r in rows:
        r["tools"] = tools.get(r["id"], [])
    return rows


def task_detail(engine: Engine, task_id: str) -> dict | None:
    with engine.connect() as conn:
        t = conn.execute(select(T).where(T.c.id == task_id)).first()
        if t is None:
            return None
        d = dict(t._mapping)
        d["routing_decisions"] = [dict(r._mapping) for r in conn.execute(select(RD).where(RD.c.task_id == task_id))]
        d["tool_calls"] = [dict(r._mapping) for r in conn.execute(
            select(TC).where(TC.c.task_id == task_id).order_by(TC.c.started_ms))]
        d["errors"] = [dict(r._mapping) for r in conn.execute(
            select(E).where(or_(E.c.task_id == task_id,
                                E.c.id.in_([f"tool:{c['id']}" for c in d["tool_calls"]]))))]
    return d


def filter_choices(engine: Engine) -> dict[str, list[str]]:
    """Distinct values for the filter pickers (bounded: top 50 each)."""
    out = {}
    with engine.connect() as conn:
        for name, col, table in (("project", S.c.project, S), ("cli_tool", S.c.cli_tool, S),
                                 ("persona", S.c.persona, S), ("model", T.c.model, T), ("source", T.c.source, T)):
            out[name] = [r[0] for r in conn.execute(select(col).where(col.isnot(None)).group_by(col)
                                                    .order_by(func.count().desc()).limit(50))]
    return out
