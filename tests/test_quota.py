"""Quota (issue 12, sections 2-4): status-line ingest, the quota model, the headless report, alerts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from nexus_tui import statusline as SL
from nexus_tui.collect.collector import Collector
from nexus_tui.collect.sources import NexusEventSource
from nexus_tui.store import open_store
from tests.conftest import SHARED

SAMPLES = SHARED / "fixtures" / "constructed" / "statusline"
H = 3_600_000


def _store(tmp_path: Path):
    return open_store(f"sqlite:///{tmp_path / 'insights.db'}")


def _ingest(store, home: Path):
    col = Collector(store, [NexusEventSource([home / "logs"], "claude-sonnet-4-5")])
    try:
        return col.run_once()
    finally:
        col.close()


def _rows(store, sql, **kw):
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), kw)]


def _feed(home: Path, raw: bytes) -> str:
    out = io.StringIO()

    class In(io.BytesIO):
        def isatty(self):
            return False

    SL.main(["--home", str(home)], stdin=In(raw), stdout=out)
    return out.getvalue()


def test_statusline_events_become_snapshots_and_session_stats(tmp_path, monkeypatch):
    home = tmp_path / "home"
    clock = iter(range(1_796_390_000, 1_796_390_100, 7))  # each call a few seconds apart
    monkeypatch.setattr(SL.time, "time", lambda: float(next(clock)))
    sub = json.loads((SAMPLES / "subscriber.json").read_bytes())
    _feed(home, json.dumps(sub).encode())
    later = json.loads(json.dumps(sub))
    later["rate_limits"]["five_hour"]["used_percentage"] = 70.5
    later["cost"]["total_cost_usd"] = 4.0
    later["cost"]["total_lines_added"] = 300
    _feed(home, json.dumps(later).encode())
    _feed(home, (SAMPLES / "api_key_user.json").read_bytes())  # no rate_limits: no snapshot, quietly
    monkeypatch.undo()
    store = _store(tmp_path)
    _ingest(store, home)
    snaps = _rows(store, "SELECT * FROM quota_snapshots ORDER BY observed_ms, window")
    assert [(s["window"], s["source"]) for s in snaps] == [("five_hour", "statusline"), ("seven_day", "statusline"),
                                                           ("five_hour", "statusline"), ("seven_day", "statusline")]
    assert [s["used_fraction"] for s in snaps] == pytest.approx([0.63, 0.21, 0.705, 0.21])
    assert snaps[0]["resets_at_ms"] == sub["rate_limits"]["five_hour"]["resets_at"] * 1000
    assert snaps[1]["resets_at_ms"] is None or snaps[1]["resets_at_ms"] == 1796860800 * 1000
    assert all(s["machine"] for s in snaps)
    (st,) = _rows(store, "SELECT * FROM session_stats WHERE session_id = :s", s=sub["session_id"])
    assert st["source"] == "statusline"
    assert (st["context_used_pct"], st["context_window_size"], st["reported_cost_usd"], st["lines_added"],
            st["lines_removed"]) == (48.2, 200000, 4.0, 300, 57)
    # reading the whole log again (a fresh cursor) never doubles a snapshot
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM ingest_cursors"))
    _ingest(store, home)
    assert len(_rows(store, "SELECT id FROM quota_snapshots")) == 4
    store.close()


def test_statusline_event_values_are_guarded(tmp_path):
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    base = {"v": 1, "type": "statusline", "ts": "2026-12-01T10:00:00.000Z", "session_id": "s1"}
    lines = [
        {**base, "rate_limits": {"five_hour": {"used_percentage": -5}}},  # out of range: the event is invalid
        {**base, "rate_limits": {"five_hour": {"used_percentage": "63"}}},  # a string
        {**base, "context_used_pct": 1e308},
        {**base, "ts": "2026-12-01T11:00:00.000Z",
         "rate_limits": {"five_hour": {"used_percentage": 40, "resets_at": 99999999999}}},  # reset years ahead
    ]
    (home / "logs" / "2026-12-01.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    store = _store(tmp_path)
    rep = _ingest(store, home)
    assert rep.skipped_total == 3
    (s,) = _rows(store, "SELECT * FROM quota_snapshots")
    assert s["used_fraction"] == pytest.approx(0.4) and s["resets_at_ms"] is None
    store.close()


# ---------------------------------------------------------------- the quota model (pure)
from nexus_tui.core import quota as CQ  # noqa: E402

T0 = 1_796_400_000_000  # a reset time (ms)


def _snap(w, used, reset, obs, **kw):
    return CQ.Snapshot(w, used, reset, obs, **kw)


def test_canonical_window_names():
    assert [CQ.canonical_window(n) for n in ("5h", "7d", "7d_opus", "seven_day_sonnet", "five_hour", "unified",
                                             "requests", "", "tokens")] == [
        "five_hour", "seven_day", "seven_day_opus", "seven_day_sonnet", "five_hour", None, None, None, None]


def test_reset_between_two_snapshots_and_out_of_order_arrival():
    r1, r2 = T0, T0 + 5 * H
    a = _snap("five_hour", 40.0, r1, r1 - 3 * H)
    b = _snap("five_hour", 95.0, r1, r1 - 1 * H)
    c = _snap("five_hour", 5.0, r2, r1 + 30 * 60_000)  # after the reset: a new period
    d = _snap("five_hour", 60.0, r1 + 60_000, r1 - 2 * H)  # reset time jitters by a minute: same period
    for order in ([a, b, c, d], [c, d, b, a], [d, c, a, b]):
        ps = CQ.periods(order)[("five_hour", None)]
        assert [p.end_ms for p in ps] == [r1, r2]
        assert [p.peak_pct for p in ps] == [95.0, 5.0]
        assert [len(p.snapshots) for p in ps] == [3, 1]
        (st,) = CQ.current_windows(order, now_ms=r1 + H)
        assert st.snapshot is c and st.current and st.remaining_ms == 4 * H
    # the period the latest snapshot measured has reset since: not current
    (st,) = CQ.current_windows([a, b], now_ms=r1 + 1)
    assert not st.current and st.remaining_ms == 0


def test_pace_projection_against_an_independent_computation():
    # 5-hour window ending at T0; observed 2 h in (40 % elapsed) with 50 % used
    obs = T0 - 3 * H
    (st,) = CQ.current_windows([_snap("five_hour", 50.0, T0, obs)], now_ms=obs)
    elapsed = 2 / 5
    assert st.pace.elapsed_pct == pytest.approx(100 * elapsed)
    assert st.pace.pace == pytest.approx(50 / (100 * elapsed))  # 1.25
    assert st.pace.projected_pct == pytest.approx(50 / elapsed)  # 125 %
    # 100 % is reached when used/elapsed-time * t = 100: t = 2 h * 100/50 = 4 h after the start
    assert st.pace.full_at_ms == T0 - 5 * H + 4 * H and st.pace.will_hit_limit
    # an even pace never hits the limit
    (st,) = CQ.current_windows([_snap("seven_day", 30.0, T0, T0 - int(7 * 24 * H * 0.7))], now_ms=T0 - H)
    assert st.pace.projected_pct == pytest.approx(100.0) and not st.pace.will_hit_limit


def test_past_period_limit_hit_from_status():
    ps = CQ.periods([_snap("seven_day", 80.0, T0, T0 - H, status="rejected"),
                     _snap("seven_day", 10.0, T0 + 7 * 24 * H, T0 + H)])[("seven_day", None)]
    assert [p.limit_hit for p in ps] == [True, False]


def _blocks_reference(ts_list):
    """ccusage's rule written out independently: floor the first task to the hour, 5 h long; a gap > 5 h or a task
    past the end starts a new block."""
    blocks, cur = [], None
    for t in sorted(ts_list):
        if cur is None or t >= cur[0] + 5 * H or t - cur[2] > 5 * H:
            cur = [t - t % H, 0, t]
            blocks.append(cur)
        cur[1] += 1
        cur[2] = t
    return [(b[0], b[1]) for b in blocks]


def test_blocks_match_the_rule():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(0, 40 * H), max_size=60))
    def check(ts):
        got = CQ.blocks([(T0 + t, "m", 10, 0.5) for t in ts])
        assert [(b.start_ms, b.tasks) for b in got] == _blocks_reference([T0 + t for t in ts])
        assert sum(b.tokens for b in got) == 10 * len(ts)

    check()


# ---------------------------------------------------------------- the store's report and --headless quota
from nexus_tui.core.filters import Filters  # noqa: E402
from nexus_tui.headless_quota import render_quota  # noqa: E402

NOW = T0 - 2 * H  # 3 h into the 5-hour window that resets at T0


def _iso(ms):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _fill(store, tasks, snaps):
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO sessions (id, start_time, start_ms) VALUES ('s1', :t, :m)"),
                     {"t": _iso(T0 - 30 * 24 * H), "m": T0 - 30 * 24 * H})
        for i, (ts, model, tin, tout, cost, routing) in enumerate(tasks):
            conn.execute(text("INSERT INTO tasks (id, session_id, timestamp, ts_ms, source, model, routing, tokens_in,"
                              " tokens_out, cache_read_tokens, cache_creation_tokens, cost_usd, status) VALUES "
                              "(:i, 's1', :t, :ts, 'manual', :m, :r, :a, :b, 0, 0, :c, 'ok')"),
                         {"i": f"t{i}", "t": _iso(ts), "ts": ts, "m": model, "r": routing, "a": tin, "b": tout,
                          "c": cost})
        for i, (w, frac, reset, obs, src) in enumerate(snaps):
            conn.execute(text("INSERT INTO quota_snapshots (id, observed_ms, observed_at, source, window, "
                              "used_fraction, resets_at_ms) VALUES (:i, :o, :oa, :s, :w, :f, :r)"),
                         {"i": f"q{i}", "o": obs, "oa": _iso(obs), "s": src, "w": w, "f": frac, "r": reset})
        from nexus_tui.store.rollup import rebuild

        rebuild(conn)  # the rollups the other screens read


TASKS = [
    (T0 - 4 * H, "claude-opus-4-6", 1000, 500, 2.0, "cloud"),  # in the current 5-hour window
    (T0 - 3 * H, "claude-sonnet-4-5", 200, 100, 0.5, "cloud"),  # in it
    (T0 - 3 * H + 1, "qwen2.5-coder", 9999, 9999, 0.0, "local"),  # local: never in a quota
    (T0 - 6 * H, "claude-opus-4-6", 3000, 1000, 4.0, "cloud"),  # before the window: the past one
    (T0 - 9 * H, "claude-opus-4-6", 100, 100, 1.0, "cloud"),  # the past window [T0-10h, T0-5h)
    (T0 - 30 * H, "gemini-2.5-pro", 100, 100, 0.3, "cloud"),  # not an Anthropic model: never in its quota
]
SNAPS = [
    ("5h", 0.30, T0, NOW - H, "proxy"),  # proxy headers: fraction, short name
    ("five_hour", 0.45, T0, NOW, "statusline"),
    ("five_hour", 0.97, T0 - 5 * H, T0 - 6 * H, "statusline"),  # the past window, nearly full
    ("seven_day", 0.20, T0 + 3 * 24 * H, NOW - 10, "statusline"),
    ("unified", None, T0, NOW, "proxy"),  # not a percentage window: left out
]


def test_headless_quota_json_numbers(tmp_path):
    store = _store(tmp_path)
    _fill(store, TASKS, SNAPS)
    obj = json.loads(render_quota(store.engine, Filters(), None, "json", now_ms=NOW))
    assert obj["has_snapshots"] and obj["note"] is None and obj["estimate"] is None
    w5, w7 = obj["windows"]
    assert {k: w5[k] for k in ("window", "used_percentage", "resets_at", "observed_at", "source")} == {
        "window": "five_hour", "used_percentage": 45.0, "resets_at": _iso(T0)[:-5] + "Z",
        "observed_at": _iso(NOW)[:-5] + "Z", "source": "statusline"}
    assert w5["pace"] == pytest.approx(45 / 60) and w5["projected_percentage"] == pytest.approx(75.0)
    assert w5["will_hit_limit"] is False and w5["current"] is True
    # the tokens and dollars this store counts in [T0-5h, now]: the two cloud Anthropic tasks
    assert (w5["tasks"], w5["tokens"], w5["cost_usd"]) == (2, 1800, pytest.approx(2.5))
    assert w5["cost_per_pct_usd"] == pytest.approx(2.5 / 45, abs=1e-6) and w5["tokens_per_pct"] == pytest.approx(1800 / 45)
    assert [m["model"] for m in w5["models"]] == ["claude-opus-4-6", "claude-sonnet-4-5"]
    assert w7["window"] == "seven_day" and w7["used_percentage"] == 20.0
    elapsed7 = (7 * 24 - (3 * 24 + 2)) / (7 * 24)  # observed 74 h before a 7-day reset (ignoring 10 ms)
    assert w7["projected_percentage"] == pytest.approx(20 / elapsed7, rel=1e-6)
    (past,) = obj["past_windows"]
    assert (past["window"], past["peak_percentage"], past["limit_hit"]) == ("five_hour", 97.0, False)
    assert (past["tasks"], past["tokens"], past["cost_usd"]) == (2, 4000 + 200, pytest.approx(5.0))
    assert set(obj) >= {"generated_at", "windows", "past_windows", "cost_mode"}
    # CSV and text carry the same numbers
    csv = render_quota(store.engine, Filters(), None, "csv", now_ms=NOW).splitlines()
    assert csv[0].startswith("kind,window,account,source") and csv[1].startswith("current,five_hour,,statusline")
    assert any(line.startswith("past,five_hour") for line in csv)
    from datetime import UTC
    txt = render_quota(store.engine, Filters(), UTC, "text", now_ms=NOW)
    assert "45.0%" in txt and "0.75x" in txt and "75% at reset" in txt and "97.0%" in txt
    store.close()


def test_headless_quota_without_snapshots_shows_estimated_blocks(tmp_path):
    store = _store(tmp_path)
    _fill(store, TASKS, [])
    obj = json.loads(render_quota(store.engine, Filters(), None, "json", now_ms=NOW))
    assert not obj["has_snapshots"] and obj["windows"] == [] and "no quota snapshot" in obj["note"]
    est = obj["estimate"]
    assert "estimate" in est["method"] and "ccusage" in est["method"]
    cloud = [t for t in TASKS if t[5] != "local" and t[1].startswith("claude")]
    ref = _blocks_reference([t[0] for t in cloud])
    assert [(b["start"], b["tasks"]) for b in reversed(est["blocks"])] == [(_iso(s)[:-5] + "Z", n) for s, n in ref]
    assert sum(b["cost_usd"] for b in est["blocks"]) == pytest.approx(sum(t[4] for t in cloud))
    from datetime import UTC
    txt = render_quota(store.engine, Filters(), UTC, "text", now_ms=NOW)
    assert txt.startswith("note: no quota snapshot") and "estimated 5-hour blocks" in txt
    store.close()


# ---------------------------------------------------------------- the Quota screen (pilot)
async def _quota_app(tmp_path, snaps):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings

    store = _store(tmp_path)
    _fill(store, TASKS, snaps)
    settings = load_settings(home=str(tmp_path / "home"), db=f"sqlite:///{tmp_path / 'insights.db'}", claude_dirs=())
    return NexusApp(settings, store, None, now_ms=NOW, tz="UTC")


async def test_quota_screen_shows_bars_projection_and_past_windows(tmp_path):
    from tests.tui_helpers import SIZE, cells, settle

    evil = ("seven_day_[red]x", 0.5, T0 + 2 * 24 * H, NOW - 5, "statusline")  # a name with markup in it
    app = await _quota_app(tmp_path, SNAPS + [evil])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("7")
        await settle(app, pilot)
        screen = app.screen
        assert type(screen).__name__ == "QuotaScreen" and screen.shown is not None
        bars = str(screen.query_one("#quota-bars").render())
        assert "5h" in bars and "45%" in bars and "pace 0.75x" in bars and "resets in 2h 00m" in bars
        assert "at this pace the window ends at 75%" in bars and "7d" in bars
        assert "7d [red]x" in bars  # shown as text, not taken as markup
        assert "1% ≈ $0.0556, 40 tok" in bars and "counted here: 1,800 tokens, $2.50" in bars
        rows = cells(screen.query_one("#quota-past"))
        assert rows == [["5h", "2026-12-04 06:00", "2026-12-04 11:00", "97%", "no", "4,200", "$5.00", "$0.05"]]
        assert not screen.query_one("#quota-blocks").display


async def test_quota_screen_past_windows_fit_80_columns(tmp_path):
    """At 80×24 the past windows leave out their start (the reset less the window) and this store's tokens; the
    rest fits, no sideways scroll; at 160×48 every column is back."""
    from tests.tui_helpers import SIZE, settle, tables_scrolled_sideways

    app = await _quota_app(tmp_path, SNAPS)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("7")
        await settle(app, pilot)
        past = app.screen.query_one("#quota-past")
        assert past.display and tables_scrolled_sideways(app) == []
        assert past.shown_columns == ["window", "end", "peak", "hit", "cost", "per"]
        assert [str(c) for c in past.get_row_at(0)] == ["5h", "2026-12-04 11:00", "97%", "no", "$5.00", "$0.05"]
        await pilot.resize_terminal(*SIZE)
        await settle(app, pilot)
        assert past.shown_columns == [k for k, _label in past._all_columns]


async def test_quota_screen_without_snapshots_says_so_and_shows_blocks(tmp_path):
    from tests.tui_helpers import SIZE, cells, settle

    app = await _quota_app(tmp_path, [])
    with app.store.engine.begin() as conn:  # a model name with markup in it
        conn.execute(text("UPDATE tasks SET model = 'claude-[b]x[/b]' WHERE id = 't0'"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("7")
        await settle(app, pilot)
        screen = app.screen
        assert "No quota snapshot is stored" in str(screen.query_one("#quota-note").render())
        rows = cells(screen.query_one("#quota-blocks"))
        assert any("[b]x[/b]" in r[-1] for r in rows)
        assert "[b]x[/b]" in app.export_screenshot()  # painted as text, not taken as markup
        assert len(rows) == len(_blocks_reference([t[0] for t in TASKS if t[5] != "local" and "claude" in t[1]]))
        assert not screen.query_one("#quota-bars").display


async def test_quota_screen_with_no_recent_task_says_why_the_blocks_are_empty(tmp_path):
    """Every task older than the 35 days the blocks look back: the empty table comes with a sentence saying why,
    at 160x48 (the note) and at 80x24 (its one-line form)."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from tests.tui_helpers import SIZE, settle

    store = _store(tmp_path)
    _fill(store, TASKS, [])
    settings = load_settings(home=str(tmp_path / "home"), db=f"sqlite:///{tmp_path / 'insights.db'}", claude_dirs=())
    for size, note in ((SIZE, "#quota-note"), ((80, 24), "#quota-note-short")):
        app = NexusApp(settings, store, None, now_ms=NOW + 60 * 24 * H, tz="UTC")
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("7")
            await settle(app, pilot)
            screen = app.screen
            assert screen.shown["estimate"]["blocks"] == []
            shown = screen.query_one(note)
            assert shown.display and shown.region.height > 0
            assert "no task of an Anthropic model in the last 35 days" in str(shown.render()), str(shown.render())
    store.close()


