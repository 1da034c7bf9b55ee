"""Headless reports through the real CLI on the real fixtures, checked against ccusage and independent counts."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import CC, copy_cc_tree
from nexus_tui.store import open_store


def _env(tmp: Path) -> dict:
    """The CLI's environment for a test folder; its database is ``tmp/db_url`` when the folder names one."""
    env = dict(os.environ, HOME=str(tmp), NEXUS_INSIGHTS_HOME=str(tmp / "nexus"), CLAUDE_CONFIG_DIR=str(tmp / "claude"))
    env.pop("NEXUS_INSIGHTS_DB", None)
    if (tmp / "db_url").exists():
        env["NEXUS_INSIGHTS_DB"] = (tmp / "db_url").read_text()
    return env


def _db_url(tmp: Path) -> str:
    named = tmp / "db_url"
    return named.read_text() if named.exists() else f"sqlite:///{tmp / 'nexus' / 'insights.db'}"


def run(tmp: Path, *args, check=True):
    env = _env(tmp)
    r = subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=env, capture_output=True, text=True,
                       timeout=120, cwd=tmp)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fx(request, tmp_path_factory):
    """The real fixtures ingested once per backend (the default SQLite file, or a database on the test server)."""
    tmp = tmp_path_factory.mktemp("reports")
    if request.param == "postgresql":
        srv = request.getfixturevalue("pg_server")
        if srv.admin_url is None:
            pytest.skip(srv.skip_reason or "no PostgreSQL server")
        (tmp / "db_url").write_text(srv.new_database())
    copy_cc_tree(tmp / "claude")
    run(tmp, "ingest")
    return tmp


def report(tmp, name, *extra, fmt="json"):
    """A report's JSON (a list report: its rows) or its text/CSV."""
    out = run(tmp, "--headless", name, "--format", fmt, "--no-collect", *extra).stdout
    if fmt != "json":
        return out
    doc = json.loads(out)
    assert doc["schema_version"] == 2 and doc["report"] == name
    return doc if name == "summary" else doc[name]


def test_sessions_json_equals_ccusage_daily_totals(tmp_path):
    copy_cc_tree(tmp_path / "claude")
    rows = json.loads(run(tmp_path, "--headless", "sessions", "--format", "json").stdout)["sessions"]  # ingests
    got = {r["session_id"]: r for r in rows}
    ref = json.loads((CC / "ccusage_reference.json").read_text())["sessions"]
    for s in ref:
        r, d = got[s["session_id"]], s["daily_totals"]
        assert (r["tokens_in"], r["tokens_out"], r["cache_creation_tokens"], r["cache_read_tokens"]) == \
            (d["input_tokens"], d["output_tokens"], d["cache_creation_tokens"], d["cache_read_tokens"])
        assert r["cost_usd"] == pytest.approx(d["cost_usd_ccusage"], rel=0.02)
        assert set(s["models"]) <= set(r["models"])
    keys = {"session_id", "cli_tool", "project", "start_time", "end_time", "models", "tasks", "tokens_in",
            "tokens_out", "cache_creation_tokens", "cache_read_tokens", "cost_usd", "tool_calls", "tool_failures"}
    assert all(keys <= set(r) for r in rows)
    assert all(r["cli_tool"] == "claude-code" and r["start_time"].endswith("Z") for r in rows)


def _independent_tool_counts() -> tuple[Counter, Counter]:
    """Count tool uses and failures per tool straight from the files (tool_use id -> name; result is_error)."""
    names, failed = {}, set()
    for f in CC.rglob("*.jsonl"):
        for line in f.read_text().splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            msgs = [d]
            if d.get("type") == "progress" and (d.get("data") or {}).get("type") == "agent_progress":
                msgs.append(d["data"].get("message") or {})
            for m in msgs:
                content = (m.get("message") or {}).get("content")
                if not isinstance(content, list):
                    continue
                for b in content:
                    if b.get("type") == "tool_use" and m.get("message", {}).get("model") != "<synthetic>":
                        names[b["id"]] = b["name"]
                    elif b.get("type") == "tool_result" and b.get("is_error") is True:
                        failed.add(b["tool_use_id"])
    calls = Counter(names.values())
    fails = Counter(names[i] for i in failed if i in names)
    return calls, fails


def test_tool_counts_and_failures_match_an_independent_count(fx):
    calls, fails = _independent_tool_counts()
    rows = report(fx, "tools")
    assert {r["tool"]: r["calls"] for r in rows} == dict(calls)
    assert {r["tool"]: r["failures"] for r in rows if r["failures"]} == dict(fails)
    for r in rows:
        assert r["failure_rate"] == round(r["failures"] / r["calls"], 4)  # rates: 4 decimals
        assert set(r) >= {"tool", "server", "calls", "failures", "failure_rate", "p50_ms", "p95_ms", "p99_ms",
                          "max_ms"}


def test_tool_percentiles_are_nearest_rank_of_the_stored_latencies(fx):
    rows = report(fx, "tools")
    store = open_store(_db_url(fx))
    with store.engine.connect() as conn:
        lat = {}
        for name, ms in conn.execute(text("SELECT tool_name, latency_ms FROM tool_calls WHERE latency_ms IS NOT NULL")):
            lat.setdefault(name, []).append(ms)
    for r in rows:
        xs = sorted(lat.get(r["tool"], []))
        if not xs:
            assert r["p50_ms"] is None
            continue
        for p in (50, 95, 99):
            assert r[f"p{p}_ms"] == xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]
        assert r["max_ms"] == xs[-1]


