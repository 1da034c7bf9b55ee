"""Linking API requests into conversations, branches, compactions and sub-tasks (pure: no I/O, no SQL).

The hashing follows claude-nexus-proxy's conversation linker (packages/shared/src/utils/conversation-linker.ts
and conversation-hash.ts) closely enough to give the same hex digests for the same request bodies:

- messages that repeat a tool_use id / tool_result tool_use_id already seen earlier are dropped whole;
- each message is serialized as ``role\\n`` + its content items joined by ``\\n`` + ``\\n``; the items
  (``<system-reminder>`` blocks stripped, text items that were only reminders dropped, indexes counted after
  that) are ``[i]text:…``, ``[i]tool_use:name:id:json(input)``, ``[i]tool_result:id:content``,
  ``[i]image:mime:sha256(data)``, ``[i]<type>:unknown``; a plain string content is ``[0]text:…``;
- SHA-256 of the concatenation: ``message_hash`` (all messages), ``parent_message_hash`` (all but the last 2,
  needs 3 after the drop), the grandparent hash (all but the last 4, needs 5);
- ``system_hash``: SHA-256 of the stable part of the system prompt (texts joined by ``\\n``; Claude Code's
  dynamic git status / branch / recent commits sections and system reminders removed).

JSON in the serialization is JavaScript's ``JSON.stringify`` (no spaces, key order kept, integral numbers
without ``.0``), and JavaScript's ``trim``/``\\s``/``.``/``^``/``$`` are reproduced, so the digests match the
TypeScript implementation byte for byte.

:class:`Linker` decides parent, conversation and branch for one request from a :class:`LinkLookup` (the store
implements it with SQL, the tests in memory). See docs/proxy.md for the rules and where they deviate.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

BRANCH_MAIN = "main"
BRANCH_PREFIX = "branch_"
COMPACT_PREFIX = "compact_"
SUBTASK_PREFIX = "subtask_"
COMPACT_CONVERSATION_PREFIX = (
    "This session is being continued from a previous conversation that ran out of context"
)
SUMMARY_MARKER = "The conversation is summarized below:"
# newer Claude Code (seen in a real transcript, tests/test_linking.py) words the marker differently and puts a
# pointer to the full transcript between the summary and the closing instruction
SUMMARY_MARKERS = (SUMMARY_MARKER, "The summary below covers the earlier portion of the conversation.")
SUMMARY_SUFFIX_MARKER = "Please continue the conversation"
SUMMARY_SUFFIX_MARKERS = (SUMMARY_SUFFIX_MARKER, "If you need specific details from before compaction")
SUMMARIZATION_SYSTEM_PROMPT = "You are a helpful AI assistant tasked with summarizing conversations"
CLI_TOOL_PREFIX = "You are an interactive CLI tool that helps users with software engineering tasks"
# Claude Code's sub-agent tool is "Task" (every real capture); a tool named "Agent" is accepted too
TASK_TOOL_NAMES = frozenset({"Task", "Agent"})
COMPACT_WINDOW_MS = 7 * 86_400_000
SUBTASK_WINDOW_MS = 86_400_000
MIN_MESSAGES_FOR_PARENT_HASH = 3
MIN_MESSAGES_FOR_GRANDPARENT_HASH = 5

# link-key kinds (what store/linking.py keeps per request besides the task columns)
KEY_GRANDPARENT = "grandparent"  # hash of all messages but the last 4
KEY_USER_TEXT = "user_text"  # sha256 of the single user message's text (sub-task matching)
KEY_COMPACT = "compact"  # sha256 of the normalized summary a compacted continuation starts from
KEY_SUMMARY_OUT = "summary_out"  # sha256 of the normalized summary a summarization response produced
KEY_TASK_PROMPT = "task_prompt"  # sha256 of a Task tool_use prompt in the response (seq = its order)
KEY_SUMMARIZATION = "summarization"  # marker: the request is a summarization request
KEY_KINDS = frozenset(
    {KEY_GRANDPARENT, KEY_USER_TEXT, KEY_COMPACT, KEY_SUMMARY_OUT, KEY_TASK_PROMPT, KEY_SUMMARIZATION}
)

# --- JavaScript string semantics ------------------------------------------------------------------

_JS_WS = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_WS = "[" + re.escape(_JS_WS) + "]"  # JavaScript's \s
_LT = "\n\r\u2028\u2029"  # JavaScript line terminators
_DOT = f"[^{_LT}]"  # JavaScript's . (no s flag)
_BOL = f"(?:(?<=[{_LT}])|\\A)"  # ^ with the m flag
_EOL = f"(?=[{_LT}]|\\Z)"  # $ with the m flag

_SYSTEM_REMINDER = re.compile(_WS + r"*<system-reminder>[\s\S]*?</system-reminder>", re.IGNORECASE)
_TRANSIENT = re.compile(r"<transient_context>[\s\S]*?</transient_context>")
_GIT_STATUS = re.compile(r"gitStatus:[\s\S]*?(?:\n\n|\Z)")
_STATUS = re.compile(f"(?:{_BOL}|\\n)Status:{_WS}*\\n(?:[^\\n]*\\n)*?(?=\\n\\n|{_EOL})")
_CURRENT_BRANCH = re.compile(f"(?:{_BOL}|\\n)Current branch:{_DOT}*{_EOL}")
_MAIN_BRANCH = re.compile(f"(?:{_BOL}|\\n)Main branch{_DOT}*:{_DOT}*{_EOL}")
_RECENT_COMMITS = re.compile(f"(?:{_BOL}|\\n)Recent commits:{_DOT}*\\n(?:(?!{_BOL}\\n){_DOT}*\\n)*")
_NEWLINES3 = re.compile(r"\n{3,}")
_TRAILING_DOTS = re.compile(r"\.+\Z")


def js_trim(s: str) -> str:
    return s.strip(_JS_WS)


def strip_system_reminder(text: object) -> str:
    """Remove every ``<system-reminder>…</system-reminder>`` block (with the whitespace before it)."""
    return _SYSTEM_REMINDER.sub("", text) if isinstance(text, str) else ""


def _js_number(v: float | int) -> str:
    """JavaScript's Number::toString (shortest round-trip digits, its thresholds for the exponent form)."""
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return "null"  # JSON.stringify(NaN); a JSON body cannot carry one
    if v == 0:
        return "0"
    sign, digits, exp = Decimal(repr(abs(v))).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    k = len(ds)
    n = exp + len(digits)  # the decimal point sits after n digits
    neg = "-" if v < 0 else ""
    if k <= n <= 21:
        return neg + ds + "0" * (n - k)
    if 0 < n <= 21:
        return neg + ds[:n] + "." + ds[n:]
    if -6 < n <= 0:
        return neg + "0." + "0" * (-n) + ds
    e = n - 1
    return neg + (ds if k == 1 else ds[0] + "." + ds[1:]) + "e" + ("+" if e >= 0 else "-") + str(abs(e))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _js_string(v: str) -> str:
    out = json.dumps(v, ensure_ascii=False)
    return (
        _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out) if _LONE_SURROGATE.search(out) else out
    )


