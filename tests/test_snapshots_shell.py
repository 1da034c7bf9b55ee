"""Snapshots of the shell's screens (Sessions, Session, Task, filters, help, empty states) on the demo database,
with a fixed clock, time zone and terminal size. Each SVG was looked at before it was committed."""

from __future__ import annotations

import pytest

from tests.tui_helpers import SIZE, demo_app, settle


def _run_before(*keys):
    async def run(pilot):
        app = pilot.app
        await settle(app, pilot)
        for k in keys:
            await pilot.press(k)
            await settle(app, pilot)
    return run


CASES = [
    ("sessions", ()),
    ("sessions_by_cost", ("s",)),
    ("session_detail", ("enter",)),
    ("task_detail", ("enter", "enter", "e")),
    ("task_detail_routing", ("down", "down", "enter", "enter")),
    ("filters", ("f",)),
    ("keys", ("question_mark",)),
    ("search_no_match", ("slash", *"zzz", "enter")),
]


@pytest.mark.parametrize("name,keys", CASES, ids=[name for name, _keys in CASES])
def test_shell_snapshot(snap_compare, tmp_path, name, keys):
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=_run_before(*keys))


def test_empty_database_snapshot(snap_compare, tmp_path, monkeypatch):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    monkeypatch.setenv("HOME", "/home/user")  # the folders the hint names, fixed for the picture
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", "/home/user/.claude")
    settings = load_settings(home="/home/user/.config/nexus", db=f"sqlite:///{tmp_path / 'empty.db'}")
    app = NexusApp(settings, open_store(settings.db_url), None, now_ms=1_763_640_000_000, tz="UTC")
    assert snap_compare(app, terminal_size=SIZE, run_before=_run_before())
