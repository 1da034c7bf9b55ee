"""Out-of-range and odd values, end to end: each is checked where it is parsed (a counted skip reason), nothing a
parser returns makes the writer raise, a failure in one source or file never stops the others nor the rollups
(issue 10, A1 and A6's value-level parts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS, Batch, SessionRec, TaskRec, ms_from_iso
from nexus_tui.core.parse import claude_code, lunaroute, nexus_events
from nexus_tui.core.parse.claude_code import FileContext
from nexus_tui.core.parse.guard import MAX_DURATION_MS, MAX_TOKENS, loads, slow_loads
from nexus_tui.store import open_store
from tests.conftest import REAL
from tests.helpers import store_at
from tests.test_store import _cli

LUNA = REAL / "lunaroute" / "constructed_from_events_rs.jsonl"
BIG = 2**63  # one past the SQL integer range

CC_LINE = {"type": "assistant", "sessionId": "robust-cc", "version": "2.1.0", "cwd": "/w/robust",
           "timestamp": "2026-03-01T12:00:00.000Z", "requestId": "req_r1", "uuid": "u1",
           "message": {"id": "msg_r1", "model": "claude-opus-4-6", "usage": {"input_tokens": 10, "output_tokens": 20}}}
EV_TASK = {"v": 1, "type": "task", "ts": "2026-03-01T12:00:05.000Z", "id": "t-good", "session_id": "robust-ev",
           "model": "claude-sonnet-4-5", "routing": "cloud", "tokens_in": 100, "tokens_out": 50, "latency_ms": 1200,
           "prompt_length": 42, "response_length": 7}


def _cc(**over) -> dict:
    d = json.loads(json.dumps(CC_LINE))
    for k, v in over.items():
        if k in ("usage", "model", "id", "content"):
            d["message"][k] = v
        else:
            d[k] = v
    return d


def _jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _cc_parse(*rows) -> Batch:
    chunk = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()
    return claude_code.parse_lines(chunk, 0, FileContext("t.jsonl"), claude_code.new_state())


def _luna_lines() -> list[dict]:
    if not LUNA.is_file():
        pytest.skip("the shared LunaRoute fixture is not beside the repo")
    return [json.loads(x) for x in LUNA.read_text().splitlines() if x.strip()]


# --- A1 -----------------------------------------------------------------------------------------------------------

def _bad_home(tmp_path: Path) -> None:
    """A home with an out-of-range event-log line, LunaRoute lines with out-of-range values and a list where the
    type string goes, and a good Claude Code transcript."""
    _jsonl(tmp_path / "claude" / "projects" / "-w-robust" / "s.jsonl",
           [_cc(), _cc(requestId="req_r2", uuid="u2", id="msg_r2", timestamp="2026-03-01T12:01:00.000Z")])
    _jsonl(tmp_path / "nexus" / "logs" / "2026-03-01.jsonl",
           [EV_TASK, dict(EV_TASK, id="t-big-prompt", prompt_length=BIG),
            dict(EV_TASK, id="t-big-response", response_length=2**64 + 5)])
    luna = _luna_lines()
    bad_latency = next(dict(x) for x in luna if x["type"] == "response_recorded")
    bad_latency.update(request_id="r-bad-latency", provider_latency_ms=BIG)
    bad_size = next(dict(x) for x in luna if x["type"] == "tool_call_recorded")
    bad_size.update(request_id="r-bad-size", input_size_bytes=2**64)
    listed = dict(luna[0], type=["started"], request_id="r-listed")
    # the bad lines come first: nothing after them may be lost
    _jsonl(tmp_path / ".lunaroute" / "sessions" / "2025-10-01" / "s.jsonl", [bad_latency, bad_size, listed, *luna])


def test_out_of_range_values_are_skipped_by_reason_and_ingest_goes_on(tmp_path):
    _bad_home(tmp_path)
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "problem" not in r.stderr
    out = r.stdout
    assert "new: 3 sessions, 4 tasks" in out  # 2 transcript + 1 event log + 1 LunaRoute
    assert "invalid event (prompt_length: out of range): 1" in out
    assert "invalid event (response_length: out of range): 1" in out
    assert "invalid response_recorded event: 1" in out
    assert "invalid tool_call_recorded event: 1" in out
    assert "unknown event type (['started']): 1" in out
    assert "skipped lines: 5 " in out

    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT source, count(*) FROM tasks GROUP BY source")).fetchall())
        assert rows == {"transcript": 2, "mcp-tool": 1, "proxy-intercept": 1}
        assert conn.execute(text("SELECT prompt_length, response_length FROM tasks WHERE id = 'nx:t-good'")).one() \
            == (42, 7)
        # the rollups were applied: what summary and daily read agrees with the tasks table
        assert conn.execute(text("SELECT sum(tasks) FROM task_rollups")).scalar() == 4
        cursors = conn.execute(text("SELECT source, skipped FROM ingest_cursors ORDER BY source")).fetchall()
    store.close()
    assert cursors == [("claude-code", 0), ("lunaroute", 3), ("nexus-events", 2)]

    again = _cli(tmp_path, "ingest")  # the cursors moved: nothing new, nothing failing
    assert again.returncode == 0 and "new: 0 sessions, 0 tasks" in again.stdout

    summary = _cli(tmp_path, "--headless", "summary", "--no-collect", "--format", "json")
    assert summary.returncode == 0, summary.stderr
    daily = _cli(tmp_path, "--headless", "daily", "--no-collect", "--format", "json", "--tz", "UTC")
    assert daily.returncode == 0, daily.stderr
    s, d = json.loads(summary.stdout), json.loads(daily.stdout)
    assert s["tasks"] == 4 and s["sessions"] == 3
    assert {row["date"]: row["tasks"] for row in d["daily"]} == {"2025-10-01": 1, "2026-03-01": 3}


# --- the writer never raises on what a parser can return ----------------------------------------------------------

def test_writer_stores_what_it_can_of_a_batch_the_database_refuses(tmp_path, db_url):
    store = open_store(db_url)
    t0 = ms_from_iso("2026-03-01T12:00:00.000Z")
    b = Batch()
    b.sessions += [SessionRec(id="w-s", start_ms=t0, end_ms=t0 + 1000),
                   SessionRec(id="w-\ud800-s", start_ms=t0, end_ms=t0)]  # a lone surrogate sqlite cannot encode
    good = TaskRec(id="w-ok", session_id="w-s", ts_ms=t0, source="transcript", model="m", tokens_in=5)
    b.tasks += [good,
                TaskRec(id="w-ok", session_id="w-s", ts_ms=t0, source="transcript", model="m", tokens_in=6),  # dup
                TaskRec(id="w-big", session_id="w-s", ts_ms=t0, source="transcript", model="m", tokens_in=7,
                        prompt_length=BIG, response_length=-(2**70), latency_ms=2**80,
                        cost_usd=float("inf")),
                TaskRec(id="w-nul\x00", session_id="w-\ud800-s", ts_ms=t0, source="transcript", model="m\ud800")]
    res = store.writer.write(b)  # raised OverflowError before
    with store.engine.connect() as conn:
        got = {r[0]: r[1:] for r in conn.execute(text(
            "SELECT id, tokens_in, prompt_length, response_length, latency_ms, cost_usd, model FROM tasks"))}
        sessions = sorted(r[0] for r in conn.execute(text("SELECT id FROM sessions")))
        assert conn.execute(text("SELECT sum(tasks) FROM task_rollups")).scalar() == 3
    store.close()
    assert got["w-ok"][0] == 6  # the larger record of the same response, as the merge rule says
    assert got["w-big"] == (7, None, None, None, None, "m")
    assert got["w-nul\ufffd"][-1] == "m\ufffd"  # NUL and lone surrogates become U+FFFD
    assert sessions == ["w-s", "w-\ufffd-s"]
    assert res.new_tasks == 3 and res.dropped == {}


def test_a_record_missing_a_required_value_is_dropped_and_counted(tmp_path, db_url):
    store = open_store(db_url)
    t0 = ms_from_iso("2026-03-01T12:00:00.000Z")
    b = Batch(sessions=[SessionRec(id="x", start_ms=t0, end_ms=t0)],
              tasks=[TaskRec(id="keep", session_id="x", ts_ms=t0, source="otel", model="m"),
                     TaskRec(id="no-model", session_id="x", ts_ms=t0, source="otel", model=["not", "text"]),
                     TaskRec(id="no-time", session_id="x", ts_ms=10**20, source="otel", model="m")])
    res = store.writer.write(b)
    with store.engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT id FROM tasks"))] == ["keep"]
    store.close()
    assert res.new_tasks == 1
    assert res.dropped == {"tasks: model missing or invalid": 1, "tasks: timestamp missing or invalid": 1}


# --- the collector: one source's or file's failure never stops the others, nor the rollups -----------------------

def test_a_failing_source_and_file_never_stop_the_others_nor_the_rollups(tmp_path, db_url):
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.sources import ClaudeCodeSource, FileSource

    class Exploding(FileSource):
        name = "exploding"

        def parse(self, chunk, base_offset, path, state):
            if b"boom" in chunk:
                raise RuntimeError("a parser bug")
            return Batch(lines=chunk.count(b"\n"))

    boom = tmp_path / "boom"
    _jsonl(boom / "a.jsonl", ['{"boom": 1}'])
    _jsonl(boom / "b.jsonl", ['{"fine": 1}'])
    projects = tmp_path / "claude" / "projects"
    _jsonl(projects / "-w-robust" / "s.jsonl",
           [_cc(), _cc(requestId="req_r2", uuid="u2", id="msg_r2", timestamp="2026-03-01T12:01:00.000Z")])
    store = open_store(db_url)
    col = Collector(store, [Exploding([boom]), ClaudeCodeSource([projects])], workers=1)
    rep = col.run_once()  # raised RuntimeError before, and wrote nothing of the transcript
    assert rep.written.new_tasks == 2
    assert len(rep.problems) == 1 and "a.jsonl" in rep.problems[0] and "RuntimeError: a parser bug" in rep.problems[0]
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT sum(tasks) FROM task_rollups")).scalar() == 2
        cursors = dict(conn.execute(text("SELECT path, lines FROM ingest_cursors")).fetchall())
    store.close()
    assert str(boom / "b.jsonl") in cursors and str(boom / "a.jsonl") not in cursors  # read again next pass


def test_a_write_failing_for_one_file_keeps_the_other_files_of_its_group(tmp_path, db_url, monkeypatch):
    from nexus_tui.collect.collector import Collector
    from nexus_tui.collect.sources import ClaudeCodeSource
    from nexus_tui.store import writer as writer_mod

    projects = tmp_path / "claude" / "projects"
    _jsonl(projects / "-a" / "good.jsonl", [_cc()])
    _jsonl(projects / "-b" / "poison.jsonl", [_cc(sessionId="poison", requestId="req_p", id="msg_p")])
    store = open_store(db_url)
    real = writer_mod.Writer._write

    def failing(self, conn, p, res, *rest):  # a failure no sanitizing can help (say, a bug in a rollup)
        if any(r[0] == "poison" for r in p.rows.get("sessions", ())):
            raise ZeroDivisionError("not this file")
        return real(self, conn, p, res, *rest)

    monkeypatch.setattr(writer_mod.Writer, "_write", failing)
    rep = Collector(store, [ClaudeCodeSource([projects])], workers=1).run_once()
    assert rep.written.new_tasks == 1
    assert len(rep.problems) == 1 and "poison.jsonl" in rep.problems[0]
    with store.engine.connect() as conn:
        paths = [Path(r[0]).name for r in conn.execute(text("SELECT path FROM ingest_cursors"))]
    store.close()
    assert paths == ["good.jsonl"]  # the failed file's cursor did not move


# --- A6: values ---------------------------------------------------------------------------------------------------

def _deep(n: int) -> str:
    return "[" * n + "]" * n


REFUSED_USAGE = "usage line with a lone surrogate escape or nested 128 levels or deeper"


def _user_result(extra: str = "", text: str = "ok") -> str:
    """A user line carrying the tool result of the call ``toolu_1`` of ``req_r1`` (_tool_use)."""
    return json.dumps({"type": "user", "sessionId": "s1", "timestamp": "2026-01-01T10:00:05.000Z", "uuid": "u2",
                       "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                                "content": text}]}})[:-1] + extra + "}"


def _tool_use() -> dict:
    return _cc(content=[{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}])


def test_valid_json_nested_5000_deep_is_read_not_called_malformed():
    """Deep JSON is read (not "malformed JSON"). A usage line nested 128 levels or deeper is not counted, as ccusage
    20.0.24 does not count it (127 is); a user line's tool result is kept at any depth; the event log reads it."""
    for n, counted in ((126, True), (127, False), (5000, False)):  # the line's object and "toolUseResult" add 1
        line = json.dumps(_cc()).replace('"uuid": "u1"', f'"uuid": "u1", "toolUseResult": {_deep(n)}')
        b = _cc_parse(line)
        if counted:
            assert b.skipped == {} and [t.id for t in b.tasks] == ["req_r1"], n
        else:
            assert b.tasks == [] and b.skipped == {REFUSED_USAGE: 1}, n
    b = _cc_parse(_tool_use(), _user_result(f', "toolUseResult": {_deep(5000)}'))
    assert b.skipped == {} and [r.id for r in b.tool_results] == ["toolu_1"]
    ev = json.dumps(EV_TASK)[:-1] + f', "extra": {_deep(5000)}}}'
    nb = nexus_events.parse_lines(ev.encode() + b"\n", 0, "log.jsonl", "claude-sonnet-4-5")
    assert nb.skipped == {} and [t.id for t in nb.tasks] == ["nx:t-good"]


