"""Schema versions and the path from any earlier version to the current one.

Version 1 is the seed's DDL (sessions, tasks, routing_decisions). Version 2 adds columns and tables;
existing rows are kept and their epoch-ms twins back-filled.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.schema import CreateIndex

from nexus_tui.core.events import ms_from_iso
from nexus_tui.store.engine import write_tx
from nexus_tui.store.schema import (CURSOR_INDEX_SCHEMA_VERSION, MACHINE_SCHEMA_VERSION, PARTIAL_INDEX_SCHEMA_VERSION, PROXY_SCHEMA_VERSION,
                                     QUOTA_SCHEMA_VERSION, REDACT_ALL_SCHEMA_VERSION, REDACT_GLUED_SCHEMA_VERSION,
                                     REDACT_KEYS_SCHEMA_VERSION,
                                     REDACT_LABELS_SCHEMA_VERSION,
                                     SCHEMA_VERSION,
                                     SESSION_MODEL_SCHEMA_VERSION,
                                     TABLES, TARGET_SCHEMA_VERSION, TITLES_SCHEMA_VERSION, SchemaVersion,
                                     Session, SessionStat, Task)
from sqlmodel import SQLModel


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def current_version(conn) -> int:
    """0 for an empty database, 1 for a seed-schema database without a version table, else the stored one."""
    names = set(inspect(conn).get_table_names())
    if "schema_version" in names:
        v = conn.execute(select(SchemaVersion.version).order_by(SchemaVersion.version.desc())).first()
        return int(v[0]) if v else (1 if "sessions" in names else 0)
    if "sessions" in names or "tasks" in names:
        return 1
    return 0


def _add_missing(conn) -> None:
    """Create missing tables, add missing columns (portable ALTER TABLE ADD COLUMN) and indexes."""
    insp = inspect(conn)
    existing = set(insp.get_table_names())
    for model in TABLES:
        table = model.__table__
        if table.name not in existing:
            table.create(conn)
            continue
        have = {c["name"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name in have:
                continue
            coltype = col.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {coltype}'))
        have_ix = {ix["name"] for ix in insp.get_indexes(table.name)}
        for ix in table.indexes:
            if ix.name not in have_ix:
                conn.execute(CreateIndex(ix))


def _something_missing(conn) -> bool:
    """A table of this version that the database lacks (a development database of the same version): one query."""
    return bool(({m.__table__.name for m in TABLES} | {"link_keys"}) - set(inspect(conn).get_table_names()))


# the columns a pass reads of every cursor (collect/parsing.py _CURSOR_SQL), in an index of their own: a cursor's row
# holds its parser state (a few KB), so scanning the table read every state's pages (13 ms for 1,887 files against
# 4 ms through the index, in a new process). SQLite only: PostgreSQL keeps the state out of line (TOAST), and its
# btree entries cannot hold a path of more than about 2,700 bytes.
CURSOR_SCAN_INDEX = ("ix_ingest_cursors_scan", ("source", "machine", "path", "offset", "dev", "inode", "size",
                                               "mtime_ns", "head_hash", "lines", "skipped"))


def _cursor_index(conn) -> None:
    """Version 14 (CURSOR_INDEX_SCHEMA_VERSION), and every new SQLite database: the cursors' covering index."""
    if conn.dialect.name == "sqlite":
        name, cols = CURSOR_SCAN_INDEX
        conn.execute(text(f'CREATE INDEX IF NOT EXISTS "{name}" ON ingest_cursors '
                          f'({", ".join(chr(34) + c + chr(34) for c in cols)})'))


def _link_schema(conn) -> None:
    """Conversation linking's table ``link_keys`` and its lookup indexes on ``tasks`` (store/linking.py)."""
    from nexus_tui.store.linking import ensure_link_schema

    ensure_link_schema(conn)


