"""LunaRoute session recordings (``~/.lunaroute/sessions/YYYY-MM-DD/<session>.jsonl``) -> records.

One line per LunaRoute ``SessionEvent``: ``type``-tagged, every stats struct flattened into the line (FORMATS.md
section 3). Upstream emits one ``started`` .. ``completed`` group per proxied request, and which events carry the
numbers depends on LunaRoute's mode:

* normalized (dialect-translating) path: ``response_recorded`` carries model, tokens and provider latency;
* passthrough (Anthropic->Anthropic, OpenAI->OpenAI, what Claude Code uses): no ``response_recorded``; ``completed``
  carries the duration with zero tokens, and a later ``stats_updated`` carries ``token_updates`` (a TokenTotals
  object) parsed from the response after it was sent.

So a request becomes one task, keyed ``lr:<request_id>``, built from whichever of ``response_recorded``,
``completed`` and ``stats_updated`` appear (the store's merge rule keeps the record with the larger token total for
usage and the first latency). When a recorded response names the Anthropic request id (``req_...``), that id is the
task id instead, so the transcript's task for the same request and the proxy's are one row.

Token semantics: ``tokens_in`` is uncached input. LunaRoute copies the provider's count: for an Anthropic provider
``input_tokens`` / ``total_input`` already excludes cache reads and writes; for OpenAI-style providers it is
``prompt_tokens``, which includes the cached part, so tokens_in = input - cache_read. The raw ``response_json.usage``
decides when it is there (``prompt_tokens`` / ``*_tokens_details`` = OpenAI shape), else the request's provider.

``completed`` and ``stats_updated`` hold one request's figures, not the session's: the per-session statistics
(latency percentiles, proxy overhead, thinking share, tokens per second) are accumulated here across the requests of
a file, in the cursor state, and emitted as ``session_stats`` rows (the latest row of a session wins).
"""

from __future__ import annotations

import math

import orjson

from nexus_tui.core.events import (
    SOURCE_PROXY,
    Batch,
    ErrorRec,
    SessionRec,
    TaskRec,
    ToolResultRec,
    ToolUseRec,
    ms_from_iso,
)
from nexus_tui.core.parse.claude_code import mcp_server_of
from nexus_tui.core.parse.guard import (MAX_DURATION_MS, MAX_TOKENS, BadValue, Malformed, bounded_float, guarded,
                                        loads, quoted, size)
from nexus_tui.core.pricing import price

SOURCE = "lunaroute"  # session_stats.source
_REQUEST_EVENTS = frozenset({"started", "stream_started", "request_recorded", "response_recorded",
                             "tool_call_recorded", "completed", "stats_updated"})
_KNOWN = _REQUEST_EVENTS | {"stats_snapshot"}
_RECORDS = ("sessions", "tasks", "tool_uses", "tool_results", "errors", "session_stats")
_RECENT_REQUESTS = 64  # requests remembered per file (a request's late events can follow other requests' events)
_RECENT_SESSIONS = 64  # sessions accumulated per file (LunaRoute writes one session per file)
MAX_LATENCIES = 20_000  # per session and file: percentiles are exact up to this many requests
_MAX = MAX_TOKENS
_MAX_RATE = 1e9  # tokens per second, percentages


def cli_tool_of(user_agent: object) -> str | None:
    """The coding tool behind a proxied request, from its User-Agent; None when there is none."""
    if not isinstance(user_agent, str) or not user_agent.strip():
        return None
    ua = user_agent.lower()
    if ua.startswith(("claude-cli", "claude code")) or "claude-code" in ua:
        return "claude-code"
    if "gemini" in ua:
        return "gemini-cli"
    if "kiro" in ua:
        return "kiro-cli"
    return "proxy"


def _count(v) -> int:
    """A token count: None -> 0; garbage raises BadValue (the line is skipped)."""
    if v is None:
        return 0
    f = bounded_float(v, _MAX)
    if f is None:
        raise BadValue("bad count")
    return int(f)


def _num(v, hi: float = _MAX_RATE) -> float | None:
    """An optional measurement: None when absent (or negative, as LunaRoute writes for 'unknown'); a number of the
    wrong type, not finite or above ``hi`` raises BadValue (the line is skipped)."""
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
        return None
    f = bounded_float(v, hi)
    if f is None:
        raise BadValue("bad measurement")
    return f


