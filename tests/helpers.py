"""Small helpers shared by tests: open a store, run one pass, dump tables for comparison."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from nexus_tui.collect.collector import Collector
from nexus_tui.collect.sources import ClaudeCodeSource
from nexus_tui.store import open_store


def store_at(path: Path):
    return open_store(f"sqlite:///{path}")


def collector_for(store, projects: Path, workers: int = 1) -> Collector:
    return Collector(store, [ClaudeCodeSource([projects])], workers=workers)


MACHINE_COLUMNS = ("machine", "rated_by")  # who wrote or rated a row: compared by the machine tests themselves


def dump(store, *, ingest_errors: bool = False, machine: str | None = None) -> dict[str, list[tuple]]:
    """Every row of the data tables, sorted, for whole-database equality checks (the machine columns left out;
    ``machine``: only that machine's rows)."""
    out = {}
    with store.engine.connect() as conn:
        for table in ("sessions", "tasks", "tool_calls", "routing_decisions"):
            where = f"WHERE machine = '{machine}'" if machine and table != "routing_decisions" else ""
            rows = conn.execute(text(f"SELECT * FROM {table} {where}"))
            keys = list(rows.keys())
            # the file a tool call sits in is compared by name: trees in two temp dirs hold the same files
            out[table] = sorted(tuple(Path(v).name if k == "source_path" and v else v for k, v in zip(keys, r)
                                      if k not in MACHINE_COLUMNS)
                                for r in rows)
        conds = ([] if ingest_errors else ["component <> 'ingest'"]) + ([f"machine = '{machine}'"] if machine else [])
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        out["errors"] = sorted(tuple(r) for r in conn.execute(
            text(f"SELECT id, time, component, kind, message, session_id FROM errors {where}")))
    return out


def session_totals(store) -> dict[str, tuple]:
    with store.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT session_id, SUM(tokens_in), SUM(tokens_out), SUM(cache_creation_tokens), "
            "SUM(cache_read_tokens), SUM(cost_usd), COUNT(*) FROM tasks GROUP BY session_id"))
        return {r[0]: tuple(r[1:]) for r in rows}
