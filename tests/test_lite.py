"""The light ingest path (collect/light.py, store/lite.py): a few appended lines written through ``sqlite3`` with the
writer's own statements, without SQLAlchemy, store exactly what the store's path stores."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_cc_tree

REPO = Path(__file__).resolve().parents[1]
# runs the ingest command in a fresh interpreter; "store" as the first argument turns the light path off
_RUN = ("import sys, json\n"
        "from click.testing import CliRunner\n"
        "import nexus_tui.collect.light as light\n"
        "if sys.argv[1] == 'store':\n"
        "    light.LIGHT_MAX_BYTES = -1\n"
        "from nexus_tui.cli import main\n"
        "r = CliRunner().invoke(main, ['ingest'], catch_exceptions=False)\n"
        "print(json.dumps([r.exit_code, r.output, 'sqlalchemy' in sys.modules, 'genai_prices' in sys.modules]))\n")
ROLLUP_TABLES = ("task_rollups", "tool_rollups", "task_hours", "tool_hours", "task_days", "tool_days",
                 "task_session_days", "tool_session_days", "rollup_dirty")


def _ingest(home: Path, claude: Path, path: str = "light", prices: list | None = None,
            **env_more: str) -> tuple[int, list[str], bool]:
    env = {"HOME": str(home), "NEXUS_INSIGHTS_HOME": str(home / "nexus"), "CLAUDE_CONFIG_DIR": str(claude),
           "NEXUS_INSIGHTS_MACHINE": "m-test", "PATH": "/usr/bin:/bin", **env_more}
    out = subprocess.run([sys.executable, "-c", _RUN, path], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    code, text, sqla, genai = json.loads(out.stdout.strip().splitlines()[-1])
    if prices is not None:
        prices.append(genai)
    lines = [x.split(" in ")[0] if x.startswith("files:") else x for x in text.strip().splitlines()]
    return code, lines, sqla


def _tables(db: Path, root: Path) -> dict[str, list[tuple]]:
    """Every row of every table the ingest writes, sorted; paths relative to ``root``, times of the pass left out."""
    out = {}
    with sqlite3.connect(db) as c:
        for t in ("sessions", "tasks", "tool_calls", "errors", *ROLLUP_TABLES):
            cols = [r[1] for r in c.execute(f"PRAGMA table_info({t})")]
            if t in ROLLUP_TABLES:  # a rollup row's surrogate id differs between two runs of the same path
                cols = [n for n in cols if n != "id"]
            names = ", ".join('"%s"' % n for n in cols)
            rows = [tuple(v.replace(str(root), "<root>") if isinstance(v, str) else v for v in r)
                    for r in c.execute(f"SELECT {names} FROM {t}")]
            out[t] = sorted(rows, key=repr)
        out["ingest_cursors"] = sorted(
            (path.replace(str(root), "<root>"), off, size, head, state, lines, skipped, machine)
            for path, off, size, head, state, lines, skipped, machine in c.execute(
                'SELECT path, "offset", size, head_hash, state, lines, skipped, machine FROM ingest_cursors'))
    # ingest audit rows name the file and the time of the pass: compared by what they say
    out["errors"] = sorted(r for r in out["errors"] if "ingest:" not in str(r[0]))
    return out


def _pieces(src: Path, rounds: int, seed: int) -> dict[Path, list[bytes]]:
    """Each file's bytes cut at random places (mid-line included) into ``rounds`` consecutive pieces."""
    rng = random.Random(seed)
    out = {}
    for f in sorted(src.rglob("*.jsonl")):
        data = f.read_bytes()
        step = len(data) / rounds  # about even, at a random place in each step
        cuts = sorted(min(len(data), int(step * (k + rng.uniform(0.5, 1.5)))) for k in range(rounds - 1))
        out[f.relative_to(src)] = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    return out


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "src"
    copy_cc_tree(src)
    return src


