"""The nexus event log (version 1, docs/events.md) -> records. Every event is validated against the JSON Schema
(nexus_tui/schemas/events.v1.json); invalid events are counted with the reason, never fatal."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from nexus_tui.core.events import (SOURCE_MCP, SOURCE_PROXY, Batch, ErrorRec, RatingRec, RoutingDecisionRec, SessionRec, TaskRec,
                                   ToolResultRec, ToolUseRec, ms_from_iso)
from nexus_tui.core.parse.guard import (MAX_TOKENS, bounded_float, bounded_int, count, duration_ms, guarded, label,
                                        quoted, size)
from nexus_tui.core.parse.lines import json_lines
from nexus_tui.core.pricing import price
from nexus_tui.core.quota import reset_ms  # a reset time is believed by one rule, here and when read

PREFIX = "nx:"  # task ids of this source (a rating may name one without the prefix)


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("nexus_tui").joinpath("schemas/events.v1.json").read_text())


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def invalid_reason(event) -> str | None:
    """None for a valid version-1 event, else a short reason (the first schema error)."""
    try:
        err = next(iter(_validator().iter_errors(event)), None)
        if err is None:
            return None
        where = quoted("/".join(str(p) for p in err.absolute_path), 80) or "event"
        return f"{where}: {quoted(err.message, 80)}"
    except RecursionError:
        return "event: nested too deeply"


# every number of an event, by its bound (guard.py); the schema's own bounds are wider (10^10)
_COUNTS = ("tokens_in", "tokens_out", "cache_read_tokens", "cache_creation_tokens", "cache_creation_5m_tokens",
           "cache_creation_1h_tokens", "retries", "message_count")
_SIZES = ("prompt_length", "response_length", "request_size", "response_size")
_DURATIONS = ("latency_ms", "ttfb_ms", "ttft_ms")


def range_reason(ev: dict) -> str | None:
    """None when every number the schema lets through is in range (guard.py), else a short reason. Normalizes the
    numbers to ints in place (the schema's 'integer' accepts 3.0)."""
    for keys, check in ((_COUNTS, count), (_SIZES, size), (_DURATIONS, duration_ms)):
        for k in keys:
            v = ev.get(k)
            if v is not None:
                ev[k] = check(v)
                if ev[k] is None:
                    return f"{k}: out of range"
    # the cache writes are counted once: the 5-minute and 1-hour split, when given, is what the task stores
    writes = max(ev.get("cache_creation_tokens") or 0,
                 (ev.get("cache_creation_5m_tokens") or 0) + (ev.get("cache_creation_1h_tokens") or 0))
    if sum(ev.get(k) or 0 for k in ("tokens_in", "tokens_out", "cache_read_tokens")) + writes > MAX_TOKENS:
        return "tokens: the response's total is out of range"
    return None


def task_key(task_id: str) -> str:
    return task_id if task_id.startswith((PREFIX, "req_", "msg:", "lr:", "px:")) else PREFIX + task_id


@guarded
def parse_lines(chunk: bytes, base_offset: int, path: str, reference_model: str) -> Batch:
    b = Batch()
    for ev, offset in json_lines(chunk, base_offset, b):
        reason = invalid_reason(ev) or range_reason(ev)
        if reason is not None:
            b.skip(f"invalid event ({reason})")
            continue
        ts = ms_from_iso(ev["ts"])
        if ts is None:
            b.skip("invalid event (ts: not a time)")
            continue
        _event(b, ev, ts, path, offset, reference_model)
    return b


def _event(b: Batch, ev: dict, ts: int, path: str, offset: int, reference_model: str) -> None:
    typ, sid = ev["type"], ev.get("session_id")
    if typ == "session_start":
        b.sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts, cli_tool=ev.get("cli_tool") or "mcp",
                                     persona=ev.get("persona"), nexus_mode=ev.get("nexus_mode"),
                                     project=ev.get("project"), cwd=ev.get("cwd")))
    elif typ == "session_end":
        b.sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts))
    elif typ == "task":
        tid = task_key(ev["id"])
        tin, tout = ev.get("tokens_in") or 0, ev.get("tokens_out") or 0
        cread, cwrite = ev.get("cache_read_tokens") or 0, ev.get("cache_creation_tokens") or 0
        latency = ev.get("latency_ms")
        start = ts - latency if latency is not None else ts
        model, local = ev["model"], ev["routing"] == "local"
        if local:  # runs on the user's machine: no bill; what the same tokens would cost on the reference model
            cost, priced = 0.0, "local"
            cloud, _ = price(reference_model, ts, tokens_in=tin, tokens_out=tout, cache_read=cread,
                             cache_write=cwrite)
        else:
            cost, priced = price(model, ts, tokens_in=tin, tokens_out=tout, cache_read=cread, cache_write=cwrite)
            cloud = cost
        failed = ev.get("outcome") == "error"
        b.tasks.append(TaskRec(
            id=tid, session_id=sid, ts_ms=start, source=ev.get("source") or SOURCE_MCP, model=model,
            routing=ev["routing"], routing_reason=ev.get("routing_reason"), tokens_in=tin, tokens_out=tout,
            cache_read_tokens=cread, cache_creation_tokens=cwrite, latency_ms=latency, end_ms=ts, cost_usd=cost,
            cloud_cost_equivalent=cloud, status="error" if failed else "ok", error_message=ev.get("error"),
            cli_tool="mcp", tier=ev.get("tier"), component=ev.get("component") or ev.get("tool"),
            prompt_length=ev.get("prompt_length"), response_length=ev.get("response_length"), priced_as=priced))
        if ev.get("routing_reason") or ev.get("alternatives"):
            b.routing.append(RoutingDecisionRec(
                id=f"rd:{tid}", task_id=tid, reason=ev.get("routing_reason") or "unspecified",
                alternatives_considered=_json_text(ev.get("alternatives") or []),
                classifier_version=ev.get("classifier_version")))
        if failed:
            b.errors.append(ErrorRec(id=f"task:{tid}", ts_ms=ts, component=ev.get("component") or "task",
                                     kind="task_error", message=(ev.get("error") or "task failed")[:500],
                                     session_id=sid, task_id=tid))
    elif typ == "tool_call":
        cid = f"mcp:{ev['id']}"
        latency = ev.get("latency_ms")
        ok = ev.get("success", True)
        tool = ev["tool"]
        b.tool_results.append(ToolResultRec(
            id=cid, session_id=sid, ended_ms=ts, success=ok, error_type=ev.get("error_type") if not ok else None,
            error_message=(ev.get("error_message") or "")[:500] if not ok else None,
            output_size=ev.get("response_size"), latency_ms=latency, tool_name=tool,
            started_ms=ts - latency if latency is not None else ts, mcp_server=ev.get("server"),
            task_id=task_key(ev["task_id"]) if ev.get("task_id") else None, source=SOURCE_MCP))
        if not ok:
            b.errors.append(ErrorRec(id=f"tool:{cid}", ts_ms=ts, component="tool", kind=ev.get("error_type") or "error",
                                     message=(ev.get("error_message") or "tool call failed")[:500], session_id=sid))
        if sid:
            b.sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts, cli_tool="mcp"))
        if ev.get("request_size") is not None:
            b.tool_uses.append(ToolUseRec(id=cid, session_id=sid, task_id=None, tool_name=tool,
                                          started_ms=ts - (latency or 0), mcp_server=ev.get("server"),
                                          source=SOURCE_MCP, input_size=ev.get("request_size")))
    elif typ == "proxy_request":
        _proxy_request(b, ev, ts, sid, reference_model)
    elif typ == "statusline":
        _statusline(b, ev, ts, sid)
    elif typ == "rating":
        b.ratings.append(RatingRec(task_id=task_key(ev["task_id"]), rating=ev["rating"]))
    elif typ == "error":
        b.errors.append(ErrorRec(id=f"ev:{path}:{offset}", ts_ms=ts, component=ev["component"], kind=ev["kind"],
                                 message=ev["message"][:500], session_id=sid,
                                 task_id=task_key(ev["task_id"]) if ev.get("task_id") else None))


