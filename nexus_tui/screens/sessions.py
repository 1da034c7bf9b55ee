"""Screen 1: the sessions table, paged from the database (any size), sortable and searchable."""

from __future__ import annotations

from nexus_tui.widgets.safe import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from nexus_tui.core.fmt import fmt_duration, money_column, plural
from nexus_tui.core.report import cell_len, clip_cells, head_cells
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.search import SearchAsYouType
from nexus_tui.screens.common import empty_hint, fmt_int, local_time, rating_summary, short_model
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.machines import machine_names
from nexus_tui.widgets.keyed_table import KeyedTable

PAGE = 200  # rows per page: only one page is ever in memory, whatever the number of sessions
SORTS = ["start", "cost", "tokens", "tasks", "duration", "errors"]
COLUMNS = [("start", "Start"), ("dur", "Duration"), ("cli", "CLI"), ("machine", "Machine"),
           ("project", "Title / project"),
           ("persona", "Persona"),
           ("models", "Models"), ("tasks", "Tasks"), ("tokens", "Tokens"), ("cost", "Cost"),
           ("errors", "Tool failures"), ("rating", "Rating"), ("id", "Session")]
TITLE_WIDTH = 22  # the project column shows the session's title (store/titles.py), else its project
RIGHT = {"dur", "tasks", "tokens", "cost", "errors"}
DROP = ["id", "rating", "persona", "cli", "machine", "models", "dur", "errors", "project"]  # narrow: these go first; a
# session's title or project stays longer than its tool failures (at 80 columns: start, title, tasks, tokens, cost)
SORT_COLUMN = {"start": "start", "duration": "dur", "tasks": "tasks", "tokens": "tokens", "cost": "cost",
               "errors": "errors"}
COLUMN_SORT = {v: k for k, v in SORT_COLUMN.items()}
SORT_LABELS = {"errors": "tool failures"}
PROXY_MARK = " ⇄"  # after the CLI: a session with requests the recording proxy saw


def models_text(models: list[str], width: int = 26) -> str:
    """The session's models in at most ``width`` terminal cells: as many names as fit, then " +N" for the N others;
    a first name too long alone is cut with "…" (and " +N" still counts the others only)."""
    names = [short_model(m) for m in models]
    out = ""
    for i, n in enumerate(names):
        rest = len(names) - i - 1  # models after this one
        piece = ("," if out else "") + n
        if cell_len(out) + cell_len(piece) > width - (4 if rest else 0):
            if out:
                return out + f" +{rest + 1}"
            more = f" +{rest}" if rest else ""
            return clip_cells(n, width - len(more)) + more
        out += piece
    return out


