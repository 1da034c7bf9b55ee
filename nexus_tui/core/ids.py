"""Machine ids, checked without the store's libraries (the idle ingest path and the status line stay light)."""

from __future__ import annotations

import re

MACHINE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def valid_id(machine_id: object) -> bool:
    return isinstance(machine_id, str) and bool(MACHINE_ID.match(machine_id))
