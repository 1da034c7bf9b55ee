"""Screen 8: every failed tool call, API error turn and ingest problem in the range, newest first; filtered by
component (main, each sub-agent, api, ingest, ...), kind and tool (c, k, o cycle through the values in range),
searched as you type (/); Enter opens the task the error belongs to. Messages are stored redacted and shown as
they are (control characters as visible escapes, never markup)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from nexus_tui.core.report import clip_cells, error_counts, error_noun, head_cells, one_line, safe, safe_text
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.search import SearchAsYouType
from nexus_tui.screens.common import empty_hint, local_time, plural
from nexus_tui.store.errors import ErrorQuery
from nexus_tui.widgets.keyed_table import KeyedTable
from nexus_tui.widgets.safe import NAME_CELLS_IN_LINE, DataText, escape, literal

LIMIT = 1000  # rows listed (the newest); the summary says how many match
COLUMNS = [("time", "Time"), ("component", "Component"), ("kind", "Kind"), ("tool", "Tool"),
           ("session", "Session"), ("message", "Message")]
DROP = ["session", "component", "tool"]  # narrow: these go first; time, kind and the message stay
MESSAGE_CELL = 160  # characters of a message in its cell (the line below the table shows it whole)
# characters of these cells at most: they come from data (an OTLP error_type, an event's kind), and one long value
# widened its column until the message left an 80-column screen; the line below the table shows them whole
CELL = {"component": 16, "kind": 16, "tool": 28}
FACETS = (("component", "c"), ("kind", "k"), ("tool", "o"))


def row_key(r: dict) -> str:
    return f"{r['part']}:{r['id']}"


def what_counts(rows: list[dict]) -> str:
    """'3 tool failures, 1 API error, 2 ingest problems' for the rows listed (``core.report.error_noun``)."""
    return error_counts(error_noun(r["part"] == "call", r["component"], r["kind"]) for r in rows)


class ErrorsScreen(SearchAsYouType, InsightScreen):
    TITLE_TEXT = "Errors"
    SEARCH_TABLE = "errors"
    DEFAULT_CSS = """
    ErrorsScreen #error-detail { height: auto; max-height: 6; padding: 0 1; border-top: solid $panel; }
    ErrorsScreen.-short #error-detail { max-height: 3; }
    ErrorsScreen #errors { height: 1fr; }
    """
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("c", "cycle('component')", "Component"),
        Binding("k", "cycle('kind')", "Kind"),
        Binding("o", "cycle('tool')", "Tool"),
        Binding("x", "clear_filters", "Clear filters", show=False),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.search = ""
        self.chosen: dict[str, str | None] = {"component": None, "kind": None, "tool": None}
        self.facets: dict[str, dict[str, int]] = {}
        self.rows: dict[str, dict] = {}
        self._search_timer = None

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield Static("[dim]c component · k kind · o tool (each cycles through the values in range) · / search · "
                     "x clears · Enter opens the task[/dim]", id="hint", classes="kpis help")
        yield Input(placeholder="search errors: message, kind, tool, component, session — filters as you type, "
                                "Escape clears", id="search")
        yield KeyedTable(COLUMNS, drop=DROP, id="errors")
        yield Static(id="error-detail")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self._search_visible(False)
        self.query_one("#empty", Static).display = False
        self.query_one("#errors", KeyedTable).focus()

    def error_query(self) -> ErrorQuery:
        return ErrorQuery(component=self.chosen["component"], kind=self.chosen["kind"], tool=self.chosen["tool"],
                          search=self.search or None)

    def fetch(self):
        from nexus_tui.headless_audit import load_errors
        from nexus_tui.store.read import sessions as U

        page = load_errors(self.engine, self.filters, self.error_query(), limit=LIMIT, facets=True)
        in_db = U.session_count(self.engine) if not page.total and not self._filtered() else None
        return page, in_db

    def _filtered(self) -> bool:
        return bool(self.search) or any(self.chosen.values())

    def show(self, data) -> None:
        page, in_db = data
        self.facets = page.facets
        self.rows = {row_key(r): r for r in page.rows}
        self._page = page
        table = self.query_one("#errors", KeyedTable)
        self._sync_table()
        shown = f" · newest {len(page.rows):,} listed" if len(page.rows) < page.total else ""
        filters = " · ".join(f"{name} [b]{escape(v, NAME_CELLS_IN_LINE)}[/b]" for name, v in self.chosen.items() if v)
        self.query_one("#summary", Static).update(
            f"[b]{plural(page.total, 'error')}[/b]{shown}"
            + (f" ({what_counts(page.rows)})" if page.rows else "")
            + (f" · {filters}" if filters else "")
            + (f" · search: [b]{escape(self.search)}[/b]" if self.search else "")
            + f" · range: {escape(self.app.range_label())}")
        empty = self.query_one("#empty", Static)
        has = bool(page.rows)
        empty.display = not has
        table.display = has
        self.query_one("#error-detail", Static).display = has
        if has and (self.focused is None or self.focused is self):
            table.focus()
        if not has:
            box = self.query_one("#search", Input)
            if self.search and box.display and self.focused is not box:
                box.focus()
            if self._filtered():
                empty.update("No error matches these filters in this range. x clears them, Escape the search.")
            elif in_db is not None and not in_db:
                empty.update(empty_hint(self.app, in_db))
            else:
                empty.update("No tool failures, API errors or ingest problems in this range.")
        self._show_detail()

    def _sync_table(self) -> None:
        """The rows, each message cut to the width the other columns leave (the line below shows it whole)."""
        page = getattr(self, "_page", None)
        if page is None:
            return
        cells = [(row_key(r), [local_time(self.app, r["time_ms"], "%Y-%m-%d %H:%M:%S"),
                               _clip(r["component"] or "-", CELL["component"]), _clip(r["kind"] or "-", CELL["kind"]),
                               _clip(r["tool"] or "", CELL["tool"]), safe(head_cells(r["session_id"] or "-", 13))])
                 for r in page.rows]
        self._width = self.app.size.width
        cut = _message_width(self._width, cells)
        self.query_one("#errors", KeyedTable).sync(
            [(key, [*c, literal(_cell(r["message"], cut))]) for (key, c), r in zip(cells, page.rows)])

    def on_resize(self, event) -> None:
        if getattr(self, "_width", None) not in (None, self.app.size.width):
            self._sync_table()
            self._show_detail()

    def _show_detail(self) -> None:
        key = self.query_one("#errors", KeyedTable).current_key
        r = self.rows.get(key) if key else None
        box = self.query_one("#error-detail", Static)
        if r is None:
            box.update("")
            return
        box.update(detail_text(self.app, r, self.app.size.width - 2 if self.has_class("-short") else None))

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_detail()

    # ------------------------------------------------------------ filters
    def action_cycle(self, name: str) -> None:
        """The next value of a filter among those in range (most errors first), then back to all."""
        values = [v for v, _n in sorted(self.facets.get(name, {}).items(), key=lambda kv: (-kv[1], str(kv[0])))]
        cur = self.chosen[name]
        if not values:
            self.app.bell()
            self.notify(f"No {name} to filter by in this range.", timeout=2)
            return
        nxt = values[0] if cur is None else (values[values.index(cur) + 1] if cur in values and
                                             values.index(cur) + 1 < len(values) else None)
        self.chosen[name] = nxt
        self.notify(f"{name.capitalize()}: {nxt if nxt is not None else 'all'}", timeout=1.5, markup=False)
        self.query_one("#errors", KeyedTable).focus()
        self.refresh_data()

    def action_clear_filters(self) -> None:
        had = self._filtered()
        self.chosen = dict.fromkeys(self.chosen)
        self.search = ""
        box = self.query_one("#search", Input)
        box.value = ""
        self._search_visible(False)
        self.query_one("#errors", KeyedTable).focus()
        if had:
            self.refresh_data()

    # ------------------------------------------------------------ Enter: the task
    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        r = self.rows.get(event.row_key.value)
        if r is None:
            return
        if not r.get("session_id") and not r.get("task_id"):
            self.app.bell()
            self.notify("This record belongs to no task (an ingest problem: the file and reason are in its message).",
                        timeout=3)
            return
        from nexus_tui.store.errors import task_of_error

        self.run_query(task_of_error, self.engine, r, tag="open")

    def show_query(self, tag: str, data) -> None:
        if tag != "open":
            return
        if data is None:
            self.app.bell()
            self.notify("No task of this session is in the database.", timeout=3)
            return
        from nexus_tui.screens.task_detail import TaskDetailScreen

        self.app.push_screen(TaskDetailScreen(data))


def detail_text(app, r: dict, width: int | None) -> Text:
    """The line below the table: what failed first (tool, kind, component, then time, session and task), then the
    whole message. ``width``: on a short terminal (two lines under the table) that first line is cut to one line
    with "…" (and a long tool or kind to 28 characters, so one leaves room for the other), so the tool, the kind and
    the message's start always show; elsewhere it wraps."""
    head = DataText()
    for label, value in (("tool", r["tool"]), ("kind", r["kind"]), ("component", r["component"])):
        if value:
            head.append(f"{label} ", style="dim")
            shown = safe(value) if width is None else _clip(value, 28)  # plain text, never markup
            head.append(shown, style="bold" if label != "component" else "")
            head.append("  ")
    head.append(local_time(app, r["time_ms"], "%Y-%m-%d %H:%M:%S"))
    for label, value in (("session", r["session_id"]), ("task", r["task_id"])):
        if value:
            head.append(f"  {label} ", style="dim")
            head.append(safe(value))
    if width is not None:
        head.truncate(max(width, 1), overflow="ellipsis")
    head.append("\n")
    head.append(safe_text(r["message"] or ""))  # its lines as lines (as Tools' failure detail), each made safe
    return head


MIN_MESSAGE = 36  # the message keeps at least this many columns: the droppable columns go first (as KeyedTable does)


def _message_width(width: int, cells: list[tuple[str, list[str]]]) -> int:
    """Characters of the message cell: the table's width less the other columns that will show (scrollbar and cell
    padding included), the droppable ones left out in order while the message would get less than MIN_MESSAGE."""
    keys = [k for k, _label in COLUMNS[:-1]]
    need = {k: max([len(label)] + [len(c[i]) for _key, c in cells]) + 2 for i, (k, label) in enumerate(COLUMNS[:-1])}
    room = width - 2 - 2  # the vertical scrollbar, the message cell's padding
    shown = set(keys)
    for k in [None, *DROP]:
        if k is not None:
            shown.discard(k)
        left = room - sum(need[x] for x in shown)
        if left >= MIN_MESSAGE:
            return min(left, MESSAGE_CELL)
    return MIN_MESSAGE


def _clip(value, n: int) -> str:
    return clip_cells(safe(value), n)


def _cell(message, width: int = MESSAGE_CELL) -> str:
    return clip_cells(one_line(message), width)
