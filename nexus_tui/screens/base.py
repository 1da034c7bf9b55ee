"""The base of every dashboard screen: shared state from the app, data loaded off the UI thread.

The contract (docs/tui.md, "Writing a screen"):

- Shared state lives on the app: ``self.app.store`` (``Store``: ``.engine``, ``.url``), ``self.app.filters``
  (``nexus_tui.core.filters.Filters``, the range and filters every screen shows), ``self.app.settings``
  (``Settings``), ``self.app.now_ms()`` (the clock, pinned in tests and the demo), ``self.app.tz``,
  ``self.app.range_label()``. The properties ``store``, ``engine``, ``filters``, ``settings`` below are shortcuts.
- The app calls ``refresh_data()`` on mount, when the filters change (``FiltersChanged``), when the collector wrote
  new rows (``StoreChanged``) and after a rating (``TaskRated``). A screen that is not in view is marked stale and
  refreshes when it is shown again.
- The default ``refresh_data()`` runs ``fetch()`` in a worker thread and hands its result to ``show(data)`` on the
  UI thread. Other queries: ``run_query(fn, *args, tag="x")`` runs ``fn(*args)`` in a thread worker
  (``exclusive`` per tag: a newer query of the same tag supersedes an older one) and delivers the result to
  ``show_query("x", data)``. Workers never touch widgets; results come back as ``QueryDone`` messages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Header
from textual.worker import Worker, get_current_worker

from nexus_tui.core.report import safe
from nexus_tui.messages import QueryDone
from nexus_tui.store.cancel import QueryCancelled
from nexus_tui.widgets._textual_private import css_update_count, screen_stacks
from nexus_tui.widgets.footer import AppFooter
from nexus_tui.widgets.status import StatusBar

MAIN = "main"
# Benchmark hook (bench/tui.py): when set, every screen appends "<epoch s> shown <Screen>" here after it showed data.
_TRACE = os.environ.get("NEXUS_INSIGHTS_TRACE")


def _trace(event: str) -> None:
    try:
        from nexus_tui.private import open_private

        fd = open_private(_TRACE, os.O_WRONLY | os.O_APPEND)  # the trace is private like every file we write
        try:
            os.write(fd, f"{time.time():.6f} {event}\n".encode())
        finally:
            os.close(fd)
    except OSError:
        pass


class InsightScreen(Screen):
    """A screen that shows numbers from the store under the app's shared filters."""

    TITLE_TEXT = ""
    loaded = False  # True once show() ran at least once (tests and benchmarks wait for it)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stale = False
        self._q_coalescing = False
        self._q_generations: dict[str, int] = {}  # tag -> generation of the newest query
        self._q_running: dict[str, int] = {}  # tag -> generation started and not answered yet
        self._q_pending: dict[str, tuple] = {}  # tag -> query to run when the running one answers
        self._q_threads: dict[tuple[str, int], int | None] = {}  # (tag, generation) -> thread id, to cancel

    # ------------------------------------------------------------ shared state
    @property
    def store(self):
        return self.app.store

    @property
    def engine(self):
        return self.app.store.engine

    @property
    def filters(self):
        return self.app.filters

    @property
    def settings(self):
        return self.app.settings

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.body()
        yield StatusBar(id="status")
        yield AppFooter()

    def body(self) -> ComposeResult:  # pragma: no cover - every screen overrides
        yield from ()

    # ------------------------------------------------------------ refresh protocol
    def on_mount(self) -> None:
        self.sub_title = safe(self.TITLE_TEXT)  # it may name data (a tool): control characters as escapes
        # styled as it mounted, with the stylesheet as of this count (NexusApp.switch_mode need not restyle it)
        self.mounted_css_count = css_update_count(self.app)
        if self.app.screen is not self and self._built_off_screen():
            self.mark_stale()  # built in the background (NexusApp.prebuild): loads when shown
            return
        self.refresh_data()

    def _built_off_screen(self) -> bool:
        """Whether this is a top-level screen built ahead of its first visit (not the one in view)."""
        return any(stack and stack[0] is self and self not in self.app.screen_stack
                   for stack in screen_stacks(self.app).values())

    def on_screen_resume(self) -> None:
        self.update_status()
        if self._stale:
            self.refresh_data()

    def mark_stale(self) -> None:
        """Called by the app instead of ``refresh_data()`` while the screen is not in view."""
        self._stale = True

    def refresh_data(self) -> None:
        """Reload everything this screen shows (override to run several queries; call ``update_status()``)."""
        self._stale = False
        self.update_status()
        self.run_query(self.fetch)

    def on_resize(self, _event) -> None:
        """The status bar's wording follows the width (app.status_line): said again at the new one."""
        self.update_status()

    def update_status(self) -> None:
        try:
            self.query_one("#status", StatusBar).update(self.app.status_line(self.size.width))
        except Exception:  # not composed yet, or being removed
            pass

    # ------------------------------------------------------------ queries off the UI thread
    def data_changed(self) -> None:
        """The collector wrote new rows: refresh, but let a query still running finish first (then run once more),
        so a query slower than the collector's pace is never restarted forever and never piles up."""
        self._q_coalescing = True
        try:
            self.refresh_data()
        finally:
            self._q_coalescing = False

    @property
    def querying(self) -> bool:
        """A query of this screen is running (the app's idle garbage collection waits for it)."""
        return bool(self._q_running)

    def run_query(self, fn: Callable[..., Any], *args, tag: str = MAIN, **kwargs) -> Worker | None:
        """Run ``fn(*args, **kwargs)`` in a thread worker; its result reaches ``show``/``show_query`` by message.

        A query of the same tag still running is cancelled (its SQLite statement interrupted) — unless this call
        comes from ``data_changed()``, in which case this one waits for it and runs when it ends.
        """
        if tag in self._q_running and getattr(self, "_q_coalescing", False):
            self._q_pending[tag] = (fn, args, kwargs)
            return None
        self._q_pending.pop(tag, None)
        self._cancel_tag(tag)
        gen = self._q_generations.get(tag, 0) + 1
        self._q_generations[tag] = gen
        self._q_running[tag] = gen
        return self.run_worker(partial(self._query_body, fn, args, kwargs, tag, gen), name=f"query:{tag}",
                               group=f"query:{tag}", thread=True, exclusive=True, exit_on_error=False)

    def _cancel_tag(self, tag: str) -> None:
        canceller = getattr(self.app, "query_canceller", None)
        for key, ident in list(self._q_threads.items()):
            if key[0] == tag:
                self._q_threads.pop(key, None)
                if ident is not None and canceller is not None:
                    canceller.cancel(ident)

    def cancel_queries(self) -> None:
        """Stop every query of this screen (their results are dropped); the screen reloads when shown again."""
        for tag in list(self._q_running):
            self._cancel_tag(tag)
            self._q_generations[tag] = self._q_generations.get(tag, 0) + 1
            self._stale = True
        self._q_running.clear()
        self._q_pending.clear()

    def on_screen_suspend(self) -> None:
        self.cancel_queries()  # the user left: nobody waits for these numbers, free the cores

    def _query_body(self, fn, args, kwargs, tag: str, gen: int) -> None:
        """Runs in the worker thread; always answers with one QueryDone (data, error, or cancelled)."""
        worker = get_current_worker()
        canceller = getattr(self.app, "query_canceller", None)
        ident = canceller.start() if canceller is not None else None
        self._q_threads[(tag, gen)] = ident  # dict stores are atomic; _cancel (UI thread) reads a copy
        done = QueryDone(tag, gen, error=QueryCancelled("cancelled"))
        try:
            # checked after registering, so a newer query started meanwhile either sees our id or we see it
            if not worker.is_cancelled and self._q_generations.get(tag) == gen:
                done = QueryDone(tag, gen, data=fn(*args, **kwargs))
        except Exception as e:  # a locked database, a vanished file, an interrupt: reported on the UI thread
            done = QueryDone(tag, gen, error=e)
        finally:
            if canceller is not None:
                canceller.finish(ident)
            self._q_threads.pop((tag, gen), None)
            self.post_message(done)

    def on_query_done(self, message: QueryDone) -> None:
        message.stop()
        tag = message.tag
        if message.generation != self._q_generations.get(tag) or not self.is_attached:
            return  # superseded or cancelled: a newer query of this tag is on its way (or none is wanted)
        self._q_running.pop(tag, None)
        pending = self._q_pending.pop(tag, None)
        if message.error is not None:
            if not isinstance(message.error, QueryCancelled):
                self.show_error(tag, message.error)
        else:
            try:
                if tag == MAIN:
                    self.show(message.data)
                    self.loaded = True
                    if _TRACE:
                        self.call_after_refresh(_trace, f"shown {type(self).__name__}")
                else:
                    self.show_query(tag, message.data)
            except Exception as e:  # noqa: BLE001 - data no screen expected (a value of another type stored by
                self.show_error(tag, e)  # another program): said on the screen, never the end of the dashboard
        if pending is not None:
            fn, args, kwargs = pending
            self.run_query(fn, *args, tag=tag, **kwargs)

    # ------------------------------------------------------------ what screens implement
    def fetch(self) -> Any:  # pragma: no cover - runs in a worker thread: SQL only, no widgets
        return None

    def show(self, data: Any) -> None:  # pragma: no cover - runs on the UI thread: update widgets by key
        pass

    def show_query(self, tag: str, data: Any) -> None:  # pragma: no cover
        pass

    def show_error(self, tag: str, error: BaseException) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from nexus_tui.store.engine import describe_db_error

        text = describe_db_error(error, self.app.store.url) if isinstance(error, SQLAlchemyError) \
            else f"{type(error).__name__}: {error}"
        self.notify(f"Could not load {self.TITLE_TEXT or tag}: {text}", severity="error", timeout=6, markup=False)
