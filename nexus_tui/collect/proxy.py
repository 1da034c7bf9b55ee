"""The recording proxy: Anthropic's Messages API (and an OpenAI-compatible route) passed through, every request
recorded to the nexus event log (docs/events.md, ``proxy_request``), which the collector ingests into ``tasks``.

    ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude

- Forwarding: the client gets what the upstream sent, untouched: the status, the headers (hop-by-hop ones aside),
  the body bytes (compressed or not: never decoded), SSE as it arrives (whatever one read from the upstream brought
  is one write to the client). The upstream is reached with collect/upstream.py (a minimal HTTP/1.1 client: keep-alive,
  one pass over each read's chunks). Back-pressure is end to end: the upstream is read again only once the previous
  piece was handed to the client's socket (aiohttp's ``write`` drains) and stops being read past a bounded buffer, so
  a slow client holds at most the sockets' buffers, never a response. A client that goes away cancels its handler
  (``handler_cancellation``), which closes the upstream connection. An unreachable upstream answers 502 in the API's
  error shape.
- Recording never blocks a response: the handler puts a small record on a bounded queue; one writer thread
  parses the request body (model, session, hashes), builds the event and appends it (one ``os.write`` of whole
  lines to a file opened ``O_APPEND``, like nexus_tui.recorder). A full queue drops the record and counts it.
  Closing the proxy drains the queue first. Authorization headers and API keys are forwarded, never recorded:
  the only headers recorded are the user agent, the retry count, the organization id and ``anthropic-ratelimit-*``.
- ``x-nexus-session``, ``x-nexus-persona``, ``x-nexus-routing-reason``, ``x-nexus-classifier-version`` (and the
  proxy's own ``x-nexus-proxy-token``) are read and stripped before forwarding.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import ipaddress
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from nexus_tui.core.net import is_loopback_host  # noqa: F401 (used here and by tests)
from nexus_tui.core.report import plural, shown
from nexus_tui.collect.upstream import Upstream, UpstreamClosed, UpstreamError
from nexus_tui.core.linking import request_hashes, response_keys
from nexus_tui.core.parse.proxy import AnthropicStream, OpenAIStream, quota_from_headers, request_facts
from nexus_tui.core.redact import redact, redact_event, storable

DEFAULT_PORT = 8787
DEFAULT_UPSTREAM = "https://api.anthropic.com"
MAX_REQUEST = 256 * 1024 * 1024
QUEUE_MAX = 4096
_MAX_KEYS = 200  # link keys of one response kept in its event (the schema's bound)
TOKEN_HEADER = "x-nexus-proxy-token"
NEXUS_HEADERS = ("x-nexus-session", "x-nexus-persona", "x-nexus-routing-reason", "x-nexus-classifier-version",
                 TOKEN_HEADER)
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "proxy-connection"))
_REQ_DROP = HOP_BY_HOP | {"host", "content-length", "expect"} | set(NEXUS_HEADERS)
_RES_DROP = HOP_BY_HOP


def api_error(status: int, message: str, etype: str = "api_error") -> web.Response:
    """An error in Anthropic's own shape, so SDKs raise their usual exception."""
    return web.json_response({"type": "error", "error": {"type": etype, "message": message}}, status=status)



