"""Typed decoding of Claude Code transcript lines: only the fields the parser reads (msgspec Structs).

A line is first decoded into ``Line`` (every other field is skipped unread: tool outputs repeated in
``toolUseResult``, text and thinking blocks, file snapshots). That is about half of orjson's time for the same lines,
because nothing unused becomes a Python object. The typed path takes a line only when the result is certain to equal
the orjson path's (``claude_code._Parser.line``); otherwise it declines *before changing anything* and the line goes
through the orjson path, so behaviour, skip reasons included, stays identical:

* a value of another type than the common one (a string count, a float, a bool where a string is expected, a list
  where an object is expected) fails the typed decode, and the orjson path applies its guards;
* JSON that msgspec reads and orjson refuses — invalid UTF-8 or a number beyond a double's range inside a field
  msgspec skips — is recognised (``_orjson_would_refuse``) and left to the orjson path, which skips the line as
  malformed;
* a lone surrogate escape, a depth over msgspec's limit, or anything malformed fails the typed decode;
* rare line kinds with more to read (system errors, API error turns, the ``<synthetic>`` model) are declined.
"""

from __future__ import annotations

from typing import Union

import msgspec
import orjson
from msgspec import UNSET, Raw, Struct, UnsetType

class _Split(Struct):  # absent (UNSET) and null differ here: the split counts only when one of its keys is there
    ephemeral_5m_input_tokens: Union[int, None, UnsetType] = UNSET
    ephemeral_1h_input_tokens: Union[int, None, UnsetType] = UNSET


class _Usage(Struct):
    input_tokens: Union[int, None] = 0
    output_tokens: Union[int, None] = 0
    cache_read_input_tokens: Union[int, None] = 0
    cache_creation_input_tokens: Union[int, None] = 0
    cache_creation: Union[_Split, None] = None
    speed: Union[str, None] = None
    service_tier: Union[str, None] = None


class _Source(Struct):
    data: Union[str, None] = None


class _Part(Struct):
    text: Union[str, None] = None
    source: Union[_Source, None] = None


class _Block(Struct):
    type: Union[str, None] = None
    id: Union[str, None] = None
    name: Union[str, None] = None
    input: Raw = Raw(b"null")
    tool_use_id: Union[str, None] = None
    is_error: Union[bool, None] = None
    content: Union[str, list[_Part], None] = None


class _Msg(Struct):
    id: Union[str, None] = None
    model: Union[str, None] = None
    usage: Union[_Usage, None] = None
    stop_reason: Union[str, None] = None
    content: Union[str, list[_Block], None] = None


class _Inner(Struct):
    type: Union[str, None] = None
    timestamp: Union[str, None] = None
    uuid: Union[str, None] = None
    parentUuid: Union[str, None] = None
    requestId: Union[str, None] = None
    isApiErrorMessage: Union[bool, None] = None
    message: Union[_Msg, None] = None


class _Data(Struct):
    type: Union[str, None] = None
    agentId: Union[str, None] = None
    message: Union[_Inner, None] = None


class Line(Struct):
    type: str
    sessionId: Union[str, None] = None
    timestamp: Union[str, None] = None
    uuid: Union[str, None] = None
    parentUuid: Union[str, None] = None
    cwd: Union[str, None] = None
    gitBranch: Union[str, None] = None
    version: Union[str, None] = None
    agentId: Union[str, None] = None
    isSidechain: Union[bool, None] = None
    isApiErrorMessage: Union[bool, None] = None
    requestId: Union[str, None] = None
    message: Union[_Msg, None] = None
    data: Union[_Data, None] = None


_decode = msgspec.json.Decoder(Line).decode

# A number beyond a double's range has a three-digit exponent or more than 200 integer digits (with an exponent of at
# most two digits a mantissa needs that many to pass 1.8e308). To find one cheaply, a line is translated so that
# digits read '0', 'e'/'E' read 'e', signs read '+', '.' stays, JSON's delimiters and white space read ',' and every
# other byte reads 'a'; a number token is then a run like ",0.00e+000," (ids such as hex strings are bounded by a
# quote, which reads 'a').
_NUMS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x65 if i in (0x45, 0x65) else 0x2B if i in (0x2B, 0x2D)
              else 0x2E if i == 0x2E else 0x2C if i in b" \t\r\n,:[]{}" else 0x61 for i in range(256))
_LONG_DIGITS = b"0" * 200


def _number_at(t: bytes, i: int) -> bool:
    """Whether the 'e' at ``i`` of the translated line is the exponent of a number token."""
    j = i - 1
    while j >= 0 and t[j] in (0x30, 0x2E):
        j -= 1
    if j == i - 1:
        return False
    if j >= 0 and t[j] == 0x2B:
        j -= 1
    if j >= 0 and t[j] != 0x2C:
        return False
    k, n = i + 1, len(t)
    if k < n and t[k] == 0x2B:
        k += 1
    while k < n and t[k] == 0x30:
        k += 1
    return k >= n or t[k] == 0x2C


def _orjson_would_refuse(raw: bytes) -> bool:
    """Whether orjson may refuse a line msgspec accepted (it validates what msgspec skips): bytes that are not valid
    UTF-8 (surrogates included), or a number that overflows a double. False positives only cost the orjson path."""
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return True
    t = raw.translate(_NUMS)
    for pat in (b"e000", b"e+000"):
        i = t.find(pat)
        while i >= 0:
            if _number_at(t, i):
                return True
            i = t.find(pat, i + 1)
    return _LONG_DIGITS in t


def decode(raw: bytes) -> Line | None:
    """The typed line, or None when the orjson path must read it."""
    try:
        v = _decode(raw)
    except Exception:  # noqa: BLE001 - DecodeError, ValidationError, msgspec's own depth error: the orjson path
        return None
    if _orjson_would_refuse(raw):
        return None
    return v


def input_size(raw: Raw) -> int | None | bool:
    """``len(orjson.dumps(input))`` as the orjson path computes it; False when it cannot be known here."""
    try:
        value = orjson.loads(memoryview(raw))
    except orjson.JSONDecodeError:
        return False
    try:
        return len(orjson.dumps(value))
    except TypeError:
        return None
