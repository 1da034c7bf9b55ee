"""--compact (issue 12 §5): the small live view's numbers against independent sums of the fixture rows; the
light theme's choice (COLORFGBG, --theme, [ui] theme); snapshots of both themes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from nexus_tui.core.theme import background_from_colorfgbg, choose_theme
from tests.test_quota import NOW, SNAPS, T0, TASKS, H, _fill, _store
from tests.tui_helpers import settle


# ---------------------------------------------------------------- the theme's choice (pure)
@pytest.mark.parametrize("value,expected", [
    ("15;0", "dark"), ("0;15", "light"), ("0;7", "light"), ("7;0", "dark"), ("15;default;0", "dark"),
    ("0;default;15", "light"), ("12;8", "dark"), ("0;9", "light"), (" 0 ; 15 ", "light"),
    ("15;default", None), ("", None), (None, None), ("garbage", None), ("0;16", None), ("0;-1", None),
    ("0;1234", None)])
def test_background_from_colorfgbg(value, expected):
    assert background_from_colorfgbg(value) == expected


def test_choose_theme_precedence():
    assert choose_theme(None, "auto", None) == "dark"  # nothing says: dark
    assert choose_theme(None, "auto", "0;15") == "light"
    assert choose_theme(None, "dark", "0;15") == "dark"  # [ui] theme over the terminal
    assert choose_theme("light", "dark", "15;0") == "light"  # --theme over everything
    assert choose_theme(None, "light", "15;0") == "light"


def test_ui_theme_setting_is_checked(tmp_path):
    from nexus_tui.cli import main
    from nexus_tui.config import SettingsError, load_settings

    home = tmp_path / "home"
    home.mkdir()
    (home / "insights.toml").write_text('[ui]\ntheme = "light"\n')
    assert load_settings(home=str(home)).ui_theme == "light"
    assert load_settings(home=str(tmp_path / "other")).ui_theme == "auto"
    (home / "insights.toml").write_text('[ui]\ntheme = "blue"\n')
    with pytest.raises(SettingsError, match=r"\[ui\] theme = 'blue'"):
        load_settings(home=str(home))
    r = CliRunner().invoke(main, ["--home", str(home), "--headless", "summary", "--no-collect"])
    assert r.exit_code == 2 and "[ui] theme" in r.output
    r = CliRunner().invoke(main, ["--theme", "blue"])
    assert r.exit_code == 2 and "--theme" in r.output
    r = CliRunner().invoke(main, ["--home", str(tmp_path / "h2"), "--compact", "--headless", "summary"])
    assert r.exit_code == 2 and "--compact" in r.output


def test_app_takes_the_chosen_theme(tmp_path):
    from nexus_tui.app import CompactApp, NexusApp
    from nexus_tui.config import load_settings

    store = _store(tmp_path)
    settings = load_settings(home=str(tmp_path / "home"), db=f"sqlite:///{tmp_path / 'insights.db'}", claude_dirs=())
    assert NexusApp(settings, store, None, theme="light").theme == "textual-light"
    assert CompactApp(settings, store, None, theme="dark").theme == "textual-dark"
    store.close()


# ---------------------------------------------------------------- the compact view's numbers
STATS = {"session_id": "s1", "context_used_pct": 48.2, "reported_cost_usd": 3.41, "lines_added": 214,
         "lines_removed": 57}


def _compact_app(tmp_path: Path, snaps, stats: dict | None = STATS, budget: float | None = 10.0, theme=None):
    from nexus_tui.app import CompactApp
    from nexus_tui.config import load_settings

    store = _store(tmp_path)
    _fill(store, TASKS, snaps)
    if stats is not None:
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO session_stats (session_id, source, updated_ms, context_used_pct, "
                              "reported_cost_usd, lines_added, lines_removed) VALUES (:session_id, 'statusline', "
                              ":u, :context_used_pct, :reported_cost_usd, :lines_added, :lines_removed)"),
                         {**stats, "u": NOW - 60_000})
    settings = load_settings(home=str(tmp_path / "home"), db=f"sqlite:///{tmp_path / 'insights.db'}", claude_dirs=())
    settings.daily_budget_usd = budget
    return CompactApp(settings, store, None, now_ms=NOW, tz="UTC", theme=theme)



def _plain(app) -> list[str]:
    """The screen's text, row by row (what a terminal shows)."""
    from rich.console import Console

    console = Console(width=app.size.width, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(app.screen._compositor.render_update(full=True))  # noqa: SLF001
    return console.export_text().splitlines()


async def test_compact_on_a_wide_pane(tmp_path):
    from nexus_tui.screens.quota import BAR_WIDTH

    app = _compact_app(tmp_path, SNAPS)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        bars = [ln for ln in _plain(app) if ln.lstrip().startswith(("5h ", "7d "))]
        assert len(bars) == 2 and all(ln.count("█") + ln.count("░") + ln.count("│") == BAR_WIDTH for ln in bars)


async def test_compact_numbers_at_40x12(tmp_path):
    from nexus_tui.screens.compact import CompactScreen

    app = _compact_app(tmp_path, SNAPS)
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(app, pilot)
        scr = app.screen
        assert isinstance(scr, CompactScreen)
        d = scr.shown
        w5, w7 = [w for w in d["windows"] if w["current"]]
        assert (w5["window"], w5["used_percentage"], w7["window"], w7["used_percentage"]) == \
            ("five_hour", 45.0, "seven_day", 20.0)
        assert w5["remaining_ms"] == T0 - NOW
        day0 = NOW - NOW % (24 * H)  # UTC midnight
        assert d["today"] == pytest.approx(sum(t[4] for t in TASKS if day0 <= t[0] <= NOW))
        s = d["session"]
        last_model = max((t for t in TASKS if t[0] <= NOW), key=lambda t: t[0])[1]
        assert (s["session_id"], s["model"], s["context_used_pct"], s["reported_cost_usd"]) == \
            ("s1", last_model, 48.2, 3.41)
        assert s["cost_usd"] == pytest.approx(sum(t[4] for t in TASKS))  # every fixture task is in s1
        screen = "\n".join(_plain(app))
        assert "5h" in screen and " 45%" in screen and "↻2h00m" in screen and "7d" in screen
        assert f"pace {45 / 60:.2f}x → 75% at reset" in screen
        assert "today $" in screen and f"{100 * d['today'] / 10:.0f}%" in screen
        assert "ctx 48%" in screen and "$3.41" in screen
        await pilot.press("q")


async def test_compact_without_snapshot_or_budget_says_so(tmp_path):
    app = _compact_app(tmp_path, [], stats=None, budget=None)
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(app, pilot)
        screen = " ".join(" ".join(_plain(app)).split())
        assert "No quota snapshot stored" in screen and "(no daily budget)" in screen
        assert "ctx —" in screen  # no status-line report of the session: unknown, not 0


def test_compact_cuts_a_long_session_id_and_model_with_an_ellipsis():
    """A 36-character Claude Code session id (and a long model name) in a 40-column pane: cut with "…" to the pane's
    38 cells, never cut off silently ("session 4d5611e5-241a-462a-8d15-512261" looked whole)."""
    from rich.cells import cell_len

    from nexus_tui.screens.compact import compact_text

    sid = "4d5611e5-241a-462a-8d15-5122611a9569"
    model = "vendor/some-very-long-model-name-" + "x" * 30
    data = {"now_ms": NOW, "windows": [], "has_snapshots": False, "today": 1.5, "sessions": 1,
            "session": {"session_id": sid, "model": model, "reported_cost_usd": None, "cost_usd": 2.0,
                        "context_used_pct": None}}
    lines = compact_text(data, 38, None).plain.splitlines()
    assert all(cell_len(x) <= 38 for x in lines[2:]), lines  # (the note above wraps: it is words)
    assert "session 4d5611e5-241a-462a-8d15-51226…" in lines
    shown = next(x for x in lines if x.startswith("  vendor/"))
    assert shown.startswith("  vendor/some-") and "…" in shown and shown.endswith(" · $2.00 · ctx —"), shown
    wide = compact_text(data, 80, None).plain.splitlines()
    assert f"session {sid}" in wide  # whole where it fits


async def test_compact_refreshes_when_rows_arrive(tmp_path):
    from nexus_tui.messages import StoreChanged

    app = _compact_app(tmp_path, [], stats=None)
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(app, pilot)
        assert not app.screen.shown["has_snapshots"]
        with app.store.engine.begin() as conn:
            conn.execute(text("INSERT INTO quota_snapshots (id, observed_ms, observed_at, source, window, "
                              "used_fraction, resets_at_ms) VALUES ('n1', :o, 'x', 'statusline', 'five_hour', "
                              "0.5, :r)"), {"o": NOW - 1000, "r": T0})
        app.post_message(StoreChanged(None, True))  # what the data_version poller posts for another writer
        await settle(app, pilot)
        assert app.screen.shown["has_snapshots"]
        assert [w["used_percentage"] for w in app.screen.shown["windows"]] == [50.0]


# ---------------------------------------------------------------- snapshots of both themes
def _settled():
    async def run(pilot):
        await settle(pilot.app, pilot)
        await pilot.pause(0.2)
        await settle(pilot.app, pilot)
    return run


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_compact_snapshot(snap_compare, tmp_path, theme):
    assert snap_compare(_compact_app(tmp_path, SNAPS, theme=theme), terminal_size=(40, 12), run_before=_settled())


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_sessions_snapshot_theme(snap_compare, tmp_path, theme):
    from tests.tui_helpers import demo_app

    assert snap_compare(demo_app(tmp_path, theme=theme), terminal_size=(80, 24), run_before=_settled())


async def test_compact_says_when_the_window_fills_before_its_reset(tmp_path):
    # 90 % used 3 h into the 5-hour window (NOW = T0 - 2 h): 30 %/h, so 100 % after 10 / 30 h = 20 minutes
    from datetime import UTC, datetime

    app = _compact_app(tmp_path, [("five_hour", 0.90, T0, NOW, "statusline")])
    full = datetime.fromtimestamp((NOW + 20 * 60_000) / 1000, UTC).strftime("%H:%M")
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(app, pilot)
        screen = "\n".join(_plain(app))
        assert f"pace 1.50x → 100% at {full}" in screen and " 90% ↻2h00m" in screen


def test_costs_snapshot_light(snap_compare, tmp_path):
    """Tiles, tables and the burn chart on the light theme (the chart's palette follows the theme)."""
    from tests.tui_helpers import demo_app

    async def run(pilot):
        await settle(pilot.app, pilot)
        await pilot.press("3")
        await _settled()(pilot)

    assert snap_compare(demo_app(tmp_path, theme="light"), terminal_size=(80, 24), run_before=run)
