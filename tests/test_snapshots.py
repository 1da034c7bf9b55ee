"""Snapshots of the analytics screens (Timeline, Costs, Efficiency, Tiers, Tools) on the demo database, fixed clock,
fixed terminal size (reviewed by eye). The shell's screens are in test_snapshots_shell.py."""

from __future__ import annotations

import pytest

from tests.tui_helpers import SIZE, demo_app, settle


def _run_before(*keys):
    async def run(pilot):
        app = pilot.app
        await settle(app, pilot)
        for k in keys:
            if k.startswith("range:"):  # set the range directly: the t key's notification would be in the picture
                app.set_range(k.removeprefix("range:"))
            else:
                await pilot.press(k)
            await settle(app, pilot)
        await pilot.pause(0.2)  # tables measure their columns when idle: let that repaint before the picture
        await settle(app, pilot)
    return run


CASES = [
    ("timeline", ("2",)), ("timeline_by_model", ("2", "m")), ("timeline_7_days", ("2", "range:7d")),
    ("costs", ("3",)), ("costs_month", ("3", "p")),
    ("efficiency", ("4",)), ("efficiency_no_change", ("4", "z")),
    ("tiers", ("5",)), ("tiers_by_tier", ("5", "d", "d", "d", "d", "d")),
    ("tools", ("6",)), ("tools_server", ("6", "tab")), ("tool_failures", ("6", "down", "down", "enter")),
]


@pytest.mark.parametrize("name,keys", CASES, ids=[name for name, _keys in CASES])
def test_screen_snapshot(snap_compare, tmp_path, name, keys):
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=_run_before(*keys))
