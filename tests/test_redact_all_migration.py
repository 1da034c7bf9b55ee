"""Schema version 15: since the writer redacts every string a record carries but its keys (core/redact.py
``redact_batch``: a persona, user agent, account, quota status, project, cwd, model, tool name...), what was stored
before is redacted when the database is opened, on both backends: every column the writer redacts (one declaration,
``redacted_at_write``), the rollups keyed by a changed column summed again, quota snapshot ids without the secret
their window's name held; every other value and every total as it was."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from nexus_tui.core.events import (Batch, ErrorRec, RoutingDecisionRec, SessionRec, TaskRec, ToolResultRec,
                                   ToolUseRec)
from nexus_tui.core.redact import redact, redact_key, text_fields
from nexus_tui.store import open_store
from nexus_tui.store.migrations import REDACTED_LABELS, REDACTED_TEXT, redacted_at_write
from nexus_tui.store.schema import REDACT_ALL_SCHEMA_VERSION, SCHEMA_VERSION, TABLES

GH = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
AK = "sk-ant-api03-" + "Zq9" * 30 + "-AbCdEfGh_AA"
SECRETS = (GH, AKIA, AK)
FRAGMENTS = (GH[:12], AKIA[:10], AK[:16])
T0 = 1_763_000_000_000
ROLLUPS = ("task_rollups", "task_hours", "task_days", "task_session_days", "tool_rollups", "tool_hours", "tool_days",
           "tool_session_days")


def test_the_columns_redacted_are_the_ones_the_writer_redacts(tmp_path):
    """The list is derived from the writer's own declarations (core/redact.py REDACTED_RECORDS, REDACTED_ROWS,
    KEY_FIELDS): shown here whole, and checked against the writer: a batch with a secret in every field but the keys,
    written now, has exactly these columns redacted."""
    spec = {t: (k, set(c)) for t, k, c in redacted_at_write()}
    assert spec == {
        "sessions": (("id",), {"cli_tool", "persona", "nexus_mode", "project", "cwd", "git_branch", "cli_version"}),
        "tasks": (("id",), {"model", "routing_reason", "project", "agent_id", "status", "error_message",
                            "stop_reason", "cli_tool", "persona", "tier", "component", "speed", "service_tier",
                            "error_type", "client"}),
        "tool_calls": (("id",), {"tool_name", "mcp_server", "agent_id", "target", "error_type", "error_message"}),
        "errors": (("id",), {"component", "kind", "message", "context"}),
        "routing_decisions": (("id",), {"reason", "alternatives_considered", "classifier_version"}),
        "session_stats": (("session_id", "source"), {"model"}),
        "quota_snapshots": (("id",), {"account", "window", "status", "raw_json", "machine"}),
        "title_lines": (("id",), {"title"}),
    }
    for table, _key, cols in REDACTED_TEXT + REDACTED_LABELS:  # versions 5 and 13: a part of it
        assert set(cols) <= spec[table][1], table

    store = open_store(f"sqlite:///{tmp_path / 'now.db'}")
    store.writer.write(_batch(secret=True))
    found = set()
    with store.engine.connect() as conn:
        for table in spec:
            rows = conn.execute(text(f"SELECT * FROM {table}"))
            keys = list(rows.keys())
            for r in rows:
                found |= {(table, k) for k, v in zip(keys, r) if isinstance(v, str) and "[REDACTED:" in v}
    store.close()
    # and the one key built from data text (core/redact.py REDACTED_KEYS), which the migration rewrites apart
    assert found == {(t, c) for t, (_k, cs) in spec.items() for c in cs} | {("quota_snapshots", "id")}


def _secret(name: str, i: int) -> str:
    """A value holding a secret, distinct per column (no two labels become one when redacted)."""
    return f"{name}-{i} {SECRETS[i % 3]}"


def _fill(cls, secret: bool, i: int, **given):
    """A record of ``cls`` with every text field the writer redacts set: holding a secret, or plain."""
    vals = {f: (_secret(f, i) if secret else f"plain {f} {i}") for f in text_fields(cls)}
    return cls(**{**vals, **given})


def _batch(secret: bool = True) -> Batch:
    """Three sessions: s1 and s3 with a secret in every text field of every record, s2 plain; tasks with tokens
    and costs, tool calls (failed and not), errors, routing decisions, status-line stats, quota snapshots from the
    proxy and the status line (ids holding their window's name) and a title."""
    b = Batch()
    n = 0
    for sid, sec in (("s1", secret), ("s2", False), ("s3", secret)):
        start = T0 + n * 3_600_000
        b.sessions.append(_fill(SessionRec, sec, n, id=sid, start_ms=start, end_ms=start + 1_800_000))
        for j in range(2):
            n += 1
            tid = f"{sid}-t{j}"
            b.tasks.append(_fill(TaskRec, sec and j == 0, n, id=tid, session_id=sid, ts_ms=start + j * 1_000_000,
                                 source="transcript", tokens_in=100 * n, tokens_out=10 * n, cache_read_tokens=n,
                                 cost_usd=0.01 * n, cloud_cost_equivalent=0.02 * n, quality_rating=j))
            b.tool_uses.append(_fill(ToolUseRec, sec and j == 0, n, id=f"{tid}-c", session_id=sid, task_id=tid,
                                     started_ms=start + j * 1_000_000 + 10, source_path="/p/a.jsonl", use_offset=n))
            b.tool_results.append(_fill(ToolResultRec, sec and j == 0, n, id=f"{tid}-c", session_id=sid,
                                        ended_ms=start + j * 1_000_000 + 500, success=j == 1,
                                        tool_name=None, mcp_server=None, source=None, source_path="/p/a.jsonl"))
            b.errors.append(_fill(ErrorRec, sec and j == 0, n, id=f"{tid}-e", ts_ms=start + 600, session_id=sid,
                                  task_id=tid))
            b.routing.append(_fill(RoutingDecisionRec, sec and j == 0, n, id=f"{tid}-r", task_id=tid))
        b.session_stats.append({"session_id": sid, "source": "statusline", "updated_ms": start + 5,
                                "context_used_pct": 40.0 + n, "lines_added": n,
                                "model": _secret("model", n) if sec else "claude-opus-4-6"})
        window = _secret("window", n) if sec else "five_hour"
        b.quota_snapshots.append({
            "id": f"sl:{window}:{start}:{sid}:40:None", "observed_ms": start, "source": "statusline", "account": None,
            "machine": _secret("host", n) if sec else "laptop", "window": window, "used_fraction": 0.4 + n / 100,
            "resets_at_ms": start + 3_600_000, "status": _secret("status", n) if sec else "allowed",
            "raw_json": json.dumps({"h": _secret("raw", n) if sec else "v"})})
        b.quota_snapshots.append({
            "id": f"{sid}-t0:{window}", "observed_ms": start + 1, "source": "proxy",
            "account": _secret("org", n) if sec else "org-1", "machine": None, "window": window,
            "used_fraction": 0.1 * n, "resets_at_ms": None, "status": "allowed", "raw_json": "{}"})
        b.titles.append(("title", f"f:{sid}", "custom", _secret("title", n) if sec else f"plain title {sid}", None,
                         sid, n))
    return b


def _dump(conn) -> dict[str, dict]:
    """Every row of every table but the rollups and schema_version, by its key."""
    out = {}
    for m in TABLES:
        t = m.__table__
        if t.name in ROLLUPS or t.name in ("schema_version", "rollup_dirty"):
            continue
        key = [c.name for c in t.primary_key.columns]
        rows = conn.execute(text(f"SELECT * FROM {t.name}")).mappings().all()
        out[t.name] = {tuple(r[k] for k in key): dict(r) for r in rows}
    return out


def _rollups(conn) -> dict[str, list]:
    """The rollup tables' rows, without their row ids, sorted."""
    out = {}
    for name in ROLLUPS:
        rows = conn.execute(text(f"SELECT * FROM {name}")).mappings().all()
        out[name] = sorted((tuple((k, v) for k, v in r.items() if k != "id") for r in rows), key=repr)
    return out


def _numbers(doc) -> list:
    """Every number of a report's JSON document, sorted: what a redacted name cannot change."""
    out = []

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(v)

    walk(doc)
    return sorted(out)


def _reports(engine) -> dict[str, list]:
    from nexus_tui.core.filters import Filters
    from nexus_tui.headless import render

    return {r: _numbers(json.loads(render(r, engine, Filters(), ZoneInfo("UTC"), "json")))
            for r in ("summary", "models", "tools", "sessions", "daily", "projects", "errors")}


def _no_secret(where: str, value) -> None:
    flat = repr(value)
    for s in FRAGMENTS:
        assert s not in flat, f"{s} in {where}"


def _to_version_14(store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM schema_version WHERE version >= {REDACT_ALL_SCHEMA_VERSION}"))
    store.close()


@pytest.fixture
def no_secure_delete():
    """SQLite connections without ``secure_delete``, as SQLite's default build makes them (Debian's turns it on):
    the old text is then zeroed only because the migration asks for it."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def off(dbapi_conn, _record):
        if isinstance(dbapi_conn, sqlite3.Connection):
            dbapi_conn.execute("PRAGMA secure_delete = OFF")

    event.listen(Engine, "connect", off)
    yield
    event.remove(Engine, "connect", off)


def test_a_database_stored_before_version_15_is_redacted_when_opened(db_url, monkeypatch, no_secure_delete):
    from nexus_tui.core import redact as R
    from nexus_tui.store.rollup import rebuild

    assert REDACT_ALL_SCHEMA_VERSION == 15 <= SCHEMA_VERSION
    store = open_store(db_url)
    with monkeypatch.context() as m:  # written as version 14 wrote it: the labels as they came, the ids too
        m.setattr(R, "redact_batch", lambda batch: None)
        store.writer.write(_batch())
    with store.engine.connect() as conn:
        before, rollups_before = _dump(conn), _rollups(conn)
    reports_before = _reports(store.engine)
    assert before["sessions"][("s1",)]["persona"] == _secret("persona", 0)  # the secrets are there to be found
    assert any(GH in k[0] for k in before["quota_snapshots"])
    assert any(AKIA in (dict(r)["model"] or "") for r in rollups_before["task_rollups"])
    _to_version_14(store)

    from nexus_tui.store import migrations

    monkeypatch.setattr(migrations, "PAGE_ROWS", 2)  # every table over several keyset pages (a composite key too)
    again = open_store(db_url)
    with again.engine.connect() as conn:
        after, rollups_after = _dump(conn), _rollups(conn)
        versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
    assert versions[-1] == SCHEMA_VERSION and versions.count(REDACT_ALL_SCHEMA_VERSION) == 1
    _no_secret("the tables", after)
    _no_secret("the rollups", rollups_after)
    # every value as it was, or as the writer redacts it now: the same rows, keyed alike (quota ids as redact_key)
    spec = {t: set(c) for t, _k, c in redacted_at_write()}
    for table, rows in before.items():
        rekey = (lambda k: (redact_key(k[0]),)) if table == "quota_snapshots" else (lambda k: k)
        assert set(after[table]) == {rekey(k) for k in rows}, table
        for k, row in rows.items():
            want = {c: redact(v) if c in spec.get(table, ()) else v for c, v in row.items()}
            if table == "quota_snapshots":
                want["id"] = redact_key(row["id"])
            assert after[table][rekey(k)] == want, (table, k)
    assert after["sessions"][("s2",)] == before["sessions"][("s2",)]  # plain rows untouched
    assert after["tasks"][("s1-t0",)]["model"] == "model-1 [REDACTED:aws-access-key]"
    assert after["quota_snapshots"][(redact_key(f"sl:{_secret('window', 2)}:{T0}:s1:40:None"),)]["window"] == \
        "window-2 [REDACTED:anthropic-key]"
    # the totals of every report as they were; the rollups as a rebuild from the rows makes them
    assert _reports(again.engine) == reports_before
    assert sum(len(v) for v in rollups_after.values()) == sum(len(v) for v in rollups_before.values())
    with again.engine.begin() as conn:
        rebuild(conn)
        assert _rollups(conn) == rollups_after
    again.close()
    if db_url.startswith("sqlite:///"):  # closed (checkpointed): no copy of the old text left in the files
        files = [p for p in Path(db_url[len("sqlite:///"):]).parent.iterdir() if p.name.startswith("store.db")]
        assert files
        for p in files:
            data = p.read_bytes()
            for s in FRAGMENTS:
                assert s.encode() not in data, (p.name, s)

    # run again (a copy restored, a second process): nothing changes
    _to_version_14(open_store(db_url))
    third = open_store(db_url)
    with third.engine.connect() as conn:
        assert _dump(conn) == after and _rollups(conn) == rollups_after
    third.close()


LINES = [
    {"v": 1, "type": "proxy_request", "ts": "2026-03-01T12:00:03.000Z", "id": "req_q1", "session_id": "s-px",
     "route": "anthropic", "path": "/v1/messages", "kind": "messages", "model": "claude-opus-4-6", "routing": "cloud",
     "tokens_in": 10, "tokens_out": 5, "http_status": 200,
     "quota": [{"window": f"five {GH}", "used_fraction": 0.5, "status": "allowed", "raw": {}},
               {"window": f"five {GH[:-1]}x", "used_fraction": 0.6, "status": "allowed", "raw": {}},
               {"window": "seven_day", "used_fraction": 0.2, "status": "allowed", "raw": {}}]},
    {"v": 1, "type": "statusline", "ts": "2026-03-01T12:00:04.000Z", "session_id": "s-px",
     "rate_limits": {f"w {AKIA}": {"used_percentage": 40, "resets_at": 1772370000},
                     "token": {"used_percentage": 41, "resets_at": 1772370000},
                     "five_hour": {"used_percentage": 42, "resets_at": 1772370000}}},
    {"v": 1, "type": "statusline", "ts": "2026-03-01T12:00:05.000Z", "session_id": "s-px",
     "rate_limits": {"token": {"used_percentage": 43, "resets_at": 1772370000}}},
]


def _parsed() -> Batch:
    from nexus_tui.core.parse.nexus_events import parse_lines

    chunk = "".join(json.dumps(e) + "\n" for e in LINES).encode()
    b = parse_lines(chunk, 0, "/logs/2026-03-01.jsonl", "claude-sonnet-4-5")
    assert not b.skipped and len(b.quota_snapshots) == 7, b.skipped
    return b


def _quota(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(text(
            'SELECT id, machine, "window", used_fraction, observed_ms FROM quota_snapshots'))}


def test_quota_snapshot_ids_hold_no_secret_and_reading_the_source_again_adds_no_row(db_url, tmp_path, monkeypatch):
    """A quota snapshot's id holds its window's name (``<request id>:<window>``, ``sl:<window>:<time>...``), cut
    but not redacted. The writer builds it with ``redact_key`` now (a hash of the id as read after a redacted one:
    two windows that differ only by their secrets, or a window named ``token`` whose keyword pair took the time
    after it, stay two snapshots); the migration rewrites the ids stored before with the same function, after
    another machine's ``<machine>/`` prefix, and a source read again after it adds nothing."""
    from nexus_tui.core import redact as R

    home = open_store(db_url, machine=("home1", None))
    other = open_store(db_url, machine=("m2", None))
    with monkeypatch.context() as m:  # as version 14 wrote them
        m.setattr(R, "redact_batch", lambda batch: None)
        home.writer.write(_parsed())
        other.writer.write(_parsed())
    old = _quota(home.engine)
    assert len(old) == 14 and sum(any(f in k for f in FRAGMENTS) for k in old) == 6
    # the same snapshot stored again under its new id (the path that must not make a duplicate)
    dup = next(k for k in old if k.startswith("req_q1:five ghp_16"))
    with home.engine.begin() as conn:
        conn.execute(text('INSERT INTO quota_snapshots (id, observed_ms, observed_at, source, "window", machine) '
                          "VALUES (:i, 1, 'x', 'proxy', 'dup', 'home1')"), {"i": redact_key(dup)})
    other.close()
    _to_version_14(home)

    home = open_store(db_url, machine=("home1", None))
    other = open_store(db_url, machine=("m2", None))
    migrated = _quota(home.engine)
    _no_secret("the quota snapshots", migrated)
    want = {("m2/" + redact_key(k[3:])) if k.startswith("m2/") else redact_key(k) for k in old}
    assert set(migrated) == want and len(migrated) == 14  # one row each: the duplicate's old row deleted
    assert migrated[redact_key(dup)][1] == "dup"  # the row stored under the new id first is the one kept
    assert {v[0] for v in migrated.values()} == {"home1", "m2"}  # registered machines' ids are kept
    assert len({k for k in migrated if k.startswith("sl:token:")}) == 2  # two times, two snapshots
    # read again, by either machine: no new row, the same ids
    home.writer.write(_parsed())
    other.writer.write(_parsed())
    assert set(_quota(home.engine)) == want
    home.close()
    other.close()
    # and a database written now from the same source holds the same ids
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}", machine=("home1", None))
    fresh.writer.write(_parsed())
    assert set(_quota(fresh.engine)) == {k for k in want if not k.startswith("m2/")}
    fresh.close()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__]))


