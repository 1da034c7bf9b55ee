"""The audit trail of one long session: targets stored at parse time (schema version 9, what the report reads)
against the same targets read on demand from the transcript (the alternative design; what calls stored before
version 9 cost), measured in the same run.

usage: python -m bench.audit [--calls 5000] [--repeat 3]

A transcript with ``--calls`` tool calls (Read, Edit, Write, Bash, WebFetch, Grep and an MCP tool, one per assistant
line, each with a few KiB of input like real Edit and Write calls) is ingested into a temporary store; then
``load_audit`` runs with the stored targets, and again after ``tool_calls.target`` is cleared (every target read back
from its line). The best of ``--repeat`` runs of each is printed with the ratio; both must give the same targets.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from nexus_tui.collect.collector import Collector
from nexus_tui.collect.sources import ClaudeCodeSource
from nexus_tui.headless_audit import load_audit
from nexus_tui.store import open_store

SID = "bench-audit-session"


def _input(i: int) -> tuple[str, dict]:
    path = f"/home/dev/src/project/src/module_{i % 97}.py"
    body = "x = 1\n" * 400  # ~2.4 KiB of content, as an Edit or Write carries
    kinds = [("Read", {"file_path": path}), ("Edit", {"file_path": path, "old_string": body, "new_string": body}),
             ("Write", {"file_path": path, "content": body}),
             ("Bash", {"command": f"FOO=1 /usr/bin/git log -n {i}", "description": "log"}),
             ("WebFetch", {"url": f"https://docs.example.org/page/{i}", "prompt": "summarise"}),
             ("Grep", {"pattern": "def ", "path": "src"}), ("mcp__fs__read", {"path": path})]
    return kinds[i % len(kinds)]


def write_transcript(folder: Path, calls: int) -> None:
    proj = folder / "projects" / "-bench"
    proj.mkdir(parents=True)
    lines = []
    for i in range(calls):
        ts = f"2026-01-01T{10 + i // 3600 % 10:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        name, inp = _input(i)
        base = {"sessionId": SID, "cwd": "/home/dev/src/project", "version": "2.1.39", "timestamp": ts}
        lines.append(json.dumps({**base, "type": "assistant", "uuid": f"a{i}", "requestId": f"req_{i}",
                                 "message": {"id": f"m{i}", "model": "claude-sonnet-4-5",
                                             "usage": {"input_tokens": 10, "output_tokens": 5},
                                             "content": [{"type": "tool_use", "id": f"t{i}", "name": name,
                                                          "input": inp}]}}))
        lines.append(json.dumps({**base, "type": "user", "uuid": f"u{i}", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"}]}}))
    (proj / f"{SID}.jsonl").write_text("\n".join(lines) + "\n")


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_transcript(folder, a.calls)
        store = open_store(f"sqlite:///{folder / 'bench.db'}")
        try:
            Collector(store, [ClaudeCodeSource([folder / "projects"])]).run_once()
            stored_s, stored = best(lambda: load_audit(store.engine, SID), a.repeat)

            with store.engine.begin() as conn:  # as a database migrated from version 8 holds them
                conn.execute(text("UPDATE tool_calls SET target = NULL"))
            read_s, read = best(lambda: load_audit(store.engine, SID), a.repeat)
        finally:
            store.close()
    same = [c["target"] for c in stored["calls"]] == [c["target"] for c in read["calls"]]
    print(f"{len(stored['calls']):,} calls, {len(stored['files_changed']):,} files changed")
    print(f"stored targets   {stored_s * 1000:9.1f} ms")
    print(f"read on demand   {read_s * 1000:9.1f} ms   ratio {read_s / stored_s:5.1f}x   same targets: {same}")


if __name__ == "__main__":
    main()
