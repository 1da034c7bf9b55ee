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
