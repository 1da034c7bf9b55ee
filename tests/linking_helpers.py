"""An in-memory implementation of core.linking.LinkLookup and a generator of conversation trees (with branches,
retries, lost requests, sub-tasks and compactions) whose expected links are computed from the tree itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from nexus_tui.core import linking as L


@dataclass
class MemRow:
    rec: L.LinkedRequest
    parent_request_id: str | None
    keys: list


class MemoryLookup:
    """LinkLookup over a list, linking each request as it is added (in time order)."""

    def __init__(self) -> None:
        self.rows: dict[str, MemRow] = {}
        self.results: dict[str, L.LinkResult] = {}
        self.linker = L.Linker(self)

    @staticmethod
    def _earlier(r: L.LinkedRequest, before: tuple[int, str]) -> bool:
        return (r.ts_ms, r.request_id) < before

    def _seen(self, before):
        return [row for row in self.rows.values() if self._earlier(row.rec, before)]

    def by_message_hash(self, message_hash, system_hash, before):
        rows = [
            r.rec
            for r in self._seen(before)
            if r.rec.message_hash == message_hash
            and (system_hash is None or r.rec.system_hash == system_hash)
        ]
        return sorted(rows, key=lambda r: (r.ts_ms, r.request_id))

    def children(self, parent_request_id, before):
        rows = [r.rec for r in self._seen(before) if r.parent_request_id == parent_request_id]
        return sorted(rows, key=lambda r: (r.ts_ms, r.request_id))

    def _with_key(self, kind, key, since_ms, before):
        rows = [
            r.rec
            for r in self._seen(before)
            if r.rec.ts_ms >= since_ms and any(k[0] == kind and k[1] == key for k in r.keys)
        ]
        return sorted(rows, key=lambda r: (r.ts_ms, r.request_id), reverse=True)

    def compact_source(self, summary_hash, since_ms, before):
        rows = self._with_key(L.KEY_SUMMARY_OUT, summary_hash, since_ms, before)
        return rows[0] if rows else None

    def task_invocations(self, prompt_hash, since_ms, before):
        return self._with_key(L.KEY_TASK_PROMPT, prompt_hash, since_ms, before)

    def subtask_count(self, conversation_id, before):
        return len(
            {
                r.rec.branch_id
                for r in self._seen(before)
                if r.rec.conversation_id == conversation_id and r.rec.is_subtask
            }
        )

    def branch_exists(self, conversation_id, branch_id, before):
        return any(
            r.rec.conversation_id == conversation_id and r.rec.branch_id == branch_id
            for r in self._seen(before)
        )

    def add(self, request_id: str, ts_ms: int, body: dict, response=None) -> L.LinkResult:
        h = L.request_hashes(body)
        res = self.linker.link(L.pending_from_hashes(request_id, ts_ms, h))
        self.results[request_id] = res
        self.rows[request_id] = MemRow(
            L.LinkedRequest(
                request_id,
                ts_ms,
                res.conversation_id,
                res.branch_id,
                h["message_hash"],
                h["system_hash"],
                res.is_subtask,
            ),
            res.parent_request_id,
            list(L.iter_link_keys(h, response)),
        )
        return res


# --- conversation trees ---------------------------------------------------------------------------

SYSTEM_MAIN = [
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
    {
        "type": "text",
        "text": "\nYou are an interactive CLI tool that helps users with software "
        "engineering tasks. Use the instructions below.\n\ngitStatus: M a.py\n",
    },
]
SYSTEM_SUB = "You are an agent for Claude Code.\n\nCurrent branch: feature-x\nDo the task you are given."
SYSTEM_SUMMARY = "You are a helpful AI assistant tasked with summarizing conversations."


@dataclass
class Node:
    id: str
    ts_ms: int
    body: dict
    response: dict
    parent: str | None  # expected parent_request_id
    conv_root: str  # the request whose conversation this is
    branch: str  # expected branch_id
    is_subtask: bool = False
    task_parent: str | None = None
    prompts: list = field(default_factory=list)  # unused Task prompts of this node's response
    extendable: bool = True
    retryable: bool = False
    summary: tuple | None = None


class TreeBuilder:
    """Builds requests one operation at a time and the links they must get."""

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:
        self.nodes: list[Node] = []
        self.by_id: dict[str, Node] = {}
        self.ts = start_ms
        self.n = 0
        self.children: dict[str, int] = {}  # non-subtask children sent so far, by parent
        self.subtasks: dict[str, int] = {}  # sub-task starts by conversation root
        self.branches: dict[str, set] = {}  # branch ids used, by conversation root

    def _next(self, gap_s: int) -> tuple[str, int]:
        self.n += 1
        self.ts += gap_s * 1000 + (self.n * 37) % 1000
        return f"req_{self.n:04d}", self.ts

    def _response(self, rid: str, tasks: int) -> dict:
        content = [{"type": "text", "text": f"answer {rid}"}]
        for j in range(tasks):
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_{rid}_{j}",
                    "name": "Task",
                    "input": {
                        "description": "sub",
                        "prompt": f"Investigate item {rid}/{j} please",
                        "subagent_type": "general-purpose",
                    },
                }
            )
        return {"role": "assistant", "content": content}

    def _add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.by_id[node.id] = node
        return node

    def _child_branch(self, parent: Node, ts: int) -> str:
        k = self.children.get(parent.id, 0)
        self.children[parent.id] = k + 1
        return parent.branch if k == 0 else self._fresh(parent.conv_root, L.branch_id_at(ts))

    def _fresh(self, conv_root: str, branch: str) -> str:
        used = self.branches.setdefault(conv_root, set())
        b, k = branch, 2
        while b in used:
            b, k = f"{branch}_{k}", k + 1
        used.add(b)
        return b

    def root(self, gap_s: int, tasks: int) -> Node:
        rid, ts = self._next(gap_s)
        body = {
            "model": "claude-opus-4",
            "system": SYSTEM_MAIN,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "<system-reminder>\nctx\n</system-reminder>"},
                        {"type": "text", "text": f"please do thing {rid}"},
                    ],
                }
            ],
        }
        resp = self._response(rid, tasks)
        return self._add(
            Node(
                rid,
                ts,
                body,
                resp,
                None,
                rid,
                L.BRANCH_MAIN,
                prompts=[t["input"]["prompt"] for t in resp["content"][1:]],
            )
        )

    def _extended(self, parent: Node, rid: str, turns: int) -> list:
        msgs = list(parent.body["messages"])
        prev = parent.response
        for t in range(turns):
            msgs.append({"role": "assistant", "content": prev["content"]})
            results = [
                {"type": "tool_result", "tool_use_id": b["id"], "content": "done"}
                for b in prev["content"]
                if b.get("type") == "tool_use"
            ]
            msgs.append(
                {
                    "role": "user",
                    "content": results
                    + [
                        {
                            "type": "text",
                            "text": f"next step {rid}.{t}\r\n<system-reminder>r</system-reminder>",
                        }
                    ],
                }
            )
            prev = {"content": [{"type": "text", "text": f"lost answer {rid}.{t}"}]}
        return msgs

    def extend(self, parent: Node, gap_s: int, tasks: int, lost: bool = False) -> Node:
        """A follow-up of ``parent`` (``lost``: with one turn in between whose request was not recorded)."""
        rid, ts = self._next(gap_s)
        system = parent.body["system"] if parent.body["system"] != SYSTEM_SUMMARY else SYSTEM_MAIN
        if isinstance(
            system, list
        ):  # the dynamic part of the system prompt changes; its stable hash does not
            system = [system[0], {"type": "text", "text": system[1]["text"] + f"\ngitStatus: M {rid}.py\n"}]
        body = {
            "model": "claude-opus-4",
            "system": system,
            "messages": self._extended(parent, rid, 2 if lost else 1),
        }
        resp = self._response(rid, tasks)
        return self._add(
            Node(
                rid,
                ts,
                body,
                resp,
                parent.id,
                parent.conv_root,
                self._child_branch(parent, ts),
                prompts=[t["input"]["prompt"] for t in resp["content"][1:]],
                retryable=True,
            )
        )

    def retry(self, node: Node, gap_s: int) -> Node:
        rid, ts = self._next(gap_s)
        if not node.is_subtask:
            self.children[node.parent] = self.children.get(node.parent, 0) + 1
        return self._add(
            Node(
                rid,
                ts,
                node.body,
                {"content": [{"type": "text", "text": f"retry {rid}"}]},
                node.parent,
                node.conv_root,
                node.branch,
                is_subtask=node.is_subtask,
                task_parent=node.task_parent,
                extendable=False,
                retryable=False,
            )
        )

    def subtask(self, parent: Node, gap_s: int, tasks: int) -> Node:
        rid, ts = self._next(gap_s)
        prompt = parent.prompts.pop(0)
        k = self.subtasks.get(parent.conv_root, 0) + 1
        self.subtasks[parent.conv_root] = k
        body = {
            "model": "claude-sonnet-4",
            "system": SYSTEM_SUB,
            "messages": [{"role": "user", "content": prompt}],
        }
        resp = self._response(rid, tasks)
        return self._add(
            Node(
                rid,
                ts,
                body,
                resp,
                parent.id,
                parent.conv_root,
                f"subtask_{k}",
                is_subtask=True,
                task_parent=parent.id,
                prompts=[t["input"]["prompt"] for t in resp["content"][1:]],
                retryable=True,
            )
        )

    def compact(self, parent: Node, gap_s: int) -> tuple[Node, Node]:
        """The summarization request (a child of ``parent``) and the compacted continuation that follows it."""
        rid, ts = self._next(gap_s)
        msgs = self._extended(parent, rid, 1)
        msgs[-1] = {
            "role": "user",
            "content": f"Your task is to create a detailed summary of the conversation so far ({rid}).",
        }
        analysis, summary = f"The user asked for {rid}.\nWe did it.", f"1. Primary request: {rid}.\n2. Done."
        resp = {
            "role": "assistant",
            "content": [
                {
                    "type": "text",
                    "text": f"<analysis>\n{analysis}\n</analysis>\n\n<summary>\n{summary}\n</summary>",
                }
            ],
        }
        s = self._add(
            Node(
                rid,
                ts,
                {"model": "claude-opus-4", "system": SYSTEM_SUMMARY, "messages": msgs},
                resp,
                parent.id,
                parent.conv_root,
                self._child_branch(parent, ts),
                retryable=False,
            )
        )
        rid2, ts2 = self._next(gap_s)
        text = (
            f"{L.COMPACT_CONVERSATION_PREFIX}. {L.SUMMARY_MARKER}\nAnalysis:\n{analysis}\n\nSummary:\n{summary}."
            f"\n{L.SUMMARY_SUFFIX_MARKER} from where we left it off without asking the user any further questions."
        )
        body = {
            "model": "claude-opus-4",
            "system": SYSTEM_MAIN,
            "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        }
        self.children[s.id] = self.children.get(s.id, 0) + 1
        c = self._add(
            Node(
                rid2,
                ts2,
                body,
                self._response(rid2, 0),
                s.id,
                s.conv_root,
                self._fresh(s.conv_root, L.compact_branch_id_at(ts2)),
                retryable=True,
            )
        )
        return s, c

    def expected(self, node: Node) -> dict:
        return {
            "parent_request_id": node.parent,
            "conversation_id": L.conversation_id_for(node.conv_root),
            "branch_id": node.branch,
            "is_subtask": node.is_subtask,
            "parent_task_request_id": node.task_parent,
        }


def result_dict(res: L.LinkResult) -> dict:
    return {
        "parent_request_id": res.parent_request_id,
        "conversation_id": res.conversation_id,
        "branch_id": res.branch_id,
        "is_subtask": res.is_subtask,
        "parent_task_request_id": res.parent_task_request_id,
    }


OPS = st.lists(
    st.tuples(
        st.sampled_from(["root", "extend", "extend", "extend", "lost", "retry", "subtask", "compact"]),
        st.integers(0, 10_000),
        st.sampled_from([0, 0, 1, 30, 600]),  # seconds: 0 gives two branches in one second
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=30,
)


def build_tree(ops) -> TreeBuilder:
    b = TreeBuilder()
    b.root(1, 1)
    for op, pick, gap, tasks in ops:
        ext = [n for n in b.nodes if n.extendable]
        if op == "root":
            b.root(gap, tasks)
        elif op in ("extend", "lost"):
            b.extend(ext[pick % len(ext)], gap, tasks, lost=op == "lost")
        elif op == "retry":
            cands = [n for n in b.nodes if n.retryable]
            if cands:
                b.retry(cands[pick % len(cands)], gap)
        elif op == "subtask":
            cands = [n for n in ext if n.prompts]
            if cands:
                b.subtask(cands[pick % len(cands)], gap, tasks)
        elif op == "compact":
            b.compact(ext[pick % len(ext)], gap)
    return b
