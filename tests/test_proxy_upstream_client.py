"""The proxy's HTTP/1.1 client (nexus_tui/collect/upstream.py) against raw servers that send chosen bytes: every
body framing, a body cut anywhere, connection reuse only after a complete body, and what is an error."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings, strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from nexus_tui.collect.upstream import Response, Upstream, UpstreamClosed, UpstreamError


def _chunked(pieces: list[bytes], ext: bool = False, trailer: bytes = b"") -> bytes:
    out = b"".join(b"%x%s\r\n%s\r\n" % (len(p), b";x=1" if ext else b"", p) for p in pieces if p)
    return out + b"0\r\n" + trailer + b"\r\n"


def _decoder() -> Response:
    h = CIMultiDictProxy(CIMultiDict({"Transfer-Encoding": "chunked"}))
    return Response(None, None, 200, "OK", (1, 1), h, "POST", None)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.binary(max_size=40), max_size=12), cuts=st.lists(st.integers(0, 2000), max_size=8),
       ext=st.booleans(), trailer=st.sampled_from([b"", b"X-Sum: 1\r\n"]))
def test_a_chunked_body_decodes_the_same_wherever_the_reads_cut_it(pieces, cuts, ext, trailer):
    # pieces hold CR, LF and hex digits too: nothing in a chunk's data is taken for framing
    wire = _chunked(pieces, ext, trailer)
    r = _decoder()
    got = []
    bounds = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    for a, b in zip(bounds, bounds[1:]):
        got.append(r._decode(wire[a:b]))
    assert b"".join(got) == b"".join(pieces)
    assert r.done and r._reuse


@pytest.mark.parametrize("wire", [b"zz\r\nab\r\n", b"2\r\nabXX3\r\n", b"0x2\r\nab\r\n", b"+2\r\nab\r\n"])
def test_a_malformed_chunked_body_is_an_error(wire):
    with pytest.raises(UpstreamClosed):
        _decoder()._decode(wire + b"0\r\n\r\n")


async def _serve(replies: list[bytes], close_after: bool = False):
    """A server answering each request on a connection with the next of ``replies`` (raw bytes)."""
    seen = {"connections": 0, "requests": []}

    async def on(reader, writer):
        seen["connections"] += 1
        while True:
            head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
            if not head:
                break
            n = next((int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(
                b"content-length:")), 0)
            body = await reader.readexactly(n)
            seen["requests"].append((head, body))
            writer.write(replies[len(seen["requests"]) - 1])
            await writer.drain()
            if close_after or b"\r\nConnection: close\r\n" in replies[len(seen["requests"]) - 1]:
                writer.close()
                return

    server = await asyncio.start_server(on, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen


async def _all(r: Response) -> bytes:
    out = []
    while chunk := await r.read():
        out.append(chunk)
    return b"".join(out)


def test_bodies_of_every_framing_and_the_connection_reused_only_after_a_whole_one():
    async def main():
        replies = [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked([b"ab\r\n", b"0\r\n\r\n"]),
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
        ]
        server, url, seen = await _serve(replies)
        up = Upstream(url + "/prefix")
        r = await up.request("POST", "/v1/messages?x=1", [("X-Key", "v")], b"{}")
        assert (r.status, r.headers.getall("X-A"), await _all(r)) == (200, ["1", "2"], b"hello")
        r = await up.request("GET", "/a", [], b"")
        assert await _all(r) == b"ab\r\n0\r\n\r\n"
        r = await up.request("DELETE", "/b", [], b"")
        assert (r.status, await _all(r)) == (204, b"")
        r = await up.request("POST", "/c", [], b"")
        assert await _all(r) == b"until the end"
        assert seen["connections"] == 1  # one connection for all four, each body read whole first
        heads = [h for h, _ in seen["requests"]]
        assert heads[0].startswith(b"POST /prefix/v1/messages?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nX-Key: v\r\n" in heads[0] and b"\r\nContent-Length: 2\r\n" in heads[0]
        assert b"Content-Length" not in heads[1] and b"Content-Length" not in heads[2]
        assert b"\r\nContent-Length: 0\r\n" in heads[3]  # a POST without a body says so
        assert [b for _, b in seen["requests"]] == [b"{}", b"", b"", b""]
        # the last answer closed its connection: the next request opens another
        replies.append(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        r = await up.request("POST", "/d", [], b"")
        assert (await _all(r), seen["connections"]) == (b"", 2)
        up.close()
        server.close()
    asyncio.run(main())


def test_a_body_cut_short_and_no_answer_at_all_are_errors():
    async def main():
        server, url, _ = await _serve([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], close_after=True)
        up = Upstream(url)
        r = await up.request("POST", "/", [], b"x")
        with pytest.raises(UpstreamClosed):
            await _all(r)
        server.close()
        server, url, _ = await _serve([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"],
                                      close_after=True)
        r = await Upstream(url).request("POST", "/", [], b"x")
        with pytest.raises(UpstreamClosed):
            await _all(r)
        server.close()
        server, url, _ = await _serve([b""], close_after=True)
        with pytest.raises(UpstreamError):
            await Upstream(url).request("POST", "/", [], b"x")
        server.close()
        for reply in (b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\n\r\n",
                      b"HTTP/1.1 200 OK\r\nX A: a\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n"):
            server, url, _ = await _serve([reply], close_after=True)
            with pytest.raises(UpstreamError):
                await Upstream(url).request("POST", "/", [], b"x")
            server.close()
    asyncio.run(main())


def test_the_head_reaches_the_client_before_any_of_the_body_exists(tmp_path):
    """The proxy holds a response's head only to send it with body bytes that are already there: an upstream that
    answers its head and then waits (here until the client has that head) still gets the head through."""
    import threading

    import httpx
    from aiohttp import web

    from nexus_tui.collect.proxy import ProxyConfig, ProxyThread
    from tests.proxy_upstream import ServerThread

    release = threading.Event()

    async def slow(request):
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "x-first": "head"})
        await resp.prepare(request)
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)
        await resp.write(b'event: ping\ndata: {"type":"ping"}\n\n')
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/messages", slow)
    up = ServerThread(app)
    up.start()
    assert up.ready.wait(10)
    px = ProxyThread(ProxyConfig(port=0, upstream=up.url), tmp_path / "logs")
    px.start()
    try:
        assert px.ready.wait(10) and px.error is None
        with httpx.Client(timeout=20) as c:
            with c.stream("POST", f"http://127.0.0.1:{px.port}/v1/messages", json={"stream": True}) as r:
                assert r.headers["x-first"] == "head"  # here before the upstream sent any of the body
                release.set()
                assert r.read() == b'event: ping\ndata: {"type":"ping"}\n\n'
    finally:
        release.set()
        px.stop()
        px.join(10)
        up.stop()


def _tls_files(tmp_path):
    """A certificate authority and a certificate it signed for localhost, made with the openssl command."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate with")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=nexus test CA",
        "-keyout", "ca.key", "-out", "ca.pem", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "srv.key", "-out", "srv.csr")
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-out", "srv.pem", "-extfile", "ext.cnf")
    return tmp_path / "ca.pem", tmp_path / "srv.pem", tmp_path / "srv.key"


