"""Screen-only queries of the analytics screens (Timeline, Costs, Efficiency, Tools): numbers no headless report shows.

Portable SQLAlchemy Core over (engine, Filters), built from the same conditions as ``store/queries.py``; every
aggregate runs in the database over the rollups (store/rollup.py; raw rows only for the partial quarter hours at a
range's ends, one session's history, or buckets finer than 15 minutes) and only bucketed, windowed or paged rows
come back. Numbers that a report also
shows come from ``queries.py`` itself (the screens call it directly).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sqlalchemy import Engine, and_, func, literal, or_, select, true

from nexus_tui.core.filters import Filters
from nexus_tui.core.scoring import (
    FILE_CHANGING_TOOLS,
    MCP_FILE_CHANGING_TOOLS,
    RATING_WEIGHTS,
    bucket_offset,
    bucket_span,
    downsample,
    downsample_starts,
)
from nexus_tui.core import sketch
from nexus_tui.store import rollup
from nexus_tui.store.queries import TC, T, _values_between, session_count, session_filter, task_conds, tool_conds
from nexus_tui.store.schema import money

TOKEN_TYPES = ("tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens")
TOKEN_TYPE_LABELS = {"tokens_in": "input", "tokens_out": "output", "cache_creation_tokens": "cache write",
                     "cache_read_tokens": "cache read"}
TOP_MODELS = 6  # the timeline by model shows this many models and "other"
_QUARTER_MS = 900_000  # every zone offset is a multiple of 15 minutes: days are folded from these buckets


def _where(conds: Iterable) -> object:
    return and_(true(), *conds)


def _total_tokens_sum():
    return (func.coalesce(func.sum(T.c.tokens_in), 0) + func.coalesce(func.sum(T.c.tokens_out), 0)
            + func.coalesce(func.sum(T.c.cache_creation_tokens), 0)
            + func.coalesce(func.sum(T.c.cache_read_tokens), 0))


def _task_total_tokens():
    return (func.coalesce(T.c.tokens_in, 0) + func.coalesce(T.c.tokens_out, 0)
            + func.coalesce(T.c.cache_creation_tokens, 0) + func.coalesce(T.c.cache_read_tokens, 0))


def _tok(u):
    return (func.coalesce(func.sum(u.c.tokens_in), 0) + func.coalesce(func.sum(u.c.tokens_out), 0)
            + func.coalesce(func.sum(u.c.cache_creation_tokens), 0) + func.coalesce(func.sum(u.c.cache_read_tokens), 0))


def _aligned(bucket_ms: int, off: int) -> bool:
    return bucket_ms % rollup.Q_MS == 0 and off % rollup.Q_MS == 0


def bucket_level(bucket_ms: int, off: int) -> str:
    """The coarsest rollup level whose rows each fall in one of these buckets (UTC days, hours or quarter hours)."""
    for name, size in (("day", rollup.D_MS), ("hour", rollup.H_MS)):
        if bucket_ms % size == 0 and off % size == 0:
            return name
    return "quarter"


def zone_level(tz: tzinfo, *times: int | None) -> str:
    """The coarsest rollup level whose rows each fall in one local day of ``tz`` at these times: days in UTC,
    hours in whole-hour zones, quarter hours in the few zones with :30/:45 offsets."""
    import time as _time

    offs = [utc_offset_ms(t, tz) for t in ([t for t in times if t is not None] or [int(_time.time() * 1000)])]
    if all(o == 0 for o in offs):
        return "day"
    return "hour" if all(o % rollup.H_MS == 0 for o in offs) else "quarter"


def _task_rows(f: Filters, session_id: str | None, start_ms: int, end_ms: int, bucket_ms: int, off: int):
    """Task-shaped rows of [start, end): the rollups when the buckets are whole quarter hours, else raw tasks."""
    if session_id or not _aligned(bucket_ms, off):
        tc, _ = session_conds(session_id, f)
        return rollup.raw_task_rows(tc + [T.c.ts_ms >= start_ms, T.c.ts_ms < end_ms]).subquery("u")
    return rollup.task_source(f.with_(since_ms=start_ms, until_ms=end_ms), session_filter(f),
                              coarsest=bucket_level(bucket_ms, off))


def session_conds(session_id: str | None, f: Filters) -> tuple[list, list]:
    """(task conditions, tool call conditions): one session's whole history, or the filters."""
    if session_id:
        return [T.c.session_id == session_id], [TC.c.session_id == session_id, TC.c.tool_name.isnot(None)]
    return task_conds(f), tool_conds(f)


