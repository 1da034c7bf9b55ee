"""A DataTable that is updated by row key: cells change in place, the cursor and scroll stay on their row."""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from nexus_tui.core.report import safe_text, shown_as_is
from nexus_tui.widgets.safe import literal


def plain_cell(value) -> str | None:
    """The text of a cell that DataTable would show as one line of unstyled, left-aligned, single-width characters
    (so it can be measured and painted without Rich's renderer), or None for anything else (markup, emoji codes,
    Text with styles, numbers, several lines, wide characters), which goes through DataTable unchanged."""
    if isinstance(value, str):
        if "[" in value or value.count(":") > 1 or "\n" in value or "\t" in value or "\r" in value:
            return None  # markup or a possible :emoji: code: DataTable renders it through Text.from_markup
        text = value
    elif type(value) is Text:
        if value.spans or value.style or value.justify not in (None, "default", "left", "right") or value.overflow \
                or value.no_wrap is not None or value.end != "\n":
            return None
        text = value.plain
        if "\n" in text or "\t" in text or "\r" in text:
            return None
    else:
        return None
    return text if text.isprintable() and cell_len(text) == len(text) else None


def _clipped(cells: list, clip: list[tuple[int, int]]) -> list:
    """``cells`` with the values of the clipped columns cut to their width (with "…")."""
    out = None
    for i, n in clip:
        if i >= len(cells):
            continue
        v = cells[i]
        if isinstance(v, str) and cell_len(v) > n:
            t = Text(v)
        elif isinstance(v, Text) and v.cell_len > n:
            t = v.copy()
        else:
            continue
        t.truncate(n, overflow="ellipsis")
        if out is None:
            out = list(cells)
        out[i] = t.plain if isinstance(v, str) else t
    return cells if out is None else out


def right_aligned(value) -> bool:
    return type(value) is Text and value.justify == "right"


