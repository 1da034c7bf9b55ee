"""Tool waits (issue 10, A23): time waiting for the user is kept apart from execution, on the real transcripts
(AskUserQuestion, ExitPlanMode, rejected calls, permission prompts before Write/Edit) and on hand-built lines (a
Bash command's progress, acceptEdits and bypassPermissions modes, a call whose result comes in a later pass)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import text

from nexus_tui.core import waits
from nexus_tui.core.filters import Filters
from nexus_tui.store.read import tools as RT
from tests.conftest import CC, copy_cc_tree, require_shared
from tests.helpers import collector_for, store_at


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _calls_in_files() -> dict[str, dict]:
    """Independently of the parser: every tool call of the real transcripts with its name, total time, result text,
    toolUseResult and the session's permission mode."""
    uses, out = {}, {}
    for f in sorted(CC.rglob("*.jsonl")):
        mode = None
        for line in f.read_text().splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if not isinstance(d, dict) or not d.get("timestamp"):
                continue
            mode = d.get("permissionMode", mode)
            m = d.get("message") if isinstance(d.get("message"), dict) else {}
            for b in m.get("content") if isinstance(m.get("content"), list) else []:
                if b.get("type") == "tool_use":
                    uses.setdefault(b["id"], (_ms(d["timestamp"]), b["name"]))
                elif b.get("type") == "tool_result" and b.get("tool_use_id") in uses:
                    c = b.get("content")
                    t0, name = uses[b["tool_use_id"]]
                    out.setdefault(b["tool_use_id"], {
                        "name": name, "total": _ms(d["timestamp"]) - t0, "mode": mode, "tur": d.get("toolUseResult"),
                        "text": c if isinstance(c, str) else json.dumps(c), "error": b.get("is_error") is True})
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    require_shared()
    tmp = tmp_path_factory.mktemp("waits")
    store = store_at(tmp / "db.sqlite")
    collector_for(store, copy_cc_tree(tmp / "claude")).run_once()
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT id, tool_name, latency_ms, wait_ms FROM tool_calls"))}
    yield store, rows
    store.close()


def test_questions_to_the_user_are_all_wait(real):
    _, rows = real
    calls = _calls_in_files()
    asks = {k: c for k, c in calls.items() if c["name"] in ("AskUserQuestion", "ExitPlanMode")}
    assert len(asks) == 3
    for k, c in asks.items():
        assert (rows[k].latency_ms, rows[k].wait_ms) == (0, c["total"]), c["name"]
    assert max(c["total"] for c in asks.values()) > 60_000  # minutes of waiting, no longer counted as latency


def test_rejected_calls_are_all_wait_and_approved_edits_after_a_prompt_are_waits(real):
    _, rows = real
    calls = _calls_in_files()
    rejected = {k: c for k, c in calls.items() if c["error"] and "The user doesn't want to" in c["text"]}
    assert len(rejected) >= 2
    for k, c in rejected.items():
        assert (rows[k].latency_ms, rows[k].wait_ms) == (0, c["total"])
    # a Write that took 4 minutes in a session that prompts (no bypass): a permission prompt
    slow = {k: c for k, c in calls.items() if c["name"] in ("Write", "Edit", "NotebookEdit") and c["total"] > 2000
            and c["mode"] not in ("bypassPermissions", "acceptEdits")}
    assert max(c["total"] for c in slow.values()) == 244_848
    for k, c in slow.items():
        assert (rows[k].latency_ms, rows[k].wait_ms) == (0, c["total"])


def test_bypass_mode_and_read_only_tools_have_no_waits_and_own_run_times_stay_latency(real):
    _, rows = real
    calls = _calls_in_files()
    for k, c in calls.items():
        rejected = c["error"] and "The user doesn't want to" in c["text"]
        if c["name"] in ("Read", "Grep", "LS", "TodoWrite") or (c["mode"] == "bypassPermissions"
                                                                  and c["name"] not in waits.QUESTION_TOOLS):
            if not rejected:
                assert rows[k].wait_ms is None and rows[k].latency_ms == c["total"], (c["name"], c["mode"])
    # the sub-agent (Task) reports totalDurationMs within a few ms of its span: no wait
    tasks = [k for k, c in calls.items() if c["name"] == "Task"]
    assert tasks and all(rows[k].wait_ms is None for k in tasks)


