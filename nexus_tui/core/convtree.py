"""Conversations as trees for display (pure: no I/O, SQL or Textual).

The requests the conversation linking joined (core/linking.py: ``parent_request_id``, ``branch_id``,
``is_subtask``) laid out as lines: a conversation's requests that continue one another on the same branch are one
flat list (a 500-request conversation is 500 lines, not 500 levels); a request that starts another branch, a
compacted continuation or a sub-task opens an indented group under the request it came from, headed by what it is.
Built with an explicit stack: no recursion, whatever the depth of branches of branches.
"""

from __future__ import annotations

from dataclasses import dataclass

KIND_BRANCH, KIND_COMPACT, KIND_SUBTASK, KIND_RETRY = "branch", "compact", "subtask", "retry"


@dataclass(frozen=True, slots=True)
class TreeLine:
    depth: int  # indentation level (0 = a conversation's first line)
    kind: str  # "conversation" (a conversation's header), "group" (a branch/compaction/sub-task header), "request"
    row: dict | None  # the request (for "request" lines), or the first request of the group / conversation
    label: str = ""  # for headers: the conversation id, or the group's kind (branch, compact, subtask, retry)


def _kind(row: dict, parent: dict | None) -> str:
    if row.get("is_subtask"):
        return KIND_SUBTASK
    b = row.get("branch_id") or ""
    if b.startswith("compact_"):
        return KIND_COMPACT
    if parent is not None and b == parent.get("branch_id"):  # a second child on the parent's branch: a retry
        return KIND_RETRY
    return KIND_BRANCH


def _key(row: dict) -> tuple:
    return (row.get("ts_ms") or 0, str(row.get("id")))


def conversation_lines(rows: list[dict], max_lines: int = 2000) -> tuple[list[TreeLine], int]:
    """Lines for every conversation in ``rows`` (dicts with at least ``id``, ``ts_ms``, ``conversation_id``,
    ``branch_id``, ``parent_request_id``, ``is_subtask``), conversations in order of their first request. A request
    whose parent is not among ``rows`` starts its conversation's list (or, when the conversation already has one, a
    group). Returns the lines (at most ``max_lines``) and how many requests did not fit."""
    by_id = {r["id"]: r for r in rows if r.get("id") is not None}
    children: dict[str, list[dict]] = {}
    roots: dict[str, list[dict]] = {}
    for r in sorted(by_id.values(), key=_key):
        p = r.get("parent_request_id")
        if p is not None and p in by_id and p != r["id"]:
            children.setdefault(p, []).append(r)
        else:
            roots.setdefault(str(r.get("conversation_id") or r["id"]), []).append(r)
    lines: list[TreeLine] = []
    placed: set = set()
    for conv, starts in sorted(roots.items(), key=lambda kv: _key(kv[1][0])):
        if len(lines) >= max_lines:
            break
        lines.append(TreeLine(0, "conversation", starts[0], conv))
        # stack of (request, depth, opens a group): processed depth first, each chain kept flat
        stack: list[tuple[dict, int, bool]] = [(s, 0, i > 0) for i, s in reversed(list(enumerate(starts)))]
        while stack and len(lines) < max_lines:
            r, depth, group = stack.pop()
            if r["id"] in placed:  # a cycle in corrupt links: each request once
                continue
            if group:  # the group's header and its requests one level under the request it came from
                depth += 1
                lines.append(TreeLine(depth, "group", r, _kind(r, by_id.get(r.get("parent_request_id")))))
            placed.add(r["id"])
            lines.append(TreeLine(depth, "request", r))
            kids = children.get(r["id"], [])
            same = next((k for k in kids if not k.get("is_subtask") and k.get("branch_id") == r.get("branch_id")),
                        None)
            # the continuation comes after the side groups; the stack pops the last pushed first
            if same is not None:
                stack.append((same, depth, False))
            for k in reversed([k for k in kids if k is not same]):
                stack.append((k, depth, True))
    shown = len(placed)
    return lines, max(0, len(by_id) - shown)
