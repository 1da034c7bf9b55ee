"""The writer's SQLite connection (store/engine.py ``write_tx``): a larger page cache for the time of a write
transaction only; every connection that reads (the dashboard's) keeps SQLite's own size."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from nexus_tui.store import open_store
from nexus_tui.store.engine import WRITE_CACHE_KIB, write_tx


def _cache(conn) -> int:
    return conn.connection.dbapi_connection.execute("PRAGMA cache_size").fetchone()[0]


def test_a_write_transaction_has_the_larger_cache_and_gives_it_back(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with store.engine.connect() as conn:
            own = _cache(conn)
        assert own != -WRITE_CACHE_KIB
        for _ in range(2):
            with write_tx(store.engine) as conn:
                assert _cache(conn) == -WRITE_CACHE_KIB
                conn.execute(text("INSERT INTO sessions (id, start_time) VALUES (:i, 'x')"), {"i": f"s{_}"})
                raw = conn.connection.dbapi_connection
            assert raw.execute("PRAGMA cache_size").fetchone()[0] == own
        with pytest.raises(RuntimeError):  # a transaction that fails gives it back too
            with write_tx(store.engine) as conn:
                raw = conn.connection.dbapi_connection
                raise RuntimeError
        assert raw.execute("PRAGMA cache_size").fetchone()[0] == own
        # every pooled connection a reader gets has SQLite's own size, whichever wrote before
        conns = [store.engine.connect() for _ in range(3)]
        try:
            assert [_cache(c) for c in conns] == [own] * 3
        finally:
            for c in conns:
                c.close()
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM sessions")).scalar() == 2
    finally:
        store.close()


def test_the_writer_writes_through_the_larger_cache(tmp_path, monkeypatch):
    """Writer.write runs in write_tx: a batch's statements see the larger cache (read inside the transaction)."""
    from nexus_tui.core.events import Batch, SessionRec, TaskRec
    from nexus_tui.store import writer as writer_mod

    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    seen = []
    orig = writer_mod._executemany_tuples

    def spy(conn, name, build, table, rows):
        seen.append(_cache(conn))
        return orig(conn, name, build, table, rows)

    monkeypatch.setattr(writer_mod, "_executemany_tuples", spy)
    try:
        t0 = 1_700_000_000_000
        res = store.writer.write(Batch(sessions=[SessionRec(id="s", start_ms=t0, end_ms=t0)],
                                       tasks=[TaskRec(id="t", session_id="s", ts_ms=t0, source="x", model="m")]))
    finally:
        store.close()
    assert res.new_tasks == 1 and seen and set(seen) == {-WRITE_CACHE_KIB}