def _backfill_v2(conn) -> None:
    """Fill the epoch-ms twins and token totals of rows written by a version-1 database."""
    rows = conn.execute(select(Session.id, Session.start_time, Session.end_time).where(Session.start_ms.is_(None)))
    for sid, st, et in rows.fetchall():
        conn.execute(update(Session).where(Session.id == sid).values(
            start_ms=ms_from_iso(st), end_ms=ms_from_iso(et) if et else ms_from_iso(st)))
    rows = conn.execute(select(Task.id, Task.timestamp, Task.tokens_in, Task.tokens_out).where(Task.ts_ms.is_(None)))
    for tid, ts, tin, tout in rows.fetchall():
        conn.execute(update(Task).where(Task.id == tid).values(
            ts_ms=ms_from_iso(ts), cache_read_tokens=0, cache_creation_tokens=0,
            total_tokens=(tin or 0) + (tout or 0), status="ok"))


# the free text redacted since version 5 (core/redact.py redact_batch), and since version 13 the labels that sources
# fill from free text (an error's kind, component and type) and session titles: (table, its key, columns)
REDACTED_TEXT = (("tool_calls", "id", ("error_message",)), ("errors", "id", ("message", "context")),
                 ("tasks", "id", ("error_message", "routing_reason")),
                 ("routing_decisions", "id", ("reason", "alternatives_considered")))
REDACTED_LABELS = (("tool_calls", "id", ("error_type",)), ("tasks", "id", ("error_type",)),
                   ("errors", "id", ("kind", "component")), ("title_lines", "id", ("title",)))


def _redact_columns(conn, spec) -> set[str]:
    """Redact secrets (core/redact.py) from the stored text of ``spec``'s columns, a few thousand rows at a time;
    only rows whose text changes are written. Returns the tables where a row changed."""
    from nexus_tui.core.redact import redact

    touched = set()
    for table, key, cols in spec:
        for col in cols:
            last = None
            while True:  # keyset pages: bounded memory on a large history
                page = text(f'SELECT "{key}", "{col}" FROM {table} WHERE "{col}" IS NOT NULL'
                            + (f' AND "{key}" > :last' if last is not None else "")
                            + f' ORDER BY "{key}" LIMIT 5000')
                rows = conn.execute(page, {"last": last} if last is not None else {}).fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                changed = [{"k": k, "v": got} for k, v in rows
                           if isinstance(v, str) and (got := redact(v)) != v]
                if changed:
                    conn.execute(text(f'UPDATE {table} SET "{col}" = :v WHERE "{key}" = :k'), changed)
                    touched.add(table)
    return touched


@contextmanager
def _zeroing(conn):
    """On SQLite, what the statements inside replace or delete is overwritten with zeros (``secure_delete``) rather
    than left in the file's free space until reused: the old text of a redacted row is gone from the file once the
    WAL is checkpointed. PostgreSQL: dead row versions are removed by its vacuum."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    conn.exec_driver_sql("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {int(before or 0)}")


def _redact_stored(conn) -> None:
    """Version 5: redact secrets from the free text stored before: error messages, error context, routing
    reasons."""
    with _zeroing(conn):
        _redact_columns(conn, REDACTED_TEXT)


def _redact_labels(conn) -> None:
    """Version 13 (REDACT_LABELS_SCHEMA_VERSION): error kinds, components and types and session titles are redacted
    as they are stored since 2026-12-05 (they come from free text: an OTLP ``error_type``, a ``/rename``); the ones
    stored before are redacted here, with the free text of version 5 again (the patterns grew since). The tool
    rollups keep an error type in their key: rebuilt when a tool call's changed."""
    with _zeroing(conn):
        touched = _redact_columns(conn, REDACTED_TEXT + REDACTED_LABELS)
        if "tool_calls" in touched:  # the tool rollups' old keys are deleted, zeroed too
            _rebuild_rollups(conn)


# the Batch lists the writer redacts (core/redact.py REDACTED_RECORDS, REDACTED_ROWS, REDACTED_KEYS) -> their table
BATCH_TABLES = {"sessions": "sessions", "tasks": "tasks", "tool_uses": "tool_calls", "tool_results": "tool_calls",
                "errors": "errors", "routing": "routing_decisions", "session_stats": "session_stats",
                "quota_snapshots": "quota_snapshots"}
