"""`nexus-insights ingest` with nothing new ends without loading the store (no SQLAlchemy, no schema classes: most of
a re-run's time), prints what the store's path prints, and takes the store's path whenever there is anything else to
do than a few new lines (those take the light path: tests/test_lite.py): a database to create or upgrade, a rollup
bucket left to sum."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CC

# runs the command in a fresh interpreter and reports whether SQLAlchemy was loaded
_RUN = ("import sys, json\n"
        "from click.testing import CliRunner\n"
        "from nexus_tui.cli import main\n"
        "r = CliRunner().invoke(main, ['ingest'] + sys.argv[2:], catch_exceptions=False)\n"
        "print(json.dumps([r.exit_code, r.output, 'sqlalchemy' in sys.modules, 'sqlmodel' in sys.modules]))\n")


def _ingest(home: Path, claude: Path) -> tuple[int, str, bool]:
    env = {"HOME": str(home), "NEXUS_INSIGHTS_HOME": str(home / "nexus"), "CLAUDE_CONFIG_DIR": str(claude),
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", _RUN, "x"], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    code, text, sqla, sqlmodel = json.loads(out.stdout.strip().splitlines()[-1])
    return code, text, sqla or sqlmodel


def _lines(text: str) -> list[str]:  # the report less its time
    return [x.split(" in ")[0] if x.startswith("files:") else x for x in text.strip().splitlines()]


@pytest.fixture
def tree(tmp_path):
    if not CC.is_dir():
        pytest.skip("the shared fixtures are not beside the repo")
    claude = tmp_path / "claude"
    proj = claude / "projects" / "-fixtures-sniffly"
    proj.mkdir(parents=True)
    for f in sorted((CC / "sniffly").glob("*.jsonl"))[:3]:
        shutil.copy(f, proj / f.name)
    (claude / "projects" / "-p" / "fifo.jsonl").parent.mkdir()
    os.mkfifo(claude / "projects" / "-p" / "fifo.jsonl")  # passed over, and said so on both paths
    home = tmp_path / "home"
    home.mkdir()
    return home, claude, proj


def _db(home: Path) -> Path:
    return home / "nexus" / "insights.db"


def test_nothing_new_loads_no_store_and_says_what_the_store_path_says(tree):
    home, claude, proj = tree
    code, first, sqla = _ingest(home, claude)
    assert code == 0 and sqla and " 3 read " in first  # the first pass creates the database through the store
    code, again, sqla = _ingest(home, claude)
    assert code == 0 and not sqla
    assert _lines(again) == ["files: 3 seen, 0 read (0.0 MB, 0 lines)",
                             "new: 0 sessions, 0 tasks (0 updated), 0 tool calls, 0 failures recorded (tool failures and API errors)",
                             "skipped lines: 0", "passed over: 1 entry (not a regular file: 1)"]
    # the store's path, forced by a rollup mark left queued, prints the same report (and sums the mark)
    with sqlite3.connect(_db(home)) as c:
        c.execute("INSERT INTO rollup_dirty (kind, session_id, bucket_ms) VALUES ('task', 'nope', 0)")
    code, via_store, sqla = _ingest(home, claude)
    assert code == 0 and sqla and _lines(via_store) == _lines(again)
    with sqlite3.connect(_db(home)) as c:
        assert c.execute("SELECT count(*) FROM rollup_dirty").fetchone() == (0,)
    assert not _ingest(home, claude)[2]


def test_anything_but_a_few_lines_goes_through_the_store(tree):
    home, claude, proj = tree
    # no database yet, even with no transcripts: it is created
    empty = home.parent / "empty"
    empty.mkdir()
    code, out, sqla = _ingest(empty, empty / "none")
    assert code == 0 and sqla and _db(empty).is_file()
    _ingest(home, claude)
    # a changed file is read and written
    victim = sorted(proj.glob("*.jsonl"))[0]
    line = json.loads(victim.read_text().splitlines()[0])
    line.update(type="assistant", requestId="req_idle_test", uuid="idle-1", timestamp="2026-03-01T00:00:00.000Z",
                sessionId="idle-s", version="2.1.0",
                message={"id": "msg_idle", "model": "claude-opus-4-6", "usage": {"input_tokens": 3, "output_tokens": 4}})
    with open(victim, "a") as f:
        f.write(json.dumps(line) + "\n")
    code, out, sqla = _ingest(home, claude)  # a few new lines: the light path (collect/light.py, tests/test_lite.py)
    assert not sqla and "new: 1 session, 1 task" in out
    with sqlite3.connect(_db(home)) as c:
        assert c.execute("SELECT tokens_in, tokens_out FROM tasks WHERE id = 'req_idle_test'").fetchone() == (3, 4)
    assert not _ingest(home, claude)[2]
    # an older schema version: the store's path (which upgrades it)
    with sqlite3.connect(_db(home)) as c:
        top = c.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        c.execute("DELETE FROM schema_version WHERE version = ?", (top,))
    code, out, sqla = _ingest(home, claude)
    assert code == 0 and sqla
    with sqlite3.connect(_db(home)) as c:
        assert c.execute("SELECT max(version) FROM schema_version").fetchone()[0] == top
    assert not _ingest(home, claude)[2]


# the console script's own entry point, in a fresh interpreter: what it printed, its exit code, and whether click and
# SQLAlchemy were loaded (reported by an atexit hook, since the entry point ends with sys.exit)
_ENTRY = ("import atexit, json, os, sys\n"
          "atexit.register(lambda: os.write(int(os.environ['LOADED_FD']), json.dumps(['click' in sys.modules, 'sqlalchemy' in sys.modules])"
          ".encode()))\n"
          "sys.argv = ['nexus-insights'] + sys.argv[1:]\n"
          "from nexus_tui.entry import main\n"
          "main()\n")


def _entry(home: Path, claude: Path, *args: str, env_home: bool = True) -> tuple[int, str, str, list]:
    env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(claude), "PATH": "/usr/bin:/bin"}
    if env_home:
        env["NEXUS_INSIGHTS_HOME"] = str(home / "nexus")
    r, w = os.pipe()
    env["LOADED_FD"] = str(w)
    out = subprocess.run([sys.executable, "-c", _ENTRY, *args], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1], pass_fds=(w,))
    os.close(w)
    with os.fdopen(r) as f:
        loaded = json.loads(f.read() or "null")
    return out.returncode, out.stdout, out.stderr, loaded


def test_plain_ingest_runs_without_click_and_says_what_the_click_command_says(tree):
    home, claude, proj = tree
    code, first, err, loaded = _entry(home, claude, "ingest")
    assert code == 0 and loaded == [False, True], err  # the first pass goes through the store (SQLAlchemy)
    assert " 3 read " in first and "passed over: 1 entry" in first
    code, again, err, loaded = _entry(home, claude, "--home", str(home / "nexus"), "ingest", env_home=False)
    assert code == 0 and loaded == [False, False]  # nothing new: neither click nor the store
    code_click, via_click, sqla = _ingest(home, claude)  # the click command on the same database
    assert code_click == 0 and _lines(via_click) == _lines(again)
    # a few appended lines (the light path) and `--db=` spelled with '=': no click either, the same rows as counted
    lines = (CC / "sniffly").glob("*.jsonl")
    extra = next(iter(sorted(lines))).read_bytes().splitlines(keepends=True)[:5]
    victim = sorted(proj.glob("*.jsonl"))[0]
    with open(victim, "ab") as f:
        f.writelines(extra)
    code, text, err, loaded = _entry(home, claude, f"--db={_db(home)}", "ingest")
    assert code == 0 and loaded == [False, False] and "5 lines" in text, (text, err)
    # anything else is click's: an unknown option, --help, a --home that is a file (click tells why)
    for args in (["ingest", "--help"], ["--bogus", "ingest"], ["--home", str(victim), "ingest"]):
        code, text, err, loaded = _entry(home, claude, *args)
        assert loaded[0] is True, args
    assert _entry(home, claude, "--home", str(victim), "ingest")[0] == 2
    # a bad setting: one line on stderr, exit 2, as the click command says it
    (home / "nexus" / "insights.toml").write_text("[pricing]\ncost_mode = 'nope'\n")
    code, text, err, loaded = _entry(home, claude, "ingest")
    assert code == 2 and loaded[0] is False and err.startswith("nexus-insights: ") and len(err.splitlines()) == 1


def test_new_tool_calls_say_how_many_are_results_whose_call_was_not_read(tree):
    """A tool result whose call line was refused is stored (its duration and outcome are known), but the Tools
    screen and the reports count calls by their tool: the pass's report says how many of its new tool calls have no
    tool yet, on the store's path and on the light path alike, and a call read later names it without a new row."""
    home, claude, proj = tree
    _ingest(home, claude)
    with sqlite3.connect(_db(home)) as c:
        before = c.execute("SELECT count(*), count(tool_name) FROM tool_calls").fetchone()

    def result(i: int) -> str:
        return json.dumps({"type": "user", "sessionId": "orph-s", "uuid": f"orph-r{i}", "cwd": "/p",
                           "timestamp": f"2026-03-01T00:00:0{i}.000Z", "message": {"role": "user", "content": [
                               {"type": "tool_result", "tool_use_id": f"toolu_orph{i}", "content": "ok"}]}})

    def call(i: int, name) -> str:
        return json.dumps({"type": "assistant", "sessionId": "orph-s", "uuid": f"orph-c{i}", "requestId": f"req_o{i}",
                           "timestamp": "2026-03-01T00:00:00.000Z", "message": {
                               "id": f"msg_o{i}", "model": "claude-opus-4-6", "usage": {"input_tokens": 1,
                                                                                      "output_tokens": 1},
                               "content": [{"type": "tool_use", "id": f"toolu_orph{i}", "name": name,
                                            "input": {}}]}})

    victim = sorted(proj.glob("*.jsonl"))[0]
    with open(victim, "a") as f:  # call 1 refused (its name is not text), its result read; call 2 read with its result
        f.write("\n".join([call(1, 7), result(1), call(2, "Read"), result(2)]) + "\n")
    code, out, sqla = _ingest(home, claude)  # a few lines: the light path
    assert code == 0 and not sqla
    assert "2 tool calls (1 of them results whose call was not read)" in out, out
    with sqlite3.connect(_db(home)) as c:
        assert c.execute("SELECT count(*), count(tool_name) FROM tool_calls").fetchone() == (
            before[0] + 2, before[1] + 1)
    # the same lines on the store's path (a fresh database) say the same of them
    fresh = home.parent / "fresh"
    fresh.mkdir()
    code, out2, sqla = _ingest(fresh, claude)
    assert code == 0 and sqla and "(1 of them results whose call was not read)" in out2, out2
    # the call, written again readable: the row gets its tool; no new call, so no note
    with open(victim, "a") as f:
        f.write(call(1, "Bash").replace("orph-c1", "orph-c1b") + "\n")
    code, out, sqla = _ingest(home, claude)
    assert "0 tool calls," in out and "not read" not in out, out
    with sqlite3.connect(_db(home)) as c:
        assert c.execute("SELECT tool_name FROM tool_calls WHERE id LIKE '%toolu_orph1'").fetchone() == ("Bash",)
