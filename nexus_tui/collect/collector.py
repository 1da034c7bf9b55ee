"""The collector: one pass reads what every source appended and writes it through the single writer thread
(store/write_queue.py), batch by batch, so a rating or an OTLP post is applied between two batches of a cold ingest.

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

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from nexus_tui.core import pricing
from nexus_tui.core.events import add_skips, iso_from_ms
from nexus_tui.core.redact import key_of
from nexus_tui.collect import tail
from nexus_tui.collect.parsing import (PARALLEL_MIN_BYTES, Ahead, FileResult, Plan, ReadAhead, default_workers,
                                       new_pool, plan, read_file, writer_loaded)
from nexus_tui.collect.sources import FileSource
from nexus_tui.store import Store
from nexus_tui.store.engine import describe_db_error
from nexus_tui.store.write_queue import WriteQueue
from nexus_tui.store.writer import CursorUpdate, Prepared, WriteResult, prepare, sanitize_batch

__all__ = ["Collector", "CollectorThread", "FileResult", "PassReport", "PARALLEL_MIN_BYTES", "read_file"]
_WRITE_GROUP_RECORDS = 10_000
# a smaller group is written early only from this size: each commit rewrites the pages it touched in the random-key
# indexes, so on a 1 GB tree 2,000 made 60-84 groups and 6,000 fewer (writer CPU 3.85 -> 3.55 s, docs/performance.md)
_WRITE_EARLY_RECORDS = 6_000


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
    files_todo: int = 0  # planned: the files that changed and their bytes to read (progress while the pass runs)
    bytes_todo: int = 0

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
        self._lock = threading.Lock()  # one pass at a time; writes never wait for it (they queue)
        self.writes = WriteQueue(store.writer)  # the one writer thread: passes, ratings and OTLP records
        self._pool: Executor | None = None
        self.last: PassReport | None = None
        self.running: PassReport | None = None  # the pass under way (read from other threads: its progress)
        self.totals = PassReport()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self.writes.close()

    def write(self, batch) -> "WriteResult":
        """Write a batch from another producer (the OTLP receiver) through the writer thread, between two batches."""
        return self.writes.record(batch)

    def rate(self, task_id: str, rating: int | None) -> tuple[int | None, int]:
        """Rate a task through the writer thread: applied after at most the batch being written, even mid-pass."""
        return self.writes.rate(task_id, rating)

    def _cursors(self, source: FileSource) -> dict[str, tail.SavedCursor]:
        rows = self.store.writer.cursor_rows(source.name)  # this machine's (docs/teams.md)
        return {r[0]: tail.saved_cursor(r[1:]) for r in rows}

    def run_once(self, ahead: Ahead | None = None) -> PassReport:
        """One pass over every source; ``ahead`` is a pass started before the store was open (``parsing.start``)."""
        with self._lock:
            rep = self.running = PassReport()
            try:  # the pass's batches mark their rollup buckets: each touched bucket summed once per pass
                self._run(rep, ahead)
            except Exception as e:  # noqa: BLE001 - what was written still gets its rollups, below
                rep.problems.append(_failure("collector pass", e, self.store.url))
            try:  # always: the rollups of whatever this pass (or a failed one before it) wrote
                self.writes.apply_rollups()
            except SQLAlchemyError as e:  # the marks stay queued: the next pass sums them
                self._db_problem(rep, e)
            except Exception as e:  # noqa: BLE001 - the marks stay queued: the next pass sums them
                rep.problems.append(_failure("rollups", e, self.store.url))
            finally:
                self.running = None
        self.last = rep
        self.totals.files_seen = rep.files_seen
        self.totals.files_read += rep.files_read
        self.totals.bytes_read += rep.bytes_read
        self.totals.written.add(rep.written)
        add_skips(self.totals.skipped, rep.skipped)
        self.totals.problems = (self.totals.problems + rep.problems)[-50:]
        if self.notify is not None:
            self.notify(rep)
        return rep

    def _db_problem(self, rep: PassReport, e: BaseException) -> None:
        rep.problems.append(describe_db_error(e, self.store.url))
        rep.db_problems += 1

    def _run(self, rep: PassReport, ahead: Ahead | None = None) -> PassReport:
        """Every source in turn; a failure in one source (or one file) is a problem in the report, never the end of
        the pass: the other files and sources are read and written all the same."""
        t0 = ahead.started if ahead is not None else time.perf_counter()
        try:
            for source in self.sources:
                try:
                    self._run_source(source, ahead, rep)
                except _DatabaseDown:
                    break
                except (OperationalError, InterfaceError) as e:  # the database itself (locked, read-only, gone)
                    self._db_problem(rep, e)
                    break
                except Exception as e:  # noqa: BLE001
                    rep.problems.append(_failure(f"source {source.name}", e, self.store.url))
        finally:
            for k, v in rep.written.dropped.items():
                rep.skipped[f"not stored ({k})"] += v
            rep.seconds = time.perf_counter() - t0
            rep.finished_ms = int(time.time() * 1000)
        return rep

    def _run_source(self, source: FileSource, ahead: Ahead | None, rep: PassReport) -> None:
        taken = ahead.take(source) if ahead is not None else None
        if taken is not None:
            p, results = taken
        else:
            p, results = plan(source, self._cursors(source)), None
        rep.files_seen += p.files_seen
        rep.passed_over.update(p.passed_over)
        if not p.todo:
            return
        rep.files_todo += len(p.todo)
        rep.bytes_todo += p.bytes
        if results is None:
            results = self._results(p)
        elif isinstance(results, ReadAhead) and not results.prepares and self.workers > 1:
            # parsing started before the writer was loaded: the files not started yet go to workers forked
            # now, which lay their rows out themselves (else this process would, on the writer's time)
            results.hand_over(self._new_pool(p), prepare_rows=True)
        self._write_results(source, results, p.cursors, rep)

    def _results(self, p: Plan):
        if self.workers <= 1 or not p.big:
            return _each_file(p)
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
        files: list[tuple[Prepared, CursorUpdate]] = []  # the group file by file, should it fail as a whole
        now = iso_from_ms(int(time.time() * 1000))
        waiting = getattr(results, "waiting", lambda: False)
        writes = self.writes

        def flush() -> bool:
            nonlocal group, group_cursors, files
            if not group_cursors:
                return True
            try:
                rep.written.add(writes.write(group, group_cursors, defer_rollups=True))
            except (OperationalError, InterfaceError) as e:  # the database itself: nothing more can be written now
                self._db_problem(rep, e)
                raise _DatabaseDown from e
            except Exception as e:  # noqa: BLE001 - file by file: one file's failure never costs the others
                if len(files) == 1:
                    rep.problems.append(_failure(f"writing {files[0][1].path}", e, self.store.url))
                else:
                    for prepared, cur in files:
                        try:
                            rep.written.add(writes.write(prepared, [cur], defer_rollups=True))
                        except (OperationalError, InterfaceError) as e1:
                            self._db_problem(rep, e1)
                            raise _DatabaseDown from e1
                        except Exception as e1:  # noqa: BLE001 - its cursor stays: the file is read again
                            rep.problems.append(_failure(f"writing {cur.path}", e1, self.store.url))
            group, group_cursors, files = Prepared(), [], []
            return True

        it = iter(results)
        while True:
            try:
                fr = next(it)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - a parser worker died: what is read so far is written
                rep.problems.append(_failure(f"reading {source.name}", e, self.store.url))
                break
            if fr is None:
                continue
            if fr.error:
                rep.problems.append(fr.error)
                rep.skipped["unreadable file"] += 1
                continue
            if fr.prices:  # what a worker priced is saved by the command (collect/price_cache.py)
                pricing.adopt(fr.prices)
            rep.files_read += 1
            rep.bytes_read += fr.bytes_read
            rep.lines += fr.lines
            rep.restarted += int(fr.restarted)
            add_skips(rep.skipped, fr.skipped)
            if fr.incomplete:  # counted in the pass that examined it (not in the cursor: the line may still end)
                rep.skipped[tail.INCOMPLETE_REASON] += 1
            prev = cursors.get(fr.path)
            nskip = sum(fr.skipped.values())
            base_lines = 0 if fr.restarted or prev is None else prev.lines
            base_skip = 0 if fr.restarted or prev is None else prev.skipped
            # rows laid out by the worker, or a batch from a worker forked before the writer was imported
            prepared = fr.prepared if isinstance(fr.prepared, Prepared) else _prepare(fr.prepared, rep)
            cursor = CursorUpdate(
                path=key_of(fr.path), source=source.name, dev=fr.stat.dev, inode=fr.stat.inode, size=fr.stat.size,
                mtime_ns=fr.stat.mtime_ns, offset=fr.offset, head_hash=fr.head_hash, state=fr.state,
                lines=base_lines + fr.lines, skipped=base_skip + nskip, last_seen=now)
            group.extend(prepared)
            group_cursors.append(cursor)
            files.append((prepared, cursor))
            size = group.size()
            # a full group, or a smaller one when the next result is not ready yet: write instead of waiting, so
            # that little is left to write after the last file is parsed
            if size >= _WRITE_GROUP_RECORDS or (size >= _WRITE_EARLY_RECORDS and waiting()):
                if not flush():
                    return False
        return flush()


class _DatabaseDown(Exception):
    """The database refused a write for its own reasons (locked, read-only): the pass stops, reported once."""


def _failure(what: str, e: BaseException, url: str) -> str:
    """One line for the report: a database error as describe_db_error words it, anything else by its type."""
    if isinstance(e, SQLAlchemyError):
        return f"{what}: {describe_db_error(e, url)}"
    return f"{what} failed: {type(e).__name__}: {str(e)[:300]}"


def _prepare(batch, rep: PassReport) -> Prepared:
    """writer.prepare, or for a batch it cannot lay out, its records coerced to their types first."""
    try:
        return prepare(batch)
    except Exception:  # noqa: BLE001
        dropped: dict = {}
        prepared = prepare(sanitize_batch(batch, dropped))
        for k, v in dropped.items():
            rep.skipped[f"not stored ({k})"] += v
        return prepared


def _each_file(p: Plan):
    """The plan's files read in this process; a file whose reading raises is reported, not the end of the pass."""
    for path, cur, _n in p.todo:
        try:
            yield read_file(p.source, path, cur)
        except Exception as e:  # noqa: BLE001 - its cursor stays where it was
            st = tail.stat_file(path) or tail.FileStat(path, None, None, 0, None)
            yield FileResult(path, st, cur.offset if cur else 0, cur.head_hash if cur else "", None, Prepared(), 0,
                             {}, 0, False, error=f"cannot parse {path}: {type(e).__name__}: {str(e)[:300]}")


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