def test_a_lone_surrogate_escape_is_read_and_its_usage_counted_as_ccusage_counts_it():
    """A JavaScript writer that cuts a string inside an emoji writes the half as a lone surrogate escape: valid JSON
    that orjson refuses. ccusage 20.0.24 does not count a usage line holding one, so neither do we (the line is
    skipped with its reason, not as malformed); a user line's tool result with one is read (its text made valid)."""
    line = json.dumps(_cc(content=[{"type": "text", "text": "half \ud83d of an emoji"}]))
    assert "\\ud83d" in line
    b = _cc_parse(line)
    assert b.tasks == [] and b.skipped == {REFUSED_USAGE: 1}
    b = _cc_parse(_tool_use(), _user_result(text="half \ud83d cut"))
    assert b.skipped == {} and [(r.id, r.success) for r in b.tool_results] == [("toolu_1", True)]
    assert [t.id for t in b.tasks] == ["req_r1"]
    assert loads(b'"half \\ud83d of"') == "half \ufffd of"
    assert loads(b'"pair \\ud83d\\ude00"') == "pair \U0001F600"


def test_slow_decoder_agrees_with_json_on_real_lines():
    lines = [x for x in LUNA.read_bytes().splitlines() if x.strip()] if LUNA.is_file() else []
    for raw in lines + [b'{"a": [1, -2.5e3, true, false, null, "\\u00e9\\n"], "b": {}, "c": []}', b' 0 ', b'"x"']:
        assert slow_loads(raw.decode()) == json.loads(raw)
    for bad in ["{", "[1,]", "{\"a\" 1}", "NaN", "[1] 2", "01", "\"\x01\""]:
        with pytest.raises(ValueError):
            slow_loads(bad)


