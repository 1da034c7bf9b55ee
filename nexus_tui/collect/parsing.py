"""The parse side of a pass: which files changed since their cursors, and reading and parsing them, in worker
processes when there is a lot to read.

Nothing here imports SQLAlchemy. ``nexus-insights ingest`` calls ``start`` before it opens the store: the cursors
are read with the standard ``sqlite3`` module (``store.engine.quick_select``) and the parser workers are forked from
this light process, so they parse while the main process imports SQLAlchemy, SQLModel and the schema (most of the
command's start-up) and migrates the database. Workers forked before the writer was imported hand back the parsed
``Batch`` (pickled compactly) and the writer's process lays it out (``writer.prepare``); workers forked from a
process that has the writer (the dashboard, the daemon) lay the rows out themselves.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from nexus_tui.core.report import plural
from nexus_tui.collect import tail
from nexus_tui.collect.sources import FileSource
from nexus_tui.core.events import Batch, ErrorRec
from nexus_tui.core.fmt import ellipsis
from nexus_tui.core.redact import key_of

if TYPE_CHECKING:
    from concurrent.futures import Executor, ProcessPoolExecutor  # (a pool only when there is a lot to read)

PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this a pass parses in-process
# Work handed to the workers and not yet written (bounded memory): bytes of the files and how many. Enough for the
# workers to keep parsing through the main process's start-up.
AHEAD_BYTES = 128 * 1024 * 1024
AHEAD_FILES = 256

# the cursors' and rollup marks' tables exist, the database's schema version, and whether a rollup mark is queued
_IDLE_SQL = ("SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('ingest_cursors', "
             "'rollup_dirty')), (SELECT max(version) FROM schema_version), "
             "(SELECT count(*) FROM (SELECT 1 FROM rollup_dirty LIMIT 1))")
# the cursors without their parser state (most of their bytes: a few KB per file), which only the files to read need
_CURSOR_SQL = ('SELECT path, "offset", dev, inode, size, mtime_ns, head_hash, NULL, lines, skipped '
               'FROM ingest_cursors WHERE source = ?')
_STATE_SQL = "SELECT path, state FROM ingest_cursors WHERE source = ? AND path IN ({})"
_STATE_BATCH = 500  # paths per query (SQLite's bound parameters: 999 in old versions)


@dataclass
class FileResult:
    path: str
    stat: tail.FileStat
    offset: int
    head_hash: str
    state: str | None
    prepared: object  # writer.Prepared, or the parsed Batch when the writer is not loaded in the worker
    lines: int
    skipped: dict
    bytes_read: int
    restarted: bool
    error: str | None = None
    incomplete: bool = False  # the file ends with a line without a newline (counted, read again when it changes)
    prices: dict | None = None  # price coefficients a worker derived (core/pricing.py), for the saved cache


def _trim(text: str, n: int = 500) -> str:
    """An error row's message at most ``n`` characters, as every parser trims error text (docs/security.md)."""
    return ellipsis(text, n)


