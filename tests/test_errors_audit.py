"""--headless errors and --headless audit on the real fixtures, against counts computed here from the transcripts;
their golden files; ingest problems and API errors; targets of calls stored before schema version 9; hostile text."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from nexus_tui.core.events import Batch, ErrorRec, SessionRec, TaskRec, ToolResultRec, ToolUseRec
from nexus_tui.core.filters import Filters
from tests.conftest import CC, REPO, copy_cc_tree
from tests.test_reports_contract import run  # the CLI in a test home, the golden files' fixed machine id

GOLDEN = REPO / "tests" / "golden"
UPDATE = os.environ.get("NEXUS_UPDATE_GOLDEN") == "1"
RANGE = ("--tz", "UTC", "--since", "2025-06-01", "--until", "2026-02-28")
AUDIT_SESSION = "d3ad4cdc-5657-435d-98fa-0035d53e383d"  # sniffly: Write, Edit, NotebookEdit, Bash, WebSearch, ...


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("errors")
    copy_cc_tree(tmp / "claude")
    run(tmp, "ingest")
    return tmp


def out(tmp, name, fmt, *extra) -> str:
    return run(tmp, "--headless", name, "--format", fmt, "--no-collect", *extra).stdout


# ------------------------------------------------------------------ independent readings of the transcripts
def _lines():
    """(file, line dict, the message dicts it holds, the agent of those messages) of every fixture line."""
    for f in sorted(CC.rglob("*.jsonl")):
        for raw in f.read_text().splitlines():
            try:
                d = json.loads(raw)
            except ValueError:
                continue
            msgs, agent = [d], d.get("agentId")
            if d.get("type") == "progress" and (d.get("data") or {}).get("type") == "agent_progress":
                msgs.append(d["data"].get("message") or {})
                agent = d["data"].get("agentId") or agent
            yield f, d, msgs, agent


def _calls() -> dict[str, dict]:
    """tool_use id -> {name, input, agent, session, failed, message} straight from the files."""
    calls: dict[str, dict] = {}
    results: dict[str, dict] = {}
    for _f, d, msgs, agent in _lines():
        for m in msgs:
            msg = m.get("message") or {}
            content = msg.get("content")
            if not isinstance(content, list) or msg.get("model") == "<synthetic>":
                continue
            for b in content:
                if b.get("type") == "tool_use":
                    calls.setdefault(b["id"], {"name": b["name"], "input": b.get("input"), "agent": agent,
                                               "session": d.get("sessionId")})
                elif b.get("type") == "tool_result":
                    results.setdefault(b["tool_use_id"], b)
    for cid, c in calls.items():
        r = results.get(cid)
        c["failed"] = None if r is None else r.get("is_error") is True
    return calls


def _program(command: str) -> str:
    words = command.split()
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
        words.pop(0)
    return os.path.basename(words[0].strip("'\"")) if words else None


def _expected_target(name: str, inp: dict):
    if name in ("Read", "Write", "Edit", "MultiEdit"):
        return inp.get("file_path")
    if name == "NotebookEdit":
        return inp.get("notebook_path") or inp.get("file_path")
    if name == "Bash":
        return _program(inp["command"])
    if name == "WebFetch":
        return urlsplit(inp["url"]).hostname
    if name in ("Grep", "Glob", "LS"):
        return inp.get("path")
    return None


# ------------------------------------------------------------------ errors
def test_errors_report_lists_every_failed_call_with_its_tool_and_agent(fx):
    calls = _calls()
    failed = {cid: c for cid, c in calls.items() if c["failed"]}
    rows = json.loads(out(fx, "errors", "json"))["errors"]
    assert len(rows) == len(failed) > 0
    assert Counter(r["tool"] for r in rows) == Counter(c["name"] for c in failed.values())
    assert Counter(r["component"] for r in rows) == Counter(
        "main" if not c["agent"] else f"agent {c['agent']}" for c in failed.values())
    assert {r["id"] for r in rows} == set(failed)
    assert all(r["session_id"] == failed[r["id"]]["session"] for r in rows)
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True)  # newest first
    # the tools report counts the same failures
    tools = json.loads(out(fx, "tools", "json"))["tools"]
    assert sum(t["failures"] for t in tools) == len(rows)


def test_errors_filters_by_component_kind_tool_session_and_search(fx):
    calls = _calls()
    failed = {cid: c for cid, c in calls.items() if c["failed"]}
    sub = [c for c in failed.values() if c["agent"]]
    agent = Counter(c["agent"] for c in sub).most_common(1)[0][0]
    rows = json.loads(out(fx, "errors", "json", "--component", f"agent {agent}"))["errors"]
    assert len(rows) == sum(1 for c in sub if c["agent"] == agent)
    main = json.loads(out(fx, "errors", "json", "--component", "main"))["errors"]
    assert len(main) == sum(1 for c in failed.values() if not c["agent"])
    bash = json.loads(out(fx, "errors", "json", "--tool", "Bash"))["errors"]
    assert len(bash) == sum(1 for c in failed.values() if c["name"] == "Bash")
    sid = AUDIT_SESSION
    in_session = json.loads(out(fx, "errors", "json", "--session", sid))["errors"]
    assert len(in_session) == sum(1 for c in failed.values() if c["session"] == sid)
    kinds = Counter(r["kind"] for r in json.loads(out(fx, "errors", "json"))["errors"])
    kind, n = kinds.most_common(1)[0]
    assert len(json.loads(out(fx, "errors", "json", "--kind", kind))["errors"]) == n
    found = json.loads(out(fx, "errors", "json", "--search", "SIBLING tool"))["errors"]
    assert found and all("sibling tool" in r["message"].lower() for r in found)
    assert len(found) == sum(1 for r in json.loads(out(fx, "errors", "json"))["errors"]
                             if "sibling tool" in r["message"].lower())
    assert json.loads(out(fx, "errors", "json", "--since", "2030-01-01"))["errors"] == []


# ------------------------------------------------------------------ audit
def test_audit_lists_every_call_in_order_with_target_outcome_and_changed_files(fx):
    calls = _calls()
    mine = {cid: c for cid, c in calls.items() if c["session"] == AUDIT_SESSION}
    doc = json.loads(out(fx, "audit", "json", "--session", AUDIT_SESSION))
    assert doc["schema_version"] == 2 and doc["report"] == "audit" and doc["session_id"] == AUDIT_SESSION
    rows = doc["calls"]
    assert doc["tool_calls"] == len(rows) == len(mine)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    by_tool = Counter(r["tool"] for r in rows)
    assert by_tool == Counter(c["name"] for c in mine.values())
    # every target, computed here from the transcript's tool_use inputs; never an argument or a content
    got = Counter((r["tool"], r["target"]) for r in rows)
    want = Counter((c["name"], _expected_target(c["name"], c["input"])) for c in mine.values())
    assert got == want
    assert any(t == "Bash" and p for t, p in got) and any(t == "NotebookEdit" and p for t, p in got)
    assert all(" " not in (r["target"] or "") for r in rows if r["tool"] == "Bash")
    assert Counter(r["outcome"] for r in rows) == Counter(
        "pending" if c["failed"] is None else "failed" if c["failed"] else "ok" for c in mine.values())
    assert doc["tool_failures"] == sum(1 for c in mine.values() if c["failed"])
    edits = Counter(_expected_target(c["name"], c["input"]) for c in mine.values()
                    if c["name"] in ("Write", "Edit", "MultiEdit", "NotebookEdit") and c["failed"] is False)
    assert {f["path"]: f["edits"] for f in doc["files_changed"]} == dict(edits)
    assert [f["edits"] for f in doc["files_changed"]] == sorted((f["edits"] for f in doc["files_changed"]),
                                                                reverse=True)
    # the turn's tokens are the asking task's (sessions report: the same task sums)
    with_tokens = [r for r in rows if r["turn_tokens_in"] is not None]
    assert with_tokens and all(r["turn_tokens_out"] is not None for r in with_tokens)


def test_audit_turn_tokens_equal_the_task_rows(fx):
    from nexus_tui.store import open_store

    doc = json.loads(out(fx, "audit", "json", "--session", AUDIT_SESSION))
    store = open_store(f"sqlite:///{fx / 'nexus' / 'insights.db'}")
    try:
        with store.engine.connect() as conn:
            tasks = {r[0]: r[1:] for r in conn.execute(text(
                "SELECT id, tokens_in + cache_read_tokens + cache_creation_tokens, tokens_out FROM tasks"))}
    finally:
        store.close()
    for r in doc["calls"]:
        assert (r["turn_tokens_in"], r["turn_tokens_out"]) == tuple(tasks[r["task_id"]])


def test_audit_needs_a_known_session(fx):
    r = run(fx, "--headless", "audit", "--no-collect", check=False)
    assert r.returncode == 2 and "--session" in r.stderr
    r = run(fx, "--headless", "audit", "--no-collect", "--session", "no-such-session", check=False)
    assert r.returncode == 2 and "no session" in r.stderr
    short = json.loads(out(fx, "audit", "json", "--session", AUDIT_SESSION[:8]))
    assert short["session_id"] == AUDIT_SESSION
    # the reports' own options with a report that does not take them: said, exit 2
    r = run(fx, "--headless", "tools", "--no-collect", "--tool", "Bash", check=False)
    assert r.returncode == 2 and "--tool" in r.stderr and r.stdout == ""
    r = run(fx, "--headless", "audit", "--no-collect", "--session", AUDIT_SESSION, "--kind", "x", check=False)
    assert r.returncode == 2 and "--kind" in r.stderr


# ------------------------------------------------------------------ golden files and documented keys
GOLDEN_CASES = [("errors", ()), ("audit", ("--session", AUDIT_SESSION))]


@pytest.mark.parametrize("fmt", ["json", "csv", "txt"])
@pytest.mark.parametrize("name,extra", GOLDEN_CASES, ids=[n for n, _ in GOLDEN_CASES])
def test_errors_and_audit_equal_their_golden_files(fx, name, extra, fmt):
    got = out(fx, name, "text" if fmt == "txt" else fmt, *RANGE, *extra)
    path = GOLDEN / f"{name}.{fmt}"
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


def test_csv_headers_are_the_json_row_keys():
    for name, key in (("errors", "errors"), ("audit", "calls")):
        rows = json.loads((GOLDEN / f"{name}.json").read_text())[key]
        header = (GOLDEN / f"{name}.csv").read_text().splitlines()[0].split(",")
        assert header == list(rows[0])
        assert len(list(csv.DictReader(io.StringIO((GOLDEN / f"{name}.csv").read_text())))) == len(rows)


# ------------------------------------------------------------------ API errors, ingest problems, Enter's task
def _line(**kw) -> str:
    return json.dumps({"sessionId": "s-api", "cwd": "/w/p", "version": "2.1.39", **kw})


def test_api_errors_and_ingest_problems_are_listed_and_belong_to_their_task(tmp_path, db_url):
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.sources import ClaudeCodeSource
    from nexus_tui.store import open_store
    from nexus_tui.store.errors import ErrorQuery, error_list, task_of_error

    proj = tmp_path / "projects" / "-w-p"
    proj.mkdir(parents=True)
    usage = {"input_tokens": 10, "output_tokens": 5}
    (proj / "s-api.jsonl").write_text("\n".join([
        _line(type="assistant", uuid="u1", timestamp="2026-01-01T10:00:00.000Z", requestId="req_1",
              message={"id": "m1", "model": "claude-sonnet-4-5", "usage": usage, "content": []}),
        _line(type="assistant", uuid="u2", timestamp="2026-01-01T10:01:00.000Z", isApiErrorMessage=True,
              message={"id": "m2", "model": "<synthetic>", "content": [{"type": "text",
                                                                         "text": "API Error: 529 overloaded"}]}),
        "{not json",
    ]) + "\n")
    store = open_store(db_url)  # SQLite and PostgreSQL: the same SQL
    try:
        Collector(store, [ClaudeCodeSource([tmp_path / "projects"])]).run_once()
        page = error_list(store.engine, Filters(), facets=True)
        by = {r["component"]: r for r in page.rows}
        assert page.total == 2 and set(by) == {"api", "ingest"}
        assert by["api"]["kind"] == "api_error" and "529" in by["api"]["message"]
        assert by["ingest"]["kind"] == "skipped_lines" and "malformed JSON" in by["ingest"]["message"]
        assert page.facets["component"] == {"api": 1, "ingest": 1}
        assert task_of_error(store.engine, by["api"]) == "req_1"  # the turn before the API error
        assert task_of_error(store.engine, by["ingest"]) is None
        only = error_list(store.engine, Filters(), ErrorQuery(component="ingest"))
        assert [r["component"] for r in only.rows] == ["ingest"]
        assert error_list(store.engine, Filters(), ErrorQuery(tool="Bash")).total == 0
        assert error_list(store.engine, Filters(), ErrorQuery(search="OVERLOADED")).total == 1
        from nexus_tui.headless_audit import load_audit

        assert load_audit(store.engine, "s-api") == {"calls": [], "files_changed": []}
        # a file's skipped lines are not called an ingest problem (the status bar's "no ingest problems" after a
        # pass that skipped lines would contradict it): the screen and the report name them alike
        from nexus_tui.headless_audit import render_errors
        from nexus_tui.screens.errors import what_counts

        text_out, _ = render_errors(store.engine, Filters(), UTC, "text")
        said = text_out.splitlines()[-1]
        assert sorted(said.split(", ")) == ["1 API error", "1 read with skipped lines"]
        assert sorted(what_counts(page.rows).split(", ")) == sorted(said.split(", "))
        assert "ingest problem" not in text_out
    finally:
        store.close()


# ------------------------------------------------------------------ calls stored before schema version 9
def test_targets_of_calls_stored_before_version_9_are_read_from_the_transcript(fx, tmp_path):
    import shutil

    from nexus_tui.headless_audit import load_audit
    from nexus_tui.store import open_store

    db = tmp_path / "old.db"
    shutil.copy(fx / "nexus" / "insights.db", db)
    store = open_store(f"sqlite:///{db}")
    try:
        with store.engine.begin() as conn:
            stored = dict(conn.execute(text("SELECT id, target FROM tool_calls WHERE session_id = :s"),
                                       {"s": AUDIT_SESSION}).all())
            conn.execute(text("UPDATE tool_calls SET target = NULL"))  # as a version-8 database migrated holds them
        audit = load_audit(store.engine, AUDIT_SESSION)
    finally:
        store.close()
    assert {c["id"]: c["target"] for c in audit["calls"]} == stored
    assert any(stored.values())


def test_migrating_a_version_8_database_adds_the_target_column(tmp_path):
    from nexus_tui.store import open_store

    db = tmp_path / "v8.db"
    store = open_store(f"sqlite:///{db}")
    store.close()
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("ALTER TABLE tool_calls DROP COLUMN target")
    con.execute("DELETE FROM schema_version WHERE version >= 9")
    con.commit()
    con.close()
    store = open_store(f"sqlite:///{db}")
    try:
        with store.engine.connect() as conn:
            cols = [r[1] for r in conn.execute(text("PRAGMA table_info(tool_calls)"))]
            assert "target" in cols
            from nexus_tui.store.version import SCHEMA_VERSION

            assert conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() == SCHEMA_VERSION
    finally:
        store.close()


# ------------------------------------------------------------------ hostile text
HOSTILE = "boom [/red] \x1b[31mred\x1b[0m [b]x"
T0 = 1_763_000_000_000


def hostile_store(path: Path):
    from nexus_tui.store import open_store

    store = open_store(f"sqlite:///{path}")
    b = Batch()
    b.sessions.append(SessionRec(id="s-hostile", start_ms=T0, end_ms=T0 + 60_000, cli_tool="claude-code",
                                 project="p"))
    b.tasks.append(TaskRec(id="t-hostile", session_id="s-hostile", ts_ms=T0 + 1_000, source="transcript",
                           model="claude-sonnet-4-5", tokens_in=10, tokens_out=5))
    b.tool_uses.append(ToolUseRec(id="c-hostile", session_id="s-hostile", task_id="t-hostile", tool_name="Bash",
                                  started_ms=T0 + 2_000, target="ev\x1b[2Jil[/red]"))
    b.tool_results.append(ToolResultRec(id="c-hostile", session_id="s-hostile", ended_ms=T0 + 2_500, success=False,
                                        error_type="exit_code", error_message=HOSTILE))
    b.errors.append(ErrorRec(id="api:x", ts_ms=T0 + 3_000, component="api", kind="api_error",
                             message="API [/red] \x1b]0;title\x07", session_id="s-hostile"))
    store.writer.write(b)
    return store


def test_hostile_messages_are_escaped_in_every_format(tmp_path):
    from nexus_tui.headless import render
    from nexus_tui.core.filters import local_zone

    store = hostile_store(tmp_path / "h.db")
    try:
        tz = local_zone("UTC")
        txt = render("errors", store.engine, Filters(), tz, "text")
        assert "\x1b" not in txt and "\x07" not in txt
        assert "[/red] \\x1b[31mred\\x1b[0m" in txt and "\\x1b]0;title\\x07" in txt
        js = render("errors", store.engine, Filters(), tz, "json")
        assert "\x1b" not in js and "\\u001b[31m" in js
        assert {r["message"] for r in json.loads(js)["errors"]} == {HOSTILE, "API [/red] \x1b]0;title\x07"}
        cs = render("errors", store.engine, Filters(), tz, "csv")
        assert "\x1b" not in cs and "\\x1b[31m" in cs
        audit = render("audit", store.engine, Filters(), tz, "text", {"session_id": "s-hostile"})
        assert "\x1b" not in audit and "ev\\x1b[2Jil[/red]" in audit
    finally:
        store.close()


async def test_hostile_messages_show_literally_on_the_errors_screen_and_the_audit(tmp_path):
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from tests.test_tui_safety import screen_text
    from tests.tui_helpers import SIZE, settle

    store = hostile_store(tmp_path / "h.db")
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=T0 + 600_000,
                   tz="UTC")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("8")
            await settle(app, pilot)
            await pilot.pause(0.2)
            shown = screen_text(app)
            assert "\x1b" not in shown and "\x07" not in shown
            assert "boom [/red] \\x1b[31mred\\x1b[0m [b]x" in shown  # the table cell and the line below
            assert "API [/red] \\x1b]0;title\\x07" in shown
            await pilot.press("1", "enter")
            await settle(app, pilot)
            await pilot.press("a")
            await settle(app, pilot)
            await pilot.pause(0.2)
            shown = screen_text(app)
            assert "ev\\x1b[2Jil[/red]" in shown and "\x1b" not in shown
            assert "failed (exit_code)" in shown
    finally:
        store.close()


async def test_a_multi_line_message_shows_its_lines_below_the_errors_table_as_on_tools(tmp_path):
    """A tool failure's message of several lines (git's, a stack trace) is shown below the Errors table line by line,
    as Tools' failure list shows it, not as one line of "\\x0a" escapes; a control character still shows escaped."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store
    from tests.test_tui_safety import screen_text
    from tests.tui_helpers import SIZE, settle

    message = "Exit code 128\nfatal: no upstream branch \x1b[31m\n\n    git push --set-upstream origin dev"
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    b = Batch()
    b.sessions.append(SessionRec(id="s-lines", start_ms=T0, end_ms=T0 + 60_000, cli_tool="claude-code", project="p"))
    b.tasks.append(TaskRec(id="t-lines", session_id="s-lines", ts_ms=T0 + 1_000, source="transcript",
                           model="claude-sonnet-4-5", tokens_in=10, tokens_out=5))
    b.tool_uses.append(ToolUseRec(id="c-lines", session_id="s-lines", task_id="t-lines", tool_name="Bash",
                                  started_ms=T0 + 2_000))
    b.tool_results.append(ToolResultRec(id="c-lines", session_id="s-lines", ended_ms=T0 + 2_500, success=False,
                                        error_type="exit_code", error_message=message))
    store.writer.write(b)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=T0 + 600_000,
                   tz="UTC")
    try:
        async with app.run_test(size=SIZE) as pilot:
            for keys in (("8",), ("6", "enter")):  # Errors' line below the table, Tools' failure detail
                await settle(app, pilot)
                await pilot.press(*keys)
                await settle(app, pilot)
                await pilot.pause(0.2)
                lines = [x.strip() for x in screen_text(app).splitlines()]
                assert "\\x0a" not in "\n".join(lines), keys
                assert "Exit code 128" in lines and "git push --set-upstream origin dev" in lines, keys
                assert "fatal: no upstream branch \\x1b[31m" in lines, keys  # escaped, never sent to the terminal
    finally:
        store.close()


