"""Session titles (store/titles.py): summary lines attached through leafUuid across files, in either order, the same
read at once or in pieces; custom and AI titles; literal and control-free in terminal output; the migration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import text

from nexus_tui.store.titles import titles
from tests.conftest import CC, copy_cc_tree, require_shared
from tests.helpers import collector_for, dump, store_at
from tests.test_reports_contract import run


def title_dump(store) -> list:
    """The title tables, a line's file compared by name (trees in two temp dirs hold the same files)."""
    with store.engine.connect() as conn:
        lines = sorted((Path(i.rsplit(":", 1)[0]).name, *rest) for i, *rest in
                       conn.execute(text("SELECT id, kind, title, leaf_uuid, session_id, line_offset FROM title_lines")))
        uuids = sorted(conn.execute(text("SELECT id, session_id, ts_ms FROM message_uuids")).all())
        ids = [r[0] for r in conn.execute(text("SELECT id FROM sessions"))]
        return [lines, uuids, sorted(titles(conn, ids).items())]


def _expected_real_titles() -> dict:
    """From the files: each summary's leaf message -> its session; per session, the summary whose leaf is latest."""
    where, summaries = {}, []
    for f in CC.rglob("*.jsonl"):
        for line in f.read_text().splitlines():
            d = json.loads(line)
            if d.get("type") == "summary":
                summaries.append((d["summary"], d["leafUuid"]))
            elif d.get("type") in ("user", "assistant") and d.get("uuid"):
                where[d["uuid"]] = (d["sessionId"], d["timestamp"])
    best: dict = {}
    for title, leaf in summaries:
        if leaf in where:
            sid, ts = where[leaf]
            if sid not in best or (ts, title) > best[sid][1]:
                best[sid] = (title, (ts, title))
    return {sid: t for sid, (t, _) in best.items()}


def test_real_summaries_title_the_sessions_holding_their_leaf(tmp_path):
    copy_cc_tree(tmp_path / "claude")
    rows = json.loads(run(tmp_path, "--headless", "sessions", "--format", "json", "--tz", "UTC").stdout)["sessions"]
    want = _expected_real_titles()
    assert len(want) == 2  # two sessions are summarized, one of them by two summaries in two other files
    got = {r["session_id"]: r["title"] for r in rows if r["title_source"] == "summary"}
    assert got == want
    for r in rows:
        if r["title_source"] is None:  # no title line: project and start time
            assert r["title"] == f"{r['project']} · {r['start_time'][:10]} {r['start_time'][11:16]}"
    txt = run(tmp_path, "--headless", "sessions", "--tz", "UTC", "--no-collect").stdout
    assert all(t[:39] in txt for t in want.values())


def _summary_pair(root: Path) -> tuple[Path, Path, bytes, bytes]:
    proj = root / "projects" / "p"
    proj.mkdir(parents=True)
    older = b"".join(json.dumps(x).encode() + b"\n" for x in [
        {"type": "user", "sessionId": "s-old", "uuid": "u1", "timestamp": "2026-03-01T10:00:00Z",
         "cwd": "/w/app", "message": {"role": "user", "content": "hi"}},
        {"type": "assistant", "sessionId": "s-old", "uuid": "u2", "timestamp": "2026-03-01T10:00:05Z",
         "requestId": "r1", "cwd": "/w/app",
         "message": {"id": "m1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 3, "output_tokens": 4},
                     "content": [{"type": "text", "text": "ok"}]}}])
    newer = b"".join(json.dumps(x).encode() + b"\n" for x in [
        {"type": "summary", "summary": "Fix the \x1b[31mlogin\x07 [b]bug[/b]", "leafUuid": "u2"},
        {"type": "summary", "summary": "Earlier branch", "leafUuid": "u1"},
        {"type": "user", "sessionId": "s-new", "uuid": "u3", "timestamp": "2026-03-02T09:00:00Z", "cwd": "/w/app",
         "message": {"role": "user", "content": "again"}}])
    return proj / "old.jsonl", proj / "new.jsonl", older, newer


def test_a_summary_finds_its_session_whichever_file_is_read_first(tmp_path):
    for order in ("summary first", "message first"):
        d = tmp_path / order.replace(" ", "-")
        old, new, older, newer = _summary_pair(d)
        store = store_at(d / "db.sqlite")
        col = collector_for(store, d / "projects")
        first, second = ((new, newer), (old, older)) if order == "summary first" else ((old, older), (new, newer))
        first[0].write_bytes(first[1])
        col.run_once()
        with store.engine.connect() as conn:
            assert titles(conn, ["s-old"]) == {}, order  # nothing to attach to (yet) / no summary yet
        second[0].write_bytes(second[1])
        col.run_once()
        with store.engine.connect() as conn:
            # u2 is the later leaf: its summary wins over the one on u1
            assert titles(conn, ["s-old", "s-new"]) == {"s-old": ("Fix the \x1b[31mlogin\x07 [b]bug[/b]", "summary")}
        store.close()


