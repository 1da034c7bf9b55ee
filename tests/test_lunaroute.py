"""LunaRoute recordings through files on disk: the sample end to end (real CLI and Collector.run_once), pieces,
re-runs, bad lines, generated multi-request sessions (passthrough and normalized layouts), token semantics, and a
session seen both in a Claude Code transcript and through the proxy."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from nexus_tui.collect.collector import Collector
from nexus_tui.collect.sources import ClaudeCodeSource, LunaRouteSource
from nexus_tui.config import load_settings
from nexus_tui.core.parse.lunaroute import cli_tool_of, parse_lines
from nexus_tui.core.pricing import price
from tests.conftest import CC, REAL, require_shared
from tests.helpers import dump, store_at

SAMPLE = REAL / "lunaroute" / "constructed_from_events_rs.jsonl"
SID = "bc697788-f3f4-493b-80cc-2a03174c8861"
STAT_COLS = ("session_id", "source", "requests", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
             "max_latency_ms", "proxy_overhead_ms", "proxy_overhead_pct", "thinking_tokens", "thinking_share",
             "tokens_per_second", "tool_calls", "tool_errors", "updated_ms")


def _sample_events() -> dict:
    require_shared()
    return {e["type"]: e for e in map(json.loads, SAMPLE.read_text().splitlines())}


def _lay_out(root, data: bytes, sid: str = SID, day: str = "2025-10-01"):
    """Write ``data`` as LunaRoute does: <root>/sessions/YYYY-MM-DD/<session_id>.jsonl."""
    d = root / "sessions" / day
    d.mkdir(parents=True, exist_ok=True)
    f = d / f"{sid}.jsonl"
    f.write_bytes(data)
    return f


def _stats(store) -> dict[str, dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {', '.join(STAT_COLS)} FROM session_stats")).all()
    return {r[0]: dict(zip(STAT_COLS, r)) for r in rows}


def _ingest(store, root):
    col = Collector(store, [LunaRouteSource([root / "sessions"])], workers=1)
    return col, col.run_once()


# --- the sample ------------------------------------------------------------------------------------------------

def test_the_sample_through_the_real_cli(tmp_path):
    ev = _sample_events()
    _lay_out(tmp_path / "lr", SAMPLE.read_bytes())
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))

    def run(*a):
        return subprocess.run([sys.executable, "-m", "nexus_tui", "--lunaroute-dir", str(tmp_path / "lr" / "sessions"),
                               *a], env=env, capture_output=True, text=True, timeout=60, check=False)

    r = run("ingest")
    assert r.returncode == 0 and "1 task (" in r.stdout and "skipped lines: 0" in r.stdout, r.stdout + r.stderr
    again = run("ingest")
    assert again.returncode == 0 and "0 tasks" in again.stdout, again.stdout
    rows = json.loads(run("--headless", "sessions", "--format", "json", "--no-collect").stdout)["sessions"]
    (s,) = rows  # the LunaRoute session is listed once
    resp = ev["response_recorded"]
    assert (s["session_id"], s["cli_tool"], s["tasks"]) == (SID, "claude-code", 1)
    assert (s["tokens_in"], s["tokens_out"], s["cache_read_tokens"], s["cache_creation_tokens"]) == \
        (resp["input_tokens"], resp["output_tokens"], resp["cache_read_tokens"], resp["cache_creation_tokens"])
    want, _ = price(resp["model_used"], 1759320000000, tokens_in=3, tokens_out=245, cache_read=11442,
                    cache_write=15005)
    assert s["cost_usd"] == round(want, 6) and s["tool_calls"] == 1
    summary = json.loads(run("--headless", "summary", "--format", "json", "--no-collect").stdout)
    assert summary["tasks"] == 1 and summary["top_tools"][0]["tool"] == "Bash"



def test_a_file_name_that_is_not_utf8_is_read_once_and_on_from_its_cursor(tmp_path):
    """A recording or event log named with bytes that are not UTF-8 ('\\xff'): the second ingest ended in a
    traceback (the light pass bound the name's lone surrogates), and the full pass stored its cursor as 'U+FFFD'
    and then looked it up by the raw name, so the file was read again from its start on every pass."""
    require_shared()
    day = tmp_path / "lr" / "sessions" / "2025-10-01"
    day.mkdir(parents=True)
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    rec = os.path.join(os.fsencode(day), b"bc697788\xff\xfe.jsonl")
    with open(rec, "wb") as f:
        f.writelines(lines[:-1])
    logs = tmp_path / "nexus" / "logs"
    logs.mkdir(parents=True)
    ev = {"v": 1, "type": "session_start", "ts": "2026-01-02T00:00:00Z", "session_id": "s-ev", "cli_tool": "x"}
    with open(os.path.join(os.fsencode(logs), b"2026-01-02\xff.jsonl"), "wb") as f:
        f.write(json.dumps(ev).encode() + b"\n")
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))

    def ingest():
        r = subprocess.run([sys.executable, "-m", "nexus_tui", "--lunaroute-dir", str(tmp_path / "lr" / "sessions"),
                            "ingest"], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
        return r.stdout.splitlines()[0]

    assert ingest().startswith("files: 2 seen, 2 read")
    assert ingest().startswith("files: 2 seen, 0 read (0.0 MB, 0 lines)")
    with open(rec, "ab") as f:
        f.write(lines[-1])
    assert ingest().startswith("files: 2 seen, 1 read (0.0 MB, 1 line)")
    assert ingest().startswith("files: 2 seen, 0 read")

def test_the_sample_through_run_once_equals_its_numbers(tmp_path):
    ev = _sample_events()
    _lay_out(tmp_path, SAMPLE.read_bytes())
    store = store_at(tmp_path / "db.sqlite")
    _col, rep = _ingest(store, tmp_path)
    assert (rep.written.new_sessions, rep.written.new_tasks, rep.written.new_tool_calls, rep.skipped_total) == \
        (1, 1, 1, 0)
    resp, started, done = ev["response_recorded"], ev["started"], ev["completed"]
    with store.engine.connect() as conn:
        t = conn.execute(text("SELECT id, session_id, source, model, routing, tokens_in, tokens_out, cache_read_tokens, "
                              "cache_creation_tokens, total_tokens, latency_ms, timestamp, end_ms, request_id, "
                              "message_id, stop_reason, cli_tool, cost_usd, priced_as, prompt_length, status "
                              "FROM tasks")).one()._mapping
        tc = conn.execute(text("SELECT id, task_id, tool_name, source, input_size, success FROM tool_calls")).one()
        s = conn.execute(text("SELECT id, start_time, end_time, cli_tool FROM sessions")).one()
    assert t["id"] == f"lr:{resp['request_id']}" and t["request_id"] == resp["request_id"]
    assert (t["session_id"], t["source"], t["model"], t["routing"]) == (SID, "proxy-intercept", resp["model_used"],
                                                                       "cloud")
    assert (t["tokens_in"], t["tokens_out"], t["cache_read_tokens"], t["cache_creation_tokens"]) == \
        (resp["input_tokens"], resp["output_tokens"], resp["cache_read_tokens"], resp["cache_creation_tokens"])
    assert t["total_tokens"] == done["grand_total"] == 26695
    assert t["latency_ms"] == resp["provider_latency_ms"] == 3527
    assert t["timestamp"] == "2025-10-01T12:00:00.000Z"  # the request's start
    assert t["message_id"] == resp["response_json"]["id"] and t["stop_reason"] == "tool_use"
    assert (t["cli_tool"], t["prompt_length"], t["status"]) == ("claude-code", len("push to github"), "ok")
    want, priced = price(resp["model_used"], 1759320000000, tokens_in=3, tokens_out=245, cache_read=11442,
                         cache_write=15005)
    assert t["cost_usd"] == pytest.approx(want) and t["priced_as"] == priced
    tcall = ev["tool_call_recorded"]
    assert tuple(tc) == (tcall["tool_call_id"], t["id"], "Bash", "proxy-intercept", tcall["input_size_bytes"], None)
    assert tuple(s) == (SID, "2025-10-01T12:00:00.000Z", "2025-10-01T12:00:03.700Z", "claude-code")
    st = _stats(store)[SID]
    assert st == {"session_id": SID, "source": "lunaroute", "requests": 1, "p50_latency_ms": 3527.0,
                  "p95_latency_ms": 3527.0, "p99_latency_ms": 3527.0, "max_latency_ms": 3527.0,
                  "proxy_overhead_ms": done["proxy_overhead_ms"], "proxy_overhead_pct":
                  done["proxy_overhead_percentage"], "thinking_tokens": 0, "thinking_share": 0.0,
                  "tokens_per_second": resp["tokens_per_second"], "tool_calls": done["total_tool_calls"],
                  "tool_errors": 0, "updated_ms": 1759320003700}
    assert started["session_id"] == SID


def test_appended_in_pieces_gives_the_same_rows_and_a_rerun_writes_nothing(tmp_path):
    data = SAMPLE.read_bytes() if SAMPLE.is_file() else require_shared()
    whole = store_at(tmp_path / "a.db")
    _lay_out(tmp_path / "w", data)
    _ingest(whole, tmp_path / "w")
    inc = store_at(tmp_path / "b.db")
    f = _lay_out(tmp_path / "p", b"")
    col = Collector(inc, [LunaRouteSource([tmp_path / "p" / "sessions"])], workers=1)
    line_ends = [i + 1 for i, c in enumerate(data) if c == ord("\n")]
    cuts = sorted(set(line_ends + [17, 400, 1500, 2600, 3300, len(data) - 5]))  # line ends and half-written lines
    for cut in cuts:
        f.write_bytes(data[:cut])
        col.run_once()
    assert dump(inc) == dump(whole) and _stats(inc) == _stats(whole)
    rep = col.run_once()
    assert not rep.written.changed and rep.files_read == 0
    with inc.engine.connect() as conn:
        cur = conn.execute(text("SELECT offset, lines, skipped FROM ingest_cursors")).one()
    assert tuple(cur) == (len(data), 8, 0)


def test_malformed_lines_are_counted_with_a_reason_and_never_stop_the_file(tmp_path):
    data = SAMPLE.read_bytes() if SAMPLE.is_file() else require_shared()
    f = _lay_out(tmp_path, data)
    store = store_at(tmp_path / "db.sqlite")
    col, _ = _ingest(store, tmp_path)
    bad = [b'{oops', b'[1, 2]', b'{"type":"mystery","session_id":"x","timestamp":"2025-10-01T12:00:00Z"}',
           b'{"type":"response_recorded","session_id":"x"}',
           b'{"type":"completed","session_id":"x","timestamp":"2025-10-01T12:00:00Z"}',
           (b'{"type":"response_recorded","session_id":"x","request_id":"r","timestamp":"2025-10-01T12:00:00Z",'
           b'"model_used":"gpt-4o","input_tokens":-5}'),
           (b'{"type":"stats_updated","session_id":"x","request_id":"r","timestamp":"2025-10-01T12:00:00Z",'
           b'"token_updates":"lots"}'),
           b'{"type":"response_recorded","session_id":"x","request_id":"r2","timestamp":"2025-10-01T12:00:00Z"}',
           b'']
    good = (b'{"type":"started","session_id":"x","request_id":"r3","timestamp":"2025-10-01T12:00:05Z",'
            b'"model_requested":"gpt-4o","provider":"openai","listener":"openai","is_streaming":false,'
            b'"user_agent":"python-httpx/0.27"}')
    with open(f, "ab") as fh:
        fh.write(b"\n".join(bad + [good]) + b"\n")
    rep = col.run_once()
    assert dict(rep.skipped) == {"malformed JSON": 1, "not a JSON object": 1, "unknown event type (mystery)": 1,
                                 "event without session_id or timestamp": 1, "event without request_id": 1,
                                 "invalid response_recorded event": 2, "invalid stats_updated event": 1}
    assert rep.written.new_sessions == 1  # the good line after the bad ones still counts
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT skipped FROM ingest_cursors")).scalar() == 8
        msg = conn.execute(text("SELECT message FROM errors WHERE component = 'ingest'")).scalar()
        assert conn.execute(text("SELECT cli_tool FROM sessions WHERE id = 'x'")).scalar() == "proxy"
    assert "8 lines skipped" in msg and "malformed JSON: 1" in msg


# --- generated sessions in the exact layout ---------------------------------------------------------------------

T0 = datetime(2025, 10, 2, 9, 0, tzinfo=UTC)


def _ts(ms: int) -> str:
    return (T0 + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def _totals(tin=0, tout=0, thinking=0, reasoning=0, cread=0, cwrite=0) -> dict:
    return {"total_input": tin, "total_output": tout, "total_thinking": thinking, "total_reasoning": reasoning,
            "total_cached": cread, "total_cache_read": cread, "total_cache_creation": cwrite, "total_audio_input": 0,
            "total_audio_output": 0, "grand_total": tin + tout + thinking + reasoning + cread + cwrite, "by_model": {}}


def _perf(lat=None, pct=0.0) -> dict:
    return {"avg_provider_latency_ms": float(lat or 0), "p50_latency_ms": lat, "p95_latency_ms": lat,
            "p99_latency_ms": lat, "max_latency_ms": lat or 0, "min_latency_ms": lat or 0, "avg_pre_processing_ms": 0.0,
            "avg_post_processing_ms": 0.0, "proxy_overhead_percentage": pct}


def _tools(calls=0, names=()) -> dict:
    return {"total_tool_calls": calls, "unique_tool_count": len(set(names)),
            "by_tool": {n: {"call_count": 1, "total_execution_time_ms": 0, "avg_execution_time_ms": 0, "error_count": 0}
                        for n in names}, "total_tool_time_ms": 0, "tool_error_count": 0}


UA = "claude-cli/2.0.14 (external, cli)"


def passthrough_request(sid: str, rid: str, at: int, duration: int, tin: int, tout: int, tools=(),
                        model="claude-sonnet-4-5-20250929", failed: str | None = None) -> list[dict]:
    """One streamed Anthropic->Anthropic passthrough request as LunaRoute records it: `completed` with the duration
    and zero tokens, then `tool_call_recorded` and `stats_updated` from the asynchronous parse of the stream."""
    base = {"session_id": sid, "request_id": rid}
    ev = [{"type": "started", **base, "timestamp": _ts(at), "model_requested": model, "provider": "anthropic",
           "listener": "anthropic", "is_streaming": True, "client_ip": None, "user_agent": UA, "api_version": None,
           "request_headers": {}, "session_tags": []},
          {"type": "request_recorded", **base, "timestamp": _ts(at + 1), "request_text": f"step {rid}",
           "request_json": {"model": model, "stream": True, "messages": [{"role": "user", "content": f"step {rid}"}]},
           "estimated_tokens": 0, "pre_processing_ms": 0.05, "request_size_bytes": 120, "message_count": 1,
           "has_system_prompt": True, "has_tools": True, "tool_count": 17}]
    if failed:
        ev.append({"type": "completed", **base, "timestamp": _ts(at + duration), "success": False, "error": failed,
                   "finish_reason": None, "total_duration_ms": duration, "provider_time_ms": 0,
                   "proxy_overhead_ms": 0.0, **_totals(), **_tools(), **_perf(), "streaming_stats": None,
                   "estimated_cost": None})
        return ev
    ev.append({"type": "stream_started", **base, "timestamp": _ts(at + 300), "time_to_first_token_ms": 300})
    ev.append({"type": "completed", **base, "timestamp": _ts(at + duration), "success": True, "error": None,
               "finish_reason": "tool_use" if tools else "end_turn", "total_duration_ms": duration,
               "provider_time_ms": duration, "proxy_overhead_ms": 0.0, **_totals(), **_tools(), **_perf(),
               "streaming_stats": {"time_to_first_token_ms": 300, "total_chunks": 20, "streaming_duration_ms":
                                   duration - 300, "avg_chunk_latency_ms": 30.0, "p50_chunk_latency_ms": 25,
                                   "p95_chunk_latency_ms": 90, "p99_chunk_latency_ms": 120,
                                   "max_chunk_latency_ms": 150, "min_chunk_latency_ms": 1}, "estimated_cost": None})
    for i, name in enumerate(tools):
        ev.append({"type": "tool_call_recorded", **base, "timestamp": _ts(at + duration + 5), "tool_name": name,
                   "tool_call_id": f"toolu_{rid}_{i}", "execution_time_ms": None, "input_size_bytes": 40,
                   "output_size_bytes": None, "success": None, "tool_arguments": '{"command":"ls"}'})
    ev.append({"type": "stats_updated", **base, "timestamp": _ts(at + duration + 6),
               "token_updates": _totals(tin, tout), "tool_call_updates": _tools(len(tools), tools) if tools else None,
               "model_used": model, "response_size_bytes": 4000, "content_blocks": 1 + len(tools),
               "has_refusal": False, "user_agent": UA})
    return ev


def normalized_request(sid: str, rid: str, at: int, latency: int, overhead: float, pct: float, prompt: int,
                       cached: int, completion: int, reasoning: int, model="gpt-4o") -> list[dict]:
    """One request through LunaRoute's normalized path to an OpenAI provider: `response_recorded` with the flat
    TokenStats (input = prompt_tokens, cached part included) and `completed` with the request's performance."""
    base = {"session_id": sid, "request_id": rid}
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
             "prompt_tokens_details": {"cached_tokens": cached},
             "completion_tokens_details": {"reasoning_tokens": reasoning}}
    return [
        {"type": "started", **base, "timestamp": _ts(at), "model_requested": model, "provider": "openai",
         "listener": "openai", "is_streaming": False, "client_ip": "127.0.0.1", "user_agent": "OpenAI/Python 1.51.0",
         "api_version": None, "request_headers": {}, "session_tags": []},
        {"type": "response_recorded", **base, "timestamp": _ts(at + latency), "response_text": "ok",
         "response_json": {"id": f"chatcmpl-{rid}", "object": "chat.completion", "model": model,
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "ok"}}], "usage": usage},
         "model_used": model, "provider_latency_ms": latency, "post_processing_ms": 0.1,
         "total_proxy_overhead_ms": overhead, "input_tokens": prompt, "output_tokens": completion,
         "total_tokens": prompt + completion, "thinking_tokens": None, "reasoning_tokens": reasoning,
         "cache_read_tokens": cached, "cache_creation_tokens": None, "audio_input_tokens": None,
         "audio_output_tokens": None, "thinking_percentage": None, "tokens_per_second": None, "tool_calls": [],
         "response_size_bytes": 300, "content_blocks": 1, "has_refusal": False, "is_streaming": False,
         "chunk_count": None, "streaming_duration_ms": None},
        {"type": "completed", **base, "timestamp": _ts(at + latency + 1), "success": True, "error": None,
         "finish_reason": "stop", "total_duration_ms": latency + 1, "provider_time_ms": latency,
         "proxy_overhead_ms": overhead, **_totals(prompt, completion, reasoning=reasoning, cread=cached),
         **_tools(), **_perf(latency, pct), "streaming_stats": None, "estimated_cost": None},
    ]


