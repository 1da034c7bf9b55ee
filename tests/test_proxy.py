"""The recording proxy with real parts: the official anthropic and openai SDKs as clients, the proxy over real HTTP
on loopback, a local upstream replaying the real captures (tests/proxy_upstream.py), the event log ingested by the
collector into the store. What the client gets through the proxy is compared with what it gets directly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import anthropic
import httpx
import openai
import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import text

from nexus_tui.collect.collector import Collector
from nexus_tui.collect.proxy import ProxyConfig, ProxyThread
from nexus_tui.collect.sources import ClaudeCodeSource, NexusEventSource
from nexus_tui.config import DEFAULT_REFERENCE_MODEL
from nexus_tui.core.parse.proxy import AnthropicStream, quota_from_headers, request_facts
from nexus_tui.core.pricing import price
from tests.helpers import store_at
from tests.proxy_upstream import (API_KEY_HEADERS, CAPTURES_DIR, UNIFIED_HEADERS, ServerThread, UpstreamState,
                                  captures, make_upstream, sse_events)

pytestmark = pytest.mark.skipif(not CAPTURES_DIR.is_dir(), reason="shared proxy captures not beside the repo")

MODEL = "claude-opus-4-20250514"
HOP = {"connection", "keep-alive", "transfer-encoding"}


@pytest.fixture
def upstream():
    state = UpstreamState()
    t = ServerThread(make_upstream(state))
    t.start()
    assert t.ready.wait(10)
    yield t, state
    t.stop()


class Proxy:
    def __init__(self, tmp_path, upstream_url: str, **cfg):
        self.logs = tmp_path / "logs"
        self.cfg = ProxyConfig(port=0, upstream=upstream_url, **cfg)
        self.thread = ProxyThread(self.cfg, self.logs)
        self.thread.start()
        assert self.thread.ready.wait(10) and self.thread.error is None, self.thread.error
        self.url = f"http://127.0.0.1:{self.thread.port}"
        self.tmp = tmp_path

    def stop(self):
        self.thread.stop()
        self.thread.join(10)

    def events(self) -> list[dict]:
        return [json.loads(line) for f in sorted(self.logs.glob("*.jsonl")) for line in f.read_text().splitlines()]

    def ingest(self, extra_sources=()):
        """Stop (the queue is drained into the log), then one collector pass into a fresh store."""
        self.stop()
        store = store_at(self.tmp / "db.sqlite")
        rep = Collector(store, [NexusEventSource([self.logs], DEFAULT_REFERENCE_MODEL), *extra_sources]).run_once()
        assert rep.problems == [] and rep.skipped_total == 0, (rep.problems, rep.skipped)
        return store


@pytest.fixture
def proxy(tmp_path, upstream):
    p = Proxy(tmp_path, upstream[0].url)
    yield p
    p.stop()


def rows(store, sql: str, **params) -> list:
    with store.engine.connect() as conn:
        return [r._mapping for r in conn.execute(text(sql), params)]


def _client(base: str, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base, api_key="sk-ant-test-secret-123", max_retries=0, **kw)


def _msgs(text_: str = "Count the lines of code") -> list[dict]:
    return [{"role": "user", "content": text_}]


# ------------------------------------------------------------------ SDK: same objects, same bytes, exact usage
def test_streamed_messages_same_through_the_proxy_and_recorded_exactly(upstream, proxy):
    caps = captures()
    direct, through = _client(upstream[0].url), _client(proxy.url)
    for i, cap in enumerate(caps):
        got = []
        for c in (direct, through):
            with c.messages.stream(model=MODEL, max_tokens=32000, messages=_msgs(),
                                   extra_headers={"x-test-capture": str(i)}) as s:
                got.append(s.get_final_message().model_dump())
        assert got[0] == got[1]
        assert got[1]["usage"]["output_tokens"] == cap["response"]["body"]["usage"]["output_tokens"]
        # the raw bytes and headers, as an HTTP client sees them
        req = {"model": MODEL, "max_tokens": 10, "stream": True, "messages": _msgs()}
        raw = [httpx.post(f"{base}/v1/messages", json=req, headers={"x-test-capture": str(i),
                                                                    "x-test-request-id": f"req_raw{i}"})
               for base in (upstream[0].url, proxy.url)]
        assert raw[0].status_code == raw[1].status_code == 200
        assert raw[0].content == raw[1].content == b"".join(sse_events(cap))
        strip = lambda h: sorted((k.lower(), v) for k, v in h.multi_items() if k.lower() not in HOP)  # noqa: E731
        assert strip(raw[0].headers) == strip(raw[1].headers)
    store = proxy.ingest()
    for i, cap in enumerate(caps):
        u = cap["response"]["body"]["usage"]
        rid = cap["response"]["headers"]["request-id"]
        (t,) = rows(store, "SELECT * FROM tasks WHERE id = :i", i=rid)
        assert (t["tokens_in"], t["tokens_out"], t["cache_creation_tokens"], t["cache_read_tokens"]) == (
            u["input_tokens"], u["output_tokens"], u["cache_creation_input_tokens"], u["cache_read_input_tokens"])
        assert t["source"] == "proxy-intercept" and t["routing"] == "cloud" and t["model"] == MODEL
        assert t["message_id"] == cap["response"]["body"]["id"] and t["stop_reason"] == "tool_use"
        assert t["http_status"] == 200 and t["streamed"] and t["status"] == "ok" and t["error_type"] is None
        assert t["client"].startswith("Anthropic/Python")
        assert t["ttfb_ms"] is not None and t["ttft_ms"] is not None and t["latency_ms"] >= t["ttft_ms"] >= 0
        assert t["response_bytes"] == len(b"".join(sse_events(cap)))
        (raw_t,) = rows(store, "SELECT client, response_bytes FROM tasks WHERE id = :i", i=f"req_raw{i}")
        assert raw_t["client"].startswith("python-httpx/") and raw_t["response_bytes"] == t["response_bytes"]
        assert t["request_bytes"] == len(upstream[1].requests[4 * i + 1][2])  # the body as the upstream got it
        assert t["message_count"] == 1
        cost, _ = price(MODEL, t["ts_ms"] + t["latency_ms"], tokens_in=u["input_tokens"],
                        tokens_out=u["output_tokens"], cache_read=0, cache_write=u["cache_creation_input_tokens"])
        assert t["cost_usd"] == pytest.approx(cost)
        tools = [(b["id"], b["name"]) for b in cap["response"]["body"]["content"] if b["type"] == "tool_use"]
        assert [(r["id"], r["tool_name"]) for r in rows(
            store, "SELECT id, tool_name FROM tool_calls WHERE task_id = :i", i=rid)] == tools
        q = {r["window"]: r for r in rows(store, "SELECT * FROM quota_snapshots WHERE id LIKE :p", p=rid + ":%")}
        assert set(q) == {"unified", "5h", "7d", "7d_opus"}
        assert q["unified"]["status"] == "allowed" and q["unified"]["resets_at_ms"] == 1750420800_000
        assert json.loads(q["unified"]["raw_json"])["anthropic-ratelimit-unified-fallback-percentage"] == "0.5"
        assert (q["5h"]["used_fraction"], q["5h"]["resets_at_ms"], q["5h"]["status"]) == (0.42, 1750435200_000,
                                                                                          "allowed")
        assert (q["7d_opus"]["used_fraction"], q["7d_opus"]["status"]) == (0.93, "allowed_warning")
        assert {r["source"] for r in q.values()} == {"proxy"}
        assert {r["account"] for r in q.values()} == {cap["response"]["headers"]["anthropic-organization-id"]}
    store.close()


def test_plain_message_tool_use_and_count_tokens_same_through_the_proxy(upstream, proxy):
    cap = captures()[1]
    outs = []
    for base in (upstream[0].url, proxy.url):
        c = _client(base)
        m = c.messages.create(model=MODEL, max_tokens=100, messages=_msgs(), extra_headers={"x-test-capture": "1"},
                              tools=[{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}])
        n = c.messages.count_tokens(model=MODEL, messages=_msgs(), extra_headers={"x-test-request-id": "req_ct1"})
        outs.append((m.model_dump(), n.model_dump()))
    assert outs[0] == outs[1]
    assert outs[1][0]["content"][1]["type"] == "tool_use" and outs[1][1] == {"input_tokens": 21780}
    store = proxy.ingest()
    (t,) = rows(store, "SELECT * FROM tasks WHERE id = :i", i=cap["response"]["headers"]["request-id"])
    u = cap["response"]["body"]["usage"]
    assert (t["tokens_in"], t["tokens_out"], t["cache_creation_tokens"], t["streamed"]) == (
        u["input_tokens"], u["output_tokens"], u["cache_creation_input_tokens"], False)
    assert t["client"].startswith("Anthropic/Python")
    assert [r["tool_name"] for r in rows(store, "SELECT tool_name FROM tool_calls WHERE task_id = :i",
                                         i=t["id"])] == ["Bash"]
    (ct,) = rows(store, "SELECT * FROM tasks WHERE id = 'req_ct1'")
    assert ct["component"] == "count_tokens" and ct["tokens_in"] == 0 and ct["cost_usd"] == 0
    store.close()


@pytest.mark.parametrize("status,etype,exc", [(429, "rate_limit_error", anthropic.RateLimitError),
                                              (500, "api_error", anthropic.InternalServerError),
                                              (529, "overloaded_error", anthropic.InternalServerError)])
def test_api_errors_reach_the_client_as_sent_and_are_recorded(upstream, proxy, status, etype, exc):
    bodies = []
    for base in (upstream[0].url, proxy.url):
        with pytest.raises(exc) as e:
            _client(base).messages.create(model=MODEL, max_tokens=5, messages=_msgs(),
                                          extra_headers={"x-test-fault": str(status)})
        assert e.value.status_code == status
        bodies.append((e.value.body, e.value.response.headers.get("retry-after")))
    assert bodies[0] == bodies[1] and bodies[1][0]["error"]["type"] == etype
    store = proxy.ingest()
    (t,) = rows(store, "SELECT * FROM tasks")
    assert (t["http_status"], t["error_type"], t["status"], t["cost_usd"]) == (status, etype, "error", 0)
    (err,) = rows(store, "SELECT * FROM errors WHERE task_id = :i", i=t["id"])
    assert err["kind"] == etype and err["component"] == "api"
    q = {r["window"]: r for r in rows(store, "SELECT * FROM quota_snapshots")}
    if status == 429:  # API-key windows: used = 1 - remaining/limit, reset as RFC 3339
        assert q["requests"]["used_fraction"] == 1.0 and q["input-tokens"]["used_fraction"] == pytest.approx(0.8)
        assert q["requests"]["resets_at_ms"] == 1750420410_000
    else:
        assert q == {}
    store.close()


def test_openai_chat_route_to_a_local_upstream(tmp_path, upstream):
    p = Proxy(tmp_path, "http://127.0.0.1:9", openai_upstream=upstream[0].url)  # the Anthropic one is unused
    try:
        got = []
        for base in (upstream[0].url, p.url):
            c = openai.OpenAI(base_url=base + "/v1", api_key="sk-local", max_retries=0)
            plain = c.chat.completions.create(model="qwen2.5-coder:7b", messages=_msgs("hi"))
            chunks = list(c.chat.completions.create(model="qwen2.5-coder:7b", messages=_msgs("hi"), stream=True,
                                                    stream_options={"include_usage": True}))
            got.append((plain.model_dump(), [ch.model_dump() for ch in chunks]))
        assert got[0] == got[1] and got[1][1][-1]["usage"]["prompt_tokens"] == 30
        store = p.ingest()
    finally:
        p.stop()
    ts = rows(store, "SELECT * FROM tasks ORDER BY streamed")
    assert len(ts) == 2  # no request-id header from the local server: each request its own px: id
    for t in ts:
        assert t["id"].startswith("px:") and t["routing"] == "local" and t["cost_usd"] == 0
        assert (t["tokens_in"], t["cache_read_tokens"], t["tokens_out"]) == (20, 10, 5)  # 30 prompt incl. 10 cached
        ref, _ = price(DEFAULT_REFERENCE_MODEL, t["ts_ms"] + t["latency_ms"], tokens_in=20, tokens_out=5,
                       cache_read=10, cache_write=0)
        assert t["cloud_cost_equivalent"] == pytest.approx(ref) and ref > 0
        assert t["stop_reason"] == "stop" and t["model"] == "qwen2.5-coder:7b"
    assert [t["streamed"] for t in ts] == [False, True]
    store.close()


# ------------------------------------------------------------------ headers, sessions, privacy, other paths
def test_nexus_headers_are_read_and_stripped_and_secrets_never_recorded(upstream, proxy):
    sid = str(uuid.uuid4())
    c = _client(proxy.url)
    c.messages.create(model=MODEL, max_tokens=5, messages=_msgs(), extra_headers={
        "x-nexus-session": "nx-sess-1", "x-nexus-persona": "architect", "x-nexus-routing-reason": "token_count<500",
        "x-nexus-classifier-version": "rules-v1", "x-test-request-id": "req_h1"})
    c.messages.create(model=MODEL, max_tokens=5, messages=_msgs(), extra_headers={"x-test-request-id": "req_h2"},
                      metadata={"user_id": f"user_{'ab' * 32}_account_{uuid.uuid4()}_session_{sid}"})
    c.messages.create(model=MODEL, max_tokens=5, messages=_msgs(), extra_headers={"x-test-request-id": "req_h3"})
    seen = upstream[1].requests
    assert len(seen) == 3
    for _path, h, _body in seen:
        low = {k.lower(): v for k, v in h.items()}
        assert not any(k.startswith("x-nexus-") for k in low)
        assert "sk-ant-test-secret-123" in (low.get("x-api-key") or low.get("authorization"))  # forwarded
    store = proxy.ingest()
    log = b"".join(f.read_bytes() for f in proxy.logs.glob("*.jsonl"))
    assert b"sk-ant-test-secret-123" not in log and b"x-api-key" not in log.lower()
    assert b"authorization" not in log.lower() and b"bearer" not in log.lower()
    assert b"Count the lines" not in log  # no bodies unless store_bodies
    t = {r["id"]: r for r in rows(store, "SELECT * FROM tasks")}
    assert (t["req_h1"]["session_id"], t["req_h1"]["persona"], t["req_h1"]["routing_reason"]) == (
        "nx-sess-1", "architect", "token_count<500")
    (rd,) = rows(store, "SELECT classifier_version FROM routing_decisions WHERE task_id='req_h1'")
    assert rd["classifier_version"] == "rules-v1"
    assert t["req_h2"]["session_id"] == sid  # Claude Code's session from metadata.user_id
    assert t["req_h3"]["session_id"].startswith("px-conv-")  # else the conversation
    clis = {r["id"]: r["cli_tool"] for r in rows(store, "SELECT id, cli_tool FROM sessions")}
    assert clis[sid] == "claude-code" and clis["nx-sess-1"] == "proxy"  # Claude Code's session keeps its cli_tool
    store.close()


def test_a_request_with_a_lone_surrogate_escape_keeps_its_model_and_session(upstream, proxy):
    """Claude Code's JSON of a tool output cut inside an emoji holds a lone surrogate escape ("\\ud83d"), which orjson
    refuses: the request's model and session (metadata.user_id) were lost, the task filed under one
    conversation key shared by every such request. The body is read with the iterative decoder."""
    import httpx

    sid = str(uuid.uuid4())
    body = ('{"model":"%s","max_tokens":5,"metadata":{"user_id":"user_x_account_y_session_%s"},'
            '"messages":[{"role":"user","content":"cut \\ud83d"}]}' % (MODEL, sid)).encode()
    r = httpx.post(f"{proxy.url}/v1/messages", content=body, headers={
        "content-type": "application/json", "x-api-key": "k", "anthropic-version": "2023-06-01",
        "x-test-request-id": "req_sur1"}, timeout=30)
    assert r.status_code == 200, r.text
    assert upstream[1].requests[0][2] == body  # forwarded as sent
    store = proxy.ingest()
    (t,) = rows(store, "SELECT id, session_id, model, tokens_out FROM tasks")
    assert (t["id"], t["session_id"], t["model"]) == ("req_sur1", sid, MODEL) and t["tokens_out"] > 0
    store.close()

def test_a_compressed_body_passes_as_sent_and_its_usage_is_read(upstream, proxy):
    """The proxy asks only for codings it can read (a client offering br and gzip gets gzip); the client gets the
    compressed bytes as the upstream sent them, and the usage is read from them."""
    hdr = {"accept-encoding": "br, gzip", "x-test-fault": "compress", "x-test-request-id": "req_gz"}
    req = {"model": MODEL, "max_tokens": 5, "messages": _msgs()}
    direct = httpx.post(upstream[0].url + "/v1/messages", json=req, headers=hdr)
    assert direct.headers["content-encoding"] == "br"  # what the upstream does when br is offered
    r = httpx.post(proxy.url + "/v1/messages", json=req, headers=hdr)
    assert r.headers["content-encoding"] == "gzip" and r.json() == captures()[0]["response"]["body"]
    assert upstream[1].requests[-1][1]["Accept-Encoding"] == "gzip"
    store = proxy.ingest()
    (t,) = rows(store, "SELECT tokens_out, response_bytes FROM tasks")
    assert t["tokens_out"] == 255 and t["response_bytes"] == int(r.headers["content-length"])
    store.close()


def test_store_bodies_keeps_them_in_the_event_log(tmp_path, upstream):
    p = Proxy(tmp_path, upstream[0].url, store_bodies=True)
    try:
        _client(p.url).messages.create(model=MODEL, max_tokens=5, messages=_msgs())
    finally:
        p.stop()
    (ev,) = p.events()
    assert ev["request_body"]["messages"] == _msgs()
    assert json.loads(ev["response_body"]) == captures()[0]["response"]["body"]


def test_other_paths_pass_through_untouched_and_are_not_recorded(upstream, proxy):
    for method, path, body in (("GET", "/v1/models?limit=2&after_id=x%20y", b""),
                               ("POST", "/v1/messages/batches", b"\x00\x01 raw bytes"),
                               ("DELETE", "/v1/files/file_1", b"")):
        rs = [httpx.request(method, base + path, content=body) for base in (upstream[0].url, proxy.url)]
        assert rs[0].status_code == rs[1].status_code == 200
        assert rs[0].content == rs[1].content and rs[1].headers["x-echo-path"] == path
    assert upstream[1].requests[5][2] == b""
    assert upstream[1].requests[3][2] == b"\x00\x01 raw bytes"
    proxy.stop()
    assert proxy.events() == []


# ------------------------------------------------------------------ faults
def test_unreachable_upstream_answers_502_in_the_api_error_shape(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    p = Proxy(tmp_path, f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(anthropic.APIStatusError) as e:
            _client(p.url).messages.create(model=MODEL, max_tokens=5, messages=_msgs())
        assert e.value.status_code == 502
        assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "api_error"
        assert "unreachable" in e.value.body["error"]["message"]
        store = p.ingest()
    finally:
        p.stop()
    (t,) = rows(store, "SELECT * FROM tasks")
    assert (t["http_status"], t["status"], t["error_type"]) == (502, "error", "api_error")
    store.close()


def test_upstream_closing_mid_stream_breaks_the_clients_stream_too(upstream, proxy):
    for base in (upstream[0].url, proxy.url):
        with pytest.raises((anthropic.APIConnectionError, httpx.HTTPError)):
            with _client(base).messages.stream(model=MODEL, max_tokens=5, messages=_msgs(),
                                               extra_headers={"x-test-fault": "close_midstream"}) as s:
                s.get_final_message()
    store = proxy.ingest()
    (t,) = rows(store, "SELECT * FROM tasks")
    assert t["status"] == "error" and t["error_type"] == "upstream_closed" and t["http_status"] == 200
    store.close()


def test_an_error_event_inside_a_stream_is_raised_alike_and_recorded(upstream, proxy):
    errs = []
    for base in (upstream[0].url, proxy.url):
        with pytest.raises(anthropic.APIStatusError) as e:
            with _client(base).messages.stream(model=MODEL, max_tokens=5, messages=_msgs(),
                                               extra_headers={"x-test-fault": "sse_error"}) as s:
                s.get_final_message()
        errs.append((type(e.value), e.value.body))
    assert errs[0] == errs[1] and errs[1][1]["error"]["type"] == "overloaded_error"
    store = proxy.ingest()
    (t,) = rows(store, "SELECT * FROM tasks")
    assert (t["http_status"], t["error_type"], t["status"], t["error_message"]) == (200, "overloaded_error", "error",
                                                                                 "Overloaded")
    assert t["tokens_in"] == 4  # message_start's usage was seen before the error
    store.close()


def _wait(cond, limit: float = 20.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_a_client_disconnecting_mid_stream_cancels_the_upstream_request(upstream, proxy):
    state = upstream[1]
    with httpx.Client() as c:
        with c.stream("POST", proxy.url + "/v1/messages", json={"model": MODEL, "stream": True, "max_tokens": 5,
                                                                "messages": _msgs()},
                      headers={"x-test-fault": "hang"}) as r:
            first = next(r.iter_raw())
            assert first.startswith(b"event: message_start")
    # the client went away while the upstream was still streaming: the upstream's handler is cancelled
    assert _wait(lambda: state.cancelled == 1)
    assert _wait(lambda: proxy.thread.stats.client_disconnects == 1)
    store = proxy.ingest()
    (t,) = rows(store, "SELECT * FROM tasks")
    assert t["tokens_in"] == 4 and t["status"] == "ok"  # what the stream had shown: message_start's usage
    store.close()


def test_a_slow_client_holds_back_the_upstream_instead_of_buffering(upstream, proxy):
    import psutil

    state = upstream[1]
    req = json.dumps({"model": MODEL, "stream": True, "max_tokens": 5, "messages": _msgs()}).encode()
    s = socket.create_connection(("127.0.0.1", proxy.thread.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    rss0 = psutil.Process().memory_info().rss
    s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-test-fault: big\r\n"
              b"x-test-big-mb: 256\r\nContent-Length: " + str(len(req)).encode() + b"\r\n\r\n" + req)
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    # the client reads nothing more: the upstream stalls once the sockets' buffers are full
    last = -1
    while True:
        time.sleep(0.3)
        if state.big_sent == last:
            break
        last = state.big_sent
    assert 0 < state.big_sent < 64 << 20  # far from the 256 MiB it wants to send
    assert psutil.Process().memory_info().rss - rss0 < 64 << 20
    s.close()
    assert _wait(lambda: state.cancelled == 1)


def test_200_concurrent_streams(upstream, proxy):
    n = 200
    want = b"".join(sse_events(captures()[0]))

    async def main():
        limits = httpx.Limits(max_connections=n + 10)
        async with httpx.AsyncClient(limits=limits, timeout=60) as c:
            async def one(i):
                r = await c.post(proxy.url + "/v1/messages", json={"model": MODEL, "stream": True, "max_tokens": 5,
                                                                   "messages": _msgs(f"stream {i}")},
                                 headers={"x-test-request-id": f"req_c{i:03d}", "x-test-gate": str(n)})
                return r.status_code, r.content
            return await asyncio.gather(*(one(i) for i in range(n)))

    res = asyncio.run(main())
    assert all(code == 200 and body == want for code, body in res)
    assert upstream[1].open_streams == n  # all of them were open at once
    store = proxy.ingest()
    ts = rows(store, "SELECT id, tokens_out, session_id FROM tasks")
    assert sorted(t["id"] for t in ts) == [f"req_c{i:03d}" for i in range(n)]
    assert {t["tokens_out"] for t in ts} == {255}
    assert len({t["session_id"] for t in ts}) == n  # each its own conversation (first message differs)
    store.close()


def _spawn_proxy(home, port: int, upstream_url: str) -> subprocess.Popen:
    env = {**os.environ, "NEXUS_INSIGHTS_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "proxy", "--port", str(port), "--upstream",
                          upstream_url], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    line = p.stdout.readline().decode()
    assert "nexus-insights proxy on" in line, line
    return p


def test_the_proxy_killed_and_restarted_loses_nothing_acknowledged_and_doubles_nothing(tmp_path, upstream):
    """A request's event is written before its response ends: SIGKILL right after the last response loses none."""
    home = tmp_path / "home"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    done = []
    for run in range(2):
        p = _spawn_proxy(home, port, upstream[0].url)
        try:
            c = _client(f"http://127.0.0.1:{port}")
            for i in range(15):
                rid = f"req_r{run}_{i:02d}"
                with c.messages.stream(model=MODEL, max_tokens=5, messages=_msgs(),
                                       extra_headers={"x-test-request-id": rid}) as st_:
                    st_.get_final_message()
                done.append(rid)  # acknowledged: the client has the whole response
        finally:  # the first run is killed outright, the second stopped
            p.send_signal(signal.SIGKILL if run == 0 else signal.SIGTERM)
            out = p.communicate(timeout=20)[0].decode()
        if run == 1:
            assert p.returncode == 0 and "15 recorded, 0 dropped" in out, out
    store = store_at(tmp_path / "db.sqlite")
    col = Collector(store, [NexusEventSource([home / "logs"], DEFAULT_REFERENCE_MODEL)])
    col.run_once()
    col.run_once()  # read again: nothing doubles
    ids = [r["id"] for r in rows(store, "SELECT id FROM tasks ORDER BY id")]
    assert ids == sorted(done)
    lines = sum(len(f.read_text().splitlines()) for f in (home / "logs").glob("*.jsonl"))
    assert lines == 30
    store.close()


