"""Many machines, one database (docs/teams.md): each collector's machine id on its rows and cursors, so two machines
with the same paths and the same session ids never overwrite or skip each other; reports per machine; who rated."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from nexus_tui.core.filters import Filters
from nexus_tui.store import open_store
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import usage as RU
from nexus_tui.store.machines import machines
from tests.conftest import copy_cc_tree
from tests.helpers import collector_for, dump

KEYS = ("sessions", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "cost_usd",
        "tool_calls", "tool_failures", "rated_helpful")


def _summary(store, **f) -> dict:
    s = RU.summary(store.engine, Filters(**f))
    return {k: s[k] for k in KEYS}


def test_two_machines_with_the_same_tree_and_paths_keep_both(tmp_path, db_url):
    """Two collectors (machines a1 and b2) read the very same tree (same paths, same session ids) into one database:
    both sets are kept, neither skips the other's files, and each machine's report equals a one-machine database's."""
    projects = copy_cc_tree(tmp_path / "claude")
    ref = open_store(f"sqlite:///{tmp_path / 'ref.db'}")
    collector_for(ref, projects).run_once()
    a = open_store(db_url, machine=("a1", "laptop"))
    b = open_store(db_url, machine=("b2", "desk"))
    try:
        rep_a = collector_for(a, projects).run_once()
        rep_b = collector_for(b, projects).run_once()
        assert rep_a.written.new_tasks == rep_b.written.new_tasks == 264  # b skipped nothing of a's paths
        for s in (a, b):  # a second pass of each reads nothing: each has its own cursors
            again = collector_for(s, projects).run_once()
            assert again.files_read == 0 and again.written.new_tasks == 0
        with a.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT id) FROM tasks")).one() == (528, 528)
            by = dict(conn.execute(text("SELECT machine, COUNT(*) FROM tasks GROUP BY machine")).all())
            assert by == {"a1": 264, "b2": 264}
            for t in ("sessions", "tool_calls"):
                assert conn.execute(text(f"SELECT COUNT(*) FROM {t} WHERE machine IS NULL")).scalar() == 0
            cursors = conn.execute(text("SELECT machine, path FROM ingest_cursors")).all()
        assert {m for m, _ in cursors} == {"a1", "b2"}
        assert all(p.startswith("b2/") == (m == "b2") for m, p in cursors)
        # the home machine (registered first) keeps the natural ids; the other's are prefixed
        home = dump(a, machine="a1")
        assert home == dump(ref)
        other = dump(b, machine="b2")
        assert len(other["tasks"]) == 264 and all(r[0].startswith("b2/") and r[1].startswith("b2/")
                                                  for r in other["tasks"])
        one = _summary(ref)
        assert _summary(a, machine="a1") == one
        assert _summary(a, machine="desk") == one  # by name too
        both = _summary(a)
        assert both["tasks"] == 2 * one["tasks"] and both["sessions"] == 2 * one["sessions"]
        assert both["tool_calls"] == 2 * one["tool_calls"]
        assert both["cost_usd"] == pytest.approx(2 * one["cost_usd"])
        assert {r["machine"] for r in RS.sessions(a.engine, Filters(), limit=None).rows} == {"a1", "b2"}
        assert [(m["id"], m["name"], m["home"]) for m in machines(a.engine)] == [("a1", "laptop", True),
                                                                                  ("b2", "desk", False)]
    finally:
        a.close()
        b.close()
        ref.close()


def test_ratings_carry_who_rated(db_url):
    from nexus_tui.core.events import Batch, SessionRec, TaskRec

    a = open_store(db_url, machine=("a1", "laptop"))
    b = open_store(db_url, machine=("b2", "desk"))
    try:
        t0 = 1_780_000_000_000
        batch = Batch(sessions=[SessionRec(id="s", start_ms=t0, end_ms=t0)],
                      tasks=[TaskRec(id="t", session_id="s", ts_ms=t0, source="otel", model="m")])
        a.writer.write(batch)
        b.writer.write(batch)  # the same ids from the other machine: a row of its own
        assert b.writer.rate("b2/t", 1) == (None, 1)
        assert a.writer.rate("t", 0) == (None, 1)
        with a.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, machine, quality_rating, rated_by FROM tasks ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [("b2/t", "b2", 1, "b2"), ("t", "a1", 0, "a1")]
    finally:
        a.close()
        b.close()


