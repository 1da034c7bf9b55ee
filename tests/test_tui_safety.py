"""Stored text is data, never markup (every screen, dialog and message shows it as it is)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.content import Content

from nexus_tui.core.events import Batch, ErrorRec, RoutingDecisionRec, SessionRec, TaskRec, ToolResultRec, ToolUseRec
from nexus_tui.core.report import clip_cells
from nexus_tui.widgets.safe import ZWSP, escape
from tests.tui_helpers import SIZE, settle

# markup-like text: Rich/Textual tags, closing tags, links, actions, variables, emoji codes, backslashes
MARKS = ["[/red]", "[/]", "[bold]x", "cannot read [/etc/hosts]", "[link=x]y", ":smile:z:", "w\\",
         "\\[b]v", "[$accent]u", "[@click=app.quit]q"]
T0 = 1_763_000_000_000


def markup_store(tmp_path, marks=MARKS):
    """A database whose every text field holds markup-like text: one session per entry of ``marks``."""
    from nexus_tui.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'markup.db'}")
    b = Batch()
    for i, m in enumerate(marks):
        sid, tid, cid = f"s{i}{m}", f"t{i}{m}", f"c{i}{m}"
        start = T0 + i * 600_000
        b.sessions.append(SessionRec(id=sid, start_ms=start, end_ms=start + 60_000, cli_tool=f"cli{m}",
                                     persona=f"pe{m}", nexus_mode=f"mo{m}", project=f"pr{m}", cwd=f"/w/{m}",
                                     git_branch=f"br{m}", cli_version=f"v{m}"))
        b.tasks.append(TaskRec(id=tid, session_id=sid, ts_ms=start + 1_000, source="transcript",
                               model=f"mod{m}", routing_reason=f"rr{m}", tokens_in=100 + i, tokens_out=10,
                               cost_usd=0.01 * (i + 1), agent_id=f"ag{m}", tier=f"ti{m}", persona=f"pe{m}",
                               cli_tool=f"cli{m}", project=f"pr{m}", status="error", error_message=f"te{m}"))
        b.tool_uses.append(ToolUseRec(id=cid, session_id=sid, task_id=tid, tool_name=f"to{m}", started_ms=start + 2_000,
                                      mcp_server=f"sv{m}"))
        b.tool_results.append(ToolResultRec(id=cid, session_id=sid, ended_ms=start + 2_500, success=False,
                                            error_type=f"et{m}", error_message=f"em{m}"))
        b.routing.append(RoutingDecisionRec(id=f"rd{i}", task_id=tid, reason=f"re{m}",
                                            alternatives_considered=f'[{{"model": "al{m}", "reason_rejected": "rj{m}"}}]'
                                            .replace("\\", "\\\\"),
                                            classifier_version=f"cv{m}"))
        b.errors.append(ErrorRec(id=f"e{i}", ts_ms=start + 3_000, component=f"co{m}", kind=f"ki{m}",
                                 message=f"cannot read [/etc/hosts] {m}", session_id=sid, task_id=tid))
    store.writer.write(b)
    return store, T0 + len(marks) * 600_000


def screen_text(app) -> str:
    """What the terminal shows now (every line of the screen in view, modal dialogs included)."""
    from nexus_tui.widgets._textual_private import screen_lines

    return "\n".join(screen_lines(app)).replace(ZWSP, "")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["[", "]", "/", "\\", "$", "@", "=", ":", "a", " ", "[/red]", "[b]", "[/]", "\\[",
                                 "[$accent]", "[link=x]", "[@click=q]", ":smile:"]), max_size=12).map("".join),
       st.lists(st.sampled_from(["[", "]", "\\", "a", "[/]", "\\["]), max_size=6).map("".join))
def test_escape_shows_any_text_exactly_inside_markup(a, b):
    content = Content.from_markup(f"[b]{escape(a)}[/b] and [red]{escape(b)}[/red]")
    assert content.plain.replace(ZWSP, "") == f"{a} and {b}"
    bold = [s for s in content.spans if "b" in str(s.style)]
    assert a == "" or content.plain[bold[0].start:bold[0].end].replace(ZWSP, "") == a


async def test_every_screen_shows_markup_like_data_literally(tmp_path):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings

    store, now = markup_store(tmp_path)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=now, tz="UTC")
    seen: dict[str, str] = {}

    async def look(name: str, *keys: str, rounds: int = 2) -> str:
        if keys:
            await pilot.press(*keys)
        await settle(app, pilot, rounds)
        seen[name] = screen_text(app)
        return seen[name]

    async with app.run_test(size=(200, 60)) as pilot:
        text = await look("sessions")
        for m in MARKS:  # every project (cut to 22 cells with "…") and CLI shown as it is
            assert clip_cells(f"pr{m}", 22) in text and f"cli{m}" in text, (m, text)
        # the session detail of every session: every header field, the task's model, tools and agent
        table = app.screen.query_one("#sessions")
        for i, m in enumerate(MARKS):
            table.move_cursor(row=[k.value for k in table.rows].index(f"s{i}{m}"))
            text = await look(f"session {i}", "enter")
            for field in ("s{i}", "cli", "v", "pe", "mo", "pr", "/w/", "br", "mod"):
                assert field.format(i=i) + m in text, (field, m, text)
            assert f"to{m}" in text and f"ag{m}" in text, (m, text)
            text = await look(f"task {i}", "enter")
            for field in ("t{i}", "s{i}", "mod", "ag", "ti", "pe", "re", "cv", "al", "rj", "co", "ki", "to"):
                assert field.format(i=i) + m in text, (field, m, text)
            assert f"cannot read [/etc/hosts] {m}" in text
            text = await look(f"task {i} expanded", "e")
            assert f"em{m}" in text, (m, text)
            await look(f"session {i} again", "escape")
            await look(f"sessions {i}", "escape")
        # search for markup-like text
        await look("search", "slash", *"[/]", "enter")
        assert "pr[/]" in seen["search"] and "search: [/]" in seen["search"]
        await look("search cleared", "escape")
        # the other screens, their tables and charts
        await look("timeline", "2")
        text = await look("timeline by model", "m")
        for m in MARKS[-6:]:  # the 6 biggest models (the newest sessions have the most tokens), the rest "other"
            assert f"mod{m} {100 + MARKS.index(m) + 10}" in text, (m, text)
        await look("costs", "3")
        await look("efficiency", "4")
        text = await look("efficiency without changes", "z")  # none of the tools changes files
        for m in MARKS:
            assert clip_cells(f"pr{m}", 16) in text and f"cli{m}" in text, (m, text)
        text = await look("tiers", "5")
        assert "mod[/red]" in text and "mod[/]" in text, text
        for _ in range(6):
            text = await look("tiers next", "d")
        text = await look("tools", "6")
        for m in MARKS[:4]:
            assert f"to{m}" in text and f"sv{m}" in text, (m, text)
        assert "et[/red]" in text
        text = await look("tool failures", "enter")
        assert "em" in text and "Recent tool failures of tool to" in text, text
        await look("tools again", "escape")
        # the filters dialog lists the values as they are, and a filter on one of them shows in the status line
        text = await look("filters", "f")
        assert "Range and filters" in text
        from textual.widgets import Select

        sel = app.screen.query_one("#project", Select)
        sel.focus()
        text = await look("filters open", "enter")
        assert "pr[/red]" in text and "pr[/]" in text and "prcannot read [/etc/hosts]" in text, text
        await look("filters closed", "escape")
        await look("filters cancelled", "escape")
        app.set_filters(app.filters.with_(project="pr[/red]"))
        text = await look("filtered", "1")
        assert "project=pr[/red]" in text, text
        # notifications and the command palette
        app.notify("cannot read [/etc/hosts] [/]", markup=False)
        text = await look("palette", "ctrl+p", *"Show")
        assert "Show Sessions" in text
        await look("palette closed", "escape")
        # a rating on a task whose id is markup-like, then its notification
        await look("session again", "enter")
        await look("rated", "plus", rounds=3)
    store.close()


def has_key_line(text: str, line: str) -> bool:
    """``line`` ("keys  what") is a line of the key list (the keys padded to the section's widest)."""
    import re

    keys, _, what = line.partition("  ")
    pattern = rf"^\s*{re.escape(keys)}\s+{re.escape(what)}\s" if what else rf"^\s*{re.escape(keys)}\s"
    return any(re.search(pattern, ln.split("│")[1] if ln.count("│") >= 2 else ln) for ln in text.splitlines())


async def test_question_mark_lists_this_screens_keys_rating_keys_included(tmp_path):
    from tests.tui_helpers import demo_app

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "KeysScreen" and not app.screen.query("HelpPanel")
        text = screen_text(app)
        for line in ("On Sessions", "/  Search", "s  Sort", "r  Reverse", "]  Next page", "[  Prev page",
                     "esc  Clear search", "Everywhere", "1  Sessions", "4  Efficiency", "6  Tools", "t  Range",
                     "f  Filters", "?  Keys", "^q q  Quit", "In the table", "home ^home  First row", "⏎  Select"):
            assert has_key_line(text, line), (line, text)
        assert "Helpful" not in text and "Focus Next" not in text  # no rating keys where there is no task
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionsScreen"
        await pilot.press("enter", "question_mark")
        await settle(app, pilot)
        text = screen_text(app)
        for line in ("On Session", "+ =  Helpful", "-  Not helpful", "0  Clear rating", "u  Undo rating",
                     "esc  Back"):
            assert has_key_line(text, line), (line, text)
        await pilot.press("question_mark")  # ? again closes it
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionDetailScreen"
        await pilot.press("enter", "question_mark")
        await settle(app, pilot)
        text = screen_text(app)
        assert all(has_key_line(text, line) for line in ("On Task", "e  Expand/collapse calls", "+ =  Helpful")), text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["[", "]", "/", "\\", ":", "smile", "thumbs_up", "a", " ", "0", "[/red]", "[b]",
                                 ":smile:", "12:30:01"]), max_size=10).map("".join))
