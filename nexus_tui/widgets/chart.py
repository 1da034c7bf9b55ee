"""Charts: one PlotextPlot subclass per chart, each with a data-in method and ``replot()``.

They draw with the widget's own plotext figure (``self.plt``), never the global plotext module, and get series
already bucketed to at most one point per column (the screens ask for ``plot_columns()`` points).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from textual_plotext import PlotextPlot

from nexus_tui.core.scoring import DAY_MS, compact, nice_ticks

AXIS_COLUMNS = 18  # columns taken by the two y axes' labels and the frame
# RGB, so the colours are the same in every terminal and theme (names are remapped by the "auto" plot theme)
SERIES_COLORS = [(86, 182, 194), (152, 195, 121), (198, 120, 221), (97, 175, 239), (224, 108, 117),
                 (209, 154, 102), (171, 178, 191)]
COST_COLOR = (229, 192, 123)
LINE_COLOR = (86, 182, 194)
RANGE_COLOR = (171, 178, 191)
BUDGET_COLOR = (224, 108, 117)


def time_format(point_ms: int, span_ms: int) -> str:
    """strftime format for x labels: times within a day, dates beyond."""
    if point_ms >= 28 * DAY_MS:
        return "%Y-%m"
    if point_ms >= DAY_MS or span_ms > 14 * DAY_MS:
        return "%m-%d"
    if span_ms > DAY_MS:
        return "%m-%d %H:%M"
    return "%H:%M"


class InsightChart(PlotextPlot):
    """Shared axis helpers: compact y labels (so the plot keeps its columns) and time x labels."""

    def plot_columns(self, fallback_width: int = 100) -> int:
        """How many points fit: the widget's width less the axes (the widget may not be laid out yet)."""
        width = self.size.width or fallback_width
        return max(10, width - AXIS_COLUMNS)

    def _y_axis(self, top: float, side: str = "left", money: bool = False) -> None:
        ticks = nice_ticks(top)
        self.plt.yticks(ticks, [compact(t, money) for t in ticks], yside=side)
        self.plt.ylim(0, ticks[-1], yside=side)

    def _x_axis(self, starts: list[int], tz: tzinfo, fmt: str, n_labels: int = 7, extra: int = 0) -> None:
        n = len(starts) + extra
        if not starts:
            return
        step = max(1, round(n / n_labels))
        idx = list(range(0, len(starts), step))
        self.plt.xticks(idx, [datetime.fromtimestamp(starts[i] / 1000, tz).strftime(fmt) for i in idx])
        self.plt.xlim(-0.5, max(0.5, n - 0.5))

    def _reset(self, title: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)


class TokenTimelineChart(InsightChart):
    """Tokens per bucket as stacked bars (token types or models add up to the total), cost as a line on the right
    axis."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._data = None

    def set_data(self, starts: list[int], series: dict[str, list[float]], cost: list[float], tz: tzinfo,
                 point_ms: int, title: str) -> None:
        self._data = (starts, series, cost, tz, point_ms, title)
        self.replot()

    def replot(self) -> None:
        if self._data is None:
            return
        starts, series, cost, tz, point_ms, title = self._data
        plt = self.plt
        self._reset(title)
        xs = list(range(len(starts)))
        shown = {k: v for k, v in series.items() if any(v)}
        if shown:
            colors = [SERIES_COLORS[list(series).index(k) % len(SERIES_COLORS)] for k in shown]
            plt.stacked_bar(xs, list(shown.values()), labels=list(shown), color=colors, width=0.8, fill=True,
                            marker="hd")
            top = max(sum(v[i] for v in shown.values()) for i in xs)
            self._y_axis(top, "left")
        if any(cost):
            plt.plot(xs, cost, label="cost (right axis)", marker="braille", color=COST_COLOR, yside="right")
            self._y_axis(max(cost), "right", money=True)
        span = (starts[-1] - starts[0] + point_ms) if starts else 0
        self._x_axis(starts, tz, time_format(point_ms, span))
        self.refresh()


class BurnChart(InsightChart):
    """Cumulative spend in the period, the projection to its end with the range, and the budget line."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._data = None

    def set_data(self, starts: list[int], cumulative: list[float], bucket_ms: int, projection, tz: tzinfo,
                 title: str) -> None:
        """``starts``: every bucket of the period; ``cumulative``: spend up to each bucket that has begun."""
        self._data = (starts, cumulative, bucket_ms, projection, tz, title)
        self.replot()

    def replot(self) -> None:
        if self._data is None:
            return
        starts, cum, bucket_ms, p, tz, title = self._data
        plt = self.plt
        self._reset(title)
        n = len(starts)
        now_x = (p.now_ms - p.start_ms) / bucket_ms - 0.5
        end_x = n - 0.5
        if p.budget is not None:  # first, so the lines crossing it stay visible
            plt.plot([-0.5, end_x], [p.budget, p.budget], label=f"budget {compact(p.budget, money=True)}",
                     marker="braille", color=BUDGET_COLOR)
        if cum:
            plt.plot(list(range(len(cum))), cum, label="spent", marker="braille", color=LINE_COLOR)
        top = max([p.spent, p.projected, p.budget or 0.0, p.high or 0.0, *cum])
        if p.low is not None and p.high is not None:
            plt.plot([now_x, end_x], [p.spent, p.high], label="range (p10–p90)", marker="braille", color=RANGE_COLOR)
            plt.plot([now_x, end_x], [p.spent, p.low], marker="braille", color=RANGE_COLOR)
        plt.plot([now_x, end_x], [p.spent, p.projected], label="projected at the burn rate", marker="braille",
                 color=COST_COLOR)
        self._y_axis(top * 1.05 if top else 1.0, money=True)
        self._x_axis(starts, tz, "%H:%M" if p.period == "day" else "%m-%d", n_labels=7)
        self.refresh()