def _jsonl(events: list[dict]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def _nearest(xs, p):
    s = sorted(xs)
    return float(s[math.ceil(p / 100 * len(s)) - 1])


LAT = [3120, 840, 15200, 4410, 990, 610, 7525, 2200, 31000, 150, 640, 1800, 7000, 9500, 50000, 2300, 4100, 880,
       1600, 7000, 12345, 4000, 2750, 5600, 930]


def test_a_generated_passthrough_session_gives_exact_percentiles_tokens_and_tools(tmp_path):
    sid = "7f3e0d1c-2b9a-4e57-9a51-d2c8f1e06b3a"
    toks = [(3 + i, 100 + 37 * i) for i in range(len(LAT))]
    events, at = [], 0
    for i, lat in enumerate(LAT):
        events += passthrough_request(sid, f"req-{i:02d}", at, lat, *toks[i], tools=("Bash", "Read") if i % 5 == 0
                                      else ())
        at += lat + 2000
    events += passthrough_request(sid, "req-failed", at, 1200, 0, 0, failed="provider error: 529 overloaded")
    data = _jsonl(events)
    _lay_out(tmp_path, data, sid=sid, day="2025-10-02")
    store = store_at(tmp_path / "db.sqlite")
    _col, rep = _ingest(store, tmp_path)
    assert rep.skipped_total == 0 and rep.written.new_tasks == len(LAT)  # the failed request is an error, not a task
    st = _stats(store)[sid]
    assert st["requests"] == len(LAT) + 1
    assert (st["p50_latency_ms"], st["p95_latency_ms"], st["p99_latency_ms"], st["max_latency_ms"]) == \
        (_nearest(LAT, 50), _nearest(LAT, 95), _nearest(LAT, 99), float(max(LAT)))
    assert st["tokens_per_second"] == pytest.approx(1000 * sum(o for _, o in toks) / sum(LAT), abs=1e-3)
    assert (st["proxy_overhead_ms"], st["proxy_overhead_pct"], st["thinking_share"]) == (0.0, 0.0, 0.0)
    assert (st["tool_calls"], st["tool_errors"]) == (2 * len(range(0, len(LAT), 5)), 0)
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, latency_ms, tokens_in, tokens_out, model, stop_reason FROM tasks "
                                 "ORDER BY ts_ms")).all()
        err = conn.execute(text("SELECT id, component, kind, message, session_id, task_id FROM errors "
                                "WHERE component = 'api'")).one()
        q = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT task_id) FROM tool_calls")).one()
    assert [(r[1], r[2], r[3]) for r in rows] == [(lat, *toks[i]) for i, lat in enumerate(LAT)]
    assert {r[4] for r in rows} == {"claude-sonnet-4-5-20250929"}
    assert rows[0][5] == "tool_use" and rows[1][5] == "end_turn"
    assert tuple(err) == ("lr-failed:req-failed", "api", "proxy_request_failed", "provider error: 529 overloaded",
                          sid, None)
    assert tuple(q) == (st["tool_calls"], len(range(0, len(LAT), 5)))
    # the same file read in pieces (cut at every 7th line and inside lines) ends with the same statistics
    inc = store_at(tmp_path / "inc.sqlite")
    f = _lay_out(tmp_path / "pieces", b"", sid=sid, day="2025-10-02")
    col = Collector(inc, [LunaRouteSource([tmp_path / "pieces" / "sessions"])], workers=1)
    ends = [i + 1 for i, c in enumerate(data) if c == ord("\n")]
    for cut in ends[::7] + [ends[10] - 30, len(data)]:
        f.write_bytes(data[:cut])
        col.run_once()
    assert _stats(inc) == _stats(store) and dump(inc) == dump(store)


