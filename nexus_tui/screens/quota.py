"""Screen 7: the subscription quota as the provider reports it (Claude Code's status line, the proxy's rate-limit
headers): 5-hour and weekly bars with a pace marker and the reset countdown, the projection, used % over time with
the window boundaries, and the past windows. No snapshot: says so, and shows estimated 5-hour blocks from this
store's own tasks (docs/quota.md). Every string from data is shown as text."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from nexus_tui.core import quota as CQ
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_int, fmt_usd, level_styles, local_time, money_column, short_model
from nexus_tui.widgets.chart import QuotaChart
from nexus_tui.widgets.keyed_table import KeyedTable
from nexus_tui.widgets.safe import DataText

PAST_COLUMNS = [("window", "Window"), ("start", "Start"), ("end", "Reset"), ("peak", "Peak used"),
                ("hit", "Limit hit"), ("tokens", "Tokens (this store)"), ("cost", "Cost"), ("per", "Cost of 1 %")]
BLOCK_COLUMNS = [("start", "Block start"), ("end", "End"), ("active", "Active"), ("tasks", "Tasks"),
                 ("tokens", "Tokens"), ("cost", "Cost"), ("models", "Models")]
BAR_WIDTH = 40
CHART_DAYS = 7


@dataclass(frozen=True)
class Request:
    now_ms: int
    cost_mode: str
    history_days: int


def load_quota(engine, req: Request) -> dict:
    from nexus_tui.store.read import quota as SQ

    return SQ.report(engine, req.now_ms, req.history_days, req.cost_mode)


def bar(used_pct: float, elapsed_pct: float | None, width: int = BAR_WIDTH, styles: dict | None = None) -> Text:
    """``████░░│░░`` : filled to the used %; the pace marker ``│`` where an even pace would be now.
    ``styles``: the ok / warn / critical colours of the app's theme (``common.level_styles``)."""
    filled = max(0, min(width, round(width * used_pct / 100.0)))
    mark = None if elapsed_pct is None else max(0, min(width - 1, int(width * elapsed_pct / 100.0)))
    st = styles or {"ok": "green", "warn": "yellow", "critical": "red"}
    style = st["critical"] if used_pct >= 90 else (st["warn"] if used_pct >= 70 else st["ok"])
    t = Text()
    for i in range(width):
        if i == mark:
            t.append("│", style="bold")  # the default foreground: readable on a dark and a light theme
        elif i < filled:
            t.append("█", style=style)
        else:
            t.append("░", style="dim")
    return t


