"""LunaRoute session recordings (``~/.lunaroute/sessions/YYYY-MM-DD/<session>.jsonl``) -> records.

One line per SessionEvent, ``type``-tagged, stats structs flattened (FORMATS.md section 3). A request becomes a task
``lr:<request_id>`` with ``source = proxy-intercept``; the session is LunaRoute's session id (the Claude Code session id
when the proxy could read it, so proxy traffic joins the transcript's session row). ``completed`` and
``stats_snapshot`` give per-session statistics (session_stats table).

Token semantics: for the Anthropic provider LunaRoute's ``input_tokens`` is uncached input, as ours; for OpenAI-style
providers it includes cached tokens, so tokens_in = input_tokens - cache_read_tokens.
"""

from __future__ import annotations

import re

from nexus_tui.core.events import (SOURCE_PROXY, Batch, ErrorRec, SessionRec, TaskRec, ToolResultRec, ToolUseRec,
                                   ms_from_iso)
from nexus_tui.core.parse.lines import json_lines
from nexus_tui.core.pricing import price

SOURCE = "lunaroute"
_KNOWN = frozenset({"started", "stream_started", "request_recorded", "response_recorded", "tool_call_recorded",
                    "stats_snapshot", "completed", "stats_updated"})
_RECENT = 256
_MAX = 10**10


def cli_tool_of(user_agent: str | None) -> str:
    ua = (user_agent or "").lower()
    if ua.startswith("claude-cli") or "claude-code" in ua:
        return "claude-code"
    if "gemini" in ua:
        return "gemini-cli"
    if "kiro" in ua:
        return "kiro-cli"
    return "proxy"


def _n(v) -> int:
    if isinstance(v, bool) or v is None:
        return 0
    if isinstance(v, (int, float)) and 0 <= v <= _MAX:
        return int(v)
    raise ValueError("bad count")


