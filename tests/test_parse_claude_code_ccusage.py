"""Lines that are not clean JSON, read as ccusage 20.0.24 reads them (measured 2026-12-05, docs/performance.md,
"What ccusage does with odd lines"): a line with bytes that are not UTF-8 or with a number beyond a double's range
is refused as a whole by ccusage, even when the oddity sits in a field neither reads; we skip it the same way
("malformed JSON"). The line without its oddity is counted, so each case shows the oddity alone decides."""

from __future__ import annotations

import json

import pytest

from nexus_tui.core.parse.claude_code import FileContext, new_state, parse_lines

CLEAN = json.dumps({
    "type": "assistant", "sessionId": "s1", "timestamp": "2025-01-02T10:00:00.000Z", "uuid": "u1",
    "requestId": "req_1", "version": "1.0.0", "cwd": "/tmp/x",
    "message": {"id": "msg_1", "model": "claude-sonnet-4-20250514", "role": "assistant",
                "content": [{"type": "text", "text": "hello"}],
                "usage": {"input_tokens": 100, "output_tokens": 10}}}, separators=(",", ":")).encode()


def _parse(raw: bytes):
    return parse_lines(raw + b"\n", 0, FileContext(path="/x/-tmp-x/s1.jsonl", project="x"), new_state())


def _extra(field: bytes) -> bytes:
    """The clean line with one more top-level field nobody reads."""
    return CLEAN[:-1] + b"," + field + b"}"


REFUSED = {  # what ccusage does not count (each measured in a tree of its own)
    "invalid UTF-8 in message text": CLEAN.replace(b'"hello"', b'"bad \xff\xfe bytes"'),
    "a surrogate encoded in UTF-8 in message text": CLEAN.replace(b'"hello"', b'"sur \xed\xa0\x80 x"'),
    "an overlong UTF-8 encoding in message text": CLEAN.replace(b'"hello"', b'"x\xc0\xafy"'),
    "1e400 in an unread field": _extra(b'"junk":1e400'),
    "-1e400 in an unread field": _extra(b'"junk":-1e400'),
    "1E+400 in an unread field": _extra(b'"junk":1E+400'),
    "1e400 inside a content block": CLEAN.replace(b'"hello"', b'"hi","n":1e400'),
    "a 401-digit integer in an unread field": _extra(b'"big":1' + b"0" * 400),
    "invalid UTF-8 in the model": CLEAN.replace(b"claude-sonnet-4-20250514", b"claude-sonnet-4-\xff"),
    "invalid UTF-8 in the session id": CLEAN.replace(b'"s1"', b'"s\xff1"'),
    "1e400 as the input tokens": CLEAN.replace(b'"input_tokens":100', b'"input_tokens":1e400'),
}
COUNTED = {  # what ccusage counts
    "1.5e308 in an unread field": _extra(b'"f":1.5e308'),
    "1e-400 (rounds to 0) in an unread field": _extra(b'"f":1e-400'),
    "a 30-digit integer in an unread field": _extra(b'"big":123456789012345678901234567890'),
    "valid UTF-8 beyond ASCII": _extra('"t":"€ ok"'.encode()),
    "an escaped character": _extra(b'"t":"\\u20ac"'),
}


def test_the_clean_line_counts():
    b = _parse(CLEAN)
    assert b.skipped == {} and [(t.id, t.tokens_in, t.tokens_out) for t in b.tasks] == [("req_1", 100, 10)]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_line_ccusage_refuses_is_skipped_as_malformed(name):
    raw = REFUSED[name]
    assert raw != CLEAN
    b = _parse(raw)
    assert b.tasks == [] and b.sessions == [] and b.skipped == {"malformed JSON": 1} and b.lines == 1


@pytest.mark.parametrize("name", sorted(COUNTED))
def test_a_line_ccusage_counts_is_counted(name):
    b = _parse(COUNTED[name])
    assert b.skipped == {} and [(t.id, t.tokens_in, t.tokens_out) for t in b.tasks] == [("req_1", 100, 10)]


