"""Every use of Textual's private API in nexus-insights, in one place (docs/tui.md, "Textual's private API").

Textual is pinned to the minor release these were written against (pyproject.toml); tests/test_textual_private.py
checks that each name, attribute and signature used here still exists and behaves, so an upgrade of Textual fails
there, loudly, instead of on a user's screen.
"""

from __future__ import annotations


def screen_lines(app) -> list[str]:
    """The text of every line the app's screen in view shows now (as the terminal would show it)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