def js_json(value: Any) -> str:
    """``JSON.stringify(value)`` for values parsed from JSON (``undefined`` for a missing value)."""
    if value is None:
        return "null"
    return _js_json(value)


def _is_array_index(k: str) -> bool:
    return k.isdigit() and k.isascii() and (k == "0" or k[0] != "0") and int(k) < 2**32 - 1


def _js_key_order(d: dict) -> list:
    """A JavaScript object's own-key order: array-index keys ascending, then the others as inserted."""
    keys = [k if isinstance(k, str) else str(k) for k in d]
    if not any(_is_array_index(k) for k in keys):
        return list(d)
    idx = sorted((k for k in d if isinstance(k, str) and _is_array_index(k)), key=int)
    return idx + [k for k in d if not (isinstance(k, str) and _is_array_index(k))]


def _js_json(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v) if abs(v) <= 2**53 else _js_number(v)
    if isinstance(v, float):
        return _js_number(v)
    if isinstance(v, str):
        return _js_string(v)
    if isinstance(v, dict):
        return "{" + ",".join(f"{_js_string(str(k))}:{_js_json(v[k])}" for k in _js_key_order(v)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_js_json(x) for x in v) + "]"
    return _js_string(str(v))


def _js_str(v: Any) -> str:
    """A value interpolated into a JavaScript template string (``${v}``)."""
    if v is None:
        return "undefined"  # a missing field; JSON null would print "null" but bodies do not carry it here
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return _js_number(v)
    if isinstance(v, (dict, list)):
        return "[object Object]" if isinstance(v, dict) else ",".join(_js_str(x) for x in v)
    return str(v)


