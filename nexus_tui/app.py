"""The nexus-insights dashboard: a Textual app over the store, kept live by a collector thread."""

from __future__ import annotations

import gc
import importlib
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from pathlib import Path

from textual import events, work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand, UnknownModeError
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widget import AwaitMount
from textual.widgets import Static

from nexus_tui.collect.collector import Collector, CollectorThread, PassReport
from nexus_tui.config import Settings
from nexus_tui.core.filters import PRESET_DAYS, Filters, local_zone, preset, with_project_groups
from nexus_tui.core.fmt import plural
from nexus_tui.core.report import one_line, safe_text
from nexus_tui.messages import FiltersChanged, StoreChanged, TaskRated
from nexus_tui.screens.base import InsightScreen
from nexus_tui.store import Store
from nexus_tui.store.cancel import QueryCanceller
from nexus_tui.widgets import _textual_private as P
from nexus_tui.widgets.safe import escape

# The top-level screens: (mode name, key, title, module under nexus_tui/screens/, class). Each is an app MODE with
# its own stack; a module that is missing or fails to import shows a placeholder, so screens are built independently.
SCREEN_SPECS = [("sessions", "1", "Sessions", "sessions", "SessionsScreen"),
                ("timeline", "2", "Timeline", "timeline", "TimelineScreen"),
                ("costs", "3", "Costs", "costs", "CostsScreen"),
                ("efficiency", "4", "Efficiency", "efficiency", "EfficiencyScreen"),
                ("tiers", "5", "Tiers", "tiers", "TiersScreen"),
                ("tools", "6", "Tools", "tools", "ToolsScreen"),
                ("quota", "7", "Quota", "quota", "QuotaScreen"),
                ("errors", "8", "Errors", "errors", "ErrorsScreen")]
SCREENS_GROUP = Binding.Group("Screens")  # the footer shows "1 2 3 4 5 6 Screens"; ? lists them by name
NARROW_STATUS = 120  # columns: under this the status bar says the same in fewer words
NOTIFY_MIN_SECONDS = 0.25  # StoreChanged is posted at most four times a second
PREBUILD_AFTER_SECONDS = 0.3  # the real command builds the other top-level screens this long after starting,
PREBUILD_STEP_SECONDS = 0.1  # one at a time, keys answered in between (their queries run when first shown)
TUI_POLL_SECONDS = 1.0  # default pass interval in the app, so new data shows within two seconds
# full garbage collections while idle (NexusApp._start_idle_gc): after this long without a key and no query running,
GC_IDLE_SECONDS = 0.3
GC_EVERY_SECONDS = 1.0  # at most this often
GC_CHECK_SECONDS = 0.1
GC_FORCE_AFTER = 100  # young collections with survivors since the last full one: collect, idle or not (≈ 10 s busy)
GC_NO_AUTO_FULL = 1_000_000  # the third threshold: Python never starts a full collection by itself
GC_THAW_IDLE_SECONDS = 5.0
# counting the frozen objects walks them all (gc.get_freeze_count: 20 ms at 300,000 objects): during a long pause it
# is looked at this often, not at every check (every 0.1 s that was a fifth of a CPU while the app sat idle)
GC_THAW_CHECK_SECONDS = 30.0


class PlaceholderScreen(InsightScreen):
    """Stands in for a top-level screen whose module is missing or broken, so the rest of the app still works."""

    def __init__(self, title: str, problem: str) -> None:
        super().__init__()
        self.TITLE_TEXT = title
        self.problem = problem

    def body(self) -> ComposeResult:
        yield Static(f"The {self.TITLE_TEXT} screen is not available in this build.\n\n{self.problem}\n\n"
                     "Press 1 for Sessions.", classes="empty", markup=False)


def load_screen_class(module: str, cls_name: str, title: str):
    """The screen class ``nexus_tui.screens.<module>.<cls_name>``, or a factory for a placeholder that says why not."""
    try:
        return getattr(importlib.import_module(f"nexus_tui.screens.{module}"), cls_name)
    except ModuleNotFoundError as e:
        problem = (f"(nexus_tui/screens/{module}.py does not exist yet)" if e.name == f"nexus_tui.screens.{module}"
                   else f"(importing nexus_tui/screens/{module}.py failed: {e})")
    except Exception as e:  # a broken module must not take the other screens down
        problem = f"(importing nexus_tui/screens/{module}.py failed: {type(e).__name__}: {e})"
    return partial(PlaceholderScreen, title, problem)