def test_loopback_only_unless_allow_remote_with_a_token(tmp_path, upstream):
    with pytest.raises(ValueError, match="loopback only"):
        ProxyConfig(host="0.0.0.0").check()
    with pytest.raises(ValueError, match="needs --token"):
        ProxyConfig(host="0.0.0.0", allow_remote=True).check()
    p = Proxy(tmp_path, upstream[0].url, allow_remote=True, token="t0ken")
    try:
        with pytest.raises(anthropic.AuthenticationError) as e:
            _client(p.url).messages.create(model=MODEL, max_tokens=5, messages=_msgs())
        assert e.value.body["error"]["type"] == "authentication_error"
        with pytest.raises(anthropic.AuthenticationError):
            _client(p.url, default_headers={"x-nexus-proxy-token": "wrong"}).messages.create(
                model=MODEL, max_tokens=5, messages=_msgs())
        m = _client(p.url, default_headers={"x-nexus-proxy-token": "t0ken"}).messages.create(
            model=MODEL, max_tokens=5, messages=_msgs())
        assert m.usage.output_tokens == 255
        assert len(upstream[1].requests) == 1  # refused requests never reach the upstream
        assert "x-nexus-proxy-token" not in {k.lower() for k in upstream[1].requests[0][1]}
    finally:
        p.stop()
    assert b"t0ken" not in b"".join(f.read_bytes() for f in p.logs.glob("*.jsonl"))