def test_a_generated_normalized_openai_session_overhead_thinking_and_cached_input(tmp_path):
    sid = "openai-session-1"
    rows = [(120, 0.4, 0.33, 1200, 1000, 80, 20), (80, 0.2, 0.25, 900, 0, 60, 0), (3000, 1.5, 0.05, 5000, 4096, 400, 100),
            (450, 0.3, 0.07, 2000, 1024, 150, 30), (999, 0.9, 0.09, 3000, 2048, 220, 60)]
    events, at = [], 0
    for i, (lat, ovh, pct, prompt, cached, out, reason) in enumerate(rows):
        events += normalized_request(sid, f"o{i}", at, lat, ovh, pct, prompt, cached, out, reason)
        at += 10_000
    _lay_out(tmp_path, _jsonl(events), sid=sid, day="2025-10-02")
    store = store_at(tmp_path / "db.sqlite")
    _ingest(store, tmp_path)
    st = _stats(store)[sid]
    lats = [r[0] for r in rows]
    assert (st["requests"], st["p50_latency_ms"], st["p95_latency_ms"], st["max_latency_ms"]) == \
        (5, _nearest(lats, 50), _nearest(lats, 95), float(max(lats)))
    assert st["proxy_overhead_ms"] == pytest.approx(sum(r[1] for r in rows))
    durations = [lat + 1 for lat in lats]  # LunaRoute's percentages, weighted by each request's total duration
    assert st["proxy_overhead_pct"] == pytest.approx(sum(r[2] * d for r, d in zip(rows, durations)) / sum(durations),
                                                     abs=1e-4)
    assert st["thinking_tokens"] == sum(r[6] for r in rows)
    assert st["thinking_share"] == pytest.approx(sum(r[6] for r in rows) / sum(r[5] for r in rows))
    assert st["tokens_per_second"] == pytest.approx(1000 * sum(r[5] for r in rows) / sum(lats), abs=1e-3)
    with store.engine.connect() as conn:
        t = conn.execute(text("SELECT id, tokens_in, cache_read_tokens, tokens_out, thinking_tokens, latency_ms, "
                              "message_id, stop_reason, cli_tool, cost_usd FROM tasks ORDER BY ts_ms")).all()
        cli = conn.execute(text("SELECT cli_tool FROM sessions")).scalar()
    for (lat, _o, _p, prompt, cached, out, reason), r in zip(rows, t):
        # OpenAI counts the cached part inside prompt_tokens: tokens_in is the uncached rest
        assert (r[1], r[2], r[3], r[4], r[5]) == (prompt - cached, cached, out, reason or None, lat)
        assert r[9] == pytest.approx(price("gpt-4o", int(T0.timestamp() * 1000), tokens_in=prompt - cached,
                                           tokens_out=out, cache_read=cached)[0])
    assert t[0][6] == "chatcmpl-o0" and t[0][7] == "stop" and t[0][8] == "proxy" and cli == "proxy"


