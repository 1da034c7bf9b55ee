"""No secret in a key or a path (schema version 16): every key and path a source takes from its data (a transcript
line's ``sessionId``, ``requestId``, ``message.id``, tool_use id and ``uuid``, an event log's and OTLP's ids, the
file's path: Claude Code names project folders after the cwd) is stored through ``core.redact.key_of``: as it is
when it holds no secret, else redacted with a hash, so it stays unique, every foreign key joins and reading again
adds nothing. The cursors are found again by the mapped path, the task detail reads a redacted path's transcript
back, and the migration rewrites what was stored before into the same state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from nexus_tui.collect.collector import Collector
from nexus_tui.collect.sources import ClaudeCodeSource
from nexus_tui.core.redact import key_of, redact_key
from nexus_tui.store import open_store
from nexus_tui.store.schema import REDACT_KEYS_SCHEMA_VERSION, SCHEMA_VERSION, TABLES
from tests.test_redact_all_migration import _numbers, _reports

GH = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
AK = "sk-ant-api03-" + "Zq9" * 30 + "-AbCdEfGh_AA"
SECRETS = (GH, AKIA, AK)
# the same shapes, innocuous: what the same ingest of plain input is compared with
PLAIN = {GH: "ghq_" + "x" * 36, AKIA: "QQQQ" + "q" * 16, AK: "sq-qnt-qpi03-" + "Zq9" * 30 + "-AbCdEfGh_AA"}
FRAGMENTS = (GH[4:16], AKIA[4:14], AK[13:40])
T0 = "2026-03-01T12:00:0{}.000Z"


def _lines(n: int, s: str) -> list[dict]:
    """One session's transcript: every id holding a secret (``s``: which one), a tool call, a task keyed by its
    message id (no requestId), a summary naming the leaf message."""
    sid, cwd = f"sess-{n}-{s}", f"/home/u/work-{s}"
    u = [f"uuid-{n}-{i}-{s}" for i in range(4)]
    tu = f"toolu_{n}_{s}"
    base = {"sessionId": sid, "cwd": cwd, "version": "2.0.0", "gitBranch": "main"}
    usage = {"input_tokens": 10 + n, "output_tokens": 5, "cache_read_input_tokens": 100,
             "cache_creation_input_tokens": 20}
    return [
        {**base, "type": "user", "uuid": u[0], "parentUuid": None, "timestamp": T0.format(1),
         "message": {"role": "user", "content": "hello"}},
        {**base, "type": "assistant", "uuid": u[1], "parentUuid": u[0], "timestamp": T0.format(2),
         "requestId": f"req_{n}_{s}",
         "message": {"id": f"msg_{n}_{s}", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                     "usage": usage, "stop_reason": "tool_use",
                     "content": [{"type": "tool_use", "id": tu, "name": "Bash", "input": {"command": "ls"}}]}},
        {**base, "type": "user", "uuid": u[2], "parentUuid": u[1], "timestamp": T0.format(3),
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tu, "content": "boom",
                                                  "is_error": True}]}},
        {**base, "type": "assistant", "uuid": u[3], "parentUuid": u[2], "timestamp": T0.format(4),
         "message": {"id": f"msg_b{n}_{s}", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                     "usage": usage, "stop_reason": "end_turn", "content": [{"type": "text", "text": "done"}]}},
        {"type": "summary", "summary": "a title", "leafUuid": u[3]},
    ]


def _tree(root: Path, plain: bool) -> Path:
    """Two project folders named after a cwd holding a secret (as Claude Code names them), one transcript each."""
    projects = root / "projects"
    for n, s in enumerate(SECRETS):
        s = PLAIN[s] if plain else s
        folder = projects / f"-home-u-work-{s}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file-{s}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in _lines(n, s)))
    return projects


def _events(plain: bool) -> tuple[bytes, dict]:
    """An event-log line (the proxy's) and an OTLP api_request, their ids holding secrets."""
    s = PLAIN[GH] if plain else GH
    ev = {"v": 1, "type": "proxy_request", "ts": "2026-03-01T12:00:05.000Z", "id": f"req_px_{s}",
          "session_id": f"s-px-{s}", "route": "anthropic", "path": "/v1/messages", "kind": "messages",
          "model": "claude-opus-4-6", "routing": "cloud", "tokens_in": 10, "tokens_out": 5, "http_status": 200}
    a = AKIA if not plain else PLAIN[AKIA]
    otlp = {"resourceLogs": [{"resource": {}, "scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1772366406000000000", "body": {"stringValue": "claude_code.api_request"},
        "attributes": [{"key": k, "value": v} for k, v in {
            "event.name": {"stringValue": "api_request"}, "session.id": {"stringValue": f"otel-{a}"},
            "model": {"stringValue": "claude-opus-4-6"}, "input_tokens": {"intValue": 7},
            "output_tokens": {"intValue": 3}, "duration_ms": {"intValue": 1234},
            "request_id": {"stringValue": f"req_ot_{a}"}}.items()]}]}]}]}
    return (json.dumps(ev) + "\n").encode(), otlp