def test_a_request_in_a_transcript_and_through_the_proxy_is_one_task(tmp_path, upstream, proxy):
    """The proxy's id is the upstream's request-id, the transcripts' requestId: one row, both sources' fields."""
    cap = captures()[0]
    body = cap["response"]["body"]
    with _client(proxy.url).messages.stream(model=MODEL, max_tokens=5, messages=_msgs()) as s:
        s.get_final_message()
    projects = tmp_path / "claude" / "projects" / "-p"
    projects.mkdir(parents=True)
    line = {"type": "assistant", "sessionId": "cc-sess-1", "uuid": "u1", "parentUuid": None,
            "timestamp": "2025-06-20T11:52:59.000Z", "requestId": cap["response"]["headers"]["request-id"],
            "message": {"id": body["id"], "model": MODEL, "role": "assistant", "content": body["content"],
                        "stop_reason": "tool_use", "usage": body["usage"]}}
    (projects / "cc-sess-1.jsonl").write_text(json.dumps(line) + "\n")
    store = proxy.ingest([ClaudeCodeSource([tmp_path / "claude" / "projects"])])
    (t,) = rows(store, "SELECT * FROM tasks")
    assert t["id"] == cap["response"]["headers"]["request-id"]
    assert t["tokens_out"] == 255 and t["http_status"] == 200 and t["ttfb_ms"] is not None
    assert len(rows(store, "SELECT id FROM tool_calls")) == 1
    store.close()


