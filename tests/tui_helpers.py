"""Build the real app over a copy of the demo database (or any store) for pilot and snapshot tests."""

from __future__ import annotations

from pathlib import Path

from nexus_tui.app import NexusApp
from nexus_tui.config import load_settings
from nexus_tui.demo import demo_copy, demo_now
from nexus_tui.store import open_store

SIZE = (160, 48)


def demo_db(tmp: Path) -> Path:
    """A copy of the bundled demo database, made the way ``--demo`` makes it (transcripts included)."""
    return demo_copy(tmp / "demo-home")


def demo_app(tmp: Path, **kw) -> NexusApp:
    store = open_store(f"sqlite:///{demo_db(tmp)}")
    settings = load_settings(home=str(tmp / "home"), claude_dirs=())
    settings.daily_budget_usd, settings.monthly_budget_usd = 4.0, 100.0
    return NexusApp(settings, store, None, now_ms=demo_now(store), tz="UTC", demo=True, **kw)


async def settle(app, pilot, rounds: int = 2) -> None:
    """Let queued messages run and every data-loading worker finish."""
    for _ in range(rounds):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def cells(table) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def tables_scrolled_sideways(app) -> list[tuple[str, int, int]]:
    """Every table on screen whose columns do not fit its width (it would scroll sideways, cutting the last column
    off mid-word): (id, cells the columns need, cells there are). Empty when every table fits."""
    from nexus_tui.widgets.keyed_table import KeyedTable

    return [(t.id, t.virtual_size.width, t.scrollable_content_region.width) for t in app.screen.query(KeyedTable)
            if t.display and t.region.width and t.max_scroll_x > 0]
