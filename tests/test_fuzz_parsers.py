"""Fuzzing every parser (issue 10, A2): mutations of the real fixture lines, and random JSON of the right shape with
wrong types and extreme values. Each parsed batch is then written to a temporary store. Nothing may escape: no
exception from a parser or from the writer, every record's numbers within their bounds, and the parser state (kept
as JSON in the cursor) still serializable."""

from __future__ import annotations

import json
import pickle
from dataclasses import fields

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS, Batch
from nexus_tui.core.parse import claude_code, lunaroute, nexus_events, otel
from nexus_tui.core.parse.guard import MAX_DURATION_MS, MAX_TOKENS, SQL_INT_MAX, SQL_INT_MIN
from tests.conftest import REAL
from tests.helpers import store_at

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
REF_MODEL = "claude-sonnet-4-5"


def _lines(pattern: str, limit: int = 400) -> list[dict]:
    out = []
    for f in sorted(REAL.glob(pattern)):
        for raw in f.read_text(encoding="utf-8").splitlines():
            if raw.strip():
                try:
                    d = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(d, dict):
                    out.append(d)
    # a spread over the files: every line type appears
    step = max(1, len(out) // limit)
    return out[::step][:limit]


CC_LINES = _lines("claude_code/*/*.jsonl") if REAL.is_dir() else []
LUNA_LINES = _lines("lunaroute/*.jsonl") if REAL.is_dir() else []
OTEL_PAYLOADS = [json.loads(f.read_text()) for f in sorted(REAL.glob("otel/*.json"))] if REAL.is_dir() else []
EV_LINES = [
    {"v": 1, "type": "session_start", "ts": "2026-03-01T12:00:00.000Z", "session_id": "fz", "cli_tool": "mcp",
     "persona": "p", "nexus_mode": "hybrid", "project": "proj", "cwd": "/w"},
    {"v": 1, "type": "task", "ts": "2026-03-01T12:00:05.000Z", "id": "t1", "session_id": "fz", "model": REF_MODEL,
     "routing": "local", "routing_reason": "cheap", "alternatives": [{"model": "m2", "reason_rejected": "slow"}],
     "tokens_in": 100, "tokens_out": 50, "cache_read_tokens": 3, "cache_creation_tokens": 4, "latency_ms": 1200,
     "prompt_length": 42, "response_length": 7, "outcome": "error", "error": "boom", "tier": "t", "component": "c"},
    {"v": 1, "type": "tool_call", "ts": "2026-03-01T12:00:06.000Z", "id": "c1", "session_id": "fz", "tool": "grep",
     "server": "fs", "task_id": "t1", "latency_ms": 30, "success": False, "error_type": "timeout",
     "error_message": "slow", "request_size": 10, "response_size": 20},
    {"v": 1, "type": "rating", "ts": "2026-03-01T12:00:07.000Z", "task_id": "t1", "rating": 1},
    {"v": 1, "type": "error", "ts": "2026-03-01T12:00:08.000Z", "component": "router", "kind": "k", "message": "m",
     "task_id": "t1", "session_id": "fz"},
    {"v": 1, "type": "session_end", "ts": "2026-03-01T12:10:00.000Z", "session_id": "fz"},
    {"v": 1, "type": "proxy_request", "ts": "2026-03-01T12:00:09.000Z", "id": "req_fz", "session_id": "fz",
     "route": "anthropic", "path": "/v1/messages", "kind": "messages", "model": REF_MODEL, "routing": "cloud",
     "tokens_in": 10, "tokens_out": 5, "cache_creation_5m_tokens": 3, "cache_creation_1h_tokens": 4,
     "http_status": 200, "ttfb_ms": 120, "ttft_ms": 300, "retries": 1, "message_count": 2, "request_bytes": 100,
     "response_bytes": 200, "latency_ms": 900, "tools": [{"id": "tu_fz", "name": "Bash"}],
     "quota": [{"window": "five_hour", "used_fraction": 0.4, "resets_at_ms": 1772373600000, "status": "allowed"}]},
    {"v": 1, "type": "statusline", "ts": "2026-03-01T12:00:10.000Z", "session_id": "fz", "model": "Opus",
     "context_used_pct": 40, "cost_usd": 1.5, "duration_ms": 5000, "lines_added": 3,
     "rate_limits": {"five_hour": {"used_percentage": 42, "resets_at": 1772373600}}},
]

# values of every type, the extremes of each, and the strings parsers look at
EXTREME_INTS = [2**63, 2**63 - 1, 2**64, 2**64 + 5, -(2**63) - 1, 10**15, 10**10 + 1, MAX_TOKENS, -1, 0, 10**30]
ODD_STRINGS = ["\ud800", "a\udc00b", "\x00", "2026-02-30T00:00:00.000Z", "0001-01-01T00:00:00.000Z",
               "9999-12-31T23:59:59.999Z", "2026-03-01T12:00:00.000Z", "1e400", "9" * 40, "", "assistant",
               "req_x", "-5", "NaN", "mcp__srv__tool", "<synthetic>"]
scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from(EXTREME_INTS),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e300, -1e300, 0.5, 1e19, 2.0**63]),
    st.text(max_size=12), st.sampled_from(ODD_STRINGS), st.booleans(), st.none())
