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


async def test_a_long_kind_or_tool_from_data_leaves_the_message_on_an_80_column_screen(tmp_path):
    """Kinds and tools come from data (an OTLP error_type, an event's kind): a 120-character kind widened its
    column until the Message column left the 80×24 screen. Cells are clipped ("…"); the line below shows them whole."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.core.events import Batch, ErrorRec, SessionRec, ToolResultRec, ToolUseRec
    from nexus_tui.store import open_store

    t0 = 1_763_000_000_000
    kind, tool = "k" * 60 + "-end-of-kind" + "x" * 48, "mcp__" + "t" * 200
    store = open_store(f"sqlite:///{tmp_path / 'long.db'}")
    b = Batch()
    b.sessions.append(SessionRec(id="s1", start_ms=t0, end_ms=t0 + 60_000, cli_tool="claude-code", project="p"))
    b.tool_uses.append(ToolUseRec(id="c1", session_id="s1", task_id=None, tool_name=tool, started_ms=t0 + 1000))
    b.tool_results.append(ToolResultRec(id="c1", session_id="s1", ended_ms=t0 + 2000, success=False,
                                        error_type=kind, error_message="the start of the message"))
    b.errors.append(ErrorRec(id="e1", ts_ms=t0 + 3000, component="api", kind=kind, message="an API error text",
                             session_id="s1"))
    store.writer.write(b)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=t0 + 600_000,
                   tz="UTC")
    async with app.run_test(size=SMALL) as pilot:
        await _run_before("8")(pilot)
        text = screen_text(app)
        await _run_before("down")(pilot)  # the tool failure (the API error is newer)
        text_tool = screen_text(app)
    store.close()
    assert "Message" in text and "the start of the message" in text and "an API error text" in text, text
    assert "k" * 15 + "…" in text and "-end-of-kind" not in text.split("────")[0], text
    detail = text_tool.split("────")[-1]  # under the table: the tool and the kind both, then the message's start
    assert f" tool {tool[:27]}…  kind {kind[:27]}…" in detail and "\n the start of the message" in detail, detail
