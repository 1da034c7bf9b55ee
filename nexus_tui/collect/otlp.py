"""OTLP/HTTP receiver: ``POST /v1/logs`` and ``/v1/metrics``, JSON or protobuf, gzip or not (aiohttp).

Logs are parsed (core/parse/otel.py) and written through the store's writer; metrics are accepted and counted.
Each log record is checked, parsed and laid out on its own: a bad one is rejected and counted, the good ones of the
same request are stored, and the answer is OTLP's ``partialSuccess`` with the rejected count and the reasons (in the
request's encoding, JSON or protobuf). A body that is not OTLP (not JSON or protobuf, corrupt gzip, JSON without
``resourceLogs``) gets 400 with a message; one over the limit (before or after gzip) gets 413; a database that is
busy or read-only gets 503 (exporters retry it). Error answers never carry SQL or a stack trace. Nothing in a
request can stop the receiver.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import threading
import zlib
from dataclasses import dataclass, field

from aiohttp import web

from nexus_tui.core.events import Batch
from nexus_tui.core.net import is_loopback_host
from nexus_tui.core.parse.otel import parse_logs

MAX_BODY = 16 * 1024 * 1024
MAX_INFLATED = 64 * 1024 * 1024


@dataclass
class ReceiverStats:
    requests: int = 0
    log_records: int = 0
    metric_points: int = 0
    rejected: int = 0  # requests refused whole (400, 413, 503)
    tasks: int = 0
    skipped: dict = field(default_factory=dict)  # records and points rejected from accepted requests, by reason

    def reject(self, rejects: "_Rejects") -> None:
        for k, v in rejects.why.items():
            self.skipped[k] = self.skipped.get(k, 0) + v


class BadRequest(Exception):
    pass


class TooLarge(Exception):
    pass


def _inflate(body: bytes, encoding: str) -> bytes:
    """Decompress, bounded and strict (aiohttp's own decompression is off: a truncated or corrupt stream, or one
    with trailing bytes, is a 400, not a partial body taken as whole). Concatenated gzip members are allowed."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BadRequest(f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    wbits = 15 if encoding == "deflate" else 31
    out = bytearray()
    data = body
    while True:
        d = zlib.decompressobj(wbits=wbits)
        try:
            out += d.decompress(data, MAX_INFLATED + 1 - len(out))
        except zlib.error as e:
            raise BadRequest(f"body is not valid {encoding}: {e}") from e
        if len(out) > MAX_INFLATED or d.unconsumed_tail:
            raise TooLarge(f"decompressed body over {MAX_INFLATED // (1024 * 1024)} MiB")
        if not d.eof:
            raise BadRequest(f"body is not valid {encoding}: the stream is truncated")
        data = d.unused_data
        if not data:
            return bytes(out)
        if wbits != 31 or data[:2] != b"\x1f\x8b":
            raise BadRequest(f"body is not valid {encoding}: {len(data)} bytes after the end of the stream")


_KEYS = {"logs": "resourceLogs", "metrics": "resourceMetrics"}


def decode(body: bytes, content_type: str, kind: str) -> tuple[dict, bool]:
    """The request as the OTLP JSON mapping (protobuf is converted with the official proto classes), and whether it
    came as protobuf (the response is then protobuf too)."""
    ct = content_type.split(";")[0].strip().lower()
    key = _KEYS[kind]
    if ct in ("application/x-protobuf", "application/protobuf"):
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError

        msg = _request_class(kind)()
        try:
            try:
                msg.ParseFromString(body)
            except DecodeError:  # a string that is not UTF-8 (a JavaScript exporter writes the half of an emoji
                # cut in two as a lone surrogate's 3 bytes): those strings read with U+FFFD, the request kept (up
                # to MAX_BODY: the walk is Python's, about 1 s per 1.5 MB of non-ASCII text)
                if len(body) > MAX_BODY:
                    raise
                msg.ParseFromString(repair_utf8(body, msg.DESCRIPTOR))
        except (DecodeError, RecursionError, ValueError, IndexError) as e:
            raise BadRequest(f"body is not an OTLP {kind} protobuf message: {type(e).__name__}") from e
        try:
            return MessageToDict(msg), True
        except Exception as e:  # a message the JSON mapping cannot hold (e.g. invalid UTF-8 in a string)
            raise BadRequest(f"body is not an OTLP {kind} protobuf message: {type(e).__name__}") from e
    if ct in ("application/json", ""):
        from nexus_tui.core.parse.guard import Malformed, loads

        try:  # guard.loads: valid JSON orjson refuses (a lone surrogate escape, as a JavaScript exporter writes a
            obj = loads(body) if body else {}  # string cut inside an emoji; deep nesting) is read, not a 400
        except Malformed as e:
            raise BadRequest(f"body is not JSON: {e}") from e
        if not isinstance(obj, dict):
            raise BadRequest(f"not an OTLP {kind} request (expected an object with {key!r})")
        if key not in obj and obj:  # JSON, but nothing of OTLP in it ({} is an empty export: accepted)
            raise BadRequest(f"not an OTLP {kind} request (expected an object with {key!r})")
        if not isinstance(obj.get(key, []), list):
            raise BadRequest(f"not an OTLP {kind} request ({key!r} must be a list)")
        return obj, False
    raise BadRequest(f"unsupported Content-Type {content_type!r} (use application/json or application/x-protobuf)")