def _ingest(db_url: str, root: Path, plain: bool = False):
    from nexus_tui.core.parse.nexus_events import parse_lines
    from nexus_tui.core.parse.otel import parse_logs

    store = open_store(db_url)
    projects = _tree(root, plain)
    rep = Collector(store, [ClaudeCodeSource([projects])], workers=1).run_once()
    assert not rep.problems, rep.problems
    line, otlp = _events(plain)
    store.writer.write(parse_lines(line, 0, str(root / "logs" / f"events-{GH if not plain else 'x'}.jsonl"),
                                   "claude-sonnet-4-5"))
    store.writer.write(parse_logs(otlp))
    return store, projects


def _tables(engine) -> dict[str, list]:
    out = {}
    with engine.connect() as conn:
        for m in TABLES:
            name = m.__table__.name
            rows = conn.execute(text(f"SELECT * FROM {name}"))
            if name.endswith(("_rollups", "_hours", "_days")):  # their row ids depend on the order of the sums
                cols = list(rows.keys())
                out[name] = sorted((tuple(v for c, v in zip(cols, r) if c != "id") for r in rows), key=repr)
            else:
                out[name] = [tuple(r) for r in rows]
        out["link_keys"] = [tuple(r) for r in conn.execute(text("SELECT * FROM link_keys"))]
    return out


def _no_secret(where: str, value) -> None:
    flat = repr(value)
    for s in FRAGMENTS:
        assert s not in flat, f"{s} in {where}"


def _files_hold_no_secret(db_url: str) -> None:
    if not db_url.startswith("sqlite:///"):
        return
    db = Path(db_url[len("sqlite:///"):])
    files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert files
    for p in files:
        data = p.read_bytes()
        for s in FRAGMENTS:
            assert s.encode() not in data, (p.name, s)


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()


def test_no_secret_of_a_key_or_path_reaches_the_database(db_url, tmp_path):
    store, projects = _ingest(db_url, tmp_path / "hostile")
    tables = _tables(store.engine)
    _no_secret("the tables", tables)
    # what was read: every record, keyed by the redacted ids, and every foreign key joins
    with store.engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).fetchall()  # noqa: E731
        assert len(q("SELECT id FROM tasks")) == 3 * 2 + 2
        assert len(q("SELECT id FROM tool_calls")) == 3
        assert q("SELECT t.id FROM tasks t LEFT JOIN sessions s ON s.id = t.session_id WHERE s.id IS NULL") == []
        assert q("SELECT c.id FROM tool_calls c LEFT JOIN tasks t ON t.id = c.task_id WHERE t.id IS NULL") == []
        assert q("SELECT c.id FROM tool_calls c LEFT JOIN sessions s ON s.id = c.session_id "
                 "WHERE s.id IS NULL") == []
        assert q("SELECT m.id FROM message_uuids m LEFT JOIN sessions s ON s.id = m.session_id "
                 "WHERE s.id IS NULL") == []
        assert q("SELECT l.id FROM title_lines l LEFT JOIN message_uuids m ON m.id = l.leaf_uuid "
                 "WHERE m.id IS NULL") == []
        assert q("SELECT e.id FROM errors e LEFT JOIN tool_calls c ON c.session_id = e.session_id "
                 "WHERE e.component = 'tool' AND c.id IS NULL") == []
        sid = key_of(f"sess-0-{GH}")
        assert sid == f"sess-0-[REDACTED:github-token]#{redact_key(f'sess-0-{GH}')[-16:]}"
        assert q(f"SELECT COUNT(*) FROM tasks WHERE session_id = '{sid}'") == [(2,)]
        assert {r[0] for r in q("SELECT path FROM ingest_cursors")} == {
            key_of(str(p)) for p in projects.rglob("*.jsonl")}
    # the same ingest of the input with the secrets replaced by innocuous text of the same shape: the same numbers
    plain, _ = _ingest(f"sqlite:///{tmp_path / 'plain.db'}", tmp_path / "plain", plain=True)
    assert _reports(store.engine) == _reports(plain.engine)
    assert {t: len(r) for t, r in tables.items()} == {t: len(r) for t, r in _tables(plain.engine).items()}
    plain.close()
    # read again: nothing added (the cursors found by their mapped paths; the same ids)
    rep = Collector(store, [ClaudeCodeSource([projects])], workers=1).run_once()
    assert rep.files_read == 0 and _tables(store.engine) == tables
    store.close()
    _files_hold_no_secret(db_url)


