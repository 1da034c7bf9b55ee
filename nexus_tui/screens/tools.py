"""Screen 6: tool calls, failures and latency percentiles per tool and MCP server; Enter lists recent failures."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_int, fmt_ms, fmt_pct, local_time
from nexus_tui.store import queries as Q
from nexus_tui.widgets.keyed_table import KeyedTable

COLUMNS = [("tool", "Tool"), ("server", "MCP server"), ("calls", "Calls"), ("fail", "Failures"), ("rate", "Fail %"),
           ("p50", "p50"), ("p95", "p95"), ("p99", "p99"), ("max", "max")]


class ToolsScreen(InsightScreen):
    TITLE_TEXT = "Tools"

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield KeyedTable(COLUMNS, id="tools")
        yield Static("[b]Failures by error type[/b]", classes="section")
        yield KeyedTable([("tool", "Tool"), ("type", "Error type"), ("n", "Failures")], id="failures")

    def fetch(self):
        return Q.tools_report(self.engine, self.filters), Q.tool_failures_by_type(self.engine, self.filters)

    def show(self, data) -> None:
        tools, failures = data
        calls = sum(t["calls"] for t in tools)
        fails = sum(t["failures"] for t in tools)
        self.query_one("#summary", Static).update(
            f"{len(tools)} tools · {fmt_int(calls)} calls · {fmt_int(fails)} failures "
            f"({fmt_pct(fails / calls if calls else None)}) · percentiles by nearest rank · Enter: recent failures"
            f" · range: {self.app.range_label()}")
        self.query_one("#tools", KeyedTable).sync([
            (f"{t['tool']}\x00{t['server'] or ''}", [t["tool"], t["server"] or "", fmt_int(t["calls"]),
                                                   fmt_int(t["failures"]), fmt_pct(t["failure_rate"]),
                                                   fmt_ms(t["p50_ms"]), fmt_ms(t["p95_ms"]), fmt_ms(t["p99_ms"]),
                                                   fmt_ms(t["max_ms"])]) for t in tools])
        self.query_one("#failures", KeyedTable).sync([
            (f"{f['tool']}\x00{f['error_type']}", [f["tool"], f["error_type"], fmt_int(f["failures"])])
            for f in failures])

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        tool = event.row_key.value.split("\x00")[0]
        self.app.push_screen(ToolFailuresScreen(tool))


class ToolFailuresScreen(InsightScreen):
    TITLE_TEXT = "Tool failures"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, tool: str) -> None:
        super().__init__()
        self.tool = tool

    def body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="list")

    def fetch(self):
        return Q.recent_tool_failures(self.engine, self.filters, tool=self.tool, limit=100)

    def show(self, rows) -> None:
        if not rows:
            self.query_one("#list", Static).update(f"No failures of {escape(self.tool)} in this range.")
            return
        self.query_one("#list", Static).update(
            f"[b]Recent failures of {escape(self.tool)}[/b] ({len(rows)})\n\n" + "\n\n".join(
                f"[b]{local_time(self.app, r['started_ms'], '%Y-%m-%d %H:%M:%S')}[/b]  {r['error_type'] or 'error'}"
                f"  {fmt_ms(r['latency_ms'])}  session {r['session_id'][:8]}\n{escape(r['error_message'] or '')}"
                for r in rows))