class SessionsScreen(SearchAsYouType, InsightScreen):
    TITLE_TEXT = "Sessions"
    SEARCH_TABLE = "sessions"
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort = "start"
        self.descending = True
        self.search = ""
        self.page_start = 0
        self.total = 0
        self._cursor_after_load: str | int | None = None
        self._writes = 0  # data changes seen (the collector wrote rows): a count made before one is not reused
        self._counted: tuple | None = None  # (filters, search, writes) that self.total was counted for

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield Input(placeholder="search sessions: id, project, folder, branch, model, CLI, persona — filters as you "
                                "type, Escape clears", id="search")
        yield KeyedTable(COLUMNS, right=RIGHT, drop=DROP, hidden={"machine"}, id="sessions")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self._search_visible(False)
        self.query_one("#empty", Static).display = False
        self.query_one("#sessions", KeyedTable).focus()
        super().on_mount()

    def fetch(self):
        # runs in a worker: reads the screen's settings, changes nothing (show() takes the page's offset)
        args = dict(sort=self.sort, descending=self.descending, search=self.search or None)
        counted = (self.filters, self.search, self._writes)  # another page or sort of the same sessions: it stands
        known = self.total if self._counted == counted else None
        page = RS.sessions(self.engine, self.filters, limit=PAGE, offset=self.page_start, known_total=known, **args)
        if not page.rows and page.total and page.offset:  # the page vanished (fewer sessions): show the last one
            page = RS.sessions(self.engine, self.filters, limit=PAGE, offset=(page.total - 1) // PAGE * PAGE, **args)
        in_db = RS.session_count(self.engine) if not page.total else None
        proxied = RS.proxied_sessions(self.engine, [r["session_id"] for r in page.rows]) if page.rows else set()
        names = machine_names(self.engine)  # a column only when several machines write to this database
        from nexus_tui.store.titles import titles

        with self.engine.connect() as conn:
            named = titles(conn, [r["session_id"] for r in page.rows]) if page.rows else {}
        return page, in_db, proxied, names, named, counted

    def show(self, data) -> None:
        from nexus_tui.core.report import strip_controls

        page, in_db, proxied, names, named, counted = data
        self._counted = counted
        table = self.query_one("#sessions", KeyedTable)
        table.hide(() if len(names) > 1 else {"machine"})
        self.total = page.total
        self.page_start = page.offset
        rows = []
        costs = money_column([r["cost_usd"] for r in page.rows])
        for r, cost in zip(page.rows, costs):
            cost += "*" if r["unpriced_tasks"] else ""
            rows.append((r["session_id"], [
                local_time(self.app, r["start_ms"]), fmt_duration(r["duration_ms"]),
                (r["cli_tool"] or "-") + (PROXY_MARK if r["session_id"] in proxied else ""),
                clip_cells(names.get(r["machine"], r["machine"] or "-"), 16),
                clip_cells(strip_controls(named[r["session_id"]][0]), TITLE_WIDTH) if r["session_id"] in named else
                clip_cells(r["project"] or "-", TITLE_WIDTH), r["persona"] or "", models_text(r["models"]),
                fmt_int(r["tasks"]), fmt_int(r["total_tokens"]), cost, fmt_int(r["tool_errors"]),
                rating_summary(r["rated_helpful"], r["rated_not_helpful"]), head_cells(r["session_id"], 13)]))
        arrow = " ↓" if self.descending else " ↑"
        table.set_labels({key: label + (arrow if COLUMN_SORT.get(key) == self.sort else "")
                          for key, label in COLUMNS})
        cursor, self._cursor_after_load = self._cursor_after_load, None
        table.sync(rows, cursor=cursor)
        pages = max(1, -(-self.total // PAGE))
        first = self.page_start + 1 if self.total else 0
        self.query_one("#summary", Static).update(
            f"[b]{plural(self.total, 'session')}[/b]"
            + (f" · rows {first:,}–{self.page_start + len(page.rows):,} · page {self.page_start // PAGE + 1}/{pages}"
               if page.rows else "")
            + f" · sort: {SORT_LABELS.get(self.sort, self.sort)}{arrow}"
            + (f" · search: [b]{escape(self.search)}[/b]" if self.search else "")
            + f" · range: {escape(self.app.range_label())}"
            + ("   [dim]* includes unpriced tasks[/dim]" if any(r["unpriced_tasks"] for r in page.rows) else "")
            + (f"   [dim]{PROXY_MARK.strip()} seen by the proxy[/dim]" if proxied else ""))
        empty = self.query_one("#empty", Static)
        empty.display = not page.rows
        table.display = bool(page.rows)
        if page.rows and (self.focused is None or self.focused is self):  # hidden while empty, it lost focus
            table.focus()
        if not page.rows:
            box = self.query_one("#search", Input)
            if self.search and box.display and self.focused is not box:
                box.focus()  # nothing matched: back to the search box to change it (the table is hidden)
            if self.search:
                empty.update(f"No session matches {escape(repr(self.search))} in this range. Escape clears the search.")
            else:
                empty.update(empty_hint(self.app, in_db))
        if table.current_key is not None:
            self.app.selected_session = table.current_key

    def data_changed(self) -> None:
        self._writes += 1  # rows were written: count again
        super().data_changed()

    def mark_stale(self) -> None:
        self._writes += 1
        super().mark_stale()

    # ------------------------------------------------------------ actions
    def search_changed(self, typed: bool) -> None:
        self.page_start = 0
        if typed:
            self._cursor_after_load = 0
        self.refresh_data()

    def action_sort(self) -> None:
        self.set_sort(SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)])

    def set_sort(self, sort: str, descending: bool | None = None) -> None:
        self.sort = sort
        if descending is not None:
            self.descending = descending
        self.page_start = 0
        self._cursor_after_load = 0
        self.refresh_data()

    def action_reverse(self) -> None:
        self.set_sort(self.sort, not self.descending)

    def action_page(self, step: int) -> None:
        new = self.page_start + step * PAGE
        if 0 <= new < max(self.total, 1):
            self.page_start = new
            self._cursor_after_load = 0 if step > 0 else -1
            self.refresh_data()
        else:  # said, not only rung: a terminal without a bell would show a key doing nothing
            self.app.bell()
            pages = max(1, -(-self.total // PAGE))
            self.notify(f"No {'next' if step > 0 else 'previous'} page: this is page "
                        f"{self.page_start // PAGE + 1} of {pages}.", timeout=2)

    def on_keyed_table_edge_reached(self, event: KeyedTable.EdgeReached) -> None:
        new = self.page_start + event.direction * PAGE
        if 0 <= new < self.total:
            self.action_page(event.direction)

    def on_data_table_header_selected(self, event: KeyedTable.HeaderSelected) -> None:
        sort = COLUMN_SORT.get(event.column_key.value)
        if sort is not None:
            self.set_sort(sort, not self.descending if sort == self.sort else True)

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        from nexus_tui.screens.session_detail import SessionDetailScreen

        self.app.push_screen(SessionDetailScreen(event.row_key.value))

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self.app.selected_session = event.row_key.value
