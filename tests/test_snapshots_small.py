"""Every screen at 80×24 (the smallest terminal we support), next to the 160×48 pictures of test_snapshots.py and
test_snapshots_shell.py: the snapshots here were read (the SVG text) to check that each screen keeps its key
content; ``test_key_content_at_80x24`` checks the same on the screen's text, so a layout change that hides it fails
whatever the snapshot says. A few screens are also snapshotted again at 160×48 where their layout depends on the
size (breakpoint classes)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tests.tui_helpers import SIZE, demo_app, settle

SMALL = (80, 24)


def _run_before(*keys):
    async def run(pilot):
        app = pilot.app
        await settle(app, pilot)
        for k in keys:
            await pilot.press(k)
            await settle(app, pilot)
        await pilot.pause(0.2)  # tables measure their columns when idle: let that repaint before the picture
        await settle(app, pilot)
    return run


CASES = [
    ("sessions", ()), ("timeline", ("2",)), ("costs", ("3",)), ("efficiency", ("4",)), ("tiers", ("5",)),
    ("tools", ("6",)), ("session_detail", ("enter",)), ("task_detail", ("enter", "enter")),
    ("filters", ("f",)), ("keys", ("question_mark",)),
]


@pytest.mark.parametrize("name,keys", CASES, ids=[name for name, _keys in CASES])
def test_snapshot_80x24(snap_compare, tmp_path, name, keys):
    assert snap_compare(demo_app(tmp_path), terminal_size=SMALL, run_before=_run_before(*keys))


def screen_text(app) -> str:
    """What the terminal shows, as plain text (the lines of the screenshot)."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


# what each screen must show at 80×24: its key figures, its table's key columns, and the quit key
KEY_CONTENT = {
    "sessions": ((), ["90 sessions", "Start", "Title / project", "Tasks", "Tokens", "Cost", "Tool failures", "2,436,282", "$2.83"]),
    "timeline": (("2",), ["Tokens per", "tokens", "$99.75", "10-21"]),
    "costs": (("3",), ["Today", "This month", "Burn rate", "Local savings", "$3.47 of $4.00", "runs out at 09:58",
                       "Period", "Spent", "Projected", "spent today", "Day", "Cost", "2026-11-20"]),
    "efficiency": (("4",), ["Tokens/change", "Cost/change", "Useful changes", "Without change", "1 of 90 sessions",
                            "tokens per useful change", "Least efficient sessions", "Session", "demo-0021-e73"]),
    "tiers": (("5",), ["By model: 7 values", "Value", "Tasks", "Cost", "Share of cost", "claude-opus-4-6",
                       "gemini-2.5-flash", "qwen2.5-coder:7b", "llama3.1:8b"]),
    "tools": (("6",), ["11 tools", "162 tool failures", "Tool", "Calls", "Failures", "Write", "Grep", "Edit", "Bash",
                       "By MCP server", "github", "Tool failures by type"]),
    "session_detail": (("enter",), ["Session ID", "Tokens", "Cost", "Status", "5 tool failures", "Time", "Model",
                                    "Latency", "07:57:04"]),
    "task_detail": (("enter", "enter"), ["Task req_demo_0089_000", "Tokens", "Latency", "Tool calls", "MultiEdit"]),
    "quota": (("7",), ["No quota snapshot stored", "estimated 5-hour blocks", "not the provider's quota",
                       "Block start", "Tokens", "2,436,282"]),
    "filters": (("f",), ["Range and filters", "Today", "Project", "Apply", "Clear all", "Cancel"]),
}


def _footer_keys_whole(app) -> None:
    """Every key the footer shows is whole: none reaches under the pinned ? Keys / q Quit, none past the edge."""
    from textual.widgets._footer import FooterKey

    footer = app.screen.query_one("AppFooter")
    pinned = footer.query_one(".pinned")
    keys = [k for k in footer.query(FooterKey) if k.display and pinned not in k.ancestors]
    assert keys
    for k in keys:
        assert k.region.width > 0 and k.region.right <= pinned.region.x, (k.key_display, k.description, k.region,
                                                                            pinned.region)


@pytest.mark.parametrize("name", list(KEY_CONTENT))
async def test_key_content_at_80x24(tmp_path, name):
    keys, wanted = KEY_CONTENT[name]
    app = demo_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _run_before(*keys)(pilot)
        text = screen_text(app)
        lines = text.splitlines()
        assert len(lines) == 24 and max(len(x) for x in lines) <= 80
        missing = [w for w in wanted if w not in text]
        assert not missing, f"{name} at 80×24 does not show {missing}:\n{text}"
        if name != "filters":  # the dialog covers the footer
            assert "q Quit" in lines[-1] and "? Keys" in lines[-1], lines[-1]
            assert "f Filters" in lines[-1], lines[-1]
            _footer_keys_whole(app)
        assert "(s)" not in text and "value(s)" not in text and "rows 0–0" not in text


