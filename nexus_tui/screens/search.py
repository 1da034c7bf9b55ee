"""Search as you type, for a table screen with a ``#search`` Input (Sessions, Errors): ``/`` shows the box, the table
follows the typing once it pauses (every key is not a query of its own), Enter applies at once and leaves the box up
while it holds text, Escape clears. A screen mixes it in, names its table (``SEARCH_TABLE``) and may widen
``search_changed`` (Sessions goes back to its first page)."""

from __future__ import annotations

from textual.widgets import Input

from nexus_tui.widgets.keyed_table import KeyedTable


class SearchAsYouType:
    SEARCH_DELAY_S = 0.15  # typing pauses this long before the table follows (each key would be a query)
    SEARCH_TABLE = ""  # the id of the table the focus goes back to
    search: str = ""
    _search_timer = None

    def search_changed(self, typed: bool) -> None:
        """The search text changed (``typed``: a new search; else cleared): show what it selects."""
        self.refresh_data()

    def _stop_search_timer(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None

    def _search_visible(self, visible: bool) -> Input:
        """Show or hide the search box; hidden, it must not take the focus (keys would vanish into it)."""
        box = self.query_one("#search", Input)
        box.display = visible
        box.can_focus = visible
        return box

    def _focus_table(self) -> None:
        self.query_one(f"#{self.SEARCH_TABLE}", KeyedTable).focus()

    def action_search(self) -> None:
        box = self._search_visible(True)
        box.value = self.search
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "search" or not event.input.display:
            return
        event.stop()
        self._stop_search_timer()
        self._search_timer = self.set_timer(self.SEARCH_DELAY_S, self._apply_typed_search)

    def _apply_typed_search(self) -> None:
        self._search_timer = None
        box = self.query_one("#search", Input)
        value = box.value.strip()
        if not box.display or value == self.search:
            return
        self.search = value
        self.search_changed(True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            event.stop()
            self._stop_search_timer()
            self.search = event.value.strip()
            self._search_visible(bool(self.search))
            self._focus_table()
            self.search_changed(True)

    def action_clear_search(self) -> None:
        self._stop_search_timer()
        box = self.query_one("#search", Input)
        if self.search or box.display:
            had = bool(self.search)
            self.search = ""
            box.value = ""
            self._search_visible(False)
            self._focus_table()
            if had:
                self.search_changed(False)
