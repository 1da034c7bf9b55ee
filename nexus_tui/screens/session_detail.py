"""Session detail: a header like a proxy's request view, and the session's tasks (rate them with + - 0 u)."""

from __future__ import annotations

from nexus_tui.widgets.safe import DataText, escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from nexus_tui.core.convtree import conversation_lines
from nexus_tui.core.fmt import ellipsis
from nexus_tui.core.report import safe

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
    theme_colour,
)
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.machines import machine_names
from nexus_tui.widgets.fields import Fields, pair
from nexus_tui.widgets.keyed_table import KeyedTable

COLUMNS = [("time", "Time"), ("model", "Model"), ("routing", "Routing"), ("in", "In"), ("out", "Out"),
           ("cache", "Cache r/w"), ("latency", "Latency"), ("cost", "Cost"), ("tools", "Tools"), ("agent", "Agent"),
           ("rating", "Rating")]
RIGHT = {"in", "out", "cache", "latency", "cost"}
DROP = ["agent", "routing", "cache", "tools", "rating", "model"]  # narrow: these go first
# the audit trail (a): every tool call in order, its target, outcome, latency and the asking turn's tokens
AUDIT_COLUMNS = [("seq", "#"), ("time", "Time"), ("tool", "Tool"), ("target", "Target"), ("outcome", "Outcome"),
                 ("latency", "Latency"), ("agent", "Agent"), ("tin", "Turn in"), ("tout", "Turn out")]
AUDIT_RIGHT = {"seq", "latency", "tin", "tout"}
AUDIT_DROP = ["agent", "seq", "tin", "time", "tout"]
AUDIT_LISTED = RS.SESSION_TASKS_LIMIT  # calls in the trail's table, as the task list (the title counts every one)


def listed_audit(engine, session_id: str) -> dict | None:
    """Worker thread: the session's audit trail with its first ``AUDIT_LISTED`` calls only and the counts of all
    (a session of 100,000 tool calls laid out every row on the UI thread: the app stopped answering keys for 25 s
    and kept them all in memory)."""
    from nexus_tui.headless_audit import load_audit

    audit = load_audit(engine, session_id)
    if audit is None:
        return None
    calls = audit["calls"]
    return {"calls": calls[:AUDIT_LISTED], "total": len(calls), "files_changed": audit["files_changed"],
            "failed": sum(1 for c in calls if c["outcome"] == "failed")}


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


