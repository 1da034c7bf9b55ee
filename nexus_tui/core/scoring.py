"""Pure math behind the Costs, Efficiency and Timeline screens (plain numbers in, plain numbers out).

Definitions are written down in docs/metrics.md; keep the two in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# Successful calls of these tools change files: the "useful change" unit of the efficiency score.
FILE_CHANGING_TOOLS = frozenset({"Edit", "MultiEdit", "Write", "NotebookEdit", "str_replace_based_edit_tool",
                                 "apply_patch", "write_file", "edit_file", "replace", "create_file"})
_MCP_CHANGE_WORDS = ("write", "edit", "create_file", "apply_patch", "replace_in_file", "move_file", "delete_file")


def is_file_changing(tool: str | None) -> bool:
    """True for the built-in editing tools and MCP tools whose name says they write or edit files."""
    if not tool:
        return False
    if tool in FILE_CHANGING_TOOLS:
        return True
    if tool.startswith("mcp__"):
        name = tool.rsplit("__", 1)[-1].lower()
        return any(w in name for w in _MCP_CHANGE_WORDS)
    return False


# ---------------------------------------------------------------- buckets
BUCKETS_MS = (60_000, 5 * 60_000, 15 * 60_000, HOUR_MS, 3 * HOUR_MS, 6 * HOUR_MS, DAY_MS, 7 * DAY_MS, 30 * DAY_MS)


def choose_bucket(span_ms: int, columns: int) -> int:
    """The smallest bucket (minute .. month) that puts the span in at most ``columns`` points."""
    columns = max(1, columns)
    for b in BUCKETS_MS:
        if span_ms / b <= columns:
            return b
    return max(BUCKETS_MS[-1], math.ceil(span_ms / columns))


def bucket_label(bucket_ms: int) -> str:
    return {60_000: "minute", 300_000: "5 minutes", 900_000: "15 minutes", HOUR_MS: "hour", 3 * HOUR_MS: "3 hours",
            6 * HOUR_MS: "6 hours", DAY_MS: "day", 7 * DAY_MS: "week", 30 * DAY_MS: "30 days"}.get(
        bucket_ms, f"{bucket_ms // 60_000} minutes")


def downsample(xs: list[float], ys: list[float], columns: int) -> tuple[list[float], list[float]]:
    """Sum consecutive points so that at most ``columns`` remain (keeps totals exact)."""
    if len(xs) <= columns or columns <= 0:
        return xs, ys
    k = math.ceil(len(xs) / columns)
    return [xs[i] for i in range(0, len(xs), k)], [sum(ys[i:i + k]) for i in range(0, len(ys), k)]


# ---------------------------------------------------------------- projection
@dataclass(frozen=True)
class Projection:
    period: str  # 'day' or 'month'
    spent: float
    budget: float | None
    rate_per_hour: float  # recent burn rate
    projected: float  # spent + rate * hours left
    low: float
    high: float
    hours_left: float
    runs_out_ms: int | None  # when the budget runs out at the recent rate (None: not at this rate / no budget)
    exceeded: bool


def quantile(xs: list[float], q: float) -> float:
    """Nearest-rank quantile (0 < q <= 1) of a list; 0 for an empty list."""
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))]


def project(period: str, spent: float, now_ms: int, period_end_ms: int, recent_spend: float, recent_window_ms: int,
            hourly_history: list[float], budget: float | None) -> Projection:
    """Project the period's spend.

    rate = spend in the recent window / its length; projected = spent + rate * hours left;
    range = spent + hours left * (25th .. 75th percentile of the hourly spend in the history), widened to include the
    point estimate; runs out = now + (budget - spent) / rate.
    """
    hours_left = max(0.0, (period_end_ms - now_ms) / HOUR_MS)
    rate = recent_spend / (recent_window_ms / HOUR_MS) if recent_window_ms > 0 else 0.0
    projected = spent + rate * hours_left
    lo_rate, hi_rate = quantile(hourly_history, 0.25), quantile(hourly_history, 0.75)
    low = min(projected, spent + lo_rate * hours_left)
    high = max(projected, spent + hi_rate * hours_left)
    runs_out = None
    exceeded = budget is not None and spent >= budget
    if budget is not None and not exceeded and rate > 0:
        t = now_ms + (budget - spent) / rate * HOUR_MS
        runs_out = int(t) if t <= period_end_ms else None
    return Projection(period, spent, budget, rate, projected, low, high, hours_left, runs_out, exceeded)


# ---------------------------------------------------------------- efficiency
@dataclass(frozen=True)
class Efficiency:
    tokens: int
    cost: float
    changes: int
    helpful: int
    not_helpful: int
    rating_factor: float
    score: float | None  # weighted useful changes per 100k tokens
    tokens_per_change: float | None
    cost_per_change: float | None


def rating_factor(helpful: int, not_helpful: int) -> float:
    """(helpful + 1) / (rated + 1) when any task is rated, else 1: unhelpful ratings pull the score down."""
    rated = helpful + not_helpful
    return 1.0 if rated == 0 else (helpful + 1) / (rated + 1)


def efficiency(tokens: int, cost: float, changes: int, helpful: int = 0, not_helpful: int = 0) -> Efficiency:
    """Efficiency = useful changes x rating factor per 100k tokens; also tokens and cost per change."""
    f = rating_factor(helpful, not_helpful)
    score = (changes * f) / (tokens / 100_000) if tokens > 0 else None
    return Efficiency(tokens, cost, changes, helpful, not_helpful, f, score,
                      tokens / changes if changes else None, cost / changes if changes else None)
