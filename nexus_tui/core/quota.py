"""The quota model, pure: windows, pace and projection from snapshots of the real used percentage.

A snapshot says "window W was U % used at time T and resets at R" (Claude Code's status-line input, the proxy's
``anthropic-ratelimit-unified-*`` headers). Nothing here guesses a plan's limit: every number is derived from the
used percentage the provider reported and the window's length.

- elapsed % = time since the window started ÷ its length (the start is the reset time minus the length);
- pace = used % ÷ elapsed %: 1.0 uses the window evenly, above 1 it runs out before the reset;
- projected % = the used % extrapolated linearly to the reset (used ÷ elapsed fraction);
- when the projection passes 100 %, the time the window reaches 100 % at this pace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS  # stdlib only (the status line imports this module)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_RESETS_AHEAD_MS = 31 * DAY_MS  # a reset time further than a month after the snapshot is not believed

# window name -> length; model-specific weekly windows ("seven_day_opus", "7d_sonnet") are weekly too
WINDOW_MS = {"five_hour": 5 * HOUR_MS, "seven_day": 7 * DAY_MS}
WINDOW_LABEL = {"five_hour": "5h", "seven_day": "7d"}


def window_ms(window: str) -> int | None:
    """The length of a named window, or None when the name says nothing we know."""
    if window in WINDOW_MS:
        return WINDOW_MS[window]
    w = window.lower()
    if w.startswith(("seven_day", "7d")):
        return WINDOW_MS["seven_day"]
    if w.startswith(("five_hour", "5h")):
        return WINDOW_MS["five_hour"]
    return None


def window_label(window: str) -> str:
    if window in WINDOW_LABEL:
        return WINDOW_LABEL[window]
    w = window.lower()
    for prefix, label in (("seven_day_", "7d "), ("7d_", "7d "), ("five_hour_", "5h "), ("5h_", "5h ")):
        if w.startswith(prefix):
            return label + window[len(prefix):]
    return window


@dataclass(frozen=True)
class Pace:
    window: str
    used_pct: float
    resets_at_ms: int | None
    elapsed_pct: float | None  # None: unknown (no reset time, or a window of unknown length)
    pace: float | None  # used % / elapsed %
    projected_pct: float | None  # at this pace, the used % at the reset
    full_at_ms: int | None  # when 100 % is reached at this pace, if before the reset
    remaining_ms: int | None  # time to the reset

    @property
    def reset_passed(self) -> bool:
        """The window this snapshot measured has reset: its used % says nothing of the current window."""
        return self.remaining_ms == 0

    @property
    def will_hit_limit(self) -> bool:
        return self.full_at_ms is not None


def pace(window: str, used_pct: float, resets_at_ms: int | None, now_ms: int) -> Pace:
    """Pace and projection of one window at ``now_ms``; undefined parts are None, never guessed."""
    used = max(0.0, float(used_pct))
    length = window_ms(window)
    if resets_at_ms is None or length is None:
        return Pace(window, used, resets_at_ms, None, None, None, None, None)
    remaining = max(0, resets_at_ms - now_ms)
    start = resets_at_ms - length
    elapsed = min(max(now_ms - start, 0), length)
    elapsed_pct = 100.0 * elapsed / length
    if elapsed <= 0 or elapsed_pct < 0.5:  # too early in the window for a rate to mean anything
        return Pace(window, used, resets_at_ms, elapsed_pct, None, None, None, remaining)
    p = used / elapsed_pct
    projected = used * length / elapsed
    full_at = None
    if used >= 100.0:
        full_at = now_ms if now_ms < resets_at_ms else None  # "before the reset": at the reset itself it is over
    elif projected > 100.0 and used > 0:
        full_at = start + math.ceil(elapsed * 100.0 / used)
        if full_at >= resets_at_ms:
            full_at = None
    return Pace(window, used, resets_at_ms, elapsed_pct, p, projected, full_at, remaining)


def fmt_duration(ms: int | None) -> str:
    """A short countdown: 3d 4h, 1h 12m, 7m, 40s."""
    if ms is None:
        return "-"
    s = max(0, int(ms // 1000))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m"
    return f"{s}s"


# ---------------------------------------------------------------- snapshots -> windows (the quota model)
RESET_TOLERANCE_MS = 10 * 60_000  # two reset times this close name the same window period (headers jitter)


def canonical_window(name: str) -> str | None:
    """The status line's and the proxy's names of one window made one: '5h' -> 'five_hour', '7d' -> 'seven_day',
    '7d_opus' -> 'seven_day_opus'. None for what is not a used-percentage window ('unified', 'requests', ...)."""
    if not isinstance(name, str) or not name or len(name) > 64 or not name.isprintable():
        return None
    w = name.lower()
    for short, long in (("5h", "five_hour"), ("7d", "seven_day")):
        if w == short:
            return long
        if w.startswith(short + "_"):
            return long + w[len(short):]
    if w in ("five_hour", "seven_day") or w.startswith(("five_hour_", "seven_day_")):
        return w
    return None


@dataclass(frozen=True)
class Snapshot:
    window: str  # canonical name
    used_pct: float  # 0..100 (more when over)
    resets_at_ms: int | None
    observed_ms: int
    source: str = "statusline"
    account: str | None = None
    machine: str | None = None
    status: str | None = None


def snapshot_from_row(r: dict) -> Snapshot | None:
    """A quota_snapshots row as a Snapshot; None for rows that are not a used-percentage window."""
    w = canonical_window(r.get("window"))
    frac = r.get("used_fraction")
    observed = time_ms(r.get("observed_ms"))
    if w is None or observed is None or isinstance(frac, bool) or not isinstance(frac, (int, float)) \
            or not math.isfinite(frac) or frac < 0:
        return None
    return Snapshot(w, 100.0 * float(frac), reset_ms(r.get("resets_at_ms"), observed), observed,
                    r.get("source") or "?", r.get("account"), r.get("machine"), r.get("status"))


def time_ms(v) -> int | None:
    """``v`` as epoch ms when it is a whole number in the valid range (core.events.MIN/MAX_TIME_MS), else None."""
    if type(v) is float and math.isfinite(v) and v.is_integer():
        v = int(v)
    return v if type(v) is int and MIN_TIME_MS <= v < MAX_TIME_MS else None


def reset_ms(v, observed_ms: int) -> int | None:
    """A window's reset time as believed: a valid time at most ``MAX_RESETS_AHEAD_MS`` after the snapshot's
    observation, else None (unknown). A reset of 10^30 or of the year 5000 (a header, an event or a merged row
    holding one) once stopped the Quota screen and report ("timestamp out of range")."""
    t = time_ms(v)
    return t if t is not None and t <= observed_ms + MAX_RESETS_AHEAD_MS else None


@dataclass
class Period:
    """One period of a window (from its start to its reset) as the snapshots inside it saw it."""

    window: str
    account: str | None
    end_ms: int | None  # the reset; None when no snapshot said
    snapshots: list[Snapshot]

    @property
    def start_ms(self) -> int | None:
        length = window_ms(self.window)
        return self.end_ms - length if self.end_ms is not None and length else None

    @property
    def latest(self) -> Snapshot:
        return max(self.snapshots, key=lambda s: (s.observed_ms, s.used_pct))

    @property
    def peak_pct(self) -> float:
        return max(s.used_pct for s in self.snapshots)

    @property
    def limit_hit(self) -> bool:
        return self.peak_pct >= 100.0 or any(s.status == "rejected" for s in self.snapshots)

    @property
    def key(self) -> tuple:
        return (self.window, self.account, self.end_ms)


def periods(snaps) -> dict[tuple[str, str | None], list[Period]]:
    """Snapshots grouped per (window, account) into periods, oldest first. The order snapshots arrive in does not
    matter: they are sorted by the time they were observed. A reset between two snapshots starts a new period (the
    reset time moves on); a snapshot with no reset time joins the period it was observed in, else its own."""
    series: dict[tuple[str, str | None], list[Snapshot]] = {}
    for s in snaps:
        if s is not None:
            series.setdefault((s.window, s.account), []).append(s)
    out: dict[tuple[str, str | None], list[Period]] = {}
    for key, ss in series.items():
        ps: list[Period] = []
        timed = sorted((s for s in ss if s.resets_at_ms is not None), key=lambda s: (s.resets_at_ms, s.observed_ms))
        for s in timed:
            if ps and abs(s.resets_at_ms - ps[-1].end_ms) <= RESET_TOLERANCE_MS:
                ps[-1].snapshots.append(s)
            else:
                ps.append(Period(key[0], key[1], s.resets_at_ms, [s]))
        for s in sorted((s for s in ss if s.resets_at_ms is None), key=lambda s: s.observed_ms):
            home = next((p for p in ps if p.end_ms is not None and p.start_ms is not None
                         and p.start_ms <= s.observed_ms < p.end_ms), None)
            if home is not None:
                home.snapshots.append(s)
            else:
                ps.append(Period(key[0], key[1], None, [s]))
        ps.sort(key=lambda p: (p.end_ms if p.end_ms is not None else p.latest.observed_ms))
        out[key] = ps
    return out


@dataclass(frozen=True)
class WindowState:
    """A window now: its latest snapshot, its pace at the time it was observed and the time left to its reset."""

    window: str
    account: str | None
    snapshot: Snapshot
    pace: Pace  # computed at the snapshot's time: used % against the share of the window gone by then
    remaining_ms: int | None  # to the reset, from now
    current: bool  # False: the period the snapshot measured has reset since; the new one is not known yet

    @property
    def label(self) -> str:
        return window_label(self.window)


def _window_order(w: str) -> tuple:
    return (0 if w.startswith("five_hour") else 1, w != "five_hour" and w != "seven_day", w)


def current_windows(snaps, now_ms: int) -> list[WindowState]:
    """The latest known state of every window (5-hour first, then weekly ones), with pace and projection."""
    out = []
    for (w, acct), ps in periods(snaps).items():
        latest = max((p.latest for p in ps), key=lambda s: (s.observed_ms, s.resets_at_ms or 0))
        p = pace(w, latest.used_pct, latest.resets_at_ms, latest.observed_ms)
        remaining = max(0, latest.resets_at_ms - now_ms) if latest.resets_at_ms is not None else None
        current = latest.resets_at_ms is None or latest.resets_at_ms > now_ms
        out.append(WindowState(w, acct, latest, p, remaining, current))
    out.sort(key=lambda s: (_window_order(s.window), s.account or ""))
    return out


# ---------------------------------------------------------------- estimated 5-hour blocks (no snapshot at all)
BLOCK_MS = 5 * HOUR_MS
BLOCKS_METHOD = ("an estimate from this store's own tasks of Anthropic models, as ccusage 'blocks' does: a block "
                 "starts at the hour "
                 "(UTC) of its first task and lasts 5 h; a task after the block's end or more than 5 h after the "
                 "previous task starts a new block. It is not the provider's quota and says nothing of a limit.")


@dataclass
class Block:
    start_ms: int
    end_ms: int
    first_ms: int
    last_ms: int
    tasks: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    models: dict = None  # model -> [tasks, tokens, cost]

    def active(self, now_ms: int) -> bool:
        return self.start_ms <= now_ms < self.end_ms


def blocks(tasks) -> list[Block]:
    """5-hour blocks from (ts_ms, model, tokens, cost_usd) rows (any order)."""
    out: list[Block] = []
    for ts, model, tokens, cost in sorted(tasks, key=lambda t: t[0]):
        b = out[-1] if out else None
        if b is None or ts >= b.end_ms or ts - b.last_ms > BLOCK_MS:
            start = ts // HOUR_MS * HOUR_MS
            b = Block(start, start + BLOCK_MS, ts, ts, models={})
            out.append(b)
        b.last_ms = ts
        b.tasks += 1
        b.tokens += int(tokens or 0)
        b.cost_usd += float(cost or 0.0)
        m = b.models.setdefault(model or "<unknown>", [0, 0, 0.0])
        m[0] += 1
        m[1] += int(tokens or 0)
        m[2] += float(cost or 0.0)
    return out