def _json_text(v) -> str:
    try:
        return json.dumps(v)
    except (TypeError, ValueError, RecursionError):
        return "[]"


def _cli_of(client: str | None, session_from: str | None) -> str:
    """The CLI a proxied request came from (its user agent), so a session also read from transcripts keeps its
    cli_tool; 'proxy' for any other client."""
    ua = (client or "").lower()
    if ua.startswith("claude-cli") or session_from == "claude-code":
        return "claude-code"
    if ua.startswith("geminicli"):
        return "gemini-cli"
    if "kiro" in ua:
        return "kiro-cli"
    return "proxy"


def _proxy_request(b: Batch, ev: dict, ts: int, sid: str, reference_model: str) -> None:
    """One request through nexus-insights' own proxy -> a task (keyed by the upstream's request id, the transcripts'
    requestId, so a request seen by both is one row), its tool_use calls, an error row, its quota snapshots."""
    tid = task_key(ev["id"])
    tin, tout = ev.get("tokens_in") or 0, ev.get("tokens_out") or 0
    cread, cwrite = ev.get("cache_read_tokens") or 0, ev.get("cache_creation_tokens") or 0
    c5, c1 = ev.get("cache_creation_5m_tokens"), ev.get("cache_creation_1h_tokens")
    if c5 is not None and c1 is not None and c5 + c1 > 0:
        cwrite = c5 + c1
    latency = ev.get("latency_ms")
    start = ts - latency if latency is not None else ts
    model = ev.get("model") or "<unknown>"
    status = ev["http_status"]
    failed = status >= 400 or bool(ev.get("error_type"))
    if ev["routing"] == "local":
        cost, priced = 0.0, "local"
        cloud, _ = price(reference_model, ts, tokens_in=tin, tokens_out=tout, cache_read=cread, cache_write=cwrite)
    elif failed and not (tin or tout):
        cost, priced, cloud = 0.0, None, 0.0  # a refused request is not billed
    else:
        cost, priced = price(model, ts, tokens_in=tin, tokens_out=tout, cache_read=cread, cache_write=cwrite,
                             cache_write_5m=c5, cache_write_1h=c1)
        cloud = cost
    err = ev.get("error_message")
    if failed and not err:
        err = f"HTTP {status}" + (f" {ev['error_type']}" if ev.get("error_type") else "")
    hashes = ev.get("hashes") if isinstance(ev.get("hashes"), dict) else None
    hx = hashes or ev  # events written before the hashes were nested carry the three hashes at the top
    cli = _cli_of(ev.get("client"), ev.get("session_from"))
    b.sessions.append(SessionRec(id=sid, start_ms=start, end_ms=ts, cli_tool=cli, persona=ev.get("persona")))
    b.tasks.append(TaskRec(
        id=tid, session_id=sid, ts_ms=start, source=SOURCE_PROXY, model=model, routing=ev["routing"],
        routing_reason=ev.get("routing_reason"), tokens_in=tin, tokens_out=tout, cache_read_tokens=cread,
        cache_creation_tokens=cwrite, cache_creation_5m_tokens=c5, cache_creation_1h_tokens=c1, latency_ms=latency,
        end_ms=ts, cost_usd=cost, cloud_cost_equivalent=cloud, request_id=ev.get("request_id"),
        message_id=ev.get("message_id"), status="error" if failed else "ok", error_message=err,
        stop_reason=ev.get("stop_reason"), cli_tool=cli, persona=ev.get("persona"),
        component=ev.get("kind"), service_tier=ev.get("service_tier"), priced_as=priced,
        message_hash=hx.get("message_hash"), parent_message_hash=hx.get("parent_message_hash"),
        system_hash=hx.get("system_hash"), message_count=ev.get("message_count"), http_status=status,
        error_type=ev.get("error_type"), ttfb_ms=ev.get("ttfb_ms"), ttft_ms=ev.get("ttft_ms"),
        request_bytes=ev.get("request_bytes"), response_bytes=ev.get("response_bytes"),
        streamed=ev.get("streamed"), client=ev.get("client"), retries=ev.get("retries")))
    if hashes is not None and hashes.get("message_hash"):  # linked into its conversation when written
        b.links.append({"task_id": tid, "hashes": hashes, "response_keys": ev.get("response_keys") or []})
    if ev.get("routing_reason") or ev.get("classifier_version"):
        b.routing.append(RoutingDecisionRec(id=f"rd:{tid}", task_id=tid,
                                            reason=ev.get("routing_reason") or "unspecified",
                                            classifier_version=ev.get("classifier_version")))
    for tool in ev.get("tools") or ():
        b.tool_uses.append(ToolUseRec(id=tool["id"], session_id=sid, task_id=tid, tool_name=tool["name"],
                                      started_ms=ts, source=SOURCE_PROXY))
    if failed:
        b.errors.append(ErrorRec(id=f"proxy:{tid}", ts_ms=ts, component="api",
                                 kind=ev.get("error_type") or f"http_{status}", message=err[:500],
                                 session_id=sid, task_id=tid))
    for q in ev.get("quota") or ():
        b.quota_snapshots.append({
            "id": f"{tid}:{q['window']}", "observed_ms": ts, "source": "proxy", "account": ev.get("account"),
            "window": q["window"], "used_fraction": q.get("used_fraction"),
            "resets_at_ms": reset_ms(q.get("resets_at_ms"), ts),
            "status": q.get("status"), "raw_json": json.dumps(q.get("raw") or {}, sort_keys=True)})


