"""The OTLP/HTTP receiver over real HTTP on loopback: the real Claude Code payloads, the official OpenTelemetry SDK's
protobuf exporters as a client, hand-built Gemini CLI payloads, bad and oversized bodies, and the collect daemon."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import text

from nexus_tui.collect.otlp import ReceiverThread
from nexus_tui.core.pricing import price
from tests.conftest import CC, REAL, require_shared
from tests.helpers import collector_for, store_at

OTEL = REAL / "otel"


@pytest.fixture
def receiver(tmp_path):
    store = store_at(tmp_path / "db.sqlite")
    rt = ReceiverThread(store.writer, "127.0.0.1", 0)
    rt.start()
    assert rt.ready.wait(10) and rt.error is None
    yield store, f"http://127.0.0.1:{rt.port}"
    rt.stop()
    rt.join(5)
    store.close()


def test_real_claude_code_payloads_land_as_tasks(receiver):
    require_shared()
    store, url = receiver
    want = []
    for f in sorted(OTEL.glob("*.json")):
        body = f.read_bytes()
        r = httpx.post(f"{url}/v1/logs", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        for rl in json.loads(body)["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for rec in sl["logRecords"]:
                    a = {x["key"]: list(x["value"].values())[0] for x in rec["attributes"]}
                    if a.get("event.name") == "api_request":
                        want.append(a)
    gz = gzip.compress((OTEL / "claude_code_2.1.241_logs_001.json").read_bytes())  # again, gzipped: no double
    assert httpx.post(f"{url}/v1/logs", content=gz, headers={"Content-Type": "application/json",
                                                             "Content-Encoding": "gzip"}).status_code == 200
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT * FROM tasks"))}
    assert set(rows) == {a["request_id"] for a in want}
    for a in want:
        t = rows[a["request_id"]]
        assert (t.model, t.tokens_in, t.tokens_out, t.cache_read_tokens, t.cache_creation_tokens, t.latency_ms,
                t.source, t.cli_tool) == (a["model"], int(a["input_tokens"]), int(a["output_tokens"]),
                                          int(a["cache_read_tokens"]), int(a["cache_creation_tokens"]),
                                          int(a["duration_ms"]), "otel", "claude-code")
        if t.model.startswith("claude-haiku-4-5"):  # our price agrees with Claude Code's own cost_usd
            assert t.cost_usd == pytest.approx(float(a["cost_usd"]), rel=0.02)
        # (claude-opus-5: genai-prices' bundled table prices it 30 % below Claude Code's own figure; see docs/sources.md)


def test_the_official_sdk_exporters_as_a_real_client(receiver):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    store, url = receiver
    provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code", "service.version": "2.1.300"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
    log = provider.get_logger("com.anthropic.claude_code.events")
    now = time.time_ns()
    common = {"session.id": "sdk-session", "event.timestamp": "2026-11-20T10:00:00.000Z"}
    log.emit(timestamp=now, body="claude_code.api_request", attributes={
        **common, "event.name": "api_request", "model": "claude-opus-4-6", "input_tokens": 12, "output_tokens": 345,
        "cache_read_tokens": "20000", "cache_creation_tokens": 1500.0, "duration_ms": 4321,
        "request_id": "req_sdk_1", "cost_usd": 0.05})
    log.emit(timestamp=now, body="claude_code.tool_result", attributes={
        **common, "event.name": "tool_result", "tool_name": "Bash", "success": "false", "duration_ms": "250",
        "error": "Error: Exit code 2", "tool_use_id": "toolu_sdk_1"})
    log.emit(timestamp=now, body="claude_code.api_error", attributes={
        **common, "event.name": "api_error", "error": "overloaded", "status_code": "529", "model": "claude-opus-4-6"})
    provider.shutdown()
    meters = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=60_000)])
    meters.get_meter("com.anthropic.claude_code").create_counter("claude_code.token.usage").add(
        357, {"type": "output", "model": "claude-opus-4-6"})
    meters.shutdown()  # flushes: one protobuf metrics request
    with store.engine.connect() as conn:
        t = conn.execute(text("SELECT * FROM tasks WHERE id='req_sdk_1'")).one()
        call = conn.execute(text("SELECT tool_name, success, latency_ms, error_type FROM tool_calls")).one()
        err = conn.execute(text("SELECT kind, message FROM errors WHERE component='api'")).one()
    assert (t.tokens_in, t.tokens_out, t.cache_read_tokens, t.cache_creation_tokens, t.latency_ms) == \
        (12, 345, 20000, 1500, 4321)
    want, _ = price("claude-opus-4-6", t.end_ms, tokens_in=12, tokens_out=345, cache_read=20000, cache_write=1500)
    assert t.cost_usd == pytest.approx(want)
    assert tuple(call) == ("Bash", False, 250, "exit_code")
    assert tuple(err) == ("529", "overloaded")


def _gemini(events):
    def av(v):
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": v}
    recs = [{"timeUnixNano": str(1_790_000_000_000_000_000 + i * 1_000_000_000), "body": {"stringValue": "x"},
             "attributes": [{"key": k, "value": av(v)} for k, v in e.items()]} for i, e in enumerate(events)]
    return {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gemini-cli"}}]},
                              "scopeLogs": [{"scope": {"name": "gemini-cli"}, "logRecords": recs}]}]}


def test_gemini_cli_events_follow_its_documented_attributes(receiver):
    store, url = receiver
    base = {"session.id": "gem-session", "installation.id": "inst", "interactive": True}
    payload = _gemini([
        {**base, "event.name": "gemini_cli.user_prompt", "prompt_length": 120, "prompt_id": "p1"},
        {**base, "event.name": "gemini_cli.api_response", "model": "gemini-2.5-pro", "status_code": 200,
         "duration_ms": 2100, "input_token_count": 5000, "output_token_count": 800, "cached_content_token_count": 3000,
         "thoughts_token_count": 200, "tool_token_count": 0, "total_token_count": 6000, "prompt_id": "p1"},
        {**base, "event.name": "gemini_cli.tool_call", "function_name": "read_file", "duration_ms": 35,
         "success": True, "decision": "auto_accept", "tool_type": "native", "prompt_id": "p1"},
        {**base, "event.name": "gemini_cli.tool_call", "function_name": "search", "duration_ms": 900,
         "success": False, "error": "timeout", "error_type": "timeout", "tool_type": "mcp",
         "mcp_server_name": "docs", "prompt_id": "p1"},
        {**base, "event.name": "gemini_cli.api_error", "error.message": "quota", "model_name": "gemini-2.5-pro",
         "duration": 10, "status_code": 429, "error_type": "RESOURCE_EXHAUSTED"},
    ])
    r = httpx.post(f"{url}/v1/logs", json=payload)
    assert r.status_code == 200, r.text
    with store.engine.connect() as conn:
        t = conn.execute(text("SELECT * FROM tasks")).one()
        calls = {r.tool_name: r for r in conn.execute(text("SELECT * FROM tool_calls"))}
        s = conn.execute(text("SELECT cli_tool FROM sessions")).scalar()
    assert (t.model, t.tokens_in, t.cache_read_tokens, t.tokens_out, t.thinking_tokens, t.latency_ms, t.cli_tool) == \
        ("gemini-2.5-pro", 2000, 3000, 800, 200, 2100, "gemini-cli")
    assert s == "gemini-cli"
    assert calls["read_file"].success == 1 and calls["read_file"].latency_ms == 35
    assert (calls["search"].success, calls["search"].mcp_server, calls["search"].error_type) == (0, "docs", "timeout")


BAD_BODIES = {  # built lazily: test ids must not hold the bodies (pytest-xdist compares collected ids)
    "not-json": (lambda: b"{not json", {"Content-Type": "application/json"}, 400, "not JSON"),
    "not-otlp": (lambda: b'{"resourceLogs": 5}', {"Content-Type": "application/json"}, 400, "not an OTLP"),
    "bad-protobuf": (lambda: b"\x00\x01garbage", {"Content-Type": "application/x-protobuf"}, 400, "protobuf"),
    "text-plain": (lambda: b"hello", {"Content-Type": "text/plain"}, 400, "Content-Type"),
    "bad-gzip": (lambda: b"not gzip", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 400, "gzip"),
    "oversized": (lambda: b"x" * (17 * 1024 * 1024), {"Content-Type": "application/json"}, 413, ""),
    "gzip-bomb": (lambda: gzip.compress(b" " * (65 * 1024 * 1024), mtime=0),
                  {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 413, "decompressed"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_bodies_get_a_clear_status_and_the_receiver_lives_on(receiver, case):
    make, headers, status, msg = BAD_BODIES[case]
    body = make()
    store, url = receiver
    r = httpx.post(f"{url}/v1/logs", content=body, headers=headers, timeout=30)
    assert r.status_code == status and msg in r.text
    ok = httpx.post(f"{url}/v1/logs", json=_gemini([{"session.id": "after", "event.name": "gemini_cli.user_prompt"}]))
    assert ok.status_code == 200


def test_a_request_seen_by_telemetry_and_in_a_transcript_is_one_task(tmp_path):
    require_shared()
    store = store_at(tmp_path / "db.sqlite")
    projects = tmp_path / "projects" / "p"
    projects.mkdir(parents=True)
    (projects / "s.jsonl").write_bytes((CC / "spotter" / "short.jsonl").read_bytes())
    collector_for(store, tmp_path / "projects").run_once()
    with store.engine.connect() as conn:
        t = conn.execute(text("SELECT id, session_id, model, tokens_in, tokens_out, cache_read_tokens, "
                              "cache_creation_tokens FROM tasks LIMIT 1")).one()
        n = conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar()
    rt = ReceiverThread(store.writer, "127.0.0.1", 0)
    rt.start()
    rt.ready.wait(10)
    try:
        payload = {"resourceLogs": [{"resource": {}, "scopeLogs": [{"logRecords": [{
            "timeUnixNano": "1770000000000000000", "body": {"stringValue": "claude_code.api_request"},
            "attributes": [{"key": k, "value": v} for k, v in {
                "event.name": {"stringValue": "api_request"}, "session.id": {"stringValue": t.session_id},
                "model": {"stringValue": t.model}, "input_tokens": {"intValue": t.tokens_in},
                "output_tokens": {"stringValue": str(t.tokens_out)},
                "cache_read_tokens": {"intValue": t.cache_read_tokens},
                "cache_creation_tokens": {"doubleValue": float(t.cache_creation_tokens)},
                "duration_ms": {"intValue": 1234}, "request_id": {"stringValue": t.id}}.items()]}]}]}]}
        assert httpx.post(f"http://127.0.0.1:{rt.port}/v1/logs", json=payload).status_code == 200
    finally:
        rt.stop()
        rt.join(5)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar() == n
        row = conn.execute(text("SELECT tokens_out, source FROM tasks WHERE id=:i"), {"i": t.id}).one()
    assert row.tokens_out == t.tokens_out and row.source == "transcript"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_collect_daemon_with_otlp_in_a_subprocess(tmp_path):
    require_shared()
    port = _free_port()
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "collect", "--otlp", "--port", str(port),
                          "--interval", "0.5"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/logs",
                               content=(OTEL / "claude_code_2.1.241_logs_002.json").read_bytes(),
                               headers={"Content-Type": "application/json"})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert r.status_code == 200
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "1 new task," in out
    once = subprocess.run([sys.executable, "-m", "nexus_tui", "collect", "--once"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert once.returncode == 0
    summary = json.loads(subprocess.run([sys.executable, "-m", "nexus_tui", "--headless", "summary", "--format",
                                         "json", "--no-collect"], env=env, capture_output=True, text=True,
                                        timeout=60).stdout)
    assert summary["tasks"] == 1 and summary["top_models"][0]["model"] == "claude-opus-5"


async def test_the_dashboard_runs_the_receiver_when_the_config_says_so(tmp_path, monkeypatch):
    """[otlp] enabled = true: telemetry posted while the app runs shows up on its sessions screen."""
    from nexus_tui.app import NexusApp
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.registry import build_sources
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    require_shared()
    port = _free_port()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    home = tmp_path / "nexus"
    home.mkdir()
    (home / "insights.toml").write_text(f"[otlp]\nenabled = true\nport = {port}\n")
    settings = load_settings(home=str(home))
    assert settings.otlp_enabled and settings.otlp_port == port
    store = open_store(settings.db_url)
    app = NexusApp(settings, store, Collector(store, build_sources(settings), workers=1), tz="UTC", poll_seconds=0.2)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.3)
        async with httpx.AsyncClient() as client:
            r = await client.post(f"http://127.0.0.1:{port}/v1/logs",
                                  content=(OTEL / "claude_code_2.1.241_logs_002.json").read_bytes(),
                                  headers={"Content-Type": "application/json"})
        assert r.status_code == 200
        for _ in range(40):
            await pilot.pause(0.1)
            await app.workers.wait_for_complete()
            with store.engine.connect() as conn:
                if conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar():
                    break
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT model FROM tasks")).scalar() == "claude-opus-5"
    store.close()


# ------------------------------------------------------------------ per-record isolation (issue 10, A9)

def _attrs(**a):
    return [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}}
            for k, v in a.items()]


def _rec(name, sid="s-iso", ts="2026-03-01T10:00:00.000Z", nano="1772359200000000000", **a):
    return {"timeUnixNano": nano, "attributes": _attrs(**{"event.name": name, "session.id": sid,
                                                          **({"event.timestamp": ts} if ts else {}), **a})}


def _api(rid, **a):
    return _rec("api_request", **{"model": "claude-sonnet-4-5", "input_tokens": 10, "output_tokens": 20,
                                  "request_id": rid, **a})


def _logs(*resource_logs):
    return {"resourceLogs": list(resource_logs)}


def _scoped(*records, resource=None):
    rl = {"scopeLogs": [{"logRecords": list(records)}]}
    if resource is not None:
        rl["resource"] = resource
    return rl


def _task_ids(store):
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT id FROM tasks"))}


@pytest.mark.parametrize("bad, reason", [
    ({"scopeLogs": "x"}, "scopeLogs is not a list"),
    ({"scopeLogs": [5]}, "scopeLogs entry is not an object"),
    ({"scopeLogs": [{"logRecords": {"a": 1}}]}, "logRecords is not a list"),
    (_scoped(_api("req_bad_res"), resource=5), "resource is not an object"),
    (_scoped(_api("req_bad_attrs"), resource={"attributes": "x"}), "resource is not an object"),
    (_scoped("not a record"), "log record is not an object"),
    (_scoped({"attributes": {"k": 1}}), "log record attributes is not a list"),
    (_scoped(_rec("api_request", ts=None, nano="1" * 40, model="claude-sonnet-4-5", request_id="req_40")),
     "log record"),
    (_scoped(_api("req_neg_in", input_tokens=-5)), "input_tokens is negative"),
    (_scoped(_api("req_neg_cache", cache_read_tokens="-1")), "cache_read_tokens is negative"),
    (_scoped(_api("req_nan", output_tokens="lots")), "output_tokens is negative or not a count"),
    (_scoped({"attributes": [{"key": "event.name", "value": 7}], "timeUnixNano": "1"}), "event.name"),
])
def test_one_bad_record_is_rejected_and_the_good_ones_of_the_request_are_stored(receiver, bad, reason):
    store, url = receiver
    body = _logs(_scoped(_api("req_good_1")), bad, _scoped(_api("req_good_2")))
    r = httpx.post(f"{url}/v1/logs", json=body)
    assert r.status_code == 200, r.text
    ps = r.json()["partialSuccess"]
    assert ps["rejectedLogRecords"] == 1 and reason in ps["errorMessage"], ps
    assert _task_ids(store) == {"req_good_1", "req_good_2"}  # the bad one is neither stored nor stored as 0


def test_partial_success_over_protobuf_from_the_official_sdk_exporter(receiver):
    """The SDK's protobuf exporter as client; the answer is an ExportLogsServiceResponse in protobuf."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (ExportLogsServiceRequest,
                                                                        ExportLogsServiceResponse)
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    store, url = receiver
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
    log = provider.get_logger("com.anthropic.claude_code.events")
    common = {"session.id": "sdk-iso", "event.timestamp": "2026-11-20T10:00:00.000Z", "event.name": "api_request",
              "model": "claude-opus-4-6", "output_tokens": 3}
    log.emit(body="claude_code.api_request", attributes={**common, "input_tokens": 12, "request_id": "req_ok"})
    log.emit(body="claude_code.api_request", attributes={**common, "input_tokens": -12, "request_id": "req_neg"})
    provider.shutdown()
    assert _task_ids(store) == {"req_ok"}
    # the same shape by hand, to read the answer: protobuf in, protobuf out
    from google.protobuf.json_format import ParseDict

    req = ParseDict(_logs(_scoped(_api("req_pb_ok"), _api("req_pb_neg", input_tokens=-1))),
                    ExportLogsServiceRequest())
    r = httpx.post(f"{url}/v1/logs", content=req.SerializeToString(),
                   headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/x-protobuf")
    resp = ExportLogsServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_log_records == 1
    assert "input_tokens is negative" in resp.partial_success.error_message
    assert "req_pb_ok" in _task_ids(store) and "req_pb_neg" not in _task_ids(store)


def test_a_whole_good_request_answers_an_empty_partial_success(receiver):
    store, url = receiver
    r = httpx.post(f"{url}/v1/logs", json=_logs(_scoped(_api("req_a"), _api("req_b"))))
    assert r.status_code == 200 and r.json() == {"partialSuccess": {}}
    assert httpx.post(f"{url}/v1/logs", json={}).json() == {"partialSuccess": {}}  # an empty export


def test_metrics_with_bad_points_count_the_good_and_reject_the_bad(receiver):
    store, url = receiver
    body = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "a", "sum": {"dataPoints": [{"asInt": "3"}, 5, "x", {"asInt": "4"}]}},
        "not a metric", {"name": "b", "gauge": "x"}]}, 7]}, {"scopeMetrics": "y"}]}
    r = httpx.post(f"{url}/v1/metrics", json=body)
    assert r.status_code == 200, r.text
    ps = r.json()["partialSuccess"]
    assert ps["rejectedDataPoints"] == 6 and "data point is not an object (2)" in ps["errorMessage"]


