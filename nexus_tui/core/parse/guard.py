"""Value guards shared by every parser: each value is checked for type and range where it is parsed, and a line
whose required value fails is skipped with a counted reason (docs/sources.md, "Validation and skip reasons").

* counts (tokens) are integers in ``0 .. MAX_TOKENS`` (2^31 - 1), and one response's total is at most ``MAX_TOKENS``
  too;
* sizes and lengths (bytes, characters) are integers in ``0 .. MAX_BYTES`` (2^31 - 1);
* durations (latencies) are in ``0 .. MAX_DURATION_MS``;
* times are real calendar instants from ``MIN_TIME_MS`` (1990-01-01) to before ``MAX_TIME_MS`` (2100-01-01) UTC
  (``core.events.ms_from_iso`` applies the same bounds), so no time or time minus a duration leaves the range the
  store's ISO text sorts in;
* JSON lines are decoded with orjson; only a line orjson rejects for its depth (over 1024 levels) or for a lone
  surrogate escape is decoded again by ``loads``'s slower iterative decoder (no recursion limit, lone surrogates
  replaced by U+FFFD), so the common path costs nothing more.

``guarded`` wraps a line parser so that nothing escapes it: a chunk whose parse raises is parsed again line by line,
from the state it started with, and only the lines that raise are skipped ("parser error (<exception type>)").
"""

from __future__ import annotations

import math
import re
from functools import wraps
from json.decoder import scanstring

import orjson

from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS  # noqa: F401 (re-exported: one rule for every time)

# The largest value every supported database's INTEGER column holds (PostgreSQL's is 32 bits): far above any real
# response (a few million tokens) or line, and stored the same on SQLite and PostgreSQL.
INT32_MAX = 2**31 - 1
MAX_TOKENS = INT32_MAX  # one token count, and the total of one response
MAX_BYTES = INT32_MAX  # a size or a length
MAX_DURATION_MS = 7 * 24 * 3600 * 1000  # a latency or duration: one week
SQL_INT_MIN, SQL_INT_MAX = -(2**63), 2**63 - 1
# the longest string stored (the writer cuts every string a record carries: a model, tool, project or error text of
# megabytes was stored whole, in every rollup keyed by it), and the longest key (an id; cut the same way everywhere
# it appears, so a record still finds its session)
MAX_TEXT_CHARS = 4000
from nexus_tui.core.redact import MAX_KEY_CHARS  # noqa: E402,F401 (declared there: the status line's
# redaction reads it without this module's imports)


_COUNTS = (0, MAX_TOKENS)
_SIZES = (0, MAX_BYTES)
_DURATIONS = (0, MAX_DURATION_MS)
MAX_COST_USD = 1e7  # one task's or one session's cost (a source's own figure; ours is bounded by the tokens)
# The range of each stored number, by column (every table), as the parsers guard it when they read it: what a value
# from anywhere else (``nexus-insights merge`` of another database, an older version's or one edited by hand) is
# held to before it is stored; out of it, the value is unknown (NULL). Times: MIN_TIME_MS .. MAX_TIME_MS.
STORED_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("tokens_in", "tokens_out", "cache_read_tokens", "cache_creation_tokens",
                     "cache_creation_5m_tokens", "cache_creation_1h_tokens", "thinking_tokens", "total_tokens",
                     "context_window_size"), _COUNTS),
    **dict.fromkeys(("cost_usd", "cloud_cost_equivalent", "reported_cost_usd"), (0.0, MAX_COST_USD)),
    **dict.fromkeys(("latency_ms", "ttfb_ms", "ttft_ms", "wait_ms", "p50_latency_ms", "p95_latency_ms",
                     "p99_latency_ms", "max_latency_ms"), _DURATIONS),
    **dict.fromkeys(("prompt_length", "response_length", "input_size", "output_size", "use_length", "result_length",
                     "request_bytes", "response_bytes", "message_count", "retries", "requests", "tool_calls",
                     "tool_errors", "lines_added", "lines_removed"), _SIZES),
    **dict.fromkeys(("use_offset", "result_offset"), (0, SQL_INT_MAX)),
    "quality_rating": (0, 1),  # 1 helpful, 0 not (no rating: NULL)
    "http_status": (100, 599),
    "context_used_pct": (0.0, 100.0),
    "thinking_share": (0.0, 1.0),
    "used_fraction": (0.0, 10.0),  # a quota window's use, over 100 % when exceeded (the status line: at most 1000 %)
    "tokens_per_second": (0.0, float(MAX_TOKENS)),
}


