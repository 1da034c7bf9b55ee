"""Which files the collector reads and how it knows them again (issue 10: A4 special files, A5 rewritten files,
A6 unended and over-long lines, A10 damaged cursor rows)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from nexus_tui.collect import tail
from tests.conftest import CC, copy_cc_tree, require_shared
from tests.helpers import collector_for, dump, store_at

SNIFFLY = "ba79134d-b6e9-4867-af0c-6941038c9e4b.jsonl"
OTHER = "fed8ce56-bc79-401f-a83e-af084253362f.jsonl"


def _env(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("NEXUS_INSIGHTS_DB", None)
    return env


def _task_count(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar()


# ------------------------------------------------------------------------------------------------ A4 special files
def test_fifo_links_and_linked_folders_are_passed_over_counted_and_never_block_ingest(tmp_path):
    require_shared()
    projects = tmp_path / "claude" / "projects"
    real = projects / "p"
    real.mkdir(parents=True)
    (real / SNIFFLY).write_bytes((CC / "sniffly" / SNIFFLY).read_bytes())
    os.mkfifo(real / "pipe.jsonl")  # nobody ever writes to it: opening it for reading would block forever
    junk = tmp_path / "outside.txt"
    junk.write_text("".join(f"root:x:{i}:0:junk\n" for i in range(24)))
    os.symlink(junk, real / "passwd.jsonl")  # a link to a file outside the tree
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / OTHER).write_bytes((CC / "sniffly" / OTHER).read_bytes())
    os.symlink(elsewhere, projects / "linked-project")  # a linked project folder: not followed either
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "ingest"], env=_env(tmp_path), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipped lines: 0" in r.stdout, r.stdout  # the 24 lines of the linked file were not read
    assert "passed over: 3 entries" in r.stdout, r.stdout
    assert "not a regular file: 1" in r.stdout and "symbolic link (not followed): 1" in r.stdout, r.stdout
    # the linked project folder is not entered, and said so (a tree of links must not read as an empty tree)
    assert "symbolic link to a folder (not entered): 1" in r.stdout, r.stdout
    # exactly the regular file's rows: the same as a store that read only it
    ref_dir = tmp_path / "ref" / "projects" / "p"
    ref_dir.mkdir(parents=True)
    (ref_dir / SNIFFLY).write_bytes((CC / "sniffly" / SNIFFLY).read_bytes())
    ref = store_at(tmp_path / "ref.sqlite")
    collector_for(ref, tmp_path / "ref" / "projects").run_once()
    got = store_at(tmp_path / "nexus" / "insights.db")
    assert dump(got) == dump(ref)
    assert _task_count(got) > 0


def test_a_root_that_is_itself_a_link_is_read(tmp_path):
    require_shared()
    real = tmp_path / "real-projects" / "p"
    real.mkdir(parents=True)
    (real / SNIFFLY).write_bytes((CC / "sniffly" / SNIFFLY).read_bytes())
    os.symlink(tmp_path / "real-projects", tmp_path / "projects")
    store = store_at(tmp_path / "db.sqlite")
    rep = collector_for(store, tmp_path / "projects").run_once()
    assert rep.files_read == 1 and not rep.passed_over and _task_count(store) > 0


def test_a_fifo_put_in_place_of_a_planned_file_is_not_opened(tmp_path):
    """Between the scan and the read a file is replaced by a FIFO: the read does not block and reads nothing."""
    from nexus_tui.collect.parsing import read_file
    from nexus_tui.collect.sources import ClaudeCodeSource

    d = tmp_path / "projects" / "p"
    d.mkdir(parents=True)
    os.mkfifo(d / "s.jsonl")
    assert read_file(ClaudeCodeSource([tmp_path / "projects"]), str(d / "s.jsonl"), None) is None
    assert tail.open_regular(str(d / "s.jsonl")) is None


# ------------------------------------------------------------------------------------------- A5 rewritten in place
def _lines(name: str) -> list[bytes]:
    require_shared()
    return (CC / "sniffly" / name).read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("how", ["in place", "recreated"])
@pytest.mark.parametrize("keep", [4, 9, 20])
def test_a_file_rewritten_longer_in_place_with_the_same_head_equals_a_clean_ingest(tmp_path, keep, how):
    first, other = _lines(SNIFFLY), _lines(OTHER)
    head = b"".join(first[:keep])
    assert len(head) > tail.HEAD_BYTES  # the first KiB is the same in both versions
    a = b"".join(first[: keep + 4])  # what was read first
    b = head + b"".join(other)  # then the same inode is rewritten: same head, other lines, longer
    assert len(b) > len(a)
    pdir = tmp_path / "projects" / "p"
    pdir.mkdir(parents=True)
    target = pdir / "s.jsonl"
    target.write_bytes(a)
    store = store_at(tmp_path / "db.sqlite")
    col = collector_for(store, tmp_path / "projects")
    col.run_once()
    ino = target.stat().st_ino
    if how == "in place":  # same inode, same first KiB
        with open(target, "r+b") as f:
            f.write(b)
            f.truncate()
    else:  # deleted and written again: most file systems give the freed inode to the new file
        target.unlink()
        target.write_bytes(b)
    if target.stat().st_ino != ino:
        pytest.skip("this file system gave the recreated file another inode")
    rep = col.run_once()
    assert rep.restarted == 1 and rep.skipped_total == 0 and rep.problems == []
    # reference: each version read whole, cleanly, in its own file (rows of the first version stay, as always)
    ref = store_at(tmp_path / "ref.sqlite")
    for i, content in enumerate((a, b)):
        d = tmp_path / f"ref{i}" / "projects" / "p"
        d.mkdir(parents=True)
        (d / "s.jsonl").write_bytes(content)
    collector_for(ref, tmp_path / "ref0" / "projects").run_once()
    collector_for(ref, tmp_path / "ref1" / "projects").run_once()
    assert dump(store) == dump(ref)


def test_old_cursor_hashes_without_the_tail_part_still_work(tmp_path):
    lines = _lines(SNIFFLY)
    pdir = tmp_path / "projects" / "p"
    pdir.mkdir(parents=True)
    target = pdir / "s.jsonl"
    target.write_bytes(b"".join(lines[:30]))
    store = store_at(tmp_path / "db.sqlite")
    col = collector_for(store, tmp_path / "projects")
    col.run_once()
    with store.engine.begin() as conn:  # a cursor written before the tail hash was kept
        conn.execute(text("UPDATE ingest_cursors SET head_hash = substr(head_hash, 1, instr(head_hash, '/') - 1)"))
    with open(target, "ab") as f:
        f.write(b"".join(lines[30:]))
    rep = col.run_once()
    assert rep.restarted == 0 and rep.bytes_read == len(b"".join(lines[30:]))


# ------------------------------------------------------------------------------- A6 unended and over-long lines
def test_a_last_line_without_newline_is_counted_once_and_not_read_again_until_it_changes(tmp_path):
    lines = _lines(SNIFFLY)
    pdir = tmp_path / "projects" / "p"
    pdir.mkdir(parents=True)
    target = pdir / "s.jsonl"
    body = b"".join(lines[:-1])
    last = lines[-1]
    target.write_bytes(body + last[: len(last) // 2])  # the writer stopped mid-line (no newline, not JSON)
    store = store_at(tmp_path / "db.sqlite")
    col = collector_for(store, tmp_path / "projects")
    rep = col.run_once()
    assert rep.skipped == {tail.INCOMPLETE_REASON: 1}
    assert rep.bytes_read == len(body)
    for _ in range(3):  # nothing changed: the file is not even opened again
        rep = col.run_once()
        assert (rep.files_read, rep.bytes_read, rep.skipped_total) == (0, 0, 0)
    with open(target, "ab") as f:
        f.write(last[len(last) // 2:])
    rep = col.run_once()
    assert rep.files_read == 1 and rep.skipped_total == 0 and rep.bytes_read == len(last)
    ref = store_at(tmp_path / "ref.sqlite")
    rd = tmp_path / "ref" / "projects" / "p"
    rd.mkdir(parents=True)
    (rd / "s.jsonl").write_bytes(b"".join(lines))
    collector_for(ref, tmp_path / "ref" / "projects").run_once()
    assert dump(store) == dump(ref)


def test_an_over_long_line_is_stepped_over_and_counted_once(tmp_path, monkeypatch):
    monkeypatch.setattr(tail, "MAX_LINE_BYTES", 3 * 1024 * 1024)  # the rule, at a size a test can afford
    lines = _lines(SNIFFLY)
    huge = b'{"type":"user","junk":"' + b"x" * (20 * 1024 * 1024) + b'"}\n'  # > 2 read chunks, > the limit
    pdir = tmp_path / "projects" / "p"
    pdir.mkdir(parents=True)
    (pdir / "s.jsonl").write_bytes(b"".join(lines[:10]) + huge + b"".join(lines[10:]))
    store = store_at(tmp_path / "db.sqlite")
    rep = collector_for(store, tmp_path / "projects").run_once()
    assert rep.skipped == {tail.OVERLONG_REASON: 1}
    assert rep.lines == len(lines) + 1
    ref = store_at(tmp_path / "ref.sqlite")
    rd = tmp_path / "ref" / "projects" / "p"
    rd.mkdir(parents=True)
    (rd / "s.jsonl").write_bytes(b"".join(lines))
    collector_for(ref, tmp_path / "ref" / "projects").run_once()
    got, want = dump(store), dump(ref)
    # the lines after the long one sit further into the file: compare tool calls without their byte positions
    strip = lambda rows: sorted(r[:18] for r in rows)  # noqa: E731 - up to source_path
    assert strip(got.pop("tool_calls")) == strip(want.pop("tool_calls"))
    assert got == want


def test_an_over_long_line_still_being_written_waits_and_is_counted_once_when_it_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(tail, "MAX_LINE_BYTES", 3 * 1024 * 1024)
    lines = _lines(SNIFFLY)
    pdir = tmp_path / "projects" / "p"
    pdir.mkdir(parents=True)
    target = pdir / "s.jsonl"
    target.write_bytes(b"".join(lines[:10]) + b'{"junk":"' + b"x" * (12 * 1024 * 1024))
    store = store_at(tmp_path / "db.sqlite")
    col = collector_for(store, tmp_path / "projects")
    rep = col.run_once()
    assert rep.skipped == {tail.INCOMPLETE_REASON: 1}
    assert col.run_once().files_read == 0
    with open(target, "ab") as f:
        f.write(b'"}\n' + b"".join(lines[10:]))
    rep = col.run_once()
    assert rep.skipped == {tail.OVERLONG_REASON: 1}


# ------------------------------------------------------------------------------------- A10 damaged cursor rows
@pytest.mark.parametrize("damage", [
    "\"offset\" = X'00FF9A'",
    "\"offset\" = 'junk\x01'",
    "head_hash = X'00FF9A3A'",
    "head_hash = 'x:' || char(27) || '[31m'",
    "lines = -5",
    "state = X'00'",
])
def test_a_damaged_cursor_row_is_read_again_from_the_start_not_a_failure_every_pass(tmp_path, damage):
    projects = copy_cc_tree(tmp_path / "claude")
    store = store_at(tmp_path / "db.sqlite")
    col = collector_for(store, projects)
    col.run_once()
    clean = dump(store)
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE ingest_cursors SET {damage}"))
    for p in projects.rglob("*.jsonl"):  # touched: every file is looked at again through its damaged cursor
        os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 1_000_000_000))
    rep = col.run_once()
    assert rep.problems == [] and rep.skipped_total == 0
    assert dump(store) == clean
    rep = col.run_once()  # the rows were rewritten: nothing left to read
    assert (rep.problems, rep.files_read) == ([], 0)


@pytest.mark.parametrize("damage", ["state = X'00'", "state = 7", "head_hash = X'00FF9A3A'", "lines = -5"])
@pytest.mark.parametrize("append", [False, True], ids=["touched", "appended"])
def test_the_ingest_command_reads_a_damaged_cursor_row_again_from_the_start(tmp_path, damage, append):
    """The command plans its pass before the store is open and loads the parser state only for the files it reads
    (collect/parsing.py): a damaged row there also reads its file again from the start, through the store's path
    (many files) or the light one (a few appended lines), with the rows of a clean pass."""
    from click.testing import CliRunner

    from nexus_tui.cli import main

    projects = copy_cc_tree(tmp_path / "claude")
    env = {"HOME": str(tmp_path), "NEXUS_INSIGHTS_HOME": str(tmp_path / "nexus"),
           "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    run = lambda: CliRunner().invoke(main, ["ingest"], env=env, catch_exceptions=False)  # noqa: E731
    victim = max(projects.rglob("*.jsonl"), key=lambda p: p.stat().st_size)
    body = victim.read_bytes()
    cut = body.rindex(b"\n", 0, len(body) - 1) + 1
    victim.write_bytes(body[:cut])  # its last line comes later, appended
    assert run().exit_code == 0
    if append:  # the last line, appended, through the light path for that one file
        with open(victim, "ab") as f:
            f.write(body[cut:])
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE ingest_cursors SET {damage} WHERE path LIKE :p"), {"p": f"%{victim.name}"})
    if not append:
        os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 1_000_000_000))
        victim.write_bytes(body)
    r = run()
    assert r.exit_code == 0 and "skipped lines: 0" in r.output, r.output
    got = dump(store)
    clean_store = store_at(tmp_path / "clean.db")
    collector_for(clean_store, projects).run_once()
    assert got == dump(clean_store)


def test_reading_a_tool_block_back_never_blocks_on_a_fifo(tmp_path):
    from nexus_tui.collect.reader import read_tool_block

    os.mkfifo(tmp_path / "s.jsonl")
    b = read_tool_block(str(tmp_path / "s.jsonl"), 0, 10, "toolu_x", "use")
    assert b.problem and "no longer a regular file" in b.problem
