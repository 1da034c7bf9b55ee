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


def _genai():
    """genai-prices, imported on first use (≈ 0.2 s: its types and bundled tables); a price already known from the
    coefficients cache (``preload``) needs none of it."""
    if "genai_prices" not in sys.modules:
        _defer_import("httpx2")
    import genai_prices
    from genai_prices import data_snapshot

    return genai_prices, data_snapshot


_DAY_MS = 86_400_000

# Per-token coefficients already derived, by "model\x1fprovider\x1fday": [model id, threshold (None = no tier),
# input, output, cache read, cache write, 5m, 1h], or None for a model without a price. Filled as prices are derived;
# an I/O edge may preload it from a file (``preload``) and save what was added (``new_entries``), so a one-shot
# command that prices a few lines need not import genai-prices at all. Keyed by ``tables_version()``.
_ENTRIES: dict[str, list | None] = {}
_NEW: set[str] = set()
# a longer model name names no priced model (the longest in the tables, or a Bedrock ARN, is under 150 characters): it is not looked up
# nor kept in the caches above, saved in <home>/price-cache.json (a 10 MB name from a transcript or the event log was
# kept whole in memory and in the file)
MAX_MODEL_CHARS = 300


def tables_version() -> str | None:
    """A tag of the installed price tables (size and mtime of genai-prices' bundled data), without importing them."""
    import os

    try:
        spec = importlib.util.find_spec("genai_prices")
        if spec is None or not spec.origin:
            return None
        st = os.stat(os.path.join(os.path.dirname(spec.origin), "data.py"))
        return f"{st.st_size}:{st.st_mtime_ns}"
    except (ImportError, ValueError, OSError):
        return None


def preload(entries: dict) -> None:
    """Coefficients derived by an earlier process with the same ``tables_version()``, each checked for its form
    ([model id, token threshold or None, 6 coefficients]: numbers finite and not negative): one entry of the wrong
    type (a damaged or edited cache file) made every task of its model a parser error, skipped for good."""
    for k, v in entries.items():
        if isinstance(k, str) and (v is None or _entry_ok(v)):
            _ENTRIES.setdefault(k, v)


def _entry_ok(v) -> bool:
    def number(x) -> bool:
        return type(x) in (int, float) and 0 <= x < float("inf")

    return (isinstance(v, list) and len(v) == 8 and isinstance(v[0], str) and (v[1] is None or number(v[1]))
            and all(number(x) for x in v[2:]))


def new_entries() -> dict:
    """The coefficients derived in this process and not preloaded."""
    return {k: _ENTRIES[k] for k in _NEW if k in _ENTRIES}


def take_new() -> dict:
    """``new_entries``, forgotten as new here: a parser worker hands them to the process that saves them."""
    got = new_entries()
    _NEW.clear()
    return got


def adopt(entries: dict) -> None:
    """Coefficients a parser worker derived (``take_new``), kept as if derived here (saved by ``new_entries``)."""
    for k, v in entries.items():
        if k not in _ENTRIES:
            _ENTRIES[k] = v
            _NEW.add(k)


@lru_cache(maxsize=4096)
def _find(model: str, provider: str | None):
    snap = _genai()[1].get_snapshot()
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
    from genai_prices import Usage
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


PREFILL_DAYS = 7


def prefill(today: int, days: int = PREFILL_DAYS) -> int:
    """Derive the coefficients of every model priced in this process for the UTC days ``today`` .. ``today + days``
    (day numbers since the epoch), when this process has loaded the price tables anyway (it derived something):
    a later one-shot command that prices today's new lines then finds them in the saved cache and imports no
    genai-prices. The same derivation as ``price``'s, so the costs are the same. Returns how many were added."""
    if not _NEW:
        return 0
    pairs = {tuple(k.split("\x1f")[:2]) for k, v in _ENTRIES.items() if v is not None}
    added = 0
    for model, provider in sorted(pairs):
        for day in range(today, today + days + 1):
            if f"{model}\x1f{provider}\x1f{day}" not in _ENTRIES:
                price(model, day * _DAY_MS, tokens_in=0, tokens_out=0, provider=provider or None)
                added += 1
    return added


def warm() -> None:
    """Load the bundled price tables now (before parser workers fork, so that they inherit them)."""
    _genai()[1].get_snapshot()


def _apply(c, tokens_in, tokens_out, cache_read, cache_write, cache_write_5m, cache_write_1h) -> float:
    """Cost from the per-token coefficients (input, output, cache read, cache write, 5m, 1h)."""
    c_in, c_out, c_cr, c_cw, c_5m, c_1h = c
    split = cache_write_5m is not None and cache_write_1h is not None and cache_write_5m + cache_write_1h == cache_write
    cw = cache_write_5m * c_5m + cache_write_1h * c_1h if split else cache_write * c_cw
    return tokens_in * c_in + tokens_out * c_out + cache_read * c_cr + cw


def priced_model(model: str | None, provider: str | None = None) -> str | None:
    """The genai-prices model id ``model`` resolves to, or None when it has no price."""
    if not model or len(model) > MAX_MODEL_CHARS:
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
    if not model or model.startswith("<") or len(model) > MAX_MODEL_CHARS:
        return None, None
    day = ts_ms // _DAY_MS
    key = f"{model}\x1f{provider or ''}\x1f{day}"
    if key in _ENTRIES:
        e = _ENTRIES[key]
        if e is None:
            return None, None
        if e[1] is None or tokens_in + cache_read + cache_write < e[1]:
            return _apply(e[2:], tokens_in, tokens_out, cache_read, cache_write, cache_write_5m, cache_write_1h), e[0]
    got = _price_on(model, provider, day)
    if got is None:
        _ENTRIES[key] = None
        _NEW.add(key)
        return None, None
    model_id, mp = got
    lin = _linear(model, provider, day)
    if lin is not None and key not in _ENTRIES:
        _ENTRIES[key] = [model_id, None if lin[0] == float("inf") else lin[0], *lin[1:]]
        _NEW.add(key)
    if lin is not None and tokens_in + cache_read + cache_write < lin[0]:
        return _apply(lin[1:], tokens_in, tokens_out, cache_read, cache_write, cache_write_5m, cache_write_1h), model_id
    from genai_prices import Usage

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