def test_a_line_appended_to_a_file_whose_path_holds_a_secret_is_read_alone(db_url, tmp_path):
    store, projects = _ingest(db_url, tmp_path / "hostile")
    with store.engine.connect() as conn:
        before = dict(conn.execute(text('SELECT path, "offset" FROM ingest_cursors')).fetchall())
    f = next(p for p in projects.rglob("*.jsonl") if GH in str(p))
    extra = {"sessionId": f"sess-0-{GH}", "cwd": "/x", "type": "assistant", "uuid": f"uuid-0-9-{GH}",
             "timestamp": T0.format(7), "requestId": f"req_new_{GH}",
             "message": {"id": f"msg_new_{GH}", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                         "usage": {"input_tokens": 1, "output_tokens": 1}, "content": []}}
    size = f.stat().st_size
    with f.open("a") as out:
        out.write(json.dumps(extra) + "\n")
    rep = Collector(store, [ClaudeCodeSource([projects])], workers=1).run_once()
    assert rep.files_read == 1 and rep.lines == 1 and rep.bytes_read == f.stat().st_size - size
    with store.engine.connect() as conn:
        after = dict(conn.execute(text('SELECT path, "offset" FROM ingest_cursors')).fetchall())
        assert conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar() == 3 * 2 + 2 + 1
    assert set(after) == set(before) and after[key_of(str(f))] == f.stat().st_size
    store.close()


def test_a_cursor_of_a_path_without_a_secret_is_kept_as_it_was(tmp_path):
    """An upgrade changes nothing for the usual paths: the cursor row is found as stored, no file read again."""
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    projects = tmp_path / "projects"
    (projects / "-home-u-work").mkdir(parents=True)
    (projects / "-home-u-work" / "s.jsonl").write_text(
        "".join(json.dumps(d) + "\n" for d in _lines(0, "plainid")))
    Collector(store, [ClaudeCodeSource([projects])], workers=1).run_once()
    with store.engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT path FROM ingest_cursors"))] == [
            str(projects / "-home-u-work" / "s.jsonl")]
    assert Collector(store, [ClaudeCodeSource([projects])], workers=1).run_once().files_read == 0
    store.close()


def test_the_task_detail_reads_the_tool_call_back_from_a_redacted_path(tmp_path):
    from nexus_tui.collect import reader
    from nexus_tui.store.read import sessions as RS

    store, projects = _ingest(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "hostile")
    task = key_of(f"req_0_{GH}")
    d = RS.task_detail(store.engine, task)
    (c,) = d["tool_calls"]
    assert "[REDACTED:" in c["source_path"] and not os.path.exists(c["source_path"])
    use = reader.read_tool_block(c["source_path"], c["use_offset"], c["use_length"], c["id"], "use")
    result = reader.read_tool_block(c["source_path"], c["result_offset"], c["result_length"], c["id"], "result")
    assert use.problem is None and use.value == {"command": "ls"}
    assert result.problem is None and result.text == "boom"
    store.close()


