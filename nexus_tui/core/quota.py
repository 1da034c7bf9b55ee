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

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

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
        full_at = now_ms
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
