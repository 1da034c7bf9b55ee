"""Usage: tasks, tokens, cost and latency summed over a range, by dimension, per day, hour, bucket or actor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sqlalchemy import Engine, Integer, and_, case, func, literal, select, true, union_all

from nexus_tui.core.filters import Filters
from nexus_tui.core.scoring import bucket_offset, bucket_span, downsample, downsample_starts
from nexus_tui.store.read.plan import (
    E,
    Q_MS,
    T,
    TC,
    active_session_count_statement,
    cache_hit_rate,
    error_conds,
    int_fix,
    scope_conds,
    session_filter,
    task_conds,
    task_hists,
    task_rows,
    task_source,
    tool_conds,
    tool_source,
    total_tokens_sum,
    usage_cols,
    usage_cols_u,
    usage_dict,
    utc_offset_ms,
    values_between,
    zone_level,
)
from nexus_tui.store.read.tools import tools_report
from nexus_tui.store.rules import agent_expr
from nexus_tui.store.schema import money
from nexus_tui.store.spans import summary_from, usage_by_rows


def summary_statements(f: Filters) -> dict:
    """The reads of ``summary`` besides its top models and tools: the usage sums, the first and last task, the active
    sessions, the tool calls and failures, the API errors (one row each)."""
    sf = session_filter(f)
    u_src = task_source(f, sf)
    t_src = tool_source(f, sf)
    return {"usage": select(*usage_cols_u(u_src)),
            "span": select(func.min(u_src.c.first_ms), func.max(u_src.c.last_ms)),
            "sessions": active_session_count_statement(f),
            "tools": select(func.coalesce(func.sum(t_src.c.calls), 0), func.coalesce(func.sum(t_src.c.failures), 0)),
            "api_errors": select(func.count()).where(and_(E.c.component == "api", *error_conds(f)))}


def summary(engine: Engine, f: Filters, top: int = 5) -> dict:
    st = summary_statements(f)
    with engine.connect() as conn:
        one = {k: conn.execute(stmt).one() for k, stmt in st.items()}
    return summary_from(f, one["usage"], one["span"], int(one["sessions"][0] or 0), one["tools"],
                        one["api_errors"][0], models(engine, f)[:top], tools_report(engine, f)[:top])


DIMENSIONS = {
    "model": T.c.model,
    "routing": T.c.routing,
    "source": T.c.source,
    "cli_tool": T.c.cli_tool,
    "tier": T.c.tier,
    "persona": T.c.persona,
    "agent": agent_expr(),
}


def usage_by_statement(f: Filters, dimension: str):
    """The grouped sums of ``usage_by`` (the group under ``key``)."""
    u_src = task_source(f, session_filter(f))
    ucol = u_src.c[dimension]
    return select(ucol.label("key"), *usage_cols_u(u_src)).group_by(ucol)


def usage_by(engine: Engine, f: Filters, dimension: str, percentiles: bool = True) -> list[dict]:
    """Tasks, tokens by type, cost, share of cost, average and p95 latency, cache hit rate per value of a dimension."""
    col = DIMENSIONS[dimension]
    tc = task_conds(f)
    sf = session_filter(f)
    with engine.connect() as conn:
        rows = conn.execute(usage_by_statement(f, dimension)).all()
        hists = task_hists(conn, f, sf, dimension, col) if percentiles else None

        def between(value):
            return values_between(conn, T.c.latency_ms, tc + [col.is_(None) if value is None else col == value])
        return usage_by_rows(rows, dimension, hists, between)


def models(engine: Engine, f: Filters) -> list[dict]:
    return usage_by(engine, f, "model", percentiles=True)


def daily(engine: Engine, f: Filters, tz: tzinfo) -> list[dict]:
    """Usage per calendar day in ``tz``: grouped in SQL by 15-minute buckets, folded into days here."""
    sf = session_filter(f)
    level = zone_level(tz, f.since_ms, f.until_ms)  # rows that fall in one local day each
    u = task_source(f, sf, coarsest=level)
    t = tool_source(f, sf, coarsest=level)
    bucket = (u.c.ts_ms // Q_MS).label("b")
    tb = (t.c.ts_ms // Q_MS)
    with engine.connect() as conn:
        rows = conn.execute(select(bucket, *usage_cols_u(u)).group_by(bucket)).all()
        tools = conn.execute(select(tb.label("b"), func.sum(t.c.calls), func.coalesce(func.sum(t.c.failures), 0))
                             .group_by(tb)).all()
        model_rows = conn.execute(select(bucket, u.c.model).group_by(bucket, u.c.model)).all()
    days: dict[str, dict] = {}

    def day_of(b) -> str:
        return datetime.fromtimestamp(int(b) * Q_MS / 1000, tz).date().isoformat()

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


TOKEN_TYPES = ("tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens")


TOKEN_TYPE_LABELS = {"tokens_in": "input", "tokens_out": "output", "cache_creation_tokens": "cache write",
                     "cache_read_tokens": "cache read"}


TOP_MODELS = 6  # the timeline by model shows this many models and "other"


def span(engine: Engine, f: Filters, session_id: str | None = None) -> tuple[int | None, int | None]:
    """(first, last) task time under the filters (or of one session)."""
    if session_id:
        tc, _ = scope_conds(session_id, f)
        q = select(func.min(T.c.ts_ms), func.max(T.c.ts_ms)).where(and_(true(), *tc))
    else:
        u = task_source(f, session_filter(f))
        q = select(func.min(u.c.first_ms), func.max(u.c.last_ms))
    with engine.connect() as conn:
        r = conn.execute(q).one()
    return r[0], r[1]


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
    u = task_rows(f, session_id, start_ms, end_ms, bucket_ms, off)
    b = ((u.c.ts_ms + off) // bucket_ms).label("b")
    cost = [0.0] * n
    series: dict[str, list[float]] = {}
    with engine.connect() as conn:
        if by == "model":
            tokens = total_tokens_sum(u)
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


def spend_in_windows(engine: Engine, f: Filters, windows: Sequence[tuple[int, int]]) -> list[float]:
    """Cost of tasks in each [a, b) window, in one scan of the windows' overall span (filters other than time)."""
    if not windows:
        return []
    sf = session_filter(f)
    out = [0.0] * len(windows)
    sums = [select(literal(i, Integer).label("i"), func.coalesce(func.sum(u.c.cost_usd), 0.0).label("spent"))
            for i, u in ((i, task_source(f.with_(since_ms=a, until_ms=b), sf)) for i, (a, b) in enumerate(windows))]
    with engine.connect() as conn:  # each window's own sum (whole quarter hours from the rollups), a few per statement
        for k in range(0, len(sums), _WINDOWS_PER_STATEMENT):
            chunk = sums[k:k + _WINDOWS_PER_STATEMENT]
            for i, spent in conn.execute(chunk[0] if len(chunk) == 1 else union_all(*chunk)):
                out[int(i)] = float(spent or 0.0)
    return out


