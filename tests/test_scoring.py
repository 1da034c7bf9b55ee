"""The pure math of the dashboard, by table against hand computations."""

import pytest

from nexus_tui.core.scoring import (DAY_MS, HOUR_MS, choose_bucket, downsample, efficiency, is_file_changing,
                                    project, quantile, rating_factor)


@pytest.mark.parametrize("span,cols,want", [(30 * 60_000, 100, 60_000), (10 * HOUR_MS, 100, 15 * 60_000),
                                            (7 * DAY_MS, 100, 3 * HOUR_MS), (365 * DAY_MS, 100, 7 * DAY_MS),
                                            (365 * DAY_MS, 400, DAY_MS)])
def test_bucket_never_gives_more_points_than_columns(span, cols, want):
    b = choose_bucket(span, cols)
    assert b == want and span / b <= cols


def test_downsample_keeps_totals():
    xs, ys = list(range(10)), [1.0] * 10
    x2, y2 = downsample(xs, ys, 3)
    assert len(x2) <= 3 and sum(y2) == 10


def test_projection_by_hand():
    now = 10 * HOUR_MS  # 10:00 of day 0, the day ends at 24:00
    p = project("day", spent=5.0, now_ms=now, period_end_ms=DAY_MS, recent_spend=1.5, recent_window_ms=3 * HOUR_MS,
                hourly_history=[0.2, 0.4, 0.6, 0.8], budget=10.0)
    assert p.rate_per_hour == pytest.approx(0.5)
    assert p.hours_left == pytest.approx(14)
    assert p.projected == pytest.approx(5 + 0.5 * 14)
    assert p.low == pytest.approx(5 + 0.2 * 14) and p.high == pytest.approx(5 + 0.6 * 14)
    assert p.runs_out_ms == now + 10 * HOUR_MS  # (10 - 5) / 0.5 = 10 hours
    assert not p.exceeded


def test_projection_edge_cases():
    p = project("day", 12.0, 0, DAY_MS, 0.0, HOUR_MS, [], budget=10.0)
    assert p.exceeded and p.runs_out_ms is None
    p = project("day", 1.0, 0, DAY_MS, 0.0, HOUR_MS, [], budget=None)
    assert p.projected == 1.0 and p.runs_out_ms is None
    p = project("day", 1.0, 23 * HOUR_MS, DAY_MS, 0.1, HOUR_MS, [], budget=100.0)
    assert p.runs_out_ms is None  # not within the period at this rate


def test_quantile_nearest_rank():
    assert quantile([5, 1, 3, 2, 4], 0.5) == 3 and quantile([], 0.5) == 0.0 and quantile([7], 0.99) == 7


def test_efficiency_by_hand():
    e = efficiency(tokens=200_000, cost=2.0, changes=4)
    assert e.score == pytest.approx(2.0) and e.tokens_per_change == 50_000 and e.cost_per_change == 0.5
    assert rating_factor(0, 0) == 1.0 and rating_factor(1, 1) == pytest.approx(2 / 3)
    assert efficiency(200_000, 2.0, 4, helpful=1, not_helpful=1).score == pytest.approx(2.0 * 2 / 3)
    assert efficiency(0, 0.0, 0).score is None and efficiency(1000, 1.0, 0).score == 0


@pytest.mark.parametrize("tool,want", [("Edit", True), ("Write", True), ("Read", False), ("Bash", False),
                                       ("mcp__fs__write_file", True), ("mcp__github__get_issue", False), (None, False)])
def test_file_changing_tools(tool, want):
    assert is_file_changing(tool) is want