def _utf8(text: str) -> bytes:
    """UTF-8 as Node's ``hash.update(string)`` encodes it (a lone surrogate becomes U+FFFD)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def sha256_hex(text: str | bytes) -> str:
    return hashlib.sha256(_utf8(text) if isinstance(text, str) else text).hexdigest()


# --- message normalization ------------------------------------------------------------------------


def _items(content: Any) -> list[dict]:
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def dedupe_messages(messages: Sequence[Any]) -> list[dict]:
    """Drop each message that repeats a tool_use id or tool_result tool_use_id seen earlier (whole message)."""
    seen_use: set[str] = set()
    seen_result: set[str] = set()
    out: list[dict] = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if isinstance(content, str):
            out.append(m)
            continue
        items = content if isinstance(content, list) else []
        dropped = False
        for item in items:
            if not isinstance(item, dict):
                continue
            t = item.get("type")
            if t == "tool_use" and item.get("id"):
                key = _js_str(item["id"])
                if key in seen_use:
                    dropped = True
                else:
                    seen_use.add(key)
            elif t == "tool_result" and item.get("tool_use_id"):
                key = _js_str(item["tool_use_id"])
                if key in seen_result:
                    dropped = True
                else:
                    seen_result.add(key)
        if not dropped:
            out.append(m)
    return out


def _serialize_item(item: dict, i: int) -> str:
    t = item.get("type")
    if t == "text":
        text = strip_system_reminder(item.get("text") or "")
        return f"[{i}]text:{js_trim(text).replace(chr(13) + chr(10), chr(10))}"
    if t == "image":
        src = item.get("source")
        if not src:
            return f"[{i}]image:no-source"
        data = src.get("data") if isinstance(src, dict) else None
        mime = src.get("media_type") if isinstance(src, dict) else None
        return f"[{i}]image:{_js_str(mime)}:{sha256_hex(data if isinstance(data, str) else '')}"
    if t == "tool_use":
        inp = item.get("input")
        return f"[{i}]tool_use:{_js_str(item.get('name'))}:{_js_str(item.get('id'))}:" + (
            "undefined" if "input" not in item else js_json(inp)
        )
    if t == "tool_result":
        c = item.get("content")
        s = strip_system_reminder(c) if isinstance(c, str) else js_json(c) if isinstance(c, list) else ""
        return f"[{i}]tool_result:{_js_str(item.get('tool_use_id'))}:{s}"
    return f"[{i}]{_js_str(t)}:unknown"


def normalize_content(content: Any) -> str:
    """One message's content as the linker serializes it."""
    if isinstance(content, str):
        return "[0]text:" + js_trim(content).replace("\r\n", "\n")
    kept = [
        it
        for it in _items(content)
        if not (
            it.get("type") == "text"
            and isinstance(it.get("text"), str)
            and not js_trim(strip_system_reminder(it["text"]))
        )
    ]
    return "\n".join(_serialize_item(it, i) for i, it in enumerate(kept))


def hash_messages(messages: Sequence[dict]) -> str | None:
    """SHA-256 over already de-duplicated messages; None for none (or a message without a role)."""
    if not messages:
        return None
    h = hashlib.sha256()
    for m in messages:
        role = m.get("role")
        if not role:
            return None
        h.update(_utf8(_js_str(role)) + b"\n")
        h.update(_utf8(normalize_content(m.get("content"))) + b"\n")
    return h.hexdigest()


def system_text(system: Any) -> str | None:
    """The system prompt as one string (block texts joined by newlines), None when absent."""
    if isinstance(system, str):
        return system or None
    if isinstance(system, list) and system:
        return "\n".join(
            b["text"] if isinstance(b, dict) and isinstance(b.get("text"), str) else "" for b in system
        )
    return None


def stable_system_prompt(text: str) -> str:
    if js_trim(text).startswith(CLI_TOOL_PREFIX):
        return CLI_TOOL_PREFIX
    s = _TRANSIENT.sub("", text)
    s = strip_system_reminder(s)
    s = _GIT_STATUS.sub("\n\n", s)
    s = _STATUS.sub("\n", s)
    s = _CURRENT_BRANCH.sub("", s)
    s = _MAIN_BRANCH.sub("", s)
    s = _RECENT_COMMITS.sub("\n", s)
    s = _NEWLINES3.sub("\n\n", s)
    return js_trim(s)


