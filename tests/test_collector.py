"""The Claude Code collector on the real fixtures: exact totals, incremental reads, idempotence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from nexus_tui.store import open_store
from tests.conftest import CC, copy_cc_tree, require_shared
from tests.helpers import collector_for, dump, session_totals, store_at


def _reference() -> dict:
    require_shared()
    return json.loads((CC / "ccusage_reference.json").read_text())


def test_every_fixture_session_equals_ccusage_daily_totals(tmp_path, db_url):
    projects = copy_cc_tree(tmp_path / "claude")
    store = open_store(db_url)
    rep = collector_for(store, projects).run_once()
    assert rep.problems == [] and rep.skipped_total == 0
    got = session_totals(store)
    ref = _reference()["sessions"]
    assert {s["session_id"] for s in ref} <= set(got)
    for s in ref:
        d = s["daily_totals"]
        tin, tout, ccreate, cread, cost, _n = got[s["session_id"]]
        assert (tin, tout, ccreate, cread) == (d["input_tokens"], d["output_tokens"], d["cache_creation_tokens"],
                                               d["cache_read_tokens"]), s["file_stem"]
        assert cost == pytest.approx(d["cost_usd_ccusage"], rel=0.02), s["file_stem"]


def test_subagent_files_belong_to_their_parent_session(tmp_path, db_url):
    projects = copy_cc_tree(tmp_path / "claude")
    store = open_store(db_url)
    collector_for(store, projects).run_once()
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT session_id, agent_id FROM tasks WHERE agent_id IS NOT NULL"))
        pairs = set(rows)
    assert ("4d5611e5-241a-462a-8d15-5122611a9569", "a2898e3") in pairs
    assert ("4d5611e5-241a-462a-8d15-5122611a9569", "acompact-e1f845") in pairs
    # the flat 2.1.38 file's sub-agent turns exist only as agent_progress replays: counted, marked as agent work
    assert any(s == "491e126e-1e71-469c-ade2-fcc8af567c74" for s, _a in pairs)


def test_second_pass_over_unchanged_data_reads_and_writes_nothing(tmp_path, db_url):
    projects = copy_cc_tree(tmp_path / "claude")
    store = open_store(db_url)
    col = collector_for(store, projects)
    first = col.run_once()
    before = dump(store, ingest_errors=True)
    with store.engine.connect() as conn:
        cursors = conn.execute(text("SELECT * FROM ingest_cursors ORDER BY path")).fetchall()
    again = col.run_once()
    assert first.written.new_tasks > 0
    assert again.files_read == 0 and again.bytes_read == 0 and not again.written.changed
    assert dump(store, ingest_errors=True) == before
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM ingest_cursors ORDER BY path")).fetchall() == cursors


def test_a_new_collector_on_the_same_database_does_not_double(tmp_path, db_url):
    projects = copy_cc_tree(tmp_path / "claude")
    store = open_store(db_url)
    collector_for(store, projects).run_once()
    before = dump(store)
    # forget every cursor: everything is re-read, natural keys keep the rows single
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM ingest_cursors"))
    rep = collector_for(open_store(db_url), projects).run_once()
    assert rep.files_read > 0 and rep.written.new_tasks == 0 and rep.written.new_tool_calls == 0
    assert dump(store) == before


_PIECE_FILE = "subagent.jsonl"  # agent_progress replays, tool errors, streaming duplicates


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=8))
def test_appending_in_pieces_cut_anywhere_equals_one_pass(cuts):
    require_shared()
    data = (CC / "spotter" / _PIECE_FILE).read_bytes()
    points = sorted({c % len(data) for c in cuts} - {0}) + [len(data)]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        whole = d / "whole" / "projects" / "p"
        whole.mkdir(parents=True)
        (whole / _PIECE_FILE).write_bytes(data)
        ref_store = store_at(d / "ref.sqlite")
        collector_for(ref_store, whole.parent).run_once()
        expected = dump(ref_store)

        pieces = d / "pieces" / "projects" / "p"
        pieces.mkdir(parents=True)
        target = pieces / _PIECE_FILE
        store = store_at(d / "inc.sqlite")
        col = collector_for(store, pieces.parent)
        prev = 0
        for p in points:
            with open(target, "ab") as f:
                f.write(data[prev:p])
            prev = p
            rep = col.run_once()
            assert rep.problems == []
        assert dump(store) == expected
        ref_store.close()
        store.close()


def test_half_written_last_line_waits_for_the_rest(tmp_path, db_url):
    require_shared()
    lines = (CC / "spotter" / "short.jsonl").read_bytes().splitlines(keepends=True)
    target_dir = tmp_path / "projects" / "p"
    target_dir.mkdir(parents=True)
    target = target_dir / "s.jsonl"
    store = open_store(db_url)
    col = collector_for(store, tmp_path / "projects")
    # write all but the second half of the line holding the last assistant response
    def req(ln):
        d = json.loads(ln)
        return d.get("requestId") if d.get("type") == "assistant" else None

    reqs = [req(ln) for ln in lines]
    idx = max(i for i, r in enumerate(reqs) if r and r not in reqs[:i])  # first line of the last response
    head = b"".join(lines[:idx]) + lines[idx][: len(lines[idx]) // 2]
    target.write_bytes(head)
    col.run_once()
    with store.engine.connect() as conn:
        n1 = conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar()
        off = conn.execute(text("SELECT \"offset\" FROM ingest_cursors")).scalar()
    assert off == len(b"".join(lines[:idx]))  # stopped before the partial line
    with open(target, "ab") as f:
        f.write(lines[idx][len(lines[idx]) // 2:] + b"".join(lines[idx + 1:]))
    rep = col.run_once()
    assert rep.skipped_total == 0
    with store.engine.connect() as conn:
        n2 = conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar()
    assert n2 == n1 + 1


def test_truncated_and_replaced_files_are_reread_without_doubling(tmp_path, db_url):
    require_shared()
    src = (CC / "sniffly" / "ba79134d-b6e9-4867-af0c-6941038c9e4b.jsonl").read_bytes()
    other = (CC / "sniffly" / "fed8ce56-bc79-401f-a83e-af084253362f.jsonl").read_bytes()
    pdir = tmp_path / "projects" / "p"
    pdir.mkdir(parents=True)
    target = pdir / "s.jsonl"
    target.write_bytes(src)
    store = open_store(db_url)
    col = collector_for(store, tmp_path / "projects")
    col.run_once()
    once = session_totals(store)
    # truncated to a prefix, then written again in full: re-read from the start, same totals
    target.write_bytes(src[: len(src) // 3])
    rep = col.run_once()
    assert rep.restarted == 1
    target.write_bytes(src)
    col.run_once()
    assert session_totals(store) == once
    # replaced by another file (new inode, different head): its rows are added, the old ones are kept
    tmp = pdir / "new.tmp"
    tmp.write_bytes(other)
    os.replace(tmp, target)
    rep = col.run_once()
    assert rep.restarted == 1
    after = session_totals(store)
    assert after["ba79134d-b6e9-4867-af0c-6941038c9e4b"] == once["ba79134d-b6e9-4867-af0c-6941038c9e4b"]
    assert "fed8ce56-bc79-401f-a83e-af084253362f" in after


def test_sessions_survive_deleted_transcripts(tmp_path, db_url):
    projects = copy_cc_tree(tmp_path / "claude")
    store = open_store(db_url)
    col = collector_for(store, projects)
    col.run_once()
    before = session_totals(store)
    shutil.rmtree(projects)  # Claude Code's 30-day cleanup
    rep = col.run_once()
    assert rep.problems == []
    assert session_totals(store) == before


def test_two_ingest_processes_at_once_leave_no_duplicate(tmp_path):
    projects = copy_cc_tree(tmp_path / "claude")
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))
    env.pop("NEXUS_INSIGHTS_DB", None)
    cmd = [sys.executable, "-m", "nexus_tui", "ingest"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    new_tasks = sum(int(o[0].decode().split("new: ")[1].split(" sessions, ")[1].split(" tasks")[0]) for o in outs)
    store = store_at(tmp_path / "nexus" / "insights.db")
    ref = tmp_path / "ref.sqlite"
    ref_store = store_at(ref)
    collector_for(ref_store, projects).run_once()
    assert dump(store) == dump(ref_store)
    with store.engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar()
    assert new_tasks == n  # each task was new to exactly one of the three processes
