"""Screen 5: usage by model, routing, persona, agent (main vs sub-agents), tier label, source and CLI."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_int, fmt_ms, fmt_pct, fmt_usd
from nexus_tui.store import queries as Q
from nexus_tui.widgets.keyed_table import KeyedTable

DIMS = [("model", "By model"), ("routing", "By routing"), ("persona", "By persona"), ("agent", "By agent"),
        ("tier", "By tier"), ("source", "By source"), ("cli_tool", "By CLI tool")]
COLUMNS = [("key", "Value"), ("tasks", "Tasks"), ("in", "In"), ("out", "Out"), ("cr", "Cache read"),
           ("cw", "Cache write"), ("cost", "Cost"), ("share", "Share"), ("avg", "Avg latency"), ("p95", "p95 latency"),
           ("hit", "Cache hit")]


class TiersScreen(InsightScreen):
    TITLE_TEXT = "Tiers"

    def body(self) -> ComposeResult:
        with VerticalScroll():
            for dim, title in DIMS:
                yield Static(f"[b]{title}[/b]", classes="section")
                yield KeyedTable(COLUMNS, id=f"dim-{dim}", classes="auto-table")

    def fetch(self):
        return {dim: Q.usage_by(self.engine, self.filters, dim) for dim, _ in DIMS}

    def show(self, data) -> None:
        for dim, rows in data.items():
            table = self.query_one(f"#dim-{dim}", KeyedTable)
            table.sync([(str(r[dim]), [str(r[dim]) if r[dim] is not None else "(none)", fmt_int(r["tasks"]),
                                       fmt_int(r["tokens_in"]), fmt_int(r["tokens_out"]),
                                       fmt_int(r["cache_read_tokens"]), fmt_int(r["cache_creation_tokens"]),
                                       fmt_usd(r["cost_usd"]), fmt_pct(r["cost_share"]), fmt_ms(r["avg_latency_ms"]),
                                       fmt_ms(r["p95_latency_ms"]), fmt_pct(r["cache_hit_rate"])]) for r in rows])