MAX_MODEL_CHARS = 200  # session_stats.model: the event schema's (and the statusline command's) limit


def _statusline(b: Batch, ev: dict, ts: int, sid: str | None) -> None:
    """Claude Code's status-line input as ``nexus-insights statusline`` recorded it: one quota snapshot per rate-limit
    window (keyed by window, time and session, so reading the log again never doubles one) and the session's
    context use, reported cost, lines changed and model (a ``session_stats`` row, source 'statusline', latest wins;
    the model is the id, e.g. 'claude-opus-4-6', or the display name when the event has no id)."""
    machine = ev.get("machine") if isinstance(ev.get("machine"), str) else None
    for name, w in (ev.get("rate_limits") or {}).items():
        used = bounded_float(w.get("used_percentage"), 1000.0)
        if used is None:
            continue
        resets = bounded_int(w.get("resets_at"), 10**11)
        resets_ms = reset_ms(resets * 1000, ts) if resets is not None else None
        b.quota_snapshots.append({
            "id": f"sl:{name}:{ts}:{sid or '-'}:{used:g}:{resets_ms}", "observed_ms": ts, "source": "statusline",
            "account": None, "machine": machine, "window": name, "used_fraction": used / 100.0,
            "resets_at_ms": resets_ms,
            "status": "rejected" if used >= 100.0 else None,
            "raw_json": json.dumps({"used_percentage": w.get("used_percentage"), "resets_at": w.get("resets_at")},
                                   sort_keys=True)})
    if not sid:
        return
    row = {"session_id": sid, "source": "statusline", "updated_ms": ts,
           "context_used_pct": bounded_float(ev.get("context_used_pct"), 100.0),
           "context_window_size": count(ev.get("context_window_size")),
           "reported_cost_usd": bounded_float(ev.get("cost_usd"), 1e7),
           "lines_added": count(ev.get("lines_added")), "lines_removed": count(ev.get("lines_removed")),
           "model": label(ev.get("model_id"), MAX_MODEL_CHARS) or label(ev.get("model"), MAX_MODEL_CHARS)}
    if any(v is not None for k, v in row.items() if k not in ("session_id", "source", "updated_ms")):
        b.session_stats.append(row)