_WINDOWS_PER_STATEMENT = 16  # the Costs screen asks for ≈ 46 windows: 3 statements, within any SQLite's 999 parameters


def spend_buckets(engine: Engine, f: Filters, start_ms: int, end_ms: int, bucket_ms: int, tz: tzinfo) -> list[float]:
    """Cost per bucket of [start, end) (local boundaries), zeros included (filters other than time)."""
    off = bucket_offset(bucket_ms, utc_offset_ms(start_ms, tz))
    first, n = bucket_span(start_ms, end_ms, bucket_ms, off)
    u = task_rows(f, None, start_ms, end_ms, bucket_ms, off)
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
    u = task_source(f, session_filter(f), coarsest=zone_level(tz, f.since_ms, f.until_ms))
    qb = (u.c.ts_ms // Q_MS).label("q")
    with engine.connect() as conn:
        rows = conn.execute(select(qb, func.coalesce(func.sum(u.c.cost_usd), 0.0),
                                   func.coalesce(func.sum(u.c.cloud_cost_equivalent), 0.0), func.sum(u.c.tasks))
                            .group_by(qb)).all()
    out: dict[str, dict] = {}
    for q, cost, cloud, n in rows:
        day = datetime.fromtimestamp(int(q) * Q_MS / 1000, tz).date().isoformat()
        d = out.setdefault(day, {"date": day, "cost_usd": 0.0, "cloud_cost_equivalent": 0.0, "tasks": 0})
        d["cost_usd"] += float(cost)
        d["cloud_cost_equivalent"] += float(cloud)
        d["tasks"] += int(n)
    res = [out[k] for k in sorted(out, reverse=True)[:days]]
    for d in res:
        d["cost_usd"], d["cloud_cost_equivalent"] = money(d["cost_usd"]), money(d["cloud_cost_equivalent"])
        d["local_savings_usd"] = d["cloud_cost_equivalent"] - d["cost_usd"]
    return res


USAGE_KEYS = ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "unpriced_tasks")


def _component_expr(comp_col, agent_col):
    return func.coalesce(comp_col, case((agent_col.is_(None), literal("main")), else_=literal("sub-agent")))


def _finish(groups: dict) -> list[dict]:
    out = []
    for key in groups:
        d = groups[key]
        for k in USAGE_KEYS + ("tool_calls", "tool_failures"):
            d[k] = int(d.get(k) or 0)
        if d.get("errors") is not None:
            d["errors"] = int(d["errors"])
        d["cost_usd"] = float(d.get("cost_usd") or 0.0)
        d["total_tokens"] = d["tokens_in"] + d["tokens_out"] + d["cache_creation_tokens"] + d["cache_read_tokens"]
        d["cache_hit_rate"] = cache_hit_rate(d["tokens_in"], d["cache_read_tokens"], d["cache_creation_tokens"])
        out.append(d)
    return out