def _old_write(db_url: str, root: Path, monkeypatch):
    """The same input stored as version 15 stored it: the keys and paths as they came."""
    from nexus_tui.core import redact as R

    with monkeypatch.context() as m:
        m.setattr(R, "key_of", lambda v: v)
        m.setattr(R, "redact_state", lambda st: st)
        from nexus_tui.collect import collector, light, parsing
        m.setattr(collector, "key_of", lambda v: v)
        m.setattr(light, "key_of", lambda v: v)
        m.setattr(parsing, "key_of", lambda v: v)
        store, projects = _ingest(db_url, root)
    return store, projects


def test_a_database_stored_before_version_16_is_rewritten_when_opened(db_url, tmp_path, monkeypatch):
    from nexus_tui.store import migrations

    assert REDACT_KEYS_SCHEMA_VERSION == 16 <= SCHEMA_VERSION
    store, projects = _old_write(db_url, tmp_path / "hostile", monkeypatch)
    old = _tables(store.engine)
    assert any(GH in repr(r) for r in old["sessions"]) and any(GH in repr(r) for r in old["ingest_cursors"])
    reports = _reports(store.engine)
    with store.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM schema_version WHERE version >= {REDACT_KEYS_SCHEMA_VERSION}"))
    store.close()
    monkeypatch.setattr(migrations, "PAGE_ROWS", 2)
    again = open_store(db_url)
    migrated = _tables(again.engine)
    _no_secret("the migrated tables", migrated)
    assert _reports(again.engine) == reports
    # read again after the migration: the cursors are found, nothing is added
    assert Collector(again, [ClaudeCodeSource([projects])], workers=1).run_once().files_read == 0
    assert _tables(again.engine)["tasks"] == migrated["tasks"]
    # the same state as an ingest written now (but the times the rows were written at)
    fresh, _ = _ingest(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path / "hostile")
    now = _tables(fresh.engine)
    for table in ("sessions", "tasks", "tool_calls", "errors", "message_uuids", "title_lines", "session_stats",
                  "task_rollups", "tool_rollups", "task_days", "tool_days"):
        assert sorted(migrated[table], key=repr) == sorted(now[table], key=repr), table
    assert sorted(r[0] for r in migrated["ingest_cursors"]) == sorted(r[0] for r in now["ingest_cursors"])
    fresh.close()
    again.close()
    _files_hold_no_secret(db_url)


def test_a_database_stored_before_version_17_loses_the_keys_glued_to_an_escape_or_a_word(db_url, tmp_path):
    """Version 17: the rules take a key glued to an escape written out, a colour sequence or a word; what the rules
    before let through (planted here as they stored it: a tool's error text, a tool name, a session's project, a
    file's path and its cursor) is redacted when the database is opened, every number as it was."""
    from nexus_tui.store import migrations
    from nexus_tui.store.schema import REDACT_GLUED_SCHEMA_VERSION
    from tests.test_redact_all_migration import _reports as reports_of

    assert REDACT_GLUED_SCHEMA_VERSION == 17 <= SCHEMA_VERSION
    store, _projects = _ingest(db_url, tmp_path / "plain", plain=True)
    glued = {"tasks.error_message": f"curl said \\n{GH}\\n", "tool_calls.error_message": f"\x1b[1;31m{AK}\x1b[0m",
             "tool_calls.tool_name": f"token{GH}", "sessions.project": f"keyAKIA{AKIA[4:]}",
             "tool_calls.source_path": f"/tmp/x%3D{GH}.jsonl", "ingest_cursors.path": f"/tmp/\\t{GH}.jsonl"}
    with store.engine.begin() as conn:
        for col, value in glued.items():
            table, name = col.split(".")
            key = "path" if table == "ingest_cursors" else "id"
            first = conn.execute(text(f"SELECT {key} FROM {table} ORDER BY {key} LIMIT 1")).scalar()
            assert first is not None, table
            conn.execute(text(f"UPDATE {table} SET {name} = :v WHERE {key} = :k"), {"v": value, "k": first})
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {name} = :v"), {"v": value}).scalar() == 1
        migrations._rebuild_rollups(conn)  # as the old writer kept them: keyed by the planted tool name
        conn.execute(text(f"DELETE FROM schema_version WHERE version >= {REDACT_GLUED_SCHEMA_VERSION}"))
        conn.execute(text("INSERT INTO schema_version (version, applied_at, note) VALUES (:v, 'x', 'planted')"),
                     {"v": REDACT_GLUED_SCHEMA_VERSION - 1})  # (none at all would read as version 1)
    numbers = reports_of(store.engine)
    store.close()
    again = open_store(db_url)
    flat = repr(_tables(again.engine))  # (the plain tree holds AK's body without its head: its head is looked for)
    assert [f for f in (GH[4:16], AKIA[4:14], AK[:20]) if f in flat] == []
    assert reports_of(again.engine) == numbers
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() == SCHEMA_VERSION
    again.close()
    if db_url.startswith("sqlite:///"):
        db = Path(db_url[len("sqlite:///"):])
        for p in db.parent.iterdir():
            if p.name.startswith(db.name):
                assert [f for f in (GH[4:16], AKIA[4:14], AK[:20]) if f.encode() in p.read_bytes()] == [], p.name


