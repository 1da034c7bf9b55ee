"""The nexus-insights dashboard: a Textual app over the store, kept live by a collector thread."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static

from nexus_tui.collect.collector import Collector, CollectorThread, PassReport
from nexus_tui.config import Settings
from nexus_tui.core.filters import Filters, local_zone, parse_bound, preset
from nexus_tui.messages import FiltersChanged, StoreChanged
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.costs import CostsScreen
from nexus_tui.screens.efficiency import EfficiencyScreen
from nexus_tui.screens.sessions import SessionsScreen
from nexus_tui.screens.tiers import TiersScreen
from nexus_tui.screens.timeline import TimelineScreen
from nexus_tui.screens.tools import ToolsScreen
from nexus_tui.store import Store

SCREENS = [("sessions", "Sessions", SessionsScreen), ("timeline", "Timeline", TimelineScreen),
           ("costs", "Costs", CostsScreen), ("efficiency", "Efficiency", EfficiencyScreen),
           ("tiers", "Tiers", TiersScreen), ("tools", "Tools", ToolsScreen)]
RANGE_CYCLE = ["all", "30d", "7d", "today"]
RANGE_LABELS = {"all": "all time", "30d": "30 days", "7d": "7 days", "today": "today", "custom": "custom"}


class FiltersScreen(ModalScreen[dict | None]):
    """Time range and filters: dates, project, model, source, CLI tool, persona."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, filters: Filters, choices: dict[str, list[str]], tzname: str) -> None:
        super().__init__()
        self.filters = filters
        self.choices = choices
        self.tzname = tzname

    def compose(self) -> ComposeResult:
        f = self.filters
        with Vertical(id="filters-box"):
            yield Label(f"[b]Filters[/b] — dates as YYYY-MM-DD ({self.tzname}); empty = any. Enter applies.")
            yield Input(value=self.app.fmt_bound(f.since_ms), placeholder="since (YYYY-MM-DD)", id="since")
            yield Input(value=self.app.fmt_bound(f.until_ms, end=True), placeholder="until (YYYY-MM-DD, inclusive)",
                        id="until")
            for name in ("project", "model", "source", "cli_tool", "persona"):
                opts = ", ".join(self.choices.get(name, [])[:8])
                yield Input(value=getattr(f, name) or "", placeholder=f"{name}: {opts}", id=name)
            yield Button("Apply", variant="primary", id="apply")

    def on_input_submitted(self, _event) -> None:
        self._apply()

    def on_button_pressed(self, _event) -> None:
        self._apply()

    def _apply(self) -> None:
        self.dismiss({k: self.query_one(f"#{k}", Input).value.strip()
                      for k in ("since", "until", "project", "model", "source", "cli_tool", "persona")})

    def action_cancel(self) -> None:
        self.dismiss(None)


