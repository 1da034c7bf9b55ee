"""Screen 2: tokens over time, by token type or by model, with cost on a second axis."""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from nexus_tui.core.scoring import DAY_MS, HOUR_MS, bucket_label, choose_bucket
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_int, fmt_usd
from nexus_tui.store import analytics as A
from nexus_tui.widgets.chart import TokenChart


class TimelineScreen(InsightScreen):
    TITLE_TEXT = "Timeline"
    BINDINGS = [Binding("m", "toggle_split", "By model/type"), Binding("s", "toggle_session", "Session/all")]

    def __init__(self) -> None:
        super().__init__()
        self.by = "type"
        self.only_session = False

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield TokenChart(id="chart")

    def fetch(self):
        f = self.filters
        sid = self.app.selected_session if self.only_session else None
        lo, hi = A.span(self.engine, f)
        now = self.app.now_ms()
        start = f.since_ms if f.since_ms is not None else lo
        end = f.until_ms if f.until_ms is not None else (max(hi or now, now) if f.since_ms is not None else hi)
        if start is None or end is None:
            return None
        if sid:
            start, end = lo or start, hi or end
        width = max(20, (self.query_one("#chart").size.width or 100) - 12)
        bucket = choose_bucket(max(1, end - start), width)
        offset = int(datetime.fromtimestamp(start / 1000, self.app.tz).utcoffset().total_seconds() * 1000)
        data = A.timeline(self.engine, f, bucket, offset, self.by, session_id=sid)
        data.update(bucket=bucket, session=sid)
        return data

    def show(self, data) -> None:
        chart = self.query_one("#chart", TokenChart)
        summary = self.query_one("#summary", Static)
        if not data or not data["buckets"]:
            summary.update("No tokens in this range. Widen it with t, or open the demo: nexus-insights --demo")
            chart.show([], {}, [], "", self.app.tz, "%H:%M")
            return
        b = data["bucket"]
        fmt = "%H:%M" if b < HOUR_MS * 3 else ("%m-%d %H:%M" if b < DAY_MS else "%Y-%m-%d")
        series = data["series"]
        total = sum(sum(v) for v in series.values())
        title = (f"tokens per {bucket_label(b)} by {'model' if self.by == 'model' else 'token type'}"
                 + (f" — session {data['session'][:8]}" if data["session"] else ""))
        chart.show(data["buckets"], series, data["cost"], title, self.app.tz, fmt)
        summary.update(f"{len(data['buckets'])} buckets of one {bucket_label(b)} · {fmt_int(total)} tokens · "
                       f"{fmt_usd(sum(data['cost']))} · range: {self.app.range_label()} · m: split by "
                       f"{'type' if self.by == 'model' else 'model'} · s: {'all sessions' if self.only_session else 'selected session'}")

    def action_toggle_split(self) -> None:
        self.by = "model" if self.by == "type" else "type"
        self.refresh_data()

    def action_toggle_session(self) -> None:
        if self.app.selected_session is None and not self.only_session:
            self.notify("Select a session on the Sessions screen (1) first.")
            return
        self.only_session = not self.only_session
        self.refresh_data()
