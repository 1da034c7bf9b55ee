"""Alerts before the wall, pure: thresholds (default 80, 90, 100 %) on each quota window and on the daily and
monthly budgets, each raised once per threshold per window period (or per day / month).

The state remembers, per window (and account), which period it last alerted in and the thresholds raised there. A
new period (the reset time moved on) starts afresh; a snapshot of an older period arriving late (out of order)
raises nothing; a period that has reset raises nothing. No clock is read here: every call gets ``now_ms``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from nexus_tui.core import quota as CQ
from nexus_tui.core.report import safe

DEFAULT_THRESHOLDS = (80.0, 90.0, 100.0)


@dataclass(frozen=True)
class Alert:
    kind: str  # 'quota' | 'budget'
    name: str  # the window ('five_hour', 'seven_day_opus') or the budget ('daily', 'monthly')
    threshold: float  # %
    value_pct: float  # the used % that crossed it
    period: str  # the window's reset (ISO) or the day / month
    observed_ms: int
    account: str | None = None
    resets_at_ms: int | None = None
    spent_usd: float | None = None
    budget_usd: float | None = None

    @property
    def title(self) -> str:
        # the window's name comes from data (a status line's rate_limits key): its control characters shown as
        # escapes, so a message printed by the collect daemon or handed to a notifier cannot drive a terminal
        what = safe(CQ.window_label(self.name))[:80] + " quota" if self.kind == "quota" else f"{self.name} budget"
        return f"nexus-insights: {what} at {self.value_pct:.0f}% (≥ {self.threshold:g}%)"

    @property
    def message(self) -> str:
        if self.kind == "quota":
            tail = "" if self.resets_at_ms is None else f"; resets at {_iso(self.resets_at_ms)}"
            return f"{self.title}{tail}"
        return f"{self.title}: ${self.spent_usd:.2f} of ${self.budget_usd:.2f} ({self.period})"

    def to_json(self) -> str:
        d = asdict(self)
        d["message"] = self.message
        d["resets_at"] = _iso(self.resets_at_ms) if self.resets_at_ms is not None else None
        d["observed_at"] = _iso(self.observed_ms)
        return json.dumps(d, sort_keys=True)


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_thresholds(v) -> tuple[float, ...]:
    """A list of percentages (0 < t ≤ 1000) from config; anything else gives the defaults."""
    if not isinstance(v, (list, tuple)) or not v:
        return DEFAULT_THRESHOLDS
    out = []
    for t in v:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0 < t <= 1000):
            return DEFAULT_THRESHOLDS
        out.append(float(t))
    return tuple(sorted(set(out)))


@dataclass
class AlertState:
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    # "quota|window|account" -> [period end ms, [thresholds raised]]; "budget|daily" -> [period text, [...]]
    raised: dict = field(default_factory=dict)

    # ------------------------------------------------------------ quota windows
    def quota(self, snaps, now_ms: int) -> list[Alert]:
        out: list[Alert] = []
        for (window, account), ps in CQ.periods(snaps).items():
            live = [p for p in ps if p.end_ms is not None and p.end_ms > now_ms]
            if not live:
                continue  # every period seen has reset (or has no reset time): nothing to warn about
            p = max(live, key=lambda p: p.end_ms)
            key = f"quota|{window}|{account or ''}"
            prev = self.raised.get(key)
            if prev is not None:
                if abs(p.end_ms - prev[0]) <= CQ.RESET_TOLERANCE_MS:
                    done = set(prev[1])
                elif p.end_ms < prev[0]:
                    continue  # an older period than one already alerted in: out of order, stale
                else:
                    done = set()  # a new period
            else:
                done = set()
            peak = p.peak_pct
            crossed = [t for t in self.thresholds if peak >= t and t not in done]
            if crossed:
                latest = p.latest
                top = max(crossed)  # one alert: the highest threshold crossed since the last one
                out.append(Alert("quota", window, top, peak, _iso(p.end_ms), latest.observed_ms, account,
                                 p.end_ms))
                done |= set(crossed)
            self.raised[key] = [p.end_ms if prev is None or p.end_ms >= prev[0] else prev[0], sorted(done)]
        return out

    # ------------------------------------------------------------ budgets
    def budget(self, name: str, spent: float | None, budget: float | None, period: str, now_ms: int) -> list[Alert]:
        """``period``: the day ('2026-12-04') or month ('2026-12') the spend belongs to; a new one starts afresh."""
        if spent is None or not budget or budget <= 0:
            return []
        key = f"budget|{name}"
        prev = self.raised.get(key)
        if prev is not None and period < prev[0]:
            return []  # an earlier day than one already alerted in
        done = set(prev[1]) if prev is not None and prev[0] == period else set()
        pct = 100.0 * spent / budget
        crossed = [t for t in self.thresholds if pct >= t and t not in done]
        self.raised[key] = [period, sorted(done | set(crossed))]
        if not crossed:
            return []
        return [Alert("budget", name, max(crossed), pct, period, now_ms, spent_usd=spent, budget_usd=budget)]

    # ------------------------------------------------------------ persistence (the caller reads / writes the file)
    def dumps(self) -> str:
        return json.dumps({"v": 1, "raised": self.raised}, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None, thresholds=DEFAULT_THRESHOLDS) -> AlertState:
        st = cls(tuple(thresholds))
        try:
            d = json.loads(text) if text else {}
        except (ValueError, RecursionError):
            return st
        raised = d.get("raised") if isinstance(d, dict) else None
        if isinstance(raised, dict):
            for k, v in raised.items():
                if (isinstance(k, str) and isinstance(v, list) and len(v) == 2 and isinstance(v[1], list)
                        and isinstance(v[0], (int, str)) and not isinstance(v[0], bool)
                        and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in v[1])):
                    if k.startswith("quota|") and not isinstance(v[0], int):
                        continue
                    if k.startswith("budget|") and not isinstance(v[0], str):
                        continue
                    st.raised[k] = [v[0], [float(t) for t in v[1]]]
        return st