def is_local_upstream(url: str) -> bool:
    """A server on this machine or the private network (Ollama, llama.cpp, vLLM): routing 'local'."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost",) or host.endswith((".local", ".localhost")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local


@dataclass
class ProxyConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    upstream: str = DEFAULT_UPSTREAM
    openai_upstream: str | None = None  # /v1/chat/completions goes there (e.g. http://127.0.0.1:11434 for Ollama)
    openai_local: bool | None = None  # None: local when the openai upstream is on this machine / private network
    store_bodies: bool = False
    allow_remote: bool = False
    token: str | None = None

    def check(self) -> None:
        if not is_loopback_host(self.host) and not self.allow_remote:
            raise ValueError(f"refusing to listen on {self.host!r}: loopback only unless --allow-remote")
        if self.allow_remote and not self.token:
            raise ValueError("--allow-remote needs --token (clients send it as the x-nexus-proxy-token header)")
        for u in (self.upstream, self.openai_upstream):
            if u is not None and urlsplit(u).scheme not in ("http", "https"):
                raise ValueError(f"upstream {redact(u)!r} is not an http(s) URL")


@dataclass
class ProxyStats:
    requests: int = 0
    recorded: int = 0
    dropped: int = 0  # records lost to a full queue or a failed write
    upstream_errors: int = 0
    client_disconnects: int = 0
    rejected: int = 0


def config_from_settings(settings) -> ProxyConfig:
    """The ``[proxy]`` section of insights.toml (config.Settings) as a ProxyConfig."""
    return ProxyConfig(host=settings.proxy_host, port=settings.proxy_port, upstream=settings.proxy_upstream,
                       openai_upstream=settings.proxy_openai_upstream, store_bodies=settings.proxy_store_bodies)


# ---------------------------------------------------------------- recording
class EventSink:
    """Turns finished requests into ``proxy_request`` events and appends them to the event log.

    A record is durable before its response is: at the response's end, the handler writes the event itself (one
    ``os.write`` of a line, before the last bytes go to the client), so a client that has a whole response can rely on
    its record surviving even a SIGKILL. What that needs from the request body (parsed JSON: model, session, hashes) is
    computed by the writer thread while the upstream answers when the body is large (``prepare``); a small body is
    parsed on the spot. A response that ends before a large body was read (an instant error) is handed to the thread.
    The hand-over is a ``deque.append`` (no lock, no wake-up: waking a thread on every request hands it the GIL in the
    middle of other streams); the thread looks every ``POLL`` seconds. The queue is bounded (a full one drops the
    record and counts it); closing writes everything queued."""

    POLL = 0.02
    SYNC_BODY = 64 * 1024  # request bodies up to this size are parsed in the handler when the response ends

    def __init__(self, logs_dir: Path, stats: ProxyStats, reference_store_bodies: bool = False,
                 maxsize: int = QUEUE_MAX):
        self.logs_dir = Path(logs_dir)
        self.stats = stats
        self.store_bodies = reference_store_bodies
        self.maxsize = maxsize
        self._q: collections.deque = collections.deque()
        self._closing = threading.Event()
        self._count_lock = threading.Lock()
        self._fd_lock = threading.Lock()
        self._fd: int | None = None
        self._day = ""
        self._redact = redact
        self._thread = threading.Thread(target=self._run, name="nexus-proxy-writer", daemon=True)
        self._thread.start()

    # ---- the handler's side (event loop)
    def _put(self, item) -> None:
        if len(self._q) >= self.maxsize:
            self._count(dropped=1)
            return
        self._q.append(item)

    def prepare(self, rec: dict) -> None:
        """A request was read: a large body is parsed by the thread while the upstream answers."""
        if len(rec.get("request_body") or b"") > self.SYNC_BODY:
            self._put(("req", rec))

    def record(self, rec: dict) -> None:
        """The response is complete (or failed): write its event now when the request part is ready."""
        if "_req" not in rec and len(rec.get("request_body") or b"") <= self.SYNC_BODY:
            self.request_part(rec)
        if "_req" not in rec:
            self._put(("done", rec))
            return
        try:
            line = self.line(rec)
        except Exception:  # a record that cannot be built is counted, never fatal
            self._count(dropped=1)
            return
        self._write(line, 1)

    put = record  # the name the first version had

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop."""
        self._closing.set()
        self._thread.join(timeout)
        with self._fd_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # ---- the thread
    def _run(self) -> None:
        while True:
            closing = self._closing.wait(self.POLL)
            while self._q:
                lines = []
                while self._q and len(lines) < 256:
                    kind, rec = self._q.popleft()
                    self.request_part(rec)
                    if kind == "done":
                        try:
                            lines.append(self.line(rec))
                        except Exception:
                            self._count(dropped=1)
                if lines:
                    self._write(b"".join(lines), len(lines))
            if closing:
                return

    def _count(self, recorded: int = 0, dropped: int = 0) -> None:
        with self._count_lock:
            self.stats.recorded += recorded
            self.stats.dropped += dropped

    def _write(self, data: bytes, n: int) -> None:
        """Append whole lines to today's file (kept open: O_APPEND writes from both sides never interleave)."""
        from nexus_tui.private import append_lines, open_append, private_dir

        day = time.strftime("%Y-%m-%d", time.gmtime())
        try:
            with self._fd_lock:
                if day != self._day or self._fd is None:
                    private_dir(self.logs_dir)  # the recordings are the user's alone: 0700 folders, 0600 files
                    fd = open_append(self.logs_dir / f"{day}.jsonl")
                    if self._fd is not None:
                        os.close(self._fd)
                    self._fd, self._day = fd, day
                whole = append_lines(self._fd, data)
            if not whole:
                raise OSError("short write")
            self._count(recorded=n)
        except OSError:
            self._count(dropped=n)

    # ---- building the event (either side)
    def request_part(self, rec: dict) -> None:
        """What the event takes from the request (``rec['_req']``, set last: its presence means ready)."""
        if "_req" in rec:
            return
        try:
            part = self._request_part(rec)
        except Exception:  # a body that cannot be read: the event keeps what the response showed
            part = {"session_id": f"px-conv-{uuid.uuid4().hex[:24]}", "session_from": "conversation"}
        rec["_req"] = part

    def _request_part(self, rec: dict) -> dict:
        body = None
        raw = rec.get("request_body") or b""
        if raw:
            from nexus_tui.core.parse.guard import Malformed, loads

            try:  # guard.loads: a lone surrogate escape (Claude Code's JSON of a tool output cut inside an emoji)
                body = loads(raw)  # left orjson without the request's model and session
            except Malformed:
                body = None
        facts = request_facts(body, rec.get("headers") or {})
        part = {"session_id": facts["session_id"], "session_from": facts["session_from"]}
        for k in ("persona", "routing_reason", "classifier_version", "client", "retries", "message_count", "model"):
            if facts[k] is not None:
                part[k] = facts[k]
        if isinstance(body, dict) and rec.get("kind") == "messages":  # conversation linking (docs/proxy.md)
            try:
                h = request_hashes(body)
            except Exception:  # never raises by contract; a request that cannot be hashed is not linked
                h = None
            if isinstance(h, dict) and h.get("message_hash"):
                part["hashes"] = h
        if self.store_bodies and body is not None:
            try:
                part["request_body"] = orjson.loads(self._redact(orjson.dumps(body).decode()))
            except (TypeError, orjson.JSONDecodeError):  # nested past orjson's 254 levels: kept as its text
                part["request_body"] = self._redact(raw.decode("utf-8", "replace"))
        return part

    _PRIVATE = frozenset(("_req", "_link_content", "_quota", "request_body", "headers", "response_body", "ts"))

    def compose(self, rec: dict) -> dict:
        part = rec["_req"]
        ev = {"v": 1, "type": "proxy_request", "ts": rec["ts"]}
        ev.update({k: v for k, v in part.items() if k not in ("model", "request_body")})
        ev.update({k: v for k, v in rec.items() if v is not None and k not in self._PRIVATE})
        if not ev.get("model") and part.get("model"):
            ev["model"] = part["model"]
        if "hashes" in part:  # the response's link keys (Task prompts, a summary), hashes only
            try:
                keys = response_keys({"content": rec.get("_link_content") or []},
                                     is_summarization=part["hashes"].get("is_summarization") is True)
            except Exception:
                keys = []
            ev["response_keys"] = keys[:_MAX_KEYS]
        ev = redact_event({k: v for k, v in ev.items() if v is not None}, _NOT_TEXT)  # headers' text included
        if ev.get("error_message"):
            ev["error_message"] = ev["error_message"][:2000]
        if self.store_bodies:
            if "request_body" in part:
                ev["request_body"] = part["request_body"]
            if rec.get("response_body") is not None:
                ev["response_body"] = self._redact(rec["response_body"])
        return ev

    def line(self, rec: dict) -> bytes:
        """The event as its log line. A header's bytes that are not UTF-8 (an upstream's request-id or quota status
        sent as Latin-1, a client's x-nexus-session) are read as lone surrogates, which JSON cannot hold: the event
        was dropped whole, its usage with it; those characters are written as U+FFFD."""
        ev = self.compose(rec)
        try:
            return orjson.dumps(ev) + b"\n"
        except orjson.JSONEncodeError:
            return orjson.dumps(storable(ev)) + b"\n"

    def event(self, rec: dict) -> dict:
        """The ``proxy_request`` event of one finished request."""
        self.request_part(rec)
        return self.compose(rec)


