"""The analytics screens (Timeline, Costs, Efficiency, Tiers, Tools) driven by keys (Textual pilot).

Each screen's numbers are checked against the headless report's query function for the same data and range (read
from the widgets: table cells, tiles, chart series), and against hand computations on a small database written
through the store's Writer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from textual.content import Content

from nexus_tui.core.events import Batch, RatingRec, SessionRec, TaskRec, ToolResultRec, ToolUseRec
from nexus_tui.core.filters import Filters, preset
from nexus_tui.core.fmt import fmt_duration as fmt_ms
from nexus_tui.core.fmt import money_column
from nexus_tui.core.report import fmt_int, fmt_pct, fmt_usd
from nexus_tui.core.scoring import DAY_MS, HOUR_MS, is_file_changing, period_bounds
from nexus_tui.messages import StoreChanged
from nexus_tui.screens.tiers import DIMS, project_rows, row_cells
from nexus_tui.screens.tools import tool_cells
from nexus_tui.store.read import efficiency as RE
from nexus_tui.store.read import plan as RP
from nexus_tui.store import open_store
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import tools as RT
from nexus_tui.store.read import usage as RU
from nexus_tui.widgets.chart import AXIS_COLUMNS
from tests.tui_helpers import SIZE, cells, demo_app, settle


def plain(widget) -> str:
    return Content.from_markup(str(widget.content)).plain


def errors(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


def ms(s: str) -> int:
    return int(datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp() * 1000)


def make_app(store, tmp_path, now_ms: int, daily: float | None = 4.0, monthly: float | None = 100.0):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings

    settings = load_settings(home=str(tmp_path / "home"), claude_dirs=())
    settings.daily_budget_usd, settings.monthly_budget_usd = daily, monthly
    return NexusApp(settings, store, None, now_ms=now_ms, tz="UTC")


async def open_screen(app, pilot, key: str):
    await settle(app, pilot)
    await pilot.press(key)
    await settle(app, pilot)
    return app.screen


# ---------------------------------------------------------------------------------------------- a small database
NOW = ms("2026-11-20T10:00:00")


def task(tid, sid, ts, *, tin=0, tout=0, cr=0, cw=0, cost=0.0, cloud=None, model="claude-sonnet-4-5", routing="cloud",
         latency=None, agent=None, tier=None, persona=None):
    return TaskRec(id=tid, session_id=sid, ts_ms=ts, source="transcript", model=model, routing=routing, tokens_in=tin,
                   tokens_out=tout, cache_read_tokens=cr, cache_creation_tokens=cw, cost_usd=cost,
                   cloud_cost_equivalent=cost if cloud is None else cloud, latency_ms=latency, agent_id=agent,
                   tier=tier, persona=persona)


def call(b: Batch, cid, sid, tid, name, ts, ok, latency, server=None, etype=None, msg=None):
    b.tool_uses.append(ToolUseRec(id=cid, session_id=sid, task_id=tid, tool_name=name, started_ms=ts,
                                  mcp_server=server))
    b.tool_results.append(ToolResultRec(id=cid, session_id=sid, ended_ms=ts + latency, success=ok, error_type=etype,
                                        error_message=msg, latency_ms=latency))


def small_store(tmp_path):
    """Two sessions today (see the hand computations in the tests) and one task a day on the five days before."""
    store = open_store(f"sqlite:///{tmp_path / 'small.db'}")
    b = Batch()
    t0 = ms("2026-11-20T08:00:00")
    b.sessions += [SessionRec(id="s1", start_ms=t0, end_ms=t0 + HOUR_MS, cli_tool="claude-code", project="alpha"),
                   SessionRec(id="s2", start_ms=t0 + 90 * 60_000, end_ms=t0 + 2 * HOUR_MS, cli_tool="gemini-cli",
                              project="beta")]
    b.tasks += [
        task("t1", "s1", t0, tin=1000, tout=500, cr=8000, cw=500, cost=0.5, latency=1000, tier="Tier 1",
             persona="architect"),  # 10,000 tokens
        task("t2", "s1", t0 + 10 * 60_000, tin=2000, tout=1000, cr=15000, cw=2000, cost=0.5, latency=3000,
             tier="Tier 2"),  # 20,000 tokens
        task("t3", "s1", t0 + 20 * 60_000, tin=5000, tout=1000, cost=0.0, cloud=0.05, model="qwen2.5-coder:7b",
             routing="local", latency=500, agent="a1"),  # 6,000 tokens, saved 0.05
        task("t4", "s2", t0 + 90 * 60_000, tin=3000, tout=2000, cost=0.6, latency=2000),  # 5,000 tokens, 09:30
    ]
    b.ratings += [RatingRec("t1", 1), RatingRec("t2", 0)]
    call(b, "c1", "s1", "t1", "Edit", t0 + 1000, True, 100)
    call(b, "c2", "s1", "t2", "Edit", t0 + 10 * 60_000 + 1000, True, 200)  # its task was rated not helpful
    call(b, "c3", "s1", "t1", "Write", t0 + 2000, False, 50, etype="permission", msg="denied: /etc/hosts\nline 2")
    call(b, "c4", "s1", "t1", "Read", t0 + 3000, True, 10)
    call(b, "c5", "s1", "t3", "mcp__fs__write_file", t0 + 20 * 60_000 + 1000, True, 300, server="fs")
    call(b, "c6", "s1", "t3", "mcp__fs__read_file", t0 + 20 * 60_000 + 2000, False, 20, server="fs",
         etype="not_found", msg="no such file")
    call(b, "c7", "s1", "t1", "TodoWrite", t0 + 4000, True, 5)
    for k in range(1, 6):  # history: k dollars at 12:00 on the k-th day before today
        sid = f"h{k}"
        ts = ms("2026-11-20T12:00:00") - k * DAY_MS
        b.sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts + 60_000, cli_tool="claude-code", project="old"))
        b.tasks.append(task(f"th{k}", sid, ts, tin=100, tout=100, cost=float(k), latency=100))
    store.writer.write(b)
    return store


def today_filters(app) -> Filters:
    since, until = preset("today", app.now_ms(), app.tz)
    return Filters(since_ms=since, until_ms=until, range_name="today")


# ---------------------------------------------------------------------------------------------- navigation
async def test_every_analytics_screen_is_one_key_away_and_loads_without_errors(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        for key, cls in (("2", "TimelineScreen"), ("3", "CostsScreen"), ("4", "EfficiencyScreen"),
                         ("5", "TiersScreen"), ("6", "ToolsScreen")):
            screen = await open_screen(app, pilot, key)
            assert type(screen).__name__ == cls and screen.loaded
        assert errors(app) == []


# ---------------------------------------------------------------------------------------------- timeline
async def test_timeline_totals_equal_the_summary_report_and_fit_the_chart(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "2")
        tl = screen.shown
        s = RU.summary(app.store.engine, app.filters)
        assert tl.total_tokens == s["total_tokens"]
        assert tl.total_cost == pytest.approx(s["cost_usd"])
        assert tl.totals == {"input": s["tokens_in"], "output": s["tokens_out"],
                             "cache write": s["cache_creation_tokens"], "cache read": s["cache_read_tokens"]}
        chart = screen.query_one("#chart")
        assert len(tl.starts) <= chart.size.width - AXIS_COLUMNS
        assert fmt_int(s["total_tokens"]) in plain(screen.query_one("#summary"))
        # every range of the t key: never more points than columns, totals still equal the report
        for _ in range(3):
            await pilot.press("t")
            await settle(app, pilot)
            tl = screen.shown
            assert len(tl.starts) <= chart.size.width - AXIS_COLUMNS
            assert tl.total_tokens == RU.summary(app.store.engine, app.filters)["total_tokens"]


async def test_timeline_day_buckets_equal_the_daily_report(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(70, 40)) as pilot:  # a narrow chart: 30 days no longer fit 6-hour points
        screen = await open_screen(app, pilot, "2")
        tl = screen.shown
        assert tl.point_ms == DAY_MS
        daily = {d["date"]: d for d in RU.daily(app.store.engine, app.filters, app.tz)}
        shown = {datetime.fromtimestamp(s / 1000, UTC).date().isoformat(): i for i, s in enumerate(tl.starts)}
        assert set(daily) <= set(shown)
        for date, i in shown.items():
            d = daily.get(date)
            tokens = sum(v[i] for v in tl.series.values())
            assert tokens == (d["total_tokens"] if d else 0)
            assert tl.cost[i] == pytest.approx(d["cost_usd"] if d else 0.0)


async def test_timeline_toggles_by_model_and_the_selected_session(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "2")
        await pilot.press("m")
        await settle(app, pilot)
        tl = screen.shown
        assert tl.by == "model" and "by model" in plain(screen.query_one("#summary"))
        models = RU.models(app.store.engine, app.filters)
        by_tokens = sorted(models, key=lambda r: (-r["total_tokens"], r["model"]))
        assert list(tl.series)[:6] == [r["model"] for r in by_tokens[:6]]
        assert tl.totals["other"] == sum(r["total_tokens"] for r in by_tokens[6:])
        assert tl.total_tokens == sum(r["total_tokens"] for r in models)
        # s without a selected session says what to do; with one, the chart shows that session only
        app.selected_session = None
        await pilot.press("s")
        await settle(app, pilot)
        assert screen.only_session is False
        sid = RS.sessions(app.store.engine, Filters(), limit=1).rows[0]["session_id"]
        app.selected_session = sid
        await pilot.press("s")
        await settle(app, pilot)
        row = RS.sessions(app.store.engine, Filters(), search=sid).rows[0]
        assert screen.shown.total_tokens == row["total_tokens"]
        assert screen.shown.total_cost == pytest.approx(row["cost_usd"])
        assert f"session {sid}" in plain(screen.query_one("#summary"))
        await pilot.press("m")  # back to token types, still the session
        await settle(app, pilot)
        assert screen.shown.by == "type" and screen.shown.total_tokens == row["total_tokens"]
        assert errors(app) == []


# ---------------------------------------------------------------------------------------------- costs
async def test_costs_projection_by_hand(tmp_path):
    store = small_store(tmp_path)
    app = make_app(store, tmp_path, NOW)  # 10:00; today: 0.5 + 0.5 + 0 at 08:00-08:20, 0.6 at 09:30
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "3")
        day, month = screen.shown["day"], screen.shown["month"]
        assert day.spent == pytest.approx(1.6)
        assert day.rate_per_hour == pytest.approx(1.6 / 3)  # everything today fell in the last 3 hours
        assert day.projected == pytest.approx(1.6 + 3)  # spent + the median rest of the day (below: 1..5)
        # the rest of the day (10:00-24:00) cost 1, 2, 3, 4, 5 on the five days before: p10 = 1, p90 = 5
        assert (day.low, day.high) == (pytest.approx(2.6), pytest.approx(6.6)) and day.samples == 5
        assert day.runs_out_ms == NOW + round((4.0 - 1.6) / (1.6 / 3) * HOUR_MS)  # 14:30
        spent_m = 1.6 + 1 + 2 + 3 + 4 + 5
        hours_left = (period_bounds(NOW, UTC, "month")[1] - NOW) / HOUR_MS
        assert month.spent == pytest.approx(spent_m)
        assert month.rate_per_hour == pytest.approx(spent_m / 168)
        assert month.projected == pytest.approx(spent_m + 3 * hours_left / 24)  # the median day, 3, x days left
        assert (month.low, month.high) == (pytest.approx(spent_m + 1 * hours_left / 24),
                                           pytest.approx(spent_m + 5 * hours_left / 24))
        assert not month.runs_out_in_period
        rows = {r[0]: r for r in cells(screen.query_one("#projection"))}
        rate = money_column([1.6 / 3, spent_m / 168])[0]  # one precision per column: both periods' burn rates
        assert rows["Today"][1:8] == [fmt_usd(1.6), fmt_usd(4.0), "40.0%", f"{rate}/h (3 h)",
                                      fmt_usd(day.projected), f"{fmt_usd(2.6)} – {fmt_usd(6.6)}", "runs out at 14:30"]
        assert rows["This month"][7].startswith("lasts the month")
        assert "runs out at 14:30" in plain(screen.query_one("#kpi-day"))
        assert "Projected = spent + the median of what the rest of the period cost" in plain(screen.query_one("#help"))


async def test_a_budget_lasting_past_any_date_says_it_lasts(tmp_path):
    """$1e9 a day at $0.53/h runs out in the year 200,000 and $1e308 a month at no time: the Costs screen died on
    the date (ValueError: year is out of range; OverflowError in the projection's worker). It lasts the period."""
    store = small_store(tmp_path)
    app = make_app(store, tmp_path, NOW, daily=1e9, monthly=1e308)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "3")
        day, month = screen.shown["day"], screen.shown["month"]
        assert day.rate_per_hour == pytest.approx(1.6 / 3) and day.runs_out_ms is month.runs_out_ms is None
        rows = {r[0]: r for r in cells(screen.query_one("#projection"))}
        assert (rows["Today"][-1], rows["This month"][-1]) == ("lasts the day", "lasts the month"), rows
        assert "lasts the day" in plain(screen.query_one("#kpi-day"))
        assert "lasts the month" in plain(screen.query_one("#kpi-month")) and errors(app) == []


