"""The bundled demo database: a deterministic month of work across several CLIs, routings, personas, tiers,
MCP tools, failures and ratings, so every screen has something to show on a fresh machine.

``python data/make_demo.py`` (or ``python -m nexus_tui.demo [PATH]``) writes it to ``nexus_tui/data/demo.db``, which
ships inside the package. ``--demo`` opens a copy in ``<home>/demo/`` (so ratings there never touch the installed
file) together with small transcripts holding the demo's tool inputs and results, which the task view reads on
demand like real ones; the app's clock is pinned to the demo's end.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from pathlib import Path

from nexus_tui.core.events import (
    SOURCE_MCP,
    SOURCE_PROXY,
    SOURCE_TRANSCRIPT,
    Batch,
    ErrorRec,
    RatingRec,
    RoutingDecisionRec,
    SessionRec,
    TaskRec,
    ToolResultRec,
    ToolUseRec,
    ms_from_iso,
)
from nexus_tui.core.pricing import price
from nexus_tui.core.report import safe
from nexus_tui.private import open_private, private_dir, touch_private

DEMO_NOW_MS = ms_from_iso("2026-11-20T15:00:00.000Z")
DEMO_DAYS = 30
REPO_DATA = Path(__file__).resolve().parent / "data" / "demo.db"  # shipped as package data
REFERENCE = "claude-sonnet-4-5"
DEMO_BUDGETS = (4.0, 100.0)  # daily, monthly USD, shown when the user has set none

CLOUD = ["claude-opus-4-6", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
GEMINI = ["gemini-2.5-pro", "gemini-2.5-flash"]
LOCAL = ["qwen2.5-coder:7b", "llama3.1:8b"]
PROJECTS = ["nexus", "webshop", "infra", "ml-pipeline", "docs-site"]
PERSONAS = ["architect", "reviewer", "debugger", "writer", None]
TOOLS = [("Read", 0.02, 40), ("Edit", 0.06, 180), ("Bash", 0.12, 2500), ("Grep", 0.01, 150), ("Write", 0.03, 300),
         ("Glob", 0.0, 90), ("mcp__github__create_issue", 0.15, 900), ("mcp__fs__write_file", 0.05, 60),
         ("mcp__nexus__route", 0.02, 25), ("WebFetch", 0.2, 4000), ("MultiEdit", 0.08, 220)]
ERRORS = {"Bash": ("exit_code", "Error: Exit code 1\nFAILED tests/test_api.py::test_login - AssertionError"),
          "Edit": ("edit_mismatch", "<tool_use_error>String to replace not found in file.</tool_use_error>"),
          "Read": ("not_found", "File does not exist."),
          "WebFetch": ("timeout", "Request timed out after 30s"),
          "mcp__github__create_issue": ("permission", "permission denied: token lacks repo scope")}


def build_batch(seed: int = 20261120, now_ms: int = DEMO_NOW_MS, sessions: int = 90) -> Batch:
    rng = random.Random(seed)
    b = Batch()
    start_all = now_ms - DEMO_DAYS * 86_400_000
    for si in range(sessions):
        cli = rng.choices(["claude-code", "gemini-cli", "mcp", "proxy"], [6, 2, 2, 1])[0]
        sid = f"demo-{si:04d}-{rng.getrandbits(32):08x}"
        s0 = start_all + int((si + rng.random()) / sessions * (now_ms - start_all - 3_600_000))
        project = rng.choice(PROJECTS)
        persona = rng.choice(PERSONAS) if cli in ("mcp", "claude-code") else None
        mode = rng.choice(["hybrid", "cloud", "personas-only"]) if cli == "mcp" else None
        n_tasks = rng.randint(4, 40)
        t = s0
        for ti in range(n_tasks):
            t += rng.randint(5_000, 240_000)
            local = cli == "mcp" and rng.random() < 0.55 or cli == "proxy" and rng.random() < 0.3
            model = rng.choice(LOCAL) if local else rng.choice(GEMINI if cli == "gemini-cli" else CLOUD)
            tin = rng.randint(2, 900)
            cread = 0 if local else rng.randint(0, 120_000)
            cwrite = 0 if local else rng.choice([0, rng.randint(500, 20_000)])
            tout = rng.randint(20, 4_000)
            if local:
                cost, _ = 0.0, None
                cloud_eq, _ = price(REFERENCE, t, tokens_in=tin, tokens_out=tout)
                priced = "local"
            else:
                cost, priced = price(model, t, tokens_in=tin, tokens_out=tout, cache_read=cread, cache_write=cwrite)
                cloud_eq = cost
            latency = rng.randint(300, 4_000) if local else rng.randint(1_500, 45_000)
            agent = f"a{rng.getrandbits(24):06x}" if cli == "claude-code" and rng.random() < 0.12 else None
            tid = f"req_demo_{si:04d}_{ti:03d}"
            tier = f"Tier {rng.randint(1, 4)}" if cli == "mcp" else None
            source = SOURCE_MCP if cli == "mcp" else SOURCE_PROXY if cli == "proxy" else SOURCE_TRANSCRIPT
            reason = None
            if cli in ("mcp", "proxy"):
                reason = rng.choice(["token_count<500", "keyword:commit_msg", "user_override", "complexity:high"]) \
                    if local or rng.random() < 0.5 else "default:cloud"
            b.tasks.append(TaskRec(
                id=tid, session_id=sid, ts_ms=t, source=source, model=model, routing="local" if local else "cloud",
                routing_reason=reason, tokens_in=tin, tokens_out=tout, cache_read_tokens=cread,
                cache_creation_tokens=cwrite, latency_ms=latency, cost_usd=cost, cloud_cost_equivalent=cloud_eq,
                request_id=tid, project=project, agent_id=agent, is_sidechain=agent is not None, cli_tool=cli,
                persona=persona, tier=tier, priced_as=priced, component="router" if cli == "mcp" else None,
                prompt_length=rng.randint(40, 8_000), response_length=rng.randint(20, 12_000)))
            if reason:
                alts = [{"model": m, "reason_rejected": why} for m, why in
                        ((rng.choice(CLOUD), "cost above threshold for a short prompt"),
                         (rng.choice(LOCAL), "context window too small"))]
                b.routing.append(RoutingDecisionRec(id=f"rd_{tid}", task_id=tid, reason=reason,
                                                    alternatives_considered=json.dumps(alts),
                                                    classifier_version=rng.choice(["rules-v1", "rules-v2"])))
            for ci in range(rng.choice([0, 0, 1, 1, 2, 3])):
                name, fail_p, lat = rng.choice(TOOLS)
                cid = f"toolu_demo_{si:04d}_{ti:03d}_{ci}"
                started = t + 200 + ci * 50
                dur = int(rng.lognormvariate(0, 0.8) * lat)
                failed = rng.random() < fail_p
                b.tool_uses.append(ToolUseRec(id=cid, session_id=sid, task_id=tid, tool_name=name, started_ms=started,
                                              mcp_server=name.split("__")[1] if name.startswith("mcp__") else None,
                                              source=source, agent_id=agent, input_size=rng.randint(30, 3000)))
                etype, emsg = ERRORS.get(name, ("error", "tool failed")) if failed else (None, None)
                b.tool_results.append(ToolResultRec(id=cid, session_id=sid, ended_ms=started + dur, success=not failed,
                                                    error_type=etype, error_message=emsg,
                                                    output_size=rng.randint(10, 50_000)))
                if failed:
                    b.errors.append(ErrorRec(id=f"tool:{cid}", ts_ms=started + dur, component="tool", kind=etype,
                                             message=emsg, session_id=sid, task_id=tid))
            if rng.random() < 0.02:
                b.errors.append(ErrorRec(id=f"api:{tid}", ts_ms=t + 1, component="api", kind="api_error",
                                         message="API Error: 529 {\"type\":\"overloaded_error\"}", session_id=sid))
            if rng.random() < 0.15:
                b.ratings.append(RatingRec(task_id=tid, rating=1 if rng.random() < 0.7 else 0))
        b.sessions.append(SessionRec(id=sid, start_ms=s0, end_ms=t + 2_000, cli_tool=cli, persona=persona,
                                     nexus_mode=mode, project=project, cwd=f"/home/dev/src/{project}",
                                     git_branch=rng.choice(["main", "feature/routing", "fix/flaky-tests"]),
                                     cli_version={"claude-code": "2.1.39", "gemini-cli": "0.9.0"}.get(cli)))
    return b


def write_demo(path: Path) -> Path:
    from nexus_tui.store import open_store

    path = Path(path)
    private_dir(path.parent)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{path}")
    batch = build_batch()
    ratings, batch.ratings = batch.ratings, []
    store.writer.write(batch)
    store.writer.write(Batch(ratings=ratings))
    with store.engine.connect() as conn:  # fold the WAL into the file so one file is the whole demo
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


def demo_now(store) -> int | None:
    """The demo's clock: twenty minutes after its last task, so 'today' and the burn rate have data."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        last = conn.execute(text("SELECT MAX(ts_ms) FROM tasks")).scalar()
    return int(last) + 20 * 60_000 if last is not None else None