wild = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                    max_leaves=8)
extreme = st.one_of(st.sampled_from(EXTREME_INTS), st.sampled_from(ODD_STRINGS), wild)


def g(good, bad=extreme):
    """Mostly the good value (so the rest of the line is valid and the bad one is reached), else a bad one."""
    return st.one_of(st.just(good), st.just(good), st.just(good), bad)


def _need(samples: list) -> None:
    if not samples:
        pytest.skip("the shared fixtures are not beside the repo")


def _slots(d) -> list[tuple[object, object]]:
    """Every (container, key) in ``d``, breadth first."""
    out, todo = [], [d]
    while todo and len(out) < 2000:
        c = todo.pop(0)
        items = c.items() if isinstance(c, dict) else enumerate(c)
        for k, v in items:
            out.append((c, k))
            if isinstance(v, (dict, list)):
                todo.append(v)
    return out


@st.composite
def mutated(draw, samples: list[dict]) -> dict:
    d = json.loads(json.dumps(draw(st.sampled_from(samples))))
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(d)
        if not slots:
            break
        c, k = slots[draw(st.integers(0, min(len(slots) - 1, 60)))]  # mostly the envelope and near it
        if isinstance(c, dict) and draw(st.integers(0, 5)) == 0:
            del c[k]
        else:
            c[k] = draw(wild)
    return d


def _encode(draw, d) -> bytes:
    raw = json.dumps(d).encode()  # ensure_ascii: a lone surrogate is written as an escape, as JSON allows
    how = draw(st.integers(0, 9))
    if how == 0:  # deep nesting somewhere valid
        n = draw(st.sampled_from([5, 1100, 5000]))
        raw = raw[:-1] + b', "deep": ' + b"[" * n + b"]" * n + b"}" if raw.endswith(b"}") else raw
    elif how == 1:  # a byte-level cut or splice
        i = draw(st.integers(0, len(raw)))
        raw = raw[:i] + draw(st.binary(max_size=4)).replace(b"\n", b"") + raw[i + draw(st.integers(0, 3)):]
    return raw


@st.composite
def chunks(draw, samples: list[dict]) -> bytes:
    rows = [draw(mutated(samples)) if draw(st.booleans()) else draw(st.sampled_from(samples))
            for _ in range(draw(st.integers(1, 4)))]
    return b"".join(_encode(draw, r) + b"\n" for r in rows)


# --- what must hold of every batch ------------------------------------------------------------------------------