@pytest.mark.parametrize("name, mangle", [
    ("truncated", lambda gz: gz[:-4]),
    ("bad crc", lambda gz: gz[:-8] + b"\0" * 8),
    ("garbage after the magic", lambda gz: b"\x1f\x8b" + b"x" * 40),
    ("trailing bytes", lambda gz: gz + b"junk"),
    ("not gzip at all", lambda gz: b'{"resourceLogs": []}'),
    ("cut in the middle", lambda gz: gz[: len(gz) // 2]),
])
def test_corrupt_gzip_is_400_and_stores_nothing(receiver, name, mangle):
    store, url = receiver
    gz = gzip.compress(json.dumps(_logs(_scoped(_api("req_gz")))).encode())
    r = httpx.post(f"{url}/v1/logs", content=mangle(gz), headers={"Content-Type": "application/json",
                                                                  "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["error"], (name, r.text)
    assert _task_ids(store) == set()
    ok = httpx.post(f"{url}/v1/logs", content=gz + gzip.compress(b""),  # two members: valid gzip
                    headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert ok.status_code == 200 and _task_ids(store) == {"req_gz"}


@pytest.mark.parametrize("body", [{"foo": 1}, {"resourceSpans": []}, {"resourceLogs": 5}, [1], "x", 3])
def test_json_that_is_not_otlp_logs_is_400(receiver, body):
    store, url = receiver
    r = httpx.post(f"{url}/v1/logs", json=body)
    assert r.status_code == 400 and "OTLP" in r.json()["error"]


def test_two_tool_results_without_tool_use_id_stay_two_and_a_resend_stays_one(receiver):
    store, url = receiver
    a = _rec("tool_result", tool_name="Bash", success="true", duration_ms=100, **{"event.sequence": 4})
    b = _rec("tool_result", tool_name="Bash", success="false", duration_ms=300, error="boom",
             **{"event.sequence": 5})
    for _ in range(2):  # sent twice (an exporter's retry): still two
        assert httpx.post(f"{url}/v1/logs", json=_logs(_scoped(a, b))).status_code == 200
    with store.engine.connect() as conn:
        rows = sorted(conn.execute(text("SELECT latency_ms, success FROM tool_calls")).all())
    assert [(x[0], bool(x[1])) for x in rows] == [(100, True), (300, False)]


def test_error_answers_carry_no_sql_or_driver_text(tmp_path):
    """A store that fails on write: 503 for a busy/locked one (retryable), with a plain message."""
    from sqlalchemy.exc import OperationalError

    class Failing:
        def write(self, batch):
            raise OperationalError("INSERT INTO tasks (id, session_id) VALUES (?, ?)", ("x", "y"),
                                   Exception("database is locked"))

    rt = ReceiverThread(Failing(), "127.0.0.1", 0)
    rt.start()
    assert rt.ready.wait(10)
    try:
        r = httpx.post(f"http://127.0.0.1:{rt.port}/v1/logs", json=_logs(_scoped(_api("req_x"))))
    finally:
        rt.stop()
        rt.join(5)
    assert r.status_code == 503
    assert "INSERT" not in r.text and "tasks" not in r.text and "VALUES" not in r.text


# ------------------------------------------------------------------ cost modes (issue 10, A15)

def _otel_home(tmp_path):
    """The real Claude Code OTel payloads posted to a receiver over HTTP, into <home>/insights.db."""
    require_shared()
    (tmp_path / "nexus").mkdir()
    store = store_at(tmp_path / "nexus" / "insights.db")
    rt = ReceiverThread(store.writer, "127.0.0.1", 0)
    rt.start()
    assert rt.ready.wait(10)
    want = {}
    try:
        for f in sorted(OTEL.glob("*.json")):
            r = httpx.post(f"http://127.0.0.1:{rt.port}/v1/logs", content=f.read_bytes(),
                           headers={"Content-Type": "application/json"})
            assert r.status_code == 200
            for rl in json.loads(f.read_bytes())["resourceLogs"]:
                for sl in rl["scopeLogs"]:
                    for rec in sl["logRecords"]:
                        a = {x["key"]: list(x["value"].values())[0] for x in rec["attributes"]}
                        if a.get("event.name") == "api_request":
                            want[a["request_id"]] = a
    finally:
        rt.stop()
        rt.join(5)
    return store, want


def test_the_reported_cost_is_stored_beside_the_computed_one(tmp_path):
    store, want = _otel_home(tmp_path)
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT id, model, cost_usd, reported_cost_usd FROM tasks"))}
    store.close()
    assert set(rows) == set(want)
    for rid, a in want.items():
        assert rows[rid].reported_cost_usd == pytest.approx(float(a["cost_usd"]))
    opus = next(r for r in rows.values() if r.model == "claude-opus-5")
    assert opus.reported_cost_usd == pytest.approx(0.099585) and opus.cost_usd == pytest.approx(0.0692, abs=5e-4)


@pytest.mark.parametrize("mode", ["auto", "calculate", "display", None])
def test_cost_mode_chooses_the_figure_and_the_report_says_which(tmp_path, mode):
    from tests.test_store import _cli

    store, want = _otel_home(tmp_path)
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT id, model, cost_usd, reported_cost_usd, "
                                                   "cache_creation_tokens FROM tasks"))}
    store.close()
    computed = sum(r.cost_usd for r in rows.values())
    reported = sum(float(a["cost_usd"]) for a in want.values())
    # auto: every OTel request has cache writes with an unknown 5m/1h split (or none: then ours is exact)
    auto = sum(float(want[i]["cost_usd"]) if r.cache_creation_tokens > 0 else r.cost_usd for i, r in rows.items())
    args = ["--headless", "models", "--format", "json", "--no-collect"] + (["--cost-mode", mode] if mode else [])
    out = _cli(tmp_path, *args)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    models = doc["models"]
    total = sum(m["cost_usd"] for m in models)
    expect = {"auto": auto, "calculate": computed, "display": reported, None: auto}[mode]
    assert total == pytest.approx(expect, abs=1e-6 * len(models))  # JSON rounds money to 6 decimals per row
    assert doc["cost_mode"] == (mode or "auto")
    opus = next(m for m in models if m["model"] == "claude-opus-5")
    assert opus["cost_reported_usd"] == pytest.approx(0.099585, abs=1e-6) and opus["cost_computed_usd"] == pytest.approx(
        rows[next(i for i, r in rows.items() if r.model == "claude-opus-5")].cost_usd, abs=1e-6)
    text_out = _cli(tmp_path, "--headless", "daily", "--no-collect", *(["--cost-mode", mode] if mode else []))
    assert f"costs: {mode or 'auto'}" in text_out.stdout
    assert auto != pytest.approx(computed)  # the modes differ on this data


def test_cost_mode_setting_in_the_config_file_and_a_bad_value(tmp_path):
    from tests.test_store import _cli

    store, want = _otel_home(tmp_path)
    store.close()
    (tmp_path / "nexus" / "insights.toml").write_text('[pricing]\ncost_mode = "calculate"\n')
    out = json.loads(_cli(tmp_path, "--headless", "summary", "--format", "json", "--no-collect").stdout)
    assert out["cost_mode"] == "calculate"
    assert json.loads(_cli(tmp_path, "--headless", "summary", "--format", "json", "--no-collect", "--cost-mode",
                           "display").stdout)["cost_mode"] == "display"  # the flag wins
    (tmp_path / "nexus" / "insights.toml").write_text('[pricing]\ncost_mode = "cheapest"\n')
    bad = _cli(tmp_path, "--headless", "summary", "--format", "json", "--no-collect")
    assert bad.returncode == 2 and bad.stdout == "" and "[pricing] cost_mode = 'cheapest'" in bad.stderr


def test_auto_uses_the_computed_cost_when_the_transcript_gives_the_split(tmp_path):
    """A request seen in a transcript (which splits cache writes 5m/1h) and by telemetry: auto prices it."""
    from nexus_tui.core.filters import Filters
    from nexus_tui.store.read import usage as RU

    require_shared()
    store = store_at(tmp_path / "db.sqlite")
    rid = "req_split_1"
    from nexus_tui.core.events import Batch, TaskRec

    b = Batch(tasks=[TaskRec(id=rid, session_id="s", ts_ms=1_772_000_000_000, source="transcript",
                             model="claude-opus-4-6", tokens_in=10, tokens_out=100, cache_creation_tokens=5000,
                             cache_creation_5m_tokens=5000, cache_creation_1h_tokens=0, cost_usd=0.04,
                             reported_cost_usd=0.05),
                     TaskRec(id="req_nosplit", session_id="s", ts_ms=1_772_000_000_000, source="otel",
                             model="claude-opus-4-6", tokens_in=10, tokens_out=100, cache_creation_tokens=5000,
                             cost_usd=0.04, reported_cost_usd=0.06)])
    store.writer.write(b)
    got = {m: sum(r["cost_usd"] for r in RU.models(store.engine, Filters(cost_mode=m)))
           for m in ("auto", "calculate", "display")}
    store.close()
    assert got == pytest.approx({"auto": 0.04 + 0.06, "calculate": 0.08, "display": 0.11})


@pytest.mark.parametrize("mode", ["auto", "calculate", "display"])
def test_cloud_tasks_save_nothing_whatever_the_cost_mode(tmp_path, mode):
    """Local savings = cloud equivalent − cost: a cloud task's equivalent follows the chosen cost."""
    from nexus_tui.core.filters import Filters
    from nexus_tui.store.read import usage as RU

    store, want = _otel_home(tmp_path)
    s = RU.summary(store.engine, Filters(cost_mode=mode))
    daily = RU.daily(store.engine, Filters(cost_mode=mode), __import__("datetime").UTC)
    store.close()
    assert s["local_savings_usd"] == pytest.approx(0.0, abs=1e-12)
    assert s["cost_usd"] == pytest.approx(sum(d["cost_usd"] for d in daily))


def test_a_lone_surrogate_in_one_record_keeps_the_request(receiver):
    """A JavaScript exporter cuts a string inside an emoji and writes the half as a lone surrogate escape
    (JSON.stringify gives "\\ud83d"): valid JSON that orjson refuses. The whole request was a 400 ("no low surrogate
    in string") and every record in it lost; now it is read (the half becomes U+FFFD) and stored."""
    store, url = receiver
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        _rec("api_request", model="claude-opus-4-6", request_id="req_sur", input_tokens="5", output_tokens="7"),
        _rec("tool_result", tool_name="Bash", success="false", error="cut emoji \ud83d", tool_use_id="toolu_sur"),
    ]}]}]})
    assert "\\ud83d" in body
    r = httpx.post(f"{url}/v1/logs", content=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT tokens_out FROM tasks WHERE id = 'req_sur'")).scalar_one() == 7
        msg = conn.execute(text("SELECT error_message FROM tool_calls WHERE id = 'toolu_sur'")).scalar_one()
    assert msg == "cut emoji \ufffd"


def test_a_string_not_utf8_in_one_protobuf_record_keeps_the_request(receiver):
    """protobufjs (the JavaScript exporters' encoder) writes a lone surrogate, the half of an emoji cut in two, as
    its 3 bytes, which are not UTF-8: the protobuf parser refused the whole request (400: every record of the batch
    lost, the exporter does not retry a 400). The strings are read with U+FFFD and every record is stored."""
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    store, url = receiver
    body = ParseDict({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        _rec("api_request", model="claude-opus-4-6", request_id="req_pb", input_tokens="5", output_tokens="7"),
        _rec("tool_result", tool_name="Bash", success="false", error="cut emoji XXX", tool_use_id="toolu_pb"),
    ]}]}]}, ExportLogsServiceRequest()).SerializeToString()
    body = body.replace(b"XXX", b"\xed\xa0\xbd")  # U+D83D as CESU-8, in place: every length stays right
    r = httpx.post(f"{url}/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200, r.content
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT tokens_out FROM tasks WHERE id = 'req_pb'")).scalar_one() == 7
        msg = conn.execute(text("SELECT error_message FROM tool_calls WHERE id = 'toolu_pb'")).scalar_one()
    assert msg == "cut emoji \ufffd\ufffd\ufffd"
    # a body that is not protobuf at all is still a 400
    r = httpx.post(f"{url}/v1/logs", content=body[:-5] + b"\xff\xff",
                   headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400

def test_the_collect_daemon_says_what_the_receiver_rejected_and_why(tmp_path):
    """The daemon printed nothing of what the receiver took while it ran, and at its end "N rejected" counted only
    the requests refused whole: records rejected from an accepted request (a time out of range, a token count that
    is not one), each answered to the client in partialSuccess, were not counted anywhere an operator looks. The
    daemon prints a line after each pass that received something, with the records rejected by reason, and its
    last line counts them; a good request after the bad ones is stored. (A stored record was counted twice in the
    log records received.)"""
    port = _free_port()
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))

    def rec(sid, nano="1772366400000000000", tokens=5):
        return {"timeUnixNano": nano, "attributes": [
            {"key": "event.name", "value": {"stringValue": "api_request"}},
            {"key": "session.id", "value": {"stringValue": sid}},
            {"key": "model", "value": {"stringValue": "claude-opus-4-6"}},
            {"key": "input_tokens", "value": {"intValue": tokens}}]}

    def body(*recs):
        return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": list(recs)}]}]})

    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "collect", "--otlp", "--port", str(port),
                          "--interval", "0.3"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1/logs"
        for _ in range(100):
            try:
                r = httpx.post(url, content=body(rec("s1", nano=-5), rec("s1", tokens=-3), rec("s1", nano=-6)),
                               headers={"Content-Type": "application/json"})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert r.json()["partialSuccess"]["rejectedLogRecords"] == 3, r.text
        assert httpx.post(url, content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
        r = httpx.post(url, content=body(rec("s2")), headers={"Content-Type": "application/json"})
        assert r.status_code == 200 and r.json() == {"partialSuccess": {}}
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    lines = [ln for ln in out.splitlines() if " OTLP: " in ln]
    assert lines, out
    joined = "\n".join(lines)
    assert sum(int(ln.split(" OTLP: +")[1].split()[0]) for ln in lines) == 3, joined  # requests, over the lines
    assert "log record without a time (2)" in joined, joined
    assert "invalid api_request event: input_tokens is negative or not a count (1)" in joined, joined
    assert "1 request refused" in joined, joined
    assert out.splitlines()[-1] == ("receiver: 3 requests (1 refused), 4 log records, 1 new task, 0 metric points, "
                                    "3 records rejected"), out


async def test_the_dashboard_says_what_its_receiver_rejected(tmp_path, monkeypatch):
    """[otlp] enabled = true: records the dashboard's receiver rejected (and requests it refused) were told to the
    exporter only; the status bar counts them now, with the most frequent reason (as text: a reason quotes data)."""
    from nexus_tui.app import NexusApp
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.registry import build_sources
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    port = _free_port()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    home = tmp_path / "nexus"
    home.mkdir()
    (home / "insights.toml").write_text(f"[otlp]\nenabled = true\nport = {port}\n")
    settings = load_settings(home=str(home))
    store = open_store(settings.db_url)
    rec = {"timeUnixNano": "-5", "attributes": [{"key": "event.name", "value": {"stringValue": "api_request"}}]}
    app = NexusApp(settings, store, Collector(store, build_sources(settings), workers=1), tz="UTC", poll_seconds=0.2)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.3)
        assert "OTLP:" not in app.status_line()
        async with httpx.AsyncClient() as client:
            body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [rec, rec]}]}]})
            r = await client.post(f"http://127.0.0.1:{port}/v1/logs", content=body,
                                  headers={"Content-Type": "application/json"})
            assert r.json()["partialSuccess"]["rejectedLogRecords"] == 2
            r = await client.post(f"http://127.0.0.1:{port}/v1/logs", content=b"[nope",
                                  headers={"Content-Type": "application/json"})
            assert r.status_code == 400
        await pilot.pause(0.2)
        status = app.status_line()
    store.close()
    assert "OTLP: 2 records rejected (log record without a time), 1 request refused" in status, status