# --- the usage line's schema: fields ccusage 20.0.24 reads, measured the same way (one line per tree, `daily --json
# --offline`, 2026-12-05): lines it does not count are skipped with a reason; lines it counts give its four totals
def _usage(extra: bytes) -> bytes:
    return CLEAN.replace(b'"output_tokens":10', b'"output_tokens":10,' + extra)


def _ts(ts: bytes) -> bytes:
    return CLEAN.replace(b"2025-01-02T10:00:00.000Z", ts)


SCHEMA_REFUSED = {
    "input tokens as a string": CLEAN.replace(b'"input_tokens":100', b'"input_tokens":"100"'),
    "input tokens as 100.0": CLEAN.replace(b'"input_tokens":100', b'"input_tokens":100.0'),
    "input tokens as 1e2": CLEAN.replace(b'"input_tokens":100', b'"input_tokens":1e2'),
    "input tokens null": CLEAN.replace(b'"input_tokens":100', b'"input_tokens":null'),
    "input tokens absent": CLEAN.replace(b'"input_tokens":100,', b""),
    "output tokens absent": CLEAN.replace(b',"output_tokens":10', b""),
    "cache read as a string": _usage(b'"cache_read_input_tokens":"5"'),
    "cache read null": _usage(b'"cache_read_input_tokens":null'),
    "cache read as 5.0": _usage(b'"cache_read_input_tokens":5.0'),
    "cache creation as a string": _usage(b'"cache_creation_input_tokens":"7"'),
    "cache creation null": _usage(b'"cache_creation_input_tokens":null'),
    "a split's 5m as a string": _usage(b'"cache_creation_input_tokens":7,"cache_creation":'
                                       b'{"ephemeral_5m_input_tokens":"3","ephemeral_1h_input_tokens":4}'),
    "a split's 5m null": _usage(b'"cache_creation_input_tokens":7,"cache_creation":'
                                b'{"ephemeral_5m_input_tokens":null,"ephemeral_1h_input_tokens":4}'),
    "a split that is text": _usage(b'"cache_creation_input_tokens":7,"cache_creation":"x"'),
    "requestId null": CLEAN.replace(b'"requestId":"req_1"', b'"requestId":null'),
    "requestId a number": CLEAN.replace(b'"requestId":"req_1"', b'"requestId":5'),
    "requestId empty": CLEAN.replace(b'"requestId":"req_1"', b'"requestId":""'),
    "cwd null": CLEAN.replace(b'"cwd":"/tmp/x"', b'"cwd":null'),
    "version null": CLEAN.replace(b'"version":"1.0.0"', b'"version":null'),
    "costUSD as a string": _extra(b'"costUSD":"1.5"'),
    "costUSD null": _extra(b'"costUSD":null'),
    "isApiErrorMessage null": _extra(b'"isApiErrorMessage":null'),
    "isSidechain as a string": _extra(b'"isSidechain":"yes"'),
    "speed a number": _usage(b'"speed":5'),
    "speed an unknown word": _usage(b'"speed":"weird"'),
    "speed in capitals": _usage(b'"speed":"Fast"'),
    "speed null": _usage(b'"speed":null'),
    "speed a list": _usage(b'"speed":["fast"]'),
    "speed an object": _usage(b'"speed":{"a":1}'),
    "time without its Z": _ts(b"2025-01-02T10:00:00"),
    "time with a space": _ts(b"2025-01-02 10:00:00.000Z"),
    "time in lower case": _ts(b"2025-01-02t10:00:00.000z"),
    "time with one fraction digit": _ts(b"2025-01-02T10:00:00.1Z"),
    "time with nine fraction digits": _ts(b"2025-01-02T10:00:00.123456789Z"),
    "time without seconds": _ts(b"2025-01-02T10:00Z"),
    "an offset without its colon": _ts(b"2025-01-02T10:00:00+0200"),
    "a date alone": _ts(b"2025-01-02"),
}
SCHEMA_COUNTED = {  # (input, output, cache read, cache creation) as ccusage totals them
    "cache creation 7": (_usage(b'"cache_creation_input_tokens":7'), (100, 10, 0, 7)),
    "a split: its sum": (_usage(b'"cache_creation_input_tokens":7,"cache_creation":'
                                b'{"ephemeral_5m_input_tokens":3,"ephemeral_1h_input_tokens":4}'), (100, 10, 0, 7)),
    "a split with 5m alone": (_usage(b'"cache_creation_input_tokens":7,"cache_creation":'
                                     b'{"ephemeral_5m_input_tokens":3}'), (100, 10, 0, 3)),
    "a split of zeros: 0, whatever the total": (_usage(b'"cache_creation_input_tokens":7,"cache_creation":'
                                                       b'{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}'),
                                                (100, 10, 0, 0)),
    "an empty split: 0": (_usage(b'"cache_creation_input_tokens":7,"cache_creation":{}'), (100, 10, 0, 0)),
    "a null split: the total": (_usage(b'"cache_creation_input_tokens":7,"cache_creation":null'), (100, 10, 0, 7)),
    "requestId absent": (CLEAN.replace(b'"requestId":"req_1",', b""), (100, 10, 0, 0)),
    "version absent": (CLEAN.replace(b'"version":"1.0.0",', b""), (100, 10, 0, 0)),
    "cwd a number": (CLEAN.replace(b'"cwd":"/tmp/x"', b'"cwd":5'), (100, 10, 0, 0)),
    "uuid null": (CLEAN.replace(b'"uuid":"u1"', b'"uuid":null'), (100, 10, 0, 0)),
    "another field null": (_extra(b'"gitBranch":null'), (100, 10, 0, 0)),
    "stop_reason null": (CLEAN.replace(b'"role":"assistant"', b'"role":"assistant","stop_reason":null'),
                         (100, 10, 0, 0)),
    "costUSD a number": (_extra(b'"costUSD":2'), (100, 10, 0, 0)),
    "isSidechain null": (_extra(b'"isSidechain":null'), (100, 10, 0, 0)),
    "isApiErrorMessage false": (_extra(b'"isApiErrorMessage":false'), (100, 10, 0, 0)),
    "speed fast": (_usage(b'"speed":"fast"'), (100, 10, 0, 0)),
    "speed standard": (_usage(b'"speed":"standard"'), (100, 10, 0, 0)),
    "time without a fraction": (_ts(b"2025-01-02T10:00:00Z"), (100, 10, 0, 0)),
    "time with an offset": (_ts(b"2025-01-02T10:00:00+02:00"), (100, 10, 0, 0)),
    "a 2e9 token count": (CLEAN.replace(b'"input_tokens":100', b'"input_tokens":2000000000'), (2000000000, 10, 0, 0)),
}