def test_appended_in_pieces_equals_the_store_path_and_one_pass(tmp_path, source):
    rounds = 8
    pieces = _pieces(source, rounds, seed=13)
    from nexus_tui.collect.light import LIGHT_MAX_BYTES

    sizes = [sum(len(p[i]) for p in pieces.values()) for i in range(rounds)]
    assert all(0 < n <= LIGHT_MAX_BYTES for n in sizes[1:]), sizes
    runs = {}
    for path in ("light", "store"):
        root = tmp_path / path
        claude, home = root / "claude", root / "home"
        home.mkdir(parents=True)
        reports, light_rounds = [], 0
        for i in range(rounds):
            for rel, parts in pieces.items():
                dest = claude / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open(dest, "ab") as f:
                    f.write(parts[i])
            code, lines, sqla = _ingest(home, claude, path)
            assert code == 0
            reports.append(lines)
            light_rounds += not sqla
        runs[path] = (reports, light_rounds, _tables(home / "nexus" / "insights.db", root))
    # the first round creates the database (the store's path); the others are a few hundred KB each: light
    assert runs["light"][1] == rounds - 1 and runs["store"][1] == 0
    assert runs["light"][0] == runs["store"][0]  # what each round printed
    assert all(" 0 tasks (0 updated)" not in r[1] for r in runs["light"][0][1:])  # each light round wrote tasks
    assert runs["light"][2] == runs["store"][2]
    # and both equal one pass over the whole tree
    one = tmp_path / "one"
    (one / "home").mkdir(parents=True)
    shutil_tree = one / "claude"
    for rel in pieces:
        (shutil_tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (shutil_tree / rel).write_bytes((source / rel).read_bytes())
    assert _ingest(one / "home", shutil_tree, "store")[0] == 0
    whole = _tables(one / "home" / "nexus" / "insights.db", one)
    light = runs["light"][2]
    with sqlite3.connect(one / "home" / "nexus" / "insights.db") as c:
        cols = [r[1] for r in c.execute("PRAGMA table_info(tool_calls)")]
    # where a tool call was first seen (a sub-agent's file or its replay in the main file: the store keeps the
    # first) depends on the order the pieces arrive in, on the store's path too
    where = [cols.index(n) for n in ("source_path", "use_offset", "use_length")]
    for t in whole:
        if t == "ingest_cursors":  # the same offsets and line counts; the size examined differs by when it was read
            assert [r[:2] + r[3:] for r in light[t]] == [r[:2] + r[3:] for r in whole[t]]
        elif t == "tool_calls":
            def drop(rows):
                return [tuple(v for i, v in enumerate(r) if i not in where) for r in rows]

            assert drop(light[t]) == drop(whole[t])
        else:
            assert light[t] == whole[t], t
    assert whole["tasks"] and whole["task_rollups"] and whole["tool_rollups"]
    # the cold pass (parser workers) saved the prices they derived and the coming days': a line of today written
    # after it is priced without the price tables' import, and costs what the tables say
    import time

    victim = sorted(shutil_tree.rglob("*.jsonl"))[0]
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    line = {"type": "assistant", "sessionId": "lite-now", "version": "2.1.39", "uuid": "u-now", "timestamp": now,
            "requestId": "req_lite_now", "message": {"id": "msg_lite_now", "model": "claude-opus-4-6",
                                                     "usage": {"input_tokens": 1000, "output_tokens": 200}}}
    with open(victim, "a") as f:
        f.write(json.dumps(line) + "\n")
    genai: list = []
    code, _lines, sqla = _ingest(one / "home", shutil_tree, "light", genai)
    assert code == 0 and not sqla and genai == [False]
    from nexus_tui.core import pricing

    with sqlite3.connect(one / "home" / "nexus" / "insights.db") as c:
        got = c.execute("SELECT cost_usd, ts_ms FROM tasks WHERE id = 'req_lite_now'").fetchone()
    assert got[0] == pricing.price("claude-opus-4-6", got[1], tokens_in=1000, tokens_out=200)[0] > 0


def test_other_kinds_of_rows_and_unknown_machines_take_the_store_path(tmp_path):
    from nexus_tui.store.lite import write_pass, writable
    from nexus_tui.store.rows import Prepared

    p = Prepared()
    p.rows["routing"] = [("r1", "t1", "why", None, None)]
    assert not writable(p)
    assert not writable(Prepared(ratings=[("t1", 1)]))
    assert writable(Prepared(rows={"tasks": [], "routing": []}))
    db = tmp_path / "x.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE machines (id TEXT PRIMARY KEY, name TEXT, home BOOLEAN, first_seen_ms INTEGER, "
                  "last_seen_ms INTEGER)")
    assert write_pass(str(db), [(Prepared(), [])], "nobody", None) is None  # registering is the store's


