"""Conversation linking: claude-nexus-proxy's hashes on its own captures, the linker's rules, and a random
conversation tree sent in order coming back as the same tree."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_tui.core import linking as L
from tests.conftest import REAL
from tests.linking_helpers import OPS, MemoryLookup, TreeBuilder, build_tree, result_dict

CAPTURES = REAL / "proxy_captures"


def _capture(name: str) -> dict:
    path = CAPTURES / name
    if not path.is_file():
        pytest.skip(f"shared capture missing: {path}")
    return json.loads(path.read_text())


def _ms(iso: str) -> int:
    from nexus_tui.core.events import ms_from_iso

    return ms_from_iso(iso)


# --- hashes: the values claude-nexus-proxy stored for these requests ------------------------------


@pytest.mark.parametrize("name", ["linking-01-simple-start.json", "linking-02-branching.json"])
def test_capture_hashes_match_claude_nexus_proxy(name):
    cap = _capture(name)
    parent, child = cap["parent"], cap["child"]
    hp = L.request_hashes(parent["body"])
    assert hp["message_hash"] == parent["current_message_hash"]
    assert hp["parent_message_hash"] is parent["parent_message_hash"] is None
    assert hp["system_hash"] == parent["system_hash"]
    assert hp["message_count"] == 1
    hc = L.request_hashes(child["body"])
    # the child's history without its last exchange is exactly the parent's messages
    assert hc["parent_message_hash"] == parent["current_message_hash"]
    assert hc["system_hash"] == parent["system_hash"]
    assert hc["message_count"] == 3
    assert hc["message_hash"] not in (None, parent["current_message_hash"])


def test_capture_children_differ_only_in_last_message():
    a = L.request_hashes(_capture("linking-01-simple-start.json")["child"]["body"])
    b = L.request_hashes(_capture("linking-02-branching.json")["child"]["body"])
    assert a["parent_message_hash"] == b["parent_message_hash"]
    assert a["message_hash"] != b["message_hash"]


def test_capture_links_and_branches():
    """01: the child continues the parent on its branch and conversation; 02 (a second, different child of the
    same parent) starts branch_YYYYMMDDHHMMSS (its own time, UTC)."""
    one, two = _capture("linking-01-simple-start.json"), _capture("linking-02-branching.json")
    mem = MemoryLookup()
    p = one["parent"]
    t0 = 1_750_420_376_000
    root = mem.add(p["request_id"], t0, p["body"], p["response_body"])
    assert root.parent_request_id is None and root.branch_id == "main"
    a = mem.add(one["child"]["request_id"], t0 + 5_000, one["child"]["body"])
    assert one["expectedLink"] is True
    assert (a.parent_request_id, a.conversation_id, a.branch_id) == (
        p["request_id"],
        root.conversation_id,
        "main",
    )
    b = mem.add(two["child"]["request_id"], t0 + 65_000, two["child"]["body"])
    assert two["expectedLink"] is True
    assert b.parent_request_id == p["request_id"] and b.conversation_id == root.conversation_id
    assert b.branch_id == "branch_20250620115401"  # 1750420441 s = 2025-06-20T11:54:01Z


def test_capture_subtask_matched():
    cap = _capture("subtask-01-subtask-matched.json")
    mem = MemoryLookup()
    parent = cap["parent"]
    response = {
        "content": [
            {"type": "tool_use", "id": inv["tool_use_id"], "name": "Task", "input": {"prompt": inv["prompt"]}}
            for inv in parent["task_invocations"]
        ]
    }
    parent_body = {"system": "You are a helpful assistant", "messages": [{"role": "user", "content": "go"}]}
    pr = mem.add(parent["request_id"], _ms(parent["timestamp"]), parent_body, response)
    child = cap["child"]
    res = mem.add(child["request_id"], _ms(child["timestamp"]), child["body"])
    assert res.is_subtask is cap["expectedIsSubtask"] is True
    assert res.parent_task_request_id == cap["expectedParentTaskRequestId"] == "parent-request-123"
    assert res.parent_request_id == "parent-request-123"
    assert res.conversation_id == pr.conversation_id
    assert res.branch_id == "subtask_1"


def test_subtask_needs_a_task_prompt_within_24h():
    cap = _capture("subtask-01-subtask-matched.json")
    mem = MemoryLookup()
    parent = cap["parent"]
    response = {
        "content": [
            {
                "type": "tool_use",
                "id": "t1",
                "name": "Task",
                "input": {"prompt": parent["task_invocations"][0]["prompt"]},
            }
        ]
    }
    t = _ms(parent["timestamp"])
    mem.add(parent["request_id"], t, {"messages": [{"role": "user", "content": "go"}]}, response)
    late = mem.add("late", t + 86_400_000 + 1, cap["child"]["body"])
    assert not late.is_subtask and late.parent_request_id is None and late.branch_id == "main"
    other = dict(cap["child"]["body"], messages=[{"role": "user", "content": "something else"}])
    assert not mem.add("other", t + 1000, other).is_subtask


# --- normalization details (each against an independent serialization) ----------------------------


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def test_serialization_format_and_reminders():
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                {"type": "text", "text": "  hi\r\nthere <system-reminder>y</system-reminder> "},
                {"type": "image", "source": {"media_type": "image/png", "data": "QUJD"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm"},
                {
                    "type": "tool_use",
                    "id": "tu1",
                    "name": "Read",
                    "input": {"path": "a", "n": 2.0, "f": 0.5, "u": "é"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "tu1",
                    "content": "ok<system-reminder>z</system-reminder>",
                }
            ],
        },
    ]
    expected = (
        "user\n[0]text:hi\nthere\n[1]image:image/png:" + _sha("QUJD") + "\n"
        'assistant\n[0]thinking:unknown\n[1]tool_use:Read:tu1:{"path":"a","n":2,"f":0.5,"u":"é"}\n'
        "user\n[0]tool_result:tu1:ok\n"
    )
    assert L.request_hashes({"messages": msgs})["message_hash"] == _sha(expected)
    assert L.request_hashes({"messages": [{"role": "user", "content": " hi "}]})["message_hash"] == _sha(
        "user\n[0]text:hi\n"
    )


def test_messages_repeating_a_tool_id_are_dropped():
    use = {"type": "tool_use", "id": "tu1", "name": "Bash", "input": {"c": "ls"}}
    res = {"type": "tool_result", "tool_use_id": "tu1", "content": "a"}
    base = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": [res]},
    ]
    dup = base + [{"role": "assistant", "content": [use]}, {"role": "user", "content": [res]}]
    h_base, h_dup = L.request_hashes({"messages": base}), L.request_hashes({"messages": dup})
    assert h_dup["message_hash"] == h_base["message_hash"]
    assert (
        h_dup["parent_message_hash"]
        == h_base["parent_message_hash"]
        == L.request_hashes({"messages": base[:1]})["message_hash"]
    )


def test_parent_hash_needs_three_messages():
    two = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    assert L.request_hashes(two)["parent_message_hash"] is None
    assert L.request_hashes({"messages": []})["message_hash"] is None
    for bad in (None, 3, "x", {"messages": "no"}, {"messages": [1, None]}):
        assert L.request_hashes(bad)["message_hash"] is None


def test_system_hash_keeps_only_the_stable_part():
    a = "Be nice.\ngitStatus: M x.py\n?? y\n\nCurrent branch: main\nRest."
    b = "Be nice.\ngitStatus: M other.py\n\nCurrent branch: dev\nRest."
    assert L.hash_system(a) == L.hash_system(b) == _sha("Be nice.\n\nRest.")
    assert L.hash_system("Be rude.") != L.hash_system(a)
    assert L.hash_system(None) is None and L.hash_system("") is None and L.hash_system([]) is None
    cli = L.CLI_TOOL_PREFIX + ". More text that changes"
    assert L.hash_system(cli) == _sha(L.CLI_TOOL_PREFIX)


def test_task_prompts_and_summary_keys():
    resp = {
        "content": [
            {"type": "text", "text": "ok"},
            {"type": "tool_use", "id": "a", "name": "Task", "input": {"prompt": "P1"}},
            {"type": "tool_use", "id": "b", "name": "Read", "input": {"prompt": "no"}},
            {"type": "tool_use", "id": "c", "name": "Task", "input": {"prompt": 3}},
        ]
    }
    assert L.task_prompts(resp) == ["P1"]
    assert L.task_prompts(resp["content"]) == ["P1"]
    assert L.task_prompts(None) == [] and L.task_prompts({"content": "x"}) == []
    summary = {
        "content": [{"type": "text", "text": "<analysis>\nA b.\n</analysis>\n\n<summary>\nS 1.\n</summary>"}]
    }
    cont = {
        "messages": [
            {
                "role": "user",
                "content": L.COMPACT_CONVERSATION_PREFIX
                + ". "
                + L.SUMMARY_MARKER
                + "\nAnalysis:\nA b.\n\nSummary:\nS 1.\n"
                + L.SUMMARY_SUFFIX_MARKER
                + " please",
            }
        ]
    }
    assert L.request_hashes(cont)["compact_hash"] == L.response_summary_hash(summary)
    assert L.response_summary_hash({"content": [{"type": "text", "text": "plain"}]}) is None


def test_compaction_links_within_seven_days_only():
    b = TreeBuilder()
    r = b.root(1, 0)
    s, c = b.compact(r, 5)
    mem = MemoryLookup()
    for n in (r, s):
        mem.add(n.id, n.ts_ms, n.body, n.response)
    res = mem.add(c.id, c.ts_ms, c.body)
    assert result_dict(res) == b.expected(c) and res.branch_id.startswith("compact_")
    mem2 = MemoryLookup()
    for n in (r, s):
        mem2.add(n.id, n.ts_ms, n.body, n.response)
    late = mem2.add(c.id, s.ts_ms + 7 * 86_400_000 + 1, c.body)
    assert late.parent_request_id is None and late.branch_id == "main"


def test_summarization_request_links_despite_other_system_prompt():
    b = TreeBuilder()
    r = b.root(1, 0)
    s, _ = b.compact(r, 5)
    assert L.request_hashes(s.body)["system_hash"] != L.request_hashes(r.body)["system_hash"]
    assert L.request_hashes(s.body)["is_summarization"]
    mem = MemoryLookup()
    mem.add(r.id, r.ts_ms, r.body, r.response)
    assert result_dict(mem.add(s.id, s.ts_ms, s.body, s.response)) == b.expected(s)


def test_lost_request_links_to_grandparent_and_retry_keeps_its_place():
    b = TreeBuilder()
    r = b.root(1, 0)
    x = b.extend(r, 2, 0, lost=True)
    y = b.extend(r, 2, 0)
    rx = b.retry(x, 3)
    mem = MemoryLookup()
    for n in (r, x, y, rx):
        assert result_dict(mem.add(n.id, n.ts_ms, n.body, n.response)) == b.expected(n), n.id
    assert mem.results[x.id].branch_id == "main" and mem.results[y.id].branch_id.startswith("branch_")
    assert mem.results[rx.id].branch_id == "main"


# --- the property: a random tree sent in order comes back as the same tree ------------------------


def check_tree(b: TreeBuilder, add) -> None:
    """``add(node)`` sends one request (in time order) and returns its LinkResult."""
    got = {n.id: result_dict(add(n)) for n in b.nodes}
    want = {n.id: b.expected(n) for n in b.nodes}
    assert got == want
    # and the parent pointers rebuild the generated tree
    assert {k: v["parent_request_id"] for k, v in got.items()} == {n.id: n.parent for n in b.nodes}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_random_tree_comes_back_the_same(ops):
    b = build_tree(ops)
    mem = MemoryLookup()
    check_tree(b, lambda n: mem.add(n.id, n.ts_ms, n.body, n.response))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda k: (
        st.lists(k, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "role",
                    "content",
                    "type",
                    "text",
                    "id",
                    "tool_use_id",
                    "name",
                    "input",
                    "source",
                    "data",
                    "media_type",
                    "messages",
                    "system",
                    "prompt",
                    "x",
                ]
            ),
            k,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_json, _json)
def test_any_json_body_gives_hashes_without_raising(body, response):
    h = L.request_hashes(body)
    assert set(h) >= {"message_hash", "parent_message_hash", "system_hash", "message_count", "link_keys"}
    for k in ("message_hash", "parent_message_hash", "system_hash"):
        assert h[k] is None or (isinstance(h[k], str) and len(h[k]) == 64)
    assert isinstance(h["message_count"], int) and h["message_count"] >= 0
    for kind, key, seq in list(L.iter_link_keys(h, response)):
        assert kind in L.KEY_KINDS and isinstance(key, str) and isinstance(seq, int)
    assert all(isinstance(p, str) for p in L.task_prompts(response))
    if isinstance(body, dict) and isinstance(body.get("messages"), list):
        mem = MemoryLookup()
        mem.add("a", 1, body, response)
        mem.add("b", 2, body, response)  # the same body again never raises either


def test_real_claude_code_subagent_request_is_a_subtask_of_the_task_call():
    """Two real captures 10 s apart: Claude Code's Task tool_use in the first response, and the sub-agent's first
    request (a different system prompt; its user message is a system reminder plus the prompt)."""
    names = sorted(p.name for p in CAPTURES.glob("inference_streaming_with_tools_with_system_opus-*.json"))
    if len(names) != 2:
        pytest.skip("real streaming captures missing")
    first, second = (_capture(n) for n in names)
    rid = [c["response"]["headers"]["request-id"] for c in (first, second)]
    mem = MemoryLookup()
    root = mem.add(rid[0], _ms(first["timestamp"]), first["body"], first["response"]["body"])
    sub = mem.add(rid[1], _ms(second["timestamp"]), second["body"], second["response"]["body"])
    assert L.request_hashes(first["body"])["system_hash"] != L.request_hashes(second["body"])["system_hash"]
    assert (root.parent_request_id, root.branch_id) == (None, "main")
    assert sub == L.LinkResult(
        root.conversation_id,
        "subtask_1",
        parent_request_id=rid[0],
        parent_task_request_id=rid[0],
        is_subtask=True,
        kind="subtask",
    )
    # the same prompt 24 h and 1 ms after the Task call no longer matches
    late = MemoryLookup()
    late.add(rid[0], _ms(first["timestamp"]), first["body"], first["response"]["body"])
    assert not late.add(rid[1], _ms(first["timestamp"]) + 86_400_001, second["body"]).is_subtask


def test_stream_keys_from_real_sse_equal_the_assembled_response():
    names = sorted(p.name for p in CAPTURES.glob("inference_streaming_with_tools_with_system_opus-*.json"))
    if not names:
        pytest.skip("real streaming captures missing")
    for name in names:
        cap = _capture(name)
        sk = L.StreamKeys()
        for ev in cap["response"]["metadata"]["streamingChunks"]:
            sk.feed(ev)
        want = L.response_keys(cap["response"]["body"])
        assert sk.keys() == want
        assert [k for k in want if k[0] == L.KEY_TASK_PROMPT] or name.endswith("wixegs6ph.json")
    # a summary streamed in pieces gives the same key as the whole text; bounded buffers drop what is too long
    text = "<analysis>\nA.\n</analysis>\n\n<summary>\nS.\n</summary>"
    sk = L.StreamKeys()
    sk.feed({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    for i in range(0, len(text), 5):
        sk.feed(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text[i : i + 5]},
            }
        )
    assert sk.keys() == L.response_keys({"content": [{"type": "text", "text": text}]}) != []
    small = L.StreamKeys(max_json=10)
    small.feed(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "name": "Task", "input": {}},
        }
    )
    small.feed(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"prompt": "far too long"}'},
        }
    )
    assert small.keys() == []
    for junk in (None, 3, {"type": "content_block_delta"}, {"type": "content_block_start", "index": True}):
        small.feed(junk)


def test_real_compacted_continuation_links_to_its_summarization():
    """The continuation message of a real Claude Code transcript (newer wording: "The summary below covers …",
    a transcript pointer before "Please continue …") links to the summarization response it was made from (here
    rebuilt the other way round: Claude Code turns <analysis>/<summary> into "Analysis:"/"Summary:")."""
    path = REAL / "claude_code" / "spotter" / "4d5611e5-241a-462a-8d15-5122611a9569.jsonl"
    if not path.is_file():
        pytest.skip("real transcript missing")
    line = next(json.loads(x) for x in path.open() if '"isCompactSummary":true' in x)
    text = line["message"]["content"]
    text = text if isinstance(text, str) else "".join(b.get("text", "") for b in text if isinstance(b, dict))
    body_text = text.split("conversation.\n\n", 1)[1].split("\n\nIf you need specific details", 1)[0]
    analysis, summary = body_text.removeprefix("Analysis:\n").split("\n\nSummary:\n", 1)
    response = {
        "content": [
            {
                "type": "text",
                "text": f"<analysis>\n{analysis}\n</analysis>\n\n<summary>\n{summary}\n</summary>",
            }
        ]
    }
    continuation = {"system": "x", "messages": [{"role": "user", "content": text}]}
    assert L.request_hashes(continuation)["compact_hash"] == L.response_summary_hash(response)
    mem = MemoryLookup()
    t0 = _ms(line["timestamp"])
    src = mem.add(
        "summarize",
        t0 - 60_000,
        {"system": L.SUMMARIZATION_SYSTEM_PROMPT, "messages": [{"role": "user", "content": "a"}]},
        response,
    )
    res = mem.add("continued", t0, continuation)
    assert (res.parent_request_id, res.conversation_id) == ("summarize", src.conversation_id)
    assert res.branch_id == "compact_" + line["timestamp"][11:19].replace(":", "")


def test_request_type_and_the_quota_probe_is_not_linked():
    one = _capture("linking-01-simple-start.json")
    assert L.request_type(one["parent"]["body"]) == "inference"
    assert L.request_type(_capture("subtask-01-subtask-matched.json")["child"]["body"]) == "query_evaluation"
    quota = {
        "model": "claude-3-5-haiku",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": " Quota "}],
    }
    h = L.request_hashes(quota)
    assert h["request_type"] == "quota" and h["message_hash"] is None and h["link_keys"] == []
    assert L.request_type(None) == "query_evaluation"