def _varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = data[i]  # IndexError past the end: a truncated message
        i += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _put_varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)


def repair_utf8(data: bytes, descriptor, depth: int = 0) -> bytes:
    """The protobuf message ``data`` with every string field that is not UTF-8 decoded with U+FFFD for what is not
    (the rest of the bytes as they are), walked by its descriptor; ValueError/IndexError for what is not protobuf."""
    from google.protobuf.descriptor import FieldDescriptor as F

    if depth > 100:  # protobuf's own recursion limit
        raise ValueError("nested too deep")
    out, i = bytearray(), 0
    while i < len(data):
        start = i
        tag, i = _varint(data, i)
        wire = tag & 7
        if wire == 0:
            _, i = _varint(data, i)
        elif wire == 1 or wire == 5:
            i += 8 if wire == 1 else 4
        elif wire == 2:
            n, j = _varint(data, i)
            value, i = data[j:j + n], j + n
            if i > len(data):
                raise ValueError("truncated field")
            field = descriptor.fields_by_number.get(tag >> 3)
            if value.isascii():  # (no string in it can be other than UTF-8: most of a request, passed in C)
                field = None
            if field is not None and field.type == F.TYPE_STRING:
                value = value.decode("utf-8", "replace").encode()
            elif field is not None and field.type == F.TYPE_MESSAGE:
                value = repair_utf8(value, field.message_type, depth + 1)
            else:
                out += data[start:i]
                continue
            _put_varint(out, tag)
            _put_varint(out, len(value))
            out += value
            continue
        else:  # groups (3, 4) are not in OTLP
            raise ValueError(f"wire type {wire}")
        if i > len(data):
            raise ValueError("truncated field")
        out += data[start:i]
    return bytes(out)


def _request_class(kind: str):
    if kind == "logs":
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as Req
    else:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceRequest as Req,
        )
    return Req


def _respond(kind: str, protobuf: bool, rejected: int, message: str) -> web.Response:
    """OTLP's ExportLogsServiceResponse / ExportMetricsServiceResponse, in the request's encoding. ``partialSuccess``
    carries the rejected count and why when anything was rejected."""
    field_name = "rejectedLogRecords" if kind == "logs" else "rejectedDataPoints"
    partial = {field_name: rejected, "errorMessage": message} if rejected or message else {}
    if protobuf:
        if kind == "logs":
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
                ExportLogsServiceResponse as Resp,
            )
        else:
            from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
                ExportMetricsServiceResponse as Resp,
            )
        from google.protobuf.json_format import ParseDict

        msg = ParseDict({"partialSuccess": partial} if partial else {}, Resp())
        return web.Response(body=msg.SerializeToString(), content_type="application/x-protobuf")
    return web.json_response({"partialSuccess": partial})


def _error(status: int, message: str, protobuf: bool) -> web.Response:
    """An error answer: google.rpc.Status (protobuf requests) or {"error": ...}; never any SQL or stack trace."""
    if protobuf:
        try:
            from google.rpc.status_pb2 import Status

            return web.Response(body=Status(code=3 if status == 400 else 14, message=message).SerializeToString(),
                                status=status, content_type="application/x-protobuf")
        except ImportError:  # googleapis-common-protos absent: JSON then
            pass
    return web.json_response({"error": message}, status=status)


class _Rejects:
    """Rejected records and why, for partialSuccess."""

    def __init__(self):
        self.n = 0
        self.why: dict[str, int] = {}

    def add(self, reason: str, n: int = 1) -> None:
        self.n += n
        self.why[reason] = self.why.get(reason, 0) + n

    def message(self) -> str:
        if not self.n:
            return ""
        parts = [f"{reason} ({n})" for reason, n in sorted(self.why.items(), key=lambda kv: -kv[1])]
        msg = f"{self.n} rejected: " + "; ".join(parts)
        return msg if len(msg) <= 1000 else msg[:997] + "..."


