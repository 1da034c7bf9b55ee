"""weekly, monthly (--breakdown, --order, totals), projects and project groups, against the real fixtures: the
per-period and per-model numbers equal ccusage's reference totals grouped by the period each transcript falls in
(read from the files here), and every totals row is the sum of its rows."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date, datetime

import pytest

from tests.conftest import CC
from tests.test_reports_contract import GROUPS_TOML, run
from tests.conftest import copy_cc_tree

TOK = ("tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens")
REF_TOK = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("periods")
    copy_cc_tree(tmp / "claude")
    (tmp / "nexus").mkdir()
    (tmp / "nexus" / "insights.toml").write_text(GROUPS_TOML)
    run(tmp, "ingest")
    return tmp


def doc(tmp, name, *extra):
    return json.loads(run(tmp, "--headless", name, "--format", "json", "--no-collect", "--tz", "UTC", *extra).stdout)


def text(tmp, name, fmt, *extra):
    return run(tmp, "--headless", name, "--format", fmt, "--no-collect", "--tz", "UTC", *extra).stdout


def _usage_days(stem: str) -> set[date]:
    """The UTC days of the lines with usage in a session's files (its transcript and its sub-agents' files)."""
    files = [*CC.rglob(f"{stem}.jsonl"), *CC.rglob(f"{stem}/**/*.jsonl")]
    days = set()
    for f in files:
        for line in f.read_text().splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d.get("message"), dict) and d["message"].get("usage") and d.get("timestamp"):
                days.add(datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00")).date())
    assert files and days, stem
    return days


DT = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


def _expected(unit) -> tuple[dict, dict, set]:
    """From ccusage's reference, each session in the period of its files: ({period: tokens by type} of its
    ``daily`` totals, {(period, model): tokens} of its per-model rows, and the (period, model) pairs those rows
    cannot state: a session whose per-model rows miss usage its daily totals count (ccusage ``session`` drops the
    sub-agent turns replayed in progress lines: the reference's note))."""
    ref = json.loads((CC / "ccusage_reference.json").read_text())["sessions"]
    per_period: dict = defaultdict(lambda: [0, 0, 0, 0])
    per_model: dict = defaultdict(lambda: [0, 0, 0, 0])
    unsure: set = set()
    for s in ref:
        periods = {unit(d) for d in _usage_days(s["file_stem"])}
        assert len(periods) == 1, (s["file_stem"], periods)  # the fixture fact the grouping relies on
        period = periods.pop()
        for i, k in enumerate(DT):
            per_period[period][i] += s["daily_totals"][k]
        complete = all(sum(m[rk] for m in s["by_model"]) == s["daily_totals"][k] for k, rk in zip(DT, REF_TOK))
        for m in s["by_model"]:
            for i, k in enumerate(REF_TOK):
                per_model[(period, m["modelName"])][i] += m[k]
        if not complete:
            unsure.add(period)
    return dict(per_period), dict(per_model), unsure


def _monday(d: date) -> str:
    return date.fromisocalendar(*d.isocalendar()[:2], 1).isoformat()


@pytest.mark.parametrize("name,key,unit", [("monthly", "month", lambda d: d.strftime("%Y-%m")),
                                           ("weekly", "week", _monday),
                                           ("daily", "date", lambda d: d.isoformat())])
def test_periods_per_model_equal_ccusage_grouped_by_period(fx, name, key, unit):
    rows = doc(fx, name, "--breakdown")[name]
    per_period, per_model, unsure = _expected(unit)
    assert {r[key]: [r[k] for k in TOK] for r in rows} == per_period
    got = {(r[key], m["model"]): [m[k] for k in TOK] for r in rows for m in r["breakdown"]}
    assert {k: v for k, v in got.items() if k[0] not in unsure} == \
        {k: v for k, v in per_model.items() if k[0] not in unsure}
    for k, v in per_model.items():  # where ccusage's per-model rows miss usage, ours hold at least theirs
        assert all(a >= b for a, b in zip(got[k], v)), k
    assert len(got) > len(per_period)  # some period has several models
    for r in rows:  # a period is the sum of its models
        for k in (*TOK, "tasks", "total_tokens"):
            assert r[k] == sum(m[k] for m in r["breakdown"]), (r[key], k)
        assert r["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in r["breakdown"]), abs=1e-5)
        assert r["models"] == sorted(m["model"] for m in r["breakdown"])


def test_weeks_start_monday_and_months_are_the_sums_of_their_days(fx):
    days = doc(fx, "daily")["daily"]
    for name, key, unit in (("weekly", "week", lambda s: _monday(date.fromisoformat(s))),
                            ("monthly", "month", lambda s: s[:7])):
        want: dict = defaultdict(lambda: defaultdict(int))
        for d in days:
            for k in (*TOK, "tasks", "tool_calls", "tool_failures"):
                want[unit(d["date"])][k] += d[k]
        rows = doc(fx, name)[name]
        assert [r[key] for r in rows] == sorted(want)
        for r in rows:
            assert {k: r[k] for k in want[r[key]]} == dict(want[r[key]])
            if name == "weekly":
                assert date.fromisoformat(r["week"]).weekday() == 0


@pytest.mark.parametrize("name", ["daily", "weekly", "monthly"])
def test_totals_are_the_sums_of_the_rows_in_json_csv_and_text(fx, name):
    d = doc(fx, name)
    rows, tot = d[name], d["totals"]
    for k in (*TOK, "tasks", "total_tokens", "tool_calls", "tool_failures", "unpriced_tasks"):
        assert tot[k] == sum(r[k] for r in rows), k
    assert tot["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows), abs=1e-5)
    assert tot["models"] == sorted({m for r in rows for m in r["models"]})
    last = list(csv.DictReader(io.StringIO(text(fx, name, "csv"))))[-1]
    assert last[{"daily": "date", "weekly": "week", "monthly": "month"}[name]] == "total"
    assert int(last["total_tokens"]) == tot["total_tokens"] and float(last["cost_usd"]) == tot["cost_usd"]
    lines = text(fx, name, "text").splitlines()
    total_line = next(ln for ln in lines if ln.startswith("total "))
    assert f"{tot['total_tokens']:,}" in total_line and f"${tot['cost_usd']:,.2f}" in total_line


def test_order_desc_is_newest_first_and_the_breakdown_csv_is_long(fx):
    asc = [r["week"] for r in doc(fx, "weekly")["weekly"]]
    desc = [r["week"] for r in doc(fx, "weekly", "--order", "desc")["weekly"]]
    assert desc == list(reversed(asc)) and asc == sorted(asc) and len(asc) > 1
    rows = list(csv.DictReader(io.StringIO(text(fx, "monthly", "csv", "--breakdown"))))
    js = doc(fx, "monthly", "--breakdown")["monthly"]
    assert [(r["month"], r["model"]) for r in rows[:-1]] == [(p["month"], m["model"]) for p in js
                                                             for m in p["breakdown"]]
    assert rows[-1]["month"] == "total" and rows[-1]["model"] == ""


def test_breakdown_only_for_period_reports(fx):
    r = run(fx, "--headless", "summary", "--breakdown", "--no-collect", check=False)
    assert r.returncode == 2 and "--breakdown" in r.stderr


# ------------------------------------------------------------------ projects and groups
def test_projects_are_the_sums_of_their_sessions_and_equal_ccusage(fx):
    sessions = doc(fx, "sessions")["sessions"]
    ref = {s["session_id"]: s for s in json.loads((CC / "ccusage_reference.json").read_text())["sessions"]}
    d = doc(fx, "projects")
    want: dict = defaultdict(lambda: defaultdict(int))
    for s in sessions:
        p = want[s["project"] or s["cwd"] or "-"]
        p["sessions"] += 1
        for k in ("tasks", "tool_calls", "tool_failures"):
            p[k] += s[k]
        r = ref[s["session_id"]]
        for k, rk in zip(TOK, DT):
            p[k] += r["daily_totals"][rk]  # ccusage's own token counts
    got = {r["project"]: {k: r[k] for k in ("sessions", "tasks", "tool_calls", "tool_failures", *TOK)}
           for r in d["projects"]}
    assert got == {k: dict(v) for k, v in want.items()}
    costs = [r["cost_usd"] for r in d["projects"]]
    assert costs == sorted(costs, reverse=True)
    assert d["totals"]["sessions"] == len(sessions) == doc(fx, "summary")["sessions"]


def test_a_group_name_filters_like_its_members(fx):
    d = doc(fx, "projects")
    group = next(g for g in d["groups"] if g["group"] == "client-spot")
    spot = doc(fx, "summary", "--project", "spotter")  # the one member
    by_group = doc(fx, "summary", "--project", "client-spot")
    assert group["members"] == ["spotter"] and group["sessions"] == spot["sessions"] == by_group["sessions"] > 0
    for k in (*TOK, "tasks", "tool_calls"):
        assert by_group[k] == spot[k] == group[k]
    members = [p for p in d["projects"] if "client-spot" in p["groups"]]
    assert sum(p["sessions"] for p in members) == group["sessions"]
    empty = next(g for g in d["groups"] if g["group"] == "empty")
    assert empty["sessions"] == 0 and doc(fx, "summary", "--project", "empty")["sessions"] == 0
    weekly = doc(fx, "weekly", "--project", "client-spot")["totals"]
    assert weekly["tasks"] == by_group["tasks"]


@pytest.mark.parametrize("groups,needle", [('groups = ["a"]', "expected a table"),
                                           ('groups = { a = [] }', "group 'a'"),
                                           ('groups = { a = [1] }', "group 'a'")])
def test_bad_project_groups_are_refused_naming_the_key(tmp_path, groups, needle):
    (tmp_path / "nexus").mkdir()
    (tmp_path / "nexus" / "insights.toml").write_text(f"[projects]\n{groups}\n")
    r = run(tmp_path, "--headless", "summary", "--no-collect", check=False)
    assert r.returncode == 2 and "[projects] groups" in r.stderr and needle in r.stderr


def test_the_mcp_tools_and_the_dashboard_take_a_group_name_too(fx):
    from zoneinfo import ZoneInfo

    from nexus_tui.app import NexusApp
    from nexus_tui.config import load_settings
    from nexus_tui.core.filters import Filters
    from nexus_tui.mcp_serve import Reader
    from tests.helpers import store_at

    settings = load_settings(fx / "nexus")
    assert settings.project_groups == {"client-spot": ("spotter",), "empty": ("no-such-project",)}
    store = store_at(fx / "nexus" / "insights.db")
    try:
        got, _text = Reader(store.engine, settings, ZoneInfo("UTC"), str(fx)).usage_summary(project="client-spot")
        want = doc(fx, "summary", "--project", "spotter")
        assert (got.sessions, got.tasks) == (want["sessions"], want["tasks"])
        app = NexusApp(settings, store)
        app.set_filters(Filters(project="client-spot"))
        assert app.filters.project_members == ("spotter",)
        app.set_filters(Filters(project="spotter"))
        assert app.filters.project_members == ()
    finally:
        store.close()


def test_tokens_per_minute_is_the_sessions_tokens_over_its_span(fx):
    rows = doc(fx, "sessions")["sessions"]
    seen = 0
    for r in rows:
        span_min = (datetime.fromisoformat(r["end_time"].replace("Z", "+00:00"))
                    - datetime.fromisoformat(r["start_time"].replace("Z", "+00:00"))).total_seconds() / 60
        if span_min < 1:
            assert r["tokens_per_minute"] is None
        else:
            seen += 1
            assert r["tokens_per_minute"] == pytest.approx(r["total_tokens"] / span_min, abs=0.06)
    assert seen >= 3
