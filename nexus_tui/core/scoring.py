"""Pure math behind the Timeline, Costs and Efficiency screens: buckets, projection, efficiency.

Plain numbers in, plain numbers out (no I/O, no SQL, no Textual). The definitions are written down in
docs/metrics.md; keep the two in step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS

# ---------------------------------------------------------------- useful changes
# A "useful change" is a successful call of a tool that changes files. Exact tool names, any source:
FILE_CHANGING_TOOLS = frozenset({
    "Edit", "MultiEdit", "Write", "NotebookEdit",  # Claude Code
    "write_file", "replace",  # Gemini CLI (its edit tool is called "replace")
    "apply_patch",  # Codex CLI
    "str_replace_based_edit_tool", "str_replace_editor",  # Anthropic's text editor tool (API, proxies)
    "fs_write",  # Amazon Q / Kiro CLI
})
# MCP tools are named mcp__<server>__<tool>; these <tool> names change files (filesystem server, Desktop Commander,
# Serena, JetBrains and similar editing servers). A tool that only reads, searches, or writes outside the project
# (issues, memories, messages) is not a change.
MCP_FILE_CHANGING_TOOLS = frozenset({
    "write_file", "edit_file", "create_file", "delete_file", "move_file", "rename_file", "apply_patch",
    "edit_block", "create_text_file", "replace_content", "replace_regex", "replace_lines", "delete_lines",
    "insert_at_line", "replace_symbol_body", "insert_after_symbol", "insert_before_symbol", "rename_symbol",
    "create_new_file_with_text", "replace_file_text_by_path", "replace_specific_text",
})


def is_file_changing(tool: str | None, extra: Iterable[str] = ()) -> bool:
    """True for the editing tools above, MCP tools (``mcp__<server>__<tool>``, any case) whose <tool> is one of
    MCP_FILE_CHANGING_TOOLS, and ``extra`` names (full tool names, from insights.toml)."""
    if not tool:
        return False
    if tool in FILE_CHANGING_TOOLS or tool in set(extra):
        return True
    low = tool.lower()
    return low.startswith("mcp__") and any(low.endswith("__" + p) for p in MCP_FILE_CHANGING_TOOLS)


# How a change counts in the efficiency score, by the quality_rating of the task that made it: a change made in a
# task rated "not helpful" is not useful; helpful and unrated tasks' changes count fully.
RATING_WEIGHTS = {1: 1.0, None: 1.0, 0: 0.0}


def useful_changes(helpful: int, unrated: int, not_helpful: int) -> float:
    """Successful file-changing calls weighted by the rating of their task (RATING_WEIGHTS)."""
    return helpful * RATING_WEIGHTS[1] + unrated * RATING_WEIGHTS[None] + not_helpful * RATING_WEIGHTS[0]


@dataclass(frozen=True)
class Efficiency:
    """A session's (or a range's) efficiency with every input it is made of."""

    tokens: int
    cost: float
    changes: int  # successful file-changing tool calls
    discounted: int  # of those, made in tasks rated not helpful
    useful: float  # changes weighted by rating
    helpful: int  # tasks rated helpful / not helpful (whatever they changed)
    not_helpful: int
    tokens_per_change: float | None  # the score: tokens per useful change (lower is better); None without a change
    cost_per_change: float | None


def efficiency(tokens: int, cost: float, ch_helpful: int = 0, ch_unrated: int = 0, ch_not_helpful: int = 0,
               helpful: int = 0, not_helpful: int = 0) -> Efficiency:
    """Efficiency = tokens (and cost) per useful change; ``ch_*`` count successful file-changing calls by the
    rating of their task, ``helpful``/``not_helpful`` count rated tasks."""
    useful = useful_changes(ch_helpful, ch_unrated, ch_not_helpful)
    return Efficiency(int(tokens), float(cost), ch_helpful + ch_unrated + ch_not_helpful, ch_not_helpful, useful,
                      helpful, not_helpful, tokens / useful if useful > 0 else None,
                      cost / useful if useful > 0 else None)



# ---------------------------------------------------------------- lines changed (Claude Code's status line)
@dataclass(frozen=True)
class LineRates:
    """Lines changed (added + removed, as Claude Code's status line reports them for a session) per dollar and per
    million tokens; None where unknown (no status-line report) or undefined (no cost, no tokens)."""

    lines: int | None
    per_usd: float | None
    per_mtok: float | None


def line_rates(added: int | None, removed: int | None, cost: float, tokens: int) -> LineRates:
    if added is None and removed is None:
        return LineRates(None, None, None)
    lines = int(added or 0) + int(removed or 0)
    return LineRates(lines, lines / cost if cost and cost > 0 else None,
                     lines * 1e6 / tokens if tokens and tokens > 0 else None)

# ---------------------------------------------------------------- buckets
# Every bucket divides the next calendar unit evenly, so buckets start on local minute/hour/day boundaries.
BUCKETS_MS = (MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS, 15 * MINUTE_MS, 30 * MINUTE_MS,
              HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS, 6 * HOUR_MS, 12 * HOUR_MS, DAY_MS, WEEK_MS, 30 * DAY_MS)


def choose_bucket(span_ms: int, columns: int, minimum_ms: int = MINUTE_MS) -> int:
    """The smallest bucket (minute .. 30 days, at least ``minimum_ms``) that fits the span in ``columns`` points.

    Alignment can add one partial bucket at each end, so the bucket must fit ``columns - 2`` whole ones.
    """
    room = max(1, columns - 2)
    for b in BUCKETS_MS:
        if b >= minimum_ms and math.ceil(span_ms / b) <= room:
            return b
    return max(BUCKETS_MS[-1], math.ceil(span_ms / room / DAY_MS) * DAY_MS)


def bucket_label(bucket_ms: int) -> str:
    """'minute', '15 minutes', 'hour', '6 hours', 'day', 'week', '30 days' (reads after "per")."""
    if bucket_ms == WEEK_MS:
        return "week"
    for unit, name in ((DAY_MS, "day"), (HOUR_MS, "hour"), (MINUTE_MS, "minute")):
        if bucket_ms % unit == 0:
            n = bucket_ms // unit
            return name if n == 1 else f"{n} {name}s"
    return f"{bucket_ms / 1000:g} seconds"


def bucket_offset(bucket_ms: int, utc_offset_ms: int) -> int:
    """What to add to epoch ms before integer division so buckets start at local boundaries (weeks on Mondays)."""
    return utc_offset_ms + (3 * DAY_MS if bucket_ms == WEEK_MS else 0)  # 1970-01-01 was a Thursday


def bucket_span(start_ms: int, end_ms: int, bucket_ms: int, offset_ms: int) -> tuple[int, int]:
    """(index of the first bucket, number of buckets) covering [start, end) with ``(t + offset) // bucket``."""
    first = (start_ms + offset_ms) // bucket_ms
    last = (max(start_ms, end_ms - 1) + offset_ms) // bucket_ms
    return first, last - first + 1


def downsample(values: Sequence[float], columns: int) -> list[float]:
    """Sum runs of consecutive values so that at most ``columns`` remain (totals stay exact)."""
    if columns <= 0 or len(values) <= columns:
        return list(values)
    k = math.ceil(len(values) / columns)
    return [float(sum(values[i:i + k])) for i in range(0, len(values), k)]


def downsample_starts(starts: Sequence[int], columns: int) -> list[int]:
    """The bucket starts matching ``downsample`` of the same length (the first start of each run)."""
    if columns <= 0 or len(starts) <= columns:
        return list(starts)
    k = math.ceil(len(starts) / columns)
    return [starts[i] for i in range(0, len(starts), k)]


def nice_ticks(top: float, n: int = 4) -> list[float]:
    """0 and up to ``n`` round steps (1, 2, 2.5, 5 x 10^k) reaching at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def compact(x: float, money: bool = False) -> str:
    """A short axis label: 0, 950, 1.5k, 12k, 3.4M, 1.2B; ``money`` adds '$' and cents below 10."""
    a = abs(x)
    if money:
        if a == 0:
            return "$0"
        if a < 10:  # cents; below a cent as many decimals as its first digits need (ticks of $0.0001 stay apart)
            if a < 1e-6:
                return f"${x:.1e}"
            decimals = 2 if a >= 0.01 else 1 - math.floor(math.log10(a))
            return f"${x:.{decimals}f}".rstrip("0").rstrip(".")
        if a < 1000:
            return f"${x:.0f}"
        return "$" + compact(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            v = x / div
            return (f"{v:.1f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.0f}") + suffix
    return f"{x:.0f}" if a >= 1 or a == 0 else f"{x:.2f}"


# ---------------------------------------------------------------- periods and projection
DAY_RATE_WINDOW_MS = 3 * HOUR_MS  # the day's burn rate: spend in the last 3 hours
MONTH_RATE_WINDOW_MS = 7 * DAY_MS  # the month's burn rate: spend in the last 7 days (covers nights and weekends)
DAY_HISTORY_DAYS = 14  # the day's range: what the rest of the day cost on each of the last 14 days
MONTH_HISTORY_DAYS = 28  # the month's range: daily spend on each of the last 28 days
RANGE_QUANTILES = (0.10, 0.90)
MIN_HISTORY = 3  # fewer samples than this: no range


def period_bounds(now_ms: int, tz: tzinfo, period: str) -> tuple[int, int]:
    """[start, end) in epoch ms of the local calendar day or month containing ``now_ms``."""
    now = datetime.fromtimestamp(now_ms / 1000, tz)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = _local_midnight(start.date() + timedelta(days=1), tz)
    elif period == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (start.date().replace(day=28) + timedelta(days=4)).replace(day=1)
        end = _local_midnight(nxt, tz)
    else:
        raise ValueError(f"unknown period {period!r}")
    return int(_local_midnight(start.date(), tz).timestamp() * 1000), int(end.timestamp() * 1000)


def _local_midnight(d, tz: tzinfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz)


def shift_days(ms: int, days: int, tz: tzinfo) -> int:
    """The same local wall-clock time ``days`` calendar days earlier (negative) or later (DST-safe)."""
    t = datetime.fromtimestamp(ms / 1000, tz)
    naive = t.replace(tzinfo=None) + timedelta(days=days)
    return int(naive.replace(tzinfo=tz).timestamp() * 1000)


def rest_of_day_windows(now_ms: int, day_end_ms: int, tz: tzinfo, days: int = DAY_HISTORY_DAYS,
                        first_ms: int | None = None) -> list[tuple[int, int]]:
    """[same clock time, midnight) on each of the previous ``days`` days that start at or after ``first_ms``
    (the first recorded task: days before it say nothing about spending)."""
    out = []
    for k in range(1, days + 1):
        a, b = shift_days(now_ms, -k, tz), shift_days(day_end_ms, -k, tz)
        day_start = shift_days(period_bounds(now_ms, tz, "day")[0], -k, tz)
        if first_ms is not None and day_start < _day_floor(first_ms, tz):
            break
        out.append((a, b))
    return out


def past_day_windows(today_start_ms: int, tz: tzinfo, days: int = MONTH_HISTORY_DAYS,
                     first_ms: int | None = None) -> list[tuple[int, int]]:
    """The previous ``days`` whole local days (newest first), from the day of ``first_ms`` on."""
    out = []
    for k in range(1, days + 1):
        a, b = shift_days(today_start_ms, -k, tz), shift_days(today_start_ms, -k + 1, tz)
        if first_ms is not None and a < _day_floor(first_ms, tz):
            break
        out.append((a, b))
    return out


def _day_floor(ms: int, tz: tzinfo) -> int:
    return period_bounds(ms, tz, "day")[0]


def quantile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (0 < q <= 1): the value at rank ceil(q * n) of the sorted values; 0 when empty."""
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s) - 1e-9) - 1))]


