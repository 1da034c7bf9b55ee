"""The light read (store/lite_read.py, generated store/read_sql.py): the common reports through ``sqlite3`` with the
store's own compiled statements, without SQLAlchemy, print exactly what the store's path prints; anything it does
not hold falls back to the store's path."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import copy_cc_tree

REPO = Path(__file__).resolve().parents[1]
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu")
# the CLI in a fresh interpreter; "store" as the first argument turns the light read off
_RUN = ("import sys, json\n"
        "from click.testing import CliRunner\n"
        "import nexus_tui.headless as h\n"
        "if sys.argv[1] == 'store':\n"
        "    h.LITE_REPORTS = ()\n"
        "from nexus_tui.cli import main\n"
        "r = CliRunner().invoke(main, sys.argv[2:], catch_exceptions=False)\n"
        "print(json.dumps([r.exit_code, r.stdout, r.stderr, 'sqlalchemy' in sys.modules,\n"
        "                  'sqlmodel' in sys.modules, 'pydantic' in sys.modules]))\n")


def _env(home: Path, claude: Path, machine: str = "m1") -> dict:
    return {"HOME": str(home), "NEXUS_INSIGHTS_HOME": str(home / "nexus"), "CLAUDE_CONFIG_DIR": str(claude),
            "NEXUS_INSIGHTS_MACHINE": machine, "PATH": "/usr/bin:/bin", "TZ": "UTC"}


def _cli(env: dict, path: str, *args: str) -> tuple[str, str, bool]:
    """(stdout, stderr, whether SQLAlchemy, SQLModel or pydantic was imported) of one command."""
    out = subprocess.run([sys.executable, "-c", _RUN, path, *args], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    code, stdout, stderr, sqla, sqlm, pyd = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0, stderr
    return stdout, stderr, sqla or sqlm or pyd


def _ingest(env: dict) -> None:
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "ingest"], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]


def _two_machines(home: Path, claude: Path) -> Path:
    """The tree ingested from two machines into one database (the second one's rows under its prefix)."""
    for m in ("m1", "m2"):
        _ingest(_env(home, claude, m))
    return home / "nexus" / "insights.db"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lite-read-real")
    copy_cc_tree(tmp / "claude")
    return tmp, _two_machines(tmp, tmp / "claude")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from bench.gen import generate

    tmp = tmp_path_factory.mktemp("lite-read-bench")
    generate(tmp / "claude", 2.0)
    return tmp, _two_machines(tmp, tmp / "claude")


def _days(db: Path) -> list[str]:
    """The UTC dates of the first, a middle and the last task."""
    with sqlite3.connect(db) as c:
        lo, hi = c.execute("SELECT min(ts_ms), max(ts_ms) FROM tasks").fetchone()
    return [datetime.fromtimestamp(t / 1000, UTC).date().isoformat() for t in (lo, (lo + hi) // 2, hi)]


def _ranges(db: Path) -> list[tuple[str | None, str | None]]:
    first, mid, last = _days(db)
    return [(None, None), (mid, None), (None, mid), (first, last), (mid, mid)]


def _render_both(db: Path, report: str, since, until, tz_name: str, fmt: str, breakdown: bool, order: str,
                 cost_mode: str = "auto") -> tuple[str, str]:
    from nexus_tui.headless import build_filters, render
    from nexus_tui.headless_periods import Options
    from nexus_tui.store import open_store
    from nexus_tui.store.lite_read import LiteReader

    tz = ZoneInfo(tz_name)
    f = build_filters(since, until, None, tz).with_(cost_mode=cost_mode)
    opts = Options(breakdown=breakdown, order=order)
    store = open_store(f"sqlite:///{db}", create=False)
    reader = LiteReader.open(str(db))
    assert reader is not None
    try:
        return (render(report, store.engine, f, tz, fmt, periods=opts),
                render(report, reader, f, tz, fmt, periods=opts))
    finally:
        reader.close()
        store.close()


@pytest.mark.parametrize("tree", ["real", "bench"])
def test_reports_equal_the_store_paths_byte_for_byte(tree, request):
    """daily, weekly, monthly in every format, with and without --breakdown, both orders, open and closed ranges,
    in zones of every rollup level (UTC days, whole hours, :30 and :45 quarter hours), every cost mode; models,
    tools, summary and sessions likewise."""
    _tmp, db = request.getfixturevalue(tree)
    checked = 0
    for report in ("daily", "weekly", "monthly"):
        for fmt in ("json", "csv", "text"):
            for tz_name in ZONES:
                for since, until in _ranges(db):
                    for breakdown, order, mode in ((False, "asc", "auto"), (True, "desc", "calculate"),
                                                   (True, "asc", "display")):
                        store, lite = _render_both(db, report, since, until, tz_name, fmt, breakdown, order, mode)
                        assert lite == store, (report, fmt, tz_name, since, until, breakdown, order, mode)
                        checked += 1
    assert checked == 3 * 3 * len(ZONES) * 5 * 3
    # models (sums, shares, p95 latencies), tools (percentiles, waits), summary (all of it, sessions, API errors),
    # sessions (every session of the range with its sums, models and title)
    for report in ("models", "tools", "summary", "sessions"):
        for fmt in ("json", "csv", "text"):
            for tz_name in ("UTC", "Asia/Kolkata"):
                for since, until in _ranges(db):
                    for mode in ("auto", "calculate", "display"):
                        store, lite = _render_both(db, report, since, until, tz_name, fmt, False, "asc", mode)
                        assert lite == store, (report, fmt, tz_name, since, until, mode)
    rows = json.loads(_render_both(db, "models", None, None, "UTC", "json", False, "asc")[1])["models"]
    assert len(rows) >= 2 and any(r["p95_latency_ms"] for r in rows)
    rows = json.loads(_render_both(db, "tools", None, None, "UTC", "json", False, "asc")[1])["tools"]
    assert len(rows) >= 2 and any(r["p95_ms"] for r in rows)
    doc = json.loads(_render_both(db, "summary", None, None, "UTC", "json", False, "asc")[1])
    with sqlite3.connect(db) as c:
        assert doc["sessions"] == c.execute("SELECT count(DISTINCT session_id) FROM tasks").fetchone()[0] > 0
    rows = json.loads(_render_both(db, "sessions", None, None, "UTC", "json", False, "asc")[1])["sessions"]
    assert len(rows) == doc["sessions"] and sum(r["tasks"] for r in rows) == doc["tasks"]
    # the reports hold numbers: both machines' tasks summed (twice the one-machine figures)
    store, _lite = _render_both(db, "daily", None, None, "UTC", "json", False, "asc")
    totals = json.loads(store)["totals"]
    with sqlite3.connect(db) as c:
        assert totals["tasks"] == c.execute("SELECT count(*) FROM tasks").fetchone()[0] > 0
        assert c.execute("SELECT count(DISTINCT machine) FROM tasks").fetchone()[0] == 2


def test_the_compiled_statements_are_the_store_paths(real):
    """For random ranges of whole quarter hours, in every zone level and cost mode, the light read runs the very SQL
    and parameters SQLAlchemy compiles for the store's path."""
    from sqlalchemy.dialects import sqlite

    from nexus_tui.core.filters import Filters
    from nexus_tui.store.lite_read import bind, statements
    from nexus_tui.store.periods import statements as store_statements
    from nexus_tui.store.spans import zone_level

    rng = random.Random(13)
    q = 900_000
    base = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp() * 1000)
    for _ in range(300):
        tz = ZoneInfo(rng.choice(ZONES))
        since = rng.choice([None, base + rng.randrange(0, 2000) * q])
        until = rng.choice([None, (since or base) + rng.randrange(1, 4000) * q])
        f = Filters(since_ms=since, until_ms=until, cost_mode=rng.choice(("auto", "calculate", "display")))
        entry, parts = statements(f, tz)
        for ours, stmt in zip(entry[:2], store_statements(f, zone_level(tz, since, until))):
            c = stmt.compile(dialect=sqlite.dialect())
            assert bind(ours, parts) == (str(c), tuple(c.params[k] for k in c.positiontup))


def test_the_models_statements_are_the_store_paths(real):
    """The models report's sums, latency histograms and latency reads: the SQL and parameters of the store's path."""
    from sqlalchemy.dialects import sqlite

    from nexus_tui.core.filters import Filters
    from nexus_tui.store.lite_read import bind, model_statements, named
    from nexus_tui.store.read import plan as RP
    from nexus_tui.store.read import usage as RU

    def compiled(stmt):
        c = stmt.compile(dialect=sqlite.dialect())
        return str(c), tuple(c.params[k] for k in c.positiontup)

    rng = random.Random(17)
    q = 900_000
    base = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp() * 1000)
    for _ in range(200):
        since = rng.choice([None, base + rng.randrange(0, 2000) * q])
        until = rng.choice([None, (since or base) + rng.randrange(1, 4000) * q])
        f = Filters(since_ms=since, until_ms=until, cost_mode=rng.choice(("auto", "calculate", "display")))
        (sums, hists), parts = model_statements(f)
        assert bind(sums, parts) == compiled(RU.usage_by_statement(f, "model"))
        store_hists = RP.task_hist_statements(f, [], "model", RP.T.c.model)
        assert [(raw, bind(e, parts)) for raw, e in hists] == [(raw, compiled(st)) for raw, st in store_hists]
        model = rng.choice([None, "claude-opus-4-6"])
        lo = rng.randrange(0, 10 ** 6)
        hi = lo + rng.randrange(0, 10 ** 5)
        entry = named(f, "task_latencies", model is None)
        col = RU.DIMENSIONS["model"]
        want = RP.values_statement(RP.T.c.latency_ms, RP.task_conds(f) + [col.is_(None) if model is None
                                                                             else col == model], lo, hi)
        assert bind(entry, (), since=since, until=until, key=model, lo=lo, hi=hi) == compiled(want)


def test_the_summary_and_tools_statements_are_the_store_paths(real):
    """The summary's and the tools report's reads: the SQL and parameters of the store's path."""
    from sqlalchemy.dialects import sqlite

    from nexus_tui.core.filters import Filters
    from nexus_tui.store.lite_read import bind, day_plan, named
    from nexus_tui.store.read import plan as RP
    from nexus_tui.store.read import tools as RT
    from nexus_tui.store.read import usage as RU
    from nexus_tui.store.read_sql import SUMMARY, TOOLS

    def compiled(stmt):
        c = stmt.compile(dialect=sqlite.dialect())
        return str(c), tuple(c.params[k] for k in c.positiontup)

    rng = random.Random(19)
    q = 900_000
    base = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp() * 1000)
    for _ in range(200):
        since = rng.choice([None, base + rng.randrange(0, 2000) * q])
        until = rng.choice([None, (since or base) + rng.randrange(1, 4000) * q])
        f = Filters(since_ms=since, until_ms=until, cost_mode=rng.choice(("auto", "calculate", "display")))
        key, parts = day_plan(f)
        ends = {"since": since, "until": until}
        store = RU.summary_statements(f)
        for k, e in SUMMARY[f"{key} {f.cost_mode}"].items():
            assert bind(e, parts) == compiled(store[k])
        for k in ("sessions", "api_errors"):
            assert bind(named(f, k), (), **ends) == compiled(store[k])
        assert bind(TOOLS[key]["rows"], parts) == compiled(RT.tools_report_statement(f))
        want = RP.tool_hist_statements(f, [], ["tool_name", "mcp_server"], [RP.TC.c.tool_name, RP.TC.c.mcp_server])
        assert [(raw, bind(e, parts)) for raw, e in TOOLS[key]["hists"]] == [(raw, compiled(s)) for raw, s in want]
        assert bind(named(f, "waits"), (), **ends) == compiled(RT.waits_statement(RP.tool_conds(f)))
        server = rng.choice([None, "github"])
        lo = rng.randrange(0, 10 ** 6)
        hi = lo + rng.randrange(0, 10 ** 5)
        conds = RT.tool_latency_conds(RP.tool_conds(f), "Bash", server)
        assert bind(named(f, "tool_latencies", server is None), (), **ends, key="Bash", server=server, lo=lo,
                    hi=hi) == compiled(RP.values_statement(RP.TC.c.latency_ms, conds, lo, hi))


