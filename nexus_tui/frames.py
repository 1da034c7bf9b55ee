"""pandas DataFrames of the store, for notebooks: tasks, sessions, tool calls, errors and quota snapshots over a
range and filters (docs/frames.md). The rows are read by ``store/frames_sql.py`` under the reports' own conditions,
so sums over a frame equal the headless reports' numbers; here they only get typed columns:

- times: ``datetime64[ns, UTC]`` (``*_time``; the epoch-ms columns they come from are dropped),
- counts and tokens: nullable ``Int64``; money: ``float64`` (NaN = unpriced / not reported),
- ids, names and text: pandas ``string``; flags: nullable ``boolean``.

Usage::

    from nexus_tui import frames
    with frames.open_frames() as fr:            # the configured database (insights.toml, NEXUS_INSIGHTS_DB)
        tasks = fr.tasks(since="2026-01-01", project="clientA")
"""

from __future__ import annotations

from contextlib import contextmanager

import pandas as pd

from nexus_tui.core.filters import Filters, local_zone, parse_bound, with_project_groups
from nexus_tui.store import frames_sql as F

TIME_COLS = {"ts_ms": "time", "end_ms": "end_time", "start_ms": "start_time", "started_ms": "started_time",
             "ended_ms": "ended_time", "observed_ms": "observed_time", "resets_at_ms": "resets_at"}
INT_COLS = {"tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "thinking_tokens", "total_tokens",
            "latency_ms", "ttft_ms", "quality_rating", "wait_ms", "input_size", "output_size"}
FLOAT_COLS = {"cost_usd", "cost_computed_usd", "reported_cost_usd", "cloud_cost_equivalent", "used_fraction"}
BOOL_COLS = {"is_sidechain", "unpriced", "success"}


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _frame(names: list[str], rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=names)
    out = {}
    for c in names:
        s = df[c]
        if c in TIME_COLS:
            out[TIME_COLS[c]] = pd.to_datetime(pd.array(s, dtype="Int64"), unit="ms", utc=True)
        elif c in INT_COLS:
            out[c] = pd.array(s, dtype="Int64")
        elif c in FLOAT_COLS:
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif c in BOOL_COLS:
            out[c] = pd.array([None if _missing(v) else bool(v) for v in s], dtype="boolean")
        else:
            out[c] = pd.array([None if _missing(v) else str(v) for v in s], dtype="string")
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


class Frames:
    """DataFrames over one store. Every method takes the same range and filters as the reports: ``since`` /
    ``until`` (``YYYY-MM-DD`` whole days in ``tz``, or ISO times), ``project`` (a project, part of a cwd, or a
    ``[projects] groups`` name), ``model``, ``source``, ``machine``, ``cost_mode``; or a ready ``Filters``."""

    def __init__(self, engine, tz: str | None = None, groups: dict[str, tuple[str, ...]] | None = None,
                 cost_mode: str = "auto") -> None:
        self.engine = engine
        self.tz = local_zone(tz)
        self.groups = groups or {}
        self.cost_mode = cost_mode

    def filters(self, since=None, until=None, project=None, model=None, source=None, machine=None,
                cost_mode=None, filters: Filters | None = None) -> Filters:
        if filters is None:
            filters = Filters(since_ms=parse_bound(since, self.tz, end=False) if since else None,
                              until_ms=parse_bound(until, self.tz, end=True) if until else None,
                              project=project or None, model=model or None, source=source or None,
                              machine=machine or None, cost_mode=cost_mode or self.cost_mode,
                              range_name="custom" if since or until else "all")
        return with_project_groups(filters, self.groups)

    def tasks(self, **kw) -> pd.DataFrame:
        """One row per task (an API turn): time, end_time, session_id, model, tokens by type, cost_usd (in the cost
        mode; NaN for an unpriced task, ``unpriced`` True), cost_computed_usd, reported_cost_usd, latency_ms, …"""
        return _frame(*F.tasks(self.engine, self.filters(**kw)))

    def sessions(self, **kw) -> pd.DataFrame:
        """One row per session that counts in range (a task or a tool call in it)."""
        return _frame(*F.sessions(self.engine, self.filters(**kw)))

    def tool_calls(self, **kw) -> pd.DataFrame:
        """One row per tool call started in range: tool_name, mcp_server, success (NA while pending), latency_ms
        (execution), wait_ms (waiting for the user), error_type, error_message (redacted)."""
        return _frame(*F.tool_calls(self.engine, self.filters(**kw)))

    def errors(self, **kw) -> pd.DataFrame:
        """One row per stored error event (API errors, tool errors, ingest problems)."""
        return _frame(*F.errors(self.engine, self.filters(**kw)))

    def quota_snapshots(self, **kw) -> pd.DataFrame:
        """One row per observed quota window (range only: quota is per account)."""
        return _frame(*F.quota_snapshots(self.engine, self.filters(**kw)))


@contextmanager
def open_frames(home=None, db=None, tz: str | None = None):
    """``Frames`` over the configured database (read-only use; the store is closed on exit)."""
    from nexus_tui.config import load_settings
    from nexus_tui.store import open_store

    settings = load_settings(home, db)
    store = open_store(settings.db_url, read_only_ok=True)
    try:
        yield Frames(store.engine, tz=tz, groups=settings.project_groups, cost_mode=settings.cost_mode)
    finally:
        store.close()
