"""The first pass's progress (a cold start on a long history takes seconds to minutes): the collector says what it
planned and how far it got while the pass runs, and the dashboard shows it in the status bar and in the empty
screen's hint instead of "No sessions yet"."""

from __future__ import annotations

import shutil

from nexus_tui.app import NexusApp
from nexus_tui.collect.collector import PassReport
from nexus_tui.config import load_settings
from nexus_tui.screens.common import empty_hint
from nexus_tui.store import open_store
from tests.conftest import REAL
from tests.helpers import collector_for, store_at


def _tree(tmp_path):
    projects = tmp_path / "projects"
    files = sorted((REAL / "claude_code").rglob("*.jsonl"))
    for i, f in enumerate(files):
        d = projects / f"-p{i}"
        d.mkdir(parents=True)
        shutil.copyfile(f, d / f.name)
    return projects, sum(f.stat().st_size for f in files), len(files)


def test_a_pass_says_what_it_planned_and_how_far_it_got(tmp_path):
    projects, size, nfiles = _tree(tmp_path)
    store = store_at(tmp_path / "x.db")
    col = collector_for(store, projects)
    seen = []
    write = col.writes.write

    def spy(*a, **k):  # each write group: the pass's progress as another thread reads it
        cur = col.running
        seen.append((cur.files_todo, cur.bytes_todo, cur.files_read, cur.bytes_read))
        return write(*a, **k)

    col.writes.write = spy
    assert col.running is None
    rep = col.run_once()
    assert col.running is None and col.last is rep
    assert seen and all(s[:2] == (nfiles, size) for s in seen)
    assert [s[2] for s in seen] == sorted(s[2] for s in seen) and seen[-1][2] == nfiles and seen[-1][3] == size
    assert (rep.files_todo, rep.bytes_todo, rep.files_read, rep.bytes_read) == (nfiles, size, nfiles, size)
    seen.clear()
    again = col.run_once()  # nothing changed: nothing planned
    assert (again.files_todo, again.bytes_todo, again.files_read) == (0, 0, 0) and not seen
    col.close()


def test_the_dashboard_shows_the_first_pass_progress(tmp_path):
    projects, _size, _n = _tree(tmp_path)
    settings = load_settings(home=str(tmp_path / "home"), db=f"sqlite:///{tmp_path / 'y.db'}",
                             claude_dirs=[str(projects)])
    store = open_store(settings.db_url)
    col = collector_for(store, projects)
    app = NexusApp(settings, store, col, now_ms=1_763_640_000_000, tz="UTC")
    assert "first pass running…" in app.status_line()  # not planned yet
    col.running = PassReport(files_todo=1887, bytes_todo=1_003_451_678, files_read=640, bytes_read=312_400_000)
    line = app.status_line()
    assert "first pass: 640 of 1,887 files read (312.4 of 1,003.5 MB)…" in line
    hint = empty_hint(app)
    assert hint.startswith("Reading your history for the first time (640 of 1,887 files read (312.4 of 1,003.5 MB))…")
    assert "No sessions yet" not in hint and "Claude Code transcripts are looked for in: " in hint
    col.running = None
    col.run_once()  # the first pass is over: the usual words
    app.last_report = col.last
    assert "first pass" not in app.status_line() and "last pass" in app.status_line()
    assert empty_hint(app).startswith("No sessions yet.")
    col.close()


def test_ingest_on_a_terminal_shows_its_progress_on_one_line_and_erases_it(tmp_path):
    """``nexus-insights ingest`` on a terminal: how far a pass that lasts got, rewritten in place and erased before
    the report (with first_after=0 here, so that the real fixtures' short pass shows it)."""
    import io
    import re

    from nexus_tui.collect.progress import show

    projects, size, nfiles = _tree(tmp_path)
    col = collector_for(store_at(tmp_path / "z.db"), projects)
    out = io.StringIO()
    write = col.writes.write

    def slow(*a, **k):  # each write group lasts long enough for the progress thread to look
        import time

        time.sleep(0.05)
        return write(*a, **k)

    col.writes.write = slow
    stop = show(col, out, first_after=0.0, every=0.01)
    col.run_once()
    stop()
    col.close()
    text = out.getvalue()
    shown = re.findall(r"\rreading ([\d,]+) of ([\d,]+) files \(([\d,.]+) of ([\d,.]+) MB\)…\x1b\[K", text)
    assert shown and text.endswith("\r\x1b[K")
    assert {(int(t.replace(",", "")), float(b.replace(",", ""))) for _r, t, _d, b in shown} == {
        (nfiles, round(size / 1e6, 1))}
    done = [int(r.replace(",", "")) for r, _t, _d, _b in shown]
    assert done == sorted(done) and done[-1] <= nfiles


def test_ingest_into_a_pipe_prints_no_progress(tmp_path):
    import os
    import subprocess
    import sys

    projects, _size, n = _tree(tmp_path)
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"))
    env.pop("NEXUS_INSIGHTS_DB", None)
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "--claude-dir", str(projects.parent), "ingest"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "reading" not in r.stderr and "\x1b" not in r.stderr + r.stdout and f"files: {n} seen, {n} read" in r.stdout
