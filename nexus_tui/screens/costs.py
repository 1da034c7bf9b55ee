"""Screen 3: spend against the budget, burn rate, projection with a range, when the budget runs out, savings."""

from __future__ import annotations

from datetime import datetime, timedelta

from textual.app import ComposeResult
from textual.widgets import Static

from nexus_tui.core.scoring import DAY_MS, HOUR_MS, project
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import fmt_pct, fmt_usd, local_time
from nexus_tui.store import analytics as A
from nexus_tui.widgets.keyed_table import KeyedTable

RECENT_MS = 3 * HOUR_MS
HELP = ("How the projection works: burn rate = spend in the last 3 hours / 3 h; projected = spent so far + rate × "
        "hours left in the period; range = spent + hours left × the 25th–75th percentile of hourly spend over the last "
        "7 days; the budget runs out at now + (budget − spent) / rate. Budgets: \\[budget] daily_usd / monthly_usd in "
        "insights.toml.")


class CostsScreen(InsightScreen):
    TITLE_TEXT = "Costs"

    def body(self) -> ComposeResult:
        yield Static(id="kpis", classes="kpis")
        yield Static(HELP, id="help", classes="help")
        yield KeyedTable([("date", "Day"), ("cost", "Cost"), ("cloud", "Cloud equivalent"), ("saved", "Saved"),
                          ("tasks", "Tasks")], id="days")

    def fetch(self):
        now = self.app.now_ms()
        tz = self.app.tz
        f = self.filters.with_(since_ms=None, until_ms=None)
        today = datetime.fromtimestamp(now / 1000, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        day_start = int(today.timestamp() * 1000)
        day_end = int((today + timedelta(days=1)).timestamp() * 1000)
        month = today.replace(day=1)
        month_start = int(month.timestamp() * 1000)
        nxt = (month + timedelta(days=32)).replace(day=1)
        month_end = int(nxt.timestamp() * 1000)
        spent_day = A.spend_between(self.engine, f, day_start, now + 1)
        spent_month = A.spend_between(self.engine, f, month_start, now + 1)
        recent = A.spend_between(self.engine, f, now - RECENT_MS, now + 1)
        hourly = A.spend_per_bucket(self.engine, f, now - 7 * DAY_MS, now, HOUR_MS)
        s = self.app.settings
        proj_day = project("day", spent_day[0], now, day_end, recent[0], RECENT_MS, hourly, s.daily_budget_usd)
        proj_month = project("month", spent_month[0], now, month_end, recent[0], RECENT_MS, hourly,
                             s.monthly_budget_usd)
        rng = self.filters
        period = A.spend_between(self.engine, f, rng.since_ms or 0, rng.until_ms or now + 1)
        days = []
        for i in range(13, -1, -1):
            d0 = today - timedelta(days=i)
            a, b = int(d0.timestamp() * 1000), int((d0 + timedelta(days=1)).timestamp() * 1000)
            c = A.spend_between(self.engine, f, a, b)
            days.append((d0.strftime("%Y-%m-%d"), c))
        return proj_day, proj_month, period, days

    def show(self, data) -> None:
        pd, pm, period, days = data

        def line(p, name):
            budget = fmt_usd(p.budget) if p.budget is not None else "no budget set"
            used = f" ({fmt_pct(p.spent / p.budget)} used)" if p.budget else ""
            if p.exceeded:
                out = "[b red]budget exceeded[/]"
            elif p.runs_out_ms:
                out = f"budget runs out at {local_time(self.app, p.runs_out_ms, '%Y-%m-%d %H:%M')}"
            elif p.budget is not None:
                out = "budget lasts the period at this rate"
            else:
                out = ""
            return (f"[b]{name}[/b]  spent {fmt_usd(p.spent)} of {budget}{used} · projected {fmt_usd(p.projected)} "
                    f"(range {fmt_usd(p.low)}–{fmt_usd(p.high)}) · {out}")

        saved = period[1] - period[0]
        self.query_one("#kpis", Static).update(
            f"{line(pd, 'Today')}\n{line(pm, 'This month')}\n"
            f"[b]Burn rate[/b] {fmt_usd(pd.rate_per_hour)}/hour over the last 3 hours\n"
            f"[b]In range[/b] ({self.app.range_label()}) spent {fmt_usd(period[0])} on {period[2]:,} tasks · "
            f"cloud equivalent {fmt_usd(period[1])} · [b]saved by local routing {fmt_usd(saved)}[/b]")
        self.query_one("#days", KeyedTable).sync(
            [(d, [d, fmt_usd(c[0]), fmt_usd(c[1]), fmt_usd(c[1] - c[0]), f"{c[2]:,}"]) for d, c in reversed(days)])
