"""Schema, migrations and database failure modes (read-only, locked, not a database)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import inspect, text

from nexus_tui.store import StoreError, open_store
from nexus_tui.store.schema import SCHEMA_V1_DDL, SCHEMA_VERSION, Task
from tests.conftest import copy_cc_tree
from tests.helpers import collector_for, session_totals, store_at

SEED_COLUMNS = {
    "sessions": ["id", "start_time", "end_time", "cli_tool", "persona", "nexus_mode"],
    "tasks": ["id", "session_id", "timestamp", "source", "model", "routing", "routing_reason", "tokens_in",
              "tokens_out", "latency_ms", "cost_usd", "cloud_cost_equivalent", "quality_rating"],
    "routing_decisions": ["id", "task_id", "reason", "alternatives_considered", "classifier_version"],
}


def test_new_database_has_every_seed_column_and_the_current_version(tmp_path):
    store = store_at(tmp_path / "db.sqlite")
    insp = inspect(store.engine)
    for table, cols in SEED_COLUMNS.items():
        have = {c["name"]: c for c in insp.get_columns(table)}
        assert set(cols) <= set(have), table
    tasks = {c["name"]: c for c in insp.get_columns("tasks")}
    for col in ("session_id", "timestamp", "source", "model", "routing"):
        assert tasks[col]["nullable"] is False
    for table in ("tool_calls", "errors", "ingest_cursors", "schema_version"):
        assert table in insp.get_table_names()
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() == SCHEMA_VERSION
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_version_1_database_migrates_keeping_its_rows(tmp_path):
    db = tmp_path / "v1.sqlite"
    con = sqlite3.connect(db)
    for ddl in SCHEMA_V1_DDL:
        con.execute(ddl)
    con.execute("INSERT INTO sessions VALUES ('s1', '2025-06-01T10:00:00.000Z', '2025-06-01T11:00:00.000Z', "
                "'mcp', 'architect', 'hybrid')")
    con.execute("INSERT INTO tasks VALUES ('t1', 's1', '2025-06-01T10:05:00.000Z', 'mcp-tool', 'qwen2.5-coder', "
                "'local', 'token_count<500', 120, 80, 900, 0.0, 0.0021, 1)")
    con.execute("INSERT INTO routing_decisions VALUES ('r1', 't1', 'token_count<500', "
                "'[{\"model\": \"claude-sonnet-4\", \"reason_rejected\": \"too small\"}]', 'rules-v1')")
    con.commit()
    con.close()

    store = store_at(db)
    with store.engine.connect() as conn:
        versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
        t = conn.execute(text("SELECT model, routing, tokens_in, tokens_out, quality_rating, ts_ms, total_tokens, "
                              "cloud_cost_equivalent FROM tasks WHERE id='t1'")).one()
        s = conn.execute(text("SELECT persona, nexus_mode, start_ms, end_ms FROM sessions")).one()
        r = conn.execute(text("SELECT reason, classifier_version FROM routing_decisions")).one()
    assert versions == list(range(2, SCHEMA_VERSION + 1))  # one row per step: 1 -> 2 -> 3
    assert tuple(t) == ("qwen2.5-coder", "local", 120, 80, 1, 1748772300000, 200, 0.0021)
    assert tuple(s) == ("architect", "hybrid", 1748772000000, 1748775600000)
    assert tuple(r) == ("token_count<500", "rules-v1")
    cols = {c["name"] for c in inspect(store.engine).get_columns("tasks")}
    assert {c.name for c in Task.__table__.columns} <= cols
    # the migrated database takes new data like a fresh one
    projects = copy_cc_tree(tmp_path / "claude")
    rep = collector_for(store, projects).run_once()
    assert rep.problems == [] and rep.written.new_tasks == 264
    store.close()
    again = store_at(db)  # opening again is a no-op
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM schema_version")).scalar() == SCHEMA_VERSION - 1


def test_a_version_2_database_gains_the_session_stats_table(db_url):
    store = open_store(db_url)
    with store.engine.begin() as conn:  # make it look like a version-2 database: no session_stats, version 2
        conn.execute(text("DROP TABLE session_stats"))
        conn.execute(text("DELETE FROM schema_version"))
        conn.execute(text("INSERT INTO schema_version (version, applied_at) VALUES (2, '2026-11-01T00:00:00.000Z')"))
    store.close()
    again = open_store(db_url)
    assert "session_stats" in inspect(again.engine).get_table_names()
    with again.engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))] == list(
            range(2, SCHEMA_VERSION + 1))


def test_a_version_3_database_gains_rollups_built_from_its_rows(tmp_path, db_url):
    """Version 4 adds task_rollups/tool_rollups; migrating a version-3 database builds them from the stored rows,
    and they sum to exactly what the rows sum to."""
    store = open_store(db_url)
    projects = copy_cc_tree(tmp_path / "claude")
    collector_for(store, projects).run_once()
    with store.engine.begin() as conn:  # back to version 3: no rollup tables
        conn.execute(text("DROP TABLE task_rollups"))
        conn.execute(text("DROP TABLE tool_rollups"))
        conn.execute(text("DELETE FROM schema_version WHERE version = 4"))
    store.close()
    again = open_store(db_url)
    with again.engine.connect() as conn:
        raw = conn.execute(text("SELECT COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cache_read_tokens), "
                                "SUM(cache_creation_tokens), SUM(latency_ms) FROM tasks")).one()
        rolled = conn.execute(text("SELECT SUM(tasks), SUM(tokens_in), SUM(tokens_out), SUM(cache_read_tokens), "
                                   "SUM(cache_creation_tokens), SUM(lat_sum) FROM task_rollups")).one()
        calls = conn.execute(text("SELECT COUNT(*), SUM(CASE WHEN NOT success THEN 1 ELSE 0 END) FROM tool_calls "
                                  "WHERE tool_name IS NOT NULL")).one()
        rolled_calls = conn.execute(text("SELECT SUM(calls), SUM(failures) FROM tool_rollups")).one()
        versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
    assert raw[0] > 200 and tuple(raw) == tuple(rolled)
    assert calls[0] > 100 and tuple(calls) == tuple(rolled_calls)
    assert versions[-1] == SCHEMA_VERSION


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "garbage.db"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError, match="not a usable SQLite database|not a database"):
        open_store(f"sqlite:///{bad}")


def _cli(tmp_path, *args, env_extra=None):
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))
    env.pop("NEXUS_INSIGHTS_DB", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_locked_database_loses_nothing_and_says_so(tmp_path):
    projects = copy_cc_tree(tmp_path / "claude")
    db = tmp_path / "nexus" / "insights.db"
    store_at(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        r = _cli(tmp_path, "ingest", env_extra={"NEXUS_INSIGHTS_BUSY_TIMEOUT": "0.3"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.returncode != 0
    assert "locked" in r.stderr and "nothing was written" in r.stderr
    r2 = _cli(tmp_path, "ingest")  # the lock is gone: everything arrives, once
    assert r2.returncode == 0, r2.stderr
    assert "264 tasks" in r2.stdout
    ref = store_at(tmp_path / "ref.sqlite")
    collector_for(ref, projects).run_once()
    assert session_totals(store_at(db)) == session_totals(ref)


def test_a_read_only_database_is_reported_and_left_intact(tmp_path):
    copy_cc_tree(tmp_path / "claude")
    db = tmp_path / "nexus" / "insights.db"
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0
    before = session_totals(store_at(db))
    (tmp_path / "claude" / "projects" / "-fixtures-spotter" / "short.jsonl").unlink()
    extra = tmp_path / "claude" / "projects" / "-fixtures-new"
    extra.mkdir()
    (extra / "x.jsonl").write_text('{"type":"assistant","sessionId":"zz","timestamp":"2026-01-01T00:00:00Z",'
                                   '"requestId":"req_zz","version":"2.0.0","message":{"id":"m","model":'
                                   '"claude-opus-4-6","usage":{"input_tokens":1,"output_tokens":1}}}\n')
    r = _cli(tmp_path, "--db", f"sqlite:///file:{db}?mode=ro&uri=true", "ingest")
    assert r.returncode != 0 and "read-only" in r.stderr
    assert session_totals(store_at(db)) == before
