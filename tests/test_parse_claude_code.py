"""The pure Claude Code parser, by table: each input line shape and what it must produce."""

from __future__ import annotations

import json

import pytest

from nexus_tui.core.merge import fold_tasks
from nexus_tui.core.parse.claude_code import (FileContext, classify_tool_error, mcp_server_of, new_state,
                                              parse_lines)
from nexus_tui.core.pricing import price

SID = "11111111-2222-3333-4444-555555555555"


def env(**kw):
    base = {"sessionId": SID, "version": "2.1.39", "cwd": "/home/u/proj", "gitBranch": "main",
            "isSidechain": False, "userType": "external"}
    base.update(kw)
    return base


def assistant(mid, rid, ts, usage, content=None, model="claude-sonnet-4-5-20250929", uuid=None, parent=None, **kw):
    return env(type="assistant", uuid=uuid or f"u-{mid}-{ts}", parentUuid=parent, timestamp=ts, requestId=rid,
               message={"id": mid, "type": "message", "role": "assistant", "model": model,
                        "content": content or [{"type": "text", "text": "hi"}], "usage": usage,
                        "stop_reason": None}, **kw)


def parse(*objs, raw: bytes = b""):
    data = b"".join(json.dumps(o).encode() + b"\n" for o in objs) + raw
    return parse_lines(data, 0, FileContext(path="/x/p/s.jsonl", project="p"), new_state())


U = {"input_tokens": 3, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000, "output_tokens": 5}


def test_streamed_response_counts_once_keeping_the_largest():
    b = parse(assistant("msg_1", "req_1", "2026-02-01T10:00:01.000Z", dict(U, output_tokens=10)),
              assistant("msg_1", "req_1", "2026-02-01T10:00:02.000Z", dict(U, output_tokens=299)),
              assistant("msg_1", "req_1", "2026-02-01T10:00:03.000Z", dict(U, output_tokens=10)))
    tasks = fold_tasks(b.tasks)
    assert list(tasks) == ["req_1"]
    t = tasks["req_1"]
    assert (t.tokens_in, t.tokens_out, t.cache_creation_tokens, t.cache_read_tokens) == (3, 299, 100, 1000)
    assert t.end_ms - t.ts_ms == 2000  # last line of the response


def test_cache_creation_split_is_summed_when_present():
    u = dict(U, cache_creation={"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 70})
    t = parse(assistant("m", "r", "2026-02-01T10:00:00Z", u)).tasks[0]
    assert (t.cache_creation_tokens, t.cache_creation_5m_tokens, t.cache_creation_1h_tokens) == (110, 40, 70)
    cost, _ = price(t.model, t.ts_ms, tokens_in=3, tokens_out=5, cache_read=1000, cache_write=110,
                    cache_write_5m=40, cache_write_1h=70)
    assert t.cost_usd == pytest.approx(cost)


def test_a_line_without_request_id_is_keyed_by_message_id():
    line = assistant("msg_9", None, "2026-02-01T10:00:00Z", U)
    del line["requestId"]
    b = parse(line)
    assert b.tasks[0].id == "msg:msg_9" and b.tasks[0].request_id is None
    # a requestId that is there but null, empty or not text is refused by ccusage's schema: skipped, and said so
    for rid in (None, "", 5):
        b = parse(assistant("msg_9", rid, "2026-02-01T10:00:00Z", U))
        assert b.tasks == [] and sum(b.skipped.values()) == 1, rid


def test_synthetic_turn_is_an_error_not_a_task():
    line = assistant("m", "r", "2026-02-01T10:00:00Z", {"input_tokens": 0, "output_tokens": 0},
                     model="<synthetic>", content=[{"type": "text", "text": "API Error: 529 overloaded"}],
                     isApiErrorMessage=True)
    b = parse(line)
    assert b.tasks == [] and len(b.errors) == 1
    assert b.errors[0].kind == "api_error" and "529" in b.errors[0].message


def test_agent_progress_replay_is_a_subagent_task_of_the_parent_session():
    inner = {"type": "assistant", "timestamp": "2026-02-01T10:00:05.000Z", "requestId": "req_sub",
             "uuid": "inner-1", "message": {"id": "msg_sub", "model": "claude-haiku-4-5-20251001", "usage": U,
                                             "content": [{"type": "tool_use", "id": "toolu_s", "name": "Read",
                                                          "input": {"file_path": "/a"}}]}}
    prog = env(type="progress", uuid="p1", timestamp="2026-02-01T10:00:05.001Z",
               data={"type": "agent_progress", "agentId": "abc123", "message": inner})
    b = parse(prog)
    (t,) = b.tasks
    assert (t.id, t.session_id, t.agent_id, t.is_sidechain, t.model) == ("req_sub", SID, "abc123", True,
                                                                         "claude-haiku-4-5-20251001")
    assert b.tool_uses[0].id == "toolu_s" and b.tool_uses[0].agent_id == "abc123"


def test_tool_use_and_result_pair_with_error_text_and_type():
    use = assistant("m", "r", "2026-02-01T10:00:00.000Z", U,
                    content=[{"type": "tool_use", "id": "toolu_1", "name": "mcp__github__create_issue",
                              "input": {"title": "x"}}])
    res = env(type="user", uuid="u2", timestamp="2026-02-01T10:00:01.250Z",
              message={"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                    "is_error": True,
                                                    "content": "Error: File does not exist."}]})
    b = parse(use, res)
    (u,), (r,) = b.tool_uses, b.tool_results
    assert (u.tool_name, u.mcp_server, u.task_id) == ("mcp__github__create_issue", "github", "r")
    assert (r.success, r.error_type, r.ended_ms - u.started_ms) == (False, "not_found", 1250)
    assert r.error_message == "Error: File does not exist."
    assert [e.id for e in b.errors] == ["tool:toolu_1"]


