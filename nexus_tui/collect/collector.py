"""The collector: one pass reads what every source appended and writes it through the single writer.

``run_once()`` is what tests, ``nexus-insights ingest``, the daemon and the TUI's worker thread call. It
imports no Textual; whoever runs it passes a ``notify`` callable to hear what changed.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field

import orjson
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from nexus_tui.core.events import Batch, ErrorRec, iso_from_ms
from nexus_tui.collect import tail
from nexus_tui.collect.sources import FileSource
from nexus_tui.store import Store
from nexus_tui.store.engine import describe_db_error
from nexus_tui.store.schema import IngestCursor
from nexus_tui.store.writer import CursorUpdate, Prepared, WriteResult, prepare

PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this a pass parses in-process
_WRITE_GROUP_RECORDS = 10_000


@dataclass
class FileResult:
    path: str
    stat: tail.FileStat
    offset: int
    head_hash: str
    state: str | None
    prepared: Prepared
    lines: int
    skipped: dict
    bytes_read: int
    restarted: bool
    error: str | None = None


@dataclass
class PassReport:
    """What one pass did, for the ingest command, the status bar and the daemon log."""

    files_seen: int = 0
    files_read: int = 0
    bytes_read: int = 0
    lines: int = 0
    restarted: int = 0
    written: WriteResult = field(default_factory=WriteResult)
    skipped: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    finished_ms: int = 0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def read_file(source: FileSource, path: str, cur: tail.SavedCursor | None) -> FileResult | None:
    """Read and parse what was appended to ``path`` since ``cur``; None when nothing changed."""
    st = tail.stat_file(path)
    if st is None or tail.unchanged(st, cur):
        return None
    try:
        with open(path, "rb") as f:
            offset, restarted, head = tail.start_offset(f, st, cur)
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
                chunk = tail.read_complete(f, offset)
                if not chunk:
                    break
                batch.extend(source.parse(chunk, offset, path, state))
                offset += len(chunk)
    except OSError as e:
        return FileResult(path, st, cur.offset if cur else 0, cur.head_hash if cur else "", None, Prepared(), 0, {},
                          0, False, error=f"cannot read {path}: {e.strerror or e}")
    nskip = sum(batch.skipped.values())
    if nskip:  # the audit trail says where lines were skipped and why
        batch.errors.append(ErrorRec(
            id=f"ingest:{path}:{offset}", ts_ms=int(time.time() * 1000), component="ingest", kind="skipped_lines",
            message=f"{nskip} line(s) skipped in {path}: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(batch.skipped.items())),
            context=orjson.dumps({"path": path, "reasons": batch.skipped}).decode()))
    prepared = prepare(batch)  # folded and laid out here, in the worker, so the writer only executes
    st_after = tail.stat_file(path) or st
    # remember the size we read up to, so an unchanged file is not even opened next time
    st_rec = tail.FileStat(path, st.dev, st.inode, offset if offset >= st_after.size else st_after.size,
                           st_after.mtime_ns)
    return FileResult(path, st_rec, offset, head, orjson.dumps(state).decode() if state else None, prepared,
                      batch.lines, dict(batch.skipped), offset - start, restarted)


def _unordered(pool: Executor, jobs: list):
    """Results in completion order, with at most a few jobs in flight per worker (bounded memory)."""
    from concurrent.futures import FIRST_COMPLETED, wait

    it = iter(jobs)
    pending = set()
    limit = 8 * (getattr(pool, "_max_workers", 2) or 2)
    for job in it:
        pending.add(pool.submit(_read_job, job))
        if len(pending) >= limit:
            break
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            yield fut.result()
            nxt = next(it, None)
            if nxt is not None:
                pending.add(pool.submit(_read_job, nxt))


def _read_job(args):
    source, path, cur = args
    return read_file(source, path, cur)


class Collector:
    """Reads every source incrementally into the store; safe to call ``run_once`` from one thread at a time."""

    def __init__(self, store: Store, sources: list[FileSource], notify: Callable[[PassReport], None] | None = None,
                 workers: int | None = None):
        self.store = store
        self.sources = sources
        self.notify = notify
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._pool: Executor | None = None
        self.last: PassReport | None = None
        self.totals = PassReport()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def write(self, batch) -> "WriteResult":
        """Write a batch from another producer (the OTLP receiver) through the collector's writer, between passes."""
        with self._lock:
            return self.store.writer.write(batch)

    def rate(self, task_id: str, rating: int | None) -> tuple[int | None, int]:
        """Rate a task through the collector's writer, between passes (one writer at a time)."""
        with self._lock:
            return self.store.writer.rate(task_id, rating)

    def _cursors(self, source: FileSource) -> dict[str, tail.SavedCursor]:
        t = IngestCursor.__table__
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(t.c.path, t.c.offset, t.c.dev, t.c.inode, t.c.size, t.c.mtime_ns,
                                       t.c.head_hash, t.c.state, t.c.lines, t.c.skipped)
                                .where(t.c.source == source.name)).fetchall()
        return {r[0]: tail.SavedCursor(*r[1:]) for r in rows}

    def run_once(self) -> PassReport:
        with self._lock:
            rep = self._run()
        self.last = rep
        self.totals.files_seen = rep.files_seen
        self.totals.files_read += rep.files_read
        self.totals.bytes_read += rep.bytes_read
        self.totals.written.add(rep.written)
        self.totals.skipped.update(rep.skipped)
        self.totals.problems = (self.totals.problems + rep.problems)[-50:]
        if self.notify is not None:
            self.notify(rep)
        return rep

    def _run(self) -> PassReport:
        t0 = time.perf_counter()
        rep = PassReport()
        for source in self.sources:
            try:
                cursors = self._cursors(source)
            except SQLAlchemyError as e:
                rep.problems.append(describe_db_error(e, self.store.url))
                break
            todo = []
            big = 0
            for path in source.files():
                rep.files_seen += 1
                cur = cursors.get(path)
                st = tail.stat_file(path)
                if st is None or tail.unchanged(st, cur):
                    continue
                todo.append((source, path, cur))
                big += st.size - (cur.offset if cur and cur.offset <= st.size else 0)
            if not todo:
                continue
            if self.workers > 1 and big >= PARALLEL_MIN_BYTES and len(todo) > 1:
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(max_workers=self.workers)
                # biggest files first, results as they finish: the writer works while the workers parse
                todo.sort(key=lambda job: -(tail.stat_file(job[1]) or tail.FileStat("", 0, 0, 0, 0)).size)
                results = self._pool.map(_read_job, todo, chunksize=1) if len(todo) < 64 else \
                    _unordered(self._pool, todo)
            else:
                results = map(_read_job, todo)
            if not self._write_results(source, results, cursors, rep):
                break
        rep.seconds = time.perf_counter() - t0
        rep.finished_ms = int(time.time() * 1000)
        return rep

    def _write_results(self, source: FileSource, results, cursors, rep: PassReport) -> bool:
        group = Prepared()
        group_cursors: list[CursorUpdate] = []
        now = iso_from_ms(int(time.time() * 1000))

        def flush() -> bool:
            nonlocal group, group_cursors
            if not group_cursors:
                return True
            try:
                rep.written.add(self.store.writer.write(group, group_cursors))
            except SQLAlchemyError as e:
                rep.problems.append(describe_db_error(e, self.store.url))
                return False
            group, group_cursors = Prepared(), []
            return True

        for fr in results:
            if fr is None:
                continue
            if fr.error:
                rep.problems.append(fr.error)
                rep.skipped["unreadable file"] += 1
                continue
            rep.files_read += 1
            rep.bytes_read += fr.bytes_read
            rep.lines += fr.lines
            rep.restarted += int(fr.restarted)
            rep.skipped.update(fr.skipped)
            prev = cursors.get(fr.path)
            nskip = sum(fr.skipped.values())
            base_lines = 0 if fr.restarted or prev is None else prev.lines
            base_skip = 0 if fr.restarted or prev is None else prev.skipped
            group.extend(fr.prepared)
            group_cursors.append(CursorUpdate(
                path=fr.path, source=source.name, dev=fr.stat.dev, inode=fr.stat.inode, size=fr.stat.size,
                mtime_ns=fr.stat.mtime_ns, offset=fr.offset, head_hash=fr.head_hash, state=fr.state,
                lines=base_lines + fr.lines, skipped=base_skip + nskip, last_seen=now))
            if group.size() >= _WRITE_GROUP_RECORDS:
                if not flush():
                    return False
        return flush()


class CollectorThread(threading.Thread):
    """Runs passes every ``interval`` seconds until stopped; the next pass starts only after the last ends."""

    def __init__(self, collector: Collector, interval: float = 2.0):
        super().__init__(name="nexus-collector", daemon=True)
        self.collector = collector
        self.interval = interval
        self._stop_evt = threading.Event()
        self._wake = threading.Event()

    def run(self) -> None:
        while not self._stop_evt.is_set():
            try:
                self.collector.run_once()
            except Exception as e:  # never let the thread die on data; the report carries the problem
                rep = PassReport(problems=[f"collector pass failed: {type(e).__name__}: {e}"])
                self.collector.last = rep
                if self.collector.notify is not None:
                    self.collector.notify(rep)
            self._wake.wait(self.interval)
            self._wake.clear()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop_evt.set()
        self._wake.set()
