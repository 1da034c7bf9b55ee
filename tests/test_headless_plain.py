"""A plain ``--headless REPORT`` (common options only) runs from the console script without click, and prints
exactly what the click command prints, exit code included; anything it does not take goes to click."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_tui.entry import _DIR_OPTIONS, _HEADLESS_FLAGS, _HEADLESS_VALUES, REPORTS
from tests.test_ingest_idle import _entry, tree  # noqa: F401  (the fixture)

# the click command line itself, in a fresh interpreter (the same entry as the console script's, minus its paths)
_CLICK = ("import sys\n"
          "sys.argv = ['nexus-insights'] + sys.argv[1:]\n"
          "from nexus_tui.cli import main\n"
          "main()\n")


def _click(home: Path, claude: Path, *args: str) -> tuple[int, str, str]:
    env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(claude), "PATH": "/usr/bin:/bin",
           "NEXUS_INSIGHTS_HOME": str(home / "nexus")}
    out = subprocess.run([sys.executable, "-c", _CLICK, *args], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    return out.returncode, out.stdout, out.stderr


def test_the_plain_path_takes_what_click_takes():
    from nexus_tui import cli

    by_opt = {o: p for p in cli.main.params for o in p.opts}
    for name, choices in _HEADLESS_VALUES.items():
        p = by_opt[name]
        assert not p.is_flag and not p.multiple, name
        if choices is not None:
            assert tuple(p.type.choices) != () and set(choices) <= set(p.type.choices), name
    for name in _HEADLESS_FLAGS:
        assert by_opt[name].is_flag
    for name in _DIR_OPTIONS:  # given any number of times, each value a folder
        assert by_opt[name].multiple and not by_opt[name].is_flag, name
    assert tuple(by_opt["--headless"].type.choices) == REPORTS
    assert by_opt["--format"].default == "text" and by_opt["--order"].default == "asc"  # the plain path's defaults
    assert by_opt["--cost-mode"].default is None


def test_plain_headless_prints_what_click_prints_without_click(tree):  # noqa: F811
    home, claude, _ = tree
    cases = [
        ["--headless", "summary"],
        ["--headless", "daily", "--format", "json"],
        ["--headless=sessions", "--format=csv", "--since", "2020-01-01"],
        ["--headless", "models", "--no-collect", "--order", "desc", "--tz", "UTC"],
        ["--headless", "monthly", "--breakdown", "--format", "json", "--cost-mode", "calculate"],
        ["--headless", "tools", "--project", "sniffly", "--until", "2030-01-01"],
        ["--headless", "daily", "--since", "not a date"],  # run_headless's own message, exit 2
        ["--headless", "summary", "--tz", "Nowhere/Else"],
        ["--headless", "efficiency", "--machine", "nobody"],
    ]
    _entry(home, claude, "ingest")
    for args in cases:
        code, out, err, loaded = _entry(home, claude, *args)
        assert loaded == [False, loaded[1]], args  # no click
        c_code, c_out, c_err = _click(home, claude, *args)
        assert (code, out, err) == (c_code, c_out, c_err), args
        if args[-1] in ("not a date", "Nowhere/Else"):
            assert code == 2 and err.startswith("nexus-insights: ")
        else:
            assert code == 0, (args, err)
    assert json.loads(_entry(home, claude, "--headless", "daily", "--format", "json")[1])


@pytest.mark.parametrize("args", [
    ["--headless", "nope"], ["--headless", "daily", "--format", "parquet"], ["--headless", "daily", "--help"],
    ["--headless", "daily", "--format", "json", "--format", "csv"], ["--headless", "errors", "--kind", "x"],
    ["--headless", "tasks", "--output", "x.csv"], ["--headless", "daily", "--bogus"], ["--headless"],
    ["--headless", "daily", "--since"], ["--headless", "daily", "--order", "sideways"], ["--version"],
    ["--headless", "daily", "--compact"], ["--headless", "daily", "--breakdown", "--breakdown"],
])
def test_anything_else_goes_to_click(tree, args):  # noqa: F811
    home, claude, _ = tree
    code, out, err, loaded = _entry(home, claude, *args)
    assert loaded[0] is True, args
    if args[-1] in ("nope", "parquet", "--bogus", "--headless", "--since", "sideways", "--compact"):
        assert code == 2 and err, (args, err)  # click's own message


def test_a_home_that_is_a_file_and_a_bad_setting(tree):  # noqa: F811
    home, claude, proj = tree
    victim = sorted(proj.glob("*.jsonl"))[0]
    code, out, err, loaded = _entry(home, claude, "--home", str(victim), "--headless", "summary")
    assert loaded[0] is True and code == 2  # click says what is wrong with --home
    (home / "nexus").mkdir(exist_ok=True)
    (home / "nexus" / "insights.toml").write_text("[pricing]\ncost_mode = 'nope'\n")
    code, out, err, loaded = _entry(home, claude, "--headless", "summary")
    assert code == 2 and loaded[0] is False and err.startswith("nexus-insights: ") and len(err.splitlines()) == 1
    assert (code, out, err) == _click(home, claude, "--headless", "summary")
    os.remove(home / "nexus" / "insights.toml")


def test_source_folders_given_as_options_take_the_plain_paths_and_count_as_click_counts(tree, tmp_path):  # noqa: F811
    """``--claude-dir`` and ``--lunaroute-dir`` (any number of times, before the command) are taken by the plain
    ``ingest`` and ``--headless`` paths: the README's way to point at a tree must not cost click's start-up. The
    rows and the reports equal the click command's, run on a database of its own; ``ingest --home X`` (an option
    after ``ingest``, which click's ``ingest`` does not take) stays click's."""
    home, claude, proj = tree
    second = tmp_path / "second" / "projects" / "-fixtures-more"  # a second folder of transcripts
    second.mkdir(parents=True)
    for f in sorted(proj.glob("*.jsonl"))[:1]:
        (second / ("copy-" + f.name)).write_bytes(  # another session, other requests and messages
            f.read_bytes().replace(b'"sessionId":"', b'"sessionId":"copy-').replace(b'"requestId":"req_', b'"requestId":"req_copy')
            .replace(b'"id":"msg_', b'"id":"msg_copy'))
    luna = tmp_path / "luna"
    luna.mkdir()
    nowhere = tmp_path / "empty-claude"  # CLAUDE_CONFIG_DIR holds nothing: the options name every folder
    nowhere.mkdir()
    dirs = ["--claude-dir", str(claude / "projects"), f"--claude-dir={second.parent}", "--lunaroute-dir", str(luna)]
    plain_home, click_home = tmp_path / "plain", tmp_path / "click"
    plain_home.mkdir()
    click_home.mkdir()
    code, out, err, loaded = _entry(plain_home, nowhere, *dirs, "ingest")
    assert code == 0 and loaded[0] is False, (out, err)  # no click
    c_code, c_out, c_err = _click(click_home, nowhere, *dirs, "ingest")
    assert c_code == 0 and c_out.split(" in ")[0] == out.split(" in ")[0] and " 4 read " in out, (out, c_out)
    for args in (["--headless", "sessions", "--format", "json"], ["--headless", "daily", "--format", "csv"]):
        code, out, err, loaded = _entry(plain_home, nowhere, *dirs, *args)
        assert loaded == [False, loaded[1]] and code == 0, (args, err)
        c_code, c_out, c_err = _click(click_home, nowhere, *dirs, *args)
        if "json" in args:  # each home registered a machine of its own (a random id)
            out, c_out = (json.dumps(_no_machine(json.loads(x))) for x in (out, c_out))
        assert (code, out, err) == (c_code, c_out, c_err), args
    sessions = json.loads(_entry(plain_home, nowhere, *dirs, "--headless", "sessions", "--format", "json")[1])
    ids = {r["session_id"] for r in sessions["sessions"]}
    assert any(i.startswith("copy-") for i in ids) and any(not i.startswith("copy-") for i in ids)
    # an option after `ingest` is click's to judge: a folder it takes there too, anything else it refuses
    code, out, err, loaded = _entry(plain_home, nowhere, "ingest", "--claude-dir", str(claude))
    assert loaded[0] is True and code == 0 and out.startswith("files: "), (out, err)
    code, out, err, loaded = _entry(plain_home, nowhere, "ingest", "--bogus")
    assert loaded[0] is True and code == 2 and "No such option '--bogus'" in err, (out, err)


def _no_machine(doc):
    if isinstance(doc, dict):
        return {k: _no_machine(v) for k, v in doc.items() if k != "machine"}
    if isinstance(doc, list):
        return [_no_machine(v) for v in doc]
    return doc