def span(engine: Engine, f: Filters, session_id: str | None = None) -> tuple[int | None, int | None]:
    """(first, last) task time under the filters (or of one session)."""
    if session_id:
        tc, _ = session_conds(session_id, f)
        q = select(func.min(T.c.ts_ms), func.max(T.c.ts_ms)).where(_where(tc))
    else:
        u = rollup.task_source(f, session_filter(f))
        q = select(func.min(u.c.first_ms), func.max(u.c.last_ms))
    with engine.connect() as conn:
        r = conn.execute(q).one()
    return r[0], r[1]


def utc_offset_ms(ms: int, tz: tzinfo) -> int:
    off = datetime.fromtimestamp(ms / 1000, tz).utcoffset()
    return int(off.total_seconds() * 1000) if off is not None else 0


# ---------------------------------------------------------------- timeline
@dataclass
class Timeline:
    """Tokens per bucket by series (token types or models), cost per bucket; dense: empty buckets are zeros."""

    bucket_ms: int  # the SQL bucket; after downsampling one point may hold several (see ``step``)
    starts: list[int]
    series: dict[str, list[float]]
    cost: list[float]
    by: str
    step: int = 1  # SQL buckets per point
    totals: dict[str, float] = field(default_factory=dict)

    @property
    def point_ms(self) -> int:
        return self.bucket_ms * self.step

    @property
    def total_tokens(self) -> float:
        return sum(self.totals.values())

    @property
    def total_cost(self) -> float:
        return sum(self.cost)


