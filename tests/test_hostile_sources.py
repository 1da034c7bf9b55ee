"""Hostile values through the sources other than Claude Code transcripts (OTLP, the event log and what the proxy,
mcp-wrap and the status-line command write to it, LunaRoute): a bad value costs only its record, with a reason; text
from data is stored without secrets and shown as text."""

from __future__ import annotations

import unicodedata

import pytest

from nexus_tui.core.parse import otel

T0_NANO = "1772366400000000000"  # 2026-03-01T12:00:00Z


def _api_request(tokens_value) -> dict:
    attrs = [{"key": "event.name", "value": {"stringValue": "api_request"}},
             {"key": "session.id", "value": {"stringValue": "s-otel"}},
             {"key": "model", "value": {"stringValue": "claude-opus-4-6"}},
             {"key": "output_tokens", "value": {"intValue": 7}}]
    if tokens_value is not ...:
        attrs.append({"key": "input_tokens", "value": tokens_value})
    return {"timeUnixNano": T0_NANO, "attributes": attrs}


@pytest.mark.parametrize("bad", [{"intValue": "x"}, {"intValue": "12abc"}, {"stringValue": 5}, {"intValue": True},
                                 {"intValue": [1]}, {"doubleValue": "NaN"}, {"doubleValue": "Infinity"}, [1], "10",
                                 10, {"stringValue": None}, {"bytesValue": "AAE="}, {"intvalue": 10}])
def test_an_otlp_count_that_is_not_a_valid_value_rejects_its_record_not_counted_as_zero(bad):
    """A token count whose value is not an OTLP AnyValue of a number (a non-numeric intValue string, a number where
    the AnyValue object goes, a string typed as stringValue's neighbour) was read as absent, so the request was
    stored with 0 input tokens. It is rejected with its reason; the good record beside it is kept."""
    good = _api_request({"intValue": "12"})
    good["attributes"][1]["value"]["stringValue"] = "s-good"
    b = otel.parse_logs({"resourceLogs": [{"scopeLogs": [{"logRecords": [_api_request(bad), good]}]}]})
    assert [(t.session_id, t.tokens_in, t.tokens_out) for t in b.tasks] == [("s-good", 12, 7)]
    assert b.skipped == {"invalid api_request event: input_tokens is negative or not a count": 1}


def test_an_otlp_value_out_of_range_is_rejected_with_its_reason_not_a_type_name():
    """A duration of inf or a response's total over 2^31-1 rejected the record with "invalid api_request event
    (BadValue)": the reason (a fixed text naming the field) was left out."""
    recs = []
    for extra in ({"key": "duration_ms", "value": {"doubleValue": 1e300}},
                  {"key": "duration_ms", "value": {"stringValue": "soon"}},
                  {"key": "cache_read_tokens", "value": {"intValue": 2**31 - 1}}):
        r = _api_request({"intValue": "12"})
        r["attributes"].append(extra)
        recs.append(r)
    b = otel.parse_logs({"resourceLogs": [{"scopeLogs": [{"logRecords": recs}]}]})
    assert b.tasks == [] and b.skipped == {
        "invalid api_request event: duration_ms: out of range": 1,
        "invalid api_request event: duration_ms: not a number": 1,
        "invalid api_request event: tokens: the response's total is out of range": 1}, b.skipped


@pytest.mark.parametrize("absent", [..., None, {}])
def test_an_absent_or_empty_otlp_count_is_zero(absent):
    b = otel.parse_logs({"resourceLogs": [{"scopeLogs": [{"logRecords": [_api_request(absent)]}]}]})
    assert [(t.tokens_in, t.tokens_out) for t in b.tasks] == [(0, 7)] and b.skipped == {}


def test_a_tool_name_that_is_not_a_valid_value_leaves_gemini_clis_function_name():
    """An invalid tool_name (a value that is not a string) is no name: Gemini CLI's function_name is taken, as when
    tool_name is absent (the invalid marker is truthy, so `a or b` kept it and the record was refused)."""
    def rec(extra):
        attrs = [{"key": "event.name", "value": {"stringValue": "gemini_cli.tool_call"}},
                 {"key": "session.id", "value": {"stringValue": "s-gem"}},
                 {"key": "function_name", "value": {"stringValue": "read_file"}},
                 {"key": "success", "value": {"boolValue": True}}] + extra
        return {"timeUnixNano": T0_NANO, "attributes": attrs}

    for extra in ([], [{"key": "tool_name", "value": {"intValue": "x"}}], [{"key": "tool_name", "value": [1]}],
                  [{"key": "tool_name", "value": {"stringValue": ""}}]):
        b = otel.parse_logs({"resourceLogs": [{"scopeLogs": [{"logRecords": [rec(extra)]}]}]})
        assert [r.tool_name for r in b.tool_results] == ["read_file"] and b.skipped == {}, (extra, b.skipped)


# --- secrets in labels: headers, accounts, personas, projects -------------------------------------------------------

AK = "sk-ant-api03-" + "Zq9" * 30 + "-AbCdEfGh_AA"
GH = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
AWS = "AKIA" + "IOSFODNN7EXAMPL1"
PLANTED = [AK, GH, AWS, "hunter2pw77"]
LEAK = f"key {AK} gh {GH} aws {AWS} https://u:hunter2pw77@h/x"


def _no_secret(data: bytes, where: str) -> None:
    for s in PLANTED:
        assert s[:14].encode() not in data, f"{s[:14]} in {where}"


def test_the_proxy_event_holds_no_secret_from_the_request_headers_or_the_response(tmp_path):
    """The proxy redacted only the error message of its event: a user agent, an x-nexus-persona or
    x-nexus-routing-reason header, an organization id or a rate-limit header holding a key reached the event log."""
    import json
    import time

    from multidict import CIMultiDict

    from nexus_tui.collect.proxy import EventSink, _finish
    from nexus_tui.core.parse.nexus_events import invalid_reason
    from nexus_tui.core.parse.proxy import AnthropicStream

    parser = AnthropicStream("application/json")
    parser.feed(json.dumps({"type": "error", "error": {"type": f"auth {GH}", "message": LEAK}}).encode())
    headers = {"user-agent": f"claude-cli/2.1.0 {LEAK}", "x-nexus-persona": f"p {LEAK}",
               "x-nexus-routing-reason": f"r {LEAK}", "x-nexus-classifier-version": f"c {AWS}"}
    rec = {"id": None, "route": "anthropic", "path": "/v1/messages", "kind": "messages", "routing": "cloud",
           "request_bytes": 10, "headers": headers,
           "request_body": json.dumps({"model": "claude-opus-4-6", "messages": [{"role": "user", "content": "hi"}]})
           .encode()}
    resp = CIMultiDict({"request-id": "req_1", "anthropic-organization-id": f"org {GH}",
                        "anthropic-ratelimit-unified-status": f"allowed {AK}",
                        "anthropic-ratelimit-unified-5h-utilization": "0.5",
                        "anthropic-ratelimit-unified-5h-status": f"allowed {AWS}",
                        f"anthropic-ratelimit-unified-{GH}-utilization": "0.25"})  # a header's name, too
    _finish(rec, parser, 401, resp, 0.001, None, 5, time.perf_counter(), None, None)
    sink = EventSink.__new__(EventSink)  # its event builder only (no thread)
    sink.store_bodies, sink._hashes = False, None
    from nexus_tui.core.redact import redact
    sink._redact = redact
    ev = json.loads(json.dumps(sink.event(rec)))  # as the log line holds it
    assert invalid_reason(ev) is None, invalid_reason(ev)
    _no_secret(json.dumps(ev).encode(), "the proxy_request event")
    assert ev["client"].startswith("claude-cli/2.1.0 key [REDACTED:anthropic-key]"), ev["client"]
    assert ev["persona"].startswith("p key [REDACTED:") and ev["routing_reason"].startswith("r key [REDACTED:")
    assert ev["http_status"] == 401 and ev["route"] == "anthropic" and "hashes" in ev


