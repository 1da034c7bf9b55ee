"""``--headless quota``: the quota windows (status line and proxy snapshots) as text, JSON or CSV (docs/quota.md).
Never imports Textual."""

from __future__ import annotations

import time
from datetime import datetime

from nexus_tui.core import quota as CQ
from nexus_tui.core import report as R

WINDOW_FIELDS = ["window", "account", "source", "used_percentage", "resets_at", "observed_at", "pace",
                 "projected_percentage", "elapsed_percentage", "full_at", "will_hit_limit", "current",
                 "window_start", "tasks", "tokens", "cost_usd", "tokens_per_pct", "cost_per_pct_usd", "models"]
PAST_FIELDS = ["window", "account", "start", "end", "snapshots", "peak_percentage", "limit_hit", "tasks", "tokens",
               "cost_usd", "tokens_per_pct", "cost_per_pct_usd"]
BLOCK_FIELDS = ["start", "end", "first_task", "last_task", "active", "tasks", "tokens", "cost_usd", "models"]
CSV_FIELDS = ["kind", "window", "account", "source", "start", "end", "observed_at", "used_percentage",
              "peak_percentage", "pace", "projected_percentage", "full_at", "limit_hit", "tasks", "tokens",
              "cost_usd", "cost_per_pct_usd"]
NO_SNAPSHOT = ("no quota snapshot is stored: Claude Code passes the real 5-hour and 7-day use to its status-line "
               "command only for Claude.ai subscribers (set up `nexus-insights statusline`, docs/statusline.md), and "
               "the recording proxy sees it in response headers. Nothing here guesses a plan's limit.")


def build(engine, f, now_ms: int | None = None, history_days: int = 35) -> dict:
    from nexus_tui.store.read import quota as SQ

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if f.since_ms is not None:
        history_days = max(1, -(-(now_ms - f.since_ms) // CQ.DAY_MS))
    rep = SQ.report(engine, now_ms, history_days, f.cost_mode)
    windows = []
    for w in rep["windows"]:
        u = w["usage"]
        windows.append({**{k: w[k] for k in ("window", "account", "source", "used_percentage", "resets_at",
                                             "observed_at", "pace", "projected_percentage", "elapsed_percentage",
                                             "full_at", "will_hit_limit", "current", "window_start")},
                        "tasks": u["tasks"], "tokens": u["tokens"], "cost_usd": u["cost_usd"],
                        "tokens_per_pct": u["tokens_per_pct"], "cost_per_pct_usd": u["cost_per_pct_usd"],
                        "models": u["models"]})
    past = [{k: p[k] for k in PAST_FIELDS} for p in rep["past_windows"]]
    est = rep["estimate"]
    return {"generated_at": rep["generated_at"], "has_snapshots": rep["has_snapshots"],
            "note": None if rep["has_snapshots"] else NO_SNAPSHOT, "windows": windows, "past_windows": past,
            "estimate": None if est is None else {"method": est["method"],
                                                  "blocks": [{k: b[k] for k in BLOCK_FIELDS} for b in est["blocks"]]},
            "cost_mode": rep["cost_mode"]}


def render_quota(engine, f, tz, fmt: str, now_ms: int | None = None) -> str:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    obj = build(engine, f, now_ms)
    if fmt == "json":
        return R.to_json(obj)
    if fmt == "csv":
        rows = [{**w, "kind": "current", "start": w["window_start"], "end": w["resets_at"],
                 "peak_percentage": None} for w in obj["windows"]]
        rows += [{**p, "kind": "past", "used_percentage": None, "source": None} for p in obj["past_windows"]]
        if obj["estimate"]:
            rows += [{**b, "kind": "estimated_block", "window": "five_hour"} for b in obj["estimate"]["blocks"]]
        return R.to_csv(rows, CSV_FIELDS)

    def local(iso: str | None) -> str:
        if not iso:
            return "-"
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz).strftime("%Y-%m-%d %H:%M")

    out: list[str] = []
    if not obj["has_snapshots"]:
        out.append("note: " + obj["note"])
        est = obj["estimate"]
        out += ["", "estimated 5-hour blocks (" + est["method"] + ")",
                R.table(["start", "end", "active", "tasks", "tokens", "cost", "models"],
                        [[local(b["start"]), local(b["end"]), "yes" if b["active"] else "", R.fmt_int(b["tasks"]),
                          R.fmt_int(b["tokens"]), R.fmt_usd(b["cost_usd"]), ",".join(b["models"])[:40]]
                         for b in est["blocks"]], right={3, 4, 5})]
        return "\n".join(out)
    rows = []
    for w in obj["windows"]:
        if not w["current"]:
            proj = "reset since; no newer snapshot"
        elif w["projected_percentage"] is None:
            proj = "-"
        else:
            proj = f"{w['projected_percentage']:.0f}% at reset"
            if w["will_hit_limit"] and w["full_at"]:
                proj += f", 100% at {local(w['full_at'])} (resets {local(w['resets_at'])})"
        rows.append([CQ.window_label(w["window"]) + (f" [{w['account']}]" if w["account"] else ""),
                     f"{w['used_percentage']:.1f}%", "-" if w["pace"] is None else f"{w['pace']:.2f}x", proj,
                     local(w["resets_at"]), local(w["observed_at"]), w["source"], R.fmt_int(w["tokens"]),
                     R.fmt_usd(w["cost_usd"]), R.fmt_usd(w["cost_per_pct_usd"])])
    out += ["quota windows (as reported by the provider)",
            R.table(["window", "used", "pace", "at this pace", "resets", "observed", "source", "tokens", "cost",
                     "cost/1%"], rows, right={1, 2, 7, 8, 9})]
    if obj["past_windows"]:
        out += ["", "past windows",
                R.table(["window", "start", "end", "peak", "limit hit", "tokens", "cost", "cost/1%"],
                        [[CQ.window_label(p["window"]), local(p["start"]), local(p["end"]),
                          f"{p['peak_percentage']:.1f}%", "yes" if p["limit_hit"] else "no", R.fmt_int(p["tokens"]),
                          R.fmt_usd(p["cost_usd"]), R.fmt_usd(p["cost_per_pct_usd"])] for p in obj["past_windows"]],
                        right={3, 5, 6, 7})]
    return "\n".join(out)
