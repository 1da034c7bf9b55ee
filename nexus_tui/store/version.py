"""The schema version, in a module of its own: the ingest command compares it with the database's before it loads
SQLAlchemy or the schema (``collect.parsing.Ahead.nothing_to_read``)."""

SCHEMA_VERSION = 4