def test_rows_stored_before_machines_belong_to_the_first_machine(db_url):
    """A database from before version 8 (rows without a machine): the first machine to register is the home
    machine and takes them, keeping their ids; the next machine is not home."""
    from nexus_tui.core.events import Batch, SessionRec, TaskRec

    old = open_store(db_url)  # writes without a machine, as before
    t0 = 1_780_000_000_000
    old.writer.write(Batch(sessions=[SessionRec(id="s", start_ms=t0, end_ms=t0)],
                           tasks=[TaskRec(id="t", session_id="s", ts_ms=t0, source="otel", model="m")]))
    old.close()
    first = open_store(db_url, machine=("first", "x"))
    second = open_store(db_url, machine=("second", "y"))
    try:
        assert first.writer._prefix == "" and second.writer._prefix == "second/"
        with first.engine.connect() as conn:
            assert conn.execute(text("SELECT id, machine FROM tasks")).all() == [("t", "first")]
            assert conn.execute(text("SELECT id, machine FROM sessions")).all() == [("s", "first")]
    finally:
        first.close()
        second.close()


def _env(tmp, url, machine=None):
    env = dict(os.environ, HOME=str(tmp), NEXUS_INSIGHTS_HOME=str(tmp / "nexus"), CLAUDE_CONFIG_DIR=str(tmp / "claude"),
               NEXUS_INSIGHTS_DB=url, TZ="UTC")
    env.pop("NEXUS_INSIGHTS_MACHINE", None)
    if machine:
        env["NEXUS_INSIGHTS_MACHINE"] = machine
    return env


def _cli(env, *args):
    r = subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_reports_per_machine_through_the_cli(tmp_path, db_url):
    """`ingest` from two machines into one database; `--machine` reports equal a one-machine database's."""
    copy_cc_tree(tmp_path / "claude")
    ref_env = _env(tmp_path, f"sqlite:///{tmp_path / 'ref.db'}", "solo")
    _cli(ref_env, "ingest")
    for m in ("m1", "m2"):
        _cli(_env(tmp_path, db_url, m), "ingest")
    for m in ("m1", "m2"):  # each machine's cursors found again (the pass planned before the store opens too)
        assert ", 0 read" in _cli(_env(tmp_path, db_url, m), "ingest")
    env = _env(tmp_path, db_url, "m1")
    for name in ("summary", "models", "daily"):
        want = json.loads(_cli(ref_env, "--headless", name, "--format", "json", "--no-collect"))
        for m in ("m1", "m2"):
            got = json.loads(_cli(env, "--headless", name, "--format", "json", "--no-collect", "--machine", m))
            assert got == want, (name, m)
    sessions = json.loads(_cli(env, "--headless", "sessions", "--format", "json", "--no-collect", "--machine",
                               "m2"))["sessions"]
    assert len(sessions) == 7 and {r["machine"] for r in sessions} == {"m2"}
    assert all(r["session_id"].startswith("m2/") for r in sessions)


def test_the_machine_id_is_generated_once_into_a_private_file(tmp_path, monkeypatch):
    from nexus_tui.config import load_settings
    from nexus_tui.machine import identity

    monkeypatch.delenv("NEXUS_INSIGHTS_MACHINE", raising=False)
    home = tmp_path / "nexus"
    settings = load_settings(home, None, [])
    mid, name = identity(settings)
    assert identity(settings)[0] == mid and name
    f = home / "machine-id"
    assert f.read_text().strip() == mid and stat.S_IMODE(f.stat().st_mode) == 0o600
    (home / "insights.toml").write_text('[machine]\nid = "build-box.1"\nname = "CI"\n')
    assert identity(load_settings(home, None, [])) == ("build-box.1", "CI")
    (home / "insights.toml").write_text('[machine]\nid = "no/slashes"\n')
    with pytest.raises(ValueError, match="not a machine id"):
        identity(load_settings(home, None, []))