def _ms(v) -> float | None:
    """An optional duration in ms (0 .. one week)."""
    return _num(v, MAX_DURATION_MS)


def _str(v) -> str | None:
    return v if isinstance(v, str) and v else None


def nearest_rank(sorted_xs: list, p: float):
    """The p-th percentile by nearest rank (the value at rank ceil(p/100 * n)), as store/queries.py computes it."""
    if not sorted_xs:
        return None
    return sorted_xs[max(0, min(len(sorted_xs) - 1, math.ceil(p / 100.0 * len(sorted_xs)) - 1))]


def _openai_semantics(raw_usage: object, provider: str | None, model: str | None) -> bool:
    """Whether the input count includes cached tokens (OpenAI style) rather than excluding them (Anthropic)."""
    if isinstance(raw_usage, dict):
        if "prompt_tokens" in raw_usage or "prompt_tokens_details" in raw_usage \
                or "input_tokens_details" in raw_usage:
            return True
        if "cache_read_input_tokens" in raw_usage or "cache_creation_input_tokens" in raw_usage:
            return False
    if provider:
        return provider.lower() != "anthropic"
    return not (model or "").lower().startswith("claude")


def _response_ids(resp: object) -> tuple[str | None, str | None]:
    """(Anthropic request id ``req_...``, provider message id) from a recorded response body, when present."""
    if isinstance(resp, str):
        try:
            resp = orjson.loads(resp)
        except orjson.JSONDecodeError:
            return None, None
    if not isinstance(resp, dict):
        return None, None
    req = None
    for holder in (resp, resp.get("metadata"), resp.get("response_headers"), resp.get("headers")):
        if isinstance(holder, dict):
            for k in ("request_id", "request-id", "requestId"):
                v = holder.get(k)
                if isinstance(v, str) and v.startswith("req_"):
                    req = v
                    break
        if req:
            break
    mid = resp.get("id")
    return req, mid if isinstance(mid, str) and mid else None


def _stop_reason(resp: object) -> str | None:
    if not isinstance(resp, dict):
        return None
    if isinstance(resp.get("stop_reason"), str):
        return resp["stop_reason"]
    ch = resp.get("choices")
    if isinstance(ch, list) and ch and isinstance(ch[0], dict) and isinstance(ch[0].get("finish_reason"), str):
        return ch[0]["finish_reason"]
    return None


class _Usage:
    """One request's tokens in our semantics."""

    __slots__ = ("c1h", "c5m", "cread", "cwrite", "thinking", "tin", "tout")

    def __init__(self, tin=0, tout=0, cread=0, cwrite=0, c5m=None, c1h=None, thinking=0):
        self.tin, self.tout, self.cread, self.cwrite = tin, tout, cread, cwrite
        self.c5m, self.c1h, self.thinking = c5m, c1h, thinking
        if tin + tout + cread + cwrite + thinking > _MAX:  # the per-response cap holds for the sum too
            raise BadValue("the response's token total is out of range")

    @property
    def total(self) -> int:
        return self.tin + self.tout + self.cread + self.cwrite


def _usage_of_response(ev: dict, provider: str | None, model: str | None) -> _Usage:
    """Tokens of a ``response_recorded`` line: its flat TokenStats, read with the raw usage's semantics."""
    resp = ev.get("response_json")
    raw = resp.get("usage") if isinstance(resp, dict) else None
    tin, tout = _count(ev.get("input_tokens")), _count(ev.get("output_tokens"))
    cread, cwrite = _count(ev.get("cache_read_tokens")), _count(ev.get("cache_creation_tokens"))
    thinking = _count(ev.get("thinking_tokens")) + _count(ev.get("reasoning_tokens"))
    c5m = c1h = None
    if isinstance(raw, dict):
        try:
            if tin + tout == 0:  # no flat counts: take the provider's own
                if "prompt_tokens" in raw:
                    tin, tout = _count(raw.get("prompt_tokens")), _count(raw.get("completion_tokens"))
                    det = raw.get("prompt_tokens_details")
                    cread = _count(det.get("cached_tokens")) if isinstance(det, dict) else 0
                else:
                    tin, tout = _count(raw.get("input_tokens")), _count(raw.get("output_tokens"))
                    cread = _count(raw.get("cache_read_input_tokens"))
                    cwrite = _count(raw.get("cache_creation_input_tokens"))
                    det = raw.get("input_tokens_details")
                    if isinstance(det, dict):
                        cread = _count(det.get("cached_tokens"))
            split = raw.get("cache_creation")
            if isinstance(split, dict):
                a, b = _count(split.get("ephemeral_5m_input_tokens")), _count(split.get("ephemeral_1h_input_tokens"))
                if a + b == cwrite and cwrite:
                    c5m, c1h = a, b
        except ValueError:
            pass  # a strange raw body never costs the line: the flat counts stand
    if _openai_semantics(raw, provider, model):
        tin = max(0, tin - cread)
    return _Usage(tin, tout, cread, cwrite, c5m, c1h, thinking)


