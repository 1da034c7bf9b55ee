"""OpenTelemetry logs (OTLP, decoded to the JSON mapping) from Claude Code and Gemini CLI -> records.

Attribute values arrive as stringValue, intValue (a JSON number, or a string in protobuf-to-JSON), doubleValue or
boolValue: every number is coerced. Claude Code events carry a bare ``event.name`` (``api_request``); Gemini CLI's are
fully qualified (``gemini_cli.api_response``). A Claude Code ``api_request`` is keyed by its ``request_id``, the same key
as the transcript's task, so a request seen both ways is one task. Gemini's ``input_token_count`` includes cached
tokens: tokens_in = input - cached (our tokens_in is uncached input).
"""

from __future__ import annotations

import hashlib

from nexus_tui.core.events import (SOURCE_OTEL, Batch, ErrorRec, SessionRec, TaskRec, ToolResultRec, ms_from_iso)
from nexus_tui.core.parse.claude_code import classify_tool_error, mcp_server_of
from nexus_tui.core.parse.guard import MAX_TOKENS, BadValue, duration_ms, quoted, time_ok
from nexus_tui.core.pricing import price

_MAX = MAX_TOKENS
_MAX_DEPTH = 16  # nested arrayValue / kvlistValue levels read


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def _list(v) -> list:
    return v if isinstance(v, list) else []


class _Invalid:
    """A value that is there but is not a valid OTLP AnyValue (``{"intValue": "x"}``, ``{"stringValue": 5}``, a bare
    list): unlike an absent or empty value (None), a count holding one rejects its record instead of counting 0."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<invalid>"


INVALID = _Invalid()
_SCALAR_TYPES = {"stringValue": (str,), "boolValue": (bool,), "intValue": (int,), "doubleValue": (int, float)}


def attr_value(v, depth: int = 0):
    """The Python value of an OTLP AnyValue: None when absent or empty (``{}``), ``INVALID`` when it is not one
    (a string, number or list where the AnyValue object goes, a scalar of the wrong type, an ``intValue`` string
    that is not an integer). Not a str, bool or number: every check of a value's type refuses it."""
    if v is None:
        return None
    if not isinstance(v, dict) or depth > _MAX_DEPTH:
        return INVALID
    for k in ("stringValue", "boolValue", "intValue", "doubleValue"):
        if k in v:
            x = v[k]
            if k == "intValue" and isinstance(x, str):
                return int(x) if len(x) <= 21 and x.lstrip("-").isdigit() and x.isascii() else INVALID
            if k == "doubleValue" and isinstance(x, str) and x in ("NaN", "Infinity", "-Infinity"):
                return INVALID  # protobuf JSON's non-finite doubles: no count, cost or duration
            if isinstance(x, bool) and k != "boolValue":
                return INVALID
            return x if isinstance(x, _SCALAR_TYPES[k]) else INVALID
    if "arrayValue" in v:
        return [attr_value(x, depth + 1) for x in _list(_dict(v["arrayValue"]).get("values"))]
    if "kvlistValue" in v:
        return {a["key"]: attr_value(a.get("value"), depth + 1) for a in _list(_dict(v["kvlistValue"]).get("values"))
                if isinstance(a, dict) and isinstance(a.get("key"), str)}
    # bytesValue (protobuf bytes, base64 in JSON) or a kind OTLP does not have: there, but no value of ours (a
    # token count of bytes was read as absent: 0)
    return INVALID if v else None


def attrs(items) -> dict:
    out = {}
    for a in _list(items):
        if isinstance(a, dict) and isinstance(a.get("key"), str):
            out[a["key"]] = attr_value(a.get("value"))
    return out


def num(v) -> int | None:
    """A count from a string, int or double; None when absent or not a sane number."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return int(v) if 0 <= v <= _MAX else None
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return None
        return int(f) if 0 <= f <= _MAX else None
    return None


class Rejected(ValueError):
    """An event that is refused, with a fixed reason (no data in it: reasons are counted by their text)."""


def count(a: dict, key: str) -> int:
    """A token count attribute: 0 when absent; a negative or non-numeric one rejects the event (never stored as 0)."""
    v = a.get(key)
    if v is None:
        return 0
    n = num(v)
    if n is None:
        raise Rejected(f"{key} is negative or not a count")
    return n


def reported_cost(a: dict) -> float | None:
    """The source's own cost of a request (Claude Code's ``cost_usd``, or ``cost_usd_micros``); None if absent or not
    a sane amount."""
    v = a.get("cost_usd")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            v = None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e6:
        return float(v)
    m = num(a.get("cost_usd_micros"))
    return m / 1e6 if m is not None else None


def _fingerprint(a: dict) -> str:
    """The attributes as one string: two events that differ in anything differ here; a resent event does not."""
    return repr(sorted((str(k), repr(v)) for k, v in a.items()))


def boolean(v) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


def _ts(rec: dict, a: dict) -> int | None:
    """The record's time (epoch ms), or None when it has none in the valid range (core.events.MIN/MAX_TIME_MS)."""
    t = ms_from_iso(a.get("event.timestamp"))
    if t is not None:
        return t
    nano = rec.get("timeUnixNano")
    if isinstance(nano, str) and nano.isdigit() and nano.isascii() and len(nano) <= 21:
        nano = int(nano)
    if type(nano) is float and nano.is_integer():
        nano = int(nano)
    if type(nano) is int:
        ms = nano // 1_000_000
        return ms if time_ok(ms) else None
    return None