@pytest.mark.parametrize("case", ["machine-id is a folder", "home under a file"])
def test_a_machine_id_that_cannot_be_read_is_one_line_not_a_traceback(tmp_path, case):
    """Reading <home>/machine-id raised IsADirectoryError / NotADirectoryError through every command (only a
    missing file was expected); it is the same one line as an id that cannot be written, exit 2."""
    home = tmp_path / "nexus"
    if case == "machine-id is a folder":
        (home / "machine-id").mkdir(parents=True)
    else:
        (tmp_path / "file").write_text("x")
        home = tmp_path / "file" / "nexus"
    env = dict(_env(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", None), NEXUS_INSIGHTS_HOME=str(home))
    for args in (["--headless", "summary"], ["ingest"], ["collect", "--once"]):
        r = subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip() == (f"nexus-insights: cannot store this machine's id in {home / 'machine-id'} ("
                                    + ("Is a directory" if case.startswith("machine") else "Not a directory")
                                    + "): make the folder writable or set [machine] id in insights.toml")

_RACER = """
import sys, time
from pathlib import Path
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
from nexus_tui.machine import _stored_id
print(_stored_id(Path(sys.argv[1])))
"""


def test_processes_starting_at_once_on_a_new_home_share_one_machine_id(tmp_path):
    """Four collectors started at once on a new home used to generate four ids, each writing its own file: the
    database then held the same tree under two machines (a flaky failure of the four-collector PostgreSQL test)."""
    for attempt in range(3):
        home, go = tmp_path / f"home{attempt}", tmp_path / f"go{attempt}"
        procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(home), str(go)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(8)]
        time.sleep(0.5)  # every racer imported and waiting
        go.touch()
        outs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1].decode() for o in outs]
        ids = {o[0].decode().strip() for o in outs}
        assert ids == {(home / "machine-id").read_text().strip()}, ids
        assert stat.S_IMODE((home / "machine-id").stat().st_mode) == 0o600
        assert sorted(p.name for p in home.iterdir()) == ["machine-id"]  # no temporary file left behind


def test_merge_a_laptops_history_twice_is_once(tmp_path, db_url):
    """`merge SOURCE_URL`: a laptop's SQLite history (from before machines: no machine on its rows) into a shared
    database another machine already writes to; merging again adds nothing; each machine's report is its own."""
    projects = copy_cc_tree(tmp_path / "claude")
    laptop_url = f"sqlite:///{tmp_path / 'laptop.db'}"
    laptop = open_store(laptop_url)  # no machine: as a version-6 collector wrote it
    collector_for(laptop, projects).run_once()
    one = _summary(laptop)
    laptop.close()
    shared = open_store(db_url, machine=("desk", "desk"))
    collector_for(shared, projects).run_once()  # the desk is the shared database's home machine
    shared.close()
    env = _env(tmp_path, db_url, "desk")
    out = _cli(env, "merge", laptop_url, "--machine-id", "laptop")
    assert "264 tasks" in out
    store = open_store(db_url)
    try:
        first = dump(store)
        assert _summary(store, machine="laptop") == one and _summary(store, machine="desk") == one
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM tasks WHERE id LIKE 'laptop/%'")).scalar() == 264
            assert conn.execute(text("SELECT COUNT(*) FROM rollup_dirty")).scalar() == 0
        from tests.test_postgres import _rebuilt, _rollups

        assert _rollups(store) == _rebuilt(store)  # the merged buckets summed
        assert "0 tasks" in _cli(env, "merge", laptop_url, "--machine-id", "laptop")
        assert dump(store) == first
        assert _summary(store, machine="laptop") == one
    finally:
        store.close()


def test_a_machine_id_that_cannot_be_stored_is_a_clear_error(tmp_path, monkeypatch):
    """A read-only home without a machine-id: one sentence naming the file and the fix, not a traceback."""
    from nexus_tui.config import load_settings
    from nexus_tui.machine import identity

    import nexus_tui.private

    def refuse(path, flags):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.delenv("NEXUS_INSIGHTS_MACHINE", raising=False)
    monkeypatch.setattr(nexus_tui.private, "open_private", refuse)  # every way the file is written opens it
    home = tmp_path / "nexus"
    home.mkdir()
    with pytest.raises(ValueError, match="machine-id .*\\[machine\\] id"):
        identity(load_settings(home, None, []))
    assert not (home / "machine-id").exists()


