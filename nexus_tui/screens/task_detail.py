"""Task detail: the routing decision, the tool calls (inputs and results read on demand) and the errors."""

from __future__ import annotations

import hashlib
import json

from nexus_tui.widgets.safe import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, Static

from nexus_tui.collect.reader import input_preview, read_tool_block
from nexus_tui.core.report import safe
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_int, fmt_ms, fmt_usd, local_time, plural, rating_text
from nexus_tui.screens.session_detail import RatingMixin
from nexus_tui.widgets.fields import Fields, pair
from nexus_tui.store.read import sessions as RS

MAX_CALLS = 200  # tool calls shown for one task (the rest are counted)


class TaskDetailScreen(RatingMixin, InsightScreen):
    TITLE_TEXT = "Task"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("e", "expand_all", "Expand/collapse calls")] \
        + RatingMixin.RATING_BINDINGS

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self._shown_calls: tuple = ()

    def body(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield Static(id="task")
            yield Static(id="proxy")
            yield Static(id="routing")
            yield Static("[b]Tool calls[/b]", id="calls-title")
            yield VerticalScroll(id="calls")
            yield Static(id="errors")

    def on_mount(self) -> None:
        self.query_one("#detail").focus()
        super().on_mount()

    def current_task_id(self) -> str | None:
        return self.task_id

    def fetch(self):
        d = RS.task_detail(self.engine, self.task_id)
        if d is None:
            return None
        calls = d["tool_calls"]
        d["more_calls"] = max(0, len(calls) - MAX_CALLS)
        del calls[MAX_CALLS:]
        for c in calls:  # read inputs and results from the source file here, off the UI thread
            c["input"] = read_tool_block(c["source_path"], c["use_offset"], c["use_length"], c["id"], "use")
            c["result"] = read_tool_block(c["source_path"], c["result_offset"], c["result_length"], c["id"], "result")
        return d

    def show(self, d) -> None:
        if d is None:
            self.query_one("#task", Static).update(
                f"Task {escape(self.task_id)} is not in the database (any more). Escape goes back.")
            return
        app = self.app
        self.sub_title = f"Task {safe(d['id'][:24])}"
        total_in = (d["tokens_in"] or 0) + (d["cache_read_tokens"] or 0) + (d["cache_creation_tokens"] or 0)
        cost = fmt_usd(d["cost_usd"]) if d["cost_usd"] is not None else "unpriced (no known price for this model)"
        rating = Text(rating_text(d["quality_rating"]) or "not rated")
        rating.append("   (+ helpful, - not helpful, 0 clear, u undo)", style="dim")
        self.query_one("#task", Static).update(Fields([
            [pair("Task", d["id"]), pair("Session", d["session_id"])],
            [pair("Time", local_time(app, d["ts_ms"], "%Y-%m-%d %H:%M:%S")), pair("Model", d["model"]),
             pair("Source", d["source"]), pair("Routing", d["routing"]), pair("Status", d["status"] or "ok")],
            [pair("Tokens", f"in {fmt_int(d['tokens_in'])} (uncached) + cache read {fmt_int(d['cache_read_tokens'])}"
                  f" + cache write {fmt_int(d['cache_creation_tokens'])} = {fmt_int(total_in)} input"),
             pair("Output", fmt_int(d["tokens_out"]))],
            [pair("Latency", fmt_ms(d["latency_ms"])), pair("Cost", cost),
             pair("Cloud equivalent", fmt_usd(d["cloud_cost_equivalent"])), pair("Agent", d["agent_id"] or "main"),
             pair("Tier", d["tier"] or "-"), pair("Persona", d["persona"] or "-")],
            [pair("Rating", rating)]]))
        proxy = self.query_one("#proxy", Static)
        proxy.display = d.get("http_status") is not None or d.get("conversation_id") is not None
        if proxy.display:
            proxy.update(proxy_text(d))
        self.query_one("#routing", Static).update(_routing_text(d))
        calls = self.query_one("#calls", VerticalScroll)
        key = tuple((c["id"], c["success"], c["latency_ms"], c["input"], c["result"]) for c in d["tool_calls"])
        if key != self._shown_calls:
            open_ids = {c.id for c in calls.query(Collapsible) if not c.collapsed}
            self._shown_calls = key
            calls.remove_children()
            widgets = [_call_widget(c, open_ids) for c in d["tool_calls"]]
            if d["more_calls"]:
                widgets.append(Static(f"… and {plural(d['more_calls'], 'more tool call')}"))
            if not widgets:
                widgets.append(Static("none"))
            calls.mount_all(widgets)
        n = len(d["tool_calls"]) + d["more_calls"]
        failed = sum(1 for c in d["tool_calls"] if c["success"] is False)
        self.query_one("#calls-title", Static).update(
            f"[b]Tool calls[/b] {n:,}" + (f", [red]{plural(failed, 'tool failure')}[/red]" if failed else "")
            + ("   [dim](Enter or click expands one, e expands all)[/dim]" if n else ""))
        errs = d["errors"]
        self.query_one("#errors", Static).update(
            "[b]Tool failures and API errors[/b]\n" + "\n".join(
                f" {local_time(app, e['ts_ms'], '%H:%M:%S')} [red]{escape(e['component'])}/{escape(e['kind'])}[/red]:"
                f" {escape((e['message'] or '')[:300])}" for e in errs)
            if errs else "[b]Tool failures and API errors[/b] none")

    def action_expand_all(self) -> None:
        boxes = list(self.query(Collapsible))
        expand = any(b.collapsed for b in boxes)
        for b in boxes:
            b.collapsed = not expand
        self.query_one("#detail").scroll_home(animate=False)


def proxy_text(d: dict) -> Fields:
    """What the recording proxy saw of this request (HTTP status, error type, retries, client, time to first byte
    and token, streamed, sizes) and where conversation linking put it. Values from the data stay plain text."""
    lines = []
    if d.get("http_status") is not None:
        status = d["http_status"]
        http = Text(str(status), style="red" if status >= 400 else "")
        if d.get("error_type"):
            http.append(" ")
            http.append(safe(str(d["error_type"])), style="red")
        streamed = d.get("streamed")
        lines.append([pair("Proxy"), pair("HTTP", http), pair("Retries", _dash(d.get("retries"))),
                      pair("TTFB", fmt_ms(d.get("ttfb_ms"))), pair("TTFT", fmt_ms(d.get("ttft_ms"))),
                      pair("Streamed", "-" if streamed is None else ("yes" if streamed else "no")),
                      pair("Request", f"{fmt_int(d.get('request_bytes'))} B"),
                      pair("Response", f"{fmt_int(d.get('response_bytes'))} B")])
        lines.append([pair("Client", str(d.get("client") or "-")[:200])])
    if d.get("conversation_id") is not None:
        line = [pair("Conversation", str(d["conversation_id"])), pair("Branch", _dash(d.get("branch_id"))),
                pair("Parent", d.get("parent_request_id") or "none (first request)")]
        if d.get("is_subtask"):
            line.append(pair("Sub-task of", _dash(d.get("parent_task_request_id"))))
        lines.append(line)
    return Fields(lines)


def _dash(value) -> str:
    return "-" if value is None else str(value)


def _routing_text(d: dict) -> str:
    rds = d["routing_decisions"]
    if not rds:
        return (f"[b]Routing[/b] {escape(d['routing'])}"
                + (f" — {escape(d['routing_reason'])}" if d["routing_reason"] else "")
                + " [dim](no routing decision recorded for this task)[/dim]")
    parts = []
    for r in rds:
        alts = r["alternatives_considered"]
        try:
            alts_list = json.loads(alts) if alts else []
        except ValueError:
            alts_list = [alts]
        if not isinstance(alts_list, list):
            alts_list = [alts_list]
        alt_text = "\n".join(
            f"   • {escape(str(a.get('model')))}: {escape(str(a.get('reason_rejected')))}" if isinstance(a, dict)
            else f"   • {escape(str(a))}" for a in alts_list) or "   none"
        parts.append(f"[b]Routing decision[/b] {escape(d['routing'])} because {escape(r['reason'])}   "
                     f"[b]classifier[/b] {escape(r['classifier_version'] or '-')}\n"
                     f" alternatives considered:\n{alt_text}")
    return "\n".join(parts)


def _call_widget(c: dict, open_ids: set) -> Collapsible:
    # a theme colour ($text-warning), readable on a light and a dark theme
    state = "[$text-warning]no result yet[/]" if c["success"] is None else (
        "ok" if c["success"] else f"[red]FAILED[/red] ({escape(c['error_type'] or 'error')})")
    inp, res = c["input"], c["result"]
    preview = input_preview(inp.value)
    title = f"[b]{escape(c['tool_name'] or '?')}[/b]  {state}  {fmt_ms(c['latency_ms'])}" \
        + (f"  [dim]{escape(preview)}[/dim]" if preview else "")
    input_text = f"[i]{escape(inp.problem)}[/i]" if inp.problem else escape(inp.text)
    result_text = f"[i]{escape(res.problem)}[/i]" if res.problem else escape(res.text)
    if c["success"] is False and c.get("error_message") and res.problem:
        result_text += f"\n[red]{escape(c['error_message'][:1000])}[/red]"
    # a widget id from the call id: letters, digits, - and _ kept, a hash of the whole id so two ids that differ only
    # in other characters never collide (a duplicate id would stop the screen)
    cid = "call-" + "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in c["id"][:40]) \
        + "-" + hashlib.blake2s(c["id"].encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
    return Collapsible(
        Static(f"[b]input[/b] ({fmt_int(c['input_size'])} bytes)\n{input_text}\n\n"
               f"[b]result[/b] ({fmt_int(c['output_size'])} bytes)\n{result_text}", classes="call-body"),
        title=title, collapsed=cid not in open_ids, id=cid)
