"""`nexus-insights mcp-serve` as a real subprocess through the official SDK's stdio client, on the real fixtures;
numbers compared with the headless reports (the CLI in a subprocess) for the same range."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import copy_cc_tree

REPO = Path(__file__).resolve().parents[1]
TOOLS = {"usage_summary", "budget_status", "session_detail", "log_search", "log_summary", "tool_failures"}
SPOTTER_CWD = "/home/marco/projects/spotter"  # the cwd of three fixture sessions (moved into tmp below)


def _env(tmp: Path) -> dict:
    env = dict(os.environ, HOME=str(tmp), NEXUS_INSIGHTS_HOME=str(tmp / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp / "claude"), PYTHONPATH=str(REPO))
    env.pop("NEXUS_INSIGHTS_DB", None)
    return env


def cli(tmp: Path, *args) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=_env(tmp), capture_output=True, text=True,
                       timeout=180, cwd=tmp)
    assert r.returncode == 0, r.stderr
    return r


def report(tmp: Path, name: str, *extra) -> object:
    """A headless report's JSON (each asked once per module: the database does not change)."""
    key = (str(tmp), name, extra)
    if key not in _REPORTS:
        _REPORTS[key] = _report(tmp, name, *extra)
    return json.loads(json.dumps(_REPORTS[key]))


_REPORTS: dict = {}


def _report(tmp: Path, name: str, *extra) -> object:
    out = json.loads(cli(tmp, "--headless", name, "--format", "json", "--no-collect", "--tz", "UTC", *extra).stdout)
    assert out["schema_version"] == 2 and out["report"] == name  # schema 2: every document is an object
    return out[name] if name in ("sessions", "models", "tools", "daily") else out  # a list report: its rows


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcpserve")
    projects = copy_cc_tree(tmp / "claude")
    work = tmp / "work" / "projects" / "spotter"
    (work / "sub").mkdir(parents=True)
    for f in (projects / "-fixtures-spotter").glob("*.jsonl"):  # the spotter sessions' folder exists here
        f.write_text(f.read_text().replace(f'"cwd":"{SPOTTER_CWD}"', f'"cwd":"{work}"'))
    (tmp / "nexus").mkdir()
    (tmp / "nexus" / "insights.toml").write_text("[budget]\ndaily_usd = 5\nmonthly_usd = 120.5\n")
    cli(tmp, "ingest")
    return tmp


async def mcp_calls(tmp: Path, calls: list[tuple[str, dict]], cwd: Path | None = None, extra=(), home=None,
                    extra_env: dict | None = None):
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "nexus_tui", "mcp-serve", "--tz", "UTC",
                                                                 *extra],
                                   env={**_env(tmp), **({"HOME": str(home)} if home else {}), **(extra_env or {})},
                                   cwd=str(cwd or tmp))
    out = []
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            listed = await s.list_tools()
            for name, args in calls:
                out.append(await s.call_tool(name, args))
    return listed, out


def ok(res) -> dict:
    assert not res.is_error, res.content
    assert res.content and res.content[0].text.strip()  # a short text beside the structured content
    return res.structured_content


def close(a, b) -> bool:
    """Equal, allowing for a report that rounds its floats (to however many decimals ``b`` shows)."""
    if a is None or b is None:
        return a is b
    s = repr(float(b))
    dec = len(s.split(".")[1]) if "." in s and "e" not in s else 15
    return abs(a - b) <= (0.5 * 10 ** -dec if dec < 10 else 0) + 1e-9 * max(1.0, abs(b))


