"""Where the proxy's requests show in the dashboard (issue 11 section 4), driven with the Textual pilot over a store
holding linked proxy requests written through the real writer (hashes of the real linking captures): the session's
conversation tree (branches, retries, sub-tasks; tokens, cost, latency, TTFT per request), the task's proxy fields,
the Sessions screen's mark."""

from __future__ import annotations

import json

import pytest

from nexus_tui.core import linking as L
from nexus_tui.core.convtree import conversation_lines
from nexus_tui.core.events import SOURCE_PROXY, Batch, SessionRec, TaskRec
from nexus_tui.core.report import fmt_ms, fmt_usd
from tests.proxy_upstream import CAPTURES_DIR
from tests.tui_helpers import SIZE, cells, settle

pytestmark = pytest.mark.skipif(not CAPTURES_DIR.is_dir(), reason="shared proxy captures not beside the repo")

T0 = 1_750_420_376_000  # 2025-06-20T11:52:56Z
EVIL = "evil[/b][red]x[link=http://h]y"  # data that would be markup if it were read as markup


def _cap(name: str) -> dict:
    return json.loads((CAPTURES_DIR / name).read_text())


def _linked_store(path):
    """Five linked requests in session sess-px (a conversation with a continuation, a failed retry and a branch; a
    second conversation whose sub-task was recorded under another session) plus a transcript-only session."""
    from nexus_tui.store import open_store

    one, two, sub = (_cap(n) for n in ("linking-01-simple-start.json", "linking-02-branching.json",
                                       "subtask-01-subtask-matched.json"))
    prompt = sub["parent"]["task_invocations"][0]["prompt"]
    reqs = [  # id, session, offset s, body, response, tokens in/out, cost, latency, ttft, http status, error type
        ("req_p", "sess-px", 0, one["parent"]["body"], None, 100, 20, 0.5, 1500, 400, 200, None),
        ("req_c1", "sess-px", 5, one["child"]["body"], None, 200, 30, 0.25, 2500, 900, 200, None),
        ("req_e", "sess-px", 6, one["child"]["body"], None, 0, 0, 0.0, 300, None, 529, "overloaded_error"),
        ("req_c2", "sess-px", 65, two["child"]["body"], None, 300, 40, 0.125, 4000, 1200, 200, None),
        ("req_sp", "sess-px", 100, {"system": "x", "messages": [{"role": "user", "content": "Review auth"}]},
         {"content": [{"type": "tool_use", "id": "t1", "name": "Task", "input": {"prompt": prompt}}]},
         10, 5, 0.01, 800, 300, 200, None),
        ("req_sc", "sess-agent", 105, sub["child"]["body"], None, 7, 3, 0.002, 600, 250, 200, None),
    ]
    store = open_store(f"sqlite:///{path}")
    b = Batch(sessions=[SessionRec("sess-px", T0, T0 + 100_000, cli_tool="claude-code"),
                        SessionRec("sess-agent", T0 + 105_000, T0 + 106_000, cli_tool="claude-code"),
                        SessionRec("sess-cc", T0, T0 + 1000, cli_tool="claude-code")],
              tasks=[TaskRec("t-cc", "sess-cc", T0, "transcript", "claude-sonnet-4-5", tokens_in=1, tokens_out=1,
                             cost_usd=0.001)])
    for rid, sid, off, body, resp, tin, tout, cost, lat, ttft, status, etype in reqs:
        b.tasks.append(TaskRec(rid, sid, T0 + off * 1000, SOURCE_PROXY, "claude-opus-4-20250514", tokens_in=tin,
                               tokens_out=tout, cost_usd=cost, latency_ms=lat, ttft_ms=ttft, ttfb_ms=ttft and ttft - 50,
                               http_status=status, error_type=etype, status="error" if etype else "ok",
                               client=EVIL if rid == "req_e" else "claude-cli/1.0.30", retries=2 if etype else 0,
                               streamed=True, request_bytes=1234, response_bytes=5678, request_id=rid))
        h = L.request_hashes(body)
        b.links.append({"task_id": rid, "hashes": json.loads(json.dumps(h)),
                        "response_keys": [list(k) for k in L.response_keys(resp)] if resp else []})
    store.writer.write(b)
    return store


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).content)


