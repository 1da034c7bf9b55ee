"""Ingest against ccusage, in one run: our cold ingest vs ccusage ``daily``, our re-run after one appended line vs a
ccusage re-run, and a headless report vs ccusage, on the same generated tree, runs alternated.

usage: python -m bench.ccusage --mb 1000 [--dir /tmp/nexus-bench] [--keep] [--repeat 3] [--ccusage 20.0.24]

ccusage is installed with npm, pinned, into its own folder (``<dir>/ccusage-<version>``) and run by node with
``--offline`` (its bundled prices; no network) and ``CLAUDE_CONFIG_DIR`` pointing at the tree. When it cannot be
installed or run (no node or npm, no registry, no native binary for this platform), the comparison is skipped with a
message saying why and our own figures are still printed.

Targets (issue 13, section 4): cold ingest no slower than ccusage ``daily`` (ratio <= 1); the whole command after one
appended line at most a tenth of a ccusage re-run (ratio <= 0.1); peak memory under 300 MB. Each figure is the best
of ``--repeat`` runs; the CPU time (the command and its workers) is printed too, since the wall-time ratio of a
2-process command against a 1-process one moves with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.gen import generate

CCUSAGE_VERSION = "20.0.24"  # the version the fixtures' reference totals were made with (native binary on npm)


@dataclass
class Run:
    wall: float
    cpu: float  # user + system of the process and every child it waited for
    rss_mb: int  # peak RSS of the largest of them
    out: str


def timed(cmd: list[str], env: dict, cwd: str | None = None) -> Run:
    """Run ``cmd``; wall time, CPU time and peak RSS from ``wait4`` (this process's other children don't count)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=cwd)
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, etext = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {p.returncode}: {etext[-400:]}")
    return Run(wall, ru.ru_utime + ru.ru_stime, int(ru.ru_maxrss / 1024), text)