def db(tmp: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{tmp / 'nexus' / 'insights.db'}?mode=ro", uri=True)


# ---------------------------------------------------------------- the tools and their schemas
async def test_every_tool_has_an_output_schema_and_its_answers_follow_it(fx):
    calls = [("usage_summary", {}), ("usage_summary", {"group_by": "model", "since": "2026-02-10"}),
             ("usage_summary", {"group_by": "hour"}), ("budget_status", {}),
             ("session_detail", {"session_id": "latest"}), ("session_detail", {"session_id": "no-such-session"}), ("log_search", {"query": "error"}),
             ("log_summary", {}), ("log_summary", {"by": "agent"}), ("tool_failures", {})]
    listed, results = await mcp_calls(fx, calls)
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == TOOLS
    for t in tools.values():
        assert t.output_schema and t.output_schema.get("type") == "object" and t.output_schema.get("properties"), t.name
        assert t.annotations and t.annotations.read_only_hint is True
    for (name, _), res in zip(calls, results):
        jsonschema.validate(ok(res), tools[name].output_schema)


async def test_bad_arguments_are_tool_errors_not_crashes(fx):
    _, results = await mcp_calls(fx, [("usage_summary", {"since": "not a date"}),
                                      ("usage_summary", {"since": "2026-02-11", "until": "2026-02-10"}),
                                      ("log_search", {"query": "x", "kind": "everything"}),
                                      ("log_search", {"query": "x", "limit": 0}),
                                      ("usage_summary", {"until": "9999-12-31"}),
                                      ("log_summary", {"since": "0001-01-01", "by": "hour"}),
                                      ("usage_summary", {"since": "999999d"}),
                                      ("usage_summary", {})])
    assert [r.is_error for r in results] == [True, True, True, True, False, False, False, False]
    assert "not a date" in results[0].content[0].text
    assert "since must be before until" in results[1].content[0].text
    # a day with no day after it is no end (core.filters.parse_bound), not an overflow's traceback
    assert ok(results[4])["tasks"] == ok(results[6])["tasks"] == ok(results[7])["tasks"] > 0


# ---------------------------------------------------------------- usage_summary = --headless summary
RANGES = [(), ("--since", "2026-02-10", "--until", "2026-02-11"), ("--since", "2025-06-08", "--until", "2025-06-08"),
          ("--project", "spotter"), ("--since", "2026-02-12T18:00:00Z")]


def _args(r: tuple) -> dict:
    return {k.lstrip("-"): v for k, v in zip(r[::2], r[1::2])}


async def test_usage_summary_equals_the_headless_summary_for_the_same_range(fx):
    _, results = await mcp_calls(fx, [("usage_summary", _args(r)) for r in RANGES])
    for rng, res in zip(RANGES, results):
        got, want = ok(res), report(fx, "summary", *rng)
        assert want["tasks"] > 0, rng  # every range holds data
        for k in ("sessions", "tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens",
                  "total_tokens", "unpriced_tasks", "tool_calls", "tool_failures", "api_errors"):
            assert got[k] == want[k], (rng, k)
        for k in ("cost_usd", "cloud_cost_equivalent", "cache_hit_rate", "tool_failure_rate",
                  "failed_operation_rate", "local_savings_usd"):
            assert got[k] == want[k], (rng, k)  # the same rounding as the report's JSON
        assert got["cost_mode"] == want["cost_mode"] == "auto"
        assert got["period"]["first_task"] == want["period"]["first_task"]
        assert [(m["model"], m["tasks"], m["total_tokens"]) for m in got["top_models"]] == \
            [(m["model"], m["tasks"], m["total_tokens"]) for m in want["top_models"]]
        assert [(m["cost_usd"], m["cost_share"], m["cache_hit_rate"]) for m in got["top_models"]] == \
            [(m["cost_usd"], m["cost_share"], m["cache_hit_rate"]) for m in want["top_models"]]
        assert [t["failure_rate"] for t in got["top_tools"]] == [t["failure_rate"] for t in want["top_tools"]]
        assert [(t["tool"], t["calls"], t["failures"]) for t in got["top_tools"]] == \
            [(t["tool"], t["calls"], t["failures"]) for t in want["top_tools"]]


async def test_usage_summary_groups_equal_the_models_daily_and_tools_reports(fx):
    rng = ("--since", "2026-02-10")
    _, (m, d, t) = await mcp_calls(fx, [("usage_summary", {**_args(rng), "group_by": g}) for g in
                                        ("model", "day", "tool")])
    models, daily, tools = report(fx, "models", *rng), report(fx, "daily", *rng), report(fx, "tools", *rng)
    assert [(g["key"], g["tasks"], g["tokens_in"], g["tokens_out"], g["cache_read_tokens"]) for g in ok(m)["groups"]] \
        == [(r["model"], r["tasks"], r["tokens_in"], r["tokens_out"], r["cache_read_tokens"]) for r in models]
    assert [(g["cost_usd"], g["cache_hit_rate"]) for g in ok(m)["groups"]] == \
        [(r["cost_usd"], r["cache_hit_rate"]) for r in models]
    assert [g["cost_usd"] for g in ok(d)["groups"]] == [r["cost_usd"] for r in daily]
    assert [(g["key"], g["tasks"], g["total_tokens"], g["tool_calls"], g["tool_failures"]) for g in ok(d)["groups"]] \
        == [(r["date"], r["tasks"], r["total_tokens"], r["tool_calls"], r["tool_failures"]) for r in daily]
    assert sorted((g["key"], g["tool_calls"], g["tool_failures"]) for g in ok(t)["groups"]) == \
        sorted((r["tool"] + (f" [{r['server']}]" if r["server"] else ""), r["calls"], r["failures"]) for r in tools)


# ---------------------------------------------------------------- session_detail
async def test_session_detail_equals_the_sessions_report_row(fx):
    rows = {r["session_id"]: r for r in report(fx, "sessions")}
    newest = max(rows.values(), key=lambda r: r["end_time"])
    other = next(r for r in rows.values() if r["subagents"] and r["session_id"] != newest["session_id"])
    _, res = await mcp_calls(fx, [("session_detail", {"session_id": "latest"}),
                                  ("session_detail", {"session_id": other["session_id"]}),
                                  ("session_detail", {"session_id": other["session_id"][:8]}),
                                  ("session_detail", {"session_id": "zzzz"})])
    latest, full, prefix, missing = (ok(r) for r in res)
    assert latest["session_id"] == newest["session_id"] and latest["matched"] == "latest"
    assert full == {**prefix, "matched": "id"} and prefix["matched"] == "prefix"
    for got in (latest, full):
        want = rows[got["session_id"]]
        for k in ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "total_tokens",
                  "tool_calls", "project", "cwd", "start_time"):
            assert got[k] == want[k], k
        assert got["tool_failures"] == want["tool_failures"]
        assert got["cost_usd"] == want["cost_usd"] and got["cache_hit_rate"] == want["cache_hit_rate"]
        assert got["avg_latency_ms"] == want["avg_latency_ms"]
        assert sorted(got["models"]) == sorted(want["models"])
        assert len(got["subagents"]) == want["subagents"]
        assert sum(t["calls"] for t in got["tools"]) == want["tool_calls"]
        assert sum(t["failures"] for t in got["tools"]) == want["tool_failures"]
        assert len(got["failures"]) == min(want["tool_failures"], 20)
        assert got["title"] == f"{want['project']} {want['start_time'][:10]} {want['start_time'][11:16]}"
    with db(fx) as conn:  # sub-agents and their task counts, counted independently
        want_sub = dict(conn.execute("SELECT agent_id, count(*) FROM tasks WHERE session_id = ? AND agent_id IS NOT "
                                     "NULL GROUP BY agent_id", (other["session_id"],)).fetchall())
    assert {a["agent_id"]: a["tasks"] for a in full["subagents"]} == want_sub
    assert missing["found"] is False and "zzzz" in res[3].content[0].text


