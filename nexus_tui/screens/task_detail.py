"""Task detail: the routing decision, the tool calls (inputs and results read on demand) and the errors."""

from __future__ import annotations

import json

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, Static

from nexus_tui.collect.reader import read_block
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_int, fmt_ms, fmt_usd, local_time, rating_text
from nexus_tui.screens.session_detail import RatingMixin
from nexus_tui.store import analytics as A


class TaskDetailScreen(RatingMixin, InsightScreen):
    TITLE_TEXT = "Task"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")] + RatingMixin.RATING_BINDINGS

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self._shown_calls: tuple = ()

    def body(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield Static(id="task")
            yield Static(id="routing")
            yield Static("[b]Tool calls[/b]", id="calls-title")
            yield VerticalScroll(id="calls")
            yield Static(id="errors")

    def current_task_id(self) -> str | None:
        return self.task_id

    def fetch(self):
        d = A.task_detail(self.engine, self.task_id)
        if d is None:
            return None
        for c in d["tool_calls"]:  # read inputs and results from the source file here, off the UI thread
            c["input_text"] = read_block(c["source_path"], c["use_offset"], c["use_length"], c["id"], "use")
            c["result_text"] = read_block(c["source_path"], c["result_offset"], c["result_length"], c["id"], "result")
        return d

    def show(self, d) -> None:
        if d is None:
            self.query_one("#task", Static).update(f"Task {self.task_id} is not in the database.")
            return
        total_in = (d["tokens_in"] or 0) + (d["cache_read_tokens"] or 0) + (d["cache_creation_tokens"] or 0)
        self.query_one("#task", Static).update(
            f"[b]Task[/b] {escape(d['id'])}   [b]Session[/b] {escape(d['session_id'])}\n"
            f"[b]Time[/b] {local_time(self.app, d['ts_ms'], '%Y-%m-%d %H:%M:%S')}   [b]Model[/b] {escape(d['model'])}"
            f"   [b]Source[/b] {d['source']}   [b]Routing[/b] {d['routing']}   [b]Status[/b] {d['status'] or 'ok'}\n"
            f"[b]Tokens[/b] in {fmt_int(d['tokens_in'])} (uncached) + cache read {fmt_int(d['cache_read_tokens'])}"
            f" + cache write {fmt_int(d['cache_creation_tokens'])} = {fmt_int(total_in)} input;"
            f" out {fmt_int(d['tokens_out'])}\n"
            f"[b]Latency[/b] {fmt_ms(d['latency_ms'])}   [b]Cost[/b] "
            f"{fmt_usd(d['cost_usd']) if d['cost_usd'] is not None else 'unpriced (model has no known price)'}"
            f"   [b]Cloud equivalent[/b] {fmt_usd(d['cloud_cost_equivalent'])}"
            f"   [b]Agent[/b] {d['agent_id'] or 'main'}   [b]Tier[/b] {d['tier'] or '-'}\n"
            f"[b]Rating[/b] {rating_text(d['quality_rating']) or 'not rated (+ helpful, - not helpful)'}")
        rds = d["routing_decisions"]
        if rds:
            parts = []
            for r in rds:
                alts = r["alternatives_considered"]
                try:
                    alts_list = json.loads(alts) if alts else []
                except ValueError:
                    alts_list = [alts]
                alt_text = "\n".join(f"   • {escape(str(a.get('model')))}: {escape(str(a.get('reason_rejected')))}"
                                     if isinstance(a, dict) else f"   • {escape(str(a))}" for a in alts_list) or "   none"
                parts.append(f"[b]Routing decision[/b] {escape(r['reason'])}   "
                             f"[b]classifier[/b] {r['classifier_version'] or '-'}\n alternatives considered:\n{alt_text}")
            self.query_one("#routing", Static).update("\n".join(parts))
        else:
            self.query_one("#routing", Static).update(
                f"[b]Routing[/b] {d['routing']}" + (f" — {escape(d['routing_reason'])}" if d["routing_reason"] else "")
                + " (no routing decision recorded for this task)")
        calls = self.query_one("#calls", VerticalScroll)
        key = tuple((c["id"], c["success"], c["latency_ms"]) for c in d["tool_calls"])
        if key != self._shown_calls:
            self._shown_calls = key
            calls.remove_children()
            widgets = []
            for c in d["tool_calls"]:
                state = "…" if c["success"] is None else ("ok" if c["success"] else f"FAILED ({c['error_type']})")
                title = f"{c['tool_name']}  {state}  {fmt_ms(c['latency_ms'])}"
                widgets.append(Collapsible(
                    Static(f"[b]input[/b] ({fmt_int(c['input_size'])} bytes)\n{escape(c['input_text'])}\n\n"
                           f"[b]result[/b] ({fmt_int(c['output_size'])} bytes)\n{escape(c['result_text'])}",
                           classes="call-body"),
                    title=title, collapsed=True))
            if not widgets:
                widgets.append(Static("no tool calls"))
            calls.mount_all(widgets)
        errs = d["errors"]
        self.query_one("#errors", Static).update(
            "[b]Errors[/b]\n" + "\n".join(f" {local_time(self.app, e['ts_ms'], '%H:%M:%S')} {e['component']}/"
                                            f"{e['kind']}: {escape(e['message'][:300])}" for e in errs)
            if errs else "[b]Errors[/b] none")