async def test_the_audit_trail_of_a_huge_session_lists_its_first_calls_and_counts_all(tmp_path, monkeypatch):
    """A session of 100,000 tool calls: the trail laid out every row on the UI thread (25 s without an answer to a
    key, 400 MB more). It lists the first AUDIT_LISTED calls, as the task list does; the title counts all of them,
    failures included."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.screens import session_detail
    from nexus_tui.store import open_store
    from tests.test_tui_safety import screen_text
    from tests.tui_helpers import SIZE, settle

    monkeypatch.setattr(session_detail, "AUDIT_LISTED", 5, raising=False)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    b = Batch(sessions=[SessionRec(id="s-big", start_ms=T0, end_ms=T0 + 60_000, cli_tool="claude-code", project="p")])
    b.tasks.append(TaskRec(id="t1", session_id="s-big", ts_ms=T0, source="transcript", model="claude-sonnet-4-5",
                           tokens_in=1, tokens_out=1))
    for i in range(8):  # failures: the 2nd and the 7th (past the listed five)
        b.tool_uses.append(ToolUseRec(id=f"c{i}", session_id="s-big", task_id="t1", tool_name="Bash",
                                      started_ms=T0 + 1_000 * i, target=f"cmd{i}"))
        b.tool_results.append(ToolResultRec(id=f"c{i}", session_id="s-big", ended_ms=T0 + 1_000 * i + 10,
                                            success=i not in (1, 6)))
    store.writer.write(b)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=T0 + 600_000,
                   tz="UTC")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("enter", "a")
            await settle(app, pilot)
            await pilot.pause(0.2)
            table = app.screen.query_one("#audit")
            assert table.row_count == 5
            assert "Audit trail 8 tool calls (first 5 listed), 2 tool failures" in screen_text(app)
    finally:
        store.close()


async def test_errors_screen_message_stays_whole_when_a_filter_narrows_the_other_columns(tmp_path):
    """At 80x24 the message cell is cut (with "…") to the room the other columns leave. After a filter whose rows
    have shorter kinds, the Kind column kept the width of the rows it showed before (a DataTable column only grew),
    so the message ran past the screen's edge, cut without "…". Each new set of rows sizes its columns afresh."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store
    from tests.test_snapshots_small import screen_text
    from tests.tui_helpers import settle

    store = open_store(f"sqlite:///{tmp_path / 'e.db'}")
    b = Batch()
    for i in range(40):  # component "wide": kinds cut to 16 cells; "narrow": 13 (both leave no room for Tool)
        comp, kind = ("wide", "k" * 30) if i % 2 else ("narrow", "skipped_lines")
        b.errors.append(ErrorRec(id=f"e{i}", ts_ms=T0 + i * 1000, component=comp, kind=kind,
                                 message=f"message {i} " + "m" * 200))
    store.writer.write(b)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=T0 + 600_000,
                   tz="UTC")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("8")
            await settle(app, pilot)
            for want in ("narrow", "wide", None, "narrow"):  # c cycles the components (by name), then all
                await pilot.press("c")
                await settle(app, pilot)
                await pilot.pause(0.2)
                await settle(app, pilot)
                lines = [x for x in screen_text(app).splitlines() if x.startswith(" 2025-") and "message " in x]
                assert (f"component {want}" if want else "40 errors") in screen_text(app), screen_text(app)
                assert len(lines) >= 10, screen_text(app)  # more than fit: the table scrolls
                for x in lines:
                    assert "m…" in x and len(x) <= 80, (want, x)  # the cut message's end is on screen
    finally:
        store.close()


