"""What the recording proxy reads from a request and its response (pure: no I/O).

- ``request_facts(body, headers)``: model, message count, stream flag, session (Claude Code's
  ``metadata.user_id`` ``…_session_<uuid>``, else ``x-nexus-session``, else a conversation key), client, retries.
- ``AnthropicStream`` / ``OpenAIStream``: fed the response bytes as they pass (SSE or one JSON body), they keep
  only what is recorded: ids, model, usage (Anthropic: ``message_start`` usage overlaid with the LAST
  ``message_delta`` usage, never summed; FORMATS.md section 5), stop reason, tool_use names and ids, the error,
  and for conversation linking the first text block and the ``Task`` tool uses (``link_content()``; a streamed
  block's deltas kept raw and parsed once at its end). The unparsed tail they hold is bounded (``MAX_PENDING``);
  past it they stop reading and say so.
- ``quota_from_headers(headers)``: every ``anthropic-ratelimit-*`` window present (FORMATS.md section 10).

Every value is type- and range-checked; anything malformed is dropped, never raised.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from datetime import datetime

import orjson

from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS
from nexus_tui.core.linking import TASK_TOOL_NAMES, StreamKeys
from nexus_tui.core.parse.guard import Malformed, loads, quoted

MAX_PENDING = 1 << 20  # unparsed bytes kept per response (an SSE event or a JSON body larger than this is not read)
MAX_JSON_BODY = 32 << 20  # a non-streamed body is copied for parsing up to this size
_MAX_TOKENS = 10_000_000_000
_DATA_LINES = re.compile(rb"\ndata:(.*(?:\ndata:.*)*)")  # an SSE event's data line(s) (not ^: a literal is found fast)
_SESSION_RE = re.compile(r"_session_([0-9A-Za-z][0-9A-Za-z-]{7,63})$")


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _MAX_TOKENS else None


def _digits(v) -> bool:
    """ASCII digits only ('¹' and other Unicode digits are not numbers int() reads)."""
    return isinstance(v, str) and v.isascii() and v.isdigit()


def _str(v, limit: int = 200) -> str | None:
    return v[:limit] if isinstance(v, str) and v else None


def _text(v, limit: int = 200) -> str | None:
    """Free text from a header or an error (a user agent, a persona, an error message, a quota header's value):
    ``_str`` with secrets redacted before the cut (core/redact.py), so no key cut short loses the shape that
    redaction finds and leaves a fragment."""
    if not isinstance(v, str) or not v:
        return None
    return quoted(v, limit)


# ------------------------------------------------------------------ request
def session_of(body: dict, header_session: str | None) -> tuple[str | None, str]:
    """(session id, where it came from: 'claude-code' | 'header' | 'conversation')."""
    meta = body.get("metadata")
    uid = meta.get("user_id") if isinstance(meta, dict) else None
    if isinstance(uid, str) and uid:
        m = _SESSION_RE.search(uid)
        if m:
            return m.group(1), "claude-code"
        if uid.startswith("{"):  # some versions send a JSON object as the user id
            try:
                obj = orjson.loads(uid)
            except orjson.JSONDecodeError:
                obj = None
            sid = obj.get("session_id") if isinstance(obj, dict) else None
            if isinstance(sid, str) and 0 < len(sid) <= 200:
                return sid, "claude-code"
    if header_session and len(header_session) <= 200:
        return header_session, "header"
    return None, "conversation"


def conversation_key(body: dict) -> str:
    """A stable id for a conversation before linking: the hash of its system prompt and first message."""
    msgs = body.get("messages")
    first = msgs[0] if isinstance(msgs, list) and msgs else None
    try:
        data = orjson.dumps([body.get("system"), first], option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # nested past orjson's 254 levels: its first levels (stable too); it cost the whole event's
        data = orjson.dumps([_shallow(body.get("system")), _shallow(first)], option=orjson.OPT_SORT_KEYS,
                            default=str)  # facts (user agent, persona, model)
    return f"px-conv-{hashlib.sha256(data).hexdigest()[:24]}"


def _shallow(v, depth: int = 64):
    """``v`` with what is nested deeper than ``depth`` levels replaced by a mark."""
    if isinstance(v, dict):
        return {str(k): _shallow(x, depth - 1) for k, x in v.items()} if depth else "\u2026"
    if isinstance(v, list):
        return [_shallow(x, depth - 1) for x in v] if depth else "\u2026"
    return v


def request_facts(body: object, headers) -> dict:
    """What the request says about itself (``headers``: a case-insensitive mapping)."""
    b = body if isinstance(body, dict) else {}
    msgs = b.get("messages")
    sid, how = session_of(b, _str(headers.get("x-nexus-session")))
    retries = headers.get("x-stainless-retry-count")
    return {
        "model": _str(b.get("model")),
        "message_count": len(msgs) if isinstance(msgs, list) else None,
        "stream": b.get("stream") is True,
        "session_id": sid or conversation_key(b),
        "session_from": how,
        "client": _text(headers.get("user-agent"), 300),
        "retries": int(retries) if _digits(retries) and len(retries) < 6 else None,
        "persona": _text(headers.get("x-nexus-persona")),
        "routing_reason": _text(headers.get("x-nexus-routing-reason")),
        "classifier_version": _text(headers.get("x-nexus-classifier-version")),
    }


# ------------------------------------------------------------------ response
class _Decoder:
    """Content-Encoding gzip/deflate undone on the copy that is parsed (the client gets the bytes as sent)."""

    def __init__(self, encoding: str):
        enc = (encoding or "").strip().lower()
        self.ok = enc in ("", "identity", "gzip", "x-gzip", "deflate")
        self._z = zlib.decompressobj(wbits=47) if enc in ("gzip", "x-gzip", "deflate") else None

    def __call__(self, data: bytes) -> bytes:
        if self._z is None:
            return data
        try:
            return self._z.decompress(data, MAX_PENDING)
        except zlib.error:
            self.ok = False
            return b""


class _Stream:
    """Common part: bytes in (SSE events or one JSON body), a bounded unparsed tail, the facts out."""

    def __init__(self, content_type: str = "", content_encoding: str = ""):
        ct = (content_type or "").split(";")[0].strip().lower()
        self.sse = ct == "text/event-stream"
        self.json_body = ct in ("application/json", "") or ct.endswith("+json")
        self._decode = _Decoder(content_encoding)
        self._pending = bytearray()
        self._held = bytearray()  # bytes after the first token not read yet (HOLD)
        self.overflow = False  # a part too large to read: usage may be missing
        self.first_token = False  # set once the first content token was seen (the caller times it)
        self.model: str | None = None
        self.message_id: str | None = None
        self.stop_reason: str | None = None
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.tools: list[dict] = []
        self.usage: dict = {}
        # conversation linking (core/linking.py): the first text block and the Task tool uses' inputs, fed to
        # StreamKeys (a plain body's blocks kept as they are)
        self.link = StreamKeys(max_text=MAX_PENDING, max_json=MAX_PENDING)
        self._link_body: list[dict] | None = None
        self._first_text = False
        self._capturing: dict[int, list] = {}  # index -> [partial data lines, size] of a block linking reads

    def _open_capture(self) -> list | None:
        """The block linking reads that deltas go to now (the first open one), or None."""
        return next(iter(self._capturing.values())) if self._capturing else None

    def _give_up(self, cap: list) -> None:
        self._capturing = {k: v for k, v in self._capturing.items() if v is not cap}

    # SSE events whose data is not needed: only their name is looked at (most of a stream is content deltas)
    _SKIP = (b"event: content_block_delta\n", b"event: ping\n", b"event: message_stop\n")
    _DELTA = b"event: content_block_delta\n"

    def _run(self, parts: list[bytes], a: int, b: int) -> None:
        """Events ``parts[a:b]``: content deltas (and pings, message_stop): the first token seen, and the deltas kept
        raw for the block linking reads, if one is open (parsed in one call at its end: ``_link_block``)."""
        if not self.first_token:
            self.first_token = any(raw.startswith(self._DELTA) for raw in parts[a:b])
        cap = self._open_capture()
        if cap is not None:
            run = parts[a:b]
            cap[0].extend(run)
            cap[1] += sum(map(len, run))
            if cap[1] > MAX_PENDING:
                self._give_up(cap)

    # Once the first token was seen the caller needs nothing until ``finish``: the rest of an uncompressed stream is
    # read in runs of this many bytes, not a piece at a time (a paced stream is one piece per event); small, as what
    # is held when the stream ends is read before the response's last bytes go to the client
    HOLD = 4096
    # an event that says the stream is about to end (None: none known): what is held is read as soon as it comes, one
    # event before the last, so the response's end finds nothing left to read (a paced stream reads it in the pause
    # before its last event rather than before its last bytes go); found only within one piece, which is enough, as
    # missing it only leaves the reading to ``finish``
    END_SOON: bytes | None = None

    def feed(self, data: bytes) -> None:
        if self.first_token and self._decode._z is None:
            self._held += data
            if len(self._held) < self.HOLD and (self.END_SOON is None or self.END_SOON not in data):
                return
            data, self._held = bytes(self._held), bytearray()
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        if self.overflow or not self._decode.ok or not data:
            return
        data = self._decode(data)
        if self.sse:
            buf = bytes(self._pending) + data if self._pending else data
            if b"\r" in buf:  # CRLF lines (a lone CR at the end waits for its LF in the next chunk)
                buf = buf.replace(b"\r\n", b"\n")
            parts = buf.split(b"\n\n")
            self._pending = bytearray(parts[-1])
            parts = parts[:-1]
            skip = self._SKIP
            # the events read one by one: all but content deltas, pings and message_stop, whose data is not needed
            # (a content_block_stop only matters while a block linking reads is open); the runs of those
            # between them are handled in bulk
            need = [i for i, raw in enumerate(parts) if raw and not raw.startswith(skip)]
            prev = 0
            for i in need:
                if i > prev:
                    self._run(parts, prev, i)
                self._event(parts[i])
                prev = i + 1
            if prev < len(parts):
                self._run(parts, prev, len(parts))
            if len(self._pending) > MAX_PENDING:
                self.overflow = True
                self._pending.clear()
        elif self.json_body:
            if len(self._pending) + len(data) > MAX_JSON_BODY:
                self.overflow = True
                self._pending.clear()
                return
            self._pending += data

    def finish(self) -> None:
        """The body ended: parse a JSON body, or an SSE event left without its blank line."""
        if self._held:
            data, self._held = bytes(self._held), bytearray()
            self._feed(data)
        if self.overflow or not self._decode.ok:
            return
        if self.sse:
            if self._pending.strip():
                self._event(bytes(self._pending))
        elif self.json_body and self._pending:
            try:  # (a lone surrogate escape in the text, a local server's token cut inside a character, too)
                obj = loads(bytes(self._pending))
            except Malformed:
                obj = None
            if isinstance(obj, dict):
                self._body(obj)
        self._pending.clear()

    def _event(self, raw: bytes) -> None:
        data = [ln[5:].lstrip() for ln in raw.split(b"\n") if ln.startswith(b"data:")]
        if not data:
            return
        payload = b"\n".join(data)
        if payload.strip() == b"[DONE]":
            return
        try:
            obj = loads(payload)
        except Malformed:
            return
        if isinstance(obj, dict):
            self._chunk(obj)

    def _chunk(self, obj: dict) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def _body(self, obj: dict) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def _error(self, err) -> None:
        if isinstance(err, dict):
            self.error_type = _text(err.get("type"), 100) or _text(err.get("code"), 100) or self.error_type
            self.error_message = _text(err.get("message"), 2000) or self.error_message


class AnthropicStream(_Stream):
    """A Messages API response (streamed or not)."""

    END_SOON = b"event: message_delta"  # then only message_stop follows

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._start_usage: dict = {}
        self._delta_usage: dict = {}

    def _chunk(self, ev: dict) -> None:
        typ = ev.get("type")
        if typ == "content_block_delta":
            self.first_token = True
            if self._capturing:  # an event without its `event:` line
                self._capture_delta(b"data: " + orjson.dumps(ev))
        elif typ == "content_block_stop":
            idx = ev.get("index")
            cap = self._capturing.pop(idx, None) if isinstance(idx, int) else None
            if cap is not None:
                self._link_block(idx, cap[0])
        elif typ == "message_start":
            m = ev.get("message")
            if isinstance(m, dict):
                self.message_id = _str(m.get("id"))
                self.model = _str(m.get("model"))
                if isinstance(m.get("usage"), dict):
                    self._start_usage = m["usage"]
                    self.usage = _anthropic_usage({**self._start_usage, **self._delta_usage})
        elif typ == "content_block_start":
            cb = ev.get("content_block")
            idx = ev.get("index")
            if isinstance(cb, dict) and cb.get("type") in ("tool_use", "server_tool_use", "mcp_tool_use"):
                self._tool(cb)
                if cb.get("type") == "tool_use" and _is_task(cb) and isinstance(idx, int) \
                        and not isinstance(idx, bool) and len(self._capturing) < 64:
                    self.link.feed(ev)
                    self._capturing[idx] = [[], 0]
            elif isinstance(cb, dict) and cb.get("type") == "text" and not self._first_text and isinstance(idx, int) \
                    and not isinstance(idx, bool):
                self._first_text = True
                self.link.feed(ev)
                self._capturing[idx] = [[], 0]
            if isinstance(cb, dict) and isinstance(cb.get("text"), str) and cb["text"]:
                self.first_token = True
        elif typ == "message_delta":
            d = ev.get("delta")
            if isinstance(d, dict) and _str(d.get("stop_reason")):
                self.stop_reason = _str(d.get("stop_reason"))
            if isinstance(ev.get("usage"), dict):
                self._delta_usage = ev["usage"]  # cumulative: the last one wins
                self.usage = _anthropic_usage({**self._start_usage, **self._delta_usage})
        elif typ == "error":
            self._error(ev.get("error"))

    def _tool(self, cb: dict) -> None:
        tid, name = _str(cb.get("id")), _str(cb.get("name"))
        if tid and name and len(self.tools) < 1000:
            self.tools.append({"id": tid, "name": name})

    def _capture_delta(self, raw: bytes) -> None:
        """Keep a content delta event (raw) while a block linking reads is open (blocks do not interleave in a
        stream, so deltas of another index are dropped when the block is read). Past MAX_PENDING the block is
        given up (linking then has no key from it). ``feed`` does the same inline."""
        cap = self._open_capture()
        if cap is not None:
            cap[0].append(raw)
            cap[1] += len(raw)
            if cap[1] > MAX_PENDING:
                self._give_up(cap)

    def _link_block(self, index: int, raws: list[bytes]) -> None:
        """A block's delta events, parsed in one call, handed to StreamKeys as one delta (its text or input
        JSON)."""
        payloads = _DATA_LINES.findall(b"\n" + b"\n\n".join(raws))  # each event's data lines
        if b"\ndata:" in b"".join(payloads):  # an event's data on several lines: joined as _event joins them
            payloads = [p.replace(b"\ndata:", b"\n") for p in payloads]
        try:
            events = orjson.loads(b"[" + b",".join(payloads) + b"]") if payloads else []
        except orjson.JSONDecodeError:
            return
        ds = [d for e in events if type(e) is dict and e.get("index") == index and type(d := e.get("delta")) is dict]
        text = [t for d in ds if d.get("type") == "text_delta" and type(t := d.get("text")) is str]
        js = [t for d in ds if d.get("type") == "input_json_delta" and type(t := d.get("partial_json")) is str]
        if text:
            self.link.feed({"type": "content_block_delta", "index": index,
                            "delta": {"type": "text_delta", "text": "".join(text)}})
        if js:
            self.link.feed({"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": "".join(js)}})

    def link_content(self) -> list[dict]:
        """What conversation linking reads of the response (core.linking.response_keys' input): the first text
        block and the Task tool uses."""
        return self._link_body if self._link_body is not None else self.link.content()

    def _body(self, obj: dict) -> None:
        if obj.get("type") == "error":
            self._error(obj.get("error"))
            return
        self.message_id = _str(obj.get("id"))
        self.model = _str(obj.get("model"))
        self.stop_reason = _str(obj.get("stop_reason"))
        if isinstance(obj.get("content"), list):
            keep, first = [], True
            for cb in obj["content"]:
                if isinstance(cb, dict) and cb.get("type") in ("tool_use", "server_tool_use", "mcp_tool_use"):
                    self._tool(cb)
                    if cb.get("type") == "tool_use" and _is_task(cb):
                        keep.append(cb)
                elif isinstance(cb, dict) and cb.get("type") == "text" and first:
                    first = False
                    keep.append(cb)
            self._link_body = keep
        if isinstance(obj.get("usage"), dict):
            self.usage = _anthropic_usage(obj["usage"])
        elif isinstance(obj.get("input_tokens"), int):  # count_tokens answers {"input_tokens": n}
            self.usage = {}


def _is_task(block: dict) -> bool:
    """A tool use of Claude Code's sub-agent tool (its prompt links the sub-task: core/linking.py)."""
    name = block.get("name")
    return isinstance(name, str) and name in TASK_TOOL_NAMES


def _anthropic_usage(u: dict) -> dict:
    out = {"tokens_in": _int(u.get("input_tokens")), "tokens_out": _int(u.get("output_tokens")),
           "cache_read_tokens": _int(u.get("cache_read_input_tokens")),
           "cache_creation_tokens": _int(u.get("cache_creation_input_tokens")),
           "service_tier": _str(u.get("service_tier"), 50)}
    split = u.get("cache_creation")
    if isinstance(split, dict):
        c5, c1 = _int(split.get("ephemeral_5m_input_tokens")), _int(split.get("ephemeral_1h_input_tokens"))
        if c5 is not None or c1 is not None:
            out["cache_creation_5m_tokens"], out["cache_creation_1h_tokens"] = c5 or 0, c1 or 0
    return {k: v for k, v in out.items() if v is not None}


class OpenAIStream(_Stream):
    """A chat.completions response (streamed or not). prompt_tokens includes cached tokens: split here."""

    def _chunk(self, obj: dict) -> None:
        if "error" in obj:
            self._error(obj.get("error"))
            return
        self.message_id = self.message_id or _str(obj.get("id"))
        self.model = self.model or _str(obj.get("model"))
        choices = obj.get("choices")
        for ch in choices if isinstance(choices, list) else ():
            if not isinstance(ch, dict):
                continue
            d = ch.get("delta") if isinstance(ch.get("delta"), dict) else ch.get("message")
            if isinstance(d, dict):
                if d.get("content") or d.get("reasoning_content"):
                    self.first_token = True
                calls = d.get("tool_calls")
                for tc in calls if isinstance(calls, list) else ():
                    if isinstance(tc, dict) and _str(tc.get("id")):
                        fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
                        self.first_token = True
                        if len(self.tools) < 1000:
                            self.tools.append({"id": _str(tc["id"]), "name": _str(fn.get("name")) or "function"})
            if _str(ch.get("finish_reason")):
                self.stop_reason = _str(ch.get("finish_reason"))
        if isinstance(obj.get("usage"), dict):
            u = obj["usage"]
            prompt, out = _int(u.get("prompt_tokens")), _int(u.get("completion_tokens"))
            det = u.get("prompt_tokens_details") if isinstance(u.get("prompt_tokens_details"), dict) else {}
            cached = _int(det.get("cached_tokens")) or 0
            if prompt is not None:
                self.usage = {"tokens_in": max(0, prompt - cached), "tokens_out": out or 0,
                              "cache_read_tokens": min(cached, prompt), "cache_creation_tokens": 0}

    def _body(self, obj: dict) -> None:
        self._chunk(obj)


# ------------------------------------------------------------------ quota
_UNIFIED_WIN = re.compile(r"^anthropic-ratelimit-unified-([a-z0-9_]{1,60})-(utilization|reset|status)$")
_API_WIN = re.compile(r"^anthropic-ratelimit-(requests|tokens|input-tokens|output-tokens)-(limit|remaining|reset)$")


def _fraction(v: str | None) -> float | None:
    try:
        f = float(v) if v is not None else None
    except ValueError:
        return None
    return f if f is not None and 0.0 <= f <= 1.0 else None


def _epoch_ms(v: str | None) -> int | None:
    """Epoch seconds (unified headers) or RFC 3339 (API-key headers) to epoch ms; None unless a valid time
    (core.events.MIN/MAX_TIME_MS)."""
    if not v:
        return None
    v = v.strip()
    if _digits(v) and len(v) <= 12:
        ms = int(v) * 1000
    else:
        try:
            dt = datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith(("Z", "z")) else v)
        except ValueError:
            return None
        if dt.tzinfo is None:
            return None
        try:
            ms = int(dt.timestamp() * 1000)
        except (OverflowError, OSError, ValueError):
            return None
    return ms if MIN_TIME_MS <= ms < MAX_TIME_MS else None