@pytest.mark.parametrize("ts", ["2026-02-30T12:00:00.000Z", "2026-02-30T12:00:00Z", "2025-02-29T00:00:00.000Z",
                                "0001-01-01T00:00:00.000Z", "1000-01-01T00:00:00Z", "2100-01-01T00:00:00.000Z",
                                "9999-12-31T23:59:59.999Z", "2026-04-31T00:00:00+02:00"])
def test_impossible_or_implausible_times_are_skipped(ts):
    assert ms_from_iso(ts) is None
    b = _cc_parse(_cc(timestamp=ts))
    assert b.tasks == [] and b.skipped == {"no valid timestamp": 1}


def test_valid_time_range_edges():
    assert ms_from_iso("1990-01-01T00:00:00.000Z") == 631152000000
    assert ms_from_iso("2099-12-31T23:59:59.999Z") == 4102444799999
    assert ms_from_iso("2024-02-29T12:00:00.000Z") is not None


def test_the_cache_write_split_cannot_pass_the_per_response_cap():
    split = {"input_tokens": 10, "output_tokens": 20, "cache_creation": {
        "ephemeral_5m_input_tokens": 2 * 10**9, "ephemeral_1h_input_tokens": 2 * 10**9}}
    b = _cc_parse(_cc(usage=split))
    assert b.tasks == [] and b.skipped == {"usage with invalid token counts": 1}
    over = {"input_tokens": MAX_TOKENS - 5, "output_tokens": 6}
    assert _cc_parse(_cc(usage=over)).skipped == {"usage with invalid token counts": 1}
    at = _cc_parse(_cc(usage={"input_tokens": MAX_TOKENS - 5, "output_tokens": 5}))
    assert at.skipped == {} and at.tasks[0].total_tokens == MAX_TOKENS