def test_tools_report_latency_is_execution_and_waits_are_shown_apart(real):
    store, rows = real
    rep = {r["tool"]: r for r in RT.tools_report(store.engine, Filters())}
    calls = _calls_in_files()
    write_total = sorted(c["total"] for c in calls.values() if c["name"] == "Write")
    write_exec = sorted(rows[k].latency_ms for k, c in calls.items() if c["name"] == "Write")
    assert rep["Write"]["max_ms"] == max(write_exec) < 5000 < max(write_total)
    assert rep["Write"]["p95_ms"] <= max(write_exec)
    w = sorted(rows[k].wait_ms for k, c in calls.items() if c["name"] == "Write" and rows[k].wait_ms)
    assert rep["Write"]["waits"] == len(w) and rep["Write"]["wait_total_ms"] == sum(w)
    assert rep["Write"]["wait_p50_ms"] == w[(len(w) + 1) // 2 - 1]  # nearest rank
    ask = rep["AskUserQuestion"]
    assert ask["p50_ms"] == 0 and ask["waits"] == 2 and ask["wait_p50_ms"] > 60_000
    assert rep["Read"]["waits"] == 0 and rep["Read"]["wait_p50_ms"] is None


# ------------------------------------------------------------------ hand-built lines

SID = "99999999-2222-3333-4444-555555555555"


def _env(**kw):
    return {"sessionId": SID, "version": "2.1.39", "cwd": "/p", "gitBranch": "main", "isSidechain": False,
            "userType": "external", **kw}


def _use(tid, name, ts, **kw):
    return _env(type="assistant", uuid=f"a-{tid}", timestamp=ts, requestId=f"req-{tid}",
                message={"id": f"msg-{tid}", "role": "assistant", "model": "claude-sonnet-4-5",
                         "content": [{"type": "tool_use", "id": tid, "name": name, "input": {}}],
                         "usage": {"input_tokens": 1, "output_tokens": 1}}, **kw)


def _result(tid, ts, mode=None, tur=None, content="ok", error=False):
    extra = {"permissionMode": mode} if mode else {}
    if tur is not None:
        extra["toolUseResult"] = tur
    return _env(type="user", uuid=f"r-{tid}", timestamp=ts, message={"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": tid, "content": content, "is_error": error}]}, **extra)


def _progress(tid, ts, elapsed):
    return _env(type="progress", uuid=f"p-{tid}-{ts}", timestamp=ts, parentToolUseID=tid, toolUseID=f"bp-{ts}",
                data={"type": "bash_progress", "output": "", "fullOutput": "", "elapsedTimeSeconds": elapsed,
                      "totalLines": 1})