def _usage_of_totals(t: dict, provider: str | None, model: str | None) -> _Usage:
    """Tokens of a TokenTotals object (``stats_updated.token_updates`` or a ``completed`` line)."""
    tin, tout = _count(t.get("total_input")), _count(t.get("total_output"))
    cread = max(_count(t.get("total_cache_read")), _count(t.get("total_cached")))  # total_cached: older name
    cwrite = _count(t.get("total_cache_creation"))
    thinking = _count(t.get("total_thinking")) + _count(t.get("total_reasoning"))
    if _openai_semantics(None, provider, model):
        tin = max(0, tin - cread)
    return _Usage(tin, tout, cread, cwrite, thinking=thinking)


@guarded
def parse_lines(chunk: bytes, base_offset: int, path: str, state: dict) -> Batch:
    """Complete lines -> records. ``state`` carries, between passes, the recent requests (model, provider, start,
    contributions to the session statistics) and each session's accumulated statistics."""
    b = Batch()
    reqs = state.get("requests")
    sessions = state.get("sessions")
    if not isinstance(reqs, dict) or not isinstance(sessions, dict):  # a state from elsewhere: start afresh
        reqs, sessions = state["requests"], state["sessions"] = {}, {}
    touched: set[str] = set()
    pos = 0
    while pos < len(chunk):
        nl = chunk.find(b"\n", pos)
        end = len(chunk) if nl < 0 else nl
        raw = chunk[pos:end]
        pos = end + 1
        b.lines += 1
        if not raw.strip():
            continue
        try:
            ev = loads(raw)
        except Malformed:
            b.skip("malformed JSON")
            continue
        if not isinstance(ev, dict):
            b.skip("not a JSON object")
            continue
        typ = ev.get("type")
        if not isinstance(typ, str) or typ not in _KNOWN:
            b.skip(f"unknown event type ({quoted(typ, 30)})")
            continue
        sid, rid = _str(ev.get("session_id")), _str(ev.get("request_id"))
        ts = ms_from_iso(ev.get("timestamp"))
        if sid is None or ts is None:
            b.skip("event without session_id or timestamp")
            continue
        if rid is None and typ in _REQUEST_EVENTS:
            b.skip("event without request_id")
            continue
        marks = [len(getattr(b, k)) for k in _RECORDS]
        try:
            _event(b, ev, typ, sid, rid, ts, reqs, sessions)
        except (ValueError, TypeError, KeyError, AttributeError):
            for k, n in zip(_RECORDS, marks):  # nothing of a rejected line is kept
                del getattr(b, k)[n:]
            b.skip(f"invalid {typ} event")
            continue
        touched.add(sid)
        while len(reqs) > _RECENT_REQUESTS:
            del reqs[next(iter(reqs))]
        while len(sessions) > _RECENT_SESSIONS:
            del sessions[next(iter(sessions))]
    for sid in touched:
        if sid in sessions:
            b.session_stats.append(stats_row(sid, sessions[sid]))
    return b


def _new_session() -> dict:
    return {"n": 0, "lat": [], "ovh": 0.0, "pw": 0.0, "pd": 0.0, "tw": 0.0, "tl": 0.0, "out": 0, "thk": 0,
            "tc": 0, "te": 0, "upd": 0, "snap": {}}


