"""The read side's pure arithmetic, shared by the store's read path (store/read/plan.py, store/periods.py) and the
light read (store/lite_read.py), which imports no SQLAlchemy: how a range splits into rollup levels (``plan``), the
coarsest level whose rows fall in one local day of a zone (``zone_level``), money rounding and the cache hit rate.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from nexus_tui.store.upkeep import D_MS, H_MS, Q_MS

MONEY_DECIMALS = 9

_LEVELS = (("quarter", Q_MS), ("hour", H_MS), ("day", D_MS))
_SESSION_LEVELS = (("quarter", Q_MS), ("sday", D_MS))  # per-session sums: (session, day) rows above quarter hours


def money(usd: float) -> float:
    """A dollar figure summed in Python (days folded from quarter hours, buckets) as a money column reads."""
    return round(float(usd), MONEY_DECIMALS)


def cache_hit_rate(tokens_in: int, cache_read: int, cache_creation: int) -> float | None:
    """Share of total input served from cache: cache_read / (tokens_in + cache_read + cache_creation)."""
    total = tokens_in + cache_read + cache_creation
    return cache_read / total if total else None


def plan(since_ms: int | None, until_ms: int | None, coarsest: str = "day") -> list[tuple[str, int | None, int | None]]:
    """How to read [since, until) (None = open): disjoint parts ("day" | "hour" | "quarter" | "raw", lo, hi)
    covering the range: whole UTC days from the daily rollups, whole hours at their ends from the hourly ones, whole
    quarter hours from the quarter-hour rollups, the partial quarter hours at the very ends from the raw rows; no
    level coarser than ``coarsest``."""
    parts: list = []
    lo, hi, finer = since_ms, until_ms, "raw"
    for name, size in (_SESSION_LEVELS if coarsest == "sday" else _LEVELS):
        alo = None if lo is None else -(-lo // size) * size
        ahi = None if hi is None else (hi // size) * size
        if alo is not None and ahi is not None and alo >= ahi:
            parts.append((finer, lo, hi))
            return parts
        if lo is not None and lo < alo:
            parts.append((finer, lo, alo))
        if hi is not None and ahi < hi:
            parts.append((finer, ahi, hi))
        lo, hi, finer = alo, ahi, name
        if name == coarsest:
            break
    parts.append((finer, lo, hi))
    return parts


def utc_offset_ms(ms: int, tz: tzinfo) -> int:
    off = datetime.fromtimestamp(ms / 1000, tz).utcoffset()
    return int(off.total_seconds() * 1000) if off is not None else 0


def zone_level(tz: tzinfo, *times: int | None) -> str:
    """The coarsest rollup level whose rows each fall in one local day of ``tz`` at these times: days in UTC,
    hours in whole-hour zones, quarter hours in the few zones with :30/:45 offsets."""
    import time as _time

    offs = [utc_offset_ms(t, tz) for t in ([t for t in times if t is not None] or [int(_time.time() * 1000)])]
    if all(o == 0 for o in offs):
        return "day"
    return "hour" if all(o % H_MS == 0 for o in offs) else "quarter"