def test_the_tree_lines_are_built_flat_along_a_branch():
    """A long conversation is a flat list (no recursion, no indentation per request); side groups indent once."""
    rows = [{"id": f"r{i}", "ts_ms": i, "conversation_id": "c", "branch_id": "main",
             "parent_request_id": f"r{i - 1}" if i else None, "is_subtask": False} for i in range(5000)]
    rows.append({"id": "b", "ts_ms": 10, "conversation_id": "c", "branch_id": "branch_x",
                 "parent_request_id": "r3", "is_subtask": False})
    lines, missing = conversation_lines(rows, max_lines=10_000)
    assert missing == 0 and [ln.kind for ln in lines[:1]] == ["conversation"]
    assert {ln.depth for ln in lines if ln.kind == "request" and ln.row["id"] != "b"} == {0}
    i = next(k for k, ln in enumerate(lines) if ln.kind == "group")
    assert (lines[i - 1].row["id"], lines[i].label, lines[i + 1].row["id"], lines[i + 1].depth) == ("r3", "branch",
                                                                                                     "b", 1)
    assert lines[i + 2].row["id"] == "r4"
    lines, missing = conversation_lines(rows, max_lines=100)
    assert len(lines) == 100 and missing == 5001 - sum(ln.kind == "request" for ln in lines) == 5001 - 98
    # corrupt links (a cycle) never loop
    cyc = [{"id": "x", "ts_ms": 1, "conversation_id": "c", "branch_id": "main", "parent_request_id": "y"},
           {"id": "y", "ts_ms": 2, "conversation_id": "c", "branch_id": "main", "parent_request_id": "x"}]
    assert conversation_lines(cyc) == ([], 2)


async def test_session_detail_shows_the_conversation_tree_and_task_detail_the_proxy_fields(tmp_path):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.screens.session_detail import SessionDetailScreen
    from nexus_tui.screens.task_detail import TaskDetailScreen

    store = _linked_store(tmp_path / "db.sqlite")
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None,
                   now_ms=T0 + 3_600_000, tz="UTC")
    conv = L.conversation_id_for("req_p")
    conv2 = L.conversation_id_for("req_sp")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        # the Sessions screen marks the sessions the proxy saw
        table = app.screen.query_one("#sessions")
        by_id = {row[-1]: row for row in cells(table)}
        assert by_id["sess-px"][2] == "claude-code ⇄" and by_id["sess-agent"][2] == "claude-code ⇄"
        assert by_id["sess-cc"][2] == "claude-code"
        assert "⇄ seen by the proxy" in _text(app, "#summary")
        app.push_screen(SessionDetailScreen("sess-px"))
        await settle(app, pilot)
        assert app.screen.query_one("#conv-box").display
        tree = _text(app, "#conversations").splitlines()
        assert tree == [
            f"Conversation {conv}  4 requests",
            f"• 11:52:56  opus-4  in 100 out 20  {fmt_usd(0.5)}  {fmt_ms(1500)}  TTFT {fmt_ms(400)}",
            "  ↳ retry on main",  # the failed request had the continuation's messages: a retry of it
            f"  • 11:53:02  opus-4  in 0 out 0  {fmt_usd(0.0)}  {fmt_ms(300)}  TTFT -  HTTP 529 overloaded_error",
            "  ↳ branch branch_20250620115401",
            f"  • 11:54:01  opus-4  in 300 out 40  {fmt_usd(0.125)}  {fmt_ms(4000)}  TTFT {fmt_ms(1200)}",
            f"• 11:53:01  opus-4  in 200 out 30  {fmt_usd(0.25)}  {fmt_ms(2500)}  TTFT {fmt_ms(900)}",
            f"Conversation {conv2}  2 requests",
            f"• 11:54:36  opus-4  in 10 out 5  {fmt_usd(0.01)}  {fmt_ms(800)}  TTFT {fmt_ms(300)}",
            "  ↳ sub-task subtask_1",  # recorded under the sub-agent's session, shown in its parent's tree
            f"  • 11:54:41  opus-4  in 7 out 3  {fmt_usd(0.002)}  {fmt_ms(600)}  TTFT {fmt_ms(250)}",
        ]
        assert (fmt_ms(1500), fmt_usd(0.5)) == ("1.5s", "$0.5000")  # the helpers as the other screens show them
        # c gives the tree the keys (it scrolls), c again gives them back to the task table
        box, table = app.screen.query_one("#conv-box"), app.screen.query_one("#tasks")
        assert app.screen.focused is table
        await pilot.press("c")
        assert app.screen.focused is box
        await pilot.press("c")
        assert app.screen.focused is table
        # the failed request's task detail: the proxy's fields, the client's text shown as text
        app.push_screen(TaskDetailScreen("req_e"))
        await settle(app, pilot)
        px = _text(app, "#proxy")
        assert px.splitlines() == [
            f"Proxy   HTTP 529 overloaded_error   Retries 2   TTFB -   TTFT -   Streamed yes   Request 1,234 B"
            f"   Response 5,678 B",
            f"Client {EVIL}",
            f"Conversation {conv}   Branch main   Parent req_p"]
        app.pop_screen()
        app.push_screen(TaskDetailScreen("req_sc"))
        await settle(app, pilot)
        assert _text(app, "#proxy").splitlines()[-1] == \
            f"Conversation {conv2}   Branch subtask_1   Parent req_sp   Sub-task of req_sp"
        app.pop_screen()
        app.pop_screen()
        # a session the proxy never saw shows no tree and no proxy fields
        app.push_screen(SessionDetailScreen("sess-cc"))
        await settle(app, pilot)
        assert not app.screen.query_one("#conv-box").display
        app.push_screen(TaskDetailScreen("t-cc"))
        await settle(app, pilot)
        assert not app.screen.query_one("#proxy").display
    store.close()