def test_the_sessions_statements_are_the_store_paths(real):
    """The sessions list's reads (with their IN lists of any length) and the titles': the SQL and parameters of the
    store's path."""
    from sqlalchemy.dialects import sqlite

    from nexus_tui.core.filters import Filters
    from nexus_tui.store import titles as TI
    from nexus_tui.store.lite_read import bind, named
    from nexus_tui.store.read import sessions as RS
    from nexus_tui.store.read_sql import NAMED

    def compiled(stmt):
        c = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True})
        return str(c), tuple(c.params[k] for k in c.positiontup)

    rng = random.Random(23)
    base = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp() * 1000)
    for _ in range(100):
        since = rng.choice([None, base + rng.randrange(0, 10 ** 9)])
        until = rng.choice([None, (since or base) + rng.randrange(1, 10 ** 9)])
        f = Filters(since_ms=since, until_ms=until, cost_mode=rng.choice(("auto", "calculate", "display")))
        ids = [f"s{rng.randrange(10 ** 6)}" for _ in range(rng.randrange(1, 700))]
        ends = {"since": since, "until": until, "ids": ids}
        ids_q, rows_q = RS.list_statements(f, ids)
        assert bind(named(f, "session_ids"), (), **ends) == compiled(ids_q)
        assert bind(named(f, f"session_rows {f.cost_mode}"), (), **ends) == compiled(rows_q)
        assert bind(named(f, "session_models"), (), **ends) == compiled(RS.session_models_statement(f, ids))
        lines, summaries = TI.title_statements(ids)
        assert bind(NAMED["title_lines"], (), ids=ids) == compiled(lines)
        assert bind(NAMED["title_summaries"], (), ids=ids) == compiled(summaries)


