"""Conversation linking end to end with real parts: the official anthropic SDK sends the requests of the linking
captures (../shared/fixtures/real/proxy_captures/linking-01, linking-02, subtask-01) through the recording proxy to
the local replay upstream; one collector pass ingests the event log; each task carries the conversation, branch,
parent and sub-task values the captures expect."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from nexus_tui.collect.collector import Collector
from nexus_tui.collect.sources import ClaudeCodeSource
from nexus_tui.core import linking as L
from nexus_tui.core.parse.nexus_events import task_key
from tests.proxy_upstream import CAPTURES_DIR
from tests.test_proxy import Proxy, _client, proxy, rows, upstream  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(not CAPTURES_DIR.is_dir(), reason="shared proxy captures not beside the repo")

LINK_COLS = "id, conversation_id, branch_id, parent_request_id, parent_task_request_id, is_subtask, ts_ms"


def _cap(name: str) -> dict:
    return json.loads((CAPTURES_DIR / name).read_text())


def _reply(text_: str, *tool_uses: dict) -> dict:
    """A message body the upstream answers with (usage included, so the task has tokens)."""
    return {"id": f"msg_{abs(hash(text_)) % 10**12}", "type": "message", "role": "assistant",
            "model": "claude-opus-4-20250514", "content": [{"type": "text", "text": text_}, *tool_uses],
            "stop_reason": "tool_use" if tool_uses else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 34, "cache_read_input_tokens": 0,
                      "cache_creation_input_tokens": 0}}


def _send(client, rid: str, body: dict) -> None:
    """``body`` (a captured request) through the SDK, streamed when it was; the upstream answers as ``rid``."""
    named = ("model", "max_tokens", "system", "messages", "metadata")
    kw = {k: v for k, v in body.items() if k in named}
    kw["extra_body"] = {k: v for k, v in body.items() if k not in named and k != "stream"}  # e.g. temperature
    kw["extra_headers"] = {"x-test-request-id": rid}
    if body.get("stream"):
        with client.messages.stream(**kw) as s:
            s.get_final_message()
    else:
        client.messages.create(**kw)


def _send_captures(upstream, proxy, rid=lambda x: x):
    """The three captures' requests in order; ``rid`` maps a capture's request id to the one the upstream answers
    with."""
    one, two = _cap("linking-01-simple-start.json"), _cap("linking-02-branching.json")
    sub = _cap("subtask-01-subtask-matched.json")
    state = upstream[1]
    p = one["parent"]
    assert two["parent"]["request_id"] == p["request_id"] and two["parent"]["body"] == p["body"]
    state.scripted[rid(p["request_id"])] = p["response_body"]
    state.scripted[rid(one["child"]["request_id"])] = _reply("It is 4.")
    state.scripted[rid(two["child"]["request_id"])] = _reply("Something else.")
    inv = sub["parent"]["task_invocations"]
    state.scripted[rid(sub["parent"]["request_id"])] = _reply("I'll delegate this.", *[
        {"type": "tool_use", "id": i["tool_use_id"], "name": "Task",
         "input": {"description": "Security review", "prompt": i["prompt"]}} for i in inv])
    state.scripted[rid(sub["child"]["request_id"])] = _reply("No hardcoded credentials found.")
    c = _client(proxy.url)
    for cap in (one, two):  # in order: 01's parent and child, 02's parent (the same request again) and child
        _send(c, rid(cap["parent"]["request_id"]), cap["parent"]["body"])
        _send(c, rid(cap["child"]["request_id"]), cap["child"]["body"])
    # the sub-task capture has no parent body: a one-message request whose (streamed) answer holds the Task call
    _send(c, rid(sub["parent"]["request_id"]), {"model": "claude-3-opus-20240229", "max_tokens": 4096, "stream": True,
                                           "system": "You are a helpful assistant",
                                           "messages": [{"role": "user", "content": "Review the auth module"}]})
    _send(c, rid(sub["child"]["request_id"]), sub["child"]["body"])
    return one, two, sub


def _links(store) -> dict[str, dict]:
    return {r["id"]: dict(r) for r in rows(store, f"SELECT {LINK_COLS} FROM tasks")}


def test_linking_captures_through_the_sdk_the_proxy_and_ingest(upstream, proxy):
    one, two, sub = _send_captures(upstream, proxy)
    proxy.stop()  # the queue drained into the log
    events = proxy.events()
    assert len(events) == 6
    # the event carries hashes only: no prompt text
    blob = json.dumps(events)
    assert sub["parent"]["task_invocations"][0]["prompt"] not in blob and "Review the auth module" not in blob
    store = proxy.ingest()
    got = _links(store)
    # task ids: the request ids (these captures' are not the API's req_… ids, so they take the event log's prefix);
    # the link columns hold task ids
    p, c1, c2 = (task_key(x["request_id"]) for x in (one["parent"], one["child"], two["child"]))
    sp_id, sc_id = task_key(sub["parent"]["request_id"]), task_key(sub["child"]["request_id"])
    assert set(got) == {p, c1, c2, sp_id, sc_id}  # 02's parent (the same request again): one row
    assert {r["id"]: r["request_id"] for r in rows(store, "SELECT id, request_id FROM tasks")}[sp_id] == \
        sub["parent"]["request_id"]
    conv = L.conversation_id_for(p)
    assert {k: got[p][k] for k in ("conversation_id", "branch_id", "parent_request_id", "is_subtask")} == {
        "conversation_id": conv, "branch_id": "main", "parent_request_id": None, "is_subtask": False}
    # 01: the child continues its parent on main
    assert (got[c1]["conversation_id"], got[c1]["branch_id"], got[c1]["parent_request_id"]) == (conv, "main", p)
    assert one["expectedLink"] is True and not got[c1]["is_subtask"]
    # 02: a second, different child of the same parent starts a branch named after its own time (UTC)
    assert (got[c2]["conversation_id"], got[c2]["parent_request_id"]) == (conv, p) and two["expectedLink"] is True
    assert got[c2]["branch_id"] == L.branch_id_at(got[c2]["ts_ms"]) != "main"
    # the hashes recorded are claude-nexus-proxy's for the same bodies
    (h,) = rows(store, "SELECT message_hash, parent_message_hash, system_hash, message_count FROM tasks"
                       " WHERE id = :i", i=p)
    assert (h["message_hash"], h["parent_message_hash"], h["system_hash"], h["message_count"]) == (
        one["parent"]["current_message_hash"], None, one["parent"]["system_hash"], 1)
    (h1,) = rows(store, "SELECT parent_message_hash FROM tasks WHERE id = :i", i=c1)
    assert h1["parent_message_hash"] == one["parent"]["current_message_hash"]
    # sub-task: the child's one message is the Task prompt of the parent's streamed answer
    sp, sc = got[sp_id], got[sc_id]
    assert sp["branch_id"] == "main" and sp["parent_request_id"] is None and not sp["is_subtask"]
    assert bool(sc["is_subtask"]) is sub["expectedIsSubtask"] is True
    assert sc["parent_task_request_id"] == sc["parent_request_id"] == task_key(sub["expectedParentTaskRequestId"])
    assert (sc["conversation_id"], sc["branch_id"]) == (sp["conversation_id"], "subtask_1")
    assert sp["conversation_id"] == L.conversation_id_for(sp_id) != conv
    keys = rows(store, "SELECT kind, key, seq FROM link_keys WHERE task_id = :i", i=sp_id)
    assert sorted((k["kind"], k["key"], k["seq"]) for k in keys) == [
        ("task_prompt", L.sha256_hex(sub["parent"]["task_invocations"][0]["prompt"]), 0),
        ("user_text", L.sha256_hex("Review the auth module"), 0)]
    store.close()


def _api_id(capture_id: str) -> str:
    return "req_" + capture_id.replace("-", "")


def test_a_transcript_ingested_later_keeps_the_proxy_link_columns(tmp_path, upstream, proxy):
    """A request seen by both the proxy and a Claude Code transcript is one row (the API's request-id is the
    transcript's requestId); the transcript's upsert, which knows no link and carries more tokens, takes the usage
    and leaves the conversation, branch, parent, sub-task and hash columns as the proxy's pass set them."""
    one, two, sub = _send_captures(upstream, proxy, _api_id)
    store = proxy.ingest()
    before = _links(store)
    assert all(r["conversation_id"] for r in before.values()) and len(before) == 5
    cols = "id, message_hash, parent_message_hash, system_hash, message_count, http_status, ttft_ms, streamed"
    hashes_before = rows(store, f"SELECT {cols} FROM tasks ORDER BY id")
    keys_before = rows(store, "SELECT * FROM link_keys ORDER BY task_id, kind, seq")
    projects = tmp_path / "claude" / "projects" / "-p"
    projects.mkdir(parents=True)
    ids = [_api_id(x["request_id"]) for x in (one["child"], two["child"], sub["parent"], sub["child"])]
    lines = [{"type": "assistant", "sessionId": "cc-sess-1", "uuid": f"u{i}", "parentUuid": None,
              "timestamp": "2025-06-20T11:52:59.000Z", "requestId": rid,
              "message": {"id": f"msg_t{i}", "model": "claude-opus-4-20250514", "role": "assistant",
                          "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                          "usage": {"input_tokens": 1000, "output_tokens": 2000}}}
             for i, rid in enumerate(ids)]
    (projects / "cc-sess-1.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rep = Collector(store, [ClaudeCodeSource([tmp_path / "claude" / "projects"])]).run_once()
    assert rep.problems == [] and rep.written.updated_tasks == 4 and rep.written.new_tasks == 0
    got = rows(store, "SELECT id, tokens_out FROM tasks WHERE tokens_out = 2000")
    assert sorted(r["id"] for r in got) == sorted(ids)  # the transcript's usage did reach the rows
    assert _links(store) == before
    assert rows(store, f"SELECT {cols} FROM tasks ORDER BY id") == hashes_before
    assert rows(store, "SELECT * FROM link_keys ORDER BY task_id, kind, seq") == keys_before
    # the proxy's records read again (a re-ingest after the transcript): the same tree, nothing doubled
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM ingest_cursors WHERE source = 'nexus-events'"))
    from nexus_tui.collect.sources import NexusEventSource
    from nexus_tui.config import DEFAULT_REFERENCE_MODEL

    rep = Collector(store, [NexusEventSource([proxy.logs], DEFAULT_REFERENCE_MODEL)]).run_once()
    assert rep.problems == [] and rep.written.new_tasks == 0
    assert _links(store) == before and rows(store, f"SELECT {cols} FROM tasks ORDER BY id") == hashes_before
    store.close()


def test_every_database_has_the_link_table_and_indexes(tmp_path):
    """A new database has link_keys and the lookup indexes (store/migrations.py); a database of version 6 made
    before they were part of it gets them when opened."""
    from sqlalchemy import inspect

    from nexus_tui.store.linking import PARTIAL_INDEXES
    from tests.helpers import store_at

    names = [n for n, _, _ in PARTIAL_INDEXES]

    def check(store):
        insp = inspect(store.engine)
        assert "link_keys" in insp.get_table_names()
        assert set(names) <= {ix["name"] for ix in insp.get_indexes("tasks")}

    store = store_at(tmp_path / "db.sqlite")
    check(store)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE link_keys"))
        for name in names:
            conn.execute(text(f"DROP INDEX {name}"))
    store.close()
    again = store_at(tmp_path / "db.sqlite")
    check(again)
    again.close()


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=0, max_size=300), st.lists(st.text(min_size=1, max_size=80), max_size=3), st.booleans(),
       st.lists(st.integers(min_value=1, max_value=200), max_size=30), st.integers(min_value=1, max_value=20))
def test_the_streamed_link_keys_equal_the_plain_bodys(first, prompts, summarization, cuts, step):
    """What the proxy's response parser hands to linking (the first text block and the Task inputs, read from the
    deltas in any chunking) gives the keys core.linking.response_keys gives for the whole message."""
    from nexus_tui.core.parse.proxy import AnthropicStream
    from tests.proxy_upstream import message_events

    content = [{"type": "text", "text": first}, *[
        {"type": "tool_use", "id": f"toolu_{i}", "name": "Task", "input": {"description": "d", "prompt": p}}
        for i, p in enumerate(prompts)], {"type": "text", "text": "<summary>not the first</summary>"}]
    msg = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": content,
           "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 2}}
    want = L.response_keys(msg, is_summarization=summarization)
    data = b"".join(message_events(msg, step))
    s = AnthropicStream("text/event-stream")
    pos = 0
    for c in cuts:
        s.feed(data[pos:pos + c])
        pos += c
    s.feed(data[pos:])
    s.finish()
    assert L.response_keys({"content": s.link_content()}, is_summarization=summarization) == want
    plain = AnthropicStream("application/json")
    plain.feed(json.dumps(msg).encode())
    plain.finish()
    assert L.response_keys({"content": plain.link_content()}, is_summarization=summarization) == want


def test_link_records_survive_the_hand_over_between_processes():
    """Parser workers pickle their batches (or the rows prepared from them) for the writer's process: the link
    records travel with them, and a batch of links alone is not empty."""
    import pickle

    from nexus_tui.core.events import Batch, TaskRec
    from nexus_tui.core.merge import fold_batch
    from nexus_tui.store.writer import prepare

    h = L.request_hashes({"messages": [{"role": "user", "content": "hi"}]})
    link = {"task_id": "req_1", "hashes": json.loads(json.dumps(h)), "response_keys": [["task_prompt", "ab", 0]]}
    b = Batch(tasks=[TaskRec(id="req_1", session_id="s", ts_ms=1, source="proxy-intercept", model="m")],
              links=[link])
    again = pickle.loads(pickle.dumps(b))
    assert again.links == [link] and fold_batch(b).links == [link]
    assert not Batch(links=[link]).is_empty()
    p = pickle.loads(pickle.dumps(prepare(again)))
    assert p.links == [("req_1", link["hashes"], link["response_keys"])]
