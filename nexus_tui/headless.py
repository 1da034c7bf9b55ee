"""Headless reports: the dashboard's numbers as text, JSON or CSV. Never imports Textual.

JSON contract: docs/reports.md (keys listed there are checked against tests/golden/). Times in JSON are UTC
ISO-8601; days follow ``--tz`` (default: local zone). Every JSON document is an object that starts with
``schema_version`` and ``report``; a list report puts its rows under its own name (``sessions``, ``models``,
``tools``, ``daily``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from nexus_tui.config import Settings, file_changing_tools
from nexus_tui.core import report as R
from nexus_tui.core.filters import Filters, local_zone, parse_bound
from nexus_tui.core.fmt import ellipsis

SCHEMA_VERSION = 2  # 2: documents are objects with schema_version; tool_errors -> tool_failures; error_rate ->
#                      failed_operation_rate; summary.top_models/top_tools rows are models/tools rows

SESSION_FIELDS = ["session_id", "title", "title_source", "machine", "cli_tool", "project", "cwd", "git_branch", "persona", "start_time",
                  "end_time", "duration_ms", "models", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens",
                  "cache_read_tokens", "total_tokens", "cost_usd", "unpriced_tasks", "cache_hit_rate",
                  "avg_latency_ms", "subagents", "tool_calls", "tool_failures", "rated_helpful", "rated_not_helpful",
                  "tokens_per_minute"]
MODEL_FIELDS = ["model", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens",
                "total_tokens", "cost_usd", "cost_share", "unpriced_tasks", "cache_hit_rate", "avg_latency_ms",
                "p95_latency_ms", "rated_helpful", "rated_not_helpful", "cost_computed_usd", "cost_reported_usd"]
TOOL_FIELDS = ["tool", "server", "calls", "failures", "failure_rate", "pending", "avg_ms", "p50_ms", "p95_ms",
               "p99_ms", "max_ms", "waits", "wait_total_ms", "wait_p50_ms", "wait_p95_ms"]
PERIOD_SUMS = ["tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "total_tokens",
               "cost_usd", "unpriced_tasks", "cache_hit_rate", "tool_calls", "tool_failures", "models"]
DAILY_FIELDS = ["date", *PERIOD_SUMS]
PERIOD_REPORTS = {"daily": "date", "weekly": "week", "monthly": "month"}  # report -> the key of its rows
BREAKDOWN_FIELDS = ["model", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens",
                    "total_tokens", "cost_usd", "unpriced_tasks", "cache_hit_rate"]
PROJECT_SUMS = ["sessions", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens",
                "total_tokens", "cost_usd", "unpriced_tasks", "cache_hit_rate", "tool_calls", "tool_failures",
                "tool_failure_rate", "first_task", "last_task"]
PROJECT_FIELDS = ["project", "groups", *PROJECT_SUMS]
GROUP_FIELDS = ["group", "members", *PROJECT_SUMS]
SUMMARY_FIELDS = ["period", "sessions", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens",
                  "cache_read_tokens", "total_tokens", "cost_usd", "cloud_cost_equivalent", "local_savings_usd",
                  "unpriced_tasks", "cache_hit_rate", "rated_helpful", "rated_not_helpful", "tool_calls",
                  "tool_failures", "tool_failure_rate", "api_errors", "failed_operation_rate", "top_models",
                  "top_tools"]
PERIOD_FIELDS = ["since", "until", "first_task", "last_task"]
EFFICIENCY_FIELDS = ["session_id", "project", "cli_tool", "start_time", "tasks", "total_tokens", "cost_usd",
                     "file_changes", "not_counted", "useful_changes", "tokens_per_change", "cost_per_change_usd",
                     "lines_added", "lines_removed", "lines_per_usd", "lines_per_mtok"]
EFFICIENCY_TOTAL_FIELDS = ["sessions", "sessions_without_change", "tasks", "total_tokens", "cost_usd",
                           "file_changes", "not_counted", "useful_changes", "tokens_per_change",
                           "cost_per_change_usd", "line_sessions", "lines_added", "lines_removed",
                           "line_sessions_tokens", "line_sessions_cost_usd", "lines_per_usd", "lines_per_mtok"]


def _err(msg: str) -> None:
    print(f"nexus-insights: {R.one_line(msg)}", file=sys.stderr)


def build_filters(since: str | None, until: str | None, project: str | None, tz) -> Filters:
    return Filters(since_ms=parse_bound(since, tz, end=False) if since else None,
                   until_ms=parse_bound(until, tz, end=True) if until else None, project=project or None,
                   range_name="custom" if since or until else "all")


def _unpriced_note(n: int) -> str:
    return (f"\nnote: {R.plural(n, 'task')} {'uses' if n == 1 else 'use'} a model with no known price; "
            "their cost is not included (unpriced)." if n else "")


def _pick(row: dict, fields: list[str]) -> dict:
    return {k: row.get(k) for k in fields}


COST_NOTES = {
    "auto": "costs: auto (the source's own cost where it reports one and the 5m/1h split of cache writes is "
            "unknown, else computed from the tokens)",
    "calculate": "costs: calculate (computed from the tokens and the price tables)",
    "display": "costs: display (as reported by the source; tasks it did not price count as unpriced)",
}
# the reports that sum costs say which cost mode they sum
COSTED = ("summary", "sessions", "models", "daily", "weekly", "monthly", "projects", "efficiency")


def _doc(report: str, body: dict, cost_mode: str | None = None) -> dict:
    head = {"schema_version": SCHEMA_VERSION, "report": report}
    if report in COSTED:
        head["cost_mode"] = cost_mode or "auto"
    return {**head, **body}


def _models_rows(engine, f: Filters) -> list[dict]:
    """The models report's rows, with the computed and the source-reported cost beside the chosen one; ``engine``:
    a SQLAlchemy engine or a store.lite_read.LiteReader."""
    if getattr(engine, "lite", False):
        models = engine.models
    else:
        from nexus_tui.store.read import usage as RU

        def models(f):
            return RU.models(engine, f)
    rows = models(f)
    for mode, key in (("calculate", "cost_computed_usd"), ("display", "cost_reported_usd")):
        other = {r["model"]: r for r in models(f.with_(cost_mode=mode))}
        for row in rows:
            o = other.get(row.get("model"))
            row[key] = None if o is None or o["unpriced_tasks"] == o["tasks"] else o["cost_usd"]
    return rows


def _session_row(r: dict) -> dict:
    r = dict(r)
    r["tool_failures"] = r.pop("tool_errors", 0)
    return r


def summary_doc(engine, f: Filters) -> dict:
    if getattr(engine, "lite", False):  # store/lite_read.py
        s = engine.summary(f)
    else:
        from nexus_tui.store.read import usage as RU

        s = RU.summary(engine, f)
    s["period"] = _pick(s["period"], PERIOD_FIELDS)
    s["top_models"] = [_pick(m, MODEL_FIELDS) for m in _models_rows(engine, f)[:len(s["top_models"])]]
    s["top_tools"] = [_pick(t, TOOL_FIELDS) for t in s["top_tools"]]
    return _doc("summary", _pick(s, SUMMARY_FIELDS), f.cost_mode)


def _r4(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _efficiency_row(d: dict) -> dict:
    """One session of the efficiency report: the Efficiency screen's numbers (core.scoring)."""
    from nexus_tui.core.scoring import efficiency, line_rates

    e = efficiency(d["tokens"], d["cost"], d["ch_helpful"], d["ch_unrated"], d["ch_not_helpful"], d["helpful"],
                   d["not_helpful"])
    lr = line_rates(d.get("lines_added"), d.get("lines_removed"), d["cost"], d["tokens"])
    start = datetime.fromtimestamp(d["start_ms"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") \
        if d.get("start_ms") is not None else None
    return {"session_id": d["sid"], "project": d.get("project"), "cli_tool": d.get("cli_tool"), "start_time": start,
            "tasks": d.get("tasks"), "total_tokens": e.tokens, "cost_usd": e.cost, "file_changes": e.changes,
            "not_counted": e.discounted, "useful_changes": _r4(e.useful),
            "tokens_per_change": _r4(e.tokens_per_change), "cost_per_change_usd": e.cost_per_change,
            "lines_added": d.get("lines_added"), "lines_removed": d.get("lines_removed"),
            "lines_per_usd": _r4(lr.per_usd), "lines_per_mtok": _r4(lr.per_mtok)}


def efficiency_doc(engine, f: Filters, extra: tuple[str, ...] = ()) -> dict:
    """The Efficiency screen as a report: the range's totals and every session, least efficient first (most tokens
    per useful change), then the sessions without a useful change (most tokens first)."""
    from nexus_tui.core.scoring import efficiency, line_rates
    from nexus_tui.store.read import efficiency as A

    t = A.efficiency_totals(engine, f, extra)
    e = efficiency(t["tokens"], t["cost"], t["ch_helpful"], t["ch_unrated"], t["ch_not_helpful"], t["helpful"],
                   t["not_helpful"])
    lr = line_rates(t["lines_added"], t["lines_removed"], t["lines_cost"], t["lines_tokens"])
    totals = {"sessions": t["sessions"], "sessions_without_change": t["no_change_sessions"], "tasks": t["tasks"],
              "total_tokens": e.tokens, "cost_usd": e.cost, "file_changes": e.changes, "not_counted": e.discounted,
              "useful_changes": _r4(e.useful), "tokens_per_change": _r4(e.tokens_per_change),
              "cost_per_change_usd": e.cost_per_change, "line_sessions": t["lines_sessions"],
              "lines_added": t["lines_added"], "lines_removed": t["lines_removed"],
              "line_sessions_tokens": t["lines_tokens"], "line_sessions_cost_usd": t["lines_cost"],
              "lines_per_usd": _r4(lr.per_usd), "lines_per_mtok": _r4(lr.per_mtok)}
    rows = [_efficiency_row(d) for zero in (False, True)
            for d in A.efficiency_sessions(engine, f, extra, limit=None, without_changes=zero)]
    return _doc("efficiency", {"totals": totals, "efficiency": rows}, f.cost_mode)


def _efficiency_text(d: dict) -> str:
    t, rows = d["totals"], d["efficiency"]

    def rate(x, digits=1):
        return "-" if x is None else f"{x:,.{digits}f}"

    cpc = R.usd_column([t["cost_per_change_usd"]])[0]
    lines = [
        f"sessions        {R.fmt_int(t['sessions'])}  ({R.fmt_int(t['sessions_without_change'])} without a useful "
        "change)",
        f"useful changes  {rate(t['useful_changes'], 0)} of {R.plural(t['file_changes'], 'file change')} "
        f"({R.fmt_int(t['not_counted'])} in tasks rated not helpful)",
        f"tokens/change   {rate(t['tokens_per_change'], 0)}  cost/change {cpc}",
        "lines changed   " + (f"{R.fmt_int(t['lines_added'] + t['lines_removed'])} (+{R.fmt_int(t['lines_added'])} "
                              f"-{R.fmt_int(t['lines_removed'])}) in {R.plural(t['line_sessions'], 'session')} "
                              f"reported by the status line: {rate(t['lines_per_usd'])} per $, "
                              f"{rate(t['lines_per_mtok'])} per million tokens"
                              if t["line_sessions"] else "unknown (no session reported by the status line)"),
        "",
        R.table(["session", "project", "tokens", "cost", "useful", "tokens/change", "cost/change", "lines",
                 "lines/$", "lines/Mtok"],
                [[r["session_id"][:13], (r["project"] or "-")[:24], R.fmt_int(r["total_tokens"]), c,
                  rate(r["useful_changes"], 0), rate(r["tokens_per_change"], 0), cc,
                  "-" if r["lines_added"] is None and r["lines_removed"] is None
                  else R.fmt_int((r["lines_added"] or 0) + (r["lines_removed"] or 0)),
                  rate(r["lines_per_usd"]), rate(r["lines_per_mtok"])]
                 for r, c, cc in zip(rows, R.usd_column(r["cost_usd"] for r in rows),
                                     R.usd_column(r["cost_per_change_usd"] for r in rows))],
                right=set(range(2, 10))),
        R.plural(len(rows), "session"),
    ]
    return "\n".join(lines)


def rows_of(report: str, engine, f: Filters, tz) -> tuple[list[dict], list[str]]:
    """The rows of a list report as the JSON/CSV show them, and their fields in order."""
    if report == "models":
        return [_pick(r, MODEL_FIELDS) for r in _models_rows(engine, f)], MODEL_FIELDS
    if report == "tools" and getattr(engine, "lite", False):  # store/lite_read.py
        return [_pick(r, TOOL_FIELDS) for r in engine.tools_report(f)], TOOL_FIELDS
    if report == "sessions":
        from nexus_tui.store.title_rows import fallback

        if getattr(engine, "lite", False):  # store/lite_read.py
            rows = engine.sessions(f)
            named = engine.titles([r["session_id"] for r in rows]) if rows else {}
        else:
            from nexus_tui.store.read import sessions as RS
            from nexus_tui.store.titles import titles

            rows = RS.sessions(engine, f).rows
            with engine.connect() as conn:
                named = titles(conn, [r["session_id"] for r in rows]) if rows else {}
        for r in rows:  # the session's title line, else its project and start time (title_source null)
            r["title"], r["title_source"] = named.get(r["session_id"]) or (
                fallback(r["project"] or r["cwd"], r["start_ms"], tz), None)
            # the session's burn rate: its tokens over its span (null under a minute: too short to mean a rate)
            dur = r.get("duration_ms") or 0
            r["tokens_per_minute"] = round(r["total_tokens"] / (dur / 60_000), 1) if dur >= 60_000 else None
        return [_pick(_session_row(r), SESSION_FIELDS) for r in rows], SESSION_FIELDS
    from nexus_tui.store.read import tools as RT
    from nexus_tui.store.read import usage as RU

    if report == "tools":
        return [_pick(r, TOOL_FIELDS) for r in RT.tools_report(engine, f)], TOOL_FIELDS
    if report == "daily":
        return [_pick(r, DAILY_FIELDS) for r in RU.daily(engine, f, tz)], DAILY_FIELDS
    raise ValueError(f"unknown report {report!r}")


_clip = ellipsis


def _local(iso: str | None, tz, end: bool = False) -> str:
    """A JSON time as local wall-clock time in ``tz``; ``end``: an exclusive end shown as its last minute."""
    if not iso:
        return "-"
    t = datetime.fromisoformat(iso).astimezone(tz)
    return (t - timedelta(milliseconds=1) if end else t).strftime("%Y-%m-%d %H:%M")


def _summary_text(d: dict, tz) -> str:
    p = d["period"]
    top_m, top_t = d["top_models"], d["top_tools"]
    since = _local(p["since"], tz) if p["since"] else _local(p["first_task"], tz)
    until = _local(p["until"], tz, end=True) if p["until"] else _local(p["last_task"], tz)
    lines = [
        f"period          {since} .. {until} ({getattr(tz, 'key', None) or datetime.now(tz).tzname()})",
        f"sessions        {R.fmt_int(d['sessions'])}",
        f"tasks           {R.fmt_int(d['tasks'])}  ({R.fmt_int(d['unpriced_tasks'])} unpriced)",
        f"tokens          in {R.fmt_int(d['tokens_in'])}  out {R.fmt_int(d['tokens_out'])}  "
        f"cache write {R.fmt_int(d['cache_creation_tokens'])}  cache read {R.fmt_int(d['cache_read_tokens'])}"
        f"  total {R.fmt_int(d['total_tokens'])}",
        "cost            {}  (cloud equivalent {}, saved by local routing {})".format(
            *R.usd_column([d["cost_usd"], d["cloud_cost_equivalent"], d["local_savings_usd"]])),
        f"cache hits      {R.fmt_pct(d['cache_hit_rate'])} of input tokens",
        f"tool calls      {R.fmt_int(d['tool_calls'])}, {R.plural(d['tool_failures'], 'tool failure')} "
        f"({R.fmt_pct(d['tool_failure_rate'])})",
        f"API errors      {R.fmt_int(d['api_errors'])}",
        f"failed ops      {R.fmt_pct(d['failed_operation_rate'])}  (tool failures + API errors) / (tool calls + "
        "tasks + API errors)",
        "", "top models",
        R.table(["model", "tasks", "tokens", "cost", "share"],
                [[m["model"], R.fmt_int(m["tasks"]), R.fmt_int(m["total_tokens"]),
                  c if not m["unpriced_tasks"] else "unpriced", R.fmt_pct(m["cost_share"])]
                 for m, c in zip(top_m, R.usd_column(m["cost_usd"] for m in top_m))]),
        "", "top tools",
        R.table(["tool", "calls", "failures", "rate"],
                [[t["tool"], R.fmt_int(t["calls"]), R.fmt_int(t["failures"]), R.fmt_pct(t["failure_rate"])]
                 for t in top_t]),
    ]
    return "\n".join(lines) + _unpriced_note(d["unpriced_tasks"])


def _text(report: str, rows: list[dict], tz) -> str:
    unpriced = _unpriced_note(sum(r.get("unpriced_tasks") or 0 for r in rows))
    if report == "sessions":
        start = [datetime.fromisoformat(r["start_time"]).astimezone(tz).strftime("%Y-%m-%d %H:%M")
                 if r["start_time"] else "-" for r in rows]
        body = R.table(["start", "session", "title", "project", "models", "duration", "tasks", "in", "out", "cache w",
                        "cache r", "cost", "tool calls", "failed", "tok/min"],
                       [[st, r["session_id"][:8], _clip(R.strip_controls(r["title"]), 40), (r["project"] or "-")[:24],
                         ",".join(m.replace("claude-", "") for m in r["models"])[:34], R.fmt_ms(r["duration_ms"]),
                         R.fmt_int(r["tasks"]), R.fmt_int(r["tokens_in"]), R.fmt_int(r["tokens_out"]),
                         R.fmt_int(r["cache_creation_tokens"]), R.fmt_int(r["cache_read_tokens"]), c,
                         R.fmt_int(r["tool_calls"]), R.fmt_int(r["tool_failures"]),
                         R.fmt_int(r["tokens_per_minute"])]
                        for st, r, c in zip(start, rows, R.usd_column(r["cost_usd"] for r in rows))],
                       right=set(range(5, 15)))
        return body + f"\n{R.plural(len(rows), 'session')}" + unpriced
    if report == "models":
        costs = R.usd_column(r["cost_usd"] for r in rows)
        return R.table(["model", "tasks", "in", "out", "cache w", "cache r", "cost", "share", "cache hit",
                        "avg lat", "p95 lat"],
                       [[r["model"], R.fmt_int(r["tasks"]), R.fmt_int(r["tokens_in"]), R.fmt_int(r["tokens_out"]),
                         R.fmt_int(r["cache_creation_tokens"]), R.fmt_int(r["cache_read_tokens"]),
                         c if not r["unpriced_tasks"] else "unpriced",
                         R.fmt_pct(r["cost_share"]), R.fmt_pct(r["cache_hit_rate"]), R.fmt_ms(r["avg_latency_ms"]),
                         R.fmt_ms(r["p95_latency_ms"])] for r, c in zip(rows, costs)]) + unpriced
    if report == "tools":
        # latency columns: execution time; waits for the user (questions, permission prompts) apart
        return R.table(["tool", "server", "calls", "failures", "rate", "p50", "p95", "p99", "max", "waits",
                        "wait p50"],
                       [[r["tool"], r["server"] or "-", R.fmt_int(r["calls"]), R.fmt_int(r["failures"]),
                         R.fmt_pct(r["failure_rate"]), R.fmt_ms(r["p50_ms"]), R.fmt_ms(r["p95_ms"]),
                         R.fmt_ms(r["p99_ms"]), R.fmt_ms(r["max_ms"]), R.fmt_int(r["waits"]),
                         R.fmt_ms(r["wait_p50_ms"])] for r in rows], right=set(range(2, 11)))
    if report == "daily":
        return R.table(["date", "tasks", "in", "out", "cache w", "cache r", "total", "cost", "tool calls",
                        "failed"],
                       [[r["date"], R.fmt_int(r["tasks"]), R.fmt_int(r["tokens_in"]), R.fmt_int(r["tokens_out"]),
                         R.fmt_int(r["cache_creation_tokens"]), R.fmt_int(r["cache_read_tokens"]),
                         R.fmt_int(r["total_tokens"]), c, R.fmt_int(r["tool_calls"]),
                         R.fmt_int(r["tool_failures"])]
                        for r, c in zip(rows, R.usd_column(r["cost_usd"] for r in rows))]) + unpriced
    raise ValueError(f"unknown report {report!r}")


def render(report: str, engine, f: Filters, tz, fmt: str, opts: dict | None = None,
           extra: tuple[str, ...] = (), periods=None) -> str:
    """The report; the ones with costs say which cost mode they sum (JSON: ``cost_mode``; text: a last line).
    ``opts``: the errors and audit reports' own options (session, component, kind, tool, search); ``extra``: more
    file-changing tool names for the efficiency report ([efficiency] file_changing_tools); ``periods``:
    headless_periods.Options (--breakdown, --order, the project groups) for daily/weekly/monthly/projects."""
    if report in ("errors", "audit"):
        from nexus_tui.headless_audit import render_audit, render_errors
        from nexus_tui.store.errors import ErrorQuery

        o = opts or {}
        if report == "errors":
            out, body = render_errors(engine, f, tz, fmt, ErrorQuery(**{k: o.get(k) or None for k in (
                "session_id", "component", "kind", "tool", "search")}))
        else:
            out, body = render_audit(engine, o.get("session_id"), tz, fmt)
        return R.to_json(_doc(report, body)) if fmt == "json" else out
    if report in ("requests", "conversations"):
        from nexus_tui.headless_requests import render_linked

        out = render_linked(report, engine, f, tz, fmt)
        if fmt == "json":  # the same document head as every report, its rows under its name
            import orjson

            out = R.to_json(_doc(report, {report: orjson.loads(out)}))
        return out
    if report == "quota":
        from nexus_tui.headless_quota import render_quota

        out = render_quota(engine, f, tz, fmt)
        if fmt == "json":  # the same document head as every report
            import orjson

            out = R.to_json({"schema_version": SCHEMA_VERSION, "report": "quota", **orjson.loads(out)})
        return out
    if report == "efficiency":
        d = efficiency_doc(engine, f, extra)
        out = R.to_json(d) if fmt == "json" else (R.to_csv(d["efficiency"], EFFICIENCY_FIELDS) if fmt == "csv"
                                                   else _efficiency_text(d))
    elif report in PERIOD_REPORTS or report == "projects":
        from nexus_tui.headless_periods import Options, render_period, render_projects

        periods = periods or Options()
        out = (render_projects(engine, f, tz, fmt, periods) if report == "projects"
               else render_period(report, engine, f, tz, fmt, periods))
    else:
        out = _render(report, engine, f, tz, fmt)
    if fmt == "text" and report in COSTED:
        out = out.rstrip("\n") + "\n" + COST_NOTES.get(f.cost_mode, f"costs: {f.cost_mode}")
    return out


def _render(report: str, engine, f: Filters, tz, fmt: str) -> str:
    if report == "summary":
        d = summary_doc(engine, f)
        if fmt == "json":
            return R.to_json(d)
        if fmt == "csv":  # one row in the JSON's order: period_<field>, and the top models' and tools' names
            flat: dict = {}
            for k, v in d.items():
                if k == "period":
                    flat.update({f"period_{pk}": pv for pk, pv in v.items()})
                elif k in ("top_models", "top_tools"):
                    flat[k] = [x["model" if k == "top_models" else "tool"] for x in v]
                else:
                    flat[k] = v
            return R.to_csv([flat])
        return _summary_text(d, tz)
    rows, fields = rows_of(report, engine, f, tz)
    if fmt == "json":
        return R.to_json(_doc(report, {report: rows}, f.cost_mode))
    if fmt == "csv":
        return R.to_csv(rows, fields)
    return _text(report, rows, tz)


def run_headless(settings: Settings, report: str, *, since=None, until=None, project=None, tz=None,
                 fmt: str = "text", collect: bool = True, cost_mode: str | None = None,
                 machine: str | None = None, opts: dict | None = None, breakdown: bool = False, order: str = "asc",
                 output: str | None = None) -> int:
    """Print one report (``tasks``: export every task to ``output`` or stdout); returns the process exit code (2 for
    bad arguments or an unusable database)."""
    if breakdown and report not in PERIOD_REPORTS:
        _err("--breakdown is for the daily, weekly and monthly reports")
        return 2
    if report == "tasks" and fmt not in ("csv", "parquet"):
        _err("--headless tasks exports every task: use --format csv or --format parquet (with --output FILE)")
        return 2
    if fmt == "parquet" and report != "tasks":
        _err("--format parquet is for --headless tasks")
        return 2
    if fmt == "parquet" and not output:
        _err("--format parquet needs --output FILE")
        return 2
    if output and report != "tasks":
        _err("--output is for --headless tasks")
        return 2
    try:
        zone = local_zone(tz)
    except Exception:
        _err(f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin or UTC)")
        return 2
    try:
        from nexus_tui.core.filters import with_project_groups

        f = with_project_groups(build_filters(since, until, project, zone).with_(
            cost_mode=cost_mode or settings.cost_mode, machine=machine or None), settings.project_groups)
    except ValueError as e:
        _err(str(e))
        return 2
    if f.since_ms is not None and f.until_ms is not None and f.since_ms >= f.until_ms:
        _err("--since must be before --until")
        return 2
    sources = ahead = None
    if report in LITE_REPORTS and fmt in ("json", "csv", "text"):
        if collect:
            from nexus_tui.collect.registry import build_sources

            sources = build_sources(settings)
        done, ahead = _run_lite(settings, report, f, zone, fmt, collect, sources, breakdown, order)
        if done is not None:
            return done
    try:
        return _run_store(settings, report, f, zone, fmt, collect, opts, breakdown, order, output, sources, ahead)
    finally:
        if ahead is not None:
            ahead.close()


# the reports store/lite_read.py can read (the others, and any read it does not hold, take the store's path)
LITE_REPORTS = ("daily", "weekly", "monthly", "models", "tools", "summary", "sessions")


def _run_lite(settings: Settings, report: str, f: Filters, zone, fmt: str, collect: bool, sources, breakdown: bool,
              order: str):
    """The report without SQLAlchemy (store/lite_read.py), after the collector's pass when it is a light one
    (collect/light.py): (exit code, None), or (None, the pass planned so far) when the store's path must take over
    (a pass that is not light, a database or a read the light path does not hold)."""
    import sqlite3

    from nexus_tui.store.engine import sqlite_file
    from nexus_tui.store.lite_read import LiteReader, Unsupported, covered

    path = sqlite_file(settings.db_url)
    if path is None or not covered(f):
        return None, None
    if collect:
        from nexus_tui.collect import parsing, price_cache
        from nexus_tui.collect.light import small_pass
        from nexus_tui.machine import identity

        try:
            machine, machine_name = identity(settings)
        except ValueError:
            return None, None  # told by the store's path
        price_cache.load(settings.home)  # a few new lines are priced without genai-prices' tables
        ahead = parsing.start(settings.db_url, sources, machine=machine)
        if not ahead.nothing_to_read(settings.db_url, sources):
            light = small_pass(settings.db_url, ahead, sources, machine, machine_name)
            if light is None:
                return None, ahead  # the store's collector continues the pass planned here
            price_cache.save(settings.home)
            if light.skipped:
                _skipped_note(light.skipped)
        ahead.close()
    reader = LiteReader.open(path)
    if reader is None:
        return None, None
    try:
        periods = None
        if report in PERIOD_REPORTS:
            from nexus_tui.headless_periods import Options

            periods = Options(breakdown=breakdown, order=order, groups=settings.project_groups)
        out = render(report, reader, f, zone, fmt, periods=periods)
    except (Unsupported, sqlite3.Error):
        return None, None
    finally:
        reader.close()
    if fmt == "text":
        out = R.safe_text(out)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0, None


def _skipped_note(skipped) -> None:
    _err(f"ingest: {R.plural(sum(skipped.values()), 'skipped line')} ("
         + ", ".join(f"{k}: {v}" for k, v in skipped.most_common()) + ")")


def _run_store(settings: Settings, report: str, f: Filters, zone, fmt: str, collect: bool, opts, breakdown: bool,
               order: str, output, sources, ahead) -> int:
    """The report through the store (SQLAlchemy), after a collector pass (``ahead``: the pass planned already)."""
    from sqlalchemy.exc import SQLAlchemyError

    from nexus_tui.store import StoreError, open_store
    from nexus_tui.store.engine import describe_db_error

    try:
        from nexus_tui.machine import identity

        store = open_store(settings.db_url, read_only_ok=not collect,  # a read-only home still reports
                           machine=identity(settings) if collect else None)
    except (StoreError, ValueError) as e:
        _err(str(e))
        return 2
    try:
        if collect:
            from nexus_tui.collect import progress
            from nexus_tui.collect.collector import Collector
            from nexus_tui.collect.registry import build_sources

            col = Collector(store, sources if sources is not None else build_sources(settings))
            stop_progress = progress.on_terminal(col, sys.stderr)
            try:
                rep = col.run_once(ahead)
            finally:
                if stop_progress is not None:
                    stop_progress()
                col.close()
            for p in rep.problems:
                _err(f"ingest problem: {p} (reporting what is stored)")
            if rep.skipped_total:
                _skipped_note(rep.skipped)
        from nexus_tui.headless_audit import ReportArgumentError

        try:
            if report == "tasks":
                from nexus_tui.export import export_tasks

                return export_tasks(store.engine, f, fmt, output)
            from nexus_tui.headless_periods import Options

            out = render(report, store.engine, f, zone, fmt, opts, extra=file_changing_tools(settings),
                         periods=Options(breakdown=breakdown, order=order, groups=settings.project_groups))
        except SQLAlchemyError as e:
            _err(describe_db_error(e, settings.db_url))
            return 2
        except ReportArgumentError as e:
            _err(str(e))
            return 2
        if fmt == "text":
            out = R.safe_text(out)
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
        return 0
    finally:
        store.close()


def now_utc_iso() -> str:
    return datetime.now(UTC).isoformat()
