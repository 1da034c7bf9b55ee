"""``nexus-insights statusline``: Claude Code's status-line command, configured the way Claude Code is, fed the
samples, checked for what it prints, records and imports, and for what it does with bad input and bad databases."""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_tui import statusline as SL
from nexus_tui.core import quota as Q
from tests.conftest import SHARED

SAMPLES = SHARED / "fixtures" / "constructed" / "statusline"
EXE = str(Path(sys.executable).with_name("nexus-insights"))


def _samples() -> dict[str, bytes]:
    if not SAMPLES.is_dir():
        pytest.skip(f"the shared fixtures are not beside the repo ({SAMPLES})")
    return {p.stem: p.read_bytes() for p in sorted(SAMPLES.glob("*.json"))}


def _claude_home(tmp_path: Path) -> tuple[Path, str]:
    """A test HOME laid out like a real one: ~/.claude/settings.json names the command."""
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    settings_json = {"statusLine": {"type": "command", "command": f"{shlex.quote(EXE)} statusline", "padding": 0}}
    (home / ".claude" / "settings.json").write_text(json.dumps(settings_json))
    cfg = json.loads((home / ".claude" / "settings.json").read_text())["statusLine"]
    assert cfg["type"] == "command"
    return home, cfg["command"]


def _run_as_claude(command: str, home: Path, stdin: bytes | None, **env) -> subprocess.CompletedProcess:
    """Run the configured command the way Claude Code does: through the shell, JSON on stdin."""
    e = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "NEXUS_INSIGHTS_HOME": str(home / ".config/nexus"),
         "TZ": "UTC", **env}
    return subprocess.run(["sh", "-c", command], input=stdin if stdin is not None else b"", capture_output=True,
                          env=e, timeout=30)


def _events(home: Path) -> list[dict]:
    out = []
    for p in sorted((home / ".config/nexus/logs").glob("*.jsonl")):
        out += [json.loads(line) for line in p.read_text().splitlines() if line]
    return out


def test_samples_through_claude_code_settings(tmp_path):
    home, command = _claude_home(tmp_path)
    samples = _samples()
    assert {"subscriber", "api_key_user", "old_version"} <= set(samples)
    for name, raw in samples.items():
        r = _run_as_claude(command, home, raw, NO_COLOR="1")
        assert r.returncode == 0, r.stderr
        line = r.stdout.decode()
        assert line.count("\n") == 1 and "\x1b" not in line, line  # one plain line under NO_COLOR
        data = json.loads(raw)
        assert data["model"]["display_name"] in line
        assert f"session ${data['cost']['total_cost_usd']:.2f}" in line
        if "context_window" in data:
            assert f"ctx {data['context_window']['used_percentage']:.0f}%" in line
        else:
            assert "ctx" not in line
        if "rate_limits" not in data:  # API-key users and old versions: no quota segment, nothing guessed
            assert "5h" not in line and "7d" not in line
    events = _events(home)
    assert [e["session_id"] for e in events] == [json.loads(raw)["session_id"] for raw in samples.values()]
    sub = next(e for e in events if e["session_id"] == json.loads(samples["subscriber"])["session_id"])
    src = json.loads(samples["subscriber"])
    assert sub["type"] == "statusline" and sub["context_used_pct"] == src["context_window"]["used_percentage"]
    assert sub["lines_added"] == src["cost"]["total_lines_added"]
    assert sub["lines_removed"] == src["cost"]["total_lines_removed"]
    assert sub["rate_limits"] == {k: {"used_percentage": v["used_percentage"], "resets_at": v["resets_at"]}
                                  for k, v in src["rate_limits"].items()}
    log = next((home / ".config/nexus/logs").glob("*.jsonl"))
    assert log.stat().st_mode & 0o077 == 0 and log.parent.stat().st_mode & 0o077 == 0  # private