# ---------------------------------------------------------------- alerts (pure state machine, fake clock)
from nexus_tui.core.alerts import AlertState, clean_thresholds  # noqa: E402


def _fired(alerts):
    return [(a.name, a.threshold) for a in alerts]


def test_alerts_once_per_threshold_per_window_period():
    st = AlertState()
    r1, r2 = T0, T0 + 5 * H
    seen = []
    clock = r1 - 4 * H
    for used in (50, 79.9, 80, 85, 89, 91, 95, 100, 100):  # one snapshot an 20 minutes, rising
        clock += 20 * 60_000
        seen.append(_fired(st.quota([_snap("five_hour", used, r1, clock)], clock)))
    assert [s for s in seen if s] == [[("five_hour", 80.0)], [("five_hour", 90.0)], [("five_hour", 100.0)]]
    # a reset between two snapshots: the next period starts afresh
    a = st.quota([_snap("five_hour", 100, r1, r1 - 60_000), _snap("five_hour", 82, r2, r1 + 2 * H)], r1 + 2 * H)
    assert _fired(a) == [("five_hour", 80.0)] and a[0].resets_at_ms == r2
    # a late snapshot of the old period (out of order) raises nothing, nor does the same one again
    assert st.quota([_snap("five_hour", 99, r1, r1 - 2 * 60_000)], r1 + 2 * H + 1) == []
    assert st.quota([_snap("five_hour", 82, r2, r1 + 2 * H)], r1 + 2 * H + 2) == []
    # a jump over two thresholds is one alert (the highest), both remembered
    b = st.quota([_snap("five_hour", 95, r2 + 60_000, r1 + 3 * H)], r1 + 3 * H)  # reset jitters: same period
    assert _fired(b) == [("five_hour", 90.0)]
    assert st.quota([_snap("five_hour", 96, r2, r1 + 3 * H + 1)], r1 + 3 * H + 1) == []


