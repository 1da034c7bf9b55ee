"""The typed decoding of Claude Code lines (core/parse/claude_code_typed.py, msgspec) gives exactly what the orjson
path gives: the same records, skip reasons, line counts and parser state, on every real fixture file, on a generated
tree, on each kind of JSON orjson refuses and msgspec would read, and on fuzzed lines."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_tui.core.parse import claude_code, claude_code_typed
from nexus_tui.core.parse.claude_code import FileContext, new_state, parse_lines
from tests.conftest import CC
from tests.test_fuzz_parsers import CC_LINES, chunks

CTX = FileContext(path="/p/s.jsonl", project="proj")


def _both(chunk: bytes, monkeypatch, ctx: FileContext = CTX):
    """(batch, state) through the typed path and through the orjson path alone."""
    s1 = new_state()
    typed = parse_lines(chunk, 0, ctx, s1)
    with monkeypatch.context() as m:
        m.setattr(claude_code, "typed_decode", None)
        s2 = new_state()
        plain = parse_lines(chunk, 0, ctx, s2)
    return (typed, s1), (plain, s2)


def _same(chunk: bytes, monkeypatch, ctx: FileContext = CTX):
    (t, s1), (p, s2) = _both(chunk, monkeypatch, ctx)
    assert t == p
    assert s1 == s2
    return t


def _orjson_path_lines(chunk: bytes, monkeypatch, ctx: FileContext = CTX) -> int:
    """How many lines of ``chunk`` the typed path left to the orjson path."""
    calls = []
    line = claude_code._Parser.line
    with monkeypatch.context() as m:
        m.setattr(claude_code._Parser, "line", lambda self, raw, off: (calls.append(off), line(self, raw, off)))
        parse_lines(chunk, 0, ctx, new_state())
    return len(calls)


FILES = sorted(CC.rglob("*.jsonl")) if CC.is_dir() else []


@pytest.mark.skipif(not FILES, reason="the shared fixtures are not beside the repo")
def test_every_fixture_file_gives_the_same_batch_both_ways(monkeypatch):
    taken = total = 0
    for f in FILES:
        data = f.read_bytes()
        if not data.endswith(b"\n"):
            data += b"\n"
        b = _same(data, monkeypatch, FileContext(path=str(f), project=f.parent.name))
        total += b.lines
        taken += b.lines - _orjson_path_lines(data, monkeypatch)
    assert total > 1000
    assert taken / total > 0.9  # the typed path reads nearly every real line


def test_a_generated_tree_gives_the_same_batches(tmp_path, monkeypatch):
    pytest.importorskip("bench.gen")
    from bench.gen import generate

    g = generate(tmp_path / "claude", 3)
    files = sorted((tmp_path / "claude").rglob("*.jsonl"))
    assert files and g.malformed
    for f in files:
        _same(f.read_bytes() + b"\n", monkeypatch, FileContext(path=str(f)))


USAGE = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 7, "cache_creation_input_tokens": 3}


def _assistant(**extra) -> dict:
    d = {"type": "assistant", "sessionId": "s1", "timestamp": "2026-03-01T12:00:00.000Z", "uuid": "u1",
         "version": "2.1.39", "requestId": "req_1",
         "message": {"id": "msg_1", "model": "claude-opus-4-6", "usage": dict(USAGE),
                     "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"cmd": "ls"}}]}}
    d.update(extra)
    return d


def _line(d: dict) -> bytes:
    return json.dumps(d).encode()


# what msgspec reads and orjson refuses (in a field the parser never reads), and values of unusual types
ODD = [
    _line(_assistant())[:-1] + b', "junk": 1e400}',  # a number beyond a double, unread
    _line(_assistant())[:-1] + b', "junk": -1E+999}',
    _line(_assistant())[:-1] + b', "junk": 1' + b"0" * 400 + b"}",
    _line(_assistant())[:-1] + b', "junk": "\xff\xfe"}',  # invalid UTF-8 in an unread string
    _line(_assistant())[:-1] + b', "junk": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
    _line(_assistant())[:-1] + b', "junk": "\\ud800"}',  # a lone surrogate escape (orjson's path decodes it again)
    _line(_assistant())[:-1] + b', "junk": ' + b"[" * 1100 + b"]" * 1100 + b"}",  # deeper than orjson allows
    _line(_assistant()) + b"\r",
    b"  " + _line(_assistant()),
    _line(_assistant(message={"id": "m", "model": "x", "usage": {**USAGE, "input_tokens": "12"}})),  # a string
    _line(_assistant(message={"id": "m", "model": "x", "usage": {**USAGE, "input_tokens": 12.0}})),  # a float
    _line(_assistant(message={"id": "m", "model": "x", "usage": {**USAGE, "input_tokens": None}})),
    _line(_assistant(message={"id": "m", "model": "x", "usage": {**USAGE, "input_tokens": 2**40}})),
    _line(_assistant(message={"id": "m", "model": "x", "usage": {**USAGE, "input_tokens": 10**30}})),
    _line(_assistant(message={"id": "m", "model": "x", "usage": {"output_tokens": 3}})),  # absent counts: 0
    _line(_assistant(message={"id": "m", "model": "x", "usage": {**USAGE, "cache_creation": {}}})),
    _line(_assistant(message={"id": "m", "model": "x", "usage": {
        **USAGE, "cache_creation": {"ephemeral_5m_input_tokens": None}}})),  # present: the split counts
    _line(_assistant(message={"id": "m", "model": "x", "usage": {
        **USAGE, "cache_creation": {"ephemeral_1h_input_tokens": 9}}})),
    _line(_assistant(message={"id": "m", "model": "x", "usage": {
        **USAGE, "cache_creation": {"ephemeral_5m_input_tokens": -1}}})),
    _line(_assistant(message={"id": "m", "model": "<synthetic>", "usage": USAGE})),
    _line(_assistant(isApiErrorMessage=True)),
    _line(_assistant(version="x.y")),
    _line(_assistant(version=3)),
    _line(_assistant(requestId="")),
    _line(_assistant(requestId=None, agentId="a1", isSidechain=1)),
    _line(_assistant(sessionId="")),
    _line(_assistant(timestamp="2026-02-30T00:00:00.000Z")),
    _line(_assistant(cwd=7, gitBranch=["b"])),
    _line(_assistant(message={"id": "m", "model": "x", "usage": USAGE, "content": [
        {"type": "tool_use", "id": "t", "name": None}]})),
    _line(_assistant(message={"id": "m", "model": "x", "usage": USAGE, "content": [
        {"type": "tool_use", "id": "t", "name": "n", "input": {"a": 1e300, "b": "é\u2028"}}]})),
    _line(_assistant(message={"id": "m", "model": "x", "usage": USAGE, "content": "text"})),
    _line({"type": "user", "sessionId": "s1", "timestamp": "2026-03-01T12:00:01.000Z", "uuid": "u2",
           "parentUuid": "u1", "message": {"content": [
               {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                "content": [{"type": "text", "text": "Exit code 1 é"}, {"type": "image", "source": {"data": "QUJD"}}]},
               {"type": "tool_result", "tool_use_id": "", "content": "x"},
               {"type": "tool_result", "tool_use_id": "t2", "is_error": "yes", "content": "ok"}]}}),
    _line({"type": "user", "sessionId": "s1", "timestamp": "2026-03-01T12:00:01.000Z", "message": {"content": [
        {"type": "tool_result", "tool_use_id": "t3", "content": "ünïcode"}]}}),
    _line({"type": "progress", "sessionId": "s1", "timestamp": "2026-03-01T12:00:02.000Z", "uuid": "p1",
           "version": "2.1.0", "data": {"type": "agent_progress", "agentId": "ag",
                                        "message": {**_assistant(), "timestamp": "2040-13-01T00:00:00.000Z"}}}),
    _line({"type": "progress", "sessionId": "s1", "timestamp": "2026-03-01T12:00:02.000Z", "data": {
        "type": "agent_progress", "agentId": 5, "message": {"type": "user", "timestamp": "2026-03-01T12:00:03.000Z",
                                                             "message": {"content": "x"}}}}),
    _line({"type": "system", "level": "error", "content": "boom", "sessionId": "s1",
           "timestamp": "2026-03-01T12:00:04.000Z"}),
    _line({"type": "attachment", "sessionId": "s2", "timestamp": "2026-03-01T12:00:04.000Z", "cwd": "/a/b/"}),
    _line({"type": "summary", "summary": "x"}),
    _line({"type": "weird", "sessionId": "s1"}),
    _line({"type": 5}),
    b'["not", "an", "object"]',
    b"{\"type\": \"assistant\", \"message\": {\"id\": \"broken",
]


@pytest.mark.parametrize("raw", ODD, ids=range(len(ODD)))
def test_each_odd_line_gives_the_same_batch_both_ways(raw, monkeypatch):
    # alone, and after a normal response (so the session, the recent line times and the keys are shared)
    _same(raw + b"\n", monkeypatch)
    _same(_line(_assistant(uuid="u0", requestId="req_0")) + b"\n" + raw + b"\n", monkeypatch)


def test_the_common_lines_take_the_typed_path(monkeypatch):
    common = [_line(_assistant()), _line(_assistant(message={"id": "m", "model": "x", "usage": {
        **USAGE, "cache_creation": {"ephemeral_5m_input_tokens": 4}}})), ODD[-12], ODD[-10]]
    for raw in common:
        assert claude_code_typed.decode(raw) is not None
        assert _orjson_path_lines(raw + b"\n", monkeypatch) == 0, raw[:80]
    assert _orjson_path_lines(ODD[0] + b"\n", monkeypatch) == 1


def test_what_orjson_refuses_is_skipped_as_malformed_both_ways(monkeypatch):
    for raw in ODD[:5]:
        b = _same(raw + b"\n", monkeypatch)
        assert b.skipped == {"malformed JSON": 1} and not b.tasks, raw[-40:]
    assert _same(ODD[5] + b"\n", monkeypatch).tasks  # a lone surrogate escape keeps the response


def test_all_odd_lines_at_once(monkeypatch):
    _same(b"\n".join(ODD) + b"\n", monkeypatch)


@pytest.mark.skipif(not CC_LINES, reason="the shared fixtures are not beside the repo")
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(chunk=chunks(CC_LINES))
def test_fuzzed_lines_give_the_same_batch_both_ways(chunk):
    with pytest.MonkeyPatch.context() as mp:
        _same(chunk, mp)


def test_a_bug_in_the_typed_path_costs_only_its_line(monkeypatch):
    real = claude_code._Parser._t_assistant

    def buggy(self, d, *a):
        if d.requestId == "req_bug":
            raise KeyError("a bug")
        return real(self, d, *a)

    monkeypatch.setattr(claude_code._Parser, "_t_assistant", buggy)
    state = new_state()
    rows = [_assistant(uuid="u1", requestId="req_r1"), _assistant(uuid="ub", requestId="req_bug"),
            _assistant(uuid="u3", requestId="req_r3", parentUuid="u1")]
    b = parse_lines(b"".join(_line(r) + b"\n" for r in rows), 0, CTX, state)
    assert sorted(t.id for t in b.tasks) == ["req_r1", "req_r3"]
    assert b.skipped == {"parser error (KeyError)": 1} and b.lines == 3
    assert sorted(state["recent"]) == ["u1", "u3"]