def test_openai_passthrough_totals_and_an_unknown_model():
    """``stats_updated`` of an OpenAI passthrough stream: total_input = prompt_tokens (cached part inside, reported in
    the older ``total_cached``); a model genai-prices does not know is priced as None, never 0."""
    base = {"session_id": "s", "request_id": "r"}
    lines = [{"type": "started", **base, "timestamp": _ts(0), "model_requested": "my-local-llama",
              "provider": "openai", "listener": "openai", "is_streaming": True, "user_agent": None},
             {"type": "stats_updated", **base, "timestamp": _ts(900),
              "token_updates": {**_totals(1000, 50, reasoning=10), "total_cached": 600, "total_cache_read": 0},
              "tool_call_updates": None, "model_used": "my-local-llama", "response_size_bytes": 10,
              "content_blocks": 1, "has_refusal": False, "user_agent": None}]
    b = parse_lines(_jsonl(lines), 0, "f", {})
    (t,) = b.tasks
    assert (t.tokens_in, t.cache_read_tokens, t.tokens_out, t.thinking_tokens) == (400, 600, 50, 10)
    assert (t.cost_usd, t.priced_as, t.cli_tool, t.latency_ms) == (None, None, "proxy", None)


def test_non_streaming_passthrough_latency_comes_from_the_event_times():
    """A non-streaming passthrough request writes no `completed`: the latency is stats_updated - started."""
    events = passthrough_request("s", "r", 0, 2500, 10, 20)
    events = [dict(e, is_streaming=False) if e["type"] == "started" else e for e in events
              if e["type"] not in ("completed", "stream_started")]
    b = parse_lines(_jsonl(events), 0, "f", {})
    assert [t.latency_ms for t in b.tasks] == [2506]
    assert b.session_stats[-1]["p50_latency_ms"] == 2506.0


