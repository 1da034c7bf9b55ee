"""Headless reports: the dashboard's numbers as text, JSON or CSV. Never imports Textual.

JSON contract: docs/reports.md. Times in JSON are UTC ISO-8601; days follow ``--tz`` (default: local zone).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from nexus_tui.config import Settings
from nexus_tui.core import report as R
from nexus_tui.core.filters import Filters, local_zone, parse_bound

SESSION_FIELDS = ["session_id", "cli_tool", "project", "cwd", "git_branch", "persona", "start_time", "end_time",
                  "duration_ms", "models", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens",
                  "cache_read_tokens", "total_tokens", "cost_usd", "unpriced_tasks", "cache_hit_rate",
                  "avg_latency_ms", "subagents", "tool_calls", "tool_errors", "rated_helpful", "rated_not_helpful"]
MODEL_FIELDS = ["model", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens",
                "total_tokens", "cost_usd", "cost_share", "unpriced_tasks", "cache_hit_rate", "avg_latency_ms",
                "p95_latency_ms", "rated_helpful", "rated_not_helpful"]
TOOL_FIELDS = ["tool", "server", "calls", "failures", "failure_rate", "pending", "avg_ms", "p50_ms", "p95_ms",
               "p99_ms", "max_ms", "waits", "wait_total_ms", "wait_p50_ms", "wait_p95_ms"]
DAILY_FIELDS = ["date", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens",
                "total_tokens", "cost_usd", "unpriced_tasks", "cache_hit_rate", "tool_calls", "tool_failures",
                "models"]


def _err(msg: str) -> None:
    print(f"nexus-insights: {msg}", file=sys.stderr)


def build_filters(since: str | None, until: str | None, project: str | None, tz) -> Filters:
    return Filters(since_ms=parse_bound(since, tz, end=False) if since else None,
                   until_ms=parse_bound(until, tz, end=True) if until else None, project=project or None,
                   range_name="custom" if since or until else "all")


def _unpriced_note(n: int) -> str:
    return (f"\nnote: {n} task(s) use a model with no known price; their cost is not included (unpriced)."
            if n else "")


COST_NOTES = {
    "auto": "costs: auto (the source's own cost where it reports one and the 5m/1h split of cache writes is "
            "unknown, else computed from the tokens)",
    "calculate": "costs: calculate (computed from the tokens and the price tables)",
    "display": "costs: display (as reported by the source; tasks it did not price count as unpriced)",
}
_COSTED = ("summary", "sessions", "models", "daily")


def render(report: str, engine, f: Filters, tz, fmt: str) -> str:
    """The report; the ones with costs say which cost mode they sum (JSON: ``cost_mode`` in the object or in each
    row; text: a last line)."""
    out = _render(report, engine, f, tz, fmt)
    if report not in _COSTED or fmt == "csv":
        return out
    if fmt == "json":
        import orjson

        obj = orjson.loads(out)
        if isinstance(obj, dict):
            obj["cost_mode"] = f.cost_mode
        elif isinstance(obj, list):
            for row in obj:
                if isinstance(row, dict):
                    row["cost_mode"] = f.cost_mode
        if report == "models" and isinstance(obj, list):  # both figures beside the chosen one
            from nexus_tui.store import queries as Q

            for mode, key in (("calculate", "cost_computed_usd"), ("display", "cost_reported_usd")):
                other = {r["model"]: r for r in Q.models(engine, f.with_(cost_mode=mode))}
                for row in obj:
                    o = other.get(row.get("model"))
                    row[key] = None if o is None or o["unpriced_tasks"] == o["tasks"] else o["cost_usd"]
        return R.to_json(obj)
    return out.rstrip("\n") + "\n" + COST_NOTES.get(f.cost_mode, f"costs: {f.cost_mode}")


def _render(report: str, engine, f: Filters, tz, fmt: str) -> str:
    from nexus_tui.store import queries as Q

    if report == "summary":
        s = Q.summary(engine, f)
        if fmt == "json":
            return R.to_json(s)
        if fmt == "csv":
            flat = {k: v for k, v in s.items() if not isinstance(v, (dict, list))}
            flat.update({f"period_{k}": v for k, v in s["period"].items()})
            flat["top_models"] = [m["model"] for m in s["top_models"]]
            flat["top_tools"] = [t["tool"] for t in s["top_tools"]]
            return R.to_csv([flat])
        p = s["period"]
        lines = [
            f"period      {p['since'] or p['first_task'] or '-'} .. {p['until'] or p['last_task'] or '-'}",
            f"sessions    {R.fmt_int(s['sessions'])}",
            f"tasks       {R.fmt_int(s['tasks'])}  ({R.fmt_int(s['unpriced_tasks'])} unpriced)",
            f"tokens      in {R.fmt_int(s['tokens_in'])}  out {R.fmt_int(s['tokens_out'])}  "
            f"cache write {R.fmt_int(s['cache_creation_tokens'])}  cache read {R.fmt_int(s['cache_read_tokens'])}"
            f"  total {R.fmt_int(s['total_tokens'])}",
            f"cost        {R.fmt_usd(s['cost_usd'])}  (cloud equivalent {R.fmt_usd(s['cloud_cost_equivalent'])},"
            f" saved by local routing {R.fmt_usd(s['local_savings_usd'])})",
            f"cache hits  {R.fmt_pct(s['cache_hit_rate'])} of input tokens",
            f"tools       {R.fmt_int(s['tool_calls'])} calls, {R.fmt_int(s['tool_failures'])} failed "
            f"({R.fmt_pct(s['tool_failure_rate'])});  API errors {R.fmt_int(s['api_errors'])};  "
            f"error rate {R.fmt_pct(s['error_rate'])}",
            "", "top models",
            R.table(["model", "tasks", "tokens", "cost", "share"],
                    [[m["model"], R.fmt_int(m["tasks"]), R.fmt_int(m["total_tokens"]), R.fmt_usd(m["cost_usd"]),
                      R.fmt_pct(m["cost_share"])] for m in s["top_models"]]),
            "", "top tools",
            R.table(["tool", "calls", "failures", "rate"],
                    [[t["tool"], R.fmt_int(t["calls"]), R.fmt_int(t["failures"]), R.fmt_pct(t["failure_rate"])]
                     for t in s["top_tools"]]),
        ]
        return "\n".join(lines) + _unpriced_note(s["unpriced_tasks"])
    if report == "sessions":
        rows = Q.sessions(engine, f).rows
        if fmt == "json":
            return R.to_json([{k: r.get(k) for k in SESSION_FIELDS} for r in rows])
        if fmt == "csv":
            return R.to_csv(rows, SESSION_FIELDS)
        start_local = [datetime.fromtimestamp(r["start_ms"] / 1000, tz).strftime("%Y-%m-%d %H:%M") for r in rows]
        body = R.table(["start", "session", "project", "models", "tasks", "in", "out", "cache w", "cache r",
                        "cost", "tools", "errors"],
                       [[st, r["session_id"][:8], (r["project"] or "-")[:24],
                         ",".join(m.replace("claude-", "") for m in r["models"])[:34], R.fmt_int(r["tasks"]),
                         R.fmt_int(r["tokens_in"]), R.fmt_int(r["tokens_out"]),
                         R.fmt_int(r["cache_creation_tokens"]), R.fmt_int(r["cache_read_tokens"]),
                         R.fmt_usd(r["cost_usd"]), R.fmt_int(r["tool_calls"]), R.fmt_int(r["tool_errors"])]
                        for st, r in zip(start_local, rows)], right=set(range(4, 12)))
        return body + f"\n{len(rows)} session(s)" + _unpriced_note(sum(r["unpriced_tasks"] for r in rows))
    if report == "models":
        rows = Q.models(engine, f)
        if fmt == "json":
            return R.to_json([{k: r.get(k) for k in MODEL_FIELDS} for r in rows])
        if fmt == "csv":
            return R.to_csv(rows, MODEL_FIELDS)
        return R.table(["model", "tasks", "in", "out", "cache w", "cache r", "cost", "share", "cache hit",
                        "avg lat", "p95 lat"],
                       [[r["model"], R.fmt_int(r["tasks"]), R.fmt_int(r["tokens_in"]), R.fmt_int(r["tokens_out"]),
                         R.fmt_int(r["cache_creation_tokens"]), R.fmt_int(r["cache_read_tokens"]),
                         R.fmt_usd(r["cost_usd"]) if not r["unpriced_tasks"] else "unpriced",
                         R.fmt_pct(r["cost_share"]), R.fmt_pct(r["cache_hit_rate"]), R.fmt_ms(r["avg_latency_ms"]),
                         R.fmt_ms(r["p95_latency_ms"])] for r in rows]) \
            + _unpriced_note(sum(r["unpriced_tasks"] for r in rows))
    if report == "tools":
        rows = Q.tools_report(engine, f)
        if fmt == "json":
            return R.to_json([{k: r.get(k) for k in TOOL_FIELDS} for r in rows])
        if fmt == "csv":
            return R.to_csv(rows, TOOL_FIELDS)
        # latency columns: execution time; waits for the user (questions, permission prompts) apart
        return R.table(["tool", "server", "calls", "failures", "rate", "p50", "p95", "p99", "max", "waits",
                        "wait p50"],
                       [[r["tool"], r["server"] or "-", R.fmt_int(r["calls"]), R.fmt_int(r["failures"]),
                         R.fmt_pct(r["failure_rate"]), R.fmt_ms(r["p50_ms"]), R.fmt_ms(r["p95_ms"]),
                         R.fmt_ms(r["p99_ms"]), R.fmt_ms(r["max_ms"]), R.fmt_int(r["waits"]),
                         R.fmt_ms(r["wait_p50_ms"])] for r in rows], right=set(range(2, 11)))
    if report == "daily":
        rows = Q.daily(engine, f, tz)
        if fmt == "json":
            return R.to_json([{k: r.get(k) for k in DAILY_FIELDS} for r in rows])
        if fmt == "csv":
            return R.to_csv(rows, DAILY_FIELDS)
        return R.table(["date", "tasks", "in", "out", "cache w", "cache r", "total", "cost", "tools", "failed"],
                       [[r["date"], R.fmt_int(r["tasks"]), R.fmt_int(r["tokens_in"]), R.fmt_int(r["tokens_out"]),
                         R.fmt_int(r["cache_creation_tokens"]), R.fmt_int(r["cache_read_tokens"]),
                         R.fmt_int(r["total_tokens"]), R.fmt_usd(r["cost_usd"]), R.fmt_int(r["tool_calls"]),
                         R.fmt_int(r["tool_failures"])] for r in rows]) \
            + _unpriced_note(sum(r["unpriced_tasks"] for r in rows))
    if report in ("requests", "conversations"):
        from nexus_tui.headless_requests import render_linked

        return render_linked(report, engine, f, tz, fmt)
    if report == "quota":
        from nexus_tui.headless_quota import render_quota

        return render_quota(engine, f, tz, fmt)
    raise ValueError(f"unknown report {report!r}")


def run_headless(settings: Settings, report: str, *, since=None, until=None, project=None, tz=None,
                 fmt: str = "text", collect: bool = True, cost_mode: str | None = None) -> int:
    """Print one report; returns the process exit code (2 for bad arguments or an unusable database)."""
    try:
        zone = local_zone(tz)
    except Exception:
        _err(f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin or UTC)")
        return 2
    try:
        f = build_filters(since, until, project, zone).with_(cost_mode=cost_mode or settings.cost_mode)
    except ValueError as e:
        _err(str(e))
        return 2
    if f.since_ms is not None and f.until_ms is not None and f.since_ms >= f.until_ms:
        _err("--since must be before --until")
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    from nexus_tui.store import StoreError, open_store
    from nexus_tui.store.engine import describe_db_error

    try:
        store = open_store(settings.db_url, read_only_ok=not collect)  # a read-only home still reports
    except StoreError as e:
        _err(str(e))
        return 2
    try:
        if collect:
            from nexus_tui.collect.collector import Collector
            from nexus_tui.collect.registry import build_sources

            col = Collector(store, build_sources(settings))
            try:
                rep = col.run_once()
            finally:
                col.close()
            for p in rep.problems:
                _err(f"ingest: {p} (reporting what is stored)")
            if rep.skipped_total:
                _err(f"ingest: skipped {rep.skipped_total} line(s): "
                     + ", ".join(f"{k}: {v}" for k, v in rep.skipped.most_common()))
        try:
            out = render(report, store.engine, f, zone, fmt)
        except SQLAlchemyError as e:
            _err(describe_db_error(e, settings.db_url))
            return 2
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
        return 0
    finally:
        store.close()


def now_utc_iso() -> str:
    return datetime.now(UTC).isoformat()