async def test_current_is_the_latest_session_of_the_servers_working_directory(fx):
    work = fx / "work" / "projects" / "spotter"
    with db(fx) as conn:
        want = conn.execute("SELECT id FROM sessions WHERE cwd = ? ORDER BY end_ms DESC LIMIT 1",
                            (str(work),)).fetchone()[0]
        n, latest = conn.execute("SELECT count(*), (SELECT id FROM sessions ORDER BY end_ms DESC LIMIT 1) FROM "
                                 "sessions WHERE cwd = ?", (str(work),)).fetchone()
    assert n == 3 and latest != want  # the check means something: the folder's latest is not the overall latest
    _, (here,) = await mcp_calls(fx, [("session_detail", {"session_id": "current"})], cwd=work)
    _, (below,) = await mcp_calls(fx, [("session_detail", {})], cwd=work / "sub")
    _, (elsewhere,) = await mcp_calls(fx, [("session_detail", {"session_id": "current"})], cwd=fx)
    assert ok(here)["session_id"] == want and ok(here)["matched"] == "current" and ok(here)["cwd"] == str(work)
    assert ok(below)["session_id"] == want  # started in a sub-folder of the project
    assert ok(elsewhere)["found"] is False and "no session recorded" in elsewhere.content[0].text
    # sessions run in the home folder are not the "current" session of a new project below it
    _, (at_home,) = await mcp_calls(fx, [("session_detail", {})], cwd=work,
                                               home=work)
    _, (below_home,) = await mcp_calls(fx, [("session_detail", {})], cwd=work / "sub", home=work)
    assert ok(at_home)["session_id"] == want and ok(below_home)["found"] is False