@pytest.mark.parametrize("ua, tool", [("claude-cli/2.0.14 (external, cli)", "claude-code"),
                                      ("claude-cli/2.1.38 (external, sdk-py)", "claude-code"),
                                      ("Claude Code/1.0", "claude-code"),
                                      ("GeminiCLI/0.1.5 (linux; x64)", "gemini-cli"),
                                      ("Kiro-CLI/1.2", "kiro-cli"), ("python-httpx/0.27.0", "proxy"),
                                      (None, None), ("", None)])
def test_cli_tool_from_the_user_agent(ua, tool):
    assert cli_tool_of(ua) == tool


# --- a session seen by the transcript and by the proxy -----------------------------------------------------------

CC_SID = "55604662-cf2a-4331-851a-ec234028f8ca"
CC_REQ = "req_011CY15QS2LGwAeBxdfa6e1V"


def _both(tmp_path, with_request_id: bool):
    require_shared()
    projects = tmp_path / "claude" / "projects" / "-home-marco-projects-spotter"
    projects.mkdir(parents=True)
    shutil.copy(CC / "spotter" / "short.jsonl", projects / f"{CC_SID}.jsonl")
    usage = {"input_tokens": 3, "cache_creation_input_tokens": 13835, "cache_read_input_tokens": 11515,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 13835},
             "output_tokens": 13, "service_tier": "standard"}
    resp = {"id": "msg_01MKH1ccEGrZGNPvu8pYiiQa", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
            "content": [{"type": "tool_use", "id": "toolu_0116Hyi5v8ut7Ffb7d8qV1Sc", "name": "Bash", "input": {}}],
            "stop_reason": "tool_use", "usage": usage}
    if with_request_id:
        resp["request_id"] = CC_REQ  # what a recorder that keeps Anthropic's request-id header would add
    base = {"session_id": CC_SID, "request_id": "4e0f6a52-1f0e-4a36-8d0c-3c8b2f0b9a11"}
    matched = [{"type": "started", **base, "timestamp": "2026-02-10T21:11:56.950Z", "model_requested": "claude-opus-4-6",
                "provider": "anthropic", "listener": "anthropic", "is_streaming": False, "user_agent": UA},
               {"type": "response_recorded", **base, "timestamp": "2026-02-10T21:12:01.700Z", "response_text": "",
                "response_json": resp, "model_used": "claude-opus-4-6", "provider_latency_ms": 4700,
                "post_processing_ms": 0.1, "total_proxy_overhead_ms": 0.3, "input_tokens": 3, "output_tokens": 13,
                "total_tokens": 25366, "thinking_tokens": None, "reasoning_tokens": None, "cache_read_tokens": 11515,
                "cache_creation_tokens": 13835, "tool_calls": [
                    {"tool_name": "Bash", "tool_call_id": "toolu_0116Hyi5v8ut7Ffb7d8qV1Sc", "execution_time_ms": None,
                     "input_size_bytes": 2, "output_size_bytes": None, "success": None}],
                "response_size_bytes": 900, "content_blocks": 1, "has_refusal": False, "is_streaming": False}]
    other = passthrough_request(CC_SID, "9d1c4b7e-0a5f-4f0e-b1d2-7c3e9a8b6f10", 10_000, 2000, 5, 70,
                                model="claude-opus-4-6")
    _lay_out(tmp_path / "lr", _jsonl(matched + other), sid=CC_SID, day="2026-02-10")
    return projects.parent, tmp_path / "lr" / "sessions"


