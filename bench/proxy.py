"""Proxy benchmark: the latency the recording proxy adds and its memory with many streams open, in one run.

usage: python -m bench.proxy [--requests 400] [--streams 200] [--gap-ms 10]

The upstream is tests/proxy_upstream.py replaying the real capture (a streamed 109-event response with a tool use,
15 KB) in its own process; the proxy (`nexus-insights proxy`, recording to a temporary home) in another; the
client (aiohttp) in this one. Requests alternate direct / through the proxy so both see the same machine load (the
order within each pair drawn at random, so neither path always follows the other).
Figures: time to first byte (status line and headers read) and total (last byte read), p50 and p99, at 1 and at 50
concurrent streams; added = proxy percentile - direct percentile. Two kinds of stream: replayed as fast as the
upstream can write (one HTTP chunk per event, no wait: at 50 streams the three processes saturate the machine's CPUs,
so it measures queueing for a CPU), and paced as the API sends a stream (``--gap-ms`` between events: 10 ms makes the
109-event capture last 1.1 s, faster than any Claude model writes its 255 output tokens, so the load is higher than
real streams give; event i is due i gaps after the first, so the upstream's late wake-ups do not add up over a stream
and the total measures the path, not the drift of the test upstream's timers). Memory: the proxy's RSS with 0, 50 and
``--streams`` streams held open (the upstream sends three events, then waits), and the difference per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parents[1]
EVENTS = 109  # the capture's SSE events
BODY = json.dumps({"model": "claude-opus-4-20250514", "max_tokens": 100, "stream": True,
                   "messages": [{"role": "user", "content": "Count the lines of code"}]}).encode()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_port(port: int, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def _one(session: aiohttp.ClientSession, url: str, i: int, gap_ms: float = 0) -> tuple[float, float]:
    t0 = time.perf_counter()
    headers = {"content-type": "application/json", "x-test-request-id": f"req_bench_{i}"}
    if gap_ms:
        headers["x-test-gap-ms"] = str(gap_ms)
    async with session.post(url + "/v1/messages", data=BODY, headers=headers) as r:
        ttfb = time.perf_counter() - t0
        async for _ in r.content.iter_any():
            pass
        total = time.perf_counter() - t0
    assert r.status == 200
    return ttfb * 1000, total * 1000


async def _latency(direct: str, proxy: str, n: int, conc: int, gap_ms: float = 0) -> dict:
    res = {"direct": ([], []), "proxy": ([], [])}
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as s:
        for _ in range(20):  # warm both paths
            await _one(s, direct, 0)
            await _one(s, proxy, 0)
        counter = iter(range(10**9))
        rng = random.Random(11)

        async def worker(start: float):
            # paced streams last ~1 s or more: started together, 50 of them would stay in step, every request
            # arriving in a burst of 50 at once; each starts at its own moment within one stream's length instead,
            # as independent clients do
            await asyncio.sleep(start)
            for _ in range(n // conc):
                # a direct and a proxied request, in an order drawn per pair: a request that follows another to the
                # upstream finds it still finishing that one (its handler's tail), so a fixed order would always
                # charge that to the same path
                pair = [("direct", direct), ("proxy", proxy)]
                rng.shuffle(pair)
                for name, url in pair:
                    a, b = await _one(s, url, next(counter), gap_ms)
                    res[name][0].append(a)
                    res[name][1].append(b)

        length = EVENTS * gap_ms / 1000 if conc > 1 else 0.0
        await asyncio.gather(*(worker(rng.uniform(0, length)) for _ in range(conc)))
    out = {}
    for metric, k in (("ttfb", 0), ("total", 1)):
        d, p = res["direct"][k], res["proxy"][k]
        out[metric] = {q: (_pct(d, q), _pct(p, q), _pct(p, q) - _pct(d, q)) for q in (50, 99)}
    out["n"] = len(res["proxy"][0])
    return out


async def _hold(proxy: str, n: int, rss) -> float:
    """Open n streams that stay open (the upstream pauses after three events); the proxy's RSS with them open."""
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None)) as s:
        resps = []
        for i in range(n):
            r = await s.post(proxy + "/v1/messages", data=BODY, headers={
                "content-type": "application/json", "x-test-fault": "hang", "x-test-request-id": f"req_hold_{i}"})
            await r.content.readany()
            resps.append(r)
        await asyncio.sleep(1.0)
        mem = rss()
        for r in resps:
            r.close()
    return mem


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400, help="requests per path at each concurrency")
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--gap-ms", type=float, default=10.0, help="ms between a paced stream's events")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nexus-bench-proxy-"))
    up_port, px_port = _free_port(), _free_port()
    env = {**os.environ, "NEXUS_INSIGHTS_HOME": str(tmp / "home"), "PYTHONPATH": str(REPO)}
    up = subprocess.Popen([sys.executable, "-m", "tests.proxy_upstream", str(up_port)], cwd=REPO, env=env)
    px = subprocess.Popen([sys.executable, "-m", "nexus_tui", "proxy", "--port", str(px_port), "--upstream",
                           f"http://127.0.0.1:{up_port}"], cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_port(up_port)
        _wait_port(px_port)
        direct, proxy = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{px_port}"
        print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; response: the real streamed capture "
              f"(109 SSE events, 15 KB)")
        proc, uproc = psutil.Process(px.pid), psutil.Process(up.pid)
        cpu = lambda p: sum(p.cpu_times()[:2])  # noqa: E731
        for conc, gap in ((1, 0), (50, 0), (50, a.gap_ms)):
            c0, u0 = cpu(proc), cpu(uproc)
            r = asyncio.run(_latency(direct, proxy, a.requests, conc, gap))
            n_px, n_up = r["n"] + 20, 2 * (r["n"] + 20)  # the upstream serves both paths
            kind = f"paced, {gap:g} ms between events" if gap else "as fast as the upstream writes"
            streams = "stream" if conc == 1 else "streams"
            print(f"\n{conc} concurrent {streams}, {kind}, {r['n']} requests per path (ms):")
            print(f"  {'':6} {'':4} {'direct':>8} {'proxy':>8} {'added':>8}")
            for metric in ("ttfb", "total"):
                for q in (50, 99):
                    d, p, add = r[metric][q]
                    print(f"  {metric:6} p{q:<3} {d:8.2f} {p:8.2f} {add:8.2f}")
            print(f"  CPU per request: proxy {(cpu(proc) - c0) / n_px * 1000:.2f} ms, upstream (replaying the "
                  f"stream) {(cpu(uproc) - u0) / n_up * 1000:.2f} ms")
        rss = lambda: proc.memory_info().rss / 2**20  # noqa: E731
        base = rss()
        m50 = asyncio.run(_hold(proxy, 50, rss))
        mn = asyncio.run(_hold(proxy, a.streams, rss))
        print(f"\nproxy RSS: idle {base:.1f} MiB, 50 streams open {m50:.1f} MiB, {a.streams} streams open "
              f"{mn:.1f} MiB ({(mn - m50) * 1024 / max(1, a.streams - 50):.1f} KiB per stream beyond 50)")
    finally:
        px.terminate()
        px.wait(20)
        up.terminate()
        up.wait(10)
    lines = sum(len(f.read_text().splitlines()) for f in (tmp / "home" / "logs").glob("*.jsonl"))
    print(f"recorded {lines} {'request' if lines == 1 else 'requests'} in the event log")
    return 0


if __name__ == "__main__":
    sys.exit(main())
