"""Usage per calendar period (day, ISO week, month) in a time zone, optionally per model inside each period.

Grouped in SQL by 15-minute UTC buckets (every zone offset is a multiple of 15 minutes) and by model, folded into
local periods here, exactly as ``queries.daily`` folds days; so a week's or a month's sums are the sums of its days.
Weeks are ISO weeks starting Monday (as ccusage ``weekly``), keyed by their Monday's date; months by ``YYYY-MM``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import Engine, func, select

from nexus_tui.core.filters import Filters
from nexus_tui.store.read import plan
from nexus_tui.store.read.plan import cache_hit_rate, session_filter, usage_cols_u
from nexus_tui.store.upkeep import Q_MS as _BUCKET_MS  # the rollups' 15-minute bucket
from nexus_tui.store.schema import money

UNITS = {"daily": "date", "weekly": "week", "monthly": "month"}  # report -> the key column of its rows
SUMS = ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "unpriced_tasks")


def period_key(d: date, unit: str) -> str:
    """The period a local date falls in: the date itself, its ISO week's Monday, or its month (``YYYY-MM``)."""
    if unit == "week":
        return (d - timedelta(days=d.weekday())).isoformat()
    if unit == "month":
        return d.strftime("%Y-%m")
    return d.isoformat()


def _blank(key_name: str, key: str) -> dict:
    return {key_name: key, **dict.fromkeys(SUMS, 0), "cost_usd": 0.0, "tool_calls": 0, "tool_failures": 0}


def _finish(d: dict) -> dict:
    d["cost_usd"] = money(d["cost_usd"])  # folded in Python from quarter hours: the same figure on every plan
    d["total_tokens"] = d["tokens_in"] + d["tokens_out"] + d["cache_creation_tokens"] + d["cache_read_tokens"]
    d["cache_hit_rate"] = cache_hit_rate(d["tokens_in"], d["cache_read_tokens"], d["cache_creation_tokens"])
    return d


def periods(engine: Engine, f: Filters, tz: tzinfo, unit: str = "date") -> list[dict]:
    """Rows per period (``unit``: date | week | month), oldest first: the sums of ``SUMS``, cost_usd, total_tokens,
    cache_hit_rate, tool_calls, tool_failures, models (sorted names) and by_model (one row of the same sums per
    model, by cost then name)."""
    from nexus_tui.store.read.plan import zone_level

    sf = session_filter(f)
    level = zone_level(tz, f.since_ms, f.until_ms)  # rollup rows that fall in one local day each
    u = plan.task_source(f, sf, coarsest=level)
    t = plan.tool_source(f, sf, coarsest=level)
    bucket = (u.c.ts_ms // _BUCKET_MS).label("b")
    tb = (t.c.ts_ms // _BUCKET_MS)
    with engine.connect() as conn:
        rows = conn.execute(select(bucket, u.c.model, *usage_cols_u(u)).group_by(bucket, u.c.model)).all()
        tools = conn.execute(select(tb.label("b"), func.sum(t.c.calls), func.coalesce(func.sum(t.c.failures), 0))
                             .group_by(tb)).all()
    day_cache: dict[int, str] = {}

    def key_of(b) -> str:
        b = int(b)
        if b not in day_cache:
            day_cache[b] = period_key(datetime.fromtimestamp(b * _BUCKET_MS / 1000, tz).date(), unit)
        return day_cache[b]

    out: dict[str, dict] = {}
    per_model: dict[tuple[str, str], dict] = {}
    for r in rows:
        m = r._mapping
        k = key_of(m["b"])
        d = out.setdefault(k, _blank(unit, k))
        pm = per_model.setdefault((k, m["model"]), {"model": m["model"], **_blank(unit, k)})
        for s in SUMS:
            d[s] += int(m[s] or 0)
            pm[s] += int(m[s] or 0)
        d["cost_usd"] += float(m["cost_usd"] or 0.0)
        pm["cost_usd"] += float(m["cost_usd"] or 0.0)
    for b, calls, fails in tools:
        if b is None:
            continue
        d = out.setdefault(key_of(b), _blank(unit, key_of(b)))
        d["tool_calls"] += int(calls)
        d["tool_failures"] += int(fails)
    models: dict[str, list[dict]] = {}
    for (k, _), pm in per_model.items():
        pm.pop("tool_calls"), pm.pop("tool_failures"), pm.pop(unit)
        models.setdefault(k, []).append(_finish(pm))
    result = []
    for k in sorted(out):
        d = _finish(out[k])
        by = sorted(models.get(k, []), key=lambda x: (-x["cost_usd"], str(x["model"])))
        d["models"] = sorted(str(x["model"]) for x in by)
        d["by_model"] = by
        result.append(d)
    return result


def totals(rows: list[dict]) -> dict:
    """The sums of period rows (cost summed as the periods show it), with total_tokens and cache_hit_rate."""
    t = {**dict.fromkeys(SUMS, 0), "cost_usd": 0.0, "tool_calls": 0, "tool_failures": 0}
    for r in rows:
        for k in t:
            t[k] += r.get(k) or 0
    return _finish(t)