def test_latency_runs_from_the_triggering_line_to_the_last_line_of_the_response():
    prompt = env(type="user", uuid="q1", parentUuid=None, timestamp="2026-02-01T10:00:00.000Z",
                 message={"role": "user", "content": "do it"})
    a1 = assistant("m", "r", "2026-02-01T10:00:04.000Z", U, uuid="a1", parent="q1")
    a2 = assistant("m", "r", "2026-02-01T10:00:06.500Z", dict(U, output_tokens=50), uuid="a2", parent="a1")
    t = fold_tasks(parse(prompt, a1, a2).tasks)["r"]
    assert t.trigger_ms is not None and t.end_ms - t.trigger_ms == 6500


@pytest.mark.parametrize("raw,reason", [
    (b"{not json\n", "malformed JSON"),
    (b"[1,2,3]\n", "not a JSON object"),
    (b'{"type":"weird-new-kind","sessionId":"s"}\n', "unknown line type (weird-new-kind)"),
    (b"\x00\xff\xfe binary \x80\n", "malformed JSON"),
])
def test_bad_lines_are_counted_by_reason(raw, reason):
    b = parse(raw=raw)
    assert b.skipped == {reason: 1} and b.tasks == []


@pytest.mark.parametrize("usage", [
    {"input_tokens": "abc", "output_tokens": 1},
    {"input_tokens": -5, "output_tokens": 1},
    {"input_tokens": 10**20, "output_tokens": 1},
    {"input_tokens": True, "output_tokens": 1},
    {"input_tokens": 1, "output_tokens": [1]},
])
def test_wrong_types_and_absurd_values_are_skipped_not_stored(usage):
    b = parse(assistant("m", "r", "2026-02-01T10:00:00Z", usage))
    assert b.tasks == [] and b.skipped == {"usage with invalid token counts": 1}


def test_a_token_count_that_is_not_a_json_integer_skips_the_line_as_ccusage_does():
    # ccusage 20.0.24 does not count these lines (tests/test_parse_claude_code_ccusage.py holds the measured cases)
    for usage in ({"input_tokens": "12", "output_tokens": 7}, {"input_tokens": 12, "output_tokens": 7.0},
                  {"input_tokens": 12}, {"output_tokens": 7}, {"input_tokens": 12, "output_tokens": 7,
                                                                "cache_read_input_tokens": None}):
        b = parse(assistant("m", "r", "2026-02-01T10:00:00Z", usage))
        assert b.tasks == [] and b.skipped == {"usage with invalid token counts": 1}, usage
    b = parse(assistant("m", "r", "2026-02-01T10:00:00Z", {"input_tokens": 12, "output_tokens": 7}))
    assert (b.tasks[0].tokens_in, b.tasks[0].tokens_out, b.tasks[0].cache_read_tokens) == (12, 7, 0)


