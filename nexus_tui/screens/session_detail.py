"""Session detail: a header like a proxy's request view, and the session's tasks (rate them with + - 0 u)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_int, fmt_ms, fmt_usd, local_time, rating_text, short_model
from nexus_tui.store import analytics as A
from nexus_tui.store import queries as Q
from nexus_tui.widgets.keyed_table import KeyedTable

COLUMNS = [("time", "Time"), ("model", "Model"), ("routing", "Routing"), ("in", "In"), ("out", "Out"),
           ("cache", "Cache r/w"), ("latency", "Latency"), ("cost", "Cost"), ("tools", "Tools"), ("agent", "Agent"),
           ("rating", "Rating")]


class RatingMixin:
    """The rating keys on any screen that shows a task: + helpful, - not helpful, 0 clear, u undo."""

    RATING_BINDINGS = [
        Binding("plus,equals_sign", "rate(1)", "Helpful"),
        Binding("minus", "rate(0)", "Not helpful"),
        Binding("0", "rate(None)", "Clear rating"),
        Binding("u", "undo_rating", "Undo rating"),
    ]

    def current_task_id(self) -> str | None:  # pragma: no cover
        return None

    def action_rate(self, rating) -> None:
        tid = self.current_task_id()
        if tid is None:
            self.app.bell()
            return
        self.app.rate_task(tid, rating)

    def action_undo_rating(self) -> None:
        self.app.undo_rating()


class SessionDetailScreen(RatingMixin, InsightScreen):
    TITLE_TEXT = "Session"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")] + RatingMixin.RATING_BINDINGS

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id

    def body(self) -> ComposeResult:
        yield Static(id="header", classes="detail-header")
        yield KeyedTable(COLUMNS, id="tasks")

    def current_task_id(self) -> str | None:
        return self.query_one("#tasks", KeyedTable).current_key

    def fetch(self):
        head = A.session_header(self.engine, self.session_id)
        tasks = A.session_tasks(self.engine, self.session_id)
        from nexus_tui.core.filters import Filters

        page = Q.sessions(self.engine, Filters(), search=self.session_id, limit=1)
        agg = page.rows[0] if page.rows else None
        return head, tasks, agg

    def show(self, data) -> None:
        head, tasks, agg = data
        h = self.query_one("#header", Static)
        if head is None:
            h.update(f"Session {self.session_id} is not in the database.")
            return
        models = ", ".join(sorted({t["model"] for t in tasks})) or "-"
        errors = sum(1 for t in tasks if t["status"] == "error") + head["api_errors"]
        tool_err = agg["tool_errors"] if agg else 0
        subs = ", ".join(f"{a} ({n})" for a, n in head["subagents"].items()) or "none"
        a = agg or {}
        h.update(
            f"[b]Session ID[/b]  {head['id']}\n"
            f"[b]Project[/b]     {head['project'] or '-'}   [b]cwd[/b] {head['cwd'] or '-'}   "
            f"[b]Branch[/b] {head['git_branch'] or '-'}\n"
            f"[b]CLI[/b]         {head['cli_tool'] or '-'} {head['cli_version'] or ''}   "
            f"[b]Persona[/b] {head['persona'] or '-'}   [b]Mode[/b] {head['nexus_mode'] or '-'}\n"
            f"[b]Models[/b]      {models}\n"
            f"[b]Time[/b]        {local_time(self.app, head['start_ms'], '%Y-%m-%d %H:%M:%S')} → "
            f"{local_time(self.app, head['end_ms'], '%H:%M:%S')}   [b]Duration[/b] "
            f"{fmt_ms((head['end_ms'] or 0) - (head['start_ms'] or 0))}\n"
            f"[b]Tokens[/b]      in {fmt_int(a.get('tokens_in'))}  out {fmt_int(a.get('tokens_out'))}  "
            f"cache read {fmt_int(a.get('cache_read_tokens'))}  cache write {fmt_int(a.get('cache_creation_tokens'))}"
            f"  total {fmt_int(a.get('total_tokens'))}\n"
            f"[b]Cost[/b]        {fmt_usd(a.get('cost_usd'))}"
            + (f" (+{a['unpriced_tasks']} unpriced)" if a.get("unpriced_tasks") else "")
            + f"   [b]Tasks[/b] {len(tasks)}   [b]Tool calls[/b] {a.get('tool_calls', 0)}"
            f"   [b]Status[/b] {'errors: ' + str(errors + tool_err) if errors or tool_err else 'ok'}\n"
            f"[b]Sub-agents[/b]  {subs}")
        rows = [(t["id"], [local_time(self.app, t["ts_ms"], "%H:%M:%S"), short_model(t["model"]), t["routing"],
                           fmt_int(t["tokens_in"]), fmt_int(t["tokens_out"]),
                           f"{fmt_int(t['cache_read_tokens'])}/{fmt_int(t['cache_creation_tokens'])}",
                           fmt_ms(t["latency_ms"]), fmt_usd(t["cost_usd"]) if t["cost_usd"] is not None else "unpriced",
                           ",".join(t["tools"])[:28], t["agent_id"] or "", rating_text(t["quality_rating"])])
                for t in tasks]
        self.query_one("#tasks", KeyedTable).sync(rows)

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        from nexus_tui.screens.task_detail import TaskDetailScreen

        self.app.push_screen(TaskDetailScreen(event.row_key.value))