# ------------------------------------------------------------------ the pure parts
def test_usage_is_message_start_overlaid_with_the_last_message_delta_never_summed():
    evs = [{"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {
               "input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 100,
               "cache_creation_input_tokens": 50,
               "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30}}}},
           {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}},
           {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 40}},
           {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 70, "input_tokens": 10, "cache_read_input_tokens": 100}}]
    p = AnthropicStream("text/event-stream")
    p.feed(b"".join(f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n".encode() for e in evs))
    p.finish()
    assert p.usage == {"tokens_in": 10, "tokens_out": 70, "cache_read_tokens": 100, "cache_creation_tokens": 50,
                       "cache_creation_5m_tokens": 20, "cache_creation_1h_tokens": 30}
    assert p.stop_reason == "end_turn" and p.message_id == "msg_1" and p.first_token


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), max_size=60), st.sampled_from([0, 1]), st.booleans(),
       st.booleans(), st.sampled_from([1, 7, 500, 4096, 64 * 1024]))
def test_sse_parsed_the_same_whatever_the_chunk_boundaries(cuts, which, crlf, gz, hold):
    """Any split of the stream into chunks, LF or CRLF lines, gzip or not, whatever run of bytes is held after the
    first token: the same usage and tools."""
    import gzip

    cap = captures()[which]
    data = b"".join(sse_events(cap))
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    if gz:
        data = gzip.compress(data)
    p = AnthropicStream("text/event-stream; charset=utf-8", "gzip" if gz else "")
    p.HOLD = hold
    pos = 0
    for c in cuts:
        p.feed(data[pos:pos + c])
        pos += c
    p.feed(data[pos:])
    p.finish()
    u = cap["response"]["body"]["usage"]
    assert p.usage["tokens_out"] == u["output_tokens"] and p.usage["cache_creation_tokens"] == u[
        "cache_creation_input_tokens"]
    assert [t["id"] for t in p.tools] == [b["id"] for b in cap["response"]["body"]["content"]
                                         if b["type"] == "tool_use"]