def burn_rate(window_spend: float, window_ms: int) -> float:
    """USD per hour over a window."""
    return window_spend / (window_ms / HOUR_MS) if window_ms > 0 else 0.0


def exhaustion_ms(now_ms: int, spent: float, budget: float | None, rate_per_hour: float) -> int | None:
    """When the budget runs out at ``rate_per_hour`` (now when already spent); None without a budget or a rate, or
    when that is past the times a date can show (core.events.MAX_TIME_MS): a budget of $100 at a rate of a
    millionth of a dollar an hour runs out 11,000 years on (no date converts that), one of 1e308 at no time."""
    from nexus_tui.core.events import MAX_TIME_MS

    if budget is None:
        return None
    if spent >= budget:
        return now_ms
    if rate_per_hour <= 0:
        return None
    at = now_ms + (budget - spent) / rate_per_hour * HOUR_MS
    return round(at) if at < MAX_TIME_MS else None


def month_rest_samples(daily_spend: Sequence[float], hours_left: float) -> list[float]:
    """Possible rests of the month: each past day's spend, as if every day left cost that much."""
    return [d * hours_left / 24 for d in daily_spend]


@dataclass(frozen=True)
class Projection:
    """Spend in a period so far, the burn rate, the projected total with a range, and when the budget runs out."""

    period: str  # 'day' or 'month'
    start_ms: int
    end_ms: int
    now_ms: int
    spent: float
    budget: float | None
    rate_per_hour: float
    window_ms: int
    projected: float  # PROJECTION_METHOD: spent + the median rest (or rate x hours left without history)
    low: float | None  # spent + 10th / 90th percentile of the rest of the period in recent history
    high: float | None
    samples: int  # how many past periods the range is made of
    runs_out_ms: int | None  # at the burn rate (= now when already spent); None: no budget or no spend lately

    @property
    def hours_left(self) -> float:
        return max(0.0, (self.end_ms - self.now_ms) / HOUR_MS)

    @property
    def used(self) -> float | None:
        return self.spent / self.budget if self.budget else None

    @property
    def exceeded(self) -> bool:
        return self.budget is not None and self.spent >= self.budget

    @property
    def runs_out_in_period(self) -> bool:
        return self.runs_out_ms is not None and self.runs_out_ms < self.end_ms