def test_labels_from_every_event_log_source_are_stored_without_secrets(tmp_path):
    """The writer redacted error text, routing reasons, error labels and titles only. A persona, a project, a cwd, a
    user agent, an account or a quota status from the event log (written by the proxy, mcp-wrap, the status-line
    command or any recorder) holding a key was stored as it was, in the tasks, sessions, rollups and quota
    snapshots. Every string a record carries to the store is redacted now, except its keys."""
    import json

    from sqlalchemy import text

    from tests.test_store import _cli

    ts = "2026-03-01T12:00:0{}.000Z"
    events = [
        {"v": 1, "type": "session_start", "ts": ts.format(0), "session_id": "s-ev", "cli_tool": f"cli {GH}",
         "persona": f"pe {LEAK}", "nexus_mode": "hybrid", "project": f"pr {AWS}", "cwd": f"/w/{LEAK}"},
        {"v": 1, "type": "task", "ts": ts.format(1), "id": "t1", "session_id": "s-ev", "model": f"m {AK}",
         "routing": "cloud", "tier": f"ti {GH}", "component": f"co {AWS}", "tokens_in": 5, "tokens_out": 3},
        {"v": 1, "type": "tool_call", "ts": ts.format(2), "id": "c1", "session_id": "s-ev", "tool": f"to {GH}",
         "server": f"sv {AK}", "latency_ms": 3, "success": True, "request_size": 4},
        {"v": 1, "type": "proxy_request", "ts": ts.format(3), "id": "req_px1", "session_id": "s-px",
         "route": "anthropic", "path": "/v1/messages", "kind": "messages", "model": "claude-opus-4-6",
         "routing": "cloud", "persona": f"ppe {LEAK}", "client": f"ua/1 {LEAK}", "account": f"acct {GH}",
         "stop_reason": f"sr {AWS}", "tokens_in": 10, "tokens_out": 5, "http_status": 200,
         "tools": [{"id": "tu1", "name": f"tool {AK}"}],
         "quota": [{"window": "five_hour", "used_fraction": 0.5, "resets_at_ms": 1772373600000,
                    "status": f"allowed {AK}", "raw": {"h": LEAK}}]},
        {"v": 1, "type": "statusline", "ts": ts.format(4), "session_id": "s-px", "model": f"Opus {AK}",
         "cwd": f"/w/{LEAK}", "context_used_pct": 50,
         "rate_limits": {"five_hour": {"used_percentage": 40, "resets_at": 1772370000}}},
    ]
    logs = tmp_path / "nexus" / "logs"
    logs.mkdir(parents=True)
    (logs / "2026-03-01.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0 and "skipped lines: 0" in r.stdout, r.stdout + r.stderr
    for p in (tmp_path / "nexus").iterdir():
        if p.name.startswith("insights.db"):
            _no_secret(p.read_bytes(), p.name)
    from tests.helpers import store_at

    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        persona, project = conn.execute(text("SELECT persona, project FROM sessions WHERE id = 's-ev'")).one()
        client = conn.execute(text("SELECT client FROM tasks WHERE id = 'req_px1'")).scalar_one()
        quota = conn.execute(text("SELECT account, status FROM quota_snapshots WHERE source = 'proxy'")).one()
        ids = sorted(conn.execute(text("SELECT id FROM tasks")).scalars())
        tools = sorted(conn.execute(text("SELECT tool_name FROM tool_calls")).scalars())
    store.close()
    assert persona == "pe key [REDACTED:anthropic-key] gh [REDACTED:github-token] aws [REDACTED:aws-access-key] " \
                      "https://u:[REDACTED:password]@h/x"
    assert project == "pr [REDACTED:aws-access-key]" and client.startswith("ua/1 key [REDACTED:anthropic-key]")
    assert quota == ("acct [REDACTED:github-token]", "allowed [REDACTED:anthropic-key]")
    assert ids == ["nx:t1", "req_px1"]  # keys are kept as they are
    assert tools == ["to [REDACTED:github-token]", "tool [REDACTED:anthropic-key]"]


def test_the_statusline_command_records_no_secret(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "home"),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("NEXUS_INSIGHTS_DB", None)
    import json

    stdin = json.dumps({"session_id": "s1", "model": {"id": "claude-opus-4-6", "display_name": f"Opus {AK}"},
                        "workspace": {"current_dir": f"/w/{LEAK}"}, "version": "2.1.0",
                        "rate_limits": {f"seven_day_{GH}": {"used_percentage": 5, "resets_at": 1750982400},
                                        "five_hour": {"used_percentage": 42, "resets_at": 1750435200}}})
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "statusline"], input=stdin, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    data = b"".join(p.read_bytes() for p in (tmp_path / "home" / "logs").glob("*.jsonl"))
    assert b'"statusline"' in data and b"[REDACTED:" in data
    _no_secret(data, "the event log")  # a rate-limit window's name included (an object's key)
    ev = json.loads(data.splitlines()[-1])
    assert ev["rate_limits"]["five_hour"] == {"used_percentage": 42, "resets_at": 1750435200}
    assert [k for k in ev["rate_limits"] if k.startswith("seven_day_[REDACTED:")], ev["rate_limits"]


# --- text built piece by piece on a screen -----------------------------------------------------------------------