def test_summary_daily_and_models_agree_with_sessions(fx):
    s = report(fx, "summary")
    sessions = report(fx, "sessions")
    daily = report(fx, "daily", "--tz", "UTC")
    models = report(fx, "models")
    for k in ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens"):
        assert s[k] == sum(r[k] for r in sessions) == sum(d[k] for d in daily) == sum(m[k] for m in models)
    assert s["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in sessions))
    assert s["cost_usd"] == pytest.approx(sum(d["cost_usd"] for d in daily))
    assert s["sessions"] == len(sessions) == 7
    assert s["tool_calls"] == sum(r["tool_calls"] for r in sessions)
    assert s["cache_hit_rate"] == round(
        s["cache_read_tokens"] / (s["tokens_in"] + s["cache_read_tokens"] + s["cache_creation_tokens"]), 4)
    assert [d["date"] for d in daily] == ["2025-06-08", "2025-06-10", "2026-02-10", "2026-02-12"]


def test_since_until_tz_and_project_filters(fx):
    day = report(fx, "sessions", "--since", "2026-02-10", "--until", "2026-02-10", "--tz", "UTC")
    assert {r["session_id"][:8] for r in day} == {"491e126e", "d6e0bada", "55604662"}
    # the same UTC day seen from UTC+14 starts 14 hours earlier and catches nothing of 2026-02-12
    kiri = report(fx, "daily", "--tz", "Pacific/Kiritimati")
    utc = report(fx, "daily", "--tz", "UTC")
    assert sum(d["tasks"] for d in kiri) == sum(d["tasks"] for d in utc)
    assert [d["date"] for d in kiri] != [d["date"] for d in utc]
    proj = report(fx, "sessions", "--project", "ai-music")
    assert len(proj) == 3 and all(r["project"] == "ai-music" for r in proj)
    assert report(fx, "summary", "--project", "spotter-dov")["tasks"] == 152


def test_dates_no_zone_can_convert_mean_no_limit(fx):
    """--until 9999-12-31 (no day after it), 0001-01-01T00:00+14:00 (before year 1 in UTC) crashed every report with
    a traceback (OverflowError, 'year 0 is out of range'); they are held to the times data can have."""
    whole = report(fx, "daily")
    assert whole and report(fx, "daily", "--since", "0001-01-01T00:00:00+14:00", "--until", "9999-12-31",
                            "--tz", "Etc/GMT+12") == report(fx, "daily", "--tz", "Etc/GMT+12")
    assert report(fx, "daily", "--until", "99991231T23:59:59-14:00") == whole
    assert report(fx, "monthly", "--since", "0001-01-01", "--tz", "Pacific/Kiritimati") == report(
        fx, "monthly", "--tz", "Pacific/Kiritimati")


def test_csv_and_text_outputs(fx):
    rows = list(csv.DictReader(io.StringIO(report(fx, "sessions", fmt="csv"))))
    assert len(rows) == 7 and int(rows[0]["tasks"]) > 0
    tools = list(csv.DictReader(io.StringIO(report(fx, "tools", fmt="csv"))))
    assert {"tool", "p95_ms"} <= set(tools[0])
    txt = report(fx, "summary", fmt="text")
    assert "sessions        7" in txt and "top models" in txt


@pytest.mark.parametrize("args,msg", [
    (["--headless", "summary", "--since", "last tuesday"], "not a date"),
    (["--headless", "summary", "--tz", "Mars/Olympus"], "unknown time zone"),
    (["--headless", "nonsense"], "Invalid value"),
])
def test_bad_arguments_exit_non_zero_with_a_message(tmp_path, args, msg):
    r = run(tmp_path, *args, check=False)
    assert r.returncode != 0 and msg in r.stderr


def test_an_unreadable_database_exits_non_zero(tmp_path):
    (tmp_path / "garbage.db").write_bytes(b"this is not sqlite" * 300)
    r = run(tmp_path, "--db", f"sqlite:///{tmp_path / 'garbage.db'}", "--headless", "summary", check=False)
    assert r.returncode == 2 and "not a usable SQLite database" in r.stderr
    r = run(tmp_path, "--db", f"sqlite:///{tmp_path}", "--headless", "summary", check=False)  # a directory
    assert r.returncode == 2 and "nexus-insights:" in r.stderr


def test_unknown_models_are_reported_unpriced(tmp_path):
    p = tmp_path / "claude" / "projects" / "x"
    p.mkdir(parents=True)
    line = {"type": "assistant", "sessionId": "s-unpriced", "version": "2.1.0", "timestamp": "2026-05-01T10:00:00Z",
            "requestId": "req_u", "message": {"id": "m", "model": "homebrew-llm", "usage": {"input_tokens": 5,
                                                                                             "output_tokens": 7}}}
    (p / "s.jsonl").write_text(json.dumps(line) + "\n")
    s = json.loads(run(tmp_path, "--headless", "summary", "--format", "json").stdout)
    assert s["unpriced_tasks"] == 1 and s["tasks"] == 1
    txt = run(tmp_path, "--headless", "models", "--no-collect").stdout
    assert "unpriced" in txt and "homebrew-llm" in txt
    # the summary's top models say so too, as the models report does: never a cost of $0 that reads as free
    txt = run(tmp_path, "--headless", "summary", "--no-collect").stdout
    row = next(x for x in txt.splitlines() if x.startswith("homebrew-llm"))
    assert row.split()[:4] == ["homebrew-llm", "1", "12", "unpriced"], row


def test_the_headless_path_never_imports_textual(fx):
    code = ("import sys\nfrom nexus_tui.cli import main\n"
            "try:\n    main(['--headless', 'summary'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
            "assert not bad, bad\nprint('clean')\n")
    env = _env(fx)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "clean" in r.stdout, r.stderr