def test_the_compiled_statements_are_the_writers(tmp_path):
    """store/sqlite_sql.py is what ``python -m nexus_tui.store.lite`` generates now, and its statements are the
    ones the writer compiles on a real engine."""
    from nexus_tui.store import lite, open_store, sqlite_sql, writer
    from nexus_tui.store.version import SCHEMA_VERSION

    assert Path(sqlite_sql.__file__).read_text() == lite.generate(), "run python -m nexus_tui.store.lite"
    assert sqlite_sql.SCHEMA_VERSION == SCHEMA_VERSION
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        from nexus_tui.store.engine import upsert
        from nexus_tui.store.schema import ErrorEvent

        builds = {"sessions": writer._session_upsert, "tasks": writer._task_upsert,
                  "tool_use": lambda c: writer._tool_upserts(c)[0],
                  "tool_result": lambda c: writer._tool_upserts(c)[1],
                  "errors": lambda c: upsert(c, ErrorEvent.__table__).on_conflict_do_nothing(index_elements=["id"])}
        with store.engine.connect() as conn:
            for name, build in builds.items():
                sql, keys, defaults = writer._compiled(conn, f"check-{name}", build)
                assert (sql, keys, defaults) == sqlite_sql.STATEMENTS[name], name
        from nexus_tui.store.rows import CursorUpdate, Prepared

        store.writer.write(Prepared(), [CursorUpdate("p", "claude_code", 1, 2, 3, 4, 3, "h", None, 1, 0, "now")])
        assert writer._COMPILED[("sqlite", "cursors")] == sqlite_sql.STATEMENTS["cursors"]
    finally:
        store.close()



def test_another_machine_writes_the_same_through_the_light_path(tmp_path, source):
    """A second machine's rows (ids and cursor paths prefixed with its id: docs/teams.md) in a shared database."""
    rounds = 3
    files = sorted(source.rglob("*.jsonl"))
    mine = [f for f in files if "-fixtures-sniffly" in str(f)]  # about 1 MB: the second machine's tree
    pieces = {k: v for k, v in _pieces(source, rounds, seed=5).items() if "-fixtures-sniffly" in str(k)}
    assert mine and len(pieces) == len(mine)
    got = {}
    for path in ("light", "store"):
        root = tmp_path / path
        db = root / "shared.db"
        first = root / "first"
        (first / "claude" / "projects" / "-p").mkdir(parents=True)
        (first / "claude" / "projects" / "-p" / "a.jsonl").write_bytes(files[-1].read_bytes())
        assert _ingest(first, first / "claude", path, NEXUS_INSIGHTS_DB=str(db))[0] == 0  # the home machine
        home, claude = root / "second", root / "second-claude"
        home.mkdir()
        light = []
        for i in range(rounds):
            for rel, parts in pieces.items():
                (claude / rel).parent.mkdir(parents=True, exist_ok=True)
                with open(claude / rel, "ab") as f:
                    f.write(parts[i])
            code, lines, sqla = _ingest(home, claude, path, NEXUS_INSIGHTS_DB=str(db), NEXUS_INSIGHTS_MACHINE="m-two")
            assert code == 0
            light.append(not sqla)
        got[path] = (light, _tables(db, root))
    assert got["light"][0] == [False, True, True] and got["store"][0] == [False, False, False]
    assert got["light"][1] == got["store"][1]
    assert any(r[0].startswith("m-two/") for r in got["light"][1]["tasks"])
    assert all(p.startswith("m-two/") for p, *_ in got["light"][1]["ingest_cursors"] if "second-claude" in p)


