"""The footer of every screen: Textual's Footer, without restyling each key twice whenever it is built.

Textual's ``FooterKey.compact`` starts True and is then bound to ``Footer.compact`` (False), so every key added to
the footer is restyled twice (the "-compact" class added, then removed): ≈ 40 keys' worth of CSS applied on every
screen built and every time the footer is rebuilt (the bindings change with the focus). Here the keys start with
the footer's value. ``compose`` is Textual's (textual/widgets/_footer.py, Footer.compose) with that key class, and
with the keys of ``PINNED`` actions (? Keys, q Quit) docked on the right, so a narrow terminal never loses them.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.reactive import reactive
from textual.widgets import Footer
from nexus_tui.widgets._textual_private import FooterKey, FooterLabel, KeyGroup


class PlainFooterKey(FooterKey):
    compact = reactive(False)  # the footer's own default: binding it changes nothing, so no restyle


PINNED = ("show_keys", "quit")  # actions whose key stays in view on the right, however narrow the terminal


class AppFooter(Footer):
    DEFAULT_CSS = """
    AppFooter .pinned { dock: right; width: auto; height: 1; padding-left: 1; background: $footer-background; }
    AppFooter.-compact FooterLabel { margin: 0 1 0 0; }
    AppFooter .pinned FooterKey.-command-palette { dock: none; }
    Screen.-narrow AppFooter .pinned FooterKey.-command-palette { display: none; }  /* ctrl+p still works */
    """

    NARROW = 120  # below this many columns the keys are shown compact (less space between them)

    def on_resize(self, event) -> None:
        narrow = event.size.width < self.NARROW
        if narrow != self.compact:
            self.compact = narrow

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active_bindings = self.screen.active_bindings
        shown = [(binding, enabled, tooltip) for (_, binding, enabled, tooltip) in active_bindings.values()
                 if binding.show]
        bindings = [b for b in shown if b[0].action not in PINNED]
        pinned = [b for b in shown if b[0].action in PINNED]
        action_to_bindings: defaultdict[str, list] = defaultdict(list)
        for binding, enabled, tooltip in bindings:
            action_to_bindings[binding.action].append((binding, enabled, tooltip))
        self.styles.grid_size_columns = len(action_to_bindings)
        key_class = PlainFooterKey if not self.compact else FooterKey
        for group, multi_bindings_iterable in groupby(action_to_bindings.values(),
                                                      lambda multi_bindings_: multi_bindings_[0][0].group):
            multi_bindings = list(multi_bindings_iterable)
            if group is not None and len(multi_bindings) > 2 and self.compact and all(
                    m[0][0].key.isdigit() for m in multi_bindings):
                # narrow: "1–8 Screens" in one key, so the keys after it (f Filters, ? Keys) still fit in 80 columns
                first, last = multi_bindings[0][0], multi_bindings[-1][0]
                binding, enabled, tooltip = first
                yield key_class(binding.key, f"{self.app.get_key_display(binding)}–{self.app.get_key_display(last[0])}",
                                group.description, binding.action, disabled=not enabled,
                                tooltip=tooltip or binding.description).data_bind(compact=Footer.compact)
            elif group is not None and len(multi_bindings) > 1:
                with KeyGroup(classes="-compact" if group.compact else ""):
                    for multi in multi_bindings:
                        binding, enabled, tooltip = multi[0]
                        yield key_class(binding.key, self.app.get_key_display(binding), "", binding.action,
                                        disabled=not enabled, tooltip=tooltip or binding.description,
                                        classes="-grouped").data_bind(compact=Footer.compact)
                yield FooterLabel(group.description)
            else:
                for multi in multi_bindings:
                    binding, enabled, tooltip = multi[0]
                    yield key_class(binding.key, self.app.get_key_display(binding), binding.description,
                                    binding.action, disabled=not enabled,
                                    tooltip=tooltip).data_bind(compact=Footer.compact)
        with HorizontalGroup(classes="pinned"):
            for binding, enabled, tooltip in pinned:
                yield key_class(binding.key, self.app.get_key_display(binding), binding.description,
                                binding.action, disabled=not enabled,
                                tooltip=tooltip).data_bind(compact=Footer.compact)
            if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
                try:
                    _node, binding, enabled, tooltip = active_bindings[self.app.COMMAND_PALETTE_BINDING]
                except KeyError:
                    pass
                else:
                    # not bound in Textual either: it keeps FooterKey's own compact=True look
                    yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                    binding.action, classes="-command-palette", disabled=not enabled,
                                    tooltip=binding.tooltip or binding.description)