def _event(b: Batch, ev: dict, typ: str, sid: str, rid: str | None, ts: int, reqs: dict, sessions: dict) -> None:
    # read phase: everything that can reject the line is computed before any record or state changes
    if typ == "stats_snapshot":
        snap = {"req": _count(ev.get("request_count")), "thk": _count(ev.get("total_thinking_tokens")),
                "tc": _count(ev.get("total_tool_calls")),
                "ovh": _num(ev.get("cumulative_proxy_overhead_ms"), 1e12) or 0.0}
        sess = sessions.setdefault(sid, _new_session())
        for k, v in snap.items():
            sess["snap"][k] = max(sess["snap"].get(k, 0), v)
        sess["upd"] = max(sess["upd"], ts)
        b.sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts))
        return
    info = reqs.get(rid)
    new_request = info is None
    if new_request:
        info = {}
    cli = info.get("cli")
    if typ == "started":
        cli = cli_tool_of(ev.get("user_agent")) or "proxy"
        upd = {"m": _str(ev.get("model_requested")), "p": _str(ev.get("provider")), "cli": cli, "s": ts,
               "st": ev.get("is_streaming") is True}
        info.update(upd)
    elif typ == "request_recorded":
        if isinstance(ev.get("request_text"), str):
            info["pl"] = len(ev["request_text"])
    elif typ == "response_recorded":
        _response(b, ev, sid, rid, ts, info)
    elif typ == "tool_call_recorded":
        _tool(b, ev, sid, rid, ts, info, 0)
    elif typ == "stats_updated":
        tu = ev.get("token_updates")
        if tu is not None and not isinstance(tu, dict):
            raise ValueError("token_updates is not an object")
        model = _str(ev.get("model_used")) or info.get("mu") or info.get("m")
        u = _usage_of_totals(tu, info.get("p"), model) if tu else None
        if not info.get("cli"):
            info["cli"] = cli_tool_of(ev.get("user_agent"))
        if u is not None and model and u.total + u.thinking > 0:
            latency = None
            if info.get("lat") is None and info.get("st") is False and info.get("s") is not None:
                latency = max(0, ts - info["s"])  # non-streaming passthrough writes no `completed`
                info["lat"] = latency
            _emit_task(b, sid, rid, ts, info, model, u, latency)
            info["out"] = max(info.get("out", 0), u.tout)
            info["thk"] = max(info.get("thk", 0), u.thinking)
    elif typ == "completed":
        _completed(b, ev, sid, rid, ts, info)
    # apply phase
    if new_request:
        reqs[rid] = info
    sess = sessions.setdefault(sid, _new_session())
    if new_request:
        sess["n"] += 1
    sess["upd"] = max(sess["upd"], ts)
    _account(sess, info)
    start = ts if typ == "started" else info.get("s", ts)
    b.sessions.append(SessionRec(id=sid, start_ms=min(start, ts), end_ms=ts, cli_tool=info.get("cli") or None))


def _task_id(rid: str, info: dict) -> str:
    return info.get("tid") or f"lr:{rid}"


def _emit_task(b: Batch, sid: str, rid: str, ts: int, info: dict, model: str, u: _Usage, latency: int | None,
               status: str = "ok", response_length: int | None = None) -> None:
    start = info.get("s")
    if start is None:
        start = ts - latency if latency is not None else ts
        info["s"] = start
    cost, priced = price(model, start, tokens_in=u.tin, tokens_out=u.tout, cache_read=u.cread, cache_write=u.cwrite,
                         cache_write_5m=u.c5m, cache_write_1h=u.c1h)
    tid = _task_id(rid, info)
    b.tasks.append(TaskRec(
        id=tid, session_id=sid, ts_ms=start, source=SOURCE_PROXY, model=model, routing="cloud",
        tokens_in=u.tin, tokens_out=u.tout, cache_read_tokens=u.cread, cache_creation_tokens=u.cwrite,
        cache_creation_5m_tokens=u.c5m, cache_creation_1h_tokens=u.c1h, thinking_tokens=u.thinking or None,
        latency_ms=latency, end_ms=ts, cost_usd=cost, cloud_cost_equivalent=cost,
        request_id=tid if tid.startswith("req_") else rid, message_id=info.get("mid"),
        cli_tool=info.get("cli") or "proxy", priced_as=priced, prompt_length=info.get("pl"),
        response_length=response_length, stop_reason=info.get("fr"), status=status))
    info["task"] = True
    info["mu"] = model


