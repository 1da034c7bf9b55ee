"""The dashboard shell driven by keys (Textual pilot): navigation, filters, paging, sorting, search, ratings, live
updates, and the numbers on the Sessions, Session and Task screens equal the report queries."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
from sqlalchemy import text

from nexus_tui.core.events import Batch, SessionRec, TaskRec
from nexus_tui.core.filters import Filters, preset
from nexus_tui.core.fmt import fmt_duration, money_column, plural
from nexus_tui.core.report import fmt_int, fmt_usd
from nexus_tui.messages import StoreChanged
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import usage as RU
from tests.conftest import CC, require_shared
from tests.tui_helpers import SIZE, cells, demo_app, settle


def _rating(store, task_id):
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT quality_rating FROM tasks WHERE id=:i"), {"i": task_id}).scalar()


def _store_with_sessions(tmp_path, n: int):
    """A database with ``n`` sessions of one task each, one minute apart (task i costs i cents)."""
    from nexus_tui.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'many.db'}")
    t0 = 1_763_000_000_000
    b = Batch()
    for i in range(n):
        sid = f"s{i:05d}"
        b.sessions.append(SessionRec(id=sid, start_ms=t0 + i * 60_000, end_ms=t0 + i * 60_000 + 5_000,
                                     cli_tool="claude-code", project=f"p{i % 7}"))
        b.tasks.append(TaskRec(id=f"t{i:05d}", session_id=sid, ts_ms=t0 + i * 60_000 + 1_000, source="transcript",
                               model="claude-sonnet-4-5", tokens_in=10 + i, tokens_out=5, cost_usd=i / 100))
    store.writer.write(b)
    return store, t0 + n * 60_000


def _app(store, settings_home, now_ms=None, collector=None, **kw):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings

    return NexusApp(load_settings(home=str(settings_home), claude_dirs=()), store, collector, now_ms=now_ms,
                    tz="UTC", **kw)


# ---------------------------------------------------------------------------------------------------- navigation
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
        first = app.screen.query_one("#sessions").current_key
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionDetailScreen" and app.screen.session_id == first
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "TaskDetailScreen"
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionDetailScreen"
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionsScreen"
        # a detail survives a trip to another screen; the screen's own key goes back to its root
        await pilot.press("enter", "enter")
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "CostsScreen"
        await pilot.press("1")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "TaskDetailScreen"
        await pilot.press("1")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionsScreen"
        await pilot.press("question_mark")  # the app's own key list (tests/test_tui_safety.py checks its lines)
        await settle(app, pilot)
        assert type(app.screen).__name__ == "KeysScreen"
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionsScreen"


async def test_switching_back_to_a_screen_keeps_what_it_rendered(tmp_path):
    """A screen seen before comes back as it was: no 50 ms hold of the output, no CSS re-applied to every widget
    (which makes a DataTable re-render every cell); it still reloads when stale and follows a theme change."""
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        restyles = []
        refresh_css = app.refresh_css
        app.refresh_css = lambda *a, **k: restyles.append(a) or refresh_css(*a, **k)
        await pilot.press("1")  # the first screen was never "refreshed" by Textual: it was styled as it mounted
        await settle(app, pilot)
        assert not restyles  # Textual re-applies the CSS of every widget of every screen here (≈ 0.4 s)
        table = app.screen.query_one("#sessions")
        renders, delays = [], []
        render_cell, delay_update = table._render_cell, app.delay_update
        table._render_cell = lambda *a, **k: renders.append(a) or render_cell(*a, **k)
        app.delay_update = lambda *a, **k: delays.append(a) or delay_update(*a, **k)
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("1")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionsScreen" and app.screen.query_one("#sessions") is table
        assert not delays  # Textual's switch_mode holds every update for 50 ms
        assert not restyles
        assert not renders  # the cells painted before were kept (no CSS re-applied, caches not dropped)
        # stale while away: reloads when shown
        app._screen_stacks["timeline"][0].mark_stale()
        await pilot.press("2")
        await settle(app, pilot)
        assert not app.screen._stale
        # a theme changed while a screen was away reaches it when it comes back
        await pilot.press("1")
        await settle(app, pilot)
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        assert app.screen._css_update_count == app._css_update_count


async def test_keyed_tables_paint_and_measure_plain_cells_as_datatable_does(tmp_path):
    """KeyedTable paints and measures one-line plain cells itself (5x faster than Rich's renderer): on every table
    of every screen, every cell (header too, with the cursor and the hover) gives the same segments as DataTable's
    own rendering, and the measured column widths are DataTable's."""
    from textual.widgets import DataTable

    from nexus_tui.widgets.keyed_table import KeyedTable, plain_cell

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        fast = 0
        for key in "123456":
            await pilot.press(key)
            await settle(app, pilot)
            for table in app.screen.query(KeyedTable):
                widths = [c.content_width for c in table.ordered_columns]
                for c in table.ordered_columns:
                    c.content_width = 0
                DataTable._update_dimensions(table, list(table.rows))
                assert [max(w, c.content_width) for w, c in zip(widths, table.ordered_columns)] == widths
                for c, w in zip(table.ordered_columns, widths):
                    c.content_width = w
                base = table.rich_style
                for r in range(-1, min(table.row_count, 25)):
                    for c, col in enumerate(table.ordered_columns):
                        width = col.get_render_width(table)
                        for cursor, hover in ((False, False), (True, False), (False, True)):
                            table._cell_render_cache.clear()
                            want = DataTable._render_cell(table, r, c, base, width, cursor, hover)
                            table._cell_render_cache.clear()
                            got = table._fast_cell(r, c, base, width, cursor, hover)
                            if got is not None:
                                fast += 1
                                assert got == want, (key, table.id, r, c)
        assert fast > 1000
    assert plain_cell("12:30:45") is None and plain_cell("[b]x[/b]") is None and plain_cell("two\nlines") is None
    assert plain_cell("2026-11-20 07:54") == "2026-11-20 07:54" and plain_cell("") == "" and plain_cell(3) is None


async def test_screens_built_ahead_look_the_same_and_load_when_first_shown(tmp_path):
    """The real command builds the other top-level screens in the background (prebuild): they run no query until
    shown, then load, and every screen looks exactly as it does when built on its first visit."""
    from nexus_tui import app as app_module

    shots = {}
    for prebuild in (False, True):
        app = demo_app(tmp_path / str(prebuild), prebuild=prebuild)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            if prebuild:
                for _ in range(len(app_module.SCREENS)):
                    app._prebuild_next()
                    await settle(app, pilot)
                built = {mode: stack[0] for mode, stack in app._screen_stacks.items()}
                assert set(built) == {mode for mode, _t, _c in app_module.SCREENS}
                # no query ran (Tiers included: its first tab waits too)
                assert all(s._stale and not s._q_generations for m, s in built.items() if m != "sessions")
            shots[prebuild] = []
            for key in "234561":
                await pilot.press(key)
                await settle(app, pilot, rounds=3)
                assert app.screen.loaded and not app.screen._stale
                if prebuild:
                    assert app.screen is built[app.current_mode]
                shots[prebuild].append(app.export_screenshot())
    assert shots[True] == shots[False]


async def test_timers_and_messages_after_the_last_screen_is_gone_do_not_end_the_app(tmp_path):
    """CI caught the idle-GC timer firing while the app shut down: ``self.screen`` raised ScreenStackError in a
    timer, which ends a Textual app with a traceback. Every callback that a timer, a thread or a message can run
    (the idle GC, prebuild, the quota in the status bar, a store change, a filter change) reads the screen in view
    through ``_in_view`` and does nothing to it when there is none."""
    import gc

    from textual.app import ScreenStackError

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app._in_view() is app.screen
    with pytest.raises(ScreenStackError):
        app.screen  # the state the timer met: no screen on the stack
    assert app._in_view() is None
    frozen = gc.get_freeze_count()
    try:
        gc.unfreeze()
        app._gc_thresholds = gc.get_threshold()
        app._last_input = app._last_full_gc = 0.0  # quiet for long, no recent full collection: the idle branch
        app._thaw_above = 10**9
        [object() for _ in range(3)] and gc.collect(1)  # a young collection pending
        app._collect_when_idle()
        app._prebuild_next()
        app._set_quota(app.quota_5h if app.quota_5h is None else None)
        app.on_store_changed(StoreChanged(None, changed=True))
        app._refresh_screens()
    finally:
        if frozen:
            gc.freeze()


async def test_charts_paint_exactly_what_textual_paints_of_plotexts_output(tmp_path):
    """Charts turn plotext's output into strips themselves (plot_strips): on every chart of every screen they are
    the strips Textual makes of the same output (Text.from_ansi, Content), colour, text and offset for offset."""
    from textual.widget import Widget

    from nexus_tui.widgets.chart import InsightChart

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        seen = 0
        for key in "23456":
            await pilot.press(key)
            await settle(app, pilot)
            for chart in app.screen.query(InsightChart):
                chart._plot_cache = None
                chart._render_content()
                assert chart._plot_cache is not None, chart.id  # the fast way was taken
                mine = [list(strip) for strip in chart._render_cache.lines]
                chart._layout_cache.clear()
                Widget._render_content(chart)
                assert mine == [list(strip) for strip in chart._render_cache.lines], chart.id
                seen += 1
        assert seen >= 4


async def test_charts_drawn_in_a_thread_show_the_same_and_the_newest_data(tmp_path, monkeypatch):
    """In the real command plotext draws in a worker thread (the UI keeps answering keys meanwhile): the chart it
    shows is the one drawn in place, and data arriving while a drawing runs is drawn after it (never mixed in)."""
    from nexus_tui.widgets.chart import InsightChart

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        chart = app.screen.query_one(InsightChart)
        want = [list(s) for s in chart._render_cache.lines]
        monkeypatch.setattr(InsightChart, "BUILD_IN_THREAD", True)
        data = chart._data
        chart.set_data(data[0], {k: [0.0] * len(v) for k, v in data[1].items()}, data[2], *data[3:])
        assert chart._plot_cache is None or chart._plot_cache[0][0] != chart._plot_version
        chart._render_content()  # starts the drawing in a worker; meanwhile the last chart stays
        assert chart._building is not None and [list(s) for s in chart._render_cache.lines] == want
        chart.set_data(*data)  # new data while it draws: a new figure, drawn next
        for _ in range(50):
            await settle(app, pilot)
            if chart._building is None and chart._plot_cache[0][0] == chart._plot_version:
                break
        chart._render_content()
        assert [list(s) for s in chart._render_cache.lines] == want


async def test_command_palette_reaches_every_screen_and_the_range(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for title, cls in (("Show Tiers", "TiersScreen"), ("Show Sessions", "SessionsScreen")):
            await pilot.press("ctrl+p")
            await settle(app, pilot)
            await pilot.press(*title)
            await pilot.pause(0.3)
            await pilot.press("enter")
            await settle(app, pilot)
            assert type(app.screen).__name__ == cls
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await pilot.press(*"Range: 7 days")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.filters.range_name == "7d"
        assert app.filters.since_ms == preset("7d", app.now_ms(), app.tz)[0]


async def test_footer_shows_the_keys_that_apply_here(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)

        def footer_keys():
            return {k for k, ab in app.screen.active_bindings.items() if ab.binding.show and ab.enabled}

        on_sessions = footer_keys()
        assert {"slash", "s", "1", "6", "q"} <= on_sessions and "minus" not in on_sessions
        await pilot.press("enter")
        await settle(app, pilot)
        on_session = footer_keys()
        assert {"escape", "minus", "0", "u"} <= on_session and "slash" not in on_session
        # the footer's keys are built without being restyled (Textual's start compact, then are made not compact)
        from textual.widgets._footer import FooterKey

        from nexus_tui.widgets.footer import PlainFooterKey

        keys = list(app.screen.query(FooterKey))
        plain = [k for k in keys if isinstance(k, PlainFooterKey)]
        assert len(plain) == len(keys) - 1 and not any(k.has_class("-compact") for k in plain)
        restyled = []
        update = app.update_styles
        app.update_styles = lambda node=None, animate=True: restyled.append(node) or update(node, animate)
        footer = app.screen.query_one("AppFooter")
        with footer._context():  # as Footer.bindings_changed does, in the footer's own context
            footer.call_after_refresh(footer.recompose)
        await settle(app, pilot)
        assert len(list(app.screen.query(FooterKey))) == len(keys)
        assert not [n for n in restyled if isinstance(n, PlainFooterKey)]


async def test_a_missing_screen_module_shows_a_placeholder_and_the_rest_works(tmp_path):
    from nexus_tui.app import NexusApp, PlaceholderScreen, load_screen_class

    class AppWithoutCosts(NexusApp):
        MODES = {**NexusApp.MODES, "costs": load_screen_class("no_such_screen", "CostsScreen", "Costs")}

    base = demo_app(tmp_path)
    app = AppWithoutCosts(base.settings, base.store, None, now_ms=base.now_ms(), tz="UTC", demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot)
        assert isinstance(app.screen, PlaceholderScreen)
        assert "no_such_screen.py does not exist yet" in str(app.screen.query_one(".empty").render())
        await pilot.press("1")
        await settle(app, pilot)
        assert app.screen.query_one("#sessions").row_count == 90


# ---------------------------------------------------------------------------------------------------- sessions
async def test_sessions_table_equals_the_sessions_report_and_follows_the_range(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#sessions")
        page = RS.sessions(app.store.engine, Filters(), limit=200)
        shown = cells(table)
        assert len(shown) == page.total == 90
        costs = money_column([r["cost_usd"] for r in page.rows])  # one precision for the column
        for row, r, cost in zip(shown, page.rows, costs):
            assert row[6] == fmt_int(r["tasks"]) and row[7] == fmt_int(r["total_tokens"])
            assert row[8].rstrip("*") == cost and row[9] == fmt_int(r["tool_errors"])
            assert row[1] == fmt_duration(r["duration_ms"]) and not row[1].endswith(".0h")  # '2h 05m', '3d 4h'
        assert sum(r["cost_usd"] for r in page.rows) == pytest_approx(RU.summary(app.store.engine, Filters())
                                                                      ["cost_usd"], 1e-9)
        await pilot.press("t")  # all -> 30 days
        await settle(app, pilot)
        since, until = preset("30d", app.now_ms(), app.tz)
        want = RS.sessions(app.store.engine, Filters(since_ms=since, until_ms=until), limit=200).total
        assert app.filters.range_name == "30d" and table.row_count == want
        assert "range: 30 days" in str(app.screen.query_one("#summary").render())
        await pilot.press("t", "t")  # 7 days, today
        await settle(app, pilot)
        since, until = preset("today", app.now_ms(), app.tz)
        today = RS.sessions(app.store.engine, Filters(since_ms=since), limit=200)
        assert table.row_count == today.total > 0
        assert [r[6] for r in cells(table)] == [fmt_int(r["tasks"]) for r in today.rows]


async def test_sessions_page_from_the_database_and_sort(tmp_path):
    store, now = _store_with_sessions(tmp_path, 450)
    app = _app(store, tmp_path / "home", now_ms=now)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#sessions")
        assert table.row_count == 200 and table.current_key == "s00449"
        assert "450 sessions · rows 1–200 · page 1/3" in str(app.screen.query_one("#summary").render())
        await pilot.press("end", "down")  # past the last row: the next page, cursor on its first row
        await settle(app, pilot)
        assert table.row_count == 200 and table.current_key == "s00249"
        await pilot.press("right_square_bracket")
        await settle(app, pilot)
        assert table.row_count == 50 and table.current_key == "s00049"
        await pilot.press("right_square_bracket")  # no fourth page: stays, and says so (not only a bell)
        await settle(app, pilot)
        assert table.row_count == 50
        assert [n.message for n in app._notifications][-1:] == ["No next page: this is page 3 of 3."]
        await pilot.press("home", "up")  # before the first row: the previous page, cursor on its last row
        await settle(app, pilot)
        assert table.current_key == "s00050" and "page 2/3" in str(app.screen.query_one("#summary").render())
        await pilot.press("s")  # sort by cost, most expensive first, back to page 1
        await settle(app, pilot)
        want = RS.sessions(store.engine, Filters(), limit=200, sort="cost")
        assert [r[11] for r in cells(table)] == [r["session_id"] for r in want.rows]
        assert table.current_key == "s00449" and str(table.columns["cost"].label) == "Cost ↓"
        assert str(table.columns["start"].label) == "Start"
        await pilot.press("r")
        await settle(app, pilot)
        assert table.current_key == "s00000" and str(table.columns["cost"].label) == "Cost ↑"
    store.close()


async def test_search_filters_the_sessions(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"webshop", "enter")
        await settle(app, pilot)
        rows = cells(app.screen.query_one("#sessions"))
        assert rows and all(r[3] == "webshop" for r in rows)
        assert len(rows) == RS.sessions(app.store.engine, Filters(), search="webshop").total
        await pilot.press("slash", *"no-such-thing", "enter")  # the old search is selected: typing replaces it
        await settle(app, pilot)
        assert "No session matches 'no-such-thing'" in str(app.screen.query_one("#empty").render())
        await pilot.press("escape")
        await settle(app, pilot)
        assert len(cells(app.screen.query_one("#sessions"))) == 90


async def test_search_filters_as_you_type(tmp_path):
    """No Enter needed: the table follows the box once typing pauses; every key is not a query of its own."""
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        calls = []
        real = screen.refresh_data
        screen.refresh_data = lambda *a, **k: (calls.append(screen.search), real(*a, **k))[1]
        # typing: each key restarts one timer instead of querying (the delay is long here, so that a loaded machine
        # typing slower than the real 0.15 s cannot fire it mid-word; the pause is then the timer's own callback)
        screen.SEARCH_DELAY_S = 3600
        timers = []
        real_timer = screen.set_timer
        screen.set_timer = lambda *a, **k: (timers.append(real_timer(*a, **k)), timers[-1])[1]
        await pilot.press("slash", *"webshop")
        await settle(app, pilot)
        assert calls == []  # typing, not yet paused
        assert len(timers) == len("webshop") and screen._search_timer is timers[-1]
        screen._apply_typed_search()  # the pause: the one timer left fires
        await settle(app, pilot)
        assert calls == ["webshop"]  # one query for the whole word
        screen.set_timer, screen.SEARCH_DELAY_S = real_timer, type(screen).SEARCH_DELAY_S
        rows = cells(screen.query_one("#sessions"))
        assert rows and len(rows) == RS.sessions(app.store.engine, Filters(), search="webshop").total < 90
        assert screen.query_one("#search").has_focus  # still typing: the focus stays in the box
        await pilot.press(*"-no")  # the real timer: whatever the typing speed, the table ends on the whole word
        await pilot.pause(screen.SEARCH_DELAY_S * 3)
        await settle(app, pilot)
        assert "No session matches 'webshop-no'" in str(screen.query_one("#empty").render())
        await pilot.press("escape")
        await settle(app, pilot)
        assert len(cells(screen.query_one("#sessions"))) == 90


async def test_filters_dialog_applies_to_every_screen(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FiltersScreen"
        assert "infra" in [str(o[0]) for o in app.screen.query_one("#project")._options]
        app.screen.query_one("#project").value = "infra"
        app.screen.query_one("#model").value = "claude-opus-4-6"
        await pilot.press("ctrl+s")
        await settle(app, pilot, 3)
        assert app.filters.project == "infra" and app.filters.model == "claude-opus-4-6"
        rows = cells(app.screen.query_one("#sessions"))
        assert len(rows) == RS.sessions(app.store.engine, app.filters).total > 0
        assert all(r[3] == "infra" for r in rows)
        assert "project=infra" in str(app.screen.query_one("#status").render())
        await pilot.press("6")
        await settle(app, pilot)
        assert app.filters.project == "infra"  # the same filters on another screen
        await pilot.press("1", "f")
        await settle(app, pilot)
        await pilot.press("ctrl+r", "ctrl+s")
        await settle(app, pilot, 3)
        assert app.filters == Filters() and app.screen.query_one("#sessions").row_count == 90


async def test_custom_dates_and_a_bad_date(tmp_path):
    from nexus_tui.core.filters import parse_bound

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f")
        await settle(app, pilot)
        app.screen.query_one("#since").value = "2026-11-18"
        app.screen.query_one("#until").value = "2026-11-19"
        await settle(app, pilot)
        assert app.screen.query_one("#range-custom").value  # typing a date picks Custom
        await pilot.press("ctrl+s")
        await settle(app, pilot, 3)
        f = app.filters
        assert f.range_name == "custom"
        assert (f.since_ms, f.until_ms) == (parse_bound("2026-11-18", app.tz, end=False),
                                            parse_bound("2026-11-19", app.tz, end=True))
        assert app.screen.query_one("#sessions").row_count == RS.sessions(app.store.engine, f).total > 0
        await pilot.press("f")
        await settle(app, pilot)
        app.screen.query_one("#since").value = "18/11/2026"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "FiltersScreen" and app.filters == f  # says why, changes nothing
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionsScreen" and app.filters == f


async def test_dates_beyond_what_a_zone_can_convert_are_held_to_the_data_range(tmp_path):
    """'9999-12-31' as the end (the day after cannot be made) and '0001-01-01T00:00+14:00' (before year 1 in UTC)
    crashed the range dialog and every screen's zone arithmetic: they mean no limit, and every screen shows all."""
    from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        total = RS.sessions(app.store.engine, app.filters).total
        for since, until in (("0001-01-01", "9999-12-31"), ("0001-01-01T00:00:00+14:00", "99991231")):
            await pilot.press("f")
            await settle(app, pilot)
            app.screen.query_one("#since").value = since
            app.screen.query_one("#until").value = until
            await settle(app, pilot)
            await pilot.press("ctrl+s")
            await settle(app, pilot, 3)
            assert (app.filters.since_ms, app.filters.until_ms) == (MIN_TIME_MS, MAX_TIME_MS)
            for key in "12345678":
                await pilot.press(key)
                await settle(app, pilot, 3)
            await pilot.press("1")
            await settle(app, pilot)
            assert type(app.screen).__name__ == "SessionsScreen"
            assert app.screen.query_one("#sessions").row_count == total == 90


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
        assert str(tmp_path / "logs") in hint
        for key in "23456":
            await pilot.press(key)
            await settle(app, pilot)  # no screen crashes on an empty database
        await pilot.press("1")
        await settle(app, pilot)
        await pilot.press("s")  # the keys still reach the screen (the hidden search box must not take them)
        await settle(app, pilot)
        assert app.screen.sort == "cost" and "sort: cost" in str(app.screen.query_one("#summary").render())
        await pilot.press("2")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "TimelineScreen"
    store.close()


async def test_an_empty_range_says_how_to_widen_it(tmp_path):
    store, now = _store_with_sessions(tmp_path, 3)
    app = _app(store, tmp_path / "home", now_ms=now + 40 * 86_400_000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("t")  # 30 days: nothing in it
        await settle(app, pilot)
        hint = str(app.screen.query_one("#empty").render())
        assert "No data in this range (30 days); the database holds 3 sessions" in hint and "Widen" in hint
    store.close()


# ---------------------------------------------------------------------------------------------------- details
async def test_session_header_equals_its_row_in_the_sessions_report(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        row = RS.sessions(app.store.engine, Filters(), limit=1).rows[0]
        await pilot.press("enter")
        await settle(app, pilot)
        head = str(app.screen.query_one("#header").content)
        assert f"Session ID  {row['session_id']}" in head
        assert (f"Tokens      Input {fmt_int(row['tokens_in'])}   Output {fmt_int(row['tokens_out'])}   Total "
                f"{fmt_int(row['total_tokens'])}\n") in head
        assert (f"Cache       Read {fmt_int(row['cache_read_tokens'])}   Write "
                f"{fmt_int(row['cache_creation_tokens'])}\n") in head
        assert f"Cost        {fmt_usd(row['cost_usd'])}" in head
        assert f"Tasks       {fmt_int(row['tasks'])}   Tool calls {fmt_int(row['tool_calls'])}" in head
        assert plural(row["tool_errors"], "tool failure") in head and "(s)" not in head
        tasks = app.screen.query_one("#tasks")
        assert tasks.row_count == row["tasks"]
        with app.store.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(text("SELECT id FROM tasks WHERE session_id=:s ORDER BY ts_ms, id"),
                                              {"s": row["session_id"]})]
        assert [k.value for k in tasks.rows] == ids
        assert sum(float(r[7].lstrip("$")) for r in cells(tasks)) == pytest_approx(row["cost_usd"], 0.01)


def pytest_approx(x, tol):
    import pytest

    return pytest.approx(x, abs=tol)


async def test_task_detail_shows_routing_tool_calls_and_errors_of_the_demo(tmp_path):
    from nexus_tui.screens.task_detail import TaskDetailScreen

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        with app.store.engine.connect() as conn:
            task_id = conn.execute(text(
                "SELECT t.id FROM tasks t JOIN routing_decisions r ON r.task_id = t.id JOIN tool_calls c "
                "ON c.task_id = t.id WHERE c.success = 0 ORDER BY t.id LIMIT 1")).scalar()
            reason, version = conn.execute(text("SELECT reason, classifier_version FROM routing_decisions "
                                                 "WHERE task_id=:t"), {"t": task_id}).one()
            err = conn.execute(text("SELECT error_message FROM tool_calls WHERE task_id=:t AND success=0"),
                               {"t": task_id}).scalar()
        await app.push_screen(TaskDetailScreen(task_id))
        await settle(app, pilot)
        routing = str(app.screen.query_one("#routing").render())
        assert f"because {reason}" in routing and version in routing and "alternatives considered" in routing
        assert err[:40] in str(app.screen.query_one("#errors").render())
        calls = app.screen.query("Collapsible")
        assert calls and all(c.collapsed for c in calls)
        await pilot.press("e")
        await settle(app, pilot)
        assert not any(c.collapsed for c in calls)
        body = str(calls[0].query_one(".call-body").render())
        assert "input" in body and "{" in body and "not recorded" not in body


async def test_task_detail_reads_tool_input_from_the_transcript_and_says_when_it_is_gone(tmp_path):
    require_shared()
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.sources import ClaudeCodeSource
    from nexus_tui.screens.task_detail import TaskDetailScreen
    from nexus_tui.store import open_store

    proj = tmp_path / "projects" / "p"
    proj.mkdir(parents=True)
    src = proj / "s.jsonl"
    shutil.copy(CC / "spotter" / "short.jsonl", src)
    src.chmod(0o644)
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Collector(store, [ClaudeCodeSource([tmp_path / "projects"])], workers=1).run_once()
    with store.engine.connect() as conn:
        task_id, tool = conn.execute(text("SELECT task_id, tool_name FROM tool_calls WHERE tool_name='Bash' "
                                          "ORDER BY started_ms LIMIT 1")).one()
    app = _app(store, tmp_path / "home")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await app.push_screen(TaskDetailScreen(task_id))
        await settle(app, pilot)
        calls = app.screen.query("Collapsible")
        assert calls and tool in str(calls[0].title)
        assert "mix phx.server" in str(calls[0].title)  # the command, as a preview in the title
        body = str(calls[0].query_one(".call-body").render())
        assert '"command": "mix phx.server 2>&1 | head -80"' in body and "doesn't want to proceed" in body
        await pilot.press("escape")
        src.unlink()
        await app.push_screen(TaskDetailScreen(task_id))
        await settle(app, pilot)
        body = str(app.screen.query("Collapsible")[0].query_one(".call-body").render())
        assert f"the source file is gone: {src}" in body
    store.close()


async def test_task_detail_redacts_secrets_in_what_it_reads_back_from_the_transcript(tmp_path):
    """The tool input and result read on demand go through core/redact.py like everything stored: a key in a failing
    command, its file path, its error output, or the transcript's own path never reaches the screen."""
    import json

    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.sources import ClaudeCodeSource
    from nexus_tui.screens.task_detail import TaskDetailScreen
    from nexus_tui.store import open_store

    key = "sk-ant-api03-" + "Zq9" * 30 + "-AbCdEfGh_AA"
    gh = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
    proj = tmp_path / "projects" / f"-home-u-{key}"
    proj.mkdir(parents=True)
    base = {"sessionId": "s-red", "version": "2.1.38", "cwd": "/w", "isSidechain": False, "userType": "external"}
    lines = [
        dict(base, type="assistant", uuid="a1", timestamp="2026-03-02T10:00:00.000Z", requestId="req_red",
             message={"model": "claude-sonnet-4-5-20250929", "id": "msg_red", "role": "assistant",
                      "content": [{"type": "tool_use", "id": "tu_red", "name": "Bash",
                                   "input": {"command": f"curl -H 'x-api-key: {key}' https://x", "description": gh}}],
                      "usage": {"input_tokens": 10, "output_tokens": 5}}),
        dict(base, type="user", uuid="u1", timestamp="2026-03-02T10:00:05.000Z",
             message={"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_red", "is_error": True,
                                                   "content": f"401 invalid key {key} (token {gh})"}]}),
    ]
    src = proj / "s-red.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Collector(store, [ClaudeCodeSource([tmp_path / "projects"])], workers=1).run_once()
    app = _app(store, tmp_path / "home")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await app.push_screen(TaskDetailScreen("req_red"))
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        call = app.screen.query("Collapsible")[0]
        shown = str(call.title) + str(call.query_one(".call-body").render())
        assert "curl -H" in shown and "401 invalid key" in shown  # the text is there, its secrets are not
        assert key not in shown and gh not in shown and "sk-ant-api03" not in shown, shown
        assert "[REDACTED:anthropic-key]" in shown and "[REDACTED:github-token]" in shown
        await pilot.press("escape")
        src.unlink()  # the sentence saying the file is gone names its path: redacted too
        await app.push_screen(TaskDetailScreen("req_red"))
        await settle(app, pilot)
        body = str(app.screen.query("Collapsible")[0].query_one(".call-body").render())
        assert "the source file is gone" in body and "sk-ant-api03" not in body, body
    store.close()


# ---------------------------------------------------------------------------------------------------- ratings
async def test_rating_is_written_at_once_shows_everywhere_survives_a_restart_and_undoes(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        session_row = cells(app.screen.query_one("#sessions"))[0]
        await pilot.press("enter")
        await settle(app, pilot)
        tasks = app.screen.query_one("#tasks")
        tasks.move_cursor(row=[r[-1] for r in cells(tasks)].index(""))  # a task nobody rated yet
        await settle(app, pilot)
        task_id = tasks.current_key
        assert _rating(app.store, task_id) is None
        await pilot.press("plus")
        await settle(app, pilot, 3)
        assert _rating(app.store, task_id) == 1
        assert tasks.get_row(task_id)[-1] == "+ helpful" and tasks.current_key == task_id
        await pilot.press("minus")
        await settle(app, pilot, 3)
        assert _rating(app.store, task_id) == 0 and tasks.get_row(task_id)[-1] == "- not helpful"
        await pilot.press("enter")  # the task view shows it too, and rates the task it shows
        await settle(app, pilot)
        assert "- not helpful" in str(app.screen.query_one("#task").content)
        await pilot.press("plus")
        await settle(app, pilot, 3)
        assert "+ helpful" in str(app.screen.query_one("#task").content) and _rating(app.store, task_id) == 1
        await pilot.press("u")  # undo, step by step: not helpful, helpful, not rated
        await settle(app, pilot, 3)
        assert _rating(app.store, task_id) == 0
        await pilot.press("escape", "u")
        await settle(app, pilot, 3)
        assert _rating(app.store, task_id) == 1
        await pilot.press("u")
        await settle(app, pilot, 3)
        assert _rating(app.store, task_id) is None and tasks.get_row(task_id)[-1] == ""
        await pilot.press("minus")
        await settle(app, pilot, 3)
        await pilot.press("escape")  # the sessions list counts it
        await settle(app, pilot)
        h, n = (int(x) for x in session_row[10].lstrip("+").split(" -"))
        assert cells(app.screen.query_one("#sessions"))[0][10] == f"+{h} -{n + 1}"
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
        page = RS.sessions(store.engine, Filters(), limit=1).rows[0]
        assert first[10] == f"+{page['rated_helpful']} -{page['rated_not_helpful']}" == f"+{h} -{n + 1}"
        await pilot.press("enter")
        await settle(again, pilot)
        tasks = again.screen.query_one("#tasks")
        assert tasks.get_row(task_id)[-1] == "- not helpful"
        tasks.move_cursor(row=tasks.get_row_index(task_id))
        await pilot.press("0")
        await settle(again, pilot, 3)
    assert _rating(store, task_id) is None
    store.close()


async def test_quick_ratings_land_in_order(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        task_id = app.screen.query_one("#tasks").current_key
        await pilot.press("plus", "minus", "plus", "minus", "0", "plus", "u", "u")
        await settle(app, pilot, 4)
        assert _rating(app.store, task_id) == 0  # + - + - 0 + then two undos: back to the state after "-"
        assert app.screen.query_one("#tasks").get_row(task_id)[-1] == "- not helpful"


async def test_rating_goes_through_the_collectors_writer(tmp_path):
    from nexus_tui.collect.collector import Collector

    store, now = _store_with_sessions(tmp_path, 2)
    collector = Collector(store, [], workers=1)
    calls = []
    real = collector.rate
    collector.rate = lambda tid, r: calls.append((tid, r)) or real(tid, r)
    app = _app(store, tmp_path / "home", now_ms=now, collector=collector, poll_seconds=30)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("plus")
        await settle(app, pilot, 3)
    assert calls == [("t00001", 1)] and _rating(store, "t00001") == 1
    store.close()


# ---------------------------------------------------------------------------------------------------- live
def _live_setup(tmp_path, monkeypatch):
    require_shared()
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.registry import build_sources
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    proj = tmp_path / "claude" / "projects" / "live"
    proj.mkdir(parents=True)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    settings = load_settings(home=str(tmp_path / "nexus"))
    store = open_store(settings.db_url)
    return proj, settings, store, Collector(store, build_sources(settings), workers=1)


async def _wait(pilot, app, cond, seconds: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        await pilot.pause(0.05)
        if cond():
            return time.monotonic() - t0
    raise AssertionError("condition not met in time")


async def test_live_update_without_a_key_press_keeps_cursor_and_filter(tmp_path, monkeypatch):
    """Append to a Claude Code transcript while the app runs: without a key press the new task comes on screen and
    the numbers change, with the cursor, the scroll position and the filter where the user left them. (How soon is
    the app's pass interval, TUI_POLL_SECONDS, checked below; the time itself is bench/'s, not a unit test's: the
    machines are shared and a timed assertion here failed under load.)"""
    from nexus_tui.app import TUI_POLL_SECONDS
    from nexus_tui.app import NexusApp

    proj, settings, store, collector = _live_setup(tmp_path, monkeypatch)
    lines = (CC / "sniffly" / "fed8ce56-bc79-401f-a83e-af084253362f.jsonl").read_bytes().splitlines(keepends=True)
    cut = max(i for i, ln in enumerate(lines) if b'"type":"assistant"' in ln)
    target = proj / "s.jsonl"
    target.write_bytes(b"".join(lines[:cut]))
    shutil.copy(CC / "spotter" / "short.jsonl", proj / "other.jsonl")
    (proj / "other.jsonl").chmod(0o644)
    app = NexusApp(settings, store, collector, tz="UTC")  # the app's own pass interval
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#sessions")
        await _wait(pilot, app, lambda: table.row_count == 2, 10)
        sid = "fed8ce56-bc79-401f-a83e-af084253362f"
        table.move_cursor(row=[k.value for k in table.rows].index(sid))
        app.set_filters(app.filters.with_(cli_tool="claude-code"))
        await settle(app, pilot)
        before = table.get_row(sid)[6]
        with store.engine.connect() as conn:
            n_before = conn.execute(text("SELECT COUNT(*) FROM tasks WHERE session_id=:s"), {"s": sid}).scalar()
        assert int(str(before)) == n_before  # (numbers are right-aligned Text cells)
        with open(target, "ab") as fh:
            fh.write(b"".join(lines[cut:]))
        assert app.poll_seconds == TUI_POLL_SECONDS <= 1.0  # a pass a second, so new data shows within two
        await _wait(pilot, app, lambda: table.get_row(sid)[6] != before, 60)
        assert int(str(table.get_row(sid)[6])) == n_before + 1
        assert table.current_key == sid and app.filters.cli_tool == "claude-code"
        status = str(app.screen.query_one("#status").render())
        assert "watching" in status and "added" in status and "skipped" in status and "last pass" in status
        # the open session shows the new task too
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen.query_one("#tasks").row_count == n_before + 1
    store.close()


async def test_a_new_session_arriving_keeps_the_cursor_on_its_row(tmp_path, monkeypatch):
    from nexus_tui.app import NexusApp

    proj, settings, store, collector = _live_setup(tmp_path, monkeypatch)
    shutil.copy(CC / "spotter" / "short.jsonl", proj / "a.jsonl")
    (proj / "a.jsonl").chmod(0o644)
    app = NexusApp(settings, store, collector, tz="UTC", poll_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#sessions")
        await _wait(pilot, app, lambda: table.row_count == 1, 10)
        keep = table.current_key
        shutil.copy(CC / "sniffly" / "fed8ce56-bc79-401f-a83e-af084253362f.jsonl", proj / "b.jsonl")
        await _wait(pilot, app, lambda: table.row_count == 2, 5)
        assert table.current_key == keep
        await pilot.press("enter")  # the table, hidden while the database was empty, has the keys again
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionDetailScreen" and app.screen.session_id == keep
    store.close()


async def test_store_changed_is_posted_at_most_a_few_times_a_second(tmp_path):
    from nexus_tui.collect.collector import PassReport

    store, now = _store_with_sessions(tmp_path, 1)
    app = _app(store, tmp_path / "home", now_ms=now)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        posted = []
        real_post = app.post_message
        app.post_message = lambda m: (posted.append(m) if isinstance(m, StoreChanged) else None) or real_post(m)
        app.set_interval(0.25, app._flush_pending_notify)

        def burst():
            for i in range(40):
                rep = PassReport()
                rep.written.new_tasks = 1 if i == 5 else 0
                app._collector_notify(rep)

        th = threading.Thread(target=burst)
        th.start()
        th.join()
        await pilot.pause(0.6)
        assert 1 <= len(posted) <= 3
        assert any(m.changed for m in posted)  # the one pass that wrote rows is not lost in the burst
        assert app.last_report is posted[-1].report
    store.close()


# ---------------------------------------------------------------------------------------------------- demo, CLI
async def test_demo_ratings_go_to_the_copy_never_to_the_bundled_file(tmp_path):
    import hashlib

    from nexus_tui.demo import REPO_DATA, bundled_demo, demo_copy

    assert bundled_demo() == REPO_DATA and REPO_DATA.is_file()  # shipped as package data (nexus_tui/data)
    before = hashlib.sha256(REPO_DATA.read_bytes()).hexdigest()
    app = demo_app(tmp_path)
    assert app.store.url.endswith(str(tmp_path / "demo-home" / "demo" / "insights.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        task_id = app.screen.query_one("#tasks").current_key
        await pilot.press("minus")
        await settle(app, pilot, 3)
    assert _rating(app.store, task_id) == 0
    app.store.close()
    assert hashlib.sha256(REPO_DATA.read_bytes()).hexdigest() == before
    assert demo_copy(tmp_path / "demo-home") == tmp_path / "demo-home" / "demo" / "insights.db"  # kept, not redone
    from nexus_tui.store import open_store

    again = open_store(f"sqlite:///{tmp_path / 'demo-home' / 'demo' / 'insights.db'}")
    assert _rating(again, task_id) == 0
    again.close()


def test_the_command_opens_the_demo_in_a_terminal_and_quits(tmp_path):
    """`nexus-insights --demo` in a real pseudo-terminal: the Sessions screen appears filled, q quits cleanly."""
    import os
    import sys

    from bench.tui import Terminal

    env = {**os.environ, "TERM": "xterm-256color", "HOME": str(tmp_path / "home"),
           "NEXUS_INSIGHTS_HOME": str(tmp_path / "nexus"), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    env.pop("NEXUS_INSIGHTS_DB", None)
    term = Terminal([sys.executable, "-m", "nexus_tui.cli", "--demo"], env, tmp_path / "trace.txt")
    try:
        assert term.wait_text("90 sessions · rows 1–90", term.t_start, 30) is not None, term.text_since(0)[-2000:]
        assert term.wait_text("demo database (copy in your home folder", term.t_start, 10) is not None
    finally:
        term.close()
    assert term.proc.returncode == 0
    assert (tmp_path / "nexus" / "demo" / "insights.db").is_file()
    assert len(list((tmp_path / "nexus" / "demo" / "transcripts").glob("*.jsonl"))) == 90


@pytest.mark.parametrize("in_thread", [False, True])
async def test_a_chart_plotext_cannot_draw_says_so_and_the_app_goes_on(tmp_path, monkeypatch, in_thread):
    """A stored cost of 1e308 (no parser makes one: another program's row, a hand edit, an old version's) made
    plotext raise OverflowError while drawing the token timeline, and the dashboard ended with a traceback (the
    worker's failure fell back to Textual's own drawing, which raised on the UI thread). Such a chart now says it
    was not drawn, drawn in place or in a worker, and every screen still works."""
    from nexus_tui.widgets.chart import NOT_DRAWN, InsightChart

    monkeypatch.setattr(InsightChart, "BUILD_IN_THREAD", in_thread)
    app = demo_app(tmp_path)
    now = app.now_ms()
    app.store.writer.write(Batch(
        sessions=[SessionRec(id="huge-cost", start_ms=now - 3_600_000, end_ms=now - 3_500_000, cli_tool="mcp")],
        tasks=[TaskRec(id="huge-cost-t", session_id="huge-cost", ts_ms=now - 3_500_000, source="otel",
                       model="claude-opus-4-6", tokens_in=5, cost_usd=1e308, cloud_cost_equivalent=1e308)]))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        said = 0
        for key in "23456781":
            await pilot.press(key)
            for _ in range(20):
                await settle(app, pilot)
                charts = list(app.screen.query(InsightChart))
                if all(c._building is None for c in charts):
                    break
            for chart in charts:
                chart._render_content()
                said += any(NOT_DRAWN in "".join(seg.text for seg in strip) for strip in chart._render_cache.lines)
        assert app.is_running and type(app.screen).__name__ == "SessionsScreen"
        assert said >= 1
