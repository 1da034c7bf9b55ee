"""The TUI path of the command: --since/--until/--project/--tz set the dashboard's start; no terminal, no app."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from nexus_tui.core.events import Batch, SessionRec, TaskRec

T0 = 1_763_000_000_000  # 2025-11-13 02:13:20 UTC


def _home_with_data(tmp_path):
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    settings = load_settings(home=str(tmp_path / "nexus"), claude_dirs=())
    store = open_store(settings.db_url)
    b = Batch()
    for i, project in enumerate(["alpha", "beta", "alpha"]):
        sid = f"s{i}"
        b.sessions.append(SessionRec(id=sid, start_ms=T0 + i * 86_400_000, end_ms=T0 + i * 86_400_000 + 5_000,
                                     cli_tool="claude-code", project=project))
        b.tasks.append(TaskRec(id=f"t{i}", session_id=sid, ts_ms=T0 + i * 86_400_000 + 1_000, source="transcript",
                               model="claude-sonnet-4-5", tokens_in=100 * (i + 1), tokens_out=5, cost_usd=0.5))
    store.writer.write(b)
    store.close()
    return tmp_path / "nexus"


def _env(tmp_path, home):
    env = {**os.environ, "HOME": str(tmp_path / "home"), "NEXUS_INSIGHTS_HOME": str(home),
           "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"), "TERM": "xterm-256color"}
    env.pop("NEXUS_INSIGHTS_DB", None)
    return env


def test_without_a_terminal_the_app_does_not_start_and_the_summary_is_printed(tmp_path):
    home = _home_with_data(tmp_path)
    env = _env(tmp_path, home)
    cmd = [sys.executable, "-m", "nexus_tui.cli", "--no-collect", "--project", "alpha"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    want = subprocess.run(cmd + ["--headless", "summary"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout  # no escape codes in the pipe
    assert r.stdout == want.stdout and "sessions" in r.stdout
    assert "not a terminal" in r.stderr and "--headless" in r.stderr
    # the demo has no summary to print: it says why and fails
    d = subprocess.run([sys.executable, "-m", "nexus_tui.cli", "--demo"], env=env, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert d.returncode == 2 and "needs a terminal" in d.stderr and "\x1b" not in d.stdout


def test_since_until_project_and_tz_set_the_dashboards_start(tmp_path, monkeypatch):
    import nexus_tui.app as app_mod
    import nexus_tui.cli as cli

    home = _home_with_data(tmp_path)
    for k, v in _env(tmp_path, home).items():
        monkeypatch.setenv(k, v)
    started = []
    monkeypatch.setattr(cli, "_stdout_is_terminal", lambda: True)
    monkeypatch.setattr(app_mod.NexusApp, "run", lambda self: started.append(self))
    r = CliRunner().invoke(cli.main, ["--no-collect", "--since", "2025-11-14", "--until", "2025-11-15",
                                      "--project", "alpha", "--tz", "Asia/Tokyo"])
    assert r.exit_code == 0, r.output
    (app,) = started
    tokyo = ZoneInfo("Asia/Tokyo")
    assert app.tz == tokyo and app.tzname == "Asia/Tokyo"
    assert app.filters.since_ms == int(datetime(2025, 11, 14, tzinfo=tokyo).timestamp() * 1000)
    assert app.filters.until_ms == int(datetime(2025, 11, 16, tzinfo=tokyo).timestamp() * 1000)  # inclusive day
    assert app.filters.project == "alpha" and app.filters.range_name == "custom"
    assert app.range_label() == "2025-11-14 – 2025-11-15 · project=alpha"
    # bad values: a message and exit 2, no app
    for args, msg in ((["--tz", "Mars/Olympus"], "unknown time zone"), (["--since", "yesterdayish"], "not a date"),
                      (["--since", "2025-11-15", "--until", "2025-11-14"], "before")):
        r = CliRunner().invoke(cli.main, ["--no-collect", *args])
        assert r.exit_code == 2 and msg in r.output, (args, r.output)
    assert len(started) == 1
