"""mcp-wrap between a real MCP client and a real MCP server (official SDK, stdio subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.helpers import store_at
from tests.test_store import _cli

SERVER = str(Path(__file__).with_name("mcp_demo_server.py"))


async def _client(tmp_path, calls, name="demo"):
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "nexus_tui", "--home", str(tmp_path / "nexus"), "mcp-wrap", "--name", name, "--",
              sys.executable, SERVER],
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    out = []
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            for tool, args in calls:
                res = await s.call_tool(tool, args)
                out.append((tool, res.is_error, [c.text for c in res.content]))
    return init, out


async def test_tool_calls_through_the_wrapper_land_in_the_database(tmp_path):
    init, results = await _client(tmp_path, [("add", {"a": 2, "b": 3}), ("refuse", {"reason": "no"}),
                                             ("explode", {}), ("slow", {"ms": 150}), ("add", {"a": 1, "b": 1})])
    assert init.server_info.name == "demo-tools"  # the client sees the real server through the wrapper
    assert [(t, e) for t, e, _ in results] == [("add", False), ("refuse", True), ("explode", True), ("slow", False),
                                              ("add", False)]
    assert results[0][2] == ["5"] and results[1][2] == ["refused: no"]
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0 and "skipped lines: 0" in r.stdout, r.stdout + r.stderr
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT tool_name, mcp_server, success, latency_ms, error_type, error_message, "
                                 "input_size, output_size, session_id FROM tool_calls ORDER BY started_ms")).all()
        sess = conn.execute(text("SELECT id, cli_tool, project, end_time FROM sessions")).one()
    assert [(x.tool_name, x.mcp_server, bool(x.success), x.error_type) for x in rows] == [
        ("add", "demo", True, None), ("refuse", "demo", False, "tool_error"), ("explode", "demo", False, "tool_error"),
        ("slow", "demo", True, None), ("add", "demo", True, None)]
    assert rows[1].error_message == "refused: no" and "explode" in rows[2].error_message
    assert rows[3].latency_ms >= 150 and all(x.input_size > 0 and x.output_size > 0 for x in rows)
    assert sess.cli_tool == "mcp" and sess.project == "demo" and sess.end_time is not None
    tools = json.loads(_cli(tmp_path, "--headless", "tools", "--format", "json", "--no-collect").stdout)["tools"]
    add = next(t for t in tools if t["tool"] == "add")
    assert (add["server"], add["calls"], add["failures"]) == ("demo", 2, 0)


def _raw(cmd, lines: list[dict], env) -> subprocess.CompletedProcess:
    """Send the messages, wait for the answers to ids 1-3 (and the cancellation), then close stdin."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = []
    for m in lines:
        p.stdin.write(json.dumps(m).encode() + b"\n")
        p.stdin.flush()
        if m.get("id") in (1, 2, 3):
            out.append(p.stdout.readline())
    time.sleep(0.1)  # the cancellation reaches the server before its input ends
    p.stdin.close()
    rest, err = p.stdout.read(), p.stderr.read()
    p.wait(60)
    return subprocess.CompletedProcess(cmd, p.returncode, b"".join(out) + rest, err)