def _system_item(item: dict, i: int) -> str:
    """One system block as conversation-hash.ts serializes it (blocks joined by ``|``)."""
    t = item.get("type")
    if t == "text":
        text = item.get("text")
        return f"[{i}]text:" + js_trim(strip_system_reminder(text or "")).replace("\r\n", "\n")
    if t == "image":
        src = item.get("source") if isinstance(item.get("source"), dict) else {}
        data = src.get("data")
        return f"[{i}]image:{src.get('media_type') or 'unknown'}:" + (
            sha256_hex(data) if isinstance(data, str) and data else "no-data"
        )
    if t == "tool_use":
        name, tid = _js_str(item.get("name")), _js_str(item.get("id"))
        return f"[{i}]tool_use:{name}:{tid}:{js_json(item.get('input') or {})}"
    if t == "tool_result":
        c = item.get("content")
        s = js_trim(strip_system_reminder(c)) if isinstance(c, str) else js_json(c or [])
        return f"[{i}]tool_result:{_js_str(item.get('tool_use_id'))}:{s}"
    essential = {k: item[k] for k in ("type", "content", "text") if item.get(k) is not None}
    return f"[{i}]{_js_str(t)}:{js_json(essential)}"


def _system_blocks(blocks: list) -> str:
    kept = [
        b
        for b in blocks
        if isinstance(b, dict)
        and not (
            b.get("type") == "text"
            and isinstance(b.get("text"), str)
            and not js_trim(strip_system_reminder(b["text"]))
        )
    ]
    seen_use: set = set()
    seen_result: set = set()
    out = []
    for b in kept:
        if b.get("type") == "tool_use" and b.get("id"):
            if _js_str(b["id"]) in seen_use:
                continue
            seen_use.add(_js_str(b["id"]))
        elif b.get("type") == "tool_result" and b.get("tool_use_id"):
            if _js_str(b["tool_use_id"]) in seen_result:
                continue
            seen_result.add(_js_str(b["tool_use_id"]))
        out.append(b)
    return "|".join(_system_item(b, i) for i, b in enumerate(out))


def hash_system(system: Any) -> str | None:
    """SHA-256 of the stable part of the system prompt (as claude-nexus-proxy stores ``system_hash``): a string
    loses its dynamic sections; a list of blocks that holds Claude Code's CLI prompt is reduced to its first
    block plus that prompt's first sentence; other lists are serialized block by block."""
    if isinstance(system, str):
        stable = stable_system_prompt(system) if system else ""
    elif isinstance(system, list) and system:
        if any(
            isinstance(b, dict)
            and b.get("type") == "text"
            and isinstance(b.get("text"), str)
            and js_trim(b["text"]).startswith(CLI_TOOL_PREFIX)
            for b in system
        ):
            first = system[0] if isinstance(system[0], dict) else {}
            stable = _system_blocks([first, {"type": "text", "text": CLI_TOOL_PREFIX}])
        else:
            stable = _system_blocks(system)
    else:
        return None
    return sha256_hex(stable) if stable else None


def content_text(content: Any) -> str:
    """The text of one message (system reminders stripped; text items joined by newlines)."""
    if isinstance(content, str):
        return strip_system_reminder(content)
    return "\n".join(
        t
        for t in (
            strip_system_reminder(it.get("text") or "") for it in _items(content) if it.get("type") == "text"
        )
        if js_trim(t)
    )


def normalize_summary(text: str) -> str:
    """A summary as both sides of a compaction carry it (the summarization response's ``<analysis>…<summary>``
    text and the continuation's ``Analysis:…Summary:`` text) reduced to the same string."""
    s = text.lower()
    for tag in ("<analysis>", "</analysis>", "<summary>", "</summary>", "analysis:", "summary:"):
        s = s.replace(tag, " ")
    s = " ".join(s.split())
    return _TRAILING_DOTS.sub("", s).strip()


def compact_summary(messages: Sequence[dict]) -> str | None:
    """The summary a compacted continuation (a single message) starts from, normalized; None otherwise."""
    if len(messages) != 1 or not isinstance(messages[0], dict):
        return None
    content = messages[0].get("content")
    texts = (
        [content]
        if isinstance(content, str)
        else [it.get("text") for it in _items(content) if it.get("type") == "text"]
    )
    for t in texts:
        if not isinstance(t, str) or COMPACT_CONVERSATION_PREFIX not in t:
            continue
        marker = next((m for m in SUMMARY_MARKERS if m in t), None)
        if marker is None:
            continue
        summary = js_trim(t[t.index(marker) + len(marker) :])
        cuts = [summary.index(m) for m in SUMMARY_SUFFIX_MARKERS if m in summary]
        if cuts:
            summary = js_trim(summary[: min(cuts)])
        norm = normalize_summary(summary)
        return norm or None
    return None