def _check(b: Batch, state: dict | None) -> None:
    assert isinstance(b, Batch)
    for name in ("sessions", "tasks", "tool_uses", "tool_results", "routing", "errors", "ratings"):
        for rec in getattr(b, name):
            for f in fields(rec):
                v = getattr(rec, f.name)
                if isinstance(v, int) and not isinstance(v, bool):
                    assert SQL_INT_MIN <= v <= SQL_INT_MAX, (name, f.name, v)
                if isinstance(v, float):
                    assert v == v and abs(v) != float("inf"), (name, f.name, v)
    lo, hi = MIN_TIME_MS - MAX_DURATION_MS, MAX_TIME_MS + MAX_DURATION_MS
    for t in b.tasks:
        assert lo <= t.ts_ms <= hi, t
        assert 0 <= t.total_tokens <= MAX_TOKENS, t
        assert t.latency_ms is None or 0 <= t.latency_ms <= MAX_DURATION_MS, t
        for k in ("prompt_length", "response_length"):
            assert getattr(t, k) is None or getattr(t, k) >= 0
    for s in b.sessions:
        assert lo <= s.start_ms <= hi and lo <= s.end_ms <= hi, s
    for e in b.errors:
        assert lo <= e.ts_ms <= MAX_TIME_MS + 10**12, e  # ingest errors carry the time of the pass
    for t in b.tasks:  # the proxy's numbers: 32-bit columns (PostgreSQL's INTEGER)
        for k in ("ttfb_ms", "ttft_ms", "retries", "message_count", "cache_creation_5m_tokens",
                  "cache_creation_1h_tokens", "http_status"):
            v = getattr(t, k, None)
            assert v is None or 0 <= v < 2**31, (k, v)
    for q in b.quota_snapshots:  # a reset is a time the reports can lay out as a date, or unknown
        assert MIN_TIME_MS <= q["observed_ms"] < MAX_TIME_MS, q
        assert q["resets_at_ms"] is None or MIN_TIME_MS <= q["resets_at_ms"] < MAX_TIME_MS, q
        assert q["used_fraction"] is None or 0 <= q["used_fraction"] <= 10, q
    pickle.loads(pickle.dumps(b))  # handed from a parser worker to the writer
    if state is not None:
        orjson.dumps(state)  # kept in the cursor


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = store_at(tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite")
    yield s
    s.close()


def _write(store, b: Batch) -> None:
    store.writer.write(b)  # raises nothing, whatever the parser made


# --- the parsers ------------------------------------------------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_claude_code_mutated_real_lines(store, data):
    _need(CC_LINES)
    chunk = data.draw(chunks(CC_LINES))
    state = claude_code.new_state()
    b = claude_code.parse_lines(chunk, 0, claude_code.FileContext("fz/cc.jsonl", "proj"), state)
    _check(b, state)
    _write(store, b)


cc_shaped = st.fixed_dictionaries({
    "type": st.one_of(st.sampled_from(["assistant", "assistant", "user", "progress", "system"]), wild),
    "sessionId": g("fz-cc"), "uuid": g("u"), "parentUuid": g("u"), "requestId": g("req_fz"),
    "timestamp": g("2026-03-01T12:00:00.000Z"), "version": g("2.1.0"),
    "cwd": g("/w/fz"), "gitBranch": g("main"), "agentId": g(None), "isSidechain": g(False), "level": g("error"),
    "content": g("text"),
    "message": g({"id": "msg_fz", "model": "claude-opus-4-6", "usage": {"input_tokens": 1}}, st.fixed_dictionaries({
        "id": g("msg_fz"), "model": g("claude-opus-4-6"), "stop_reason": g("end_turn"),
        "content": st.one_of(wild, st.lists(st.fixed_dictionaries({
            "type": st.sampled_from(["tool_use", "tool_result", "text"]), "id": g("toolu_1"), "name": g("Bash"),
            "input": wild, "tool_use_id": g("toolu_1"), "is_error": g(True), "content": wild, "text": wild}),
            max_size=2)),
        "usage": st.one_of(wild, st.fixed_dictionaries({}, optional={k: g(10) for k in (
            "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "speed",
            "service_tier")}).map(
            lambda u: u | {"cache_creation": {"ephemeral_5m_input_tokens": u.get("input_tokens"),
                                              "ephemeral_1h_input_tokens": u.get("output_tokens")}}))})),
    "data": st.one_of(wild, st.fixed_dictionaries({"type": st.just("agent_progress"), "agentId": wild,
                                                   "message": wild})),
})


@FUZZ
@given(lines=st.lists(cc_shaped, min_size=1, max_size=4))
@example(lines=[{"type": "assistant", "sessionId": "fz-cc", "timestamp": "2026-03-01T12:00:00.000Z",
                 "requestId": "req_split", "message": {"id": "m", "model": "claude-opus-4-6", "usage": {
                     "input_tokens": 1, "cache_creation": {"ephemeral_5m_input_tokens": 2 * 10**9,
                                                           "ephemeral_1h_input_tokens": 2 * 10**9}}}}])
@example(lines=[{"type": "assistant", "sessionId": "fz-cc", "timestamp": "0001-01-01T00:00:00.000Z",
                 "requestId": "req_y1", "message": {"id": "m", "model": "claude-opus-4-6", "usage": {}}}])
def test_claude_code_shaped_json_with_wrong_types(store, lines):
    state = claude_code.new_state()
    chunk = b"".join(json.dumps(d).encode() + b"\n" for d in lines)
    b = claude_code.parse_lines(chunk, 0, claude_code.FileContext("fz/cc2.jsonl"), state)
    _check(b, state)
    _write(store, b)


@FUZZ
@given(data=st.data())
def test_lunaroute_mutated_real_lines(store, data):
    _need(LUNA_LINES)
    state = {}
    b = Batch()
    for _ in range(data.draw(st.integers(1, 2))):  # two passes: the state carried between them
        chunk = data.draw(chunks(LUNA_LINES))
        b.extend(lunaroute.parse_lines(chunk, 0, "fz/luna.jsonl", state))
        state = json.loads(orjson.dumps(state))
    _check(b, state)
    _write(store, b)


luna_shaped = st.fixed_dictionaries({
    "type": st.one_of(st.sampled_from(sorted(lunaroute._KNOWN)), wild),
    "session_id": g("fz-lr"), "request_id": g("r1"), "timestamp": g("2025-10-01T12:00:00Z"),
    "model_used": g("claude-sonnet-4-5"),
}, optional={k: g(5) for k in (
    "model_requested", "provider", "user_agent", "is_streaming", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_creation_tokens", "thinking_tokens", "reasoning_tokens", "provider_latency_ms",
    "total_proxy_overhead_ms", "tokens_per_second", "response_json", "response_text", "request_text", "tool_calls",
    "token_updates", "success", "error", "finish_reason", "total_duration_ms", "provider_time_ms", "proxy_overhead_ms",
    "proxy_overhead_percentage", "by_model", "total_input", "total_output", "total_cache_read", "total_cached",
    "total_cache_creation", "total_thinking", "tool_name", "tool_call_id", "input_size_bytes", "output_size_bytes",
    "execution_time_ms", "tool_arguments", "request_count", "total_thinking_tokens", "total_tool_calls",
    "cumulative_proxy_overhead_ms")})


@FUZZ
@given(lines=st.lists(luna_shaped, min_size=1, max_size=5))
@example(lines=[{"type": "response_recorded", "session_id": "fz-lr", "request_id": "r9", "model_used": "gpt-4o",
                 "timestamp": "2025-10-01T12:00:00Z", "input_tokens": 5, "provider_latency_ms": 2**63}])
@example(lines=[{"type": "tool_call_recorded", "session_id": "fz-lr", "request_id": "r9", "tool_name": "Bash",
                 "timestamp": "2025-10-01T12:00:00Z", "input_size_bytes": 2**64}])
def test_lunaroute_shaped_json_with_wrong_types(store, lines):
    state = {}
    chunk = b"".join(json.dumps(d).encode() + b"\n" for d in lines)
    b = lunaroute.parse_lines(chunk, 0, "fz/luna2.jsonl", state)
    _check(b, state)
    _write(store, b)


@FUZZ
@given(data=st.data())
def test_nexus_event_log_mutated_lines(store, data):
    b = nexus_events.parse_lines(data.draw(chunks(EV_LINES)), 0, "fz/log.jsonl", REF_MODEL)
    _check(b, None)
    _write(store, b)


EV_NUMBERS = ["tokens_in", "tokens_out", "cache_read_tokens", "cache_creation_tokens", "latency_ms", "prompt_length",
              "response_length", "request_size", "response_size", "rating", "ttfb_ms", "ttft_ms", "retries",
              "message_count", "cache_creation_5m_tokens", "cache_creation_1h_tokens", "http_status",
              "context_used_pct", "duration_ms"]
EV_KEYS = sorted({k for e in EV_LINES for k in e} - {"type"})


@FUZZ
@given(base=st.sampled_from(EV_LINES),
       over=st.dictionaries(st.one_of(st.sampled_from(EV_NUMBERS), st.sampled_from(EV_KEYS)),
                            st.one_of(st.sampled_from(EXTREME_INTS), extreme), max_size=3))
@example(base=EV_LINES[1], over={"prompt_length": 2**63})
@example(base=EV_LINES[1], over={"latency_ms": 10**15})
@example(base=EV_LINES[2], over={"request_size": 2**64})
@example(base=EV_LINES[6], over={"ttfb_ms": 3 * 10**9})
@example(base=EV_LINES[6], over={"cache_creation_5m_tokens": 2**31 - 1, "cache_creation_1h_tokens": 2**31 - 1})
@example(base=EV_LINES[6], over={"quota": [{"window": "five_hour", "used_fraction": 0.5, "resets_at_ms": 10**30}]})
@example(base=EV_LINES[6], over={"quota": [{"window": "seven_day", "resets_at_ms": -10**15}]})
@example(base=EV_LINES[7], over={"rate_limits": {"five_hour": {"used_percentage": 5, "resets_at": 10**11}}})
def test_nexus_event_log_shaped_with_wrong_values(store, base, over):
    """A valid event with a few of its values replaced by values of the wrong type or range."""
    ev = base | over
    b = nexus_events.parse_lines(json.dumps(ev).encode() + b"\n", 0, "fz/log.jsonl", REF_MODEL)
    _check(b, None)
    _write(store, b)


@FUZZ
@given(data=st.data())
def test_otel_mutated_real_payloads(store, data):
    if not OTEL_PAYLOADS:
        pytest.skip("no shared OTel fixtures")
    payload = json.loads(json.dumps(data.draw(st.sampled_from(OTEL_PAYLOADS))))
    records = [r for rl in payload["resourceLogs"] for sl in rl["scopeLogs"] for r in sl["logRecords"]]
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from([payload] + records))
        slots = _slots(target)
        c, k = slots[data.draw(st.integers(0, len(slots) - 1))]
        c[k] = data.draw(st.one_of(wild, st.fixed_dictionaries(
            {"intValue": st.one_of(st.sampled_from(EXTREME_INTS), st.sampled_from(["9" * 30, "-5", "x"]))}),
            st.fixed_dictionaries({"doubleValue": st.sampled_from([1e300, -0.0, 1e19, 2.5])}),
            st.fixed_dictionaries({"stringValue": st.sampled_from(ODD_STRINGS)})))
    b = otel.parse_logs(payload)
    _check(b, None)
    _write(store, b)
    otel.count_metric_points(data.draw(wild))


