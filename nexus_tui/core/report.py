"""Formatting of report rows as text tables, JSON and CSV (pure: rows in, a string out).

The screens call the same formatters (``fmt_*``, ``usd_column``, ``plural``, ``safe``), so a number reads the same
everywhere. Every string that comes from data goes through ``safe`` before it reaches a terminal or a CSV file:
control characters (C0, DEL, C1 such as CSI 0x9b), bidi overrides and other invisible format characters are shown
as visible escapes (``\\x1b``, ``\\u202e``), so a tool or project name cannot move the cursor, recolour the
terminal or reorder a line. JSON is escaped the same way by ``to_json`` (as ``\\u001b``).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence

import orjson

from nexus_tui.core.fmt import ellipsis, fmt_duration

# JSON and CSV round floats to a stated precision (docs/reports.md), so one value is one string in every report
USD_DECIMALS = 6  # money: micro-dollars
RATE_DECIMALS = 4  # fractions 0..1 (rates, shares)
MS_DECIMALS = 1  # latencies and durations in milliseconds


def _dangerous(ch: str) -> bool:
    # not printable = Cc, Cf, Cs, Co, Cn, Zl, Zp and spaces other than ' '; plain spaces (Zs) and private-use icons
    # are harmless; the zero-width joiner is judged by its neighbours (``_hidden``)
    return not ch.isprintable() and ch != "\u200d" and unicodedata.category(ch) not in ("Zs", "Co")


# printable code points a terminal draws as nothing: the Hangul fillers (a name that looks empty, or like another
# one), the combining grapheme joiner, Khmer's inherent vowels
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")


def _emoji_side(ch: str) -> bool:
    # what a zero-width joiner of an emoji sequence stands between: a symbol (emoji, ♀, ❤), VS16, a skin tone
    return ch == "\ufe0f" or "\U0001f3fb" <= ch <= "\U0001f3ff" or (ch >= "\u2000" and unicodedata.category(ch) == "So")


def _hidden(s: str, i: int) -> bool:
    """Whether ``s[i]`` is shown as an escape: a dangerous or invisible code point, or a zero-width joiner that joins
    no emoji ("Edit" + ZWJ looked like "Edit": two tools that read the same)."""
    c = s[i]
    if c == "\u200d":
        return not (0 < i < len(s) - 1 and _emoji_side(s[i - 1]) and _emoji_side(s[i + 1]))
    return c in _INVISIBLE or _dangerous(c)


def shown_as_is(s: str) -> bool:
    """Whether ``safe(s)`` is ``s`` (the fast check: printable, no invisible code point)."""
    return s.isprintable() and (s.isascii() or _INVISIBLE.isdisjoint(s))


def _escape(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def safe(s) -> str:
    """``s`` as text safe to print on a terminal: dangerous and invisible code points shown as visible escapes."""
    s = "" if s is None else str(s)
    if shown_as_is(s):
        return s
    return "".join(_escape(c) if _hidden(s, i) else c for i, c in enumerate(s))


def shown(value) -> str:
    """A value from the configuration or the command line (an upstream URL, a host, an error quoting one) as a
    message prints it: secrets redacted (a URL's password), dangerous code points as escapes (``safe``)."""
    from nexus_tui.core.redact import redact

    return safe(redact("" if value is None else str(value)))


def safe_text(text: str) -> str:
    """A whole text report safe to print: each line through ``safe`` (its line breaks kept). Every report's strings
    from data are made safe where they are laid out; this is the last guard for any that is not."""
    return "\n".join(safe(line) for line in text.split("\n"))


def strip_controls(s) -> str:
    """``s`` without the code points ``safe`` would escape (control, bidi and invisible characters): for free text
    such as a session title, shown on a terminal as its readable characters only."""
    s = "" if s is None else str(s)
    return s if shown_as_is(s) else "".join(c for i, c in enumerate(s) if not _hidden(s, i))


_BREAKS = re.compile(r"\s*[\r\n\t]+\s*")


def one_line(msg) -> str:
    """A message for stderr: line breaks and tabs (a driver's multi-line error) folded into spaces, then ``safe``."""
    return safe(_BREAKS.sub(" ", "" if msg is None else str(msg)).strip())


def no_such_session(ref: str, candidates: Sequence[str], total: int) -> str:
    """Why ``ref`` names no one session (``store.read.sessions.find_session``'s answer): an ambiguous prefix is
    said as one, with how many sessions it matches and the first few of them."""
    if not total:
        return f"no session {safe(repr(ref))}"
    more = total - len(candidates)
    return (f"the prefix {safe(repr(ref))} is ambiguous: it matches {plural(total, 'session')} ("
            + ", ".join(safe(c) for c in candidates) + (f" and {more:,} more" if more > 0 else "")
            + "); give more of the id")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 session``, ``2 sessions``, ``1,024 lines`` (``many``: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def error_noun(is_tool_call: bool, component, kind) -> str:
    """What one row of the audit trail is called, the same on the Errors screen and in the headless report: a failed
    tool call is a tool failure; an ingest record of lines skipped in a file is a read with skipped lines (the lines
    themselves are counted as skipped lines, never as ingest problems, as the status bar says); any other ingest
    record (a file that cannot be read) an ingest problem; an API error turn an API error."""
    if is_tool_call:
        return "tool failure"
    if component == "ingest":
        return "read with skipped lines" if kind == "skipped_lines" else "ingest problem"
    if component == "api":
        return "API error"
    return f"{ellipsis(one_line(component), 40)} error"


def error_counts(nouns: Iterable[str]) -> str:
    """'3 tool failures, 2 reads with skipped lines, 1 API error': the nouns of ``error_noun`` counted, most first."""
    counts: dict[str, int] = {}
    for n in nouns:
        counts[n] = counts.get(n, 0) + 1
    return ", ".join(plural(n, k, "reads with skipped lines" if k == "read with skipped lines" else None)
                     for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def fmt_int(n) -> str:
    """'1,234'; '-' for None; '?' for a stored value that is not a number (SQLite keeps any type in a column)."""
    if n is None:
        return "-"
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError, OverflowError):
        return "?"


def fmt_usd(x) -> str:
    """One amount on its own (a tile, a sentence): 4 decimals under $1, else 2. In a column use ``usd_column``."""
    if x is None:
        return "-"
    if type(x) not in (int, float):
        return "?"
    return f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"


def usd_column(values: Iterable[float | None]) -> list[str]:
    """Amounts of one column with one precision: 4 decimals when every amount is under $1 and one is not zero, else
    2; an amount that rounds to zero but is not zero reads ``<$0.01`` (``<$0.0001``), never as free."""
    vals = list(values)
    nums = [abs(v) for v in vals if v is not None]
    dec = 4 if nums and max(nums) < 1 and max(nums) > 0 else 2
    tiny = 10 ** -dec

    def one(v):
        if v is None:
            return "-"
        if v != 0 and abs(v) < tiny / 2:
            return f"<${tiny:.{dec}f}"
        return f"${v:,.{dec}f}"
    return [one(v) for v in vals]


def fmt_pct(x) -> str:
    return "-" if x is None else f"{x * 100:.1f}%" if type(x) in (int, float) else "?"


# a latency or duration reads as on the screens: '850ms', '4.2s', '41s', '1m 00s', '2h 05m', '3d 4h'
fmt_ms = fmt_duration


CELL_MAX = 60  # cells of a text column from data (a model, tool, project, target) in a text table, but the last


def _zero_width(c: str) -> bool:
    # as terminals (wcwidth) draw them: every nonspacing or enclosing mark, whatever its combining class (Thai and
    # Devanagari vowel signs have class 0: counted 1, they pushed their row's numbers a cell right), the zero-width
    # joiner, variation selectors, Hangul medial vowels and final consonants (joined to the syllable's first jamo)
    return (bool(unicodedata.combining(c)) or c == "\u200d" or "\ufe00" <= c <= "\ufe0f"
            or "\u1160" <= c <= "\u11ff" or "\ud7b0" <= c <= "\ud7ff" or unicodedata.category(c) in ("Mn", "Me"))


def cell_len(s: str) -> int:
    """Terminal cells ``s`` takes: 2 for a wide character (CJK, most emoji), 0 for a combining mark, a zero-width
    joiner or variation selector, 1 otherwise (``s`` already through ``safe``: no control characters)."""
    if s.isascii():
        return len(s)
    n = 0
    for c in s:
        if c < "\u0300":
            n += 1
        elif not _zero_width(c):
            n += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return n


def head_cells(s: str, n: int) -> str:
    """The start of ``s`` that fits ``n`` cells, without a mark (a short id: ``s[:n]`` for ASCII)."""
    if s.isascii() or cell_len(s) <= n:
        return s[:n]
    out, used = [], 0
    for c in s:
        w = cell_len(c)
        if used + w > n:
            break
        out.append(c)
        used += w
    return "".join(out)


def clip_cells(s: str, n: int, keep_end: bool = False) -> str:
    """``s`` in at most ``n`` cells: cut with "…" (at its end, or at its start with ``keep_end``: a path's file)."""
    if cell_len(s) <= n:
        return s
    chars = reversed(s) if keep_end else iter(s)
    out, used = [], 0
    for c in chars:
        w = cell_len(c)
        if used + w > n - 1:
            break
        out.append(c)
        used += w
    return "…" + "".join(reversed(out)) if keep_end else "".join(out) + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] | None = None,
          keep_end: set[int] = frozenset()) -> str:
    """A plain aligned text table; columns in ``right`` are right-aligned (numbers; default: all but the first).
    Cells are shown through ``safe`` and aligned by the cells they take on a terminal (a CJK or emoji character
    takes two); a left-aligned cell of any column but the last is cut to ``CELL_MAX`` cells with "…" (at its start
    for the columns in ``keep_end``: paths), so one long name from data never pushes the numbers off the screen."""
    right = right if right is not None else set(range(1, len(headers)))
    last = len(headers) - 1
    rows = [[safe(c) for c in r] for r in rows]
    for r in rows:
        for i, c in enumerate(r):
            if i != last and i not in right and len(c) > CELL_MAX // 2:
                r[i] = clip_cells(c, CELL_MAX, i in keep_end)
    widths = [cell_len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], cell_len(c))

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            pad = " " * (widths[i] - cell_len(c))
            out.append(pad + c if i in right else c + pad)
        return "  ".join(out)

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in rows)
    return "\n".join(x.rstrip() for x in out)