def test_unknown_model_is_unpriced_not_free():
    t = parse(assistant("m", "r", "2026-02-01T10:00:00Z", U, model="acme-llm-9000")).tasks[0]
    assert t.cost_usd is None and t.priced_as is None and t.tokens_out == 5


def test_non_semver_version_is_dropped_like_ccusage():
    b = parse(assistant("m", "r", "2026-02-01T10:00:00Z", U, version="dev"))
    assert b.tasks == [] and b.skipped == {"version is not semver": 1}


def test_summary_and_snapshot_lines_are_read_silently():
    b = parse({"type": "summary", "summary": "x", "leafUuid": "l"},
              {"type": "file-history-snapshot", "messageId": "m", "snapshot": {}})
    assert b.skipped == {} and b.tasks == [] and b.lines == 2


@pytest.mark.parametrize("text,kind", [
    ("The user doesn't want to proceed with this tool use.", "rejected"),
    ("<tool_use_error>String to replace not found in file.</tool_use_error>", "edit_mismatch"),
    ("File has not been read yet. Read it first before writing to it.", "stale_read"),
    ("Error: Exit code 1\nboom", "exit_code"),
    ("Command timed out after 2m", "timeout"),
    ("something else", "error"),
])
def test_tool_error_types(text, kind):
    assert classify_tool_error(text) == kind


def test_mcp_server_names():
    assert mcp_server_of("mcp__nexus__route") == "nexus"
    assert mcp_server_of("Read") is None


def test_project_is_the_cwd_basename():
    b = parse(assistant("m", "r", "2026-02-01T10:00:00Z", U))
    assert b.sessions[0].project == "proj" and b.sessions[0].cwd == "/home/u/proj"
    assert b.sessions[0].git_branch == "main" and b.sessions[0].cli_version == "2.1.39"


def test_fixture_latencies_match_an_independent_computation():
    """On a real file: each response's latency = last line of the response - the line its first line answers."""
    from tests.conftest import CC, require_shared

    require_shared()
    path = CC / "sniffly" / "ba79134d-b6e9-4867-af0c-6941038c9e4b.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    by_uuid = {d["uuid"]: d for d in lines if "uuid" in d}
    from nexus_tui.core.events import ms_from_iso

    want = {}
    first = {}
    for d in lines:
        if d.get("type") != "assistant":
            continue
        rid = d["requestId"]
        ts = ms_from_iso(d["timestamp"])
        if rid not in first:
            first[rid] = d
        cur = want.setdefault(rid, [None, ts])
        cur[1] = max(cur[1], ts)
    for rid, d in first.items():
        parent = by_uuid.get(d.get("parentUuid"))
        if parent is not None and parent.get("requestId") != rid:
            want[rid][0] = ms_from_iso(parent["timestamp"])
    tasks = fold_tasks(parse_lines(path.read_bytes(), 0, FileContext(str(path)), new_state()).tasks)
    checked = 0
    for rid, (trig, end) in want.items():
        if trig is None:
            continue
        assert tasks[rid].end_ms - tasks[rid].trigger_ms == end - trig
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("text", ["2026-02-10T21:58:27.120Z", "2024-02-29T23:59:59.999Z", "1999-12-31T00:00:00.000Z",
                                  "2026-02-10T21:58:27Z", "2026-02-10T21:58:27.120+02:00", "2026-02-10T21:58:27.1234Z"])
def test_fast_timestamp_parse_equals_datetime(text):
    from datetime import datetime

    from nexus_tui.core.events import ms_from_iso

    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert ms_from_iso(text) == round(dt.timestamp() * 1000)


@pytest.mark.parametrize("text", ["2026-13-10T21:58:27.120Z", "2026-02-10T21:61:27.120Z", "garbage", "", None, 12])
def test_bad_timestamps_are_none(text):
    from nexus_tui.core.events import ms_from_iso

    assert ms_from_iso(text) is None
