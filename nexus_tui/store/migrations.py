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
                                     QUOTA_SCHEMA_VERSION, REDACT_LABELS_SCHEMA_VERSION, SCHEMA_VERSION,
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
# (CURSOR_INDEX_SCHEMA_VERSION): the cursors' covering index on SQLite
MIGRATIONS = {2: [_add_missing, _backfill_v2], 3: [_add_missing], 4: [_add_missing, _rebuild_rollups],
              5: [_add_missing, _rebuild_rollups, _redact_stored], PROXY_SCHEMA_VERSION: [_add_missing, _link_schema],
              QUOTA_SCHEMA_VERSION: [_add_missing],               MACHINE_SCHEMA_VERSION: [_add_missing],
              TARGET_SCHEMA_VERSION: [_add_target],
              TITLES_SCHEMA_VERSION: [_add_missing],  # message_uuids and title_lines (filled as transcripts are read)
              PARTIAL_INDEX_SCHEMA_VERSION: [_partial_indexes],
              SESSION_MODEL_SCHEMA_VERSION: [_add_session_model],
              REDACT_LABELS_SCHEMA_VERSION: [_redact_labels],
              CURSOR_INDEX_SCHEMA_VERSION: [_cursor_index]}


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
        for version in range(start + 1, SCHEMA_VERSION + 1):
            for step in MIGRATIONS.get(version, [_add_missing]):
                step(conn)
            conn.execute(SchemaVersion.__table__.insert().values(version=version, applied_at=_now(),
                                                                 note=f"migrated from {version - 1}"))
    return start, SCHEMA_VERSION
