"""Header lines of "label value" pairs (a task's time, model, source, ...) that wrap between pairs, never between a
label and its value: at 80 columns "Source" is not left at a line's end with "transcript" on the next.

Values are plain text (``rich.text.Text``, never parsed as markup), so a value from the data shows as written; control
and bidi characters in it show as visible escapes (``core.report.safe``; a line break too: a header value is one line)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from nexus_tui.core.report import clip_cells, safe

SEP = "   "
FIELD_CELLS = 100


class Pair(Text):
    """A pair's text; ``value`` is its part after the label (what wraps under itself when the pair is too wide)."""

    value: Text | None = None
    indent: int = 0


def pair(label: str, value=None, style: str = "", limit: int = FIELD_CELLS) -> Pair:
    """``label value``, the label bold; ``value`` a str (plain text, styled ``style``, cut to ``limit`` cells with
    "…": a 3,000-character id would fill 80×24), a Text, or None (the label alone)."""
    t = Pair(label, style="bold")
    if value is None:
        return t
    if isinstance(value, Text):
        v = value.copy()
    else:
        s = str(value)
        v = Text(clip_cells(safe(s), limit), style=style)
    t.append(" ")
    t.indent = t.cell_len
    t.append_text(v)
    t.value = v
    return t


def _hanging(console: Console, p: Text, width: int) -> list[Text]:
    """A pair wider than the line: its value wrapped in the room beside its label, the label's width kept free on
    the lines below (a long title or path reads as one block); a label too wide for that wraps as text."""
    value, indent = getattr(p, "value", None), getattr(p, "indent", 0)
    if value is None or indent > width // 2:
        return list(p.wrap(console, width))
    out = []
    for i, part in enumerate(value.wrap(console, width - indent)):
        line = p[:indent] if i == 0 else Text(" " * indent)
        line.append_text(part)
        out.append(line)
    return out


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
                if not line.cell_len and p.cell_len > width:  # alone and still too wide
                    *whole, last = _hanging(console, p, width)
                    yield from whole
                    line = last
                    continue
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