def in_stored_range(column: str, v):
    """``v`` when it is within ``column``'s stored range (``STORED_RANGES``; a column without one: as it is), else
    None."""
    bounds = STORED_RANGES.get(column)
    if bounds is None or v is None or isinstance(v, (str, bytes)):
        return v
    lo, hi = bounds
    return v if lo <= v <= hi else None


class BadValue(ValueError):
    """A value of the wrong type or out of range; the message names the field."""


def bounded_int(v: object, hi: int, lo: int = 0, *, strings: bool = False) -> int | None:
    """``v`` as an int in ``lo..hi``: an int, an integral finite float, or (``strings``) a decimal string; bools and
    anything else are None."""
    t = type(v)
    if t is int:
        return v if lo <= v <= hi else None
    if t is bool or v is None:
        return None
    if isinstance(v, int):
        return int(v) if lo <= v <= hi else None
    if isinstance(v, float):
        if not math.isfinite(v) or not v.is_integer():
            return None
        return int(v) if lo <= v <= hi else None
    if strings and isinstance(v, str):
        s = v.strip()
        if s.isdigit() and s.isascii() and len(s) <= 20:
            return bounded_int(int(s), hi, lo)
    return None


def bounded_float(v: object, hi: float, lo: float = 0.0) -> float | None:
    """``v`` as a finite float in ``lo..hi`` (int or float, not bool); None otherwise."""
    if type(v) is bool or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) and lo <= f <= hi else None


def count(v: object, *, strings: bool = False) -> int | None:
    return bounded_int(v, MAX_TOKENS, strings=strings)


def size(v: object, *, strings: bool = False) -> int | None:
    return bounded_int(v, MAX_BYTES, strings=strings)


def duration_ms(v: object) -> int | None:
    """A latency in ms (int or float, rounded down); None when absent, not a number or out of range."""
    f = bounded_float(v, MAX_DURATION_MS)
    return int(f) if f is not None else None


def time_ok(ms: object) -> bool:
    return type(ms) is int and MIN_TIME_MS <= ms < MAX_TIME_MS


def text(v: object) -> str | None:
    """A non-empty string, else None."""
    return v if isinstance(v, str) and v else None


def label(v: object, limit: int) -> str | None:
    """A short name from data (a model name): a string with its ends' whitespace trimmed, every character that is
    not printable (control characters, escapes) replaced by '?', cut to ``limit`` characters; None when ``v`` is not
    a string or nothing is left."""
    if not isinstance(v, str):
        return None
    s = v[:limit * 4].strip()[:limit]  # a huge value is cut before it is scanned
    if not s.isprintable():
        s = "".join(c if c.isprintable() else "?" for c in s)
    return s or None


def quoted(value, n: int) -> str:
    """``value`` (data: an unknown line type, a schema error quoting a bad value) as at most ``n`` characters of a
    skip reason. Secrets are redacted before the cut (core/redact.py): a key cut short is no longer a key's shape,
    and the reason is printed by ``ingest`` and kept in the ingest row of the audit trail."""
    from nexus_tui.core.redact import redact

    s = value if isinstance(value, str) else str(value)
    if len(s) > 4 * n + 200:  # a secret long enough to matter starts within the part shown
        s = s[: 4 * n + 200]
    return redact(s)[:n]


def require(value, field: str):
    """``value`` unless None, else BadValue naming the field (the line is skipped)."""
    if value is None:
        raise BadValue(f"{field}: wrong type or out of range")
    return value


# --- JSON ---------------------------------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_NUM = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LITERALS = (("true", True), ("false", False), ("null", None))


def _clean(s: str) -> str:
    return s if s.isascii() or not _SURROGATE.search(s) else _SURROGATE.sub("\ufffd", s)


def _key(s: str, pos: int) -> tuple[str, int]:
    if s.startswith('"', pos):
        key, pos = scanstring(s, pos + 1, True)
        pos = _WS.match(s, pos).end()
        if s.startswith(":", pos):
            return _clean(key), pos + 1
    raise ValueError(f"expected a key at {pos}")