def test_the_parsers_states_in_the_cursors_are_redacted_with_their_ids_kept(db_url):
    """A cursor keeps its file's parser state: the tool names waiting for their result (Claude Code), a request's
    model (LunaRoute). Stored before, a name holding a key is redacted by version 15; ids (the objects' names) and
    numbers stay as they were, and a state that is not JSON is left alone."""
    cc = {"recent": {"u1": [1772366400000, "req_1"]},
          "pending": {"toolu_1": [1772366400000, f"mcp__x__{GH}", None], "toolu_2": [1772366400001, "Bash", None]}}
    luna = {"requests": {"r1": {"m": f"model {AKIA}", "p": "anthropic", "s": 5}}, "sessions": {}}
    store = open_store(db_url)
    with store.engine.begin() as conn:
        for path, state in (("/a.jsonl", json.dumps(cc)), ("/b.jsonl", json.dumps(luna)), ("/c.jsonl", "{not json"),
                            ("/d.jsonl", None)):
            conn.execute(text('INSERT INTO ingest_cursors (path, source, "offset", state, lines, skipped) '
                              "VALUES (:p, 'claude_code', 10, :s, 1, 0)"), {"p": path, "s": state})
    _to_version_14(store)
    again = open_store(db_url)
    with again.engine.connect() as conn:
        states = dict(conn.execute(text("SELECT path, state FROM ingest_cursors")).fetchall())
    again.close()
    _no_secret("the cursors' states", states)
    got = json.loads(states["/a.jsonl"])
    assert got["recent"] == cc["recent"] and got["pending"]["toolu_2"] == cc["pending"]["toolu_2"]
    assert got["pending"]["toolu_1"] == [1772366400000, "mcp__x__[REDACTED:github-token]", None]
    assert json.loads(states["/b.jsonl"])["requests"]["r1"] == {"m": "model [REDACTED:aws-access-key]",
                                                                "p": "anthropic", "s": 5}
    assert states["/c.jsonl"] == "{not json" and states["/d.jsonl"] is None
