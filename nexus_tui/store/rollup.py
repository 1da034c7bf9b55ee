"""Incremental rollups: tasks and tool calls summed per (session, 15-minute bucket, dimensions), per hour, per UTC
day and per (session, day), kept by the writer (docs/rollups.md).

Why: the screens and reports ask for sums over time ranges (tokens, cost, calls, failures, latency percentiles by
model, routing, tool...). Summing every task on each refresh grows with the history; summing the rollup rows of the
range grows with the active days and combinations in it, and a new task only touches the rows of its own bucket.

Maintenance (``recompute``, or ``mark`` + ``apply_marks`` for a collector pass): the (session, bucket) pairs a write
touches are rebuilt from the tasks and tool calls, so the rollups can never disagree with the rows, whatever the
merge rules did. The upkeep's code is store/upkeep.py (plain SQL text, no SQLAlchemy: the light ingest path runs
it too); this module is the writer's name for it. Reading the rollups is the read side's plan (store/read/plan.py).
"""

from __future__ import annotations

from nexus_tui.store.upkeep import (  # noqa: F401
    COST_MODES,
    D_MS,
    H_MS,
    Q_MS,
    ROLLUP_LOCK_KEY,
    apply_marks,
    bucket,
    keys_for_calls,
    keys_for_tasks,
    lock,
    mark,
    rebuild,
    recompute,
)