def split_logs(payload: dict, rejects: _Rejects) -> list[tuple[dict | None, dict]]:
    """Every log record of the request with its resource, each checked for shape on its own: a container or record
    of the wrong type is rejected (a container counts as one) and the rest go on."""
    out = []
    for rl in payload.get("resourceLogs") or []:
        if not isinstance(rl, dict):
            rejects.add("resourceLogs entry is not an object")
            continue
        resource = rl.get("resource")
        scopes = rl.get("scopeLogs")
        if scopes is None:
            continue
        if not isinstance(scopes, list):
            rejects.add("scopeLogs is not a list")
            continue
        bad_resource = resource is not None and not (
            isinstance(resource, dict) and isinstance(resource.get("attributes", []), list))
        for sl in scopes:
            if not isinstance(sl, dict):
                rejects.add("scopeLogs entry is not an object")
                continue
            recs = sl.get("logRecords")
            if recs is None:
                continue
            if not isinstance(recs, list):
                rejects.add("logRecords is not a list")
                continue
            for rec in recs:
                if bad_resource:  # its service.name is unknown: whose event it is cannot be told
                    rejects.add("resource is not an object with an attributes list")
                elif not isinstance(rec, dict):
                    rejects.add("log record is not an object")
                elif not isinstance(rec.get("attributes", []), list):
                    rejects.add("log record attributes is not a list")
                else:
                    out.append((resource, rec))
    return out


def parse_records(records: list[tuple[dict | None, dict]], rejects: _Rejects) -> tuple[Batch, list[Batch]]:
    """Parse and lay out (``prepare``) each record on its own, so an exception in one rejects that one only; the
    good ones joined into one batch, and each on its own (to write one by one if the joined write fails)."""
    from nexus_tui.store.writer import prepare

    joined, singles = Batch(), []
    for resource, rec in records:
        one = {"resourceLogs": [{"resource": resource or {}, "scopeLogs": [{"logRecords": [rec]}]}]}
        try:
            b = parse_logs(one)
            prepare(copy.deepcopy(b))  # what the writer will do: an out-of-range value fails here, not there
        except Exception as e:  # noqa: BLE001 - one record's fault rejects that record only
            rejects.add(f"invalid log record ({type(e).__name__})")
            continue
        for reason, n in b.skipped.items():
            rejects.add(reason, n)
        if b.is_empty():
            joined.lines += b.lines  # (extend adds a kept record's)
            continue
        b.skipped = {}
        singles.append(b)
        joined.extend(b)
    return joined, singles


def count_points(payload: dict, rejects: _Rejects) -> int:
    """Data points of an ExportMetricsServiceRequest, each container checked for shape (accepted and counted, not
    stored: see docs/sources.md); a point or container of the wrong type is rejected."""
    n = 0
    for rm in payload.get("resourceMetrics") or []:
        if not isinstance(rm, dict) or not isinstance(rm.get("scopeMetrics", []), list):
            rejects.add("resourceMetrics entry is not an object with a scopeMetrics list")
            continue
        for sm in rm.get("scopeMetrics") or []:
            if not isinstance(sm, dict) or not isinstance(sm.get("metrics", []), list):
                rejects.add("scopeMetrics entry is not an object with a metrics list")
                continue
            for m in sm.get("metrics") or []:
                if not isinstance(m, dict):
                    rejects.add("metric is not an object")
                    continue
                for kind in ("sum", "gauge", "histogram", "exponentialHistogram", "summary"):
                    data = m.get(kind)
                    if data is None:
                        continue
                    points = data.get("dataPoints") if isinstance(data, dict) else None
                    if not isinstance(points, list):
                        rejects.add(f"{kind} without a dataPoints list")
                        continue
                    for p in points:
                        if isinstance(p, dict):
                            n += 1
                        else:
                            rejects.add("data point is not an object")
    return n


def _is_retryable(e: BaseException) -> bool:
    """A locked, busy or read-only database (or a lost connection): the client should retry the request."""
    from sqlalchemy.exc import DisconnectionError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from nexus_tui.store.engine import StoreError

    return isinstance(e, (OperationalError, DisconnectionError, PoolTimeout, StoreError, OSError))


