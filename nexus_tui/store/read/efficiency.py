"""Efficiency: tokens and cost per useful change (a successful call of a file-changing tool, weighted by the
asking task's rating: core/scoring.py), over a range, per session and per bucket."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo

from sqlalchemy import Engine, and_, func, or_, select, true

from nexus_tui.core.filters import Filters
from nexus_tui.core.scoring import (
    FILE_CHANGING_TOOLS,
    MCP_FILE_CHANGING_TOOLS,
    bucket_offset,
    bucket_span,
    useful_changes,
)
from nexus_tui.store.read.plan import (
    S,
    TC,
    TOD,
    active_session_count,
    aligned,
    bucket_level,
    raw_tool_rows,
    session_filter,
    task_rows,
    task_source,
    tool_conds,
    tool_source,
    total_tokens_sum,
    utc_offset_ms,
)


def change_names(col, extra: Iterable[str] = ()):
    """A file-changing tool's name (core.scoring.is_file_changing, in SQL), on the tool name column ``col``."""
    names = sorted(FILE_CHANGING_TOOLS | set(extra))
    lowered = func.lower(col)
    mcp = [lowered.like(f"%\\_\\_{p.replace('_', chr(92) + '_')}", escape="\\") for p in sorted(MCP_FILE_CHANGING_TOOLS)]
    return or_(col.in_(names), and_(lowered.like("mcp\\_\\_%", escape="\\"), or_(*mcp)))


def change_cond(extra: Iterable[str] = ()):
    """A successful call of a file-changing tool."""
    return and_(TC.c.success.is_(True), change_names(TC.c.tool_name, extra))


def _useful_expr(h, u, n):
    """The rating-weighted count of changes, from the counts by rating: core.scoring.useful_changes itself, applied
    to SQL expressions (the one formula, in Python and in the SQL it builds)."""
    return useful_changes(h, u, n)


def _changes_cols(t):
    return [func.coalesce(func.sum(t.c.ok_helpful), 0).label("ch_helpful"),
            func.coalesce(func.sum(t.c.ok_not_helpful), 0).label("ch_not_helpful"),
            func.coalesce(func.sum(t.c.ok_all), 0).label("ch_all")]


def _efficiency_cols(u):
    return [total_tokens_sum(u).label("tokens"), func.coalesce(func.sum(u.c.cost_usd), 0.0).label("cost"),
            func.coalesce(func.sum(u.c.rated_helpful), 0).label("helpful"),
            func.coalesce(func.sum(u.c.rated_not_helpful), 0).label("not_helpful"),
            func.coalesce(func.sum(u.c.tasks), 0).label("tasks")]


def _inputs(d: dict) -> dict:
    """Counts by rating as the pure core wants them (ch_helpful, ch_unrated, ch_not_helpful)."""
    ch_all, h, n = int(d.pop("ch_all") or 0), int(d.get("ch_helpful") or 0), int(d.get("ch_not_helpful") or 0)
    d.update(ch_helpful=h, ch_not_helpful=n, ch_unrated=ch_all - h - n, tokens=int(d.get("tokens") or 0),
             cost=float(d.get("cost") or 0.0), helpful=int(d.get("helpful") or 0),
             not_helpful=int(d.get("not_helpful") or 0))
    if "tasks" in d:
        d["tasks"] = int(d["tasks"] or 0)
    return d


def changing_names(extra: Iterable[str] = ()):
    """The file-changing tool names among the tool names of the rollups (a subquery of one column): ``change_names``
    tried once per distinct name instead of once per rollup row. ``tool_days`` holds every name any tool rollup level
    holds (every level is summed from the quarter hours in the same transaction: docs/rollups.md)."""
    names = select(TOD.c.tool_name.label("name")).distinct().subquery("names")
    return select(names.c.name).where(change_names(names.c.name, extra))


def _change_source(f: Filters, extra: Iterable[str], coarsest: str | None = None):
    """Tool-call rows of the file-changing tools (their ok_* columns count the successful calls by rating). On the
    rollups the names are matched against ``changing_names`` (21 LIKE patterns per row over 100,000 (session, day,
    tool) rows cost 0.1 s of CPU per query at 1,000,000 tasks); on the raw rows, ``change_names`` itself."""
    return tool_source(f, session_filter(f), extra_raw=[change_names(TC.c.tool_name, extra)],
                       extra_rollup=[lambda r: r.c.tool_name.in_(changing_names(extra))], coarsest=coarsest)


