"""The writer alone: a cold ingest's write messages recorded once, then replayed into new SQLite databases, timed by
the CPU of the thread that writes (steady on a shared machine, where wall times and the parse's are not).

usage: python -m bench.writer --tree DIR/claude [--repeat 3] [--keep FILE]

1. Record: one cold ``nexus-insights ingest`` of the tree, in this process (a temporary home), every message its
   writer thread applies (the batches' rows as the parser workers laid them out, their cursors, the rollups summed at
   the end) pickled to a file as it is applied.
2. Replay, ``--repeat`` times: a new database (``open_store``, a registered home machine, as the command's), each
   message applied through ``Writer.write`` / ``Writer.apply_rollups`` in order. Reported: the CPU of the writes and
   of the rollups (``time.thread_time``), the process's system time, the bytes written and read (``/proc/self/io``:
   the WAL, checkpoints, page reads), peak RSS, the database's size, and per statement the CPU per row of
   ``executemany`` (the best run's).
"""

from __future__ import annotations

import argparse
import collections
import os
import pickle
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def record(tree: Path, out: Path) -> int:
    """Run a cold ingest of ``tree``, pickling every message the writer thread applies to ``out``; their count."""
    from nexus_tui.store import write_queue

    home = Path(tempfile.mkdtemp(prefix="bench-writer-"))
    (home / ".claude").symlink_to(tree.resolve())
    env = {k: os.environ.get(k) for k in ("HOME", "NEXUS_INSIGHTS_HOME", "CLAUDE_CONFIG_DIR", "NEXUS_INSIGHTS_DB")}
    os.environ["HOME"] = str(home)
    for k in ("NEXUS_INSIGHTS_HOME", "CLAUDE_CONFIG_DIR", "NEXUS_INSIGHTS_DB"):
        os.environ.pop(k, None)
    orig = write_queue.WriteQueue._apply
    n = 0
    with open(out, "wb") as f:
        def apply(self, msg):
            nonlocal n
            pickle.dump((msg.kind, msg.args, msg.kwargs), f, protocol=5)
            n += 1
            return orig(self, msg)

        write_queue.WriteQueue._apply = apply
        try:
            from nexus_tui.config import load_settings
            from nexus_tui.ingest_cmd import run as ingest

            ingest(load_settings(None, None, (), ()))
        finally:
            write_queue.WriteQueue._apply = orig
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            shutil.rmtree(home, ignore_errors=True)
    return n


def _io() -> tuple[int, int]:
    try:
        d = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        return int(d["wchar"]), int(d["rchar"])
    except OSError:
        return 0, 0


def replay(messages: Path, workdir: Path) -> dict:
    """Apply the recorded messages to a new database; the figures of the run."""
    from nexus_tui.store import open_store
    from nexus_tui.store import writer as writer_mod

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    db = workdir / "insights.db"
    store = open_store(f"sqlite:///{db}", machine=("bench-writer", None))
    per = collections.defaultdict(lambda: [0.0, 0])
    orig = writer_mod._executemany_tuples

    def timed(conn, name, build, table, rows):
        c = time.thread_time()
        orig(conn, name, build, table, rows)
        acc = per[name]
        acc[0] += time.thread_time() - c
        acc[1] += len(rows)

    writer_mod._executemany_tuples = timed
    cpu = {"batch": 0.0, "rollups": 0.0}
    w0, r0 = _io()
    sys0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    try:
        with open(messages, "rb") as f:
            while True:
                try:
                    kind, args, kwargs = pickle.load(f)
                except EOFError:
                    break
                c = time.thread_time()
                if kind == "batch":
                    store.writer.write(*args, **kwargs)
                elif kind == "rollups":
                    store.writer.apply_rollups()
                elif kind == "rating":
                    store.writer.rate(*args)
                else:
                    store.writer.write(*args, defer_rollups=False)
                cpu[kind if kind in cpu else "batch"] += time.thread_time() - c
    finally:
        writer_mod._executemany_tuples = orig
        store.close()
    w1, r1 = _io()
    return {"writes": cpu["batch"], "rollups": cpu["rollups"],
            "sys": resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys0,
            "written_mb": (w1 - w0) / 1e6, "read_mb": (r1 - r0) / 1e6, "db_mb": db.stat().st_size / 1e6,
            "per_row_us": {k: (c / n * 1e6, n) for k, (c, n) in per.items() if n}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=Path, required=True, help="a generated tree (DIR/claude, from bench.gen)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="keep the recorded messages in this file (and reuse it if present)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-writer-"))
    messages = a.keep or work / "messages.pkl"
    try:
        if not messages.exists():
            t = time.perf_counter()
            n = record(a.tree, messages)
            mb = messages.stat().st_size / 1e6
            print(f"recorded {n} messages ({mb:.0f} MB) in {time.perf_counter() - t:.1f} s")
        runs = [replay(messages, work / "db") for _ in range(a.repeat)]
        for r in runs:
            total = r["writes"] + r["rollups"]
            print(f"writes {r['writes']:.2f} s CPU, rollups {r['rollups']:.2f} s, total {total:.2f} s; system"
                  f" {r['sys']:.2f} s; wrote {r['written_mb']:.0f} MB, read {r['read_mb']:.0f} MB;"
                  f" database {r['db_mb']:.0f} MB")
        best = min(runs, key=lambda r: r["writes"] + r["rollups"])
        print("executemany CPU per row (best run): " + ", ".join(
            f"{k} {us:.1f} us ({n:,} rows)" for k, (us, n) in sorted(best["per_row_us"].items(),
                                                                     key=lambda x: -x[1][0] * x[1][1])))
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
