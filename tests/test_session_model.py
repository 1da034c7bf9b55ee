"""Schema version 12: ``session_stats.model``, the model Claude Code's status line reported. A session known only
from the status line (no transcript, no task) shows that model in the compact view, the sessions report and the
session's header instead of "model unknown"; a version-11 database gets the column, its rows kept, on both
backends; hostile model values are stored as text or dropped, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text

from nexus_tui.core.events import Batch
from nexus_tui.core.filters import Filters
from nexus_tui.core.parse.nexus_events import MAX_MODEL_CHARS, _statusline
from nexus_tui.store import open_store
from nexus_tui.store.read.sessions import current_session, session_header, sessions
from tests.test_quota import _ingest  # one collector pass over the event log

DAY = "2026-12-01"
T10 = 1_796_119_200_000  # 2026-12-01T10:00:00Z
NOW = T10 + 3_600_000


def _ev(minute: int, sid: str = "sl-only", **fields) -> dict:
    return {"v": 1, "type": "statusline", "ts": f"{DAY}T10:{minute:02d}:00.000Z", "session_id": sid, **fields}


def _log(home: Path, events: list[dict], name: str = DAY) -> None:
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.jsonl", "a", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in events))


def _models(store) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(text("SELECT session_id, model FROM session_stats WHERE source = 'statusline'")).all())


def _compact_plain(store) -> str:
    from rich.console import Console

    from nexus_tui.screens.compact import Request, compact_text, load_compact

    data = load_compact(store.engine, Filters(), ZoneInfo("UTC"), Request(NOW, "auto", 7))
    t = compact_text(data, 60, None)
    console = Console(width=60, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(t)  # renders: no markup error from the data
    return console.export_text()


# ---------------------------------------------------------------- real ingest to the compact view
def test_a_status_line_only_session_shows_its_model_in_the_compact_view(tmp_path):
    home = tmp_path / "home"
    _log(home, [_ev(0, model="Opus 4.6", model_id="claude-opus-4-6", context_used_pct=12.5)])
    store = open_store(f"sqlite:///{tmp_path / 'i.db'}")
    try:
        rep = _ingest(store, home)
        assert rep.skipped_total == 0
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM tasks")).scalar() == 0  # no transcript, no task
        assert _models(store) == {"sl-only": "claude-opus-4-6"}  # the id, not the display name
        cur = current_session(store.engine, NOW)
        assert (cur["session_id"], cur["model"], cur["tasks"], cur["context_used_pct"]) == \
            ("sl-only", "claude-opus-4-6", 0, 12.5)
        shown = _compact_plain(store)
        assert "opus-4-6" in shown and "model unknown" not in shown
    finally:
        store.close()


def test_without_a_model_the_compact_view_still_says_model_unknown(tmp_path):
    home = tmp_path / "home"
    _log(home, [_ev(0, context_used_pct=30.0)])
    store = open_store(f"sqlite:///{tmp_path / 'i.db'}")
    try:
        _ingest(store, home)
        assert _models(store) == {"sl-only": None}
        assert current_session(store.engine, NOW)["model"] is None
        assert "model unknown" in _compact_plain(store)
    finally:
        store.close()


def test_the_newest_status_line_event_wins_and_a_gap_keeps_the_model(tmp_path):
    """As for the other status-line columns: the event with the latest time wins whatever the order it is read in;
    a newer event without a model keeps the stored one; the display name only when the event has no id."""
    home = tmp_path / "home"
    store = open_store(f"sqlite:///{tmp_path / 'i.db'}")
    try:
        _log(home, [_ev(5, model="Sonnet 4.5", model_id="claude-sonnet-4-5"),
                    _ev(0, sid="named", model="Opus 4.6")])  # a display name alone
        _ingest(store, home)
        _log(home, [_ev(1, model="Opus 4.6", model_id="claude-opus-4-6")])  # older, read in a later pass
        _ingest(store, home)
        assert _models(store) == {"sl-only": "claude-sonnet-4-5", "named": "Opus 4.6"}
        _log(home, [_ev(9, context_used_pct=80.0)])  # newer, no model: the model stays, the context moves on
        _ingest(store, home)
        assert _models(store)["sl-only"] == "claude-sonnet-4-5"
        _log(home, [_ev(12, model_id="claude-opus-4-6")])
        _ingest(store, home)
        assert _models(store)["sl-only"] == "claude-opus-4-6"
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT context_used_pct FROM session_stats WHERE session_id = 'sl-only'")
                                ).scalar() == 80.0
    finally:
        store.close()


# ---------------------------------------------------------------- the sessions report and the session's header
def _tool_session_home(home: Path) -> None:
    """``sx``: a session of tool calls only (listed, no task) that the status line also reported; ``st``: a session
    with a task whose status line names another model (the task's model is shown)."""
    _log(home, [
        {"v": 1, "type": "tool_call", "ts": f"{DAY}T10:00:30.000Z", "session_id": "sx", "id": "c1", "tool": "Read",
         "latency_ms": 5, "success": True},
        _ev(1, sid="sx", model="Opus 4.6", model_id="claude-opus-4-6"),
        {"v": 1, "type": "task", "ts": f"{DAY}T10:02:00.000Z", "session_id": "st", "id": "t1",
         "model": "claude-sonnet-4-5", "routing": "cloud", "tokens_in": 10, "tokens_out": 5},
        _ev(3, sid="st", model_id="claude-haiku-4-5")])


def test_the_sessions_list_and_header_take_the_status_lines_model_when_no_task_names_one(tmp_path):
    home = tmp_path / "home"
    _tool_session_home(home)
    store = open_store(f"sqlite:///{tmp_path / 'i.db'}")
    try:
        _ingest(store, home)
        rows = {r["session_id"]: r for r in sessions(store.engine, Filters()).rows}
        assert {k: (r["tasks"], r["models"]) for k, r in rows.items()} == {
            "sx": (0, ["claude-opus-4-6"]), "st": (1, ["claude-sonnet-4-5"])}
        assert session_header(store.engine, "sx")["models"] == ["claude-opus-4-6"]
        assert session_header(store.engine, "st")["models"] == ["claude-sonnet-4-5"]
        # a range holding the session's tool call but not its task: the status line's model for it
        f = Filters(since_ms=T10, until_ms=T10 + 90_000)
        assert {r["session_id"]: r["models"] for r in sessions(store.engine, f).rows} == {"sx": ["claude-opus-4-6"]}
    finally:
        store.close()


def test_the_headless_sessions_report_shows_it_on_the_light_and_the_store_path(tmp_path):
    from tests.test_lite_read import _cli, _env, _ingest as _cli_ingest

    env = _env(tmp_path, tmp_path / "claude")
    (tmp_path / "claude").mkdir()
    _tool_session_home(tmp_path / "nexus")
    _cli_ingest(env)
    lite, _err, heavy = _cli(env, "lite", "--headless", "sessions", "--format", "json", "--no-collect")
    assert not heavy  # the light read answered
    store_out, _err, _heavy = _cli(env, "store", "--headless", "sessions", "--format", "json", "--no-collect")
    assert lite == store_out
    got = {r["session_id"]: r["models"] for r in json.loads(lite)["sessions"]}
    assert got == {"sx": ["claude-opus-4-6"], "st": ["claude-sonnet-4-5"]}
    text_out, _err, _heavy = _cli(env, "lite", "--headless", "sessions", "--no-collect")
    assert "opus-4-6" in text_out


# ---------------------------------------------------------------- the migration from version 11
def test_a_version_11_database_gets_the_model_column_its_rows_kept(db_url, tmp_path):
    from nexus_tui.store.schema import SCHEMA_VERSION, SESSION_MODEL_SCHEMA_VERSION

    assert SESSION_MODEL_SCHEMA_VERSION == 12 <= SCHEMA_VERSION
    store = open_store(db_url)
    with store.engine.begin() as conn:  # the table as version 11 made it, with a status-line row and a LunaRoute one
        conn.execute(text("ALTER TABLE session_stats DROP COLUMN model"))
        conn.execute(text("INSERT INTO session_stats (session_id, source, updated_ms, context_used_pct, "
                          "reported_cost_usd, lines_added) VALUES ('sl-only', 'statusline', :u, 48.5, 3.25, 7)"),
                     {"u": T10})
        conn.execute(text("INSERT INTO session_stats (session_id, source, requests, p50_latency_ms) "
                          "VALUES ('lr', 'lunaroute', 4, 120.0)"))
        conn.execute(text(f"DELETE FROM schema_version WHERE version >= {SESSION_MODEL_SCHEMA_VERSION}"))
        before = conn.execute(text("SELECT * FROM session_stats ORDER BY session_id")).fetchall()
    assert "model" not in {c["name"] for c in inspect(store.engine).get_columns("session_stats")}
    store.close()
    again = open_store(db_url)
    try:
        with again.engine.connect() as conn:
            cols = [c["name"] for c in inspect(conn).get_columns("session_stats")]
            after = conn.execute(text(f"SELECT {', '.join(c for c in cols if c != 'model')} FROM session_stats "
                                      "ORDER BY session_id")).fetchall()
            models = conn.execute(text("SELECT model FROM session_stats")).scalars().all()
            versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_version ORDER BY version"))]
        assert cols[-1] == "model" and after == before and models == [None, None]
        assert versions[-1] == SCHEMA_VERSION and versions.count(SCHEMA_VERSION) == 1
        # the migrated database takes the model from the next status-line event (the writer writes the column)
        home = tmp_path / "home"
        _log(home, [_ev(5, model="Opus 4.6", model_id="claude-opus-4-6", context_used_pct=50.0)])
        _ingest(again, home)
        assert _models(again) == {"sl-only": "claude-opus-4-6"}
        assert current_session(again.engine, NOW)["model"] == "claude-opus-4-6"
    finally:
        again.close()


def test_a_new_database_has_the_column_as_the_migration_adds_it(db_url):
    """The same type on a created and on a migrated database (the migration compiles the schema's column)."""
    store = open_store(db_url)
    try:
        with store.engine.connect() as conn:
            col = {c["name"]: c for c in inspect(conn).get_columns("session_stats")}["model"]
            assert col["nullable"] and type(col["type"]).__name__.upper() == "TEXT"
    finally:
        store.close()


# ---------------------------------------------------------------- hostile values
HOSTILE = [
    ("num", {"model_id": 12345}),
    ("list", {"model": ["claude-opus-4-6"]}),
    ("big", {"model": "x" * 10_240}),
    ("obj", {"model_id": {"id": "claude"}}),
]


def test_hostile_model_values_are_stored_as_text_or_dropped(tmp_path):
    """Through the collector: a model of the wrong type or over the event schema's 200 characters makes the event
    invalid (skipped with its reason, counted); control characters are replaced, markup is stored as text and shown
    as text; nothing crashes."""
    home = tmp_path / "home"
    events = [_ev(i, sid=sid, context_used_pct=10.0, **fields) for i, (sid, fields) in enumerate(HOSTILE)]
    events += [_ev(10, sid="ctl", model_id="claude\x07\x1b[2J-opus\x00\u202e"),
               _ev(11, sid="markup", model="[/red][bold]x", model_id=None)]
    _log(home, events)
    store = open_store(f"sqlite:///{tmp_path / 'i.db'}")
    try:
        rep = _ingest(store, home)
        assert rep.skipped_total == len(HOSTILE)
        assert all(k.startswith("invalid event (model") for k in rep.skipped), rep.skipped
        got = _models(store)
        assert got == {"ctl": "claude??[2J-opus??", "markup": "[/red][bold]x"}
        shown = _compact_plain(store)  # the markup session is the latest: shown literally
        assert "[/red][bold]x" in shown and "\x1b" not in shown
    finally:
        store.close()


@pytest.mark.parametrize("model_id,model,want", [
    (12345, None, None), (["a"], None, None), ({"a": 1}, None, None), (True, None, None), ("", None, None),
    ("   ", "Opus 4.6", "Opus 4.6"), (3.5, "Opus 4.6", "Opus 4.6"), ("x" * 10_240, None, "x" * MAX_MODEL_CHARS),
    (" claude-opus-4-6 ", "Opus", "claude-opus-4-6"), ("a\nb\tc", None, "a?b?c"), ("[/red]", None, "[/red]")])
def test_the_parser_guards_the_model_without_the_schema(model_id, model, want):
    """Whatever reaches the parser (the schema is the first guard, this the second): text of at most
    MAX_MODEL_CHARS printable characters, or nothing."""
    b = Batch()
    _statusline(b, {"model_id": model_id, "model": model, "context_used_pct": 5.0}, T10, "s")
    (row,) = b.session_stats
    assert row["model"] == want


def test_the_writer_stores_a_model_of_another_type_as_text_or_null(tmp_path):
    """A session_stats row from any source with a model that is no string: stored as its text (a number) or NULL
    (a list, a mapping), never a failed write."""
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        for i, m in enumerate([123, ["x"], {"a": 1}, "ok"]):
            b = Batch()
            b.session_stats.append({"session_id": f"s{i}", "source": "statusline", "updated_ms": T10 + i,
                                    "model": m})
            store.writer.write(b)
        assert _models(store) == {"s0": "123", "s1": None, "s2": None, "s3": "ok"}
    finally:
        store.close()