# the values of a proxy_request event that hold no text from a client or an upstream (redacted: every other string,
# the user agent, x-nexus-persona and x-nexus-routing-reason, the account, the error, the quota headers' values)
_NOT_TEXT = frozenset(("v", "type", "ts", "route", "kind", "routing", "session_from", "hashes", "response_keys",
                       "streamed", "incomplete"))


# ---------------------------------------------------------------- forwarding
def _kind(method: str, path: str) -> str | None:
    if method != "POST":
        return None
    p = path.split("?", 1)[0].rstrip("/")
    if p == "/v1/messages":
        return "messages"
    if p == "/v1/messages/count_tokens":
        return "count_tokens"
    if p == "/v1/chat/completions" or p == "/chat/completions":
        return "chat"
    return None


_READABLE_CODINGS = ("gzip", "x-gzip", "deflate", "identity")


def _accept_encoding(value: str) -> str | None:
    """The client's Accept-Encoding less what the recorder cannot undo (br, zstd): the response stays one the client
    accepts, and its usage stays readable."""
    keep = [t.strip() for t in value.split(",") if t.split(";")[0].strip().lower() in _READABLE_CODINGS]
    return ", ".join(keep) if keep else "identity"


def _forward_headers(headers, recorded: bool) -> list[tuple[str, str]]:
    conn = {t.strip().lower() for v in headers.getall("Connection", []) for t in v.split(",")}
    out = []
    for k, v in headers.items():
        kl = k.lower()
        if kl in _REQ_DROP or kl in conn:
            continue
        if recorded and kl == "accept-encoding":
            v = _accept_encoding(v)
        out.append((k, v))
    return out