# --- per-request keys -----------------------------------------------------------------------------


def request_type(body: Any) -> str:
    """claude-nexus-proxy's request type: ``quota`` (Claude Code's probe: the last user message is "quota"),
    ``query_evaluation`` (fewer than 2 system prompt blocks: Claude Code's small helper calls, and most other
    clients) or ``inference``. Informational: every type but ``quota`` is linked (other clients' requests, with one
    system prompt, are conversations too)."""
    if not isinstance(body, dict):
        return "query_evaluation"
    raw = body.get("messages")
    messages = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if last_user is not None:
        c = last_user.get("content")
        text = (
            c
            if isinstance(c, str)
            else "\n".join(
                it["text"] for it in _items(c) if it.get("type") == "text" and isinstance(it.get("text"), str)
            )
        )
        if js_trim(text).lower() == "quota":
            return "quota"
    system = body.get("system")
    n = 1 if isinstance(system, str) and system else len(system) if isinstance(system, list) else 0
    n += sum(1 for m in messages if m.get("role") == "system")
    return "inference" if n >= 2 else "query_evaluation"


def request_hashes(body: Any) -> dict:
    """Everything the linker needs from one Messages API request body, as hashes (no prompt text kept).

    Returns ``message_hash``, ``parent_message_hash``, ``system_hash``, ``message_count`` (the task columns),
    ``grandparent_message_hash``, ``request_type``, ``is_summarization``, ``user_text_hash`` (the single user message's text, for
    sub-task matching), ``compact_hash`` (the summary a compacted continuation carries) and ``link_keys``:
    the list of ``(kind, key, seq)`` rows store.linking keeps for the request. Never raises; a body that is not
    a Messages request gives ``message_hash`` None.
    """
    out: dict = {
        "message_hash": None,
        "parent_message_hash": None,
        "grandparent_message_hash": None,
        "system_hash": None,
        "message_count": 0,
        "is_summarization": False,
        "user_text_hash": None,
        "compact_hash": None,
        "request_type": None,
        "link_keys": [],
    }
    if not isinstance(body, dict):
        return out
    raw = body.get("messages")
    messages = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
    out["message_count"] = len(messages)
    sys_text = system_text(body.get("system"))
    out["system_hash"] = hash_system(body.get("system"))
    out["is_summarization"] = bool(sys_text and SUMMARIZATION_SYSTEM_PROMPT in sys_text)
    out["request_type"] = request_type(body)
    if not messages or out["request_type"] == "quota":  # Claude Code's quota probe is no conversation
        return out
    deduped = dedupe_messages(messages)
    out["message_hash"] = hash_messages(deduped)
    if len(messages) > 1 and len(deduped) >= MIN_MESSAGES_FOR_PARENT_HASH:
        out["parent_message_hash"] = hash_messages(deduped[:-2])
    if len(messages) > 1 and len(deduped) >= MIN_MESSAGES_FOR_GRANDPARENT_HASH:
        out["grandparent_message_hash"] = hash_messages(deduped[:-4])
    if len(messages) == 1:
        m = messages[0]
        if m.get("role") == "user":
            text = content_text(m.get("content"))
            if js_trim(text):
                out["user_text_hash"] = sha256_hex(text)
        summary = compact_summary(messages)
        if summary:
            out["compact_hash"] = sha256_hex(summary)
    keys = out["link_keys"]
    if out["grandparent_message_hash"]:
        keys.append((KEY_GRANDPARENT, out["grandparent_message_hash"], 0))
    if out["user_text_hash"]:
        keys.append((KEY_USER_TEXT, out["user_text_hash"], 0))
    if out["compact_hash"]:
        keys.append((KEY_COMPACT, out["compact_hash"], 0))
    if out["is_summarization"]:
        keys.append((KEY_SUMMARIZATION, "1", 0))
    return out


def response_tool_uses(response: Any) -> list[dict]:
    """The tool_use blocks of a response: a Messages response body, or a list of tool_use dicts."""
    if isinstance(response, dict):
        response = response.get("content")
    return (
        [b for b in response if isinstance(b, dict) and b.get("type") in (None, "tool_use")]
        if isinstance(response, list)
        else []
    )