def _ingest(tmp_path, lines, passes=1):
    proj = tmp_path / "projects" / "-p"
    proj.mkdir(parents=True, exist_ok=True)
    f = proj / f"{SID}.jsonl"
    store = store_at(tmp_path / "db.sqlite")
    col = collector_for(store, tmp_path / "projects")
    per = -(-len(lines) // passes)
    for i in range(passes):  # appended in parts, one pass each: the call's start is carried in the file's state
        with f.open("a") as fh:
            fh.write("".join(json.dumps(x) + "\n" for x in lines[i * per:(i + 1) * per]))
        col.run_once()
    with store.engine.connect() as conn:
        rows = {r.id: (r.latency_ms, r.wait_ms) for r in conn.execute(
            text("SELECT id, latency_ms, wait_ms FROM tool_calls"))}
    store.close()
    return rows


@pytest.mark.parametrize("passes", [1, 2, 4])
def test_bash_progress_gives_the_start_of_execution_after_a_prompt(tmp_path, passes):
    lines = [_result("x0", "2026-03-01T09:59:00.000Z", mode="default"),
             _use("b1", "Bash", "2026-03-01T10:00:00.000Z"),
             _progress("b1", "2026-03-01T10:00:32.000Z", 2.0),  # started at :30: 30 s at the prompt
             _progress("b1", "2026-03-01T10:00:33.000Z", 3.0),
             _result("b1", "2026-03-01T10:00:40.500Z")]
    rows = _ingest(tmp_path, lines, passes)
    assert rows["b1"] == (10_500, 30_000)


def test_modes_that_do_not_prompt_leave_the_time_as_execution(tmp_path):
    lines = [_result("x0", "2026-03-01T09:59:00.000Z", mode="acceptEdits"),
             _use("w1", "Write", "2026-03-01T10:00:00.000Z"), _result("w1", "2026-03-01T10:00:09.000Z"),
             _use("b1", "Bash", "2026-03-01T10:01:00.000Z"),  # acceptEdits still prompts for Bash
             _progress("b1", "2026-03-01T10:01:12.000Z", 2.0), _result("b1", "2026-03-01T10:01:13.000Z"),
             _result("x1", "2026-03-01T10:02:00.000Z", mode="bypassPermissions"),
             _use("w2", "Write", "2026-03-01T10:03:00.000Z"), _result("w2", "2026-03-01T10:03:09.000Z"),
             _use("q1", "AskUserQuestion", "2026-03-01T10:04:00.000Z"),
             _result("q1", "2026-03-01T10:05:00.000Z", tur={"questions": [], "answers": {}})]
    rows = _ingest(tmp_path, lines)
    assert rows["w1"] == (9000, None) and rows["w2"] == (9000, None)
    assert rows["b1"] == (3000, 10_000)
    assert rows["q1"] == (0, 60_000)  # a question is a wait in any mode


def test_a_tools_own_duration_is_execution_and_the_rest_a_wait(tmp_path):
    lines = [_use("s1", "WebSearch", "2026-03-01T10:00:00.000Z"),
             _result("s1", "2026-03-01T10:00:30.000Z", tur={"query": "q", "results": [], "durationSeconds": 5.5}),
             _use("g1", "Glob", "2026-03-01T10:01:00.000Z"),  # read-only: never a wait
             _result("g1", "2026-03-01T10:01:30.000Z", tur={"filenames": [], "durationMs": 20}),
             _use("s2", "WebSearch", "2026-03-01T10:02:00.000Z"),  # within MIN_WAIT: no wait
             _result("s2", "2026-03-01T10:02:06.000Z", tur={"durationSeconds": 5.0})]
    rows = _ingest(tmp_path, lines)
    assert rows["s1"] == (5500, 24_500)
    assert rows["g1"] == (30_000, None) and rows["s2"] == (6000, None)


@pytest.mark.parametrize("tool, total, kw, want", [
    ("AskUserQuestion", 5000, {}, (0, 5000)),
    ("Bash", 5000, {"failed": True, "result_text": "The user doesn't want to proceed with this tool use. The"},
     (0, 5000)),
    ("Bash", 5000, {"failed": True, "result_text": "Error: exit 1 The user doesn't want to proceed"}, None),
    ("Edit", 1500, {}, None),
    ("Edit", 2500, {"mode": "plan"}, (0, 2500)),
    ("Bash", 60_000, {}, None),  # a long command with nothing to tell a prompt from its run: execution
    ("Task", 10_000, {"tur": {"totalDurationMs": 9_990}}, None),
    ("Task", 10_000, {"tur": {"totalDurationMs": -5}}, None),
    ("Task", 10_000, {"tur": {"totalDurationMs": True}}, None),
    ("WebFetch", 10_000, {"tur": {"durationMs": 50_000}}, None),  # more than the span: all execution
    (None, 10_000, {}, None),
    ("Edit", 0, {}, None),
])
def test_split_by_table(tool, total, kw, want):
    assert waits.split(tool, total, **kw) == want
