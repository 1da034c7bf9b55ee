"""``nexus-insights merge SOURCE_URL``: another database's rows copied into this one as the source's machines
(docs/teams.md), each row checked and redacted as the writer stores one (its own module: it reads the writer's
column checks, and the writer reads store/machines.py)."""

from __future__ import annotations

from sqlalchemy import bindparam, text

from nexus_tui.core.ids import valid_id
from nexus_tui.core.parse.guard import in_stored_range
from nexus_tui.core.redact import key_of
from nexus_tui.store.engine import upsert, write_tx
from nexus_tui.store.machines import register
from nexus_tui.store.rows import ID_COLUMNS


# --- merging another database's rows (nexus-insights merge SOURCE_URL) ------------------------------------------

# the tables merged, parents first; each with its key columns (rows already present are left as they are)
_MERGED = (("sessions", ("id",)), ("tasks", ("id",)), ("tool_calls", ("id",)), ("routing_decisions", ("id",)),
           ("errors", ("id",)), ("session_stats", ("session_id", "source")), ("quota_snapshots", ("id",)))


# the columns holding a time (epoch ms): a merged one outside core.events.MIN/MAX_TIME_MS is unknown (a task of the
# year 33658 stopped every report that lays a time out as a date: "year 33658 is out of range")
TIME_COLUMNS = frozenset(("ts_ms", "end_ms", "trigger_ms", "rated_ms", "start_ms", "started_ms", "ended_ms",
                          "observed_ms", "resets_at_ms", "updated_ms"))


def _in_time_range(coerce):
    from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS

    def check(v):
        v = coerce(v)
        return v if v is not None and MIN_TIME_MS <= v < MAX_TIME_MS else None
    return check


def _checked_rows(tables: dict, src_rows: dict[str, list[dict]], skipped: dict[str, int],
                  unknown: dict[str, int]) -> None:
    """The source's rows as the writer would store them, in place (the source may be any database: an older
    version's, or one written by hand): every value of its column's type (store/writer.py ``column_checks``) and
    of the range the parsers hold it to (``guard.STORED_RANGES``: a cost of 1e308 or inf, -5 or 10^18 tokens, a
    latency of a year), else NULL and counted by column in ``unknown``; every text the writer redacts redacted (a
    secret stored before redaction existed, or by another program); and the rows missing a required value or whose
    session or task is nowhere dropped, counted by reason in ``skipped``."""
    from nexus_tui.core.redact import REDACTED_KEYS, redact, redact_key
    from nexus_tui.store.migrations import redacted_at_write
    from nexus_tui.store.writer import column_checks

    texts = {t: cols for t, _key, cols in redacted_at_write()}
    for name, rows in src_rows.items():
        checks = [(col, _in_time_range(coerce) if col in TIME_COLUMNS else coerce, required)
                  for col, coerce, required in column_checks(tables[name], int32=True)]
        redacted, data_key = texts.get(name, ()), REDACTED_KEYS.get(name)
        kept = []
        for r in rows:
            out = {}
            for col, coerce, required in checks:
                given = r.get(col)
                v = in_stored_range(col, coerce(given)) if given is not None else None
                if v is None and required:
                    why = f"{name}: {col} missing or invalid"
                    skipped[why] = skipped.get(why, 0) + 1
                    break
                if v is None and given is not None:  # the row is kept, this value is unknown: said all the same
                    where = f"{name}.{col}"
                    unknown[where] = unknown.get(where, 0) + 1
                if type(v) is str and (col in redacted or col == data_key):
                    v = redact_key(v) if col == data_key else redact(v)
                out[col] = v
            else:
                kept.append(out)
        rows[:] = kept


def _drop_orphans(conn, src_rows: dict[str, list[dict]], skipped: dict[str, int]) -> None:
    """Tasks whose session, and routing decisions whose task, is neither merged nor in the destination are dropped
    (their foreign key would refuse the whole merge), counted in ``skipped``."""
    for child, col, parent in (("tasks", "session_id", "sessions"), ("routing_decisions", "task_id", "tasks")):
        have = {r["id"] for r in src_rows[parent]}
        missing = list({r[col] for r in src_rows[child]} - have)
        known = set()
        for i in range(0, len(missing), 500):
            known |= set(conn.execute(text(f"SELECT id FROM {parent} WHERE id IN :ids")
                                      .bindparams(bindparam("ids", expanding=True)), {"ids": missing[i:i + 500]})
                         .scalars())
        rows = src_rows[child]
        keep = [r for r in rows if r[col] in have or r[col] in known]
        if len(keep) != len(rows):
            why = f"{child}: its {parent[:-1]} is not in either database"
            skipped[why] = skipped.get(why, 0) + len(rows) - len(keep)
            rows[:] = keep


