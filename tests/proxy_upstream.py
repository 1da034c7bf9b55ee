"""A local stand-in for the Anthropic API (and an OpenAI-compatible server) replaying the real proxy captures in
../shared/fixtures/real/proxy_captures/: their SSE events as captured, their response headers, plus the newer
unified rate-limit headers (FORMATS.md section 10). Used by tests/test_proxy.py and bench/proxy.py.

Request headers choose what it does (the proxy forwards them untouched):
  x-test-capture: 0 | 1            which capture (default 0)
  x-test-request-id: ID            the request-id header to answer with (default: the capture's)
  x-test-fault: 429 | 500 | 529 | close_midstream | sse_error | hang | big | compress (br or gzip as accepted)
               (big: x-test-big-mb MiB of SSE pings)
  x-test-gate: N                   hold each stream after its first event until N streams are open
  x-test-gap-ms: F                 send event i at F*i ms after the first, as the API paces a stream (deadlines
                                   from the first event, so a late wake-up does not push every later event back)
A request id listed in ``UpstreamState.scripted`` is answered with that message body instead (streamed as the API
streams one when the request asks for a stream: text and tool input in small deltas).
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

CAPTURES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "proxy_captures"

UNIFIED_HEADERS = {
    "anthropic-ratelimit-unified-representative-claim": "five_hour",
    "anthropic-ratelimit-unified-5h-utilization": "0.42",
    "anthropic-ratelimit-unified-5h-reset": "1750435200",
    "anthropic-ratelimit-unified-5h-status": "allowed",
    "anthropic-ratelimit-unified-7d-utilization": "0.17",
    "anthropic-ratelimit-unified-7d-reset": "1750982400",
    "anthropic-ratelimit-unified-7d-status": "allowed",
    "anthropic-ratelimit-unified-7d_opus-utilization": "0.93",
    "anthropic-ratelimit-unified-7d_opus-reset": "1750982400",
    "anthropic-ratelimit-unified-7d_opus-status": "allowed_warning",
}
API_KEY_HEADERS = {  # what API-key traffic carries on a 429
    "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": "2025-06-20T11:53:30Z",
    "anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-input-tokens-remaining": "6000",
    "anthropic-ratelimit-input-tokens-reset": "2025-06-20T11:53:12Z", "retry-after": "18",
}
_SKIP = {"connection", "transfer-encoding", "content-length", "content-encoding"}
ERRORS = {"429": ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
          "500": ("api_error", "Internal server error"), "529": ("overloaded_error", "Overloaded")}


def captures() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(CAPTURES_DIR.glob("inference_*.json"))]


def sse_events(capture: dict) -> list[bytes]:
    return [f"event: {c['type']}\ndata: {json.dumps(c, separators=(',', ':'))}\n\n".encode()
            for c in capture["response"]["metadata"]["streamingChunks"]]


def message_events(message: dict, step: int = 7) -> list[bytes]:
    """A message body as the API streams it: message_start, each block started, its text or input JSON in deltas
    of ``step`` characters, stopped, then message_delta (stop reason, usage) and message_stop."""
    def ev(obj: dict) -> bytes:
        return f"event: {obj['type']}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()

    usage = message.get("usage") or {}
    start = {k: v for k, v in message.items() if k not in ("content", "stop_reason", "stop_sequence")}
    out = [ev({"type": "message_start", "message": {**start, "content": [], "stop_reason": None,
                                                     "stop_sequence": None}})]
    for i, block in enumerate(message.get("content") or []):
        if block["type"] == "text":
            out.append(ev({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}))
            t = block["text"]
            out += [ev({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta",
                                                                              "text": t[j:j + step]}})
                    for j in range(0, len(t), step)]
        elif block["type"] == "tool_use":
            out.append(ev({"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            js = json.dumps(block["input"])
            out += [ev({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta",
                                                                              "partial_json": js[j:j + step]}})
                    for j in range(0, len(js), step)]
        out.append(ev({"type": "content_block_stop", "index": i}))
    out.append(ev({"type": "message_delta", "delta": {"stop_reason": message.get("stop_reason"),
                                                       "stop_sequence": None},
                   "usage": {"output_tokens": usage.get("output_tokens", 0)}}))
    out.append(ev({"type": "message_stop"}))
    return out


def response_headers(capture: dict, content_type: str | None = None) -> dict:
    h = {k: v for k, v in capture["response"]["headers"].items() if k not in _SKIP}
    h.update(UNIFIED_HEADERS)
    if content_type:
        h["content-type"] = content_type
    return h


@dataclass
class UpstreamState:
    requests: list = field(default_factory=list)  # (path, headers dict, body bytes)
    cancelled: int = 0  # handlers stopped because the proxy went away (client disconnect propagated)
    big_sent: int = 0  # bytes a 'big' response has handed to its socket so far
    open_streams: int = 0  # streams past their first event (x-test-gate holds them until this many are open)
    gate: asyncio.Event | None = None
    scripted: dict = field(default_factory=dict)  # request id -> the message body to answer with
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_upstream(state: UpstreamState | None = None) -> web.Application:
    state = state or UpstreamState()
    caps = captures()

    async def messages(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        with state.lock:
            state.requests.append((request.path, dict(request.headers), raw))
        body = json.loads(raw) if raw else {}
        cap = caps[int(request.headers.get("x-test-capture", "0")) % len(caps)]
        fault = request.headers.get("x-test-fault")
        rid = request.headers.get("x-test-request-id") or cap["response"]["headers"]["request-id"]
        if fault in ERRORS:
            etype, msg = ERRORS[fault]
            h = {"request-id": rid, "content-type": "application/json", "date": cap["response"]["headers"]["date"],
                 "server": "cloudflare", **(API_KEY_HEADERS if fault == "429" else {})}
            return web.Response(status=int(fault), headers=h, body=json.dumps(
                {"type": "error", "error": {"type": etype, "message": msg}}).encode())
        if rid in state.scripted and not request.path.endswith("/count_tokens"):
            msg = state.scripted[rid]
            h = {"request-id": rid, "date": cap["response"]["headers"]["date"], "server": "cloudflare"}
            if not body.get("stream"):
                return web.json_response(msg, headers=h)
            resp = web.StreamResponse(headers={**h, "content-type": "text/event-stream"})
            await resp.prepare(request)
            for chunk in message_events(msg):
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        if request.path.endswith("/count_tokens"):
            return web.Response(headers={"request-id": rid, "content-type": "application/json",
                                         "date": cap["response"]["headers"]["date"], "server": "cloudflare"},
                                body=b'{"input_tokens":21780}')
        if not body.get("stream"):
            h = response_headers(cap, "application/json")
            h["request-id"] = rid
            out = json.dumps(cap["response"]["body"]).encode()
            accepted = [t.split(";")[0].strip() for t in request.headers.get("accept-encoding", "").split(",")]
            if fault == "compress" and "br" in accepted:
                h["content-encoding"], out = "br", b"\x0b\x02\x80not really brotli"
            elif fault == "compress" and "gzip" in accepted:
                import gzip

                h["content-encoding"], out = "gzip", gzip.compress(out, mtime=0)
            return web.Response(headers=h, body=out)
        h = response_headers(cap)
        h["request-id"] = rid
        resp = web.StreamResponse(headers=h)
        await resp.prepare(request)
        try:
            if fault == "big":
                ping = b"event: ping\ndata: {\"type\": \"ping\"}\n\n" * 1024
                total = int(request.headers.get("x-test-big-mb", "64")) << 20
                sent = 0
                while sent < total:
                    await resp.write(ping)
                    sent += len(ping)
                    state.big_sent = sent
            events = sse_events(cap)
            gate = int(request.headers.get("x-test-gate", "0"))
            gap = float(request.headers.get("x-test-gap-ms", "0")) / 1000
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i, ev in enumerate(events):
                if gate and i == 1:  # hold every stream open until `gate` of them are
                    if state.gate is None:
                        state.gate = asyncio.Event()
                    state.open_streams += 1
                    if state.open_streams >= gate:
                        state.gate.set()
                    await state.gate.wait()
                if fault == "close_midstream" and i == len(events) // 2:
                    request.transport.close()  # the connection drops: no final chunk
                    return resp
                if fault == "sse_error" and i == 3:  # the API's error event inside a 200 stream
                    await resp.write(b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                                     b'"message":"Overloaded"}}\n\n')
                    break
                if fault == "hang" and i == 3:
                    await asyncio.sleep(3600)
                if gap and i:
                    await asyncio.sleep(max(0.0, start + i * gap - loop.time()))
                await resp.write(ev)
            await resp.write_eof()
        except asyncio.CancelledError:
            with state.lock:
                state.cancelled += 1
            raise
        return resp

    async def chat(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        with state.lock:
            state.requests.append((request.path, dict(request.headers), raw))
        body = json.loads(raw)
        usage = {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35,
                 "prompt_tokens_details": {"cached_tokens": 10}}
        base = {"id": "chatcmpl-test1", "created": 1750420376, "model": body.get("model", "qwen2.5-coder:7b"),
                "system_fingerprint": "fp_local"}
        if not body.get("stream"):
            return web.json_response({**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hello there."}, "finish_reason": "stop"}],
                "usage": usage})
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for delta, fin in (({"role": "assistant", "content": ""}, None), ({"content": "Hello"}, None),
                           ({"content": " there."}, None), ({}, "stop")):
            ch = {**base, "object": "chat.completion.chunk",
                  "choices": [{"index": 0, "delta": delta, "finish_reason": fin}]}
            await resp.write(f"data: {json.dumps(ch)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def other(request: web.Request) -> web.Response:
        raw = await request.read()
        with state.lock:
            state.requests.append((request.path, dict(request.headers), raw))
        return web.Response(status=200, headers={"x-echo-path": request.path_qs, "content-type": "application/json"},
                            body=json.dumps({"method": request.method, "path": request.path_qs,
                                             "body": raw.decode()}).encode())

    app = web.Application(client_max_size=256 << 20)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", messages)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_route("*", "/{tail:.*}", other)
    return app


class ServerThread(threading.Thread):
    """An aiohttp app on its own loop in a thread, on a free loopback port."""

    def __init__(self, app: web.Application, handler_cancellation: bool = True):
        super().__init__(daemon=True)
        self.app, self.port = app, 0
        self.ready = threading.Event()
        self._hc = handler_cancellation
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop_evt: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    async def _serve(self) -> None:
        self._stop_evt = asyncio.Event()
        runner = web.AppRunner(self.app, access_log=None, handler_cancellation=self._hc, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        await self._stop_evt.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self.loop is not None and self._stop_evt is not None:
            self.loop.call_soon_threadsafe(self._stop_evt.set)
        self.join(5)


def main() -> None:  # python -m tests.proxy_upstream PORT: serve until killed (bench/proxy.py runs it so)
    import sys

    web.run_app(make_upstream(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
                handler_cancellation=True, backlog=1024)


if __name__ == "__main__":
    main()