async def test_the_dashboard_shows_and_filters_machines_when_several_write(tmp_path):
    """Sessions gets a Machine column (the readable names) when several machines write to the database, the filters
    dialog and --machine pick one, session detail names it; a one-machine database shows no such column."""
    from nexus_tui.app import NexusApp, start_filters
    from nexus_tui.config import load_settings
    from nexus_tui.core.events import Batch, SessionRec, TaskRec
    from tests.tui_helpers import SIZE, cells, settle

    url = f"sqlite:///{tmp_path / 'team.db'}"
    t0 = 1_763_000_000_000
    for i, (mid, name) in enumerate((("a1", "laptop"), ("b2", "desk"))):
        s = open_store(url, machine=(mid, name))
        b = Batch()
        for j in range(2 + i):  # laptop 2 sessions, desk 3
            sid = f"s{j}"  # the same ids on both machines: kept apart by the machine
            b.sessions.append(SessionRec(id=sid, start_ms=t0 + j * 60_000, end_ms=t0 + j * 60_000 + 5_000,
                                         cli_tool="claude-code", project="p"))
            b.tasks.append(TaskRec(id=f"t{j}", session_id=sid, ts_ms=t0 + j * 60_000 + 1_000, source="transcript",
                                   model="claude-sonnet-4-5", tokens_in=10, tokens_out=5))
        s.writer.write(b)
        s.close()

    def app(store, **kw):
        return NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None,
                        now_ms=t0 + 3_600_000, tz="UTC", **kw)

    store = open_store(url)
    try:
        a = app(store)
        async with a.run_test(size=SIZE) as pilot:
            await settle(a, pilot)
            table = a.screen.query_one("#sessions")
            assert "machine" in table.shown_columns
            col = table.shown_columns.index("machine")
            assert sorted(r[col] for r in cells(table)) == ["desk"] * 3 + ["laptop"] * 2
            await pilot.press("f")
            await settle(a, pilot)
            assert sorted(str(o[0]) for o in a.screen.query_one("#machine")._options[1:]) == ["a1", "b2"]
            a.screen.query_one("#machine").value = "b2"
            await pilot.press("ctrl+s")
            await settle(a, pilot, 3)
            assert a.filters.machine == "b2" and "machine=b2" in a.range_label()
            assert [r[col] for r in cells(a.screen.query_one("#sessions"))] == ["desk"] * 3
            await pilot.press("enter")
            await settle(a, pilot)
            assert "Machine desk" in str(a.screen.query_one("#header-more").content)
        a = app(store, filters=start_filters(None, None, None, None, "laptop"))  # --machine NAME
        async with a.run_test(size=SIZE) as pilot:
            await settle(a, pilot)
            table = a.screen.query_one("#sessions")
            assert [r[table.shown_columns.index("machine")] for r in cells(table)] == ["laptop"] * 2
    finally:
        store.close()
    solo = open_store(f"sqlite:///{tmp_path / 'solo.db'}", machine=("a1", "laptop"))
    b = Batch()
    b.sessions.append(SessionRec(id="s", start_ms=t0, end_ms=t0 + 1, cli_tool="claude-code", project="p"))
    b.tasks.append(TaskRec(id="t", session_id="s", ts_ms=t0, source="transcript", model="claude-sonnet-4-5",
                           tokens_in=1, tokens_out=1))
    solo.writer.write(b)
    try:
        a = app(solo)
        async with a.run_test(size=SIZE) as pilot:
            await settle(a, pilot)
            assert "machine" not in a.screen.query_one("#sessions").shown_columns
            assert a.screen.query_one("#sessions").row_count == 1
            await pilot.press("enter")
            await settle(a, pilot)
            assert "Machine" not in str(a.screen.query_one("#header-more").content)
    finally:
        solo.close()


