"""The collector: one pass reads what every source appended and writes it through the single writer.

``run_once()`` is what tests, ``nexus-insights ingest``, the daemon and the TUI's worker thread call. It
imports no Textual; whoever runs it passes a ``notify`` callable to hear what changed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from nexus_tui.core.events import iso_from_ms
from nexus_tui.collect import tail
from nexus_tui.collect.parsing import (PARALLEL_MIN_BYTES, Ahead, FileResult, Plan, ReadAhead, default_workers,
                                       in_process, new_pool, plan, read_file, writer_loaded)
from nexus_tui.collect.sources import FileSource
from nexus_tui.store import Store
from nexus_tui.store.engine import describe_db_error
from nexus_tui.store.schema import IngestCursor
from nexus_tui.store.writer import CursorUpdate, Prepared, WriteResult, prepare

__all__ = ["Collector", "CollectorThread", "FileResult", "PassReport", "PARALLEL_MIN_BYTES", "read_file"]
_WRITE_GROUP_RECORDS = 10_000
_WRITE_EARLY_RECORDS = 2_000


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
    passed_over: Counter = field(default_factory=Counter)  # *.jsonl entries not read (links, FIFOs...): reason -> n
    problems: list[str] = field(default_factory=list)
    db_problems: int = 0  # how many of the problems were the database's (ingest then exits non-zero)
    seconds: float = 0.0
    finished_ms: int = 0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class Collector:
    """Reads every source incrementally into the store; safe to call ``run_once`` from one thread at a time."""

    def __init__(self, store: Store, sources: list[FileSource], notify: Callable[[PassReport], None] | None = None,
                 workers: int | None = None):
        self.store = store
        self.sources = sources
        self.notify = notify
        self.workers = workers if workers is not None else default_workers()
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
        return {r[0]: tail.saved_cursor(r[1:]) for r in rows}

    def run_once(self, ahead: Ahead | None = None) -> PassReport:
        """One pass over every source; ``ahead`` is a pass started before the store was open (``parsing.start``)."""
        with self._lock:
            with self.store.writer.deferred_rollups(apply=False):  # each touched bucket summed once per pass
                rep = self._run(ahead)
            try:
                self.store.writer.apply_rollups()
            except SQLAlchemyError as e:  # the marks stay queued: the next pass sums them
                self._db_problem(rep, e)
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

    def _db_problem(self, rep: PassReport, e: BaseException) -> None:
        rep.problems.append(describe_db_error(e, self.store.url))
        rep.db_problems += 1

    def _run(self, ahead: Ahead | None = None) -> PassReport:
        t0 = ahead.started if ahead is not None else time.perf_counter()
        rep = PassReport()
        for source in self.sources:
            taken = ahead.take(source) if ahead is not None else None
            if taken is not None:
                p, results = taken
            else:
                try:
                    p, results = plan(source, self._cursors(source)), None
                except SQLAlchemyError as e:
                    self._db_problem(rep, e)
                    break
            rep.files_seen += p.files_seen
            rep.passed_over.update(p.passed_over)
            if not p.todo:
                continue
            if results is None:
                results = self._results(p)
            elif isinstance(results, ReadAhead) and not results.prepares and self.workers > 1:
                # parsing started before the writer was loaded: the files not started yet go to workers forked
                # now, which lay their rows out themselves (else this process would, on the writer's time)
                results.hand_over(self._new_pool(p), prepare_rows=True)
            if not self._write_results(source, results, p.cursors, rep):
                break
        rep.seconds = time.perf_counter() - t0
        rep.finished_ms = int(time.time() * 1000)
        return rep

    def _results(self, p: Plan):
        if self.workers <= 1 or not p.big:
            return in_process(p)
        # biggest files first: the writer works while the workers parse
        return ReadAhead(self._new_pool(p), p, prepare_rows=writer_loaded())

    def _new_pool(self, p: Plan):
        if self._pool is None:
            p.source.warm()
            self._pool = new_pool(self.workers)
        return self._pool

    def _write_results(self, source: FileSource, results, cursors, rep: PassReport) -> bool:
        group = Prepared()
        group_cursors: list[CursorUpdate] = []
        now = iso_from_ms(int(time.time() * 1000))
        waiting = getattr(results, "waiting", lambda: False)

        def flush() -> bool:
            nonlocal group, group_cursors
            if not group_cursors:
                return True
            try:
                rep.written.add(self.store.writer.write(group, group_cursors))
            except SQLAlchemyError as e:
                self._db_problem(rep, e)
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
            if fr.incomplete:  # counted in the pass that examined it (not in the cursor: the line may still end)
                rep.skipped[tail.INCOMPLETE_REASON] += 1
            prev = cursors.get(fr.path)
            nskip = sum(fr.skipped.values())
            base_lines = 0 if fr.restarted or prev is None else prev.lines
            base_skip = 0 if fr.restarted or prev is None else prev.skipped
            # rows laid out by the worker, or a batch from a worker forked before the writer was imported
            group.extend(fr.prepared if isinstance(fr.prepared, Prepared) else prepare(fr.prepared))
            group_cursors.append(CursorUpdate(
                path=fr.path, source=source.name, dev=fr.stat.dev, inode=fr.stat.inode, size=fr.stat.size,
                mtime_ns=fr.stat.mtime_ns, offset=fr.offset, head_hash=fr.head_hash, state=fr.state,
                lines=base_lines + fr.lines, skipped=base_skip + nskip, last_seen=now))
            size = group.size()
            # a full group, or a smaller one when the next result is not ready yet: write instead of waiting, so
            # that little is left to write after the last file is parsed
            if size >= _WRITE_GROUP_RECORDS or (size >= _WRITE_EARLY_RECORDS and waiting()):
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