def test_stored_messages_are_redacted_before_any_report_sees_them(db_url):
    """A failed call's output and an API error echoing a credential are stored redacted (the writer's prepare,
    core/redact.py): the errors list never holds the secret."""
    from nexus_tui.store import open_store
    from nexus_tui.store.errors import error_list

    key = "sk-ant-api03-" + "A" * 80 + "AA"
    store = open_store(db_url)  # SQLite and PostgreSQL
    try:
        b = Batch()
        b.sessions.append(SessionRec(id="s", start_ms=T0, end_ms=T0 + 1, cli_tool="claude-code"))
        b.tool_uses.append(ToolUseRec(id="c", session_id="s", task_id=None, tool_name="Bash", started_ms=T0,
                                      target="curl"))
        b.tool_results.append(ToolResultRec(id="c", session_id="s", ended_ms=T0 + 5, success=False,
                                            error_type="exit_code", error_message=f"curl -H 'x-api-key: {key}' failed"))
        b.errors.append(ErrorRec(id="api:1", ts_ms=T0 + 9, component="api", kind="api_error",
                                 message=f"401 invalid key {key}", session_id="s"))
        store.writer.write(b)
        rows = error_list(store.engine, Filters()).rows
        from nexus_tui.headless_audit import load_audit

        audit = load_audit(store.engine, "s")
    finally:
        store.close()
    assert [(c["tool"], c["target"], c["outcome"], c["error_type"], c["latency_ms"]) for c in audit["calls"]] == \
        [("Bash", "curl", "failed", "exit_code", 5)]
    assert [(r["component"], r["kind"], r["tool"]) for r in rows] == [("api", "api_error", None),
                                                                      ("main", "exit_code", "Bash")]
    assert len(rows) == 2
    assert all(key not in r["message"] and "[REDACTED:" in r["message"] for r in rows)