@pytest.mark.parametrize("name", sorted(SCHEMA_REFUSED))
def test_a_usage_line_ccusage_s_schema_refuses_is_skipped_with_its_reason(name):
    raw = SCHEMA_REFUSED[name]
    assert raw != CLEAN
    b = _parse(raw)
    assert b.tasks == [] and sum(b.skipped.values()) == 1, b.skipped
    (reason,) = b.skipped  # the line's own reason, not a parser error or "malformed JSON"
    assert reason.startswith("usage"), reason


@pytest.mark.parametrize("name", sorted(SCHEMA_COUNTED))
def test_a_usage_line_ccusage_s_schema_takes_is_counted_as_it_totals_it(name):
    raw, totals = SCHEMA_COUNTED[name]
    b = _parse(raw)
    assert b.skipped == {}
    assert [(t.tokens_in, t.tokens_out, t.cache_read_tokens, t.cache_creation_tokens) for t in b.tasks] == [totals]


def test_a_line_without_a_session_id_counts_under_its_file_s_session_as_ccusage_does():
    # ccusage 20.0.24 (`session --json`, measured): the file's session, the folder under the project for a sub-agent
    no_sid = CLEAN.replace(b'"sessionId":"s1",', b"")
    for path, want in (("/h/.claude/projects/-tmp-x/sess-a.jsonl", "sess-a"),
                       ("/h/.claude/projects/-tmp-x/sess-b/subagents/agent-1.jsonl", "sess-b"),
                       ("/elsewhere/sess-c.jsonl", "sess-c")):
        b = parse_lines(no_sid + b"\n", 0, FileContext(path=path, project="x"), new_state())
        assert b.skipped == {} and [(t.session_id, t.tokens_in) for t in b.tasks] == [(want, 100)], path
        assert [s.id for s in b.sessions] == [want]
    for bad in (b'"sessionId":null,', b'"sessionId":"",', b'"sessionId":5,'):  # there but not a session id: refused
        b = _parse(CLEAN.replace(b'"sessionId":"s1",', bad))
        assert b.tasks == [] and b.skipped == {"no sessionId": 1}, bad