def test_what_is_held_is_read_at_message_delta_so_the_end_reads_nothing():
    """After the first token the stream is read in runs (HOLD); the run is read as soon as message_delta comes, so the
    facts are complete one event before the end and the response's last bytes wait for no parsing. Split inside the
    marker, it is read at the end as before: the same facts either way."""
    cap = captures()[0]
    evs = sse_events(cap)
    assert evs[-2].startswith(b"event: message_delta") and evs[-1].startswith(b"event: message_stop")
    u = cap["response"]["body"]["usage"]
    p = AnthropicStream("text/event-stream")
    for ev in evs[:-1]:
        p.feed(ev)
    assert not p._held and p.usage["tokens_out"] == u["output_tokens"]  # before message_stop and finish
    links = p.link_content()
    p.feed(evs[-1])
    p.finish()
    assert p.usage["tokens_out"] == u["output_tokens"] and p.link_content() == links
    q = AnthropicStream("text/event-stream")  # the marker cut in two: nothing read early, the same in the end
    data = b"".join(evs)
    cut = data.index(b"event: message_delta") + 8
    q.feed(data[:cut])
    q.feed(data[cut:cut + 30])
    assert q._held and q.usage.get("tokens_out") != u["output_tokens"]
    q.feed(data[cut + 30:])
    q.finish()
    assert q.usage == p.usage and q.link_content() == links and q.tools == p.tools


