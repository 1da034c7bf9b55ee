"""The open dashboard sees what other processes write to the database (store/changes.py + the app's poller)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from nexus_tui.core.events import Batch, SessionRec, TaskRec
from tests.conftest import CC, require_shared
from tests.tui_helpers import SIZE, settle


def _write_session(store, sid: str, t: int) -> None:
    b = Batch()
    b.sessions.append(SessionRec(id=sid, start_ms=t, end_ms=t + 1_000, cli_tool="claude-code", project="p"))
    b.tasks.append(TaskRec(id=f"t-{sid}", session_id=sid, ts_ms=t + 500, source="transcript", model="m",
                           tokens_in=1, tokens_out=1))
    store.writer.write(b)


def test_change_watcher_sees_other_connections_commits_only(tmp_path):
    from nexus_tui.store import open_store
    from nexus_tui.store.changes import ChangeWatcher

    url = f"sqlite:///{tmp_path / 'w.db'}"
    store, other = open_store(url), open_store(url)  # `other` is another process's engine: its own connections
    w = ChangeWatcher(store.engine)
    try:
        assert w.changed() is False  # the baseline
        assert w.changed() is False
        _write_session(other, "a", 1_763_000_000_000)
        assert w.changed() is True and w.changed() is False
        with store.engine.connect() as conn:  # reads change nothing
            conn.exec_driver_sql("SELECT COUNT(*) FROM sessions").all()
        assert w.changed() is False
        _write_session(store, "b", 1_763_000_100_000)  # the app's own writer: another connection of its pool
        w.mark_seen()
        assert w.changed() is False
    finally:
        w.close()
        store.close()
        other.close()


async def _wait_for(pilot, cond, seconds: float) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        await pilot.pause(0.1)
        if cond():
            return
    raise AssertionError("condition not met in time")


async def test_rows_an_ingest_in_another_process_writes_appear_on_the_open_screen(tmp_path):
    """The app open without its collector (as with --no-collect); `nexus-insights ingest` in another process writes
    transcripts to the same database: the Sessions screen lists them within the poll interval, no key pressed."""
    require_shared()
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    claude = tmp_path / "claude"
    proj = claude / "projects" / "live"
    proj.mkdir(parents=True)
    home = tmp_path / "nexus"
    settings = load_settings(home=str(home), claude_dirs=())
    store = open_store(settings.db_url)
    app = NexusApp(settings, store, None, tz="UTC", poll_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#sessions")
        assert table.row_count == 0
        shutil.copy(CC / "spotter" / "short.jsonl", proj / "a.jsonl")
        shutil.copy(CC / "sniffly" / "fed8ce56-bc79-401f-a83e-af084253362f.jsonl", proj / "b.jsonl")
        env = {**os.environ, "HOME": str(tmp_path / "home"), "NEXUS_INSIGHTS_HOME": str(home),
               "CLAUDE_CONFIG_DIR": str(claude)}
        env.pop("NEXUS_INSIGHTS_DB", None)
        r = subprocess.run([sys.executable, "-m", "nexus_tui.cli", "ingest"], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        with store.engine.connect() as conn:
            n = conn.exec_driver_sql("SELECT COUNT(*) FROM sessions").scalar()
        assert n == 2
        await _wait_for(pilot, lambda: table.row_count == n, 20)
        assert "2 sessions" in str(app.screen.query_one("#summary").render())
    store.close()