def efficiency_totals(engine: Engine, f: Filters, extra: Iterable[str] = ()) -> dict:
    """The range's inputs: tokens, cost, rated tasks, changes by rating; and how many sessions made none.

    One statement: the per-session usage and changes are two common table expressions, each summed once (a CTE
    used more than once is materialized by SQLite 3.35+ and PostgreSQL 12+) and read by the five totals."""
    u = task_source(f, session_filter(f), coarsest="sday")  # per session: (session, day) rows
    t = _change_source(f, extra, coarsest="sday")
    ch = select(t.c.session_id.label("sid"), *_changes_cols(t)).group_by(t.c.session_id).cte("ch")
    usage = select(u.c.session_id.label("sid"), *_efficiency_cols(u)).group_by(u.c.session_id).cte("usage")
    useful = _useful_expr(func.coalesce(ch.c.ch_helpful, 0),
                          func.coalesce(ch.c.ch_all, 0) - func.coalesce(ch.c.ch_helpful, 0)
                          - func.coalesce(ch.c.ch_not_helpful, 0), func.coalesce(ch.c.ch_not_helpful, 0))
    tot = select(func.count().label("n"), func.coalesce(func.sum(usage.c.tokens), 0).label("tokens"),
                 func.coalesce(func.sum(usage.c.cost), 0.0).label("cost"),
                 func.coalesce(func.sum(usage.c.helpful), 0).label("helpful"),
                 func.coalesce(func.sum(usage.c.not_helpful), 0).label("not_helpful"),
                 func.coalesce(func.sum(usage.c.tasks), 0).label("tasks")).subquery("tot")
    # the changes of the range: the sessions' sums summed (integers: the same as summing the rows)
    c = select(func.coalesce(func.sum(ch.c.ch_helpful), 0).label("ch_helpful"),
               func.coalesce(func.sum(ch.c.ch_not_helpful), 0).label("ch_not_helpful"),
               func.coalesce(func.sum(ch.c.ch_all), 0).label("ch_all")).subquery("c")
    z = (select(func.coalesce(func.sum(usage.c.tokens), 0).label("z_tokens"),
                func.coalesce(func.sum(usage.c.cost), 0.0).label("z_cost"))
         .select_from(usage.outerjoin(ch, ch.c.sid == usage.c.sid)).where(useful <= 0).subquery("z"))
    w = select(func.count().label("with_change")).select_from(ch).where(_useful_expr(
        ch.c.ch_helpful, ch.c.ch_all - ch.c.ch_helpful - ch.c.ch_not_helpful, ch.c.ch_not_helpful) > 0).subquery("w")
    ln = _statusline_stats()
    lines = (select(func.count().label("lines_sessions"), func.sum(ln.c.lines_added).label("lines_added"),
                    func.sum(ln.c.lines_removed).label("lines_removed"),
                    func.coalesce(func.sum(usage.c.tokens), 0).label("lines_tokens"),
                    func.coalesce(func.sum(usage.c.cost), 0.0).label("lines_cost"))
             .select_from(usage.join(ln, ln.c.sid == usage.c.sid)).subquery("lines_tot"))
    one = select(tot, c, z, w, lines).select_from(
        tot.join(c, true()).join(z, true()).join(w, true()).join(lines, true()))
    with engine.connect() as conn:
        r = conn.execute(one).one()._mapping
        # sessions by the one definition (a task or a tool call in range): those without a useful change are all
        # but the ones with one (a session of tool calls only has no tokens, so the no-change sums stand)
        n_sessions = active_session_count(conn, f)
    d = _inputs({"tokens": r["tokens"], "cost": r["cost"], "helpful": r["helpful"], "not_helpful": r["not_helpful"],
                 "tasks": r["tasks"], "ch_helpful": r["ch_helpful"], "ch_not_helpful": r["ch_not_helpful"],
                 "ch_all": r["ch_all"]})
    d.update(sessions=n_sessions, no_change_sessions=max(0, n_sessions - int(r["with_change"] or 0)),
             no_change_tokens=int(r["z_tokens"] or 0),
             no_change_cost=float(r["z_cost"] or 0.0))
    n = int(r["lines_sessions"] or 0)
    d.update({"lines_sessions": n, "lines_added": int(r["lines_added"] or 0) if n else None,
              "lines_removed": int(r["lines_removed"] or 0) if n else None, "lines_tokens": int(r["lines_tokens"] or 0),
              "lines_cost": float(r["lines_cost"] or 0.0)})
    return d