def test_a_huge_latency_cannot_date_a_task_outside_the_valid_range():
    b = nexus_events.parse_lines(
        (json.dumps(dict(EV_TASK, latency_ms=10**15)) + "\n" + json.dumps(dict(EV_TASK, id="t2")) + "\n").encode(),
        0, "log.jsonl", "claude-sonnet-4-5")
    assert \
        b.skipped == {"invalid event (latency_ms: out of range)": 1}
    assert [t.id for t in b.tasks] == ["nx:t2"]
    assert ms_from_iso("2026-03-01T12:00:05.000Z") - b.tasks[0].ts_ms == 1200
    ok = nexus_events.parse_lines(json.dumps(dict(EV_TASK, latency_ms=MAX_DURATION_MS)).encode() + b"\n", 0,
                                  "log.jsonl", "claude-sonnet-4-5")
    assert ok.skipped == {} and len(ok.tasks) == 1


def test_lunaroute_values_are_checked_where_parsed():
    luna = _luna_lines()
    resp = next(x for x in luna if x["type"] == "response_recorded")
    for over in ({"provider_latency_ms": BIG}, {"provider_latency_ms": 10**15}, {"input_tokens": 2**64},
                 {"tokens_per_second": "fast"}, {"type": ["response_recorded"]}, {"type": {"a": 1}},
                 {"tool_calls": [{"tool_name": "Bash", "input_size_bytes": BIG}]}):
        line = json.dumps(dict(resp, **over)).encode() + b"\n"
        b = lunaroute.parse_lines(line, 0, "s.jsonl", {})
        assert b.tasks == [] and sum(b.skipped.values()) == 1, over
    b = lunaroute.parse_lines(json.dumps(resp).encode() + b"\n", 0, "s.jsonl", {})
    assert b.skipped == {} and len(b.tasks) == 1


