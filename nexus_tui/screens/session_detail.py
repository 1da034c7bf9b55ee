"""Session detail: a header like a proxy's request view, and the session's tasks (rate them with + - 0 u)."""

from __future__ import annotations

from nexus_tui.widgets.safe import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from nexus_tui.core.convtree import conversation_lines

from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import (
    fmt_int,
    fmt_ms,
    fmt_usd,
    local_time,
    money_column,
    plural,
    rating_summary,
    rating_text,
    short_model,
)
from nexus_tui.store.read import sessions as RS
from nexus_tui.widgets.keyed_table import KeyedTable

COLUMNS = [("time", "Time"), ("model", "Model"), ("routing", "Routing"), ("in", "In"), ("out", "Out"),
           ("cache", "Cache r/w"), ("latency", "Latency"), ("cost", "Cost"), ("tools", "Tools"), ("agent", "Agent"),
           ("rating", "Rating")]
RIGHT = {"in", "out", "cache", "latency", "cost"}
DROP = ["agent", "routing", "cache", "tools", "rating", "model"]  # narrow: these go first


class RatingMixin:
    """The rating keys on any screen that shows a task: + helpful, - not helpful, 0 clear, u undo."""

    RATE_GROUP = Binding.Group("Rate")  # the footer shows "+ - 0 Rate"; ? lists each key
    RATING_BINDINGS = [
        Binding("plus,equals_sign", "rate(1)", "Helpful", group=RATE_GROUP),
        Binding("minus", "rate(0)", "Not helpful", group=RATE_GROUP),
        Binding("0", "rate(None)", "Clear rating", group=RATE_GROUP),
        Binding("u", "undo_rating", "Undo rating"),
    ]

    def current_task_id(self) -> str | None:  # pragma: no cover
        return None

    def action_rate(self, rating) -> None:
        tid = self.current_task_id()
        if tid is None:
            self.app.bell()
            self.notify("Put the cursor on a task to rate it.", timeout=2)
            return
        self.app.rate_task(tid, rating)

    def action_undo_rating(self) -> None:
        self.app.undo_rating()


def _field(label: str, value: str, width: int = 11) -> str:
    return f"[b]{label:<{width}}[/b] {value}"


class SessionDetailScreen(RatingMixin, InsightScreen):
    TITLE_TEXT = "Session"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"),
                Binding("c", "toggle_tree", "Conversation tree (focus, scroll)", show=False)] \
        + RatingMixin.RATING_BINDINGS

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id

    def body(self) -> ComposeResult:
        yield Static(id="header", classes="detail-header")
        yield Static(id="header-more", classes="detail-more")  # models, cwd, branch: left out on a short terminal
        with VerticalScroll(id="conv-box", classes="conv-tree"):
            yield Static(id="conversations")
        yield KeyedTable(COLUMNS, right=RIGHT, drop=DROP, id="tasks")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one("#empty", Static).display = False
        box = self.query_one("#conv-box", VerticalScroll)
        box.display = False
        box.can_focus = False  # the task table keeps the keys; the tree scrolls with the mouse
        self.query_one("#tasks", KeyedTable).focus()
        super().on_mount()

    def current_task_id(self) -> str | None:
        return self.query_one("#tasks", KeyedTable).current_key

    def action_toggle_tree(self) -> None:
        """The conversation tree takes the keys (arrows, page keys scroll it) or gives them back to the tasks."""
        box = self.query_one("#conv-box", VerticalScroll)
        table = self.query_one("#tasks", KeyedTable)
        if self.focused is box or not box.display:
            box.can_focus = False
            table.focus()
        else:
            box.can_focus = True
            box.focus()

    def fetch(self):
        head = RS.session_header(self.engine, self.session_id)
        tasks = (RS.session_tasks(self.engine, self.session_id, cost_mode=self.app.filters.cost_mode)
                 if head is not None else [])
        convs = RS.session_conversations(self.engine, self.session_id) if head is not None else []
        return head, tasks, convs

    def show(self, data) -> None:
        head, tasks, convs = data
        box = self.query_one("#conv-box", VerticalScroll)
        box.display = bool(convs)
        if convs:
            self.query_one("#conversations", Static).update(conversation_tree_text(self.app, convs))
        h = self.query_one("#header", Static)
        if head is None:
            h.update(f"Session {escape(self.session_id)} is not in the database (any more). Escape goes back.")
            return
        self.sub_title = f"Session {self.session_id[:13]}"
        u = head["usage"]
        app = self.app
        problems = []
        if head["tool_errors"]:
            problems.append(plural(head["tool_errors"], "tool failure"))
        if head["api_errors"]:
            problems.append(plural(head["api_errors"], "API error"))
        if head["task_errors"]:
            problems.append(plural(head["task_errors"], "failed task"))
        subs = ", ".join(f"{a} ({n})" for a, n in head["subagents"].items())
        branch = head["git_branch"] or "-"
        if head["subagents"]:
            branch += f"   sub-agents {len(head['subagents'])}: {subs}"
        cost = fmt_usd(u["cost_usd"]) + (f" (+{plural(u['unpriced_tasks'], 'unpriced task')})"
                                         if u["unpriced_tasks"] else "")
        if u["cloud_cost_equivalent"] and abs(u["cloud_cost_equivalent"] - u["cost_usd"]) > 1e-9:
            cost += f"   cloud equivalent {fmt_usd(u['cloud_cost_equivalent'])}"
        shown = f" (first {len(tasks):,} listed)" if len(tasks) < u["tasks"] else ""
        lines = [
            _field("Session ID", escape(head["id"])),
            _field("CLI", f"{escape(head['cli_tool'] or '-')} {escape(head['cli_version'] or '')}   "
                   f"[b]Persona[/b] {escape(head['persona'] or '-')}   [b]Mode[/b] {escape(head['nexus_mode'] or '-')}"),
            _field("Project", escape(head['project'] or '-')),
            _field("Time", f"{local_time(app, head['start_ms'], '%Y-%m-%d %H:%M:%S')} → "
                   f"{local_time(app, head['end_ms'], '%Y-%m-%d %H:%M:%S')}   [b]Duration[/b] "
                   f"{fmt_ms((head['end_ms'] or 0) - (head['start_ms'] or 0)) if head['start_ms'] else '-'}"),
            _field("Tokens", f"Input {fmt_int(u['tokens_in'])}  Output {fmt_int(u['tokens_out'])}  "
                   f"Cache read {fmt_int(u['cache_read_tokens'])}  Cache write {fmt_int(u['cache_creation_tokens'])}"
                   f"  Total {fmt_int(u['total_tokens'])}"),
            _field("Cost", cost),
            _field("Tasks", f"{fmt_int(u['tasks'])}{shown}   [b]Tool calls[/b] {fmt_int(head['tool_calls'])}   "
                   f"[b]Rating[/b] {rating_summary(u['rated_helpful'], u['rated_not_helpful']) or 'none yet'}"),
            _field("Status", "[red]" + ", ".join(problems) + "[/red]" if problems else "ok"),
        ]
        h.update("\n".join(lines))
        self.query_one("#header-more", Static).update("\n".join([
            _field("Models", escape(", ".join(head["models"]) or "-")),
            _field("cwd", escape(head["cwd"] or "-")),
            _field("Branch", escape(branch))]))
        costs = money_column([t["cost_usd"] for t in tasks])
        rows = [(t["id"], [local_time(app, t["ts_ms"], "%H:%M:%S"), short_model(t["model"]), t["routing"],
                           fmt_int(t["tokens_in"]), fmt_int(t["tokens_out"]),
                           f"{fmt_int(t['cache_read_tokens'])}/{fmt_int(t['cache_creation_tokens'])}",
                           fmt_ms(t["latency_ms"]), cost if t["cost_usd"] is not None else "unpriced",
                           _tools_text(t["tools"]), t["agent_id"] or "", rating_text(t["quality_rating"])])
                for t, cost in zip(tasks, costs)]
        table = self.query_one("#tasks", KeyedTable)
        table.sync(rows)
        empty = self.query_one("#empty", Static)
        empty.display = not rows
        table.display = bool(rows)
        if rows and self.focused is None:  # hidden while empty, it lost focus
            table.focus()
        if not rows:
            empty.update("This session has no tasks yet; they appear here as the collector reads them.")

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        from nexus_tui.screens.task_detail import TaskDetailScreen

        self.app.push_screen(TaskDetailScreen(event.row_key.value))