def test_an_https_upstream_is_reached_over_verified_tls(tmp_path, monkeypatch):
    """https upstreams (the real API is one) go over TLS with the certificate verified against the system's
    authorities (here a test authority named by SSL_CERT_FILE, which OpenSSL reads): a streamed body arrives whole
    over one kept-alive connection, and a certificate no authority vouches for is refused (502), never used."""
    import ssl

    ca, cert, key = _tls_files(tmp_path)
    body = _chunked([b"event: a\ndata: {}\n\n", b"event: b\ndata: {}\n\n"])
    replies = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n" + body,
               b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]

    async def main(verified: bool):
        seen = {"connections": 0, "requests": []}

        async def on(reader, writer):
            seen["connections"] += 1
            while not reader.at_eof():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                n = next((int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
                          if ln.lower().startswith(b"content-length:")), 0)
                seen["requests"].append((head, await reader.readexactly(n)))
                writer.write(replies[len(seen["requests"]) - 1])
                await writer.drain()
            writer.close()

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        server = await asyncio.start_server(on, "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        up = Upstream(f"https://localhost:{port}/api")
        try:
            if not verified:
                with pytest.raises(UpstreamError, match="CERTIFICATE_VERIFY_FAILED|SSLCertVerificationError"):
                    await up.request("POST", "/v1/messages", [], b"{}")
                return seen
            r = await up.request("POST", "/v1/messages", [("x-api-key", "k")], b'{"a": 1}')
            assert (r.status, r.headers["Content-Type"], await _all(r)) == (
                200, "text/event-stream", b"event: a\ndata: {}\n\nevent: b\ndata: {}\n\n")
            r = await up.request("POST", "/v1/messages/count_tokens", [], b"{}")
            assert await _all(r) == b"ok"
            return seen
        finally:
            up.close()
            server.close()

    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nothing.pem"))
    refused = asyncio.run(main(verified=False))
    assert refused["requests"] == []
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    seen = asyncio.run(main(verified=True))
    assert seen["connections"] == 1 and len(seen["requests"]) == 2
    head, sent = seen["requests"][0]
    assert head.startswith(b"POST /api/v1/messages HTTP/1.1\r\nHost: localhost:") and sent == b'{"a": 1}'


def test_the_read_timeout_counts_silence_not_the_whole_response():
    """A stream that keeps sending, however long it lasts, is not cut; one silent for the read timeout is (in the
    head or in the body), and a connection idle in the pool is left alone by its timer."""
    async def main():
        steady = 0.04

        async def on(reader, writer):
            while True:  # requests on this connection, one after another
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if b"/silent-head" in head:
                    await asyncio.sleep(3)
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                if b"/steady" not in head:  # one piece, then silence
                    writer.write(b"2\r\nab\r\n")
                    await writer.drain()
                    await asyncio.sleep(3)
                    return
                for i in range(30):  # 30 pieces 0.04 s apart: 1.2 s in all, four times the timeout
                    writer.write(b"2\r\n%02d\r\n" % i)
                    await writer.drain()
                    await asyncio.sleep(steady)
                writer.write(b"0\r\n\r\n")
                await writer.drain()

        server = await asyncio.start_server(on, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        up = Upstream(base, read_timeout=0.3)
        try:
            r = await up.request("GET", "/steady", [], b"")
            body = await _all(r)
            assert body == b"".join(b"%02d" % i for i in range(30))
            assert len(up._idle) == 1
            await asyncio.sleep(0.5)  # the pooled connection's timer fires with nobody waiting: nothing happens
            assert len(up._idle) == 1 and up._idle[0].usable

            r = await up.request("GET", "/stall", [], b"")
            assert await r.read() == b"ab"
            with pytest.raises(TimeoutError):
                await r.read()
            r.close()

            with pytest.raises(UpstreamError, match="read timeout"):
                await up.request("GET", "/silent-head", [], b"")
        finally:
            up.close()
            server.close()

    asyncio.run(main())


def test_header_bytes_that_are_not_utf8_leave_the_request_recorded(tmp_path):
    """An upstream's header value in bytes that are not UTF-8 (a request-id, a quota status sent as Latin-1) is
    read as lone surrogates, which JSON cannot hold: the event was dropped whole (counted, its usage lost). It is
    recorded with U+FFFD in their place and ingested (a client's UTF-8 session header stays as it is)."""
    import httpx
    from sqlalchemy import text

    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.proxy import ProxyConfig, ProxyThread
    from nexus_tui.collect.sources import NexusEventSource
    from tests.helpers import store_at

    body = (b'{"id":"msg_l1","type":"message","model":"claude-sonnet-4-5","content":[],'
            b'"usage":{"input_tokens":3,"output_tokens":4}}')
    reply = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nrequest-id: req_\xff1\r\n"
             b"anthropic-ratelimit-unified-status: allowed\xe9\r\nanthropic-ratelimit-unified-reset: 1e999\r\n"
             b"content-length: %d\r\n\r\n" % len(body) + body)
    # a body whose text holds a lone surrogate escape (a server's token cut inside a character): orjson refused it
    # and the response's usage was lost (a task of 0 tokens)
    cut = (b'{"id":"msg_l2","type":"message","model":"claude-sonnet-4-5","content":[{"type":"text","text":'
           b'"cut \\ud83d"}],"usage":{"input_tokens":5,"output_tokens":6}}')
    reply2 = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nrequest-id: req_l2\r\n"
              b"content-length: %d\r\n\r\n" % len(cut) + cut)

    async def main():
        server, url, _seen = await _serve([reply, reply2])
        px = ProxyThread(ProxyConfig(port=0, upstream=url), tmp_path / "logs")
        px.start()
        try:
            assert px.ready.wait(10) and px.error is None
            async with httpx.AsyncClient(timeout=20) as c:
                r = await c.post(f"http://127.0.0.1:{px.port}/v1/messages", json={"model": "claude-sonnet-4-5"},
                                 headers={"x-nexus-session": "café".encode()})
                assert r.status_code == 200 and r.content == body
                r = await c.post(f"http://127.0.0.1:{px.port}/v1/messages", json={"model": "claude-sonnet-4-5"},
                                 headers={"x-nexus-session": "café".encode()})
                assert r.status_code == 200 and r.content == cut
        finally:
            px.stop()
            px.join(10)
            server.close()
        return px.stats

    stats = asyncio.run(main())
    assert (stats.recorded, stats.dropped) == (2, 0)
    store = store_at(tmp_path / "db.sqlite")
    rep = Collector(store, [NexusEventSource([tmp_path / "logs"], "claude-sonnet-4-5")]).run_once()
    assert rep.problems == [] and rep.skipped_total == 0, rep.skipped
    with store.engine.connect() as conn:
        got = conn.execute(text("SELECT id, session_id, tokens_in, tokens_out FROM tasks ORDER BY id")).all()
        status = conn.execute(text("SELECT status FROM quota_snapshots")).scalar_one()
    assert [tuple(r) for r in got] == [("req_l2", "café", 5, 6), ("req_\ufffd1", "café", 3, 4)]
    assert status == "allowed\ufffd"
    store.close()