def test_merging_a_hostile_database_stores_only_what_the_writer_would(tmp_path, db_url):
    """`merge` copied the source's rows raw: a secret in a project, model, error or quota status (a database written
    before redaction, or by another program) reached the shared database; a cost of inf and 10^18 tokens made every
    report's total $inf, a task of the year 33658 stopped the sessions, daily, requests and efficiency reports
    ("year 33658 is out of range"); and one value of the wrong type (a time 'soon'), a row missing a required value or a task
    whose session is nowhere stopped the whole merge (one line: "invalid literal for int()"). Each row is checked
    and redacted as the writer does; a row that cannot be stored is skipped and counted by reason."""
    import sqlite3

    from nexus_tui.core.events import Batch, SessionRec, TaskRec

    ak = "sk-ant-api03-" + "Zq9" * 30 + "-AbCdEfGh_AA"
    t0 = 1_772_366_400_000
    src_path = tmp_path / "laptop.db"
    src = open_store(f"sqlite:///{src_path}")
    src.writer.write(Batch(sessions=[SessionRec(id="s1", start_ms=t0, end_ms=t0 + 9, cli_tool="mcp", project="p")],
                           tasks=[TaskRec(id="t-good", session_id="s1", ts_ms=t0 + 9, source="otel",
                                          model="claude-opus-4-6", tokens_in=5, tokens_out=3)]))
    src.close()
    c = sqlite3.connect(src_path)  # foreign keys off: rows the app would never write

    def ins(table, **kw):
        c.execute(f"INSERT INTO {table} ({', '.join(kw)}) VALUES ({', '.join('?' * len(kw))})", list(kw.values()))

    ins("sessions", id="s-h", start_time="2026-03-01T12:00:00Z", start_ms=t0, end_ms=t0, cli_tool="claude-code",
        project=f"proj {ak}", cwd="/w/https://u:hunter2pw77@h/x", machine="not a machine id!")
    ins("tasks", id="t-secret", session_id="s-h", timestamp="2026-03-01T12:00:00Z", ts_ms=t0, source="otel",
        routing="cloud", model=f"m {ak}", tokens_in=5, error_message=f"err {ak}", status="error")
    ins("tasks", id="t-wild", session_id="s-h", timestamp="x", ts_ms="soon", source="otel", routing="cloud",
        model="m", tokens_in=10**18, tokens_out="many", cost_usd=float("inf"))
    ins("tasks", id="t-range", session_id="s-h", timestamp="x", ts_ms=t0 + 5, source="otel", routing="cloud",
        model="claude-opus-4-6", tokens_in=7, tokens_out=-5, cost_usd=1e308, latency_ms=10**9, http_status=9999,
        quality_rating=7, cache_read_tokens=3)  # each of its column's type, none in the range a parser holds it to
    ins("tasks", id="t-nomodel", session_id="s-h", timestamp="x", ts_ms=t0, source="otel", routing="cloud",
        model=b"\x00\xff")
    ins("tasks", id="t-orphan", session_id="s-nowhere", timestamp="x", ts_ms=t0, source="otel", routing="cloud",
        model="m")
    ins("sessions", id="s-far", start_time="x", start_ms=10**15, end_ms=-10**12, cli_tool="mcp")  # year 33658
    ins("tasks", id="t-far", session_id="s-far", timestamp="x", ts_ms=10**15, end_ms=2**62, source="otel",
        routing="cloud", model="claude-opus-4-6", tokens_in=5)
    ins("errors", id="e1", time="2026-03-01T12:00:00Z", ts_ms=t0, component="api", kind=f"k {ak}",
        message=f"boom {ak}")
    ins("quota_snapshots", id=f"q-{ak}", observed_ms=t0, observed_at="2026-03-01T12:00:00Z", source="proxy",
        window="five_hour", used_fraction=0.5, resets_at_ms=1e30, status=f"allowed {ak}")
    c.commit()
    c.close()
    env = _env(tmp_path, db_url, "desk")
    out = _cli(env, "merge", f"sqlite:///{src_path}", "--machine-id", "laptop")
    assert "3 sessions, 5 tasks" in out and "1 quota_snapshots" in out, out
    unknown = out.split("values stored as unknown (of the wrong type or out of range): ")[1].splitlines()[0]
    for col in ("tasks.latency_ms", "tasks.http_status", "tasks.quality_rating", "quota_snapshots.resets_at_ms"):
        assert f"{col}: 1" in unknown, unknown
    assert "tasks.cost_usd: 2" in unknown and "tasks.tokens_out: 2" in unknown, unknown  # t-wild's and t-range's
    assert ("skipped rows: 2 (tasks: model missing or invalid: 1, tasks: its session is not in either database: 1)"
            in out), out
    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            rows = {r[0]: r[1:] for r in conn.execute(text(
                "SELECT id, ts_ms, tokens_in, tokens_out, cost_usd, model, error_message FROM tasks"))}
            texts = [v for t in ("sessions", "tasks", "errors", "quota_snapshots")
                     for r in conn.execute(text(f"SELECT * FROM {t}")) for v in r if isinstance(v, str)]
            quota = conn.execute(text("SELECT resets_at_ms, status FROM quota_snapshots")).one()
            session = conn.execute(text("SELECT machine, project FROM sessions WHERE id = 'laptop/s-h'")).one()
            far = conn.execute(text("SELECT ts_ms, end_ms FROM tasks WHERE id = 'laptop/t-far'")).one()
            ranged = conn.execute(text(
                "SELECT tokens_in, tokens_out, cost_usd, latency_ms, http_status, quality_rating, cache_read_tokens "
                "FROM tasks WHERE id = 'laptop/t-range'")).one()
        summary = json.loads(_cli(env, "--headless", "summary", "--no-collect", "--format", "json",
                                  "--since", "2026-01-01"))
        for report in ("sessions", "daily", "requests", "efficiency"):  # a time laid out as a date
            _cli(env, "--headless", report, "--no-collect")
    finally:
        store.close()
    assert rows["laptop/t-wild"][:4] == (None, None, None, None), rows  # no type or range its column holds
    assert far == (None, None)  # times out of range (core.events.MIN/MAX_TIME_MS)
    assert tuple(ranged) == (7, None, None, None, None, None, 3), ranged  # out of guard.STORED_RANGES: unknown
    assert rows["laptop/t-secret"][4:] == ("m [REDACTED:anthropic-key]", "err [REDACTED:anthropic-key]"), rows
    assert rows["laptop/t-good"][:3] == (t0 + 9, 5, 3)
    assert not [v for v in texts if "sk-ant-api03" in v or "hunter2pw77" in v], texts
    assert quota == (None, "allowed [REDACTED:anthropic-key]")
    assert session == ("laptop", "proj [REDACTED:anthropic-key]")
    assert summary["tasks"] == 3 and summary["cost_usd"] < 1, summary  # t-wild has no time: in no range


