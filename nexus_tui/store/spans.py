"""The read side's pure arithmetic, shared by the store's read path (store/read/plan.py, store/periods.py) and the
light read (store/lite_read.py), which imports no SQLAlchemy: how a range splits into rollup levels (``plan``), the
coarsest level whose rows fall in one local day of a zone (``zone_level``), money rounding and the cache hit rate.
"""

from __future__ import annotations

import math

from datetime import datetime, tzinfo

from nexus_tui.core import sketch
from nexus_tui.store.upkeep import D_MS, H_MS, Q_MS

MONEY_DECIMALS = 9

_LEVELS = (("quarter", Q_MS), ("hour", H_MS), ("day", D_MS))
_SESSION_LEVELS = (("quarter", Q_MS), ("sday", D_MS))  # per-session sums: (session, day) rows above quarter hours


def money(usd: float) -> float:
    """A dollar figure summed in Python (days folded from quarter hours, buckets) as a money column reads."""
    return round(float(usd), MONEY_DECIMALS)


def cache_hit_rate(tokens_in: int, cache_read: int, cache_creation: int) -> float | None:
    """Share of total input served from cache: cache_read / (tokens_in + cache_read + cache_creation)."""
    total = tokens_in + cache_read + cache_creation
    return cache_read / total if total else None


def stored_int(v) -> int | None:
    """A stored number as an int; None for anything else. SQLite keeps a value of another type in any column (a row
    another program wrote, a hand edit: the text 'lots' in tokens_in), which ``int()`` refused with a traceback."""
    if type(v) is int:
        return v
    if type(v) is float and math.isfinite(v):
        return int(v)
    return None


def int_fix(d: dict) -> dict:
    for k in ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "unpriced_tasks",
              "rated_helpful", "rated_not_helpful"):
        if k in d and d[k] is not None:
            d[k] = stored_int(d[k])
    return d


def usage_dict(r) -> dict:
    """A row of the usage sums (a SQLAlchemy row or a mapping) with cost, total tokens, cache hit rate and average
    latency as the reports show them."""
    d = dict(r._mapping) if hasattr(r, "_mapping") else dict(r)
    d["cost_usd"] = float(d["cost_usd"]) if d["cost_usd"] is not None else (0.0 if d["tasks"] else 0.0)
    d["cloud_cost_equivalent"] = float(d["cloud_cost_equivalent"] or 0.0)
    d["total_tokens"] = d["tokens_in"] + d["tokens_out"] + d["cache_creation_tokens"] + d["cache_read_tokens"]
    d["cache_hit_rate"] = cache_hit_rate(d["tokens_in"], d["cache_read_tokens"], d["cache_creation_tokens"])
    d["avg_latency_ms"] = round(float(d["avg_latency_ms"]), 1) if d["avg_latency_ms"] is not None else None
    return d


def merge_hist(out: dict, raw: bool, rows) -> None:
    """Add the rows of one of plan.task_hist_statements to the histograms ``out`` ({key: hist})."""
    if raw:
        for k, lat in rows:
            hb = sketch.bin_of(lat)
            out[k][hb] = out[k].get(hb, 0) + 1
    else:
        for k, text in rows:
            sketch.add_text(out[k], text)


def merge_tool_hist(out: dict, raw: bool, rows) -> None:
    """Add the rows of one of plan.tool_hist_statements to the histograms ``out`` ({key tuple: hist})."""
    for row in rows:
        if raw:
            hb = sketch.bin_of(row[-1])
            k = tuple(row[:-1])
            out[k][hb] = out[k].get(hb, 0) + 1
        else:
            sketch.add_text(out[tuple(row[:-1])], row[-1])


NO_WAITS = {"waits": 0, "wait_total_ms": 0, "wait_p50_ms": None, "wait_p95_ms": None}


