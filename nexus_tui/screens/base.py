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
from textual.widgets import Footer, Header
from textual.worker import Worker, get_current_worker

from nexus_tui.messages import QueryDone
from nexus_tui.widgets.status import StatusBar

MAIN = "main"
# Benchmark hook (bench/tui.py): when set, every screen appends "<epoch s> shown <Screen>" here after it showed data.
_TRACE = os.environ.get("NEXUS_INSIGHTS_TRACE")


def _trace(event: str) -> None:
    try:
        with open(_TRACE, "a", encoding="utf-8") as f:  # type: ignore[arg-type]
            f.write(f"{time.time():.6f} {event}\n")
    except OSError:
        pass


class InsightScreen(Screen):
    """A screen that shows numbers from the store under the app's shared filters."""

    TITLE_TEXT = ""
    loaded = False  # True once show() ran at least once (tests and benchmarks wait for it)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stale = False
        self._generations: dict[str, int] = {}

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
        yield Footer()

    def body(self) -> ComposeResult:  # pragma: no cover - every screen overrides
        yield from ()

    # ------------------------------------------------------------ refresh protocol
    def on_mount(self) -> None:
        self.sub_title = self.TITLE_TEXT
        self.refresh_data()

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

    def update_status(self) -> None:
        try:
            self.query_one("#status", StatusBar).update(self.app.status_line())
        except Exception:  # not composed yet, or being removed
            pass

    # ------------------------------------------------------------ queries off the UI thread
    def run_query(self, fn: Callable[..., Any], *args, tag: str = MAIN, **kwargs) -> Worker:
        """Run ``fn(*args, **kwargs)`` in a thread worker; its result reaches ``show``/``show_query`` by message."""
        gen = self._generations.get(tag, 0) + 1
        self._generations[tag] = gen
        return self.run_worker(partial(self._query_body, fn, args, kwargs, tag, gen), name=f"query:{tag}",
                               group=f"query:{tag}", thread=True, exclusive=True, exit_on_error=False)

    def _query_body(self, fn, args, kwargs, tag: str, gen: int) -> None:
        worker = get_current_worker()
        if worker.is_cancelled:  # superseded before it started
            return
        try:
            data = fn(*args, **kwargs)
        except Exception as e:  # a locked database, a vanished file: say so on the UI thread, keep running
            self.post_message(QueryDone(tag, gen, error=e))
            return
        if not worker.is_cancelled:
            self.post_message(QueryDone(tag, gen, data=data))

    def on_query_done(self, message: QueryDone) -> None:
        message.stop()
        if message.generation != self._generations.get(message.tag) or not self.is_attached:
            return  # a newer query of this tag is on its way
        if message.error is not None:
            self.show_error(message.tag, message.error)
        elif message.tag == MAIN:
            self.show(message.data)
            self.loaded = True
            if _TRACE:
                self.call_after_refresh(_trace, f"shown {type(self).__name__}")
        else:
            self.show_query(message.tag, message.data)

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
        self.notify(f"Could not load {self.TITLE_TEXT or tag}: {text}", severity="error", timeout=6)
