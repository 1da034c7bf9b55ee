"""KPI tiles: a row of small boxes, each a title, a big value and lines of detail.

A line longer than the tile wraps, so nothing is cut where there is room. On a short terminal the tiles keep the
value and the first detail line, each line one line cut with … (``Screen.-short KpiTile`` in nexus.tcss): most
important first.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Static


class KpiTile(Static):
    """One figure with its title and detail lines; ``level`` colours the border (ok, warning, error)."""

    DEFAULT_CSS = """
    KpiTile { width: 1fr; height: auto; min-height: 5; border: round $panel-lighten-2; padding: 0 1;
              text-wrap: wrap; text-overflow: ellipsis; }
    KpiTile:light { border: round $panel-darken-2; }  /* $panel-lighten-2 is white on a light theme */
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
        self.update(kpi_text(value, detail))
        for name in ("ok", "warning", "error"):
            self.set_class(level == name, f"-{name}")


def kpi_text(value: str, detail: str = "") -> Text:
    """The tile's content: the value in bold, then each line of ``detail`` dim (wrapped or cut by the tile's CSS)."""
    out = Text(str(value), style="bold", end="")
    for line in str(detail).splitlines():
        out.append("\n")
        out.append(line, style="dim")
    return out


class KpiRow(Horizontal):
    """A row of tiles that takes only the height its tiles need."""

    DEFAULT_CSS = """
    KpiRow { height: auto; }
    """