def tool_waits_from(rows) -> dict:
    """Per (tool, server): the calls that waited for the user, their total wait and its p50/p95 (nearest rank), from
    the (tool, server, wait) rows in the order of the waits. The latency columns of the report are execution time;
    these are the waits kept apart (docs/metrics.md)."""
    by: dict = {}
    for name, server, w in rows:
        by.setdefault((name, server), []).append(int(w))
    out = {}
    for key, vals in by.items():
        p = {q: vals[max(0, -(-q * len(vals) // 100) - 1)] for q in (50, 95)}  # ceil(q% of n)-th smallest
        out[key] = {"waits": len(vals), "wait_total_ms": sum(vals), "wait_p50_ms": p[50], "wait_p95_ms": p[95]}
    return out


def tools_rows(rows, hists: dict | None, waits: dict, between) -> list[dict]:
    """read.tools.tools_report's rows from the (tool, server, calls, failures, pending, avg, max) sums, the merged
    histograms, the waits and ``between(tool, server)``: a reader of that tool's stored latencies."""
    out = []
    for name, server, calls, failures, pending, avg, mx in rows:
        calls, failures = int(calls), int(failures)
        d = {"tool": name, "server": server, "calls": calls, "failures": failures,
             "pending": int(pending), "failure_rate": failures / calls if calls else None,
             "avg_ms": round(float(avg), 1) if avg is not None else None}
        if hists is not None:
            p = sketch.exact_percentiles(hists.get((name, server), {}), (50, 95, 99), between(name, server), mx)
            d.update(p50_ms=p[50], p95_ms=p[95], p99_ms=p[99], max_ms=mx)
        d.update(waits.get((name, server), NO_WAITS))
        out.append(d)
    out.sort(key=lambda d: (-d["calls"], d["tool"]))
    return out


def summary_from(f, usage_row, span, n_sessions: int, tools, api_errors: int, top_models: list,
                 top_tools: list) -> dict:
    """read.usage.summary's document from its reads: the usage sums, the first and last task, the active sessions,
    the tool calls and failures, the API errors, the top models and tools."""
    from nexus_tui.core.events import iso_from_ms

    u = int_fix(usage_dict(usage_row))
    calls, failures = int(tools[0]), int(tools[1])
    api_errors = int(api_errors)
    ops = calls + u["tasks"] + api_errors
    return {
        "period": {"since": iso_from_ms(f.since_ms), "until": iso_from_ms(f.until_ms),
                   "first_task": iso_from_ms(span[0]), "last_task": iso_from_ms(span[1])},
        "sessions": n_sessions,
        **{k: u[k] for k in ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens",
                             "total_tokens", "cost_usd", "cloud_cost_equivalent", "unpriced_tasks",
                             "cache_hit_rate", "rated_helpful", "rated_not_helpful")},
        "local_savings_usd": u["cloud_cost_equivalent"] - u["cost_usd"],
        "tool_calls": calls, "tool_failures": failures,
        "tool_failure_rate": failures / calls if calls else None,
        "api_errors": api_errors,
        "failed_operation_rate": (failures + api_errors) / ops if ops else None,
        "top_models": top_models,
        "top_tools": top_tools,  # the tools report's rows (by calls)
    }


def usage_by_rows(rows, dimension: str, hists: dict | None, between) -> list[dict]:
    """read.usage.usage_by's rows from the grouped sums ``rows`` (mappings; the group under ``key``), the merged
    latency histograms and ``between(value)``: a reader of the stored latencies of the tasks of that value."""
    out = []
    total_cost = 0.0
    for r in rows:
        d = int_fix(usage_dict(r))
        d[dimension] = d.pop("key")
        total_cost += d["cost_usd"]
        if hists is not None:
            d["p95_latency_ms"] = sketch.exact_percentiles(hists.get(d[dimension], {}), (95,),
                                                           between(d[dimension]))[95]
        out.append(d)
    for d in out:
        d["cost_share"] = d["cost_usd"] / total_cost if total_cost else None
    out.sort(key=lambda d: (-d["cost_usd"], -d["tasks"]))
    return out


def session_rows(rows: list[dict], model_map: dict[str, list[str]]) -> list[dict]:
    """read.sessions.sessions' rows from the rows of its query (mappings) and each session's models."""
    from nexus_tui.core.events import iso_from_ms

    for r in rows:
        r["session_id"] = r.pop("id")
        r["models"] = model_map.get(r["session_id"], [])
        r["start_time"] = iso_from_ms(r["start_ms"])
        r["end_time"] = iso_from_ms(r["end_ms"])
        r["cost_usd"] = float(r["cost_usd"] or 0.0)
        for k in ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "total_tokens",
                  "unpriced_tasks", "rated_helpful", "rated_not_helpful", "tool_calls", "tool_errors"):
            r[k] = int(r[k] or 0)
        r["cache_hit_rate"] = cache_hit_rate(r["tokens_in"], r["cache_read_tokens"], r["cache_creation_tokens"])
        if r["avg_latency_ms"] is not None:
            r["avg_latency_ms"] = round(float(r["avg_latency_ms"]), 1)
    return rows


def plan(since_ms: int | None, until_ms: int | None, coarsest: str = "day") -> list[tuple[str, int | None, int | None]]:
    """How to read [since, until) (None = open): disjoint parts ("day" | "hour" | "quarter" | "raw", lo, hi)
    covering the range: whole UTC days from the daily rollups, whole hours at their ends from the hourly ones, whole
    quarter hours from the quarter-hour rollups, the partial quarter hours at the very ends from the raw rows; no
    level coarser than ``coarsest``."""
    parts: list = []
    lo, hi, finer = since_ms, until_ms, "raw"
    for name, size in (_SESSION_LEVELS if coarsest == "sday" else _LEVELS):
        alo = None if lo is None else -(-lo // size) * size
        ahi = None if hi is None else (hi // size) * size
        if alo is not None and ahi is not None and alo >= ahi:
            parts.append((finer, lo, hi))
            return parts
        if lo is not None and lo < alo:
            parts.append((finer, lo, alo))
        if hi is not None and ahi < hi:
            parts.append((finer, ahi, hi))
        lo, hi, finer = alo, ahi, name
        if name == coarsest:
            break
    parts.append((finer, lo, hi))
    return parts


def utc_offset_ms(ms: int, tz: tzinfo) -> int:
    off = datetime.fromtimestamp(ms / 1000, tz).utcoffset()
    return int(off.total_seconds() * 1000) if off is not None else 0


def zone_level(tz: tzinfo, *times: int | None) -> str:
    """The coarsest rollup level whose rows each fall in one local day of ``tz`` at these times: days in UTC,
    hours in whole-hour zones, quarter hours in the few zones with :30/:45 offsets."""
    import time as _time

    offs = [utc_offset_ms(t, tz) for t in ([t for t in times if t is not None] or [int(_time.time() * 1000)])]
    if all(o == 0 for o in offs):
        return "day"
    return "hour" if all(o % H_MS == 0 for o in offs) else "quarter"
