"""Schema version 14: on SQLite the columns a pass reads of every cursor are in a covering index, so the scan at the
start of every ``ingest`` and report does not read each cursor's parser state (a few KB per file); a version-13
database gets it when opened; PostgreSQL has no such index and reads the same cursors."""

from __future__ import annotations

import sqlite3

from sqlalchemy import inspect, text

from nexus_tui.collect.parsing import _CURSOR_SQL, _cursor_rows
from nexus_tui.store import open_store
from nexus_tui.store.migrations import CURSOR_SCAN_INDEX
from nexus_tui.store.schema import CURSOR_INDEX_SCHEMA_VERSION, SCHEMA_VERSION

NAME = CURSOR_SCAN_INDEX[0]


def _cursors(store, n: int = 3) -> None:
    with store.engine.begin() as conn:
        conn.execute(text('INSERT INTO ingest_cursors (path, source, dev, inode, size, mtime_ns, "offset", head_hash, '
                          'state, lines, skipped, machine) VALUES (:p, :s, 1, :i, 100, 5, 90, :h, :st, 3, 1, :m)'),
                     [{"p": f"/t/f{i}.jsonl", "s": "claude-code" if i % 2 == 0 else "lunaroute", "i": i,
                       "h": f"h{i}", "st": "x" * 20_000, "m": "m1" if i < n - 1 else None} for i in range(n)])


def test_a_new_sqlite_database_reads_the_cursors_through_the_covering_index(tmp_path):
    db = tmp_path / "c.db"
    store = open_store(f"sqlite:///{db}")
    _cursors(store, 5)
    store.close()
    with sqlite3.connect(db) as c:
        for sql, params in ((_CURSOR_SQL, ("claude-code",)), (_CURSOR_SQL + " AND machine = ?", ("claude-code", "m1"))):
            plan = " ".join(r[-1] for r in c.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert f"USING COVERING INDEX {NAME}" in plan, plan
    rows = _cursor_rows(f"sqlite:///{db}", "claude-code")
    assert sorted((r[0], r[2], r[-2], r[-1]) for r in rows) == [("/t/f0.jsonl", 90, 3, 1), ("/t/f2.jsonl", 90, 3, 1),
                                                                  ("/t/f4.jsonl", 90, 3, 1)]
    assert all(r[1 + 7] is None for r in rows)  # the state is not read here (read per file to parse)


def test_a_version_13_database_gets_the_index_its_rows_kept(db_url):
    assert CURSOR_INDEX_SCHEMA_VERSION == 14 <= SCHEMA_VERSION
    store = open_store(db_url)
    _cursors(store)
    with store.engine.begin() as conn:
        conn.execute(text(f'DROP INDEX IF EXISTS "{NAME}"'))
        conn.execute(text(f"DELETE FROM schema_version WHERE version >= {CURSOR_INDEX_SCHEMA_VERSION}"))
        before = conn.execute(text("SELECT * FROM ingest_cursors ORDER BY path")).fetchall()
    store.close()
    again = open_store(db_url)
    try:
        with again.engine.connect() as conn:
            names = {ix["name"] for ix in inspect(conn).get_indexes("ingest_cursors")}
            after = conn.execute(text("SELECT * FROM ingest_cursors ORDER BY path")).fetchall()
            versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
        assert after == before and versions[-1] == SCHEMA_VERSION
        assert (NAME in names) == db_url.startswith("sqlite")  # PostgreSQL: none (its btree entries are bounded)
    finally:
        again.close()
