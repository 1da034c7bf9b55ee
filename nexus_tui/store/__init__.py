"""Database edge: schema, engine, migrations, the single writer and the read queries.

Importing this package costs nothing: SQLAlchemy, SQLModel and the schema load with ``open_store`` (or the
submodule that needs them), so light code (config, the ingest command's parse side) can import ``store.engine``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nexus_tui.store.engine import StoreError, describe_db_error, make_engine

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from nexus_tui.store.writer import Writer

__all__ = ["Store", "StoreError", "describe_db_error", "make_engine", "migrate", "open_store", "Writer"]


def __getattr__(name: str):
    if name == "migrate":
        from nexus_tui.store.migrations import migrate

        return migrate
    if name == "Writer":
        from nexus_tui.store.writer import Writer

        return Writer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Store:
    url: str
    engine: Engine
    writer: Writer

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, create: bool = True, busy_timeout_s: float | None = None,
               read_only_ok: bool = False, machine: tuple[str, str | None] | None = None) -> Store:
    """Open (and create or migrate) the database at ``url``; raises StoreError with a clear message.

    ``read_only_ok`` (reports that write nothing): a SQLite file in a read-only folder, or itself read-only, is opened
    read-only, provided its schema is the current one. ``machine``: (id, name) of the collector writing through this
    store (nexus_tui/machine.py; docs/teams.md): registered, and every row it writes names it."""
    from sqlalchemy.exc import SQLAlchemyError

    from nexus_tui.store.engine import folder_problem
    from nexus_tui.store.migrations import migrate
    from nexus_tui.store.writer import Writer

    problem = folder_problem(url)
    read_only = bool(problem) and read_only_ok
    try:
        engine = make_engine(url, busy_timeout_s, read_only=read_only)
        if read_only:
            from nexus_tui.store.migrations import current_version
            from nexus_tui.store.schema import SCHEMA_VERSION

            with engine.connect() as conn:
                version = current_version(conn)
            if version != SCHEMA_VERSION:
                engine.dispose()
                raise StoreError(f"{problem}, and the database needs an upgrade (schema {version}, this version "
                                 f"reads {SCHEMA_VERSION}): open it once from a writable place")
        elif create:
            migrate(engine)
    except SQLAlchemyError as e:
        raise StoreError(describe_db_error(e, url)) from e
    except OSError as e:
        if e.errno == errno.ELOOP and getattr(e, "filename", None):  # private.py: never through a symbolic link
            raise StoreError(f"the database is not opened: {e.filename}: {e.strerror}") from e
        where = f"the folder {e.filename}" if getattr(e, "filename", None) else f"the database {url}"
        raise StoreError(f"cannot create {where}: {e.strerror or e}") from e
    writer = Writer(engine)
    if machine is not None and not read_only:
        try:
            writer.set_machine(*machine)
        except SQLAlchemyError as e:
            engine.dispose()
            raise StoreError(describe_db_error(e, url)) from e
    return Store(url=url, engine=engine, writer=writer)
