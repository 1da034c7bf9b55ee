"""Rollups (store/rollup.py) and their histograms (core/sketch.py).

- the histogram percentile is within 1 % of the exact nearest rank (exact below 128 ms);
- rollups kept incrementally by the writer, through streamed responses growing, tool results arriving before their
  calls, ratings and re-writes, equal a rebuild from the rows;
- the reports' sums over any range (edges inside quarter hours included) equal sums over the raw rows, computed
  here in Python.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from nexus_tui.core import sketch
from nexus_tui.core.events import Batch, SessionRec, TaskRec, ToolResultRec, ToolUseRec
from nexus_tui.core.filters import Filters
from nexus_tui.store import open_store, rollup
from nexus_tui.store.read import efficiency as RE
from nexus_tui.store.read import plan as RP
from nexus_tui.store.read import sessions as RS
from nexus_tui.store.read import tools as RT
from nexus_tui.store.read import usage as RU
from nexus_tui.store import upkeep


def nearest(xs, p):
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


@given(st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=300),
       st.sampled_from([1, 10, 50, 90, 95, 99, 100]))
def test_histogram_percentile_is_within_one_percent_of_the_nearest_rank(values, p):
    exact = nearest(values, p)
    got = sketch.percentile(sketch.from_values(values), p, max(values))
    assert abs(got - exact) <= 0.01 * exact + 0.5
    if exact < sketch.EXACT:
        assert got == exact


def test_histograms_add_and_survive_their_text_form():
    a, b = [5, 130, 900, 900, 40_000], [7, 900, 1_000_000]
    merged: dict = {}
    sketch.add_text(merged, sketch.encode(sketch.from_values(a)))
    sketch.add_text(merged, sketch.encode(sketch.from_values(b)))
    assert merged == sketch.from_values(a + b)
    assert sketch.count(merged) == 8 and sketch.percentile({}, 50) is None


@given(st.one_of(st.none(), st.integers(0, 10 * 86_400_000)), st.one_of(st.none(), st.integers(0, 10 * 86_400_000)),
       st.sampled_from(["quarter", "hour", "day", "sday"]))
def test_a_plan_covers_the_range_once_with_aligned_parts(a, b, coarsest):
    if a is not None and b is not None and a > b:
        a, b = b, a
    parts = RP.plan(a, b, coarsest)
    sizes = {"quarter": rollup.Q_MS, "hour": rollup.H_MS, "day": rollup.D_MS, "sday": rollup.D_MS}
    order = ["raw", "quarter", "hour", "day"] if coarsest != "sday" else ["raw", "quarter", "sday"]
    for level, lo, hi in parts:
        assert order.index(level) <= order.index(coarsest)
        if level != "raw":
            assert all(x is None or x % sizes[level] == 0 for x in (lo, hi))
    # disjoint and covering: sample points, open ends included
    lo_all = (a if a is not None else -5 * 86_400_000)
    hi_all = (b if b is not None else 15 * 86_400_000)
    for x in range(lo_all, hi_all, 997_001):
        covering = [p for p in parts if (p[1] is None or p[1] <= x) and (p[2] is None or x < p[2])]
        assert len(covering) == 1, (x, parts)


T0 = 1_763_600_000_000  # a weekday in November 2025, 00:53 UTC: not on a quarter hour
MODELS = ["claude-sonnet-4-5", "claude-opus-4-6", "local-qwen"]
TOOLS = [("Edit", None), ("Read", None), ("mcp__fs__write_file", "fs"), ("mcp__gh__issue", "gh")]


def random_history(rng: random.Random, n_tasks: int = 400):
    """Batches as sources send them: tasks re-sent with growing usage, tool results sometimes before their call."""
    batches = [Batch() for _ in range(12)]
    tasks, calls = {}, {}
    for i in range(n_tasks):
        sid = f"s{rng.randrange(8)}"
        ts = T0 + rng.randrange(0, 3 * 86_400_000)
        tid = f"t{i}"
        model = rng.choice(MODELS)
        final = dict(tokens_in=rng.randrange(0, 900), tokens_out=rng.randrange(1, 4000),
                     cache_read_tokens=rng.randrange(0, 50_000), cache_creation_tokens=rng.randrange(0, 5000))
        cost = None if model == "local-qwen" else round(rng.random(), 6)
        lat = rng.choice([None, rng.randrange(0, 200), rng.randrange(200, 90_000)])
        agent = rng.choice([None, None, "a1"])
        kw = dict(id=tid, session_id=sid, ts_ms=ts, source=rng.choice(["transcript", "otel"]), model=model,
                  routing="local" if cost is None else "cloud", cost_usd=cost, cloud_cost_equivalent=cost,
                  latency_ms=lat, agent_id=agent, tier=rng.choice([None, "Tier 1"]), persona=rng.choice([None, "qa"]))
        first = rng.randrange(len(batches))
        partial = {k: v // 2 for k, v in final.items()}
        batches[first].tasks.append(TaskRec(**kw, **partial))  # the streamed first line
        batches[rng.randrange(first, len(batches))].tasks.append(TaskRec(**kw, **final))  # the final count
        batches[first].sessions.append(SessionRec(id=sid, start_ms=ts, end_ms=ts + 1000, cli_tool="claude-code",
                                                  project=f"p{sid[-1]}"))
        tasks[tid] = (sid, ts, model, final, cost, lat)
        if rng.random() < 0.7:
            name, server = rng.choice(TOOLS)
            cid = f"c{i}"
            start = ts + rng.randrange(10, 2000)
            latency = rng.randrange(1, 30_000)
            ok = rng.random() > 0.2
            use = ToolUseRec(id=cid, session_id=sid, task_id=tid, tool_name=name, started_ms=start, mcp_server=server)
            res = ToolResultRec(id=cid, session_id=sid, ended_ms=start + latency, success=ok,
                                error_type=None if ok else rng.choice(["timeout", "error"]))
            a, b = rng.randrange(len(batches)), rng.randrange(len(batches))
            batches[a].tool_uses.append(use)
            batches[b].tool_results.append(res)
            calls[cid] = (sid, start, name, server, ok, latency, tid)
    return batches, tasks, calls


def conn_rows_by_session(raw_tasks, session_of, a, b, model):
    out: dict = {}
    for r in raw_tasks:
        if a <= r[1] < b and (model is None or r[2] == model):
            n, tout, cost = out.get(session_of[r[0]], (0, 0, 0.0))
            out[session_of[r[0]]] = (n + 1, tout + r[4], cost + (r[7] or 0))
    return {k: (n, t, round(c, 6)) for k, (n, t, c) in out.items()}


def rollup_rows(conn):
    cols = "session_id, bucket_ms, model, source, routing, tier, persona, cli_tool, agent, tasks, tokens_in, " \
           "tokens_out, cache_creation_tokens, cache_read_tokens, ROUND(CAST(cost_usd AS NUMERIC), 9), unpriced, lat_n, lat_sum, " \
           "lat_max, rated_helpful, rated_not_helpful, first_ms, last_ms, lat_hist"
    t = sorted((tuple(r) for r in conn.execute(text(f"SELECT {cols} FROM task_rollups"))), key=repr)
    u = sorted((tuple(r) for r in conn.execute(text(
        "SELECT session_id, bucket_ms, tool_name, mcp_server, error_type, calls, failures, pending, ok_all, "
        "ok_helpful, ok_not_helpful, lat_n, lat_sum, lat_max, lat_hist FROM tool_rollups"))), key=repr)
    th = sorted((tuple(r) for r in conn.execute(text(
        "SELECT bucket_ms, model, source, routing, tier, persona, cli_tool, agent, tasks, tokens_in, tokens_out, "
        "ROUND(CAST(cost_usd AS NUMERIC), 9), unpriced, lat_n, lat_sum, lat_max, rated_helpful, first_ms, last_ms, lat_hist "
        "FROM task_hours"))), key=repr)
    uh = sorted((tuple(r) for r in conn.execute(text(
        "SELECT bucket_ms, tool_name, mcp_server, error_type, calls, failures, pending, ok_all, ok_helpful, "
        "ok_not_helpful, lat_n, lat_sum, lat_max, lat_hist FROM tool_hours"))), key=repr)
    td = sorted((tuple(r) for r in conn.execute(text(
        "SELECT bucket_ms, model, agent, tasks, tokens_out, ROUND(CAST(cost_usd AS NUMERIC), 9), lat_n, lat_max, first_ms, last_ms, "
        "lat_hist FROM task_days"))), key=repr)
    ud = sorted((tuple(r) for r in conn.execute(text(
        "SELECT bucket_ms, tool_name, mcp_server, error_type, calls, failures, ok_all, ok_helpful, lat_hist "
        "FROM tool_days"))), key=repr)
    sd = sorted((tuple(r) for r in conn.execute(text(
        "SELECT session_id, bucket_ms, tasks, tokens_out, ROUND(CAST(cost_usd AS NUMERIC), 9), lat_n, lat_max, rated_helpful, first_ms "
        "FROM task_session_days"))), key=repr)
    usd = sorted((tuple(r) for r in conn.execute(text(
        "SELECT session_id, bucket_ms, tool_name, calls, failures, ok_all, ok_helpful, ok_not_helpful "
        "FROM tool_session_days"))), key=repr)
    return t, u, th, uh, td, ud, sd, usd


@pytest.mark.parametrize("mode", ["by bucket", "whole sessions", "deferred"])
def test_incremental_rollups_equal_a_rebuild_and_the_raw_sums(db_url, monkeypatch, mode):
    """``by bucket``: few sessions per write, summed over their marked buckets; ``whole sessions``: many, summed whole;
    ``deferred``: a collector pass, buckets marked per write and summed once at the end."""
    rng = random.Random(7)
    store = open_store(db_url)
    batches, tasks, calls = random_history(rng)
    if mode == "whole sessions":
        monkeypatch.setattr(upkeep, "_FEW", 0)  # the upkeep is store/upkeep.py
    if mode == "deferred":
        with store.writer.deferred_rollups():
            for b in batches:
                store.writer.write(b)
            with store.engine.connect() as conn:  # marked, not yet summed
                assert conn.execute(text("SELECT COUNT(*) FROM rollup_dirty")).scalar() > 0
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM rollup_dirty")).scalar() == 0
    for b in batches if mode != "deferred" else ():
        store.writer.write(b)
    for tid in rng.sample(sorted(tasks), 60):  # ratings through the writer, one overwritten and one cleared
        store.writer.rate(tid, rng.choice([0, 1]))
    rated = sorted(tasks)[:3]
    store.writer.rate(rated[0], 1)
    store.writer.rate(rated[0], 0)
    store.writer.rate(rated[1], None)
    with store.engine.connect() as conn:
        incremental = rollup_rows(conn)
        raw_tasks = conn.execute(text("SELECT id, ts_ms, model, tokens_in, tokens_out, cache_creation_tokens, "
                                      "cache_read_tokens, cost_usd, quality_rating FROM tasks")).all()
        raw_calls = conn.execute(text("SELECT started_ms, success, tool_name FROM tool_calls")).all()
        raw_session_of = dict(conn.execute(text("SELECT id, session_id FROM tasks")).all())
    with store.engine.begin() as conn:
        rollup.rebuild(conn)
    with store.engine.connect() as conn:
        rebuilt = rollup_rows(conn)
    assert incremental == rebuilt and all(len(rows) > 5 for rows in incremental)
    # the final usage won (streamed lines never double), and every call is in
    assert len(raw_tasks) == len(tasks) and len(raw_calls) == len(calls)
    assert sum(r[4] for r in raw_tasks) == sum(t[3]["tokens_out"] for t in tasks.values())

    for _ in range(25):  # ranges with edges anywhere: reports equal Python sums over the raw rows
        a = T0 + rng.randrange(-3_600_000, 3 * 86_400_000)
        b = a + rng.randrange(1, 2 * 86_400_000)
        model = rng.choice([None, None, "claude-opus-4-6"])
        f = Filters(since_ms=a, until_ms=b, model=model)
        sel = [r for r in raw_tasks if a <= r[1] < b and (model is None or r[2] == model)]
        s = RU.summary(store.engine, f)
        assert s["tasks"] == len(sel)
        assert (s["tokens_in"], s["tokens_out"], s["cache_creation_tokens"], s["cache_read_tokens"]) == \
            tuple(sum(r[k] for r in sel) for k in (3, 4, 5, 6))
        assert math.isclose(s["cost_usd"], sum(r[7] or 0 for r in sel), abs_tol=1e-9)
        assert s["unpriced_tasks"] == sum(r[7] is None for r in sel)
        assert s["rated_helpful"] == sum(r[8] == 1 for r in sel)
        sc = [c for c in raw_calls if c[0] is not None and a <= c[0] < b]
        if model is None:
            assert s["tool_calls"] == len(sc) and s["tool_failures"] == sum(c[1] == 0 for c in sc)
        by_model = {d["model"]: d["tasks"] for d in RU.usage_by(store.engine, f, "model", percentiles=False)}
        want: dict = {}
        for r in sel:
            want[r[2]] = want.get(r[2], 0) + 1
        assert by_model == want
        if model is None:  # per local day, in a zone whose days do not start on UTC hours, and in UTC
            from zoneinfo import ZoneInfo
            from datetime import datetime

            for zone in ("Asia/Kolkata", "UTC"):
                tz = ZoneInfo(zone)
                days: dict = {}
                for r in sel:
                    day = datetime.fromtimestamp(r[1] / 1000, tz).date().isoformat()
                    days[day] = days.get(day, 0) + r[4]
                assert {d["date"]: d["tokens_out"] for d in RU.daily(store.engine, f, tz)} == days
        # per-session sums (sessions sorted by cost: the (session, day) rollups) equal the rows'
        raw_sessions = conn_rows_by_session(raw_tasks, raw_session_of, a, b, model)
        got = {r["session_id"]: (r["tasks"], r["tokens_out"], round(r["cost_usd"], 6))
               for r in RS.sessions(store.engine, f, sort="cost").rows if r["tasks"]}
        assert got == raw_sessions
        spent = RU.spend_in_windows(store.engine, Filters(), [(a, b)])[0]
        assert math.isclose(spent, sum(r[7] or 0 for r in raw_tasks if a <= r[1] < b), abs_tol=1e-9)
    store.close()


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_percentiles_are_the_exact_nearest_rank_for_any_range(db_url, seed):
    """The histograms find the bin, the bin's values come from the rows: equal to sorting every latency."""
    rng = random.Random(seed)
    store = open_store(db_url)
    batches, _tasks, _calls = random_history(rng, 600)
    for b in batches:
        store.writer.write(b)
    with store.engine.connect() as conn:
        calls = conn.execute(text("SELECT tool_name, mcp_server, started_ms, latency_ms FROM tool_calls")).all()
        tasks = conn.execute(text("SELECT model, ts_ms, latency_ms FROM tasks")).all()
    for _ in range(6):
        a = T0 + rng.randrange(0, 86_400_000)
        f = Filters(since_ms=a, until_ms=a + rng.randrange(3_600_000, 2 * 86_400_000))
        report = RT.tools_report(store.engine, f)
        assert report
        for d in report:
            lat = [c[3] for c in calls if (c[0], c[1]) == (d["tool"], d["server"]) and c[3] is not None
                   and f.since_ms <= c[2] < f.until_ms]
            want = [nearest(lat, p) if lat else None for p in (50, 95, 99)]
            assert [d["p50_ms"], d["p95_ms"], d["p99_ms"]] == want
            assert d["max_ms"] == (max(lat) if lat else None)
        for d in RU.usage_by(store.engine, f, "model"):
            lat = [t[2] for t in tasks if t[0] == d["model"] and t[2] is not None and f.since_ms <= t[1] < f.until_ms]
            assert d["p95_latency_ms"] == (nearest(lat, 95) if lat else None)
        servers = {d["server"]: d for d in RT.tools_by_server(store.engine, f)}
        for server, d in servers.items():
            lat = [c[3] for c in calls if c[1] == server and c[3] is not None and f.since_ms <= c[2] < f.until_ms]
            assert [d["p50_ms"], d["p95_ms"], d["p99_ms"]] == [nearest(lat, p) for p in (50, 95, 99)]
    store.close()