# --- which lines carry usage and how repeated lines count, measured the same way (2026-12-05 evening, ccusage
# 20.0.24 `daily --json --offline`, one file per case): ccusage counts any line whose message carries usage, whatever
# its type (or none); it deduplicates on the message id (with the request id when there is one), and counts a line
# without a message id on its own; a line without a model counts, priced at 0 unless it gives costUSD; a message id or
# model that is there but null, empty or not text is refused
def _line(uuid="u1", rid="req_1", mid="msg_1", model="claude-sonnet-4-20250514", tin=100, tout=10, **top) -> bytes:
    d = json.loads(CLEAN)
    d["uuid"] = uuid
    for key, value in (("requestId", rid),):
        if value is None:
            d.pop(key)
        else:
            d[key] = value
    for key, value in (("id", mid), ("model", model)):
        if value is None:
            d["message"].pop(key)
        else:
            d["message"][key] = value
    d["message"]["usage"] = {"input_tokens": tin, "output_tokens": tout}
    for key, value in top.items():
        if value is None:
            d.pop(key, None)
        else:
            d[key] = value
    return json.dumps(d, separators=(",", ":")).encode()


def _totals_of_tree(*lines: bytes):
    """(input, output) of the lines of one file as the store totals them: the tasks folded by their key."""
    b = parse_lines(b"".join(x + b"\n" for x in lines), 0, FileContext(path="/x/-tmp-x/s1.jsonl", project="x"),
                    new_state())
    tasks = {}
    for t in b.tasks:  # the writer keeps one row per task id (the latest line's usage for a repeated response)
        tasks[t.id] = t
    return sum(t.tokens_in for t in tasks.values()), sum(t.tokens_out for t in tasks.values()), b


REPEATS = {  # lines of one file: ccusage's (input, output)
    "the same message and request twice": ((_line("u1"), _line("u2")), (100, 10)),
    "the same message without a request id twice": ((_line("u1", rid=None), _line("u2", rid=None)), (100, 10)),
    "the same request without a message id twice": ((_line("u1", mid=None), _line("u2", mid=None)), (200, 20)),
    "neither id, twice": ((_line("u1", mid=None, rid=None), _line("u2", mid=None, rid=None)), (200, 20)),
    "the same message under two requests": ((_line("u1", rid="r1"), _line("u2", rid="r2")), (200, 20)),
    "no message id, one request, other counts": ((_line("u1", mid=None), _line("u2", mid=None, tin=50, tout=5)),
                                                 (150, 15)),
    "no model, the same message twice": ((_line("u1", model=None), _line("u2", model=None)), (100, 10)),
}
TYPES = {  # one line of another type (or none) whose message carries usage: ccusage counts it
    "no type": _line(type=None), "user": _line(type="user"), "system": _line(type="system"),
    "an unknown type": _line(type="foo"), "summary": _line(type="summary"), "a number": _line(type=5),
    "progress": _line(type="progress"), "file-history-snapshot": _line(type="file-history-snapshot"),
    "queue-operation": _line(type="queue-operation"), "custom-title": _line(type="custom-title", customTitle="T"),
}
REFUSED_IDS = {  # there, but not what ccusage's schema takes: not counted
    "message id empty": _line(mid=""), "message id null": _line(mid=None) .replace(b'"role"', b'"id":null,"role"'),
    "message id a number": _line(mid=5), "model empty": _line(model=""), "model a number": _line(model=5),
    "model null": _line(model=None).replace(b'"role"', b'"model":null,"role"'),
}