def test_quota_segment_pace_and_reset(tmp_path):
    """A live 5-hour window: used %, pace marker and the time to reset, computed independently here."""
    home, command = _claude_home(tmp_path)
    now = int(time.time())
    resets = now + 2 * 3600  # 3 of 5 hours elapsed
    data = {"session_id": "s1", "model": {"display_name": "Opus"},
            "rate_limits": {"five_hour": {"used_percentage": 90, "resets_at": resets},
                            "seven_day": {"used_percentage": 10, "resets_at": now + 6 * 86400}}}
    r = _run_as_claude(command, home, json.dumps(data).encode(), NO_COLOR="1")
    line = r.stdout.decode().strip()
    pace5 = 90 / (100 * 3 / 5)  # used % / elapsed %
    assert f"5h 90% ▲{pace5:.1f}x ↻1h 5" in line or f"5h 90% ▲{pace5:.1f}x ↻2h 00m" in line or \
        f"5h 90% ▲{pace5:.1f}x ↻1h 59m" in line, line
    pace7 = 10 / (100 * 1 / 7)
    assert f"7d 10% ▿{pace7:.1f}x" in line, line
    # colours by threshold when NO_COLOR is not set: 90 % is critical (red), 10 % fine (green)
    r = _run_as_claude(command, home, json.dumps(data).encode())
    coloured = r.stdout.decode()
    assert "\x1b[31m5h 90%" in coloured and "\x1b[32m7d 10%" in coloured


def test_no_input_prints_the_stored_line(tmp_path):
    home, command = _claude_home(tmp_path)
    raw = _samples()["subscriber"]
    fed = _run_as_claude(command, home, raw, NO_COLOR="1").stdout
    # tmux's #(nexus-insights statusline): stdin is empty; the line comes from what was recorded
    again = _run_as_claude(command, home, None, NO_COLOR="1").stdout
    assert again == fed
    assert len(_events(home)) == 1  # nothing recorded without input


def test_pace_model():
    h = Q.HOUR_MS
    reset = 10 * h
    p = Q.pace("five_hour", 50, reset, reset - 2 * h)  # 3 h of 5 elapsed: 60 %
    assert p.elapsed_pct == pytest.approx(60) and p.pace == pytest.approx(50 / 60)
    assert p.projected_pct == pytest.approx(50 / 0.6) and p.full_at_ms is None and p.remaining_ms == 2 * h
    p = Q.pace("five_hour", 80, reset, reset - 3 * h)  # 2 h elapsed, 80 %: 100 % at 2.5 h
    assert p.projected_pct == pytest.approx(200) and p.full_at_ms == reset - 5 * h + int(2.5 * h)
    assert p.will_hit_limit
    p = Q.pace("seven_day_opus", 10, reset, reset - 1)  # model-specific weekly window: a week long
    assert p.elapsed_pct == pytest.approx(100 * (7 * 24 * h - 1) / (7 * 24 * h))
    assert Q.pace("five_hour", 10, reset, reset + 1).reset_passed
    assert Q.pace("mystery", 10, reset, 0).pace is None  # unknown length: no guess
    assert Q.pace("five_hour", 10, None, 0).pace is None


@given(used=st.floats(0, 150), elapsed_frac=st.floats(0.01, 1.0))
@settings(max_examples=200, deadline=None)
def test_pace_is_consistent(used, elapsed_frac):
    length = Q.WINDOW_MS["five_hour"]
    reset = 100 * length
    now = reset - length + int(length * elapsed_frac)
    p = Q.pace("five_hour", used, reset, now)
    if p.pace is None:
        return
    assert p.projected_pct == pytest.approx(p.pace * 100, rel=1e-6, abs=1e-6)
    if p.full_at_ms is not None:
        assert now <= p.full_at_ms < reset and p.projected_pct >= 100 - 1e-9


def _make_db(path: Path, rows: list[tuple[int, float | None]]) -> None:
    """A database of the app's schema holding tasks at the given times, through the real writer."""
    from nexus_tui.core.events import Batch, SessionRec, TaskRec
    from nexus_tui.store import open_store

    store = open_store(f"sqlite:///{path}")
    b = Batch()
    b.sessions.append(SessionRec(id="s", start_ms=min(r[0] for r in rows), end_ms=max(r[0] for r in rows)))
    for i, (ms, cost) in enumerate(rows):
        b.tasks.append(TaskRec(id=f"t{i}", session_id="s", ts_ms=ms, source="manual", model="m", routing="cloud",
                               cost_usd=cost))
    store.writer.write(b)
    store.close()


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_today_cost_equals_the_tasks(tmp_path, monkeypatch, tz):
    """Hourly rollups for whole hours, tasks at the ends: equal to summing today's tasks directly."""
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        now = time.time()
        lt = time.localtime(now)
        midnight = int(time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1)) * 1000)
        import random

        rng = random.Random(7)
        now_ms = int(now * 1000)
        rows = [(rng.randint(midnight - 86_400_000, now_ms), rng.choice([None, rng.random()])) for _ in range(400)]
        rows += [(midnight, 1.0), (midnight - 1, 100.0), (now_ms - 5, 0.5)]
        db = tmp_path / "x.db"
        _make_db(db, rows)
        expect = sum(c for ms, c in rows if c is not None and midnight <= ms <= now_ms)
        assert SL.today_cost(db, now) == pytest.approx(expect, rel=1e-9)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_today_against_budget(tmp_path):
    home, command = _claude_home(tmp_path)
    nexus = home / ".config/nexus"
    nexus.mkdir(parents=True)
    (nexus / "insights.toml").write_text('[budget]\ndaily_usd = 20\n[statusline]\nsegments = ["today", "model"]\n')
    now_ms = int(time.time() * 1000)
    _make_db(nexus / "insights.db", [(now_ms - 1000, 15.25), (now_ms - 2000, 2.0)])
    r = _run_as_claude(command, home, _samples()["subscriber"], NO_COLOR="1")
    assert r.stdout.decode().strip() == "today $17.25/$20 · Opus 4.6"  # segments in the configured order


