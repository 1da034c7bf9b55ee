"""Record an MCP server's own work to the nexus event log (docs/events.md), from any thread or process.

    from nexus_tui.recorder import Recorder
    rec = Recorder(persona="architect", nexus_mode="hybrid")      # one session per Recorder
    with rec.task(tool="summarize", model="qwen2.5-coder:7b", routing="local",
                  routing_reason="token_count<500", alternatives=[{"model": "claude-sonnet-4-5",
                  "reason_rejected": "prompt under 500 tokens"}]) as t:
        answer = run_model(prompt)
        t.update(tokens_in=120, tokens_out=80, prompt_length=len(prompt), response_length=len(answer))
    rec.rate(t.id, 1)

Each event is one line appended with a single ``os.write`` to a file opened with O_APPEND (the file 0600, its
folder 0700: nexus_tui.private), so lines from many
threads and processes never interleave. Recording never raises into the caller's code: a failure to write is
counted in ``Recorder.dropped`` and otherwise ignored. Every string value is redacted of secret shapes
(core/redact.py) before it is written.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from nexus_tui.private import append_lines, open_append, private_dir
from nexus_tui.core.redact import redact, redact_event, storable


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def default_logs_dir() -> Path:
    home = os.environ.get("NEXUS_INSIGHTS_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".config" / "nexus") / "logs"


class TaskHandle:
    """What a running task will record; ``update()`` adds token counts and lengths before it ends."""

    def __init__(self, fields: dict):
        self.id = fields["id"]
        self.fields = fields

    def update(self, **fields) -> None:
        self.fields.update(fields)


class Recorder:
    def __init__(self, logs_dir: str | os.PathLike | None = None, session_id: str | None = None,
                 cli_tool: str = "mcp", persona: str | None = None, nexus_mode: str | None = None,
                 start_session: bool = True, **session_fields):
        self.logs_dir = Path(logs_dir) if logs_dir else default_logs_dir()
        self.session_id = session_id or f"nx-{uuid.uuid4()}"
        self.dropped = 0
        self._lock = threading.Lock()
        if start_session:
            self.event("session_start", cli_tool=cli_tool, persona=persona, nexus_mode=nexus_mode, **session_fields)

    # -------------------------------------------------------------- writing
    def event(self, type: str, **fields) -> bool:
        """Append one event; True when written. Never raises."""
        try:
            ev = {"v": 1, "type": type, "ts": fields.pop("ts", None) or _now_iso()}
            if "session_id" not in fields and type not in ("rating",):
                ev["session_id"] = self.session_id
            ev.update({k: v for k, v in fields.items() if v is not None or k == "rating"})
            ev = redact_event(ev)  # secrets never reach the log (core/redact.py)
            try:
                line = orjson.dumps(ev) + b"\n"
            except orjson.JSONEncodeError:  # a lone surrogate (from a message cut inside an emoji): as U+FFFD
                line = orjson.dumps(storable(ev)) + b"\n"
            private_dir(self.logs_dir)
            path = self.logs_dir / (datetime.now(UTC).strftime("%Y-%m-%d") + ".jsonl")
            fd = open_append(path)  # 0600: the log holds prompts' metadata
            try:
                whole = append_lines(fd, line)
            finally:
                os.close(fd)
            if not whole:
                raise OSError("short write")
            return True
        except Exception:  # never into the caller's code
            with self._lock:
                self.dropped += 1
            return False

    def session_end(self) -> None:
        self.event("session_end")

    @contextlib.contextmanager
    def task(self, model: str, routing: str = "cloud", tool: str | None = None, **fields):
        """Time a model call; the event is written when the block ends (outcome 'error' if it raised)."""
        handle = TaskHandle({"id": fields.pop("id", None) or str(uuid.uuid4()), "model": model, "routing": routing,
                             "tool": tool, "source": fields.pop("source", "mcp-tool"), **fields})
        t0 = time.perf_counter()
        try:
            yield handle
        except BaseException as e:
            handle.fields.setdefault("outcome", "error")
            handle.fields.setdefault("error", redact(f"{type(e).__name__}: {e}")[:500])  # before the trim
            raise
        finally:
            handle.fields.setdefault("outcome", "ok")
            handle.fields["latency_ms"] = int((time.perf_counter() - t0) * 1000)
            self.event("task", **handle.fields)

    def tool_call(self, tool: str, latency_ms: int, success: bool, **fields) -> None:
        self.event("tool_call", id=fields.pop("id", None) or str(uuid.uuid4()), tool=tool, latency_ms=latency_ms,
                   success=success, **fields)

    def rate(self, task_id: str, rating: int | None) -> None:
        self.event("rating", task_id=task_id, rating=rating)

    def error(self, component: str, kind: str, message: str, **fields) -> None:
        self.event("error", component=component, kind=kind, message=message, **fields)
