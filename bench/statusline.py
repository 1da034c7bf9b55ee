"""The status line's whole process against a bare ``python -c pass``, measured in the same run.

usage: python -m bench.statusline [--tasks 1000000] [--sessions 20000] [--runs 40] [--dir /tmp/nexus-bench-tui]

Target (issue 12): the median of ``nexus-insights statusline`` (fed a subscriber's input, recording it and reading
today's cost from a database of ``--tasks`` tasks) within 40 ms of the median of ``python -c pass``. Runs alternate
so both see the same machine. Also timed: no input (the line from what is stored) and a database held under an
exclusive lock by another connection.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.tui import build

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "constructed" / "statusline"


def _time(cmd: list[str], stdin_path: Path | None) -> float:
    with open(stdin_path or "/dev/null", "rb") as f:
        t = time.perf_counter()
        r = subprocess.run(cmd, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{cmd} exited {r.returncode}: {r.stderr.decode()[:300]}")
    return dt * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/nexus-bench-tui"))
    a = ap.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    db = a.dir / f"big-{a.tasks}-{a.sessions}.db"
    t = time.perf_counter()
    build(db, a.tasks, a.sessions)
    print(f"database: {a.tasks:,} tasks ({db.stat().st_size / 1e6:.0f} MB; built/reused in "
          f"{time.perf_counter() - t:.1f}s)")
    exe = str(Path(sys.executable).with_name("nexus-insights"))
    sample = SAMPLE / "subscriber.json"
    if not sample.is_file():
        sample = Path(tempfile.mkdtemp()) / "subscriber.json"
        sample.write_text('{"session_id":"s","model":{"display_name":"Opus"},"cost":{"total_cost_usd":1.5},'
                          '"context_window":{"used_percentage":40},"rate_limits":{"five_hour":{"used_percentage":'
                          f'42,"resets_at":{int(time.time()) + 3600}}}}}}}')
    home = Path(tempfile.mkdtemp(prefix="nexus-bench-sl-"))
    (home / "insights.toml").write_text("[budget]\ndaily_usd = 20\n")
    line = [exe, "--home", str(home), "--db", f"sqlite:///{db}", "statusline"]
    out = subprocess.run(line, stdin=open(sample, "rb"), capture_output=True, env={"NO_COLOR": "1", "PATH": ""})
    print("line:", out.stdout.decode().strip())
    floor, fed, stored, locked = [], [], [], []
    for _ in range(3):  # warm the page cache and the bytecode caches
        _time([sys.executable, "-c", "pass"], None), _time(line, sample)
    lock = sqlite3.connect(db, timeout=0)
    for i in range(a.runs):
        floor.append(_time([sys.executable, "-c", "pass"], None))
        fed.append(_time(line, sample))
        stored.append(_time(line, None))
        if i % 4 == 0:  # now and then with a writer holding the database
            lock.execute("BEGIN EXCLUSIVE")
            locked.append(_time(line, sample))
            lock.rollback()
    lock.close()
    med = statistics.median
    base = med(floor)
    print(f"python -c pass            median {base:6.1f} ms")
    for name, xs in (("statusline (input)", fed), ("statusline (stored)", stored), ("statusline (locked db)", locked)):
        d = med(xs) - base
        print(f"{name:<25} median {med(xs):6.1f} ms · +{d:5.1f} ms over the floor · ratio {med(xs) / base:4.2f}x · "
              f"{'meets' if d <= 40 else 'MISSES'} the 40 ms target")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
