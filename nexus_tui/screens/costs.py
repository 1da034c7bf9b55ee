"""Screen 3: spend against the daily and monthly budget, burn rate, projection with a range, when the budget runs
out, and what local routing saved."""

from __future__ import annotations

from dataclasses import dataclass

from nexus_tui.widgets.safe import escape
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from nexus_tui.core.scoring import (
    DAY_RATE_WINDOW_MS,
    MONTH_RATE_WINDOW_MS,
    Projection,
    choose_bucket,
    cumulative,
    month_rest_samples,
    past_day_windows,
    period_bounds,
    project,
    rest_of_day_windows,
)
from nexus_tui.screens.base import InsightScreen
from nexus_tui.screens.common import empty_hint, fmt_int, fmt_pct, fmt_usd, local_time, money_column, plural
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import usage as RU
from nexus_tui.widgets.chart import BurnChart
from nexus_tui.widgets.keyed_table import KeyedTable
from nexus_tui.widgets.kpi import KpiRow, KpiTile

HELP = ("[b]Projected[/b] = spent + the median of what the rest of the period cost on recent days, [b]range[/b] its "
        "10th–90th percentile (today: the rest of the day on the last 14 days; month: daily spend of the last 28 days "
        "× days left); with under 3 days of history, spent + burn rate × hours left. Burn rate = spend in the last 3 h "
        "(today) or the last 7 days (month) ÷ its hours. [b]Runs out[/b] = now + (budget − spent) ÷ "
        "burn rate. Budgets: \\[budget] daily_usd, monthly_usd in insights.toml. Periods ignore the time range, not the "
        "other filters. p: chart today / this month.")
PROJECTION_COLUMNS = [("period", "Period"), ("spent", "Spent"), ("budget", "Budget"), ("used", "Used"),
                      ("rate", "Burn rate"), ("projected", "Projected"), ("range", "Range p10–p90"),
                      ("runs_out", "Budget runs out (at the burn rate)")]
PROJECTION_RIGHT = {"spent", "budget", "used", "rate", "projected", "range"}
PROJECTION_DROP = ["range", "rate", "budget", "used", "projected"]  # narrow: these go first
DAY_COLUMNS = [("date", "Day"), ("cost", "Cost"), ("budget", "Of daily budget"), ("cloud", "Cloud equivalent"),
               ("saved", "Saved by local routing"), ("tasks", "Tasks")]
DAY_RIGHT = {"cost", "budget", "cloud", "saved", "tasks"}
DAY_DROP = ["cloud", "budget"]


@dataclass(frozen=True)
class Request:
    now_ms: int
    columns: int
    chart_period: str


def load_costs(engine, filters, settings, tz, req: Request) -> dict:
    """Everything the screen shows, in a few SQL scans (runs in a worker thread)."""
    now = req.now_ms
    f = filters.with_(since_ms=None, until_ms=None)  # periods ignore the range, keep the other filters
    first, _last = RU.span(engine, f)
    d0, d1 = period_bounds(now, tz, "day")
    m0, m1 = period_bounds(now, tz, "month")
    rest_windows = rest_of_day_windows(now, d1, tz, first_ms=first)
    day_windows = past_day_windows(d0, tz, first_ms=first)
    fixed = [(d0, now + 1), (m0, now + 1), (now - DAY_RATE_WINDOW_MS + 1, now + 1),
             (now - MONTH_RATE_WINDOW_MS + 1, now + 1)]
    sums = RU.spend_in_windows(engine, f, fixed + rest_windows + day_windows)
    spent_d, spent_m, w_d, w_m = sums[:4]
    rest = sums[4:4 + len(rest_windows)]
    daily = sums[4 + len(rest_windows):]
    day = project("day", d0, d1, now, spent_d, w_d, DAY_RATE_WINDOW_MS, rest, settings.daily_budget_usd)
    month = project("month", m0, m1, now, spent_m, w_m, MONTH_RATE_WINDOW_MS,
                    month_rest_samples(daily, max(0.0, (m1 - now) / 3_600_000)), settings.monthly_budget_usd)
    p = day if req.chart_period == "day" else month
    bucket = choose_bucket(p.end_ms - p.start_ms, req.columns, minimum_ms=15 * 60_000)
    per_bucket = RU.spend_buckets(engine, f, p.start_ms, p.end_ms, bucket, tz)
    off_starts = [p.start_ms + i * bucket for i in range(len(per_bucket))]
    begun = sum(1 for s in off_starts if s <= now)
    by_routing = RU.usage_by(engine, filters, "routing", percentiles=False)  # the report's numbers, in the range
    days = RU.daily_spend(engine, filters, tz)
    in_db = RS.session_count(engine) if first is None or not days else None
    from nexus_tui.store.read.quota import current_five_hour

    return {"day": day, "month": month, "chart": (p.period, off_starts, cumulative(per_bucket[:begun]), bucket),
            "routing": by_routing, "days": days, "in_db": in_db if first is None else None, "sessions": in_db,
            "five_hour": current_five_hour(engine, now)}  # the current 5-hour quota use, when known