def _decimals(key: str) -> int | None:
    if key.endswith("_usd") or key in ("cloud_cost_equivalent", "cost"):
        return USD_DECIMALS
    if key.endswith("_rate") or key.endswith("_share"):
        return RATE_DECIMALS
    if key.endswith("_ms"):
        return MS_DECIMALS
    return None


def rounded(obj, key: str = ""):
    """``obj`` with every float rounded by its key's kind (money, rate, milliseconds; docs/reports.md)."""
    if isinstance(obj, dict):
        return {k: rounded(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rounded(v, key) for v in obj]
    if isinstance(obj, float):
        d = _decimals(key)
        x = round(obj, d) if d is not None else obj
        return x + 0.0 if x == 0 else x  # no -0.0
    return obj


_JSON_UNSAFE = re.compile(r"[^\x20-\x7e\n]")


def _json_escape(m: re.Match) -> str:
    ch = m.group(0)
    if not (_dangerous(ch) or ch in _INVISIBLE or ch == "\u200d"):  # JSON reads a joiner back from its escape
        return ch
    o = ord(ch)
    if o < 0x10000:
        return f"\\u{o:04x}"
    o -= 0x10000
    return f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04x}"


def to_json(obj) -> str:
    """Indented JSON; floats rounded by kind; invisible and control code points escaped as ``\\uXXXX``."""
    out = orjson.dumps(rounded(obj), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    return out if out.isascii() and "\x7f" not in out else _JSON_UNSAFE.sub(_json_escape, out)


_FORMULA = ("=", "+", "-", "@")


def _text_cell(v) -> str:
    """A string from data as a CSV cell: ``safe``, and one a spreadsheet would take as a formula (``=``, ``+``,
    ``-``, ``@`` first: ``=HYPERLINK(...)`` in a tool or model name) gets a leading ``'`` (OWASP's CSV injection
    rule), so it is shown as the text it is."""
    s = safe(v)
    return "'" + s if s.startswith(_FORMULA) else s


def _cell(v, key: str) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return ";".join(_text_cell(x) if isinstance(x, str) else safe(x) for x in v)
    if isinstance(v, float):
        return orjson.dumps(rounded(v, key)).decode()  # the same string as in the JSON
    return _text_cell(v) if isinstance(v, str) else safe(v)


def to_csv(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """CSV with a header; lists joined with ``;``, None empty, floats rounded by kind, strings through ``safe``."""
    if not rows:
        return ",".join(columns or []) + "\n"
    cols = list(columns or rows[0].keys())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(_cell(r.get(c), c) for c in cols)
    return buf.getvalue()
