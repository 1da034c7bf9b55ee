"""Schema version 11: the lookup indexes on the proxy-only task columns are partial (store/linking.py
PARTIAL_INDEXES): a transcript's task row (those columns NULL) enters none of them, the lookups still use them on
both backends, and a version-10 database's full indexes are made partial when it is opened, its rows kept."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from nexus_tui.store import open_store
from nexus_tui.store.linking import FULL_BEFORE_11, PARTIAL_INDEXES

_T0 = 1_700_000_000_000


def _indexes(conn) -> dict[str, str]:
    """{index name on tasks: its condition, '' for a full index}."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' "
                                 "AND sql IS NOT NULL")).fetchall()
    else:
        rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks'")).fetchall()
    return {name: (sql.split(" WHERE ", 1)[1].strip("() ") if " WHERE " in sql else "") for name, sql in rows}


def _fill(store, n: int = 300) -> None:
    """``n`` transcript task rows (the proxy columns NULL) and two proxy rows that carry them."""
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO sessions (id, start_time) VALUES ('s', '2026-01-01T00:00:00.000Z')"))
        conn.execute(text("INSERT INTO tasks (id, session_id, timestamp, source, model, routing, ts_ms) VALUES "
                          "(:id, 's', 'x', 'claude_code', 'm', 'cloud', :ts)"),
                     [{"id": f"t{i:04d}", "ts": _T0 + i} for i in range(n)])
        conn.execute(text("INSERT INTO tasks (id, session_id, timestamp, source, model, routing, ts_ms, "
                          "conversation_id, branch_id, parent_request_id, message_hash, http_status) VALUES "
                          "(:id, 's', 'x', 'proxy', 'm', 'cloud', :ts, 'conv', 'b', :p, :h, 200)"),
                     [{"id": "p1", "ts": _T0 + 5, "p": None, "h": "a" * 64},
                      {"id": "p2", "ts": _T0 + 9, "p": "p1", "h": "b" * 64}])


def test_a_new_database_has_the_lookup_indexes_partial(db_url):
    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            got = _indexes(conn)
    finally:
        store.close()
    for name, _cols, where in PARTIAL_INDEXES:
        assert got[name].replace('"', "").lower() == where.lower(), (name, got[name])


def test_a_version_10_database_gets_its_full_lookup_indexes_made_partial(db_url):
    from nexus_tui.store.schema import PARTIAL_INDEX_SCHEMA_VERSION, SCHEMA_VERSION

    store = open_store(db_url)
    _fill(store, 20)
    cols = dict((n, c) for n, c, _w in PARTIAL_INDEXES)
    with store.engine.begin() as conn:  # the indexes as version 10 made them: every row in them
        for name in FULL_BEFORE_11:
            conn.execute(text(f'DROP INDEX "{name}"'))
            conn.execute(text(f'CREATE INDEX "{name}" ON tasks ({", ".join(cols[name])})'))
        conn.execute(text(f"DELETE FROM schema_version WHERE version >= {PARTIAL_INDEX_SCHEMA_VERSION}"))
        assert all(_indexes(conn)[n] == "" for n in FULL_BEFORE_11)
        before = conn.execute(text("SELECT * FROM tasks ORDER BY id")).fetchall()
    store.close()
    again = open_store(db_url)
    try:
        with again.engine.connect() as conn:
            got = _indexes(conn)
            after = conn.execute(text("SELECT * FROM tasks ORDER BY id")).fetchall()
            versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
    finally:
        again.close()
    assert versions[-(SCHEMA_VERSION - PARTIAL_INDEX_SCHEMA_VERSION + 1):] == list(
        range(PARTIAL_INDEX_SCHEMA_VERSION, SCHEMA_VERSION + 1))  # 11 and every later step ran
    for name, _cols, where in PARTIAL_INDEXES:
        assert got[name].replace('"', "").lower() == where.lower(), (name, got[name])
    assert after == before and len(after) == 22