def test_a_gzipped_json_body_is_read_and_a_non_json_one_ignored():
    import gzip

    body = json.dumps(captures()[1]["response"]["body"]).encode()
    p = AnthropicStream("application/json", "gzip")
    z = gzip.compress(body)
    for i in range(0, len(z), 7):
        p.feed(z[i:i + 7])
    p.finish()
    assert p.usage["tokens_out"] == 234 and [t["name"] for t in p.tools] == ["Bash"]
    q = AnthropicStream("text/html")
    q.feed(b"<html>{not json")
    q.finish()
    assert q.usage == {} and q.model is None
    r = AnthropicStream("application/json", "br")  # an encoding it cannot undo: nothing read, nothing raised
    r.feed(b"\x1b\x00garbage")
    r.finish()
    assert r.usage == {}


def test_quota_headers_of_every_kind_and_malformed_values_dropped():
    cap = captures()[0]
    q = {w["window"]: w for w in quota_from_headers({**cap["response"]["headers"], **UNIFIED_HEADERS,
                                                     **API_KEY_HEADERS})}
    assert set(q) == {"unified", "5h", "7d", "7d_opus", "requests", "input-tokens"}
    assert q["requests"]["resets_at_ms"] == 1750420410_000
    bad = quota_from_headers({"anthropic-ratelimit-unified-5h-utilization": "1.7",
                              "anthropic-ratelimit-unified-5h-reset": "soon",
                              "anthropic-ratelimit-tokens-limit": "0", "anthropic-ratelimit-tokens-remaining": "5"})
    assert {w["window"]: (w["used_fraction"], w["resets_at_ms"]) for w in bad} == {"5h": (None, None),
                                                                                 "tokens": (None, None)}
    assert quota_from_headers({"content-type": "x"}) == []


def test_session_from_claude_code_metadata_then_header_then_conversation():
    sid = "0b7c9d38-1f2e-4a35-9b7e-5d0f5c2a9e11"
    h = {"x-nexus-session": "hdr"}
    assert request_facts({"metadata": {"user_id": f"user_x_account_y_session_{sid}"}}, h)["session_id"] == sid
    assert request_facts({"metadata": {"user_id": json.dumps({"session_id": sid})}}, h)["session_id"] == sid
    assert request_facts({"metadata": {"user_id": "f6cb66"}}, h)["session_id"] == "hdr"
    f = request_facts({"messages": [{"role": "user", "content": "a"}]}, {})
    assert f["session_from"] == "conversation" and f["session_id"].startswith("px-conv-")
    assert request_facts("not a dict", {})["model"] is None


V6_TASK_COLUMNS = ["conversation_id", "branch_id", "parent_request_id", "parent_task_request_id", "is_subtask",
                   "message_hash", "parent_message_hash", "system_hash", "message_count", "http_status", "error_type",
                   "ttfb_ms", "ttft_ms", "request_bytes", "response_bytes", "streamed", "client", "retries"]


