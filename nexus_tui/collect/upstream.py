"""The recording proxy's HTTP/1.1 client to the upstream: a minimal one on asyncio's transports.

Why not aiohttp's client: its C parser hands every HTTP chunk of a response to Python one by one (a streamed
response is one chunk per SSE event, ~100 per answer), and reading them back costs a few Python calls per chunk;
with the request's own bookkeeping that was about half the proxy's CPU per request (docs/performance.md). Here
whatever bytes a ``recv`` brought are de-chunked in one loop and handed on as one piece.

What it does: keep-alive connections (TCP_NODELAY; TLS for https) pooled per upstream and dropped after
``KEEPALIVE`` seconds idle (before the server's own timeout closes them under a request); the request sent in one
write (head and body); the response head parsed (interim 1xx skipped); the body framed by chunked encoding,
Content-Length, or the connection's close; back-pressure: reading from the upstream stops once ``HIGH`` bytes wait
unread. A connection is reused only after a complete body. Errors: ``UpstreamError`` before the response head (the
proxy answers 502), ``UpstreamClosed`` inside the body (the proxy breaks the client's response off too).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from nexus_tui.core.redact import redact
from nexus_tui.core.report import shown

HIGH = 256 * 1024  # unread bytes from the upstream before its reading pauses
MAX_HEAD = 256 * 1024  # a response head larger than this is refused
KEEPALIVE = 15.0  # seconds an idle connection is kept (aiohttp's default too)
MAX_IDLE = 256  # idle connections kept per upstream
_NO_BODY_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "CONNECT", "DELETE"))
_CHUNK_HEAD = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r\n")  # a chunk's size line
_NEXT_HEAD = re.compile(rb"\r\n([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r\n")  # the previous chunk's end, then it
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class UpstreamError(Exception):
    """No response head: the upstream is unreachable, closed the connection, or answered something not HTTP."""


class UpstreamClosed(Exception):
    """The response body ended before its framing said it would (or was malformed)."""


class _Conn(asyncio.Protocol):
    """One connection: received bytes in a buffer, one reader waiting at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.eof = False
        self.exc: BaseException | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future | None = None
        self._paused = False
        self._write_waiter: asyncio.Future | None = None
        self._write_paused = False
        self._timer: asyncio.TimerHandle | None = None  # the read timeout's one timer (see wait)
        self._since = 0.0  # when the current wait began
        self._timeout = 0.0

    # ---- asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self._paused and len(self.buf) >= HIGH:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self):
        self.eof = True
        self._wake()
        return None  # the transport closes

    def connection_lost(self, exc) -> None:
        self.eof = True
        self.exc = exc
        self._wake()
        w, self._write_waiter = self._write_waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        w, self._write_waiter = self._write_waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    # ---- the reader's side
    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until more bytes or the end arrive (``TimeoutError`` after ``timeout`` seconds of silence).

        A stream waits once per event: rather than a timer set and cancelled each time (a heap push and a cancelled
        entry per event), one timer per connection looks when it fires whether the current wait is older than the
        timeout, and sets itself again for when it would be."""
        w = self._waiter = self.loop.create_future()
        if timeout:
            self._since, self._timeout = self.loop.time(), timeout
            if self._timer is None:
                self._timer = self.loop.call_at(self._since + timeout, self._check)
        try:
            await w
        finally:
            self._waiter = None

    def _check(self) -> None:
        self._timer = None
        w = self._waiter
        if w is None or w.done():
            return  # nobody waits: the next wait sets the timer again
        due = self._since + self._timeout
        if self.loop.time() >= due:
            _expire(w)
        else:
            self._timer = self.loop.call_at(due, self._check)

    def take(self) -> bytes:
        data = bytes(self.buf)
        self.buf.clear()
        if self._paused:
            self._paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        return data

    async def drain(self) -> None:
        if self._write_paused and not self.eof:
            self._write_waiter = self.loop.create_future()
            await self._write_waiter

    @property
    def usable(self) -> bool:
        return not self.eof and not self.buf and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()


def _expire(w: asyncio.Future) -> None:
    if not w.done():
        w.set_exception(TimeoutError("upstream read timed out"))


class Response:
    """A response head and its body, read with ``read()`` (b'' at the end)."""

    def __init__(self, client: Upstream, conn: _Conn, status: int, reason: str, version: tuple[int, int],
                 headers: CIMultiDictProxy, method: str, read_timeout: float | None):
        self.status, self.reason, self.version, self.headers = status, reason, version, headers
        self._client, self._conn, self._timeout = client, conn, read_timeout
        conn_tokens = {t.strip().lower() for v in headers.getall("Connection", ()) for t in v.split(",")}
        self._reuse = version >= (1, 1) and "close" not in conn_tokens
        te = headers.get("Transfer-Encoding", "")
        self._left = -1  # body bytes still due (-1: until the connection closes)
        self._chunked = False
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._left = 0
        elif te:
            if te.rsplit(",", 1)[-1].strip().lower() != "chunked":
                self._reuse = False  # a body of another coding runs until the close
            else:
                self._chunked = True
        elif "Content-Length" in headers:
            cl = headers.getall("Content-Length")
            if len(set(cl)) != 1 or not cl[0].strip().isdigit():
                raise UpstreamError(f"bad Content-Length {cl!r}")
            self._left = int(cl[0])
        else:
            self._reuse = False
        # chunked decoding state
        self._tail = b""  # an incomplete chunk head (or CRLF) carried to the next read
        self._in_chunk = 0  # data bytes left in the current chunk
        self._head = _CHUNK_HEAD  # what the next chunk starts with (_NEXT_HEAD: the previous one's CRLF first)
        self._trailer = False  # the last chunk was seen: trailer lines until an empty one
        self.done = self._left == 0

    async def read(self) -> bytes:
        """The body bytes that have arrived (waiting for some when none has); b'' once the body is complete."""
        while True:
            out = self.read_nowait()
            if out or self.done:
                return out
            conn = self._conn
            if not conn.buf and not conn.eof:
                await conn.wait(self._timeout)

    def read_nowait(self) -> bytes:
        """The body bytes that have arrived; b'' when none has (or the body is complete: ``done``)."""
        out = b""
        if not self.done:
            conn = self._conn
            if conn.buf:
                out = self._decode(conn.take())
            elif conn.eof:
                if self._left != -1 or self._chunked:
                    raise UpstreamClosed("the upstream closed the connection mid-response")
                self.done = True  # a body that runs until the close
        if self.done:
            self.release()
        return out

    def _decode(self, data: bytes) -> bytes:
        if not self._chunked:
            if self._left == -1:
                return data
            if len(data) >= self._left:
                extra = len(data) - self._left
                data = data[:self._left]
                self._left = 0
                self.done = True
                if extra:
                    self._reuse = False  # bytes the response did not announce
            else:
                self._left -= len(data)
            return data
        if self._tail:
            data = self._tail + data
            self._tail = b""
        n = len(data)
        pos = 0
        out = []
        if self._in_chunk:  # the rest of a chunk whose head came earlier
            end = self._in_chunk
            if end > n:
                self._in_chunk = end - n
                return data
            out.append(data[:end])
            pos = end
            self._in_chunk = 0
            self._head = _NEXT_HEAD
        if not self._trailer:
            head = self._head
            while True:  # one regex match per chunk: its CRLF, size line; then its data sliced off
                m = head.match(data, pos)
                if m is None:
                    rest = n - pos
                    if rest and (rest > 1024 or data.find(b"\n", pos + (2 if head is _NEXT_HEAD else 0)) >= 0
                                 or (head is _NEXT_HEAD and rest >= 2 and data[pos:pos + 2] != b"\r\n")):
                        raise UpstreamClosed("malformed chunked body")
                    break
                size = int(m.group(1), 16)
                pos = m.end()
                if not size:
                    self._trailer = True
                    break
                end = pos + size
                head = _NEXT_HEAD
                if end > n:
                    out.append(data[pos:])
                    self._in_chunk = end - n
                    pos = n
                    break
                out.append(data[pos:end])
                pos = end
            self._head = head
        if self._trailer:
            while True:  # trailer lines, up to an empty one
                i = data.find(b"\r\n", pos)
                if i < 0:
                    break
                if i == pos:
                    self.done = True
                    if pos + 2 < n:
                        self._reuse = False  # bytes after the response
                    pos = n
                    break
                pos = i + 2
        if pos < n:
            if n - pos > MAX_HEAD:
                raise UpstreamClosed("malformed chunked body")
            self._tail = data[pos:]
        return out[0] if len(out) == 1 else b"".join(out)

    def release(self) -> None:
        """The body is complete: the connection goes back to the pool (or is closed)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self.done and self._reuse and conn.usable:
            self._client._put(conn)
        else:
            conn.close()

    def close(self) -> None:
        """Abandon the response (client gone, error): its connection is closed, never reused."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class Upstream:
    """Requests to one upstream base URL (``http(s)://host[:port][/prefix]``)."""

    def __init__(self, base: str, connect_timeout: float = 30.0, read_timeout: float | None = 900.0):
        u = urlsplit(base)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"upstream {redact(base)!r} is not an http(s) URL")
        self.base = base.rstrip("/")
        self.shown = shown(self.base)  # as messages show it: a password in the URL redacted
        self.tls = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.tls else 80)
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if self.port == default else f"{host}:{self.port}"
        self.prefix = u.path.rstrip("/")
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._idle: list[_Conn] = []
        self._ssl: ssl.SSLContext | None = None

    def _put(self, conn: _Conn) -> None:
        now = time.monotonic()
        idle = self._idle
        while idle and (now - idle[0].idle_since >= KEEPALIVE or len(idle) >= MAX_IDLE):  # the oldest first
            idle.pop(0).close()
        conn.idle_since = now
        idle.append(conn)

    async def _connect(self) -> _Conn:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable and now - conn.idle_since < KEEPALIVE:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        if self.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                lambda: _Conn(loop), self.host, self.port, ssl=self._ssl if self.tls else None,
                server_hostname=self.host if self.tls else None), self.connect_timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
            raise UpstreamError(f"{type(e).__name__}: {e}") from e
        return conn

    async def request(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Response:
        """Send the request; the response once its head arrived (``UpstreamError`` if none does)."""
        if not _TOKEN.fullmatch(method):
            raise UpstreamError(f"bad method {method!r}")
        lines = [f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        lines += [f"{k}: {v}\r\n" for k, v in headers]
        if body or method not in _NO_BODY_METHODS:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        data = "".join(lines).encode("utf-8", "surrogateescape")
        conn = await self._connect()
        try:
            conn.transport.write(data + body if len(body) < 65536 else data)
            if len(body) >= 65536:
                conn.transport.write(body)
            return await self._head(conn, method)
        except BaseException:
            conn.close()
            raise

    async def _head(self, conn: _Conn, method: str) -> Response:
        while True:
            i = conn.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(conn.buf) > MAX_HEAD:
                    raise UpstreamError("response head too large")
                if conn.eof:
                    raise UpstreamError("the upstream closed the connection before answering"
                                        + (f": {conn.exc}" if conn.exc else ""))
                try:
                    await conn.wait(self.read_timeout)
                except TimeoutError as e:
                    raise UpstreamError("no answer within the read timeout") from e
                continue
            head = bytes(conn.buf[:i])
            del conn.buf[:i + 4]
            lines = head.split(b"\r\n")
            flat = b"".join(lines)
            if b"\n" in flat or b"\r" in flat or b"\0" in flat:  # a bare CR or LF, a NUL: not HTTP
                raise UpstreamError("malformed response head")
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[0]) != 8 \
                    or not parts[1].isdigit() or len(parts[1]) != 3:
                raise UpstreamError(f"not an HTTP/1 response: {lines[0][:100]!r}")
            status = int(parts[1])
            version = (1, 1) if parts[0] == b"HTTP/1.1" else (1, 0)
            reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
            headers: CIMultiDict = CIMultiDict()
            for ln in lines[1:]:
                k, sep, v = ln.partition(b":")
                if not sep or not k or k != k.strip() or b" " in k or b"\t" in k:
                    raise UpstreamError(f"malformed response header line {ln[:100]!r}")
                headers.add(k.decode("utf-8", "surrogateescape"), v.strip(b" \t").decode("utf-8", "surrogateescape"))
            if 100 <= status < 200 and status != 101:
                continue  # an interim response (100 Continue, 103 Early Hints): the real one follows
            return Response(self, conn, status, reason, version, CIMultiDictProxy(headers), method,
                            self.read_timeout)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