def test_bytes_pass_unchanged_and_errors_cancellations_exit_code_and_stderr_pass_through(tmp_path):
    env = dict(os.environ, NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"), HOME=str(tmp_path))
    msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "9"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope", "arguments": {}}},
            {"jsonrpc": "2.0", "id": "s4", "method": "tools/call", "params": {"name": "slow", "arguments": {"ms": 300}}},
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "s4", "reason": "user"}}]
    direct = _raw([sys.executable, SERVER], msgs, env)
    wrapped = _raw([sys.executable, "-m", "nexus_tui", "mcp-wrap", "--", sys.executable, SERVER], msgs, env)
    assert wrapped.returncode == direct.returncode == 0
    def answers(out):  # the server answers concurrently: compare per request id (the cancelled one may or may not answer)
        return {m["id"]: line for line in out.splitlines() if (m := json.loads(line)).get("id") in (1, 2, 3)}

    assert answers(wrapped.stdout) == answers(direct.stdout) and len(answers(direct.stdout)) == 3
    events = [json.loads(x) for p in (tmp_path / "nexus" / "logs").glob("*.jsonl") for x in p.read_text().splitlines()]
    calls = {e["tool"]: e for e in events if e["type"] == "tool_call"}
    assert calls["add"]["success"] is True
    assert calls["nope"]["success"] is False and calls["nope"]["error_type"] in ("tool_error", "jsonrpc_-32602")
    assert calls["slow"]["error_type"] == "cancelled"
    start = next(e for e in events if e["type"] == "session_start")
    assert start["client"] == "raw 9" and start["server"] == "demo-tools 1.2.3"
    # a failing child: its exit code and its stderr come through
    fail = subprocess.run([sys.executable, "-m", "nexus_tui", "mcp-wrap", "--", sys.executable, "-c",
                           "import sys; sys.stderr.write('server says no\\n'); sys.exit(3)"],
                          capture_output=True, timeout=60, env=env, input=b"")
    assert fail.returncode == 3 and b"server says no" in fail.stderr
    missing = subprocess.run([sys.executable, "-m", "nexus_tui", "mcp-wrap", "--", "/no/such/server"],
                             capture_output=True, timeout=60, env=env, input=b"")
    assert missing.returncode == 127 and b"cannot start" in missing.stderr


def _start_wrapped(tmp_path) -> tuple[subprocess.Popen, int]:
    """A wrapper in front of the real demo server, initialized; returns it and the server's pid."""
    from tests.test_processes import _children

    env = dict(os.environ, NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"), HOME=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "mcp-wrap", "--", sys.executable, SERVER],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
    p.stdin.write(json.dumps(init).encode() + b"\n" +
                  json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode() + b"\n")
    p.stdin.flush()
    assert json.loads(p.stdout.readline())["id"] == 1
    servers = _children(p.pid)
    assert len(servers) == 1
    return p, servers.pop()


def _gone(pid: int) -> bool:
    from tests.test_processes import _alive

    return not _alive(pid)


def test_a_client_that_goes_away_mid_response_ends_the_wrapper_and_its_server(tmp_path):
    p, server = _start_wrapped(tmp_path)
    try:
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "big", "arguments": {"kb": 16384}}}
        p.stdin.write(json.dumps(call).encode() + b"\n")
        p.stdin.flush()
        assert p.stdout.read(65536)  # the answer has started to come
        p.stdout.close()  # then the client dies: both its pipe ends close, mid-response
        p.stdin.close()
        p.wait(60)  # the old wrapper waited for its server for ever, and the server on its full pipe
        deadline = time.monotonic() + 10
        while not _gone(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(server)
    finally:
        for pid in (p.pid, server):
            try:
                os.kill(pid, 9)
            except OSError:
                pass


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_server_killed_by_a_signal_gives_the_shells_exit_code(tmp_path, sig):
    p, server = _start_wrapped(tmp_path)
    try:
        os.kill(server, sig)
        assert p.wait(60) == 128 + sig  # 137, 143 as a shell reports it (not 247, 241)
    finally:
        p.kill()
        p.stdin.close()
        p.stdout.close()


_ECHO_SERVER = """
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": {"content": [{"type": "text",
                                 "text": "ok"}]}}) + "\\n")
    sys.stdout.flush()
"""


def test_an_answer_relayed_before_the_request_thread_runs_on_is_still_paired(tmp_path, monkeypatch):
    """The thread relaying a request may lose the CPU right after writing it to the server, and the server's answer
    be read and queued by the other thread first (CI hit this under load: a tool call went unrecorded). Forced here:
    the write to the server returns only once the answer has been queued for the recorder."""
    import queue
    import threading

    from nexus_tui import mcp_wrap

    answered = threading.Event()

    class Watched(queue.SimpleQueue):
        def put(self, item, *a, **k):
            super().put(item, *a, **k)
            if item is not None and item[0] == "s2c":
                answered.set()

    real_write = mcp_wrap._write_all
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()

    def write_all(fd, data):
        real_write(fd, data)
        if fd != out_w:  # the request, to the server: let its answer overtake this thread
            answered.wait(10)

    monkeypatch.setattr(mcp_wrap, "_write_all", write_all)
    monkeypatch.setattr(mcp_wrap.queue, "SimpleQueue", Watched)
    monkeypatch.setattr(mcp_wrap.signal, "signal", lambda *a, **k: None)

    class FD:
        def __init__(self, fd):
            self.fd = fd

        def fileno(self):
            return self.fd

    monkeypatch.setattr(sys, "stdin", FD(in_r))
    monkeypatch.setattr(sys, "stdout", FD(out_w))
    os.write(in_w, json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                               "params": {"name": "add", "arguments": {}}}).encode() + b"\n")
    os.close(in_w)
    rc = mcp_wrap.run([sys.executable, "-c", _ECHO_SERVER], name="echo", logs_dir=tmp_path / "logs")
    os.close(out_w)
    answer = os.read(out_r, 65536)
    os.close(in_r)
    os.close(out_r)
    assert rc == 0 and b'"id": 7' in answer and answered.is_set()
    events = [json.loads(x) for f in (tmp_path / "logs").glob("*.jsonl") for x in f.read_text().splitlines()]
    calls = [e for e in events if e.get("type") == "tool_call"]
    assert [(c.get("tool"), c.get("success"), c.get("server")) for c in calls] == [("add", True, "echo")], events


