"""Every use of Textual's private API in nexus-insights, in one place (docs/tui.md, "Textual's private API").

Why private: speed (docs/performance.md). Textual's public switch_mode holds output 50 ms and restyles the whole
screen it resumes; DataTable renders every cell through Rich; PlotextPlot builds the chart on the UI thread; the
Footer restyles every key twice. Each is worked around by reaching under Textual's public surface, so:

- Textual is pinned to the minor release this was written against (pyproject.toml: ``TEXTUAL_TESTED``).
- The private names are imported, read and called here only; the widgets that override private methods
  (``KeyedTable``, ``InsightChart``) list them in ``OVERRIDDEN`` with the signature they were written against.
- tests/test_textual_private.py checks that each of them still exists, with that signature, and behaves as relied
  on (and the widgets' own tests compare their output with Textual's): an upgrade of Textual fails there, loudly,
  not on a user's screen.
"""

from __future__ import annotations

from textual import events
from textual.widget import AwaitMount
from textual.widget import _RenderCache as RenderCache  # noqa: F401  (InsightChart fills the widget's render cache)
from textual.widgets._footer import FooterKey, FooterLabel, KeyGroup  # noqa: F401  (AppFooter.compose: Textual's)

TEXTUAL_TESTED = ((8, 2), (8, 3))  # [lowest, highest) minor release the private uses below were checked against

# Private methods our widgets override, and the parameters (after self) of Textual's version they replace.
OVERRIDDEN = {
    "textual.widgets.DataTable": {
        "_update_dimensions": ["new_rows"],
        "_render_cell": ["row_index", "column_index", "base_style", "width", "cursor", "hover"],
        "_get_row_style": ["row_index", "base_style"],
    },
    "textual_plotext.PlotextPlot": {
        "_render_content": [],
    },
}
# Private attributes KeyedTable reads (on a DataTable) and InsightChart reads or sets (on a PlotextPlot).
DATATABLE_ATTRIBUTES = ["_data", "_row_locations", "_column_locations", "_clear_caches", "_cell_render_cache",
                        "_get_styles_to_render_cell", "_header_row_key", "_show_hover_cursor", "_update_count",
                        "_pseudo_class_state", "_require_update_dimensions"]
PLOTEXT_ATTRIBUTES = ["_plot", "_get_plotext_theme_name", "_render_cache", "_dirty_regions"]
FOOTER_ATTRIBUTES = ["_bindings_ready"]  # AppFooter.compose is Textual's Footer.compose (widgets/footer.py)


# ---------------------------------------------------------------- app modes (NexusApp)
def screen_stacks(app) -> dict:
    """mode -> its screen stack (empty or missing: the mode's screen is not built yet)."""
    return app._screen_stacks


def css_update_count(app) -> int | None:
    """How many times the app's stylesheet changed (a screen styled at this count needs no restyle)."""
    return getattr(app, "_css_update_count", None)


def build_mode_screen(app, mode: str) -> None:
    """Build ``mode``'s screen off screen: compose and mount run in the background (as ``switch_mode`` would start
    them, without showing it)."""
    factory = app._modes[mode]
    screen = factory() if callable(factory) else factory
    app._screen_stacks[mode] = [screen]
    app._load_screen_css(screen)
    app._register(app, screen)  # starts its message pump


def switch_to_built_mode(app, mode: str, css_refreshed: int) -> AwaitMount | None:
    """Show ``mode``'s screen, built before, as it is: Textual's ``switch_mode`` without its 50 ms output hold and
    the restyle of the whole screen it resumes. None when Textual's own ``switch_mode`` must do it (the mode is the
    current one or not built yet). ``css_refreshed``: the CSS count the stylesheet was last re-read at."""
    stacks = app._screen_stacks
    if mode == app.current_mode or not stacks.get(mode):
        return None
    app.screen.post_message(events.ScreenSuspend())
    app._current_mode = mode
    screen = app.screen
    if screen._css_update_count != app._css_update_count:
        if getattr(screen, "mounted_css_count", None) == app._css_update_count == css_refreshed:
            # styled when it mounted, with the stylesheet as it still is: nothing to re-apply (Textual's
            # refresh_css would restyle every widget of every screen built: ≈ 0.4 s with all six built)
            screen._css_update_count = app._css_update_count
        else:
            app.refresh_css()
    app.mode_change_signal.publish(mode)
    app.screen_change_signal.publish(app.screen)
    app.screen._screen_resized(app.size)
    app.screen.post_message(events.ScreenResume(refresh_styles=False))
    return AwaitMount(app.screen, [])


# ---------------------------------------------------------------- tests and tools
def screen_lines(app) -> list[str]:
    """The text of every line the app's screen in view shows now (as the terminal would show it)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
