"""The pure math of the analytics screens (core/scoring.py), by table against hand computations."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from nexus_tui.core.scoring import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    WEEK_MS,
    bucket_label,
    bucket_offset,
    bucket_span,
    burn_rate,
    choose_bucket,
    compact,
    cumulative,
    downsample,
    downsample_starts,
    efficiency,
    exhaustion_ms,
    is_file_changing,
    month_rest_samples,
    nice_ticks,
    past_day_windows,
    period_bounds,
    project,
    quantile,
    rest_of_day_windows,
    shift_days,
    useful_changes,
)

BERLIN = ZoneInfo("Europe/Berlin")


def ms(text: str, tz=UTC) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


# ---------------------------------------------------------------- buckets
@pytest.mark.parametrize("span,cols,want", [
    (30 * MINUTE_MS, 100, MINUTE_MS),  # 30 points
    (98 * MINUTE_MS, 100, MINUTE_MS),  # 98 = columns - 2 still fits
    (99 * MINUTE_MS, 100, 2 * MINUTE_MS),  # 99 would not leave room for two partial buckets
    (10 * HOUR_MS, 100, 10 * MINUTE_MS),  # 60 points (5 min would be 120)
    (DAY_MS, 142, 15 * MINUTE_MS),  # 96 points
    (7 * DAY_MS, 100, 2 * HOUR_MS),  # 84 points
    (30 * DAY_MS, 142, 6 * HOUR_MS),  # 120 points
    (365 * DAY_MS, 100, WEEK_MS),  # 53 points
    (365 * DAY_MS, 400, DAY_MS),
    (20 * 365 * DAY_MS, 100, 75 * DAY_MS),  # beyond 30 days: whole days, fitting (7300 / 98 -> 75)
    (1, 10, MINUTE_MS),
    (5 * HOUR_MS, 100, HOUR_MS),  # minimum_ms below
])
def test_bucket_is_the_smallest_that_fits_the_columns(span, cols, want):
    minimum = HOUR_MS if span == 5 * HOUR_MS else MINUTE_MS
    b = choose_bucket(span, cols, minimum_ms=minimum)
    assert b == want
    assert math.ceil(span / b) <= cols - 2  # two partial buckets at the ends still fit


@pytest.mark.parametrize("start,end,bucket,offset,want", [
    (0, HOUR_MS, HOUR_MS, 0, (0, 1)),
    (0, HOUR_MS + 1, HOUR_MS, 0, (0, 2)),
    (30 * MINUTE_MS, 90 * MINUTE_MS, HOUR_MS, 0, (0, 2)),  # straddles a boundary: two partial buckets
    (DAY_MS, 2 * DAY_MS, DAY_MS, 2 * HOUR_MS, (1, 2)),  # UTC+2: the UTC day spans two local days
    (5, 6, MINUTE_MS, 0, (0, 1)),
])
def test_bucket_span(start, end, bucket, offset, want):
    assert bucket_span(start, end, bucket, offset) == want


def test_bucket_offset_starts_weeks_on_monday():
    monday = ms("2026-11-16T00:00:00")
    off = bucket_offset(WEEK_MS, 0)
    assert (monday + off) % WEEK_MS == 0
    assert bucket_offset(DAY_MS, 3_600_000) == 3_600_000


@pytest.mark.parametrize("bucket,label", [(MINUTE_MS, "minute"), (15 * MINUTE_MS, "15 minutes"), (HOUR_MS, "hour"),
                                          (6 * HOUR_MS, "6 hours"), (DAY_MS, "day"), (WEEK_MS, "week"),
                                          (30 * DAY_MS, "30 days")])
def test_bucket_label(bucket, label):
    assert bucket_label(bucket) == label


@pytest.mark.parametrize("values,cols,want", [
    ([1, 2, 3, 4, 5, 6, 7], 3, [6, 15, 7]),  # runs of ceil(7/3) = 3
    ([1, 2, 3], 3, [1, 2, 3]),
    ([1.0] * 10, 4, [3, 3, 3, 1]),
    ([5], 1, [5]),
])
def test_downsample_sums_runs_and_keeps_the_total(values, cols, want):
    got = downsample(values, cols)
    assert got == want and len(got) <= cols and sum(got) == sum(values)


def test_downsample_starts_match_the_runs():
    assert downsample_starts([0, 10, 20, 30, 40, 50, 60], 3) == [0, 30, 60]
    assert downsample_starts([0, 10], 3) == [0, 10]


@pytest.mark.parametrize("top,want", [(0, [0.0, 1.0]), (4, [0, 1, 2, 3, 4]), (3_659_459, [0, 1e6, 2e6, 3e6, 4e6]),
                                      (17.24, [0, 5, 10, 15, 20]), (0.42, [0, 0.2, 0.4, 0.6]),
                                      (9, [0, 2.5, 5, 7.5, 10])])
def test_nice_ticks(top, want):
    assert nice_ticks(top) == pytest.approx(want)


@pytest.mark.parametrize("x,money,want", [(0, False, "0"), (950, False, "950"), (1500, False, "1.5k"),
                                          (12_000, False, "12k"), (3_400_000, False, "3.4M"), (2e9, False, "2B"),
                                          (0.5, False, "0.50"), (0, True, "$0"), (2.5, True, "$2.5"),
                                          (0.05, True, "$0.05"), (15, True, "$15"), (2500, True, "$2.5k")])
def test_compact_labels(x, money, want):
    assert compact(x, money) == want


# ---------------------------------------------------------------- projection
@pytest.mark.parametrize("xs,q,want", [([5, 1, 3, 2, 4], 0.5, 3), ([], 0.5, 0.0), ([7], 0.99, 7),
                                       (list(range(1, 11)), 0.1, 1), (list(range(1, 11)), 0.9, 9),
                                       (list(range(1, 11)), 1.0, 10), ([3, 1, 2], 0.1, 1)])
def test_quantile_is_nearest_rank(xs, q, want):
    assert quantile(xs, q) == want


@pytest.mark.parametrize("spend,window,want", [(1.5, 3 * HOUR_MS, 0.5), (0.0, HOUR_MS, 0.0), (7.0, 7 * DAY_MS, 7 / 168),
                                               (1.0, 0, 0.0)])
def test_burn_rate(spend, window, want):
    assert burn_rate(spend, window) == pytest.approx(want)


@pytest.mark.parametrize("spent,budget,rate,want", [
    (3.0, 5.0, 0.5, 4 * HOUR_MS),  # (5 - 3) / 0.5 = 4 hours from now
    (5.0, 5.0, 0.5, 0),  # already spent: now
    (6.0, 5.0, 0.0, 0),
    (3.0, 5.0, 0.0, None),  # no spend lately: never at this rate
    (3.0, None, 1.0, None),  # no budget
])
def test_exhaustion_time(spent, budget, rate, want):
    now = 1_000_000
    got = exhaustion_ms(now, spent, budget, rate)
    assert got == (None if want is None else now + want)


def test_day_projection_by_hand():
    d0 = ms("2026-11-20T00:00:00")
    now, end = d0 + 10 * HOUR_MS, d0 + DAY_MS
    rest = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # what the rest of the day cost on 10 past days
    p = project("day", d0, end, now, spent=3.0, window_spend=1.5, window_ms=3 * HOUR_MS, rest_samples=rest,
                budget=5.0)
    assert p.rate_per_hour == pytest.approx(0.5) and p.hours_left == pytest.approx(14)
    assert p.projected == 3 + 5  # spent + the median rest of the day (nearest rank), not 3 + 0.5 x 14 = 10
    assert (p.low, p.high) == (3 + 1, 3 + 9)  # 10th and 90th percentile by nearest rank
    assert p.samples == 10
    assert p.runs_out_ms == now + 4 * HOUR_MS and p.runs_out_in_period and not p.exceeded
    assert p.used == pytest.approx(0.6)


def test_month_projection_by_hand():
    m0, m1 = ms("2026-11-01T00:00:00"), ms("2026-12-01T00:00:00")
    now = ms("2026-11-21T00:00:00")  # 10 days = 240 hours left
    daily = [2.0, 4.0, 6.0, 8.0]
    samples = month_rest_samples(daily, 240)
    assert samples == [20.0, 40.0, 60.0, 80.0]
    p = project("month", m0, m1, now, spent=60.0, window_spend=28.0, window_ms=7 * DAY_MS, rest_samples=samples,
                budget=100.0)
    assert p.rate_per_hour == pytest.approx(28 / 168)
    assert p.projected == 60 + 40  # spent + the median of the four samples (nearest rank: the 2nd)
    assert (p.low, p.high) == (60 + 20, 60 + 80)
    assert p.runs_out_ms == now + round(40 / (28 / 168) * HOUR_MS)  # exactly the end of the month
    assert not p.runs_out_in_period


@pytest.mark.parametrize("spent,budget,window,samples,exceeded,runs_out,has_range", [
    (12.0, 10.0, 0.0, [1, 2, 3], True, 0, True),  # spent over budget: exceeded, "runs out" now
    (1.0, None, 1.0, [], False, None, False),  # no budget, no history
    (1.0, 100.0, 0.1, [1, 2], False, "after", False),  # 2 samples: no range; runs out after the period
    (1.0, 10.0, 0.0, [0, 0, 0], False, None, True),  # idle: lasts
])
def test_projection_edge_cases(spent, budget, window, samples, exceeded, runs_out, has_range):
    now = 23 * HOUR_MS
    p = project("day", 0, DAY_MS, now, spent, window, HOUR_MS, samples, budget)
    assert p.exceeded is exceeded
    if runs_out == "after":
        assert p.runs_out_ms is not None and p.runs_out_ms > DAY_MS and not p.runs_out_in_period
    else:
        assert p.runs_out_ms == (None if runs_out is None else now + runs_out)
    assert (p.low is not None) is has_range


@pytest.mark.parametrize("now,tz,period,start,end", [
    ("2026-11-20T09:24:00", UTC, "day", "2026-11-20T00:00:00", "2026-11-21T00:00:00"),
    ("2026-11-20T09:24:00", UTC, "month", "2026-11-01T00:00:00", "2026-12-01T00:00:00"),
    ("2026-12-31T23:59:00", UTC, "month", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
    ("2028-02-10T12:00:00", UTC, "month", "2028-02-01T00:00:00", "2028-03-01T00:00:00"),
    ("2026-03-29T12:00:00", BERLIN, "day", "2026-03-29T00:00:00", "2026-03-30T00:00:00"),  # 23-hour day
])
def test_period_bounds_in_local_time(now, tz, period, start, end):
    assert period_bounds(ms(now, tz), tz, period) == (ms(start, tz), ms(end, tz))


def test_period_bounds_dst_day_is_23_hours():
    a, b = period_bounds(ms("2026-03-29T12:00:00", BERLIN), BERLIN, "day")
    assert b - a == 23 * HOUR_MS


def test_shift_days_keeps_the_wall_clock_across_dst():
    t = ms("2026-03-30T10:00:00", BERLIN)
    assert shift_days(t, -1, BERLIN) == ms("2026-03-29T10:00:00", BERLIN)
    assert t - shift_days(t, -1, BERLIN) == 24 * HOUR_MS
    assert t - shift_days(t, -2, BERLIN) == 47 * HOUR_MS  # across the short night


def test_history_windows():
    now = ms("2026-11-20T10:00:00")
    d0, d1 = period_bounds(now, UTC, "day")
    w = rest_of_day_windows(now, d1, UTC, days=3)
    assert w == [(ms("2026-11-19T10:00:00"), ms("2026-11-20T00:00:00")),
                 (ms("2026-11-18T10:00:00"), ms("2026-11-19T00:00:00")),
                 (ms("2026-11-17T10:00:00"), ms("2026-11-18T00:00:00"))]
    # days before the first recorded task say nothing: they are left out
    assert len(rest_of_day_windows(now, d1, UTC, days=14, first_ms=ms("2026-11-18T15:00:00"))) == 2
    days = past_day_windows(d0, UTC, days=28, first_ms=ms("2026-11-17T23:00:00"))
    assert days == [(ms("2026-11-19T00:00:00"), ms("2026-11-20T00:00:00")),
                    (ms("2026-11-18T00:00:00"), ms("2026-11-19T00:00:00")),
                    (ms("2026-11-17T00:00:00"), ms("2026-11-18T00:00:00"))]


def test_cumulative():
    assert cumulative([1, 0, 2.5]) == [1, 1, 3.5] and cumulative([]) == []


# ---------------------------------------------------------------- efficiency
@pytest.mark.parametrize("tokens,cost,h,u,n,useful,tpc,cpc", [
    (200_000, 2.0, 0, 4, 0, 4, 50_000, 0.5),  # four unrated changes
    (200_000, 2.0, 1, 2, 1, 3, 200_000 / 3, 2 / 3),  # the change in the not-helpful task does not count
    (100_000, 1.0, 0, 0, 2, 0, None, None),  # every change rated not helpful: no useful change
    (0, 0.0, 0, 0, 0, 0, None, None),
    (1_000, 0.0, 2, 0, 0, 2, 500, 0.0),  # local model: free changes
])
def test_efficiency_by_hand(tokens, cost, h, u, n, useful, tpc, cpc):
    e = efficiency(tokens, cost, h, u, n, helpful=1, not_helpful=1)
    assert e.useful == useful and e.changes == h + u + n and e.discounted == n
    assert e.tokens_per_change == (None if tpc is None else pytest.approx(tpc))
    assert e.cost_per_change == (None if cpc is None else pytest.approx(cpc))
    assert (e.helpful, e.not_helpful) == (1, 1)


def test_useful_changes_weights():
    assert useful_changes(1, 0, 0) == 1 and useful_changes(0, 1, 0) == 1 and useful_changes(0, 0, 1) == 0


@pytest.mark.parametrize("tool,want", [
    ("Edit", True), ("Write", True), ("MultiEdit", True), ("NotebookEdit", True), ("write_file", True),
    ("replace", True), ("apply_patch", True), ("str_replace_based_edit_tool", True), ("fs_write", True),
    ("Read", False), ("Bash", False), ("TodoWrite", False), ("NotebookRead", False), ("edit", False),
    ("mcp__fs__write_file", True), ("mcp__filesystem__edit_file", True), ("MCP__FS__WRITE_FILE", True),
    ("mcp__serena__replace_symbol_body", True), ("mcp__desktop-commander__edit_block", True),
    ("mcp__github__create_issue", False), ("mcp__memory__write_memory", False), ("mcp__fs__read_file", False),
    ("mcp__zen__refactor", False), (None, False), ("", False),
])
def test_file_changing_tools(tool, want):
    assert is_file_changing(tool) is want


def test_extra_file_changing_tools():
    assert not is_file_changing("mcp__mine__save")
    assert is_file_changing("mcp__mine__save", extra=["mcp__mine__save"])


def test_projection_without_history_extrapolates_the_burn_rate():
    p = project("day", 0, DAY_MS, 10 * HOUR_MS, 3.0, 1.5, 3 * HOUR_MS, [1, 2], 5.0)
    assert p.projected == pytest.approx(3 + 0.5 * 14) and p.low is None


# A24: the projection and its range are one estimate: the point lies within its own p10-p90 whatever the history
from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

from nexus_tui.core.scoring import PROJECTION_METHOD  # noqa: E402

_money = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)


@hsettings(max_examples=200, deadline=None)
@given(spent=_money, window=_money, rest=st.lists(_money, min_size=3, max_size=40),
       now_h=st.floats(min_value=0, max_value=24), window_h=st.sampled_from([3, 168]))
def test_the_projection_lies_within_its_own_range(spent, window, rest, now_h, window_h):
    p = project("day", 0, DAY_MS, int(now_h * HOUR_MS), spent, window, window_h * HOUR_MS, rest, None)
    assert p.low is not None and p.low <= p.projected <= p.high
    assert "\n" not in PROJECTION_METHOD and "median" in PROJECTION_METHOD  # the method, in one line


@pytest.mark.parametrize("top", [1e-9, 3e-7, 0.0001, 0.00037, 0.004, 0.0099, 0.05, 3.2, 87.0, 12_345.0])
def test_money_axis_labels_of_any_scale_stay_apart_and_read_back(top):
    # a day that cost $0.0001 once drew four "$0" ticks: every tick's label is its own, and reads back near its value
    ticks = nice_ticks(top)
    labels = [compact(t, True) for t in ticks]
    assert len(set(labels)) == len(labels), labels
    for t, label in zip(ticks[1:], labels[1:]):
        if t < 1000:
            assert float(label[1:]) == pytest.approx(t, rel=0.05), (t, label)