def test_alerts_out_of_order_arrival_gives_the_same_alerts():
    r1 = T0
    snaps = [_snap("seven_day", u, r1, r1 - (10 - i) * H) for i, u in enumerate((70, 81, 85, 92, 99))]
    st1 = AlertState()
    assert _fired(st1.quota(snaps, r1 - H)) == [("seven_day", 90.0)]
    st2 = AlertState()
    got = []
    for s in reversed(snaps):  # the newest first, then the older ones trickle in
        got += st2.quota([s], r1 - H)
    assert _fired(got) == [("seven_day", 90.0)] and st2.raised == st1.raised
    # after the reset nothing is raised for the old period
    assert AlertState().quota(snaps, r1 + 1) == []


def test_budget_alerts_per_day_and_state_round_trip():
    st = AlertState(clean_thresholds([50, 100]))
    assert st.budget("daily", 1.0, 4.0, "2026-12-04", T0) == []
    assert _fired(st.budget("daily", 2.0, 4.0, "2026-12-04", T0)) == [("daily", 50.0)]
    assert st.budget("daily", 3.0, 4.0, "2026-12-04", T0) == []
    again = AlertState.loads(st.dumps(), st.thresholds)
    assert again.budget("daily", 3.9, 4.0, "2026-12-04", T0) == []
    a = again.budget("daily", 4.5, 4.0, "2026-12-04", T0)
    assert _fired(a) == [("daily", 100.0)] and json.loads(a[0].to_json())["spent_usd"] == 4.5
    assert _fired(again.budget("daily", 2.5, 4.0, "2026-12-05", T0)) == [("daily", 50.0)]  # a new day
    assert again.budget("daily", 9.0, 4.0, "2026-12-04", T0) == []  # an earlier day, late
    assert again.budget("monthly", 5.0, None, "2026-12", T0) == []  # no budget: never
    assert clean_thresholds("80") == (80.0, 90.0, 100.0) and clean_thresholds([True]) == (80.0, 90.0, 100.0)
    assert AlertState.loads("{not json").raised == {}
    assert AlertState.loads('{"raised": {"quota|x|": ["a", []]}}').raised == {}


