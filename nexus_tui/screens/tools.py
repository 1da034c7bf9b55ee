"""Screen 6: calls, failures and latency percentiles per tool and per MCP server; failures by error type for the
highlighted row; Enter lists its recent failures with their error text."""

from __future__ import annotations

from collections import Counter

from nexus_tui.widgets.safe import NAME_CELLS_IN_LINE, escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from nexus_tui.core.report import clip_cells, head_cells
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import empty_hint, fmt_int, fmt_ms, fmt_pct, local_time, plural
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import tools as RT
from nexus_tui.widgets.keyed_table import KeyedTable

TOOL_COLUMNS = [("tool", "Tool"), ("server", "MCP server"), ("calls", "Calls"), ("fail", "Failures"),
                ("rate", "Failure rate"), ("p50", "p50"), ("p95", "p95"), ("p99", "p99"), ("max", "max"),
                ("pending", "No result")]
SERVER_COLUMNS = [("server", "MCP server"), ("tools", "Tools"), ("calls", "Calls"), ("fail", "Failures"),
                  ("rate", "Failure rate"), ("p50", "p50"), ("p95", "p95"), ("p99", "p99"), ("max", "max")]
ERROR_COLUMNS = [("type", "Error type"), ("tool", "Tool"), ("n", "Failures")]
TOOL_RIGHT = {"calls", "fail", "rate", "p50", "p95", "p99", "max", "pending"}
NAME_CELLS = 40  # the most cells a tool's name takes in the table and the failures' title
TOOL_DROP = ["pending", "p99", "max", "server", "p95"]  # narrow: these go first
SERVER_RIGHT = {"tools", "calls", "fail", "rate", "p50", "p95", "p99", "max"}
SERVER_DROP = ["p99", "max", "p95", "p50", "tools", "calls"]
SEP = "\x1f"  # between tool and server in a row key


def tool_cells(t: dict) -> list[str]:
    return [t["tool"], t["server"] or "", fmt_int(t["calls"]), fmt_int(t["failures"]), fmt_pct(t["failure_rate"]),
            fmt_ms(t["p50_ms"]), fmt_ms(t["p95_ms"]), fmt_ms(t["p99_ms"]), fmt_ms(t["max_ms"]),
            fmt_int(t["pending"]) if t["pending"] else ""]


HELP = ("Calls: tool calls in the range. Failures: calls whose result was an error; Failure rate = failures ÷ calls. "
        "p50 p95 p99 max: latency from the call to its result, less any time waiting for the user (nearest rank). "
        "No result: calls whose result is not seen yet (still running, or never recorded). By MCP server: the same "
        "per server. Tool failures by type: those of the tool or server under the cursor. Enter: its recent failures.")


def server_cells(s: dict) -> list[str]:
    return [s["server"], fmt_int(s["tools"]), fmt_int(s["calls"]), fmt_int(s["failures"]), fmt_pct(s["failure_rate"]),
            fmt_ms(s["p50_ms"]), fmt_ms(s["p95_ms"]), fmt_ms(s["p99_ms"]), fmt_ms(s["max_ms"])]


def load_tools(engine, filters) -> dict:
    tools = RT.tools_report(engine, filters)
    return {"tools": tools, "servers": RT.tools_by_server(engine, filters),
            "by_type": RT.tool_failures_by_type(engine, filters),
            "in_db": None if tools else RS.session_count(engine)}


