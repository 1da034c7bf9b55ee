"""The base of every dashboard screen: shared state from the app, data loaded off the UI thread.

Contract: a screen implements ``fetch()`` (runs in a worker thread, asks store/queries or store/analytics, returns
plain data) and ``show(data)`` (runs on the UI thread, updates widgets by key). The app calls ``refresh_data()`` on
mount, when the filters change and when the collector reports new data.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import get_current_worker

from nexus_tui.widgets.status import StatusBar


class InsightScreen(Screen):
    """A screen that shows numbers from the store under the app's shared filters."""

    TITLE_TEXT = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.body()
        yield StatusBar(id="status")
        yield Footer()

    def body(self) -> ComposeResult:  # pragma: no cover - every screen overrides
        yield from ()

    def on_mount(self) -> None:
        self.sub_title = self.TITLE_TEXT
        self.refresh_data()

    def on_screen_resume(self) -> None:
        if getattr(self, "_stale", False):
            self.refresh_data()

    def mark_stale(self) -> None:
        self._stale = True

    def refresh_data(self) -> None:
        self._stale = False
        self.update_status()
        self._load()

    def update_status(self) -> None:
        try:
            self.query_one("#status", StatusBar).update(self.app.status_line())
        except Exception:
            pass

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load(self) -> None:
        data = self.fetch()
        if get_current_worker().is_cancelled:
            return
        try:
            self.app.call_from_thread(self._show, data)
        except RuntimeError:  # the app is shutting down
            pass

    def _show(self, data) -> None:
        if self.is_attached:
            self.show(data)
            self.loaded = True

    def fetch(self):  # pragma: no cover
        return None

    def show(self, data) -> None:  # pragma: no cover
        pass

    @property
    def engine(self):
        return self.app.store.engine

    @property
    def filters(self):
        return self.app.filters