WRITER_TEXT = frozenset(("observed_at",))  # text columns of a row table that the writer fills itself (a time)
PAGE_ROWS = 5_000


def redacted_at_write() -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    """(table, its key columns, columns) of every stored column the writer redacts (core/redact.py
    ``redact_batch``), derived from the declarations it reads: a record's string fields but its keys
    (``text_fields``), stored in the columns of their names (store/rows.py); of a table filled from rows (a dict
    per row: session_stats, quota_snapshots) every text column but the keys (``KEY_FIELDS``) and the times the
    writer makes; and the session titles. A ``machine`` column holds a registered machine's id when the writer named
    the row (kept: ``_redact_tables``), else the status line's host name (redacted)."""
    from typing import get_args, get_type_hints

    from sqlalchemy import String
    from sqlmodel.sql.sqltypes import AutoString

    from nexus_tui.core.events import Batch
    from nexus_tui.core.redact import KEY_FIELDS, REDACTED_RECORDS, REDACTED_ROWS, text_fields

    tables = {m.__table__.name: m.__table__ for m in TABLES}
    hints = get_type_hints(Batch)
    cols: dict[str, list[str]] = {}
    for name in REDACTED_RECORDS:
        table = tables[BATCH_TABLES[name]]
        cols.setdefault(table.name, [])
        for field in text_fields(get_args(hints[name])[0]):
            if field in table.c and field not in cols[table.name]:  # a field no column holds is not stored
                cols[table.name].append(field)
    for name in REDACTED_ROWS:
        table = tables[BATCH_TABLES[name]]
        cols[table.name] = [c.name for c in table.columns if isinstance(c.type, (String, AutoString))
                            and c.name not in KEY_FIELDS and c.name not in WRITER_TEXT]
    cols["title_lines"] = ["title"]  # redact_batch: a title line's title
    return tuple((t, tuple(c.name for c in tables[t].primary_key.columns), tuple(cs)) for t, cs in cols.items())


def _rollup_dims() -> dict[str, tuple[tuple[str, ...], str, str, str]]:
    """The tables whose text columns key a rollup: table -> (those columns, session column, time column, kind)."""
    from nexus_tui.store.rules import TASK_DIMS, TOOL_DIMS

    return {"tasks": (TASK_DIMS, "session_id", "ts_ms", "task"),
            "tool_calls": (TOOL_DIMS, "session_id", "started_ms", "tool")}


def _q(name: str) -> str:
    return '"' + name + '"'


def _pages(conn, table: str, key: tuple[str, ...], cols: tuple[str, ...]):
    """Every row of ``table`` as (key..., cols...), in keyset pages of PAGE_ROWS rows (bounded memory on a large
    history; a composite key compared as a row value, as SQLite and PostgreSQL both do)."""
    keys = ", ".join(map(_q, key))
    after = (f"{_q(key[0])} > :k0" if len(key) == 1 else
             f"({keys}) > ({', '.join(f':k{i}' for i in range(len(key)))})")
    sel = ", ".join(map(_q, (*key, *cols)))
    last = None
    while True:
        where = f" WHERE {after}" if last is not None else ""
        params = {f"k{i}": v for i, v in enumerate(last)} if last is not None else {}
        rows = conn.execute(text(f"SELECT {sel} FROM {table}{where} ORDER BY {keys} LIMIT {PAGE_ROWS}"),
                            params).fetchall()
        if not rows:
            return
        last = tuple(rows[-1][:len(key)])
        yield rows


