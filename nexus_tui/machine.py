"""This machine's identity as a collector writing to a (possibly shared) database: docs/teams.md.

``[machine] id = "…"`` (and ``name``) in insights.toml, else a stable id generated once into ``<home>/machine-id``
(a private file); the name defaults to the host name. ``NEXUS_INSIGHTS_MACHINE`` overrides the id (tests, scripts).
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from nexus_tui.core.ids import valid_id


def identity(settings) -> tuple[str, str]:
    """(machine id, readable name) of this machine for ``settings``."""
    sec = settings.raw.get("machine") if isinstance(getattr(settings, "raw", None), dict) else None
    sec = sec if isinstance(sec, dict) else {}
    name = sec.get("name") if isinstance(sec.get("name"), str) and sec.get("name").strip() else None
    name = (name or socket.gethostname() or "unknown")[:200]
    env = os.environ.get("NEXUS_INSIGHTS_MACHINE")
    if env is not None:
        if not valid_id(env):
            raise ValueError(f"NEXUS_INSIGHTS_MACHINE={env!r} is not a machine id (letters, digits, . _ -)")
        return env, name
    configured = sec.get("id")
    if configured is not None:
        if not valid_id(configured):
            raise ValueError(f"[machine] id = {configured!r} in insights.toml is not a machine id "
                             f"(letters, digits, . _ -; at most 64)")
        return configured, name
    return _stored_id(Path(settings.home)), name


def _stored_id(home: Path) -> str:
    path = home / "machine-id"
    try:
        got = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        got = ""
    if valid_id(got):
        return got
    from nexus_tui.private import open_private, private_dir

    new = uuid.uuid4().hex[:16]
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        private_dir(home)
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as f:
            f.write((new + "\n").encode("ascii"))
        try:  # whole file or nothing, and never over another process's id: several processes may start at once
            os.link(tmp, path)
        except FileExistsError:
            got = path.read_text(encoding="ascii", errors="replace").strip()
            if not valid_id(got):  # an unusable file left by an older version: replaced
                os.replace(tmp, path)
                return new
            return got
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    except OSError as e:
        raise ValueError(f"cannot store this machine's id in {path} ({e.strerror or e}): make the folder writable "
                         f"or set [machine] id in insights.toml") from e
    return new
