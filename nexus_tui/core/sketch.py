"""Latency histograms that merge: the rollups' percentiles (pure, no I/O).

Percentiles are read exactly with ``exact_percentiles`` (the histogram points at the bin, the bin's few values are
read from the rows), or approximately with ``percentile`` (the bin's middle):

A latency of v milliseconds falls in bin ``v`` when v < 128 (exact), else in a logarithmic bin of ratio 1.02
starting at 128 ms. A bin is reported as its geometric middle, so any percentile read from a histogram is within
1 % of the exact nearest-rank value (and exact below 128 ms). Histograms add: the histogram of a union of rows is
the sum of theirs, so rollups keep one per row and a query merges the rows it selects.

Stored as text, ``"bin:count bin:count ..."`` in increasing bin order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

EXACT = 128
RATIO = 1.02
_LOG = math.log(RATIO)


def bin_of(v: float) -> int:
    """The bin of latency ``v`` ms (negative values count as 0)."""
    if v < EXACT:
        return max(0, int(v))
    return EXACT + int(math.log(v / EXACT) / _LOG)


def value_of(b: int) -> float:
    """The value a bin stands for: itself below EXACT, else the geometric middle of its bounds."""
    if b < EXACT:
        return float(b)
    return EXACT * RATIO ** (b - EXACT + 0.5)


def bounds(b: int) -> tuple[float, float]:
    """[low, high) of a bin."""
    if b < EXACT:
        return float(b), float(b + 1)
    return EXACT * RATIO ** (b - EXACT), EXACT * RATIO ** (b - EXACT + 1)


def encode(hist: dict[int, int]) -> str:
    return " ".join(f"{b}:{n}" for b, n in sorted(hist.items()) if n)


def add_text(into: dict[int, int], text: str | None) -> None:
    """Add a stored histogram to ``into``."""
    if not text:
        return
    for part in text.split():
        b, _, n = part.partition(":")
        b = int(b)
        into[b] = into.get(b, 0) + int(n)


def from_values(values: Iterable[float | None]) -> dict[int, int]:
    h: dict[int, int] = {}
    for v in values:
        if v is not None:
            b = bin_of(v)
            h[b] = h.get(b, 0) + 1
    return h


def count(hist: dict[int, int]) -> int:
    return sum(hist.values())


def percentile(hist: dict[int, int], p: float, maximum: float | None = None) -> int | None:
    """The p-th percentile by nearest rank (the value at rank ceil(p/100 * n)), read from the histogram as its bin's
    value, in whole ms; never above ``maximum`` when the exact maximum is known."""
    got = locate(hist, p)
    if got is None:
        return None
    v = value_of(got[0])
    if maximum is not None and v > maximum:
        v = maximum
    return int(round(v))


def locate(hist: dict[int, int], p: float) -> tuple[int, int] | None:
    """(bin, rank within the bin, 1-based) of the p-th percentile's nearest rank, or None for an empty histogram."""
    n = count(hist)
    if n == 0:
        return None
    rank = max(1, min(n, math.ceil(p / 100.0 * n)))
    seen = 0
    for b in sorted(hist):
        if seen + hist[b] >= rank:
            return b, rank - seen
        seen += hist[b]
    return None  # pragma: no cover


def exact_percentiles(hist: dict[int, int], ps: Iterable[float], values_between, maximum: float | None = None) -> dict:
    """Exact nearest-rank percentiles: the histogram says which bin holds each rank, ``values_between(lo, hi)``
    returns the stored values in [lo, hi] (a narrow, indexed read) and the rank is counted inside the bin. When the
    values read do not match the bin's count (rows written between the two reads), the bin's value is used."""
    out: dict = {}
    cache: dict[int, list] = {}
    for p in ps:
        got = locate(hist, p)
        if got is None:
            out[p] = None
            continue
        b, k = got
        if b not in cache:
            lo, hi = bounds(b)
            cache[b] = sorted(v for v in values_between(int(math.floor(lo)) - 1, int(math.ceil(hi)) + 1)
                              if v is not None and bin_of(v) == b)
        vals = cache[b]
        out[p] = vals[k - 1] if len(vals) == hist[b] else percentile(hist, p, maximum)
    return out
