"""The one writer thread, fed by a bounded queue (the datasette pattern).

Every change a process makes to the store is a message on one ``queue.Queue`` of bounded size, applied in order by
one thread that owns the ``Writer``: a collector pass's batches (a pass is split into batches of at most
``collector._WRITE_GROUP_RECORDS`` records, so other messages interleave with a cold ingest), ratings from the
dashboard, OTLP records from the receiver, and the summing of the rollups marked during a pass. A rating therefore
waits for at most the one batch being written, never for a whole pass. A producer that finds the queue full waits
(backpressure): memory stays bounded whatever the producers do. Each message still is one transaction of the
``Writer`` (rows and the cursors that produced them together), so a crash never moves a cursor past rows it did not
store. Records of the recording proxy reach the store through the event log, i.e. as collector batches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SIZE = 8  # messages waiting at most (each a batch of at most a few thousand records)
IDLE_EXIT_S = 5.0  # the thread ends after this long without a message; the next message starts a new one
KINDS = ("batch", "record", "rating", "rollups")


@dataclass
class Message:
    """One change: ``kind`` (batch: a collector batch with its cursors, record: a producer's batch such as OTLP
    log records, rating, rollups: sum the buckets marked by a pass), its arguments, and the future its producer
    waits on."""

    kind: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    future: Future = field(default_factory=Future)


_STOP = Message("stop")


class WriteQueue:
    """The writer thread and its bounded queue. ``submit`` blocks while the queue is full; ``call`` also waits for
    the message to be applied and returns its result (or raises its exception). ``trace``, when given, is called
    in the writer thread with each message after it is applied and before its producer hears of it (tests)."""

    def __init__(self, writer, maxsize: int = DEFAULT_SIZE, trace: Callable[[Message], None] | None = None):
        self.writer = writer
        self.queue: queue.Queue[Message] = queue.Queue(maxsize)
        self.trace = trace
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # ------------------------------------------------------------ producers
    def submit(self, kind: str, *args, **kwargs) -> Future:
        """Queue a message (waiting while the queue is full); the future holds its result."""
        if kind not in KINDS:
            raise ValueError(f"unknown message kind {kind!r}")
        msg = Message(kind, args, kwargs)
        if threading.current_thread() is self._thread:  # from the writer thread itself (a trace hook): inline
            self._apply(msg)
            return msg.future
        with self._start_lock:  # the thread cannot end between this check and the put (it ends on an empty queue)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nexus-writer", daemon=True)
                self._thread.start()
            self.queue.put(msg)
        return msg.future

    def call(self, kind: str, *args, **kwargs) -> Any:
        return self.submit(kind, *args, **kwargs).result()

    def write(self, batch, cursors=(), defer_rollups: bool | None = None):
        """A collector batch and its cursors (one transaction); ``defer_rollups``: see ``Writer.write``."""
        return self.call("batch", batch, list(cursors), defer_rollups=defer_rollups)

    def record(self, batch):
        """Another producer's batch (OTLP log records), rollups summed at once."""
        return self.call("record", batch)

    def rate(self, task_id: str, rating: int | None) -> tuple[int | None, int]:
        return self.call("rating", task_id, rating)

    def apply_rollups(self) -> bool:
        return self.call("rollups")

    def close(self) -> None:
        """Apply what is queued, then stop the thread (a later message starts a new one)."""
        with self._start_lock:
            t = self._thread
            if t is not None:
                self.queue.put(_STOP)
        if t is not None and t is not threading.current_thread():
            t.join()

    # ------------------------------------------------------------ the writer thread
    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            try:
                msg = self.queue.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._start_lock:
                    if self.queue.empty():
                        self._thread = None
                        return
                continue
            if msg is _STOP:
                with self._start_lock:
                    if not self.queue.empty():  # queued after the stop: applied first (then an idle exit)
                        continue
                    if self._thread is me:
                        self._thread = None
                return
            self._apply(msg)

    def _apply(self, msg: Message) -> None:
        w = self.writer
        try:
            if msg.kind == "batch":
                result = w.write(*msg.args, **msg.kwargs)
            elif msg.kind == "record":
                result = w.write(*msg.args, defer_rollups=False)
            elif msg.kind == "rating":
                result = w.rate(*msg.args)
            else:
                result = w.apply_rollups()
        except BaseException as e:  # noqa: BLE001 - handed to the producer, who decides
            if self.trace is not None:
                self._trace(msg)
            msg.future.set_exception(e)
            return
        if self.trace is not None:
            self._trace(msg)
        msg.future.set_result(result)

    def _trace(self, msg: Message) -> None:
        try:
            self.trace(msg)
        except Exception:  # noqa: BLE001 - a hook never stops the writer
            pass