def make_app(writer, stats: ReceiverStats | None = None, notify=None, token: str | None = None) -> web.Application:
    """The receiver's routes. With ``token``, a request must send ``Authorization: Bearer <token>`` (what an OTLP
    exporter sends with ``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>``); without, only loopback
    clients are answered (anyone who can reach the port could write usage into the store)."""
    stats = stats or ReceiverStats()
    lock = threading.Lock()
    want = f"Bearer {token}".encode() if token else None

    async def handle(request: web.Request, kind: str) -> web.Response:
        stats.requests += 1
        ct = request.headers.get("Content-Type", "")
        protobuf = ct.split(";")[0].strip().lower() in ("application/x-protobuf", "application/protobuf")
        if want is not None:
            if not hmac.compare_digest(request.headers.get("Authorization", "").strip().encode(), want):
                stats.rejected += 1
                return _error(401, "missing or wrong Authorization: Bearer token", protobuf)
        elif not is_loopback_host(request.remote or ""):
            stats.rejected += 1
            return _error(403, "loopback clients only (start the receiver with a token for others)", protobuf)
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge as e:
                raise TooLarge(f"body over {MAX_BODY // (1024 * 1024)} MiB") from e
            body = _inflate(body, request.headers.get("Content-Encoding", "").strip().lower())
            # off the event loop: a large body's parse (or its UTF-8 repair) leaves the other requests answered
            payload, protobuf = await asyncio.get_running_loop().run_in_executor(None, decode, body, ct, kind)
        except TooLarge as e:
            stats.rejected += 1
            return _error(413, str(e), protobuf)
        except BadRequest as e:
            stats.rejected += 1
            return _error(400, str(e), protobuf)
        rejects = _Rejects()
        if kind == "metrics":
            stats.metric_points += count_points(payload, rejects)
            stats.reject(rejects)
            return _respond(kind, protobuf, rejects.n, rejects.message())
        loop = asyncio.get_running_loop()
        batch, singles = await loop.run_in_executor(None, parse_records, split_logs(payload, rejects), rejects)
        stats.log_records += batch.lines

        def write():
            from nexus_tui.store.writer import WriteResult

            if batch.is_empty():  # every record rejected, or only events that mark nothing
                return WriteResult()
            with lock:
                try:
                    return writer.write(batch)
                except Exception as e:
                    if _is_retryable(e):
                        raise
                # a record the checks let through fails the joined write: each on its own, rejecting the failures
                total = WriteResult()
                for one in singles:
                    try:
                        total.add(writer.write(one))
                    except Exception as e:
                        if _is_retryable(e):
                            raise
                        rejects.add(f"log record could not be stored ({type(e).__name__})",
                                    max(1, one.lines))
                return total

        try:
            res = await loop.run_in_executor(None, write)
        except Exception as e:  # noqa: BLE001 - the reason goes to the log of the receiver, not to the client
            stats.rejected += 1
            if _is_retryable(e):
                return _error(503, "the database is busy or not writable; retry later", protobuf)
            return _error(400, f"the request could not be stored ({type(e).__name__})", protobuf)
        stats.reject(rejects)  # with the records the store refused (counted by write)
        stats.tasks += res.new_tasks
        if notify is not None:
            notify(res)
        return _respond(kind, protobuf, rejects.n, rejects.message())

    async def logs(request):
        return await handle(request, "logs")

    async def metrics(request):
        return await handle(request, "metrics")

    # aiohttp's decompression is off: _inflate decompresses strictly and bounded (client_max_size bounds the
    # compressed body, MAX_INFLATED the decompressed one)
    app = web.Application(client_max_size=MAX_BODY, handler_args={"auto_decompress": False})
    app.router.add_post("/v1/logs", logs)
    app.router.add_post("/v1/metrics", metrics)
    return app


class ReceiverThread(threading.Thread):
    """The receiver on its own event loop in a background thread (for the TUI's collector or tests)."""

    def __init__(self, writer, host: str = "127.0.0.1", port: int = 4318, notify=None, token: str | None = None):
        super().__init__(name="nexus-otlp", daemon=True)
        self.writer, self.host, self.port, self.notify, self.token = writer, host, port, notify, token or None
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
        if not is_loopback_host(self.host) and not self.token:  # an open write endpoint only when asked with a token
            raise ValueError(f"refusing to listen on {self.host!r} without a token: loopback only unless "
                             "--otlp-token or [otlp] token is set (clients send it as Authorization: Bearer ...)")
        self._stop_evt = asyncio.Event()
        runner = web.AppRunner(make_app(self.writer, self.stats, self.notify, self.token), access_log=None)
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
