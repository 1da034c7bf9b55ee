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
            await pilot.press(k)
            await settle(app, pilot)
    return run


CASES = [
    ("timeline", ("2",)), ("costs", ("3",)), ("efficiency", ("4",)), ("tiers", ("5",)),
    ("tools", ("6",)), ("tool_failures", ("6", "enter")),
]


@pytest.mark.parametrize("name,keys", CASES, ids=[name for name, _keys in CASES])
def test_screen_snapshot(snap_compare, tmp_path, name, keys):
    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=_run_before(*keys))