def task_prompts(response: Any) -> list[str]:
    """The ``prompt`` inputs of the ``Task`` tool_uses in a response, in order."""
    out = []
    for b in response_tool_uses(response):
        inp = b.get("input")
        name = b.get("name")
        if (
            isinstance(name, str)
            and name in TASK_TOOL_NAMES
            and isinstance(inp, dict)
            and isinstance(inp.get("prompt"), str)
        ):
            out.append(inp["prompt"])
    return out


def response_summary_hash(response: Any, *, is_summarization: bool = False) -> str | None:
    """The normalized summary a summarization response produced (first text block), hashed; None when the
    response does not look like one (neither a summarization request nor a ``<summary>`` block)."""
    content = response.get("content") if isinstance(response, dict) else response
    first = next((it.get("text") for it in _items(content) if it.get("type") == "text"), None)
    if not isinstance(first, str) or not (is_summarization or "<summary>" in first.lower()):
        return None
    norm = normalize_summary(first)
    return sha256_hex(norm) if norm else None


def response_keys(response: Any, *, is_summarization: bool = False) -> list[tuple[str, str, int]]:
    """The link-key rows of a response: its Task prompts (hashed, in order) and its summary."""
    keys = [(KEY_TASK_PROMPT, sha256_hex(p), i) for i, p in enumerate(task_prompts(response))]
    s = response_summary_hash(response, is_summarization=is_summarization)
    if s:
        keys.append((KEY_SUMMARY_OUT, s, 0))
    return keys