def read_file(source: FileSource, path: str, cur: tail.SavedCursor | None,
              prepare_rows: bool = True) -> FileResult | None:
    """Read and parse what was appended to ``path`` since ``cur``; None when nothing changed (or it is no longer a
    regular file).

    With ``prepare_rows`` the batch is folded and laid out here (``writer.prepare``), so the writer only executes;
    without, ``FileResult.prepared`` is the Batch itself."""
    st = tail.stat_file(path)
    if st is None or tail.unchanged(st, cur):
        return None
    incomplete = False
    try:
        opened = tail.open_regular(path)
        if opened is None:
            return None
        f, st = opened  # the stat of what was opened (before reading: a later write changes its mtime)
        with f:
            offset, restarted = tail.start_offset(f, st, cur)
            state = source.new_state()
            if not restarted and cur is not None and cur.state:
                try:
                    loaded = orjson.loads(cur.state)
                    if isinstance(loaded, dict):
                        state = loaded
                except orjson.JSONDecodeError:
                    pass
            batch = Batch()
            start = offset
            while True:
                chunk, step = tail.read_chunk(f, offset)
                if step > 0:  # a line too long to parse: stepped over, counted once
                    batch.lines += 1
                    batch.skip(tail.OVERLONG_REASON)
                    offset += step
                    continue
                if not chunk:
                    incomplete = step == tail.PENDING
                    break
                batch.extend(source.parse(chunk, offset, path, state))
                offset += len(chunk)
            examined = max(f.tell(), offset)
            head = tail.identity(f, examined, offset)
    except OSError as e:
        return FileResult(path, st, cur.offset if cur else 0, cur.head_hash if cur else "", None, Batch(), 0, {},
                          0, False, error=f"cannot read {path}: {e.strerror or e}")
    nskip = sum(batch.skipped.values())
    if nskip:  # the audit trail says where lines were skipped and why
        from nexus_tui.core.redact import redact_key  # (the id holds the path: Claude Code names folders by the cwd)

        batch.errors.append(ErrorRec(
            id=redact_key(f"ingest:{path}:{offset}"), ts_ms=int(time.time() * 1000), component="ingest", kind="skipped_lines",
            message=_trim(f"{plural(nskip, 'line')} skipped in {path}: "
                          + ", ".join(f"{k}: {v}" for k, v in sorted(batch.skipped.items()))),
            context=orjson.dumps({"path": path, "reasons": batch.skipped}).decode()))
    if prepare_rows:
        from nexus_tui.store.rows import prepare

        prepared: object = prepare(batch)
    else:  # folded here all the same: fewer records to hand over, and the same rows (prepare folds to this)
        from nexus_tui.core.merge import fold_batch

        prepared = fold_batch(batch)
    # remember how far the file was examined and its mtime from before reading: an unchanged file is not even
    # opened next time (a last line without a newline is not read again until the file changes)
    st_rec = tail.FileStat(path, st.dev, st.inode, examined, st.mtime_ns)
    if state:  # stored in the cursor: no secret from the data in it either (a tool's name, a model)
        from nexus_tui.core.redact import redact_state

        state = redact_state(state)
    return FileResult(path, st_rec, offset, head, orjson.dumps(state).decode() if state else None, prepared,
                      batch.lines, dict(batch.skipped), offset - start, restarted, incomplete=incomplete)


def _read_job(args):
    from nexus_tui.core import pricing

    source, path, cur, prepare_rows = args
    fr = read_file(source, path, cur, prepare_rows)
    if fr is not None:
        fr.prices = pricing.take_new() or None
    return fr


@dataclass
class Plan:
    """The files of one source that changed since their cursors, with the bytes each has to read."""

    source: FileSource
    cursors: dict[str, tail.SavedCursor]
    todo: list[tuple[str, tail.SavedCursor | None, int]] = field(default_factory=list)
    files_seen: int = 0
    passed_over: dict[str, int] = field(default_factory=dict)  # *.jsonl entries not read: reason -> count
    keys: dict[str, str] = field(default_factory=dict)  # path -> its cursor's key, where the path holds a secret

    @property
    def bytes(self) -> int:
        return sum(n for _p, _c, n in self.todo)

    @property
    def big(self) -> bool:
        """Worth parsing in worker processes."""
        return len(self.todo) > 1 and self.bytes >= PARALLEL_MIN_BYTES


def plan(source: FileSource, cursors: dict[str, tail.SavedCursor]) -> Plan:
    p = Plan(source, cursors)
    for path in source.files(p.passed_over):
        p.files_seen += 1
        cur = cursors.get(path)
        if cur is None:  # a path holding a secret has its cursor stored by its redacted form (core.redact.key_of)
            key = key_of(path)
            if key != path and key in cursors:
                cur = cursors[path] = cursors[key]
                p.keys[path] = key
        st = tail.stat_file(path)
        if st is None or tail.unchanged(st, cur):
            continue
        p.todo.append((path, cur, st.size - (cur.offset if cur and cur.offset <= st.size else 0)))
    return p


def writer_loaded() -> bool:
    """Whether workers forked now inherit the writer (then they lay the rows out themselves)."""
    return "nexus_tui.store.writer" in sys.modules


def in_process(p: Plan) -> Iterator[FileResult | None]:
    for path, cur, _n in p.todo:
        yield read_file(p.source, path, cur)


