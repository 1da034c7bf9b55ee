"""``nexus-insights mcp-wrap -- COMMAND ...``: run an MCP server (stdio) and record every exchange it has.

Bytes are relayed as they arrive, unchanged, in both directions (two relay threads doing os.read/os.write); a copy
goes on a queue to a recorder thread that splits it into JSON-RPC lines, pairs requests with responses by id and
appends events to the nexus event log (docs/events.md): the session (``initialize``: client and server names and
versions), each ``tools/call`` (tool, server, latency, isError, JSON-RPC error code and message, request and response
sizes) and cancellations. Recording can never block or break the relay. The child's stderr is the wrapper's stderr,
and the wrapper exits with the child's exit code (128 + N for a child killed by signal N, as a shell does). A client
that goes away (its end of the pipe closed, even in the middle of a response) closes the server's pipes; a server
still running 2 s later is terminated, then killed: the wrapper never outlives its client for long.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

from nexus_tui.core.parse.guard import label, loads
from nexus_tui.core.redact import redact
from nexus_tui.core.report import one_line
from nexus_tui.recorder import Recorder

_TRIM = 500
_NAME = 200  # characters of a name from the messages (tool, server, client, version)


def _obj(v) -> dict:
    return v if isinstance(v, dict) else {}


def _name(v) -> str | None:
    """A name from a message: a string (printable, at most 200 characters), or a number's text; None otherwise. A
    value of another type never reaches an event, where the event log's schema would refuse the event (and every
    tool call after it that names the same server)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = str(v)
    return label(v, _NAME)


def _id_key(mid) -> str:
    """A JSON-RPC id as the key pairing a request with its answer: its repr, or a digest of a long one (an id of
    megabytes is kept as 40 characters, not whole in every awaiting request and event id)."""
    key = repr(mid)
    if len(key) <= 100:
        return key
    import hashlib

    return "#" + hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer message is relayed but not recorded: the recorder's memory stays bounded
MAX_PENDING = 10_000  # requests awaiting their answer; past it the oldest is forgotten (never answered, or lost)


class ExchangeRecorder:
    """Turns the relayed byte streams into events (runs on its own thread). Its memory is bounded whatever the
    peers send: a line longer than ``MAX_LINE_BYTES`` is passed over up to its newline and counted in
    ``too_long``; at most ``MAX_PENDING`` requests wait for their answer (the oldest is dropped, counted in
    ``forgotten``)."""

    def __init__(self, recorder: Recorder, name: str | None):
        self.rec = recorder
        self.name = name
        self.server_name = name
        self.pending: dict = {}
        self.buffers = {"c2s": bytearray(), "s2c": bytearray()}
        self.client_info: dict = {}
        self.calls = 0
        self.skipping = {"c2s": False, "s2c": False}  # inside a line too long to record, until its newline
        self.too_long = 0
        self.forgotten = 0

    def feed(self, direction: str, data: bytes, t: float) -> None:
        buf = self.buffers[direction]
        if self.skipping[direction]:
            nl = data.find(b"\n")
            if nl < 0:
                return
            self.skipping[direction] = False
            data = data[nl + 1:]
        buf.extend(data)
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line = bytes(buf[:nl])
            del buf[:nl + 1]
            if line.strip():
                try:
                    self.message(direction, loads(line), len(line), t)  # (lone surrogate escapes too)
                except Exception:  # noqa: BLE001 - not ours to judge (the bytes were relayed as they were); the
                    pass  # lines after it in the same read are still recorded
        if len(buf) > MAX_LINE_BYTES:  # no newline yet in more than the limit: pass the rest of this line over
            buf.clear()
            self.skipping[direction] = True
            self.too_long += 1

    def message(self, direction: str, msg, size: int, t: float) -> None:
        if isinstance(msg, list):  # a JSON-RPC batch: objects, one level (a list in it is no message)
            for m in msg:
                if isinstance(m, dict):
                    self.message(direction, m, size // max(1, len(msg)), t)
            return
        if not isinstance(msg, dict):
            return
        method, mid = msg.get("method"), msg.get("id")
        if direction == "c2s" and isinstance(method, str):
            params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
            if mid is not None:  # what the event needs of the request, not its params (a call's arguments of
                # megabytes, never answered, were kept MAX_PENDING times)
                self.pending[("c2s", _id_key(mid))] = (method, _name(params.get("name")), t, size)
                if len(self.pending) > MAX_PENDING:
                    del self.pending[next(iter(self.pending))]
                    self.forgotten += 1
                if method == "initialize":
                    info = _obj(params.get("clientInfo"))
                    self.client_info = {k: _name(info.get(k)) for k in ("name", "version")}
            elif method == "notifications/cancelled":
                key = ("c2s", _id_key(params.get("requestId")))
                got = self.pending.pop(key, None)
                if got and got[0] == "tools/call":
                    reason = params.get("reason")
                    self.tool_call(got, t, size=0, ok=False, etype="cancelled",
                                   emsg=reason if isinstance(reason, str) and reason else "cancelled by the client",
                                   rid=key[1])
            return
        if direction == "s2c" and method is None and mid is not None:
            got = self.pending.pop(("c2s", _id_key(mid)), None)
            if got is None:
                return
            # every value taken from a message is checked for its type here (_obj, _name): a server's name of the
            # wrong type once made every tool call of the session an event the collector refuses
            if got[0] == "initialize":
                result = _obj(msg.get("result"))
                info, client = _obj(result.get("serverInfo")), self.client_info
                self.server_name = self.name or _name(info.get("name"))
                self.rec.event("session_start", cli_tool="mcp", project=self.server_name,
                               client=f"{_name(client.get('name')) or '?'} {_name(client.get('version')) or ''}"
                               .strip(),
                               server=f"{_name(info.get('name')) or '?'} {_name(info.get('version')) or ''}".strip(),
                               protocol=_name(result.get("protocolVersion")))
            elif got[0] == "tools/call":
                err = msg.get("error") if isinstance(msg.get("error"), dict) else None
                result = _obj(msg.get("result"))
                if err is not None:
                    code, message = err.get("code"), err.get("message")
                    self.tool_call(got, t, size, False, f"jsonrpc_{_name(code) or 'error'}",
                                   message if isinstance(message, str) else "JSON-RPC error", _id_key(mid))
                elif result.get("isError"):
                    content = result.get("content") if isinstance(result.get("content"), list) else []
                    text = " ".join(c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str))
                    self.tool_call(got, t, size, False, "tool_error", text or "isError", _id_key(mid))
                else:
                    self.tool_call(got, t, size, True, None, None, _id_key(mid))

    def tool_call(self, req, t, size, ok, etype, emsg, rid) -> None:
        method, tool, t0, req_size = req
        self.calls += 1
        self.rec.tool_call(tool or "?", latency_ms=int(round((t - t0) * 1000)), success=ok,
                           id=f"{self.rec.session_id}:{rid}", server=self.server_name, error_type=etype,
                           error_message=redact(emsg or "")[:_TRIM] or None, request_size=req_size, response_size=size)