def test_merge_says_what_is_wrong_with_its_source(tmp_path):
    """A source path that does not exist was opened as a new database: an empty file was created there and the merge
    said "merged: 0 sessions, ..." (a typo looked like a success); a plain path (as --db takes one) or a file that is
    not a database ended in a traceback (the error's own description could not parse the path as a URL)."""
    from nexus_tui.core.events import Batch, SessionRec, TaskRec

    env = _env(tmp_path, f"sqlite:///{tmp_path / 'dest.db'}", "desk")

    def run(src):
        return subprocess.run([sys.executable, "-m", "nexus_tui", "merge", src], env=env, capture_output=True,
                              text=True, timeout=300)

    r = run(f"sqlite:///{tmp_path / 'typo' / 'laptop.db'}")
    assert r.returncode == 2 and "no database at" in r.stderr and "nothing to merge" in r.stderr, r.stderr
    assert not (tmp_path / "typo").exists()
    r = run(str(tmp_path / "x\x1b]0;pwn\x07y.db"))  # the message quotes the path: as text, not a terminal title
    assert r.returncode == 2 and "x\\x1b]0;pwn\\x07y.db" in r.stderr and "\x1b" not in r.stderr, r.stderr
    (tmp_path / "garbage.db").write_bytes(b"not a database at all" * 100)
    r = run(str(tmp_path / "garbage.db"))
    assert r.returncode == 2 and "is not a usable SQLite database" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = run("mysql://u:hunter2pw77@h/db")
    assert r.returncode == 2 and "unsupported database" in r.stderr and "Traceback" not in r.stderr, r.stderr
    t0 = 1_772_366_400_000
    src = open_store(f"sqlite:///{tmp_path / 'laptop.db'}")
    src.writer.write(Batch(sessions=[SessionRec(id="s1", start_ms=t0, end_ms=t0, cli_tool="mcp")],
                           tasks=[TaskRec(id="t1", session_id="s1", ts_ms=t0, source="otel", model="m")]))
    src.close()
    r = run(str(tmp_path / "laptop.db"))  # a plain path, as --db takes one
    assert r.returncode == 0 and "1 tasks" in r.stdout, r.stderr
