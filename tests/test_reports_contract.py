"""The reports' contract: golden files, docs/reports.md equal to them, terminal-safe output, one session
definition, the --db forms, checked settings, numbers for reading and one vocabulary for failures."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from nexus_tui.core import report as R
from tests.conftest import REPO, copy_cc_tree
from tests.helpers import store_at

REPORTS = ("summary", "sessions", "models", "tools", "daily", "weekly", "monthly", "projects", "efficiency")
GOLDEN_ARGS = {"monthly": ("--breakdown",)}  # the golden monthly shows the per-model rows (docs list their keys)
GROUPS_TOML = '[projects]\ngroups = { client-spot = ["spotter"], empty = ["no-such-project"] }\n'
GOLDEN = REPO / "tests" / "golden"
RANGE = ("--tz", "UTC", "--since", "2025-06-01", "--until", "2026-02-28")
UPDATE = os.environ.get("NEXUS_UPDATE_GOLDEN") == "1"  # regenerate: NEXUS_UPDATE_GOLDEN=1 pytest this file


def run(tmp: Path, *args, check=True):
    env = dict(os.environ, HOME=str(tmp), NEXUS_INSIGHTS_HOME=str(tmp / "nexus"), CLAUDE_CONFIG_DIR=str(tmp / "claude"),
               COLUMNS="200")
    env.pop("NEXUS_INSIGHTS_DB", None)
    env["NEXUS_INSIGHTS_MACHINE"] = "golden"  # the machine id is in the sessions rows: a fixed one for the files
    r = subprocess.run([sys.executable, "-m", "nexus_tui", *args], env=env, capture_output=True, text=True,
                       timeout=120, cwd=tmp)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    copy_cc_tree(tmp / "claude")
    (tmp / "nexus").mkdir()
    (tmp / "nexus" / "insights.toml").write_text(GROUPS_TOML)
    run(tmp, "ingest")
    return tmp


def out(tmp, name, fmt, *extra) -> str:
    return run(tmp, "--headless", name, "--format", fmt, "--no-collect", *extra).stdout


# ------------------------------------------------------------------ A27: golden files and the documented keys
@pytest.mark.parametrize("fmt", ["json", "csv", "txt"])
@pytest.mark.parametrize("name", REPORTS)
def test_reports_equal_their_golden_files(fx, name, fmt):
    got = out(fx, name, "text" if fmt == "txt" else fmt, *RANGE, *GOLDEN_ARGS.get(name, ()))
    path = GOLDEN / f"{name}.{fmt}"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


def _key_paths(obj, path: str, into: dict) -> dict:
    """{path: [keys in order]} of a JSON document: objects by their path, arrays of objects as path[]."""
    if isinstance(obj, dict):
        into[path] = list(obj)
        for k, v in obj.items():
            _key_paths(v, f"{path}.{k}", into)
    elif isinstance(obj, list) and obj and isinstance(obj[0], dict):
        _key_paths(obj[0], f"{path}[]", into)
    return into


def _documented_keys() -> dict[str, list[str]]:
    doc = (REPO / "docs" / "reports.md").read_text(encoding="utf-8")
    keys = {}
    for block in re.findall(r"```keys\n(.*?)```", doc, re.S):
        for line in block.strip().splitlines():
            path, _, names = line.partition(":")
            keys[path.strip()] = names.split()
    return keys


def test_docs_list_exactly_the_keys_of_each_golden_json_in_order():
    documented = _documented_keys()
    want = {}
    for name in REPORTS + ("errors", "audit"):  # errors and audit: golden files of tests/test_errors_audit.py
        doc = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
        assert doc["schema_version"] == 2 and doc["report"] == name
        want.update(_key_paths(doc, name, {}))
    assert documented == want


def test_summary_top_rows_are_rows_of_the_models_and_tools_reports(fx):
    s = json.loads(out(fx, "summary", "json"))
    models = json.loads(out(fx, "models", "json"))["models"]
    tools = json.loads(out(fx, "tools", "json"))["tools"]
    assert s["top_models"] == models[:5] and s["top_tools"] == tools[:5]


def test_csv_headers_are_the_json_fields(fx):
    for name in ("sessions", "models", "tools", "daily", "weekly", "projects", "efficiency"):
        rows = json.loads((GOLDEN / f"{name}.json").read_text())[name]
        header = (GOLDEN / f"{name}.csv").read_text().splitlines()[0].split(",")
        assert header == list(rows[0])


# ------------------------------------------------------------------ A20: one string per number
def test_a_cost_is_the_same_string_in_json_and_csv_at_a_stated_precision():
    js = json.loads((GOLDEN / "sessions.json").read_text())["sessions"]
    cs = list(csv.DictReader(io.StringIO((GOLDEN / "sessions.csv").read_text())))
    raw = (GOLDEN / "sessions.json").read_text()
    for j, c in zip(js, cs):
        assert re.search(rf'"cost_usd": {re.escape(c["cost_usd"])},', raw)
        assert json.loads(c["cost_usd"]) == j["cost_usd"] == round(j["cost_usd"], R.USD_DECIMALS)
        assert j["cache_hit_rate"] == round(j["cache_hit_rate"], R.RATE_DECIMALS)
    day = json.loads((GOLDEN / "daily.json").read_text())["daily"]
    for d in day:
        assert len(repr(d["cost_usd"]).partition(".")[2]) <= R.USD_DECIMALS


def test_numbers_for_reading():
    assert R.fmt_ms(7079.3 * 3_600_000) == "294d 23h" and R.fmt_ms(90_000_000) == "1d 1h"
    assert R.fmt_ms(5 * 3_600_000) == "5h 00m"
    # one duration format on the screens and in the reports: a headless latency of a minute read '1.0m', the TUI's
    # '1m 00s'
    from nexus_tui.core.fmt import fmt_duration
    from nexus_tui.screens.common import fmt_ms as screen_ms

    for ms in (350, 4_200, 41_000, 60_000, 90_500, 7_500_000, 90_000_000):
        assert R.fmt_ms(ms) == fmt_duration(ms) == screen_ms(ms)
    assert [R.fmt_ms(ms) for ms in (60_000, 90_500, 12_600)] == ["1m 00s", "1m 30s", "13s"]
    assert R.plural(1, "session") == "1 session" and R.plural(2, "session") == "2 sessions"
    assert R.plural(1200, "line") == "1,200 lines"
    assert R.usd_column([12.5, 0.1234, 0.0]) == ["$12.50", "$0.12", "$0.00"]  # one precision in a column
    assert R.usd_column([0.5, 0.00001, None]) == ["$0.5000", "<$0.0001", "-"]
    assert R.usd_column([0.0, 0.0]) == ["$0.00", "$0.00"]
    txt = (GOLDEN / "sessions.txt").read_text()
    lines = txt.splitlines()
    # numbers right-aligned: every cost cell ends at the same column; money has one precision per column
    header = lines[0]
    end = header.index("cost") + len("cost")
    costs = [ln[:end].split()[-1] for ln in lines[2:] if ln[:4].isdigit()]  # the table's rows
    assert all(c.startswith("$") and len(c.partition(".")[2]) == 2 for c in costs)
    assert "(s)" not in "".join((GOLDEN / f"{n}.txt").read_text() for n in REPORTS)


def test_one_session_reads_singular(fx):
    txt = out(fx, "sessions", "text", "--tz", "UTC", "--since", "2025-06-10", "--until", "2025-06-10")
    assert "\n1 session\n" in txt and "session(s)" not in txt


# ------------------------------------------------------------------ A21: one vocabulary
def test_errors_means_one_thing(fx):
    for name in REPORTS:
        doc = json.loads(out(fx, name, "json"))
        keys = {k for ks in _key_paths(doc, name, {}).values() for k in ks}
        assert {k for k in keys if "error" in k} <= {"api_errors"}, name
        assert "error" not in out(fx, name, "csv").splitlines()[0].replace("api_errors", "")
        txt = out(fx, name, "text").replace("API errors", "")
        assert "error" not in txt.lower(), name


# ------------------------------------------------------------------ A3: terminal-safe output
EVIL = "evil\x1b[31m\x07\x9b2J\u202edaer\u2066x\x00y\u2028z\u3164j\u200dw"  # and invisible ones: a filler, a joiner


def _evil_tree(root: Path) -> None:
    p = root / "claude" / "projects" / "-evil"
    p.mkdir(parents=True)
    base = {"sessionId": "s-evil", "version": "2.1.0", "cwd": f"/tmp/{EVIL}", "gitBranch": EVIL}
    lines = [
        {**base, "type": "assistant", "timestamp": "2026-05-01T10:00:00Z", "requestId": "req_1", "uuid": "u1",
         "message": {"id": "m1", "model": f"claude-{EVIL}", "role": "assistant",
                     "usage": {"input_tokens": 5, "output_tokens": 7},
                     "content": [{"type": "tool_use", "id": "tu1", "name": f"mcp__{EVIL}__{EVIL}", "input": {}}]}},
        {**base, "type": "user", "timestamp": "2026-05-01T10:00:02Z", "uuid": "u2",
         "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "is_error": True,
                                                  "content": EVIL}]}},
    ]
    (p / "s.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def _strings(obj) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


def _dangerous_chars(s: str) -> set[str]:
    """Code points a terminal acts on, or draws as nothing (the data holds no emoji: every joiner is one)."""
    return {c for c in s if (R._dangerous(c) or c in "\u3164\u200d") and c != "\n"}


def test_control_characters_from_data_are_escaped_in_every_report(tmp_path):
    _evil_tree(tmp_path)
    run(tmp_path, "ingest")
    seen_escape = False
    for name in REPORTS:
        for fmt in ("text", "csv", "json"):
            r = run(tmp_path, "--headless", name, "--format", fmt, "--no-collect", "--tz", "UTC")
            assert not _dangerous_chars(r.stdout), (name, fmt)
            assert not _dangerous_chars(r.stderr), (name, fmt)
            seen_escape |= "\\x1b" in r.stdout or "\\u001b" in r.stdout
            if fmt == "json":  # escaped, not lost: the data reads back as it was
                strings = _strings(json.loads(r.stdout))
                assert any(EVIL in v for v in strings) or name in ("daily", "weekly", "monthly", "summary"), name
    assert seen_escape
    tools = json.loads(run(tmp_path, "--headless", "tools", "--format", "json", "--no-collect").stdout)["tools"]
    assert any(EVIL in (t["tool"] or "") + (t["server"] or "") for t in tools)


def test_error_messages_escape_control_characters(tmp_path):
    r = run(tmp_path, "--headless", "summary", "--since", "\x1b[2J\x9b\u202e", check=False)
    assert r.returncode == 2 and "\\x1b[2J\\x9b\\u202e" in r.stderr and not _dangerous_chars(r.stderr)
    r = run(tmp_path, "--headless", "summary", "--tz", "Mars/\x1b]0;pwned\x07", check=False)
    assert r.returncode == 2 and not _dangerous_chars(r.stderr)


def test_safe_leaves_ordinary_text_alone():
    for s in ("café → naïve 日本語", "👩‍💻 tab-free", "emoji\ufe0f", "\ue0a0 icon"):
        assert R.safe(s) == s
    assert R.safe("a\tb\nc\x7f") == "a\\x09b\\x0ac\\x7f"


# ------------------------------------------------------------------ A16: one definition of a session
def test_one_session_definition_for_every_view(fx, tmp_path):
    store = store_at(fx / "nexus" / "insights.db")
    t = 1770768000000  # 2026-02-11T00:00:00Z
    with store.engine.begin() as conn:
        conn.execute(text("INSERT OR IGNORE INTO sessions (id, start_time, cli_tool, start_ms, end_ms) VALUES "
                          "('empty-wrap', '2026-02-11T00:00:00Z', 'mcp', :t, :t),"
                          "('tools-only', '2026-02-11T00:00:00Z', 'mcp', :t, :e)"), {"t": t, "e": t + 5000})
        conn.execute(text("INSERT OR IGNORE INTO tool_calls (id, session_id, tool_name, mcp_server, started_ms, "
                          "ended_ms, latency_ms, success) VALUES ('tc-only', 'tools-only', 'ping', 'demo', :t, :e, "
                          "5000, 1)"), {"t": t, "e": t + 5000})
    from nexus_tui.store.read import sessions as RS

    from nexus_tui.core.filters import Filters
    from nexus_tui.store.read import efficiency as RE

    assert RS.session_count(store.engine) == 8  # the screens' "sessions in the database": the same definition
    eff = RE.efficiency_totals(store.engine, Filters())  # the Efficiency screen's "N of M sessions"
    assert eff["sessions"] == 8 and eff["no_change_sessions"] <= 8
    store.close()
    try:
        for extra in ((), ("--tz", "UTC", "--since", "2026-02-11", "--until", "2026-02-11"),
                      ("--tz", "UTC", "--since", "2026-02-10", "--until", "2026-02-12")):
            s = json.loads(out(fx, "summary", "json", *extra))
            rows = json.loads(out(fx, "sessions", "json", *extra))["sessions"]
            ids = {r["session_id"] for r in rows}
            assert s["sessions"] == len(rows), extra
            assert "empty-wrap" not in ids and "tools-only" in ids, extra
            txt = out(fx, "summary", "text", *extra)
            assert f"sessions        {len(rows)}" in txt
    finally:
        store = store_at(fx / "nexus" / "insights.db")
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM tool_calls WHERE id = 'tc-only'"))
            conn.execute(text("DELETE FROM sessions WHERE id IN ('empty-wrap', 'tools-only')"))
        store.close()


# ------------------------------------------------------------------ A17: --db forms
def test_db_accepts_a_plain_path_as_sqlite(tmp_path):
    db = tmp_path / "plain" / "x.db"
    r = run(tmp_path, "--db", str(db), "--headless", "summary", "--no-collect", "--format", "json", check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sessions"] == 0 and db.is_file()
    r = run(tmp_path, "--db", "rel.db", "--headless", "summary", "--no-collect", check=False)
    assert r.returncode == 0 and (tmp_path / "rel.db").is_file()


def test_postgres_urls_pick_psycopg_and_name_the_missing_extra(tmp_path):
    from nexus_tui.config import normalize_db_url

    assert normalize_db_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_db_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_db_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_db_url("/tmp/x.db") == "sqlite:////tmp/x.db"
    code = ("import sys\nsys.modules['psycopg'] = None\nfrom nexus_tui.cli import main\n"
            "main(['--db', 'postgresql://u@localhost/n', '--headless', 'summary', '--no-collect'])\n")
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "n"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "nexus-insights: a PostgreSQL --db needs the postgres extra: pip install 'nexus-insights[postgres]'"]
    r = run(tmp_path, "--db", "mysql://u@h/db", "--headless", "summary", check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "unsupported" in r.stderr



@pytest.mark.parametrize("url,says", [
    ("sqlite://", "names no database file"), ("sqlite:///", "names no database file"),
    ("sqlite:///:memory:", "names no database file"), ("sqlite:///file:x?mode=memory&uri=true", "no database file"),
    ("postgresql://u:hunter2hunter2@[::1", "not a database URL"), ("postgres://u:hunter2hunter2@h:abc/db", "URL")])
def test_a_db_url_that_keeps_nothing_or_is_no_url_is_refused_in_one_line(tmp_path, url, says):
    """'sqlite://' and its kin are in-memory databases: ingest said '… stored' and kept nothing (exit 0); a URL
    that is not one said only 'invalid literal for int() with base 10'. The password is never shown."""
    r = run(tmp_path, "--db", url, "ingest", check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert says in r.stderr and "--db" in r.stderr and "hunter2" not in r.stderr


# ------------------------------------------------------------------ A26: checked settings
@pytest.mark.parametrize("toml,key", [
    ('[budget]\ndaily_usd = "twenty"\n', "[budget] daily_usd"),
    ("[budget]\ndaily_usd = -5\n", "[budget] daily_usd"),
    ("[budget]\nmonthly_usd = true\n", "[budget] monthly_usd"),
    ("[otlp]\nport = 99999\n", "[otlp] port"),
    ('[otlp]\nenabled = "yes"\n', "[otlp] enabled"),
    ("[collector]\npoll_seconds = 0\n", "[collector] poll_seconds"),
    # a wait this long raised OverflowError in the app's collector thread after its first pass: ingest stopped
    ("[collector]\npoll_seconds = 1e308\n", "[collector] poll_seconds"),
    ("[collector]\npoll_seconds = 1e-300\n", "[collector] poll_seconds"),  # a busy loop
    ('[proxy]\nupstream = "http://[::1"\n', "[proxy] upstream"),  # the proxy said only 'Invalid IPv6 URL'
    ('[proxy]\nupstream = "http://h:99999"\n', "[proxy] upstream"),
    ('[pricing]\nreference_model = ""\n', "[pricing] reference_model"),
    # a NUL: the alert command's thread died on 'embedded null byte' (a traceback) when an alert came; the folder
    # was taken and never read
    ('[alerts]\ncommand = "notify\\u0000x"\n', "[alerts] command"),
    ('[lunaroute]\ndirs = ["/tmp/\\u0000x"]\n', "[lunaroute] dirs"),
    ("budget = 5\n", "[budget]"),
    ("[budget\nnope", "not a readable TOML file"),
])
def test_a_bad_setting_names_the_key_and_file_and_exits_2(tmp_path, toml, key):
    from nexus_tui.config import SettingsError, load_settings

    home = tmp_path / "nexus"
    home.mkdir()
    (home / "insights.toml").write_text(toml)
    with pytest.raises(SettingsError) as e:
        load_settings(home)
    assert key in str(e.value) and str(home / "insights.toml") in str(e.value)
    for args in (("--headless", "summary", "--no-collect"), ("ingest",)):
        r = run(tmp_path, *args, check=False)
        assert r.returncode == 2 and key in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_good_settings_are_typed(tmp_path):
    from nexus_tui.config import SECTIONS, Settings, read_config

    attrs = {k.attr for sec in SECTIONS.values() for k in sec.values() if k.attr}
    assert attrs <= set(Settings.__dataclass_fields__)
    p = tmp_path / "insights.toml"
    p.write_text('[budget]\ndaily_usd = 20\nmonthly_usd = 400.5\n[otlp]\nenabled = true\nport = 4319\n'
                 '[collector]\npoll_seconds = 1\n[proxy]\nanything = "kept raw"\n')
    try:
        raw, values = read_config(p)
    finally:
        p.unlink()
    assert values.pop("unknown") == [f"{p}: [proxy] anything is not a setting of nexus-insights (a typo?); ignored"]
    assert values == {"daily_budget_usd": 20.0, "monthly_budget_usd": 400.5, "otlp_enabled": True,
                      "otlp_port": 4319, "poll_seconds": 1.0}
    assert raw["proxy"] == {"anything": "kept raw"}



def test_a_key_or_section_that_is_no_setting_is_said_and_the_command_runs(tmp_path):
    """'[budget] daly_usd = 5' (a typo) was ignored without a word: no budget, and nothing said why. Each unknown
    section or key is one line on stderr, on the fast paths and click's alike; [statusline] and [machine] are
    checked as the other sections are (the status line itself still falls back on a bad value)."""
    home = tmp_path / "nexus"
    home.mkdir()
    (home / "insights.toml").write_text('[budget]\ndaly_usd = 5\n[budgets]\ndaily_usd = 5\n[statusline]\n'
                                        'segments = ["model"]\n[machine]\nname = "box"\n')
    want = [f"nexus-insights: {home / 'insights.toml'}: {what} is not a setting of nexus-insights (a typo?); ignored"
            for what in ("[budget] daly_usd", "[budgets]")]
    for args in (["--headless", "summary", "--no-collect"], ["ingest"], ["collect", "--once"]):  # (click: collect)
        r = run(tmp_path, *args, check=False)
        assert r.returncode == 0 and r.stderr.splitlines()[:2] == want, (args, r.stderr)
    (home / "insights.toml").write_text("[statusline]\nsegments = 5\n")
    r = run(tmp_path, "--headless", "summary", "--no-collect", check=False)
    assert r.returncode == 2 and "[statusline] segments = 5: expected a list of segments" in r.stderr

# the escaping as a property: nothing dangerous gets through, JSON reads back the same text
from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@hsettings(max_examples=300, deadline=None)
@given(_text)
def test_safe_and_json_escape_every_dangerous_code_point(s):
    shown = R.safe(s)
    assert not _dangerous_chars(shown.replace("\n", "\\n"))
    assert R.safe(shown) == shown  # already safe text is left alone
    doc = R.to_json({"name": s, "rows": [s]})
    assert not _dangerous_chars(doc) and json.loads(doc) == {"name": s, "rows": [s]}
    cell = R.to_csv([{"a": s}]).splitlines()
    assert all(not _dangerous_chars(line) for line in cell)


def test_collect_once_prints_what_it_did(fx):
    r = run(fx, "collect", "--once")
    (line,) = r.stdout.strip().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d read \d+ files?, [\d.]+ MB: \+0 tasks, \+0 tool calls, \+0 sessions, "
                        r"0 skipped lines", line), line


def test_mcp_wrap_warns_about_a_bad_setting_and_still_runs_the_server(tmp_path):
    home = tmp_path / "nexus"
    home.mkdir()
    (home / "insights.toml").write_text('[budget]\ndaily_usd = "twenty"\n')
    r = run(tmp_path, "mcp-wrap", "--", sys.executable, "-c", "import sys; print('served'); sys.exit(3)",
            check=False)
    assert r.returncode == 3 and "served" in r.stdout  # the wrapped server ran; its exit code passes through
    assert "warning" in r.stderr and "[budget] daily_usd" in r.stderr


def test_format_without_headless_is_refused_in_one_line(tmp_path):
    r = run(tmp_path, "--format", "json", check=False)
    assert r.returncode == 2 and r.stderr.strip() == \
        "nexus-insights: --format needs --headless REPORT (the dashboard has no output format)"


def test_an_unreachable_postgres_is_one_line_exit_2(tmp_path):
    assert R.one_line("refused\n\tIs the server running?\x1b") == "refused Is the server running?\\x1b"
    r = run(tmp_path, "--db", "postgresql://u:secret@127.0.0.1:1/n", "--headless", "summary", "--no-collect",
            check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "secret" not in r.stderr and "127.0.0.1" in r.stderr