def _duration(a: dict) -> int | None:
    """duration_ms: None when absent; out of range (or not a number) raises (the record is skipped)."""
    v = a.get("duration_ms")
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise BadValue("duration_ms: not a number") from None
    got = duration_ms(v)
    if got is None:
        raise BadValue("duration_ms: out of range")
    return got


def _text(v, n: int = 500) -> str | None:
    return v[:n] if isinstance(v, str) and v else None


def _hid(*parts) -> str:
    return hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=10).hexdigest()


def parse_logs(payload: dict) -> Batch:
    """An ExportLogsServiceRequest as JSON -> Batch. Unknown events are counted as ignored, bad ones as skipped.
    Never raises: every record is checked on its own (core/parse/guard.py's bounds)."""
    try:
        return _parse_logs(payload)
    except Exception as e:  # noqa: BLE001 - a shape no check foresaw: the request is rejected, counted
        b = Batch()
        b.skip(f"invalid OTLP logs request ({type(e).__name__})")
        return b


def _parse_logs(payload: dict) -> Batch:
    b = Batch()
    if not isinstance(payload, dict) or not isinstance(payload.get("resourceLogs", []), list):
        b.skip("not an OTLP logs request")
        return b
    for rl in payload.get("resourceLogs") or []:
        if not isinstance(rl, dict):
            b.skip("bad resourceLogs entry")
            continue
        res = attrs(_dict(rl.get("resource")).get("attributes"))
        service = res.get("service.name") if isinstance(res.get("service.name"), str) else ""
        for sl in _list(rl.get("scopeLogs")):
            for rec in _list(_dict(sl).get("logRecords")):
                b.lines += 1
                if not isinstance(rec, dict):
                    b.skip("bad log record")
                    continue
                a = attrs(rec.get("attributes"))
                name = a.get("event.name")
                if not isinstance(name, str):
                    body = attr_value(rec.get("body"))
                    name = body if isinstance(body, str) else None
                if not name:
                    b.skip("log record without event.name")
                    continue
                ts = _ts(rec, a)
                if ts is None:
                    b.skip("log record without a time")
                    continue
                n_before = (len(b.tasks), len(b.tool_results), len(b.errors))
                try:
                    _event(b, name.removeprefix("claude_code."), a, ts, service)
                except (Rejected, BadValue) as e:  # a refused value: the whole record goes, with a fixed reason
                    del b.tasks[n_before[0]:], b.tool_results[n_before[1]:], b.errors[n_before[2]:]
                    b.skip(f"invalid {quoted(name, 60)} event: {e}")
                except Exception as e:  # noqa: BLE001 - one record never costs the request
                    # nothing of a rejected record is kept but its session's activity
                    del b.tasks[n_before[0]:], b.tool_results[n_before[1]:], b.errors[n_before[2]:]
                    b.skip(f"invalid {quoted(name, 60)} event ({type(e).__name__})")
    return b