def _redact_tables(conn, spec) -> tuple[set, set, int]:
    """Redact the stored text of ``spec``'s columns (core/redact.py ``redact``, each distinct value once), a page at
    a time, writing only the rows whose text changes (their changed columns). A ``machine`` value that is a
    registered machine's id is the writer's, kept. Returns the (session, bucket) pairs of the task and tool rollups
    whose key columns changed, and the number of rows changed."""
    from nexus_tui.core.redact import redact
    from nexus_tui.store.upkeep import bucket

    machines = {r[0] for r in conn.execute(text("SELECT id FROM machines"))}
    dims = _rollup_dims()
    task_keys: set = set()
    tool_keys: set = set()
    seen: dict[str, str] = {}
    count = 0
    for table, key, cols in spec:
        keyed, scol, tcol, kind = dims.get(table, ((), None, None, None))
        extra = (scol, tcol) if keyed else ()
        n, nc = len(key), len(cols)
        for rows in _pages(conn, table, key, cols + extra):
            updates: dict[tuple, list[dict]] = {}
            for r in rows:
                changed = {}
                for i, col in enumerate(cols):
                    v = r[n + i]
                    if type(v) is not str or len(v) < 8 or (col == "machine" and v in machines):
                        continue
                    got = seen.get(v)
                    if got is None:
                        if len(seen) > 50_000:
                            seen.clear()
                        got = seen[v] = redact(v)
                    if got != v:
                        changed[col] = got
                if not changed:
                    continue
                count += 1
                params = {f"k{i}": r[i] for i in range(n)}
                params.update({f"v{cols.index(c)}": got for c, got in changed.items()})
                updates.setdefault(tuple(changed), []).append(params)
                if keyed and not changed.keys().isdisjoint(keyed):
                    (task_keys if kind == "task" else tool_keys).add((r[n + nc], bucket(r[n + nc + 1])))
            for changed_cols, params in updates.items():
                sets = ", ".join(f"{_q(c)} = :v{cols.index(c)}" for c in changed_cols)
                where = " AND ".join(f"{_q(k)} = :k{i}" for i, k in enumerate(key))
                conn.execute(text(f"UPDATE {table} SET {sets} WHERE {where}"), params)
    return task_keys, tool_keys, count


def _redact_keys(conn) -> int:
    """The keys built from data text (core/redact.py REDACTED_KEYS: a quota snapshot's id) rewritten with
    ``redact_key``, as the writer builds them now: on another machine's row after its ``<machine>/`` prefix
    (store/machines.py). A row whose new id is taken already is the same snapshot stored twice: deleted. Returns
    the number of ids rewritten."""
    from nexus_tui.core.redact import REDACTED_KEYS, redact_key

    home = {r[0] for r in conn.execute(text("SELECT id FROM machines WHERE home = :t"), {"t": True})}
    count = 0
    for name, col in REDACTED_KEYS.items():
        table = BATCH_TABLES[name]
        for rows in _pages(conn, table, (col,), ("machine",)):
            for old, machine in rows:
                prefix = f"{machine}/" if machine and machine not in home and old.startswith(f"{machine}/") else ""
                new = prefix + redact_key(old[len(prefix):])
                if new == old:
                    continue
                count += 1
                taken = conn.execute(text(f"SELECT 1 FROM {table} WHERE {_q(col)} = :n"), {"n": new}).first()
                if taken:
                    conn.execute(text(f"DELETE FROM {table} WHERE {_q(col)} = :o"), {"o": old})
                else:
                    conn.execute(text(f"UPDATE {table} SET {_q(col)} = :n WHERE {_q(col)} = :o"),
                                 {"n": new, "o": old})
    return count


def _redact_cursor_states(conn) -> int:
    """The parsers' states kept in the cursors (a tool's name waiting for its result, a request's model) redacted
    as the parsers store them now (``core.redact.redact_state``); a state that is not JSON is left as it is (the
    parser starts that file's state afresh). Returns the number of states rewritten."""
    import orjson

    from nexus_tui.core.redact import redact_state

    count = 0
    for rows in _pages(conn, "ingest_cursors", ("path",), ("state",)):
        for path, state in rows:
            if not state:
                continue
            try:
                old = orjson.loads(state)
            except orjson.JSONDecodeError:
                continue
            new = redact_state(old)
            if new != old:
                count += 1
                conn.execute(text("UPDATE ingest_cursors SET state = :s WHERE path = :p"),
                             {"s": orjson.dumps(new).decode(), "p": path})
    return count


