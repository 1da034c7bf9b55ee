"""A DataTable that is updated by row key: cells change in place, the cursor and scroll stay on their row."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable


class KeyedTable(DataTable):
    """``sync(rows)`` with rows of (key, cells): updates, adds and removes rows without losing the cursor.

    When the cursor is on the last row and moves down (or on the first and moves up) the table posts
    ``KeyedTable.EdgeReached`` so a paged screen can load the next (previous) page.
    """

    class EdgeReached(Message):
        """The cursor tried to move past the last (``direction`` 1) or first (-1) row."""

        def __init__(self, table: KeyedTable, direction: int) -> None:
            super().__init__()
            self.table = table
            self.direction = direction

        @property
        def control(self) -> KeyedTable:
            return self.table

    BINDINGS = [Binding("home", "scroll_top", "First row", show=False),  # rows, not columns: Home/End go to the
                Binding("end", "scroll_bottom", "Last row", show=False)]  # first and last row

    def __init__(self, columns: list[tuple[str, str]], **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self._columns = columns

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        """Once: on mount, or on the first sync if data arrives before this table's Mount was handled."""
        if not self.columns:
            for key, label in self._columns:
                self.add_column(label, key=key)

    def _update_dimensions(self, new_rows) -> None:
        # Column widths are measured when idle, after rows were added; lines painted before that (with the header
        # widths) stay in DataTable's line cache, which it clears only for auto-height rows: clear it here.
        super()._update_dimensions(new_rows)
        self._clear_caches()
        self.refresh()

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - the cursor is past the rows while they are replaced
            return None

    def set_labels(self, labels: dict[str, str]) -> None:
        """Change column titles (e.g. to show the sort order) without touching the rows."""
        from rich.text import Text

        changed = False
        for key, label in labels.items():
            col = next((c for c in self.columns.values() if c.key.value == key), None)
            if col is not None and col.label.plain != label:
                col.label = Text(label)
                col.content_width = max(col.content_width, len(label))
                changed = True
        if changed:
            self._clear_caches()
            self._require_update_dimensions = True
            self.refresh()

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.EdgeReached(self, 1))
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.row_count and self.cursor_row <= 0:
            self.post_message(self.EdgeReached(self, -1))
            return
        super().action_cursor_up()

    def sync(self, rows: list[tuple[str, list]], cursor: str | int | None = None) -> None:
        """Show ``rows``; the cursor stays on its row (or goes to ``cursor``: a key, or a row index)."""
        self._add_columns()
        keep = self.current_key
        old = [k.value for k in self.rows]
        new = [k for k, _ in rows]
        with self.app.batch_update():
            if old == new:
                col_keys = [k for k, _ in self._columns]
                for key, cells in rows:
                    current = self.get_row(key)
                    for ck, value, cur in zip(col_keys, cells, current):
                        if value != cur:  # a longer value widens its column instead of being cut
                            self.update_cell(key, ck, value, update_width=True)
                if cursor is not None:
                    self._place_cursor(cursor, new)
                return
            old_index = old.index(keep) if keep in old else None
            scroll_y = self.scroll_y
            self.clear()
            for key, cells in rows:
                self.add_row(*cells, key=key)
            if cursor is not None:
                self._place_cursor(cursor, new)
                return
            if keep in new:
                new_index = new.index(keep)
                self.move_cursor(row=new_index, animate=False, scroll=False)
                # rows inserted or removed above the cursor: scroll by as much, so the row stays put on screen
                shift = new_index - old_index if old_index is not None else 0
                self.call_after_refresh(self.scroll_to, y=max(0, scroll_y + shift), animate=False)
            else:
                self.move_cursor(row=min(old_index or 0, max(0, len(new) - 1)), animate=False, scroll=False)
                self.call_after_refresh(self.scroll_to, y=scroll_y, animate=False)

    def _place_cursor(self, cursor: str | int, keys: list[str]) -> None:
        if isinstance(cursor, str):
            row = keys.index(cursor) if cursor in keys else 0
        else:
            row = max(0, min(cursor, len(keys) - 1)) if cursor >= 0 else max(0, len(keys) + cursor)
        self.move_cursor(row=row, animate=False)