def bundled_demo() -> Path | None:
    return REPO_DATA if REPO_DATA.is_file() else None


def demo_copy(home: Path, fresh: bool = False) -> Path:
    """The demo database the app opens: a copy in ``<home>/demo/`` (from the bundled file, or generated), with
    the demo's transcripts beside it."""
    dest = Path(home) / "demo" / "insights.db"
    if dest.exists() and not fresh:
        return dest
    private_dir(dest.parent)
    tmp = dest.with_name("insights.db.tmp")
    src = bundled_demo()
    if src is not None:
        tmp.unlink(missing_ok=True)
        touch_private(tmp)  # 0600 before a byte is copied in
        shutil.copyfile(src, tmp)
    else:
        write_demo(tmp)
    write_demo_transcripts(tmp, dest.parent / "transcripts")
    for suffix in ("-wal", "-shm"):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)
    tmp.replace(dest)  # complete or absent: an interrupted copy is made again next time
    return dest


def _demo_input(name: str, rng: random.Random, project: str) -> dict:
    files = ["src/app.py", "src/routing/rules.py", "tests/test_api.py", "README.md", "pyproject.toml",
             "src/store/schema.py", "docs/index.md"]
    path = f"/home/dev/src/{project}/{rng.choice(files)}"
    if name == "Read":
        return {"file_path": path}
    if name in ("Edit", "MultiEdit"):
        old = rng.choice(["timeout=30", "return None", "print(result)", "TODO: handle errors"])
        return {"file_path": path, "old_string": old, "new_string": old.replace("30", "60").replace("None", "{}")}
    if name == "Write":
        return {"file_path": path, "content": "\n".join(f"line {i}" for i in range(rng.randint(3, 12)))}
    if name == "Bash":
        return {"command": rng.choice(["pytest -q tests/test_api.py", "git status --short", "ruff check src",
                                       "make build", "npm test -- --watch=false"]), "timeout": 120000}
    if name == "Grep":
        return {"pattern": rng.choice(["def route", "TODO", "class .*Error", "import httpx"]), "path": "src"}
    if name == "Glob":
        return {"pattern": rng.choice(["**/*.py", "src/**/*.ts", "tests/test_*.py"])}
    if name == "WebFetch":
        return {"url": rng.choice(["https://docs.python.org/3/library/sqlite3.html",
                                   "https://textual.textualize.io/guide/workers/"]),
                "prompt": "Summarise the part about threads"}
    if name == "mcp__github__create_issue":
        return {"owner": "dev", "repo": project, "title": "Flaky test in CI", "body": "Seen twice this week."}
    if name == "mcp__fs__write_file":
        return {"path": path, "content": "generated by the architect persona"}
    if name == "mcp__nexus__route":
        return {"prompt": "write a commit message for the staged diff", "prefer": "local"}
    return {}