async def test_costs_numbers_equal_the_reports(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "3")
        engine, now = app.store.engine, app.now_ms()
        # per day: the daily report's cost and tasks
        daily = {d["date"]: d for d in RU.daily(engine, app.filters, app.tz)}
        table = cells(screen.query_one("#days"))
        assert [r[0] for r in table] == sorted(daily, reverse=True)
        cost = dict(zip(daily, money_column([d["cost_usd"] for d in daily.values()])))  # one precision per column
        for r in table:
            assert r[1] == cost[r[0]] and r[5] == fmt_int(daily[r[0]]["tasks"])
        # saved by local routing over the range: the summary report's local_savings_usd
        s = RU.summary(engine, app.filters)
        assert plain(screen.query_one("#kpi-saved")).startswith(fmt_usd(s["local_savings_usd"]))
        # spent today / this month: the summary report over [period start, now]
        for name, period in (("day", "day"), ("month", "month")):
            start, _ = period_bounds(now, app.tz, period)
            want = RU.summary(engine, Filters(since_ms=start, until_ms=now + 1))["cost_usd"]
            assert screen.shown[name].spent == pytest.approx(want)
        # the range follows t; the periods do not
        spent_today = screen.shown["day"].spent
        await pilot.press("t")
        await settle(app, pilot)
        assert app.filters.range_name == "30d"
        s30 = RU.summary(engine, app.filters)
        assert plain(screen.query_one("#kpi-saved")).startswith(fmt_usd(s30["local_savings_usd"]))
        assert screen.shown["day"].spent == spent_today
        # p: the chart shows the month (cumulative spend never more points than columns, ends at spent)
        assert screen.shown["chart"][0] == "day"
        await pilot.press("p")
        await settle(app, pilot)
        period, starts, cum, _bucket = screen.shown["chart"]
        assert period == "month" and cum[-1] == pytest.approx(screen.shown["month"].spent)
        assert len(starts) <= screen.query_one("#burn").size.width - AXIS_COLUMNS
        assert errors(app) == []