_GROUP = {"branch": "branch", "compact": "compacted, continues as", "subtask": "sub-task", "retry": "retry on"}


def conversation_tree_text(app, rows: list[dict]) -> Text:
    """The conversations the proxy linked (core/convtree.py) as text: one line per request (time, model, tokens in
    and out, cost, latency, time to first token, status), each branch, compaction and sub-task indented under the
    request it came from. Every value from the data is plain text (no markup)."""
    lines, missing = conversation_lines(rows)
    per_conv: dict = {}
    for r in rows:
        per_conv[r.get("conversation_id")] = per_conv.get(r.get("conversation_id"), 0) + 1
    out = Text()
    for ln in lines:
        if out:
            out.append("\n")
        pad = "  " * ln.depth
        r = ln.row or {}
        if ln.kind == "conversation":
            n = per_conv.get(r.get("conversation_id"), 0)
            out.append("Conversation ", style="bold")
            out.append(str(ln.label)[:36])
            out.append(f"  {n:,} request(s)", style="dim")
            continue
        if ln.kind == "group":
            out.append(pad + "↳ ", style="cyan")
            out.append(_GROUP.get(ln.label, ln.label) + " ", style="cyan")
            out.append(str(r.get("branch_id") or "-"))
            continue
        tin = sum((r.get(k) or 0) for k in ("tokens_in", "cache_read_tokens", "cache_creation_tokens"))
        failed = (r.get("http_status") or 0) >= 400 or r.get("error_type") or r.get("status") == "error"
        out.append(pad + "• ")
        out.append(local_time(app, r.get("ts_ms"), "%H:%M:%S"))
        out.append(f"  {short_model(r.get('model') or '?')}")
        out.append(f"  in {fmt_int(tin)} out {fmt_int(r.get('tokens_out'))}")
        cost = r.get("cost_usd")
        out.append(f"  {fmt_usd(cost) if cost is not None else 'unpriced'}")
        out.append(f"  {fmt_ms(r.get('latency_ms'))}")
        out.append(f"  TTFT {fmt_ms(r.get('ttft_ms'))}")
        if failed:
            status = r.get("http_status")
            out.append("  " + (f"HTTP {status} " if status else "") + str(r.get("error_type") or "error"),
                       style="red")
    if missing:
        out.append(f"\n… {missing:,} more request(s) not shown", style="dim")
    return out


def _tools_text(names: list[str], width: int = 30) -> str:
    """'Read,Edit!,Bash' trimmed to ``width`` with a count of what did not fit ('!' = the call failed)."""
    out = ""
    for i, n in enumerate(names):
        piece = ("," if out else "") + n
        rest = len(names) - i
        if len(out) + len(piece) > width - (4 if rest > 1 else 0):
            return out + f" +{rest}"
        out += piece
    return out