UPSTREAMS = web.AppKey("upstreams", dict)


class _Response(web.StreamResponse):
    """The head is held until the body's first bytes, to go in the same send, when they are already there; the
    handler sends it alone when they are not (``write(b"")``)."""

    _send_headers_immediately = False


def make_app(cfg: ProxyConfig, sink: EventSink | None, stats: ProxyStats | None = None) -> web.Application:
    stats = stats or (sink.stats if sink is not None else ProxyStats())
    token = cfg.token.encode() if cfg.token else None
    openai_local = cfg.openai_local if cfg.openai_local is not None else (
        is_local_upstream(cfg.openai_upstream) if cfg.openai_upstream else False)

    async def on_startup(app):
        app[UPSTREAMS] = {u: Upstream(u) for u in (cfg.upstream, cfg.openai_upstream) if u is not None}

    async def on_cleanup(app):
        for u in app[UPSTREAMS].values():
            u.close()

    async def handle(request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        stats.requests += 1
        if token is not None:
            sent = request.headers.get(TOKEN_HEADER, "").encode()
            if not hmac.compare_digest(sent, token):
                stats.rejected += 1
                return api_error(401, f"nexus-insights proxy: missing or wrong {TOKEN_HEADER}",
                                 "authentication_error")
        elif not cfg.allow_remote and not is_loopback_host(request.remote or ""):
            stats.rejected += 1
            return api_error(403, "nexus-insights proxy: loopback clients only", "permission_error")
        path = request.raw_path
        kind = _kind(request.method, path)
        openai = kind == "chat" and cfg.openai_upstream is not None
        upstream = request.app[UPSTREAMS][cfg.openai_upstream if openai else cfg.upstream]
        body = await request.read()
        rec = None
        if kind is not None and sink is not None:
            rec = {"id": None, "route": "openai" if openai else "anthropic", "path": path.split("?", 1)[0][:2000],
                   "kind": kind, "routing": "local" if openai and openai_local else "cloud",
                   "request_bytes": len(body), "request_body": body,
                   "headers": {k: request.headers.get(k) for k in (
                       "user-agent", "x-stainless-retry-count", *NEXUS_HEADERS[:4]) if k in request.headers}}
            sink.prepare(rec)
        status, ttfb, ttft, nbytes, parser, incomplete = 502, None, None, 0, None, None
        up_headers = None
        copy = bytearray() if rec is not None and cfg.store_bodies else None
        up = None
        try:
            try:
                up = await upstream.request(request.method, path, _forward_headers(request.headers, rec is not None),
                                            body)
            except (UpstreamError, OSError, asyncio.TimeoutError) as e:
                stats.upstream_errors += 1
                msg = f"nexus-insights proxy: upstream {upstream.shown} unreachable: {type(e).__name__}: {e}"
                if rec is not None:
                    rec.update(error_type="api_error", error_message=msg, incomplete="upstream_unreachable")
                return api_error(502, msg)
            status, up_headers = up.status, up.headers
            resp = _Response(status=up.status, reason=up.reason or None)
            conn = {t.strip().lower() for v in up_headers.getall("Connection", ()) for t in v.split(",")}
            for k, v in up_headers.items():
                kl = k.lower()
                if kl not in _RES_DROP and kl not in conn:
                    resp.headers.add(k, v)
            if rec is not None:
                cls = OpenAIStream if kind == "chat" else AnthropicStream
                parser = cls(up_headers.get("Content-Type", ""), up_headers.get("Content-Encoding", ""))
            await resp.prepare(request)
            last = b""
            try:
                chunk = up.read_nowait()
                if not chunk and not up.done:  # nothing of the body yet: the head goes now, alone
                    await resp.write(b"")
                while True:
                    # whatever has arrived is one piece: one write, not one per HTTP chunk (an SSE stream is one
                    # per event); nothing waits for more
                    if not chunk:
                        chunk = await up.read()
                    if not chunk:
                        break
                    now = time.perf_counter()
                    if ttfb is None:
                        ttfb = now - t0
                    if up.done:  # the body's last piece: read before it goes, then sent with the end (one send)
                        last = chunk
                        break
                    await resp.write(chunk)
                    if not nbytes and rec is not None:  # what the record needs of the request and the head,
                        _head_facts(sink, rec, up_headers)  # computed while the body streams
                    nbytes += len(chunk)
                    parser, ttft = _read(parser, chunk, ttft, now - t0, copy)
                    chunk = b""
            except (UpstreamClosed, TimeoutError) as e:  # not OSError: a client gone mid-write is not the upstream
                # the upstream broke off: so does the client's response (no clean end is written), after its head
                stats.upstream_errors += 1
                with contextlib.suppress(Exception):
                    await resp.write(b"")
                incomplete = "upstream_closed"
                if rec is not None:
                    rec["error_type"] = "upstream_closed"
                    rec["error_message"] = f"upstream closed mid-response: {type(e).__name__}: {e}"
                request.transport is not None and request.transport.close()
                return resp
            if last:
                nbytes += len(last)
                parser, ttft = _read(parser, last, ttft, time.perf_counter() - t0, copy)
            if rec is not None:  # recorded before the client has the whole response (see EventSink)
                done, rec = rec, None
                _record(sink, stats, done, parser, status, up_headers, ttfb, ttft, nbytes, t0, None, copy)
            await resp.write_eof(last)
            return resp
        except (ConnectionResetError, asyncio.CancelledError) as e:
            stats.client_disconnects += 1
            incomplete = incomplete or "client_disconnected"
            if isinstance(e, asyncio.CancelledError):
                raise
            return web.Response(status=499)
        finally:
            if up is not None:
                up.close()  # a no-op once the body was complete (its connection went back to the pool)
            if rec is not None:
                _record(sink, stats, rec, parser, status, up_headers, ttfb, ttft, nbytes, t0, incomplete, copy)

    app = web.Application(client_max_size=MAX_REQUEST)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _record(sink, stats, rec, parser, status, headers, ttfb, ttft, nbytes, t0, incomplete, copy) -> None:
    try:
        _finish(rec, parser, status, headers, ttfb, ttft, nbytes, t0, incomplete, copy)
        sink.record(rec)
    except Exception:  # a record that cannot be completed is counted, the response is not touched
        stats.dropped += 1


def _read(parser, chunk: bytes, ttft, elapsed: float, copy):
    """The recording reads a piece of the body: (the parser, or None once it failed: reading a response never
    breaks forwarding it; the time to first token)."""
    if copy is not None and len(copy) < 32 << 20:
        copy += chunk
    if parser is not None:
        try:
            parser.feed(chunk)
        except Exception:
            return None, ttft
        if ttft is None and parser.first_token:
            ttft = elapsed
    return parser, ttft


def _head_facts(sink, rec: dict, headers) -> None:
    """The parts of a record known once the response head is forwarded (the request's facts, the quota headers),
    computed while the body streams rather than after its end."""
    try:
        if len(rec.get("request_body") or b"") <= sink.SYNC_BODY:
            sink.request_part(rec)
        q = quota_from_headers(headers)
        if q:
            rec["quota"] = q
            rec["account"] = headers.get("anthropic-organization-id")
        rec["_quota"] = True
    except Exception:  # left to the response's end
        pass


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else max(0, int(round(seconds * 1000)))


def _finish(rec: dict, parser, status: int, headers, ttfb, ttft, nbytes: int, t0: float, incomplete,
            copy) -> None:
    """Complete a record with what the response showed (cheap: the request body is parsed in the writer)."""
    rid = None
    if headers is not None:
        rid = headers.get("request-id") or headers.get("x-request-id")
    rec["request_id"] = rid
    rec["id"] = rid if rid and len(rid) <= 200 else f"px:{uuid.uuid4()}"
    rec["ts"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    rec["http_status"] = status
    rec["latency_ms"] = _ms(time.perf_counter() - t0)
    rec["ttfb_ms"], rec["ttft_ms"] = _ms(ttfb), _ms(ttft)
    rec["response_bytes"] = nbytes
    rec["incomplete"] = rec.get("incomplete") or incomplete
    if parser is not None:
        parser.finish()
        rec["streamed"] = parser.sse
        rec["model"] = parser.model
        rec["message_id"] = parser.message_id
        rec["stop_reason"] = parser.stop_reason
        rec.update(parser.usage)
        if parser.tools:
            rec["tools"] = parser.tools
        if rec.get("kind") == "messages" and hasattr(parser, "link_content"):
            rec["_link_content"] = parser.link_content()
        if parser.error_type:
            rec["error_type"] = parser.error_type
        if parser.error_message and not rec.get("error_message"):
            rec["error_message"] = parser.error_message
    if headers is not None and not rec.pop("_quota", False):
        q = quota_from_headers(headers)
        if q:
            rec["quota"] = q
            rec["account"] = headers.get("anthropic-organization-id")
    if status >= 400 and not rec.get("error_type"):
        rec["error_type"] = f"http_{status}"
    if copy is not None:
        rec["response_body"] = bytes(copy).decode("utf-8", "replace")


# ---------------------------------------------------------------- running it
class ProxyServer:
    """The proxy on the current event loop: ``await start()``, ``await stop()`` (drains the recording queue)."""

    def __init__(self, cfg: ProxyConfig, logs_dir: Path | None):
        cfg.check()
        self.cfg = cfg
        self.stats = ProxyStats()
        self.sink = EventSink(logs_dir, self.stats, cfg.store_bodies) if logs_dir is not None else None
        self.port = cfg.port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(make_app(self.cfg, self.sink, self.stats), access_log=None,
                                     handler_cancellation=True, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked for

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.sink is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.sink.close)


class ProxyThread(threading.Thread):
    """The proxy on its own event loop in a background thread (the dashboard, the collect daemon, tests)."""

    def __init__(self, cfg: ProxyConfig, logs_dir: Path | None):
        super().__init__(name="nexus-proxy", daemon=True)
        self.cfg, self.logs_dir = cfg, logs_dir
        self.server: ProxyServer | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_evt: asyncio.Event | None = None

    @property
    def port(self) -> int:
        return self.server.port if self.server else self.cfg.port

    @property
    def stats(self) -> ProxyStats:
        return self.server.stats if self.server else ProxyStats()

    def run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as e:  # e.g. the port is taken
            self.error = e
            self.ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop_evt = asyncio.Event()
        self.server = ProxyServer(self.cfg, self.logs_dir)
        try:
            await self.server.start()
            self.ready.set()
            await self._stop_evt.wait()
        finally:
            await self.server.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop_evt is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop_evt.set)
            except RuntimeError:  # the loop already closed
                pass


def stats_line(s: ProxyStats) -> str:
    """What the proxy did, said when it stops (in the foreground and in the collect daemon)."""
    return (f"proxy: {plural(s.requests, 'request')}, {s.recorded} recorded, {s.dropped} dropped, "
            f"{plural(s.upstream_errors, 'upstream error')}, {plural(s.client_disconnects, 'client disconnect')}")


def run_foreground(cfg: ProxyConfig, logs_dir: Path | None, echo=print) -> int:
    """``nexus-insights proxy``: serve until SIGINT/SIGTERM, then drain the recording queue."""
    import signal

    async def main() -> None:
        server = ProxyServer(cfg, logs_dir)
        await server.start()
        echo(f"nexus-insights proxy on http://{shown(cfg.host)}:{server.port} -> {shown(cfg.upstream)}"
             + (f" (chat completions -> {shown(cfg.openai_upstream)})" if cfg.openai_upstream else "")
             + (f"; recording to {shown(logs_dir)}" if logs_dir else "; not recording"))
        echo(f"use it: ANTHROPIC_BASE_URL=http://{shown(cfg.host)}:{server.port} claude")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()
        echo(stats_line(server.stats))

    try:
        asyncio.run(main())
    except ValueError as e:
        echo(f"nexus-insights: {shown(e)}")
        return 2
    except OSError as e:
        echo(f"nexus-insights: cannot listen on {shown(cfg.host)}:{cfg.port}: {shown(e)}")
        return 2
    return 0
