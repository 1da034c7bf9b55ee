"""OTLP/HTTP receiver: ``POST /v1/logs`` and ``/v1/metrics``, JSON or protobuf, gzip or not (aiohttp).

Logs are parsed (core/parse/otel.py) and written through the store's writer; metrics are accepted and counted.
A body that is not OTLP gets 400 with a message; one over the limit (before or after gzip) gets 413. Nothing in a
request can stop the receiver.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from nexus_tui.core.parse.otel import count_metric_points, parse_logs

MAX_BODY = 16 * 1024 * 1024
MAX_INFLATED = 64 * 1024 * 1024


@dataclass
class ReceiverStats:
    requests: int = 0
    log_records: int = 0
    metric_points: int = 0
    rejected: int = 0
    tasks: int = 0
    skipped: dict = field(default_factory=dict)


class BadRequest(Exception):
    pass


class TooLarge(Exception):
    pass


def _inflate(body: bytes, encoding: str) -> bytes:
    """Decompress, bounded. aiohttp may already have inflated the body (then it is taken as it is)."""
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip" and body[:2] != b"\x1f\x8b" and body[:1] in (b"{", b"\n", b" ", b"["):
        return body
    if encoding not in ("gzip", "deflate"):
        raise BadRequest(f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    d = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = d.decompress(body, MAX_INFLATED + 1)
    except zlib.error as e:
        raise BadRequest(f"body is not valid {encoding}: {e}") from e
    if len(out) > MAX_INFLATED or d.unconsumed_tail:
        raise TooLarge(f"decompressed body over {MAX_INFLATED // (1024 * 1024)} MiB")
    return out


def decode(body: bytes, content_type: str, kind: str) -> dict:
    """The request as the OTLP JSON mapping (protobuf is converted with the official proto classes)."""
    ct = content_type.split(";")[0].strip().lower()
    if ct in ("application/x-protobuf", "application/protobuf"):
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError

        if kind == "logs":
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as Req
        else:
            from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
                ExportMetricsServiceRequest as Req)
        msg = Req()
        try:
            msg.ParseFromString(body)
        except DecodeError as e:
            raise BadRequest(f"body is not an OTLP {kind} protobuf message: {e}") from e
        return MessageToDict(msg)
    if ct in ("application/json", ""):
        try:
            obj = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as e:
            raise BadRequest(f"body is not JSON: {e}") from e
        key = "resourceLogs" if kind == "logs" else "resourceMetrics"
        if not isinstance(obj, dict) or not isinstance(obj.get(key, []), list):
            raise BadRequest(f"not an OTLP {kind} request (expected an object with {key!r})")
        return obj
    raise BadRequest(f"unsupported Content-Type {content_type!r} (use application/json or application/x-protobuf)")


def make_app(writer, stats: ReceiverStats | None = None, notify=None) -> web.Application:
    stats = stats or ReceiverStats()
    lock = threading.Lock()

    async def handle(request: web.Request, kind: str) -> web.Response:
        stats.requests += 1
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge as e:  # also a gzip body that inflates past the limit
                raise TooLarge(f"body over {MAX_BODY // (1024 * 1024)} MiB (decompressed)") from e
            except Exception as e:  # aiohttp could not decode the body (e.g. invalid gzip)
                raise BadRequest(f"cannot read the body ({request.headers.get('Content-Encoding', 'no')} "
                                 f"encoding, not valid gzip?): {e}") from e
            body = _inflate(body, request.headers.get("Content-Encoding", "").lower())
            payload = decode(body, request.headers.get("Content-Type", ""), kind)
        except TooLarge as e:
            stats.rejected += 1
            return web.json_response({"error": str(e)}, status=413)
        except BadRequest as e:
            stats.rejected += 1
            return web.json_response({"error": str(e)}, status=400)
        if kind == "metrics":
            stats.metric_points += count_metric_points(payload)
            return web.json_response({"partialSuccess": {}})
        batch = parse_logs(payload)
        stats.log_records += batch.lines
        for k, v in batch.skipped.items():
            stats.skipped[k] = stats.skipped.get(k, 0) + v

        def write():
            with lock:
                return writer.write(batch)

        try:
            res = await asyncio.get_running_loop().run_in_executor(None, write)
        except Exception as e:  # a locked or read-only database: tell the client to retry
            stats.rejected += 1
            return web.json_response({"error": f"could not store: {e}"}, status=503)
        stats.tasks += res.new_tasks
        if notify is not None:
            notify(res)
        rejected = sum(batch.skipped.values())
        body = {"partialSuccess": {"rejectedLogRecords": rejected, "errorMessage": ", ".join(batch.skipped)}} \
            if rejected else {"partialSuccess": {}}
        return web.json_response(body)

    async def logs(request):
        return await handle(request, "logs")

    async def metrics(request):
        return await handle(request, "metrics")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/v1/logs", logs)
    app.router.add_post("/v1/metrics", metrics)
    return app


class ReceiverThread(threading.Thread):
    """The receiver on its own event loop in a background thread (for the TUI's collector or tests)."""

    def __init__(self, writer, host: str = "127.0.0.1", port: int = 4318, notify=None):
        super().__init__(name="nexus-otlp", daemon=True)
        self.writer, self.host, self.port, self.notify = writer, host, port, notify
        self.stats = ReceiverStats()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_evt: asyncio.Event | None = None

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
        runner = web.AppRunner(make_app(self.writer, self.stats, self.notify), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked for
        self.ready.set()
        await self._stop_evt.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stop_evt is not None:
            self._loop.call_soon_threadsafe(self._stop_evt.set)
