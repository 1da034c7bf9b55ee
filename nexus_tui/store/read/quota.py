"""The quota model read from the store: the snapshots (status line, proxy), the usage this store counts inside each
window, past windows, and the estimated 5-hour blocks when no snapshot exists (docs/quota.md). The arithmetic is in
``core/quota.py``; this module only reads rows."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select

from nexus_tui.core import quota as CQ
from nexus_tui.store.rules import cost_expr
from nexus_tui.store.schema import QuotaSnapshot, Task

T = Task.__table__
QS = QuotaSnapshot.__table__
DAY_MS = CQ.DAY_MS
# only Anthropic's models draw on a Claude subscription's windows
_ANTHROPIC = or_(func.lower(T.c.model).like("%claude%"), func.lower(T.c.model).like("%opus%"),
                 func.lower(T.c.model).like("%sonnet%"), func.lower(T.c.model).like("%haiku%"))


def snapshots(engine, since_ms: int | None = None) -> list[CQ.Snapshot]:
    """Every used-percentage snapshot observed since ``since_ms`` (all when None), as the core model's Snapshots."""
    q = select(QS.c.window, QS.c.used_fraction, QS.c.resets_at_ms, QS.c.observed_ms, QS.c.source, QS.c.account,
               QS.c.machine, QS.c.status)
    if since_ms is not None:
        q = q.where(QS.c.observed_ms >= since_ms)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    return [s for s in map(CQ.snapshot_from_row, rows) if s is not None]


def usage_between(engine, start_ms: int, end_ms: int, cost_mode: str = "auto") -> list[dict]:
    """Per Anthropic model: tasks, tokens (all four kinds) and cost of the cloud tasks in [start_ms, end_ms)."""
    cost = cost_expr(cost_mode)
    tokens = (func.coalesce(T.c.tokens_in, 0) + func.coalesce(T.c.tokens_out, 0)
              + func.coalesce(T.c.cache_read_tokens, 0) + func.coalesce(T.c.cache_creation_tokens, 0))
    q = (select(T.c.model, func.count().label("tasks"), func.sum(tokens).label("tokens"),
                func.sum(cost).label("cost_usd"))
         .where(and_(T.c.ts_ms >= start_ms, T.c.ts_ms < end_ms, or_(T.c.routing.is_(None), T.c.routing != "local"),
                     _ANTHROPIC))
         .group_by(T.c.model).order_by(func.sum(cost).desc()))
    with engine.connect() as conn:
        return [{"model": m, "tasks": int(n), "tokens": int(tok or 0), "cost_usd": float(c or 0.0)}
                for m, n, tok, c in conn.execute(q)]


def _totals(models: list[dict], used_pct: float | None) -> dict:
    tokens = sum(m["tokens"] for m in models)
    cost = sum(m["cost_usd"] for m in models)
    # nothing counted here (the usage came from elsewhere): what 1 % costs is unknown, not zero
    per = used_pct if used_pct and used_pct > 0 and models else None
    return {"tasks": sum(m["tasks"] for m in models), "tokens": tokens, "cost_usd": cost,
            "tokens_per_pct": tokens / per if per else None, "cost_per_pct_usd": cost / per if per else None}


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report(engine, now_ms: int, history_days: int = 35, cost_mode: str = "auto") -> dict:
    """The whole quota picture at ``now_ms``: current windows, past windows, the used-% series for the chart, and
    (only when no snapshot exists) estimated 5-hour blocks."""
    since = now_ms - history_days * DAY_MS
    snaps = snapshots(engine, since)
    windows = []
    for st in CQ.current_windows(snaps, now_ms):
        s, p = st.snapshot, st.pace
        start = s.resets_at_ms - CQ.window_ms(st.window) if s.resets_at_ms is not None else None
        models = usage_between(engine, start, min(now_ms, s.resets_at_ms) + 1, cost_mode) \
            if start is not None else []
        windows.append({
            "window": st.window, "label": st.label, "account": st.account, "source": s.source,
            "machine": s.machine, "current": st.current,
            "used_percentage": round(s.used_pct, 4), "resets_at": _iso(s.resets_at_ms), "resets_at_ms": s.resets_at_ms,
            "observed_at": _iso(s.observed_ms), "observed_ms": s.observed_ms,
            "window_start": _iso(start), "elapsed_percentage": _round(p.elapsed_pct),
            "pace": _round(p.pace), "projected_percentage": _round(p.projected_pct),
            "full_at": _iso(p.full_at_ms), "will_hit_limit": p.will_hit_limit,
            "remaining_ms": st.remaining_ms, "status": s.status,
            "usage": {**_totals(models, s.used_pct), "models": models}})
    past = []
    series = []
    for (w, acct), ps in CQ.periods(snaps).items():
        # one line per period: a reset is a drop, never a slope from the old period's peak
        series.append({"window": w, "account": acct,
                       "periods": [[(s.observed_ms, s.used_pct)
                                    for s in sorted(p.snapshots, key=lambda x: x.observed_ms)] for p in ps],
                       "boundaries": [p.end_ms for p in ps if p.end_ms is not None]})
        for p in ps:
            if p.end_ms is None or p.end_ms > now_ms:
                continue  # the current period is above; one without a reset time has no bounds to count in
            models = usage_between(engine, p.start_ms, p.end_ms, cost_mode)
            past.append({"window": w, "account": acct, "start": _iso(p.start_ms), "end": _iso(p.end_ms),
                         "start_ms": p.start_ms, "end_ms": p.end_ms, "snapshots": len(p.snapshots),
                         "peak_percentage": round(p.peak_pct, 4), "limit_hit": p.limit_hit,
                         **_totals(models, p.peak_pct)})
    past.sort(key=lambda r: (r["end_ms"], CQ._window_order(r["window"])), reverse=True)
    out = {"generated_at": _iso(now_ms), "has_snapshots": bool(snaps), "windows": windows, "past_windows": past,
           "series": series, "cost_mode": cost_mode, "estimate": None}
    if not snaps:
        out["estimate"] = estimate_blocks(engine, now_ms, history_days, cost_mode)
    return out


