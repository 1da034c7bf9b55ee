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


# narrow terminals: these labels in a shorter form (the ? Keys screen lists every key in full)
SHORT = {"Expand/collapse calls": "Expand", "Undo rating": "Undo", "Recent failures": "Failures",
         "No-change sessions": "No-change", "Chart day/month": "Day/month", "Next page": "Next", "Prev page": "Prev",
         "Audit trail": "Audit", "Session/range": "Session", "Type/model": "Type", "Component": "Comp"}
# what gives way first when the keys still do not fit (after SHORT): these app-wide keys' labels and keys, in order;
# then the screen's own keys from the last; "f Filters" last of all
DROP_FIRST = ("cycle_range",)
KEEP_LAST = ("filters",)


def _width(key_display: str, description: str) -> int:
    """Columns a compact key takes: the key, a space and its label, then one space before the next key."""
    from rich.cells import cell_len

    return cell_len(key_display) + (1 + cell_len(description) if description else 0) + 1


class AppFooter(Footer):
    DEFAULT_CSS = """
    AppFooter .pinned { dock: right; width: auto; height: 1; padding-left: 1; background: $footer-background; }
    AppFooter.-compact FooterLabel { margin: 0 1 0 0; }
    AppFooter .pinned FooterKey.-command-palette { dock: none; }
    AppFooter.-compact .pinned FooterKey.-command-palette { display: none; }  /* ctrl+p still works */
    """

    NARROW = 120  # below this many columns the keys are shown compact (less space between them)

    def on_resize(self, event) -> None:
        narrow = event.size.width < self.NARROW
        if narrow != self.compact:
            self.compact = narrow
        elif narrow and event.size.width != getattr(self, "_fitted_to", None):
            self.refresh(recompose=True)  # which keys fit depends on the width

    def _entries(self, bindings) -> list[list]:
        """The keys to show, in order, as [kind, action, binding, enabled, tooltip, key_display, description]:
        kind "key", "range" (a group of digit keys shown as "1–8") or "group" (keys sharing one label)."""
        action_to_bindings: defaultdict[str, list] = defaultdict(list)
        for binding, enabled, tooltip in bindings:
            action_to_bindings[binding.action].append((binding, enabled, tooltip))
        out: list[list] = []
        for group, multi_bindings_iterable in groupby(action_to_bindings.values(),
                                                      lambda multi_bindings_: multi_bindings_[0][0].group):
            multi_bindings = list(multi_bindings_iterable)
            if group is not None and len(multi_bindings) > 2 and self.compact and all(
                    m[0][0].key.isdigit() for m in multi_bindings):
                # narrow: "1–8 Screens" in one key, so the keys after it still fit in 80 columns
                first, last = multi_bindings[0][0], multi_bindings[-1][0]
                binding, enabled, tooltip = first
                out.append(["range", binding.action, binding, enabled, tooltip or binding.description,
                            f"{self.app.get_key_display(binding)}–{self.app.get_key_display(last[0])}",
                            group.description])
            elif group is not None and len(multi_bindings) > 1:
                out.append(["group", multi_bindings[0][0][0].action, group, multi_bindings, None,
                            " ".join(self.app.get_key_display(m[0][0]) for m in multi_bindings), group.description])
            else:
                for multi in multi_bindings:
                    binding, enabled, tooltip = multi[0]
                    out.append(["key", binding.action, binding, enabled, tooltip, self.app.get_key_display(binding),
                                binding.description])
        return out

    def _fit(self, entries: list[list], pinned: list) -> list[list]:
        """Narrow: shorter labels, then fewer keys, until they fit beside the pinned ones on one line."""
        width = self.app.size.width
        self._fitted_to = width
        budget = width - 1 - sum(_width(self.app.get_key_display(b), b.description) for b, _e, _t in pinned)

        def used() -> int:
            return sum(_width(e[5], e[6]) for e in entries)

        if used() <= budget:
            return entries
        for e in entries:
            e[6] = SHORT.get(e[6], e[6])
        for e in entries:  # "1–8" without its label, the app-wide keys that give way first
            if used() <= budget:
                return entries
            if e[0] == "range":
                e[6] = ""
        entries = [e for e in entries if not (e[1] in DROP_FIRST and used() > budget)]
        app_wide = {e[1] for e in entries if e[0] == "range" or e[1] in KEEP_LAST}
        while used() > budget:
            own = [e for e in entries if e[1] not in app_wide]
            victim = own[-1] if own else next((e for e in entries if e[1] not in KEEP_LAST), entries[-1] if entries
                                              else None)
            if victim is None:
                break
            entries.remove(victim)
        return entries

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active_bindings = self.screen.active_bindings
        shown = [(binding, enabled, tooltip) for (_, binding, enabled, tooltip) in active_bindings.values()
                 if binding.show]
        bindings = [b for b in shown if b[0].action not in PINNED]
        pinned = [b for b in shown if b[0].action in PINNED]
        entries = self._entries(bindings)
        if self.compact:
            entries = self._fit(entries, pinned)
        self.styles.grid_size_columns = len(entries)
        key_class = PlainFooterKey if not self.compact else FooterKey
        for kind, _action, binding, enabled, tooltip, key_display, description in entries:
            if kind == "group":
                with KeyGroup(classes="-compact" if binding.compact else ""):
                    for multi in enabled:
                        b, en, tip = multi[0]
                        yield key_class(b.key, self.app.get_key_display(b), "", b.action, disabled=not en,
                                        tooltip=tip or b.description, classes="-grouped").data_bind(
                            compact=Footer.compact)
                yield FooterLabel(description)
            else:
                yield key_class(binding.key, key_display, description, binding.action, disabled=not enabled,
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