def _redact_all(conn) -> None:
    """Version 15 (REDACT_ALL_SCHEMA_VERSION): since 2026-12-05 the writer redacts every string a record carries
    but its keys (a persona, user agent, account, quota status, project, cwd, model, tool name...), and a quota
    snapshot's id (it holds the window's name); the rows stored before are redacted here, every column the writer
    redacts (``redacted_at_write``), the free text and labels of versions 5 and 13 again, and the parsers' states in
    the cursors (``_redact_cursor_states``). The rollups keyed by a
    changed column (a model, tier, persona or CLI tool; a tool name, MCP server or error type) are summed again for
    the buckets of the changed rows. SQLite: the old text zeroed (``secure_delete``) and, when a row changed, the
    file rewritten once the migration is committed (``_vacuum``)."""
    from nexus_tui.store.rollup import recompute

    with _zeroing(conn):
        task_keys, tool_keys, changed = _redact_tables(conn, redacted_at_write())
        changed += _redact_keys(conn)
        changed += _redact_cursor_states(conn)
        if task_keys or tool_keys:  # the old keys' rollup rows are deleted, zeroed too
            recompute(conn, task_keys, tool_keys)
    if changed and conn.dialect.name == "sqlite":
        conn.info[_VACUUM] = True


# Version 16 (REDACT_KEYS_SCHEMA_VERSION): the key columns and paths built from data text (core/redact.py
# ``_DATA_KEYS``: a session id, request id, tool_use id, line uuid, a file's path) as the writer stores them since
# 2026-12-06 (``key_of``). Parents first: a row whose key changes is copied under its new key, its children pointed
# at it, then the old row deleted (the foreign keys hold throughout, on both backends).
KEY_COLUMNS = (("sessions", ("id",), ("id",)),
               ("tasks", ("id",), ("id", "session_id", "request_id", "message_id", "conversation_id", "branch_id",
                                   "parent_request_id", "parent_task_request_id")),
               ("routing_decisions", ("id",), ("id", "task_id")),
               ("tool_calls", ("id",), ("id", "session_id", "task_id", "tool_use_id", "source_path")),
               ("errors", ("id",), ("id", "session_id", "task_id")),
               ("ingest_cursors", ("path",), ("path",)),
               ("session_stats", ("session_id", "source"), ("session_id",)),
               ("rollup_dirty", ("id",), ("session_id",)),
               ("message_uuids", ("id",), ("id", "session_id")),
               ("title_lines", ("id",), ("id", "leaf_uuid", "session_id")),
               ("link_keys", ("task_id", "kind", "seq"), ("task_id",)))
_COPIED = ("sessions", "tasks")  # referred to by a foreign key: copied under the new key, the old row deleted last


def _key_mapper(conn):
    """``core.redact.key_of`` as it applies to a stored key: after another machine's ``<machine>/`` prefix (the
    writer maps a key before it prefixes it: store/rows.py ``relabel``)."""
    from nexus_tui.core.redact import key_of

    prefixes = tuple(f"{r[0]}/" for r in conn.execute(text("SELECT id FROM machines WHERE home = :f"), {"f": False}))

    def mapped(v):
        if type(v) is not str:
            return v
        for p in prefixes:
            if v.startswith(p):
                return p + key_of(v[len(p):])
        return key_of(v)
    return mapped