# ---------------------------------------------------------------- logs
async def test_log_search_finds_exactly_the_matching_records(fx):
    _, res = await mcp_calls(fx, [("log_search", {"query": "sibling", "kind": "tool_calls", "limit": 500}),
                                  ("log_search", {"query": "SIBLING", "kind": "errors", "limit": 500}),
                                  ("log_search", {"query": "opus", "kind": "tasks", "limit": 3}),
                                  ("log_search", {"query": "%", "limit": 500}),
                                  ("log_search", {"query": "", "since": "2026-02-12T20:00:00Z", "limit": 500})])
    calls, errors, tasks, percent, recent = (ok(r) for r in res)
    with db(fx) as conn:
        want_calls = conn.execute("SELECT count(*) FROM tool_calls WHERE tool_name IS NOT NULL AND "
                                  "lower(error_message) LIKE '%sibling%'").fetchone()[0]
        want_errors = conn.execute("SELECT count(*) FROM errors WHERE lower(message) LIKE '%sibling%'").fetchone()[0]
        since = 1770926400000  # 2026-02-12T20:00:00Z
        want_recent = sum(conn.execute(q, (since,)).fetchone()[0] for q in (
            "SELECT count(*) FROM errors WHERE ts_ms >= ?",
            "SELECT count(*) FROM tool_calls WHERE tool_name IS NOT NULL AND started_ms >= ?",
            "SELECT count(*) FROM tasks WHERE ts_ms >= ?"))
    assert want_calls > 0 and calls["count"] == want_calls
    assert all(r["kind"] == "tool_call" and "sibling" in r["message"].lower() and r["session_id"] and r["time"]
               and r["component"] for r in calls["records"])
    assert errors["count"] == want_errors > 0 and all(r["kind"] == "error" for r in errors["records"])
    assert tasks["count"] == 3 and all("opus" in r["model"] for r in tasks["records"])
    times = [r["time"] for r in recent["records"]]
    assert times == sorted(times, reverse=True) and recent["count"] == want_recent > 0  # newest first, all of them
    assert percent["count"] == 0  # the query is text, not a LIKE pattern


async def test_log_summary_groups_add_up_to_the_summary(fx):
    rng = ("--since", "2026-02-10")
    bys = ("component", "agent", "tool", "day", "hour")
    _, res = await mcp_calls(fx, [("log_summary", {"since": "2026-02-10", "by": b}) for b in bys])
    want = report(fx, "summary", *rng)
    got = dict(zip(bys, (ok(r) for r in res)))
    for by in ("component", "agent", "day", "hour"):
        g = got[by]["groups"]
        assert sum(x["tasks"] for x in g) == want["tasks"], by
        assert sum(x["total_tokens"] for x in g) == want["total_tokens"], by
        assert abs(sum(x["cost_usd"] for x in g) - want["cost_usd"]) <= 0.5e-6 * (len(g) + 1), by  # each rounded
        assert sum(x["tool_calls"] for x in g) == want["tool_calls"], by
        assert sum(x["tool_failures"] for x in g) == want["tool_failures"], by
    assert sum(x["tool_calls"] for x in got["tool"]["groups"]) == want["tool_calls"]
    with db(fx) as conn:
        agents = dict(conn.execute("SELECT coalesce(agent_id, 'main'), count(*) FROM tasks WHERE ts_ms >= ? "
                                   "GROUP BY 1", (1770681600000,)).fetchall())  # 2026-02-10T00:00Z
        hours = dict(conn.execute("SELECT strftime('%Y-%m-%dT%H:00+0000', ts_ms / 1000, 'unixepoch'), count(*) "
                                  "FROM tasks WHERE ts_ms >= ? GROUP BY 1", (1770681600000,)).fetchall())
        errs = conn.execute("SELECT count(*) FROM errors WHERE ts_ms >= ?", (1770681600000,)).fetchone()[0]
    assert {x["key"]: x["tasks"] for x in got["agent"]["groups"] if x["tasks"]} == agents
    assert {x["key"]: x["tasks"] for x in got["hour"]["groups"] if x["tasks"]} == hours
    assert sum(x["errors"] for x in got["hour"]["groups"]) == errs
    comp = {x["key"]: x for x in got["component"]["groups"]}
    assert set(comp) == {"main", "sub-agent"} and comp["main"]["tasks"] == agents["main"]


