"""Formatting of report rows as text tables, JSON and CSV (pure: rows in, a string out)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import orjson


def fmt_int(n) -> str:
    return "-" if n is None else f"{int(n):,}"


def fmt_usd(x) -> str:
    if x is None:
        return "-"
    return f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"


def fmt_pct(x) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def fmt_ms(ms) -> str:
    if ms is None:
        return "-"
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f}m"
    return f"{ms / 3_600_000:.1f}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] | None = None) -> str:
    """A plain aligned text table; columns in ``right`` are right-aligned (numbers)."""
    right = right if right is not None else set(range(1, len(headers)))
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))

    def line(cells):
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells))

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return "\n".join(x.rstrip() for x in out)


def to_json(obj) -> str:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def to_csv(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return ",".join(columns or []) + "\n"
    cols = list(columns or rows[0].keys())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(";".join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else v)
                   for v in (r.get(c) for c in cols))
    return buf.getvalue()