def _map_keys(conn) -> int:
    """Version 16: every key and path of ``KEY_COLUMNS`` rewritten with ``key_of`` (a page at a time, only the rows
    that change); a row whose new key is taken already is the same record stored twice: the old one deleted. The
    rollups of the sessions whose ids changed are summed again (old and new keys). Returns the rows changed."""
    from nexus_tui.store.rollup import recompute
    from nexus_tui.store.upkeep import bucket

    mapped = _key_mapper(conn)
    dims = _rollup_dims()
    task_keys: set = set()
    tool_keys: set = set()
    stale: list[tuple[str, tuple, tuple]] = []  # (table, key columns, old key) of copied rows, deleted at the end
    count = 0
    for table, key, cols in KEY_COLUMNS:
        _s, scol, tcol, kind = dims.get(table, ((), None, None, None))
        extra = tuple(c for c in (scol, tcol) if c is not None and c not in cols)
        all_cols = None
        for rows in _pages(conn, table, key, cols + extra):
            n = len(key)
            for r in rows:
                old = dict(zip(cols, r[n:n + len(cols)]))
                new = {c: mapped(v) for c, v in old.items()}
                if new == old:
                    continue
                count += 1
                oldkey = tuple(r[:n])
                newkey = tuple(new.get(k, v) for k, v in zip(key, oldkey))
                where = " AND ".join(f"{_q(k)} = :k{i}" for i, k in enumerate(key))
                params = {f"k{i}": v for i, v in enumerate(oldkey)}
                if kind is not None:
                    row = dict(zip(cols + extra, r[n:]))
                    pair = (row[scol], bucket(row[tcol]) if row[tcol] is not None else None)
                    keys = task_keys if kind == "task" else tool_keys
                    keys.add(pair)
                    keys.add((new[scol] if scol in new else row[scol], pair[1]))
                taken = newkey != oldkey and conn.execute(
                    text(f"SELECT 1 FROM {table} WHERE " + " AND ".join(f"{_q(k)} = :n{i}" for i, k in enumerate(key))),
                    {f"n{i}": v for i, v in enumerate(newkey)}).first() is not None
                changed = {c: v for c, v in new.items() if v != old[c]}
                if table in _COPIED and newkey != oldkey:
                    if not taken:
                        if all_cols is None:
                            all_cols = [c["name"] for c in inspect(conn).get_columns(table)]
                        sel = ", ".join(f":v_{c}" if c in changed else _q(c) for c in all_cols)
                        conn.execute(text(f"INSERT INTO {table} ({', '.join(map(_q, all_cols))}) "
                                          f"SELECT {sel} FROM {table} WHERE {where}"),
                                     {**params, **{f"v_{c}": v for c, v in changed.items()}})
                    stale.append((table, key, oldkey))
                elif taken:
                    conn.execute(text(f"DELETE FROM {table} WHERE {where}"), params)
                else:
                    sets = ", ".join(f"{_q(c)} = :v_{c}" for c in changed)
                    conn.execute(text(f"UPDATE {table} SET {sets} WHERE {where}"),
                                 {**params, **{f"v_{c}": v for c, v in changed.items()}})
    for table, key, oldkey in reversed(stale):  # children first: tasks, then sessions
        conn.execute(text(f"DELETE FROM {table} WHERE " + " AND ".join(f"{_q(k)} = :k{i}" for i, k in enumerate(key))),
                     {f"k{i}": v for i, v in enumerate(oldkey)})
    if task_keys or tool_keys:
        recompute(conn, task_keys, tool_keys)
    return count


def _redact_stored_keys(conn) -> None:
    """Version 16 (REDACT_KEYS_SCHEMA_VERSION): ``_map_keys``, the old text zeroed on SQLite and the file rewritten
    when a row changed (as version 15)."""
    with _zeroing(conn):
        changed = _map_keys(conn)
        changed += _redact_cursor_states(conn)  # the ids naming the states' objects, as the writer stores them now
    if changed and conn.dialect.name == "sqlite":
        conn.info[_VACUUM] = True


def _redact_again(conn) -> None:
    """Version 17 (REDACT_GLUED_SCHEMA_VERSION): since 2026-12-06 a key glued to an escape written out, a URL's
    ``%XX``, a terminal's colour sequence or (for the shapes no word ends in) a word is redacted too
    (core/redact.py ``_B``); what was stored before goes through versions 15 and 16 again with the rules of now."""
    _redact_all(conn)
    _redact_stored_keys(conn)


