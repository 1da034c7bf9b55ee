"""Bad input through the real ingest command: clear counts by reason, nothing already stored is lost."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import text

from tests.conftest import copy_cc_tree
from tests.helpers import session_totals, store_at
from tests.test_store import _cli

GOOD = {"type": "assistant", "sessionId": "bad-input-session", "version": "2.1.0", "cwd": "/w/bad",
        "timestamp": "2026-03-01T12:00:00.000Z", "requestId": "req_ok", "uuid": "u1",
        "message": {"id": "msg_ok", "model": "claude-opus-4-6", "usage": {"input_tokens": 10, "output_tokens": 20}}}


def _line(**over) -> str:
    d = json.loads(json.dumps(GOOD))
    for k, v in over.items():
        if k == "usage":
            d["message"]["usage"] = v
        elif k == "model":
            d["message"]["model"] = v
        else:
            d[k] = v
    return json.dumps(d)


def test_ingest_counts_every_kind_of_bad_line_and_keeps_what_was_stored(tmp_path):
    projects = copy_cc_tree(tmp_path / "claude")
    assert _cli(tmp_path, "ingest").returncode == 0
    db = tmp_path / "nexus" / "insights.db"
    before = session_totals(store_at(db))

    bad = projects / "-bad"
    bad.mkdir()
    (bad / "empty.jsonl").write_bytes(b"")
    noise = os.urandom(3100).replace(b"\n", b"\x00")
    (bad / "binary.jsonl").write_bytes(noise[:3000] + b"\n" + noise[3000:] + b"\n")
    (bad / "mixed.jsonl").write_text("\n".join([
        _line(),
        "{this is not json",
        '["an", "array"]',
        _line(requestId="req_types", usage={"input_tokens": "lots", "output_tokens": 3}),
        _line(requestId="req_huge", usage={"input_tokens": 10**15, "output_tokens": 3}),
        _line(requestId="req_unknown", model="mystery-model-7b", usage={"input_tokens": 5, "output_tokens": 6}),
        '{"type": "brand-new-line-type", "sessionId": "x"}',
    ]) + "\n" + '{"type":"assistant","half-writ')  # a half-written last line waits

    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "malformed JSON: 3" in out  # two binary lines + one broken line
    assert "not a JSON object: 1" in out
    assert "usage with invalid token counts: 2" in out
    assert "unknown line type (brand-new-line-type): 1" in out
    assert "last line without a newline (waiting for the rest): 1" in out  # the half-written line, counted
    assert "skipped lines: 8" in out
    assert "2 tasks" in out  # the good line and the unknown model

    store = store_at(db)
    after = session_totals(store)
    for sid, tot in before.items():
        assert after[sid] == tot
    with store.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, cost_usd FROM tasks WHERE session_id='bad-input-session'")).all())
        audit = conn.execute(text("SELECT message FROM errors WHERE component='ingest'")).scalars().all()
    assert set(rows) == {"req_ok", "req_unknown"}
    assert rows["req_ok"] > 0 and rows["req_unknown"] is None  # unpriced, never a silent zero
    assert any("mixed.jsonl" in m and "malformed JSON: 1" in m for m in audit)


def test_no_text_report_prints_a_control_character_from_data(tmp_path):
    """Strings from data (session ids, paths, titles, model names, commands) reach every text report escaped: no
    raw ESC, BEL or other control character reaches the terminal, whichever report lays them out (the audit
    trail's header printed the session id raw once)."""
    import json
    import subprocess
    import sys

    claude = tmp_path / "claude" / "projects" / "-x"
    claude.mkdir(parents=True)
    evil = "\x1b[31m\x07\x1b]0;t\x07\u202e"
    lines = [{"type": "assistant", "sessionId": "s" + evil, "version": "2.1.0", "uuid": "u1", "cwd": "/w/p" + evil,
              "timestamp": "2026-12-01T10:00:00.000Z", "requestId": "r1", "gitBranch": "b" + evil,
              "message": {"id": "m1", "model": "claude-opus-4-6" + evil, "usage": {"input_tokens": 5,
                          "output_tokens": 7}, "content": [{"type": "tool_use", "id": "t1" + evil, "name": "Bash",
                                                           "input": {"command": "x" + evil + " y"}}]}},
             {"type": "user", "sessionId": "s" + evil, "uuid": "u2", "timestamp": "2026-12-01T10:00:01.000Z",
              "message": {"content": [{"type": "tool_result", "tool_use_id": "t1" + evil, "is_error": True,
                                       "content": "failed" + evil}]}},
             {"type": "summary", "summary": "title" + evil, "leafUuid": "u1"}]
    (claude / "a.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    env = {"HOME": str(tmp_path), "NEXUS_INSIGHTS_HOME": str(tmp_path / "nexus"), "PATH": "/usr/bin:/bin",
           "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    root = Path(__file__).resolve().parents[1]
    for report in ("summary", "sessions", "models", "tools", "daily", "weekly", "monthly", "projects", "efficiency",
                   "requests", "conversations", "quota", "errors", "audit"):
        args = ["--headless", report] + (["--session", "s"] if report == "audit" else [])
        out = subprocess.run([sys.executable, "-m", "nexus_tui", *args], capture_output=True, text=True, env=env,
                             cwd=root)
        assert out.returncode == 0, (report, out.stderr[-500:])
        text = out.stdout + out.stderr
        assert not any(c in text for c in "\x1b\x07\u202e"), (report, text[:2000])
    assert "\\x1b" in subprocess.run([sys.executable, "-m", "nexus_tui", "--headless", "audit", "--session", "s"],
                                     capture_output=True, text=True, env=env, cwd=root).stdout  # shown, escaped


def test_many_different_skip_reasons_stay_a_bounded_note_with_exact_counts(tmp_path):
    """A reason may quote data (an unknown line type): a file of 50,000 different ones made a 3 MB ``ingest`` line
    and a 3 MB ingest row in the audit trail (the docs promise 500 characters). At most MAX_REASONS different
    reasons are kept, the rest counted under 'other reasons'; every skipped line is still counted."""
    from nexus_tui.core.events import MAX_REASONS

    proj = tmp_path / "claude" / "projects" / "-many"
    proj.mkdir(parents=True)
    n = 300
    (proj / "many.jsonl").write_text("".join(json.dumps({"type": f"kind-{i:04d}", "sessionId": "x"}) + "\n"
                                             for i in range(n)) + _line() + "\n")
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0, r.stderr
    assert f"skipped lines: {n} (" in r.stdout and f"other reasons: {n - MAX_REASONS}" in r.stdout
    assert len(r.stdout) < 5000 and "1 task" in r.stdout  # the good line after them is stored
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        msg, ctx = conn.execute(text("SELECT message, context FROM errors WHERE component = 'ingest'")).one()
    store.close()
    assert len(msg) <= 500 and msg.startswith(f"{n:,} line{'' if n == 1 else 's'} skipped in ")
    reasons = json.loads(ctx)["reasons"]
    assert len(reasons) == MAX_REASONS + 1 and sum(reasons.values()) == n
