"""``?``: the keys of the screen in view, this app's own (the rating keys and the screen keys one by one, which the
footer shows as groups), in three parts: this screen, the focused table or box, everywhere."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from nexus_tui.core.report import safe


def key_sections(screen: Screen) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(section title, [(keys, what they do)])] for the bindings active on ``screen`` (its focus included): keys of
    one action joined ("+ =" Helpful); the screen's and the app's own (not Textual's generic tab, copy, ...), and all
    of the focused widget's (a table's cursor keys)."""
    app = screen.app

    def ours(node, binding) -> bool:  # declared by a nexus_tui class (Textual's tab, copy, ... are left out)
        if binding.action == "app.command_palette" or binding.action == "command_palette":
            return True
        for cls in type(node).__mro__:
            if cls.__module__.startswith("nexus_tui"):
                for b in cls.__dict__.get("BINDINGS", ()):
                    if isinstance(b, Binding) and (b.action, b.description) == (binding.action, binding.description):
                        return True
        return False

    groups: dict[str, dict[tuple, tuple[list[str], str]]] = {"screen": {}, "widget": {}, "app": {}}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description:
            continue
        node = active.node
        part = "app" if isinstance(node, App) else ("screen" if isinstance(node, Screen) else "widget")
        if part != "widget" and not ours(node, binding):
            continue
        slot = groups[part].setdefault((id(node), binding.action), ([], binding.description))
        shown = app.get_key_display(Binding(key, binding.action, binding.description))
        if shown not in slot[0]:
            slot[0].append(shown)
    title = safe(getattr(screen, "TITLE_TEXT", "") or type(screen).__name__)  # it may name data (a tool)
    focused = screen.focused
    what = {"KeyedTable": "the table", "DataTable": "the table", "Input": "the text box",
            "VerticalScroll": "the scrolled view"}.get(type(focused).__name__, "the focused part") if focused else ""
    out = []
    for part, name in (("screen", f"On {title}"), ("widget", f"In {what}"), ("app", "Everywhere")):
        rows = [(" ".join(keys), desc) for keys, desc in groups[part].values()]
        if rows:
            out.append((name, rows))
    return out


class KeysScreen(ModalScreen[None]):
    """The key list of ``target`` (the screen ``?`` was pressed on); Escape, ? or q closes it."""

    DEFAULT_CSS = """
    KeysScreen { align: center middle; }
    KeysScreen > #keys-box { width: 72; max-width: 100%; height: auto; max-height: 90%; border: round $accent;
                             background: $panel; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", show=False)]

    def __init__(self, target: Screen) -> None:
        super().__init__()
        self.sections = key_sections(target)

    def compose(self) -> ComposeResult:
        parts: list[Content] = [Content.styled("Keys", "bold"), Content("  (Escape, ? or q closes)\n")]
        for name, rows in self.sections:
            width = max(len(k) for k, _ in rows)
            parts.append(Content.styled(f"\n{name}\n", "bold"))
            for keys, desc in rows:
                parts.append(Content.assemble((f"  {keys:<{width}}", "bold"), f"  {desc}\n"))
        with VerticalScroll(id="keys-box"):
            yield Static(Content.assemble(*parts).rstrip())

    def action_close(self) -> None:
        self.dismiss(None)