# ---------------------------------------------------------------- alerts delivered (daemon, app), status bar, Costs
def _home_with(tmp_path, toml: str):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "insights.toml").write_text(toml)
    return home


def test_collect_daemon_raises_each_alert_once_with_command_and_desktop(tmp_path, monkeypatch, capsys):
    import os
    import time as _time

    from nexus_tui import daemon
    from nexus_tui.config import load_settings

    now_ms = int(_time.time() * 1000)
    out = tmp_path / "alerts.jsonl"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "notify-send"  # a notifier found on PATH, as the real one would be
    log = tmp_path / "desktop.txt"
    fake.write_text(f"#!/bin/sh\nprintf '%s|' \"$@\" >> {log}\necho >> {log}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    home = _home_with(tmp_path, f'[alerts]\nthresholds = [80, 90, 100]\ncommand = "cat >> {out}"\n'
                                '[budget]\ndaily_usd = 1.0\n')
    settings = load_settings(home=str(home), db=f"sqlite:///{tmp_path / 'insights.db'}", claude_dirs=(),
                             lunaroute_dirs=[str(tmp_path / "none")])
    store = _store(tmp_path)
    reset = now_ms + 2 * H
    _fill(store, [(now_ms - 60_000, "claude-opus-4-6", 10, 10, 0.85, "cloud")],
          [("five_hour", 0.92, reset, now_ms - 1000, "statusline")])
    assert daemon.run(settings, store, once=True) == 0
    assert daemon.run(settings, store, once=True) == 0  # a second pass (or process): nothing raised again
    printed = [line for line in capsys.readouterr().out.splitlines() if "ALERT" in line]
    assert len(printed) == 2 and "5h quota at 92% (≥ 90%)" in printed[0] and "daily budget at 85%" in printed[1]
    got = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda g: g["kind"] != "quota")
    assert [(g["kind"], g["name"], g["threshold"]) for g in got] == [("quota", "five_hour", 90.0),
                                                                   ("budget", "daily", 80.0)]
    assert got[0]["value_pct"] == pytest.approx(92.0) and got[0]["resets_at_ms"] == reset
    assert got[1]["spent_usd"] == pytest.approx(0.85) and got[1]["budget_usd"] == 1.0
    for _ in range(50):  # the notifier runs detached
        if (tmp_path / "desktop.txt").exists() and len((tmp_path / "desktop.txt").read_text().splitlines()) == 2:
            break
        _time.sleep(0.1)
    lines = (tmp_path / "desktop.txt").read_text().splitlines()
    assert len(lines) == 2 and "5h quota at 92%" in lines[0]
    store.close()