async def test_the_proxy_panel_and_the_quota_bars_show_control_characters_as_escapes(tmp_path):
    """The task detail's proxy panel (error type, user agent) and the Quota screen's bars (window, account) were
    built as a Rich ``Text`` appended piece by piece, which writes an ESC, a C1 CSI, a NUL or a bidi override from
    the data to the terminal as it is. Such a Text is a ``DataText`` now (widgets/safe.py)."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.core.events import Batch, SessionRec, TaskRec
    from nexus_tui.store import open_store
    from nexus_tui.widgets._textual_private import screen_lines
    from tests.test_tui_safety import raw_controls
    from tests.tui_helpers import settle

    t0 = 1_772_366_400_000
    store = open_store(f"sqlite:///{tmp_path / 'ctl.db'}")
    b = Batch(sessions=[SessionRec(id="s1", start_ms=t0, end_ms=t0 + 1000, cli_tool="proxy")],
              tasks=[TaskRec(id="req_1", session_id="s1", ts_ms=t0, source="proxy-intercept", model="claude-opus-4-6",
                             tokens_in=5, tokens_out=3, status="error", http_status=429,
                             error_type="rate\x1b[2J\x9b2Jlimit", client="ua/1 \x1b]0;pwn\x07 rtl\u202eq nul\x00")])
    b.quota_snapshots.append({"id": "q1", "observed_ms": t0 + 60_000, "source": "proxy", "account": "acct\x1b[31m",
                              "machine": None, "window": "five_hour", "used_fraction": 0.4,
                              "resets_at_ms": t0 + 3 * 3_600_000, "status": "allowed", "raw_json": "{}"})
    store.writer.write(b)
    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=t0 + 120_000,
                   tz="UTC")
    shown = {}
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        shown["task"] = "\n".join(screen_lines(app))
        await pilot.press("escape", "escape", "7")
        await settle(app, pilot)
        shown["quota"] = "\n".join(screen_lines(app))
    store.close()
    assert "rate\\x1b[2J\\x9b2Jlimit" in shown["task"], shown["task"]
    assert "ua/1 \\x1b]0;pwn\\x07 rtl\\u202eq nul\\x00" in shown["task"], shown["task"]
    assert "acct\\x1b[31m" in shown["quota"], shown["quota"]
    for name, text in shown.items():
        assert not raw_controls(text), (name, raw_controls(text))


# --- headless text tables: long and wide names ------------------------------------------------------------------

def test_a_long_or_wide_name_leaves_the_text_reports_aligned_and_narrow(tmp_path):
    """A 3,000-character model or tool name (OTLP and the event log take any length) widened its column, and so
    every line of the models, tools and summary text reports, to over 3,000 characters; a CJK or emoji name (two
    cells a character) shifted its row's numbers off their column, and so did a Thai or decomposed Vietnamese name
    (vowel signs and accents of combining class 0 counted one cell each; a terminal draws them in their letter's
    cell). Text tables cut a name column to 60 cells and align by cells."""
    from rich.cells import cell_len

    from nexus_tui.core.events import Batch, ErrorRec, SessionRec, TaskRec, ToolResultRec, ToolUseRec
    from tests.helpers import store_at
    from tests.test_store import _cli

    t0 = 1_772_366_400_000
    names = ["L" * 3000, "漢字🎉" * 40, "claude-opus-4-6", "café-é" * 20,
             "ที่ทำงาน-" + unicodedata.normalize("NFD", "Tiếng Việt") + "-ก\u20dd"]
    store = store_at(tmp_path / "nexus" / "insights.db")
    b = Batch(sessions=[SessionRec(id="s1", start_ms=t0, end_ms=t0 + 9000, cli_tool="mcp", project="p")])
    for i, n in enumerate(names):
        b.tasks.append(TaskRec(id=f"t{i}", session_id="s1", ts_ms=t0 + i, source="otel", model=n, tokens_in=10 ** i,
                               tokens_out=1))
        b.tool_uses.append(ToolUseRec(id=f"c{i}", session_id="s1", task_id=f"t{i}", tool_name=n, started_ms=t0 + i,
                                      mcp_server=n))
        b.tool_results.append(ToolResultRec(id=f"c{i}", session_id="s1", ended_ms=t0 + 100 + i, success=i % 2 == 0))
        b.errors.append(ErrorRec(id=f"e{i}", ts_ms=t0 + i, component=n, kind=n, message=n, session_id="s1"))
    store.writer.write(b)
    store.close()
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    for report, key in (("errors", None), ("models", "model"), ("tools", "tool"), ("summary", "model")):
        r = _cli(tmp_path, "--headless", report, "--no-collect", "--since", "2026-01-01", "--tz", "UTC")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert max(cell_len(ln) for ln in lines) < 400, (report, max(cell_len(ln) for ln in lines))
        if key is None:  # the errors report: its closing count names each component, cut too
            assert "LLL… error" in lines[-1], lines[-1]
            continue
        start = next(i for i, ln in enumerate(lines) if ln.startswith(key + " "))
        rows = lines[start + 2:start + 2 + len(names)]
        assert len(rows) == len(names) and all("…" in ln or "claude-opus-4-6" in ln or ln.startswith(("caf", "ที"))
                                               for ln in rows), (report, rows)
        # the number right of the name column (tasks, or the server column's start) sits at the same cell
        head = lines[start]
        label = "tasks" if key == "model" else "server"
        assert cell_len(head[:head.index(label)]) <= 62, (report, head)
        if key == "model":
            edge = cell_len(head[:head.index("tasks") + len("tasks")])
            for ln in rows:
                prefix = ln[:_cut_at(ln, edge)]
                assert cell_len(prefix) == edge and prefix[-1].isdigit() and ln[len(prefix)] == " ", (report, ln)


def _cut_at(line: str, cells: int) -> int:
    """The index of ``line`` where its first ``cells`` terminal cells end."""
    from rich.cells import cell_len

    for i in range(len(line) + 1):
        if cell_len(line[:i]) >= cells:
            return i
    return len(line)


# --- mcp-wrap: values of the wrong type in the JSON-RPC messages ---------------------------------------------------

@pytest.mark.parametrize("server_name, client_info, error_text", [
    (["x"], {"name": "c"}, "failed"), ({"n": 1}, {"name": {"a": 1}, "version": 5}, 5),
    ("srv", "not an object", ["a list"]), (None, None, None)])
def test_mcp_wrap_records_every_call_whatever_the_types_in_the_messages(tmp_path, server_name, client_info,
                                                                        error_text):
    """A server's name of the wrong type (a list, an object) went into every tool_call event, which the event log's
    schema refuses: every call of the session was skipped at ingest. A tool error whose text is not a string lost
    its call (a TypeError), and a client's info that is not an object lost the session's start."""
    import json

    from nexus_tui.core.parse import nexus_events
    from nexus_tui.mcp_wrap import ExchangeRecorder
    from nexus_tui.recorder import Recorder

    rec = Recorder(tmp_path, session_id="mcp-1", start_session=False)
    ex = ExchangeRecorder(rec, None)
    msgs = [("c2s", {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"clientInfo": client_info}}),
            ("s2c", {"jsonrpc": "2.0", "id": 1, "result": {"serverInfo": {"name": server_name, "version": [1]},
                                                           "protocolVersion": {"x": 1}}}),
            ("c2s", {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "t1"}}),
            ("s2c", {"jsonrpc": "2.0", "id": 2, "result": {"isError": True,
                                                           "content": [{"type": "text", "text": error_text}]}}),
            ("c2s", {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": ["weird"]}}),
            ("s2c", {"jsonrpc": "2.0", "id": 3, "error": {"code": {"c": 1}, "message": {"m": 1}}}),
            ("c2s", {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "ok"}}),
            ("s2c", {"jsonrpc": "2.0", "id": 4, "result": {"content": []}})]
    for direction, m in msgs:
        ex.feed(direction, json.dumps(m).encode() + b"\n", 1.0)
    data = b"".join(p.read_bytes() for p in tmp_path.glob("*.jsonl"))
    b = nexus_events.parse_lines(data, 0, "log.jsonl", "claude-sonnet-4-5")
    assert b.skipped == {}
    assert [(r.tool_name, r.success, r.error_type) for r in b.tool_results] == [
        ("t1", False, "tool_error"), ("?", False, "jsonrpc_error"), ("ok", True, None)]
    assert [s.project for s in b.sessions if s.cli_tool == "mcp"][0] == (server_name if isinstance(server_name, str)
                                                                        else None)


def test_a_key_at_the_cut_of_a_header_or_error_value_leaves_no_fragment():
    """The proxy cut a user agent (300 characters), a persona (200), a quota status (40) or an error message (2,000)
    before the event was redacted: a key across the cut kept its prefix and a few characters, no longer a key's
    shape. Such text is redacted before it is cut (the same rule as skip reasons: guard.quoted)."""
    from multidict import CIMultiDict

    from nexus_tui.core.parse.proxy import AnthropicStream, quota_from_headers, request_facts

    for pad in range(280, 300):
        facts = request_facts({}, {"user-agent": "u" * pad + " " + AK, "x-nexus-persona": "p" * (pad - 100) + " " + GH})
        assert "sk-ant-api03" not in facts["client"] and "ghp_16C7" not in facts["persona"], pad
    q = quota_from_headers(CIMultiDict({"anthropic-ratelimit-unified-status": "allowed " + AK,
                                        "anthropic-ratelimit-unified-5h-status": "x" * 25 + " " + AWS}))
    assert all("sk-ant-api03" not in (w["status"] or "") and "AKIA" not in (w["status"] or "") for w in q), q
    s = AnthropicStream("application/json")
    s.feed(b'{"type": "error", "error": {"type": "auth", "message": "' + b"m" * 1990 + b" " + AK.encode() + b'"}}')
    s.finish()
    assert s.error_message is not None and "sk-ant-api03" not in s.error_message


# --- strings of megabytes ----------------------------------------------------------------------------------------

def test_strings_of_megabytes_are_bounded_before_the_store(tmp_path):
    """A model, tool name, error type or session id of megabytes (an OTLP attribute, an event-log value: neither has
    a length limit) was stored whole, in the tasks and in every rollup keyed by it: two such records made an 82 MB
    database. Every string is cut (guard.MAX_TEXT_CHARS, keys MAX_KEY_CHARS, cut alike wherever a key appears) and
    the records are kept."""
    from sqlalchemy import text

    from nexus_tui.core.parse.guard import MAX_KEY_CHARS, MAX_TEXT_CHARS
    from tests.helpers import store_at

    def s(v):
        return {"stringValue": v}

    recs = [{"timeUnixNano": T0_NANO, "attributes": [
                {"key": "event.name", "value": s("api_request")}, {"key": "session.id", "value": s("S" * 2_000_000)},
                {"key": "model", "value": s("M" * 5_000_000)}, {"key": "input_tokens", "value": {"intValue": 5}},
                {"key": "request_id", "value": s("R" * 1_000_000)}]},
            {"timeUnixNano": T0_NANO, "attributes": [
                {"key": "event.name", "value": s("tool_result")}, {"key": "session.id", "value": s("S" * 2_000_000)},
                {"key": "tool_name", "value": s("T" * 3_000_000)}, {"key": "success", "value": s("false")},
                {"key": "error", "value": s("E" * 3_000_000 + AK)},
                {"key": "error_type", "value": s("K" * 3_000_000)}]}]
    b = otel.parse_logs({"resourceLogs": [{"scopeLogs": [{"logRecords": recs}]}]})
    store = store_at(tmp_path / "big.db")
    res = store.writer.write(b)
    with store.engine.connect() as conn:
        task = conn.execute(text("SELECT id, session_id, length(model) FROM tasks")).one()
        call = conn.execute(text("SELECT session_id, length(tool_name), length(error_type), length(error_message) "
                                 "FROM tool_calls")).one()
        sessions = conn.execute(text("SELECT id FROM sessions")).scalars().all()
    store.close()
    assert res.new_tasks == 1 and res.dropped == {}
    assert task == ("R" * MAX_KEY_CHARS, "S" * MAX_KEY_CHARS, MAX_TEXT_CHARS)
    assert call[0] == "S" * MAX_KEY_CHARS and call[1] == call[2] == MAX_TEXT_CHARS and call[3] <= 500
    assert sessions == ["S" * MAX_KEY_CHARS]  # one session: the cut key still joins its records
    size = sum(p.stat().st_size for p in tmp_path.iterdir() if p.name.startswith("big.db"))
    assert size < 3_000_000, size


async def test_a_proxy_that_cannot_start_says_why_as_text(tmp_path):
    """The proxy's start-up errors were notified as markup: an upstream (quoted from the configuration) or an OS
    error's path holding '[/...]' raised a MarkupError and closed the app."""
    from nexus_tui.app import NexusApp
    from nexus_tui.collect.collector import Collector
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store
    from tests.tui_helpers import settle

    settings = load_settings(home=str(tmp_path / "home"), claude_dirs=())
    settings.proxy_enabled, settings.proxy_upstream = True, "ftp://x/[/red]y"
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    app = NexusApp(settings, store, Collector(store, [], workers=1), tz="UTC")
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(app, pilot)
        toasts = [str(t.render()) for t in app.screen.query("Toast")]
    store.close()
    assert any("recording proxy not started" in t and "ftp://x/[/red]y" in t for t in toasts), toasts


