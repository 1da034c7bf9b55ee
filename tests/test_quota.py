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


def test_statusline_events_become_snapshots_and_session_stats(tmp_path):
    home = tmp_path / "home"
    sub = json.loads((SAMPLES / "subscriber.json").read_bytes())
    _feed(home, json.dumps(sub).encode())
    later = json.loads(json.dumps(sub))
    later["rate_limits"]["five_hour"]["used_percentage"] = 70.5
    later["cost"]["total_cost_usd"] = 4.0
    later["cost"]["total_lines_added"] = 300
    _feed(home, json.dumps(later).encode())
    _feed(home, (SAMPLES / "api_key_user.json").read_bytes())  # no rate_limits: no snapshot, quietly
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