async def test_costs_without_budget_say_how_to_set_one(tmp_path):
    store = small_store(tmp_path)
    app = make_app(store, tmp_path, NOW, daily=None, monthly=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "3")
        assert "no budget set" in plain(screen.query_one("#kpi-day"))
        rows = {r[0]: r for r in cells(screen.query_one("#projection"))}
        assert rows["Today"][2] == "-" and rows["Today"][7] == "no budget set"


async def test_kpi_tiles_show_every_line_whole_at_160x48(tmp_path):
    """Costs' and Efficiency's tiles at 160×48, with no daily budget, a custom range and a project filter (the range
    label is longest then): every detail line is on screen whole, wrapped where longer than its tile, none cut with
    "…" (they were: "no budget set ([budget] in insights…", "rated tasks: 241 helpful, 9…" for 96 not helpful)."""
    from nexus_tui.widgets.kpi import KpiTile
    from tests.test_snapshots_small import screen_text

    app = demo_app(tmp_path)
    app.settings.daily_budget_usd = None
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        now = app.now_ms()
        app.set_filters(Filters(since_ms=now - 20 * DAY_MS, until_ms=now, range_name="custom", project="ml-pipeline"))
        for key, ids in (("3", ["kpi-day", "kpi-month", "kpi-rate", "kpi-saved"]),
                         ("4", ["kpi-tpc", "kpi-cpc", "kpi-changes", "kpi-zero", "kpi-lines"])):
            await pilot.press(key)
            await settle(app, pilot)
            lines = screen_text(app).splitlines()
            tiles = list(app.screen.query(KpiTile))
            assert [t.id for t in tiles] == ids
            for tile in tiles:
                r = tile.content_region
                shown = " ".join(x[r.x:r.right] for x in lines[r.y:r.bottom])
                assert "…" not in shown, (tile.id, shown)
                for line in tile.render().plain.splitlines():
                    assert " ".join(line.split()) in " ".join(shown.split()), (tile.id, line, shown)
            if key == "3":
                assert "no budget set in insights.toml" in tiles[0].render().plain
                assert "ml-pipeline" in tiles[3].render().plain  # the range label with its filter
            else:
                helpful, not_helpful = (app.screen.shown["totals"][k] for k in ("helpful", "not_helpful"))
                assert f"rated: {helpful:,} helpful, {not_helpful:,} not" in tiles[2].render().plain