class QuotaScreen(InsightScreen):
    TITLE_TEXT = "Quota"
    DEFAULT_CSS = """
    QuotaScreen #quota-note, QuotaScreen #quota-bars { height: auto; }
    QuotaScreen #quota-chart { height: 1fr; min-height: 8; }
    QuotaScreen #quota-past { height: auto; max-height: 12; }
    QuotaScreen #quota-blocks { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict | None = None  # the last data shown (tests read it)
        self.history_days = 35  # how far back the estimated blocks look (settings: quota_history_days)

    def body(self) -> ComposeResult:
        yield Static(id="quota-note", classes="help")
        yield Static(id="quota-note-short", classes="short-note")  # the note in one line, where .help gives way
        yield Static(id="quota-bars")
        yield QuotaChart(id="quota-chart")
        # on a narrow terminal the columns that can be told from the others go first (a window's start is its reset
        # less its length), and a long list of models ends in "…": the rest stays readable, never scrolled sideways
        yield KeyedTable(PAST_COLUMNS, right=["peak", "tokens", "cost", "per"], drop=["start", "tokens"],
                         id="quota-past")
        yield KeyedTable(BLOCK_COLUMNS, right=["tasks", "tokens", "cost"], drop=["end"], clip={"models": 60},
                         id="quota-blocks")

    def on_mount(self) -> None:
        self.query_one("#quota-past", KeyedTable).focus()

    def refresh_data(self) -> None:
        self._stale = False
        self.update_status()
        days = self.history_days = getattr(self.settings, "quota_history_days", 35)
        self.run_query(load_quota, self.engine, Request(self.app.now_ms(), self.filters.cost_mode, days))

    def _window_text(self, w: dict) -> Text:
        t = DataText()
        t.append(f"{CQ.window_label(w['window']):<10}", style="bold")
        if w["account"]:
            t.append(f"[{w['account']}] ")
        if not w["current"]:
            t.append(f"{w['used_percentage']:.0f}% when last seen; reset at "
                     f"{local_time(self.app, w['resets_at_ms'], '%m-%d %H:%M')}, no snapshot since\n", style="dim")
            return t
        width = max(10, min(BAR_WIDTH, (self.app.size.width or 120) - 48))
        t.append_text(bar(w["used_percentage"], w["elapsed_percentage"], width, level_styles(self.app)))
        t.append(f" {w['used_percentage']:.0f}%")
        if w["pace"] is not None:
            t.append(f"  pace {w['pace']:.2f}x")
        if w["remaining_ms"] is not None:
            t.append(f"  resets in {CQ.fmt_duration(w['remaining_ms'])}")
        t.append("\n          ")
        if w["projected_percentage"] is not None:
            t.append(f"at this pace the window ends at {w['projected_percentage']:.0f}%")
            if w["will_hit_limit"] and w["full_at"]:
                from datetime import datetime

                full = datetime.fromisoformat(w["full_at"].replace("Z", "+00:00")).timestamp() * 1000
                early = (w["resets_at_ms"] or full) - full
                t.append(f"; 100% at {local_time(self.app, int(full), '%m-%d %H:%M')}, "
                         f"{CQ.fmt_duration(int(early))} before the reset", style=level_styles(self.app)["critical"])
        else:
            t.append("too early in the window for a pace", style="dim")
        u = w["usage"]
        t.append(f"\n          counted here: {fmt_int(u['tokens'])} tokens, {fmt_usd(u['cost_usd'])}"
                 + (f" · 1% ≈ {fmt_usd(u['cost_per_pct_usd'])}, {fmt_int(u['tokens_per_pct'])} tok"
                    if u["cost_per_pct_usd"] is not None else ""), style="dim")
        t.append(f"\n          {w['source']}, seen {local_time(self.app, w['observed_ms'], '%m-%d %H:%M')}\n",
                 style="dim")
        return t

    def show(self, data) -> None:
        self.shown = data
        note = self.query_one("#quota-note", Static)
        bars = self.query_one("#quota-bars", Static)
        chart = self.query_one("#quota-chart", QuotaChart)
        past = self.query_one("#quota-past", KeyedTable)
        blocks = self.query_one("#quota-blocks", KeyedTable)
        has = data["has_snapshots"]
        for w in (bars, chart, past):
            w.display = has
        blocks.display = not has
        short = self.query_one("#quota-note-short", Static)
        if not has:
            rows = data["estimate"]["blocks"]
            # an empty table says why (the blocks look back a fixed number of days from now, whatever the range)
            none = "" if rows else (f"no task of an Anthropic model in the last {self.history_days} days, so no "
                                    "block to show.")
            short.update(Text("No quota snapshot stored (docs/statusline.md). " + (
                f"Estimated 5-hour blocks: {none}" if none else "Below: estimated 5-hour blocks, not the "
                                                                 "provider's quota."), style="dim"))
            note.update(Text("No quota snapshot is stored. Claude Code hands the real 5-hour and 7-day use to its "
                             "status-line command for Claude.ai subscribers (nexus-insights statusline, "
                             "docs/statusline.md); the recording proxy reads it from response headers. Nothing here "
                             "guesses a plan's limit.\n\nEstimated 5-hour blocks: " + data["estimate"]["method"]
                             + (f"\n\nThere is {none}" if none else "")))
            costs = money_column([b["cost_usd"] for b in rows])  # one precision in the column
            blocks.sync([(str(b["start_ms"]), [local_time(self.app, b["start_ms"]),
                                               local_time(self.app, b["end_ms"], "%H:%M"),
                                               "yes" if b["active"] else "", fmt_int(b["tasks"]),
                                               fmt_int(b["tokens"]), c,
                                               DataText(", ".join(short_model(m) for m in b["models"]))])
                         for b, c in zip(rows, costs)])
            return
        short.update(Text("Used % as the provider reported it; │ = an even pace now.", style="dim"))
        note.update(Text("Used % as the provider reported it; the │ marks where an even pace would be now. "
                         "Pace = used % ÷ elapsed % of the window."))
        t = DataText()
        for w in data["windows"]:
            t.append_text(self._window_text(w))
        bars.update(t)
        now = self.app.now_ms()
        # from the first snapshot (at most CHART_DAYS back) to now, or the next reset within 5 hours
        times = [t for s in data["series"] for seg in s["periods"] for t, _u in seg]
        start = max(now - CHART_DAYS * CQ.DAY_MS, min(times, default=now) - CQ.HOUR_MS)
        ahead = [b for s in data["series"] for b in s["boundaries"] if now < b <= now + CQ.BLOCK_MS]
        end = max([now, *ahead])
        series = [(CQ.window_label(s["window"]) + (f" {s['account']}" if s["account"] else ""), s["periods"],
                   s["boundaries"]) for s in data["series"]]
        chart.set_data(series, start, end, self.app.tz, "used % as reported (vertical lines: resets)")
        past.sync([(f"{p['window']}:{p['account']}:{p['end_ms']}",
                    [DataText(CQ.window_label(p["window"])), local_time(self.app, p["start_ms"]),
                     local_time(self.app, p["end_ms"]), f"{p['peak_percentage']:.0f}%",
                     "yes" if p["limit_hit"] else "no", fmt_int(p["tokens"]), c, per])
                   for p, c, per in zip(data["past_windows"],
                                        money_column([p["cost_usd"] for p in data["past_windows"]]),
                                        money_column([p["cost_per_pct_usd"] for p in data["past_windows"]]))])
        past.border_title = "Past windows"