def test_an_id_passed_at_once_can_hold_no_secret():
    """``key_of`` passes a lower-case hexadecimal id or a ``<prefix>_<letters and digits>`` id without redacting it
    (``_CLEAN_KEY``: the cold ingest maps every key); every provider key shape, alone or inside such an id, at its
    start or after it, is still redacted, and no id it passes is one ``redact`` would change."""
    import random
    import string

    from nexus_tui.core.redact import _CLEAN_KEY, redact
    from tests.test_redact import SECRETS as SHAPES

    word = string.ascii_letters + string.digits
    samples = list(SHAPES.values()) + [
        "gsk_" + "a1B2" * 11, "shpat_" + "ab12" * 8, "whsec_" + "A1b2" * 6, "A3TX" + "Y34FZKBOKMUTVV7A",
        "ABIA" + "Y34FZKBOKMUTVV7A", "ACCA" + "Y34FZKBOKMUTVV7A", "AIza" + "SyD9tSrke72PouQMnMXa7eZSW0jkFMBWYq",
        "sk_test_" + "51H8abcdEFGH1234ijklMNOP", "dop_v1_" + "ab12" * 16, "xai-" + "Ab1" * 14]
    rng = random.Random(16)
    ids = []
    for secret in samples:
        bare = secret.split("_", 1)[1] if "_" in secret else secret
        for prefix in ("req", "msg", "toolu", "x", "a", "ghp", "hf", "npm", "gsk", "whsec", "shpat", "sk", "rk"):
            ids += [f"{prefix}_{secret}", f"{prefix}_{bare}", f"{prefix}_{secret}x", f"{prefix}_x{bare}"]
            for head in ("tool", "msg", "token", "xpwd", "secret", "apikey", "authkey", "password", "passwd"):
                ids += [f"{head}:{prefix}_{bare}", f"{head}:{prefix}_x{bare}"]
        ids += [secret, secret.lower(), f"{secret}-x"]
    for _ in range(20_000):  # ids of the shape, letters and digits at random, a key's start at random places
        body = "".join(rng.choice(word) for _ in range(rng.randint(8, 40)))
        start = rng.choice(("", "", "AKIA", "ASIA", "AIza", "A3TQ", "ACCA", "ghp_", "hf_"))
        head = rng.choice(("", "", "tool:", "msg:", "token:", "pwd:", "xsecret:", "a:"))
        cut = rng.randint(0, len(body))  # the key's start at the body's start or inside it (taken glued too)
        prefix = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.1:  # a prefix ending like GitHub's (glued keys count)
            prefix = prefix[:5] + rng.choice(("ghp", "ghs", "ghu"))
        ids.append(head + prefix + "_" + body[:cut] + start + body[cut:])
    passed = [k for k in ids if _CLEAN_KEY.fullmatch(k)]
    assert len(passed) > 2_500
    assert [k for k in passed if redact(k) != k] == []
    held = [k for k in ids if redact(k) != k]
    assert held and all(key_of(k) == redact_key(k) != k for k in held)
    assert [(k, key_of(k)) for k in held for s in samples if s in key_of(k)] == []


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__]))