async def test_a_task_dated_in_the_future_is_not_in_today_or_the_last_days(tmp_path):
    """A task from a machine whose clock is ahead (or a bad timestamp: any time up to 2099 is taken) is in no preset
    range: 'today' ended at the day's end only on paper; it held every future task, the Sessions screen listed it
    under today and the Timeline drew 'today' from now to 2099 (one bar for the whole day)."""
    store = small_store(tmp_path)
    b = Batch()
    fut = ms("2099-06-01T12:00:00")
    b.sessions.append(SessionRec(id="future", start_ms=fut, end_ms=fut + 60_000, cli_tool="claude-code", project="x"))
    b.tasks.append(task("tf", "future", fut, tin=7, tout=7, cost=9.0))
    store.writer.write(b)
    app = make_app(store, tmp_path, NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for name in ("30d", "7d", "today"):
            await pilot.press("t")
            await settle(app, pilot)
            assert app.filters.range_name == name
            assert app.filters.until_ms == ms("2026-11-21T00:00:00")
            sessions = {r[-1] for r in cells(app.screen.query_one("DataTable"))}
            assert "future" not in sessions and {"s1", "s2"} <= sessions
        screen = await open_screen(app, pilot, "2")
        tl = screen.shown
        assert tl.total_tokens == 41_000  # today's four tasks (test_efficiency_by_hand), not the future one's 14
        assert tl.starts[0] == ms("2026-11-20T00:00:00") and tl.starts[-1] < NOW
        # past midnight the preset is the new day's (it kept the old day's start: 'today' held two days)
        app._fixed_now = NOW + DAY_MS
        app._refresh_screens()
        assert (app.filters.since_ms, app.filters.until_ms) == (ms("2026-11-21T00:00:00"), ms("2026-11-22T00:00:00"))


# ---------------------------------------------------------------------------------------------- efficiency
async def test_efficiency_by_hand(tmp_path):
    store = small_store(tmp_path)
    app = make_app(store, tmp_path, NOW)
    app.filters = today_filters(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "4")
        # changes: Edit (t1), Edit (t2, rated not helpful: not counted), mcp__fs__write_file; not Write (failed),
        # Read, mcp__fs__read_file or TodoWrite. Tokens today: 10,000 + 20,000 + 6,000 + 5,000.
        assert plain(screen.query_one("#kpi-tpc")).startswith("20,500")  # 41,000 / 2
        assert plain(screen.query_one("#kpi-cpc")).startswith(fmt_usd(1.6 / 2))
        changes = plain(screen.query_one("#kpi-changes"))
        assert changes.startswith("2 of 3") and "1 not counted" in changes and "of 3 file changes" in changes
        assert plain(screen.query_one("#kpi-zero")).startswith("1 of 2")
        table = cells(screen.query_one("#sessions"))
        assert len(table) == 1
        # Lines/$ and Lines/Mtok: no status line reported s1, so unknown
        assert table[0][0] == "s1" and table[0][4:14] == ["18,000", "$0.50", "—", "—", "2", "1", "36,000", "$1.00",
                                                         "3", "+1 -1"]
        await pilot.press("z")  # the sessions without a useful change
        await settle(app, pilot)
        table = cells(screen.query_one("#sessions"))
        assert [r[0] for r in table] == ["s2"] and table[0][4] == "no change"
        await pilot.press("z", "enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionDetailScreen" and app.screen.session_id == "s1"


async def test_efficiency_inputs_equal_the_sessions_report(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "4")
        engine = app.store.engine
        report = {r["session_id"]: r for r in RS.sessions(engine, app.filters).rows}
        rows = screen.shown["sessions"]
        assert rows
        for d in rows:
            r = report[d["sid"]]
            assert d["tokens"] == r["total_tokens"] and d["cost"] == pytest.approx(r["cost_usd"])
            assert (d["helpful"], d["not_helpful"]) == (r["rated_helpful"], r["rated_not_helpful"])
        # least efficient first
        tpc = [screen.score(d).tokens_per_change for d in rows]
        assert tpc == sorted(tpc, reverse=True)
        t = screen.shown["totals"]
        s = RU.summary(engine, app.filters)
        assert (t["tokens"], t["helpful"], t["not_helpful"]) == (s["total_tokens"], s["rated_helpful"],
                                                                 s["rated_not_helpful"])
        assert t["cost"] == pytest.approx(s["cost_usd"])
        # the changes counted are exactly the successful calls is_file_changing accepts
        with engine.connect() as conn:
            calls = conn.execute(text("SELECT tool_name, success FROM tool_calls")).all()
        assert t["ch_helpful"] + t["ch_unrated"] + t["ch_not_helpful"] == sum(
            1 for name, ok in calls if ok and is_file_changing(name))
        # the trend covers the same tokens
        assert sum(d["tokens"] for d in screen.trend["trend"]) == s["total_tokens"]


def test_change_condition_in_sql_matches_the_pure_rule(tmp_path):
    names = ["Edit", "Write", "MultiEdit", "NotebookEdit", "write_file", "replace", "apply_patch", "fs_write",
             "str_replace_based_edit_tool", "Read", "Bash", "TodoWrite", "edit", "WRITE", "mcp__fs__write_file",
             "MCP__FS__EDIT_FILE", "mcp__serena__replace_symbol_body", "mcp__github__create_issue",
             "mcp__memory__write_memory", "mcp__fs__read_file", "mcp__a_b__move_file", "mcp__x__write_filex",
             "mcp__x__xwrite_file", "mcp__mine__save"]
    store = open_store(f"sqlite:///{tmp_path / 'names.db'}")
    b = Batch(sessions=[SessionRec(id="s", start_ms=0, end_ms=1)])
    for i, n in enumerate(names):
        for ok in (True, False):
            call(b, f"{i}-{ok}", "s", None, n, 1000 + i, ok, 1)
    store.writer.write(b)
    for extra in ((), ("mcp__mine__save",)):
        from sqlalchemy import select

        with store.engine.connect() as conn:
            got = sorted(r[0] for r in conn.execute(select(RP.TC.c.tool_name).where(RE.change_cond(extra))))
        assert got == sorted(n for n in names if is_file_changing(n, extra))


# ---------------------------------------------------------------------------------------------- tiers
async def test_tiers_tables_equal_the_usage_report_for_every_dimension(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "5")
        engine = app.store.engine
        s = RU.summary(engine, app.filters)
        for i, (dim, _title) in enumerate(DIMS):
            if i:
                await pilot.press("d")
                await settle(app, pilot)
            assert screen.dim == dim
            rows = project_rows(engine, app.filters) if dim == "project" else RU.usage_by(engine, app.filters, dim)
            costs = money_column([r["cost_usd"] for r in rows])  # one precision for the column
            assert cells(screen.query_one(f"#dim-{dim}")) == [row_cells(dim, r, c) for r, c in zip(rows, costs)]
            assert sum(r["tasks"] for r in rows) == s["tasks"]
            assert sum(r["cost_share"] for r in rows) == pytest.approx(1.0)
        with engine.connect() as conn:
            main = conn.execute(text("SELECT count(*) FROM tasks WHERE agent_id IS NULL")).scalar()
            tier2 = conn.execute(text("SELECT count(*), sum(cost_usd) FROM tasks WHERE tier = 'Tier 2'")).one()
        agent = {r[0]: r for r in cells(screen.query_one("#dim-agent"))}
        assert agent["main"][1] == fmt_int(main) and agent["sub-agent"][1] == fmt_int(s["tasks"] - main)
        project = {r[0]: r for r in cells(screen.query_one("#dim-project"))}
        with engine.connect() as conn:  # by hand: the tasks of each project's sessions, straight from the rows
            by_project = dict(conn.execute(text(
                "SELECT COALESCE(s.project, s.cwd, '-'), count(*) FROM tasks t JOIN sessions s ON s.id = t.session_id "
                "GROUP BY 1")).all())
        assert {k: v[1] for k, v in project.items()} == {k: fmt_int(v) for k, v in by_project.items()}
        tier = {r[0]: r for r in cells(screen.query_one("#dim-tier"))}
        assert tier["Tier 2"][1] == fmt_int(tier2[0])
        assert float(tier["Tier 2"][6].rstrip("*").lstrip("$").replace(",", "")) == pytest.approx(tier2[1], abs=0.005)
        await pilot.press("D")  # back one table
        await settle(app, pilot)
        assert screen.dim == DIMS[-2][0]
        assert errors(app) == []


async def test_tiers_keys_pressed_quickly_land_where_counted(tmp_path):
    """Seven quick d presses (no pause for the tables to load) end on the eighth table, and the tables stay put
    after: a table focused for an earlier press does not pull its tab back into view (TabPane.Focused)."""
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "5")
        names = [d for d, _ in DIMS]
        from textual import events

        for _ in range(7):  # as a terminal delivers a burst: every key queued before the first is handled
            app.post_message(events.Key("d", "d"))
        await settle(app, pilot)
        assert screen.dim == names[7]
        assert str(screen.query_one("#summary").render()).startswith(f"By {DIMS[7][1]}:")  # not a table left
        for i in range(3):
            await pilot.press("d")
            await settle(app, pilot)
            assert screen.dim == names[i]
        await pilot.press("D", "D", "D")
        await settle(app, pilot)
        assert screen.dim == names[-1]
        assert app.focused is screen.query_one(f"#dim-{names[-1]}")
        assert errors(app) == []


async def test_tiers_by_hand(tmp_path):
    store = small_store(tmp_path)
    app = make_app(store, tmp_path, NOW)
    app.filters = today_filters(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "5")
        model = {r[0]: r for r in cells(screen.query_one("#dim-model"))}
        # claude-sonnet-4-5 today: t1, t2, t4; latencies 1000, 3000, 2000 -> avg 2.0s, p95 (rank 3) 3.0s
        assert model["claude-sonnet-4-5"][1:4] == ["3", "6,000", "3,500"]
        assert model["claude-sonnet-4-5"][6:10] == [fmt_usd(1.6), "100.0%", "2.0s", "3.0s"]
        # cache hit = 23,000 cache read / (6,000 + 23,000 + 2,500)
        assert model["claude-sonnet-4-5"][10] == fmt_pct(23_000 / 31_500)
        await pilot.press("d")  # by project today: alpha (s1: t1, t2, t3 = $1.00) and beta (s2: t4 = $0.60)
        await settle(app, pilot)
        project = {r[0]: r for r in cells(screen.query_one("#dim-project"))}
        assert {k: (v[1], v[6], v[7]) for k, v in project.items()} == {
            "alpha": ("3", "$1.00", fmt_pct(1.0 / 1.6)), "beta": ("1", "$0.60", fmt_pct(0.6 / 1.6))}
        assert list(project) == ["alpha", "beta"]  # by cost
        for _ in range(3):
            await pilot.press("d")
            await settle(app, pilot)
        agent = {r[0]: r for r in cells(screen.query_one("#dim-agent"))}
        assert agent["main"][1] == "3" and agent["sub-agent"][1] == "1"
        await pilot.press("d")
        await settle(app, pilot)
        tier = {r[0]: r[1] for r in cells(screen.query_one("#dim-tier"))}
        assert tier == {"Tier 1": "1", "Tier 2": "1", "(none)": "2"}


# ---------------------------------------------------------------------------------------------- tools
def nearest(xs, p):
    import math

    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


async def test_tools_tables_equal_the_tools_report_and_raw_latencies(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "6")
        engine = app.store.engine
        report = RT.tools_report(engine, app.filters)
        assert cells(screen.query_one("#tools")) == [tool_cells(t) for t in report]
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT mcp_server, latency_ms, success FROM tool_calls "
                                    "WHERE mcp_server IS NOT NULL")).all()
        servers = {r[0]: r for r in cells(screen.query_one("#servers"))}
        assert set(servers) == {s for s, _l, _ok in raw}
        for server, row in servers.items():
            lat = [lt for s, lt, _ok in raw if s == server and lt is not None]
            calls = [t for t in report if t["server"] == server]
            assert row[2] == fmt_int(sum(t["calls"] for t in calls))
            assert row[3] == fmt_int(sum(t["failures"] for t in calls))
            assert row[5:9] == [fmt_ms(nearest(lat, 50)), fmt_ms(nearest(lat, 95)), fmt_ms(nearest(lat, 99)),
                                fmt_ms(max(lat))]
        # the error-type table follows the cursor
        tools = screen.query_one("#tools")
        first = report[0]["tool"]
        assert screen.errors_for == (first, None)
        want = RT.tool_failures_by_type(engine, app.filters, tool=first)
        assert [r[2] for r in cells(screen.query_one("#errors"))] == [fmt_int(r["failures"]) for r in want]
        await pilot.press("down")
        await settle(app, pilot)
        assert screen.errors_for == (report[1]["tool"], None) and tools.cursor_row == 1
        assert errors(app) == []