def merge_from(dest_engine, src_engine, default_machine: str, default_name: str | None = None,
               skipped: dict[str, int] | None = None, unknown: dict[str, int] | None = None) -> dict[str, int]:
    """Copy every row of ``src_engine``'s database into ``dest_engine``'s as the source's machines (docs/teams.md):
    rows without a machine (before version 8) are ``default_machine``'s; each machine's ids are re-keyed for the
    destination (natural on its home machine, ``<id>/`` otherwise). Rows present already are kept as they are, and
    the rollups of the touched buckets are summed again, all in one transaction: merging twice is merging once.
    Every row is checked and its text redacted as the writer does (``_checked_rows``); a row that cannot be stored
    is left out and counted in ``skipped`` by reason, never the whole merge; a value out of its type or range is
    stored as unknown, counted in ``unknown`` by table and column. Returns the rows added per table."""
    from sqlalchemy import Boolean

    from nexus_tui.store import rollup
    from nexus_tui.store.schema import TABLES

    if not valid_id(default_machine):
        raise ValueError(f"not a machine id: {default_machine!r}")
    skipped = {} if skipped is None else skipped
    unknown = {} if unknown is None else unknown
    tables = {m.__table__.name: m.__table__ for m in TABLES}
    with src_engine.connect() as conn:
        src_home = conn.execute(text("SELECT id FROM machines WHERE home = :t"), {"t": True}).scalar()
        names = {i: n if isinstance(n, str) else None
                 for i, n in conn.execute(text("SELECT id, name FROM machines")).all() if valid_id(i)}
        src_rows = {}
        for name, _key in _MERGED:
            res = conn.execute(text(f"SELECT * FROM {name}"))  # raw values: no type rounds them on the way
            src_rows[name] = [dict(r._mapping) for r in res]
    _checked_rows(tables, src_rows, skipped, unknown)
    with dest_engine.connect() as conn:
        _drop_orphans(conn, src_rows, skipped)
    names.setdefault(default_machine, default_name)
    src_home = src_home if valid_id(src_home) else None
    # which machine each row is: its own column (a valid machine id), else its task's or session's, else the
    # default
    task_machine = {r["id"]: r.get("machine") if valid_id(r.get("machine")) else default_machine
                    for r in src_rows["tasks"]}
    session_machine = {r["id"]: r.get("machine") if valid_id(r.get("machine")) else default_machine
                       for r in src_rows["sessions"]}

    def machine_of(table: str, r: dict) -> str:
        if valid_id(r.get("machine")):
            return r["machine"]
        if table == "routing_decisions":
            return task_machine.get(r["task_id"], default_machine)
        if table == "session_stats":
            return session_machine.get(r["session_id"], default_machine)
        return default_machine

    used = sorted({machine_of(t, r) for t, rows in src_rows.items() for r in rows},
                  key=lambda m: (m != src_home, m != default_machine, m))
    prefixes = {m: register(dest_engine, m, names.get(m)) for m in used}
    added: dict[str, int] = {}
    task_keys: set = set()
    tool_keys: set = set()
    with write_tx(dest_engine) as conn:
        for name, key in _MERGED:
            table = tables[name]
            cols = {c.name for c in table.columns}
            bools = {c.name for c in table.columns if isinstance(c.type, Boolean)}
            rows = []
            for r in src_rows[name]:
                m = machine_of(name, r)
                old = "" if m == src_home or src_home is None else f"{m}/"
                row = {k: v for k, v in r.items() if k in cols}
                for k in ID_COLUMNS:  # as the writer stores keys: no secret in them either (core.redact.key_of)
                    v = row.get(k)
                    if isinstance(v, str):
                        if old and v.startswith(old):
                            v = v[len(old):]
                        row[k] = prefixes[m] + key_of(v)
                for k in ("message_id", "source_path"):
                    if isinstance(row.get(k), str):
                        row[k] = key_of(row[k])
                if "machine" in cols:
                    row["machine"] = m
                for k in bools & row.keys():
                    row[k] = None if row[k] is None else bool(row[k])
                rows.append(row)
            if not rows:
                added[name] = 0
                continue
            before = conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar()
            for i in range(0, len(rows), 500):
                conn.execute(upsert(conn, table).on_conflict_do_nothing(index_elements=list(key)), rows[i:i + 500])
            added[name] = conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar() - before
            if name == "tasks":
                task_keys |= {(r["session_id"], rollup.bucket(r["ts_ms"])) for r in rows if r.get("ts_ms") is not None}
            if name == "tool_calls":
                tool_keys |= {(r["session_id"], rollup.bucket(r["started_ms"])) for r in rows
                              if r.get("tool_name") is not None}
        if task_keys or tool_keys:
            rollup.lock(conn)
            rollup.recompute(conn, task_keys, tool_keys)
    return added
