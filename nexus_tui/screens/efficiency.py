"""Screen 4: efficiency = tokens (and cost) per useful change, overall, over time and per session (least efficient
first); a useful change is a successful file-changing tool call, not counted when its task was rated not helpful."""

from __future__ import annotations

from dataclasses import dataclass

from nexus_tui.widgets.safe import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from nexus_tui.core.filters import drawn_span
from nexus_tui.core.report import clip_cells, head_cells
from nexus_tui.core.scoring import HOUR_MS, bucket_label, choose_bucket, efficiency, line_rates
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import empty_hint, fmt_int, fmt_usd, local_time, money_column, plural, rating_summary
from nexus_tui.store.read import efficiency as RE
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import usage as RU
from nexus_tui.widgets.chart import EfficiencyTrendChart
from nexus_tui.widgets.keyed_table import KeyedTable
from nexus_tui.widgets.kpi import KpiRow, KpiTile

LIMIT = 200  # sessions listed (the least efficient; the totals cover every session)
TREND_POINTS = 45  # at most this many trend points: a day per point over 30 days, an hour over today
COLUMNS = [("sid", "Session"), ("start", "Start"), ("project", "Project"), ("cli", "CLI"),
           ("tpc", "Tokens/change"), ("cpc", "Cost/change"), ("lpd", "Lines/$"), ("lpm", "Lines/Mtok"),
           ("useful", "Useful"), ("discounted", "Not counted"),
           ("tokens", "Tokens"), ("cost", "Cost"), ("tasks", "Tasks"), ("rating", "Rated")]
RIGHT = {"tpc", "cpc", "lpd", "lpm", "useful", "discounted", "tokens", "cost", "tasks"}
DROP = ["cli", "rating", "discounted", "project", "start", "tasks", "tokens", "cost", "lpm"]  # narrow: these go first
HELP = ("[b]Efficiency[/b] = tokens ÷ useful changes (lower is better; cost ÷ useful changes beside it). A useful "
        "change is a successful call of Edit, MultiEdit, Write, NotebookEdit, write_file, replace, apply_patch, "
        "str_replace_based_edit_tool, fs_write, or an MCP tool that writes or edits files (docs/metrics.md has the "
        "list; add yours under \\[efficiency] file_changing_tools); a change made in a task rated not helpful does "
        "not count. [b]Lines/$[/b], [b]Lines/Mtok[/b]: lines added + removed as Claude Code's status line reports "
        "them (nexus-insights statusline), per dollar and per million tokens; — where no status line reported the "
        "session. "
        "z: sessions without a useful change · Enter: open the session.")


def extra_tools(settings) -> tuple[str, ...]:
    """Extra file-changing tool names from insights.toml: [efficiency] file_changing_tools = ["mcp__x__save"]."""
    from nexus_tui.config import file_changing_tools

    return file_changing_tools(settings)


@dataclass(frozen=True)
class Request:
    now_ms: int
    without_changes: bool


def fmt_tokens_per_change(x: float | None) -> str:
    return "no change" if x is None else fmt_int(round(x))


def fmt_rate(x: float | None) -> str:
    """Lines per dollar or per million tokens: '—' where unknown."""
    if x is None:
        return "—"
    return f"{x:,.1f}" if x < 10 else fmt_int(round(x))


def unknown_lines_note(rates) -> str:
    """Why the table shows '—' for lines per dollar or per Mtok, in words (empty when it shows none)."""
    why = []
    if any(r.lines is None for r in rates):
        why.append("no status line reported the session's lines")
    if any(r.lines is not None and (r.per_usd is None or r.per_mtok is None) for r in rates):
        why.append("no priced task or no tokens")
    return f"\nLines/$ and Lines/Mtok —: {'; '.join(why)}" if why else ""


