"""PostgreSQL for real: a server started by the tests (tests/pg_server.py), the real fixtures ingested by the real
commands, compared with SQLite row for row and report for report; new databases opened by several processes at
once; several collectors writing at once with exact rollups."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from nexus_tui.store import open_store
from tests.conftest import copy_cc_tree
from tests.helpers import dump

REPORTS = ("summary", "sessions", "models", "tools", "daily", "requests", "conversations")
ROLLUP_TABLES = ("task_rollups", "task_hours", "task_days", "task_session_days", "tool_rollups", "tool_hours",
                 "tool_days", "tool_session_days")


def _env(tmp: Path, url: str) -> dict:
    env = dict(os.environ, HOME=str(tmp), NEXUS_INSIGHTS_HOME=str(tmp / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp / "claude"), NEXUS_INSIGHTS_DB=url, TZ="UTC")
    return env


def _cli(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=env, capture_output=True, timeout=timeout)


def _norm(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (float, Decimal)):
        return round(float(v), 9)
    return v


def _normalized(d: dict) -> dict:
    return {t: sorted(tuple(_norm(v) for v in row) for row in rows) for t, rows in d.items()}


def _rollups(store) -> dict:
    out = {}
    with store.engine.connect() as conn:
        for t in ROLLUP_TABLES:
            res = conn.execute(text(f"SELECT * FROM {t}"))
            keys = [k for k in res.keys() if k != "id"]
            out[t] = sorted(tuple(_norm(row._mapping[k]) for k in keys) for row in res)
    return out


def _rebuilt(store) -> dict:
    """The rollups as a full rebuild from the rows makes them (in a transaction rolled back afterwards)."""
    from nexus_tui.store.rollup import rebuild

    with store.engine.connect() as conn:
        trans = conn.begin()
        rebuild(conn)
        out = {}
        for t in ROLLUP_TABLES:
            res = conn.execute(text(f"SELECT * FROM {t}"))
            keys = [k for k in res.keys() if k != "id"]
            out[t] = sorted(tuple(_norm(row._mapping[k]) for k in keys) for row in res)
        trans.rollback()
    return out


def _report_json(env: dict, name: str, *extra: str) -> dict:
    r = _cli(env, "--headless", name, "--format", "json", "--no-collect", *extra)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def test_every_command_on_postgresql_equals_sqlite(tmp_path, pg_url):
    """ingest, collect --once and every report through --db postgresql+psycopg://…: the same rows and the same
    report numbers as on SQLite for the same tree."""
    copy_cc_tree(tmp_path / "claude")
    sqlite_url = f"sqlite:///{tmp_path / 'ref.db'}"
    pg_env, lite_env = _env(tmp_path, pg_url), _env(tmp_path, sqlite_url)
    for env in (pg_env, lite_env):
        r = _cli(env, "ingest")
        assert r.returncode == 0, r.stderr.decode()
        assert "264 tasks" in r.stdout.decode()
        r = _cli(env, "collect", "--once")  # nothing new: a second pass writes nothing
        assert r.returncode == 0, r.stderr.decode()
    pg, lite = open_store(pg_url), open_store(sqlite_url)
    try:
        assert _normalized(dump(pg)) == _normalized(dump(lite))
        assert _rollups(pg) == _rollups(lite)
    finally:
        pg.close()
        lite.close()
    for name in REPORTS:  # the money sums used to differ in the last bits (SQLite's SUM compensates)
        assert _report_json(pg_env, name) == _report_json(lite_env, name), name
    for mode in ("calculate", "display"):
        for name in ("summary", "models"):
            args = ("--cost-mode", mode, "--since", "2025-01-01")
            assert _report_json(pg_env, name, *args) == _report_json(lite_env, name, *args), (name, mode)


def test_a_new_database_opened_by_four_processes_at_once(tmp_path, pg_url):
    """Both used to create the tables: duplicate key value violates unique constraint "pg_type_typname_nsp_index"."""
    env = _env(tmp_path, pg_url)
    procs = [subprocess.Popen([sys.executable, "-m", "nexus_tui", "--headless", "summary", "--no-collect"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1].decode() for o in outs]
    store = open_store(pg_url)
    try:
        with store.engine.connect() as conn:
            versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
        from nexus_tui.store.schema import SCHEMA_VERSION

        assert versions == [SCHEMA_VERSION]  # created once
    finally:
        store.close()


def test_four_collectors_at_once_lose_and_double_nothing(tmp_path, pg_url):
    """Four ingest processes on one PostgreSQL database at once: every row once, and the rollups exactly what a
    rebuild from the rows gives (the rollup upkeep used to count a bucket twice under concurrent writers)."""
    projects = copy_cc_tree(tmp_path / "claude")
    env = _env(tmp_path, pg_url)
    procs = [subprocess.Popen([sys.executable, "-m", "nexus_tui", "ingest"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1].decode() for o in outs]
    assert not any(b"problem" in o[1] for o in outs), [o[1].decode() for o in outs]
    pg = open_store(pg_url)
    ref = open_store(f"sqlite:///{tmp_path / 'ref.db'}")
    try:
        from tests.helpers import collector_for

        collector_for(ref, projects).run_once()
        assert _normalized(dump(pg)) == _normalized(dump(ref))
        with pg.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT id) FROM tasks")).one() == (264, 264)
            assert conn.execute(text("SELECT COUNT(*) FROM rollup_dirty")).scalar() == 0
        assert _rollups(pg) == _rebuilt(pg) == _rollups(ref)
    finally:
        pg.close()
        ref.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rollup_marks_of_another_writer_are_not_lost(tmp_path, request, backend):
    """apply_marks deletes only the marks it summed: a mark queued by another writer after it read the queue stays."""
    from nexus_tui.store import rollup, upkeep
    from nexus_tui.store.engine import write_tx

    url = f"sqlite:///{tmp_path / 's.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = open_store(url)
    try:
        with write_tx(store.engine) as conn:
            rollup.mark(conn, [("s1", 0)])
        with write_tx(store.engine) as conn:
            rows = conn.exec_driver_sql("SELECT id FROM rollup_dirty").fetchall()
            assert len(rows) == 1
            # the queue as it was read, then one more mark arriving before the delete
            real_recompute = upkeep.recompute  # the upkeep is store/upkeep.py's (rollup.py re-exports it)

            def recompute_then_mark(c, tk=(), tl=()):
                real_recompute(c, tk, tl)
                c.exec_driver_sql("INSERT INTO rollup_dirty (kind, session_id, bucket_ms) VALUES ('task', 's2', 0)")

            upkeep.recompute = recompute_then_mark
            try:
                assert rollup.apply_marks(conn)
            finally:
                upkeep.recompute = real_recompute
        with store.engine.connect() as conn:
            left = conn.exec_driver_sql("SELECT session_id FROM rollup_dirty").scalars().all()
        assert left == ["s2"]
    finally:
        store.close()
