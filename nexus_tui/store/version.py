"""The schema version, in a module of its own: the ingest command compares it with the database's before it loads
SQLAlchemy or the schema (``collect.parsing.Ahead.nothing_to_read``)."""

PROXY_SCHEMA_VERSION = 6  # the recording proxy's columns and quota_snapshots
SCHEMA_VERSION = 6
