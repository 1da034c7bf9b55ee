"""The open dashboard sees what other processes write to the database (store/changes.py + the app's poller)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from nexus_tui.core.events import Batch, SessionRec, TaskRec
from tests.conftest import CC, require_shared
from tests.tui_helpers import SIZE, settle


def _write_session(store, sid: str, t: int) -> None:
    b = Batch()
    b.sessions.append(SessionRec(id=sid, start_ms=t, end_ms=t + 1_000, cli_tool="claude-code", project="p"))
    b.tasks.append(TaskRec(id=f"t-{sid}", session_id=sid, ts_ms=t + 500, source="transcript", model="m",
                           tokens_in=1, tokens_out=1))
    store.writer.write(b)


@pytest.fixture(scope="module")
def pg_url():
    """A throwaway PostgreSQL cluster (the server binaries on PATH or in /usr/local/bin; as the postgres user when
    the tests run as root, which initdb refuses), or skip."""
    initdb, pg_ctl = shutil.which("initdb") or "/usr/local/bin/initdb", shutil.which("pg_ctl") or "/usr/local/bin/pg_ctl"
    if not (os.path.exists(initdb) and os.path.exists(pg_ctl)):
        pytest.skip("no PostgreSQL server binaries")
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="nexus-pg-"))  # not under pytest's root-only folder: the postgres user reads it
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user")
        os.chown(d, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = 55_000 + os.getpid() % 5_000
    r = subprocess.run(as_user + [initdb, "-D", str(d / "data"), "-A", "trust", "-U", "nexus"], capture_output=True)
    if r.returncode:
        pytest.skip(f"initdb failed: {r.stderr[-300:]!r}")
    r = subprocess.run(as_user + [pg_ctl, "-D", str(d / "data"), "-w", "-l", str(d / "log"), "-o",
                                  f"-p {port} -k {d} -c listen_addresses=''", "start"], capture_output=True)
    if r.returncode:
        pytest.skip(f"pg_ctl start failed: {r.stderr[-300:]!r}")
    try:
        yield f"postgresql+psycopg://nexus@/postgres?host={d}&port={port}"
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", str(d / "data"), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_change_watcher_sees_other_connections_commits_only(tmp_path, dialect, request):
    from nexus_tui.store import open_store
    from nexus_tui.store.changes import ChangeWatcher

    url = f"sqlite:///{tmp_path / 'w.db'}" if dialect == "sqlite" else request.getfixturevalue("pg_url")
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


def _fresh_pg_database(pg_url: str, name: str) -> str:
    from sqlalchemy import create_engine

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return pg_url.replace("/postgres?", f"/{name}?")


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_rows_an_ingest_in_another_process_writes_appear_on_the_open_screen(tmp_path, dialect, request):
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
    db = None if dialect == "sqlite" else _fresh_pg_database(request.getfixturevalue("pg_url"), "live_ingest")
    settings = load_settings(home=str(home), db=db, claude_dirs=())
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
        if db:
            env["NEXUS_INSIGHTS_DB"] = db
        r = subprocess.run([sys.executable, "-m", "nexus_tui.cli", "ingest"], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        with store.engine.connect() as conn:
            n = conn.exec_driver_sql("SELECT COUNT(*) FROM sessions").scalar()
        assert n == 2
        await _wait_for(pilot, lambda: table.row_count == n, 20)
        assert "2 sessions" in str(app.screen.query_one("#summary").render())
    store.close()


async def test_efficiency_chart_leaves_idle_days_out_never_draws_them_as_zero(tmp_path):
    """Work on day 0 and day 4 only: days 1-3 have no point on either line of the efficiency trend (a 0 there
    would read as the best possible tokens per change)."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.core.events import ToolResultRec, ToolUseRec
    from nexus_tui.store import open_store
    from nexus_tui.widgets.chart import EfficiencyTrendChart

    day = 86_400_000
    t0 = 1_763_078_400_000 - 30 * day  # a UTC midnight
    store = open_store(f"sqlite:///{tmp_path / 'eff.db'}")
    b = Batch()
    for d in (0, 4):
        sid, t = f"s{d}", t0 + d * day + 3_600_000
        b.sessions.append(SessionRec(id=sid, start_ms=t, end_ms=t + 60_000, cli_tool="claude-code", project="p"))
        b.tasks.append(TaskRec(id=f"t{d}", session_id=sid, ts_ms=t + 1_000, source="transcript", model="m",
                               tokens_in=1_000 * (d + 1), tokens_out=0))
        b.tool_uses.append(ToolUseRec(id=f"c{d}", session_id=sid, task_id=f"t{d}", tool_name="Edit",
                                      started_ms=t + 1_000))
        b.tool_results.append(ToolResultRec(id=f"c{d}", session_id=sid, ended_ms=t + 1_000, success=True))
    store.writer.write(b)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None,
                   now_ms=t0 + 5 * day, tz="UTC")
    drawn = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await settle(app, pilot)
        chart = app.screen.query_one("#trend", EfficiencyTrendChart)
        real = chart.plt.plot

        def spy(xs, ys, **kw):
            drawn.append((kw.get("yside", "left"), list(xs), list(ys)))
            return real(xs, ys, **kw)

        chart.plt.plot = spy
        chart.replot()
        trend = app.screen.trend
    bucket, starts = trend["bucket"], trend["starts"]
    worked = {i for i, st in enumerate(starts) for d in (0, 4) if st <= t0 + d * day + 3_601_000 < st + bucket}
    assert len(worked) == 2 and len(starts) > 10  # two working buckets, many idle ones between
    points = {side: {x: y for s, xs, ys in drawn if s == side for x, y in zip(xs, ys)} for side in ("left", "right")}
    assert set(points["left"]) == worked and sorted(points["left"].values()) == [1_000, 5_000]  # tokens per change
    assert points["right"] == {i: 1 for i in worked}  # useful changes: no point on an idle bucket
    store.close()
