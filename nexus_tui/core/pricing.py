"""Prices from genai-prices' bundled snapshot (offline), at the price in force on the task's date.

Unknown models price as None (never zero). Lookups are cached per (model, day) so pricing a task costs a
few microseconds.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache


class _Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module not imported yet; the first attribute asked of it imports the real
    module, which then replaces it (and lends it its attributes, for whoever already holds the stand-in)."""

    def __getattr__(self, attr: str):
        real = sys.modules.get(self.__name__)
        if real is self or real is None:
            sys.modules.pop(self.__name__, None)
            real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _defer_import(name: str) -> None:
    """Make ``import name`` bind a stand-in that imports the module on first use.

    genai-prices imports its HTTP client (httpx, for live price updates) when it is imported; prices here come from
    the bundled snapshot only, so that client is never used and need not cost every ingest its import."""
    try:
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            sys.modules[name] = _Deferred(name)
    except (ImportError, ValueError):
        pass


if "genai_prices" not in sys.modules:
    _defer_import("httpx2")

from genai_prices import Usage  # noqa: E402
from genai_prices import data_snapshot  # noqa: E402

_DAY_MS = 86_400_000


@lru_cache(maxsize=4096)
def _find(model: str, provider: str | None):
    snap = data_snapshot.get_snapshot()
    try:
        return snap.find_provider_model(model, None, provider, None)
    except LookupError:
        if provider is not None:
            try:
                return snap.find_provider_model(model, None, None, None)
            except LookupError:
                return None
        return None


@lru_cache(maxsize=8192)
def _price_on(model: str, provider: str | None, day: int):
    found = _find(model, provider)
    if found is None:
        return None
    _prov, m = found
    ts = datetime.fromtimestamp(day * 86400 + 43200, UTC)
    return m.id, m.get_prices(ts)


_BASIS = 1000


@lru_cache(maxsize=8192)
def _linear(model: str, provider: str | None, day: int):
    """Per-token prices, valid below the first price tier: (threshold, in, out, cache read, write, 5m, 1h).

    Derived from genai-prices itself on small basis usages (so its rules stay the source of truth); a test checks
    the fast path against ``calc_price`` on many random usages. None when the basis cannot be priced.
    """
    from genai_prices.types import TieredPrices

    got = _price_on(model, provider, day)
    if got is None:
        return None
    _mid, mp = got
    threshold = float("inf")
    for v in vars(mp).values():
        if isinstance(v, TieredPrices) and v.tiers:
            threshold = min(threshold, float(v.tiers[0].start))
    b = _BASIS

    def p(**kw) -> float:
        return float(mp.calc_price(Usage(**kw))["total_price"]) / b

    try:
        c_in = p(input_tokens=b)
        c_out = p(output_tokens=b)
        c_cr = p(input_tokens=b, cache_read_tokens=b)
        c_cw = p(input_tokens=b, cache_write_tokens=b)
        try:
            c_5m = p(input_tokens=b, cache_write_tokens=b, cache_write_5m_tokens=b, cache_write_1h_tokens=0)
            c_1h = p(input_tokens=b, cache_write_tokens=b, cache_write_5m_tokens=0, cache_write_1h_tokens=b)
        except (ValueError, ArithmeticError, KeyError, TypeError):
            c_5m = c_1h = c_cw
    except (ValueError, ArithmeticError, KeyError, TypeError):
        return None
    return threshold, c_in, c_out, c_cr, c_cw, c_5m, c_1h


def warm() -> None:
    """Load the bundled price tables now (they load lazily on first use; an ingest always needs them)."""
    data_snapshot.get_snapshot()


def priced_model(model: str | None, provider: str | None = None) -> str | None:
    """The genai-prices model id ``model`` resolves to, or None when it has no price."""
    if not model:
        return None
    found = _find(model, provider)
    return found[1].id if found else None


def price(model: str | None, ts_ms: int, *, tokens_in: int, tokens_out: int, cache_read: int = 0,
          cache_write: int = 0, cache_write_5m: int | None = None, cache_write_1h: int | None = None,
          provider: str | None = None) -> tuple[float | None, str | None]:
    """USD cost of one response and the model id it was priced as; (None, None) for an unknown model.

    ``tokens_in`` is uncached input; genai-prices wants total input, so the cache counts are added here.
    The 5m/1h cache-write split is used when both halves are known and add up to ``cache_write``.
    """
    if not model or model.startswith("<"):
        return None, None
    got = _price_on(model, provider, ts_ms // _DAY_MS)
    if got is None:
        return None, None
    model_id, mp = got
    lin = _linear(model, provider, ts_ms // _DAY_MS)
    if lin is not None and tokens_in + cache_read + cache_write < lin[0]:
        _thr, c_in, c_out, c_cr, c_cw, c_5m, c_1h = lin
        split = (cache_write_5m is not None and cache_write_1h is not None
                 and cache_write_5m + cache_write_1h == cache_write)
        cw = cache_write_5m * c_5m + cache_write_1h * c_1h if split else cache_write * c_cw
        return tokens_in * c_in + tokens_out * c_out + cache_read * c_cr + cw, model_id
    kw = dict(input_tokens=tokens_in + cache_read + cache_write, output_tokens=tokens_out,
              cache_read_tokens=cache_read, cache_write_tokens=cache_write)
    if cache_write_5m is not None and cache_write_1h is not None and cache_write_5m + cache_write_1h == cache_write:
        kw["cache_write_5m_tokens"] = cache_write_5m
        kw["cache_write_1h_tokens"] = cache_write_1h
    try:
        total: Decimal = mp.calc_price(Usage(**kw))["total_price"]
    except (ValueError, ArithmeticError, KeyError, TypeError):
        try:  # a price table without the split: price the writes as one
            kw.pop("cache_write_5m_tokens", None)
            kw.pop("cache_write_1h_tokens", None)
            total = mp.calc_price(Usage(**kw))["total_price"]
        except (ValueError, ArithmeticError, KeyError, TypeError):
            return None, None
    return float(total), model_id