def slow_loads(s: str):
    """Strict JSON (RFC 8259) decoded without recursion (any depth); lone surrogates become U+FFFD."""
    stack: list[list] = []  # [container, pending key]
    pos, n = 0, len(s)
    while True:
        pos = _WS.match(s, pos).end()
        if pos >= n:
            raise ValueError("unexpected end")
        c = s[pos]
        if c == "{" or c == "[":
            pos = _WS.match(s, pos + 1).end()
            if s.startswith("}" if c == "{" else "]", pos):
                val, pos = ({} if c == "{" else []), pos + 1
            elif c == "{":
                key, pos = _key(s, pos)
                stack.append([{}, key])
                continue
            else:
                stack.append([[], None])
                continue
        elif c == '"':
            val, pos = scanstring(s, pos + 1, True)
            val = _clean(val)
        else:
            m = _NUM.match(s, pos)
            if m is not None and m.end() > pos:
                tok = m.group(0)
                val = float(tok) if (m.group(1) or m.group(2)) else int(tok)
                if isinstance(val, float) and not math.isfinite(val):
                    raise ValueError("number out of range")
                pos = m.end()
            else:
                for word, lit in _LITERALS:
                    if s.startswith(word, pos):
                        val, pos = lit, pos + len(word)
                        break
                else:
                    raise ValueError(f"unexpected character at {pos}")
        while True:  # attach the value; close what it completes
            if not stack:
                if _WS.match(s, pos).end() != n:
                    raise ValueError("extra data")
                return val
            frame = stack[-1]
            cont = frame[0]
            if type(cont) is dict:
                cont[frame[1]] = val
            else:
                cont.append(val)
            pos = _WS.match(s, pos).end()
            ch = s[pos:pos + 1]
            if ch == ",":
                pos = _WS.match(s, pos + 1).end()
                if type(cont) is dict:
                    frame[1], pos = _key(s, pos)
                break
            if ch == ("}" if type(cont) is dict else "]"):
                pos += 1
                val = cont
                stack.pop()
                continue
            raise ValueError(f"expected ',' or a closing bracket at {pos}")


class Malformed(ValueError):
    pass


def loads(raw: bytes):
    """A JSON line: orjson, or for the valid JSON orjson refuses (deeper than 1024 levels, lone surrogate escapes)
    the iterative decoder. Raises Malformed for anything else."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        msg = str(e)
        if "depth" not in msg and "surrogate" not in msg and "recursion" not in msg:
            raise Malformed(msg) from None
    try:
        return slow_loads(raw.decode("utf-8") if isinstance(raw, (bytes, bytearray, memoryview)) else raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise Malformed(str(e)) from None


# --- never raising ------------------------------------------------------------------------------------------------

def _snapshot(args: tuple):
    """The dict arguments (parser state carried between passes) as JSON, to restore after a failed parse."""
    out = []
    for i, a in enumerate(args):
        if type(a) is dict:
            try:
                out.append((i, orjson.dumps(a, option=orjson.OPT_NON_STR_KEYS)))
            except (TypeError, orjson.JSONEncodeError):
                out.append((i, None))
    return out


def _restore(args: tuple, snap) -> None:
    for i, data in snap:
        state = args[i]
        if data is None:
            continue
        state.clear()
        state.update(orjson.loads(data))


def guarded(parse):
    """Wrap ``parse(chunk, base_offset, *args) -> Batch`` so that it never raises (see the module docstring)."""

    @wraps(parse)
    def run(chunk: bytes, base_offset: int, *args):
        snap = _snapshot(args)
        try:
            return parse(chunk, base_offset, *args)
        except Exception:  # noqa: BLE001 - a parser bug or a value no guard foresaw: isolate the line
            _restore(args, snap)
        from nexus_tui.core.events import Batch

        out = Batch()
        pos, n = 0, len(chunk)
        while pos < n:
            nl = chunk.find(b"\n", pos)
            end = n if nl < 0 else nl + 1
            line = chunk[pos:end]
            snap = _snapshot(args)
            try:
                out.extend(parse(line, base_offset + pos, *args))
            except Exception as e:  # noqa: BLE001
                _restore(args, snap)
                out.lines += 1
                out.skip(f"parser error ({type(e).__name__})")
            pos = end
        return out

    return run