_LEAKY_SERVER = r"""
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except (ValueError, RecursionError):
        continue
    if isinstance(m, dict) and "id" in m and m.get("method") == "tools/call":
        text = "failed: key sk-ant-api03-" + "Zq9" * 30 + "-AbCdEfGh_AA and https://u:hunter2pw77@h/x"
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"],
                                     "result": {"isError": True, "content": [{"type": "text", "text": text}]}}) + "\n")
        sys.stdout.flush()
"""


def test_a_line_nested_too_deep_costs_no_other_line_and_an_error_output_no_secret(tmp_path):
    """A JSON-RPC batch nested 1,000 levels (valid JSON, read by orjson) raised RecursionError out of the recorder's
    line loop: the tools/call that came in the same read was never paired, so its call went unrecorded. Each line is
    judged on its own now. The tool's error output holds a key and a URL's password: the event log holds neither."""
    env = dict(os.environ, NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"), HOME=str(tmp_path))
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "leaky", "arguments": {}}}
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "mcp-wrap", "--name", "echo", "--", sys.executable,
                          "-c", _LEAKY_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    p.stdin.write(b"[" * 1000 + b"]" * 1000 + b"\n" + json.dumps(call).encode() + b"\n")  # one write, one read
    p.stdin.flush()
    answer = json.loads(p.stdout.readline())
    p.stdin.close()
    p.wait(60)
    assert answer["id"] == 7 and p.returncode == 0, p.stderr.read()
    logged = "".join(f.read_text() for f in (tmp_path / "nexus" / "logs").glob("*.jsonl"))
    calls = [e for e in map(json.loads, logged.splitlines()) if e["type"] == "tool_call"]
    assert [(c["tool"], c["success"], c["error_type"]) for c in calls] == [("leaky", False, "tool_error")], logged
    assert "sk-ant-api03" not in logged and "hunter2pw77" not in logged, logged
    assert calls[0]["error_message"].startswith("failed: key [REDACTED:anthropic-key] and https://u:[REDACTED:")


