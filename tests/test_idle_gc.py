"""The real command's full garbage collections run while nobody waits for the screen (NexusApp._start_idle_gc,
docs/performance.md "Dashboard"): Python starts none by itself; one runs once no key has come for a moment and no
query is running, or once enough young collections have piled up whatever the activity; what survives is frozen;
a long pause walks everything again; the app leaves Python's settings as it found them."""

from __future__ import annotations

import gc
import time

from nexus_tui import app as app_module
from tests.tui_helpers import SIZE, demo_app, settle


async def test_full_collections_wait_for_a_quiet_moment(tmp_path, monkeypatch):
    outside = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's defaults, whatever an earlier test in this process left
    before = gc.get_threshold()
    app = demo_app(tmp_path, prebuild=True)
    collected = []
    real_collect = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(time.monotonic()) or real_collect(*a))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert gc.get_threshold()[2] == app_module.GC_NO_AUTO_FULL and gc.get_freeze_count() > 0
        real_collect()  # nothing piled up before this test's own objects (fewer than GC_FORCE_AFTER)
        collected.clear()  # (the app's own timer may have collected while it settled; no await from here on)
        garbage = []
        for _ in range(20_000):  # young collections with survivors
            garbage.append([[]])
        del garbage
        assert 1 <= gc.get_count()[2] < app_module.GC_FORCE_AFTER

        app._last_input = time.monotonic()  # a key just came: no full collection
        app._last_full_gc = 0.0
        app._collect_when_idle()
        assert collected == []
        app._last_input = time.monotonic() - 1.0  # quiet, but the screen waits for a query
        app.screen._q_running["main"] = 1
        app._collect_when_idle()
        assert collected == []
        del app.screen._q_running["main"]
        frozen = gc.get_freeze_count()
        app._collect_when_idle()  # quiet, nothing running: one full collection, the survivors frozen
        assert len(collected) == 1 and gc.get_count()[2] == 0 and gc.get_freeze_count() >= frozen
        app._collect_when_idle()  # nothing promoted since: nothing to do
        assert len(collected) == 1

        monkeypatch.setattr(gc, "get_count", lambda: (0, 0, app_module.GC_FORCE_AFTER))
        app._last_input = time.monotonic()  # busy, but too much has piled up: collected anyway
        app._collect_when_idle()
        assert len(collected) == 2
        monkeypatch.undo()  # (gc.get_count and gc.collect as they were)
        monkeypatch.setattr(gc, "collect", lambda *a: collected.append(time.monotonic()) or real_collect(*a))

        app._thaw_above = 0  # a long pause with the frozen objects grown: everything walked once, then frozen
        app._next_thaw_check = 0.0  # (the app's own timer may have looked while it settled)
        app._last_input = time.monotonic() - app_module.GC_THAW_IDLE_SECONDS - 1
        app._collect_when_idle()
        assert len(collected) == 3 and app._thaw_above == gc.get_freeze_count() * 3 // 2 > 0

        # a long pause goes on: the timer's checks (every GC_CHECK_SECONDS) count the frozen objects once per
        # GC_THAW_CHECK_SECONDS, not each time (the count walks them all: idle, the app used a fifth of a CPU)
        counted = []
        real_count = gc.get_freeze_count
        monkeypatch.setattr(gc, "get_freeze_count", lambda: counted.append(1) or real_count())
        for _ in range(100):
            app._collect_when_idle()
        assert len(counted) == 0 and len(collected) == 3
        app._next_thaw_check = time.monotonic() - 1  # the next look is due: one count, nothing grew, no collection
        for _ in range(100):
            app._collect_when_idle()
        assert len(counted) == 1 and len(collected) == 3
        monkeypatch.setattr(gc, "get_freeze_count", real_count)
    after = gc.get_threshold(), gc.get_freeze_count()
    gc.set_threshold(*outside)
    assert after == (before, 0)


async def test_tests_and_the_compact_view_keep_pythons_collection(tmp_path):
    before = gc.get_threshold()
    app = demo_app(tmp_path)  # prebuild off, as in the tests and --compact
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert gc.get_threshold() == before and app._gc_thresholds is None
