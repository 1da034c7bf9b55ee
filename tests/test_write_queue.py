"""The one writer thread fed by a bounded queue (store/write_queue.py): a rating submitted during a cold ingest lands
before the ingest ends, producers wait when the queue is full, and errors reach the producer. Orderings are asserted
by the events the writer thread records, never by time."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from nexus_tui.collect import collector as C
from nexus_tui.store.write_queue import WriteQueue
from tests.conftest import require_shared
from tests.helpers import collector_for, store_at


def test_a_rating_during_a_cold_ingest_lands_before_the_ingest_ends(tmp_path, monkeypatch):
    require_shared()
    from bench.gen import generate

    g = generate(tmp_path / "claude", mb=6, seed=5, malformed_every=10**6)
    monkeypatch.setattr(C, "_WRITE_GROUP_RECORDS", 300)  # many batches from a small tree (the rule, not the size)
    monkeypatch.setattr(C, "_WRITE_EARLY_RECORDS", 300)
    store = store_at(tmp_path / "db.sqlite")
    col = collector_for(store, g.root / "projects", workers=1)
    events: list[str] = []
    first_batch = threading.Event()
    rating_queued = threading.Event()

    def trace(msg):  # in the writer thread, after the message is applied, before its producer hears of it
        events.append(msg.kind)
        if msg.kind == "batch" and not first_batch.is_set():
            first_batch.set()
            assert rating_queued.wait(60)  # the collector is held on this batch's result until the rating is queued

    col.writes.trace = trace
    ingest = threading.Thread(target=col.run_once)
    ingest.start()
    assert first_batch.wait(120)
    with store.engine.connect() as conn:  # a task the first batch stored (committed: read from another connection)
        task_id = conn.execute(text("SELECT id FROM tasks ORDER BY id LIMIT 1")).scalar()
    assert task_id is not None
    fut = col.writes.submit("rating", task_id, 1)  # what the dashboard's rate key does (Collector.rate), unawaited
    rating_queued.set()
    assert fut.result() == (None, 1)
    ingest.join()
    rep = col.last
    col.close()
    assert not rep.problems
    batches = [i for i, k in enumerate(events) if k == "batch"]
    rated_at = events.index("rating")
    assert len(batches) >= 3  # the pass was split: other messages could come between its batches
    assert batches[0] < rated_at < batches[-1]  # landed mid-ingest, not after it
    assert events[-1] == "rollups"  # the pass's marked buckets summed once, at its end
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT quality_rating FROM tasks WHERE id = :i"), {"i": task_id}).scalar() == 1
        # the rating is in the rollups too (summed by the rating itself, then again at the pass's end)
        assert conn.execute(text("SELECT SUM(rated_helpful) FROM task_rollups")).scalar() == 1
        n_tasks = conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar()
        assert conn.execute(text("SELECT SUM(tasks) FROM task_rollups")).scalar() == n_tasks


class _SlowWriter:
    """A writer whose writes wait for ``release``; records what it applied, in order."""

    def __init__(self):
        self.release = threading.Event()
        self.started = threading.Event()
        self.applied: list = []

    def write(self, batch, cursors=(), defer_rollups=None):
        self.started.set()
        assert self.release.wait(60)
        self.applied.append(batch)
        return batch

    def rate(self, task_id, rating):
        self.applied.append(("rate", task_id, rating))
        return None, 1

    def apply_rollups(self):
        raise RuntimeError("database gone")


def test_producers_wait_when_the_queue_is_full():
    w = _SlowWriter()
    q = WriteQueue(w, maxsize=2)
    about: list[int] = []
    submitted: list[int] = []
    futures = []
    fourth = threading.Event()

    def produce():
        for i in range(4):
            about.append(i)
            if i == 3:
                fourth.set()
            futures.append(q.submit("batch", i))
            submitted.append(i)

    t = threading.Thread(target=produce)
    t.start()
    assert w.started.wait(60)  # message 0 is being applied (and holds the writer)
    assert fourth.wait(60)  # the producer is at its 4th message
    # 0 in the writer, 1 and 2 fill the queue: the 4th put cannot have returned, whatever the timing
    assert q.queue.qsize() == 2 and q.queue.full()
    assert submitted == [0, 1, 2]
    w.release.set()
    t.join()
    assert [f.result() for f in futures] == [0, 1, 2, 3]
    assert w.applied == [0, 1, 2, 3]  # in order, one writer
    q.close()


def test_messages_apply_in_order_and_errors_reach_the_producer():
    w = _SlowWriter()
    w.release.set()
    q = WriteQueue(w, maxsize=1)
    assert q.write("a", defer_rollups=True) == "a"
    assert q.rate("t1", 0) == (None, 1)
    with pytest.raises(RuntimeError, match="database gone"):
        q.apply_rollups()
    assert q.record("b") == "b"  # the thread survives a failed message
    assert w.applied == ["a", ("rate", "t1", 0), "b"]
    with pytest.raises(ValueError):
        q.submit("drop tables")
    q.close()
    assert q.write("c") == "c"  # a message after close starts a new thread
    q.close()
