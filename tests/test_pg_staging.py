"""PostgreSQL writes large upserts through a staging table (COPY, then one INSERT ... SELECT with the statement's own
ON CONFLICT clause, in rounds that hold each id once): the stored rows must be exactly what one execution a row
gives, duplicates of an id within a write included. Real PostgreSQL server (tests/pg_server.py)."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import create_engine, text

from bench.gen import generate
from nexus_tui.store import writer
from tests.conftest import CC, require_shared

SURROGATE = {"id"}  # rollup rows' surrogate ids differ between two runs of the same path


def _norm(v, root: str):
    """Paths relative to the test's folder; a float to 12 significant digits: a rollup's SUM adds its rows in their
    physical order, which the two ways of writing leave different (0.1555944 against 0.15559439999999997)."""
    if isinstance(v, str):
        return v.replace(root, "<root>")
    if isinstance(v, float):
        return float(f"{v:.12g}")
    return v


def _tables(url: str, root: str) -> dict[str, list]:
    eng = create_engine(url)
    out = {}
    with eng.connect() as c:
        names = [r[0] for r in c.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"))]
        for t in names:
            cols = [r[0] for r in c.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = :t ORDER BY ordinal_position"), {"t": t})]
            if t.endswith(("_rollups", "_hours", "_days")):
                cols = [n for n in cols if n not in SURROGATE]
            if t in ("machines", "schema_version"):
                continue  # when the pass ran
            rows = c.execute(text(f"SELECT {', '.join(chr(34) + n + chr(34) for n in cols)} FROM {t}")).all()
            rows = [tuple(_norm(v, root) for v in r) for r in rows]
            if t == "ingest_cursors":
                rows = [r[:cols.index("last_seen")] + r[cols.index("last_seen") + 1:] for r in rows]
            if t == "errors":  # the ingest's audit rows carry the pass's time
                rows = [r for r in rows if "ingest:" not in str(r[0])]
            out[t] = sorted(rows, key=repr)
    eng.dispose()
    return out


def _ingest(monkeypatch, tmp_path, url: str, claude, min_rows: int) -> None:
    from nexus_tui.config import load_settings
    from nexus_tui.ingest_cmd import run

    monkeypatch.setattr(writer, "PG_STAGE_MIN_ROWS", min_rows)
    monkeypatch.setenv("NEXUS_INSIGHTS_MACHINE", "m-test")
    assert run(load_settings(home=str(tmp_path / "home"), db=url, claude_dirs=[str(claude)])) == 0


def test_staged_writes_store_what_row_by_row_writes_store(tmp_path, monkeypatch, pg_server):
    require_shared()
    if pg_server.admin_url is None:
        pytest.skip(pg_server.skip_reason or "no PostgreSQL server")
    claude = tmp_path / "claude"
    generate(claude, 3.0, seed=11)
    for name in ("sniffly", "spotter"):
        shutil.copytree(CC / name, claude / "projects" / f"-real-{name}")
    # the same transcripts again in another folder: every task, tool call and message id twice in one write
    shutil.copytree(CC / "spotter", claude / "projects" / "-real-spotter-again")
    got = {}
    for label, min_rows in (("row by row", 10**9), ("staged", 1), ("staged from 200 rows", 200)):
        url = pg_server.new_database()
        shutil.rmtree(tmp_path / "home", ignore_errors=True)
        _ingest(monkeypatch, tmp_path, url, claude, min_rows)
        got[label] = _tables(url, str(tmp_path))
    base = got["row by row"]
    assert len(base["tasks"]) > 500 and len(base["tool_calls"]) > 500 and len(base["message_uuids"]) > 1000
    assert got["staged"] != {} and base["tasks"] == sorted(base["tasks"], key=repr)
    for label in ("staged", "staged from 200 rows"):
        for t in base:
            assert got[label][t] == base[t], (label, t)


def test_an_id_several_times_in_one_write_is_applied_in_order(pg_server):
    """Rounds: each id once per INSERT ... SELECT, in the order the rows came (the upsert keeps the smaller session
    id of a message uuid, so the order shows only through ts_ms, which follows the winning row)."""
    from nexus_tui.store import open_store
    from nexus_tui.store.schema import MessageUuid
    from nexus_tui.store.titles import uuid_upsert

    rows = [("u1", "s3", 1), ("u1", "s1", 2), ("u2", "s9", 3), ("u1", "s2", 4), ("u1", "s1", 5), ("u3", "s5", 6)]
    if pg_server.admin_url is None:
        pytest.skip(pg_server.skip_reason or "no PostgreSQL server")
    results = {}
    for label, min_rows in (("row by row", 10**9), ("staged", 1)):
        store = open_store(pg_server.new_database())
        writer.PG_STAGE_MIN_ROWS, saved = min_rows, writer.PG_STAGE_MIN_ROWS
        try:
            with store.engine.begin() as conn:
                writer._executemany_tuples(conn, "message_uuids", uuid_upsert, MessageUuid.__table__, rows)
                results[label] = sorted(conn.execute(text("SELECT id, session_id, ts_ms FROM message_uuids")).all())
        finally:
            writer.PG_STAGE_MIN_ROWS = saved
            store.close()
    assert results["staged"] == results["row by row"] == [("u1", "s1", 2), ("u2", "s9", 3), ("u3", "s5", 6)]