def test_exact_percentiles_fall_back_to_the_bin_when_rows_moved():
    hist = sketch.from_values([10, 20, 5000, 5001, 5002])
    assert sketch.exact_percentiles(hist, (50, 100), lambda lo, hi: [10, 20, 5000, 5001, 5002]) == {50: 5000, 100: 5002}
    moved = sketch.exact_percentiles(hist, (100,), lambda lo, hi: [5000])  # a value missing: the bin's middle
    assert moved[100] == sketch.percentile(hist, 100)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_a_rating_moves_the_useful_changes_at_once(tmp_path_factory, seed):
    """A rating changes the efficiency inputs through the rollups in the same transaction."""
    rng = random.Random(seed)
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('e') / 'e.db'}")
    batches, tasks, calls = random_history(rng, 60)
    for b in batches:
        store.writer.write(b)
    edits = [c for c in calls.values() if c[2] in ("Edit", "mcp__fs__write_file") and c[4]]
    if edits:
        tid = edits[0][6]
        store.writer.rate(tid, 0)
        d = RE.efficiency_totals(store.engine, Filters())
        assert d["ch_not_helpful"] == sum(1 for c in edits if c[6] == tid)
        assert d["ch_helpful"] + d["ch_unrated"] + d["ch_not_helpful"] == len(edits)
    store.close()