def test_imports_no_heavy_module(tmp_path):
    """The fast path loads none of the libraries that cost a quarter of a second to import."""
    code = ("import sys, atexit\n"
            "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)) + '\\n'))\n"
            "sys.argv = ['nexus-insights', '--home', sys.argv[1], 'statusline']\n"
            "from nexus_tui.entry import main\nmain()\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], input=_samples()["subscriber"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0
    mods = set(r.stderr.decode().split("MODULES ", 1)[1].split())
    assert "nexus_tui.statusline" in mods
    heavy = {"sqlalchemy", "sqlmodel", "textual", "pandas", "genai_prices", "click", "pydantic", "orjson", "rich"}
    assert not {m.split(".")[0] for m in mods} & heavy


@given(raw=st.one_of(st.binary(max_size=300),
                     st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                                  lambda c: st.lists(c, max_size=4) | st.dictionaries(
                                      st.sampled_from(["model", "cost", "rate_limits", "five_hour", "used_percentage",
                                                      "resets_at", "context_window", "session_id",
                                                      "total_cost_usd", "display_name", "seven_day"]), c, max_size=5),
                                  max_leaves=20).map(lambda v: json.dumps(v).encode())))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_input_prints_one_line(tmp_path, raw):
    import io

    class In(io.BytesIO):
        def isatty(self):
            return False

    out = io.StringIO()
    assert SL.main(["--home", str(tmp_path / "h")], stdin=In(raw), stdout=out) == 0
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1