def _non_loopback_ip() -> str | None:
    """This machine's address on a real interface (None when it has none besides loopback)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return next((a for a in out if "." in a and not a.startswith("127.")), None)


def test_the_receiver_beyond_loopback_needs_a_token_and_checks_it(tmp_path):
    """`collect --otlp --host 0.0.0.0` opened a write endpoint to anyone who could reach the port (the proxy asks
    for --allow-remote and a token for the same). Beyond loopback the receiver now needs a token, which the
    official exporter sends as its Authorization header; a request without it, or with another, stores nothing."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no address besides loopback to reach the receiver from")
    store = store_at(tmp_path / "db.sqlite")
    refused = ReceiverThread(store.writer, "0.0.0.0", 0)
    refused.start()
    assert refused.ready.wait(10) and "refusing to listen on '0.0.0.0' without a token" in str(refused.error)
    rt = ReceiverThread(store.writer, "0.0.0.0", 0, token="s3cret-otlp")
    rt.start()
    assert rt.ready.wait(10) and rt.error is None
    url = f"http://{ip}:{rt.port}"
    try:
        body = (OTEL / "claude_code_2.1.241_logs_001.json").read_bytes() if OTEL.is_dir() else b"{}"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-otlp"}):
            r = httpx.post(f"{url}/v1/logs", content=body, headers={"Content-Type": "application/json", **headers})
            assert r.status_code == 401 and "Bearer" in r.text, r.text
        provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code"}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
            endpoint=f"{url}/v1/logs", headers={"Authorization": "Bearer s3cret-otlp"})))
        provider.get_logger("com.anthropic.claude_code.events").emit(
            timestamp=time.time_ns(), body="claude_code.api_request",
            attributes={"session.id": "tok-session", "event.name": "api_request", "model": "claude-opus-4-6",
                        "input_tokens": 7, "output_tokens": 9, "event.timestamp": "2026-11-20T10:00:00.000Z"})
        provider.shutdown()
    finally:
        rt.stop()
        rt.join(5)
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT session_id, tokens_in, tokens_out FROM tasks")).all()
    store.close()
    assert [tuple(r) for r in rows] == [("tok-session", 7, 9)]


