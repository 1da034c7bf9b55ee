"""Dashboard benchmark on a large database (default 1,000,000 tasks in 20,000 sessions).

usage: python -m bench.tui [--tasks 1000000] [--sessions 20000] [--dir /tmp/nexus-bench-tui]

Runs the real app (Textual pilot, headless) in a fresh process and prints: launch to first painted sessions screen,
key presses that change screen or page (median, p95), the process's peak memory, and key presses while a writer adds
500 tasks per second through the collector's writer. The baseline, measured in the same run, is the same on an empty
database; ratios are printed against it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path


def build(db: Path, n_tasks: int, n_sessions: int) -> None:
    from nexus_tui.store import open_store

    if db.exists():
        return
    tmp = db.with_suffix(".tmp")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    open_store(f"sqlite:///{tmp}").close()
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA synchronous=OFF")
    rng = random.Random(1)
    now = int(time.time() * 1000)
    start = now - 90 * 86_400_000
    per = n_tasks // n_sessions
    models = ["claude-opus-4-6", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "gemini-2.5-pro"]
    tools = ["Read", "Edit", "Bash", "Grep", "Write", "mcp__github__create_issue"]
    iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"  # noqa: E731
    for s in range(n_sessions):
        s0 = start + s * (90 * 86_400_000 // n_sessions)
        sid = f"bench-{s:06d}"
        tasks, calls = [], []
        t = s0
        for i in range(per):
            t += rng.randint(2_000, 60_000)
            tin, tout, cr, cw = rng.randint(1, 900), rng.randint(10, 3000), rng.randint(0, 90_000), rng.randint(0, 5000)
            tid = f"req_b{s:06d}_{i:04d}"
            tasks.append((tid, sid, iso(t), t, "transcript", rng.choice(models), "cloud", tin, tout, cr, cw,
                          tin + tout + cr + cw, rng.randint(500, 40_000), rng.random() / 10, "ok", "claude-code"))
            if i % 2 == 0:
                calls.append((f"tu_{tid}", sid, tid, rng.choice(tools), t + 10, t + 10 + rng.randint(5, 5000),
                              rng.randint(5, 5000), rng.random() > 0.05))
        con.execute("INSERT INTO sessions (id, start_time, end_time, start_ms, end_ms, cli_tool, project) "
                    "VALUES (?,?,?,?,?,?,?)", (sid, iso(s0), iso(t), s0, t, "claude-code", f"project-{s % 40}"))
        con.executemany("INSERT INTO tasks (id, session_id, timestamp, ts_ms, source, model, routing, tokens_in, "
                        "tokens_out, cache_read_tokens, cache_creation_tokens, total_tokens, latency_ms, cost_usd, "
                        "status, cli_tool) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", tasks)
        con.executemany("INSERT INTO tool_calls (id, session_id, task_id, tool_name, started_ms, ended_ms, latency_ms,"
                        " success) VALUES (?,?,?,?,?,?,?,?)", calls)
        if s % 1000 == 999:
            con.commit()
    con.commit()
    con.execute("ANALYZE")
    con.close()
    os.replace(tmp, db)


CHILD = r'''
import time, sys, json, asyncio, statistics, threading
t0 = time.perf_counter()
from nexus_tui.app import NexusApp
from nexus_tui.config import load_settings
from nexus_tui.store import open_store

db, home, load = sys.argv[1], sys.argv[2], sys.argv[3] == "load"

async def main():
    store = open_store(f"sqlite:///{db}")
    app = NexusApp(load_settings(home=home), store, None, tz="UTC")
    out = {}
    async with app.run_test(size=(160, 48)) as pilot:
        async def settle():
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        while not getattr(app.screen, "loaded", False):
            await pilot.pause(0.005)
        out["first_paint_s"] = time.perf_counter() - t0
        stop = threading.Event()
        written = [0]
        if load:
            from nexus_tui.core.events import Batch, SessionRec, TaskRec
            def writer():
                i = 0
                while not stop.is_set():
                    t = int(time.time() * 1000)
                    b = Batch(sessions=[SessionRec(id="live", start_ms=t, end_ms=t, cli_tool="claude-code")],
                              tasks=[TaskRec(id=f"live-{i}-{k}", session_id="live", ts_ms=t, source="transcript",
                                             model="claude-opus-4-6", tokens_in=5, tokens_out=9) for k in range(50)])
                    store.writer.write(b)
                    written[0] += 50
                    i += 1
                    time.sleep(0.1)   # 50 tasks every 0.1 s = 500 tasks/s
            th = threading.Thread(target=writer, daemon=True)
            th.start()
        lat, shown = [], []
        for key in ["2", "3", "4", "5", "6", "1", "right_square_bracket", "right_square_bracket",
                    "left_square_bracket", "2", "1", "6", "1"]:
            a = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            shown.append((time.perf_counter() - a) * 1000)
            await settle()
            lat.append((time.perf_counter() - a) * 1000)
        stop.set()
        out["keys_ms"] = lat
        out["shown_ms"] = shown
        out["written"] = written[0]
    import resource
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))

asyncio.run(main())
'''


def run_child(db: Path, home: Path, load: bool) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, str(db), str(home), "load" if load else "idle"],
                       capture_output=True, text=True, timeout=900)
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise SystemExit(f"child failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return json.loads(line[0][7:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/nexus-bench-tui"))
    a = ap.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    db = a.dir / f"big-{a.tasks}-{a.sessions}.db"
    t = time.perf_counter()
    build(db, a.tasks, a.sessions)
    print(f"database: {a.tasks:,} tasks in {a.sessions:,} sessions ({db.stat().st_size / 1e6:.0f} MB; "
          f"built/reused in {time.perf_counter() - t:.1f}s)")
    empty = a.dir / "empty.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{empty}{suffix}").unlink(missing_ok=True)
    from nexus_tui.store import open_store

    open_store(f"sqlite:///{empty}").close()
    home = a.dir / "home"
    base = run_child(empty, home, False)
    big = run_child(db, home, False)
    load = run_child(db, home, True)

    def med(x):
        return statistics.median(x)

    def p95(x):
        s = sorted(x)
        return s[max(0, int(0.95 * len(s) + 0.5) - 1)]

    print(f"{'figure':<44} {'empty db':>10} {'large db':>10} {'ratio':>7}  target")
    print(f"{'launch to first painted sessions screen (s)':<44} {base['first_paint_s']:>10.2f} "
          f"{big['first_paint_s']:>10.2f} {big['first_paint_s'] / base['first_paint_s']:>7.2f}  < 1.5 s")
    print(f"{'key press to new screen painted, median (ms)':<44} {med(base['shown_ms']):>10.0f} "
          f"{med(big['shown_ms']):>10.0f} {med(big['shown_ms']) / max(1, med(base['shown_ms'])):>7.2f}  < 100 ms")
    print(f"{'  same while writing 500 tasks/s':<44} {'':>10} {med(load['shown_ms']):>10.0f} {'':>7}  < 150 ms")
    print(f"{'key press to fresh numbers, median (ms)':<44} {med(base['keys_ms']):>10.0f} {med(big['keys_ms']):>10.0f} "
          f"{med(big['keys_ms']) / max(1, med(base['keys_ms'])):>7.2f}  < 100 ms")
    print(f"{'key press to fresh numbers, p95 (ms)':<44} {p95(base['keys_ms']):>10.0f} {p95(big['keys_ms']):>10.0f}")
    print(f"{'peak memory (MB)':<44} {base['peak_rss_mb']:>10.0f} {big['peak_rss_mb']:>10.0f} "
          f"{big['peak_rss_mb'] / base['peak_rss_mb']:>7.2f}  < 400 MB")
    print(f"{'fresh numbers while writing 500 tasks/s, median':<44} {'':>10} {med(load['keys_ms']):>10.0f} "
          f"{med(load['keys_ms']) / max(1, med(big['keys_ms'])):>7.2f}  < 150 ms ({load['written']:,} tasks written)")
    print("per key (large db):", ", ".join(f"{x:.0f}" for x in big["keys_ms"]))


if __name__ == "__main__":
    main()
