"""Charts: one PlotextPlot subclass per chart, each with a data-in method and ``replot()``.

They draw with the widget's own plotext figure (``self.plt``), never the global plotext module, and get series
already bucketed to at most one point per column (the screens ask for ``plot_columns()`` points).
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.strip import Strip
from textual_plotext import Plot, PlotextPlot

from nexus_tui.core.report import one_line, safe
from nexus_tui.core.scoring import DAY_MS, compact, nice_ticks
from nexus_tui.widgets._textual_private import RenderCache

AXIS_COLUMNS = 18  # columns taken by the two y axes' labels and the frame
# RGB, so the colours are the same in every terminal and theme (names are remapped by the "auto" plot theme)
SERIES_COLORS = [(86, 182, 194), (152, 195, 121), (198, 120, 221), (97, 175, 239), (224, 108, 117),
                 (209, 154, 102), (171, 178, 191)]
COST_COLOR = (229, 192, 123)
LINE_COLOR = (86, 182, 194)
RANGE_COLOR = (171, 178, 191)
BUDGET_COLOR = (224, 108, 117)
DARK_PALETTE = {"series": SERIES_COLORS, "cost": COST_COLOR, "line": LINE_COLOR, "range": RANGE_COLOR,
                "budget": BUDGET_COLOR}
# the same hues, darker: readable on a light theme's background (textual-light's #E0E0E0)
LIGHT_PALETTE = {"series": [(0, 122, 140), (56, 118, 29), (136, 57, 167), (1, 100, 190), (190, 40, 60),
                            (166, 90, 20), (90, 96, 110)],
                 "cost": (150, 100, 0), "line": (0, 122, 140), "range": (100, 106, 120), "budget": (190, 40, 60)}


def time_format(point_ms: int, span_ms: int) -> str:
    """strftime format for x labels: times within a day, dates beyond."""
    if point_ms >= 28 * DAY_MS:
        return "%Y-%m"
    if point_ms >= DAY_MS or span_ms > 14 * DAY_MS:
        return "%m-%d"
    if span_ms > DAY_MS:
        return "%m-%d %H:%M"
    return "%H:%M"


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _parse_rgb(params: list[str], i: int) -> tuple[int, int, int] | None:
    if params[i + 1: i + 2] == ["2"] and len(params) >= i + 5:
        r, g, b = (int(x) for x in params[i + 2: i + 5])
        return r, g, b
    return None


def plot_strips(ansi: str, width: int, height: int, fg: tuple, bg: tuple) -> list[Strip] | None:
    """The strips Textual makes of plotext's output (Text.from_ansi, then Content), made directly: one segment
    per run of one colour, colours from the 24-bit codes plotext writes (the widget's colours where it writes
    none), each with its ``offset`` meta. None when the output has anything else (then Textual does it)."""
    lines = ansi.split("\n")
    if len(lines) < height:
        return None
    lines = lines[:height]  # Textual crops to the widget's height too
    styles: dict = {}
    strips = []
    for y, line in enumerate(lines):
        segments = []
        x = 0
        pos = 0
        cur_fg, cur_bg = fg, bg
        for m in [*_SGR.finditer(line), None]:
            end = m.start() if m is not None else len(line)
            if end > pos:
                text = line[pos:end]
                if "\x1b" in text or not text.isprintable():
                    return None
                key = (cur_fg, cur_bg)
                colors = styles.get(key)
                if colors is None:
                    colors = styles[key] = (RichColor.from_rgb(*cur_fg), RichColor.from_rgb(*cur_bg))
                segments.append(Segment(text, RichStyle(color=colors[0], bgcolor=colors[1],
                                                        meta={"offset": (x, y)})))
                x += cell_len(text)
            if m is None:
                break
            pos = m.end()
            params = m.group(1).split(";") if m.group(1) else ["0"]
            i = 0
            while i < len(params):
                code = params[i]
                if code in ("0", ""):
                    cur_fg, cur_bg = fg, bg
                    i += 1
                elif code in ("38", "48"):
                    rgb = _parse_rgb(params, i)
                    if rgb is None:
                        return None
                    if code == "38":
                        cur_fg = rgb
                    else:
                        cur_bg = rgb
                    i += 5
                else:
                    return None  # bold, 256 colours...: Textual's way
        if x != width:
            return None
        strips.append(Strip(segments, width))
    return strips


NOT_DRAWN = "chart not drawn: its values are out of the range a chart can show"


def message_strips(text: str, width: int, height: int, style: RichStyle) -> list[Strip]:
    """The chart's area with one line of ``text`` in its middle (a chart plotext cannot draw)."""
    text = text[:width].center(width)
    blank = Strip.blank(width, style)
    return [Strip([Segment(text, style)], width) if y == height // 2 else blank for y in range(height)]


class InsightChart(PlotextPlot):
    """Shared axis helpers: compact y labels (so the plot keeps its columns) and time x labels.

    Painting: plotext draws the chart in a worker thread (``plt.build()`` is pure Python: ≈ 0.3 s for a 160x41
    stacked-bar chart on a 2-core machine, which on the UI thread held every key that long, once a second while the
    collector ingests); the chart on screen stays until the new one is ready. Its output is turned into strips
    directly (``plot_strips``, the strips Textual would make, ≈ 5x faster) and kept until the data, the size or the
    colours change. Each ``replot()`` draws on a new figure, so a build still running never sees it change.
    """

    BUILD_IN_THREAD: bool | None = None  # None: in a thread unless the app is headless (tests build in place)
    _plot_version = 0
    _plot_cache: tuple | None = None
    _building = None  # the key being built in the worker
    _no_bump = False
    _fallback_key = None

    def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
        if not self._no_bump:
            self._plot_version += 1  # replot() ends with refresh(); Textual refreshes on resize and style changes
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _build_in_thread(self) -> bool:
        return (not self.app.is_headless) if self.BUILD_IN_THREAD is None else self.BUILD_IN_THREAD

    def _render_content(self) -> None:
        width, height = self.size
        style = self.visual_style
        fg = style.foreground.rgb if style.foreground is not None else None
        bg = style.background.rgb if style.background is not None else None
        key = (self._plot_version, self.size, self.app.theme, fg, bg)
        strips = None
        if self._plot_cache is not None and self._plot_cache[0] == key:
            strips = self._plot_cache[1]
        elif fg is not None and bg is not None and width and height and key != self._fallback_key:
            if self._build_in_thread():
                if self._building is None:
                    self._start_build(key)
                old = self._plot_cache
                # until the new chart is ready: the last one if it has this size, else the widget's background
                strips = old[1] if old is not None and old[0][1] == self.size else \
                    [Strip.blank(width, style.rich_style)] * height
            else:
                self._prepare_plot(key)
                try:
                    strips = plot_strips(self._plot.build(), width, height, fg, bg)
                except Exception:  # noqa: BLE001 - plotext failing on odd data (a stored cost of 1e308)
                    strips = message_strips(NOT_DRAWN, width, height, style.rich_style)
                self._plot_cache = (key, strips) if strips is not None else None
                self._fallback_key = key if strips is None else None
        if strips is None and self._building is not None:  # never draw the figure the worker is drawing
            strips = [Strip.blank(width, style.rich_style)] * height
        if strips is None:
            try:
                super()._render_content()
                return
            except Exception:  # noqa: BLE001 - Textual's way builds the same figure: never a crash of the app
                strips = message_strips(NOT_DRAWN, width, height, style.rich_style)
        self._render_cache = RenderCache(self.size, strips)
        self._dirty_regions.clear()

    def _prepare_plot(self, key) -> None:
        _version, (width, height), theme, _fg, _bg = key
        self._plot.plotsize(width, height)
        self._plot._set_size(width, height)  # as PlotextPlot.render does
        self._plot.theme(self._get_plotext_theme_name(theme))

    def _start_build(self, key) -> None:
        self._building = key
        self._prepare_plot(key)
        plot = self._plot  # replot() draws on a new figure from now on (_reset)
        _version, (width, height), _theme, fg, bg = key

        def build() -> None:
            try:
                strips = plot_strips(plot.build(), width, height, fg, bg)
            except Exception:  # noqa: BLE001 - plotext failing on odd data (a stored cost of 1e308): said in the chart
                strips = message_strips(NOT_DRAWN, width, height, self.visual_style.rich_style)
            try:
                self.app.call_from_thread(self._built, key, strips)
            except RuntimeError:  # the app is shutting down
                pass

        self.run_worker(build, thread=True, group="plot", exit_on_error=False)

    def _built(self, key, strips) -> None:
        self._building = None
        if strips is None:
            self._fallback_key = key
        else:
            self._plot_cache = (key, strips)
        self._no_bump = True
        try:
            self.refresh()  # repaints from the cache; a newer version (data came meanwhile) starts the next build
        finally:
            self._no_bump = False

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

    def palette(self) -> dict:
        """The series colours for the app's theme (dark: One Dark's; light: darker hues)."""
        try:
            dark = self.app.current_theme.dark
        except Exception:  # noqa: BLE001 - no app yet
            dark = True
        return DARK_PALETTE if dark else LIGHT_PALETTE

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def _theme_changed(self, _theme: str) -> None:
        try:
            self.replot()  # the colours are drawn into the figure
        except Exception:  # noqa: BLE001 - no data yet
            pass

    def _reset(self, title: str) -> None:
        if self._building is not None:
            self._plot = Plot()  # the worker is drawing the old figure: never change it under its feet
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(one_line(title))


def label(value) -> str:
    """A series name from data as plotext may draw it: control characters (line breaks too) as visible escapes
    (plotext's output is ANSI text read back by ``Text.from_ansi``: an ESC in a name would be taken as colour codes
    or reach the terminal). Titles go through ``one_line``, the same escapes with line breaks folded."""
    return safe(value)


class TokenTimelineChart(InsightChart):
    """Tokens per bucket as stacked bars (token types or models add up to the total), cost as a line on the right
    axis."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._data = None

    def set_data(self, starts: list[int], series: dict[str, list[float]], cost: list[float], tz: tzinfo,
                 point_ms: int, title: str) -> None:
        self._data = (starts, {label(k): v for k, v in series.items()}, cost, tz, point_ms, title)
        self.replot()

    def replot(self) -> None:
        pal = self.palette()
        if self._data is None:
            return
        starts, series, cost, tz, point_ms, title = self._data
        self._reset(title)  # first: it may give the chart a new figure
        plt = self.plt
        xs = list(range(len(starts)))
        shown = {k: v for k, v in series.items() if any(v)}
        if shown:
            colors = [pal["series"][list(series).index(k) % len(pal["series"])] for k in shown]
            plt.stacked_bar(xs, list(shown.values()), labels=list(shown), color=colors, width=0.8, fill=True,
                            marker="hd")
            top = max(sum(v[i] for v in shown.values()) for i in xs)
            self._y_axis(top, "left")
        if any(cost):
            plt.plot(xs, cost, label="cost (right axis)", marker="braille", color=pal["cost"], yside="right")
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
        pal = self.palette()
        if self._data is None:
            return
        starts, cum, bucket_ms, p, tz, title = self._data
        self._reset(title)  # first: it may give the chart a new figure
        plt = self.plt
        n = len(starts)
        now_x = (p.now_ms - p.start_ms) / bucket_ms - 0.5
        end_x = n - 0.5
        if p.budget is not None:  # first, so the lines crossing it stay visible
            plt.plot([-0.5, end_x], [p.budget, p.budget], label=f"budget {compact(p.budget, money=True)}",
                     marker="braille", color=pal["budget"])
        if cum:
            plt.plot(list(range(len(cum))), cum, label="spent", marker="braille", color=pal["line"])
        top = max([p.spent, p.projected, p.budget or 0.0, p.high or 0.0, *cum])
        if p.low is not None and p.high is not None:
            plt.plot([now_x, end_x], [p.spent, p.high], label="range (p10–p90)", marker="braille", color=pal["range"])
            plt.plot([now_x, end_x], [p.spent, p.low], marker="braille", color=pal["range"])
        plt.plot([now_x, end_x], [p.spent, p.projected], label="projected at the burn rate", marker="braille",
                 color=pal["cost"])
        self._y_axis(top * 1.05 if top else 1.0, money=True)
        self._x_axis(starts, tz, "%H:%M" if p.period == "day" else "%m-%d", n_labels=7)
        self.refresh()


class EfficiencyTrendChart(InsightChart):
    """Tokens per useful change per bucket (left axis; buckets without a change are left out) and useful changes
    per bucket (right axis; idle buckets, None, are left out)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._data = None

    def set_data(self, starts: list[int], tokens_per_change: list[float | None], useful: list[float], tz: tzinfo,
                 point_ms: int, title: str) -> None:
        self._data = (starts, tokens_per_change, useful, tz, point_ms, title)
        self.replot()

    def replot(self) -> None:
        pal = self.palette()
        if self._data is None:
            return
        starts, tpc, useful, tz, point_ms, title = self._data
        self._reset(title)  # first: it may give the chart a new figure
        plt = self.plt
        # a bucket without a useful change has no tokens per change (a gap, never 0: "lower is better" would read
        # it as perfect); an idle bucket (no task, no change) has no point on either line
        pts = [(i, v) for i, v in enumerate(tpc) if v is not None]
        for k, run in enumerate(runs(tpc)):
            plt.plot([i for i, _ in run], [v for _, v in run], label=None if k else "tokens per useful change",
                     marker="braille" if len(run) > 1 else "dot", color=pal["line"])  # a lone point stays visible
        if pts:
            self._y_axis(max(v for _, v in pts))
        if any(useful):
            for k, run in enumerate(runs(useful)):
                plt.plot([i for i, _ in run], [v for _, v in run], label=None if k else "useful changes (right axis)",
                         marker="braille" if len(run) > 1 else "dot", color=pal["cost"], yside="right")
            self._y_axis(max(v for v in useful if v is not None), "right")
        span = (starts[-1] - starts[0] + point_ms) if starts else 0
        self._x_axis(starts, tz, time_format(point_ms, span))
        self.refresh()


def runs(values: list[float | None]) -> list[list[tuple[int, float]]]:
    """The (index, value) points of ``values`` in runs of consecutive indexes: None is a gap (no line across it)."""
    out: list[list[tuple[int, float]]] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        if out and out[-1][-1][0] == i - 1:
            out[-1].append((i, v))
        else:
            out.append([(i, v)])
    return out


class ShareChart(InsightChart):
    """Cost per value of a dimension as horizontal bars, biggest first (at most ``TOP`` bars)."""

    TOP = 12

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._data = None

    def set_data(self, labels: list[str], values: list[float], title: str) -> None:
        self._data = ([label(n) for n in labels], values, title)
        self.replot()

    def replot(self) -> None:
        pal = self.palette()
        if self._data is None:
            return
        labels, values, title = self._data
        self._reset(title)  # first: it may give the chart a new figure
        plt = self.plt
        pairs = sorted(zip(labels, values), key=lambda p: -p[1])[: self.TOP]
        if pairs and any(v for _, v in pairs):
            names = [n[:28] for n, _ in reversed(pairs)]  # plotext draws the first bar at the bottom
            vals = [v for _, v in reversed(pairs)]
            plt.bar(names, vals, orientation="horizontal", width=0.6, color=pal["series"][3], marker="hd")
            ticks = nice_ticks(max(vals))
            plt.xticks(ticks, [compact(t, money=True) for t in ticks])
            plt.xlim(0, ticks[-1])
        self.refresh()


class QuotaChart(InsightChart):
    """Used % of each quota window over time, as the provider reported it, with the window boundaries (resets) as
    vertical lines and the 100 % line."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._data = None

    def set_data(self, series: list[tuple[str, list[tuple[int, float]], list[int]]], start_ms: int, end_ms: int,
                 tz: tzinfo, title: str) -> None:
        """``series``: (label, [[(observed ms, used %)] per period], [reset ms]) per window; x runs from start_ms
        to end_ms."""
        self._data = ([(label(name), *rest) for name, *rest in series], start_ms, end_ms, tz, title)
        self.replot()

    def replot(self) -> None:
        pal = self.palette()
        if self._data is None:
            return
        series, start, end, tz, title = self._data
        self._reset(title)
        plt = self.plt
        span_h = max(1.0, (end - start) / 3_600_000)

        def x(ms: int) -> float:
            return (ms - start) / 3_600_000

        top = 100.0
        plt.plot([0, span_h], [100.0, 100.0], label="limit 100 %", marker="braille", color=pal["budget"])
        for i, (label, points, bounds) in enumerate(series):
            color = pal["series"][i % len(pal["series"])]
            for b in bounds:
                if start <= b <= end:
                    plt.vline(x(b), color=pal["range"])
            first = True
            for period in points:
                pts = [(x(t), u) for t, u in period if start <= t <= end]
                if pts:
                    plt.plot([p[0] for p in pts], [p[1] for p in pts], label=label if first else None,
                             marker="braille", color=color)
                    top = max(top, max(p[1] for p in pts))
                    first = False
        self._y_axis(top)
        n = 6
        ticks = [span_h * i / n for i in range(n + 1)]
        fmt = "%H:%M" if end - start <= DAY_MS else "%m-%d %H:%M"
        plt.xticks(ticks, [datetime.fromtimestamp((start + t * 3_600_000) / 1000, tz).strftime(fmt) for t in ticks])
        plt.xlim(0, span_h)
        self.refresh()
