"""The JavaScript semantics the hashes depend on (JSON.stringify, String.prototype.trim), checked against a real
JavaScript engine (node) on random values; skipped where node is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_tui.core.linking import js_json, js_trim

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

_SCRIPT = (
    "const xs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
    "process.stdout.write(JSON.stringify(xs.map(x => x.t === 'j' ? JSON.stringify(x.v) : x.v.trim())));"
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=12,
)
spaces = st.sampled_from(
    list("\t\n\x0b\x0c\r \xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\x1c\x1f\x85\u180e\u200b")
)
padded = st.tuples(st.text(spaces, max_size=3), st.text(max_size=8), st.text(spaces, max_size=3)).map("".join)


def _node(items: list[dict]) -> list[str]:
    # the values travel as JSON text, which node parses exactly as JSON.parse would parse a request body
    r = subprocess.run(
        [NODE, "-e", _SCRIPT], input=json.dumps(items), capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@settings(max_examples=8, deadline=None)
@given(st.lists(values, min_size=40, max_size=40), st.lists(padded, min_size=40, max_size=40))
def test_json_stringify_and_trim_match_node(vals, texts):
    parsed = [json.loads(json.dumps(v)) for v in vals]  # what a parsed request body holds
    items = [{"t": "j", "v": v} for v in parsed] + [{"t": "s", "v": s} for s in texts]
    got = [js_json(v) for v in parsed] + [js_trim(s) for s in texts]
    assert got == _node(items)