class EfficiencyScreen(InsightScreen):
    TITLE_TEXT = "Efficiency"
    BINDINGS = [Binding("z", "toggle_zero", "No-change sessions")]

    def __init__(self) -> None:
        super().__init__()
        self.without_changes = False
        self.shown: dict | None = None  # the totals and sessions on screen (tests read them)
        self.trend: dict | None = None  # the trend on screen

    def body(self) -> ComposeResult:
        with KpiRow(id="tiles"):
            yield KpiTile("Tokens/change", id="kpi-tpc")
            yield KpiTile("Cost/change", id="kpi-cpc")
            yield KpiTile("Useful changes", id="kpi-changes")
            yield KpiTile("Without change", id="kpi-zero")
            yield KpiTile("Lines changed/$", id="kpi-lines")
        yield EfficiencyTrendChart(id="trend")
        yield Static(HELP, classes="help")
        yield Static(id="caption", classes="section")
        yield KeyedTable(COLUMNS, right=RIGHT, drop=DROP, id="sessions")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one("#empty", Static).display = False
        self.query_one("#sessions", KeyedTable).focus()
        # (the base's on_mount runs after this one: Textual calls every on_mount up the MRO; it loads the data)

    def refresh_data(self) -> None:
        """The totals and the table (main), and the trend in a second worker: on two cores they run side by side."""
        self._stale = False
        self.update_status()
        req = Request(self.app.now_ms(), self.without_changes)
        self.run_query(self.load, req)
        self.run_query(self.load_trend, req, tag="trend")

    def _range(self, req: Request) -> tuple[int, int] | None:
        f = self.filters
        lo, hi = RU.span(self.engine, f)
        if lo is None:
            return None
        return drawn_span(f, lo, hi, req.now_ms)

    def load(self, req: Request) -> dict:
        """Worker thread: the range's totals and its least efficient sessions."""
        f, extra = self.filters, extra_tools(self.settings)
        if self._range(req) is None:
            return {"in_db": RS.session_count(self.engine)}
        return {"in_db": None, "req": req, "totals": RE.efficiency_totals(self.engine, f, extra),
                "sessions": RE.efficiency_sessions(self.engine, f, extra, limit=LIMIT,
                                                  without_changes=req.without_changes)}

    def load_trend(self, req: Request) -> dict | None:
        """Worker thread: inputs per trend bucket."""
        span = self._range(req)
        if span is None:
            return None
        start, end = span
        bucket = choose_bucket(end - start, TREND_POINTS, minimum_ms=HOUR_MS)
        starts, trend = RE.efficiency_trend(self.engine, self.filters, start_ms=start, end_ms=end, bucket_ms=bucket,
                                           tz=self.app.tz, extra=extra_tools(self.settings))
        return {"bucket": bucket, "starts": starts, "trend": trend}

    def show_query(self, tag: str, data) -> None:
        self.trend = data
        if data is None:
            return
        scores = [self.score(d) for d in data["trend"]]
        tpc = [e.tokens_per_change for e in scores]  # None without a useful change: a gap, not 0
        useful = [e.useful if d["tasks"] or e.changes else None  # an idle bucket: no point at all
                  for d, e in zip(data["trend"], scores)]
        title = f"tokens per useful change, per {bucket_label(data['bucket'])}"
        # no point to draw: say why in words, not with an empty frame
        drawn = any(v is not None for v in tpc) or any(useful)
        title += " (lower is better)" if drawn else ": no useful change in this range"
        self.query_one("#trend", EfficiencyTrendChart).set_data(data["starts"], tpc, useful, self.app.tz,
                                                                data["bucket"], title)

    @staticmethod
    def score(d: dict):
        return efficiency(d["tokens"], d["cost"], d["ch_helpful"], d["ch_unrated"], d["ch_not_helpful"],
                          d["helpful"], d["not_helpful"])

    def show(self, data) -> None:
        self.shown = data
        has = data["in_db"] is None
        empty = self.query_one("#empty", Static)
        empty.display = not has
        for w in ("#tiles", "#trend", "#caption", "#sessions"):
            self.query_one(w).display = has
        if not has:
            empty.update(empty_hint(self.app, data["in_db"]))
            return
        t = data["totals"]
        e = self.score(t)
        self.query_one("#kpi-tpc", KpiTile).set(
            fmt_tokens_per_change(e.tokens_per_change), f"{fmt_int(e.tokens)} tokens\n÷ {plural(e.useful, 'change')}"
                                                        f" · {self.app.range_label()}")
        self.query_one("#kpi-cpc", KpiTile).set(
            fmt_usd(e.cost_per_change) if e.cost_per_change is not None else "no change",
            f"{fmt_usd(e.cost)}\n÷ {plural(e.useful, 'change')}")
        self.query_one("#kpi-changes", KpiTile).set(
            f"{e.useful:,.0f} of {fmt_int(e.changes)}", f"{fmt_int(e.discounted)} not counted\n"
                                                        f"of {plural(e.changes, 'file change')}\n"
                                                        f"rated: {e.helpful:,} helpful, {e.not_helpful:,} not")
        self.query_one("#kpi-zero", KpiTile).set(
            f"{fmt_int(t['no_change_sessions'])} of {plural(t['sessions'], 'session')}",
            f"{fmt_int(t['no_change_tokens'])} tokens\n{fmt_usd(t['no_change_cost'])} · z lists them")
        lr = line_rates(t["lines_added"], t["lines_removed"], t["lines_cost"], t["lines_tokens"])
        known = (f"{fmt_int(lr.lines)} lines, {plural(t['lines_sessions'], 'session')}" if lr.lines is not None
                 else "no status-line data")  # "—": no session in the range was reported by the status line
        self.query_one("#kpi-lines", KpiTile).set(fmt_rate(lr.per_usd), f"{fmt_rate(lr.per_mtok)} per Mtok\n{known}")
        rows = []
        scores = [self.score(d) for d in data["sessions"]]
        lines = [line_rates(d.get("lines_added"), d.get("lines_removed"), d["cost"], d["tokens"])
                 for d in data["sessions"]]
        cpc = money_column([s.cost_per_change for s in scores])
        cost = money_column([s.cost for s in scores])
        for i, (d, s) in enumerate(zip(data["sessions"], scores)):
            rows.append((d["sid"], [head_cells(d["sid"], 13), local_time(self.app, d["start_ms"], "%m-%d %H:%M"),
                                    clip_cells(d["project"] or "-", 16),
                                    d["cli_tool"] or "-", fmt_tokens_per_change(s.tokens_per_change),
                                    cpc[i], fmt_rate(lines[i].per_usd), fmt_rate(lines[i].per_mtok),
                                    f"{s.useful:,.0f}", fmt_int(s.discounted),
                                    fmt_int(s.tokens), cost[i], fmt_int(d["tasks"]),
                                    rating_summary(s.helpful, s.not_helpful)]))
        req: Request = data["req"]
        n = len(rows)
        self.query_one("#caption", Static).update(
            (f"[b]Sessions without a useful change[/b], most tokens first ({n:,} of {t['no_change_sessions']:,}) · "
             "z: back to the least efficient" if req.without_changes else
             f"[b]Least efficient sessions[/b], most tokens per useful change first ({n:,} of "
             f"{plural(t['sessions'] - t['no_change_sessions'], 'session')} with a change) · z: sessions without one")
            + f" · {escape(self.app.range_label())}" + unknown_lines_note(lines))
        self.query_one("#sessions", KeyedTable).sync(rows)

    # ------------------------------------------------------------ keys
    def action_toggle_zero(self) -> None:
        self.without_changes = not self.without_changes
        self.run_query(self.load, Request(self.app.now_ms(), self.without_changes))  # the trend stays

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self.app.selected_session = event.row_key.value  # Timeline's s shows this session

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        from nexus_tui.screens.session_detail import SessionDetailScreen

        self.app.push_screen(SessionDetailScreen(event.row_key.value))