class CostsScreen(InsightScreen):
    TITLE_TEXT = "Costs"
    BINDINGS = [Binding("p", "toggle_period", "Chart day/month")]

    def __init__(self) -> None:
        super().__init__()
        self.chart_period = "day"
        self._columns = 0
        self.shown: dict | None = None  # the last data shown (tests read it)

    def body(self) -> ComposeResult:
        with KpiRow(id="tiles"):
            yield KpiTile("Today", id="kpi-day")
            yield KpiTile("This month", id="kpi-month")
            yield KpiTile("Burn rate", id="kpi-rate")
            yield KpiTile("Local savings", id="kpi-saved")
        yield KeyedTable(PROJECTION_COLUMNS, right=PROJECTION_RIGHT, drop=PROJECTION_DROP, id="projection",
                         classes="auto-table")
        yield Static(HELP, id="help", classes="help")
        yield BurnChart(id="burn")
        yield KeyedTable(DAY_COLUMNS, right=DAY_RIGHT, drop=DAY_DROP, id="days")
        yield Static(id="empty", classes="empty")

    def on_mount(self) -> None:
        self.query_one("#empty", Static).display = False
        self.query_one("#days", KeyedTable).focus()
        # (the base's on_mount runs after this one: Textual calls every on_mount up the MRO; it loads the data)

    def refresh_data(self) -> None:
        self._stale = False
        self.update_status()
        self._columns = self.query_one("#burn", BurnChart).plot_columns(self.app.size.width)
        self.run_query(load_costs, self.engine, self.filters, self.settings, self.app.tz,
                       Request(self.app.now_ms(), self._columns, self.chart_period))

    # ------------------------------------------------------------ showing
    def _runs_out(self, p: Projection, short: bool = False) -> str:
        """When the budget runs out; ``short``: in a few words, for a tile (the table has the long form)."""
        if p.budget is None:
            return "no budget set"
        if p.exceeded:
            return f"exceeded by {fmt_usd(p.spent - p.budget)}"
        if p.runs_out_ms is None:  # no spend lately, or it would run out past any date (the rate is tiny)
            return "lasts: no spend in the rate window" if p.rate_per_hour <= 0 else f"lasts the {p.period}"
        when = local_time(self.app, p.runs_out_ms, "%H:%M" if p.period == "day" and p.runs_out_in_period
                          else "%Y-%m-%d %H:%M")
        if short:  # at most 18 characters: a tile's width on an 80-column terminal
            if not p.runs_out_in_period:
                return f"lasts the {p.period}"
            return f"runs out at {when}" if p.period == "day" else \
                f"runs out {local_time(self.app, p.runs_out_ms, '%m-%d')}"
        return f"runs out at {when}" if p.runs_out_in_period else f"lasts the {p.period} (would run out {when})"

    def _tile(self, tile: KpiTile, p: Projection, extra: str = "") -> None:
        if p.budget is None:
            tile.set(fmt_usd(p.spent), f"projected {fmt_usd(p.projected)}\nno budget set in insights.toml"
                     + extra)
            return
        level = "error" if p.exceeded else ("warning" if p.runs_out_in_period else "ok")
        tile.set(f"{fmt_usd(p.spent)} of {fmt_usd(p.budget)}",
                 f"{self._runs_out(p, short=True)}\n{fmt_pct(p.used)} used · projected {fmt_usd(p.projected)}" + extra,
                 level)

    def _five_hour(self, data) -> str:
        """The current 5-hour quota use under today's figures, when a snapshot says (docs/quota.md)."""
        five = data.get("five_hour")
        if not five:
            return ""
        from nexus_tui.core.quota import fmt_duration

        used, reset = five
        left = f", resets in {fmt_duration(max(0, reset - self.app.now_ms()))}" if reset is not None else ""
        return f"\n5h quota {used:.0f}% used{left}"

    def show(self, data) -> None:
        self.shown = data
        has = data["in_db"] is None
        empty = self.query_one("#empty", Static)
        empty.display = not has
        for w in ("#tiles", "#projection", "#burn", "#days"):
            self.query_one(w).display = has
        self.query_one("#help").set_class(not has, "-off")  # by class: nexus.tcss hides it on a short terminal
        if not has:
            empty.update(empty_hint(self.app, data["in_db"]))
            return
        day, month = data["day"], data["month"]
        self._tile(self.query_one("#kpi-day", KpiTile), day, self._five_hour(data))
        self._tile(self.query_one("#kpi-month", KpiTile), month)
        self.query_one("#kpi-rate", KpiTile).set(
            f"{fmt_usd(day.rate_per_hour)}/h", f"over the last 3 h\n{fmt_usd(month.rate_per_hour * 24)}/day over "
                                               "the last 7 days")
        cost = sum(r["cost_usd"] for r in data["routing"])
        cloud = sum(r["cloud_cost_equivalent"] for r in data["routing"])
        local = next((r for r in data["routing"] if r["routing"] == "local"), None)
        self.query_one("#kpi-saved", KpiTile).set(
            fmt_usd(cloud - cost), f"cloud {fmt_usd(cloud)}\npaid {fmt_usd(cost)}\n"
                                   f"{plural(local['tasks'] if local else 0, 'local task')} · {self.app.range_label()}")
        rows = []
        ps = (day, month)
        # one precision per column: the two periods' amounts of a column are formatted together
        spent, budget, rate, projected = (money_column([getattr(p, a) for p in ps])
                                          for a in ("spent", "budget", "rate_per_hour", "projected"))
        lows_highs = money_column([p.low for p in ps] + [p.high for p in ps])
        for i, (p, name) in enumerate(zip(ps, ("Today", "This month"))):
            window = "3 h" if p.period == "day" else "7 days"
            rng = (f"{lows_highs[i]} – {lows_highs[i + 2]}" if p.low is not None
                   else f"needs 3 days of history ({p.samples})")
            rows.append((p.period, [name, spent[i], budget[i], fmt_pct(p.used), f"{rate[i]}/h ({window})",
                                    projected[i], rng, self._runs_out(p)]))
        self.query_one("#projection", KeyedTable).sync(rows)
        period, starts, cum, bucket = data["chart"]
        p = day if period == "day" else month
        title = (f"spent today ({local_time(self.app, p.start_ms, '%Y-%m-%d')}), cumulative" if period == "day" else
                 f"spent this month ({local_time(self.app, p.start_ms, '%Y-%m')}), cumulative")
        self.query_one("#burn", BurnChart).set_data(starts, cum, bucket, p, self.app.tz, title)
        budget = self.settings.daily_budget_usd
        if not data["days"]:  # the periods have data, the range has none
            empty.display = True
            empty.update(empty_hint(self.app, data["sessions"]))
        self.query_one("#days").display = bool(data["days"])
        days = data["days"]
        cost, cloud, saved = (money_column([d[k] for d in days])
                              for k in ("cost_usd", "cloud_cost_equivalent", "local_savings_usd"))
        self.query_one("#days", KeyedTable).sync([
            (d["date"], [d["date"], cost[i], fmt_pct(d["cost_usd"] / budget) if budget else "-", cloud[i], saved[i],
                         fmt_int(d["tasks"])])
            for i, d in enumerate(days)])
        self.query_one("#days", KeyedTable).border_title = escape(f"By day · {self.app.range_label()}")

    # ------------------------------------------------------------ keys and size
    def action_toggle_period(self) -> None:
        self.chart_period = "month" if self.chart_period == "day" else "day"
        self.refresh_data()

    def on_resize(self, event: events.Resize) -> None:
        if (self.is_attached and self.loaded
                and self.query_one("#burn", BurnChart).plot_columns(self.app.size.width) != self._columns):
            self.refresh_data()