class EfficiencyTrendChart(InsightChart):
    """Tokens per useful change per bucket (left axis; buckets without a change are left out) and useful changes
    per bucket (right axis)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._data = None

    def set_data(self, starts: list[int], tokens_per_change: list[float | None], useful: list[float], tz: tzinfo,
                 point_ms: int, title: str) -> None:
        self._data = (starts, tokens_per_change, useful, tz, point_ms, title)
        self.replot()

    def replot(self) -> None:
        if self._data is None:
            return
        starts, tpc, useful, tz, point_ms, title = self._data
        plt = self.plt
        self._reset(title)
        pts = [(i, v) for i, v in enumerate(tpc) if v is not None]
        runs: list[list[tuple[int, float]]] = []  # consecutive buckets with a change: no line across a gap
        for i, v in pts:
            if runs and runs[-1][-1][0] == i - 1:
                runs[-1].append((i, v))
            else:
                runs.append([(i, v)])
        for k, run in enumerate(runs):
            plt.plot([i for i, _ in run], [v for _, v in run], label=None if k else "tokens per useful change",
                     marker="braille" if len(run) > 1 else "dot", color=LINE_COLOR)  # a lone point stays visible
        if pts:
            self._y_axis(max(v for _, v in pts))
        if any(useful):
            plt.plot(list(range(len(useful))), useful, label="useful changes (right axis)", marker="braille",
                     color=COST_COLOR, yside="right")
            self._y_axis(max(useful), "right")
        span = (starts[-1] - starts[0] + point_ms) if starts else 0
        self._x_axis(starts, tz, time_format(point_ms, span))
        self.refresh()


class ShareChart(InsightChart):
    """Cost per value of a dimension as horizontal bars, biggest first (at most ``TOP`` bars)."""

    TOP = 12

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._data = None

    def set_data(self, labels: list[str], values: list[float], title: str) -> None:
        self._data = (labels, values, title)
        self.replot()

    def replot(self) -> None:
        if self._data is None:
            return
        labels, values, title = self._data
        plt = self.plt
        self._reset(title)
        pairs = sorted(zip(labels, values), key=lambda p: -p[1])[: self.TOP]
        if pairs and any(v for _, v in pairs):
            names = [n[:28] for n, _ in reversed(pairs)]  # plotext draws the first bar at the bottom
            vals = [v for _, v in reversed(pairs)]
            plt.bar(names, vals, orientation="horizontal", width=0.6, color=SERIES_COLORS[3], marker="hd")
            ticks = nice_ticks(max(vals))
            plt.xticks(ticks, [compact(t, money=True) for t in ticks])
            plt.xlim(0, ticks[-1])
        self.refresh()