def test_titles_read_in_pieces_equal_one_pass(tmp_path):
    require_shared()
    src = CC / "sniffly"
    whole = tmp_path / "whole" / "projects" / "p"
    shutil.copytree(src, whole)
    ref = store_at(tmp_path / "ref.sqlite")
    collector_for(ref, whole.parent).run_once()
    pieces = tmp_path / "pieces" / "projects" / "p"
    pieces.mkdir(parents=True)
    store = store_at(tmp_path / "inc.sqlite")
    col = collector_for(store, pieces.parent)
    files = sorted(src.glob("*.jsonl"), reverse=True)  # the summaries' files before the sessions they title
    for f in files:
        lines = f.read_bytes().splitlines(keepends=True)
        for i in range(0, len(lines), 7):  # appended 7 lines at a time, one pass each
            with open(pieces / f.name, "ab") as out:
                out.write(b"".join(lines[i:i + 7]))
            assert col.run_once().problems == []
    assert title_dump(store) == title_dump(ref) and dump(store) == dump(ref)
    assert len(title_dump(ref)[2]) == 2
    ref.close()
    store.close()


def test_custom_beats_ai_beats_summary_and_a_line_without_session_names_its_file(tmp_path):
    old, new, older, newer = _summary_pair(tmp_path)
    old.write_bytes(older + b'{"type":"ai-title","aiTitle":"AI name","sessionId":"s-old"}\n')
    new.write_bytes(newer)
    store = store_at(tmp_path / "db.sqlite")
    col = collector_for(store, tmp_path / "projects")
    col.run_once()
    with store.engine.connect() as conn:
        assert titles(conn, ["s-old"])["s-old"] == ("AI name", "ai")
    with open(old, "ab") as f:
        f.write(b'{"type":"custom-title","customTitle":"first\\nname"}\n{"type":"custom-title","customTitle":"renamed"}\n')
    (tmp_path / "projects" / "p" / "s-new.jsonl").write_bytes(b'{"type":"custom-title","customTitle":"By file"}\n')
    col.run_once()
    with store.engine.connect() as conn:
        got = titles(conn, ["s-old", "s-new", "old"])
    # "old.jsonl": no sessionId on the lines, so they name session "old" (the file); s-old keeps its AI title
    assert got == {"s-old": ("AI name", "ai"), "old": ("renamed", "custom"), "s-new": ("By file", "custom")}
    store.close()


def test_titles_are_literal_and_control_free_on_a_terminal(tmp_path):
    old, new, older, newer = _summary_pair(tmp_path / "claude")
    old.write_bytes(older)
    new.write_bytes(newer)
    txt = run(tmp_path, "--headless", "sessions", "--tz", "UTC").stdout
    assert "Fix the [31mlogin [b]bug[/b]" in txt and "\x1b" not in txt and "\x07" not in txt
    js = json.loads(run(tmp_path, "--headless", "sessions", "--format", "json", "--no-collect").stdout)
    assert {r["title"] for r in js["sessions"]} >= {"Fix the \x1b[31mlogin\x07 [b]bug[/b]"}  # JSON keeps the data


def test_a_version_8_database_migrates_to_titles(tmp_path):
    store = store_at(tmp_path / "db.sqlite")
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE title_lines"))
        conn.execute(text("DROP TABLE message_uuids"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 8"))
        conn.execute(text("INSERT OR IGNORE INTO schema_version (version, applied_at) VALUES (8, 'x')"))
    store.close()
    store = store_at(tmp_path / "db.sqlite")
    with store.engine.connect() as conn:
        from nexus_tui.store.version import SCHEMA_VERSION

        assert conn.execute(text("SELECT max(version) FROM schema_version")).scalar() == SCHEMA_VERSION
        assert conn.execute(text("SELECT count(*) FROM title_lines")).scalar() == 0
    store.close()


def test_the_sessions_search_matches_titles(tmp_path):
    """Searching sessions finds a session by a word of its title (summary through its leaf, or a title line), and
    only that session: the title is searched, not every session's text."""
    from nexus_tui.core.filters import Filters
    from nexus_tui.store.read import sessions as RS

    old, new, older, newer = _summary_pair(tmp_path)
    old.write_bytes(older)
    new.write_bytes(newer)
    store = store_at(tmp_path / "db.sqlite")
    collector_for(store, tmp_path / "projects").run_once()
    try:
        hits = RS.sessions(store.engine, Filters(), search="login").rows
        assert [r["session_id"] for r in hits] == ["s-old"]  # "login" is only in s-old's (winning) summary
        assert [r["session_id"] for r in RS.sessions(store.engine, Filters(), search="Earlier branch").rows] \
            == ["s-old"]  # a summary on another of its messages names it too
        assert RS.sessions(store.engine, Filters(), search="no such words").rows == []
    finally:
        store.close()


def test_title_lines_of_the_wrong_shape_are_skipped_and_counted(tmp_path):
    """A summary whose title is not text or that names no leaf, a title line whose title is an object: nothing is
    stored for them, each is counted with its reason, and the rest of the file is read."""
    proj = tmp_path / "projects" / "p"
    proj.mkdir(parents=True)
    lines = [{"type": "summary", "summary": 12345, "leafUuid": "u1"},
             {"type": "summary", "summary": "no leaf", "leafUuid": ["x"]},
             {"type": "custom-title", "customTitle": {"a": 1}, "sessionId": "s"},
             {"type": "user", "sessionId": "s", "uuid": "u1", "timestamp": "2026-03-01T10:00:00Z",
              "message": {"role": "user", "content": "hi"}}]
    (proj / "s.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    store = store_at(tmp_path / "db.sqlite")
    rep = collector_for(store, tmp_path / "projects").run_once()
    try:
        assert dict(rep.skipped) == {"summary line: title not a string": 1, "summary line without leafUuid": 1,
                                     "custom-title line: title not a string": 1}
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM title_lines")).scalar() == 0
            assert conn.execute(text("SELECT COUNT(*) FROM message_uuids")).scalar() == 1
    finally:
        store.close()