class SessionDetailScreen(RatingMixin, InsightScreen):
    TITLE_TEXT = "Session"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"),
                Binding("a", "toggle_audit", "Audit trail"),
                Binding("c", "toggle_tree", "Conversation tree (focus, scroll)", show=False)] \
        + RatingMixin.RATING_BINDINGS
    DEFAULT_CSS = """
    SessionDetailScreen #audit { height: 1fr; }
    SessionDetailScreen #audit-files { height: auto; max-height: 9; padding: 0 1; border-top: solid $panel; }
    SessionDetailScreen.-short #audit-files { max-height: 5; }
    SessionDetailScreen #audit-title { height: auto; padding: 0 1; }
    SessionDetailScreen.-short.-audit #header { display: none; }  /* 80×24: the trail gets the rows */
    """

    def __init__(self, session_id: str, audit: bool = False) -> None:
        super().__init__()
        self.session_id = session_id
        self.audit = audit  # the audit trail in place of the tasks (key a)
        self._audit_rows: dict[str, dict] = {}

    def body(self) -> ComposeResult:
        yield Static(id="header", classes="detail-header")
        yield Static(id="header-more", classes="detail-more")  # models, cwd, branch: left out on a short terminal
        with VerticalScroll(id="conv-box", classes="conv-tree"):
            yield Static(id="conversations")
        yield KeyedTable(COLUMNS, right=RIGHT, drop=DROP, id="tasks")
        yield Static(id="audit-title")
        yield KeyedTable(AUDIT_COLUMNS, right=AUDIT_RIGHT, drop=AUDIT_DROP, id="audit")
        yield Static(id="audit-files")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one("#empty", Static).display = False
        for w in ("#audit-title", "#audit", "#audit-files"):
            self.query_one(w).display = False
        box = self.query_one("#conv-box", VerticalScroll)
        box.display = False
        box.can_focus = False  # the task table keeps the keys; the tree scrolls with the mouse
        self.query_one("#tasks", KeyedTable).focus()
        super().on_mount()

    def current_task_id(self) -> str | None:
        if self.audit:
            row = self._audit_rows.get(self.query_one("#audit", KeyedTable).current_key or "")
            return row["task_id"] if row else None
        return self.query_one("#tasks", KeyedTable).current_key

    # ------------------------------------------------------------ the audit trail (a)
    def action_toggle_audit(self) -> None:
        self.audit = not self.audit
        self._audit_layout()
        if self.audit:
            self._load_audit()

    def _audit_layout(self) -> None:
        self.set_class(self.audit, "-audit")
        for w in ("#audit-title", "#audit", "#audit-files"):
            self.query_one(w).display = self.audit
        tasks = self.query_one("#tasks", KeyedTable)
        tasks.display = not self.audit and tasks.row_count > 0
        self.query_one("#conv-box").display = not self.audit and bool(getattr(self, "_convs", None))
        if self.audit:
            self.query_one("#empty", Static).display = False
            self.query_one("#audit", KeyedTable).focus()
        elif tasks.display:
            tasks.focus()

    def _load_audit(self) -> None:
        self.run_query(listed_audit, self.engine, self.session_id, tag="audit")

    def show_query(self, tag: str, data) -> None:
        if tag == "audit":
            self._show_audit(data)

    def on_resize(self, event) -> None:
        if self.audit and getattr(self, "_audit_data", None) is not None and \
                (self._target_width(), self.app.size.height) != self._tw:
            self._show_audit(self._audit_data)

    def _target_width(self) -> int:
        """Characters of a target: a path keeps its end (the file name) when the terminal is narrow."""
        width = self.app.size.width
        return 70 if width >= 120 else max(16, width - 55)

    def _show_audit(self, audit: dict | None) -> None:
        self._audit_data = audit
        tw = self._target_width()
        self._tw = (tw, self.app.size.height)
        calls = audit["calls"] if audit else []
        files = audit["files_changed"] if audit else []
        self._audit_rows = {str(c["seq"]): c for c in calls}
        app = self.app
        tool_w = 40 if app.size.width >= 120 else 16
        rows = [(str(c["seq"]), [str(c["seq"]), local_time(app, c["time_ms"], "%H:%M:%S"),
                                 _head(safe(c["tool"] or "?"), tool_w),
                                 _tail(safe(c["target"] or "-"), tw),
                                 c["outcome"] + (f" ({safe(c['error_type'])})" if c["error_type"] else ""),
                                 fmt_ms(c["latency_ms"]), safe(c["agent"]), fmt_int(c["turn_tokens_in"]),
                                 fmt_int(c["turn_tokens_out"])]) for c in calls]
        self.query_one("#audit", KeyedTable).sync(rows)
        failed, total = (audit["failed"], audit["total"]) if audit else (0, 0)
        self.query_one("#audit-title", Static).update(
            f"[b]Audit trail[/b] {plural(total, 'tool call')}"
            + (f" (first {len(calls):,} listed)" if len(calls) < total else "")
            + (f", [red]{plural(failed, 'tool failure')}[/red]" if failed else "")
            + f", {plural(len(files), 'file')} changed"
            + ("   [dim](a: back to the tasks · Enter opens the task)[/dim]" if self.app.size.width >= 120 else ""))
        out = DataText()
        out.append("Files changed", style="bold")
        if not files:
            out.append("  none")
        width = max((len(str(d["edits"])) for d in files), default=1)
        room = 3 if self.app.size.height < 36 else 7  # (the -short class: VERTICAL_BREAKPOINTS)  # lines for files (the box's height less its title and border)
        listed = files if len(files) <= room else files[: room - 1]
        for d in listed:
            out.append("\n")
            out.append(f"{d['edits']:>{width}} ", style="bold")
            out.append("edit  " if d["edits"] == 1 else "edits ")
            out.append(safe(d["path"]))  # plain text: never markup
        if len(listed) < len(files):
            out.append(f"\n… and {plural(len(files) - len(listed), 'more file')} (--headless audit --session ID "
                       "lists every one)", style="dim")
        self.query_one("#audit-files", Static).update(out)

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

    def refresh_data(self) -> None:
        super().refresh_data()
        if self.audit:
            self._load_audit()

    def fetch(self):
        head = RS.session_header(self.engine, self.session_id)
        tasks = (RS.session_tasks(self.engine, self.session_id, cost_mode=self.app.filters.cost_mode)
                 if head is not None else [])
        convs = RS.session_conversations(self.engine, self.session_id) if head is not None else []
        if head is not None:
            names = machine_names(self.engine)  # named only when several machines write to this database
            head = dict(head, machine_name=names.get(head.get("machine")) if len(names) > 1 else None)
        return head, tasks, convs

    def show(self, data) -> None:
        head, tasks, convs = data
        self._convs = convs
        box = self.query_one("#conv-box", VerticalScroll)
        box.display = bool(convs) and not self.audit
        if convs:
            self.query_one("#conversations", Static).update(conversation_tree_text(self.app, convs))
        h = self.query_one("#header", Static)
        if head is None:
            h.update(f"Session {escape(self.session_id)} is not in the database (any more). Escape goes back.")
            return
        self.sub_title = f"Session {safe(self.session_id[:13])}"
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
        from nexus_tui.core.report import strip_controls

        title = strip_controls(head.get("title")) or None
        def field(label: str, *rest, value=None) -> list:  # a line: its first label in a column 11 wide
            return [pair(f"{label:<11}", value), *rest]

        title_text = None
        if title:
            title_text = Text(title)
            title_text.append(f" ({head['title_source']})", style="dim")
        status = Text(", ".join(problems), style="red") if problems else "ok"
        duration = fmt_ms((head["end_ms"] or 0) - (head["start_ms"] or 0)) if head["start_ms"] else "-"
        h.update(Fields([  # the title line when the session has one (else the project and time below name it)
            *([field("Title", value=title_text)] if title else []),
            field("Session ID", value=head["id"]),
            field("CLI", pair("Persona", head["persona"] or "-"), pair("Mode", head["nexus_mode"] or "-"),
                  value=f"{head['cli_tool'] or '-'} {head['cli_version'] or ''}".rstrip()),
            field("Project", value=head["project"] or "-"),
            field("Time", pair("Duration", duration),
                  value=f"{local_time(app, head['start_ms'], '%Y-%m-%d %H:%M:%S')} → "
                        f"{local_time(app, head['end_ms'], '%Y-%m-%d %H:%M:%S')}"),
            field("Tokens", pair("Output", fmt_int(u["tokens_out"])), pair("Total", fmt_int(u["total_tokens"])),
                  value=f"Input {fmt_int(u['tokens_in'])}"),
            field("Cache", pair("Write", fmt_int(u["cache_creation_tokens"])),
                  value=f"Read {fmt_int(u['cache_read_tokens'])}"),
            field("Cost", value=cost),
            field("Tasks", pair("Tool calls", fmt_int(head["tool_calls"])),
                  pair("Rating", rating_summary(u["rated_helpful"], u["rated_not_helpful"]) or "none yet"),
                  value=f"{fmt_int(u['tasks'])}{shown}"),
            field("Status", value=status)]))
        self.query_one("#header-more", Static).update(Fields([
            field("Models", value=", ".join(head["models"]) or "-"),
            field("cwd", *([pair("Machine", head["machine_name"])] if head.get("machine_name") else []),
                  value=head["cwd"] or "-"),
            field("Branch", value=branch)]))
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
        empty.display = not rows and not self.audit
        table.display = bool(rows) and not self.audit
        if rows and self.focused is None and not self.audit:  # hidden while empty, it lost focus
            table.focus()
        if not rows:
            empty.update("This session has no tasks yet; they appear here as the collector reads them.")
        if self.audit:
            self._audit_layout()

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        from nexus_tui.screens.task_detail import TaskDetailScreen

        if event.data_table.id == "audit":
            row = self._audit_rows.get(event.row_key.value)
            if row is None or not row["task_id"]:
                self.app.bell()
                self.notify("This call's task is not recorded (its source names none).", timeout=2)
                return
            self.app.push_screen(TaskDetailScreen(row["task_id"]))
            return
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
    out = DataText()
    for ln in lines:
        if out:
            out.append("\n")
        pad = "  " * ln.depth
        r = ln.row or {}
        if ln.kind == "conversation":
            n = per_conv.get(r.get("conversation_id"), 0)
            out.append("Conversation ", style="bold")
            out.append(str(ln.label)[:36])
            out.append(f"  {plural(n, 'request')}", style="dim")
            continue
        if ln.kind == "group":
            accent = theme_colour(app, "text-primary", "cyan")  # readable on a light and a dark theme
            out.append(pad + "↳ ", style=accent)
            out.append(_GROUP.get(ln.label, ln.label) + " ", style=accent)
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
        out.append(f"\n… {plural(missing, 'more request')} not shown", style="dim")
    return out


_head = ellipsis


def _tail(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters keeping its end ('…/routing/rules.py')."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1:]


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