@pytest.mark.parametrize("order", ["transcript first", "proxy first"])
def test_a_session_seen_by_transcript_and_proxy_is_one_session_and_a_named_request_one_task(tmp_path, order):
    projects, lr = _both(tmp_path, with_request_id=True)
    alone = store_at(tmp_path / "transcript-only.sqlite")
    Collector(alone, [ClaudeCodeSource([projects])], workers=1).run_once()
    store = store_at(tmp_path / "both.sqlite")
    sources = [ClaudeCodeSource([projects]), LunaRouteSource([lr])]
    Collector(store, sources if order == "transcript first" else sources[::-1], workers=1).run_once()
    with store.engine.connect() as conn:
        sessions = conn.execute(text("SELECT id, cli_tool, project FROM sessions")).all()
        tasks = conn.execute(text("SELECT id, tokens_in, tokens_out, cache_read_tokens, cache_creation_tokens, "
                                  "cost_usd FROM tasks ORDER BY id")).all()
        tools = conn.execute(text("SELECT COUNT(*) FROM tool_calls WHERE id = 'toolu_0116Hyi5v8ut7Ffb7d8qV1Sc'")).scalar()
    with alone.engine.connect() as conn:
        (cc,) = conn.execute(text("SELECT id, tokens_in, tokens_out, cache_read_tokens, cache_creation_tokens, "
                                  "cost_usd, project FROM tasks")).all()
    assert sessions == [(CC_SID, "claude-code", cc[6])]
    # the request the proxy could name is the transcript's row; the other proxied request is a task of its own
    assert [t[0] for t in tasks] == ["lr:9d1c4b7e-0a5f-4f0e-b1d2-7c3e9a8b6f10", CC_REQ]
    assert tasks[1][:5] == cc[:5] and tasks[1][5] == pytest.approx(cc[5])
    assert tools == 1


