"""Latency mcp-wrap adds per tool call: the same real client and server, direct and through the wrapper, in one run.

usage: python -m bench.mcp_wrap [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

SERVER = str(Path(__file__).resolve().parents[1] / "tests" / "mcp_demo_server.py")


async def measure(cmd: list[str], calls: int, env: dict) -> list[float]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    out = []
    async with stdio_client(StdioServerParameters(command=cmd[0], args=cmd[1:], env=env)) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            for i in range(20):  # warm up
                await s.call_tool("add", {"a": i, "b": 1})
            for i in range(calls):
                t = time.perf_counter()
                await s.call_tool("add", {"a": i, "b": 1})
                out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    a = ap.parse_args()
    home = tempfile.mkdtemp(prefix="nexus-bench-mcp-")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    direct_cmd = [sys.executable, SERVER]
    wrapped_cmd = [sys.executable, "-m", "nexus_tui", "--home", home, "mcp-wrap", "--name", "bench", "--",
                   sys.executable, SERVER]
    rounds = []
    for _ in range(2):  # alternate to spread machine noise over both
        rounds.append((asyncio.run(measure(direct_cmd, a.calls, env)), asyncio.run(measure(wrapped_cmd, a.calls, env))))
    direct = [x for d, _ in rounds for x in d]
    wrapped = [x for _, w in rounds for x in w]
    md, mw = statistics.median(direct), statistics.median(wrapped)
    p95 = lambda xs: sorted(xs)[int(0.95 * len(xs)) - 1]  # noqa: E731
    print(f"{len(direct)} calls each (tools/call 'add' over stdio, official MCP SDK client and server)")
    print(f"{'':<10} {'median ms':>10} {'p95 ms':>8}")
    print(f"{'direct':<10} {md:>10.3f} {p95(direct):>8.3f}")
    print(f"{'wrapped':<10} {mw:>10.3f} {p95(wrapped):>8.3f}")
    print(f"added by mcp-wrap: {mw - md:+.3f} ms at the median ({mw / md:.2f}x direct); target < 1 ms")
    n = sum(1 for p in Path(home, "logs").glob("*.jsonl") for line in p.read_text().splitlines() if '"tool_call"' in line)
    print(f"tool_call events recorded: {n} (expected {2 * (a.calls + 20)})")


if __name__ == "__main__":
    main()