def _lookups(store) -> list[tuple[str, object, str | tuple]]:
    """(statement, parameters, the index it should use or the indexes it may) of every lookup on the proxy
    columns, as the code sends them (captured while it runs on ``store``)."""
    from nexus_tui.store.linking import SqlLinkLookup, _pending_rows, link_pending_conn
    from nexus_tui.store.read.sessions import session_conversations

    sent: list = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if "FROM tasks" in statement and not statement.lstrip().upper().startswith(("INSERT", "UPDATE", "EXPLAIN")):
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", spy)
    want = []
    try:
        with store.engine.connect() as conn:
            look = SqlLinkLookup(conn)
            before = (_T0 + 1000, "z")
            for call, index in ((lambda: look.by_message_hash("a" * 64, None, before), "ix_tasks_message_hash"),
                                (lambda: look.children("p1", before), "ix_tasks_parent_request_id"),
                                (lambda: look.subtask_count("conv", before), "ix_tasks_conversation_id"),
                                (lambda: look.branch_exists("conv", "b", before), "ix_tasks_conversation_id")):
                n = len(sent)
                call()
                want += [(s, p, index) for s, p in sent[n:]]
            n = len(sent)
            conn.execute(text("UPDATE tasks SET conversation_id = NULL WHERE id = 'p2'"))
            link_pending_conn(conn)  # its first query: the earliest pending request
            # either partial index holding the requests with a hash (PostgreSQL's planner takes the smaller)
            want.append((*sent[n], ("ix_tasks_conversation_message", "ix_tasks_message_hash")))
            conn.rollback()
        n = len(sent)
        session_conversations(store.engine, "s")  # the second query: the conversations' requests
        want.append((*sent[n + 1], "ix_tasks_conversation_id"))
    finally:
        event.remove(store.engine, "before_cursor_execute", spy)
    assert _pending_rows  # its query's plan is the time index's, as before version 11 (not one of these)
    return want


def test_the_lookups_use_the_partial_indexes(db_url):
    """Every lookup's condition implies its index's: the plan reads the partial index (PostgreSQL: with
    sequential scans priced out, so a plan that could not use the index would show a Seq Scan)."""
    store = open_store(db_url)
    try:
        _fill(store)
        lookups = _lookups(store)
        assert len(lookups) == 6
        with store.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if not sqlite:
                conn.execute(text("ANALYZE tasks"))
                conn.execute(text("SET enable_seqscan = off"))
            for statement, params, index in lookups:
                prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(prefix + statement, params))
                assert any(i in plan for i in ((index,) if isinstance(index, str) else index)), (statement, plan)
    finally:
        store.close()


def test_a_transcript_row_enters_no_partial_index(tmp_path):
    """SQLite counts an index's entries when asked to read the rows through it (INDEXED BY)."""
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        _fill(store)
        with store.engine.connect() as conn:
            for name, cols, where in PARTIAL_INDEXES:
                n = conn.execute(text(f"SELECT count(*) FROM tasks INDEXED BY {name} WHERE {where}")).scalar()
                rows = conn.execute(text(f"SELECT id FROM tasks NOT INDEXED WHERE {where}")).fetchall()
                assert n == len(rows) and {r[0] for r in rows} <= {"p1", "p2"} and n >= 1, name
            full = conn.execute(text("SELECT count(*) FROM tasks INDEXED BY ix_tasks_ts_ms WHERE ts_ms > 0")).scalar()
        assert full == 302
    finally:
        store.close()


@pytest.mark.parametrize("name", [n for n, _c, _w in PARTIAL_INDEXES])
def test_every_partial_index_condition_is_a_proxy_column_set(name):
    """The conditions name columns a transcript row leaves NULL (core/merge.py PROXY_FIELDS), nothing else."""
    from nexus_tui.core.merge import PROXY_FIELDS

    where = dict((n, w) for n, _c, w in PARTIAL_INDEXES)[name]
    col, rest = where.split(" ", 1)
    assert rest == "IS NOT NULL" and col in PROXY_FIELDS
