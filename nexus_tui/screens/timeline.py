"""Screen 2: tokens over time, by token type or by model, with cost on a second axis; the range or one session."""

from __future__ import annotations

from dataclasses import dataclass

from nexus_tui.widgets.safe import NAME_CELLS_IN_LINE, escape
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from nexus_tui.core.filters import drawn_span
from nexus_tui.core.scoring import bucket_label, choose_bucket
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import empty_hint, fmt_int, fmt_usd, local_time, plural, short_model
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import usage as RU
from nexus_tui.widgets.chart import TokenTimelineChart

HELP = ("m: split by token type / by model (the 6 biggest and 'other') · s: the whole range / the session selected "
        "on Sessions (1) · one point per bucket, the bucket the smallest of 1 min … 30 days that gives at most one "
        "point per column · cost on the right axis")


@dataclass(frozen=True)
class Request:
    """What to load, read on the UI thread (the worker never touches widgets)."""

    columns: int
    by: str
    session_id: str | None
    now_ms: int


class TimelineScreen(InsightScreen):
    TITLE_TEXT = "Timeline"
    BINDINGS = [Binding("m", "toggle_split", "Type/model"), Binding("s", "toggle_session", "Session/range")]

    def __init__(self) -> None:
        super().__init__()
        self.by = "type"
        self.only_session = False
        self._columns = 0
        self.shown = None  # the Timeline on screen (tests read it)

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield Static(id="totals", classes="kpis")
        yield TokenTimelineChart(id="chart")
        yield Static(HELP, classes="help")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one("#empty", Static).display = False
        # (the base's on_mount runs after this one: Textual calls every on_mount up the MRO; it loads the data)

    # ------------------------------------------------------------ loading
    def refresh_data(self) -> None:
        self._stale = False
        self.update_status()
        chart = self.query_one("#chart", TokenTimelineChart)
        self._columns = chart.plot_columns(self.app.size.width)
        sid = self.app.selected_session if self.only_session else None
        self.run_query(self.load, Request(self._columns, self.by, sid, self.app.now_ms()))

    def load(self, req: Request):
        """Worker thread: the range (or the session's span), its bucket, the series."""
        f = self.filters
        if req.session_id:
            lo, hi = RU.span(self.engine, f, req.session_id)
            if lo is None:
                return {"empty": f"Session {req.session_id} has no tasks. Press s for the whole range.", "req": req}
            start, end = lo, hi + 1
        else:
            lo, hi = RU.span(self.engine, f)
            if lo is None:
                return {"empty": None, "in_db": RS.session_count(self.engine), "req": req}
            start, end = drawn_span(f, lo, hi, req.now_ms)
        end = max(end, start + 1)
        bucket = choose_bucket(end - start, req.columns)
        tl = RU.timeline(self.engine, f, start_ms=start, end_ms=end, bucket_ms=bucket, tz=self.app.tz,
                        columns=req.columns, by=req.by, session_id=req.session_id)
        return {"timeline": tl, "start": start, "end": end, "req": req}

    def show(self, data) -> None:
        empty = self.query_one("#empty", Static)
        chart = self.query_one("#chart", TokenTimelineChart)
        req: Request = data["req"]
        has = "timeline" in data
        empty.display = not has
        for w in (chart, self.query_one("#summary"), self.query_one("#totals")):
            w.display = has
        if not has:
            self.shown = None
            empty.update(escape(data["empty"]) if data["empty"] else empty_hint(self.app, data["in_db"]))
            return
        tl: RU.Timeline = data["timeline"]
        self.shown = tl
        what = "by model" if req.by == "model" else "by token type"
        scope = (f"session {req.session_id}" if req.session_id else f"range: {self.app.range_label()}")
        fmt = "%Y-%m-%d %H:%M"
        self.query_one("#summary", Static).update(
            f"[b]Tokens per {bucket_label(tl.point_ms)}[/b] {what} · {escape(scope)} · "
            f"{local_time(self.app, data['start'], fmt)} – {local_time(self.app, data['end'] - 1, fmt)} · "
            f"{plural(len(tl.starts), 'point')} · [b]{fmt_int(tl.total_tokens)}[/b] tokens · "
            f"[b]{fmt_usd(tl.total_cost)}[/b]")
        series = tl.series
        if req.by == "model" and len({short_model(k) for k in series}) == len(series):  # no two share a short name
            series = {short_model(k): v for k, v in series.items()}
        self.query_one("#totals", Static).update(
            " · ".join(f"{escape(k, NAME_CELLS_IN_LINE)} {fmt_int(tl.totals[full])}"
                       for k, full in zip(series, tl.totals)))
        title = f"tokens per {bucket_label(tl.point_ms)} {what}" + (f" — session {req.session_id[:13]}"
                                                                     if req.session_id else "")
        chart.set_data(tl.starts, series, tl.cost, self.app.tz, tl.point_ms, title)

    # ------------------------------------------------------------ keys and size
    def action_toggle_split(self) -> None:
        self.by = "model" if self.by == "type" else "type"
        self.refresh_data()

    def action_toggle_session(self) -> None:
        if not self.only_session and self.app.selected_session is None:
            self.notify("Select a session on the Sessions screen (1) first.", timeout=3)
            return
        self.only_session = not self.only_session
        self.refresh_data()

    def on_resize(self, event: events.Resize) -> None:
        if self.is_attached and self.loaded:
            cols = self.query_one("#chart", TokenTimelineChart).plot_columns(self.app.size.width)
            if cols != self._columns:
                self.refresh_data()
