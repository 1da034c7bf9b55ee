"""Linking through the real store: SqlLinkLookup + link_pending over the tasks columns and link_keys."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from nexus_tui.core import linking as L
from nexus_tui.core.events import SOURCE_PROXY, Batch, SessionRec, TaskRec
from nexus_tui.store.engine import write_tx
from nexus_tui.store.linking import ensure_link_schema, link_pending, save_request_keys
from tests.conftest import REAL
from tests.helpers import store_at
from tests.linking_helpers import OPS, MemoryLookup, build_tree, result_dict


def _open(path):
    store = store_at(path)
    with write_tx(store.engine) as conn:
        ensure_link_schema(conn)
    return store


def _record(store, rid: str, ts_ms: int, body: dict, response=None, via_json: bool = False) -> None:
    """What the proxy's recording does: the task row, then its hashes and link keys. ``via_json``: the hashes
    and the response's keys computed where the bodies were seen and carried as JSON (an event-log record)."""
    store.writer.write(
        Batch(
            sessions=[SessionRec("proxy-s", ts_ms, ts_ms, cli_tool="proxy")],
            tasks=[
                TaskRec(
                    id=rid,
                    session_id="proxy-s",
                    ts_ms=ts_ms,
                    source=SOURCE_PROXY,
                    model=str(body.get("model") or "claude-opus-4"),
                    request_id=rid,
                )
            ],
        )
    )
    hashes = L.request_hashes(body)
    with write_tx(store.engine) as conn:
        if via_json:
            rk = L.response_keys(response, is_summarization=hashes["is_summarization"]) if response else []
            record = json.loads(json.dumps({"hashes": hashes, "response_keys": rk}))
            save_request_keys(conn, rid, record["hashes"], response_keys=record["response_keys"])
        else:
            save_request_keys(conn, rid, hashes, response)


def _links(store) -> dict[str, dict]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, parent_request_id, conversation_id, branch_id, is_subtask,"
                " parent_task_request_id FROM tasks WHERE message_hash IS NOT NULL"
            )
        )
        return {
            r[0]: {
                "parent_request_id": r[1],
                "conversation_id": r[2],
                "branch_id": r[3],
                "is_subtask": bool(r[4]),
                "parent_task_request_id": r[5],
            }
            for r in rows
        }


def test_captures_link_through_the_store(tmp_path):
    caps = REAL / "proxy_captures"
    if not caps.is_dir():
        pytest.skip("shared captures missing")
    one = json.loads((caps / "linking-01-simple-start.json").read_text())
    two = json.loads((caps / "linking-02-branching.json").read_text())
    store = _open(tmp_path / "db.sqlite")
    p = one["parent"]
    t0 = 1_750_420_376_000
    _record(store, p["request_id"], t0, p["body"], p["response_body"])
    _record(store, one["child"]["request_id"], t0 + 5_000, one["child"]["body"])
    assert link_pending(store.engine) == 2
    _record(store, two["child"]["request_id"], t0 + 65_000, two["child"]["body"])
    assert link_pending(store.engine) == 1
    assert link_pending(store.engine) == 0
    got = _links(store)
    conv = L.conversation_id_for(p["request_id"])
    assert got[p["request_id"]] == {
        "parent_request_id": None,
        "conversation_id": conv,
        "branch_id": "main",
        "is_subtask": False,
        "parent_task_request_id": None,
    }
    assert got[one["child"]["request_id"]]["parent_request_id"] == p["request_id"]
    assert got[one["child"]["request_id"]]["branch_id"] == "main"
    assert got[two["child"]["request_id"]] == {
        "parent_request_id": p["request_id"],
        "conversation_id": conv,
        "branch_id": "branch_20250620115401",
        "is_subtask": False,
        "parent_task_request_id": None,
    }
    with store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT message_hash, system_hash, message_count FROM tasks WHERE id = :i"),
            {"i": p["request_id"]},
        ).first()
    assert tuple(row) == (p["current_message_hash"], p["system_hash"], 1)

    sub = json.loads((caps / "subtask-01-subtask-matched.json").read_text())
    resp = {
        "content": [
            {"type": "tool_use", "id": i["tool_use_id"], "name": "Task", "input": {"prompt": i["prompt"]}}
            for i in sub["parent"]["task_invocations"]
        ]
    }
    _record(
        store,
        sub["parent"]["request_id"],
        t0 + 100_000,
        {"system": "x", "messages": [{"role": "user", "content": "start"}]},
        resp,
    )
    _record(store, sub["child"]["request_id"], t0 + 105_000, sub["child"]["body"])
    link_pending(store.engine)
    child = _links(store)[sub["child"]["request_id"]]
    assert (
        child["is_subtask"] is True and child["parent_task_request_id"] == sub["expectedParentTaskRequestId"]
    )
    assert child["branch_id"] == "subtask_1"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(OPS, st.randoms(use_true_random=False))
def test_random_tree_through_the_store_in_any_write_order(tmp_path_factory, ops, rnd: random.Random):
    """The tree comes back the same when the requests are written in a shuffled order with a link pass after
    each (late arrivals relink what follows them), and equals the in-memory linker's result."""
    b = build_tree(ops)
    store = _open(tmp_path_factory.mktemp("db") / "db.sqlite")
    order = list(b.nodes)
    rnd.shuffle(order)
    for n in order:
        _record(store, n.id, n.ts_ms, n.body, n.response, via_json=True)
        link_pending(store.engine)
    got = _links(store)
    assert got == {n.id: b.expected(n) for n in b.nodes}
    mem = MemoryLookup()
    assert got == {n.id: result_dict(mem.add(n.id, n.ts_ms, n.body, n.response)) for n in b.nodes}
    store.close()


def test_bad_link_values_are_ignored(tmp_path):
    """Hashes and keys of the wrong type or shape (a corrupt event record) are stored as NULL / skipped."""
    store = _open(tmp_path / "db.sqlite")
    _record(store, "r1", 1_000_000, {"messages": [{"role": "user", "content": "hi"}]})
    with write_tx(store.engine) as conn:
        save_request_keys(
            conn,
            "r1",
            {"message_hash": 5, "system_hash": "x" * 65, "message_count": "3", "parent_message_hash": ["a"]},
            response_keys=[
                ["task_prompt", "ab", 0],
                ["bogus", "ab", 0],
                ["task_prompt", 7, 1],
                ["task_prompt", "cd", -1],
                "x",
                None,
                ["summary_out", "ef", True],
            ],
        )
        row = conn.execute(
            text(
                "SELECT message_hash, parent_message_hash, system_hash, message_count FROM tasks"
                " WHERE id = 'r1'"
            )
        ).first()
        keys = conn.execute(text("SELECT kind, key, seq FROM link_keys WHERE task_id = 'r1'")).fetchall()
    assert tuple(row) == (None, None, None, None)
    assert [tuple(k) for k in keys] == [("task_prompt", "ab", 0)]
    with write_tx(store.engine) as conn:
        save_request_keys(conn, "r1", "not a dict")
    assert link_pending(store.engine) == 0