async def test_tool_failures_equal_the_tools_report(fx):
    _, (all_, one) = await mcp_calls(fx, [("tool_failures", {}), ("tool_failures", {"tool": "Bash"})])
    tools = report(fx, "tools")
    a, b = ok(all_), ok(one)
    assert a["calls"] == sum(r["calls"] for r in tools) and a["failures"] == sum(r["failures"] for r in tools) > 0
    assert sorted((t["tool"], t["calls"], t["failures"]) for t in a["by_tool"]) == \
        sorted((r["tool"], r["calls"], r["failures"]) for r in tools if r["failures"])
    assert sum(t["failures"] for t in a["by_type"]) == a["failures"]
    bash = next(r for r in tools if r["tool"] == "Bash")
    assert (b["calls"], b["failures"]) == (bash["calls"], bash["failures"])
    assert {t["tool"] for t in b["by_type"]} == {"Bash"} and sum(t["failures"] for t in b["by_type"]) == b["failures"]
    assert 0 < len(b["recent"]) <= 10 and all(r["tool"] == "Bash" and r["error_type"] for r in b["recent"])
    times = [r["time"] for r in a["recent"]]
    assert times == sorted(times, reverse=True) and len(times) == 10


# ---------------------------------------------------------------- budget_status
async def test_budget_status_reads_the_budgets_and_the_quota_snapshots(fx, tmp_path):
    _, (res,) = await mcp_calls(fx, [("budget_status", {})])
    b = ok(res)
    assert b["today"]["budget_usd"] == 5 and b["month"]["budget_usd"] == 120.5
    assert b["today"]["spent_usd"] == 0 and b["today"]["used"] == 0  # the fixtures are older than this month
    assert b["quota"] is None and b["note"] == "no quota snapshot"
    # quota_snapshots rows: the newest snapshot of each window
    import shutil

    shutil.copytree(fx / "nexus", tmp_path / "nexus")
    cols = "(id, observed_ms, observed_at, source, account, window, used_fraction, resets_at_ms, status)"
    with sqlite3.connect(tmp_path / "nexus" / "insights.db") as conn:
        conn.executemany(f"INSERT INTO quota_snapshots {cols} VALUES (?, ?, ?, 'statusline', 'me', ?, ?, ?, "
                         "'allowed')", [
                             ("a", 1000, "1970-01-01T00:00:01Z", "five_hour", 0.2, 5000),
                             ("b", 2000, "1970-01-01T00:00:02Z", "five_hour", 0.4, 5000),
                             ("c", 1500, "1970-01-01T00:00:01.5Z", "seven_day", 0.7, 9000)])
    (tmp_path / "claude").mkdir()
    _, (res,) = await mcp_calls(tmp_path, [("budget_status", {})])
    q = {w["window"]: w for w in ok(res)["quota"]}
    assert {k: v["used_fraction"] for k, v in q.items()} == {"five_hour": 0.4, "seven_day": 0.7}
    assert q["five_hour"]["resets_at"] == "1970-01-01T00:00:05.000Z" and q["five_hour"]["status"] == "allowed"
    assert q["five_hour"]["reset_passed"] is True and q["five_hour"]["pace"] is None  # reset since: use unknown
    # a live five-hour window: 30 % used, 2 h before its reset (3 h of 5 gone): pace 0.3 / 0.6 = 0.5
    import time

    now = int(time.time() * 1000)
    with sqlite3.connect(tmp_path / "nexus" / "insights.db") as conn:
        conn.execute(f"INSERT INTO quota_snapshots {cols} VALUES ('d', ?, '', 'statusline', 'me', 'five_hour', 0.3, ?, "
                     "NULL)", (now, now + 2 * 3600_000))
        conn.execute(f"INSERT INTO quota_snapshots {cols} VALUES ('e', ?, '', 'proxy', 'me', 'seven_day', 'junk', 'x', "
                     "7)", (now,))
    _, (res,) = await mcp_calls(tmp_path, [("budget_status", {})])
    q = {w["window"]: w for w in ok(res)["quota"]}
    assert q["five_hour"]["reset_passed"] is False and q["five_hour"]["used_fraction"] == 0.3
    assert q["five_hour"]["elapsed_fraction"] == pytest.approx(0.6, abs=0.01)
    assert q["five_hour"]["pace"] == pytest.approx(0.5, abs=0.01) and "pace 0.5" in res.content[0].text
    assert q["seven_day"]["used_fraction"] is None and q["seven_day"]["pace"] is None  # bad values are not used
    assert q["seven_day"]["status"] == "7" and q["seven_day"]["source"] == "proxy"