async def test_long_values_leave_the_session_and_task_headers_on_an_80x24_screen(tmp_path):
    """A session id, project, cwd, persona or model of a thousand characters (OTLP and the event log take them)
    filled the session's header at 80×24, its tasks table off the screen; the task's header likewise. A header's
    value from data is cut to widgets.safe.FIELD_CELLS cells."""
    from nexus_tui.core.events import Batch, SessionRec, TaskRec
    from nexus_tui.store import open_store

    t0 = 1_772_366_400_000
    sid, long = "S" * 1000, "漢" * 600
    store = open_store(f"sqlite:///{tmp_path / 'long.db'}")
    store.writer.write(Batch(
        sessions=[SessionRec(id=sid, start_ms=t0, end_ms=t0 + 1000, cli_tool="mcp", project=long, cwd="/" + long,
                             persona=long, git_branch=long)],
        tasks=[TaskRec(id="T" * 1000, session_id=sid, ts_ms=t0, source="otel", model="M" * 1000, tokens_in=5,
                       tokens_out=3, persona=long, agent_id=long, tier=long)]))
    _, session, task = await screens_at_80x24(tmp_path, store, t0 + 60_000, "enter", "enter")
    store.close()
    assert "Status" in session and "Latency" in session and "12:00:00" in session, session  # the tasks table
    assert "S…" in session and "漢…" in session, session
    assert "Tokens" in task and "Latency" in task and "Rating" in task and "M…" in task, task