def test_a_table_cell_shows_any_text_exactly(value):
    """A cell given to KeyedTable: a str stays a str only when Rich's markup leaves it as it is (so DataTable's
    Text.from_markup shows it exactly), else it becomes a Text of itself."""
    from rich.text import Text

    from nexus_tui.widgets.safe import literal

    cell = literal(value)
    shown = cell if isinstance(cell, Text) else Text.from_markup(cell)
    assert shown.plain == value and not shown.spans


# control characters from data: ESC sequences (colour, clear screen, window title), NUL, C1 CSI, DEL, a bidi override
# and the invisible: a zero-width joiner joining no emoji, a Hangul filler (each made a name read as another)
CONTROLS = ["\x1b[31mred", "\x1b]0;pwn\x07t", "nul\x00z", "csi\x9b2J", "del\x7fd", "rtl\u202eq", "zw\u200dj",
            "fill\u3164f"]
SHOWN = {"\x1b[31mred": "\\x1b[31mred", "\x1b]0;pwn\x07t": "\\x1b]0;pwn\\x07t", "nul\x00z": "nul\\x00z",
         "csi\x9b2J": "csi\\x9b2J", "del\x7fd": "del\\x7fd", "rtl\u202eq": "rtl\\u202eq", "zw\u200dj": "zw\\u200dj",
         "fill\u3164f": "fill\\u3164f"}


