"""Database faults (issue 10, A10): a read-only home still reports; a damaged database fails ingest loudly."""

from __future__ import annotations

import re

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CC, copy_cc_tree, require_shared


def _env(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("NEXUS_INSIGHTS_DB", None)
    return env


def _run(tmp_path, *args, restricted: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nexus_tui", *args]
    if restricted and os.geteuid() == 0:  # root ignores permissions: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a folder read-only for the app")
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]
    return subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=120)


def test_a_read_only_home_still_serves_no_collect_reports_and_names_the_folder(tmp_path):
    copy_cc_tree(tmp_path / "claude")
    assert _run(tmp_path, "ingest").returncode == 0
    home = tmp_path / "nexus"
    db = home / "insights.db"
    con = sqlite3.connect(db)
    tasks = con.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    con.close()
    assert tasks > 0 and not Path(f"{db}-shm").exists()
    home.chmod(0o500)
    try:
        r = _run(tmp_path, "--headless", "summary", "--no-collect", restricted=True)
        assert r.returncode == 0, r.stderr
        assert re.search(rf"^tasks +{tasks:,} ", r.stdout, re.M), r.stdout
        r = _run(tmp_path, "--headless", "models", "--format", "json", "--no-collect", restricted=True)
        assert r.returncode == 0 and '"model"' in r.stdout, r.stderr
        # commands that must write say which folder to fix
        for args in (("ingest",), ("--headless", "summary")):
            r = _run(tmp_path, *args, restricted=True)
            assert r.returncode != 0
            assert f"the folder {home} is read-only" in r.stderr, r.stderr
        # nothing written (machine-id: made by the first ingest, docs/teams.md)
        assert {p.name for p in home.iterdir()} <= {"insights.db", "price-cache.json", "machine-id"}
    finally:
        home.chmod(0o700)


def _corrupt_root_page(db: Path, table: str) -> None:
    con = sqlite3.connect(db)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    con.close()
    with open(db, "r+b") as f:  # a leaf page header claiming 65535 cells, then junk
        f.seek((root - 1) * page_size)
        f.write(b"\x0d\x00\x00\xff\xff" + b"\xee" * 200)


def test_a_malformed_database_makes_ingest_fail_and_say_so(tmp_path):
    require_shared()
    projects = tmp_path / "claude" / "projects" / "p"
    projects.mkdir(parents=True)
    for f in (CC / "sniffly").glob("*.jsonl"):
        shutil.copy(f, projects / f.name)
    assert _run(tmp_path, "ingest").returncode == 0
    db = tmp_path / "nexus" / "insights.db"
    _corrupt_root_page(db, "task_hours")  # a table the next pass touches only after writing its rows
    shutil.copy(CC / "spotter" / "short.jsonl", projects / "new.jsonl")
    r = _run(tmp_path, "ingest")
    assert r.returncode != 0, r.stdout + r.stderr  # it used to write the new rows and exit 0
    assert "malformed" in r.stderr and "damaged" in r.stderr, r.stderr