def estimate_blocks(engine, now_ms: int, history_days: int = 35, cost_mode: str = "auto") -> dict:
    """5-hour blocks computed from this store's own tasks (no provider snapshot): labelled as an estimate."""
    cost = cost_expr(cost_mode)
    tokens = (func.coalesce(T.c.tokens_in, 0) + func.coalesce(T.c.tokens_out, 0)
              + func.coalesce(T.c.cache_read_tokens, 0) + func.coalesce(T.c.cache_creation_tokens, 0))
    q = (select(T.c.ts_ms, T.c.model, tokens, cost)
         .where(and_(T.c.ts_ms >= now_ms - history_days * DAY_MS, T.c.ts_ms <= now_ms,
                     or_(T.c.routing.is_(None), T.c.routing != "local"), _ANTHROPIC)))
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(q) if r[0] is not None]
    bl = CQ.blocks(rows)
    return {"method": CQ.BLOCKS_METHOD, "blocks": [
        {"start": _iso(b.start_ms), "end": _iso(b.end_ms), "start_ms": b.start_ms, "end_ms": b.end_ms,
         "first_task": _iso(b.first_ms), "last_task": _iso(b.last_ms), "active": b.active(now_ms),
         "tasks": b.tasks, "tokens": b.tokens, "cost_usd": b.cost_usd,
         "models": sorted(b.models)} for b in reversed(bl)]}


def current_five_hour(engine, now_ms: int) -> tuple[float, int | None] | None:
    """The current 5-hour used % and its reset (ms), when a snapshot of the current period is stored; else None."""
    snaps = snapshots(engine, now_ms - 6 * CQ.HOUR_MS)
    for st in CQ.current_windows([s for s in snaps if s.window == "five_hour"], now_ms):
        if st.current:
            return st.snapshot.used_pct, st.snapshot.resets_at_ms
    return None


def _round(x: float | None, n: int = 4) -> float | None:
    return None if x is None else round(x, n)


# ---------------------------------------------------------------- quota snapshots
def latest_quota(engine) -> list[dict] | None:
    """The newest snapshot of each quota window (``quota_snapshots``), or None when the table does not exist."""
    from sqlalchemy import MetaData, Table, inspect

    with engine.connect() as conn:
        if not inspect(conn).has_table("quota_snapshots"):
            return None
        q = Table("quota_snapshots", MetaData(), autoload_with=conn)
        newest = (select(q.c.window, func.max(q.c.observed_ms).label("m")).group_by(q.c.window).subquery())
        rows = conn.execute(select(q).join(newest, and_(newest.c.window == q.c.window,
                                                        newest.c.m == q.c.observed_ms))
                            .order_by(q.c.window)).all()
    seen: dict = {}
    for r in rows:
        seen.setdefault(r._mapping["window"], dict(r._mapping))
    return list(seen.values())