async def test_without_a_token_a_client_beyond_loopback_is_refused(tmp_path):
    """The routes themselves answer loopback clients only when no token is set (a receiver started some other way
    than through ReceiverThread's check, a name that resolves beyond loopback)."""
    from aiohttp import web

    from nexus_tui.collect.otlp import make_app

    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no address besides loopback to reach the receiver from")
    store = store_at(tmp_path / "db.sqlite")
    runner = web.AppRunner(make_app(store.writer), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "0.0.0.0", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient() as client:
            body = json.dumps({"resourceLogs": []})
            far = await client.post(f"http://{ip}:{port}/v1/logs", content=body,
                                    headers={"Content-Type": "application/json"})
            near = await client.post(f"http://127.0.0.1:{port}/v1/logs", content=body,
                                     headers={"Content-Type": "application/json"})
    finally:
        await runner.cleanup()
        store.close()
    assert far.status_code == 403 and "loopback clients only" in far.text
    assert near.status_code == 200


def test_collect_refuses_a_receiver_beyond_loopback_without_a_token(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"))
    for k in ("NEXUS_INSIGHTS_DB", "NEXUS_INSIGHTS_OTLP_TOKEN"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "collect", "--otlp", "--once", "--host", "0.0.0.0",
                        "--port", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "without a token" in r.stderr and "--otlp-token" in r.stderr, r.stderr


def test_collect_takes_the_receivers_address_and_token_from_the_config_file(tmp_path):
    """`collect --otlp` listened on its own defaults whatever [otlp] host and port said (only the dashboard read
    them); the options still win over the file."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "nexus"
    home.mkdir()
    (home / "insights.toml").write_text(f'[otlp]\nhost = "0.0.0.0"\nport = {port}\ntoken = "from-the-file"\n')
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(home))
    for k in ("NEXUS_INSIGHTS_DB", "NEXUS_INSIGHTS_OTLP_TOKEN"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "collect", "--otlp", "--once"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0 and f"OTLP/HTTP receiver on http://0.0.0.0:{port}" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "collect", "--otlp", "--once", "--host", "127.0.0.1",
                        "--port", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "OTLP/HTTP receiver on http://127.0.0.1:" in r.stdout, r.stdout + r.stderr
