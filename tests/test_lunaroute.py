"""LunaRoute recordings through files on disk: the sample end to end, pieces, re-runs, bad lines, percentiles."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from nexus_tui.collect.collector import Collector
from nexus_tui.collect.sources import LunaRouteSource
from nexus_tui.core.pricing import price
from tests.conftest import REAL, require_shared
from tests.helpers import dump, store_at

SAMPLE = REAL / "lunaroute" / "constructed_from_events_rs.jsonl"
SID = "bc697788-f3f4-493b-80cc-2a03174c8861"


def _lay_out(root, name="2025-10-01", data=None):
    require_shared()
    d = root / "sessions" / name
    d.mkdir(parents=True, exist_ok=True)
    f = d / f"{SID}.jsonl"
    f.write_bytes(SAMPLE.read_bytes() if data is None else data)
    return f


def test_the_sample_through_the_real_cli(tmp_path):
    _lay_out(tmp_path / "lr")
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))
    run = lambda *a: subprocess.run([sys.executable, "-m", "nexus_tui", "--lunaroute-dir",  # noqa: E731
                                     str(tmp_path / "lr" / "sessions"), *a], env=env, capture_output=True,
                                    text=True, timeout=60)
    r = run("ingest")
    assert r.returncode == 0 and "1 tasks" in r.stdout and "skipped lines: 0" in r.stdout, r.stdout + r.stderr
    rows = json.loads(run("--headless", "sessions", "--format", "json", "--no-collect").stdout)
    (s,) = rows
    ev = {e["type"]: e for e in map(json.loads, SAMPLE.read_text().splitlines())}
    resp = ev["response_recorded"]
    assert (s["session_id"], s["cli_tool"], s["tasks"]) == (SID, "claude-code", 1)
    assert (s["tokens_in"], s["tokens_out"], s["cache_read_tokens"], s["cache_creation_tokens"]) == \
        (resp["input_tokens"], resp["output_tokens"], resp["cache_read_tokens"], resp["cache_creation_tokens"])
    want, _ = price(resp["model_used"], 1759320003527, tokens_in=3, tokens_out=245, cache_read=11442,
                    cache_write=15005)
    assert s["cost_usd"] == pytest.approx(want) and s["tool_calls"] == 1
    summary = json.loads(run("--headless", "summary", "--format", "json", "--no-collect").stdout)
    assert summary["tasks"] == 1 and summary["top_tools"][0]["tool"] == "Bash"
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        t = conn.execute(text("SELECT source, latency_ms, routing FROM tasks")).one()
        st = conn.execute(text("SELECT requests, p95_latency_ms, proxy_overhead_ms, proxy_overhead_pct, "
                               "tokens_per_second, thinking_share FROM session_stats")).one()
    assert tuple(t) == ("proxy-intercept", 3527, "cloud")
    assert tuple(st) == (1, 3527.0, 0.2, 0.01, 69.5, 0.0)


def test_pieces_rerun_and_bad_lines(tmp_path):
    data = SAMPLE.read_bytes()
    whole = store_at(tmp_path / "a.db")
    _lay_out(tmp_path / "w")
    Collector(whole, [LunaRouteSource([tmp_path / "w" / "sessions"])], workers=1).run_once()
    inc = store_at(tmp_path / "b.db")
    f = _lay_out(tmp_path / "p", data=b"")
    col = Collector(inc, [LunaRouteSource([tmp_path / "p" / "sessions"])], workers=1)
    for cut in (17, 400, 1500, 2600, 3300, len(data)):
        f.write_bytes(data[:cut])
        col.run_once()
    assert dump(inc) == dump(whole)
    assert not col.run_once().written.changed
    with open(f, "ab") as fh:
        fh.write(b'{"type":"response_recorded","session_id":"x"}\n{oops\n{"type":"mystery","session_id":"x"}\n')
    rep = col.run_once()
    assert dict(rep.skipped) == {"event without session_id or timestamp": 1, "malformed JSON": 1,
                                 "unknown event type (mystery)": 1}


def _session(sid, latencies, provider="openai"):
    lines = []
    for i, ms in enumerate(latencies):
        rid = f"r{i}"
        base = {"session_id": sid, "request_id": rid}
        lines.append({**base, "type": "started", "timestamp": f"2025-10-02T10:{i:02d}:00.000Z", "model_requested":
                      "gpt-4o", "provider": provider, "user_agent": "python-httpx/0.27"})
        lines.append({**base, "type": "response_recorded", "timestamp": f"2025-10-02T10:{i:02d}:05.000Z",
                      "model_used": "gpt-4o", "provider_latency_ms": ms, "input_tokens": 1000, "output_tokens": 50,
                      "cache_read_tokens": 400, "cache_creation_tokens": 0, "tool_calls": []})
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def test_generated_session_latency_percentiles_and_openai_token_semantics(tmp_path):
    lat = [120, 80, 3000, 450, 999, 60, 75, 2200, 310, 15, 640, 1800, 70, 95, 5000, 230, 410, 88, 160, 700]
    _lay_out(tmp_path / "g", data=_session("gen-session", lat))
    store = store_at(tmp_path / "db.sqlite")
    Collector(store, [LunaRouteSource([tmp_path / "g" / "sessions"])], workers=1).run_once()
    from nexus_tui.core.filters import Filters
    from nexus_tui.store import queries as Q

    (m,) = Q.models(store.engine, Filters())
    s = sorted(lat)
    assert m["p95_latency_ms"] == s[math.ceil(0.95 * len(s)) - 1]
    assert m["tokens_in"] == 20 * 600 and m["cache_read_tokens"] == 20 * 400  # cached part taken out of input
    assert m["avg_latency_ms"] == pytest.approx(sum(lat) / len(lat), abs=0.1)
