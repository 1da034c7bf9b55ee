"""Usage per calendar period (day, ISO week, month) in a time zone, optionally per model inside each period.

Grouped in SQL by 15-minute UTC buckets (every zone offset is a multiple of 15 minutes) and by model, folded into
local periods in Python (store/period_rows.py, shared with the light read), exactly as ``queries.daily`` folds days;
so a week's or a month's sums are the sums of its days.
"""

from __future__ import annotations

from datetime import tzinfo

from sqlalchemy import Engine, func, select

from nexus_tui.core.filters import Filters
from nexus_tui.store.period_rows import SUMS, UNITS, fold, period_key, totals  # noqa: F401 (this module's names)
from nexus_tui.store.read import plan
from nexus_tui.store.read.plan import session_filter, usage_cols_u
from nexus_tui.store.upkeep import Q_MS as _BUCKET_MS  # the rollups' 15-minute bucket


def statements(f: Filters, level: str) -> tuple:
    """The two statements of ``periods`` for rollup rows no coarser than ``level`` (``plan.zone_level``): usage per
    (bucket, model) and (bucket, calls, failures). store/lite_read.py runs them compiled (store/read_sql.py)."""
    sf = session_filter(f)
    u = plan.task_source(f, sf, coarsest=level)
    t = plan.tool_source(f, sf, coarsest=level)
    bucket = (u.c.ts_ms // _BUCKET_MS).label("b")
    tb = (t.c.ts_ms // _BUCKET_MS)
    return (select(bucket, u.c.model, *usage_cols_u(u)).group_by(bucket, u.c.model),
            select(tb.label("b"), func.sum(t.c.calls), func.coalesce(func.sum(t.c.failures), 0)).group_by(tb))


def periods(engine: Engine, f: Filters, tz: tzinfo, unit: str = "date") -> list[dict]:
    """Rows per period (``unit``: date | week | month), oldest first (period_rows.fold)."""
    task_stmt, tool_stmt = statements(f, plan.zone_level(tz, f.since_ms, f.until_ms))
    with engine.connect() as conn:
        rows = [r._mapping for r in conn.execute(task_stmt).all()]
        tools = conn.execute(tool_stmt).all()
    return fold(rows, tools, tz, unit)