def test_budget_projection_equals_the_costs_screen_and_an_independent_sum_on_a_day_with_spend(fx):
    """budget_status's numbers at a time when the fixtures spend (the tool uses the current time): the Costs screen's
    projection (core/scoring.py PROJECTION_METHOD), and spend, burn rate and the history's median computed apart."""
    import math

    from nexus_tui.config import load_settings
    from nexus_tui.core.filters import Filters, local_zone
    from nexus_tui.mcp_serve import Reader
    from nexus_tui.screens.costs import Request, load_costs
    from nexus_tui.store import open_store

    settings = load_settings(fx / "nexus")
    store = open_store(settings.db_url, read_only_ok=True)
    now = 1770933600000  # 2026-02-12T22:00:00Z
    try:
        b, text = Reader(store.engine, settings, local_zone("UTC"), str(fx)).budget_status(now_ms=now)
        screen = load_costs(store.engine, Filters(cost_mode=settings.cost_mode), settings, local_zone("UTC"),
                            Request(now_ms=now, columns=80, chart_period="day"))
    finally:
        store.close()
    for got, want in ((b.today, screen["day"]), (b.month, screen["month"])):  # the one projection of the app
        assert (got.spent_usd, got.burn_rate_usd_per_hour, got.projected_usd, got.projected_low_usd,
                got.projected_high_usd, got.used, got.exceeded) == \
            (want.spent, want.rate_per_hour, want.projected, want.low, want.high, want.used, want.exceeded)
    day_ms, day_start, day_end = 86_400_000, 1770854400000, 1770940800000  # 2026-02-12 in UTC
    with db(fx) as conn:
        def spend(a, z):  # [a, z)
            return conn.execute("SELECT coalesce(sum(cost_usd), 0) FROM tasks WHERE ts_ms >= ? AND ts_ms < ?",
                                (a, z)).fetchone()[0]
        first = conn.execute("SELECT min(ts_ms) FROM tasks").fetchone()[0]
        day, month = spend(day_start, now + 1), spend(1769904000000, now + 1)
        last3h = spend(now - 3 * 3600_000 + 1, now + 1)
        # what 22:00-24:00 cost on each of the 14 days before, from the day of the first task on
        rest = [spend(now - k * day_ms, day_end - k * day_ms) for k in range(1, 15)
                if day_start - k * day_ms >= first - first % day_ms]

    def rank(xs, q):  # nearest rank
        return sorted(xs)[max(0, math.ceil(q * len(xs) - 1e-9) - 1)]
    assert day > 0 and close(b.today.spent_usd, day) and close(b.month.spent_usd, month)
    assert close(b.today.burn_rate_usd_per_hour, last3h / 3)
    if len(rest) >= 3:  # spent + the median rest of the day, within its p10-p90 range
        assert close(b.today.projected_usd, day + rank(rest, 0.5))
        assert close(b.today.projected_low_usd, day + rank(rest, 0.1))
        assert close(b.today.projected_high_usd, day + rank(rest, 0.9))
        assert b.today.projected_low_usd <= b.today.projected_usd <= b.today.projected_high_usd
    else:  # too little history: the burn rate over the two hours left, no range
        assert close(b.today.projected_usd, day + last3h / 3 * 2) and b.today.projected_low_usd is None
    assert b.today.exceeded is (day >= 5) and close(b.today.used, day / 5)
    assert "today $" in text