def _response(b: Batch, ev: dict, sid: str, rid: str, ts: int, info: dict) -> None:
    model = _str(ev.get("model_used")) or info.get("m")
    if not model:
        raise ValueError("no model")
    u = _usage_of_response(ev, info.get("p"), model)
    latency = _ms(ev.get("provider_latency_ms"))
    latency = int(latency) if latency is not None else None
    calls = ev.get("tool_calls") or []
    if not isinstance(calls, list) or any(isinstance(tc, dict) and not _str(tc.get("tool_name")) for tc in calls):
        raise ValueError("tool_calls is not a list of named calls")
    resp = ev.get("response_json")
    req_id, mid = _response_ids(resp)
    if req_id and not info.get("task"):
        info["tid"] = req_id  # the transcript's key for the same request
    if mid:
        info["mid"] = mid
    info["fr"] = _stop_reason(resp) or info.get("fr")
    if info.get("lat") is None:
        info["lat"] = latency
    ovh = _ms(ev.get("total_proxy_overhead_ms"))
    if ovh is not None and info.get("ovh") is None:
        info["ovh"] = ovh
    tps = _num(ev.get("tokens_per_second"))
    if tps:
        info["tps"] = tps
    info["out"] = max(info.get("out", 0), u.tout)
    info["thk"] = max(info.get("thk", 0), u.thinking)
    text = ev.get("response_text")
    _emit_task(b, sid, rid, ts, info, model, u, latency,
               response_length=len(text) if isinstance(text, str) else None)
    for i, tc in enumerate(calls):
        if isinstance(tc, dict):
            _tool(b, tc, sid, rid, ts, info, i)


def _completed(b: Batch, ev: dict, sid: str, rid: str, ts: int, info: dict) -> None:
    u = _usage_of_totals(ev, info.get("p"), info.get("m"))
    dur = _ms(ev.get("total_duration_ms"))
    provider_ms = _ms(ev.get("provider_time_ms"))
    ovh = _ms(ev.get("proxy_overhead_ms"))
    pct = _num(ev.get("proxy_overhead_percentage"))
    by_model = ev.get("by_model") if isinstance(ev.get("by_model"), dict) else {}
    tps = [x for x in (_num(m.get("tokens_per_second")) for m in by_model.values() if isinstance(m, dict)) if x]
    reason = _str(ev.get("finish_reason"))
    if reason:
        info["fr"] = reason
    if ev.get("success") is False:
        msg = ev.get("error")
        b.errors.append(ErrorRec(
            id=f"lr-failed:{rid}", ts_ms=ts, component="api", kind="proxy_request_failed",
            message=(msg if isinstance(msg, str) and msg else "the proxied request failed")[:500], session_id=sid,
            task_id=_task_id(rid, info) if info.get("task") else None,
            context=orjson.dumps({"source": SOURCE, "request_id": rid, "finish_reason": reason}).decode()))
        return  # no response: not a task, and no latency for the percentiles
    if dur is not None:
        info["dur"] = dur
    if ovh is not None:
        info["ovh"] = ovh
    if pct:
        info["pct"] = pct
    if tps and not info.get("tps"):
        info["tps"] = sum(tps) / len(tps)
    latency = None
    if info.get("lat") is None:
        lat = provider_ms if provider_ms else dur
        if lat is not None:
            latency = info["lat"] = int(lat)
    info["out"] = max(info.get("out", 0), u.tout)
    info["thk"] = max(info.get("thk", 0), u.thinking)
    model = info.get("mu") or info.get("m")
    if model:
        # passthrough: the duration arrives here, the tokens later in `stats_updated` (a larger total wins there)
        _emit_task(b, sid, rid, ts, info, model, u, latency if latency is not None else info.get("lat"))


def _size(v, field: str) -> int | None:
    """An optional byte size: None when absent or negative; the wrong type or above MAX_BYTES raises BadValue."""
    if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0):
        return None
    got = size(v)
    if got is None:
        raise BadValue(f"{field}: wrong type or out of range")
    return got