def test_a_parser_bug_costs_only_its_line(monkeypatch):
    calls = []
    real = claude_code._Parser.assistant

    def buggy(self, d, *a):
        calls.append(d.get("requestId"))
        if d.get("requestId") == "req_bug":
            raise KeyError("a bug")
        return real(self, d, *a)

    monkeypatch.setattr(claude_code._Parser, "assistant", buggy)
    state = claude_code.new_state()
    chunk = "".join(json.dumps(x) + "\n" for x in
                    [_cc(), _cc(requestId="req_bug", uuid="ub", id="msg_b"),
                     _cc(requestId="req_r3", uuid="u3", id="msg_r3", parentUuid="u1")]).encode()
    b = claude_code.parse_lines(chunk, 0, FileContext("t.jsonl"), state)
    assert sorted(t.id for t in b.tasks) == ["req_r1", "req_r3"]
    assert b.skipped == {"parser error (KeyError)": 1} and b.lines == 3
    assert sorted(state["recent"]) == ["u1", "u3"]  # the state as if the bad line had not been there


# --- PostgreSQL: the same batch, on the tests' server (conftest pg_url) --------------------------------------------------------------------

def test_postgresql_writer_never_raises_on_what_sqlite_takes(pg_url):
    """PostgreSQL refuses NUL in text and an INTEGER over 32 bits where SQLite stores both; the writer stores the
    row all the same (NUL as U+FFFD, the too-large value as NULL)."""
    from nexus_tui.store import open_store

    store = open_store(pg_url)
    t0 = ms_from_iso("2026-03-01T12:00:00.000Z")
    b = Batch(sessions=[SessionRec(id="pg-s", start_ms=t0, end_ms=t0, project="a\x00b")],
              tasks=[TaskRec(id="pg-t", session_id="pg-s", ts_ms=t0, source="otel", model="m", tokens_in=7,
                             prompt_length=3 * 10**9, error_message="x\x00y")])
    res = store.writer.write(b)
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT tokens_in, prompt_length, error_message FROM tasks WHERE id = 'pg-t'")).one()
        project = conn.execute(text("SELECT project FROM sessions WHERE id = 'pg-s'")).scalar()
    store.close()
    assert res.new_tasks == 1
    assert tuple(row) == (7, None, "x\ufffdy") and project == "a\ufffdb"
    # what a parser returns never reaches that: every count and size is within 32 bits
    from nexus_tui.core.parse.guard import MAX_BYTES

    assert MAX_TOKENS == MAX_BYTES == 2**31 - 1


