"""Values of another type in the SQLite database (SQLite keeps any value in any column: a row another program wrote,
a hand edit, a damaged copy): the text 'lots' in tokens_in, bytes as a latency, a cost of 1e308, a negative count.
Session detail ended the dashboard with a traceback (int('lots') while laying the task table out), and the
requests and conversations reports printed one, and the rollups' upkeep (opening such a database) stopped on a
text that SQLite's MAX ranks above every number. Every screen, detail and report now shows what it can (a value
that is not a number as unknown) and goes on."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from sqlalchemy import text

from tests.tui_helpers import SIZE, demo_app, demo_db, settle


def _spoil(db) -> str:
    """Odd values in the demo database's tasks and tool calls of one session; that session's id."""
    c = sqlite3.connect(db)
    sid = c.execute("SELECT session_id FROM tasks GROUP BY session_id ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    ids = [r[0] for r in c.execute("SELECT id FROM tasks WHERE session_id = ? ORDER BY ts_ms LIMIT 6", (sid,))]
    for col, value, tid in (("tokens_in", "lots", ids[0]), ("cost_usd", 1e308, ids[1]), ("tokens_out", -5, ids[2]),
                            ("latency_ms", b"\x00\xff", ids[3]), ("latency_ms", "fast", ids[4]),
                            ("cache_read_tokens", 2.5, ids[5]), ("cloud_cost_equivalent", "pricey", ids[0])):
        c.execute(f"UPDATE tasks SET {col} = ? WHERE id = ?", (value, tid))
    calls = [r[0] for r in c.execute("SELECT id FROM tool_calls WHERE session_id = ? LIMIT 3", (sid,))]
    for col, value, cid in (("latency_ms", "slow", calls[0]), ("success", "maybe", calls[1]),
                            ("output_size", -1e300, calls[2])):
        c.execute(f"UPDATE tool_calls SET {col} = ? WHERE id = ?", (value, cid))
    c.commit()
    c.close()
    return sid


async def test_every_screen_and_detail_goes_on_over_values_of_another_type(tmp_path):
    from nexus_tui.screens.session_detail import SessionDetailScreen
    from nexus_tui.screens.task_detail import TaskDetailScreen

    app = demo_app(tmp_path)
    sid = _spoil(app.store.engine.url.database)
    errors = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for key in "23456781":
            await pilot.press(key)
            await settle(app, pilot)
        await app.push_screen(SessionDetailScreen(sid))
        await settle(app, pilot)
        shown = app.screen.query_one("#tasks")
        cells = [str(shown.get_cell_at((r, c))) for r in range(min(6, shown.row_count)) for c in range(6)]
        assert shown.row_count >= 6 and "-" in cells and not [c for c in cells if "lots" in c or "fast" in c]
        with app.store.engine.connect() as conn:
            tasks = [r[0] for r in conn.execute(text("SELECT id FROM tasks WHERE session_id = :s ORDER BY ts_ms "
                                                     "LIMIT 6"), {"s": sid})]
        for tid in tasks:
            await app.push_screen(TaskDetailScreen(tid))
            await settle(app, pilot)
            app.pop_screen()
            await settle(app, pilot)
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert app.is_running
    assert not errors, errors


def test_reports_go_on_over_values_of_another_type(tmp_path):
    db = demo_db(tmp_path)
    sid = _spoil(db)
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"))
    env.pop("NEXUS_INSIGHTS_DB", None)
    for args in (["requests"], ["conversations"], ["audit", "--session", sid], ["sessions"], ["summary"],
                 ["daily"], ["tools"], ["errors"], ["efficiency"]):
        r = subprocess.run([sys.executable, "-m", "nexus_tui", "--db", f"sqlite:///{db}", "--headless", *args,
                            "--no-collect"], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr[-800:])
