"""This machine's identity as a collector writing to a (possibly shared) database: docs/teams.md.

``[machine] id = "…"`` (and ``name``) in insights.toml, else a stable id generated once into ``<home>/machine-id``
(a private file); the name defaults to the host name. ``NEXUS_INSIGHTS_MACHINE`` overrides the id (tests, scripts).
"""

from __future__ import annotations

import os
from pathlib import Path

from nexus_tui.core.ids import valid_id


def _hostname() -> str:
    uname = getattr(os, "uname", None)  # the host name without importing socket (a re-run's start-up counts)
    if uname is not None:
        return uname().nodename
    import socket

    return socket.gethostname()


def identity(settings) -> tuple[str, str]:
    """(machine id, readable name) of this machine for ``settings``."""
    sec = settings.raw.get("machine") if isinstance(getattr(settings, "raw", None), dict) else None
    sec = sec if isinstance(sec, dict) else {}
    name = sec.get("name") if isinstance(sec.get("name"), str) and sec.get("name").strip() else None
    name = (name or _hostname() or "unknown")[:200]
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


def _read_id(path: Path) -> str | None:
    """The file's text, stripped; None when there is no file."""
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None


def _stored_id(home: Path) -> str:
    """The id in ``home/machine-id``, generated there the first time. Several processes starting at once on a new
    home (four collectors, say) all get the same id: the file is created atomically only if it is missing, and a
    process that loses the race reads the winner's id instead of keeping its own."""
    path = home / "machine-id"
    from nexus_tui.private import create_private, private_dir, write_private

    new = os.urandom(8).hex()  # 16 hex digits, as uuid4().hex[:16] gave
    try:  # (the read too: a home under a file, a machine-id that is a folder or unreadable ended in a traceback)
        got = _read_id(path)
        if valid_id(got):
            return got
        private_dir(home)
        if got is None:
            if create_private(path, (new + "\n").encode("ascii")):
                return new
            got = _read_id(path)  # another process created it first: its id is this machine's
            if valid_id(got):
                return got
        # a damaged file: replaced, then read back, so that processes repairing it at once agree on the last one
        write_private(path, (new + "\n").encode("ascii"))
        got = _read_id(path)
        return got if valid_id(got) else new
    except OSError as e:
        raise ValueError(f"cannot store this machine's id in {path} ({e.strerror or e}): make the folder writable "
                         f"or set [machine] id in insights.toml") from e