def _by_datetime(text: str):
    """ms_from_iso's general path alone (datetime.fromisoformat), as the reference for its fast path."""
    from datetime import UTC, datetime

    from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS

    s = text.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    ms = int(dt.replace(tzinfo=dt.tzinfo or UTC).timestamp() * 1000 + 0.5)
    return ms if MIN_TIME_MS <= ms < MAX_TIME_MS else None


@given(st.lists(st.tuples(st.integers(0, 23), st.sampled_from("0123456789-:.TZ +x٣")), max_size=3),
       st.sampled_from(["2026-02-10T21:58:27.120Z", "2024-02-29T23:59:59.999Z", "2026-02-29T00:00:00.000Z",
                        "1990-01-01T00:00:00.000Z", "2099-12-31T23:59:59.999Z", "2100-01-01T00:00:00.000Z"]))
@settings(max_examples=3000, deadline=None)
@example(edits=[(0, "0"), (1, "0")], base="2100-01-01T00:00:00.000Z")  # year 0: found by CI
@example(edits=[(0, "0"), (1, "0"), (2, "0")], base="2026-02-10T21:58:27.120Z")
@example(edits=[(0, "9"), (1, "9")], base="2026-02-10T21:58:27.120Z")
def test_the_timestamp_fast_path_agrees_with_datetime(edits, base):
    """The transcripts' form (24 characters, 'Z') is parsed by a fast path with the minute's start cached; whatever
    a character changed to, it answers what datetime.fromisoformat answers for that text (None for no real time)."""
    chars = list(base)
    for i, c in edits:
        chars[i] = c
    text = "".join(chars)
    assert ms_from_iso(text) == _by_datetime(text), text


@given(st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", fullmatch=True))
@settings(max_examples=2000, deadline=None)
def test_any_digits_in_the_transcripts_form_parse_as_datetime_does_and_never_raise(text):
    """Every digit string of the fast path's shape, years 0000-9999 and months, days, hours 00-99 included,
    answers what datetime answers: a time in range, or None."""
    assert ms_from_iso(text) == _by_datetime(text), text


@given(st.text(max_size=40))
@settings(max_examples=1000, deadline=None)
def test_no_text_makes_the_timestamp_parser_raise(text):
    ms = ms_from_iso(text)
    assert ms is None or MIN_TIME_MS <= ms < MAX_TIME_MS