def test_without_a_request_id_the_proxy_task_is_separate_and_keeps_the_message_id(tmp_path):
    """The documented limitation: LunaRoute records no Anthropic request id, so a request seen by both is two tasks;
    the proxy's task keeps the message id, which is how a report can pair them."""
    projects, lr = _both(tmp_path, with_request_id=False)
    store = store_at(tmp_path / "both.sqlite")
    Collector(store, [ClaudeCodeSource([projects]), LunaRouteSource([lr])], workers=1).run_once()
    with store.engine.connect() as conn:
        pairs = conn.execute(text("SELECT source, COUNT(*) FROM tasks WHERE message_id = 'msg_01MKH1ccEGrZGNPvu8pYiiQa' "
                                  "GROUP BY source ORDER BY source")).all()
        assert conn.execute(text("SELECT COUNT(*) FROM sessions")).scalar() == 1
    assert pairs == [("proxy-intercept", 1), ("transcript", 1)]


def test_headless_sessions_lists_a_shared_session_once(tmp_path):
    _projects, lr = _both(tmp_path, with_request_id=True)
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "--lunaroute-dir", str(lr), "--headless", "sessions",
                        "--format", "json"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["sessions"]
    assert [(s["session_id"], s["tasks"], s["cli_tool"]) for s in rows] == [(CC_SID, 2, "claude-code")]


# --- settings ---------------------------------------------------------------------------------------------------

def test_where_recordings_are_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    home = tmp_path / "nexus"
    home.mkdir()
    assert load_settings(home).lunaroute_dirs == [tmp_path / ".lunaroute" / "sessions"]
    (home / "insights.toml").write_text('[lunaroute]\ndirs = ["~/recordings/a", "/srv/lr"]\n')
    assert load_settings(home).lunaroute_dirs == [tmp_path / "recordings" / "a", Path("/srv/lr")]
    assert load_settings(home, lunaroute_dirs=["/x"]).lunaroute_dirs == [Path("/x")]  # the option wins
    (home / "insights.toml").write_text("[lunaroute]\nenabled = false\n")
    assert load_settings(home).lunaroute_dirs == []