def test_the_generated_statements_are_up_to_date():
    """store/read_sql.py holds what the read side compiles now (its data compared decompressed: another zlib may
    compress the same bytes otherwise)."""
    from nexus_tui.store import lite_read

    def content(src: str) -> tuple:
        ns: dict = {}
        exec(compile(src, "read_sql", "exec"), ns)
        names = ("SCHEMA_VERSION", "PERIODS_TASK_COLUMNS", "MODELS_COLUMNS", "SUMMARY_USAGE_COLUMNS", "SESSION_COLUMNS")
        return ([ln for ln in src.splitlines() if not ln.startswith("    '") or "': b" not in ln],
                {k: ns[k] for k in names}, {k: ns["section"](k) for k in ns["_BLOBS"]})

    assert content((REPO / "nexus_tui" / "store" / "read_sql.py").read_text()) == content(lite_read.generate()), \
        "store/read_sql.py is stale: python -m nexus_tui.store.lite"


@pytest.mark.parametrize("args", [
    ("daily", "--format", "json"),
    ("weekly", "--format", "text", "--breakdown", "--tz", "Asia/Kolkata"),
    ("monthly", "--format", "csv", "--order", "desc", "--since", "2026-02-11", "--tz", "Europe/Berlin"),
    ("models", "--format", "text", "--until", "2026-02-11"),
    ("models", "--format", "json", "--cost-mode", "display"),
    ("summary", "--format", "text", "--tz", "Asia/Kathmandu", "--since", "2026-02-12"),
    ("tools", "--format", "csv"),
    ("sessions", "--format", "text", "--tz", "Europe/Berlin", "--since", "2026-02-12"),
])
def test_the_cli_reads_without_sqlalchemy(real, args):
    tmp, _db = real
    env = _env(tmp, tmp / "claude")
    lite, _e1, heavy = _cli(env, "lite", "--headless", *args, "--no-collect")
    store, _e2, heavy_store = _cli(env, "store", "--headless", *args, "--no-collect")
    assert not heavy and heavy_store
    assert lite == store and lite.strip()


