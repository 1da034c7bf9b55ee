"""The benchmark's synthetic trees: ingesting one gives exactly the totals the generator says it wrote."""

from __future__ import annotations

from tests.conftest import require_shared
from tests.helpers import collector_for, session_totals, store_at


def test_generated_tree_ingests_to_the_expected_totals(tmp_path):
    require_shared()
    from bench.gen import generate

    g = generate(tmp_path / "claude", mb=9, seed=3, malformed_every=2)
    assert len(g.expected) >= 10 and g.malformed >= 4
    store = store_at(tmp_path / "db.sqlite")
    rep = collector_for(store, g.root / "projects", workers=2).run_once()
    assert rep.skipped_total == g.malformed  # every malformed line counted, nothing else skipped
    got = session_totals(store)
    assert set(got) == set(g.expected)
    for sid, want in g.expected.items():
        tin, tout, cc, cr, cost, _n = got[sid]
        assert (tin, tout, cc, cr) == (want["input_tokens"], want["output_tokens"], want["cache_creation_tokens"],
                                       want["cache_read_tokens"]), sid
