"""Snapshots of the Errors screen and of a session's audit trail on the demo database (fixed clock) at 160×48 and
80×24, read by eye (the SVG text); test_errors_screen_key_content checks what each must show on the screen's text."""

from __future__ import annotations

import pytest

from tests.test_snapshots_small import screen_text
from tests.tui_helpers import SIZE, demo_app, settle

SMALL = (80, 24)


def _run_before(*keys):
    async def run(pilot):
        app = pilot.app
        await settle(app, pilot)
        for k in keys:
            if k.startswith("type:"):  # typed into the focused box, then the search's pause
                await pilot.press(*k.removeprefix("type:"))
                await pilot.pause(0.4)
            else:
                await pilot.press(k)
            await settle(app, pilot)
        await pilot.pause(0.2)  # tables measure their columns when idle: let that repaint before the picture
        await settle(app, pilot)
    return run


CASES = [
    ("errors", SIZE, ("8",)), ("errors_small", SMALL, ("8",)),
    ("errors_kind", SIZE, ("8", "k")), ("errors_search_small", SMALL, ("8", "slash", "type:timed out")),
    ("audit", SIZE, ("enter", "a")), ("audit_small", SMALL, ("enter", "a")),
]


@pytest.mark.parametrize("name,size,keys", CASES, ids=[name for name, _size, _keys in CASES])
def test_errors_and_audit_snapshot(snap_compare, tmp_path, name, size, keys):
    assert snap_compare(demo_app(tmp_path), terminal_size=size, run_before=_run_before(*keys))


KEY_CONTENT = {
    "errors": (SIZE, ("8",), ["204 errors", "162 tool failures", "42 API errors", "Component", "Kind", "Tool",
                              "Message", "permission denied: token lacks repo scope", "mcp__github__create_issue",
                              "API Error: 529", "q Quit"]),
    # at 80×24 the line under the table keeps what failed on one line (tool, kind: cut with "…", never wrapped
    # away), then the message's start
    "errors_small": (SMALL, ("8",), ["204 errors", "Time", "Kind", "Message", "permission",
                                     " tool mcp__github__create_issue  kind permission  component main  2026-11-20 0…",
                                     "\n permission denied: token lacks repo scope", "q Quit"]),
    "errors_small_api": (SMALL, ("8", "slash", "type:API Error: 529"),
                         [" kind api_error  component api  2026-11-18 22:31:37  session demo-0085-3f0b4d10",
                          "\n API Error: 529 {"]),
    "audit_small": (SMALL, ("enter", "a"), ["Audit trail 44 tool calls, 5 tool failures, 7 files changed", "Tool",
                                            "Target", "Outcome", "Latency", "…ine/src/routing/rules.py",
                                            "failed (permission)", "Files changed", "3 edits", "q Quit"]),
}


@pytest.mark.parametrize("name", list(KEY_CONTENT))
async def test_errors_screen_key_content(tmp_path, name):
    size, keys, want = KEY_CONTENT[name]
    app = demo_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await _run_before(*keys)(pilot)
        text = screen_text(app)
    missing = [w for w in want if w not in text]
    assert not missing, f"{name} at {size}: missing {missing}\n{text}"


async def test_errors_filters_search_and_enter(tmp_path):
    """The component, kind and tool keys narrow the list to one value each; the search follows typing; Enter opens
    the highlighted failure's task, which lists that failure."""
    from nexus_tui.screens.errors import ErrorsScreen
    from nexus_tui.screens.task_detail import TaskDetailScreen
    from nexus_tui.widgets.keyed_table import KeyedTable

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _run_before("8")(pilot)
        scr = app.screen
        assert isinstance(scr, ErrorsScreen)
        all_rows = list(scr.rows.values())
        chosen = {}
        for key, name in (("o", "tool"), ("k", "kind"), ("c", "component")):
            offered = dict(scr.facets[name])
            await pilot.press(key)
            await settle(app, pilot)
            # the most frequent value among the errors the other filters leave, and every row has it
            assert scr.chosen[name] == min(offered, key=lambda v: (-offered[v], str(v)))
            chosen[name] = scr.chosen[name]
            assert scr.rows and all(r[k] == v for r in scr.rows.values() for k, v in chosen.items())
            assert len(scr.rows) == sum(1 for r in all_rows if all(r[k] == v for k, v in chosen.items()))
        await pilot.press("x")
        await settle(app, pilot)
        assert len(scr.rows) == len(all_rows) and not any(scr.chosen.values())
        await pilot.press("slash", *"timed out")
        await pilot.pause(0.4)
        await settle(app, pilot)
        assert scr.rows and all("timed out" in r["message"].lower() for r in scr.rows.values())
        assert len(scr.rows) == sum(1 for r in all_rows if "timed out" in r["message"].lower())
        await pilot.press("enter")  # applies the search, the table takes the focus
        await settle(app, pilot)
        table = scr.query_one("#errors", KeyedTable)
        row = scr.rows[table.current_key]
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.pause(0.2)
        await settle(app, pilot)
        assert isinstance(app.screen, TaskDetailScreen) and app.screen.task_id == row["task_id"]
        assert "Request timed out" in screen_text(app)
