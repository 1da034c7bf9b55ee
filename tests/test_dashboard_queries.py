"""The dashboard's faster query paths give the numbers of the computations they replaced (docs/performance.md,
"Dashboard"), on both backends:

- a page of sessions sorted by a sum (chosen on its sort key, then summed for that page only) is the same slice of
  the whole list computed in one query (``limit=None``), for every sort, direction, filter and range edge;
- the efficiency totals (one statement over per-session CTEs, file-changing tools matched once per distinct name)
  equal the same inputs recounted here in Python from the raw rows, and equal the former per-row name match;
- a session's conversations read by their ids equal the former subquery.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select, text

from nexus_tui.core.events import Batch, SessionRec, TaskRec, ToolUseRec
from nexus_tui.core.filters import Filters
from nexus_tui.core.scoring import is_file_changing, useful_changes
from nexus_tui.store import open_store
from nexus_tui.store.read import efficiency as RE
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read.plan import T, session_filter, tool_source
from tests.test_rollup import T0, random_history

DAY = 86_400_000


@pytest.fixture
def history(db_url):
    rng = random.Random(11)
    store = open_store(db_url)
    batches, _tasks, _calls = random_history(rng, 500)
    quiet = Batch()  # two sessions that change no file: one reads, one only asks
    for i, sid in enumerate(("quiet-reader", "quiet-asker")):
        quiet.sessions.append(SessionRec(id=sid, start_ms=T0 + i, end_ms=T0 + DAY, cli_tool="claude-code",
                                         project="p9"))
        for k in range(3):
            ts = T0 + DAY // 2 + k * DAY  # one a day: in every range of _filters
            quiet.tasks.append(TaskRec(id=f"{sid}-{k}", session_id=sid, ts_ms=ts, source="transcript",
                                       model="claude-opus-4-6", tokens_out=100 + k, cost_usd=0.25))
            if i == 0:
                quiet.tool_uses.append(ToolUseRec(id=f"{sid}-c{k}", session_id=sid, task_id=f"{sid}-{k}",
                                                  tool_name="Read", started_ms=ts + 5))
    for b in [*batches, quiet]:
        store.writer.write(b)
    tasks = rng.sample(sorted(_tasks), 40)  # ratings: every rating weight is used
    for tid in tasks:
        store.writer.rate(tid, rng.choice([0, 1]))
    yield store, rng
    store.close()


def _filters(rng) -> list[Filters]:
    a = T0 + rng.randrange(0, DAY)  # edges inside quarter hours: raw rows, quarter hours and days together
    return [Filters(), Filters(since_ms=a), Filters(since_ms=a, until_ms=a + DAY + rng.randrange(1, DAY)),
            Filters(model="claude-opus-4-6"), Filters(project="p3"),
            Filters(since_ms=a, until_ms=a + 2 * DAY, source="otel")]


def test_a_page_sorted_by_a_sum_is_the_slice_of_the_whole_list(history):
    store, rng = history
    for f in _filters(rng):
        for sort in ("cost", "tokens", "tasks", "duration", "errors"):
            for descending in (True, False):
                for search in (None, "p"):
                    whole = RS.sessions(store.engine, f, sort=sort, descending=descending, search=search)
                    assert whole.rows or f.project, (f, sort)
                    for offset in (0, 3, 6):
                        page = RS.sessions(store.engine, f, limit=3, offset=offset, sort=sort,
                                           descending=descending, search=search)
                        assert page.total == whole.total
                        assert page.rows == whole.rows[offset:offset + 3], (f, sort, descending, offset)


def _efficiency_by_hand(conn, f: Filters) -> dict:
    """The efficiency inputs from the raw rows, in Python (core.scoring's formula and tool names)."""
    lo, hi = f.since_ms or -1, f.until_ms or 1 << 62
    tasks = conn.execute(text("SELECT id, session_id, ts_ms, tokens_in, tokens_out, cache_read_tokens, "
                              "cache_creation_tokens, cost_usd, quality_rating FROM tasks")).all()
    rating = {t[0]: t[8] for t in tasks}
    usage: dict = {}
    for t in tasks:
        if lo <= t[2] < hi:
            u = usage.setdefault(t[1], [0, 0.0, 0, 0, 0])
            u[0] += t[3] + t[4] + t[5] + t[6]
            u[1] += t[7] or 0.0
            u[2] += t[8] == 1
            u[3] += t[8] == 0
            u[4] += 1
    changes: dict = {}
    active = {t[1] for t in tasks if lo <= t[2] < hi}
    for sid, start, name, ok, task in conn.execute(text(
            "SELECT session_id, started_ms, tool_name, success, task_id FROM tool_calls")).all():
        if name is None or start is None or not lo <= start < hi:
            continue
        active.add(sid)
        if ok and is_file_changing(name):
            c = changes.setdefault(sid, [0, 0, 0])  # helpful, unrated, not helpful
            c[{1: 0, None: 1, 0: 2}[rating.get(task)]] += 1
    useful = {s: useful_changes(*c) for s, c in changes.items()}
    no_change = [u for s, u in usage.items() if useful.get(s, 0) <= 0]
    return {"tokens": sum(u[0] for u in usage.values()), "cost": sum(u[1] for u in usage.values()),
            "helpful": sum(u[2] for u in usage.values()), "not_helpful": sum(u[3] for u in usage.values()),
            "tasks": sum(u[4] for u in usage.values()),
            "ch_helpful": sum(c[0] for c in changes.values()), "ch_unrated": sum(c[1] for c in changes.values()),
            "ch_not_helpful": sum(c[2] for c in changes.values()), "sessions": len(active),
            "no_change_sessions": len(active) - sum(1 for v in useful.values() if v > 0),
            "no_change_tokens": sum(u[0] for u in no_change), "no_change_cost": sum(u[1] for u in no_change),
            "lines_sessions": 0, "lines_added": None, "lines_removed": None, "lines_tokens": 0, "lines_cost": 0.0}


def _by_like(f, extra, coarsest=None):
    """The former change source: every rollup row's tool name matched with the LIKE patterns."""
    from nexus_tui.store.read.plan import TC

    return tool_source(f, session_filter(f), extra_raw=[RE.change_names(TC.c.tool_name, extra)],
                       extra_rollup=[lambda r: RE.change_names(r.c.tool_name, extra)], coarsest=coarsest)


def test_efficiency_totals_equal_the_rows_recounted_and_the_former_name_match(history, monkeypatch):
    store, rng = history
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM tool_rollups WHERE tool_name LIKE 'mcp%'")).scalar() > 0
    for f in _filters(rng)[:3]:
        got = RE.efficiency_totals(store.engine, f)
        with store.engine.connect() as conn:
            want = _efficiency_by_hand(conn, f)
        assert set(got) == set(want)
        for k, v in want.items():
            assert got[k] == pytest.approx(v, abs=1e-9) if isinstance(v, float) else got[k] == v, (k, f)
        assert got["ch_helpful"] and got["ch_not_helpful"] and got["ch_unrated"]
        assert 0 < got["no_change_sessions"] < got["sessions"] and got["no_change_tokens"]
        new_sessions = RE.efficiency_sessions(store.engine, f, limit=None)
        new_zero = RE.efficiency_sessions(store.engine, f, limit=None, without_changes=True)
        with monkeypatch.context() as m:  # the same with the former per-row match of the names
            m.setattr(RE, "_change_source", _by_like)
            assert RE.efficiency_totals(store.engine, f) == got
            assert RE.efficiency_sessions(store.engine, f, limit=None) == new_sessions
            assert RE.efficiency_sessions(store.engine, f, limit=None, without_changes=True) == new_zero
        assert new_sessions and new_zero


def test_conversations_read_by_their_ids_equal_the_subquery(history):
    store, rng = history
    with store.engine.begin() as conn:  # conversations spanning sessions, as the proxy's linking makes them
        ids = [r[0] for r in conn.execute(text("SELECT id FROM tasks ORDER BY id"))]
        for tid in rng.sample(ids, 120):
            conn.execute(text("UPDATE tasks SET conversation_id = :c WHERE id = :t"),
                         {"c": f"conv-{rng.randrange(6)}", "t": tid})
    with store.engine.connect() as conn:
        sessions = [r[0] for r in conn.execute(text("SELECT id FROM sessions ORDER BY id"))] + ["no-such-session"]
    cols = ["id", "session_id", "ts_ms", "model", "conversation_id", "branch_id", "parent_request_id",
            "parent_task_request_id", "is_subtask", "tokens_in", "tokens_out", "cache_read_tokens",
            "cache_creation_tokens", "cost_usd", "latency_ms", "ttft_ms", "http_status", "error_type", "status",
            "stop_reason"]
    seen = 0
    for sid in sessions:
        for limit in (2000, 7):
            convs = select(T.c.conversation_id).where(T.c.session_id == sid,
                                                      T.c.conversation_id.isnot(None)).distinct().scalar_subquery()
            with store.engine.connect() as conn:  # the former single statement
                want = [dict(r._mapping) for r in conn.execute(
                    select(*[T.c[k] for k in cols]).where(T.c.conversation_id.in_(convs))
                    .order_by(T.c.ts_ms, T.c.id).limit(limit))]
            assert RS.session_conversations(store.engine, sid, limit=limit) == want
            seen += len(want)
    assert seen > 100


def test_a_known_total_is_not_counted_again(history):
    store, _rng = history
    for sort in ("start", "cost"):
        page = RS.sessions(store.engine, Filters(), limit=3, sort=sort)
        again = RS.sessions(store.engine, Filters(), limit=3, offset=3, sort=sort, known_total=page.total)
        assert again.total == page.total and again.rows == RS.sessions(store.engine, Filters(), limit=3, offset=3,
                                                                       sort=sort).rows
        assert RS.sessions(store.engine, Filters(), limit=3, sort=sort, known_total=12345).total == 12345


async def test_the_sessions_screen_counts_again_only_after_new_rows(tmp_path):
    """Another sort or page of the same sessions reuses the count; rows written since (the collector's
    StoreChanged, or while out of view) and new filters make it count again."""
    from sqlalchemy import event

    from tests.tui_helpers import SIZE, demo_app, settle

    app = demo_app(tmp_path)
    counts = []
    event.listen(app.store.engine, "before_cursor_execute",
                 lambda conn, cur, stmt, *a: counts.append(stmt) if stmt.startswith("SELECT count(*)") else None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        total = screen.total
        assert total > 0 and counts
        for key in ("s", "r", "s"):  # cost ↓, cost ↑, tokens ↓: the same sessions
            counts.clear()
            await pilot.press(key)
            await settle(app, pilot)
            assert screen.total == total and counts == [], key
        screen.data_changed()  # the collector wrote rows
        await settle(app, pilot)
        assert len(counts) == 1 and screen.total == total
        counts.clear()
        await pilot.press("s")
        await settle(app, pilot)
        assert counts == []
        screen.mark_stale()  # rows written while out of view
        screen.refresh_data()
        await settle(app, pilot)
        assert len(counts) == 1
        counts.clear()
        app.set_range("7d")
        await settle(app, pilot)
        assert len(counts) == 1 and screen.total < total


@pytest.mark.parametrize("project,want", [("my_app", ["s-under"]), ("my-app", ["s-dash"]), ("%", []),
                                          ("app", ["s-dash", "s-under"]), ("p_%", [])])
def test_a_project_filter_matches_its_text_not_a_like_pattern(db_url, project, want):
    """--project (and the sessions search) reached SQL as a LIKE pattern: 'my_app' also matched the cwd /w/my-app
    ('_' is any character), '%' every session; the Python side (store/projects.matches: the projects report) took
    them as text. All match the text now, on both backends."""
    from nexus_tui.store.projects import matches

    store = open_store(db_url)
    b = Batch()
    for sid, cwd in (("s-dash", "/w/my-app"), ("s-under", "/w/my_app")):
        b.sessions.append(SessionRec(id=sid, start_ms=T0, end_ms=T0 + 1, cli_tool="claude-code", cwd=cwd))
        b.tasks.append(TaskRec(id=f"{sid}-t", session_id=sid, ts_ms=T0, source="transcript", model="claude-opus-4-6",
                               tokens_out=1, cost_usd=0.1))
    store.writer.write(b)
    try:
        got = sorted(r["session_id"] for r in RS.sessions(store.engine, Filters(project=project)).rows)
        found = sorted(r["session_id"] for r in RS.sessions(store.engine, Filters(), search=project).rows)
    finally:
        store.close()
    assert found == want  # the sessions screen's search box: the same text match
    assert got == want == [s for s, cwd in (("s-dash", "/w/my-app"), ("s-under", "/w/my_app"))
                           if matches(project, None, cwd)]