def timeline(engine: Engine, f: Filters, *, start_ms: int, end_ms: int, bucket_ms: int, tz: tzinfo,
             columns: int, by: str = "type", session_id: str | None = None, top: int = TOP_MODELS) -> Timeline:
    """Token and cost sums per bucket of [start, end): by token type (``by='type'``) or by model (the ``top``
    models by tokens, the rest as "other"); at most ``columns`` points (longer series are summed in runs)."""
    off = bucket_offset(bucket_ms, utc_offset_ms(start_ms, tz))
    first, n = bucket_span(start_ms, end_ms, bucket_ms, off)
    u = _task_rows(f, session_id, start_ms, end_ms, bucket_ms, off)
    b = ((u.c.ts_ms + off) // bucket_ms).label("b")
    cost = [0.0] * n
    series: dict[str, list[float]] = {}
    with engine.connect() as conn:
        if by == "model":
            tokens = _tok(u)
            per_model = conn.execute(select(u.c.model, tokens.label("tok")).group_by(u.c.model)
                                     .order_by(tokens.desc(), u.c.model)).all()
            keep = [m for m, _t in per_model[:top]]
            for m in keep:
                series[m] = [0.0] * n
            if len(per_model) > top:
                series["other"] = [0.0] * n
            rows = conn.execute(select(b, u.c.model, tokens.label("tok"),
                                       func.coalesce(func.sum(u.c.cost_usd), 0.0).label("usd"))
                                .group_by(b, u.c.model)).all()
            for r in rows:
                i = int(r.b) - first
                if 0 <= i < n:
                    series[r.model if r.model in series else "other"][i] += float(r.tok or 0)
                    cost[i] += float(r.usd or 0.0)
        else:
            for k in TOKEN_TYPES:
                series[TOKEN_TYPE_LABELS[k]] = [0.0] * n
            rows = conn.execute(select(b, func.coalesce(func.sum(u.c.cost_usd), 0.0).label("usd"),
                                       *[func.coalesce(func.sum(u.c[k]), 0).label(k) for k in TOKEN_TYPES])
                                .group_by(b)).all()
            for r in rows:
                i = int(r.b) - first
                if 0 <= i < n:
                    cost[i] += float(r.usd or 0.0)
                    for k in TOKEN_TYPES:
                        series[TOKEN_TYPE_LABELS[k]][i] += float(getattr(r, k) or 0)
    cost = [money(c) for c in cost]
    starts = [(first + i) * bucket_ms - off for i in range(n)]
    step = 1
    if n > columns:  # alignment added a partial bucket at an end, or the caller asked for fewer columns
        step = -(-n // columns)
        starts = downsample_starts(starts, columns)
        series = {k: downsample(v, columns) for k, v in series.items()}
        cost = downsample(cost, columns)
    totals = {k: float(sum(v)) for k, v in series.items()}
    return Timeline(bucket_ms, starts, series, cost, by, step, totals)


# ---------------------------------------------------------------- spend
def spend_in_windows(engine: Engine, f: Filters, windows: Sequence[tuple[int, int]]) -> list[float]:
    """Cost of tasks in each [a, b) window, in one scan of the windows' overall span (filters other than time)."""
    if not windows:
        return []
    sf = session_filter(f)
    out = []
    with engine.connect() as conn:  # one small query per window: whole quarter hours from the rollups
        for a, b in windows:
            u = rollup.task_source(f.with_(since_ms=a, until_ms=b), sf)
            out.append(float(conn.execute(select(func.coalesce(func.sum(u.c.cost_usd), 0.0))).scalar() or 0.0))
    return out


def spend_buckets(engine: Engine, f: Filters, start_ms: int, end_ms: int, bucket_ms: int, tz: tzinfo) -> list[float]:
    """Cost per bucket of [start, end) (local boundaries), zeros included (filters other than time)."""
    off = bucket_offset(bucket_ms, utc_offset_ms(start_ms, tz))
    first, n = bucket_span(start_ms, end_ms, bucket_ms, off)
    u = _task_rows(f, None, start_ms, end_ms, bucket_ms, off)
    b = ((u.c.ts_ms + off) // bucket_ms).label("b")
    out = [0.0] * n
    with engine.connect() as conn:
        for k, v in conn.execute(select(b, func.sum(u.c.cost_usd)).group_by(b)):
            if 0 <= int(k) - first < n:
                out[int(k) - first] += float(v or 0.0)
    return [money(c) for c in out]


def daily_spend(engine: Engine, f: Filters, tz: tzinfo, days: int = 366) -> list[dict]:
    """Per local day (newest first, at most ``days``): cost, cloud equivalent, savings, tasks — days with tasks only.

    Grouped in SQL by 15-minute buckets and folded into local days, exactly as the daily report does."""
    u = rollup.task_source(f, session_filter(f), coarsest=zone_level(tz, f.since_ms, f.until_ms))
    qb = (u.c.ts_ms // _QUARTER_MS).label("q")
    with engine.connect() as conn:
        rows = conn.execute(select(qb, func.coalesce(func.sum(u.c.cost_usd), 0.0),
                                   func.coalesce(func.sum(u.c.cloud_cost_equivalent), 0.0), func.sum(u.c.tasks))
                            .group_by(qb)).all()
    out: dict[str, dict] = {}
    for q, cost, cloud, n in rows:
        day = datetime.fromtimestamp(int(q) * _QUARTER_MS / 1000, tz).date().isoformat()
        d = out.setdefault(day, {"date": day, "cost_usd": 0.0, "cloud_cost_equivalent": 0.0, "tasks": 0})
        d["cost_usd"] += float(cost)
        d["cloud_cost_equivalent"] += float(cloud)
        d["tasks"] += int(n)
    res = [out[k] for k in sorted(out, reverse=True)[:days]]
    for d in res:
        d["cost_usd"], d["cloud_cost_equivalent"] = money(d["cost_usd"]), money(d["cloud_cost_equivalent"])
        d["local_savings_usd"] = d["cloud_cost_equivalent"] - d["cost_usd"]
    return res


# ---------------------------------------------------------------- efficiency
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
    """The rating-weighted count of changes, from the counts by rating (weights in core.scoring)."""
    return (h * literal(RATING_WEIGHTS[1]) + u * literal(RATING_WEIGHTS[None]) + n * literal(RATING_WEIGHTS[0]))


def _changes_cols(t):
    return [func.coalesce(func.sum(t.c.ok_helpful), 0).label("ch_helpful"),
            func.coalesce(func.sum(t.c.ok_not_helpful), 0).label("ch_not_helpful"),
            func.coalesce(func.sum(t.c.ok_all), 0).label("ch_all")]


def _usage_cols(u):
    return [_tok(u).label("tokens"), func.coalesce(func.sum(u.c.cost_usd), 0.0).label("cost"),
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


def _change_source(f: Filters, extra: Iterable[str], coarsest: str | None = None):
    """Tool-call rows of the file-changing tools (their ok_* columns count the successful calls by rating)."""
    return rollup.tool_source(f, session_filter(f), extra_raw=[change_names(TC.c.tool_name, extra)],
                              extra_rollup=[lambda r: change_names(r.c.tool_name, extra)], coarsest=coarsest)


def efficiency_totals(engine: Engine, f: Filters, extra: Iterable[str] = ()) -> dict:
    """The range's inputs: tokens, cost, rated tasks, changes by rating; and how many sessions made none."""
    u = rollup.task_source(f, session_filter(f), coarsest="sday")  # per session: (session, day) rows
    t = _change_source(f, extra, coarsest="sday")
    ch = select(t.c.session_id.label("sid"), *_changes_cols(t)).group_by(t.c.session_id).subquery()
    usage = select(u.c.session_id.label("sid"), *_usage_cols(u)).group_by(u.c.session_id).subquery()
    useful = _useful_expr(func.coalesce(ch.c.ch_helpful, 0),
                          func.coalesce(ch.c.ch_all, 0) - func.coalesce(ch.c.ch_helpful, 0)
                          - func.coalesce(ch.c.ch_not_helpful, 0), func.coalesce(ch.c.ch_not_helpful, 0))
    with engine.connect() as conn:
        tot = conn.execute(select(func.count(), func.coalesce(func.sum(usage.c.tokens), 0),
                                  func.coalesce(func.sum(usage.c.cost), 0.0),
                                  func.coalesce(func.sum(usage.c.helpful), 0),
                                  func.coalesce(func.sum(usage.c.not_helpful), 0),
                                  func.coalesce(func.sum(usage.c.tasks), 0))).one()
        c = conn.execute(select(*_changes_cols(t))).one()._mapping
        z = conn.execute(select(func.count(), func.coalesce(func.sum(usage.c.tokens), 0),
                                func.coalesce(func.sum(usage.c.cost), 0.0))
                         .select_from(usage.outerjoin(ch, ch.c.sid == usage.c.sid))
                         .where(useful <= 0)).one()
        # sessions by the one definition (a task or a tool call in range): those without a useful change are all
        # but the ones with one (a session of tool calls only has no tokens, so the no-change sums stand)
        n_sessions = session_count(conn, f)
        with_change = conn.execute(select(func.count()).select_from(ch).where(_useful_expr(
            ch.c.ch_helpful, ch.c.ch_all - ch.c.ch_helpful - ch.c.ch_not_helpful, ch.c.ch_not_helpful) > 0)).scalar()
    d = _inputs({"tokens": tot[1], "cost": tot[2], "helpful": tot[3], "not_helpful": tot[4], "tasks": tot[5],
                 **dict(c)})
    d.update(sessions=n_sessions, no_change_sessions=max(0, n_sessions - int(with_change or 0)),
             no_change_tokens=int(z[1] or 0),
             no_change_cost=float(z[2] or 0.0))
    d.update(_lines_totals(engine, usage))
    return d


def _statusline_stats():
    from nexus_tui.store.schema import SessionStat

    ss = SessionStat.__table__
    return (select(ss.c.session_id.label("sid"), ss.c.lines_added, ss.c.lines_removed)
            .where(and_(ss.c.source == "statusline",
                        or_(ss.c.lines_added.isnot(None), ss.c.lines_removed.isnot(None))))
            .subquery("lines"))


def _lines_totals(engine: Engine, usage) -> dict:
    """Lines changed (Claude Code's status line: whole sessions) over the range's sessions that reported them, with
    those sessions' tokens and cost in the range."""
    ln = _statusline_stats()
    with engine.connect() as conn:
        r = conn.execute(select(func.count(), func.sum(ln.c.lines_added), func.sum(ln.c.lines_removed),
                                func.coalesce(func.sum(usage.c.tokens), 0), func.coalesce(func.sum(usage.c.cost), 0.0))
                         .select_from(usage.join(ln, ln.c.sid == usage.c.sid))).one()
    n = int(r[0] or 0)
    return {"lines_sessions": n, "lines_added": int(r[1] or 0) if n else None,
            "lines_removed": int(r[2] or 0) if n else None, "lines_tokens": int(r[3] or 0),
            "lines_cost": float(r[4] or 0.0)}


def efficiency_sessions(engine: Engine, f: Filters, extra: Iterable[str] = (), limit: int = 200,
                        without_changes: bool = False) -> list[dict]:
    """The least efficient sessions in the range: most tokens per useful change first (``without_changes``: the
    sessions that made no useful change, most tokens first)."""
    from nexus_tui.store.queries import S

    u = rollup.task_source(f, session_filter(f), coarsest="sday")
    t = _change_source(f, extra, coarsest="sday")
    usage = (select(u.c.session_id.label("sid"), *_usage_cols(u), func.max(u.c.last_ms).label("last_ms"))
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
    u = _task_rows(f, None, start_ms, end_ms, bucket_ms, off)
    t = _change_source(g, extra, coarsest=bucket_level(bucket_ms, off)) if _aligned(bucket_ms, off) else \
        rollup.raw_tool_rows([*tool_conds(g), change_names(TC.c.tool_name, extra)]).subquery("ut")
    tb = ((u.c.ts_ms + off) // bucket_ms).label("b")
    cb = ((t.c.ts_ms + off) // bucket_ms).label("b")
    out = [{"tokens": 0, "cost": 0.0, "helpful": 0, "not_helpful": 0, "tasks": 0, "ch_helpful": 0,
            "ch_not_helpful": 0, "ch_all": 0} for _ in range(n)]
    with engine.connect() as conn:
        for r in conn.execute(select(tb, *_usage_cols(u)).group_by(tb)):
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


# ---------------------------------------------------------------- tools
def tools_by_server(engine: Engine, f: Filters) -> list[dict]:
    """Per MCP server: tools, calls, failures, failure rate, p50/p95/p99 (exact nearest rank) and max latency."""
    sf = session_filter(f)
    t = rollup.tool_source(f, sf, extra_raw=[TC.c.mcp_server.isnot(None)],
                           extra_rollup=[lambda r: r.c.mcp_server.isnot(None)])
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.mcp_server, func.count(func.distinct(t.c.tool_name)), func.sum(t.c.calls),
                                   func.coalesce(func.sum(t.c.failures), 0), func.max(t.c.lat_max))
                            .group_by(t.c.mcp_server)).all()
        hists = rollup.tool_hists(conn, f, sf, ["mcp_server"], [TC.c.mcp_server],
                                  extra_rollup=[lambda r: r.c.mcp_server.isnot(None)],
                                  extra_raw=[TC.c.mcp_server.isnot(None)])
        out = []
        for server, tools, calls, failures, mx in rows:
            calls, failures = int(calls), int(failures)
            d = {"server": server, "tools": int(tools), "calls": calls, "failures": failures,
                 "failure_rate": failures / calls if calls else None, "max_ms": mx}
            ps = sketch.exact_percentiles(hists.get((server,), {}), (50, 95, 99),
                                          _values_between(conn, TC.c.latency_ms,
                                                          [*tool_conds(f), TC.c.mcp_server == server]), mx)
            for p in (50, 95, 99):
                d[f"p{p}_ms"] = ps[p]
            out.append(d)
    out.sort(key=lambda d: (-d["calls"], d["server"]))
    return out


def recent_failures(engine: Engine, f: Filters, *, tool: str | None = None, server: str | None = None,
                    limit: int = 100) -> list[dict]:
    """The newest failed calls of a tool (or of every tool of an MCP server) with their error text."""
    conds = tool_conds(f) + [TC.c.success.is_(False)]
    if tool:
        conds.append(TC.c.tool_name == tool)
    if server:
        conds.append(TC.c.mcp_server == server)
    with engine.connect() as conn:
        rows = conn.execute(select(TC.c.id, TC.c.tool_name, TC.c.mcp_server, TC.c.started_ms, TC.c.latency_ms,
                                   TC.c.error_type, TC.c.error_message, TC.c.session_id, TC.c.task_id)
                            .where(_where(conds)).order_by(TC.c.started_ms.desc(), TC.c.id).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def failures_by_type(engine: Engine, f: Filters, *, server: str) -> list[dict]:
    """Failures of an MCP server's tools by error type (``queries.tool_failures_by_type`` does one tool)."""
    t = rollup.tool_source(f, session_filter(f), extra_raw=[TC.c.success.is_(False), TC.c.mcp_server == server],
                           extra_rollup=[lambda r: r.c.failures > 0, lambda r: r.c.mcp_server == server])
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.tool_name, t.c.error_type, func.sum(t.c.failures))
                            .group_by(t.c.tool_name, t.c.error_type)).all()
    return sorted(({"tool": t, "error_type": e or "error", "failures": int(n)} for t, e, n in rows),
                  key=lambda d: (-d["failures"], d["tool"], d["error_type"]))
