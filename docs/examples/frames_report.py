"""Notebook-style example: the summary and daily reports' numbers rebuilt from nexus_tui.frames (pandas).

Run it as a script (``python docs/examples/frames_report.py --tz UTC --since 2026-02-01``) or paste the cells into a
notebook. It reads the configured database (``NEXUS_INSIGHTS_HOME`` / ``NEXUS_INSIGHTS_DB``) and prints one JSON
document with the same numbers as ``--headless summary`` and ``--headless daily`` for the same range (tested by
tests/test_frames.py).
"""

import argparse
import json

from nexus_tui import frames

p = argparse.ArgumentParser()
p.add_argument("--since")
p.add_argument("--until")
p.add_argument("--project")
p.add_argument("--tz", default="UTC")
args = p.parse_args()
rng = dict(since=args.since, until=args.until, project=args.project)

# %% load the frames of the range
with frames.open_frames(tz=args.tz) as fr:
    tasks = fr.tasks(**rng)
    calls = fr.tool_calls(**rng)
    sessions = fr.sessions(**rng)

# %% the summary's totals: tokens by type, cost (priced tasks only), unpriced tasks, tool failures
tokens = ["tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens"]
summary = {
    "sessions": len(sessions),
    "tasks": len(tasks),
    **{k: int(tasks[k].fillna(0).sum()) for k in tokens},
    "cost_usd": round(float(tasks["cost_usd"].sum()), 6),  # NaN (unpriced) rows are skipped by sum()
    "unpriced_tasks": int(tasks["unpriced"].sum()),
    "tool_calls": len(calls),
    "tool_failures": int((calls["success"] == False).sum()),  # noqa: E712  (NA: no result yet, not a failure)
}
summary["total_tokens"] = sum(summary[k] for k in tokens)

# %% daily: tasks grouped by their local date in the report's zone
tasks["date"] = tasks["time"].dt.tz_convert(args.tz).dt.strftime("%Y-%m-%d")
daily = (tasks.groupby("date")
         .agg(tasks=("task_id", "size"), tokens_in=("tokens_in", "sum"), tokens_out=("tokens_out", "sum"),
              cache_creation_tokens=("cache_creation_tokens", "sum"),
              cache_read_tokens=("cache_read_tokens", "sum"), cost_usd=("cost_usd", "sum"))
         .reset_index())
daily["cost_usd"] = daily["cost_usd"].round(6)

# %% print
print(json.dumps({"summary": summary,
                  "daily": [{k: (int(v) if k not in ("date", "cost_usd") else v) for k, v in row.items()}
                            for row in daily.to_dict("records")]}, indent=1))