@pytest.mark.parametrize("args", [
    ("--project", "spotter"),  # a filter the compiled statements do not hold
    ("--machine", "m2"),
    ("--since", "2026-02-12T10:07"),  # a bound inside a quarter hour: raw rows
])
def test_what_the_light_read_does_not_hold_takes_the_store_path(real, args):
    tmp, _db = real
    env = _env(tmp, tmp / "claude")
    lite, _e1, heavy = _cli(env, "lite", "--headless", "daily", "--format", "json", "--no-collect", *args)
    store, _e2, _h = _cli(env, "store", "--headless", "daily", "--format", "json", "--no-collect", *args)
    assert heavy  # the store's path was taken
    assert lite == store and json.loads(lite)["daily"]


def test_queued_rollup_marks_take_the_store_path(tmp_path):
    """A database with rollup marks queued (rollups not whole yet) is read by the store's path."""
    from nexus_tui.store.lite_read import LiteReader

    copy_cc_tree(tmp_path / "claude")
    env = _env(tmp_path, tmp_path / "claude")
    _ingest(env)
    db = tmp_path / "nexus" / "insights.db"
    assert LiteReader.open(str(db)) is not None
    with sqlite3.connect(db) as c:
        row = c.execute("SELECT session_id, bucket_ms FROM task_rollups LIMIT 1").fetchone()
        c.execute("INSERT INTO rollup_dirty (kind, session_id, bucket_ms) VALUES ('task', ?, ?)", row)
    assert LiteReader.open(str(db)) is None
    _out, _err, heavy = _cli(env, "lite", "--headless", "daily", "--format", "json", "--no-collect")
    assert heavy


