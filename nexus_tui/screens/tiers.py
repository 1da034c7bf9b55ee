"""Screen 5: usage by model, routing, persona, agent (main session vs sub-agents), tier label, source and CLI tool.

One tab per dimension and only the tab in view is queried (``queries.usage_by``, the models report's function), so
a switch costs one dimension's aggregates, not seven.
"""

from __future__ import annotations

from nexus_tui.widgets.safe import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static, TabbedContent, TabPane

from nexus_tui.screens import base
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import empty_hint, fmt_int, fmt_ms, fmt_pct, fmt_usd, money_column, plural
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import usage as RU
from nexus_tui.widgets.chart import ShareChart
from nexus_tui.widgets.keyed_table import KeyedTable

DIMS = [("model", "model"), ("project", "project"), ("routing", "routing"), ("persona", "persona"),
        ("agent", "agent"), ("tier", "tier"), ("source", "source"), ("cli_tool", "CLI tool")]
COLUMNS = [("key", "Value"), ("tasks", "Tasks"), ("in", "Input"), ("out", "Output"), ("cw", "Cache write"),
           ("cr", "Cache read"), ("cost", "Cost"), ("share", "Share of cost"), ("avg", "Avg latency"),
           ("p95", "p95 latency"), ("hit", "Cache hit")]
RIGHT = {"tasks", "in", "out", "cw", "cr", "cost", "share", "avg", "p95", "hit"}
DROP = ["cw", "cr", "hit", "avg", "p95", "in", "out"]  # narrow: these go first (value, tasks, cost, share stay)
HELP = ("Tasks: model responses. Input: uncached input tokens; Output: output tokens; Cache write, Cache read: "
        "prompt-cache tokens. Cost: * = it includes unpriced tasks (their cost not counted, never taken as free); "
        "Share of cost: of the range's cost. Avg latency, p95 latency: a task's time from the prompt or tool result it "
        "answers to its response's last line (nearest rank). Cache hit = cache read ÷ (input + cache read + cache "
        "write).")
NOTES = {
    "agent": "main = the session's own turns (tasks.agent_id empty); sub-agent = turns of agents it started.",
    "tier": "The orchestrator's tier label (tasks.tier, e.g. Tier 1..4) where a source records one; (none) otherwise.",
    "routing": "cloud = a hosted model; local = a model on this machine (cost 0, cloud equivalent on Costs).",
    "persona": "The persona the session or task ran as, where the source records one.",
    "project": "A session's project (else its folder); project groups ([projects] groups): --headless projects.",
}
NONE_LABEL = "(none)"
WIDE = 120  # the -narrow breakpoint (app.HORIZONTAL_BREAKPOINTS): below it the tabs drop their "By " to fit 80 columns


def tab_label(title: str, width: int) -> str:
    """A dimension's tab label: "By model" on a wide terminal, "model" on a narrow one (all eight fit 80 columns)."""
    return f"By {title}" if width >= WIDE else title


def row_cells(dim: str, r: dict, cost: str | None = None) -> list[str]:
    """One row of a dimension's table (tests compare these with the report's rows); ``cost`` as its column shows
    it (one precision for the column)."""
    key = r[dim]
    cost = fmt_usd(r["cost_usd"]) if cost is None else cost
    return [NONE_LABEL if key is None else str(key), fmt_int(r["tasks"]), fmt_int(r["tokens_in"]),
            fmt_int(r["tokens_out"]), fmt_int(r["cache_creation_tokens"]), fmt_int(r["cache_read_tokens"]),
            cost + ("*" if r["unpriced_tasks"] else ""), fmt_pct(r["cost_share"]),
            fmt_ms(r["avg_latency_ms"]), fmt_ms(r["p95_latency_ms"]), fmt_pct(r["cache_hit_rate"])]


def project_rows(engine, f) -> list[dict]:
    """The projects report's rows (store/projects.py) in the shape of ``usage_by``'s (latency: not per project)."""
    from nexus_tui.store.projects import projects

    rows, _groups = projects(engine, f)
    total = sum(r["cost_usd"] for r in rows)
    return [{**r, "cost_share": r["cost_usd"] / total if total else None, "avg_latency_ms": None,
             "p95_latency_ms": None} for r in rows]


