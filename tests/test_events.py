"""The nexus event log: schema, the recorder (threads and processes), ingest end to end through the CLI."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from sqlalchemy import text

from nexus_tui.core.parse.nexus_events import invalid_reason, parse_lines
from nexus_tui.recorder import Recorder
from tests.helpers import store_at
from tests.test_store import _cli

TS = "2026-11-20T10:00:00.000Z"


@pytest.mark.parametrize("ev", [
    {"v": 1, "type": "session_start", "ts": TS, "session_id": "s", "cli_tool": "mcp", "persona": "architect",
     "nexus_mode": "hybrid"},
    {"v": 1, "type": "task", "ts": TS, "session_id": "s", "id": "t1", "model": "qwen2.5-coder:7b", "routing": "local",
     "alternatives": [{"model": "claude-sonnet-4-5", "reason_rejected": "short prompt"}], "tokens_in": 5},
    {"v": 1, "type": "rating", "ts": TS, "task_id": "t1", "rating": None},
    {"v": 1, "type": "tool_call", "ts": TS, "session_id": "s", "id": "c1", "tool": "search", "success": False},
    {"v": 1, "type": "error", "ts": TS, "component": "router", "kind": "timeout", "message": "no answer"},
])
def test_valid_events(ev):
    assert invalid_reason(ev) is None


@pytest.mark.parametrize("ev,where", [
    ({"v": 2, "type": "task", "ts": TS}, "v"),
    ({"v": 1, "type": "task", "ts": TS, "session_id": "s", "id": "t", "model": "m"}, "routing"),
    ({"v": 1, "type": "task", "ts": TS, "session_id": "s", "id": "t", "model": "m", "routing": "moon"}, "routing"),
    ({"v": 1, "type": "task", "ts": TS, "session_id": "s", "id": "t", "model": "m", "routing": "cloud",
      "tokens_in": -3}, "tokens_in"),
    ({"v": 1, "type": "rating", "ts": TS, "task_id": "t", "rating": 5}, "rating"),
    ({"v": 1, "type": "wat", "ts": TS}, "type"),
    ([1, 2], "event"),
])
def test_invalid_events_are_named(ev, where):
    reason = invalid_reason(ev)
    assert reason is not None and (where in reason or where == "event")


def _write_many(logs, n, tag):
    rec = Recorder(logs, session_id=f"proc-{tag}")
    for i in range(n):
        with rec.task(model="claude-haiku-4-5", tool="t", id=f"{tag}-{i}", prompt_length=i) as t:
            t.update(tokens_in=i, tokens_out=2 * i, response_length=("x" * 500) and 500)


def test_recorder_lines_never_interleave_across_threads_and_processes(tmp_path):
    logs = tmp_path / "logs"
    threads = [threading.Thread(target=_write_many, args=(logs, 150, f"th{k}")) for k in range(6)]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(logs, 150, f"pr{k}")) for k in range(3)]
    for x in threads + procs:
        x.start()
    for x in threads + procs:
        x.join(60)
    lines = b"".join(p.read_bytes() for p in logs.glob("*.jsonl")).splitlines()
    events = [json.loads(ln) for ln in lines]  # every line is whole JSON
    assert all(invalid_reason(e) is None for e in events)
    tasks = [e for e in events if e["type"] == "task"]
    assert len(tasks) == 9 * 150 and len({e["id"] for e in tasks}) == 9 * 150
    assert sum(1 for e in events if e["type"] == "session_start") == 9


def test_recorder_never_raises_into_the_caller(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    rec = Recorder(blocker / "logs")  # cannot create the folder
    with rec.task(model="m") as t:
        t.update(tokens_in=1)
    rec.rate(t.id, 1)
    assert rec.dropped == 3
    ok = Recorder(tmp_path / "logs")
    with pytest.raises(ZeroDivisionError):
        with ok.task(model="claude-haiku-4-5", id="boom"):
            1 / 0
    ev = [json.loads(x) for x in next((tmp_path / "logs").glob("*.jsonl")).read_text().splitlines()]
    assert ev[-1]["outcome"] == "error" and "ZeroDivisionError" in ev[-1]["error"]


def _price(model, tin, tout, ts):
    return float(calc_price(Usage(input_tokens=tin, output_tokens=tout), model_ref=model,
                            genai_request_timestamp=ts).total_price)


def test_event_log_ingests_end_to_end_incrementally(tmp_path):
    logs = tmp_path / "nexus" / "logs"
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    rec = Recorder(logs, session_id="nx-session-1", persona="architect", nexus_mode="hybrid", project="nexus")
    with rec.task(model="qwen2.5-coder:7b", routing="local", tool="summarize", id="local-1",
                  routing_reason="token_count<500", classifier_version="rules-v1", tier="Tier 1",
                  alternatives=[{"model": "claude-sonnet-4-5", "reason_rejected": "prompt under 500 tokens"}]) as t:
        t.update(tokens_in=1200, tokens_out=300, prompt_length=4800, response_length=1100)
    with rec.task(model="claude-sonnet-4-5", routing="cloud", tool="review", id="cloud-1",
                  routing_reason="complexity:high") as t:
        t.update(tokens_in=2000, tokens_out=700)
    rec.tool_call("search_docs", latency_ms=42, success=False, server="docs", error_type="timeout",
                  error_message="upstream timed out", id="call-1")
    rec.rate("local-1", 1)
    rec.error("router", "fallback", "local model busy, used cloud")
    with open(next(logs.glob("*.jsonl")), "a") as f:
        f.write('{"v": 1, "type": "task", "ts": "2026-11-20T10:00:00Z", "id": "bad"}\n{broken\n')
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0, r.stderr
    assert "2 tasks" in r.stdout and "skipped lines: 2" in r.stdout and "malformed JSON: 1" in r.stdout
    assert "invalid event" in r.stdout
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        s = conn.execute(text("SELECT cli_tool, persona, nexus_mode, project FROM sessions WHERE id='nx-session-1'")).one()
        tasks = {r.id: r for r in conn.execute(text("SELECT * FROM tasks WHERE session_id='nx-session-1'"))}
        rd = conn.execute(text("SELECT reason, alternatives_considered, classifier_version FROM routing_decisions "
                               "WHERE task_id='nx:local-1'")).one()
        call = conn.execute(text("SELECT tool_name, mcp_server, success, latency_ms, error_type FROM tool_calls")).one()
        errs = conn.execute(text("SELECT component, kind FROM errors WHERE component <> 'ingest' ORDER BY kind")).all()
    assert tuple(s) == ("mcp", "architect", "hybrid", "nexus")
    local, cloud = tasks["nx:local-1"], tasks["nx:cloud-1"]
    assert (local.routing, local.source, local.cost_usd, local.quality_rating, local.tier) == \
        ("local", "mcp-tool", 0.0, 1, "Tier 1")
    ts = datetime.fromtimestamp(local.end_ms / 1000, UTC)
    assert local.cloud_cost_equivalent == pytest.approx(_price("claude-sonnet-4-5", 1200, 300, ts))
    assert cloud.cost_usd == pytest.approx(_price("claude-sonnet-4-5", 2000, 700, ts)) == cloud.cloud_cost_equivalent
    assert local.latency_ms is not None and local.component == "summarize"
    assert rd.reason == "token_count<500" and rd.classifier_version == "rules-v1"
    assert json.loads(rd.alternatives_considered)[0]["model"] == "claude-sonnet-4-5"
    assert tuple(call) == ("search_docs", "docs", False, 42, "timeout")
    assert ("router", "fallback") in [tuple(e) for e in errs] and ("tool", "timeout") in [tuple(e) for e in errs]
    # nothing new: nothing written; one more event: only it is read
    again = _cli(tmp_path, "ingest")
    assert "0 tasks" in again.stdout and "0 tool calls" in again.stdout
    rec.rate("cloud-1", 0)
    _cli(tmp_path, "ingest")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT quality_rating FROM tasks WHERE id='nx:cloud-1'")).scalar() == 0
    summary = json.loads(_cli(tmp_path, "--headless", "summary", "--format", "json", "--no-collect").stdout)
    assert summary["local_savings_usd"] == pytest.approx(local.cloud_cost_equivalent)
    sessions = json.loads(_cli(tmp_path, "--headless", "sessions", "--format", "json", "--no-collect").stdout)["sessions"]
    assert [x["session_id"] for x in sessions] == ["nx-session-1"]


def test_parser_is_pure_and_counts(tmp_path):
    data = (b'{"v":1,"type":"session_start","ts":"2026-11-20T10:00:00.000Z","session_id":"s"}\n'
            b'{"v":1,"type":"task","ts":"2026-11-20T10:00:01.000Z","session_id":"s","id":"a","model":"mystery",'
            b'"routing":"cloud","tokens_in":3,"tokens_out":4,"latency_ms":1000}\n\n')
    b = parse_lines(data, 0, "x", "claude-sonnet-4-5")
    assert b.lines == 3 and b.skipped == {}
    (t,) = b.tasks
    assert (t.id, t.cost_usd, t.priced_as, t.latency_ms, t.end_ms - t.ts_ms) == ("nx:a", None, None, 1000, 1000)
    assert Decimal(0) == 0


@pytest.mark.parametrize("writer", ["recorder", "statusline", "proxy"])
def test_an_appender_after_a_cut_line_starts_a_line_of_its_own(tmp_path, writer):
    """A writer killed mid-line (or another program) leaves today's event log without a final newline: the next
    event was appended to the cut line and skipped with it as malformed JSON. Every appender starts a line of its
    own then; with a whole last line it adds nothing."""
    import time as _time

    from nexus_tui import statusline
    from nexus_tui.collect.proxy import EventSink, ProxyStats

    logs = tmp_path / "logs"
    logs.mkdir()
    today = logs / (_time.strftime("%Y-%m-%d", _time.gmtime()) + ".jsonl")
    whole = b'{"v":1,"type":"session_end","ts":"%s","session_id":"before"}\n' % TS.encode()
    cut = b'{"v":1,"type":"task","ts":"2026-11-20T10:00:00.000Z","session_id":"cut","id":"t0","mod'

    def append():
        if writer == "recorder":
            rec = Recorder(logs_dir=logs, start_session=False, session_id="s1")
            assert rec.event("task", id="t1", model="claude-sonnet-4-5", routing="cloud", tokens_in=7) is True
        elif writer == "statusline":
            assert statusline.record(tmp_path, {"session_id": "s1", "model": "claude-sonnet-4-5"})
        else:
            sink = EventSink(logs, ProxyStats())
            try:
                sink._write(b'{"v":1,"type":"session_end","ts":"%s","session_id":"s1"}\n' % TS.encode(), 1)
                sink._write(b'{"v":1,"type":"session_end","ts":"%s","session_id":"s2"}\n' % TS.encode(), 1)
            finally:
                sink.close()
            assert sink.stats.recorded == 2 and sink.stats.dropped == 0

    for before in (whole, whole + cut):
        today.write_bytes(before)
        append()
        data = today.read_bytes()
        assert data.startswith(before + (b"\n" if before.endswith(cut) else b""))
        lines = data.split(b"\n")
        assert lines[-1] == b"" and b"" not in lines[:-1]  # whole lines, no blank one added
        ours = [json.loads(x) for x in lines[len(before.splitlines()):-1]]
        assert ours and all(e["session_id"] in ("s1", "s2") for e in ours), ours
        b = parse_lines(data, 0, str(today), "claude-sonnet-4-5")
        assert b.skipped.get("malformed JSON", 0) == (1 if before.endswith(cut) else 0)
        if writer == "recorder":
            assert [t.id for t in b.tasks] and b.tasks[-1].tokens_in == 7