async def test_app_alerts_status_bar_and_costs_card(tmp_path):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from tests.tui_helpers import SIZE, settle

    home = _home_with(tmp_path, "[alerts]\ndesktop = false\n")
    store = _store(tmp_path)
    _fill(store, TASKS, SNAPS[:1] + SNAPS[2:] + [("five_hour", 0.83, T0, NOW - 5, "statusline")])  # 83 % now
    settings = load_settings(home=str(home), db=f"sqlite:///{tmp_path / 'insights.db'}", claude_dirs=())
    app = NexusApp(settings, store, None, now_ms=NOW, tz="UTC")
    notes = []
    app.notify = lambda msg, **kw: notes.append((msg, kw))  # the in-app notification
    bells = []
    app.bell = lambda: bells.append(1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await app.workers.wait_for_complete()
        await settle(app, pilot)
        assert app.quota_5h == (83.0, T0)
        assert " · 5h 83% ↻2h 00m" in app.status_line()
        assert [n[0] for n in notes if n[1].get("title") == "Alert"] == [
            "nexus-insights: 5h quota at 83% (≥ 80%); resets at 2026-12-04T16:00:00Z"]
        assert bells == [1]
        await pilot.press("3")
        await settle(app, pilot)
        from textual.content import Content

        tile = Content.from_markup(str(app.screen.query_one("#kpi-day").content)).plain
        assert "5h quota 83% used, resets in 2h 00m" in tile


def test_nothing_counted_in_a_window_is_unknown_cost_not_zero(tmp_path):
    store = _store(tmp_path)
    _fill(store, [], SNAPS)
    obj = json.loads(render_quota(store.engine, Filters(), None, "json", now_ms=NOW))
    w5 = obj["windows"][0]
    assert (w5["tokens"], w5["cost_per_pct_usd"], w5["tokens_per_pct"]) == (0, None, None)
    store.close()


def test_full_at_the_reset_itself_is_not_before_it():
    p = CQ.pace("five_hour", 100.0, T0, T0)
    assert p.full_at_ms is None and not p.will_hit_limit and p.remaining_ms == 0
    assert CQ.pace("five_hour", 100.0, T0, T0 - 1).full_at_ms == T0 - 1


def test_end_to_end_statusline_then_headless_quota(tmp_path):
    """The real commands: Claude Code's input piped into `nexus-insights statusline`, then `--headless quota`
    (with its ingest pass) reports the window, a proxy's model-specific weekly window beside it."""
    import subprocess
    import sys
    import time as _time

    home = tmp_path / "home"
    now = int(_time.time())
    sub = json.loads((SAMPLES / "subscriber.json").read_bytes())
    sub["rate_limits"]["five_hour"]["resets_at"] = now + 2 * 3600
    sub["rate_limits"]["seven_day"]["resets_at"] = now + 3 * 86400
    env = {**__import__("os").environ, "NO_COLOR": "1"}
    exe = str(Path(sys.executable).with_name("nexus-insights"))  # the installed command (entry.py)
    r = subprocess.run([exe, "statusline", "--home", str(home)],
                       input=json.dumps(sub).encode(), capture_output=True, env=env, timeout=60)
    assert r.returncode == 0 and b"5h 63%" in r.stdout
    proxy_ev = {"v": 1, "type": "proxy_request", "ts": _iso(now * 1000), "id": "req_1", "session_id": "s9",
                "route": "anthropic", "routing": "cloud", "http_status": 200, "model": "claude-opus-4-6",
                "quota": [{"window": "7d_opus", "used_fraction": 0.5, "resets_at_ms": (now + 86400) * 1000}]}
    with open(home / "logs" / (_time.strftime("%Y-%m-%d", _time.gmtime(now)) + ".jsonl"), "a") as f:
        f.write(json.dumps(proxy_ev) + "\n")
    r = subprocess.run([exe, "--home", str(home), "--headless", "quota", "--format", "json"], capture_output=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    got = {w["window"]: w for w in obj["windows"]}
    assert list(got) == ["five_hour", "seven_day", "seven_day_opus"]
    w5 = got["five_hour"]
    assert (w5["used_percentage"], w5["source"]) == (63.0, "statusline")
    assert w5["resets_at"] == _iso((now + 2 * 3600) * 1000)[:-5] + "Z"
    # observed within the run: 3 h of 5 gone, so pace ≈ 63 / 60 and the projection ≈ 105 %
    assert w5["pace"] == pytest.approx(63 / 60, rel=0.01) and w5["projected_percentage"] == pytest.approx(105, rel=0.01)
    assert w5["will_hit_limit"] is True
    assert (got["seven_day_opus"]["used_percentage"], got["seven_day_opus"]["source"]) == (50.0, "proxy")
