"""The schema version, in a module of its own: the ingest command compares it with the database's before it loads
SQLAlchemy or the schema (``collect.parsing.Ahead.nothing_to_read``)."""

PROXY_SCHEMA_VERSION = 6  # the recording proxy's task columns, quota_snapshots, link_keys
QUOTA_SCHEMA_VERSION = 7  # the status line's session columns, quota_snapshots.machine
MACHINE_SCHEMA_VERSION = 8  # the machine columns and the machines table
TARGET_SCHEMA_VERSION = 9  # tool_calls.target (the audit trail's file, program or host)
TITLES_SCHEMA_VERSION = 10  # message_uuids and title_lines: session titles (store/titles.py)
PARTIAL_INDEX_SCHEMA_VERSION = 11  # the proxy-only lookup indexes on tasks hold the proxy's rows alone
SESSION_MODEL_SCHEMA_VERSION = 12  # session_stats.model: the model the status line reported
REDACT_LABELS_SCHEMA_VERSION = 13  # error kinds, components and types, and session titles, redacted when stored before
CURSOR_INDEX_SCHEMA_VERSION = 14  # SQLite: the cursors' scan reads a covering index, not their parser state
REDACT_ALL_SCHEMA_VERSION = 15  # every string the writer redacts (a persona, a model...), when stored before
REDACT_KEYS_SCHEMA_VERSION = 16  # every key and path taken from data (ids, paths), when stored before
REDACT_GLUED_SCHEMA_VERSION = 17  # the redaction rules take keys glued to an escape or a word: everything again
SCHEMA_VERSION = 17