@pytest.mark.parametrize("case", ["missing", "newer", "locked", "garbage", "postgres"])
def test_bad_databases_still_print(tmp_path, case):
    home, command = _claude_home(tmp_path)
    nexus = home / ".config/nexus"
    nexus.mkdir(parents=True)
    db = nexus / "insights.db"
    env = {"NO_COLOR": "1"}
    lock = None
    if case == "newer":
        _make_db(db, [(int(time.time() * 1000), 1.0)])
        with sqlite3.connect(db) as c:
            c.execute("INSERT INTO schema_version (version, applied_at) VALUES (999, 'x')")
    elif case == "locked":
        _make_db(db, [(int(time.time() * 1000), 1.0)])
        lock = sqlite3.connect(db, timeout=0)
        lock.execute("PRAGMA journal_mode=DELETE")
        lock.execute("BEGIN EXCLUSIVE")
    elif case == "garbage":
        db.write_bytes(b"not a database" * 100)
    elif case == "postgres":
        env["NEXUS_INSIGHTS_DB"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    try:
        r = _run_as_claude(command, home, _samples()["subscriber"], **env)
    finally:
        if lock is not None:
            lock.rollback()
            lock.close()
    assert r.returncode == 0 and r.stderr == b""
    line = r.stdout.decode()
    assert line.startswith("Opus 4.6 · ctx 48% · session $3.41") and line.count("\n") == 1
    if case != "newer":
        assert "today" not in line


def test_tmux_format_shows_data_holding_hash_as_text(tmp_path):
    """--tmux: tmux reads #() output as a format. Colours are tmux styles, and a model or window name holding
    "#[...]" or "#(...)" has its # doubled, so tmux shows it instead of applying it; read back as tmux reads it (## is
    one #, #[...] a style), the line is the plain one."""
    import re

    home, command = _claude_home(tmp_path)
    now = int(time.time())
    data = {"session_id": "s1", "model": {"display_name": "Op#[fg=red,reverse]us #(rm -rf ~) ##"},
            "rate_limits": {"five_hour": {"used_percentage": 95, "resets_at": now + 3600},
                            "seven_day": {"used_percentage": 10, "resets_at": now + 6 * 86400},
                            "seven_day_#[bg=blue]x": {"used_percentage": 50, "resets_at": now + 6 * 86400}}}
    plain = _run_as_claude(command, home, json.dumps(data).encode(), NO_COLOR="1").stdout.decode().strip()
    assert "Op#[fg=red,reverse]us #(rm -rf ~) ##" in plain
    tmux = _run_as_claude(command + " --tmux", home, None).stdout.decode().strip()  # no stdin: what was recorded
    assert "\x1b" not in tmux and "#[fg=red]5h 95%" in tmux and "#[fg=green]7d 10%" in tmux, tmux

    def as_tmux_reads(s: str) -> str:
        styles = []
        out = re.sub(r"##|#\[[^\]]*\]", lambda m: "#" if m.group() == "##" else (styles.append(m.group()) or ""), s)
        return out, styles

    shown, styles = as_tmux_reads(tmux)
    assert shown == plain, (shown, plain)
    assert set(styles) <= {"#[fg=green]", "#[fg=yellow]", "#[fg=red]", "#[dim]", "#[default]"}, styles
    assert "#(" not in tmux.replace("##", "")  # no job tmux would run
    no_colour = _run_as_claude(command + " --tmux", home, None, NO_COLOR="1").stdout.decode().strip()
    assert as_tmux_reads(no_colour) == (plain, [])


def test_statusline_is_a_listed_command_with_help(tmp_path):
    from click.testing import CliRunner

    from nexus_tui.cli import main

    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0 and "statusline" in r.output
    r = CliRunner().invoke(main, ["statusline", "--help"])
    assert r.exit_code == 0 and "--tmux" in r.output and "--no-record" in r.output
    out = subprocess.run([EXE, "statusline", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--tmux" in out.stdout
    home = tmp_path / "h"
    r = CliRunner().invoke(main, ["--home", str(home), "statusline", "--no-record"], input="")
    assert r.exit_code == 0 and r.output.strip() == "nexus-insights: no status yet"


def test_where_the_data_is_may_be_said_after_the_command_too(tmp_path):
    """`nexus-insights ingest --claude-dir DIR` (what people type) said "No such option": --home, --db, --claude-dir
    and --lunaroute-dir are the group's, before the command. Taken after it too, they mean the same."""
    from click.testing import CliRunner

    from nexus_tui.cli import main
    from tests.conftest import CC

    if not CC.is_dir():
        pytest.skip(f"the shared fixtures are not beside the repo ({CC})")
    env = {"HOME": str(tmp_path), "NEXUS_INSIGHTS_DB": None, "CLAUDE_CONFIG_DIR": None}
    before = CliRunner().invoke(main, ["--home", str(tmp_path / "a"), "--claude-dir", str(CC), "ingest"], env=env)
    after = CliRunner().invoke(main, ["ingest", "--home", str(tmp_path / "b"), "--claude-dir", str(CC)], env=env)
    assert before.exit_code == 0 and after.exit_code == 0, after.output
    new = [ln for ln in before.output.splitlines() if ln.startswith("new:")]
    assert new and "0 tasks" not in new[0] and new == [ln for ln in after.output.splitlines() if ln.startswith("new:")]
    assert (tmp_path / "b" / "insights.db").is_file() and not (tmp_path / ".config").exists()


@pytest.mark.parametrize("where", ["context_window.used_percentage", "cost.total_cost_usd",
                                   "rate_limits.five_hour.resets_at", "rate_limits.seven_day.used_percentage"])
def test_an_integer_too_large_for_a_float_costs_its_field_only(tmp_path, monkeypatch, where):
    """A number of 400 digits (valid JSON, read as a Python int) in any numeric field raised an OverflowError out of
    the guard: nothing was recorded and the line was "nexus-insights: OverflowError". It is that field's value
    that is dropped; the rest is shown and recorded."""
    import io

    class In(io.BytesIO):
        def isatty(self):
            return False

    data = {"session_id": "s-big", "model": {"display_name": "Opus"},
            "context_window": {"used_percentage": 12}, "cost": {"total_cost_usd": 1.5},
            "rate_limits": {"five_hour": {"used_percentage": 42, "resets_at": int(time.time()) + 3600},
                            "seven_day": {"used_percentage": 7, "resets_at": int(time.time()) + 86400}}}
    *path, last = where.split(".")
    node = data
    for k in path:
        node = node[k]
    node[last] = 10**400
    raw = json.dumps(data).encode()
    out = io.StringIO()
    monkeypatch.setenv("NO_COLOR", "1")
    assert SL.main(["--home", str(tmp_path / "h")], stdin=In(raw), stdout=out) == 0
    line = out.getvalue()
    assert line.startswith("Opus · ") and "Error" not in line, line
    ev = [json.loads(x) for p in (tmp_path / "h" / "logs").glob("*.jsonl") for x in p.read_text().splitlines()]
    assert len(ev) == 1 and ev[0]["session_id"] == "s-big" and ev[0]["model"] == "Opus", ev
    got = {"context_window.used_percentage": ev[0].get("context_used_pct"),
           "cost.total_cost_usd": ev[0].get("cost_usd"),
           "rate_limits.five_hour.resets_at": ev[0]["rate_limits"].get("five_hour", {}).get("resets_at", "gone"),
           "rate_limits.seven_day.used_percentage": ev[0]["rate_limits"].get("seven_day")}
    assert got.pop(where) is None, ev  # that value only
    assert all(v is not None and v != "gone" for v in got.values()), ev


def test_the_line_shows_no_secret_from_its_input(tmp_path, monkeypatch):
    """The event recorded was redacted, but the line printed showed a model's display name or a rate-limit window's
    name holding a key as it was (Claude Code shows the line on screen)."""
    import io

    class In(io.BytesIO):
        def isatty(self):
            return False

    ak = "sk-ant-api03-" + "Zq9" * 30 + "-AbCdEfGh_AA"
    gh = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
    raw = json.dumps({"session_id": "s1", "model": {"display_name": f"Opus {ak}"},
                      "rate_limits": {f"seven_day_{gh}": {"used_percentage": 5, "resets_at": int(time.time()) + 3600},
                                      "five_hour": {"used_percentage": 42}}}).encode()
    monkeypatch.setenv("NO_COLOR", "1")
    for argv in ([], ["--tmux"]):
        out = io.StringIO()
        assert SL.main(["--home", str(tmp_path / "h"), *argv], stdin=In(raw), stdout=out) == 0
        line = out.getvalue()
        assert "sk-ant-api03" not in line and gh not in line, line
        assert line.startswith("Opus [REDACTED:anthropic-key] · ") and "7d [REDACTED:github-token]" in line, line


def test_what_the_command_records_is_always_an_event_the_collector_takes(tmp_path, monkeypatch):
    """The command recorded events the event schema refuses, so the collector skipped them whole (their quota
    windows lost): a session's duration over 10^10 ms (its guard allowed 10^12), and a cwd or a rate-limit window's
    name cut to its bound and then made longer by redaction ('pwd=x' -> 'pwd=[REDACTED:password]')."""
    import io

    from nexus_tui.core.parse import nexus_events

    class In(io.BytesIO):
        def isatty(self):
            return False

    soon = int(time.time()) + 3600
    inputs = [{"session_id": "s1", "cost": {"total_duration_ms": 2 * 10**10, "total_api_duration_ms": 10**11},
               "rate_limits": {"five_hour": {"used_percentage": 42, "resets_at": soon}}},
              {"session_id": "s2", "workspace": {"current_dir": "/w/" + "pwd=a " * 300},
               "model": {"display_name": "token=x " * 40, "id": "secret=y " * 40}, "version": "pwd=z " * 10,
               "rate_limits": {"five_hour": {"used_percentage": 43, "resets_at": soon}}},
              {"session_id": "s3", "rate_limits": {"five_hour_" + "pwd=a " * 9: {"used_percentage": 44},
                                                   "seven_day_" + "pwd=b " * 9: {"used_percentage": 45}}}]
    monkeypatch.setenv("NO_COLOR", "1")
    for data in inputs:
        assert SL.main(["--home", str(tmp_path / "h")], stdin=In(json.dumps(data).encode()), stdout=io.StringIO()) == 0
    log = b"".join(p.read_bytes() for p in (tmp_path / "h" / "logs").glob("*.jsonl"))
    assert log.count(b'"statusline"') == 3
    b = nexus_events.parse_lines(log, 0, "log.jsonl", "claude-sonnet-4-5")
    assert b.skipped == {}, b.skipped
    assert sorted(q["used_fraction"] for q in b.quota_snapshots) == [0.42, 0.43, 0.44, 0.45]
    assert len({q["window"] for q in b.quota_snapshots if q["used_fraction"] in (0.44, 0.45)}) == 2  # two names