def test_postgresql_takes_the_store_path(tmp_path):
    from nexus_tui.collect import parsing
    from nexus_tui.collect.light import small_pass
    from nexus_tui.collect.sources import ClaudeCodeSource

    sources = [ClaudeCodeSource([tmp_path])]
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    ahead = parsing.start(url, sources, machine="m")
    assert small_pass(url, ahead, sources, "m", None) is None


def _status_events(n: int) -> list[bytes]:
    """Status-line events of three sessions as `nexus-insights statusline` records them (docs/events.md), the
    windows' use rising, one model changing, one event with no model."""
    out = []
    for i in range(n):
        sid = f"sl-{i % 3}"
        ev = {"v": 1, "type": "statusline", "ts": f"2026-12-01T10:{i // 60:02d}:{i % 60:02d}.000Z", "session_id": sid,
              "context_used_pct": 10 + i % 80, "context_window_size": 200000, "cost_usd": round(0.01 * i, 2),
              "lines_added": i, "lines_removed": i // 2,
              "rate_limits": {"five_hour": {"used_percentage": min(100, i), "resets_at": 1796137200},
                              "seven_day": {"used_percentage": i // 4, "resets_at": 1796600000}}}
        if i % 7:
            ev["model"], ev["model_id"] = ("Opus 4.6", "claude-opus-4-6") if i < n // 2 else ("Sonnet 4.5",
                                                                                           "claude-sonnet-4-5")
        out.append(json.dumps(ev).encode() + b"\n")
    return out


def test_status_line_events_take_the_light_path_and_store_what_the_store_path_stores(tmp_path):
    # a status line writes an event after every message: a pass over a few of them must not load SQLAlchemy
    events = _status_events(60)
    cuts = [0, 5, 17, 18, 40, 60]
    got = {}
    for path in ("light", "store"):
        root = tmp_path / path
        claude, home = root / "claude", root / "home"
        (claude / "projects").mkdir(parents=True)
        logs = home / "nexus" / "logs"
        logs.mkdir(parents=True)
        (logs / "2026-12-01.jsonl").write_bytes(b"")
        assert _ingest(home, claude, path)[0] == 0  # creates the database (the store's path)
        light_rounds = 0
        for a, b in zip(cuts, cuts[1:]):
            with open(logs / "2026-12-01.jsonl", "ab") as f:
                f.write(b"".join(events[a:b]))
            code, _lines, sqla = _ingest(home, claude, path)
            assert code == 0
            light_rounds += not sqla
        with sqlite3.connect(home / "nexus" / "insights.db") as c:
            got[path] = (light_rounds, {t: sorted(c.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                                        for t in ("session_stats", "quota_snapshots", "sessions", "tasks")})
    assert got["light"][0] == len(cuts) - 1 and got["store"][0] == 0
    assert got["light"][1] == got["store"][1]
    stats = {r[0]: r for r in got["light"][1]["session_stats"]}
    assert set(stats) == {"sl-0", "sl-1", "sl-2"} and len(got["light"][1]["quota_snapshots"]) > 60
    with sqlite3.connect(tmp_path / "light" / "home" / "nexus" / "insights.db") as c:  # the newest event's model
        models = dict(c.execute("SELECT session_id, model FROM session_stats"))
    assert models == {"sl-0": "claude-sonnet-4-5", "sl-1": "claude-sonnet-4-5", "sl-2": "claude-sonnet-4-5"}