def test_the_recorder_memory_stays_bounded_whatever_the_peers_send(tmp_path, monkeypatch):
    """A server writing without a newline, or a client sending requests never answered, cannot grow the wrapper's
    recorder without end: the long line is passed over (counted) and the calls after it are still recorded; the
    oldest unanswered requests are forgotten past MAX_PENDING (counted)."""
    from nexus_tui import mcp_wrap
    from nexus_tui.recorder import Recorder

    monkeypatch.setattr(mcp_wrap, "MAX_LINE_BYTES", 1 << 20)
    monkeypatch.setattr(mcp_wrap, "MAX_PENDING", 50)
    rec = Recorder(tmp_path / "logs", session_id="mcp-bound", start_session=False)
    ex = mcp_wrap.ExchangeRecorder(rec, "srv")
    call = b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"t%d"}}\n'
    answer = b'{"jsonrpc":"2.0","id":%d,"result":{"content":[]}}\n'
    ex.feed("c2s", call % (1, 1), 0.0)
    for _ in range(64):  # 4 MiB of one answer without a newline, in 64 KiB reads
        ex.feed("s2c", b'{"jsonrpc":"2.0","id":1,"result":' + b"x" * 65536, 0.1)
        assert len(ex.buffers["s2c"]) <= (1 << 20) + 65536 + 40
    ex.feed("s2c", b'xx"}\n' + answer % 2, 0.2)  # the long line ends; an answer to an unknown id: nothing
    ex.feed("c2s", call % (3, 3), 0.3)
    ex.feed("s2c", answer % 3, 0.4)
    assert ex.too_long == 1 and ex.calls == 1 and len(ex.buffers["s2c"]) == 0
    for i in range(100, 300):  # requests never answered
        ex.feed("c2s", call % (i, i), 0.5)
    assert len(ex.pending) == 50 and ex.forgotten == 200 - 50 + 1  # (id 1's request was among the forgotten)
    ex.feed("s2c", answer % 299, 0.6)  # the newest is still paired
    assert ex.calls == 2
    names = [json.loads(line).get("tool") for f in (tmp_path / "logs").glob("*.jsonl")
             for line in f.read_text().splitlines() if '"tool_call"' in line]
    assert sorted(n for n in names if n) == ["t299", "t3"], names


def test_unanswered_requests_keep_no_arguments_or_long_ids(tmp_path):
    """Each request awaiting its answer kept its whole params (a tools/call's arguments: a file's content) and its
    id's repr: 100 calls of 1 MiB of arguments and a 1 MiB id, never answered, held 200 MiB. Only the tool's name and
    a bounded key are kept; a long id still pairs its answer, and the event's id is short."""
    import tracemalloc

    from nexus_tui import mcp_wrap
    from nexus_tui.recorder import Recorder

    rec = Recorder(tmp_path / "logs", session_id="mcp-args", start_session=False)
    ex = mcp_wrap.ExchangeRecorder(rec, "srv")
    big = "x" * (1 << 20)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100):
            line = json.dumps({"jsonrpc": "2.0", "id": f"{i}-{big}", "method": "tools/call",
                               "params": {"name": "write", "arguments": {"content": big}}}).encode() + b"\n"
            ex.feed("c2s", line, 0.0)
            del line
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(ex.pending) == 100 and grown < 2 << 20, grown
    ex.feed("s2c", json.dumps({"jsonrpc": "2.0", "id": f"7-{big}", "result": {"content": []}}).encode() + b"\n", 0.25)
    events = [json.loads(line) for f in (tmp_path / "logs").glob("*.jsonl") for line in f.read_text().splitlines()]
    calls = [e for e in events if e.get("type") == "tool_call"]
    assert ex.calls == 1 and len(ex.pending) == 99 and [c["tool"] for c in calls] == ["write"]
    assert calls[0]["latency_ms"] == 250 and len(calls[0]["id"]) < 100


def test_a_message_cut_inside_an_emoji_is_still_recorded(tmp_path):
    """A JavaScript server (or client) that cuts a text inside an emoji writes the half as a lone surrogate escape
    ("\\ud83d"): valid JSON orjson refuses, so the call was never paired nor recorded; and an event holding one
    was dropped by the recorder (JSON cannot write it). Both are read, the half stored as U+FFFD."""
    from nexus_tui import mcp_wrap
    from nexus_tui.recorder import Recorder

    rec = Recorder(tmp_path / "logs", session_id="mcp-cut", start_session=False)
    ex = mcp_wrap.ExchangeRecorder(rec, "srv")
    ex.feed("c2s", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read\\ud83d"}}\n', 0.0)
    ex.feed("s2c", b'{"jsonrpc":"2.0","id":1,"result":{"isError":true,'
                   b'"content":[{"type":"text","text":"cut \\ud83d"}]}}\n', 0.5)
    events = [json.loads(line) for f in (tmp_path / "logs").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert (ex.calls, rec.dropped) == (1, 0)
    assert [(e["tool"], e["error_message"], e["latency_ms"]) for e in events] == [("read\ufffd", "cut \ufffd", 500)]