PROJECTION_METHOD = ("projected = spent so far + the median of what the rest of the period cost in recent history, "
                     "range = its 10th-90th percentile; with under 3 past periods, spent + burn rate × time left")


def project(period: str, start_ms: int, end_ms: int, now_ms: int, spent: float, window_spend: float,
            window_ms: int, rest_samples: Sequence[float], budget: float | None) -> Projection:
    """One estimate (PROJECTION_METHOD): the point and its p10–p90 range come from the same samples, ``rest_samples``
    (what the rest of the period cost in recent history), so the point always lies within its range. Fewer than 3
    samples: spent + burn rate x time left, no range. When the budget runs out is told at the burn rate."""
    rate = burn_rate(window_spend, window_ms)
    hours_left = max(0.0, (end_ms - now_ms) / HOUR_MS)
    projected = spent + rate * hours_left
    low = high = None
    if len(rest_samples) >= MIN_HISTORY:
        low = spent + quantile(rest_samples, RANGE_QUANTILES[0])
        high = spent + quantile(rest_samples, RANGE_QUANTILES[1])
        projected = min(max(spent + quantile(rest_samples, 0.5), low), high)
    return Projection(period, start_ms, end_ms, now_ms, spent, budget, rate, window_ms, projected, low, high,
                      len(rest_samples), exhaustion_ms(now_ms, spent, budget, rate))


def cumulative(values: Iterable[float]) -> list[float]:
    out, s = [], 0.0
    for v in values:
        s += v
        out.append(s)
    return out
