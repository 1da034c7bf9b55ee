"""Database edge: schema, engine, migrations, the single writer and the read queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from nexus_tui.store.engine import StoreError, describe_db_error, make_engine
from nexus_tui.store.migrations import migrate
from nexus_tui.store.writer import Writer


@dataclass
class Store:
    url: str
    engine: Engine
    writer: Writer

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, create: bool = True, busy_timeout_s: float | None = None) -> Store:
    """Open (and create or migrate) the database at ``url``; raises StoreError with a clear message."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = make_engine(url, busy_timeout_s)
        if create:
            migrate(engine)
    except SQLAlchemyError as e:
        raise StoreError(describe_db_error(e, url)) from e
    except OSError as e:
        raise StoreError(f"cannot open the database {url}: {e}") from e
    return Store(url=url, engine=engine, writer=Writer(engine))
