"""Charts: one PlotextPlot subclass per chart, fed with series already bucketed to the widget width."""

from __future__ import annotations

from datetime import datetime, tzinfo

from textual_plotext import PlotextPlot


class TokenChart(PlotextPlot):
    """Tokens per bucket (one line per token type or model) with cost on a second axis."""

    def show(self, buckets: list[int], series: dict[str, list[float]], cost: list[float], title: str,
             tz: tzinfo, fmt: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        if buckets:
            xs = list(range(len(buckets)))
            for name, ys in series.items():
                plt.plot(xs, ys, label=name)
            if cost:
                plt.plot(xs, cost, label="cost $ (right axis)", yside="right", marker="dot")
            step = max(1, len(xs) // 6)
            ticks = xs[::step]
            plt.xticks(ticks, [datetime.fromtimestamp(buckets[i] / 1000, tz).strftime(fmt) for i in ticks])
            plt.ylabel("tokens")
            plt.ylabel("USD", yside="right")
        self.refresh()