def _demo_result(name: str, rng: random.Random, ok: bool, error: str | None) -> str:
    if not ok:
        if error and error != "tool failed":
            return error
        return {"MultiEdit": "<tool_use_error>Found 3 matches of the string to replace, but replace_all is false."
                             "</tool_use_error>",
                "Write": "<tool_use_error>File has not been read yet. Read it first before writing to it."
                         "</tool_use_error>",
                "mcp__fs__write_file": "Error: EACCES: permission denied, open '/etc/hosts'",
                "mcp__nexus__route": "MCP error -32001: Request timed out",
                "Grep": "rg: regex parse error: unclosed group"}.get(name, "tool failed")
    if name == "Read":
        return "\n".join(f"{i:>5}\t{rng.choice(['import os', 'def main():', '    return run()', ''])}"
                         for i in range(1, rng.randint(5, 25)))
    if name == "Bash":
        return rng.choice(["12 passed in 3.41s", "M src/app.py\n?? notes.md", "All checks passed!", "build ok"])
    if name == "Grep":
        return "\n".join(f"src/{rng.choice(['app', 'cli', 'routing/rules'])}.py:{rng.randint(1, 400)}"
                         for _ in range(rng.randint(1, 6)))
    if name == "Glob":
        return "\n".join(f"src/module_{i}.py" for i in range(rng.randint(1, 8)))
    if name == "mcp__nexus__route":
        return '{"model": "qwen2.5-coder:7b", "routing": "local", "reason": "token_count<500"}'
    return "ok"


