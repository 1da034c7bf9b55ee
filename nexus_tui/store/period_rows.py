"""Usage per calendar period folded in Python from rows per (15-minute UTC bucket, model) and tool calls per
bucket: the part of store/periods.py that needs no SQL, shared with the light read (store/lite_read.py).

Weeks are ISO weeks starting Monday (as ccusage ``weekly``), keyed by their Monday's date; months by ``YYYY-MM``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from nexus_tui.store.spans import cache_hit_rate, money
from nexus_tui.store.upkeep import Q_MS as _BUCKET_MS  # the rollups' 15-minute bucket

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


def fold(rows, tools, tz: tzinfo, unit: str) -> list[dict]:
    """``rows``: mappings with b (bucket number), model and the usage sums; ``tools``: (b, calls, failures) tuples.
    Rows per period (``unit``: date | week | month), oldest first: the sums of ``SUMS``, cost_usd, total_tokens,
    cache_hit_rate, tool_calls, tool_failures, models (sorted names) and by_model (one row of the same sums per
    model, by cost then name)."""
    day_cache: dict[int, str] = {}

    def key_of(b) -> str:
        b = int(b)
        if b not in day_cache:
            day_cache[b] = period_key(datetime.fromtimestamp(b * _BUCKET_MS / 1000, tz).date(), unit)
        return day_cache[b]

    out: dict[str, dict] = {}
    per_model: dict[tuple[str, str], dict] = {}
    for m in rows:
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