def _tool(b: Batch, tc: dict, sid: str, rid: str, ts: int, info: dict, index: int) -> None:
    name = _str(tc.get("tool_name"))
    if name is None:
        raise ValueError("tool call without a name")
    cid = _str(tc.get("tool_call_id")) or f"lr:{rid}:{index}:{name}"
    in_size = _size(tc.get("input_size_bytes"), "input_size_bytes")
    if in_size is None:
        args = tc.get("tool_arguments")
        in_size = len(args.encode("utf-8", "replace")) if isinstance(args, str) else None
    out_size = _size(tc.get("output_size_bytes"), "output_size_bytes")
    ms = _ms(tc.get("execution_time_ms"))
    ok = tc.get("success")
    tid = _task_id(rid, info)
    b.tool_uses.append(ToolUseRec(id=cid, session_id=sid, task_id=tid, tool_name=name, started_ms=ts,
                                  mcp_server=mcp_server_of(name), source=SOURCE_PROXY, input_size=in_size))
    if isinstance(ok, bool):  # LunaRoute knows a result only when the client reported it
        b.tool_results.append(ToolResultRec(id=cid, session_id=sid, ended_ms=ts + int(ms or 0), success=ok,
                                            error_type=None if ok else "error", output_size=out_size,
                                            latency_ms=int(ms) if ms is not None else None, tool_name=name,
                                            started_ms=ts, task_id=tid, source=SOURCE_PROXY))
    seen = info.setdefault("tools", [])
    if cid not in seen:
        seen.append(cid)
    if ok is False:
        bad = info.setdefault("terr", [])
        if cid not in bad:
            bad.append(cid)


def _contribution(info: dict) -> dict:
    """What one request adds to its session's sums (recomputed whenever the request learns more)."""
    lat = info.get("lat")
    out, thk, ovh = info.get("out", 0), info.get("thk", 0), info.get("ovh") or 0.0
    dur = info.get("dur") or lat
    pct = info.get("pct")
    if not pct and dur:
        pct = 100.0 * ovh / dur
    tps = info.get("tps")
    if not tps and lat and out:
        tps = out * 1000.0 / lat
    return {"lat": lat, "ovh": ovh, "pw": pct * dur if pct is not None and dur else 0.0,
            "pd": float(dur) if pct is not None and dur else 0.0,
            "tw": tps * lat if tps and lat else 0.0, "tl": float(lat) if tps and lat else 0.0,
            "out": out, "thk": thk, "tc": len(info.get("tools", ())), "te": len(info.get("terr", ()))}


def _account(sess: dict, info: dict) -> None:
    """Replace the request's previous contribution to the session's sums with its current one."""
    old, new = info.get("c") or {}, _contribution(info)
    if old.get("lat") != new["lat"]:
        lats = sess["lat"]
        if old.get("lat") is not None and old["lat"] in lats:
            lats.remove(old["lat"])
        if new["lat"] is not None and len(lats) < MAX_LATENCIES:
            lats.append(new["lat"])
    for k in ("ovh", "pw", "pd", "tw", "tl", "out", "thk", "tc", "te"):
        sess[k] += new[k] - old.get(k, 0)
    info["c"] = new


def thinking_share(thinking: int, output: int) -> float | None:
    """Share of output tokens spent thinking. Providers count thinking inside output tokens; a source that counts
    it separately (thinking > output) is read as thinking / (thinking + output)."""
    if output <= 0:
        return 1.0 if thinking > 0 else None
    return thinking / output if thinking <= output else thinking / (thinking + output)


def stats_row(sid: str, sess: dict) -> dict:
    """The session_stats row of one session from its accumulated sums."""
    lats = sorted(sess["lat"])
    snap = sess.get("snap") or {}
    thk = max(sess["thk"], snap.get("thk", 0))
    return {"session_id": sid, "source": SOURCE, "requests": max(sess["n"], snap.get("req", 0)),
            "p50_latency_ms": _f(nearest_rank(lats, 50)), "p95_latency_ms": _f(nearest_rank(lats, 95)),
            "p99_latency_ms": _f(nearest_rank(lats, 99)), "max_latency_ms": _f(lats[-1] if lats else None),
            "proxy_overhead_ms": round(max(sess["ovh"], snap.get("ovh", 0.0)), 3),
            "proxy_overhead_pct": round(sess["pw"] / sess["pd"], 4) if sess["pd"] > 0 else None,
            "thinking_tokens": thk, "thinking_share": thinking_share(thk, sess["out"]),
            "tokens_per_second": round(sess["tw"] / sess["tl"], 3) if sess["tl"] > 0 else None,
            "tool_calls": max(sess["tc"], snap.get("tc", 0)), "tool_errors": sess["te"], "updated_ms": sess["upd"]}


def _f(v) -> float | None:
    return float(v) if v is not None else None
