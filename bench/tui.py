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
- idle CPU: after the keys, IDLE_AFTER_S without a key, then the process's CPU time over IDLE_S as a share of one
  CPU (its collector thread's passes included);
- the same keys while a writer appends Claude Code transcript lines at ``--rate`` tasks per second to a file the
  app's collector watches (the app ingests them itself, through its collector thread and single writer).

The baselines, measured in the same run: the same app on an empty database, and Textual's floor, a minimal
two-screen Textual app (a 200-row DataTable each) switched back and forth, once with Textual's ``switch_mode`` as it
ships and once switched the way the app switches (``NexusApp.switch_mode``).

How the time is read: one thread (no reader thread sharing the GIL with a matcher) reads the terminal the moment
``select`` reports output, stamps each chunk as it arrives and strips its escape sequences once, so a marker is
found in the new output only and the app is never held up by a full terminal buffer; the load's writer runs in a
process of its own. A response is the arrival of the chunk that completes the marker.
"""

from __future__ import annotations

import argparse
import bisect
import fcntl
import json
import os
import random
import multiprocessing
import re
import select
import sqlite3
import statistics
import struct
import subprocess
import sys
import termios
import time
import uuid
from pathlib import Path

ROWS, COLS = 48, 160
IDLE_AFTER_S = 6.0  # longer than the app's GC_THAW_IDLE_SECONDS: the idle branch of its garbage collection is on
IDLE_S = 10.0
ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b.")

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

# The same floor with the screen switch the app does (NexusApp.switch_mode): a screen seen before is shown as it is,
# without Textual's 50 ms output hold (delay_update) and without re-applying the CSS to all of it (which makes a
# DataTable drop its caches and re-render every visible cell).
FLOOR_APP_KEPT = FLOOR_APP.replace("class Floor(App):\n", '''class Floor(App):
    def switch_mode(self, mode):
        from textual import events
        from textual.widget import AwaitMount

        if mode == self.current_mode or not self._screen_stacks.get(mode):
            return super().switch_mode(mode)
        self.screen.post_message(events.ScreenSuspend())
        self._current_mode = mode
        if self.screen._css_update_count != self._css_update_count:
            self.refresh_css()
        self.mode_change_signal.publish(mode)
        self.screen_change_signal.publish(self.screen)
        self.screen._screen_resized(self.size)
        self.screen.post_message(events.ScreenResume(refresh_styles=False))
        return AwaitMount(self.screen, [])

''')


def run_floor(work: Path, rounds: int = 10, source: str = FLOOR_APP) -> dict:
    """Textual's own cost of switching between two screens (a table of 200 rows each) on this machine."""
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
    term = Terminal([sys.executable, "-c", source], env, work / "floor-trace.txt")
    try:
        if term.wait_text("FLOOR-A", term.t_start, 60) is None:
            raise SystemExit("the floor app did not start")
        first = [term.wait_text("FLOOR-A", term.t_start, 1) or 0.0]
        resp = []
        for i in range(rounds):
            for key, marker in ((b"2", "FLOOR-B"), (b"1", "FLOOR-A")):
                term.pump(0.3)
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
        store = open_store(f"sqlite:///{db}")  # migrate it to the current schema (builds rollups if it has none)
        from nexus_tui.store import rollup
        from nexus_tui.store.engine import write_tx

        with write_tx(store.engine) as conn:  # drop what earlier load runs ingested: back to the generated rows
            task_keys = {(s, rollup.bucket(t)) for s, t in conn.exec_driver_sql(
                "SELECT session_id, ts_ms FROM tasks WHERE session_id NOT LIKE 'bench-%' AND ts_ms IS NOT NULL")}
            tool_keys = {(s, rollup.bucket(t)) for s, t in conn.exec_driver_sql(
                "SELECT session_id, started_ms FROM tool_calls WHERE session_id NOT LIKE 'bench-%'")}
            for table in ("tool_calls", "tasks", "errors", "sessions"):
                conn.exec_driver_sql(f"DELETE FROM {table} WHERE session_id NOT LIKE 'bench-%'" if table != "sessions"
                                     else "DELETE FROM sessions WHERE id NOT LIKE 'bench-%'")
            conn.exec_driver_sql("DELETE FROM ingest_cursors")
            rollup.recompute(conn, task_keys, tool_keys)  # the deleted rows' buckets: their rollup rows go too
        store.close()
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
    """The app in a pseudo-terminal: keys in, screen updates out, each chunk timestamped as it is read.

    One thread does everything (no reader thread competing for the GIL with the matcher): every wait reads the
    terminal as soon as ``select`` says output is there, stamps the chunk, strips its escape sequences once (a
    sequence cut at the end of a chunk waits for the rest) and appends the text, so finding a marker costs the
    size of the new output only. The app's output is always drained at once, so it is never slowed down by a full
    terminal buffer, and between keys (``pump``) too.
    """

    def __init__(self, args: list[str], env: dict, trace: Path):
        self.trace = trace
        self._trace_pos = 0
        self.trace_events: list[tuple[float, str]] = []
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.t_start = time.time()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.closed = False
        self.raw = bytearray()  # everything the app wrote (for error messages)
        self.text = bytearray()  # the same without escape sequences
        self.marks: list[tuple[float, int]] = []  # (arrival time, len(self.text) after that chunk)
        self._held = b""  # an escape sequence cut at the end of the last chunk

    # ------------------------------------------------------------ reading
    def _read_once(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for output; read and stamp one chunk. False when nothing came."""
        if self.closed:
            time.sleep(max(0.0, timeout))
            return False
        r, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            data = os.read(self.master, 1 << 20)
        except OSError:  # the app exited
            data = b""
        ts = time.time()
        if not data:
            self.closed = True
            return False
        self.raw += data
        buf = self._held + data
        cut = _incomplete_escape(buf)
        buf, self._held = buf[:cut], buf[cut:]
        self.text += ANSI.sub(b"", buf)
        self.marks.append((ts, len(self.text)))
        return True

    def pump(self, seconds: float) -> None:
        """Keep reading (and stamping) output for ``seconds``."""
        end = time.time() + seconds
        while (left := end - time.time()) > 0:
            self._read_once(left)

    def _offset_at(self, since: float) -> int:
        """Offset in ``text`` of the first output that arrived at or after ``since``."""
        i = bisect.bisect_left(self.marks, (since, -1))
        return self.marks[i - 1][1] if i else 0

    def text_since(self, since: float) -> str:
        return bytes(self.text[self._offset_at(since):]).decode("utf-8", "replace")

    def wait_text(self, marker: str, since: float, timeout: float) -> float | None:
        """Seconds from ``since`` to the arrival of the chunk that completed ``marker`` in the output after
        ``since`` (escape sequences removed); None after ``timeout``."""
        mk = marker.encode()
        start = self._offset_at(since)
        end = time.time() + timeout
        searched = start
        while True:
            pos = self.text.find(mk, max(start, searched - len(mk) + 1))
            if pos >= 0:
                done = pos + len(mk)
                ts = next(ts for ts, n in self.marks if n >= done)
                return max(0.0, ts - since)
            searched = len(self.text)
            if (left := end - time.time()) <= 0 or self.closed:
                return None
            self._read_once(left)

    def _read_trace(self) -> None:
        try:
            with open(self.trace, "rb") as f:
                f.seek(self._trace_pos)
                data = f.read()
        except OSError:
            return
        done = data.rfind(b"\n") + 1  # complete lines only
        self._trace_pos += done
        for line in data[:done].decode().splitlines():
            ts, name = line.split(" ", 1)
            self.trace_events.append((float(ts), name))

    def wait_trace(self, event: str, since: float, timeout: float) -> float | None:
        """Seconds from ``since`` to the app's trace line ``event`` (written by the app with its own clock);
        the terminal is read meanwhile."""
        end = time.time() + timeout
        while True:
            self._read_trace()
            hit = next((ts for ts, name in self.trace_events if ts >= since and name == event), None)
            if hit is not None:
                return hit - since
            if (left := end - time.time()) <= 0:
                return None
            self._read_once(min(left, 0.005))

    def settle(self, quiet: float = 0.3, limit: float = 8.0) -> None:
        """Read until the app has painted no fresh data (trace) for ``quiet`` seconds, at most ``limit``: a reload
        a key started (a screen shown again reloads when it was stale) must not be charged to the next key."""
        end = time.time() + limit
        while time.time() < end:
            self._read_trace()
            last = self.trace_events[-1][0] if self.trace_events else 0.0
            if time.time() - last >= quiet:
                return
            self.pump(0.05)

    # ------------------------------------------------------------ writing
    def send(self, key: bytes) -> float:
        self.pump(0)  # what came before the key is stamped before it
        t = time.time()
        os.write(self.master, key)
        return t

    def cpu_s(self) -> float:
        """The app's CPU time so far (user + system, all its threads)."""
        f = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        try:
            os.write(self.master, b"q")
            end = time.time() + 10
            while self.proc.poll() is None and time.time() < end:
                self._read_once(0.05)  # drain, or the app blocks writing its last frame
            if self.proc.poll() is None:
                raise subprocess.TimeoutExpired(self.proc.args, 10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def _incomplete_escape(buf: bytes) -> int:
    """Where an escape sequence cut off at the end of ``buf`` starts (``len(buf)`` when none is)."""
    i = buf.rfind(b"\x1b")
    if i < 0:
        return len(buf)
    rest = buf[i + 1:]
    if not rest:
        return i
    kind = rest[:1]
    if kind == b"[":
        j = 1
        while j < len(rest) and 0x20 <= rest[j] <= 0x3F:  # parameters and intermediates
            j += 1
        return i if j == len(rest) else len(buf)  # no final byte yet
    if kind == b"]":
        return len(buf) if (b"\x07" in rest) else i  # ESC \ would be the last ESC, handled below
    if kind in (b"P", b"X", b"^", b"_"):
        return i  # ended by ESC \, which would be the last ESC
    return len(buf)


class TranscriptWriter:
    """Appends Claude Code assistant lines (one task each) at ``rate`` tasks per second, in tenth-second batches.

    It runs in a process of its own: as a thread it would share the benchmark's GIL with the terminal reader and
    delay the stamping of the app's output.
    """

    def __init__(self, path: Path, rate: int):
        self.path, self.rate = path, rate
        self.sid = str(uuid.uuid4())
        ctx = multiprocessing.get_context("fork")  # the benchmark has no other thread to fork with
        self.stop_evt = ctx.Event()
        self._written = ctx.Value("q", 0)
        self._proc = ctx.Process(target=self.run, daemon=True)

    @property
    def written(self) -> int:
        return self._written.value

    def start(self) -> None:
        self._proc.start()

    def join(self) -> None:
        self._proc.join()

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
        written = 0
        with open(self.path, "ab") as f:
            while not self.stop_evt.is_set():
                f.write(b"".join(self.line(written + k) for k in range(per_tick)))
                f.flush()
                written += per_tick
                self._written.value = written
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
        # "20,000 sessions · rows 1–200 · …"; an empty database shows "0 sessions · sort: …" (no rows part)
        painted = term.wait_text("sessions · ", term.t_start, 60)
        if first is None or painted is None:
            raise SystemExit(f"the app did not show the Sessions screen:\n{term.text_since(0)[-3000:]}")
        out["first_paint_s"] = max(first, painted)
        writer = None
        if rate:
            writer = TranscriptWriter(claude / "projects" / "live" / "live.jsonl", rate)
            writer.start()
            term.pump(3)  # the collector has passed a few times: steady state
        for key, label, marker, screen in keys:
            term.pump(0.3)
            term.settle()  # what the last key started has finished painting: every key is measured on its own
            if term.proc.poll() is not None:
                raise SystemExit(f"the app exited ({term.proc.returncode}):\n{term.text_since(0)[-4000:]}")
            t = term.send(key)
            resp = term.wait_text(marker, t, 60)
            data = term.wait_trace(f"shown {screen}", t, 60) if screen else None
            out["keys"].append({"i": KEYS.index((key, label, marker, screen)), "key": label, "sent": t,
                                "response_ms": None if resp is None else resp * 1000,
                                "data_ms": None if data is None else data * 1000})
        if writer is not None:
            writer.stop_evt.set()
            writer.join()
            term.pump(2.5)
            out["written"] = writer.written
            with sqlite3.connect(db) as con:
                out["ingested"] = con.execute("SELECT COUNT(*) FROM tasks WHERE session_id=?",
                                              (writer.sid,)).fetchone()[0]
        # sitting idle: no key for IDLE_AFTER_S (the idle garbage collection's long-pause branch is on), then the
        # process's CPU over IDLE_S, as a share of one CPU (the collector thread's passes included)
        term.pump(IDLE_AFTER_S)
        c0 = term.cpu_s()
        term.pump(IDLE_S)
        out["idle_cpu_pct"] = (term.cpu_s() - c0) / IDLE_S * 100
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
    kept = run_floor(work, source=FLOOR_APP_KEPT)
    print(f"the same, screens switched the app's way (no 50 ms hold, no CSS re-applied): switch median "
          f"{_med(kept['switch_ms']):.0f} ms (p95 {_p95(kept['switch_ms']):.0f})")
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
              f"idle CPU {r['idle_cpu_pct']:.1f}% of one CPU · peak memory {r['peak_rss_mb']:.0f} MB{extra}")
    if a.json:
        a.json.write_text(json.dumps({"floor": floor, "floor_kept": kept, **runs}, indent=1))


def _fmt(x) -> str:
    return "timeout" if x is None else f"{x:.0f}"


if __name__ == "__main__":
    main()
