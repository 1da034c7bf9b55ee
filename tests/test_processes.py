"""Processes end with their parent (issue 10, A7): a killed ``ingest`` leaves no parser worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_shared


def _children(pid: int) -> set[int]:
    """Living (not zombie) processes whose parent is ``pid``, from /proc."""
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.add(int(d))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_ingest_leaves_no_parser_worker_alive(tmp_path, sig):
    require_shared()
    from bench.gen import generate

    generate(tmp_path / "claude", mb=24)
    env = dict(os.environ, HOME=str(tmp_path), NEXUS_INSIGHTS_HOME=str(tmp_path / "nexus"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"), PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    env.pop("NEXUS_INSIGHTS_DB", None)
    p = subprocess.Popen([sys.executable, "-m", "nexus_tui", "ingest"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        workers: set[int] = set()
        deadline = time.monotonic() + 60
        while len(workers) < 2 and p.poll() is None and time.monotonic() < deadline:
            workers |= _children(p.pid)
            time.sleep(0.02)
        assert len(workers) >= 2, "the ingest finished before its workers were seen"
        p.send_signal(sig)
        p.wait(30)
        if sig == signal.SIGTERM:
            assert p.returncode == 128 + signal.SIGTERM  # the shell's code for a process ended by the signal
        deadline = time.monotonic() + 5  # the watch polls twice a second; the kernel's signal is at once
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [w for w in workers if _alive(w)]
        assert left == [], f"parser workers still alive after the ingest was killed: {left}"
    finally:
        if p.poll() is None:
            p.kill()
        for w in _children(p.pid) | locals().get("workers", set()):
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
