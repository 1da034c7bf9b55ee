"""Efficiency's second measure (issue 12 §6): lines changed (Claude Code's status line) per dollar and per million
tokens, on the screen and in the headless efficiency report, against numbers computed here from the fixture rows and
the constructed status-line sample (fed through the real `statusline` command and ingested by the collector)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text

from nexus_tui.core.filters import Filters
from nexus_tui.core.scoring import line_rates
from nexus_tui.headless import EFFICIENCY_FIELDS, render
from tests.test_quota import NOW, SAMPLES, TASKS, _feed, _fill, _ingest, _store

S2_TASKS = [(NOW - 3_600_000, "claude-sonnet-4-5", 4000, 1000, 0.75)]  # a second session, no status line


def _setup(tmp_path):
    store = _store(tmp_path)
    _fill(store, TASKS, [])
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO sessions (id, start_time, start_ms) VALUES ('s2', 'x', :m)"), {"m": NOW - 5e6})
        for i, (ts, model, tin, tout, cost) in enumerate(S2_TASKS):
            conn.execute(text("INSERT INTO tasks (id, session_id, timestamp, ts_ms, source, model, routing, tokens_in, "
                              "tokens_out, cache_read_tokens, cache_creation_tokens, cost_usd, status) VALUES "
                              "(:i, 's2', 'x', :ts, 'manual', :m, 'cloud', :a, :b, 0, 0, :c, 'ok')"),
                         {"i": f"u{i}", "ts": ts, "m": model, "a": tin, "b": tout, "c": cost})
        for i, (sid, tool, ok) in enumerate([("s1", "Edit", 1), ("s1", "Write", 1), ("s1", "Read", 1),
                                             ("s1", "Edit", 0), ("s2", "Edit", 1)]):
            conn.execute(text("INSERT INTO tool_calls (id, session_id, tool_name, started_ms, ended_ms, latency_ms, "
                              "success) VALUES (:i, :s, :t, :m, :m, 0, :ok)"),
                         {"i": f"tc{i}", "s": sid, "t": tool, "m": NOW - 3_000_000 + i, "ok": ok})
        from nexus_tui.store.rollup import rebuild

        rebuild(conn)
    home = tmp_path / "home"
    sample = json.loads((SAMPLES / "subscriber.json").read_bytes())
    sample["session_id"] = "s1"  # the sample's lines, reported for the fixture's session s1
    _feed(home, json.dumps(sample).encode())
    _ingest(store, home)
    c = sample["cost"]
    return store, c["total_lines_added"], c["total_lines_removed"]


def _expected(added, removed):
    """Independently: s1's tokens and cost are the sums of its fixture tasks (every TASKS row is in s1)."""
    tokens = sum(t[2] + t[3] for t in TASKS)
    cost = sum(t[4] for t in TASKS)
    lines = added + removed
    return lines, tokens, cost, lines / cost, lines * 1e6 / tokens


def test_line_rates_unknown_and_undefined():
    from dataclasses import astuple

    assert astuple(line_rates(None, None, 2.0, 1000)) == (None, None, None)
    assert astuple(line_rates(10, None, 0.0, 0)) == (10, None, None)  # no cost, no tokens: undefined, not infinite
    assert astuple(line_rates(30, 10, 2.0, 4_000_000)) == (40, 20.0, 10.0)


