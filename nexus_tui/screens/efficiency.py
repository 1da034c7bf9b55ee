"""Screen 4: efficiency = useful changes (successful file-changing tool calls) per 100k tokens, rating-weighted."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Sparkline, Static

from nexus_tui.core.scoring import efficiency
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_int, fmt_usd, local_time
from nexus_tui.store import analytics as A
from nexus_tui.widgets.keyed_table import KeyedTable

COLUMNS = [("start", "Start"), ("project", "Project"), ("score", "Score"), ("changes", "Changes"),
           ("tokens", "Tokens"), ("tpc", "Tokens/change"), ("cost", "Cost"), ("cpc", "Cost/change"),
           ("rating", "Rated +/-"), ("id", "Session")]
HELP = ("Score = successful file-changing tool calls (Edit, Write, MultiEdit, NotebookEdit, MCP write/edit tools) "
        "× rating factor per 100k tokens; rating factor = (helpful + 1) / (rated + 1) when tasks are rated. "
        "Least efficient first.")


def _fmt_score(x):
    return "-" if x is None else f"{x:.2f}"


class EfficiencyScreen(InsightScreen):
    TITLE_TEXT = "Efficiency"

    def body(self) -> ComposeResult:
        yield Static(id="overall", classes="kpis")
        yield Sparkline([], id="trend")
        yield Static(HELP, classes="help")
        yield KeyedTable(COLUMNS, id="sessions")

    def fetch(self):
        rows = A.efficiency_inputs(self.engine, self.filters, limit=5000)
        days = A.efficiency_by_day(self.engine, self.filters)
        return rows, days

    def show(self, data) -> None:
        rows, days = data
        tot = efficiency(sum(int(r["tokens"] or 0) for r in rows), sum(float(r["cost"] or 0) for r in rows),
                         sum(int(r["changes"]) for r in rows), sum(int(r["helpful"] or 0) for r in rows),
                         sum(int(r["not_helpful"] or 0) for r in rows))
        trend = [efficiency(d["tokens"], d["cost"], d["changes"], d["helpful"], d["not_helpful"]).score or 0.0
                 for d in days]
        self.query_one("#overall", Static).update(
            f"[b]Overall score[/b] {_fmt_score(tot.score)} useful changes per 100k tokens · {fmt_int(tot.changes)} "
            f"changes · {fmt_int(tot.tokens)} tokens · {fmt_usd(tot.cost)} · tokens/change "
            f"{fmt_int(tot.tokens_per_change)} · cost/change {fmt_usd(tot.cost_per_change)} · rating factor "
            f"{tot.rating_factor:.2f} ({tot.helpful} helpful, {tot.not_helpful} not)\n"
            f"[b]Trend[/b] daily score over {len(days)} day(s) · range: {self.app.range_label()}")
        self.query_one("#trend", Sparkline).data = trend or [0]
        scored = []
        for r in rows:
            e = efficiency(int(r["tokens"] or 0), float(r["cost"] or 0), int(r["changes"]), int(r["helpful"] or 0),
                           int(r["not_helpful"] or 0))
            scored.append((e.score if e.score is not None else float("inf"), r, e))
        scored.sort(key=lambda x: (x[0], -(x[1]["tokens"] or 0)))
        self.query_one("#sessions", KeyedTable).sync([
            (r["sid"], [local_time(self.app, r["start_ms"]), (r["project"] or "-")[:20], _fmt_score(e.score),
                        fmt_int(e.changes), fmt_int(e.tokens), fmt_int(e.tokens_per_change), fmt_usd(e.cost),
                        fmt_usd(e.cost_per_change), f"{e.helpful}/{e.not_helpful}", r["sid"][:13]])
            for _s, r, e in scored[:500]])

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        from nexus_tui.screens.session_detail import SessionDetailScreen

        self.app.push_screen(SessionDetailScreen(event.row_key.value))