def test_a_version_4_database_migrates_to_6_keeping_its_rows(tmp_path):
    from sqlalchemy import inspect

    from nexus_tui.store.schema import PROXY_SCHEMA_VERSION, SCHEMA_VERSION

    db = tmp_path / "v4.sqlite"
    store = store_at(db)
    with store.engine.begin() as conn:  # make it a version-4 database holding a task
        conn.execute(text("INSERT INTO sessions (id, start_time) VALUES ('s1', '2026-01-01T00:00:00.000Z')"))
        conn.execute(text("INSERT INTO tasks (id, session_id, timestamp, source, model, routing, tokens_in) "
                          "VALUES ('t1', 's1', '2026-01-01T00:00:00.000Z', 'manual', 'm', 'cloud', 7)"))
        conn.execute(text("DROP INDEX IF EXISTS ix_tasks_conversation_id"))
        conn.execute(text("DROP INDEX IF EXISTS ix_tasks_message_hash"))
        for ix in ("ix_tasks_parent_request_id", "ix_tasks_conversation_message", "ix_tasks_proxied_session"):
            conn.execute(text(f"DROP INDEX IF EXISTS {ix}"))
        conn.execute(text("DROP TABLE link_keys"))
        for c in V6_TASK_COLUMNS:
            conn.execute(text(f'ALTER TABLE tasks DROP COLUMN "{c}"'))
        conn.execute(text("DROP TABLE quota_snapshots"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 4"))
    store.close()
    again = store_at(db)
    cols = {c["name"] for c in inspect(again.engine).get_columns("tasks")}
    assert set(V6_TASK_COLUMNS) <= cols
    qcols = [c["name"] for c in inspect(again.engine).get_columns("quota_snapshots")]
    assert qcols == ["id", "observed_ms", "observed_at", "source", "account", "window", "used_fraction",
                     "resets_at_ms", "status", "raw_json", "machine"]  # machine: version 7
    assert rows(again, "SELECT tokens_in, http_status FROM tasks")[0]["tokens_in"] == 7
    # conversation linking's table and lookup indexes are part of migration 6
    from nexus_tui.store.linking import PARTIAL_INDEXES

    assert "link_keys" in inspect(again.engine).get_table_names()
    assert {n for n, _, _ in PARTIAL_INDEXES} <= {
        ix["name"] for ix in inspect(again.engine).get_indexes("tasks")}
    versions = [r["version"] for r in rows(again, "SELECT version FROM schema_version ORDER BY version")]
    assert versions[-1] == SCHEMA_VERSION and PROXY_SCHEMA_VERSION == 6 and 5 in versions and 6 in versions
    again.close()


def test_proxy_section_runs_the_proxy_inside_the_collect_daemon(tmp_path, upstream):
    """[proxy] enabled = true in insights.toml: `nexus-insights collect` serves the proxy, and its records reach the
    database through the event log and the daemon's own collector (the final pass after the proxy is drained)."""
    home = tmp_path / "home"
    home.mkdir()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (home / "insights.toml").write_text(f'[proxy]\nenabled = true\nport = {port}\nupstream = "{upstream[0].url}"\n')
    env = {**os.environ, "NEXUS_INSIGHTS_HOME": str(home), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
           "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "collect", "--interval", "0.5"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = p.stdout.readline().decode()
        assert f"recording proxy on http://127.0.0.1:{port}" in line, line
        m = _client(f"http://127.0.0.1:{port}").messages.create(model=MODEL, max_tokens=5, messages=_msgs())
        assert m.usage.output_tokens == 255
    finally:
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=30)[0].decode()
    assert p.returncode == 0, out
    # what the proxy recorded and dropped is said when the daemon stops (it was said nowhere)
    assert "proxy: 1 request, 1 recorded, 0 dropped, 0 upstream errors, 0 client disconnects" in out, out
    store = store_at(home / "insights.db")
    (t,) = rows(store, "SELECT id, source, tokens_out FROM tasks")
    assert (t["id"], t["source"], t["tokens_out"]) == (captures()[0]["response"]["headers"]["request-id"],
                                                      "proxy-intercept", 255)
    store.close()


def test_proxy_settings_are_read_and_guarded(tmp_path):
    from nexus_tui.config import load_settings

    (tmp_path / "insights.toml").write_text('[proxy]\nenabled = true\nport = 9999\nstore_bodies = true\n'
                                            'upstream = "http://10.0.0.2:8080"\nopenai_upstream = "http://127.0.0.1:11434"\n')
    s = load_settings(tmp_path)
    assert (s.proxy_enabled, s.proxy_port, s.proxy_store_bodies, s.proxy_upstream, s.proxy_openai_upstream) == (
        True, 9999, True, "http://10.0.0.2:8080", "http://127.0.0.1:11434")
    from nexus_tui.config import SettingsError

    # a bad value is named, never silently dropped (the commands print the line and exit 2)
    for bad, key in (('enabled = "yes"', "enabled"), ("port = 70000", "port"), ('upstream = "ftp://x"', "upstream"),
                     ("store_bodies = 1", "store_bodies")):
        (tmp_path / "insights.toml").write_text(f"[proxy]\n{bad}\n")
        with pytest.raises(SettingsError, match=rf"\[proxy\] {key} = "):
            load_settings(tmp_path)
    (tmp_path / "insights.toml").write_text("[proxy]\n")
    s = load_settings(tmp_path)
    assert (s.proxy_enabled, s.proxy_port, s.proxy_store_bodies, s.proxy_upstream, s.proxy_openai_upstream) == (
        False, 8787, False, "https://api.anthropic.com", None)


_junk = st.recursive(st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) |
                     st.floats(allow_nan=False) | st.text(max_size=300),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                     max_leaves=12)
_usage_keys = ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
               "cache_creation", "service_tier", "prompt_tokens", "completion_tokens", "prompt_tokens_details"]


@settings(max_examples=100, deadline=None)
@given(events=st.lists(st.fixed_dictionaries(
           {"type": st.sampled_from(["message_start", "content_block_start", "message_delta", "error", "x"])},
           optional={"message": st.fixed_dictionaries({}, optional={
               "id": _junk, "model": _junk, "usage": st.dictionaries(st.sampled_from(_usage_keys), _junk)}),
               "content_block": st.fixed_dictionaries({"type": st.sampled_from(["tool_use", "text"])},
                                                      optional={"id": _junk, "name": _junk, "text": _junk}),
               "delta": st.dictionaries(st.sampled_from(["stop_reason", "content"]), _junk),
               "usage": st.dictionaries(st.sampled_from(_usage_keys), _junk),
               "error": st.dictionaries(st.sampled_from(["type", "message", "code"]), _junk),
               "choices": _junk, "id": _junk, "model": _junk}), max_size=8),
       body=st.dictionaries(st.sampled_from(["model", "messages", "metadata", "stream", "system"]), _junk),
       headers=st.dictionaries(st.sampled_from(["user-agent", "x-stainless-retry-count", "x-nexus-session",
                                               "x-nexus-persona", "x-nexus-routing-reason",
                                               "x-nexus-classifier-version"]), st.text(max_size=400)),
       resp_headers=st.dictionaries(st.sampled_from(["request-id", "anthropic-organization-id",
                                                    "anthropic-ratelimit-unified-status",
                                                    "anthropic-ratelimit-unified-reset",
                                                    "anthropic-ratelimit-unified-5h-utilization",
                                                    "anthropic-ratelimit-unified-" + "w" * 80 + "-reset",
                                                    "anthropic-ratelimit-tokens-limit",
                                                    "anthropic-ratelimit-tokens-remaining",
                                                    "anthropic-ratelimit-tokens-reset"]), st.text(max_size=300)),
       status=st.integers(min_value=100, max_value=999), openai_route=st.booleans())