class TiersScreen(InsightScreen):
    TITLE_TEXT = "Tiers"
    BINDINGS = [Binding("d", "next_dim(1)", "Next table"), Binding("D", "next_dim(-1)", "Previous", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.fresh: set[str] = set()  # dimensions whose table shows the current data
        self.pending: set[str] = set()  # dimensions being loaded
        self.shown: dict[str, list[dict]] = {}

    def body(self) -> ComposeResult:
        yield Static(id="summary", classes="kpis")
        yield Static(HELP, id="help", classes="help")
        with TabbedContent(id="dims"):
            for dim, title in DIMS:
                with TabPane(tab_label(title, self.app.size.width), id=f"tab-{dim}"):
                    if dim in NOTES:
                        yield Static(NOTES[dim], classes="help")
                    yield KeyedTable(COLUMNS, right=RIGHT, drop=DROP, clip={"key": 40}, id=f"dim-{dim}")
        yield ShareChart(id="share")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one("#empty", Static).display = False
        # (the base's on_mount runs after this one: Textual calls every on_mount up the MRO; it loads the data)

    def on_resize(self, event) -> None:
        tabs = self.query_one("#dims", TabbedContent)
        for dim, title in DIMS:
            tab = tabs.get_tab(f"tab-{dim}")
            label = tab_label(title, self.app.size.width)
            if tab.label.plain != label:
                tab.label = label

    @property
    def dim(self) -> str:
        active = self.query_one("#dims", TabbedContent).active or "tab-model"
        return active.removeprefix("tab-")

    def refresh_data(self) -> None:
        """New data: every tab is out of date; load the one in view."""
        self._stale = False
        self.fresh.clear()
        self.pending.clear()
        self.update_status()
        self._load(self.dim)

    def _load(self, dim: str) -> None:
        self.pending.add(dim)
        self.run_query(self.fetch_dim, dim, tag=f"dim:{dim}")  # one worker group per table: none drops another

    def fetch_dim(self, dim: str) -> dict:
        rows = project_rows(self.engine, self.filters) if dim == "project" else RU.usage_by(self.engine, self.filters,
                                                                                          dim)
        return {"dim": dim, "rows": rows, "in_db": None if rows else RS.session_count(self.engine)}

    def show_query(self, tag: str, data) -> None:
        self.show(data)
        self.loaded = True
        if base._TRACE:  # the TUI benchmark waits for this line
            self.call_after_refresh(base._trace, f"shown {type(self).__name__}")

    def show(self, data) -> None:
        self.fresh.add(data["dim"])
        self.pending.discard(data["dim"])
        self.shown[data["dim"]] = data["rows"]
        if data["dim"] == self.dim:  # a table left before its data came: filled when its tab is shown again
            self._fill(data["dim"], data["rows"], data["in_db"])

    def _fill(self, dim: str, rows: list[dict], in_db: int | None = None) -> None:
        has = bool(rows)
        empty = self.query_one("#empty", Static)
        empty.display = not has
        self.query_one("#dims").display = has
        for part in ("#share", "#help"):  # by class: nexus.tcss hides them on a short terminal
            self.query_one(part).set_class(not has, "-off")
        if not has:
            self.query_one("#summary", Static).update("")
            empty.update(empty_hint(self.app, in_db))
            return
        tasks = sum(r["tasks"] for r in rows)
        cost = sum(r["cost_usd"] for r in rows)
        title = dict(DIMS)[dim]
        self.query_one("#summary", Static).update(
            f"[b]By {title}[/b]: {plural(len(rows), 'value')} · {plural(tasks, 'task')} · {fmt_usd(cost)} · latency "
            f"percentiles by nearest rank · d: next table · range: {escape(self.app.range_label())}")
        share = self.query_one("#share", ShareChart)
        share.styles.min_height = min(len(rows), ShareChart.TOP) + 4  # a row per bar: every bar keeps its label
        share.set_data(
            [NONE_LABEL if r[dim] is None else str(r[dim]) for r in rows], [r["cost_usd"] for r in rows],
            f"cost by {title}")
        table = self.query_one(f"#dim-{dim}", KeyedTable)
        costs = money_column([r["cost_usd"] for r in rows])
        # row keys: a value, or (for no value) one no stored text can equal ("(none)" may be stored text too)
        table.sync([("\x00none" if r[dim] is None else str(r[dim]), row_cells(dim, r, c))
                    for r, c in zip(rows, costs)])
        if not isinstance(self.focused, KeyedTable):
            table.focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        dim = (event.pane.id or "").removeprefix("tab-")
        if not dim or not self.is_attached or self._stale or dim != self.dim:
            # (stale: built ahead of its first visit, or out of view; loads the tab in view when shown. Another
            # dim: a tab already left (keys in a burst); focusing its table would pull its tab back into view)
            return
        self.query_one(f"#dim-{dim}", KeyedTable).focus()
        if dim in self.fresh:
            self._fill(dim, self.shown[dim])
        elif dim not in self.pending:
            self._load(dim)

    def action_next_dim(self, step: int) -> None:
        names = [d for d, _ in DIMS]
        nxt = names[(names.index(self.dim) + step) % len(names)]
        self.query_one("#dims", TabbedContent).active = f"tab-{nxt}"
