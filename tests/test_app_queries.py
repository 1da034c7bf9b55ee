"""Screen queries off the UI thread: a query nobody waits for is interrupted, new collector data waits for a
running query and runs once after it, and results overtaken by a newer query are dropped."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from nexus_tui.screens.base import InsightScreen
from nexus_tui.store import open_store
from nexus_tui.store.cancel import QueryCanceller
from tests.tui_helpers import SIZE, settle

SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) SELECT COUNT(*) FROM c"


def test_cancel_interrupts_a_running_statement_and_refuses_the_next(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    canceller = QueryCanceller(store.engine)
    box = {}

    def run():
        box["ident"] = canceller.start()
        t0 = time.monotonic()
        try:
            with store.engine.connect() as conn:
                conn.execute(text(SLOW)).scalar()
        except OperationalError as e:
            box["error"] = str(e.orig)
        box["seconds"] = time.monotonic() - t0
        try:
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as e:  # noqa: BLE001
            box["next"] = type(e).__name__
        canceller.finish(box["ident"])

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.3)
    canceller.cancel(box["ident"])
    th.join(5)
    assert box["error"] == "interrupted" and box["seconds"] < 2
    assert box["next"] == "QueryCancelled"
    # another thread (say the collector) is never affected, even one reusing the finished thread's id
    canceller.cancel(box["ident"])
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT 2")).scalar() == 2
    canceller.close()
    store.close()


class SlowScreen(InsightScreen):
    """Counts its queries; each one waits until the test lets it go (or runs a long SQLite statement)."""

    TITLE_TEXT = "Slow"

    def __init__(self, gate: threading.Event | None = None, sql: str | None = None) -> None:
        super().__init__()
        self.gate, self.sql = gate, sql
        self.calls = 0
        self.shown: list = []
        self.errors: list = []

    def fetch(self):
        self.calls += 1
        n = self.calls
        if self.sql:
            with self.engine.connect() as conn:
                return conn.execute(text(self.sql)).scalar()
        self.gate.wait(10)
        return n

    def show(self, data) -> None:
        self.shown.append(data)

    def show_error(self, tag, error) -> None:
        self.errors.append(error)


def _app(tmp_path):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings

    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return NexusApp(load_settings(home=str(tmp_path), claude_dirs=()), store, None, tz="UTC")


async def _until(pilot, cond, seconds=5.0):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < seconds, "timed out"
        await pilot.pause(0.02)


async def test_new_data_waits_for_the_running_query_then_runs_once(tmp_path):
    app = _app(tmp_path)
    gate = threading.Event()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = SlowScreen(gate)
        await app.push_screen(screen)
        await _until(pilot, lambda: screen.calls == 1)
        for _ in range(5):  # five collector passes while the first query runs
            screen.data_changed()
            await pilot.pause(0.02)
        assert screen.calls == 1  # nothing piled up
        gate.set()
        await _until(pilot, lambda: screen.shown == [1, 2])
        await pilot.pause(0.2)
        assert screen.calls == 2 and screen.shown == [1, 2]  # exactly one more, after the first


async def test_asking_again_supersedes_and_leaving_interrupts(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = SlowScreen(sql=SLOW)
        await app.push_screen(screen)
        await _until(pilot, lambda: screen.calls == 1)
        await pilot.pause(0.2)
        t0 = time.monotonic()
        screen.refresh_data()  # e.g. the filters changed: the first statement is interrupted, a second starts
        await _until(pilot, lambda: screen.calls == 2)
        await pilot.pause(0.2)
        await app.pop_screen()  # the user left: the second one is interrupted too
        await _until(pilot, lambda: not app.query_canceller._active, 3)
        assert time.monotonic() - t0 < 3
        assert screen.shown == [] and screen.errors == []  # cancelled queries are neither shown nor reported


async def test_a_failing_query_is_reported_and_the_screen_keeps_working(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = SlowScreen(sql="SELECT * FROM no_such_table")
        await app.push_screen(screen)
        await _until(pilot, lambda: screen.errors)
        assert "no_such_table" in str(screen.errors[0])
        screen.sql = "SELECT 42"
        screen.refresh_data()
        await _until(pilot, lambda: screen.shown == [42])


def test_canceller_ignores_threads_it_does_not_know(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    canceller = QueryCanceller(store.engine)
    canceller.cancel(threading.get_ident())  # never started: nothing happens
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    canceller.close()
    store.close()