@pytest.mark.parametrize("name", sorted(REPEATS))
def test_repeated_lines_count_as_ccusage_counts_them(name):
    lines, want = REPEATS[name]
    tin, tout, b = _totals_of_tree(*lines)
    assert (tin, tout) == want and b.skipped == {}, (name, b.skipped)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_a_line_of_any_type_carrying_usage_counts(name):
    tin, tout, b = _totals_of_tree(TYPES[name])
    assert (tin, tout) == (100, 10) and b.skipped == {}, (name, b.skipped)
    assert [s.id for s in b.sessions] == ["s1"]
    if name == "custom-title":  # the title is kept too
        assert [t[3] for t in b.titles if t[0] == "title"] == ["T"]


@pytest.mark.parametrize("name", sorted(REFUSED_IDS))
def test_a_message_id_or_model_that_is_there_but_not_text_is_refused(name):
    tin, tout, b = _totals_of_tree(REFUSED_IDS[name])
    assert (tin, tout) == (0, 0) and sum(b.skipped.values()) == 1, b.skipped


def test_a_line_without_a_model_counts_unpriced_and_its_costusd_is_the_reported_cost():
    from nexus_tui.core.parse.claude_code import UNKNOWN_MODEL

    _, _, b = _totals_of_tree(_line(model=None, costUSD=1.5))
    (t,) = b.tasks
    assert t.model == UNKNOWN_MODEL and t.cost_usd is None and t.priced_as is None and t.reported_cost_usd == 1.5
    _, _, b = _totals_of_tree(_line(costUSD=2))  # a priced line: our cost beside the one it reported
    (t,) = b.tasks
    assert t.cost_usd == pytest.approx(0.00045) and t.reported_cost_usd == 2
    for odd in (-1, 1e7):  # counted; a reported cost out of range is not kept
        _, _, b = _totals_of_tree(_line(costUSD=odd))
        assert [x.reported_cost_usd for x in b.tasks] == [None], odd


def test_a_line_without_a_message_id_keeps_its_own_key_across_reads():
    """Keyed by its place in the file: a file read again from the start (rewritten in place) stores the same rows."""
    lines = b"".join(x + b"\n" for x in (_line("u1", mid=None), _line("u2", mid=None)))
    ctx = FileContext(path="/x/-tmp-x/s1.jsonl", project="x")
    first = [t.id for t in parse_lines(lines, 0, ctx, new_state()).tasks]
    again = [t.id for t in parse_lines(lines, 0, ctx, new_state()).tasks]
    assert first == again and len(set(first)) == 2


# valid JSON ccusage's reader refuses (measured): not counted, skipped with its own reason (not "malformed JSON")
READER_REFUSED = {
    "a lone surrogate escape in the text": CLEAN.replace(b'"hello"', b'"a\\ud800b"'),
    "a lone surrogate escape in the model": CLEAN.replace(b"claude-sonnet-4-20250514", b"claude-sonnet-4-2025\\udc00"),
    "nested 128 levels": _extra(b'"deep":' + b"[" * 127 + b"]" * 127),
}
READER_COUNTED = {
    "nested 127 levels": _extra(b'"deep":' + b"[" * 126 + b"]" * 126),
    "a surrogate pair escape": CLEAN.replace(b'"hello"', b'"a\\ud83d\\ude00b"'),
}


@pytest.mark.parametrize("name", sorted(READER_REFUSED))
def test_valid_json_ccusage_s_reader_refuses_is_not_counted(name):
    b = _parse(READER_REFUSED[name])
    assert b.tasks == [] and b.skipped == {"usage line with a lone surrogate escape or nested 128 levels or deeper": 1}


@pytest.mark.parametrize("name", sorted(READER_COUNTED))
def test_valid_json_ccusage_s_reader_takes_is_counted(name):
    b = _parse(READER_COUNTED[name])
    assert b.skipped == {} and [(t.id, t.tokens_in, t.tokens_out) for t in b.tasks] == [("req_1", 100, 10)]
