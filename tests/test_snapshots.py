"""Snapshots of every screen on the demo database, fixed clock, fixed terminal size (reviewed by eye)."""

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


@pytest.mark.parametrize("name,keys", [
    ("sessions", ()), ("timeline", ("2",)), ("costs", ("3",)), ("efficiency", ("4",)), ("tiers", ("5",)),
    ("tools", ("6",)), ("session_detail", ("enter",)), ("task_detail", ("enter", "enter")),
    ("tool_failures", ("6", "enter")), ("filters", ("f",)),
])
def test_screen_snapshot(snap_compare, tmp_path, name, keys):
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=_run_before(*keys))
