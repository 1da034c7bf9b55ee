"""Dashboard benchmark on a large database (default 1,000,000 tasks in 20,000 sessions), through the real app.

usage: python -m bench.tui [--tasks 1000000] [--sessions 20000] [--dir /tmp/nexus-bench-tui] [--rate 500]

The database is written directly with ``executemany`` (reused when it exists). Each run starts the real command,
``nexus-insights --db ... --home ...``, in a pseudo-terminal of 160x48, the way a user starts it, and watches what it
writes to the terminal:

- launch to first paint: from starting the process to the Sessions screen showing its numbers;
- key to response: from writing a key to the terminal to the new screen (its title, or the changed rows) reaching the
  terminal; key to data: to the screen reporting it painted fresh numbers (``NEXUS_INSIGHTS_TRACE``, written after
  the refresh that follows ``show()``);
- peak memory: the process's VmHWM;
- the same keys while a writer appends Claude Code transcript lines at ``--rate`` tasks per second to a file the
  app's collector watches (the app ingests them itself, through its collector thread and single writer).

The baseline, measured in the same run, is the same on an empty database.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import re
import sqlite3
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from pathlib import Path

ROWS, COLS = 48, 160
ANSI = re.compile(rb"\x1b\[[0-9;?<=>$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b.")

# (key bytes, label, text that shows the response, screen class that reports fresh data or None)
KEYS = [
    (b"2", "2 Timeline", "Timeline", "TimelineScreen"),
    (b"3", "3 Costs", "Costs", "CostsScreen"),
    (b"4", "4 Efficiency", "Efficiency", "EfficiencyScreen"),
    (b"5", "5 Tiers", "Tiers", "TiersScreen"),
    (b"6", "6 Tools", "Tools", "ToolsScreen"),
    (b"1", "1 Sessions (again)", "Sessions", None),
    (b"]", "] next page", "rows 201–400", "SessionsScreen"),
    (b"]", "] next page", "rows 401–600", "SessionsScreen"),
    (b"[", "[ previous page", "rows 201–400", "SessionsScreen"),
    (b"\r", "Enter: session", "Session ID", "SessionDetailScreen"),
    (b"\x1b", "Escape: back", "Sessions", None),
    (b"s", "s sort by cost", "sort: cost", "SessionsScreen"),
    (b"r", "r reverse", "sort: cost ↑", "SessionsScreen"),
    (b"2", "2 Timeline (again)", "Timeline", None),
    (b"1", "1 Sessions (third)", "Sessions", None),
]
EMPTY_KEYS = [k for k in KEYS if not k[2].startswith(("rows ", "Session ID", "Escape"))
              and not k[1].startswith("Escape")]  # an empty database has no pages and no session to open


FLOOR_APP = r'''
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static


class Table(Screen):
    NAME = "A"
    BINDINGS = [Binding(k, "noop", f"Key {k}") for k in "abcdefgh"]

    def compose(self):
        yield Header()
        yield Static(f"FLOOR-{self.NAME} screen")
        yield DataTable()
        yield Static("status")
        yield Footer()

    def on_mount(self):
        self.sub_title = f"FLOOR-{self.NAME}"
        t = self.query_one(DataTable)
        for c in range(12):
            t.add_column(f"col{c}")
        for r in range(200):
            t.add_row(*[f"cell {r}.{c}" for c in range(12)])


class Other(Table):
    NAME = "B"


class Floor(App):
    MODES = {"a": Table, "b": Other}
    DEFAULT_MODE = "a"
    BINDINGS = [Binding("1", "switch_mode('a')", "A"), Binding("2", "switch_mode('b')", "B"), Binding("q", "quit")]


Floor().run()
'''


def run_floor(work: Path, rounds: int = 10) -> dict:
    """Textual's own cost of switching between two screens (a table of 200 rows each) on this machine."""
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
    term = Terminal([sys.executable, "-c", FLOOR_APP], env, work / "floor-trace.txt")
    try:
        if term.wait_text("FLOOR-A", term.t_start, 60) is None:
            raise SystemExit("the floor app did not start")
        first = [term.wait_text("FLOOR-A", term.t_start, 1) or 0.0]
        resp = []
        for i in range(rounds):
            for key, marker in ((b"2", "FLOOR-B"), (b"1", "FLOOR-A")):
                time.sleep(0.3)
                t = term.send(key)
                r = term.wait_text(marker, t, 10)
                if i:  # the first round composes the screens
                    resp.append(None if r is None else r * 1000)
        return {"first_paint_s": first[0], "switch_ms": resp, "peak_rss_mb": term.peak_rss_mb()}
    finally:
        term.close()