def write_demo_transcripts(db: Path, folder: Path) -> int:
    """Write one transcript per demo session holding its tool calls (Claude Code's line shapes) and point the
    copy's ``tool_calls`` rows at them, so the task view shows inputs and results read from a file."""
    import sqlite3
    import zlib

    import orjson

    private_dir(folder)
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT tc.id, tc.session_id, tc.task_id, tc.tool_name, tc.success, tc.error_message, "
                           "COALESCE(s.project, 'demo') FROM tool_calls tc JOIN sessions s ON s.id = tc.session_id "
                           "WHERE tc.source_path IS NULL ORDER BY tc.session_id, tc.started_ms, tc.id").fetchall()
        updates = []
        fh, current, offset = None, None, 0
        for cid, sid, tid, name, success, error, project in rows:
            if sid != current:
                if fh is not None:
                    fh.close()
                current, offset = sid, 0
                path = folder / f"{sid}.jsonl"
                fh = os.fdopen(open_private(path, os.O_WRONLY | os.O_TRUNC), "wb")  # closed below
            rng = random.Random(zlib.crc32(cid.encode()))
            use = orjson.dumps({"type": "assistant", "sessionId": sid, "requestId": tid, "message": {
                "role": "assistant", "content": [{"type": "tool_use", "id": cid, "name": name,
                                                  "input": _demo_input(name, rng, project)}]}}) + b"\n"
            result = orjson.dumps({"type": "user", "sessionId": sid, "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": cid, "is_error": not success,
                 "content": _demo_result(name, rng, bool(success), error)}]}}) + b"\n"
            fh.write(use)
            fh.write(result)
            updates.append((str(path), offset, len(use), offset + len(use), len(result), cid))
            offset += len(use) + len(result)
        if fh is not None:
            fh.close()
        con.executemany("UPDATE tool_calls SET source_path=?, use_offset=?, use_length=?, result_offset=?, "
                        "result_length=? WHERE id=?", updates)
        con.commit()
    finally:
        con.close()
    return len(updates)


if __name__ == "__main__":
    out = write_demo(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_DATA)
    print(f"wrote {safe(out)}")
