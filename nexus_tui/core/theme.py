"""The light or dark theme, pure: from ``--theme``, ``[ui] theme`` and the terminal's ``COLORFGBG``.

``COLORFGBG`` (set by rxvt, Konsole, iTerm2 and others) is ``"<fg>;<bg>"`` or ``"<fg>;<extra>;<bg>"`` in the 16
ANSI colour numbers; the last field is the background. Backgrounds 0-6 and 8 are dark, 7 and 9-15 light (the rule
Vim and Emacs use); anything else (``default``, missing, garbage) says nothing.
"""

from __future__ import annotations

THEMES = {"dark": "textual-dark", "light": "textual-light"}  # ours -> Textual's built-in theme
CHOICES = ("light", "dark", "auto")  # [ui] theme; auto: from COLORFGBG


def background_from_colorfgbg(value: str | None) -> str | None:
    """'light' or 'dark' when ``COLORFGBG`` says which, else None."""
    if not value or not isinstance(value, str):
        return None
    bg = value.strip().split(";")[-1].strip()
    if not bg.isdigit() or len(bg) > 3:
        return None
    n = int(bg)
    if n in (0, 1, 2, 3, 4, 5, 6, 8):
        return "dark"
    if n == 7 or 9 <= n <= 15:
        return "light"
    return None


def choose_theme(option: str | None, configured: str | None, colorfgbg: str | None) -> str:
    """'light' or 'dark': ``--theme`` over ``[ui] theme`` over ``COLORFGBG`` (for an unset or 'auto' choice);
    dark when nothing says."""
    for choice in (option, configured):
        if choice in ("light", "dark"):
            return choice
    return background_from_colorfgbg(colorfgbg) or "dark"


def textual_theme(name: str) -> str:
    return THEMES[name]