# every screen with a table, and the tables behind a key (recent failures, sessions without a change, audit trail)
WITH_TABLES = {"sessions": (), "costs": ("3",), "efficiency": ("4",), "efficiency_z": ("4", "z"), "tiers": ("5",),
               "tools": ("6",), "tool_failures": ("6", "enter"), "quota": ("7",), "errors": ("8",),
               "session_detail": ("enter",), "audit": ("enter", "a")}


@pytest.mark.parametrize("name", list(WITH_TABLES))
async def test_no_table_scrolls_sideways_at_80x24(tmp_path, name):
    """At 80 columns each table leaves out or shortens columns until the rest fits: none needs a sideways scroll,
    which would cut its last column mid-word with no "…" (the Quota screen's blocks did: "opus-4-6, sonnet-4-")."""
    from tests.tui_helpers import tables_scrolled_sideways

    app = demo_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _run_before(*WITH_TABLES[name])(pilot)
        assert app.screen.query("KeyedTable"), name
        assert tables_scrolled_sideways(app) == [], screen_text(app)
        if name == "quota":  # the models of a block end in "…" where cut, the numbers beside them stay whole
            row = next(x for x in screen_text(app).splitlines() if "2,436,282" in x)
            assert "$2.83" in row and "haiku-4-5, opus-4-6, son…" in row, row


async def test_columns_come_back_when_the_terminal_widens(tmp_path):
    """Sessions at 80 columns leaves out the droppable columns (never tasks, tokens or cost; tool failures only when
    a long title needs their room: sessions.DROP, as the demo's titles do not); at 160 every column is back,
    numbers right-aligned."""
    app = demo_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _run_before()(pilot)
        table = app.screen.query_one("#sessions")
        narrow = table.shown_columns
        assert {"start", "tasks", "tokens", "cost", "errors"} <= set(narrow) and "id" not in narrow
        await pilot.resize_terminal(*SIZE)
        await _run_before()(pilot)
        assert table.shown_columns == [k for k, _ in table._all_columns if k != "machine"]  # one machine: no column
        text = screen_text(app)
        header = next(x for x in text.splitlines() if "Start" in x and "Tokens" in x)
        row = next(x for x in text.splitlines() if "2,436,282" in x)
        # right-aligned: the number ends where its column's title ends
        assert row.index("2,436,282") + len("2,436,282") == header.index("Tokens") + len("Tokens")


async def test_share_chart_labels_every_bar_at_160x48(tmp_path):
    """Tiers' cost chart has a row per bar (all 7 models labelled, each name in the table and on its bar); at
    80×24 the chart gives way to the table, whose Share of cost column has the same numbers."""
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _run_before("5")(pilot)
        lines = screen_text(app).splitlines()
        names = [r["model"] for r in app.screen.shown["model"]]
        assert len(names) == 7
        for name in names:
            assert any(x.rstrip().endswith(name[:28] + "┤") or f"{name[:28]}┤" in x for x in lines), name
        await pilot.resize_terminal(*SMALL)
        await _run_before()(pilot)
        assert not app.screen.query_one("#share").display or app.screen.query_one("#share").region.height == 0


async def test_tiers_tabs_fit_80_columns_and_widen_back(tmp_path):
    """Tiers' eight tabs are whole at 80 columns (short labels: "model", ..., none past the edge, none scrolled
    away); at 160 they read "By model", ... again, also after a resize while another screen was in view."""
    from textual.widgets import Tab

    from nexus_tui.screens.tiers import DIMS

    def tabs_shown(app) -> list[str]:
        tabs = [t for t in app.screen.query_one("#dims").query(Tab)]
        assert len(tabs) == len(DIMS)
        for t in tabs:
            assert t.region.width > 0 and t.region.right <= app.size.width, (t.label.plain, t.region)
        return [t.label.plain for t in tabs]

    app = demo_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _run_before("5")(pilot)
        assert tabs_shown(app) == [title for _dim, title in DIMS]
        line = next(x for x in screen_text(app).splitlines() if x.lstrip().startswith("model"))
        assert line.rstrip().endswith("CLI tool"), line
        await pilot.resize_terminal(*SIZE)
        await _run_before()(pilot)
        assert tabs_shown(app) == [f"By {title}" for _dim, title in DIMS]
        await _run_before("1")(pilot)
        await pilot.resize_terminal(*SMALL)
        await _run_before("5")(pilot)
        assert tabs_shown(app) == [title for _dim, title in DIMS]
