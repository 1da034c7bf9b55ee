"""``--headless requests`` and ``--headless conversations`` through the real CLI on a linked store."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import text

from nexus_tui.core import linking as L
from nexus_tui.core.events import SOURCE_PROXY, SOURCE_TRANSCRIPT, Batch, SessionRec, TaskRec, ToolUseRec
from nexus_tui.store.engine import write_tx
from nexus_tui.store.linking import ensure_link_schema, link_pending, save_request_keys
from tests.helpers import store_at
from tests.linking_helpers import TreeBuilder

REQUEST_KEYS = [
    "request_id",
    "session_id",
    "conversation_id",
    "branch_id",
    "parent_request_id",
    "parent_task_request_id",
    "is_subtask",
    "source",
    "model",
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cost_usd",
    "ttft_ms",
    "latency_ms",
    "status",
    "error_type",
    "stop_reason",
    "tools",
]


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """A store holding a tree (branch, sub-task, compaction, retry) recorded as proxy requests, one transcript
    task, tool calls, and the proxy columns of two requests; returns (tmp, db url, builder, per-request values)."""
    tmp = tmp_path_factory.mktemp("requests")
    db = tmp / "db.sqlite"
    store = store_at(db)
    with write_tx(store.engine) as conn:
        ensure_link_schema(conn)
    b = TreeBuilder()
    r = b.root(1, 1)
    a = b.extend(r, 10, 0)
    b.extend(r, 10, 0)  # a second child: a branch
    b.subtask(r, 5, 0)
    b.compact(a, 20)
    b.retry(a, 3)
    b.root(100, 0)  # a second conversation
    values = {}
    for i, n in enumerate(b.nodes):
        v = {
            "tokens_in": 10 + i,
            "tokens_out": 100 * (i + 1),
            "cache_read_tokens": 1000 + i,
            "cache_creation_tokens": 7 * i,
            "cost_usd": round(0.01 * (i + 1), 4),
            "latency_ms": 500 + i,
            "status": "error" if i == 2 else "ok",
            "stop_reason": "tool_use" if i == 0 else "end_turn",
        }
        values[n.id] = v
        batch = Batch(
            sessions=[SessionRec("proxy-s", n.ts_ms, n.ts_ms, cli_tool="proxy")],
            tasks=[
                TaskRec(
                    id=n.id,
                    session_id="proxy-s",
                    ts_ms=n.ts_ms,
                    source=SOURCE_PROXY,
                    model=n.body["model"],
                    request_id=n.id,
                    **v,
                )
            ],
        )
        if i == 0:
            batch.tool_uses = [
                ToolUseRec(f"tu{j}", "proxy-s", n.id, name, n.ts_ms + j)
                for j, name in enumerate(["Task", "Read", "Bash"])
            ]
        store.writer.write(batch)
        with write_tx(store.engine) as conn:
            save_request_keys(conn, n.id, L.request_hashes(n.body), n.response)
    store.writer.write(
        Batch(
            sessions=[SessionRec("cc-s", b.ts, b.ts)],
            tasks=[
                TaskRec(
                    id="req_transcript",
                    session_id="cc-s",
                    ts_ms=b.ts + 1,
                    source=SOURCE_TRANSCRIPT,
                    model="claude-sonnet-4",
                    tokens_in=3,
                )
            ],
        )
    )
    with write_tx(store.engine) as conn:
        conn.execute(
            text(
                "UPDATE tasks SET ttft_ms = 321, http_status = 529, error_type = 'overloaded_error' "
                "WHERE id = :i"
            ),
            {"i": b.nodes[2].id},
        )
        conn.execute(text("UPDATE tasks SET ttft_ms = 45 WHERE id = :i"), {"i": b.nodes[0].id})
    assert link_pending(store.engine) == len(b.nodes)
    store.close()
    return tmp, f"sqlite:///{db}", b, values


def run(tmp, url, *args):
    env = dict(
        os.environ, HOME=str(tmp), NEXUS_INSIGHTS_HOME=str(tmp / "nexus"), CLAUDE_CONFIG_DIR=str(tmp / "c")
    )
    env.pop("NEXUS_INSIGHTS_DB", None)
    r = subprocess.run(
        [sys.executable, "-m", "nexus_tui", "--db", url, *args, "--no-collect"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_requests_json_one_row_per_request_with_links_and_usage(linked):
    tmp, url, b, values = linked
    rows = json.loads(run(tmp, url, "--headless", "requests", "--format", "json"))["requests"]
    assert len(rows) == len(b.nodes) + 1
    assert all(set(REQUEST_KEYS) <= set(r) for r in rows)
    by_id = {r["request_id"]: r for r in rows}
    for n in b.nodes:
        got = by_id[n.id]
        want = b.expected(n)
        assert {k: got[k] for k in want} == want, n.id
        assert {k: got[k] for k in values[n.id]} == values[n.id]
        assert (
            got["source"] == SOURCE_PROXY
            and got["session_id"] == "proxy-s"
            and got["model"] == n.body["model"]
        )
    assert by_id[b.nodes[0].id]["tools"] == ["Task", "Read", "Bash"]
    assert by_id[b.nodes[0].id]["ttft_ms"] == 45
    err = by_id[b.nodes[2].id]
    assert (err["status"], err["error_type"], err["http_status"], err["ttft_ms"]) == (
        "error",
        "overloaded_error",
        529,
        321,
    )
    t = by_id["req_transcript"]
    assert (
        t["conversation_id"] is None and t["is_subtask"] is None and t["tools"] == [] and t["tokens_in"] == 3
    )
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


def test_conversations_json_counts_the_tree(linked):
    tmp, url, b, values = linked
    rows = json.loads(run(tmp, url, "--headless", "conversations", "--format", "json"))["conversations"]
    roots = [n for n in b.nodes if n.parent is None]
    assert len(rows) == len(roots) == 2
    by_conv = {r["conversation_id"]: r for r in rows}
    for root in roots:
        members = [n for n in b.nodes if n.conv_root == root.id]
        c = by_conv[L.conversation_id_for(root.id)]
        assert c["root_request_id"] == root.id and c["requests"] == len(members)
        assert c["branches"] == len({n.branch for n in members})
        assert c["compactions"] == sum(1 for x in {n.branch for n in members} if x.startswith("compact_"))
        assert c["subtasks"] == sum(n.is_subtask for n in members)
        assert c["errors"] == sum(values[n.id]["status"] == "error" for n in members)
        assert c["tokens_out"] == sum(values[n.id]["tokens_out"] for n in members)
        assert c["cost_usd"] == pytest.approx(sum(values[n.id]["cost_usd"] for n in members))
        assert c["total_tokens"] == sum(
            values[n.id][k]
            for n in members
            for k in ("tokens_in", "tokens_out", "cache_read_tokens", "cache_creation_tokens")
        )
        assert c["models"] == list(dict.fromkeys(n.body["model"] for n in members))
    big = by_conv[L.conversation_id_for(roots[0].id)]
    assert (big["subtasks"], big["compactions"]) == (1, 1) and big[
        "branches"
    ] == 4  # main, branch, subtask, compact
    assert [r["start_time"] for r in rows] == sorted((r["start_time"] for r in rows), reverse=True)


def test_csv_and_text(linked):
    tmp, url, b, _ = linked
    rows = list(csv.DictReader(io.StringIO(run(tmp, url, "--headless", "requests", "--format", "csv"))))
    assert len(rows) == len(b.nodes) + 1 and set(REQUEST_KEYS) <= set(rows[0])
    assert Counter(r["is_subtask"] for r in rows) == Counter({"False": len(b.nodes) - 1, "True": 1, "": 1})
    first = next(r for r in rows if r["request_id"] == b.nodes[0].id)
    assert first["tools"] == "Task;Read;Bash"
    conv = list(csv.DictReader(io.StringIO(run(tmp, url, "--headless", "conversations", "--format", "csv"))))
    assert len(conv) == 2 and "compactions" in conv[0]
    txt = run(tmp, url, "--headless", "requests")
    assert f"{len(b.nodes) + 1} requests" in txt and "subtask_1 (sub)" in txt and "overloaded_error" in txt
    assert "2 conversations" in run(tmp, url, "--headless", "conversations")


def test_reports_work_before_migration_6(tmp_path):
    """Without the linking/proxy columns the reports still answer (those fields null)."""
    store = store_at(tmp_path / "db.sqlite")
    store.writer.write(
        Batch(
            sessions=[SessionRec("s", 1_700_000_000_000, 1_700_000_000_000)],
            tasks=[
                TaskRec(
                    id="req_1",
                    session_id="s",
                    ts_ms=1_700_000_000_000,
                    source=SOURCE_TRANSCRIPT,
                    model="claude-sonnet-4",
                    tokens_out=5,
                )
            ],
        )
    )
    store.close()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    rows = json.loads(run(tmp_path, url, "--headless", "requests", "--format", "json"))["requests"]
    assert len(rows) == 1 and rows[0]["tokens_out"] == 5 and rows[0]["conversation_id"] is None
    assert json.loads(run(tmp_path, url, "--headless", "conversations", "--format", "json"))["conversations"] == []


def test_since_filter_limits_requests_and_conversation_sums(linked):
    tmp, url, b, values = linked
    from nexus_tui.core.events import iso_from_ms

    cut = b.nodes[3]
    since = iso_from_ms(cut.ts_ms)
    rows = json.loads(run(tmp, url, "--headless", "requests", "--format", "json", "--since", since, "--tz", "UTC"))[
        "requests"]
    want = {n.id for n in b.nodes if n.ts_ms >= cut.ts_ms} | {"req_transcript"}
    assert {r["request_id"] for r in rows} == want
    convs = json.loads(run(tmp, url, "--headless", "conversations", "--format", "json", "--since", since))[
        "conversations"]
    first = next(c for c in convs if c["conversation_id"] == L.conversation_id_for(b.nodes[0].id))
    in_range = [n for n in b.nodes if n.ts_ms >= cut.ts_ms and n.conv_root == b.nodes[0].id]
    assert first["requests"] == len(in_range)
    assert first["tokens_out"] == sum(values[n.id]["tokens_out"] for n in in_range)
    assert first["root_request_id"] is None and first["session_id"] == "proxy-s"