def raw_controls(text: str) -> set[str]:
    """The characters of ``text`` a terminal would act on instead of showing (line breaks of the screen aside)."""
    from nexus_tui.core.report import _dangerous

    return {c for c in text if c != "\n" and _dangerous(c) and c != ZWSP}


async def test_no_screen_writes_a_control_character_from_data_to_the_terminal(tmp_path):
    """Neither Rich nor Textual drops ESC, NUL, DEL or C1 codes: a session id, model, tool, project or error text
    holding one would reach the terminal (recolour it, clear it, set its title) from a table cell, a header, a
    chart's labels, the sub-title or a notification. Each is shown as a visible escape instead (``\\x1b``)."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings

    store, now = markup_store(tmp_path, CONTROLS)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=now, tz="UTC")
    bad: dict[str, set[str]] = {}

    async def look(name: str, *keys: str) -> str:
        if keys:
            await pilot.press(*keys)
        await settle(app, pilot, 2)
        text = "\n".join(__import__("nexus_tui.widgets._textual_private", fromlist=["x"]).screen_lines(app))
        if raw_controls(text):
            bad[name] = raw_controls(text) | {ln for ln in text.splitlines() if raw_controls(ln)}
        return text.replace(ZWSP, "")

    async with app.run_test(size=(200, 60), notifications=True) as pilot:
        await look("sessions")
        table = app.screen.query_one("#sessions")
        for i, m in enumerate(CONTROLS):
            table.move_cursor(row=[k.value for k in table.rows].index(f"s{i}{m}"))
            text = await look(f"session {i}", "enter")
            assert f"pr{SHOWN[m]}" in text and f"Session s{i}{SHOWN[m]}"[:21] in text, (m, text)
            text = await look(f"task {i}", "enter", "e")
            assert f"mod{SHOWN[m]}" in text and f"em{SHOWN[m]}" in text, (m, text)
            await look(f"back {i}", "escape", "escape")
        for key, extra in (("2", "m"), ("3", None), ("4", None), ("5", "d"), ("6", "enter"), ("7", None),
                           ("8", "k")):
            await look(f"screen {key}", key)
            if extra:
                await look(f"screen {key} {extra}", extra)
                await look(f"screen {key} {extra} keys", "question_mark")
                await look(f"screen {key} {extra} keys closed", "question_mark")
            while len(app.screen_stack) > 1:
                await look("back", "escape")
        app.notify("kind del\x7fd \x1b[2J", markup=False)
        await look("notification")
        toasts = [str(t.render()) for t in app.screen.query("Toast")]
        assert "kind del\\x7fd \\x1b[2J" in toasts and not raw_controls("".join(toasts)), toasts
    store.close()
    assert not bad, bad


async def test_a_long_name_from_data_leaves_the_numbers_on_an_80_column_screen(tmp_path):
    """A 200-character tool name (or model) widened the Tools (Tiers) screen's first column, which always stays,
    until every number beside it was off an 80×24 screen. Such columns are clipped ("…")."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    tool, model = "mcp__srv__" + "t" * 200, "claude-" + "m" * 150
    store = open_store(f"sqlite:///{tmp_path / 'long.db'}")
    b = Batch()
    b.sessions.append(SessionRec(id="s1", start_ms=T0, end_ms=T0 + 60_000, cli_tool="claude-code", project="p"))
    b.tasks.append(TaskRec(id="t1", session_id="s1", ts_ms=T0 + 1000, source="transcript", model=model,
                           tokens_in=10, tokens_out=5, cost_usd=0.5))
    b.tool_uses.append(ToolUseRec(id="c1", session_id="s1", task_id="t1", tool_name=tool, started_ms=T0 + 2000))
    b.tool_results.append(ToolResultRec(id="c1", session_id="s1", ended_ms=T0 + 2500, success=True))
    for i in range(30):  # more tools than the table's height at 80x24: its scrollbar takes two cells
        b.tool_uses.append(ToolUseRec(id=f"d{i}", session_id="s1", task_id="t1", tool_name=f"x{i:02d}",
                                      started_ms=T0 + 3000 + i))
        b.tool_results.append(ToolResultRec(id=f"d{i}", session_id="s1", ended_ms=T0 + 12_345 + i, success=i % 2 == 0))
    store.writer.write(b)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=T0 + 600_000,
                   tz="UTC")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("6")
        await settle(app, pilot)
        wide = screen_text(app)
        await pilot.press("5")
        await settle(app, pilot)
        wide_tiers = screen_text(app)
        await pilot.resize_terminal(80, 24)  # the same screens made narrow: the names give up cells, not the numbers
        await settle(app, pilot)
        tiers = screen_text(app)
        await pilot.press("6")
        await settle(app, pilot)
        tools = screen_text(app)
        names = app.screen.query_one("#tools")
        table_width = names.size.width
        await pilot.resize_terminal(160, 48)  # and wide again: the whole 40 cells are back
        await settle(app, pilot)
        wide_again = screen_text(app)
    store.close()
    assert f"{tool[:39]}…" in wide and "p95" in wide and "max" in wide, wide
    assert f"{model[:39]}…" in wide_tiers, wide_tiers
    assert f"{tool[:39]}…" in wide_again, wide_again
    # at 80 columns every column that always stays is whole on the screen: the header and the row's numbers
    header = next(line for line in tools.splitlines() if "Calls" in line)
    for label in ("Tool", "Calls", "Failures", "Failure rate", "p50"):
        assert label in header, (label, header)
    row = next(line for line in tools.splitlines() if "mcp__srv__" in line)
    assert row.rstrip().endswith(("ms", "s")), row  # the p50 cell ends the row, not a cut-off column
    assert "…" in row and f"{tool[:39]}…" not in row and cell_len(row.rstrip()) <= table_width, row
    assert "Tasks" in tiers and "Cost" in tiers and "…" in tiers, tiers
    title = next(line for line in tools.splitlines() if "Tool failures by type" in line)
    assert "tool mcp__srv__" in title, title
    assert tool[:60] not in tools.replace("\n", "").replace(" ", ""), tools  # not the whole name over 3 lines


def test_the_models_column_counts_only_the_other_models():
    """A single model too long for the column showed as its first 22 characters and " +1", as if a second model
    were there: it is cut with "…" instead, and " +N" counts only the models not shown."""
    from nexus_tui.screens.sessions import models_text

    long = "claude-" + "m" * 100
    assert models_text([long]) == "m" * 25 + "…" and len(models_text([long])) == 26
    assert models_text([long, "claude-opus-4-6"]) == "m" * 22 + "… +1"
    assert models_text(["claude-opus-4-6", long]) == "opus-4-6 +1"
    assert models_text(["claude-opus-4-6", "claude-haiku-4-5"]) == "opus-4-6,haiku-4-5"
    for models in ([long], [long] * 3, ["claude-opus-4-6"] * 9, ["x" * 30, "y"]):
        assert len(models_text(models)) <= 26, models