class StreamKeys:
    """The link keys of a streamed response, fed its SSE events one by one (parsed ``data:`` objects) with
    bounded memory: only the first text block (up to ``max_text`` characters; a summary is short) and the input JSON
    of ``Task``/``Agent`` tool_uses are kept. ``keys(is_summarization)`` equals :func:`response_keys` of the
    assembled response."""

    def __init__(self, max_text: int = 1_000_000, max_json: int = 1_000_000) -> None:
        self.max_text, self.max_json = max_text, max_json
        self._first_text: int | None = None  # index of the first text block
        self._text: list[str] = []
        self._text_len = 0
        self._tasks: dict[int, list[str]] = {}  # index -> partial_json pieces of a Task tool_use
        self._task_inputs: dict[int, Any] = {}  # index -> input given whole in content_block_start
        self._json_len: dict[int, int] = {}
        self._overflow: set[int] = set()

    def feed(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        t, idx = event.get("type"), event.get("index")
        if not isinstance(idx, int) or isinstance(idx, bool):
            return
        if t == "content_block_start":
            block = event.get("content_block")
            if not isinstance(block, dict):
                return
            if block.get("type") == "text" and self._first_text is None:
                self._first_text = idx
                self._add_text(block.get("text"))
            elif (
                block.get("type") == "tool_use"
                and isinstance(block.get("name"), str)
                and block["name"] in TASK_TOOL_NAMES
            ):
                self._tasks[idx] = []
                self._task_inputs[idx] = block.get("input")
        elif t == "content_block_delta":
            delta = event.get("delta")
            if not isinstance(delta, dict):
                return
            if idx == self._first_text and delta.get("type") == "text_delta":
                self._add_text(delta.get("text"))
            elif idx in self._tasks and delta.get("type") == "input_json_delta":
                piece = delta.get("partial_json")
                if isinstance(piece, str) and idx not in self._overflow:
                    n = self._json_len.get(idx, 0) + len(piece)
                    if n > self.max_json:
                        self._overflow.add(idx)
                        self._tasks[idx] = []
                    else:
                        self._json_len[idx] = n
                        self._tasks[idx].append(piece)

    def _add_text(self, text: Any) -> None:
        if isinstance(text, str) and self._text_len < self.max_text:
            self._text.append(text[: self.max_text - self._text_len])
            self._text_len += len(self._text[-1])

    def content(self) -> list[dict]:
        """The kept blocks, in stream order (the first text block and the Task tool_uses)."""
        blocks: list[tuple[int, dict]] = []
        if self._first_text is not None:
            blocks.append((self._first_text, {"type": "text", "text": "".join(self._text)}))
        for idx, pieces in self._tasks.items():
            if idx in self._overflow:
                continue
            inp = self._task_inputs.get(idx)
            if pieces:
                try:
                    inp = json.loads("".join(pieces))
                except ValueError:
                    continue
            blocks.append((idx, {"type": "tool_use", "name": "Task", "input": inp}))
        return [b for _, b in sorted(blocks, key=lambda x: x[0])]

    def keys(self, is_summarization: bool = False) -> list[tuple[str, str, int]]:
        return response_keys({"content": self.content()}, is_summarization=is_summarization)


# --- the linker -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkedRequest:
    """A request already linked (what the lookups return)."""

    request_id: str
    ts_ms: int
    conversation_id: str | None
    branch_id: str | None
    message_hash: str | None = None
    system_hash: str | None = None
    is_subtask: bool = False


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """The keys of a request to link (from :func:`request_hashes`, as stored)."""

    request_id: str
    ts_ms: int
    message_hash: str | None
    parent_message_hash: str | None = None
    grandparent_message_hash: str | None = None
    system_hash: str | None = None
    message_count: int = 0
    is_summarization: bool = False
    user_text_hash: str | None = None
    compact_hash: str | None = None


@dataclass(frozen=True, slots=True)
class LinkResult:
    conversation_id: str
    branch_id: str
    parent_request_id: str | None = None
    parent_task_request_id: str | None = None
    is_subtask: bool = False
    kind: str = "root"  # root | continuation | grandparent | branch | retry | compact | subtask


class LinkLookup(Protocol):
    """What the linker asks of the requests already linked. ``before`` is ``(ts_ms, request_id)``: only requests
    strictly earlier in that order are seen (so linking in time order is deterministic)."""

    def by_message_hash(
        self, message_hash: str, system_hash: str | None, before: tuple[int, str]
    ) -> list[LinkedRequest]:
        """Requests whose ``message_hash`` equals the given hash (and ``system_hash`` when given), oldest first
        (a retry of a request never becomes the parent in its place)."""
        ...

    def children(self, parent_request_id: str, before: tuple[int, str]) -> list[LinkedRequest]:
        """Requests already linked to ``parent_request_id`` as their parent, oldest first."""
        ...

    def compact_source(
        self, summary_hash: str, since_ms: int, before: tuple[int, str]
    ) -> LinkedRequest | None:
        """The newest request since ``since_ms`` whose response produced the summary with this hash."""
        ...

    def task_invocations(
        self, prompt_hash: str, since_ms: int, before: tuple[int, str]
    ) -> list[LinkedRequest]:
        """Requests since ``since_ms`` whose response had a Task tool_use with this prompt hash, newest first."""
        ...

    def subtask_count(self, conversation_id: str, before: tuple[int, str]) -> int:
        """How many sub-tasks (distinct ``subtask_N`` branches) the conversation already has."""
        ...

    def branch_exists(self, conversation_id: str, branch_id: str, before: tuple[int, str]) -> bool:
        """Whether a request of the conversation already has this branch id."""
        ...


def conversation_id_for(request_id: str) -> str:
    """A new conversation's id: a UUID derived from its first request (so relinking gives the same id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "nexus-insights:conversation:" + request_id))


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def branch_id_at(ms: int) -> str:
    return BRANCH_PREFIX + _utc(ms).strftime("%Y%m%d%H%M%S")


def compact_branch_id_at(ms: int) -> str:
    return COMPACT_PREFIX + _utc(ms).strftime("%H%M%S")


@dataclass
class Linker:
    """Decides parent, conversation and branch for one request at a time (call in time order)."""

    lookup: LinkLookup
    compact_window_ms: int = COMPACT_WINDOW_MS
    subtask_window_ms: int = SUBTASK_WINDOW_MS

    def _fresh(self, conversation_id: str, branch_id: str, before: tuple[int, str]) -> str:
        """``branch_id``, or ``branch_id_2``, ``_3``… when the conversation already has it (two branches started
        in the same second)."""
        if not self.lookup.branch_exists(conversation_id, branch_id, before):
            return branch_id
        k = 2
        while self.lookup.branch_exists(conversation_id, f"{branch_id}_{k}", before):
            k += 1
        return f"{branch_id}_{k}"

    def _retry_of(
        self, parent_id: str, r: PendingRequest, before: tuple[int, str], subtask: bool = False
    ) -> LinkedRequest | None:
        """An earlier child of ``parent_id`` with this request's messages (so this is a retry of it)."""
        return next(
            (
                s
                for s in self.lookup.children(parent_id, before)
                if s.message_hash == r.message_hash and s.is_subtask == subtask
            ),
            None,
        )

    def link(self, r: PendingRequest) -> LinkResult:
        before = (r.ts_ms, r.request_id)
        own = conversation_id_for(r.request_id)
        if not r.message_hash:
            return LinkResult(own, BRANCH_MAIN)
        if r.message_count == 1:
            if r.user_text_hash:
                inv = self.lookup.task_invocations(r.user_text_hash, r.ts_ms - self.subtask_window_ms, before)
                if inv:
                    p = inv[0]
                    conv = p.conversation_id or conversation_id_for(p.request_id)
                    again = self._retry_of(p.request_id, r, before, subtask=True)
                    n = None if again else self.lookup.subtask_count(conv, before) + 1
                    return LinkResult(
                        again.conversation_id or conv if again else conv,
                        again.branch_id if again and again.branch_id else f"{SUBTASK_PREFIX}{n}",
                        parent_request_id=p.request_id,
                        parent_task_request_id=p.request_id,
                        is_subtask=True,
                        kind="subtask",
                    )
            if r.compact_hash:
                src = self.lookup.compact_source(r.compact_hash, r.ts_ms - self.compact_window_ms, before)
                if src is not None:
                    again = self._retry_of(src.request_id, r, before)
                    return LinkResult(
                        src.conversation_id or conversation_id_for(src.request_id),
                        again.branch_id
                        if again and again.branch_id
                        else self._fresh(
                            src.conversation_id or conversation_id_for(src.request_id),
                            compact_branch_id_at(r.ts_ms),
                            before,
                        ),
                        parent_request_id=src.request_id,
                        kind="compact",
                    )
            return LinkResult(own, BRANCH_MAIN)
        parent, kind = None, "continuation"
        if r.parent_message_hash:
            if r.system_hash:
                found = self.lookup.by_message_hash(r.parent_message_hash, r.system_hash, before)
                parent = found[0] if found else None
            if parent is None:  # summarization requests (and any system prompt change) link on messages alone
                found = self.lookup.by_message_hash(r.parent_message_hash, None, before)
                parent = found[0] if found else None
        if parent is None and r.grandparent_message_hash:  # the request in between was not recorded
            found = self.lookup.by_message_hash(r.grandparent_message_hash, None, before)
            parent, kind = (found[0], "grandparent") if found else (None, kind)
        if parent is None:
            return LinkResult(own, BRANCH_MAIN)
        conv = parent.conversation_id or conversation_id_for(parent.request_id)
        branch = parent.branch_id or BRANCH_MAIN
        siblings = self.lookup.children(parent.request_id, before)
        same = next((s for s in siblings if s.message_hash == r.message_hash and not s.is_subtask), None)
        if same is not None:  # a retry (or duplicate) of an earlier child: the same place in the tree
            return LinkResult(
                same.conversation_id or conv,
                same.branch_id or branch,
                parent_request_id=parent.request_id,
                kind="retry",
            )
        if any(not s.is_subtask for s in siblings):
            return LinkResult(
                conv,
                self._fresh(conv, branch_id_at(r.ts_ms), before),
                parent_request_id=parent.request_id,
                kind="branch",
            )
        return LinkResult(conv, branch, parent_request_id=parent.request_id, kind=kind)


def _hex(v: Any) -> str | None:
    return v if isinstance(v, str) and len(v) == 64 else None


def pending_from_hashes(request_id: str, ts_ms: int, hashes: dict) -> PendingRequest:
    """A :class:`PendingRequest` from :func:`request_hashes`' result (values of the wrong type ignored)."""
    mc = hashes.get("message_count")
    return PendingRequest(
        request_id=request_id,
        ts_ms=ts_ms,
        message_hash=_hex(hashes.get("message_hash")),
        parent_message_hash=_hex(hashes.get("parent_message_hash")),
        grandparent_message_hash=_hex(hashes.get("grandparent_message_hash")),
        system_hash=_hex(hashes.get("system_hash")),
        message_count=mc if isinstance(mc, int) and not isinstance(mc, bool) else 0,
        is_summarization=hashes.get("is_summarization") is True,
        user_text_hash=_hex(hashes.get("user_text_hash")),
        compact_hash=_hex(hashes.get("compact_hash")),
    )


def iter_link_keys(hashes: dict, response: Any = None) -> Iterable[tuple[str, str, int]]:
    """All link-key rows of one request: those of its body and those of its response."""
    yield from hashes.get("link_keys") or ()
    if response is not None:
        yield from response_keys(response, is_summarization=bool(hashes.get("is_summarization")))