async def test_enter_on_tools_lists_the_recent_failures_with_their_error_text(tmp_path):
    store = small_store(tmp_path)
    app = make_app(store, tmp_path, NOW)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "6")
        keys = [k.value for k in screen.query_one("#tools").rows]
        row = keys.index("Write\x1f")
        screen.query_one("#tools").move_cursor(row=row)
        await settle(app, pilot)
        errs = cells(screen.query_one("#errors"))
        assert errs == [["permission", "Write", "1"]]
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ToolFailuresScreen"
        table = cells(app.screen.query_one("#failures"))
        assert table == [["2026-11-20 08:00:02", "Write", "permission", "50ms", "s1", "denied: /etc/hosts"]]
        detail = plain(app.screen.query_one("#text"))
        assert "denied: /etc/hosts\nline 2" in detail and "call c3" in detail
        await pilot.press("escape")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "ToolsScreen"
        # Enter on an MCP server lists its tools' failures
        await pilot.press("tab")
        await settle(app, pilot)
        assert app.screen.focused.id == "servers" and screen.errors_for == (None, "fs")
        assert cells(screen.query_one("#errors")) == [["not_found", "mcp__fs__read_file", "1"]]
        await pilot.press("enter")
        await settle(app, pilot)
        assert [r[1] for r in cells(app.screen.query_one("#failures"))] == ["mcp__fs__read_file"]