def test_a_name_a_spreadsheet_would_run_is_a_text_cell_in_every_csv(tmp_path):
    """A tool or model named like a formula (``=HYPERLINK(...)``, ``@SUM``, ``+cmd``, ``-2+3``) was written to the CSV
    reports and the tasks export as it was: a spreadsheet opening the file runs it. Such a cell starts with ``'``
    (numbers, negative ones included, are left as they are)."""
    import csv
    import io

    from nexus_tui.core.events import Batch, SessionRec, TaskRec, ToolResultRec, ToolUseRec
    from tests.helpers import store_at
    from tests.test_store import _cli

    t0 = 1_772_366_400_000
    names = ['=HYPERLINK("http://x.example","click")', "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3"]
    store = store_at(tmp_path / "nexus" / "insights.db")
    b = Batch(sessions=[SessionRec(id="s1", start_ms=t0, end_ms=t0 + 9000, cli_tool="mcp", project="=1+1")])
    for i, n in enumerate(names):
        b.tasks.append(TaskRec(id=f"t{i}", session_id="s1", ts_ms=t0 + i, source="otel", model=n, tokens_in=1,
                               project="=1+1"))
        b.tool_uses.append(ToolUseRec(id=f"c{i}", session_id="s1", task_id=f"t{i}", tool_name=n, started_ms=t0 + i))
        b.tool_results.append(ToolResultRec(id=f"c{i}", session_id="s1", ended_ms=t0 + 100 + i, success=True))
    store.writer.write(b)
    store.close()
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    for report, col in (("models", "model"), ("tools", "tool"), ("tasks", "model")):
        r = _cli(tmp_path, "--headless", report, "--no-collect", "--format", "csv", "--since", "2026-01-01")
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        assert sorted(x[col] for x in rows) == sorted("'" + n for n in names), (report, [x[col] for x in rows])
        if report == "tasks":
            assert {x["project"] for x in rows} == {"'=1+1"} and {x["tokens_in"] for x in rows} == {"1"}


def test_an_alert_naming_a_window_from_data_drives_no_terminal_and_no_notifier_markup(monkeypatch):
    """A quota window's name comes from data (a status line's rate_limits key): its ESC went into the alert that the
    collect daemon prints to its terminal, and its <a>/<img> into notify-send's body, which notification servers
    read as markup."""
    from nexus_tui.collect import alerts as CA
    from nexus_tui.core import quota as CQ
    from nexus_tui.core.alerts import AlertState

    now = 1_772_366_400_000
    snaps = [CQ.Snapshot("seven_day_\x1b[2J<img src='file:///etc/x'>", 95.0, now + 3_600_000, now - 1000)]
    (alert,) = AlertState().quota(snaps, now)
    assert "\x1b" not in alert.message and "7d \\x1b[2J<img" in alert.message, alert.message
    argv = []
    monkeypatch.setattr(CA.subprocess, "Popen", lambda a, **kw: argv.extend(a))
    CA._desktop(alert, ["notify-send"])
    assert "<img" not in argv[-1] and "&lt;img src='file:///etc/x'&gt;" in argv[-1], argv


async def test_wide_and_long_names_leave_the_tables_of_sessions_and_tools_on_an_80x24_screen(tmp_path):
    """Names from data were cut by characters, not terminal cells: a title of 22 CJK characters took 44 cells and
    the Sessions table dropped its title column at 80 columns; six error types of 200 characters made the Tools
    screen's summary 17 lines, its table off the screen. Names are cut by cells: a column's to its width, a name
    inside a line of several to widgets.safe.NAME_CELLS_IN_LINE."""
    from nexus_tui.core.events import Batch, SessionRec, TaskRec, ToolResultRec, ToolUseRec
    from nexus_tui.store import open_store

    t0 = 1_772_366_400_000
    wide = "漢字🎉" * 40
    store = open_store(f"sqlite:///{tmp_path / 'wide.db'}")
    b = Batch(sessions=[SessionRec(id=f"s{i}", start_ms=t0 + i, end_ms=t0 + 1000, cli_tool="mcp", project=wide)
                        for i in range(3)])
    for i in range(12):
        b.tasks.append(TaskRec(id=f"t{i}", session_id="s0", ts_ms=t0 + i, source="otel", model=wide, tokens_in=5))
        b.tool_uses.append(ToolUseRec(id=f"c{i}", session_id="s0", task_id=f"t{i}", tool_name=f"tool{i % 3}",
                                      started_ms=t0 + i))
        b.tool_results.append(ToolResultRec(id=f"c{i}", session_id="s0", ended_ms=t0 + 100 + i, success=False,
                                            error_type=f"{i % 6}{wide}" if i % 2 else f"{i % 6}" + "E" * 200,
                                            error_message="failed"))
    store.writer.write(b)
    sessions, tools = await screens_at_80x24(tmp_path, store, t0 + 60_000, "6")
    store.close()
    assert "Title / project" in sessions and "漢字🎉漢字" in sessions, sessions
    assert "Tool failures by error type:" in tools and "Failure rate" in tools and "tool0" in tools, tools
    summary = tools[tools.index("Tool failures by error type:"):tools.index("Failure rate")]
    assert summary.count("\n") <= 5, summary


async def screens_at_80x24(tmp_path, store, now_ms: int, *keys: str) -> list[str]:
    """What an 80x24 terminal shows of the app on ``store``: at the start, then after each key."""
    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from tests.test_tui_safety import screen_text
    from tests.tui_helpers import settle

    app = NexusApp(load_settings(home=str(tmp_path / "home"), claude_dirs=()), store, None, now_ms=now_ms, tz="UTC")
    seen = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        seen.append(screen_text(app))
        for key in keys:
            await pilot.press(key)
            await settle(app, pilot)
            seen.append(screen_text(app))
    return seen


