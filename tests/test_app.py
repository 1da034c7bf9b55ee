"""The dashboard driven by keys (Textual pilot): navigation, filters, ratings, live updates, numbers = reports."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import text

from nexus_tui.core.filters import Filters, preset
from nexus_tui.core.report import fmt_int, fmt_ms, fmt_pct, fmt_usd
from nexus_tui.store import queries as Q
from tests.conftest import CC, require_shared
from tests.tui_helpers import SIZE, cells, demo_app, settle


async def test_every_screen_is_one_key_away_and_enter_escape_navigate(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        names = {}
        for key in "234561":
            await pilot.press(key)
            await settle(app, pilot)
            names[key] = type(app.screen).__name__
        assert names == {"2": "TimelineScreen", "3": "CostsScreen", "4": "EfficiencyScreen", "5": "TiersScreen",
                         "6": "ToolsScreen", "1": "SessionsScreen"}
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionDetailScreen"
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "TaskDetailScreen"
        await pilot.press("escape", "escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionsScreen"
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert app.screen.query("HelpPanel")


async def test_sessions_table_equals_the_sessions_report_and_follows_the_range(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#sessions")
        page = Q.sessions(app.store.engine, Filters(), limit=200)
        shown = cells(table)
        assert len(shown) == page.total == 90
        for row, r in zip(shown, page.rows):
            assert row[6] == fmt_int(r["tasks"]) and row[7] == fmt_int(r["total_tokens"])
            assert row[8].rstrip("*") == fmt_usd(r["cost_usd"]) and row[9] == fmt_int(r["tool_errors"])
        await pilot.press("t")  # all -> 30 days
        await settle(app, pilot)
        since, until = preset("30d", app.now_ms(), app.tz)
        want = Q.sessions(app.store.engine, Filters(since_ms=since, until_ms=until), limit=200).total
        assert app.filters.range_name == "30d" and table.row_count == want
        assert "range: 30 days" in str(app.screen.query_one("#summary").render())
        await pilot.press("t", "t")  # 7 days, today
        await settle(app, pilot)
        since, until = preset("today", app.now_ms(), app.tz)
        assert table.row_count == Q.sessions(app.store.engine, Filters(since_ms=since), limit=200).total


async def test_search_filters_the_sessions(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"webshop", "enter")
        await settle(app, pilot)
        rows = cells(app.screen.query_one("#sessions"))
        assert rows and all(r[3] == "webshop" for r in rows)
        assert len(rows) == Q.sessions(app.store.engine, Filters(), search="webshop").total
        await pilot.press("escape")
        await settle(app, pilot)
        assert len(cells(app.screen.query_one("#sessions"))) == 90


async def test_rating_is_written_at_once_survives_a_restart_and_undoes(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        tasks = app.screen.query_one("#tasks")
        await pilot.press("down")
        task_id = tasks.current_key
        with app.store.engine.connect() as conn:
            before = conn.execute(text("SELECT quality_rating FROM tasks WHERE id=:i"), {"i": task_id}).scalar()
        await pilot.press("plus")
        await settle(app, pilot, 3)
        with app.store.engine.connect() as conn:
            assert conn.execute(text("SELECT quality_rating FROM tasks WHERE id=:i"), {"i": task_id}).scalar() == 1
        assert tasks.get_row(task_id)[-1] == "+ helpful"
        await pilot.press("minus")
        await settle(app, pilot, 3)
        assert tasks.get_row(task_id)[-1] == "- not helpful"
        await pilot.press("u")
        await settle(app, pilot, 3)
        assert tasks.get_row(task_id)[-1] == "+ helpful"
        await pilot.press("u")
        await settle(app, pilot, 3)
        with app.store.engine.connect() as conn:
            assert conn.execute(text("SELECT quality_rating FROM tasks WHERE id=:i"), {"i": task_id}).scalar() == before
        await pilot.press("minus")
        await settle(app, pilot, 3)
    db = app.store.url
    app.store.close()
    # a new app on the same database: the rating is there, in the task list and in the sessions list
    from nexus_tui.app import NexusApp
    from nexus_tui.store import open_store

    store = open_store(db)
    again = NexusApp(app.settings, store, None, now_ms=app.now_ms(), tz="UTC", demo=True)
    async with again.run_test(size=SIZE) as pilot:
        await settle(again, pilot)
        first = cells(again.screen.query_one("#sessions"))[0]
        page = Q.sessions(store.engine, Filters(), limit=1).rows[0]
        assert first[10] == f"+{page['rated_helpful']} -{page['rated_not_helpful']}"
        await pilot.press("enter")
        await settle(again, pilot)
        assert again.screen.query_one("#tasks").get_row(task_id)[-1] == "- not helpful"
        await pilot.press("down", "0")
        await settle(again, pilot, 3)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT quality_rating FROM tasks WHERE id=:i"), {"i": task_id}).scalar() is None


async def test_screens_show_the_report_numbers(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        e, f = app.store.engine, Filters()
        s = Q.summary(e, f)
        await pilot.press("2")
        await settle(app, pilot)
        assert f"{fmt_int(s['total_tokens'])} tokens · {fmt_usd(s['cost_usd'])}" in \
            str(app.screen.query_one("#summary").render())
        await pilot.press("3")
        await settle(app, pilot)
        kpis = str(app.screen.query_one("#kpis").render())
        assert f"spent {fmt_usd(s['cost_usd'])} on {s['tasks']:,} tasks" in kpis
        assert f"saved by local routing {fmt_usd(s['local_savings_usd'])}" in kpis
        await pilot.press("4")
        await settle(app, pilot)
        assert f"{fmt_int(s['total_tokens'])} tokens" in str(app.screen.query_one("#overall").render())
        await pilot.press("5")
        await settle(app, pilot)
        models = cells(app.screen.query_one("#dim-model"))
        assert [[m["model"], fmt_int(m["tasks"]), fmt_usd(m["cost_usd"]), fmt_pct(m["cost_share"]),
                 fmt_ms(m["p95_latency_ms"])] for m in Q.models(e, f)] == \
            [[r[0], r[1], r[6], r[7], r[9]] for r in models]
        await pilot.press("6")
        await settle(app, pilot)
        tools = cells(app.screen.query_one("#tools"))
        assert [[t["tool"], fmt_int(t["calls"]), fmt_int(t["failures"]), fmt_ms(t["p50_ms"]), fmt_ms(t["p95_ms"]),
                 fmt_ms(t["p99_ms"])] for t in Q.tools_report(e, f)] == [[r[0], r[2], r[3], r[5], r[6], r[7]]
                                                                         for r in tools]
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ToolFailuresScreen"
        listing = str(app.screen.query_one("#list").render())
        assert "Recent failures of Write" in listing


async def test_filters_dialog_applies_to_every_screen(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f")
        await settle(app, pilot)
        app.screen.query_one("#project").value = "infra"
        app.screen.query_one("#model").value = "claude-opus-4-6"
        await pilot.press("ctrl+s")
        await settle(app, pilot, 3)
        assert app.filters.project == "infra" and app.filters.model == "claude-opus-4-6"
        rows = cells(app.screen.query_one("#sessions"))
        assert rows and all(r[3] == "infra" for r in rows)
        await pilot.press("6")
        await settle(app, pilot)
        want = Q.tools_report(app.store.engine, app.filters)
        assert sum(int(r[2].replace(",", "")) for r in cells(app.screen.query_one("#tools"))) == \
            sum(t["calls"] for t in want)


async def test_empty_database_says_what_to_do(tmp_path, monkeypatch):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    app = NexusApp(load_settings(home=str(tmp_path)), store, None, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        hint = str(app.screen.query_one("#empty").render())
        assert str(tmp_path / "claude" / "projects") in hint and "--demo" in hint and "--claude-dir" in hint
        for key in "23456":
            await pilot.press(key)
            await settle(app, pilot)  # no screen crashes on an empty database


async def test_live_update_without_a_key_press(tmp_path, monkeypatch):
    """Append to a transcript while the app runs: the new task appears and the numbers change by themselves."""
    require_shared()
    from nexus_tui.app import NexusApp
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.registry import build_sources
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    proj = tmp_path / "claude" / "projects" / "live"
    proj.mkdir(parents=True)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    lines = (CC / "sniffly" / "fed8ce56-bc79-401f-a83e-af084253362f.jsonl").read_bytes().splitlines(keepends=True)
    cut = max(i for i, ln in enumerate(lines) if b'"type":"assistant"' in ln)
    target = proj / "s.jsonl"
    target.write_bytes(b"".join(lines[:cut]))
    settings = load_settings(home=str(tmp_path / "nexus"))
    store = open_store(settings.db_url)
    app = NexusApp(settings, store, Collector(store, build_sources(settings), workers=1), tz="UTC",
                   poll_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(50):
            await settle(app, pilot)
            if app.screen.query_one("#sessions").row_count:
                break
        table = app.screen.query_one("#sessions")
        table.focus()
        before = cells(table)[0][6]
        with open(target, "ab") as fh:
            fh.write(b"".join(lines[cut:]))
        want = str(sum(1 for _ in json.loads("[" + ",".join(
            ln.decode() for ln in lines if b'"type":"assistant"' in ln) + "]")))  # upper bound check below
        for _ in range(60):
            await pilot.pause(0.1)
            await app.workers.wait_for_complete()
            if cells(table)[0][6] != before:
                break
        after = cells(table)[0][6]
        assert int(after) == int(before) + 1 and int(after) <= int(want)
        assert "added" in str(app.screen.query_one("#status").render())
    store.close()


async def test_task_detail_reads_tool_input_from_the_transcript_and_says_when_it_is_gone(tmp_path):
    require_shared()
    from nexus_tui.app import NexusApp
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.sources import ClaudeCodeSource
    from nexus_tui.config import load_settings
    from nexus_tui.screens.task_detail import TaskDetailScreen
    from nexus_tui.store import open_store

    proj = tmp_path / "projects" / "p"
    proj.mkdir(parents=True)
    src = proj / "s.jsonl"
    shutil.copy(CC / "spotter" / "short.jsonl", src)
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Collector(store, [ClaudeCodeSource([tmp_path / "projects"])], workers=1).run_once()
    with store.engine.connect() as conn:
        task_id, tool = conn.execute(text("SELECT task_id, tool_name FROM tool_calls LIMIT 1")).one()
    app = NexusApp(load_settings(home=str(tmp_path)), store, None, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await app.push_screen(TaskDetailScreen(task_id))
        await settle(app, pilot)
        calls = app.screen.query("Collapsible")
        assert calls and tool in str(calls[0].title)
        body = str(calls[0].query_one(".call-body").render())
        assert "input" in body and "not recorded" not in body and "gone" not in body
        await pilot.press("escape")
        src.unlink()
        await app.push_screen(TaskDetailScreen(task_id))
        await settle(app, pilot)
        body = str(app.screen.query("Collapsible")[0].query_one(".call-body").render())
        assert "the source file is gone" in body
    store.close()