@pytest.mark.parametrize("server", ["S" * 3000, "\x1b[31m" * 40 + "x"], ids=["long", "escapes"])
@pytest.mark.parametrize("size", [SIZE, (80, 24)])
async def test_tools_long_server_and_error_names_leave_the_numbers_in_view(tmp_path, size, server):
    """An MCP server or error type named by data (3,000 characters, wide CJK, or control characters, which are
    shown as visible escapes four times as wide: cut by the width shown) is cut with "…" in the By MCP server and
    failures-by-type tables, as the tool names are: the Failures and Failure rate columns stay on screen instead of
    being pushed past the box's edge (or cut: "100.0%" read "10")."""
    from tests.test_snapshots_small import screen_text

    store = open_store(f"sqlite:///{tmp_path / 'long.db'}")
    b = Batch(sessions=[SessionRec(id="s", start_ms=NOW - HOUR_MS, end_ms=NOW)])
    long_server, wide_type = server, "漢字🎉" * 200
    for i in range(3):
        call(b, f"c{i}", "s", None, "mcp__x__read", NOW - HOUR_MS + i, i != 0, 5, server=long_server,
             etype=wide_type if i == 0 else None, msg="boom")
    store.writer.write(b)
    app = make_app(store, tmp_path, NOW)
    async with app.run_test(size=size) as pilot:
        screen = await open_screen(app, pilot, "6")
        shown = screen_text(app).splitlines()
        for table, number in (("#servers", "33.3%"), ("#errors", "1")):
            t = screen.query_one(table)
            row = t.region.y + 1  # the first row under the header
            line = shown[row][t.region.x:t.region.right]
            assert "…" in line and number in line.split("…")[-1].split(), (table, line)
    store.close()