def build(db: Path, n_tasks: int, n_sessions: int) -> None:
    """Write the large database directly (reused when it exists)."""
    from nexus_tui.store import open_store

    if db.exists():
        open_store(f"sqlite:///{db}").close()  # migrate it to the current schema
        with sqlite3.connect(db) as con:  # drop what earlier load runs ingested: back to the generated rows
            for table in ("tool_calls", "tasks", "errors", "sessions"):
                con.execute(f"DELETE FROM {table} WHERE session_id NOT LIKE 'bench-%'" if table != "sessions"
                            else "DELETE FROM sessions WHERE id NOT LIKE 'bench-%'")
            con.execute("DELETE FROM ingest_cursors")
        _rebuild_rollups(db)
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

    def iso(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"

    for s in range(n_sessions):
        s0 = start + s * (90 * 86_400_000 // n_sessions)
        sid = f"bench-{s:06d}"
        tasks, calls = [], []
        t = s0
        for i in range(per):
            t += rng.randint(2_000, 60_000)
            tin, tout, cr, cw = rng.randint(1, 900), rng.randint(10, 3000), rng.randint(0, 90_000), rng.randint(0, 5000)
            tid = f"req_b{s:06d}_{i:04d}"
            rating = rng.choice([None] * 18 + [0, 1])
            tasks.append((tid, sid, iso(t), t, "transcript", rng.choice(models), "cloud", tin, tout, cr, cw,
                          tin + tout + cr + cw, rng.randint(500, 40_000), rng.random() / 10, "ok", "claude-code",
                          rating))
            if i % 2 == 0:
                calls.append((f"tu_{tid}", sid, tid, rng.choice(tools), t + 10, t + 10 + rng.randint(5, 5000),
                              rng.randint(5, 5000), rng.random() > 0.05))
        con.execute("INSERT INTO sessions (id, start_time, end_time, start_ms, end_ms, cli_tool, project) "
                    "VALUES (?,?,?,?,?,?,?)", (sid, iso(s0), iso(t), s0, t, "claude-code", f"project-{s % 40}"))
        con.executemany("INSERT INTO tasks (id, session_id, timestamp, ts_ms, source, model, routing, tokens_in, "
                        "tokens_out, cache_read_tokens, cache_creation_tokens, total_tokens, latency_ms, cost_usd, "
                        "status, cli_tool, quality_rating) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", tasks)
        con.executemany("INSERT INTO tool_calls (id, session_id, task_id, tool_name, started_ms, ended_ms, latency_ms,"
                        " success) VALUES (?,?,?,?,?,?,?,?)", calls)
        if s % 1000 == 999:
            con.commit()
    con.commit()
    con.close()
    _rebuild_rollups(tmp)  # the rows were written behind the writer's back: build their rollups
    con = sqlite3.connect(tmp)
    con.execute("ANALYZE")
    con.close()
    os.replace(tmp, db)


def _rebuild_rollups(db: Path) -> None:
    from nexus_tui.store import open_store
    from nexus_tui.store.engine import write_tx
    from nexus_tui.store.rollup import rebuild

    store = open_store(f"sqlite:///{db}")
    with write_tx(store.engine) as conn:
        rebuild(conn)
    store.close()


class Terminal:
    """The app in a pseudo-terminal: keys in, screen updates out (kept with their arrival time)."""

    def __init__(self, args: list[str], env: dict, trace: Path):
        self.trace = trace
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.t_start = time.time()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.chunks.append((time.time(), data))

    def text_since(self, t: float) -> str:
        with self._lock:
            raw = b"".join(d for ts, d in self.chunks if ts >= t)
        return ANSI.sub(b"", raw).decode("utf-8", "replace")

    def wait_text(self, marker: str, since: float, timeout: float) -> float | None:
        """Seconds from ``since`` to the first output (after ``since``) that, with what came before, shows marker."""
        end = time.time() + timeout
        while time.time() < end:
            with self._lock:
                chunks = [(ts, d) for ts, d in self.chunks if ts >= since]
            acc = b""
            for ts, d in chunks:
                acc += d
                if marker in ANSI.sub(b"", acc).decode("utf-8", "replace"):
                    return ts - since
            time.sleep(0.002)
        return None

    def wait_trace(self, screen: str, since: float, timeout: float) -> float | None:
        end = time.time() + timeout
        while time.time() < end:
            try:
                for line in self.trace.read_text().splitlines():
                    ts, name = line.split(" ", 1)
                    if float(ts) >= since and name == screen:
                        return float(ts) - since
            except (OSError, ValueError):
                pass
            time.sleep(0.005)
        return None

    def send(self, key: bytes) -> float:
        t = time.time()
        os.write(self.master, key)
        return t

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        try:
            os.write(self.master, b"q")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


class TranscriptWriter(threading.Thread):
    """Appends Claude Code assistant lines (one task each) at ``rate`` tasks per second, in tenth-second batches."""

    def __init__(self, path: Path, rate: int):
        super().__init__(daemon=True)
        self.path, self.rate = path, rate
        self.stop_evt = threading.Event()
        self.written = 0
        self.sid = str(uuid.uuid4())

    def line(self, i: int) -> bytes:
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        return json.dumps({
            "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/src/live",
            "sessionId": self.sid, "version": "2.1.39", "gitBranch": "main", "type": "assistant",
            "uuid": str(uuid.uuid4()), "timestamp": ts, "requestId": f"req_{self.sid[:8]}_{i:09d}",
            "message": {"id": f"msg_{self.sid[:8]}_{i:09d}", "type": "message", "role": "assistant",
                        "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "ok"}],
                        "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 40,
                                                             "cache_read_input_tokens": 1000,
                                                             "cache_creation_input_tokens": 0}}}).encode() + b"\n"

    def run(self) -> None:
        per_tick = max(1, self.rate // 10)
        nxt = time.monotonic()
        with open(self.path, "ab") as f:
            while not self.stop_evt.is_set():
                f.write(b"".join(self.line(self.written + k) for k in range(per_tick)))
                f.flush()
                self.written += per_tick
                nxt += 0.1
                time.sleep(max(0.0, nxt - time.monotonic()))


def run_app(db: Path, work: Path, keys, rate: int = 0) -> dict:
    """One run of the real command in a terminal; returns its figures."""
    home = work / "home"
    claude = work / "claude"
    (claude / "projects" / "live").mkdir(parents=True, exist_ok=True)
    for f in (claude / "projects" / "live").glob("*.jsonl"):
        f.unlink()
    trace = work / "trace.txt"
    trace.unlink(missing_ok=True)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS),
           "HOME": str(work / "userhome"), "CLAUDE_CONFIG_DIR": str(claude), "NEXUS_INSIGHTS_TRACE": str(trace),
           "NEXUS_INSIGHTS_HOME": str(home)}
    env.pop("NEXUS_INSIGHTS_DB", None)
    term = Terminal([sys.executable, "-m", "nexus_tui.cli", "--db", f"sqlite:///{db}"], env, trace)
    out: dict = {"keys": []}
    try:
        first = term.wait_trace("shown SessionsScreen", term.t_start, 60)
        painted = term.wait_text("sessions · rows", term.t_start, 60)
        if first is None or painted is None:
            raise SystemExit(f"the app did not show the Sessions screen:\n{term.text_since(0)[-3000:]}")
        out["first_paint_s"] = max(first, painted)
        writer = None
        if rate:
            writer = TranscriptWriter(claude / "projects" / "live" / "live.jsonl", rate)
            writer.start()
            time.sleep(3)  # the collector has passed a few times: steady state
        for key, label, marker, screen in keys:
            time.sleep(0.3)
            if term.proc.poll() is not None:
                raise SystemExit(f"the app exited ({term.proc.returncode}):\n{term.text_since(0)[-4000:]}")
            t = term.send(key)
            resp = term.wait_text(marker, t, 60)
            data = term.wait_trace(f"shown {screen}", t, 60) if screen else None
            out["keys"].append({"i": KEYS.index((key, label, marker, screen)), "key": label,
                                "response_ms": None if resp is None else resp * 1000,
                                "data_ms": None if data is None else data * 1000})
        if writer is not None:
            writer.stop_evt.set()
            writer.join()
            time.sleep(2.5)
            out["written"] = writer.written
            with sqlite3.connect(db) as con:
                out["ingested"] = con.execute("SELECT COUNT(*) FROM tasks WHERE session_id=?",
                                              (writer.sid,)).fetchone()[0]
        out["peak_rss_mb"] = term.peak_rss_mb()
    finally:
        term.close()
    return out


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def _p95(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[max(0, -(-95 * len(xs) // 100) - 1)] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--rate", type=int, default=500, help="tasks per second appended during the load run")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/nexus-bench-tui"))
    ap.add_argument("--json", type=Path, help="also write the figures here")
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
    work = a.dir / "work"
    floor = run_floor(work)
    print(f"Textual floor (two screens with a 200-row table, switched back and forth): first paint "
          f"{floor['first_paint_s']:.2f} s, switch median {_med(floor['switch_ms']):.0f} ms "
          f"(p95 {_p95(floor['switch_ms']):.0f}), peak memory {floor['peak_rss_mb']:.0f} MB")
    runs = {"empty": run_app(empty, work, EMPTY_KEYS), "large": run_app(db, work, KEYS),
            "large+ingest": run_app(db, work, KEYS, rate=a.rate)}
    print(f"\n{'key':<22} " + " ".join(f"{name + ' resp/data ms':>26}" for name in runs))
    for i, (_k, label, _m, _s) in enumerate(KEYS):
        cells = []
        for r in runs.values():
            row = next((k for k in r["keys"] if k["i"] == i), None)
            cells.append("-".rjust(26) if row is None else
                         f"{_fmt(row['response_ms']):>12} / {_fmt(row['data_ms']):>11}")
        print(f"{label:<22} " + " ".join(cells))
    print()
    for name, r in runs.items():
        resp = [k["response_ms"] for k in r["keys"]]
        data = [k["data_ms"] for k in r["keys"] if k["data_ms"] is not None]
        extra = f" · ingested {r['ingested']:,} of {r['written']:,} tasks written" if "written" in r else ""
        print(f"{name:<13} first paint {r['first_paint_s']:.2f} s · key→response median {_med(resp):.0f} ms "
              f"(p95 {_p95(resp):.0f}) · key→data median {_med(data):.0f} ms (p95 {_p95(data):.0f}) · "
              f"peak memory {r['peak_rss_mb']:.0f} MB{extra}")
    if a.json:
        a.json.write_text(json.dumps({"floor": floor, **runs}, indent=1))


def _fmt(x) -> str:
    return "timeout" if x is None else f"{x:.0f}"


if __name__ == "__main__":
    main()