class KeyedTable(DataTable):
    """``sync(rows)`` with rows of (key, cells): updates, adds and removes rows without losing the cursor.

    When the cursor is on the last row and moves down (or on the first and moves up) the table posts
    ``KeyedTable.EdgeReached`` so a paged screen can load the next (previous) page.

    ``right``: keys of the columns shown right-aligned (numbers), title included. ``drop``: keys of columns that
    may be left out, the first dropped first, while the columns would not fit the table's width (the others always
    stay); they come back when it widens. ``clip``: column key -> the most cells its values take (longer ones end
    in "…"): for a column of names from data that always stays, so one long name cannot push the numbers beside it
    off the screen; when the columns that always stay still do not fit the width, the clipped ones take fewer cells
    (down to MIN_CLIP).
    """

    MIN_CLIP = 12

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

    def __init__(self, columns: list[tuple[str, str]], right=(), drop=(), hidden=(), clip=None, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        keys = [k for k, _label in columns]
        self._clip = [(keys.index(k), n) for k, n in (clip or {}).items() if k in keys]
        self._all_columns = list(columns)
        self._columns = [c for c in columns if c[0] not in hidden]  # the columns shown (all but the dropped ones)
        self._labels = dict(columns)
        self._right = set(right)
        self._drop = [k for k in drop if k in self._labels]
        self._hidden: set[str] = set(hidden) & set(self._labels)  # not shown whatever the width (hide())
        self._all_rows: list[tuple[str, list]] | None = None  # the last rows synced, every column, not clipped
        self._clip_now = self._clip  # the clip at the current width (_layout)

    def on_mount(self) -> None:
        self._add_columns()

    def _label(self, key: str):
        label = self._labels[key]
        return Text(label, justify="right") if key in self._right else label

    def _add_columns(self) -> None:
        """Once: on mount, or on the first sync if data arrives before this table's Mount was handled."""
        if not self.columns:
            for key, _label in self._columns:
                self.add_column(self._label(key), key=key)

    # ------------------------------------------------------------ columns that fit the width
    def _width(self) -> int:
        """The cells the columns may take (the vertical scrollbar's aside); 0 when not known yet."""
        width = self.size.width or (self.app.size.width if self.is_attached else 0)
        return max(1, width - 2) if width else 0

    def _layout(self, rows: list[tuple[str, list]]):
        """The columns to show, the clip at the table's width and ``rows`` (not clipped) clipped by it."""
        if not self._clip:
            return self._fit(rows), self._clip, rows
        clipped = [(key, _clipped(cells, self._clip)) for key, cells in rows]
        shown, over = self._fit(clipped, overflow=True)
        if over <= 0:
            return shown, self._clip, clipped
        keys = [k for k, _ in self._all_columns]
        visible = {k for k, _ in shown}
        clip = []
        for i, n in self._clip:  # the names give up cells, the numbers stay whole
            if keys[i] in visible and over > 0:
                longest = max((cell_len(c[i].plain if isinstance(c[i], Text) else str(c[i]))
                               for _k, c in clipped if i < len(c)), default=0)
                floor = max(self.MIN_CLIP, cell_len(self._labels[keys[i]]))
                cut = min(over, max(0, min(n, longest) - floor))
                clip.append((i, min(n, longest) - cut))
                over -= cut
            else:
                clip.append((i, n))
        return shown, clip, [(key, _clipped(cells, clip)) for key, cells in rows]

    def _fit(self, rows: list[tuple[str, list]], overflow: bool = False):
        """The columns to show for ``rows`` at the table's width: the droppable ones go, first first, until the rest
        fits (every column when the width is not known yet). With ``overflow``: (columns, cells they need beyond
        the width)."""
        columns = [c for c in self._all_columns if c[0] not in self._hidden]
        width = self._width()
        if not width or not (self._drop or overflow):
            return (columns, 0) if overflow else columns
        pad = 2 * self.cell_padding
        need = {}
        for i, (key, label) in enumerate(self._all_columns):
            if key in self._hidden:
                continue
            w = cell_len(self._labels.get(key, label))
            for _k, cells in rows:
                v = cells[i] if i < len(cells) else ""
                w = max(w, cell_len(v.plain if isinstance(v, Text) else str(v)))
            need[key] = w + pad
        keep = set(need)
        total = sum(need.values())
        for key in self._drop:
            if key not in keep:
                continue
            if total <= width:
                break
            keep.discard(key)
            total -= need[key]
        shown = [(k, label) for k, label in self._all_columns if k in keep]
        return (shown, total - width) if overflow else shown

    def _project(self, rows: list[tuple[str, list]]) -> list[tuple[str, list]]:
        """Rows with only the shown columns' cells (clipped), numbers right-aligned; rebuilds the columns when they
        change."""
        before = self._clip_now
        shown, self._clip_now, rows = self._layout(rows)
        # a clip narrower than before: the columns are built again (a column's width only grows with its cells)
        if [k for k, _ in shown] != [k for k, _ in self._columns] or self._clip_now != before:
            self._columns = shown
            if self.columns:
                self.clear(columns=True)
            self._add_columns()
        index = {k: i for i, (k, _l) in enumerate(self._all_columns)}
        cols = [(index[k], k in self._right) for k, _ in self._columns]
        return [(key, [Text(cells[i], justify="right") if r and isinstance(cells[i], str) and cells[i] else cells[i]
                       for i, r in cols]) for key, cells in rows]  # (an empty cell looks the same either way)

    def hide(self, keys) -> None:
        """Leave the columns ``keys`` out whatever the width (a column with nothing to tell, such as the machine of
        a one-machine database); the next ``sync`` applies it."""
        self._hidden = set(keys) & set(self._labels)

    def on_resize(self, event) -> None:
        if (self._drop or self._clip) and self._all_rows is not None:
            shown, clip, _rows = self._layout(self._all_rows)
            if [k for k, _ in shown] != [k for k, _ in self._columns] or clip != self._clip_now:
                self.sync(self._all_rows)

    @property
    def shown_columns(self) -> list[str]:
        """Keys of the columns on screen."""
        return [k for k, _ in self._columns]

    def _update_dimensions(self, new_rows) -> None:
        # Plain one-line cells are measured here by their length (DataTable measures every cell of every new row
        # with Rich: ≈ 60 ms for a page of 200 rows x 12 columns); the rest goes to DataTable's own measuring.
        others = []
        columns = self.ordered_columns
        widths = [c.content_width for c in columns]
        for row_key in new_rows:
            row = self.rows.get(row_key)
            data = self._data.get(row_key)
            if row is None or data is None or row_key not in self._row_locations:
                continue  # removed before the table was idle
            if row.label is not None or row.auto_height:
                others.append(row_key)
                continue
            texts = [plain_cell(data.get(c.key)) for c in columns]
            if any(t is None for t in texts):
                others.append(row_key)
                continue
            widths = [max(w, len(t)) for w, t in zip(widths, texts)]
        for column, width in zip(columns, widths):
            column.content_width = width
        super()._update_dimensions(others)
        # Column widths are measured when idle, after rows were added; lines painted before that (with the header
        # widths) stay in DataTable's line cache, which it clears only for auto-height rows: clear it here.
        self._clear_caches()
        self.refresh()

    def notify_style_update(self) -> None:
        self._row_styles = {}
        super().notify_style_update()

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        # DataTable computes it for every line it paints, walking all ancestors' styles (≈ 0.15 ms each time);
        # it depends only on the kind of row, the base style and the pseudo classes (focus, hover).
        kind = -1 if row_index == -1 else (-2 if row_index < self.fixed_rows else row_index % 2)
        key = (kind, base_style, self._pseudo_class_state, self.zebra_stripes)
        cache = self.__dict__.setdefault("_row_styles", {})
        style = cache.get(key)
        if style is None:
            style = cache[key] = super()._get_row_style(row_index, base_style)
        return style

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool = False,
                     hover: bool = False):
        """DataTable's ``_render_cell``, with plain one-line cells (almost all of ours) painted directly.

        DataTable renders every cell through Rich (Styled(Padding(Text)) -> render_lines), ≈ 0.13 ms a cell on a
        2-core machine, so a screen of 45 rows x 12 columns costs ≈ 70 ms whenever anything in the table changes.
        The segments made here are the ones Rich makes for such a cell (tests compare both on every table):
        padding, text, fill, padding, in the cell's one style.
        """
        lines = self._fast_cell(row_index, column_index, base_style, width, cursor, hover)
        return lines if lines is not None else super()._render_cell(row_index, column_index, base_style, width,
                                                                    cursor, hover)

    def _fast_cell(self, row_index, column_index, base_style, width, cursor, hover):
        if column_index < 0:
            return None  # row labels: DataTable's way
        try:
            column_key = self._column_locations.get_key(column_index)
            if row_index == -1:
                if self.header_height != 1:
                    return None
                row_key = self._header_row_key
                value = self.columns[column_key].label
                text = plain_cell(value)
            else:
                row_key = self._row_locations.get_key(row_index)
                row = self.rows[row_key]
                if row.height != 1 or row.auto_height or row.label is not None:
                    return None
                value = self._data[row_key].get(column_key)
                text = plain_cell(value)
        except KeyError:
            return None
        pad = self.cell_padding
        inner = width - 2 * pad
        if text is None or inner < len(text) or inner < 0:
            return None
        key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor, self._update_count,
               self._pseudo_class_state)
        cache = self._cell_render_cache
        lines = cache.get(key)
        if lines is None:
            is_header = row_index == -1
            fixed = not is_header and (row_index < self.fixed_rows or column_index < self.fixed_columns)
            component_style, post_style = self._get_styles_to_render_cell(
                is_header, False, fixed, hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
            style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
            style = style + post_style if style else post_style
            line = [Segment(" " * pad, style)] if pad else []
            if right_aligned(value):  # Rich pads the text on the left, in one segment
                line.append(Segment(" " * (inner - len(text)) + text, style))
            else:
                line.append(Segment(text, style))  # Rich keeps it when empty too
                if inner > len(text):
                    line.append(Segment(" " * (inner - len(text)), style))
            if pad:
                line.append(Segment(" " * pad, style))
            lines = cache[key] = [line]
        return lines

    # every cell is data: a string Rich markup could change (tags, emoji codes) is added as a Text of itself
    def add_row(self, *cells, height: int | None = 1, key: str | None = None, label=None):
        return super().add_row(*map(literal, cells), height=height, key=key, label=label)

    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:
        super().update_cell(row_key, column_key, literal(value), update_width=update_width)

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
        changed = False
        for key, label in labels.items():
            if key in self._labels:
                self._labels[key] = label
            col = next((c for c in self.columns.values() if c.key.value == key), None)
            if col is not None and col.label.plain != label:
                col.label = Text(label, justify="right" if key in self._right else None)
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
        # control characters as the visible escapes they are shown as (literal), before the columns are measured
        # and clipped: "\x1b" takes four cells on screen, none in the string
        rows = [(key, [safe_text(c) if isinstance(c, str) and not shown_as_is(c) else c for c in cells])
                for key, cells in rows]
        self._all_rows = rows
        rows = self._project(rows)
        old = [k.value for k in self.rows]
        new = [k for k, _ in rows]
        with self.app.batch_update():
            if old == new:
                col_keys = [k for k, _ in self._columns]
                for key, cells in rows:
                    current = self.get_row(key)
                    for ck, value, cur in zip(col_keys, map(literal, cells), current):
                        if value != cur:  # a longer value widens its column instead of being cut
                            self.update_cell(key, ck, value, update_width=True)
                if cursor is not None:
                    self._place_cursor(cursor, new)
                return
            old_index = old.index(keep) if keep in old else None
            scroll_y = self.scroll_y
            self.clear()
            # a new set of rows sizes its columns afresh: DataTable only ever widens a column, so one of the rows
            # shown before (a long kind under another filter) would keep its width and push the last column off
            for column in self.columns.values():
                if column.auto_width:
                    column.content_width = column.label.cell_len
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