def _statusline_stats():
    from nexus_tui.store.schema import SessionStat

    ss = SessionStat.__table__
    return (select(ss.c.session_id.label("sid"), ss.c.lines_added, ss.c.lines_removed)
            .where(and_(ss.c.source == "statusline",
                        or_(ss.c.lines_added.isnot(None), ss.c.lines_removed.isnot(None))))
            .subquery("lines"))


def efficiency_sessions(engine: Engine, f: Filters, extra: Iterable[str] = (), limit: int = 200,
                        without_changes: bool = False) -> list[dict]:
    """The least efficient sessions in the range: most tokens per useful change first (``without_changes``: the
    sessions that made no useful change, most tokens first)."""
    u = task_source(f, session_filter(f), coarsest="sday")
    t = _change_source(f, extra, coarsest="sday")
    usage = (select(u.c.session_id.label("sid"), *_efficiency_cols(u), func.max(u.c.last_ms).label("last_ms"))
             .group_by(u.c.session_id).subquery())
    ch = select(t.c.session_id.label("sid"), *_changes_cols(t)).group_by(t.c.session_id).subquery()
    h = func.coalesce(ch.c.ch_helpful, 0)
    n = func.coalesce(ch.c.ch_not_helpful, 0)
    a = func.coalesce(ch.c.ch_all, 0)
    useful = _useful_expr(h, a - h - n, n)
    ln = _statusline_stats()
    q = (select(usage.c.sid, S.c.project, S.c.cli_tool, S.c.start_ms, usage.c.tokens, usage.c.cost,
                usage.c.helpful, usage.c.not_helpful, usage.c.tasks, usage.c.last_ms,
                h.label("ch_helpful"), n.label("ch_not_helpful"), a.label("ch_all"), ln.c.lines_added,
                ln.c.lines_removed)
         .select_from(usage.join(S, S.c.id == usage.c.sid).outerjoin(ch, ch.c.sid == usage.c.sid)
                      .outerjoin(ln, ln.c.sid == usage.c.sid)))
    if without_changes:
        q = q.where(useful <= 0).order_by(usage.c.tokens.desc(), usage.c.sid)
    else:
        q = q.where(useful > 0).order_by((usage.c.tokens * 1.0 / useful).desc(), usage.c.sid)
    with engine.connect() as conn:
        return [_inputs(dict(r._mapping)) for r in conn.execute(q.limit(limit))]


def efficiency_trend(engine: Engine, f: Filters, *, start_ms: int, end_ms: int, bucket_ms: int, tz: tzinfo,
                     extra: Iterable[str] = ()) -> tuple[list[int], list[dict]]:
    """(bucket starts, inputs per bucket) of [start, end): tokens and cost by task time, changes by call time."""
    off = bucket_offset(bucket_ms, utc_offset_ms(start_ms, tz))
    first, n = bucket_span(start_ms, end_ms, bucket_ms, off)
    g = f.with_(since_ms=start_ms, until_ms=end_ms)
    u = task_rows(f, None, start_ms, end_ms, bucket_ms, off)
    t = _change_source(g, extra, coarsest=bucket_level(bucket_ms, off)) if aligned(bucket_ms, off) else \
        raw_tool_rows([*tool_conds(g), change_names(TC.c.tool_name, extra)]).subquery("ut")
    tb = ((u.c.ts_ms + off) // bucket_ms).label("b")
    cb = ((t.c.ts_ms + off) // bucket_ms).label("b")
    out = [{"tokens": 0, "cost": 0.0, "helpful": 0, "not_helpful": 0, "tasks": 0, "ch_helpful": 0,
            "ch_not_helpful": 0, "ch_all": 0} for _ in range(n)]
    with engine.connect() as conn:
        for r in conn.execute(select(tb, *_efficiency_cols(u)).group_by(tb)):
            i = int(r.b) - first
            if 0 <= i < n:
                out[i].update({k: r._mapping[k] for k in ("tokens", "cost", "helpful", "not_helpful", "tasks")})
        for r in conn.execute(select(cb, *_changes_cols(t)).group_by(cb)):
            if r.b is None:
                continue
            i = int(r.b) - first
            if 0 <= i < n:
                out[i].update({k: r._mapping[k] for k in ("ch_helpful", "ch_not_helpful", "ch_all")})
    return [(first + i) * bucket_ms - off for i in range(n)], [_inputs(d) for d in out]