class ReadAhead:
    """A plan's results from a pool of workers, biggest files first and in that order (the same rows whichever
    worker finishes first), with at most AHEAD_BYTES / AHEAD_FILES handed out and not yet taken: bounded memory,
    whatever the consumer's pace, and enough for the workers to keep parsing while the consumer starts up."""

    def __init__(self, pool: Executor, p: Plan, prepare_rows: bool, max_bytes: int = AHEAD_BYTES,
                 max_files: int = AHEAD_FILES):
        self._pool = pool
        self._source = p.source
        self._prepare = prepare_rows
        self._jobs = sorted(p.todo, key=lambda job: -job[2])
        self._next = 0
        self._out: deque = deque()  # (future, job) handed out and not yet taken, in order
        self._out_bytes = 0
        self._max_bytes, self._max_files = max_bytes, max_files
        self._top_up()

    def _top_up(self) -> None:
        jobs = self._jobs
        while self._next < len(jobs) and (not self._out or (len(self._out) < self._max_files
                                                            and self._out_bytes < self._max_bytes)):
            job = jobs[self._next]
            self._next += 1
            self._out.append((self._submit(job), job))
            self._out_bytes += job[2]

    def _submit(self, job):
        path, cur, _n = job
        return self._pool.submit(_read_job, (self._source, path, cur, self._prepare))

    @property
    def prepares(self) -> bool:
        return self._prepare

    def hand_over(self, pool: Executor, prepare_rows: bool) -> None:
        """Send the jobs no worker has started yet to ``pool`` (forked after the writer was loaded, so its workers
        lay the rows out themselves), in the same order; the jobs already started finish where they are."""
        kept: deque = deque()
        moved = []
        for fut, job in self._out:
            (moved.append(job) if fut.cancel() else kept.append((fut, job)))
        self._pool, self._prepare = pool, prepare_rows
        kept.extend((self._submit(job), job) for job in moved)
        self._out = kept

    def waiting(self) -> bool:
        """Whether taking the next result would wait for a worker."""
        return bool(self._out) and not self._out[0][0].done()

    def __iter__(self) -> Iterator[FileResult | None]:
        while self._out:
            fut, job = self._out.popleft()
            self._out_bytes -= job[2]
            self._top_up()
            yield fut.result()


# Parser workers run a little below the process that writes: every row goes through the single writer, so it
# should never wait for a core while a worker parses ahead (and a dashboard's workers leave its UI responsive).
WORKER_NICE = 4


def _lower_priority() -> None:
    try:
        os.nice(WORKER_NICE)
    except (AttributeError, OSError):
        pass


PARENT_POLL_S = 0.5
_pools: list = []  # pools made by new_pool, for kill_workers (weak references)


