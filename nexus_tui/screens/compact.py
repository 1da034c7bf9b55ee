"""``nexus-insights --compact``: a small live view for a narrow tmux pane (usable at 40×12).

The 5-hour and 7-day quota bars with the pace marker and the reset countdown, today's cost against the daily
budget, and the current session (model, cost, context used). The numbers come from the same queries as the Quota
screen (``store/quota.report``), the Costs screen (``analytics.spend_in_windows`` over today) and the sessions
report (``ui_queries.current_session``). It refreshes like every screen (new rows from the collector or another
process) and redraws its countdowns every few seconds. Every string from data is shown as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from nexus_tui.core import quota as CQ
from nexus_tui.core.report import clip_cells, safe
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_usd, level_styles, local_time, money_column, short_model
from nexus_tui.screens.quota import BAR_WIDTH, bar
from nexus_tui.widgets.safe import DataText

TICK_SECONDS = 15.0  # countdowns and the clock redraw this often without new data
MAX_WINDOWS = 3  # 5h, 7d and one model-specific weekly window at most: the pane is small


@dataclass(frozen=True)
class Request:
    now_ms: int
    cost_mode: str
    history_days: int


def load_compact(engine, filters, tz, req: Request) -> dict:
    """Worker thread: the quota picture, today's spend, the current session."""
    from nexus_tui.core.scoring import period_bounds
    from nexus_tui.store.read import quota as SQ
    from nexus_tui.store.read import sessions as U
    from nexus_tui.store.read import usage as A

    q = SQ.report(engine, req.now_ms, req.history_days, req.cost_mode)
    d0, _d1 = period_bounds(req.now_ms, tz, "day")
    f = filters.with_(since_ms=None, until_ms=None)  # as on the Costs screen: today, whatever the range
    (today,) = A.spend_in_windows(engine, f, [(d0, req.now_ms + 1)])
    return {"now_ms": req.now_ms, "has_snapshots": q["has_snapshots"], "windows": q["windows"], "today": today,
            "session": U.current_session(engine, req.now_ms, req.cost_mode), "sessions": U.session_count(engine)}


def _clock(app, ms: int, fmt: str) -> str:
    """A local time in the app's zone (UTC without an app)."""
    if app is not None:
        return local_time(app, ms, fmt)
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime(fmt)


def _level_style(pct: float | None, styles: dict) -> str:
    if pct is None:
        return ""
    return styles["critical"] if pct >= 90 else (styles["warn"] if pct >= 70 else styles["ok"])


def compact_text(data: dict, width: int, budget: float | None, app=None) -> Text:
    """The whole view as one Text for a pane ``width`` columns wide (at least 40 is the design; narrower wraps)."""
    width = max(20, width)
    styles = level_styles(app)
    t = DataText(no_wrap=False)
    now = data["now_ms"]
    clock = _clock(app, now, "%H:%M")
    t.append("nexus", style="bold")
    t.append(f" · {clock}\n" if clock else "\n", style="dim")
    # ---- quota
    windows = [w for w in data["windows"] if w["current"]][:MAX_WINDOWS]
    if not data["has_snapshots"]:
        t.append("No quota snapshot stored: run Claude Code with nexus-insights statusline "
                 "(docs/statusline.md)\n", style="dim")
    elif not windows:
        t.append("No current quota snapshot (the last ones are from windows that have reset)\n", style="dim")
    for w in windows:
        label = CQ.window_label(w["window"])[:6]
        used = w["used_percentage"]
        tail = f" {used:3.0f}%"
        if w["remaining_ms"] is not None:
            tail += f" ↻{CQ.fmt_duration(w['remaining_ms']).replace(' ', '')}"
        bar_w = max(6, min(BAR_WIDTH, width - len(label) - 1 - 12))  # a wide pane: the bar stops at 40
        t.append(f"{label} ", style="bold")
        t.append_text(bar(used, w["elapsed_percentage"], bar_w, styles))
        t.append(tail + "\n", style=_level_style(used, styles))
        if w["pace"] is not None and w["projected_percentage"] is not None:
            line = f"{' ' * (len(label) + 1)}pace {w['pace']:.2f}x → "
            hit = w["will_hit_limit"] and w["full_at"]
            if hit:  # at this pace the window is full before it resets: when
                from datetime import datetime

                full = int(datetime.fromisoformat(w["full_at"].replace("Z", "+00:00")).timestamp() * 1000)
                fmt = "%H:%M" if abs(full - now) < 20 * CQ.HOUR_MS else "%m-%d %H:%M"
                line += f"100% at {_clock(app, full, fmt)}"  # a time, never a countdown that could read "0s"
            else:
                line += f"{w['projected_percentage']:.0f}% at reset"
            t.append(clip_cells(line, width) + "\n", style=styles["critical"] if hit else "dim")
    # ---- today against the daily budget
    today = data["today"]
    t.append("today ", style="bold")
    if budget:
        pct = 100.0 * today / budget
        spent, limit = money_column([today, budget])  # one precision for both
        t.append(f"{spent} of {limit} ")
        t.append(f"{pct:.0f}%\n", style=_level_style(pct, styles))
    else:
        t.append(money_column([today])[0])
        t.append(" (no daily budget)\n", style="dim")
    # ---- the current session
    s = data["session"]
    if s is None:
        t.append("No session yet" if not data["sessions"] else "No current session", style="dim")
        t.append("\n")
    else:
        t.append("session ", style="bold")
        t.append(clip_cells(safe(s["session_id"]), max(8, width - 8)) + "\n", style="dim")  # cut: with …
        # the latest task's model, else the one the status line reported (a session known only from it)
        model = safe(short_model(s["model"])) if s["model"] else "model unknown"
        cost = s["reported_cost_usd"] if s["reported_cost_usd"] is not None else s["cost_usd"]
        t.append(f"  {clip_cells(model, max(8, width - 24))}")
        t.append(f" · {fmt_usd(cost) if cost is not None else '—'}")
        ctx = s["context_used_pct"]
        t.append(" · ctx ")
        t.append(f"{ctx:.0f}%" if ctx is not None else "—", style=_level_style(ctx, styles))
        t.append("\n")
    return t


class CompactScreen(InsightScreen):
    """The compact view's one screen: no header, no footer, no tables; q quits."""

    TITLE_TEXT = "Compact"
    DEFAULT_CSS = """
    CompactScreen #compact { padding: 0 1; height: auto; color: $text; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict | None = None  # the last data shown (tests read it)

    def compose(self) -> ComposeResult:
        yield Static(id="compact")

    def on_mount(self) -> None:
        self.set_interval(TICK_SECONDS, self.data_changed)  # a query still running finishes first
        # (the base's on_mount runs after this one and loads the data)

    def refresh_data(self) -> None:
        self._stale = False
        days = getattr(self.settings, "quota_history_days", 35)
        self.run_query(load_compact, self.engine, self.filters, self.app.tz,
                       Request(self.app.now_ms(), self.filters.cost_mode, days))

    def show(self, data) -> None:
        self.shown = data
        self._render_view()

    def on_resize(self) -> None:
        if self.shown is not None:
            self._render_view()

    def _render_view(self) -> None:
        width = (self.size.width or self.app.size.width or 40) - 2  # the padding
        self.query_one("#compact", Static).update(compact_text(self.shown, width, self.settings.daily_budget_usd,
                                                               self.app))
