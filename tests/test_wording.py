"""'Errors' means one thing on every screen (issue 10, A21): failed tool calls are tool failures, ingest problems
are ingest problems or skipped lines, API error turns are API errors; counts read with their noun."""

from __future__ import annotations

from collections import Counter

from nexus_tui.app import NexusApp
from nexus_tui.collect.collector import PassReport
from nexus_tui.config import load_settings
from nexus_tui.store import open_store
from nexus_tui.store.writer import WriteResult


def _app(tmp_path) -> NexusApp:
    settings = load_settings(home=str(tmp_path / "home"), db=f"sqlite:///{tmp_path / 'x.db'}")
    return NexusApp(settings, open_store(settings.db_url), None, now_ms=1_763_640_000_000, tz="UTC")


def test_status_line_names_ingest_problems_and_skipped_lines(tmp_path):
    app = _app(tmp_path)
    app.last_report = PassReport(written=WriteResult(new_tasks=1, new_tool_calls=2), skipped=Counter(bad_json=3),
                                 problems=["cannot read /x/y.jsonl: permission denied"], seconds=0.01,
                                 finished_ms=1_763_640_000_000)
    line = app.status_line()
    assert "1 ingest problem" in line and "cannot read /x/y.jsonl" in line
    assert "added 1 task, 2 tool calls" in line and "3 skipped lines" in line
    assert "errors" not in line and "(s)" not in line
    # the problems come before the counts: a narrow terminal still shows them
    assert line.index("ingest problem") < line.index("last pass")
    app.last_report = PassReport(written=WriteResult(new_tasks=2, new_tool_calls=1), skipped=Counter(x=1),
                                 finished_ms=1_763_640_000_000)
    line = app.status_line()
    assert "no ingest problems" in line and "1 skipped line " in line and "1 tool call " in line
    assert "errors" not in line


def test_status_line_counts_tool_calls_by_their_tool(tmp_path):
    """Results whose call was not read yet are stored, but counted nowhere as calls (the Tools screen counts calls
    by tool): the status line says the same number."""
    app = _app(tmp_path)
    app.last_report = PassReport(written=WriteResult(new_tasks=11, new_tool_calls=15, new_results_only=4),
                                 finished_ms=1_763_640_000_000)
    assert "added 11 tasks, 11 tool calls" in app.status_line()


def test_no_count_is_printed_with_a_noun_in_parentheses():
    """Counts read with their noun ('1 request', '2 requests', core.report.plural), never '2 request(s)': a guard
    over the whole package's source, for messages not yet written as well."""
    import re
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[1] / "nexus_tui"
    pat = re.compile(r"\}\s*[A-Za-z ]*\w\(s\)")  # a formatted value, then words ending in "(s)"
    found = [f"{p.relative_to(pkg)}:{i}: {ln.strip()}" for p in sorted(pkg.rglob("*.py"))
             for i, ln in enumerate(p.read_text().splitlines(), 1)
             if any(not m.group(0).endswith("http(s)") for m in pat.finditer(ln))]  # "an http(s) URL" is no count
    assert not found, "\n".join(found)


def test_the_status_line_at_80_columns_keeps_skipped_lines_and_the_range(tmp_path):
    """At 80 columns the long status line was cut after 'added N tasks, N tool calls ·': the skipped lines and the
    range were never seen. Under 120 columns it says the same in fewer words."""
    app = _app(tmp_path)
    app.last_report = PassReport(written=WriteResult(new_tasks=55_426, new_tool_calls=65_487), skipped=Counter(x=294),
                                 seconds=0.08, finished_ms=1_763_640_000_000)
    wide, narrow = app.status_line(160), app.status_line(80)
    assert "added 55,426 tasks, 65,487 tool calls" in wide and "range: all time" in wide
    assert narrow == "collector off · 12:00:00 +55,426 tasks +65,487 calls · 294 skipped · all time", narrow
    assert len(narrow) <= 78 and app.status_line() == app.status_line(160)
    app.last_report.problems = ["cannot read /very/long/path/to/a/transcript/file.jsonl: permission denied"]
    narrow = app.status_line(80)
    assert narrow.startswith("collector off · [b red]1 ingest problem[/b red]: cannot read /very/long/path/to · 12:00")


async def test_the_status_bar_follows_the_terminal_width(tmp_path):
    from tests.tui_helpers import demo_app, settle

    app = demo_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        app.last_report = PassReport(written=WriteResult(new_tasks=3, new_tool_calls=2), skipped=Counter(x=1),
                                     seconds=0.01, finished_ms=1_763_640_000_000)
        app.screen.update_status()
        bar = app.screen.query_one("#status")
        assert "added 3 tasks, 2 tool calls" in str(bar.render())
        await pilot.resize_terminal(80, 24)
        await settle(app, pilot)
        assert "+3 tasks +2 calls · 1 skipped" in str(bar.render())