def run(command: list[str], name: str | None = None, logs_dir=None) -> int:
    if not command:
        print("nexus-insights mcp-wrap: give the server command after --", file=sys.stderr)
        return 2
    try:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    except OSError as e:
        print(f"nexus-insights mcp-wrap: cannot start {one_line(repr(command[0]))}: {one_line(e)}", file=sys.stderr)
        return 127
    rec = Recorder(logs_dir, session_id=f"mcp-{uuid.uuid4()}", start_session=False)
    ex = ExchangeRecorder(rec, name)
    q: queue.SimpleQueue = queue.SimpleQueue()
    client_gone = threading.Event()

    def close(fobj) -> None:
        try:
            fobj.close()
        except OSError:
            pass

    def to_server() -> None:  # client -> server; the end of the client's input closes the server's
        try:
            while True:
                data = os.read(stdin_fd, 65536)
                if not data:
                    break
                t = time.perf_counter()
                # queued before the server can see it: its answer, read by the other thread, always comes after
                q.put(("c2s", data, t))
                _write_all(child.stdin.fileno(), data)
        except OSError:
            pass
        finally:
            close(child.stdin)

    def to_client() -> None:  # server -> client; a client that went away (EPIPE) ends the exchange at once
        try:
            while True:
                data = os.read(child.stdout.fileno(), 65536)
                if not data:
                    return
                t = time.perf_counter()
                try:
                    _write_all(stdout_fd, data)
                except OSError:
                    client_gone.set()
                    return
                q.put(("s2c", data, t))
        except OSError:
            pass
        finally:
            if client_gone.is_set():  # the server's next write gets EPIPE instead of blocking on a full pipe
                close(child.stdout)
                close(child.stdin)

    def record() -> None:
        while True:
            item = q.get()
            if item is None:
                return
            try:
                ex.feed(*item)
            except Exception:  # never let recording take the wrapper down
                pass

    stdin_fd, stdout_fd = sys.stdin.fileno(), sys.stdout.fileno()
    t_in = threading.Thread(target=to_server, daemon=True)
    t_out = threading.Thread(target=to_client, daemon=True)
    t_rec = threading.Thread(target=record, daemon=True)
    for th in (t_rec, t_in, t_out):
        th.start()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    rc = _wait(child, client_gone)
    t_out.join(5)
    q.put(None)
    t_rec.join(5)
    if ex.server_name or ex.calls:
        rec.session_end()
    return exit_code(rc)


CLIENT_GONE_GRACE_S = 2.0


def _wait(child: subprocess.Popen, client_gone: threading.Event) -> int:
    """The child's return code; once the client is gone, the child gets a moment to end, then SIGTERM, then
    SIGKILL (a server that ignores its closed pipes never keeps the wrapper alive)."""
    while True:
        try:
            return child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if client_gone.is_set():
            break
    for stop in (child.terminate, child.kill):
        try:
            return child.wait(timeout=CLIENT_GONE_GRACE_S)
        except subprocess.TimeoutExpired:
            stop()
    return child.wait()


def exit_code(rc: int) -> int:
    """The wrapper's exit code for the child's return code: a child killed by signal N gives 128 + N, as a shell."""
    return 128 - rc if rc < 0 else rc