class NexusApp(App):
    """The dashboard. Owns the store, the collector thread, the shared filters and the rating undo stack."""

    CSS_PATH = "nexus.tcss"
    TITLE = "nexus-insights"
    MODES = {key: cls for key, _title, cls in SCREENS}
    DEFAULT_MODE = "sessions"
    BINDINGS = [
        *[Binding(str(i + 1), f"switch_mode('{key}')", title, show=True) for i, (key, title, _c) in enumerate(SCREENS)],
        Binding("t", "cycle_range", "Range"),
        Binding("f", "filters", "Filters"),
        Binding("question_mark", "show_keys", "Keys"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings, store: Store, collector: Collector | None = None,
                 now_ms: int | None = None, tz: str | None = None, demo: bool = False,
                 poll_seconds: float | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.collector = collector
        self._fixed_now = now_ms
        self.tz = local_zone(tz)
        self.tzname = tz or "local time"
        self.demo = demo
        self.filters = Filters()
        self.selected_session: str | None = None
        self.rating_undo: list[tuple[str, int | None]] = []
        self.last_report: PassReport | None = None
        self.passes = 0
        self.poll_seconds = poll_seconds if poll_seconds is not None else settings.poll_seconds
        self._thread: CollectorThread | None = None

    # ------------------------------------------------------------ clock and labels
    def now_ms(self) -> int:
        return self._fixed_now if self._fixed_now is not None else int(time.time() * 1000)

    def range_label(self) -> str:
        f = self.filters
        label = RANGE_LABELS.get(f.range_name, f.range_name)
        if f.range_name == "custom":
            label = f"{self.fmt_bound(f.since_ms) or '…'} – {self.fmt_bound(f.until_ms, end=True) or '…'}"
        extra = [f"{k}={getattr(f, k)}" for k in ("project", "model", "source", "cli_tool", "persona")
                 if getattr(f, k)]
        return label + (" · " + " ".join(extra) if extra else "")

    def fmt_bound(self, ms: int | None, end: bool = False) -> str:
        if ms is None:
            return ""
        return datetime.fromtimestamp((ms - (1 if end else 0)) / 1000, self.tz).strftime("%Y-%m-%d")

    def status_line(self) -> str:
        if self.demo:
            src = "demo database (copy in your home folder; collector off)"
        elif self.collector is None:
            src = "collector off"
        else:
            watched = sum(len(s.watched()) for s in self.collector.sources)
            src = f"watching {watched} folder(s)"
        rep = self.last_report
        if rep is None:
            return f"{src} · range: {self.range_label()}"
        tot = self.collector.totals if self.collector else rep
        last = datetime.fromtimestamp(rep.finished_ms / 1000, self.tz).strftime("%H:%M:%S") if rep.finished_ms else "-"
        probs = f" · [b]{len(tot.problems)} problem(s)[/b]: {tot.problems[-1][:80]}" if tot.problems else ""
        return (f"{src} · last pass {last} ({rep.seconds * 1000:.0f} ms) · added {tot.written.new_tasks:,} tasks, "
                f"{tot.written.new_tool_calls:,} tool calls · skipped {tot.skipped_total:,} lines · "
                f"range: {self.range_label()}{probs}")

    # ------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        if self.collector is not None:
            self.collector.notify = lambda rep: self.post_message(StoreChanged(rep))
            self._thread = CollectorThread(self.collector, interval=self.poll_seconds)
            self._thread.start()

    def on_unmount(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread.join(timeout=5)
        if self.collector is not None:
            self.collector.close()

    def on_store_changed(self, message: StoreChanged) -> None:
        rep = message.report
        self.last_report = rep
        self.passes += 1
        changed = rep.written.changed or self.passes == 1
        for screen in self._all_screens():
            if isinstance(screen, InsightScreen):
                if screen is self.screen and changed:
                    screen.refresh_data()
                elif screen is self.screen:
                    screen.update_status()
                elif changed:
                    screen.mark_stale()

    def _all_screens(self) -> Iterable[Screen]:
        seen = set()
        for stack in self._screen_stacks.values():
            for s in stack:
                if id(s) not in seen:
                    seen.add(id(s))
                    yield s

    def on_filters_changed(self, _message: FiltersChanged) -> None:
        for screen in self._all_screens():
            if isinstance(screen, InsightScreen):
                if screen is self.screen:
                    screen.refresh_data()
                else:
                    screen.mark_stale()

    # ------------------------------------------------------------ filters
    def set_filters(self, f: Filters) -> None:
        self.filters = f
        self.post_message(FiltersChanged())

    def action_cycle_range(self) -> None:
        cur = self.filters.range_name
        nxt = RANGE_CYCLE[(RANGE_CYCLE.index(cur) + 1) % len(RANGE_CYCLE)] if cur in RANGE_CYCLE else "all"
        since, until = preset(nxt, self.now_ms(), self.tz)
        self.set_filters(self.filters.with_(since_ms=since, until_ms=until, range_name=nxt))
        self.notify(f"Range: {RANGE_LABELS[nxt]}", timeout=2)

    def set_range(self, name: str) -> None:
        since, until = preset(name, self.now_ms(), self.tz)
        self.set_filters(self.filters.with_(since_ms=since, until_ms=until, range_name=name))

    def action_filters(self) -> None:
        from nexus_tui.store.analytics import filter_choices

        def done(values: dict | None) -> None:
            if values is None:
                return
            try:
                since = parse_bound(values["since"], self.tz, end=False) if values["since"] else None
                until = parse_bound(values["until"], self.tz, end=True) if values["until"] else None
            except ValueError as e:
                self.notify(str(e), severity="error")
                return
            rng = "custom" if since or until else ("all" if self.filters.range_name == "custom"
                                                   else self.filters.range_name)
            if rng != "custom" and rng != "all":
                since, until = preset(rng, self.now_ms(), self.tz)
            self.set_filters(Filters(since_ms=since, until_ms=until, range_name=rng,
                                     **{k: values[k] or None for k in ("project", "model", "source", "cli_tool",
                                                                       "persona")}))

        self.push_screen(FiltersScreen(self.filters, filter_choices(self.store.engine), self.tzname), done)

    def action_show_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for i, (key, title, _cls) in enumerate(SCREENS):
            yield SystemCommand(f"Show {title}", f"Open the {title} screen (key {i + 1})",
                                lambda k=key: self.switch_mode(k))
        for name in RANGE_CYCLE:
            yield SystemCommand(f"Range: {RANGE_LABELS[name]}", "Set the time range of every screen",
                                lambda n=name: self.set_range(n))
        yield SystemCommand("Filters…", "Dates, project, model, source, CLI tool, persona", self.action_filters)

    # ------------------------------------------------------------ ratings (through the collector's single writer)
    def rate_task(self, task_id: str, rating: int | None, remember: bool = True) -> None:
        self._write_rating(task_id, rating, remember)

    @work(thread=True, exit_on_error=False, group="rating")
    def _write_rating(self, task_id: str, rating: int | None, remember: bool) -> None:
        writer_call = self.collector.rate if self.collector is not None else self.store.writer.rate
        try:
            prev, n = writer_call(task_id, rating)
        except Exception as e:  # a locked or read-only database: say so, keep running
            self.call_from_thread(self.notify, f"Rating not saved: {e}", severity="error")
            return
        if n and remember:
            self.rating_undo.append((task_id, prev))
            del self.rating_undo[:-100]
        self.call_from_thread(self._after_rating, rating, n)

    def _after_rating(self, rating, n) -> None:
        if n:
            self.notify({1: "Rated helpful", 0: "Rated not helpful", None: "Rating cleared"}[rating], timeout=1.5)
        self.post_message(FiltersChanged())

    def undo_rating(self) -> None:
        if not self.rating_undo:
            self.notify("Nothing to undo", timeout=1.5)
            return
        task_id, prev = self.rating_undo.pop()
        self.rate_task(task_id, prev, remember=False)


def run_app(settings: Settings, demo: bool = False, collect: bool = True) -> int:
    """Open the dashboard (``demo``: on a copy of the bundled demo database, clock pinned to its end)."""
    import sys

    from nexus_tui.collect.registry import build_sources
    from nexus_tui.store import StoreError, open_store

    now = None
    try:
        if demo:
            from nexus_tui.demo import DEMO_BUDGETS, DEMO_NOW_MS, demo_copy, demo_now

            store = open_store(f"sqlite:///{demo_copy(settings.home)}")
            now = demo_now(store) or DEMO_NOW_MS
            collector = None
            if settings.daily_budget_usd is None and settings.monthly_budget_usd is None:
                settings.daily_budget_usd, settings.monthly_budget_usd = DEMO_BUDGETS
        else:
            store = open_store(settings.db_url)
            collector = Collector(store, build_sources(settings)) if collect else None
    except StoreError as e:
        print(f"nexus-insights: {e}", file=sys.stderr)
        return 2
    try:
        NexusApp(settings, store, collector, now_ms=now, demo=demo).run()
    finally:
        store.close()
    return 0
