"""Screen 1: the sessions table, paged from the database, sortable and searchable."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import empty_hint, fmt_int, fmt_ms, fmt_usd, local_time, rating_summary, short_model
from nexus_tui.store import queries as Q
from nexus_tui.widgets.keyed_table import KeyedTable

PAGE = 200
SORTS = ["start", "cost", "tokens", "tasks", "duration", "errors"]
COLUMNS = [("start", "Start"), ("dur", "Duration"), ("cli", "CLI"), ("project", "Project"), ("persona", "Persona"),
           ("models", "Models"), ("tasks", "Tasks"), ("tokens", "Tokens"), ("cost", "Cost"), ("errors", "Tool err"),
           ("rating", "Rating"), ("id", "Session")]


class SessionsScreen(InsightScreen):
    TITLE_TEXT = "Sessions"
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

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield Input(placeholder="search sessions (id, project, branch, model, CLI, persona) — Enter to apply",
                    id="search")
        yield KeyedTable(COLUMNS, id="sessions")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self.query_one("#sessions", KeyedTable).focus()
        super().on_mount()

    def fetch(self):
        page = Q.sessions(self.engine, self.filters, limit=PAGE, offset=self.page_start, sort=self.sort,
                          descending=self.descending, search=self.search or None)
        return page

    def show(self, page) -> None:
        self.total = page.total
        table = self.query_one("#sessions", KeyedTable)
        rows = []
        for r in page.rows:
            rows.append((r["session_id"], [
                local_time(self.app, r["start_ms"]), fmt_ms(r["duration_ms"]), r["cli_tool"] or "-",
                (r["project"] or "-")[:22], r["persona"] or "", ",".join(short_model(m) for m in r["models"])[:30],
                fmt_int(r["tasks"]), fmt_int(r["total_tokens"]), fmt_usd(r["cost_usd"]) if not r["unpriced_tasks"]
                else fmt_usd(r["cost_usd"]) + "*", fmt_int(r["tool_errors"]),
                rating_summary(r["rated_helpful"], r["rated_not_helpful"]), r["session_id"][:13]]))
        table.sync(rows)
        pages = max(1, -(-self.total // PAGE))
        first = self.page_start + 1 if self.total else 0
        self.query_one("#summary", Static).update(
            f"{self.total:,} sessions · {first:,}–{self.page_start + len(page.rows):,} · page {self.page_start // PAGE + 1}"
            f"/{pages} · sort: {self.sort} {'↓' if self.descending else '↑'}"
            + (f" · search: {self.search!r}" if self.search else "") + f" · range: {self.app.range_label()}"
            + ("   (* includes unpriced tasks)" if any(r["unpriced_tasks"] for r in page.rows) else ""))
        empty = self.query_one("#empty", Static)
        empty.display = not page.rows
        table.display = bool(page.rows)
        if not page.rows:
            empty.update(empty_hint(self.app) if not self.search else f"No session matches {self.search!r}.")

    # ------------------------------------------------------------ actions
    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.display = True
        box.value = self.search
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.search = event.value.strip()
            self.page_start = 0
            event.input.display = bool(self.search)
            self.query_one("#sessions", KeyedTable).focus()
            self.refresh_data()

    def action_clear_search(self) -> None:
        if self.search or self.query_one("#search", Input).display:
            self.search = ""
            self.query_one("#search", Input).display = False
            self.query_one("#sessions", KeyedTable).focus()
            self.refresh_data()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.page_start = 0
        self.refresh_data()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.page_start = 0
        self.refresh_data()

    def action_page(self, step: int) -> None:
        new = self.page_start + step * PAGE
        if 0 <= new < max(self.total, 1):
            self.page_start = new
            self.refresh_data()

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        from nexus_tui.screens.session_detail import SessionDetailScreen

        self.app.push_screen(SessionDetailScreen(event.row_key.value))

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self.app.selected_session = event.row_key.value
