"""Numbers for reading (pure): counts with their noun, durations with days, money with one precision per column.

Shared by the screens and the headless reports; ``core/report.py`` keeps its own ``fmt_*`` for report rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

def ellipsis(text: str, n: int) -> str:
    """``text`` in at most ``n`` characters: cut to ``n - 1`` and "…" when longer (names, messages and titles from
    data in a column or a line of their own)."""
    return text if len(text) <= n else text[: n - 1] + "…"


_IRREGULAR = {"match": "matches", "bus": "buses", "entry": "entries", "day": "days", "key": "keys",
              "summary": "summaries", "query": "queries", "category": "categories", "is": "are", "was": "were"}


def plural_noun(n: float, noun: str, many: str | None = None) -> str:
    """``noun`` for exactly one, its plural otherwise (``many`` when given; 'y' -> 'ies', 's'/'x'/'ch' -> 'es')."""
    if n == 1:
        return noun
    if many is not None:
        return many
    head, _, last = noun.rpartition(" ")  # "tool failure" -> "tool failures": the last word takes the plural
    word = last or noun
    if word in _IRREGULAR:
        out = _IRREGULAR[word]
    elif word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        out = word[:-1] + "ies"
    elif word.endswith(("s", "x", "z", "ch", "sh")):
        out = word + "es"
    else:
        out = word + "s"
    return f"{head} {out}" if head else out


def plural(n, noun: str, many: str | None = None) -> str:
    """'1 session', '2 sessions', '1,234 tool failures', '0 tasks' (a count with its noun, thousands separated)."""
    if n is None:
        return f"- {plural_noun(0, noun, many)}"
    shown = f"{int(n):,}" if float(n).is_integer() else f"{n:,.1f}"
    return f"{shown} {plural_noun(n, noun, many)}"


def _number(v) -> float | None:
    """``v`` as a finite float, else None: a stored value is not always a number (SQLite keeps whatever another
    program or a hand edit put in a column: the text 'lots' in tokens_in), and formatting it must not end a screen."""
    if type(v) not in (int, float):
        if isinstance(v, (str, bytes, bytearray)) or v is None:
            return None
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def fmt_duration(ms) -> str:
    """A duration for reading: '350ms', '4.2s', '41s', '12m 05s', '2h 05m', '3d 4h' (never '7079.3h')."""
    ms = _number(ms)
    if ms is None:
        return "-"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f}ms"
    if ms < 9_950:
        return f"{sign}{ms / 1000:.1f}s"
    s = int(round(ms / 1000))
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m {s % 60:02d}s"
    m = int(round(ms / 60_000))
    if m < 24 * 60:
        return f"{sign}{m // 60}h {m % 60:02d}m"
    h = int(round(ms / 3_600_000))
    return f"{sign}{h // 24}d {h % 24}h"


def money_decimals(values: Iterable) -> int:
    """The one precision for a column of dollar amounts: cents, unless every non-zero amount is below a dollar and
    some is below a cent (then 4 decimals, so small amounts do not all read $0.00)."""
    amounts = [abs(f) for f in map(_number, values) if f is not None]
    nonzero = [a for a in amounts if a > 0]
    if nonzero and max(nonzero) < 1 and min(nonzero) < 0.01:
        return 4
    return 2


def fmt_money(x, decimals: int = 2) -> str:
    """'$1,234.50' with ``decimals``; a non-zero amount that would read as zero is shown as '<$0.01'."""
    x = _number(x)
    if x is None:
        return "-"
    if abs(x) >= 1e12:  # no real amount: a stored value no parser makes, kept readable in one cell
        return f"${x:.3g}"
    smallest = 10 ** -decimals
    if 0 < abs(x) < smallest / 2:
        return ("-" if x < 0 else "") + f"<${smallest:.{decimals}f}"
    return ("-" if x < 0 and round(abs(x), decimals) else "") + f"${abs(x):,.{decimals}f}"


def money_column(values: Sequence, decimals: int | None = None) -> list[str]:
    """Every amount of a column with one precision (``money_decimals`` of the column unless given)."""
    d = money_decimals(values) if decimals is None else decimals
    return [fmt_money(v, d) for v in values]
