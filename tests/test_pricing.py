"""Prices: the fast per-token path equals genai-prices' own calc_price; unknown models are unpriced."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from genai_prices import Usage, calc_price

from nexus_tui.core.pricing import price

MODELS = ["claude-opus-4-6", "claude-sonnet-4-5-20250929", "claude-sonnet-4-20250514", "claude-haiku-4-5-20251001",
          "claude-3-5-haiku-20241022", "gpt-4o", "gemini-2.5-pro"]


@pytest.mark.parametrize("model", MODELS)
def test_fast_path_equals_calc_price_on_random_usages(model):
    rng = random.Random(model)
    for _ in range(300):
        tin, tout = rng.randrange(0, 5000), rng.randrange(0, 40000)
        cread = rng.choice([0, rng.randrange(0, 400_000)])
        c5, c1 = rng.choice([(0, 0), (rng.randrange(0, 60000), 0), (rng.randrange(0, 9000), rng.randrange(0, 9000))])
        split = rng.random() < 0.7
        ts = int(datetime(2026, rng.randrange(1, 12), 1, tzinfo=UTC).timestamp() * 1000)
        got, mid = price(model, ts, tokens_in=tin, tokens_out=tout, cache_read=cread, cache_write=c5 + c1,
                         cache_write_5m=c5 if split else None, cache_write_1h=c1 if split else None)
        kw = dict(input_tokens=tin + cread + c5 + c1, output_tokens=tout, cache_read_tokens=cread,
                  cache_write_tokens=c5 + c1)
        if split:
            kw.update(cache_write_5m_tokens=c5, cache_write_1h_tokens=c1)
        want = calc_price(Usage(**kw), model_ref=model, genai_request_timestamp=datetime.fromtimestamp(ts / 1000, UTC))
        assert got == pytest.approx(float(want.total_price), rel=1e-9, abs=1e-12), (model, kw)
        assert mid == want.model.id


def test_unknown_and_synthetic_models_are_unpriced():
    assert price("no-such-model-xyz", 0, tokens_in=10, tokens_out=10) == (None, None)
    assert price("<synthetic>", 0, tokens_in=10, tokens_out=10) == (None, None)
    assert price(None, 0, tokens_in=10, tokens_out=10) == (None, None)


def test_saved_coefficients_price_without_importing_genai_prices(tmp_path):
    """A command that prices lines of models and days seen before loads the saved coefficients instead of
    genai-prices' tables, and gets the same cost; a file of other tables, or a malformed one, is ignored."""
    import json
    import subprocess
    import sys

    from nexus_tui.collect import price_cache
    from nexus_tui.core import pricing

    ts = 1_772_000_000_000
    want = pricing.price("claude-opus-4-6", ts, tokens_in=120, tokens_out=45, cache_read=9000, cache_write=700,
                         cache_write_5m=300, cache_write_1h=400)
    unknown = pricing.price("no-such-model-x", ts, tokens_in=1, tokens_out=1)
    assert want[0] and unknown == (None, None)
    assert price_cache.save(tmp_path)
    code = ("import sys, json; from nexus_tui.collect import price_cache; from nexus_tui.core import pricing; "
            f"n = price_cache.load({str(tmp_path)!r}); "
            f"a = pricing.price('claude-opus-4-6', {ts}, tokens_in=120, tokens_out=45, cache_read=9000, "
            "cache_write=700, cache_write_5m=300, cache_write_1h=400); "
            f"b = pricing.price('no-such-model-x', {ts}, tokens_in=1, tokens_out=1); "
            "print(json.dumps([n, a, b, 'genai_prices' in sys.modules]))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert out[0] >= 2 and tuple(out[1]) == want and tuple(out[2]) == (None, None) and out[3] is False
    data = json.loads((tmp_path / price_cache.FILE).read_text())
    data["tables"] = "other"
    (tmp_path / price_cache.FILE).write_text(json.dumps(data))
    assert price_cache.load(tmp_path) == 0
    (tmp_path / price_cache.FILE).write_text("{not json")
    assert price_cache.load(tmp_path) == 0


def test_a_damaged_price_cache_entry_is_ignored_not_every_task_skipped(tmp_path):
    """An entry of the wrong types in <home>/price-cache.json (valid JSON: an edited or damaged file) was preloaded
    as it was: every task of its model was a 'parser error (TypeError)', skipped for good (502 lines of the real
    fixtures, 0 tasks). Such entries are ignored; the numbers are those of a pass without the file."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import copy_cc_tree, require_shared

    require_shared()
    copy_cc_tree(tmp_path / "claude")
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"))
    env.pop("NEXUS_INSIGHTS_DB", None)

    def summary():
        for args in (["ingest"], ["--headless", "summary", "--format", "json", "--no-collect"]):
            r = subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=env, capture_output=True, text=True,
                               timeout=300)
            assert r.returncode == 0 and "parser error" not in r.stdout + r.stderr, r.stdout + r.stderr
        s = json.loads(r.stdout)
        return s["tasks"], s["cost_usd"]

    want = summary()
    cache = tmp_path / "nexus" / "price-cache.json"
    data = json.loads(cache.read_text())
    bad = [["m", "oops", "a", "b", "c", "d", "e", "f"], ["m", None, 1, 2, 3, 4, 5, -1], [1, None, 1, 1, 1, 1, 1, 1]]
    data["entries"] = {k: bad[i % 3] if v is not None else v for i, (k, v) in enumerate(data["entries"].items())}
    cache.write_text(json.dumps(data))
    for f in (tmp_path / "nexus").glob("insights.db*"):
        f.unlink()
    assert want[0] == 264 and summary() == want

def test_the_saved_cache_prices_the_coming_days_of_the_models_seen(tmp_path):
    """After a command that loaded the price tables, the cache holds the next days of every model it priced, so a
    re-run pricing today's new lines imports no genai-prices; the costs are the tables' own."""
    import json
    import subprocess
    import sys
    import time

    from nexus_tui.collect import price_cache
    from nexus_tui.core import pricing

    pricing.price("claude-sonnet-4-5-20250929", 1_760_000_000_000, tokens_in=5, tokens_out=5)  # a past day
    assert price_cache.save(tmp_path)
    later = (int(time.time()) // 86400 + 3) * 86_400_000 + 3_600_000  # three days ahead
    code = ("import sys, json; from nexus_tui.collect import price_cache; from nexus_tui.core import pricing; "
            f"price_cache.load({str(tmp_path)!r}); "
            f"a = pricing.price('claude-sonnet-4-5-20250929', {later}, tokens_in=1200, tokens_out=345, "
            "cache_read=9000, cache_write=700); "
            "print(json.dumps([a, 'genai_prices' in sys.modules]))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    fresh = ("import json; from nexus_tui.core import pricing; "
             f"print(json.dumps(pricing.price('claude-sonnet-4-5-20250929', {later}, tokens_in=1200, "
             "tokens_out=345, cache_read=9000, cache_write=700)))")
    want = json.loads(subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True,
                                     check=True).stdout)
    assert out[1] is False and out[0] == want and want[0] > 0


def test_a_huge_model_name_is_not_priced_nor_kept_in_the_saved_cache(tmp_path):
    """A model name of 10 MB (a transcript or the event log takes any length) was priced (as claude-opus-4-6: its
    prefix) and kept whole as the key of the coefficients cache, in memory and in <home>/price-cache.json (10 MB for
    one line). A name over MAX_MODEL_CHARS names no priced model: unpriced, and kept nowhere."""
    import json

    from nexus_tui.collect import price_cache
    from nexus_tui.core import pricing

    ts = 1_772_000_000_000
    name = "claude-opus-4-6" + "-x" * 5_000_000
    assert pricing.price(name, ts, tokens_in=10, tokens_out=10) == (None, None)
    assert pricing.priced_model(name) is None
    assert pricing.price(name[:pricing.MAX_MODEL_CHARS], ts, tokens_in=10, tokens_out=10)[1] == "claude-opus-4-6"
    assert max(map(len, pricing.new_entries()), default=0) < 1_000
    price_cache.save(tmp_path)
    saved = (tmp_path / price_cache.FILE).read_text()
    assert len(saved) < 1_000_000 and all(len(k) < 1_000 for k in json.loads(saved)["entries"])