def ccusage_command(folder: Path, version: str) -> tuple[list[str] | None, str]:
    """The command that runs the pinned ccusage (installing it first), or None and why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None, "node or npm is not installed"
    pkg = folder / "node_modules" / "ccusage" / "package.json"
    if not pkg.is_file() or json.loads(pkg.read_text()).get("version") != version:
        folder.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund",
                            f"ccusage@{version}"], capture_output=True, text=True)
        if r.returncode != 0 or not pkg.is_file():
            return None, f"npm install ccusage@{version} failed: {(r.stderr or r.stdout).strip()[-300:]}"
    meta = json.loads(pkg.read_text())
    binp = meta.get("bin")
    rel = binp.get("ccusage") if isinstance(binp, dict) else binp
    if not isinstance(rel, str):
        return None, "ccusage's package.json names no command"
    cmd = [node, str(pkg.parent / rel)]
    r = subprocess.run(cmd + ["--version"], capture_output=True, text=True)
    if r.returncode != 0 or version not in r.stdout:
        return None, f"ccusage {version} does not run here: {(r.stderr or r.stdout).strip()[-300:]}"
    return cmd, r.stdout.strip()


def ours(home: Path, claude: Path, *args: str) -> Run:
    env = dict(os.environ, HOME=str(home), NEXUS_INSIGHTS_HOME=str(home / "nexus"), CLAUDE_CONFIG_DIR=str(claude))
    env.pop("NEXUS_INSIGHTS_DB", None)
    return timed([sys.executable, "-m", "nexus_tui", *args], env)


def theirs(cmd: list[str], home: Path, claude: Path) -> Run:
    env = dict(os.environ, HOME=str(home), CLAUDE_CONFIG_DIR=str(claude))
    return timed(cmd + ["daily", "--json", "--offline"], env)


def append_line(victim: Path) -> None:
    """One assistant line as Claude Code appends it: dated now (a model's price for today is in the price cache the
    cold ingest saved: collect/price_cache.py; a day or model never priced before costs the tables' import once)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    line = {"type": "assistant", "sessionId": "bench-append", "version": "2.1.39", "uuid": f"u{time.time_ns()}",
            "timestamp": now, "requestId": f"req_bench_{time.time_ns()}",
            "message": {"id": f"msg_bench_{time.time_ns()}", "model": "claude-opus-4-6",
                        "usage": {"input_tokens": 1, "output_tokens": 1}}}
    with open(victim, "ab") as f:
        f.write(orjson.dumps(line) + b"\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/nexus-bench"))
    ap.add_argument("--keep", action="store_true", help="reuse a generated tree of the same size")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best of each figure is reported")
    ap.add_argument("--ccusage", default=CCUSAGE_VERSION, help="the ccusage version to install and run")
    a = ap.parse_args()
    base = a.dir / f"{a.mb:g}mb"
    claude = base / "claude"
    marker = base / "generated.json"
    if not (a.keep and marker.exists()):
        t0 = time.perf_counter()
        g = generate(claude, a.mb)
        marker.write_text(json.dumps({"bytes": g.bytes, "files": g.files, "sessions": len(g.expected)}))
        print(f"generated {g.files} files, {g.bytes / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s")
    info = json.loads(marker.read_text())
    victim = sorted(claude.rglob("*.jsonl"))[0]

    cc, why = ccusage_command(a.dir / f"ccusage-{a.ccusage}", a.ccusage)
    if cc is None:
        print(f"SKIPPED the comparison with ccusage: {why}")
    cc_home = base / "ccusage-home"
    cc_home.mkdir(parents=True, exist_ok=True)
    home = base / "home"
    figs: dict[str, list[Run]] = {k: [] for k in ("cc", "cold", "cc_after", "append", "idle", "report", "start")}
    empty = base / "empty-home"
    for i in range(a.repeat):
        if cc:
            figs["cc"].append(theirs(cc, cc_home, claude))
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        figs["cold"].append(ours(home, claude, "ingest"))
        append_line(victim)
        figs["append"].append(ours(home, claude, "ingest"))
        figs["idle"].append(ours(home, claude, "ingest"))
        if cc:
            figs["cc_after"].append(theirs(cc, cc_home, claude))
        append_line(victim)
        figs["report"].append(ours(home, claude, "--headless", "daily", "--format", "json"))
        shutil.rmtree(empty, ignore_errors=True)
        empty.mkdir(parents=True)
        figs["start"].append(ours(empty, empty / "no-claude", "ingest"))
        print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1].wall:.2f}s" for k, v in figs.items() if v), flush=True)

    best = {k: min(v, key=lambda r: r.wall) for k, v in figs.items() if v}
    cpu = {k: min(r.cpu for r in v) for k, v in figs.items() if v}
    rss = {k: max(r.rss_mb for r in v) for k, v in figs.items() if v}
    names = {"cc": f"ccusage daily --offline ({why if cc else 'not run'})", "cold": "our cold ingest",
             "append": "our ingest after one appended line", "idle": "our ingest, nothing new", "cc_after": "ccusage daily, re-run after it",
             "report": "our headless daily report (after one line)", "start": "our start-up (no sources)"}
    print(f"\nbest of {a.repeat} rounds; tree {info['bytes'] / 1e6:.1f} MB, {info['files']} files, "
          f"{info['sessions']} sessions; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    print(f"{'figure':<58} {'wall':>8} {'CPU':>8} {'peak RSS':>9}")
    for k, r in best.items():
        print(f"{names[k]:<58} {r.wall:7.2f}s {cpu[k]:7.2f}s {rss[k]:6d} MB")
    if cc:
        print(f"\ncold ingest / ccusage daily: {best['cold'].wall / best['cc'].wall:.2f}x wall, "
              f"{cpu['cold'] / cpu['cc']:.2f}x CPU (target <= 1)")
        print(f"after one line / ccusage re-run: {best['append'].wall / best['cc_after'].wall:.3f}x wall, "
              f"{cpu['append'] / cpu['cc_after']:.3f}x CPU (target <= 0.1)")
        print(f"nothing new / ccusage re-run: {best['idle'].wall / best['cc_after'].wall:.3f}x wall, "
              f"{cpu['idle'] / cpu['cc_after']:.3f}x CPU")
        print(f"headless daily report / ccusage re-run: {best['report'].wall / best['cc_after'].wall:.3f}x wall")
    print(f"our peak RSS: {max(rss[k] for k in ('cold', 'append', 'report'))} MB (target < 300 MB)")
    print("\ncold ingest said:\n" + "\n".join("  " + x for x in best["cold"].out.strip().splitlines()))


if __name__ == "__main__":
    main()