def _event(b: Batch, name: str, a: dict, ts: int, service: str) -> None:
    sid = a.get("session.id")
    if not isinstance(sid, str) or not sid:
        b.skip("event without session.id")
        return
    gemini = name.startswith("gemini_cli.") or service.startswith("gemini")
    cli = "gemini-cli" if gemini else "claude-code"
    b.sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts, cli_tool=cli))
    if name == "api_request":
        model = a.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("no model")
        tin, tout = count(a, "input_tokens"), count(a, "output_tokens")
        cread, cwrite = count(a, "cache_read_tokens"), count(a, "cache_creation_tokens")
        if tin + tout + cread + cwrite > _MAX:
            raise BadValue("tokens: the response's total is out of range")
        dur = _duration(a)
        rid = a.get("request_id")
        tid = rid if isinstance(rid, str) and rid else f"otel:{_hid(sid, model, ts, tin, tout)}"
        cost, priced = price(model, ts, tokens_in=tin, tokens_out=tout, cache_read=cread, cache_write=cwrite)
        b.tasks.append(TaskRec(
            id=tid, session_id=sid, ts_ms=ts - (dur or 0), end_ms=ts, source=SOURCE_OTEL, model=model, routing="cloud",
            tokens_in=tin, tokens_out=tout, cache_read_tokens=cread, cache_creation_tokens=cwrite, latency_ms=dur,
            cost_usd=cost, cloud_cost_equivalent=cost, reported_cost_usd=reported_cost(a),
            request_id=rid if isinstance(rid, str) else None, cli_tool=cli,
            priced_as=priced, speed=a.get("speed") if isinstance(a.get("speed"), str) else None,
            agent_id=a.get("agent.name") if isinstance(a.get("agent.name"), str) else None))
    elif name == "gemini_cli.api_response":
        model = a.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("no model")
        total_in = count(a, "input_token_count")
        cached = count(a, "cached_content_token_count")
        tin, tout = max(0, total_in - cached), count(a, "output_token_count")
        thoughts = count(a, "thoughts_token_count") if a.get("thoughts_token_count") is not None else None
        if tin + tout + cached + (thoughts or 0) > _MAX:
            raise BadValue("tokens: the response's total is out of range")
        dur = _duration(a)
        cost, priced = price(model, ts, tokens_in=tin, tokens_out=tout + (thoughts or 0), cache_read=cached)
        tid = f"gem:{_hid(sid, a.get('prompt_id'), model, ts)}"
        status = num(a.get("status_code"))
        b.tasks.append(TaskRec(
            id=tid, session_id=sid, ts_ms=ts - (dur or 0), end_ms=ts, source=SOURCE_OTEL, model=model, routing="cloud",
            tokens_in=tin, tokens_out=tout, cache_read_tokens=cached, thinking_tokens=thoughts, latency_ms=dur,
            cost_usd=cost, cloud_cost_equivalent=cost, cli_tool=cli, priced_as=priced,
            status="error" if status and status >= 400 else "ok"))
    elif name in ("api_error", "gemini_cli.api_error"):
        msg = _text(a.get("error")) or _text(a.get("error.message")) or "API error"
        kind = a.get("status_code") or a.get("error_type")
        kind = str(kind)[:100] if isinstance(kind, (str, int, float)) and not isinstance(kind, bool) else "api_error"
        b.errors.append(ErrorRec(id=f"otel-api:{_hid(sid, ts, msg)}", ts_ms=ts, component="api",
                                 kind=kind or "api_error", message=msg, session_id=sid))
    elif name in ("tool_result", "gemini_cli.tool_call"):
        tool = a.get("tool_name")
        if not isinstance(tool, str) or not tool:  # absent, empty or not a valid value: Gemini CLI's name
            tool = a.get("function_name")
        if not isinstance(tool, str) or not tool:
            raise ValueError("no tool name")
        ok = boolean(a.get("success"))
        dur = _duration(a)
        err = a.get("error") if isinstance(a.get("error"), str) else None
        # without a tool_use_id the key is every attribute (event.sequence included): two calls of one tool in one
        # millisecond stay two, a resent event stays one
        cid = a.get("tool_use_id") if isinstance(a.get("tool_use_id"), str) and a.get("tool_use_id") else \
            f"otel-tool:{_hid(sid, tool, ts, _fingerprint(a))}"
        server = a.get("mcp_server_name") if isinstance(a.get("mcp_server_name"), str) else mcp_server_of(tool)
        etype = None if ok is not False else (a.get("error_type") if isinstance(a.get("error_type"), str)
                                              else classify_tool_error(err or ""))
        b.tool_results.append(ToolResultRec(
            id=cid, session_id=sid, ended_ms=ts, success=ok if ok is not None else True, error_type=etype,
            error_message=(err or "")[:500] if ok is False else None, latency_ms=dur, tool_name=tool,
            started_ms=ts - (dur or 0), mcp_server=server, source=SOURCE_OTEL,
            output_size=num(a.get("tool_result_size_bytes"))))
        if ok is False:
            b.errors.append(ErrorRec(id=f"tool:{cid}", ts_ms=ts, component="tool", kind=etype or "error",
                                     message=(err or "tool call failed")[:500], session_id=sid))
    # user_prompt, tool_decision and the others only mark the session's activity (done above)


def count_metric_points(payload: dict) -> int:
    """Data points in an ExportMetricsServiceRequest (accepted and counted; not stored, see docs/sources.md)."""
    n = 0
    for rm in _list(_dict(payload).get("resourceMetrics")):
        for sm in _list(_dict(rm).get("scopeMetrics")):
            for m in _list(_dict(sm).get("metrics")):
                for kind in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
                    n += len(_list(_dict(_dict(m).get(kind)).get("dataPoints")))
    return n