# ---------------------------------------------------------------- read-only
async def test_the_server_does_not_ingest_unless_asked(fx, tmp_path):
    import shutil

    shutil.copytree(fx / "nexus", tmp_path / "nexus")
    copy_cc_tree(tmp_path / "claude")
    extra = tmp_path / "claude" / "projects" / "-fixtures-spotter"
    with db(fx) as conn:
        before = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    # a new session file after the last ingest: unseen by a plain server, seen with --collect
    src = next(p for p in extra.glob("*.jsonl") if p.name == "short.jsonl")
    text = src.read_text()
    sid = json.loads(next(line for line in text.splitlines() if '"sessionId"' in line))["sessionId"]
    (extra / "copy.jsonl").write_text(text.replace(sid, "00000000-1111-2222-3333-444444444444")
                                      .replace('"requestId":"req_', '"requestId":"req_X'))
    _, (plain,) = await mcp_calls(tmp_path, [("usage_summary", {})])
    _, (collected,) = await mcp_calls(tmp_path, [("usage_summary", {})], extra=("--collect",))
    assert ok(plain)["tasks"] == before
    assert ok(collected)["tasks"] > before


def test_the_server_never_imports_textual(fx):
    code = ("import sys; from nexus_tui.config import load_settings; from nexus_tui.core.filters import local_zone; "
            "from nexus_tui.mcp_serve import Reader, build_server; from nexus_tui.store import open_store; "
            "s = load_settings(); st = open_store(s.db_url, read_only_ok=True); "
            "r = Reader(st.engine, s, local_zone('UTC'), '.'); build_server(r); "
            "[f() for f in (r.usage_summary, r.budget_status, r.log_summary, r.tool_failures)]; "
            "r.session_detail('latest'); r.log_search('x'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_plotext', 'plotext')))")
    r = subprocess.run([sys.executable, "-c", code], env=_env(fx), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"  # (rich comes with the SDK itself)


async def test_an_empty_database_says_how_to_fill_it(tmp_path):
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    _, (summary, current, failures) = await mcp_calls(tmp_path, [("usage_summary", {}), ("session_detail", {}),
                                                                 ("tool_failures", {})])
    assert ok(summary)["tasks"] == 0 and ok(summary)["top_models"] == []
    assert ok(current)["found"] is False and ok(failures)["failures"] == 0
    for res in (summary, current):
        assert "no sessions yet" in res.content[0].text and "mcp-serve --collect" in res.content[0].text


# ---------------------------------------------------------------- PostgreSQL: the same answers
from tests.conftest import pg_url  # noqa: E402,F401  (the throwaway server fixture)

PG_CALLS = [("usage_summary", {}), ("usage_summary", {"since": "2026-02-10", "group_by": "model"}),
            ("usage_summary", {"project": "spotter", "group_by": "day"}),
            ("log_summary", {"by": "component"}), ("log_summary", {"by": "agent"}), ("log_summary", {"by": "hour"}),
            ("log_summary", {"by": "tool"}), ("tool_failures", {}), ("tool_failures", {"tool": "Bash"}),
            ("session_detail", {"session_id": "latest"}), ("session_detail", {"session_id": "491e126e"}),
            ("log_search", {"query": "sibling", "limit": 500}), ("log_search", {"query": "opus", "kind": "tasks"})]


def _same(a, b, path="") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


async def test_the_tools_answer_the_same_on_postgresql(fx, pg_url):  # noqa: F811
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "--db", pg_url, "ingest"], env=_env(fx),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _, lite = await mcp_calls(fx, PG_CALLS)
    _, pg = await mcp_calls(fx, PG_CALLS, extra_env={"NEXUS_INSIGHTS_DB": pg_url})
    for (name, args), a, b in zip(PG_CALLS, lite, pg):
        _same(ok(a), ok(b), f"{name}{args}")
        assert a.content[0].text == b.content[0].text