def test_whatever_a_request_and_response_hold_the_recorded_event_is_valid(events, body, headers, resp_headers,
                                                                        status, openai_route):
    """Malformed values (wrong types, negative or huge counts, long strings) are dropped or bounded, so the event the
    writer builds always passes the schema the collector checks: a record is never lost to an invalid field."""
    from multidict import CIMultiDict

    from nexus_tui.collect.proxy import EventSink, ProxyStats, _finish
    from nexus_tui.core.parse.nexus_events import invalid_reason
    from nexus_tui.core.parse.proxy import OpenAIStream

    parser = (OpenAIStream if openai_route else AnthropicStream)("text/event-stream")
    parser.feed(b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events))
    rec = {"id": None, "route": "openai" if openai_route else "anthropic", "path": "/v1/messages",
           "kind": "chat" if openai_route else "messages", "routing": "cloud", "request_bytes": 10,
           "request_body": json.dumps(body).encode(), "headers": headers}
    _finish(rec, parser, status, CIMultiDict(resp_headers), 0.001, None, 5, time.perf_counter(), None, None)
    sink = EventSink.__new__(EventSink)  # its event builder only (no thread)
    sink.store_bodies, sink._hashes, sink._redact = False, None, lambda s: s
    ev = sink.event(rec)
    assert invalid_reason(ev) is None, (invalid_reason(ev), ev)


async def test_the_dashboard_runs_the_proxy_when_the_config_says_so(tmp_path, monkeypatch, upstream):
    """[proxy] enabled = true: a request sent through the proxy while the app runs lands in the store (through the
    event log and the app's collector)."""
    from nexus_tui.app import NexusApp
    from nexus_tui.collect.registry import build_sources
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    home = tmp_path / "nexus"
    home.mkdir()
    (home / "insights.toml").write_text(f'[proxy]\nenabled = true\nport = {port}\nupstream = "{upstream[0].url}"\n')
    settings = load_settings(home=str(home))
    store = open_store(settings.db_url)
    app = NexusApp(settings, store, Collector(store, build_sources(settings), workers=1), tz="UTC", poll_seconds=0.2)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.3)
        c = anthropic.AsyncAnthropic(base_url=f"http://127.0.0.1:{port}", api_key="sk-x", max_retries=0)
        m = await c.messages.create(model=MODEL, max_tokens=5, messages=_msgs())
        assert m.usage.output_tokens == 255
        for _ in range(60):
            await pilot.pause(0.1)
            with store.engine.connect() as conn:
                if conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar():
                    break
    (t,) = rows(store, "SELECT source, tokens_out, http_status FROM tasks")
    assert (t["source"], t["tokens_out"], t["http_status"]) == ("proxy-intercept", 255, 200)
    store.close()


def test_task_prompts_and_single_user_texts_are_hashed_for_sub_task_linking(upstream, proxy):
    """Without bodies, sub-task linking still has what it compares (conversation linking's keys, core/linking.py):
    each Task tool use's prompt hashed, from the streamed input_json deltas or a plain body, and a one-message
    request's text (system reminders dropped)."""
    from nexus_tui.core import linking as L

    cap = captures()[0]
    task = next(b for b in cap["response"]["body"]["content"] if b["type"] == "tool_use")
    assert task["name"] == "Task"
    c = _client(proxy.url)
    with c.messages.stream(model=MODEL, max_tokens=5, messages=_msgs(),
                           extra_headers={"x-test-request-id": "req_s"}) as s:
        s.get_final_message()
    c.messages.create(model=MODEL, max_tokens=5, messages=_msgs(), extra_headers={"x-test-request-id": "req_p"})
    # the sub-agent's first request: its single user message is the Task prompt (with a reminder block before it)
    c.messages.create(model=MODEL, max_tokens=5, extra_headers={"x-test-request-id": "req_child"}, messages=[
        {"role": "user", "content": [{"type": "text", "text": "<system-reminder>\nctx\n</system-reminder>"},
                                     {"type": "text", "text": task["input"]["prompt"]}]}])
    c.messages.count_tokens(model=MODEL, messages=_msgs(), extra_headers={"x-test-request-id": "req_ct"})
    proxy.stop()
    ev = {e["id"]: e for e in proxy.events()}
    want = L.response_keys(cap["response"]["body"])
    assert want == [("task_prompt", L.sha256_hex(task["input"]["prompt"]), 0)]
    assert ev["req_s"]["response_keys"] == ev["req_p"]["response_keys"] == [list(k) for k in want]
    assert ev["req_child"]["hashes"]["user_text_hash"] == L.sha256_hex(task["input"]["prompt"])
    assert ev["req_s"]["hashes"] == json.loads(json.dumps(L.request_hashes({"messages": _msgs()})))
    assert "hashes" not in ev["req_ct"] and "response_keys" not in ev["req_ct"]  # count_tokens is not linked
    for e in ev.values():  # the proxy's own sub-task hashes are gone: one mechanism, the linker's
        assert "task_invocations" not in e and "user_text_sha256" not in e


def test_a_batch_with_quota_snapshots_survives_the_hand_over_between_processes():
    """Parser workers pickle their batches for the writer's process (Batch.__reduce__): quota snapshots travel too."""
    import pickle

    from nexus_tui.core.events import Batch, TaskRec
    from nexus_tui.core.merge import fold_batch

    b = Batch(tasks=[TaskRec(id="req_1", session_id="s", ts_ms=1, source="proxy-intercept", model="m",
                             http_status=529, ttft_ms=12, streamed=True)],
              quota_snapshots=[{"id": "req_1:5h", "observed_ms": 1, "window": "5h", "used_fraction": 0.5}])
    again = pickle.loads(pickle.dumps(b))
    assert again.quota_snapshots == b.quota_snapshots and again.tasks[0].http_status == 529
    assert fold_batch(b).quota_snapshots == b.quota_snapshots and not again.is_empty()
    assert not Batch(quota_snapshots=b.quota_snapshots).is_empty()
