"""The filters dialog: time range (today, 7 days, 30 days, all, custom dates) and project, model, source, CLI tool,
persona, shared by every screen. Returns a new ``Filters`` (or None when cancelled)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select

from nexus_tui.core.filters import Filters, parse_bound, preset
from nexus_tui.widgets.safe import escape, literal

RANGE_CHOICES = [("today", "Today"), ("7d", "7 days"), ("30d", "30 days"), ("all", "All time"), ("custom", "Custom")]
FIELDS = [("project", "Project"), ("model", "Model"), ("source", "Source"), ("cli_tool", "CLI tool"),
          ("persona", "Persona"), ("machine", "Machine")]


class FiltersScreen(ModalScreen[Filters | None]):
    """Pick the range and filters; the distinct values load in a worker (a large database must not stall keys)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "apply", "Apply"),
                Binding("ctrl+r", "clear", "Clear all")]

    def __init__(self, filters: Filters) -> None:
        super().__init__()
        self.filters = filters

    def compose(self) -> ComposeResult:
        f = self.filters
        with Vertical(id="filters-box"):  # the fields scroll, the buttons below them are always in view
            with VerticalScroll(id="filter-body"):
                yield Label("[b]Range and filters[/b] (every screen) — ctrl+s applies, Escape cancels, "
                            "ctrl+r clears")
                with RadioSet(id="range"):
                    for key, label in RANGE_CHOICES:
                        yield RadioButton(label, value=key == f.range_name, id=f"range-{key}")
                with Horizontal(id="dates"):
                    yield Input(value=self.app.fmt_bound(f.since_ms) if f.range_name == "custom" else "",
                                placeholder="from YYYY-MM-DD", id="since")
                    yield Input(value=self.app.fmt_bound(f.until_ms, end=True) if f.range_name == "custom" else "",
                                placeholder="to YYYY-MM-DD (inclusive)", id="until")
                yield Label(f"Dates are whole days in {escape(self.app.tzname)}; typing a date picks Custom.", classes="help")
                for name, label in FIELDS:
                    cur = getattr(f, name)
                    with Horizontal(classes="field"):
                        yield Label(label, classes="field-label")
                        yield Select([(literal(cur), cur)] if cur else [], prompt=f"any {label.lower()}",
                                     value=cur or Select.NULL, id=name)
            with Horizontal(id="filter-buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Clear all", id="clear")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        from nexus_tui.store.read.sessions import filter_choices

        self.query_one("#range", RadioSet).focus()

        self.run_worker(lambda: filter_choices(self.app.store.engine), thread=True, exit_on_error=False,
                        name="filter-choices", group="filter-choices")

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        if event.worker.name != "filter-choices":
            return
        if event.state == WorkerState.SUCCESS:
            self._set_choices(event.worker.result or {})
        elif event.state == WorkerState.ERROR:
            self.notify(f"Could not list the filter values: {event.worker.error}", severity="warning", markup=False)

    def _set_choices(self, choices: dict[str, list[str]]) -> None:
        for name, _label in FIELDS:
            sel = self.query_one(f"#{name}", Select)
            cur = getattr(self.filters, name)
            values = list(choices.get(name, []))
            if name == "project":  # project groups ([projects] groups in insights.toml) first: a name filters them all
                groups = list(getattr(self.app.settings, "project_groups", None) or {})
                values = groups + [v for v in values if v not in groups]
            if cur and cur not in values:
                values.insert(0, cur)
            value = sel.value
            sel.set_options([(literal(v), v) for v in values])  # the values are data, never markup
            if value != Select.NULL and value in values:
                sel.value = value

    @on(Input.Changed, "#since, #until")
    def _typed_date(self, event: Input.Changed) -> None:
        if event.value.strip():
            self.query_one("#range-custom", RadioButton).value = True

    @on(Input.Submitted)
    def _submitted(self, _event) -> None:
        self.action_apply()

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        result = self.build()
        if result is not None:
            self.dismiss(result)

    @on(Button.Pressed, "#clear")
    def action_clear(self) -> None:
        self.query_one("#range-all", RadioButton).value = True
        for name, _label in FIELDS:
            self.query_one(f"#{name}", Select).clear()
        for box in ("#since", "#until"):
            self.query_one(box, Input).value = ""
        self.query_one("#range-all", RadioButton).value = True

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def build(self) -> Filters | None:
        """The Filters the dialog shows, or None (with a message) when a date does not parse."""
        app = self.app
        pressed = self.query_one("#range", RadioSet).pressed_button
        rng = pressed.id.removeprefix("range-") if pressed is not None and pressed.id else "all"
        since = until = None
        if rng == "custom":
            s, u = self.query_one("#since", Input).value.strip(), self.query_one("#until", Input).value.strip()
            try:
                since = parse_bound(s, app.tz, end=False) if s else None
                until = parse_bound(u, app.tz, end=True) if u else None
            except ValueError as e:
                self.notify(str(e), severity="error", markup=False)
                return None
            if since is not None and until is not None and until <= since:
                self.notify("The end date is before the start date.", severity="error")
                return None
            if since is None and until is None:
                rng = "all"
        else:
            since, until = preset(rng, app.now_ms(), app.tz)
        values = {}
        for name, _label in FIELDS:
            v = self.query_one(f"#{name}", Select).value
            values[name] = None if v == Select.NULL else v
        return Filters(since_ms=since, until_ms=until, range_name=rng, cost_mode=self.app.settings.cost_mode, **values)