otel_attr = st.tuples(st.sampled_from([
    "event.name", "session.id", "model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
    "duration_ms", "request_id", "tool_name", "success", "error", "status_code", "event.timestamp",
    "input_token_count", "cached_content_token_count", "output_token_count", "thoughts_token_count",
    "tool_use_id", "mcp_server_name", "tool_result_size_bytes", "prompt_id", "function_name"]),
    st.one_of(st.fixed_dictionaries({"stringValue": st.one_of(st.sampled_from(
        ["api_request", "tool_result", "api_error", "gemini_cli.api_response", "fz-otel", "claude-opus-4-6"]
        + ODD_STRINGS), wild)}),
        st.fixed_dictionaries({"intValue": st.one_of(st.sampled_from(EXTREME_INTS), wild)}),
        st.fixed_dictionaries({"doubleValue": wild}), st.fixed_dictionaries({"boolValue": wild}),
        st.fixed_dictionaries({"arrayValue": wild}), st.fixed_dictionaries({"kvlistValue": wild}), wild))


@FUZZ
@given(recs=st.lists(st.fixed_dictionaries({
    "timeUnixNano": st.one_of(st.just("1787503989413000000"), st.sampled_from(EXTREME_INTS), wild),
    "attributes": st.one_of(st.lists(otel_attr.map(lambda kv: {"key": kv[0], "value": kv[1]}), max_size=8), wild),
    "body": wild}), max_size=4), resource=wild)
def test_otel_shaped_json_with_wrong_types(store, recs, resource):
    payload = {"resourceLogs": [{"resource": {"attributes": resource}, "scopeLogs": [{"logRecords": recs}]},
                                {"resource": resource, "scopeLogs": resource}]}
    b = otel.parse_logs(payload)
    _check(b, None)
    _write(store, b)