def _f(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


_MSG_ID = re.compile(r"['\"]id['\"]\s*:\s*['\"](msg_[A-Za-z0-9]+)['\"]")


def parse_lines(chunk: bytes, base_offset: int, path: str, state: dict) -> Batch:
    """Complete lines -> records. ``state['requests']`` carries each request's start (model, provider, agent) between
    passes, bounded to the last 256 requests."""
    b = Batch()
    reqs: dict = state.setdefault("requests", {})
    for ev, offset in json_lines(chunk, base_offset, b):
        if not isinstance(ev, dict):
            b.skip("not a JSON object")
            continue
        typ, sid, rid = ev.get("type"), ev.get("session_id"), ev.get("request_id")
        if typ not in _KNOWN:
            b.skip(f"unknown event type ({str(typ)[:30]})")
            continue
        ts = ms_from_iso(ev.get("timestamp"))
        if not isinstance(sid, str) or not sid or ts is None:
            b.skip("event without session_id or timestamp")
            continue
        try:
            _event(b, ev, typ, sid, rid if isinstance(rid, str) else None, ts, reqs, path, offset)
        except (ValueError, TypeError, KeyError, AttributeError):
            b.skip(f"invalid {typ} event")
            continue
        while len(reqs) > _RECENT:
            del reqs[next(iter(reqs))]
    return b


def _event(b: Batch, ev: dict, typ: str, sid: str, rid: str | None, ts: int, reqs: dict, path: str, offset: int):
    info = reqs.get(rid, {}) if rid else {}
    if typ == "started":
        info = {"model": ev.get("model_requested"), "provider": ev.get("provider"),
                "cli": cli_tool_of(ev.get("user_agent")), "start": ts}
        if rid:
            reqs[rid] = info
        b.sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts, cli_tool=info["cli"]))
        return
    if typ == "request_recorded" and rid:
        info = reqs.setdefault(rid, {})
        info["prompt_length"] = len(ev["request_text"]) if isinstance(ev.get("request_text"), str) else None
        return
    cli = info.get("cli", "proxy")
    if typ == "response_recorded":
        if not rid:
            raise ValueError("no request id")
        model = ev.get("model_used") or info.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("no model")
        tin, tout = _n(ev.get("input_tokens")), _n(ev.get("output_tokens"))
        cread, cwrite = _n(ev.get("cache_read_tokens")), _n(ev.get("cache_creation_tokens"))
        thinking = _n(ev.get("thinking_tokens")) + _n(ev.get("reasoning_tokens"))
        if (info.get("provider") or "anthropic") != "anthropic":
            tin = max(0, tin - cread)  # OpenAI-style usage counts cached tokens inside input
        latency = ev.get("provider_latency_ms")
        latency = int(latency) if isinstance(latency, (int, float)) and latency >= 0 else None
        cost, priced = price(model, ts, tokens_in=tin, tokens_out=tout, cache_read=cread, cache_write=cwrite)
        start = info.get("start") or (ts - latency if latency is not None else ts)
        mid = None
        if isinstance(ev.get("response_json"), str):
            m = _MSG_ID.search(ev["response_json"][:2000])
            mid = m.group(1) if m else None
        b.tasks.append(TaskRec(
            id=f"lr:{rid}", session_id=sid, ts_ms=start, source=SOURCE_PROXY, model=model, routing="cloud",
            routing_reason="proxy", tokens_in=tin, tokens_out=tout, cache_read_tokens=cread, cache_creation_tokens=cwrite,
            thinking_tokens=thinking or None, latency_ms=latency, end_ms=ts, cost_usd=cost, cloud_cost_equivalent=cost,
            request_id=rid, message_id=mid, cli_tool=cli, priced_as=priced, prompt_length=info.get("prompt_length"),
            response_length=len(ev["response_text"]) if isinstance(ev.get("response_text"), str) else None,
            stop_reason=None))
        b.sessions.append(SessionRec(id=sid, start_ms=start, end_ms=ts, cli_tool=cli))
        for tc in ev.get("tool_calls") or []:
            _tool(b, tc, sid, rid, ts, path, offset)
        return
    if typ == "tool_call_recorded":
        _tool(b, ev, sid, rid, ts, path, offset)
        return
    if typ in ("stats_snapshot", "completed"):
        b.sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts, cli_tool=cli if rid in reqs else None))
        row = {"session_id": sid, "source": SOURCE, "updated_ms": ts}
        if typ == "stats_snapshot":
            row.update(requests=_n(ev.get("request_count")), thinking_tokens=_n(ev.get("total_thinking_tokens")),
                       tool_calls=_n(ev.get("total_tool_calls")), proxy_overhead_ms=_f(ev.get("cumulative_proxy_overhead_ms")))
        else:
            total_out = _n(ev.get("total_output"))
            thinking = _n(ev.get("total_thinking")) + _n(ev.get("total_reasoning"))
            tps = [m.get("tokens_per_second") for m in (ev.get("by_model") or {}).values() if isinstance(m, dict)]
            tps = [x for x in tps if isinstance(x, (int, float))]
            row.update(p50_latency_ms=_f(ev.get("p50_latency_ms")), p95_latency_ms=_f(ev.get("p95_latency_ms")),
                       p99_latency_ms=_f(ev.get("p99_latency_ms")), max_latency_ms=_f(ev.get("max_latency_ms")),
                       proxy_overhead_ms=_f(ev.get("proxy_overhead_ms")),
                       proxy_overhead_pct=_f(ev.get("proxy_overhead_percentage")), thinking_tokens=thinking,
                       thinking_share=thinking / total_out if total_out else None,
                       tokens_per_second=sum(tps) / len(tps) if tps else None,
                       tool_calls=_n(ev.get("total_tool_calls")), tool_errors=_n(ev.get("tool_error_count")))
            if ev.get("success") is False:
                b.errors.append(ErrorRec(id=f"lr-completed:{sid}:{rid}", ts_ms=ts, component="proxy",
                                         kind=str(ev.get("finish_reason") or "error"),
                                         message=str(ev.get("error") or "request failed")[:500], session_id=sid,
                                         task_id=f"lr:{rid}" if rid else None))
        b.session_stats.append(row)


def _tool(b: Batch, tc: dict, sid: str, rid: str | None, ts: int, path: str, offset: int) -> None:
    cid, name = tc.get("tool_call_id"), tc.get("tool_name")
    if not isinstance(cid, str) or not isinstance(name, str):
        raise ValueError("tool call without id or name")
    from nexus_tui.core.parse.claude_code import mcp_server_of

    b.tool_uses.append(ToolUseRec(id=cid, session_id=sid, task_id=f"lr:{rid}" if rid else None, tool_name=name,
                                  started_ms=ts, mcp_server=mcp_server_of(name), source=SOURCE_PROXY,
                                  input_size=tc.get("input_size_bytes") if isinstance(tc.get("input_size_bytes"), int)
                                  else None))
    if isinstance(tc.get("success"), bool):
        ms = tc.get("execution_time_ms")
        b.tool_results.append(ToolResultRec(id=cid, session_id=sid, ended_ms=ts + int(ms or 0), success=tc["success"],
                                            error_type=None if tc["success"] else "error",
                                            latency_ms=int(ms) if isinstance(ms, (int, float)) else None,
                                            output_size=tc.get("output_size_bytes")
                                            if isinstance(tc.get("output_size_bytes"), int) else None))