def test_headless_efficiency_lines_json_csv_text(tmp_path):
    store, added, removed = _setup(tmp_path)
    assert (added, removed) == (214, 57)  # the constructed sample
    lines, tokens, cost, per_usd, per_mtok = _expected(added, removed)
    doc = json.loads(render("efficiency", store.engine, Filters(), None, "json"))
    assert (doc["schema_version"], doc["report"], doc["cost_mode"]) == (2, "efficiency", "auto")
    rows = {r["session_id"]: r for r in doc["efficiency"]}
    s1, s2 = rows["s1"], rows["s2"]
    assert (s1["lines_added"], s1["lines_removed"]) == (214, 57)
    assert (s1["total_tokens"], s1["cost_usd"]) == (tokens, pytest.approx(cost))
    assert s1["lines_per_usd"] == pytest.approx(per_usd, abs=1e-4)
    assert s1["lines_per_mtok"] == pytest.approx(per_mtok, abs=1e-4)
    assert s1["file_changes"] == 2 and s2["file_changes"] == 1  # successful Edit/Write only
    assert (s2["lines_added"], s2["lines_per_usd"], s2["lines_per_mtok"]) == (None, None, None)
    t = doc["totals"]
    assert (t["line_sessions"], t["lines_added"], t["lines_removed"]) == (1, 214, 57)
    assert t["lines_per_usd"] == pytest.approx(per_usd, abs=1e-4)  # only the sessions that reported lines
    assert t["sessions"] == 2 and t["total_tokens"] == tokens + sum(x[2] + x[3] for x in S2_TASKS)
    # CSV: the same rows and fields; unknown is empty
    got = list(csv.DictReader(io.StringIO(render("efficiency", store.engine, Filters(), None, "csv"))))
    assert list(got[0]) == EFFICIENCY_FIELDS
    by = {r["session_id"]: r for r in got}
    assert float(by["s1"]["lines_per_usd"]) == pytest.approx(per_usd, abs=1e-4)
    assert by["s2"]["lines_per_usd"] == "" and by["s2"]["lines_added"] == ""
    txt = render("efficiency", store.engine, Filters(), None, "text")
    assert f"{lines:,} (+214 -57) in 1 session" in txt and f"{per_usd:,.1f} per $" in txt
    assert f"{per_mtok:,.1f} per million tokens" in txt
    store.close()


async def test_efficiency_screen_shows_lines_per_dollar_and_per_mtok(tmp_path):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.screens.efficiency import fmt_rate
    from tests.tui_helpers import cells, settle

    store, added, removed = _setup(tmp_path)
    lines, _tokens, _cost, per_usd, per_mtok = _expected(added, removed)
    settings = load_settings(home=str(tmp_path / "home"), db=f"sqlite:///{tmp_path / 'insights.db'}", claude_dirs=())
    app = NexusApp(settings, store, None, now_ms=NOW, tz="UTC")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await settle(app, pilot)
        table = app.screen.query_one("#sessions")
        cols = [str(c.label) for c in table.columns.values()]
        rows = {r[0]: dict(zip(cols, r)) for r in cells(table)}
        assert rows["s1"]["Lines/$"] == fmt_rate(per_usd) == f"{per_usd:,.0f}"
        assert rows["s1"]["Lines/Mtok"] == fmt_rate(per_mtok)
        assert rows["s2"]["Lines/$"] == "—" and rows["s2"]["Lines/Mtok"] == "—"
        tile = str(app.screen.query_one("#kpi-lines").render())
        assert fmt_rate(per_usd) in tile and f"{fmt_rate(per_mtok)} per Mtok" in tile
        assert f"{lines} lines, 1 session" in tile


async def test_efficiency_screen_says_why_lines_per_dollar_is_unknown_and_the_trend_is_empty(tmp_path):
    """At 80x24 the Lines/$ tile is hidden and the table showed '—' with no word of why; a range without a useful
    change showed an empty chart frame. The caption says why (no status line reported the session's lines) and the
    chart's title says there was no useful change in the range."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from tests.tui_helpers import settle

    store, _added, _removed = _setup(tmp_path)  # s2: no status line
    bare = _store(tmp_path / "bare")  # tasks, no file-changing call
    _fill(bare, TASKS, [])
    settings = load_settings(home=str(tmp_path / "home"), db=f"sqlite:///{tmp_path / 'insights.db'}", claude_dirs=())
    for st, size in ((store, (80, 24)), (store, (160, 48)), (bare, (80, 24))):
        app = NexusApp(settings, st, None, now_ms=NOW, tz="UTC")
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("4")
            await settle(app, pilot)
            caption = str(app.screen.query_one("#caption").render())
            title = app.screen.query_one("#trend")._data[-1]
            if st is store:
                assert "Lines/$ and Lines/Mtok —: no status line reported the session's lines" in caption, caption
                assert app.screen.query_one("#caption").region.height >= 3  # the note is on screen, not cut
            else:
                assert "no useful change in this range" in title, title
                assert "Lines/$ and Lines/Mtok —" not in caption  # no session with a change: no row, no note