def _die_with_parent() -> None:
    """Linux: the kernel sends this worker SIGKILL when the thread that forked it ends (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:  # re-parented: the process that made us is gone
            os._exit(1)
        time.sleep(PARENT_POLL_S)


def _worker_init(parent: int, pdeathsig: bool) -> None:
    """Each parser worker dies with its parent (killed, even by SIGKILL): PR_SET_PDEATHSIG where it applies, and a
    thread that watches the parent's pid everywhere (the fallback: other systems, or a pool made by a thread that
    may end before the process)."""
    if pdeathsig:
        _die_with_parent()
    import threading

    threading.Thread(target=_watch_parent, args=(parent,), name="nexus-parent-watch", daemon=True).start()
    if WORKER_NICE:
        _lower_priority()


def new_pool(workers: int) -> ProcessPoolExecutor:
    import threading
    import weakref
    from concurrent.futures import ProcessPoolExecutor  # (imports multiprocessing: only when there is a pool)

    # PR_SET_PDEATHSIG fires when the forking *thread* ends: only trusted for the main thread (whose end is the
    # process's); a pool made by another thread relies on the parent watch alone
    main = threading.current_thread() is threading.main_thread()
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(os.getpid(), main))
    _pools[:] = [r for r in _pools if r() is not None] + [weakref.ref(pool)]
    return pool


def kill_workers() -> None:
    """Kill every parser worker of this process now (a SIGTERM handler calls this before the process exits)."""
    for ref in list(_pools):
        pool = ref()
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            try:
                proc.kill()
            except (OSError, AttributeError, ValueError):
                pass


def default_workers() -> int:
    return min(2, os.cpu_count() or 1)


class Ahead:
    """A pass started before the store is open (``start``): each source's plan, and the big ones already parsing."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.plans: dict[str, Plan] = {}
        self.results: dict[str, Iterable] = {}
        self.pool: ProcessPoolExecutor | None = None

    def take(self, source: FileSource) -> tuple[Plan, Iterable | None] | None:
        """The plan of ``source`` and its results if they are already being parsed; None when it was not planned
        (the collector then reads its cursors through the engine)."""
        p = self.plans.pop(source.name, None)
        if p is None or p.source is not source:
            return None
        return p, self.results.pop(source.name, None)

    def nothing_to_read(self, db_url: str, sources: list[FileSource]) -> bool:
        """Whether this pass can end without opening the store (no SQLAlchemy, no schema classes: most of a re-run's
        time): every source was planned and no file changed since its cursor, in a SQLite database that exists at
        the current schema version with no rollup bucket left to sum. Any doubt (another database, a failed read, an
        older schema, a missing table) says False, and the pass goes through the store as always."""
        if self.pool is not None or any(p.todo for p in self.plans.values()):
            return False
        if any(self.plans.get(s.name) is None or self.plans[s.name].source is not s for s in sources):
            return False
        from nexus_tui.store.engine import quick_select
        from nexus_tui.store.version import SCHEMA_VERSION

        rows = quick_select(db_url, _IDLE_SQL)
        return rows == [(2, SCHEMA_VERSION, 0)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


def start(db_url: str, sources: list[FileSource], workers: int | None = None, machine: str | None = None) -> Ahead:
    """Plan a pass over ``sources`` without SQLAlchemy and start parsing the big ones in worker processes.

    Only for a plain SQLite file (the cursors are read with the standard library); for any other database, or when
    that read fails, nothing is planned and the collector does the whole pass after the store is open."""
    workers = default_workers() if workers is None else workers
    ahead = Ahead()
    for source in sources:
        rows = _cursor_rows(db_url, source.name, machine)
        if rows is None:
            break
        p = plan(source, {r[0]: tail.saved_cursor(r[2:]) for r in rows})
        if not _load_states(db_url, source.name, p, {r[0]: r[1] for r in rows}):
            break  # the collector plans this source itself, after the store is open
        ahead.plans[source.name] = p
    big = [p for p in ahead.plans.values() if p.big] if workers >= 1 else []
    if big:
        for p in big:
            p.source.warm()  # the workers inherit the parsers and the price tables (loaded once, not per worker)
        gc.freeze()  # what is loaded so far stays: the workers' collections never walk (and copy) those pages
        ahead.pool = new_pool(workers)
        for p in big:
            ahead.results[p.source.name] = ReadAhead(ahead.pool, p, prepare_rows=writer_loaded())
    return ahead


def _cursor_rows(db_url: str, source_name: str, machine: str | None = None) -> list[tuple] | None:
    """The saved cursors of ``machine``: (path as on this machine (docs/teams.md), path as stored, the cursor's
    columns with None for its state)."""
    from nexus_tui.store.engine import quick_select

    if machine is None:
        rows = quick_select(db_url, _CURSOR_SQL, (source_name,))
        return None if rows is None else [(r[0], *r) for r in rows]
    rows = quick_select(db_url, _CURSOR_SQL + " AND machine = ?", (source_name, machine))
    if not rows:
        return rows  # None: the read failed (or a database before machines): the collector plans the pass itself
    mine = f"{machine}/"
    return [(r[0][len(mine):] if r[0].startswith(mine) else r[0], *r) for r in rows]


def _load_states(db_url: str, source_name: str, p: Plan, stored: dict[str, str]) -> bool:
    """Give the files to read their saved parser state (read for these files only); False when that read fails."""
    from dataclasses import replace

    from nexus_tui.store.engine import quick_select

    stored = {**stored, **{path: stored[key] for path, key in p.keys.items() if key in stored}}
    wanted = [stored[path] for path, cur, _n in p.todo if cur is not None and path in stored]
    states: dict[str, object] = {}
    for i in range(0, len(wanted), _STATE_BATCH):
        part = wanted[i:i + _STATE_BATCH]
        rows = quick_select(db_url, _STATE_SQL.format(",".join("?" * len(part))), (source_name, *part))
        if rows is None:
            return False
        states.update(rows)
    todo = []
    for path, cur, n in p.todo:
        if cur is not None and path in stored:
            state = states.get(stored[path])
            if state is None or isinstance(state, str):
                cur = replace(cur, state=state)
            else:  # a state of the wrong type (a damaged row): the file is read again, as tail.saved_cursor does
                cur = p.cursors[path] = tail.SavedCursor()
        todo.append((path, cur, n))
    p.todo = todo
    return True