def _append_line(victim: Path, n: int) -> None:
    """One assistant line as Claude Code appends it (bench/ccusage.py's line, at a fixed time)."""
    line = {"type": "assistant", "sessionId": "bench-append", "version": "2.1.39", "uuid": f"u-append-{n}",
            "timestamp": "2026-02-12T10:00:00.000Z", "requestId": f"req_append_{n}",
            "message": {"id": f"msg_append_{n}", "model": "claude-opus-4-6",
                        "usage": {"input_tokens": 1, "output_tokens": 1}}}
    with open(victim, "ab") as f:
        f.write(json.dumps(line).encode() + b"\n")


def test_collect_and_report_after_one_appended_line_without_sqlalchemy(bench, tmp_path):
    """The bench's case: a line appended, then ``--headless daily`` with its collector pass: the whole command
    imports no SQLAlchemy, and prints what the store's path prints for the same database."""
    src, _db = bench
    got = {}
    for path in ("lite", "store"):
        home = tmp_path / path
        shutil.copytree(src / "claude", home / "claude")
        env = _env(home, home / "claude")
        _ingest(env)
        got[path, "before"] = _cli(env, "lite", "--headless", "daily", "--format", "json", "--tz", "UTC",
                                   "--no-collect")
        victim = sorted((home / "claude").rglob("*.jsonl"))[0]
        for n in range(2):
            _append_line(victim, n)
            got[path, n] = _cli(env, path, "--headless", "daily", "--format", "json", "--tz", "UTC")
    for n in range(2):
        (lite, lite_err, heavy), (store, store_err, _h) = got["lite", n], got["store", n]
        assert not heavy
        assert lite == store and lite_err == store_err
    assert got["lite", "before"] == got["store", "before"]

    def day(out: str) -> dict:
        return {r["date"]: r for r in json.loads(out)["daily"]}.get("2026-02-12", {"tasks": 0, "tokens_in": 0})

    before, after = day(got["lite", "before"][0]), day(got["lite", 1][0])
    assert (after["tasks"], after["tokens_in"]) == (before["tasks"] + 2, before["tokens_in"] + 2)
