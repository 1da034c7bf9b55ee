"""Fold records that share a natural key into one, with the same rules the store applies in SQL.

Tasks: the record with the larger token total wins its usage (a streamed response's last line carries the
final output count); the trigger time is the earliest known, the end the latest. Sessions: earliest start,
latest end, latest non-empty attributes. Tool calls: the call half and the result half combine.
"""

from __future__ import annotations

from nexus_tui.core.events import Batch, SessionRec, TaskRec, ToolResultRec, ToolUseRec

# The merge policy of a task seen by several records (several lines, sources or passes), declared once: this module
# folds records in Python with it, and store/writer.py builds its SQL upsert from the same lists.
# taken whole from the record with the larger token total (the store also keeps its total_tokens column with them)
TASK_BEST_FIELDS = ("tokens_in", "tokens_out", "cache_read_tokens", "cache_creation_tokens",
                    "cache_creation_5m_tokens", "cache_creation_1h_tokens", "thinking_tokens", "cost_usd",
                    "cloud_cost_equivalent", "priced_as", "stop_reason", "model", "response_length")
_USAGE_FIELDS = TASK_BEST_FIELDS

# what only a recording proxy sees: filled in from whichever record has it (a transcript has none of them)
PROXY_FIELDS = ("conversation_id", "branch_id", "parent_request_id", "parent_task_request_id", "is_subtask",
                "message_hash", "parent_message_hash", "system_hash", "message_count", "http_status", "error_type",
                "ttfb_ms", "ttft_ms", "request_bytes", "response_bytes", "streamed", "client", "retries")
# the first known value stays (a later record only fills a gap)
TASK_FILL_FIELDS = ("agent_id", "request_id", "message_id", "project", "error_message", "tier", "component",
                    "prompt_length", "speed", "service_tier", "persona", "cli_tool", "routing_reason",
                    "reported_cost_usd", *PROXY_FIELDS)
# a session's attributes: the latest record that has one wins
SESSION_ATTRS = ("cli_tool", "persona", "nexus_mode", "project", "cwd", "git_branch", "cli_version")


def merge_task(old: TaskRec, new: TaskRec) -> TaskRec:
    if new.total_tokens > old.total_tokens:
        for f in _USAGE_FIELDS:
            setattr(old, f, getattr(new, f))
    if new.trigger_ms is not None and (old.trigger_ms is None or new.trigger_ms < old.trigger_ms):
        old.trigger_ms = new.trigger_ms
    if new.end_ms is not None and (old.end_ms is None or new.end_ms > old.end_ms):
        old.end_ms = new.end_ms
    if old.latency_ms is None:
        old.latency_ms = new.latency_ms
    for f in TASK_FILL_FIELDS:
        if getattr(old, f) is None and getattr(new, f) is not None:
            setattr(old, f, getattr(new, f))
    # A top-level record of a response beats a sidechain replay of it (ccusage rule, FORMATS.md §1).
    if old.is_sidechain and not new.is_sidechain:
        old.is_sidechain = False
    return old


def merge_session(old: SessionRec, new: SessionRec) -> SessionRec:
    old.start_ms = min(old.start_ms, new.start_ms)
    old.end_ms = max(old.end_ms, new.end_ms)
    for f in SESSION_ATTRS:
        v = getattr(new, f)
        if v:
            setattr(old, f, v)
    return old


def fold_tasks(tasks: list[TaskRec]) -> dict[str, TaskRec]:
    out: dict[str, TaskRec] = {}
    for t in tasks:
        cur = out.get(t.id)
        out[t.id] = t if cur is None else merge_task(cur, t)
    return out


def fold_sessions(sessions: list[SessionRec]) -> dict[str, SessionRec]:
    out: dict[str, SessionRec] = {}
    for s in sessions:
        cur = out.get(s.id)
        out[s.id] = s if cur is None else merge_session(cur, s)
    return out


def fold_tool_calls(uses: list[ToolUseRec], results: list[ToolResultRec]) -> dict[str, dict]:
    """One row dict per tool call id, holding whatever halves this batch saw ('use', 'result' keys)."""
    out: dict[str, dict] = {}
    for u in uses:  # the first record of each half wins, as in the store (later ones only fill gaps there)
        out.setdefault(u.id, {}).setdefault("use", u)
    for r in results:
        out.setdefault(r.id, {}).setdefault("result", r)
    return out


def fold_batch(batch: Batch) -> Batch:
    """``batch`` with its sessions and tasks folded by key and each tool call half kept once (the first), in the
    order of first appearance: what ``writer.prepare`` folds to anyway, so folding first changes no row, only
    makes the batch smaller to hand to another process."""
    return Batch(sessions=list(fold_sessions(batch.sessions).values()), tasks=list(fold_tasks(batch.tasks).values()),
                 tool_uses=_first_of_each(batch.tool_uses), tool_results=_first_of_each(batch.tool_results),
                 routing=batch.routing, errors=batch.errors, ratings=batch.ratings,
                 session_stats=batch.session_stats, skipped=batch.skipped, lines=batch.lines,
                 quota_snapshots=batch.quota_snapshots, links=batch.links, titles=batch.titles)


def _first_of_each(records: list) -> list:
    out: dict = {}
    for r in records:
        if r.id not in out:
            out[r.id] = r
    return list(out.values())