SCREENS = [(mode, title, load_screen_class(module, cls, title)) for mode, _key, title, module, cls in SCREEN_SPECS]
RANGE_CYCLE = ["all", "30d", "7d", "today"]
RANGE_LABELS = {"all": "all time", "30d": "30 days", "7d": "7 days", "today": "today", "custom": "custom"}


class NexusApp(App):
    """The dashboard. Owns the store, the collector thread, the shared filters and the rating undo stack."""

    CSS_PATH = str(Path(__file__).with_name("nexus.tcss"))  # absolute: subclasses elsewhere find it too
    TITLE = "nexus-insights"
    MODES = {key: cls for key, _title, cls in SCREENS}
    DEFAULT_MODE = "sessions"
    # every screen gets -narrow/-wide and -short/-tall by the terminal's size: nexus.tcss fits 80×24 with them
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        *[Binding(key, f"show_mode('{mode}')", title, group=SCREENS_GROUP) for mode, key, title, _m, _c in SCREEN_SPECS],
        Binding("t", "cycle_range", "Range"),
        Binding("f", "filters", "Filters"),
        Binding("question_mark", "show_keys", "Keys"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, settings: Settings, store: Store, collector: Collector | None = None,
                 now_ms: int | None = None, tz: str | None = None, demo: bool = False,
                 poll_seconds: float | None = None, prebuild: bool = False,
                 filters: Filters | None = None, theme: str | None = None) -> None:
        super().__init__()
        if theme is not None:  # 'light' | 'dark' (core/theme.py choose_theme); None: Textual's default (dark)
            from nexus_tui.core.theme import textual_theme

            self.theme = textual_theme(theme)
        self.prebuild = prebuild  # build the other top-level screens in the background after the first one
        self.settings = settings
        self.store = store
        self.query_canceller = QueryCanceller(store.engine)  # screens stop queries nobody waits for any more
        self.collector = collector
        self._fixed_now = now_ms
        self.tz = local_zone(tz)
        self.tzname = tz or "local time"
        self.demo = demo
        # the starting range and filters; the cost mode ([pricing] cost_mode) is kept through every filter change
        self.filters = with_project_groups((filters if filters is not None else Filters()).with_(
            cost_mode=settings.cost_mode), getattr(settings, "project_groups", None))
        self.selected_session: str | None = None
        self.rating_undo: list[tuple[str, int | None]] = []  # (task id, rating before), touched by the rating worker
        self._rating_ops: deque[tuple] = deque()
        self._rating_lock = threading.Lock()
        self._rating_busy = False
        self.last_report: PassReport | None = None
        self.passes = 0
        if poll_seconds is None:  # an explicit [collector] poll_seconds wins; otherwise poll often enough for 2 s
            explicit = (settings.raw.get("collector") or {}).get("poll_seconds") \
                if isinstance(settings.raw.get("collector"), dict) else None
            poll_seconds = settings.poll_seconds if explicit is not None else TUI_POLL_SECONDS
        self.poll_seconds = poll_seconds
        self._thread: CollectorThread | None = None
        self._notify_lock = threading.Lock()
        self._last_post = 0.0
        self._pending: tuple[PassReport, bool] | None = None
        self._db_watch = None  # store.changes.ChangeWatcher: rows other processes write show within poll_seconds
        self._db_watch_busy = False
        self._last_input = 0.0  # time.monotonic() of the last key or click
        self._last_full_gc = 0.0
        self._thaw_above = 0
        self._next_thaw_check = 0.0
        self._gc_thresholds: tuple | None = None  # Python's, while _start_idle_gc has replaced them
        self.quota_5h: tuple[float, int | None] | None = None  # the current 5-hour used % and reset, when known
        self._alerts = None  # collect/alerts.py AlertMonitor, made on mount

    # ------------------------------------------------------------ clock and labels
    def now_ms(self) -> int:
        return self._fixed_now if self._fixed_now is not None else int(time.time() * 1000)

    def range_label(self) -> str:
        f = self.filters
        label = RANGE_LABELS.get(f.range_name, f.range_name)
        if f.range_name == "custom":
            label = f"{self.fmt_bound(f.since_ms) or '…'} – {self.fmt_bound(f.until_ms, end=True) or '…'}"
        extra = [f"{k}={getattr(f, k)}" for k in ("project", "model", "source", "cli_tool", "persona", "machine")
                 if getattr(f, k)]
        return label + (" · " + " ".join(extra) if extra else "")

    def fmt_bound(self, ms: int | None, end: bool = False) -> str:
        if ms is None:
            return ""
        return datetime.fromtimestamp((ms - (1 if end else 0)) / 1000, self.tz).strftime("%Y-%m-%d")

    def status_line(self, width: int | None = None) -> str:
        """The status bar's text (markup, its data escaped); shorter under ``NARROW_STATUS`` columns, so that the
        skipped lines and the range still show at 80 (the long form was cut after the tool calls)."""
        narrow = width is not None and width < NARROW_STATUS
        if self.demo:
            src = "demo database (copy in your home folder; collector off)"
        elif self.collector is None:
            src = "collector off"
        else:
            watched = sum(len(s.watched()) for s in self.collector.sources)
            src = plural(watched, "folder") if narrow else f"watching {plural(watched, 'folder')}"
        # the collector's own last pass (other writers, e.g. the OTLP receiver, also post StoreChanged)
        rep = (self.collector.last if self.collector is not None else None) or self.last_report
        if rep is None:
            progress = self.first_pass_progress()
            first = "" if self.collector is None else f" · first pass: {progress}…" if progress else " · first pass running…"
            return f"{src}{self._quota_status()}{first} · range: {escape(self.range_label())}"  # markup: the data escaped
        tot = self.collector.totals if self.collector else rep
        last = datetime.fromtimestamp(rep.finished_ms / 1000, self.tz).strftime("%H:%M:%S") if rep.finished_ms else "-"
        problems = (f"[b red]{plural(len(tot.problems), 'ingest problem')}[/b red]: "
                    f"{escape(tot.problems[-1][:30 if narrow else 80])}" if tot.problems else "")
        calls = tot.written.new_tool_calls - tot.written.new_results_only  # with their tool
        if narrow:  # pass time, what it added, skipped lines, range: 80 columns hold them
            counts = (f"{last} +{plural(tot.written.new_tasks, 'task')} +{plural(calls, 'call')} · "
                      f"{tot.skipped_total:,} skipped")
        else:
            counts = (f"last pass {last} ({rep.seconds * 1000:.0f} ms) · added "
                      f"{plural(tot.written.new_tasks, 'task')}, {plural(calls, 'tool call')} · "
                      f"{plural(tot.skipped_total, 'skipped line')}")
        src += self._quota_status()
        # ingest problems first, where a narrow terminal still shows them; none: said at the end
        return " · ".join(x for x in (src, problems, counts, self._receiver_status(),
                                      "" if problems or narrow else "no ingest problems",
                                      escape(self.range_label()) if narrow else f"range: {escape(self.range_label())}")
                          if x)

    def first_pass_progress(self) -> str:
        """'640 of 1,887 files read (312.4 of 1,003.5 MB)' while the collector's first pass runs (a cold start on a
        long history takes seconds to minutes); '' before it has planned, or with no pass running."""
        cur = self.collector.running if self.collector is not None else None
        if cur is None or not cur.files_todo:
            return ""
        return (f"{cur.files_read:,} of {plural(cur.files_todo, 'file')} read "
                f"({cur.bytes_read / 1e6:,.1f} of {cur.bytes_todo / 1e6:,.1f} MB)")

    def _receiver_status(self) -> str:
        """'OTLP: 3 records rejected (the most frequent reason)' when the OTLP receiver rejected any ('' else): its
        rejects were shown nowhere in the dashboard (the client alone was told, in partialSuccess)."""
        receiver = getattr(self, "_receiver", None)
        if receiver is None:
            return ""
        s = receiver.stats
        why = dict(s.skipped)
        parts = []
        if why:
            top = max(why.items(), key=lambda kv: kv[1])[0]
            parts.append(f"{plural(sum(why.values()), 'record')} rejected ({escape(top[:60])})")
        if s.rejected:
            parts.append(f"{plural(s.rejected, 'request')} refused")
        return "OTLP: " + ", ".join(parts) if parts else ""

    def _quota_status(self) -> str:
        """' · 5h 42% ↻1h 12m' when the current 5-hour use is known (docs/quota.md), else ''."""
        if self.quota_5h is None:
            return ""
        from nexus_tui.core.quota import fmt_duration

        used, reset = self.quota_5h
        left = f" ↻{fmt_duration(max(0, reset - self.now_ms()))}" if reset is not None else ""
        return f" · 5h {used:.0f}%{left}"

    def _check_quota(self) -> None:
        """After a pass: new alerts and the current 5-hour use, off the UI thread."""
        self.run_worker(self._check_quota_thread, thread=True, group="quota", exclusive=True, exit_on_error=False)

    def _check_quota_thread(self) -> None:
        from nexus_tui.store.read.quota import current_five_hour

        now = self.now_ms()
        if self._alerts is not None:
            self._alerts.check(now)
        try:
            five = current_five_hour(self.store.engine, now)
        except Exception:  # noqa: BLE001 - a locked or broken database: the status bar leaves it out
            five = None
        try:
            self.call_from_thread(self._set_quota, five)
        except RuntimeError:  # shutting down
            pass

    def _set_quota(self, five) -> None:
        if five != self.quota_5h:
            self.quota_5h = five
            shown = self._in_view()
            if isinstance(shown, InsightScreen):
                shown.update_status()

    def _deliver_alert(self, alert) -> None:
        """Runs in the checking thread: the bell and an in-app notification on the UI thread."""
        try:
            self.call_from_thread(self._show_alert, alert)
        except RuntimeError:
            pass

    def _show_alert(self, alert) -> None:
        if self.settings.alert_bell:
            self.bell()
        self.notify(alert.message, title="Alert", severity="error" if alert.threshold >= 100 else "warning",
                    timeout=15, markup=False)

    # ------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        if getattr(self.settings, "alerts_enabled", False) and not self.demo:
            from nexus_tui.collect.alerts import AlertMonitor

            self._alerts = AlertMonitor(self.settings, self.store.engine, self._deliver_alert, tz=self.tz,
                                        now=self.now_ms)
        self._check_quota()
        if self.prebuild:  # the real command (tests leave Python's garbage collection as it is)
            self.set_timer(PREBUILD_AFTER_SECONDS, self._prebuild_next)
            self._start_idle_gc()
        from nexus_tui.store.changes import ChangeWatcher

        self._db_watch = ChangeWatcher(self.store.engine)
        self._poll_db()  # the baseline
        self.set_interval(self.poll_seconds, self._poll_db)
        if self.collector is not None:
            self.collector.notify = self._collector_notify
            self._thread = CollectorThread(self.collector, interval=self.poll_seconds)
            self._thread.start()
            self.set_interval(NOTIFY_MIN_SECONDS, self._flush_pending_notify)
            self._first_tick = self.set_interval(1.0, self._first_pass_tick)
            if self.settings.otlp_enabled:  # [otlp] enabled = true in insights.toml
                self._start_otlp()
            if getattr(self.settings, "proxy_enabled", False):  # [proxy] enabled = true in insights.toml
                self._start_proxy()

    def _first_pass_tick(self) -> None:
        """Every second until the first pass ends: the status bar's progress moves between two writes too."""
        if self.collector is None or self.collector.last is not None:
            self._first_tick.stop()
            return
        shown = self._in_view()
        if isinstance(shown, InsightScreen):
            shown.update_status()

    def _prebuild_next(self) -> None:
        """Build (compose and mount, off screen) the next top-level screen not built yet, then the next one later.

        A first visit then costs what switching back costs (≈ 50 ms instead of 0.3–1.5 s of composing and mounting
        on the key press). The screen comes up stale (``InsightScreen.on_mount``), so its queries run only when it
        is first shown: building all of them costs no SQL.
        """
        todo = [mode for mode, _title, _cls in SCREENS if not P.screen_stacks(self).get(mode)]
        if not self.is_running:
            return
        if not todo:  # all built
            return
        if not getattr(self._in_view(), "loaded", True):  # the first screen's numbers come first
            self.set_timer(PREBUILD_STEP_SECONDS, self._prebuild_next)
            return
        P.build_mode_screen(self, todo[0])  # compose and mount run in the background
        if len(todo) > 1:
            self.set_timer(PREBUILD_STEP_SECONDS, self._prebuild_next)

    def _start_idle_gc(self) -> None:
        """Full garbage collections happen while nobody waits for the screen.

        Python's full collection walks every object the collector tracks (150,000–300,000 here: widgets, styles,
        cached strips, compiled SQL) holding the GIL, 0.1–0.25 s on a busy 2-core machine, and it ran about once a
        second of activity, in the middle of keys (docs/performance.md, "Dashboard"). So Python starts no full
        collection by itself any more; ``_collect_when_idle`` runs them: once no key has come for GC_IDLE_SECONDS
        and the screen waits for no query (at most every GC_EVERY_SECONDS), or whatever the activity once
        GC_FORCE_AFTER young collections have promoted objects since the last one (memory stays bounded). What
        survives a full collection is kept out of the next ones' sight (``gc.freeze``), so each walks only what
        came since (tens of ms); after GC_THAW_IDLE_SECONDS without a key, once the kept objects have grown by
        half, one collection walks them all again (cycles among them that became garbage are freed then)."""
        gc.freeze()
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(*self._gc_thresholds[:2], GC_NO_AUTO_FULL)
        self._last_full_gc = time.monotonic()
        self._thaw_above = gc.get_freeze_count() * 3 // 2
        self.set_interval(GC_CHECK_SECONDS, self._collect_when_idle)

    def _collect_when_idle(self) -> None:
        now = time.monotonic()
        quiet = now - self._last_input
        thaw = quiet >= GC_THAW_IDLE_SECONDS and now >= self._next_thaw_check
        if thaw:
            self._next_thaw_check = now + GC_THAW_CHECK_SECONDS
        if thaw and gc.get_freeze_count() > self._thaw_above:
            gc.unfreeze()  # a long pause: everything once, the frozen objects included
            gc.collect()
            gc.freeze()
            self._thaw_above = gc.get_freeze_count() * 3 // 2
            self._last_full_gc = time.monotonic()
            return
        pending = gc.get_count()[2]  # young (generation 1) collections since the last full one
        if not pending:
            return
        idle = (quiet >= GC_IDLE_SECONDS and now - self._last_full_gc >= GC_EVERY_SECONDS
                and not getattr(self._in_view(), "querying", False))
        if idle or pending >= GC_FORCE_AFTER:
            gc.collect()
            gc.freeze()
            self._last_full_gc = time.monotonic()

    async def on_event(self, event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)):
            self._last_input = time.monotonic()  # the idle full collection waits for a quiet moment
        await super().on_event(event)

    def _start_otlp(self) -> None:
        from nexus_tui.collect.otlp import ReceiverThread

        s = self.settings
        self._receiver = ReceiverThread(self.collector, s.otlp_host, s.otlp_port,  # its single writer
                                        notify=lambda res: self._collector_notify(PassReport(written=res)),
                                        token=s.otlp_token)
        self._receiver.start()
        self._receiver.ready.wait(5)
        if self._receiver.error is not None:
            self.notify(f"OTLP receiver not started on {s.otlp_host}:{s.otlp_port}: {self._receiver.error}",
                        severity="error", markup=False)
            self._receiver = None

    def _start_proxy(self) -> None:
        """The recording proxy in a thread; it appends to the event log, which the collector reads (its one writer)."""
        from nexus_tui.collect.proxy import ProxyThread, config_from_settings

        s = self.settings
        try:
            self._proxy = ProxyThread(config_from_settings(s), s.logs_dir)
        except ValueError as e:
            self.notify(f"recording proxy not started: {e}", severity="error", markup=False)  # quotes the config
            return
        self._proxy.start()
        self._proxy.ready.wait(5)
        if self._proxy.error is not None:
            self.notify(f"recording proxy not started on {s.proxy_host}:{s.proxy_port}: {self._proxy.error}",
                        severity="error", markup=False)
            self._proxy = None

    def _poll_db(self) -> None:
        """Every poll interval: ask (in a thread) whether another process changed the database."""
        if self._db_watch is None or self._db_watch_busy or not self.is_running:
            return
        self._db_watch_busy = True
        self._check_db()

    @work(thread=True, exit_on_error=False, group="db-watch")
    def _check_db(self) -> None:
        try:
            changed = self._db_watch.changed()
        except Exception:  # noqa: BLE001 - a locked or vanished database: the screens' own queries say so
            changed = False
        finally:
            self._db_watch_busy = False
        if changed:
            self.post_message(StoreChanged(None, True))  # a write by someone else: refresh what is in view

    def _collector_notify(self, rep: PassReport) -> None:
        """Runs in the collector thread: post StoreChanged at most every NOTIFY_MIN_SECONDS (never touch widgets)."""
        changed = bool(rep.written.changed)
        if changed and self._db_watch is not None:
            try:
                self._db_watch.mark_seen()  # this refresh covers it: the poller need not refresh for it again
            except Exception:  # noqa: BLE001
                pass
        with self._notify_lock:
            if self._pending is not None:
                changed = changed or self._pending[1]
            now = time.monotonic()
            if now - self._last_post < NOTIFY_MIN_SECONDS:
                self._pending = (rep, changed)  # the UI timer posts it
                return
            self._pending = None
            self._last_post = now
        self.post_message(StoreChanged(rep, changed))

    def _flush_pending_notify(self) -> None:
        with self._notify_lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._last_post = time.monotonic()
        if pending is not None:
            self.post_message(StoreChanged(*pending))

    def on_unmount(self) -> None:
        if self._gc_thresholds is not None:  # Python's own collection again (an app run inside a longer process)
            gc.set_threshold(*self._gc_thresholds)
            gc.unfreeze()
        if getattr(self, "_receiver", None) is not None:
            self._receiver.stop()
            self._receiver.join(timeout=5)
        if getattr(self, "_proxy", None) is not None:  # drains its recording queue into the event log
            self._proxy.stop()
            self._proxy.join(timeout=10)
        if self._thread is not None:
            self._thread.stop()
            self._thread.join(timeout=5)
        if self.collector is not None:
            self.collector.close()
        if self._db_watch is not None:
            self._db_watch.close()
        self.query_canceller.close()

    def on_store_changed(self, message: StoreChanged) -> None:
        rep = message.report
        if rep is not None:  # None: another process changed the database (no pass of ours)
            self.last_report = rep
            self.passes += 1
        changed = message.changed or self.passes == 1
        if changed:
            self._check_quota()
        shown = self._in_view()
        for screen in self._all_screens():
            if isinstance(screen, InsightScreen):
                if screen is shown and changed:
                    screen.data_changed()  # a query still running finishes first, then one more runs
                elif screen is shown:
                    screen.update_status()
                elif changed:
                    screen.mark_stale()

    def _in_view(self) -> Screen | None:
        """The screen in view, or None while the app starts or shuts down (no screen on the stack).

        Timers, workers' callbacks and messages can run in those moments; ``self.screen`` raises there, and one
        such raise from a timer ends the whole app. Everything but key handlers reads the screen through this."""
        try:
            return self.screen
        except (ScreenStackError, UnknownModeError):
            return None

    def _all_screens(self) -> Iterable[Screen]:
        seen = set()
        for stack in P.screen_stacks(self).values():
            for s in stack:
                if id(s) not in seen:
                    seen.add(id(s))
                    yield s

    def on_filters_changed(self, _message: FiltersChanged) -> None:
        self._refresh_screens()

    def _refresh_screens(self) -> None:
        """Reload the screen in view; the others reload when shown again. A preset range (today, 7 or 30 days,
        ending with today) moves on with the calendar: after midnight it is the new day's."""
        f = self.filters
        if f.range_name in PRESET_DAYS:
            since, until = preset(f.range_name, self.now_ms(), self.tz)
            if (since, until) != (f.since_ms, f.until_ms):
                self.filters = f.with_(since_ms=since, until_ms=until)
        shown = self._in_view()
        for screen in self._all_screens():
            if isinstance(screen, InsightScreen):
                if screen is shown:
                    screen.refresh_data()
                else:
                    screen.mark_stale()

    # ------------------------------------------------------------ filters
    def set_filters(self, f: Filters) -> None:
        self.filters = with_project_groups(f, getattr(self.settings, "project_groups", None))  # a group's name
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
        from nexus_tui.screens.filters import FiltersScreen

        def done(f: Filters | None) -> None:
            if f is not None and f != self.filters:
                self.set_filters(f)

        self.push_screen(FiltersScreen(self.filters), done)

    def action_show_keys(self) -> None:
        """``?``: this app's keys for the screen in view (screens/keys.py), not Textual's generic key panel."""
        from nexus_tui.screens.keys import KeysScreen

        if isinstance(self.screen, KeysScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(KeysScreen(self.screen))

    def action_show_mode(self, mode: str) -> None:
        """Switch to a top-level screen; pressing its key again goes back to its root (from a detail)."""
        if mode == self.current_mode:
            while len(self.screen_stack) > 1 and not isinstance(self.screen, ModalScreen):
                self.pop_screen()
        else:
            self.switch_mode(mode)

    def switch_mode(self, mode: str) -> AwaitMount:
        """Textual's ``switch_mode`` without two costs it adds to every switch to a screen already built.

        Textual holds all output for 50 ms (``delay_update``, to mask a screen being built) and re-applies the CSS
        to the whole screen it resumes (``ScreenResume(refresh_styles=True)``), which makes every DataTable drop its
        render caches and re-render every visible cell: together ≈ 100 ms per switch on a 2-core machine, for a
        screen whose styles did not change. A screen seen before is shown as it is (its CSS is refreshed when the
        stylesheet changed meanwhile, as Textual does); the first visit of a mode goes through Textual unchanged.
        """
        done = P.switch_to_built_mode(self, mode, self._css_refreshed)  # Textual's private API: in one module
        return done if done is not None else super().switch_mode(mode)

    _css_refreshed = 0  # the CSS update count the stylesheet was last refreshed (reparsed) for

    def refresh_css(self, animate: bool = True) -> None:
        self._css_refreshed = P.css_update_count(self)
        super().refresh_css(animate)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, key, title, _m, _c in SCREEN_SPECS:
            yield SystemCommand(f"Show {title}", f"Open the {title} screen (key {key})",
                                lambda m=mode: self.action_show_mode(m))
        for name in RANGE_CYCLE:
            yield SystemCommand(f"Range: {RANGE_LABELS[name]}", "Set the time range of every screen",
                                lambda n=name: self.set_range(n))
        yield SystemCommand("Range: custom dates…", "Pick the first and last day", self.action_filters)
        yield SystemCommand("Filters…", "Range, project, model, source, CLI tool, persona, machine (key f)", self.action_filters)
        yield SystemCommand("Clear filters", "Back to all time, every project, model, source, CLI tool, persona, machine",
                            lambda: self.set_filters(Filters(cost_mode=self.settings.cost_mode)))
        yield SystemCommand("Undo last rating", "The same as u", self.undo_rating)

    # ------------------------------------------------------------ ratings (through the collector's single writer)
    def rate_task(self, task_id: str, rating: int | None) -> None:
        """Rate a task (1 helpful, 0 not helpful, None cleared); written at once, in order, off the UI thread."""
        self._queue_rating(("rate", task_id, rating))

    def undo_rating(self) -> None:
        """Undo the last rating (also one queued but not written yet)."""
        self._queue_rating(("undo", None, None))

    def _queue_rating(self, op: tuple) -> None:
        with self._rating_lock:
            self._rating_ops.append(op)
            start = not self._rating_busy
            self._rating_busy = True
        if start:
            self._write_ratings()

    @work(thread=True, exit_on_error=False, group="rating")
    def _write_ratings(self) -> None:
        """Drain the rating queue in order through the collector's writer (or the store's, with no collector)."""
        write = self.collector.rate if self.collector is not None else self.store.writer.rate
        while True:
            with self._rating_lock:
                if not self._rating_ops:
                    self._rating_busy = False
                    return
                kind, task_id, rating = self._rating_ops.popleft()
            undo = kind == "undo"
            if undo:
                if not self.rating_undo:
                    self.notify("Nothing to undo", timeout=1.5)
                    continue
                task_id, rating = self.rating_undo.pop()
            try:
                prev, n = write(task_id, rating)
            except Exception as e:  # a locked or read-only database: say so, keep running
                from sqlalchemy.exc import SQLAlchemyError

                from nexus_tui.store.engine import describe_db_error

                why = describe_db_error(e, self.store.url) if isinstance(e, SQLAlchemyError) else str(e)
                self.notify(f"Rating not saved: {why}", severity="error", timeout=6, markup=False)
                if undo:
                    self.rating_undo.append((task_id, rating))
                continue
            if not n:
                self.notify(f"Task {task_id} is not in the database any more", severity="warning", timeout=3,
                            markup=False)
                continue
            if not undo:
                self.rating_undo.append((task_id, prev))
                del self.rating_undo[:-100]
            self.post_message(TaskRated(task_id, rating, undo=undo))

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification (screens' too: ``Widget.notify`` calls this): one shown as plain text
        (``markup=False``, how data is shown) gets its control characters as visible escapes, as markup gets them
        from ``widgets.safe.escape``."""
        if not markup:
            message, title = safe_text(message), safe_text(title)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def on_task_rated(self, message: TaskRated) -> None:
        word = {1: "helpful", 0: "not helpful", None: "cleared"}[message.rating]
        self.notify(f"Undone: rating {word}" if message.undo else
                    ("Rating cleared" if message.rating is None else f"Rated {word}"), timeout=1.5)
        self._refresh_screens()


class CompactApp(NexusApp):
    """``--compact``: one small live screen (screens/compact.py) for a narrow tmux pane; q quits."""

    MODES = {"compact": load_screen_class("compact", "CompactScreen", "Compact")}
    DEFAULT_MODE = "compact"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from App.get_system_commands(self, screen)


def start_filters(since: str | None, until: str | None, project: str | None, tz, machine: str | None = None
                  ) -> Filters:
    """The dashboard's starting range and filters from --since/--until/--project/--machine (ValueError: a bad
    date)."""
    from nexus_tui.core.filters import parse_bound

    f = Filters(since_ms=parse_bound(since, tz, end=False) if since else None,
                until_ms=parse_bound(until, tz, end=True) if until else None, project=project or None,
                machine=machine or None, range_name="custom" if since or until else "all")
    if f.since_ms is not None and f.until_ms is not None and f.since_ms >= f.until_ms:
        raise ValueError("--since must be before --until")
    return f


def run_app(settings: Settings, demo: bool = False, collect: bool = True, since: str | None = None,
            until: str | None = None, project: str | None = None, tz: str | None = None,
            theme: str | None = None, compact: bool = False, machine: str | None = None) -> int:
    """Open the dashboard (``demo``: on a copy of the bundled demo database, clock pinned to its end); ``since``,
    ``until``, ``project`` set its starting range and filter, ``tz`` its time zone (as in the reports); ``theme``
    ('light' | 'dark', from --theme) over ``[ui] theme`` over the terminal's COLORFGBG; ``compact``: the small
    live view (screens/compact.py) instead of the dashboard."""
    import os
    import sys

    from nexus_tui.core.theme import choose_theme

    from nexus_tui.collect.registry import build_sources
    from nexus_tui.store import StoreError, open_store

    try:
        zone = local_zone(tz)
    except Exception:  # noqa: BLE001 - ZoneInfo raises several kinds for a bad name
        print(f"nexus-insights: unknown time zone {one_line(repr(tz))} (use an IANA name such as Europe/Berlin or UTC)",
              file=sys.stderr)
        return 2
    try:
        filters = start_filters(since, until, project, zone, machine)
    except ValueError as e:
        print(f"nexus-insights: {one_line(e)}", file=sys.stderr)
        return 2
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
            from nexus_tui.machine import identity

            # a dashboard without the collector writes nothing but ratings: it does not register as a machine
            store = open_store(settings.db_url, machine=identity(settings) if collect else None)
            collector = Collector(store, build_sources(settings)) if collect else None
    except (StoreError, ValueError) as e:
        print(f"nexus-insights: {one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # the demo copy could not be made (a read-only or full home folder)
        print(f"nexus-insights: cannot prepare the demo in {one_line(settings.home / 'demo')}: {one_line(e)}", file=sys.stderr)
        return 2
    try:
        chosen = choose_theme(theme, settings.ui_theme, os.environ.get("COLORFGBG"))
        cls = CompactApp if compact else NexusApp
        cls(settings, store, collector, now_ms=now, demo=demo, prebuild=not compact, tz=tz, filters=filters,
            theme=chosen).run()
    finally:
        store.close()
    return 0
