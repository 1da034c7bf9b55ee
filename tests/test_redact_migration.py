"""Schema version 13: secrets in what was stored before the labels and titles were redacted (an error's kind,
component and type; a session title) are redacted when the database is opened, on both backends; the tool rollups,
which keep an error type in their key, are rebuilt from the redacted rows; text without a secret is not touched."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from nexus_tui.core.events import (Batch, ErrorRec, SessionRec, TaskRec, ToolResultRec, ToolUseRec)
from nexus_tui.store import open_store
from nexus_tui.store.migrations import REDACTED_LABELS, REDACTED_TEXT
from nexus_tui.store.schema import REDACT_LABELS_SCHEMA_VERSION, SCHEMA_VERSION

GH = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
AKIA = "AKIA" + "IOSFODNN7EXAMPLE"
T0 = 1_763_000_000_000


def _old_batch() -> Batch:
    b = Batch()
    b.sessions.append(SessionRec(id="s1", start_ms=T0, end_ms=T0 + 60_000, cli_tool="claude-code", project="p"))
    b.tasks.append(TaskRec(id="t1", session_id="s1", ts_ms=T0 + 1_000, source="transcript", model="claude-sonnet-4-5",
                           tokens_in=10, tokens_out=5, error_type=f"auth {GH}", error_message=f"key {AKIA}"))
    b.tasks.append(TaskRec(id="t2", session_id="s1", ts_ms=T0 + 2_000, source="transcript", model="claude-sonnet-4-5",
                           tokens_in=7, tokens_out=3, error_type="overloaded_error"))
    for i, etype in enumerate((f"denied {AKIA}", f"denied {AKIA}", "exit_code")):
        b.tool_uses.append(ToolUseRec(id=f"c{i}", session_id="s1", task_id="t1", tool_name="Bash",
                                      started_ms=T0 + 3_000 + i))
        b.tool_results.append(ToolResultRec(id=f"c{i}", session_id="s1", ended_ms=T0 + 3_500 + i, success=False,
                                            error_type=etype, error_message="failed"))
    b.errors.append(ErrorRec(id="e1", ts_ms=T0 + 4_000, component=f"aws {AKIA}", kind=f"Bearer {GH}",
                             message="denied", session_id="s1"))
    b.errors.append(ErrorRec(id="e2", ts_ms=T0 + 4_000, component="api", kind="api_error", message="plain",
                             session_id="s1"))
    b.titles.append(("title", "f:1", "custom", f"deploy with {GH}", None, "s1", 1))
    b.titles.append(("title", "f:2", "ai", "a plain title", None, "s1", 2))
    return b


def _dump(conn) -> dict:
    out = {}
    for table, key, cols in REDACTED_TEXT + REDACTED_LABELS:
        for col in cols:
            out[(table, col)] = dict(conn.execute(text(f'SELECT "{key}", "{col}" FROM {table}')).all())
    out["tool_rollups"] = sorted(conn.execute(text(
        "SELECT tool_name, error_type, SUM(calls), SUM(failures) FROM tool_rollups "
        "GROUP BY tool_name, error_type")).all())
    out["tool_days"] = sorted(conn.execute(text(
        "SELECT tool_name, error_type, SUM(calls) FROM tool_days GROUP BY tool_name, error_type")).all())
    return out


def test_a_database_stored_before_version_13_is_redacted_when_opened(db_url, monkeypatch):
    from nexus_tui.core import redact as R

    assert REDACT_LABELS_SCHEMA_VERSION == 13 <= SCHEMA_VERSION
    store = open_store(db_url)
    with monkeypatch.context() as m:  # written as a version before 13 wrote it: the labels and titles as they came
        m.setattr(R, "redact_batch", lambda batch: None)
        store.writer.write(_old_batch())
    with store.engine.begin() as conn:
        before = _dump(conn)
        conn.execute(text(f"DELETE FROM schema_version WHERE version >= {REDACT_LABELS_SCHEMA_VERSION}"))
    assert before[("title_lines", "title")]["f:1"] == f"deploy with {GH}"  # the secrets are there to be found
    assert ("Bash", f"denied {AKIA}", 2, 2) in before["tool_rollups"]
    store.close()

    again = open_store(db_url)
    try:
        with again.engine.connect() as conn:
            after = _dump(conn)
            versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
        flat = repr(after)
        assert GH not in flat and AKIA not in flat and GH[:12] not in flat and AKIA[:10] not in flat
        assert versions[-1] == SCHEMA_VERSION and versions.count(REDACT_LABELS_SCHEMA_VERSION) == 1
        assert after[("tasks", "error_type")] == {"t1": "auth [REDACTED:github-token]", "t2": "overloaded_error"}
        assert after[("tasks", "error_message")]["t1"] == "key [REDACTED:aws-access-key]"
        assert after[("tool_calls", "error_type")] == {"c0": "denied [REDACTED:aws-access-key]",
                                                       "c1": "denied [REDACTED:aws-access-key]", "c2": "exit_code"}
        assert after[("errors", "kind")] == {"e1": "Bearer [REDACTED:github-token]", "e2": "api_error"}
        assert after[("errors", "component")] == {"e1": "aws [REDACTED:aws-access-key]", "e2": "api"}
        assert after[("title_lines", "title")] == {"f:1": "deploy with [REDACTED:github-token]",
                                                   "f:2": "a plain title"}
        # the rollups follow the rows: the same sums, under the redacted key
        assert after["tool_rollups"] == [("Bash", "denied [REDACTED:aws-access-key]", 2, 2), ("Bash", "exit_code", 1, 1)]
        assert after["tool_days"] == [("Bash", "denied [REDACTED:aws-access-key]", 2), ("Bash", "exit_code", 1)]
        # what had no secret is as it was
        for k, rows in before.items():
            if k in ("tool_rollups", "tool_days"):
                continue
            for key, v in rows.items():
                if v is None or (GH not in v and AKIA not in v):
                    assert after[k][key] == v, (k, key)
    finally:
        again.close()
    if db_url.startswith("sqlite:///"):  # closed (checkpointed): no copy of the old text left in the file
        from pathlib import Path

        files = [p for p in Path(db_url[len("sqlite:///"):]).parent.iterdir() if p.name.startswith("store.db")]
        assert files and all(GH.encode() not in p.read_bytes() and AKIA.encode() not in p.read_bytes()
                             for p in files)


def test_the_migration_reads_a_large_table_in_pages(tmp_path, monkeypatch):
    """Keyset pages of 5,000 rows: 12,001 titles, one secret among them on the last page, every row read once."""
    url = f"sqlite:///{tmp_path / 'big.db'}"
    store = open_store(url)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO title_lines (id, kind, title) VALUES (:i, 'ai', :t)"),
                     [{"i": f"f:{i:05d}", "t": f"title {i}"} for i in range(12_000)]
                     + [{"i": "f:99999", "t": f"last {GH}"}])
        conn.execute(text(f"DELETE FROM schema_version WHERE version >= {REDACT_LABELS_SCHEMA_VERSION}"))
    store.close()
    seen = []
    from nexus_tui.core import redact as R

    orig = R.redact
    monkeypatch.setattr(R, "redact", lambda s: (seen.append(s), orig(s))[1])
    again = open_store(url)
    try:
        with again.engine.connect() as conn:
            titles = dict(conn.execute(text("SELECT id, title FROM title_lines")).all())
    finally:
        again.close()
    assert titles["f:99999"] == "last [REDACTED:github-token]" and titles["f:11999"] == "title 11999"
    # versions 13, 15 (REDACT_ALL_SCHEMA_VERSION, every column the writer redacts) and 17 (15 again with the rules
    # of now) each read every row once; 15 and 17 pass over the ten titles shorter than redact's minimum of 8
    # characters ("title 0" .. "title 9")
    assert len(titles) == 12_001 and sum(1 for s in seen if s.startswith(("title ", "last "))) == 3 * 12_001 - 20


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__]))