class ToolsScreen(InsightScreen):
    TITLE_TEXT = "Tools"
    BINDINGS = [Binding("enter", "failures", "Recent failures", priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict | None = None
        self.errors_for: tuple[str | None, str | None] = (None, None)  # (tool, server) the error table shows

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield KeyedTable(TOOL_COLUMNS, right=TOOL_RIGHT, drop=TOOL_DROP, clip={"tool": NAME_CELLS, "server": NAME_CELLS},
                         id="tools")
        yield Static(HELP, id="help", classes="help")
        with Horizontal(id="lower"):
            with Vertical(id="servers-box"):
                yield Static("[b]By MCP server[/b]", classes="section")
                yield KeyedTable(SERVER_COLUMNS, right=SERVER_RIGHT, drop=SERVER_DROP, clip={"server": NAME_CELLS},
                                 id="servers")
            with Vertical(id="errors-box"):
                yield Static(id="errors-title", classes="section")
                yield KeyedTable(ERROR_COLUMNS, right={"n"}, drop=["tool"], clip={"type": NAME_CELLS, "tool": NAME_CELLS},
                                 id="errors")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one("#empty", Static).display = False
        self.query_one("#tools", KeyedTable).focus()
        # (the base's on_mount runs after this one: Textual calls every on_mount up the MRO; it loads the data)

    def refresh_data(self) -> None:
        self._stale = False
        self.update_status()
        self.run_query(load_tools, self.engine, self.filters)

    def show(self, data) -> None:
        self.shown = data
        tools = data["tools"]
        has = bool(tools)
        empty = self.query_one("#empty", Static)
        empty.display = not has
        for w in ("#summary", "#tools", "#lower"):
            self.query_one(w).display = has
        self.query_one("#help").set_class(not has, "-off")  # by class: nexus.tcss hides it on a short terminal
        if not has:
            empty.update(empty_hint(self.app, data["in_db"]) if data["in_db"] is not None else "")
            return
        calls = sum(t["calls"] for t in tools)
        fails = sum(t["failures"] for t in tools)
        types = Counter()
        for r in data["by_type"]:
            types[r["error_type"]] += r["failures"]
        top = " · ".join(f"{escape(k, NAME_CELLS_IN_LINE)} {v:,}" for k, v in types.most_common(6))
        self.query_one("#summary", Static).update(
            f"[b]{plural(len(tools), 'tool')}[/b] · [b]{plural(calls, 'call')}[/b] · "
            f"[b]{plural(fails, 'tool failure')}[/b] ({fmt_pct(fails / calls if calls else None)}) · Enter: recent "
            f"failures · range: {escape(self.app.range_label())} · latency percentiles by nearest rank\n"
            f"Tool failures by error type: {top or 'none'}")
        self.query_one("#tools", KeyedTable).sync(
            [(f"{t['tool']}{SEP}{t['server'] or ''}", tool_cells(t)) for t in tools])
        servers = data["servers"]
        self.query_one("#servers", KeyedTable).sync([(s["server"], server_cells(s)) for s in servers])
        self.query_one("#servers-box").display = bool(servers)
        self._errors_for_cursor()

    # ------------------------------------------------------------ the error-type table follows the cursor
    def _selection(self) -> tuple[str | None, str | None]:
        """(tool, server) under the cursor of the focused table (the tools table when neither has focus)."""
        servers = self.query_one("#servers", KeyedTable)
        if self.focused is servers and servers.current_key is not None:
            return None, servers.current_key
        key = self.query_one("#tools", KeyedTable).current_key
        return (key.split(SEP)[0], None) if key else (None, None)

    def _errors_for_cursor(self) -> None:
        tool, server = self._selection()
        self.errors_for = (tool, server)
        if tool is None and server is None:
            return
        name = clip_cells(tool or server, NAME_CELLS)  # a name from data: as the table clips it (one or two lines)
        what = f"tool {name}" if tool else f"MCP server {name}"
        self.query_one("#errors-title", Static).update(f"[b]Tool failures by type[/b] — {escape(what)}")
        self.run_query(self._errors, tool, server, tag="errors")

    def _errors(self, tool: str | None, server: str | None) -> list[dict]:
        if server:
            return RT.failures_by_type(self.engine, self.filters, server=server)
        return RT.tool_failures_by_type(self.engine, self.filters, tool=tool)

    def show_query(self, tag: str, data) -> None:
        if tag == "errors":
            rows = [(f"{r['error_type']}{SEP}{r['tool']}", [r["error_type"], r["tool"], fmt_int(r["failures"])])
                    for r in data]
            self.query_one("#errors", KeyedTable).sync(rows or [("none", ["no failures", "", ""])])

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if (event.data_table.id in ("tools", "servers") and event.data_table is self.focused
                and self._selection() != self.errors_for):
            self._errors_for_cursor()

    def on_descendant_focus(self, event) -> None:
        if (getattr(event.widget, "id", None) in ("tools", "servers") and self.shown
                and self._selection() != self.errors_for):
            self._errors_for_cursor()

    # ------------------------------------------------------------ Enter: recent failures
    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.action_failures(event.data_table.id)

    def action_failures(self, table_id: str | None = None) -> None:
        tool, server = self._selection()
        if table_id == "errors" or self.focused is self.query_one("#errors", KeyedTable):
            tool, server = self.errors_for
        if tool is None and server is None:
            return
        self.app.push_screen(ToolFailuresScreen(tool=tool, server=server))


FAILURE_COLUMNS = [("time", "Time"), ("tool", "Tool"), ("type", "Error type"), ("latency", "Latency"),
                   ("session", "Session"), ("message", "Error (first line)")]


class ToolFailuresScreen(InsightScreen):
    """The newest failures of one tool (or of an MCP server's tools); the highlighted one's full error text below."""

    TITLE_TEXT = "Tool failures"
    LIMIT = 100
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, tool: str | None = None, server: str | None = None) -> None:
        super().__init__()
        self.tool = tool
        self.server = server
        self.rows: dict[str, dict] = {}
        self.TITLE_TEXT = f"Tool failures — {self.what}"

    @property
    def what(self) -> str:
        return f"tool {self.tool}" if self.tool else f"MCP server {self.server}"

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield KeyedTable(FAILURE_COLUMNS, right={"latency"}, drop=["session", "type", "latency"], id="failures")
        with VerticalScroll(id="failure-detail"):
            yield Static(id="text")

    def on_mount(self) -> None:
        self.query_one("#failures", KeyedTable).focus()

    def fetch(self) -> list[dict]:
        if self.server and not self.tool:
            return RT.recent_failures(self.engine, self.filters, server=self.server, limit=self.LIMIT)
        return RT.recent_tool_failures(self.engine, self.filters, tool=self.tool, limit=self.LIMIT)

    def show(self, rows: list[dict]) -> None:
        self.rows = {r["id"]: r for r in rows}
        self.query_one("#summary", Static).update(
            f"[b]Recent tool failures of {escape(self.what)}[/b]: {len(rows):,}"
            + (f" (the newest {self.LIMIT})" if len(rows) >= self.LIMIT else "")
            + f" · range: {escape(self.app.range_label())} · Escape: back")
        table = self.query_one("#failures", KeyedTable)  # (columns: FAILURE_COLUMNS)
        table.sync([(r["id"], [local_time(self.app, r["started_ms"], "%Y-%m-%d %H:%M:%S"), r["tool_name"] or "",
                               r["error_type"] or "error", fmt_ms(r["latency_ms"]), head_cells(r["session_id"] or "", 13),
                               clip_cells(((r["error_message"] or "").strip().splitlines() or [""])[0], 80)]) for r in rows])
        if not rows:
            self.query_one("#text", Static).update(f"No failures of {escape(self.what)} in this range "
                                                   f"({escape(self.app.range_label())}). Widen it with t.")
        else:
            self._detail(table.current_key)

    def _detail(self, key: str | None) -> None:
        r = self.rows.get(key or "")
        if r is None:
            return
        self.query_one("#text", Static).update(
            f"[b]{escape(r['tool_name'] or '')}[/b] · {escape(r['error_type'] or 'error')} · "
            f"{local_time(self.app, r['started_ms'], '%Y-%m-%d %H:%M:%S')} · {fmt_ms(r['latency_ms'])} · session "
            f"{escape(r['session_id'] or '-')} · task {escape(r['task_id'] or '-')} · call {escape(r['id'])}\n\n"
            + escape(r["error_message"] or "(no error text recorded)"))

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self._detail(event.row_key.value)