def _sessions_store(path: Path, ids):
    """A store with one failed Bash call in each of the sessions ``ids``."""
    from nexus_tui.store import open_store

    store = open_store(f"sqlite:///{path}")
    b = Batch()
    for i, sid in enumerate(ids):
        b.sessions.append(SessionRec(id=sid, start_ms=T0 + i, end_ms=T0 + 60_000, cli_tool="claude-code", project="p"))
        b.tool_uses.append(ToolUseRec(id=f"c-{sid}", session_id=sid, task_id=None, tool_name="Bash",
                                      started_ms=T0 + 1_000 + i))
        b.tool_results.append(ToolResultRec(id=f"c-{sid}", session_id=sid, ended_ms=T0 + 2_000 + i, success=False,
                                            error_type="exit_code", error_message=f"failed in {sid}"))
    store.writer.write(b)
    return store


def test_an_ambiguous_session_prefix_is_said_with_its_count_and_first_matches(tmp_path):
    """``audit --session PREFIX`` with a prefix of several sessions said 'no session PREFIX'; the MCP server's
    session_detail counted at most 6 matches. Both say the prefix is ambiguous, how many sessions it matches and
    the first five; ``errors --session`` takes a unique prefix (its table shows 8 characters) and refuses an
    ambiguous one the same way."""
    from nexus_tui.core.filters import local_zone
    from nexus_tui.headless import render
    from nexus_tui.headless_audit import ReportArgumentError
    from nexus_tui.mcp_serve import Reader
    from nexus_tui.config import load_settings

    ids = [f"abc{i:02d}-x" for i in range(8)] + ["abd00-y", "zz_%-1"]
    store = _sessions_store(tmp_path / "p.db", ids)
    tz = local_zone("UTC")
    try:
        with pytest.raises(ReportArgumentError) as e:
            render("audit", store.engine, Filters(), tz, "text", {"session_id": "abc"})
        assert str(e.value) == ("the prefix 'abc' is ambiguous: it matches 8 sessions (abc00-x, abc01-x, abc02-x, "
                                "abc03-x, abc04-x and 3 more); give more of the id")
        with pytest.raises(ReportArgumentError) as e:
            render("audit", store.engine, Filters(), tz, "text", {"session_id": "ab"})
        assert "matches 9 sessions" in str(e.value) and "and 4 more" in str(e.value)
        with pytest.raises(ReportArgumentError) as e:
            render("audit", store.engine, Filters(), tz, "text", {"session_id": "nope"})
        assert str(e.value) == "no session 'nope'"
        with pytest.raises(ReportArgumentError) as e:  # LIKE wildcards in the prefix are literal
            render("audit", store.engine, Filters(), tz, "text", {"session_id": "z_"})
        assert str(e.value) == "no session 'z_'"
        assert json.loads(render("audit", store.engine, Filters(), tz, "json", {"session_id": "abd"}))[
            "session_id"] == "abd00-y"
        assert json.loads(render("audit", store.engine, Filters(), tz, "json", {"session_id": "zz_%"}))[
            "session_id"] == "zz_%-1"

        def errors(ref):
            doc = json.loads(render("errors", store.engine, Filters(), tz, "json", {"session_id": ref}))
            return [r["message"] for r in doc["errors"]]

        assert errors("abc03") == ["failed in abc03-x"] and errors("abd00-y") == ["failed in abd00-y"]
        assert errors("gone-session") == []  # an id without a session row filters as before
        with pytest.raises(ReportArgumentError) as e:
            errors("abc0")
        assert "the prefix 'abc0' is ambiguous: it matches 8 sessions" in str(e.value)

        reader = Reader(store.engine, load_settings(home=str(tmp_path / "home"), claude_dirs=()), tz, str(tmp_path))
        detail, why = reader.session_detail("abc")
        assert not detail.found and detail.candidates == ids[:5]
        assert why.startswith("the prefix 'abc' is ambiguous: it matches 8 sessions (abc00-x"), why
    finally:
        store.close()