_VACUUM = "nexus_vacuum_after_migration"


def _vacuum(engine: Engine) -> None:
    """SQLite, after a migration that redacted rows: the file rewritten (VACUUM) and the WAL emptied.
    ``secure_delete`` zeroes what the migration replaces, but not the free space earlier writes left: every write
    sums its buckets' rollup rows again (deleting the old ones), and SQLite's default build does not zero deleted
    text, so copies of an old model or tool name stay in free pages and cells until VACUUM. Needs no transaction
    open, so it runs after the migration's; a database busy with another process is left as it is (redacted rows,
    free space not rewritten: docs/security.md)."""
    import sqlite3

    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("VACUUM")
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError:
        pass
    finally:
        raw.close()


def _add_target(conn) -> None:
    """Version 9 (TARGET_SCHEMA_VERSION): ``tool_calls.target``, self-contained (one column, whatever other
    versions add). Rows stored before keep NULL: the audit trail reads their target from the transcript when it
    shows them (collect/reader.py ``fill_targets``)."""
    have = {c["name"] for c in inspect(conn).get_columns("tool_calls")}
    if "target" not in have:
        conn.execute(text('ALTER TABLE tool_calls ADD COLUMN "target" TEXT'))


def _partial_indexes(conn) -> None:
    """Version 11 (PARTIAL_INDEX_SCHEMA_VERSION): the proxy-only lookup indexes on ``tasks`` made partial (rows
    kept; store/linking.py PARTIAL_INDEXES)."""
    from nexus_tui.store.linking import partial_link_indexes

    partial_link_indexes(conn)


def _add_session_model(conn) -> None:
    """Version 12 (SESSION_MODEL_SCHEMA_VERSION): ``session_stats.model``, self-contained (one column, of the type
    store/schema.py declares, whatever other versions add). Rows stored before keep NULL until the session's next
    status-line event (or a fresh read of the event log) fills it."""
    have = {c["name"] for c in inspect(conn).get_columns("session_stats")}
    if "model" not in have:
        coltype = SessionStat.__table__.c.model.type.compile(dialect=conn.dialect)
        conn.execute(text(f'ALTER TABLE session_stats ADD COLUMN "model" {coltype}'))


def _rebuild_rollups(conn) -> None:
    from nexus_tui.store.rollup import rebuild

    rebuild(conn)


# 3: session_stats; 4: task_rollups and tool_rollups, built from the stored rows; 5: tasks.reported_cost_usd,
# tool_calls.wait_ms (rows stored before keep NULL: their source did not say, or they were read before) and the
# rollups' sums of the cost modes (rebuilt); secrets redacted from the free text stored before; 6
# (PROXY_SCHEMA_VERSION): the proxy's task columns, quota_snapshots, and conversation linking's link_keys with the
# lookup indexes on tasks; 7 (QUOTA_SCHEMA_VERSION): the status line's session columns of
# session_stats and quota_snapshots.machine (new columns, rows kept); 8 (MACHINE_SCHEMA_VERSION): the machine columns and the machines table (rows stored before
# keep NULL until the first machine registers as the home one: store/machines.py register); 9
# (TARGET_SCHEMA_VERSION): tool_calls.target; 10 (TITLES_SCHEMA_VERSION): message_uuids and title_lines; 11
# (PARTIAL_INDEX_SCHEMA_VERSION): the proxy-only lookup indexes made partial; 12 (SESSION_MODEL_SCHEMA_VERSION):
# session_stats.model (the status line's model); 13 (REDACT_LABELS_SCHEMA_VERSION): secrets redacted from the
# error kinds, components and types and the session titles stored before, and from the free text again; 14
# (CURSOR_INDEX_SCHEMA_VERSION): the cursors' covering index on SQLite; 15 (REDACT_ALL_SCHEMA_VERSION): secrets
# redacted from every column the writer redacts (personas, projects, models, tool names...) and quota snapshot ids; 16
# (REDACT_KEYS_SCHEMA_VERSION): secrets redacted from every key and path taken from data (``_map_keys``); 17
# (REDACT_GLUED_SCHEMA_VERSION): 15 and 16 again, with the rules that take keys glued to an escape or a word
MIGRATIONS = {2: [_add_missing, _backfill_v2], 3: [_add_missing], 4: [_add_missing, _rebuild_rollups],
              5: [_add_missing, _rebuild_rollups, _redact_stored], PROXY_SCHEMA_VERSION: [_add_missing, _link_schema],
              QUOTA_SCHEMA_VERSION: [_add_missing],               MACHINE_SCHEMA_VERSION: [_add_missing],
              TARGET_SCHEMA_VERSION: [_add_target],
              TITLES_SCHEMA_VERSION: [_add_missing],  # message_uuids and title_lines (filled as transcripts are read)
              PARTIAL_INDEX_SCHEMA_VERSION: [_partial_indexes],
              SESSION_MODEL_SCHEMA_VERSION: [_add_session_model],
              REDACT_LABELS_SCHEMA_VERSION: [_redact_labels],
              CURSOR_INDEX_SCHEMA_VERSION: [_cursor_index],
              REDACT_ALL_SCHEMA_VERSION: [_redact_all],
              REDACT_KEYS_SCHEMA_VERSION: [_redact_stored_keys],
              REDACT_GLUED_SCHEMA_VERSION: [_redact_again]}


