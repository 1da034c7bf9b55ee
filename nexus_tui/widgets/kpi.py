"""KPI tiles: a row of small boxes, each a title, a big value and a line of detail."""

from __future__ import annotations

from nexus_tui.widgets.safe import escape
from textual.containers import Horizontal
from textual.widgets import Static


class KpiTile(Static):
    """One figure with its title and a detail line; ``level`` colours the border (ok, warning, error)."""

    DEFAULT_CSS = """
    KpiTile { width: 1fr; height: auto; min-height: 5; border: round $panel-lighten-2; padding: 0 1; }
    KpiTile.-warning { border: round $warning; }
    KpiTile.-error { border: round $error; }
    KpiTile.-ok { border: round $success; }
    """

    def __init__(self, title: str = "", **kw) -> None:
        super().__init__("", **kw)
        self.border_title = title

    def set(self, value: str, detail: str = "", level: str | None = None, title: str | None = None) -> None:
        if title is not None:
            self.border_title = title
        self.update(f"[b]{escape(value)}[/b]\n[dim]{escape(detail)}[/dim]")
        for name in ("ok", "warning", "error"):
            self.set_class(level == name, f"-{name}")


class KpiRow(Horizontal):
    """A row of tiles that takes only the height its tiles need."""

    DEFAULT_CSS = """
    KpiRow { height: auto; }
    """
