"""Machines (collectors) writing to one database (schema version 8, docs/teams.md).

The first machine to register is the home machine: its rows keep the sources' natural ids, so a single-machine
database looks as before. Every other machine's ids (sessions, tasks, tool calls, errors, the ids that refer to
them) and its cursors' paths are prefixed with ``<machine id>/``: two machines with the same paths and even the same
session ids never overwrite or skip each other. Every row also names its machine in a ``machine`` column.
"""

from __future__ import annotations

import re
import time

from sqlalchemy import select, text, update

from nexus_tui.core.ids import MACHINE_ID, valid_id  # noqa: F401 (re-exported)
from nexus_tui.store.engine import upsert, write_tx
from nexus_tui.store.schema import Machine

from nexus_tui.store.rows import ID_COLUMNS  # noqa: F401 (the id columns of a machine's rows)
# the tables whose rows carry the machine column (filled for rows stored before version 8 when the home registers)
MACHINE_TABLES = ("sessions", "tasks", "tool_calls", "errors", "ingest_cursors")
_HOME_LOCK_KEY = 0x6E6578_7574  # PostgreSQL advisory lock: one home machine even when two register at once


def register(engine, machine_id: str, name: str | None) -> str:
    """Record the machine (its name and when it was last seen); the id prefix of its rows: "" for the home machine,
    ``<id>/`` for another. The first machine registered becomes the home machine and takes the rows stored before
    version 8."""
    if not valid_id(machine_id):
        raise ValueError(f"not a machine id: {machine_id!r} (letters, digits, . _ -; at most 64)")
    now = int(time.time() * 1000)
    m = Machine.__table__
    with engine.connect() as conn:
        row = conn.execute(select(m.c.home).where(m.c.id == machine_id)).first()
    if row is not None:
        with write_tx(engine) as conn:
            conn.execute(update(m).where(m.c.id == machine_id).values(name=name, last_seen_ms=now))
        return "" if row[0] else f"{machine_id}/"
    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_HOME_LOCK_KEY})")
        home = conn.execute(select(m.c.id).where(m.c.home.is_(True))).first()
        is_home = home is None
        conn.execute(upsert(conn, m).values(id=machine_id, name=name, home=is_home, first_seen_ms=now,
                                            last_seen_ms=now).on_conflict_do_nothing(index_elements=["id"]))
        is_home = bool(conn.execute(select(m.c.home).where(m.c.id == machine_id)).scalar())
        if is_home:  # the rows stored before machines were recorded are the home machine's
            for table in MACHINE_TABLES:
                conn.execute(text(f"UPDATE {table} SET machine = :m WHERE machine IS NULL"), {"m": machine_id})
    return "" if is_home else f"{machine_id}/"


def machines(engine) -> list[dict]:
    """Every registered machine: id, name, home, first_seen_ms, last_seen_ms (the home machine first)."""
    m = Machine.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(m).order_by(m.c.home.desc(), m.c.id)).all()
    return [dict(r._mapping) for r in rows]


def machine_names(engine) -> dict[str, str]:
    """Each registered machine's id → the name to show: its readable name, or its id when it has none or when two
    machines share the name (then the name alone would not tell them apart)."""
    rows = machines(engine)
    seen: dict[str, int] = {}
    for r in rows:
        if r["name"]:
            seen[r["name"]] = seen.get(r["name"], 0) + 1
    return {r["id"]: r["name"] if r["name"] and seen[r["name"]] == 1 else r["id"] for r in rows}