MIGRATION_LOCK_KEY = 0x6E6578_7573  # "nexus": the PostgreSQL advisory lock every migrating process takes first


def _migration_lock(conn) -> None:
    """Serialize migrations across processes and machines. SQLite: the write transaction (BEGIN IMMEDIATE) already
    does. PostgreSQL: a transaction-scoped advisory lock, so two processes opening a new database at once do not
    both create the tables (the second waits, then finds the schema made)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")


def migrate(engine: Engine) -> tuple[int, int]:
    """Bring the database to SCHEMA_VERSION; returns (from_version, to_version)."""
    with engine.connect() as conn:
        start = current_version(conn)
        missing = start == SCHEMA_VERSION and _something_missing(conn)
    if start == SCHEMA_VERSION and not missing:
        return start, start
    if missing:  # a table added within this version (development databases): create it
        with write_tx(engine) as conn:
            _migration_lock(conn)
            before = set(inspect(conn).get_table_names())
            _add_missing(conn)
            _link_schema(conn)
            _cursor_index(conn)
            if any(t.endswith(("_rollups", "_hours", "_days")) and t not in before
                   for t in inspect(conn).get_table_names()):
                _rebuild_rollups(conn)  # a new rollup level is built from the rows
        return start, start
    with write_tx(engine) as conn:
        _migration_lock(conn)
        start = current_version(conn)  # again, under the write lock: another process may have migrated
        if start > SCHEMA_VERSION:
            from nexus_tui.store.engine import StoreError

            raise StoreError(f"the database is at schema version {start}, newer than this nexus-insights "
                             f"({SCHEMA_VERSION}); upgrade nexus-insights")
        if start == SCHEMA_VERSION:
            return start, start
        if start == 0:
            SQLModel.metadata.create_all(conn, tables=[m.__table__ for m in TABLES])
            _link_schema(conn)
            _cursor_index(conn)
            conn.execute(SchemaVersion.__table__.insert().values(version=SCHEMA_VERSION, applied_at=_now(),
                                                                 note="created"))
            return 0, SCHEMA_VERSION
        conn.info.pop(_VACUUM, None)
        for version in range(start + 1, SCHEMA_VERSION + 1):
            for step in MIGRATIONS.get(version, [_add_missing]):
                step(conn)
            conn.execute(SchemaVersion.__table__.insert().values(version=version, applied_at=_now(),
                                                                 note=f"migrated from {version - 1}"))
        vacuum = conn.info.pop(_VACUUM, False)
    if vacuum:
        _vacuum(engine)
    return start, SCHEMA_VERSION
