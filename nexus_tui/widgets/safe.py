"""Stored text is data, never markup: the two ways a string from the database reaches the screen.

- Inside markup the screens write (``Static.update``, ``border_title``, ``Collapsible`` titles, notifications with
  ``markup=True``): ``escape(value)``. Textual's markup parser (``textual.markup``) opens a tag at every ``[`` not
  preceded by a backslash and turns ``\\[`` back into ``[``, and nothing else; so escaping every ``[`` is exact, also
  for data holding ``\\[`` (which ``rich.markup.escape`` and ``textual.markup.escape`` both lose) or ``[$var]`` /
  ``[1]`` (which they leave as tags). A value ending in a backslash would escape the ``[`` of the markup written
  after it: a zero-width space is put after such a value (it takes no cell).
- As a table cell or an option prompt (DataTable renders a ``str`` through ``Text.from_markup``, emoji codes
  included): ``literal(value)``, a ``rich.text.Text`` of the value, shown as it is.
- In a ``rich.text.Text`` a screen builds piece by piece (a detail panel, the quota bars): ``DataText``, whose every
  string (the constructor's, ``append``'s) goes through ``safe_text``; a plain ``Text`` keeps control characters.

Both also show control characters (ESC, NUL, DEL, C1 such as CSI 0x9b), bidi overrides and other invisible format
characters as visible escapes (``\\x1b``, ``core.report.safe``; line breaks kept): neither Rich nor Textual drops
them, and written to the terminal an ESC from a tool name or a session id would recolour it, clear it or set its
title.

tests/test_tui_safety.py checks both on every screen with markup-like data, and the escape against Textual's parser.
"""

from __future__ import annotations

import re

from rich.text import Text

from nexus_tui.core.report import safe_text, shown_as_is

ZWSP = "\u200b"


FIELD_CELLS = 100  # a value from data in a detail header: cut to this many cells (a 3,000-character id filled 80×24)
# a name from data inside a line of several (the Tools screen's error types, the timeline's series, the Errors
# screen's filters): cut to this many cells, so a long one cannot push the screen's table off an 80x24 terminal
NAME_CELLS_IN_LINE = 30


def escape(value, limit: int | None = None) -> str:
    """``value`` (any object; None is empty) as Textual markup that shows exactly its text; with ``limit``, cut to
    that many cells with "…" (a header's field: ``FIELD_CELLS``)."""
    s = "" if value is None else str(value)
    if not shown_as_is(s):
        s = safe_text(s)
    if limit is not None and len(s) > limit // 2:
        from nexus_tui.core.report import clip_cells

        s = clip_cells(s, limit)
    s = s.replace("[", "\\[")
    return s + ZWSP if s.endswith("\\") else s


_EMOJI_LIKE = re.compile(r":\S+?:")


def needs_literal(value: str) -> bool:
    """Whether Rich's markup (``Text.from_markup``: tags and ``:emoji:`` codes) would change this string."""
    if "[" in value:
        return True
    if ":" in value and _EMOJI_LIKE.search(value):  # "03:43:21" looks like one and is not: keep it a plain str
        return Text.from_markup(value).plain != value
    return False


def literal(value):
    """A table cell or prompt that shows ``value`` as it is: a ``Text`` for a string Rich markup could change, the
    value itself otherwise (a plain string stays a string: compares and converts as before); control characters of
    a string shown as visible escapes."""
    if isinstance(value, str):
        if not shown_as_is(value):
            value = safe_text(value)
        if needs_literal(value):
            return Text(value)
    return value


class DataText(Text):
    """A ``Text`` built from data: every string given to it (``DataText(s)``, ``append(s)``) has its control
    characters shown as visible escapes (``safe_text``); Rich's ``Text`` writes them to the terminal as they are.
    No markup is read, as with ``Text``."""

    def __init__(self, text: str = "", *args, **kwargs) -> None:
        super().__init__(text if shown_as_is(text) else safe_text(text), *args, **kwargs)

    def append(self, text, style=None):
        if isinstance(text, str) and not shown_as_is(text):
            text = safe_text(text)
        return super().append(text, style)
