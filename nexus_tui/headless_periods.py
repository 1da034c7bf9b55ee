"""The period reports (daily, weekly, monthly; ``--breakdown`` per model, ``--order``, totals) and the projects
report, as JSON, CSV and text (docs/reports.md). Never imports Textual."""

from __future__ import annotations

from dataclasses import dataclass, field

from nexus_tui.core import report as R
from nexus_tui.core.filters import Filters

PERIOD_KEYS = {"daily": "date", "weekly": "week", "monthly": "month"}


@dataclass(frozen=True)
class Options:
    breakdown: bool = False  # per model inside each period
    order: str = "asc"  # asc | desc: the periods' order
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # [projects] groups


def _pick(row: dict, fields) -> dict:
    return {k: row.get(k) for k in fields}


def period_doc(report: str, engine, f: Filters, tz, opts: Options) -> tuple[list[dict], dict]:
    """(the rows as JSON shows them, the totals) of daily/weekly/monthly; ``engine``: a SQLAlchemy engine, or a
    store.lite_read.LiteReader."""
    from nexus_tui.headless import BREAKDOWN_FIELDS, PERIOD_SUMS
    from nexus_tui.store.period_rows import totals

    key = PERIOD_KEYS[report]
    if getattr(engine, "lite", False):  # store/lite_read.py: the same statements through sqlite3
        rows = engine.periods(f, tz, key)
    else:
        from nexus_tui.store.periods import periods

        rows = periods(engine, f, tz, key)
    tot = totals(rows)
    tot["models"] = sorted({m for r in rows for m in r["models"]})
    out = []
    for r in rows:
        d = _pick(r, [key, *PERIOD_SUMS])
        if opts.breakdown:
            d["breakdown"] = [_pick(m, BREAKDOWN_FIELDS) for m in r["by_model"]]
        out.append(d)
    if opts.order == "desc":
        out.reverse()
    return out, _pick(tot, PERIOD_SUMS)


def render_period(report: str, engine, f: Filters, tz, fmt: str, opts: Options) -> str:
    from nexus_tui.headless import BREAKDOWN_FIELDS, _doc, _unpriced_note

    key = PERIOD_KEYS[report]
    rows, tot = period_doc(report, engine, f, tz, opts)
    if fmt == "json":
        return R.to_json(_doc(report, {report: rows, "totals": tot}, f.cost_mode))
    if fmt == "csv":
        if opts.breakdown:  # long form: one row per period and model, then the totals row
            flat = [{key: r[key], **m} for r in rows for m in r["breakdown"]]
            flat.append({key: "total", **{k: tot.get(k) for k in BREAKDOWN_FIELDS if k != "model"}})
            return R.to_csv(flat, [key, *BREAKDOWN_FIELDS])
        from nexus_tui.headless import PERIOD_SUMS

        return R.to_csv([*rows, {key: "total", **tot}], [key, *PERIOD_SUMS])
    lines, costs = [], R.usd_column([*(r["cost_usd"] for r in rows), tot["cost_usd"],
                                     *(m["cost_usd"] for r in rows for m in r.get("breakdown", []))])
    n = len(rows)
    model_costs = iter(costs[n + 1:])

    def cells(label, r, c, tools=True):
        return [label, R.fmt_int(r["tasks"]), R.fmt_int(r["tokens_in"]), R.fmt_int(r["tokens_out"]),
                R.fmt_int(r["cache_creation_tokens"]), R.fmt_int(r["cache_read_tokens"]),
                R.fmt_int(r["total_tokens"]), c,
                R.fmt_int(r["tool_calls"]) if tools else "", R.fmt_int(r["tool_failures"]) if tools else ""]
    for r, c in zip(rows, costs[:n]):
        lines.append(cells(r[key], r, c))
        for m in r.get("breakdown", []):
            lines.append(cells(f"  {m['model'] or '-'}", m, next(model_costs), tools=False))
    head = [key, "tasks", "in", "out", "cache w", "cache r", "total", "cost", "tool calls", "failed"]
    body = R.table(head, [*lines, cells("total", tot, costs[n])])
    body = _rule_before_last(body)
    return body + _unpriced_note(tot["unpriced_tasks"])


def _rule_before_last(table: str) -> str:
    """A dashed line between the rows and the totals row (the table's second line repeated)."""
    ls = table.split("\n")
    return "\n".join([*ls[:-1], ls[1], ls[-1]])


def projects_doc(engine, f: Filters, opts: Options) -> dict:
    from nexus_tui.headless import GROUP_FIELDS, PROJECT_FIELDS, PROJECT_SUMS
    from nexus_tui.store.projects import projects

    rows, groups = projects(engine, f, opts.groups)
    tot = {k: sum(r[k] for r in rows) for k in PROJECT_SUMS
           if k not in ("cache_hit_rate", "tool_failure_rate", "first_task", "last_task")}
    from nexus_tui.store.projects import _finish

    firsts = [r["first_task"] for r in rows if r["first_task"]]
    lasts = [r["last_task"] for r in rows if r["last_task"]]
    tot = _finish({**tot, "first_ms": None, "last_ms": None})
    tot["first_task"], tot["last_task"] = (min(firsts) if firsts else None), (max(lasts) if lasts else None)
    return {"projects": [_pick(r, PROJECT_FIELDS) for r in rows], "groups": [_pick(g, GROUP_FIELDS) for g in groups],
            "totals": _pick(tot, PROJECT_SUMS)}


def render_projects(engine, f: Filters, tz, fmt: str, opts: Options) -> str:
    from nexus_tui.headless import PROJECT_FIELDS, _doc, _unpriced_note

    d = projects_doc(engine, f, opts)
    if fmt == "json":
        return R.to_json(_doc("projects", d, f.cost_mode))
    rows, tot = d["projects"], d["totals"]
    if fmt == "csv":  # the project rows and a totals row (the groups: JSON and text)
        return R.to_csv([*rows, {"project": "total", **tot}], PROJECT_FIELDS)

    def table(rows, name, tot=None):
        all_rows = [*rows, *([tot] if tot else [])]
        costs = R.usd_column(r["cost_usd"] for r in all_rows)
        out = R.table([name, "sessions", "tasks", "tokens", "cost", "cache hit", "tool calls", "failed", "last task"],
                      [[r.get(name) or "total", R.fmt_int(r["sessions"]), R.fmt_int(r["tasks"]),
                        R.fmt_int(r["total_tokens"]), c, R.fmt_pct(r["cache_hit_rate"]), R.fmt_int(r["tool_calls"]),
                        R.fmt_int(r["tool_failures"]), _day(r["last_task"], tz)] for r, c in zip(all_rows, costs)])
        return _rule_before_last(out) if tot else out
    text = table(rows, "project", {**tot, "project": None})
    if d["groups"]:
        text += "\n\nproject groups ([projects] groups in insights.toml)\n" + table(d["groups"], "group")
    return text + _unpriced_note(tot["unpriced_tasks"])


def _day(iso: str | None, tz) -> str:
    from datetime import datetime

    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d") if iso else "-"
