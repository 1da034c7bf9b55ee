"""Generate synthetic Claude Code transcript trees of a chosen size from the real fixtures' shapes.

Each synthetic session is a copy of a real fixture session (flat v1.0 files, the v2.1 layout with
``<session>/subagents/agent-*.jsonl`` and ``agent-acompact-*``, flat files with ``agent_progress`` replays) with every
id made fresh (session ids, line uuids, message ids, request ids, tool_use ids, agent ids), streaming duplicates
kept, and a few malformed lines added. Because a copy only renames ids, its totals equal its template's, which are
ccusage's ``daily_totals``: the generator returns the totals every session must come out with.

usage: python -m bench.gen OUT_DIR --mb N [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "claude_code"

_ID = re.compile(rb"(?:msg_|req_|toolu_)[A-Za-z0-9]{16,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                 rb"|\bagent-a[0-9a-f]{6,}|\"agentId\":\"a?[0-9a-f]{6,}\"|acompact-[0-9a-f]{6}")
MALFORMED = [b'{"type":"assistant","message":{"id":"broken', b"\x00\x01 binary noise \xff\xfe",
             b'["not", "an", "object"]', b'{"type":"user","timestamp":12345,"sessionId":7}']


@dataclass
class Template:
    """One real session: its files (relative path -> bytes) and its expected totals."""

    session_id: str
    files: dict[str, bytes]
    totals: dict


@dataclass
class Generated:
    root: Path  # the folder holding projects/
    bytes: int = 0
    files: int = 0
    malformed: int = 0
    expected: dict[str, dict] = field(default_factory=dict)  # session id -> ccusage daily totals


def templates(fixtures: Path = FIXTURES) -> list[Template]:
    ref = json.loads((fixtures / "ccusage_reference.json").read_text())
    by_stem = {s["file_stem"]: s for s in ref["sessions"]}
    out = []
    for f in sorted((fixtures / "sniffly").glob("*.jsonl")) + sorted((fixtures / "spotter").glob("*.jsonl")):
        s = by_stem.get(f.stem)
        if s is None:
            continue
        files = {f.name: f.read_bytes()}
        sub = f.parent / f.stem / "subagents"
        if sub.is_dir():
            for a in sorted(sub.glob("*.jsonl")):
                files[f"{f.stem}/subagents/{a.name}"] = a.read_bytes()
        out.append(Template(s["session_id"], files, s["daily_totals"]))
    return out


def _renamer(tag: str):
    def sub(m: re.Match) -> bytes:
        s = m.group(0)
        if s.startswith(b'"agentId":"'):
            inner = s[11:-1]
            return b'"agentId":"' + inner[:-6] + tag[-6:].encode() + b'"'
        if s.startswith(b"agent-a"):
            return s[:-6] + tag[-6:].encode()
        if s.startswith(b"acompact-"):
            return b"acompact-" + tag[-6:].encode()
        return s[:-8] + tag.encode()
    return sub


def _rename_path(rel: str, tag: str) -> str:
    return _ID.sub(_renamer(tag), rel.encode()).decode()


def generate(out: Path, mb: float, seed: int = 7, malformed_every: int = 5) -> Generated:
    """Write copies of the fixture sessions under ``out/projects`` until about ``mb`` megabytes."""
    rng = random.Random(seed)
    tpls = templates()
    if out.exists():
        shutil.rmtree(out)
    projects = out / "projects"
    gen = Generated(root=out)
    target = int(mb * 1_000_000)
    copy = 0
    while gen.bytes < target:
        t = tpls[copy % len(tpls)]
        tag = f"{copy:08x}"
        sub = _renamer(tag)
        proj = projects / f"-bench-project-{copy % 37:02d}"
        sid = _ID.sub(sub, t.session_id.encode()).decode()
        for rel, data in t.files.items():
            # the session's own file and folder are named by the (fresh) session id, as Claude Code names them
            rel = rel.replace(Path(next(iter(t.files))).stem, sid, 1) if "/" in rel else f"{sid}.jsonl"
            dest = proj / _rename_path(rel, tag)
            dest.parent.mkdir(parents=True, exist_ok=True)
            body = _ID.sub(sub, data)
            if copy % malformed_every == 0 and rel.endswith(".jsonl") and "/" not in rel:
                lines = body.split(b"\n")
                bad = rng.choice(MALFORMED)
                lines.insert(rng.randrange(1, max(2, len(lines) - 1)), bad)
                body = b"\n".join(lines)
                gen.malformed += 1
            dest.write_bytes(body)
            gen.bytes += len(body)
            gen.files += 1
        gen.expected[sid] = dict(t.totals)
        copy += 1
    return gen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--mb", type=float, default=10)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    g = generate(a.out, a.mb, a.seed)
    print(f"{g.files} files, {g.bytes / 1e6:.1f} MB, {len(g.expected)} sessions, {g.malformed} malformed lines "
          f"in {g.root}")


if __name__ == "__main__":
    main()
