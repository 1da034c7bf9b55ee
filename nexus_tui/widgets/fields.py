"""Header lines of "label value" pairs (a task's time, model, source, ...) that wrap between pairs, never between a
label and its value: at 80 columns "Source" is not left at a line's end with "transcript" on the next.

Values are plain text (``rich.text.Text``, never parsed as markup), so a value from the data shows as written; control
and bidi characters in it show as visible escapes (``core.report.safe``; a line break too: a header value is one line)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from nexus_tui.core.report import safe

SEP = "   "


def pair(label: str, value=None, style: str = "") -> Text:
    """``label value``, the label bold; ``value`` a str (plain text, styled ``style``), a Text, or None (the label
    alone)."""
    t = Text(label, style="bold")
    if value is None:
        return t
    t.append(" ")
    if isinstance(value, Text):
        t.append_text(value)
    else:
        s = str(value)
        t.append(s if s.isprintable() else safe(s), style=style)
    return t


class Fields:
    """Lines of pairs. Rendered at the width given: a line that does not fit breaks before the pair that would cross
    the edge (a pair wider than the whole line wraps inside itself, as text does)."""

    def __init__(self, lines: list[list[Text]]) -> None:
        self.lines = [[p for p in line if p is not None] for line in lines]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, options.max_width)
        for pairs in self.lines:
            line = Text()
            for p in pairs:
                if line.cell_len and line.cell_len + len(SEP) + p.cell_len > width:
                    yield line
                    line = Text()
                if line.cell_len:
                    line.append(SEP)
                line.append_text(p)
            yield line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest_pair = max((p.cell_len for pairs in self.lines for p in pairs), default=0)
        whole = max((Text(SEP).join(pairs).cell_len for pairs in self.lines), default=0)
        return Measurement(min(widest_pair, options.max_width), min(whole, options.max_width))

    @property
    def plain(self) -> str:
        """The lines unwrapped, as plain text."""
        return "\n".join(SEP.join(p.plain for p in pairs) for pairs in self.lines)

    def __str__(self) -> str:
        return self.plain