def test_bins_computed_in_sql_equal_the_sketch(db_url, monkeypatch):
    """Where the database has LN the bins can be computed in SQL; they equal core.sketch's, and so do the rollups
    built without it (PostgreSQL groups by bin in SQL; SQLite's upkeep bins in Python either way)."""
    rng = random.Random(11)
    store = open_store(db_url)
    batches, _tasks, _calls = random_history(rng, 300)
    for b in batches:
        store.writer.write(b)
    values = [0, 1, 127, 128, 129, 130, 131, 500, 1_000, 1_234, 65_535, 99_999, 3_600_000, 86_400_000]
    with store.engine.connect() as conn:
        expr = upkeep._bin_sql(conn, "v")
        assert expr is not None  # Python's SQLite and PostgreSQL have LN; the other path is tested below
        for v in values + [rng.randrange(0, 10_000_000) for _ in range(500)]:
            assert conn.exec_driver_sql(f"SELECT {expr} FROM (SELECT {v} AS v) AS x").scalar() == sketch.bin_of(v)
        with_sql = rollup_rows(conn)
    monkeypatch.setitem(upkeep._LN, store.engine.dialect.name, False)
    with store.engine.begin() as conn:
        rollup.rebuild(conn)
    with store.engine.connect() as conn:
        assert rollup_rows(conn) == with_sql
    store.close()