def test_the_cursor_state_holds_no_secret_and_reading_on_from_it_gives_the_same_rows(tmp_path):
    """A tool call waiting for its result is kept in its file's cursor state with its tool's name: a name holding a
    key was stored there whole (the tool_calls row was redacted). The state's strings are redacted as the rows are;
    the result read in a later pass still finds its call."""
    import json
    import sqlite3

    from click.testing import CliRunner

    from nexus_tui.cli import main

    proj = tmp_path / "claude" / "projects" / "p1"
    proj.mkdir(parents=True)
    f = proj / "s1.jsonl"
    use = {"type": "assistant", "sessionId": "s1", "uuid": "u1", "timestamp": "2026-03-01T12:00:00.000Z",
           "requestId": "req_1", "message": {"id": "msg_1", "model": "claude-opus-4-6", "role": "assistant",
                                             "usage": {"input_tokens": 5, "output_tokens": 3},
                                             "content": [{"type": "tool_use", "id": "toolu_1",
                                                          "name": f"mcp__x__{GH}", "input": {}}]}}
    result = {"type": "user", "sessionId": "s1", "uuid": "u2", "timestamp": "2026-03-01T12:00:05.000Z",
              "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                       "content": "done", "is_error": False}]}}
    home = tmp_path / "n"
    env = {"HOME": str(tmp_path), "NEXUS_INSIGHTS_DB": None, "CLAUDE_CONFIG_DIR": None}
    args = ["--home", str(home), "--claude-dir", str(tmp_path / "claude"), "ingest"]
    f.write_text(json.dumps(use) + "\n")
    assert CliRunner().invoke(main, args, env=env).exit_code == 0
    db = home / "insights.db"
    with sqlite3.connect(db) as c:
        state = c.execute("SELECT state FROM ingest_cursors").fetchone()[0]
    assert "toolu_1" in state and "[REDACTED:github-token]" in state, state
    _no_secret(b"".join(p.read_bytes() for p in home.glob("insights.db*")), "the database after the first pass")
    with f.open("a") as fh:
        fh.write(json.dumps(result) + "\n")
    assert CliRunner().invoke(main, args, env=env).exit_code == 0
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT id, tool_name, success, latency_ms FROM tool_calls").fetchall()
    assert rows == [("toolu_1", "mcp__x__[REDACTED:github-token]", 1, 5000)], rows
    _no_secret(b"".join(p.read_bytes() for p in home.glob("insights.db*")), "the database after the result")


# --- times out of range: a quota window's reset ------------------------------------------------------------------

def test_a_reset_time_out_of_range_leaves_the_quota_report_and_screen(tmp_path):
    """A proxy_request event's quota ``resets_at_ms`` is any integer to the event schema: 10^30 or the year 5138 (a
    header's ``anthropic-ratelimit-unified-reset`` of 11 digits) was stored, and the Quota report and screen both
    stopped ("OverflowError: timestamp out of range"); the status bar showed a reset in 11574074074074074227865d.
    A reset is believed only as a valid time at most a month after its observation (the status line's rule), when
    parsed and again when read (a row stored before, or merged from another database)."""
    import json
    import time

    from multidict import CIMultiDict
    from sqlalchemy import text

    from nexus_tui.core.events import Batch
    from nexus_tui.core.parse.proxy import quota_from_headers
    from tests.helpers import store_at
    from tests.test_store import _cli

    now = time.time()
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 60))
    good_reset = int(now * 1000) + 3_600_000
    quota = [{"window": "five_hour", "used_fraction": 0.5, "resets_at_ms": 10**30},
             {"window": "seven_day", "used_fraction": 0.25, "resets_at_ms": -10**15},
             {"window": "seven_day_opus", "used_fraction": 0.1, "resets_at_ms": 99_999_999_999_000},
             {"window": "seven_day_sonnet", "used_fraction": 0.2, "resets_at_ms": good_reset}]
    ev = {"v": 1, "type": "proxy_request", "ts": ts, "id": "req_q1", "session_id": "s-px", "route": "anthropic",
          "path": "/v1/messages", "kind": "messages", "model": "claude-opus-4-6", "routing": "cloud",
          "tokens_in": 10, "tokens_out": 5, "http_status": 200, "quota": quota}
    logs = tmp_path / "nexus" / "logs"
    logs.mkdir(parents=True)
    (logs / time.strftime("%Y-%m-%d.jsonl", time.gmtime(now))).write_text(json.dumps(ev) + "\n")
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0 and "skipped lines: 0" in r.stdout, r.stdout + r.stderr
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT window, resets_at_ms FROM quota_snapshots")).all())
    assert stored == {"five_hour": None, "seven_day": None, "seven_day_opus": None,
                      "seven_day_sonnet": good_reset}, stored
    # rows stored before this rule (or merged): read as an unknown reset
    obs = int(now * 1000) - 30_000
    b = Batch()
    b.quota_snapshots += [{"id": f"old{i}", "observed_ms": obs, "source": "proxy", "account": None, "machine": None,
                           "window": "five_hour", "used_fraction": 0.6, "resets_at_ms": v, "status": "allowed",
                           "raw_json": "{}"} for i, v in enumerate((10**30, -10**15))]
    store.writer.write(b)
    store.close()
    r = _cli(tmp_path, "--headless", "quota", "--no-collect", "--format", "json")
    assert r.returncode == 0, r.stderr
    windows = {w["window"]: w for w in json.loads(r.stdout)["windows"]}
    assert windows["five_hour"]["resets_at"] is None and windows["five_hour"]["used_percentage"] == 60.0
    assert windows["seven_day_sonnet"]["resets_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                      time.gmtime(good_reset // 1000))
    r = _cli(tmp_path, "--headless", "quota", "--no-collect")
    assert r.returncode == 0 and "5h" in r.stdout, r.stderr
    # the proxy reads none from its headers either
    q = quota_from_headers(CIMultiDict({"anthropic-ratelimit-unified-status": "allowed",
                                        "anthropic-ratelimit-unified-5h-reset": "99999999999",
                                        "anthropic-ratelimit-unified-7d-reset": str(int(now) + 3600),
                                        "anthropic-ratelimit-tokens-reset": "0001-01-01T00:00:00Z"}))
    assert {w["window"]: w["resets_at_ms"] for w in q} == {"unified": None, "5h": None,
                                                           "7d": (int(now) + 3600) * 1000, "tokens": None}, q


async def test_the_quota_screen_and_status_bar_read_a_stored_reset_out_of_range(tmp_path):
    """The Quota screen said "Could not load Quota: OverflowError" over a stored reset out of range, and the status
    bar's 5h segment showed ↻11574074074074074227865d."""
    from nexus_tui.core.events import Batch
    from nexus_tui.store import open_store

    t0 = 1_772_366_400_000
    store = open_store(f"sqlite:///{tmp_path / 'q.db'}")
    b = Batch()
    b.quota_snapshots += [{"id": f"q{w}", "observed_ms": t0, "source": "proxy", "account": None, "machine": None,
                           "window": w, "used_fraction": 0.5, "resets_at_ms": v, "status": "allowed",
                           "raw_json": "{}"} for w, v in (("five_hour", 2**62), ("seven_day", -10**15))]
    store.writer.write(b)
    first, quota = await screens_at_80x24(tmp_path, store, t0 + 60_000, "7")
    store.close()
    assert "Could not load" not in quota and "OverflowError" not in quota, quota
    assert "5h 50%" in first and "↻" not in first, first


@pytest.mark.parametrize("field, value", [
    ("ttfb_ms", 3_000_000_000), ("ttft_ms", 10**10), ("retries", 9_000_000_000), ("message_count", 5_000_000_000),
    ("cache_creation_5m_tokens", 5_000_000_000),
    ("split", (2**31 - 1, 2**31 - 1))])
def test_a_proxy_events_number_beyond_its_column_rejects_the_event_with_a_reason(field, value):
    """The event schema lets every count of a proxy_request reach 10^10, and only the token counts, sizes and
    latency were checked further (guard.py): a ttfb_ms of 3e9 or a retry count of 9e9 was stored on SQLite and made
    NULL on PostgreSQL (its INTEGER is 32 bits), and a 5-minute plus 1-hour cache-write split of 2^31-1 each made
    a task of 4,294,967,294 cache-write tokens ($34,896 on one request). Such an event is skipped with its reason;
    the event after it is read."""
    import json

    from nexus_tui.core.parse import nexus_events

    def pr(i, **kw):
        return {"v": 1, "type": "proxy_request", "ts": f"2026-03-01T12:00:0{i}.000Z", "id": f"req_n{i}",
                "session_id": "s-px", "route": "anthropic", "path": "/v1/messages", "kind": "messages",
                "model": "claude-opus-4-6", "routing": "cloud", "tokens_in": 10, "tokens_out": 5,
                "http_status": 200, "ttfb_ms": 120, "retries": 1, "cache_creation_5m_tokens": 30,
                "cache_creation_1h_tokens": 12, **kw}

    bad = ({"cache_creation_5m_tokens": value[0], "cache_creation_1h_tokens": value[1]} if field == "split"
           else {field: value})
    data = "".join(json.dumps(e) + "\n" for e in (pr(1, **bad), pr(2))).encode()
    b = nexus_events.parse_lines(data, 0, "log.jsonl", "claude-sonnet-4-5")
    why = "tokens: the response's total is out of range" if field == "split" else f"{field}: out of range"
    assert b.skipped == {f"invalid event ({why})": 1}, b.skipped
    assert [(t.id, t.ttfb_ms, t.retries, t.cache_creation_tokens) for t in b.tasks] == [("req_n2", 120, 1, 42)]


def test_a_password_in_an_upstream_url_is_never_shown(tmp_path):
    """An upstream URL holding a password (``http://user:pw@host``, given with --upstream or in insights.toml) was
    printed whole by ``nexus-insights proxy`` and by the collect daemon when they started, in the 502 answer (and
    event) when the upstream was unreachable, and in the message naming a bad value of the configuration."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    from nexus_tui.config import SettingsError, load_settings

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    up_port = s.getsockname()[1]  # nothing listens there: the upstream is unreachable
    s2 = socket.socket()
    s2.bind(("127.0.0.1", 0))
    port = s2.getsockname()[1]
    s.close()
    s2.close()
    pw = "hunter2pw77"
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(tmp_path), "NEXUS_INSIGHTS_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    env.pop("NEXUS_INSIGHTS_DB", None)
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "proxy", "--port", str(port), "--upstream",
                          f"http://user:{pw}@127.0.0.1:{up_port}"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        first = p.stdout.readline()
        assert "nexus-insights proxy on" in first and "user:[REDACTED:password]@127.0.0.1" in first, first
        r = httpx.post(f"http://127.0.0.1:{port}/v1/messages", json={"model": "m", "messages": []}, timeout=30)
        assert r.status_code == 502 and "unreachable" in r.text and pw not in r.text, r.text
    finally:
        p.send_signal(signal.SIGTERM)
        out = first + p.communicate(timeout=30)[0]
    assert pw not in out and "1 recorded" in out, out
    logged = "".join(f.read_text() for f in (home / "logs").glob("*.jsonl"))
    assert "upstream_unreachable" in logged and pw not in logged, logged
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "proxy", "--upstream", f"ftp://u:{pw}@x"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "is not an http(s) URL" in r.stderr and pw not in r.stderr + r.stdout, r.stderr
    # the configuration: a bad value is named without its password; a good one is not printed with it
    (home / "insights.toml").write_text(f'[proxy]\nupstream = "ftp://u:{pw}@x"\n')
    with pytest.raises(SettingsError) as e:
        load_settings(home)
    assert "[proxy] upstream" in str(e.value) and pw not in str(e.value), str(e.value)
    (home / "insights.toml").write_text(f'[proxy]\nenabled = true\nport = {port}\n'
                                        f'upstream = "http://user:{pw}@127.0.0.1:{up_port}"\n'
                                        '[alerts]\nenabled = false\n')
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "collect", "--interval", "0.5"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = p.stdout.readline()
        assert "recording proxy on" in first, first
    finally:
        p.send_signal(signal.SIGTERM)
        out = first + p.communicate(timeout=30)[0]
    assert p.returncode == 0 and pw not in out and "[REDACTED:password]" in out, out


@pytest.mark.parametrize("store_bodies", [False, True])
def test_a_request_nested_too_deep_keeps_its_events_facts(store_bodies):
    """A request whose first message nests 900 levels (valid JSON, read by orjson) made the conversation key's
    orjson.dumps raise (its limit is 254 levels): the request's facts were all lost, its event recorded without the
    user agent, persona or model and under a random session. The key is taken from the first levels then (stable:
    the same request gives the same session), and a stored body is kept as its text."""
    import json

    from nexus_tui.collect.proxy import EventSink
    from nexus_tui.core.parse.nexus_events import invalid_reason
    from nexus_tui.core.parse.proxy import AnthropicStream
    from nexus_tui.core.redact import redact

    deep = "[" * 900 + "]" * 900
    body = ('{"model": "claude-opus-4-6", "messages": [{"role": "user", "content": ' + deep + '}], '
            '"system": "key ' + AK + '"}').encode()

    def event():
        rec = {"id": "req_deep", "route": "anthropic", "path": "/v1/messages", "kind": "messages",
               "routing": "cloud", "request_bytes": len(body), "ts": "2026-03-01T12:00:00.000Z",
               "http_status": 200, "request_body": body,
               "headers": {"user-agent": "claude-cli/2.1.0 (external, cli)", "x-nexus-persona": "architect"}}
        parser = AnthropicStream("application/json")
        parser.feed(b'{"type": "message", "id": "msg_1", "usage": {"input_tokens": 5, "output_tokens": 2}}')
        sink = EventSink.__new__(EventSink)  # its event builder only (no thread)
        sink.store_bodies, sink._hashes, sink._redact = store_bodies, None, redact
        return json.loads(json.dumps(sink.event(rec)))

    ev, again = event(), event()
    assert invalid_reason(ev) is None, invalid_reason(ev)
    assert (ev["client"], ev.get("persona"), ev.get("model")) == (
        "claude-cli/2.1.0 (external, cli)", "architect", "claude-opus-4-6"), ev
    assert ev["session_id"].startswith("px-conv-") and ev["session_id"] == again["session_id"], (ev, again)
    if store_bodies:
        assert isinstance(ev["request_body"], str) and "[REDACTED:anthropic-key]" in ev["request_body"], ev
        assert AK[:14] not in json.dumps(ev)


def test_a_configured_url_or_host_holding_terminal_escapes_is_shown_as_text(tmp_path):
    """An upstream URL (insights.toml) or a --host holding ESC, OSC or BEL sequences was printed as it was by the
    proxy's and the daemon's start and error lines: the terminal ran them (cleared the screen, set its title)."""
    import os
    import socket
    import subprocess
    import sys

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    home = tmp_path / "home"
    home.mkdir()
    (home / "insights.toml").write_text(f'[proxy]\nport = {port}\n'
                                        'upstream = "http://127.0.0.1:9/\\u001b[2J\\u001b]0;pwn\\u0007x"\n')
    env = {**os.environ, "HOME": str(tmp_path), "NEXUS_INSIGHTS_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    env.pop("NEXUS_INSIGHTS_DB", None)
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "proxy"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        first = p.stdout.readline()
    finally:
        p.terminate()
        out = first + p.communicate(timeout=30)[0]
    assert "-> http://127.0.0.1:9/\\x1b[2J\\x1b]0;pwn\\x07x" in first, first
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "collect", "--otlp", "--host", "h\x1b]0;pwn\x07",
                        "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot listen on h\\x1b]0;pwn\\x07:1" in r.stderr, r.stderr
    for text in (out, r.stdout, r.stderr):
        assert "\x1b" not in text and "\x07" not in text, text


def test_a_proxy_event_redacted_longer_than_its_bound_is_still_taken():
    """The proxy cuts a model or a session header to the event schema's 200 characters, then redacts the event: a
    value holding short keyword pairs ('pwd=x' -> 'pwd=[REDACTED:password]') grew past 200 and the collector refused
    the whole request's event. Redaction never makes a value longer now."""
    import json

    from nexus_tui.collect.proxy import EventSink
    from nexus_tui.core.parse import nexus_events
    from nexus_tui.core.parse.proxy import AnthropicStream
    from nexus_tui.core.redact import redact

    pairs = "pwd=a " * 33  # 198 characters
    body = json.dumps({"model": pairs, "messages": [{"role": "user", "content": "hi"}]}).encode()
    rec = {"id": "req_p1", "route": "anthropic", "path": "/v1/messages", "kind": "messages", "routing": "cloud",
           "request_bytes": len(body), "ts": "2026-03-01T12:00:00.000Z", "http_status": 200, "request_body": body,
           "headers": {"user-agent": "ua", "x-nexus-session": pairs}}
    parser = AnthropicStream("application/json")
    parser.feed(b'{"type": "message", "id": "msg_1", "usage": {"input_tokens": 5, "output_tokens": 2}}')
    sink = EventSink.__new__(EventSink)  # its event builder only (no thread)
    sink.store_bodies, sink._hashes, sink._redact = False, None, redact
    ev = json.loads(json.dumps(sink.event(rec)))
    assert "pwd=a" not in json.dumps(ev) and ev["model"].startswith("pwd=[REDACTED:password]"), ev
    b = nexus_events.parse_lines((json.dumps(ev) + "\n").encode(), 0, "log.jsonl", "claude-sonnet-4-5")
    assert b.skipped == {} and [t.id for t in b.tasks] == ["req_p1"], b.skipped


def test_a_port_out_of_range_is_a_clear_error():
    """`nexus-insights proxy --port 99999` ended in a traceback (the socket's OverflowError is not an OSError);
    `collect --otlp --port 99999` said it could not listen. Both ports are checked where they are given."""
    import subprocess
    import sys

    for args in (["proxy", "--port", "99999"], ["collect", "--otlp", "--once", "--port", "-1"]):
        r = subprocess.run([sys.executable, "-m", "nexus_tui", *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "Invalid value for '--port'" in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    # an empty --host listened on every interface ('OTLP/HTTP receiver on http://:4318'), unasked
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "collect", "--otlp", "--once", "--host", ""],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Invalid value for '--host': empty" in r.stderr, r.stderr



@pytest.mark.parametrize("value,says", [("inf", "expected a number"), ("nan", "expected a number"),
                                        ("-1", ">= 0.01"), ("0", ">= 0.01"), ("1e300", "from 0.01 to 86400")])
def test_a_collect_interval_out_of_range_is_a_clear_error(value, says):
    """`collect --interval inf` ended in a traceback (OverflowError in the wait); 0, -1 and nan were taken."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "nexus_tui", "collect", "--interval", value], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "Invalid value for '--interval'" in r.stderr and says in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_stop_signal_landing_inside_the_wait_stops_the_collect_loop():
    """collect's SIGTERM handler set a threading.Event: a signal landing while the main thread was inside
    Event.wait (holding its lock) deadlocked the daemon for good, SIGTERM ignored from then on (seen at --interval
    0). 300 stops signalled while the loop waits stop it every time."""
    import subprocess
    import sys

    code = ("import os, signal, threading\n"
            "from nexus_tui.daemon import Stop\n"
            "for i in range(300):\n"
            "    stop = Stop()\n"
            "    signal.signal(signal.SIGUSR1, stop.set)\n"
            "    threading.Timer(0.001, os.kill, (os.getpid(), signal.SIGUSR1)).start()\n"
            "    while not stop.wait(0):\n"
            "        pass\n"
            "print('stopped', i + 1)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout.split()) == (0, ["stopped", "300"]), r.stderr


HOSTILE = "disk \x1b[2J\x1b]0;owned\x07 \u202egnp.exe\nsecond line"


def _clean_stderr(err: str) -> None:
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err, repr(err)
    assert "\\x1b[2J" in err and "\\u202e" in err and err.count("\n") == 1, repr(err)


def test_an_alert_check_failing_with_a_text_from_data_prints_it_escaped_on_one_line(tmp_path, capsys):
    """The alert monitor printed its exception's text to stderr as it was: an exception quoting data (a file
    name, a stored value) could clear the terminal or retitle it. It goes through core.report.one_line."""
    from nexus_tui.collect.alerts import AlertMonitor
    from nexus_tui.config import load_settings

    mon = AlertMonitor(load_settings(home=str(tmp_path / "home"), claude_dirs=()), None, desktop=False)
    mon.settings.alerts_enabled = True

    def boom(now_ms=None):
        raise OSError(HOSTILE)

    mon.evaluate = boom
    assert mon.check() == []
    err = capsys.readouterr().err
    _clean_stderr(err)
    assert err.startswith("nexus-insights: alerts not checked: OSError: disk \\x1b[2J"), err


@pytest.mark.parametrize("front", ["app", "mcp"])
def test_a_store_error_quoting_data_reaches_stderr_escaped(tmp_path, capfd, monkeypatch, front):
    """The dashboard and the MCP server printed a StoreError's text (it names the database path, from --db) raw on
    stderr; the headless reports escaped the same text."""
    import nexus_tui.store as S
    from nexus_tui.config import load_settings

    def refuse(*a, **kw):
        raise S.StoreError(HOSTILE)

    monkeypatch.setattr(S, "open_store", refuse)
    settings = load_settings(home=str(tmp_path / "home"), claude_dirs=())
    if front == "app":
        from nexus_tui.app import run_app

        assert run_app(settings, collect=False, tz="UTC") == 2
    else:
        import sys

        with monkeypatch.context() as m:  # mcp binds sys.stderr as a default argument on import: not capfd's file
            m.setattr(sys, "stderr", sys.__stderr__)
            from nexus_tui.mcp_serve import run

        assert run(settings, tz_name="UTC") == 2
    _clean_stderr(capfd.readouterr().err)

