"""Shared fixtures: paths to the real captures, temporary homes and Claude Code trees, stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL = SHARED / "fixtures" / "real"
CC = REAL / "claude_code"


def require_shared() -> None:
    if not CC.is_dir():
        pytest.skip(f"the shared fixtures are not beside the repo ({CC})")


def copy_cc_tree(dest: Path) -> Path:
    """Lay the real Claude Code fixtures out as ~/.claude/projects/<project>/… (as check-fixtures does)."""
    require_shared()
    projects = dest / "projects"
    (projects / "-fixtures-sniffly").mkdir(parents=True)
    (projects / "-fixtures-spotter").mkdir(parents=True)
    for f in (CC / "sniffly").glob("*.jsonl"):
        shutil.copy(f, projects / "-fixtures-sniffly" / f.name)
    for f in (CC / "spotter").glob("*.jsonl"):
        shutil.copy(f, projects / "-fixtures-spotter" / f.name)
    shutil.copytree(CC / "spotter" / "4d5611e5-241a-462a-8d15-5122611a9569",
                    projects / "-fixtures-spotter" / "4d5611e5-241a-462a-8d15-5122611a9569")
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return projects


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """HOME, NEXUS_INSIGHTS_HOME and CLAUDE_CONFIG_DIR all inside tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NEXUS_INSIGHTS_HOME", str(tmp_path / "nexus"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    monkeypatch.delenv("NEXUS_INSIGHTS_DB", raising=False)
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    return tmp_path


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server per test process (see tests/pg_server.py)."""
    from tests.pg_server import PgServer

    srv = PgServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def pg_url(pg_server):
    """A fresh database on the real PostgreSQL server; the test is skipped, with the reason, where none runs."""
    if pg_server.admin_url is None:
        pytest.skip(pg_server.skip_reason or "no PostgreSQL server")
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The store's URL on each backend: SQLite always, PostgreSQL on the real server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def _pg_writes_staged(monkeypatch):
    """On PostgreSQL the writer sends an upsert of many rows through a staging table (store/writer.py
    PG_STAGE_MIN_ROWS): in-process tests take that path for any number of rows, so every PostgreSQL test covers
    it; tests/test_pg_staging.py compares it with one execution a row."""
    from nexus_tui.store import writer

    monkeypatch.setattr(writer, "PG_STAGE_MIN_ROWS", 1)


@pytest.fixture(autouse=True)
def _steady_input_cursor(request, monkeypatch):
    """Snapshots never depend on when the picture is taken: an Input's cursor blinks every 0.5 s, so a snapshot of a
    focused search box showed the cursor or not depending on the machine's load (the search_no_match flake).
    In snapshot tests the cursor does not blink (Textual's own snapshot tests do the same)."""
    if "snap_compare" not in request.fixturenames:
        return
    from textual.widgets import Input

    init = Input.__init__

    def steady(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.cursor_blink = False

    monkeypatch.setattr(Input, "__init__", steady)