async def test_the_documented_mcp_config_starts_the_server(fx):
    """The JSON config of docs/mcp-serve.md, as an MCP client reads it: its command found on PATH."""
    import re

    from mcp import ClientSession, StdioServerParameters, stdio_client

    doc = (REPO / "docs" / "mcp-serve.md").read_text()
    config = json.loads(re.search(r"```json\n(.*?)```", doc, re.S).group(1))
    entry = config["mcpServers"]["nexus-insights"]
    assert "claude mcp add nexus-insights -- nexus-insights mcp-serve" in doc
    env = {**_env(fx), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=env, cwd=str(fx))
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            res = await s.call_tool("usage_summary", {})
    assert init.server_info.name == "nexus-insights" and init.instructions
    assert ok(res)["tasks"] == report(fx, "summary")["tasks"] > 0


def test_times_and_texts_as_the_tools_read_and_write_them():
    from zoneinfo import ZoneInfo

    from nexus_tui.core.quota import window_ms as quota_window_ms
    from nexus_tui.mcp_serve import one_line, parse_time

    utc, berlin = ZoneInfo("UTC"), ZoneInfo("Europe/Berlin")
    now = 1770933600000  # 2026-02-12T22:00:00Z (23:00 in Berlin)
    assert parse_time("24h", utc, now_ms=now) == now - 86_400_000
    assert parse_time(" 90M ", utc, now_ms=now) == now - 90 * 60_000
    assert parse_time("2w", utc, now_ms=now) == now - 14 * 86_400_000
    assert parse_time("999999w", utc, now_ms=now) == 0
    assert parse_time("today", utc, now_ms=now) == 1770854400000  # 2026-02-12T00:00Z
    assert parse_time("today", utc, end=True, now_ms=now) == 1770854400000 + 86_400_000
    assert parse_time("yesterday", berlin, now_ms=now) == 1770764400000  # 2026-02-11T00:00+01:00
    assert parse_time("2026-02-12", berlin) == 1770850800000 and parse_time(None, utc) is None
    assert parse_time("", utc) is None and parse_time("now", utc, now_ms=now) == now
    for bad in ("soon", "1y", "9999999d", "2026-13-01"):
        with pytest.raises(ValueError):
            parse_time(bad, utc, now_ms=now)
    from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS  # held to the times data can have

    assert parse_time("9999-12-31", utc, end=True) == MAX_TIME_MS and parse_time("0001-01-01", utc) == MIN_TIME_MS
    assert one_line("a\x1b[31mred\x1b[0m\n\tb\x00c\x9b") == "a[31mred[0m bc"
    assert (quota_window_ms("five_hour"), quota_window_ms("seven_day_opus"), quota_window_ms("other")) == \
        (5 * 3_600_000, 7 * 86_400_000, None)


async def test_the_cost_mode_of_the_settings_is_the_one_the_reports_sum(fx, tmp_path):
    """[pricing] cost_mode: the tools sum the same cost as the headless reports (the summary, its models, the
    Costs screen's spend); a bad value stops the server as every command (exit 2, said)."""
    import shutil

    shutil.copytree(fx / "nexus", tmp_path / "nexus")
    (tmp_path / "claude").mkdir()
    toml = tmp_path / "nexus" / "insights.toml"
    by_mode = {}
    for mode in ("calculate", "display"):
        toml.write_text(f'[budget]\ndaily_usd = 5\n[pricing]\ncost_mode = "{mode}"\n')
        _, (res,) = await mcp_calls(tmp_path, [("usage_summary", {"group_by": "model"})])
        got, want = ok(res), _report(tmp_path, "summary")
        assert want["cost_mode"] == got["cost_mode"] == mode
        assert (got["cost_usd"], got["unpriced_tasks"]) == (want["cost_usd"], want["unpriced_tasks"])
        assert [(m["model"], m["cost_usd"]) for m in got["top_models"]] == \
            [(m["model"], m["cost_usd"]) for m in want["top_models"]]
        by_mode[mode] = (got["cost_usd"], got["unpriced_tasks"])
    assert by_mode["calculate"] != by_mode["display"]  # the check means something: the modes differ here
    toml.write_text('[pricing]\ncost_mode = "cheapest"\n')
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "mcp-serve"], env=_env(tmp_path), capture_output=True,
                       text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "cost_mode" in r.stderr and r.stdout == ""
