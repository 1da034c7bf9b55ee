"""Files the app creates are its user's alone (issue 10, B11): files 0600, folders 0700, whatever the umask."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_cc_tree

UMASKS = [0o000, 0o022]


def _modes(root: Path) -> dict[str, int]:
    """Permission bits of every file and folder under ``root`` (``root`` itself included)."""
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def _assert_private(root: Path) -> None:
    modes = _modes(root)
    wrong = {k: oct(m) for k, m in modes.items()
             if m != (0o700 if (root / k).is_dir() else 0o600)}
    assert wrong == {}, wrong


@pytest.mark.parametrize("umask", UMASKS)
def test_ingest_and_mcp_wrap_create_only_private_files(tmp_path, umask):
    copy_cc_tree(tmp_path / "claude")
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus" / "home"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("NEXUS_INSIGHTS_DB", None)
    # the event log (what mcp-wrap writes through too): one event recorded by a process of that umask
    rec = ("from nexus_tui.recorder import Recorder; r = Recorder(); "
           "r.tool_call('t', latency_ms=3, success=True)")
    subprocess.run([sys.executable, "-c", rec], env=env, check=True, umask=umask, timeout=60)
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "ingest"], env=env, capture_output=True, text=True,
                       umask=umask, timeout=120)
    assert r.returncode == 0, r.stderr
    home = tmp_path / "nexus" / "home"
    names = {str(p.relative_to(home)) for p in home.rglob("*")}
    assert {"insights.db", "logs"} <= names, names
    assert any(n.startswith("logs/") and n.endswith(".jsonl") for n in names), names
    _assert_private(tmp_path / "nexus")  # the parent made for the home too


@pytest.mark.parametrize("umask", UMASKS)
def test_the_database_wal_and_shm_are_private_while_open(tmp_path, umask):
    from sqlalchemy import text

    from nexus_tui.store import open_store

    old = os.umask(umask)
    try:
        store = open_store(f"sqlite:///{tmp_path / 'db' / 'x.db'}")
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO schema_version (version, applied_at) VALUES (999, 'now')"))
        with store.engine.connect() as conn:  # held open: the -wal and -shm exist
            conn.execute(text("SELECT COUNT(*) FROM tasks")).scalar()
            files = {p.name for p in (tmp_path / "db").iterdir()}
            assert {"x.db", "x.db-wal", "x.db-shm"} <= files, files
            _assert_private(tmp_path / "db")
        store.close()
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    from nexus_tui.store import open_store

    db = tmp_path / "x.db"
    open_store(f"sqlite:///{db}").close()
    db.chmod(0o644)
    open_store(f"sqlite:///{db}").close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


@pytest.mark.parametrize("umask", UMASKS)
def test_the_demo_copy_and_its_transcripts_are_private(tmp_path, umask):
    from nexus_tui.demo import demo_copy

    old = os.umask(umask)
    try:
        dest = demo_copy(tmp_path / "home")
    finally:
        os.umask(old)
    assert dest.is_file() and any((dest.parent / "transcripts").iterdir())
    _assert_private(tmp_path / "home")


@pytest.mark.parametrize("umask", UMASKS)
def test_the_price_cache_and_event_log_helpers(tmp_path, umask, monkeypatch):
    from nexus_tui.collect import price_cache
    from nexus_tui.core import pricing
    from nexus_tui.private import private_dir, write_private
    from nexus_tui.recorder import Recorder

    monkeypatch.setattr(pricing, "new_entries", lambda: {"m\x1f20000": [1.0]})
    monkeypatch.setattr(pricing, "tables_version", lambda: "t")
    old = os.umask(umask)
    try:
        assert price_cache.save(tmp_path / "p" / "home")
        Recorder(tmp_path / "a" / "b" / "logs").event("session_end")
        private_dir(tmp_path / "c" / "d")
        write_private(tmp_path / "c" / "d" / "f.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "p" / "home" / price_cache.FILE).is_file()
    _assert_private(tmp_path / "p")
    _assert_private(tmp_path / "a")
    _assert_private(tmp_path / "c")


def test_the_alert_state_and_the_proxy_recordings_are_private(tmp_path):
    # two writers that once made 0644 files: the alert state (alerts.json) and the proxy's event log
    from nexus_tui.collect.alerts import AlertMonitor
    from nexus_tui.collect.proxy import EventSink, ProxyStats
    from nexus_tui.config import load_settings
    from nexus_tui.core.alerts import AlertState

    old = os.umask(0o022)
    try:
        settings = load_settings(home=str(tmp_path / "a" / "home"), db=f"sqlite:///{tmp_path / 'x.db'}",
                                 claude_dirs=(), lunaroute_dirs=())
        AlertMonitor(settings, None)._save(AlertState.loads(None))
        assert (tmp_path / "a" / "home" / "alerts.json").is_file()
        sink = EventSink(tmp_path / "p" / "logs", ProxyStats())
        try:
            sink._write(b'{"type":"proxy_request"}\n', 1)
        finally:
            sink.close()
        assert sink.stats.recorded == 1 and list((tmp_path / "p" / "logs").glob("*.jsonl"))
    finally:
        os.umask(old)
    _assert_private(tmp_path / "a")
    _assert_private(tmp_path / "p")


@pytest.mark.parametrize("umask", UMASKS)
def test_the_statusline_command_creates_only_private_files(tmp_path, umask):
    """The status-line command made its missing home with os.makedirs, whose parents take the umask's mode (0777
    under umask 0), and its log file with a mode the umask could change: it goes through private.py now."""
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "a" / "b" / "home"),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("NEXUS_INSIGHTS_DB", None)
    stdin = '{"session_id": "s1", "model": {"id": "claude-opus-4-6"}, "rate_limits": {"five_hour": ' \
            '{"used_percentage": 42, "resets_at": 1772370000}}}'
    r = subprocess.run([sys.executable, "-m", "nexus_tui", "statusline"], input=stdin, env=env, capture_output=True,
                       text=True, umask=umask, timeout=60)
    assert r.returncode == 0, r.stderr
    logs = list((tmp_path / "a" / "b" / "home" / "logs").glob("*.jsonl"))
    assert len(logs) == 1 and b'"statusline"' in logs[0].read_bytes()
    _assert_private(tmp_path / "a")


# every call that creates a file or a folder, outside private.py; each allowed one says why
_CREATES = re.compile(r"write_text\(|write_bytes\(|\.mkdir\(|os\.makedirs\(|os\.open\(|mkstemp|NamedTemporaryFile|"
                      r"\bopen\([^)]*[\"'][^\"']*[wax][^\"']*[\"']")
_ALLOWED = {
    ("collect/tail.py", "os.open(path, _OPEN_FLAGS)"): "reads (no O_CREAT)",
    ("store/lite.py", 'write_text(generate())'): "a developer's generator of source files",
    ("store/lite.py", 'write_text(lite_read.generate())'): "a developer's generator of source files",
    ("store/lite.py", 'write_text(generate_rollup())'): "a developer's generator of source files",
}


def test_nothing_creates_a_file_or_folder_except_through_private_py():
    root = Path(__file__).resolve().parents[1] / "nexus_tui"
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = str(path.relative_to(root))
        if rel == "private.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if _CREATES.search(code) and not any(rel == f and frag in code for f, frag in _ALLOWED):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert found == [], "create files through nexus_tui.private (0600 files, 0700 folders):\n" + "\n".join(found)


def test_nothing_is_written_through_a_symbolic_link_planted_where_the_app_writes(tmp_path, monkeypatch):
    """A link at a path the app writes (in a shared --home anyone may plant one) pointing at another file: the app
    appended its event log to that file, chmodded it 0600, created a database through a dangling link, truncated
    what a link at its price cache's temporary name pointed to, and SQLite wrote its -wal through a link. Now each
    writer refuses the link (counted as a dropped event, or a message naming it) and the other file is untouched."""
    import time as _time

    from nexus_tui import statusline
    from nexus_tui.collect import price_cache
    from nexus_tui.collect.proxy import EventSink, ProxyStats
    from nexus_tui.core import pricing
    from nexus_tui.private import tighten
    from nexus_tui.recorder import Recorder
    from nexus_tui.store import StoreError, open_store
    from nexus_tui.store.engine import quick_select

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    victim.chmod(0o644)
    home = tmp_path / "home"
    logs = home / "logs"
    logs.mkdir(parents=True)

    def plant(path: Path, target: Path = victim) -> Path:
        path.unlink(missing_ok=True)
        path.symlink_to(target)
        return path

    # the event log of the recorder (mcp-wrap), the status line and the proxy: today's file a link
    for t in (_time.time(), _time.time() + 5):  # today (and tomorrow, should midnight pass)
        day = _time.strftime("%Y-%m-%d", _time.gmtime(t))
        plant(logs / f"{day}.jsonl")
    rec = Recorder(logs)
    assert rec.event("session_end") is False and rec.dropped == 2  # its session_start too
    assert statusline.record(home, {"session_id": "s1"}) is False
    sink = EventSink(logs, ProxyStats())
    try:
        sink._write(b'{"type":"proxy_request"}\n', 1)
    finally:
        sink.close()
    assert (sink.stats.recorded, sink.stats.dropped) == (0, 1)
    # a temporary file's name (the price cache, like every atomic write) a link: made anew, the target untouched
    monkeypatch.setattr(pricing, "new_entries", lambda: {"m\x1f20000": [1.0]})
    monkeypatch.setattr(pricing, "tables_version", lambda: "t")
    planted = plant(home / f"{price_cache.FILE}.tmp{os.getpid()}")
    assert price_cache.save(home) and (home / price_cache.FILE).is_file() and not planted.is_symlink()
    # tighten (run on the database and its -wal/-shm) leaves the file a link points to as it is
    tighten(plant(home / "x.db-wal"))
    # the database: a dangling link at its path, or a link at the -wal SQLite would open beside it
    with pytest.raises(StoreError, match="not opened.*symbolic link"):
        open_store(f"sqlite:///{plant(home / 'new.db', tmp_path / 'made-through-the-link.db')}")
    assert not (tmp_path / "made-through-the-link.db").exists()
    db = home / "insights.db"
    open_store(f"sqlite:///{db}").close()
    plant(Path(f"{db}-wal"))
    with pytest.raises(StoreError, match=f"not opened: {re.escape(str(db))}-wal: .*symbolic link"):
        open_store(f"sqlite:///{db}")
    assert quick_select(f"sqlite:///{db}", "SELECT 1") is None  # the fast paths leave it to the store's message
    assert victim.read_bytes() == b"precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