def quota_from_headers(headers) -> list[dict]:
    """One snapshot per window the headers carry: {window, used_fraction, resets_at_ms, status, raw}."""
    h = {k.lower(): _text(v) or "" for k, v in headers.items() if k.lower().startswith("anthropic-ratelimit-")}
    if not h:
        return []
    out: dict[str, dict] = {}
    if any(k in h for k in ("anthropic-ratelimit-unified-status", "anthropic-ratelimit-unified-reset")):
        raw = {k: v for k, v in h.items() if not _UNIFIED_WIN.match(k)}
        status = h.get("anthropic-ratelimit-unified-status")
        out["unified"] = {"window": "unified", "used_fraction": None,
                          "resets_at_ms": _epoch_ms(h.get("anthropic-ratelimit-unified-reset")),
                          "status": _text(status, 40), "raw": raw}
    for k, v in h.items():
        m = _UNIFIED_WIN.match(k)
        if not m:
            continue
        w = out.setdefault(m.group(1), {"window": m.group(1), "used_fraction": None, "resets_at_ms": None,
                                        "status": None, "raw": {}})
        w["raw"][k] = v
        if m.group(2) == "utilization":
            w["used_fraction"] = _fraction(v)
        elif m.group(2) == "reset":
            w["resets_at_ms"] = _epoch_ms(v)
        else:
            w["status"] = _text(v, 40)
    api: dict[str, dict] = {}
    for k, v in h.items():
        m = _API_WIN.match(k)
        if m:
            api.setdefault(m.group(1), {})[m.group(2)] = v
    for name, parts in api.items():
        lim, rem = parts.get("limit"), parts.get("remaining")
        used = None
        if _digits(lim) and _digits(rem) and len(lim) < 19 and int(lim) > 0 and int(rem) <= int(lim):
            used = 1.0 - int(rem) / int(lim)
        out[name] = {"window": name, "used_fraction": used, "resets_at_ms": _epoch_ms(parts.get("reset")),
                     "status": None, "raw": {f"anthropic-ratelimit-{name}-{p}": v for p, v in parts.items()}}
    return list(out.values())