def test_latencies_listed_by_the_sums_query_bin_as_the_sketch_does():
    """SQLite's upkeep bins the latencies its sums query lists (group_concat's text: integers, a REAL's digits)."""
    rows = [("s", 0, "5 130 -3 127"), ("s", 1, None), ("t", 0, "200.5 99999 0")]
    hists, sums = upkeep._hists_of(rows, 2)
    assert sums == [("s", 0), ("s", 1), ("t", 0)]
    assert hists == {("s", 0): sketch.encode(sketch.from_values([5, 130, -3, 127])),
                     ("t", 0): sketch.encode(sketch.from_values([200.5, 99999, 0]))}


def test_sqlite_histograms_from_listed_latencies_equal_those_grouped_by_bin_in_sql(tmp_path, monkeypatch):
    """The two ways of the upkeep (SQLite: the sums query lists each group's latencies; PostgreSQL: grouped by bin in
    SQL, checked against core.sketch above) build the same rollups from the same rows, REAL latencies included."""
    rng = random.Random(5)
    store = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    batches, _tasks, _calls = random_history(rng, 300)
    for b in batches:
        store.writer.write(b)
    with store.engine.begin() as conn:  # some latencies stored as REAL (away from the bins' edges)
        conn.execute(text("UPDATE tasks SET latency_ms = latency_ms + 0.5 WHERE rowid % 7 = 0 AND latency_ms >= 200"))
        conn.execute(text("UPDATE tool_calls SET latency_ms = latency_ms + 0.25 WHERE rowid % 5 = 0 "
                          "AND latency_ms >= 200"))
        assert conn.execute(text("SELECT COUNT(*) FROM tasks WHERE typeof(latency_ms) = 'real'")).scalar() > 0
        rollup.rebuild(conn)
    with store.engine.connect() as conn:
        listed = rollup_rows(conn)
    monkeypatch.setattr(upkeep, "_LATENCIES", {})
    with store.engine.begin() as conn:
        rollup.rebuild(conn)
    with store.engine.connect() as conn:
        grouped = rollup_rows(conn)
    store.close()
    assert listed == grouped and all(listed[:2]) and any(r[-1] for r in listed[0])
