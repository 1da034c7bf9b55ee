"""A DataTable that is updated by row key: cells change in place, the cursor stays on its row."""

from __future__ import annotations

from textual.widgets import DataTable


class KeyedTable(DataTable):
    """``sync(rows)`` with rows of (key, cells): updates, adds and removes rows without losing the cursor."""

    def __init__(self, columns: list[tuple[str, str]], **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self._columns = columns

    def on_mount(self) -> None:
        for key, label in self._columns:
            self.add_column(label, key=key)

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    def sync(self, rows: list[tuple[str, list]]) -> None:
        keep = self.current_key
        old = [k.value for k in self.rows]
        new = [k for k, _ in rows]
        with self.app.batch_update():
            if old == new:
                col_keys = [k for k, _ in self._columns]
                for key, cells in rows:
                    current = self.get_row(key)
                    for ck, value, cur in zip(col_keys, cells, current):
                        if value != cur:
                            self.update_cell(key, ck, value)
            else:
                scroll_y = self.scroll_y
                self.clear()
                for key, cells in rows:
                    self.add_row(*cells, key=key)
                if keep in new:
                    self.move_cursor(row=new.index(keep), animate=False)
                self.scroll_to(y=scroll_y, animate=False)