def _empty(key: str, errors: int | None = None) -> dict:
    return {"key": key, **dict.fromkeys(USAGE_KEYS, 0), "cost_usd": 0.0, "tool_calls": 0, "tool_failures": 0,
            "errors": errors}


def by_actor(engine: Engine, f: Filters, by: str) -> list[dict]:
    """Usage, tool calls and failures per component (a source's own component label, else 'main' or 'sub-agent')
    or per agent ('main' or each sub-agent's id), from the raw rows in the range. ``errors`` stays None: an error
    record (an API error) does not say which agent it came from."""
    if by == "agent":
        tkey = func.coalesce(T.c.agent_id, literal("main"))
        ckey = func.coalesce(TC.c.agent_id, literal("main"))
    elif by == "component":
        tkey = _component_expr(T.c.component, T.c.agent_id)
        task_comp = select(T.c.component).where(T.c.id == TC.c.task_id).limit(1).scalar_subquery()
        ckey = _component_expr(task_comp, TC.c.agent_id)
    else:
        raise ValueError(f"unknown grouping {by!r}")
    tkey, ckey = tkey.label("key"), ckey.label("key")  # grouped by the label: one expression (PostgreSQL)
    groups: dict[str, dict] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(tkey, *usage_cols()).where(and_(true(), *task_conds(f))).group_by(tkey)):
            d = int_fix(usage_dict(r))
            g = groups.setdefault(d["key"], _empty(d["key"]))
            g.update({k: d[k] for k in USAGE_KEYS}, cost_usd=d["cost_usd"])
        fails = func.coalesce(func.sum(case((TC.c.success.is_(False), 1), else_=0)), 0)
        for key, calls, failures in conn.execute(select(ckey, func.count(), fails)
                                                 .where(and_(*tool_conds(f))).group_by(ckey)):
            g = groups.setdefault(key, _empty(key))
            g["tool_calls"], g["tool_failures"] = int(calls), int(failures)
    out = _finish(groups)
    out.sort(key=lambda d: (-d["cost_usd"], -d["tasks"], -d["tool_calls"], str(d["key"])))
    return out


def by_hour(engine: Engine, f: Filters, tz: tzinfo) -> list[dict]:
    """Usage, tool calls, failures and error records per local hour of ``tz`` (oldest first), from the same rollup
    sources as the daily report (15-minute rows folded into hours: every zone offset is a multiple of 15 minutes)."""
    sf = session_filter(f)
    u = task_source(f, sf, coarsest="quarter")
    t = tool_source(f, sf, coarsest="quarter")
    ub = (u.c.ts_ms // Q_MS).label("b")
    tb = (t.c.ts_ms // Q_MS).label("b")
    eb = (E.c.ts_ms // Q_MS).label("b")
    with engine.connect() as conn:
        rows = conn.execute(select(ub, *usage_cols_u(u)).group_by(ub)).all()
        tools = conn.execute(select(tb, func.sum(t.c.calls), func.coalesce(func.sum(t.c.failures), 0))
                             .group_by(tb)).all()
        errs = conn.execute(select(eb, func.count()).where(and_(E.c.ts_ms.isnot(None), *error_conds(f)))
                            .group_by(eb)).all()

    def hour_of(b) -> str:
        return datetime.fromtimestamp(int(b) * Q_MS / 1000, tz).strftime("%Y-%m-%dT%H:00%z")

    groups: dict[str, dict] = {}
    for r in rows:
        m = r._mapping
        g = groups.setdefault(hour_of(m["b"]), _empty(hour_of(m["b"]), 0))
        for k in USAGE_KEYS:
            g[k] += int(m[k] or 0)
        g["cost_usd"] += float(m["cost_usd"] or 0.0)
    for b, calls, failures in tools:
        if b is None:
            continue
        g = groups.setdefault(hour_of(b), _empty(hour_of(b), 0))
        g["tool_calls"] += int(calls)
        g["tool_failures"] += int(failures)
    for b, n in errs:
        g = groups.setdefault(hour_of(b), _empty(hour_of(b), 0))
        g["errors"] += int(n)
    return _finish({k: groups[k] for k in sorted(groups)})


def errors_by_day(engine: Engine, f: Filters, tz: tzinfo) -> dict[str, int]:
    """Error records (API errors, tool failures, ingest problems) per local day of ``tz``."""
    eb = (E.c.ts_ms // Q_MS).label("b")
    with engine.connect() as conn:
        rows = conn.execute(select(eb, func.count()).where(and_(E.c.ts_ms.isnot(None), *error_conds(f)))
                            .group_by(eb)).all()
    out: dict[str, int] = {}
    for b, n in rows:
        day = datetime.fromtimestamp(int(b) * Q_MS / 1000, tz).date().isoformat()
        out[day] = out.get(day, 0) + int(n)
    return out