@pytest.mark.parametrize("key", ["5", "6"])
async def test_tiers_and_tools_explain_every_number_column(tmp_path, key):
    """Tiers and Tools had no explanation on screen (what is "No result", "Cache hit", which latency): at 160×48
    the help under the summary names every number column of the table, and the demo's table shows them all; on a
    short terminal the help gives way (it is under ?) and the table keeps its rows."""
    from tests.test_snapshots_small import SMALL, screen_text

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, key)
        table = screen.query_one("#dim-model" if key == "5" else "#tools")
        help_ = screen.query_one("#help")
        assert help_.display and help_.region.height >= 2
        text = " ".join(screen_text(app).split())
        numbers = [label for k, label in table._all_columns if k in table._right]
        assert len(numbers) >= 8 and set(numbers) <= set(dict(table._all_columns).values())
        for label in numbers:
            assert label in str(help_.render()) and label in text, label
        assert "Cache hit = cache read ÷ (input + cache read + cache write)" in text or key == "6"
        assert "No result: calls whose result is not seen yet" in text or key == "5"
        await pilot.resize_terminal(*SMALL)
        await settle(app, pilot)
        assert help_.region.height == 0 and table.row_count == 7 + 4 * (key == "6")


async def test_tools_update_live_keeping_the_cursor(tmp_path):
    store = small_store(tmp_path)
    app = make_app(store, tmp_path, NOW)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "6")
        tools = screen.query_one("#tools")
        tools.move_cursor(row=2)
        await settle(app, pilot)
        key = tools.current_key
        b = Batch()
        call(b, "new1", "s1", "t1", "Bash", NOW - 1000, False, 700, etype="exit_code", msg="exit 1")
        call(b, "new2", "s1", "t1", "Bash", NOW - 500, True, 900)
        res = store.writer.write(b)
        app.post_message(StoreChanged(None, changed=True))
        await settle(app, pilot)
        assert tools.current_key == key  # a new row arrived; the cursor stayed on its row
        bash = next(r for r in cells(tools) if r[0] == "Bash")
        assert bash[2:5] == ["2", "1", "50.0%"] and res is not None


# ---------------------------------------------------------------------------------------------- empty states
async def test_empty_database_and_empty_range_say_what_to_do(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    app = make_app(store, tmp_path, NOW)
    async with app.run_test(size=SIZE) as pilot:
        for key in "23456":
            screen = await open_screen(app, pilot, key)
            assert "No sessions yet" in plain(screen.query_one("#empty")), key
            assert screen.query_one("#empty").display
    store2 = small_store(tmp_path)
    app = make_app(store2, tmp_path, NOW + 400 * DAY_MS)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("t", "t", "t")  # today, a year after the data
        for key in "23456":
            screen = await open_screen(app, pilot, key)
            hint = plain(screen.query_one("#empty"))
            assert "No data in this range" in hint and "Widen the range with t" in hint, key
        assert errors(app) == []
