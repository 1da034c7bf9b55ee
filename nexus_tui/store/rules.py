"""Rules that both the writer's rollup upkeep (store/rollup.py) and the read side (store/read/) follow, each
declared once: the dimensions and summed columns of the rollups, and a task's cost under each cost mode.

The SQL text the upkeep runs is generated from these declarations (``sql``), so the Python expressions the read
side builds and the statements the writer runs cannot disagree (tests/test_rules.py checks both on fixture data).
"""

from __future__ import annotations

from sqlalchemy import and_, case, or_

from nexus_tui.store.schema import Task

T = Task.__table__

TASK_DIMS = ("model", "source", "routing", "tier", "persona", "cli_tool", "agent")
TOKEN_COLUMNS = ("tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens")  # a task's summed tokens
COST_MODES = ("auto", "calculate", "display")


def agent_expr(t=None):
    """The ``agent`` dimension of a task: 'main' or 'sub-agent'."""
    from sqlalchemy import literal

    t = T if t is None else t
    return case((t.c.agent_id.is_(None), literal("main")), else_=literal("sub-agent"))


def cost_expr(mode: str = "auto", t=None):
    """A task's cost under the cost mode (``auto``, ``calculate``: our price of its tokens, ``display``: the cost the
    source reported, NULL where it reported none), as a SQL expression over the tasks table ``t``. The one place the
    modes are defined: the rollups sum each mode's cost (cost_usd, cost_auto_usd, cost_display_usd) and
    ``read.plan.task_source`` hands the chosen one on as ``cost_usd``.

    Auto: the source's own figure when it reports one and the 5m/1h split of the cache writes is unknown (or the
    model could not be priced), else the computed cost."""
    t = T if t is None else t
    if mode == "calculate":
        return t.c.cost_usd
    if mode == "display":
        return t.c.reported_cost_usd
    return case((and_(t.c.reported_cost_usd.isnot(None),
                      or_(t.c.cost_usd.is_(None), and_(t.c.cache_creation_tokens > 0,
                                                      t.c.cache_creation_5m_tokens.is_(None),
                                                      t.c.cache_creation_1h_tokens.is_(None)))),
                 t.c.reported_cost_usd), else_=t.c.cost_usd)


def cloud_expr(mode: str = "auto", t=None):
    """A task's cloud-cost equivalent under the cost mode: a cloud task's is its cost (so local savings stay
    cloud equivalent − cost), a local task's the stored price of the reference model."""
    t = T if t is None else t
    if mode == "calculate":
        return t.c.cloud_cost_equivalent
    return case((t.c.routing == "local", t.c.cloud_cost_equivalent), else_=cost_expr(mode, t))


def sql(expr, dialect: str = "sqlite") -> str:
    """An expression over unqualified columns as SQL text for the upkeep's statements, in ``dialect`` (literals
    inlined: booleans are written differently by SQLite and PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as d
    else:
        from sqlalchemy.dialects import sqlite as d
    text = str(expr.compile(dialect=d.dialect(), compile_kwargs={"literal_binds": True}))
    return text.replace("tasks.", "").replace("tool_calls.", "")


# ---------------------------------------------------------------- the summed columns of a task, declared once
# (rollup column, how rows fold into it): the writer's rollup upkeep sums the tasks with these in SQL text generated
# from ``task_measure`` (store/rollup.py), coarser levels fold finer rows with the same aggregates, and the read
# side's raw rows are the same expressions, one task each (store/read/plan.py raw_task_rows).
TASK_MEASURES = (
    ("tasks", "SUM"), *[(k, "SUM0") for k in TOKEN_COLUMNS], ("cost_usd", "SUM"), ("cloud_cost_equivalent", "SUM"),
    ("unpriced", "SUM"), ("lat_n", "SUM"), ("lat_sum", "SUM"), ("lat_max", "MAX"), ("rated_helpful", "SUM"),
    ("rated_not_helpful", "SUM"), ("first_ms", "MIN"), ("last_ms", "MAX"),
    # the cost, unpriced count and cloud equivalent of the other cost modes (the three above: ``calculate``)
    ("cost_auto_usd", "SUM"), ("unpriced_auto", "SUM"), ("cost_display_usd", "SUM"), ("unpriced_display", "SUM"),
    ("cloud_auto_usd", "SUM"), ("cloud_display_usd", "SUM"),
)
# the columns a task row source hands on (task_source): the cost mode's own under the names of ``calculate``
TASK_ROW_COLUMNS = tuple(n for n, _a in TASK_MEASURES[:15])
MODE_COLUMNS = {"auto": {"cost_usd": "cost_auto_usd", "unpriced": "unpriced_auto",
                         "cloud_cost_equivalent": "cloud_auto_usd"},
                "display": {"cost_usd": "cost_display_usd", "unpriced": "unpriced_display",
                            "cloud_cost_equivalent": "cloud_display_usd"}}


def task_measure(name: str, mode: str = "calculate", t=None):
    """One task's value of the measure ``name`` (a TASK_MEASURES column), its cost under ``mode``."""
    from sqlalchemy import literal

    t = T if t is None else t
    one, zero = literal(1), literal(0)
    for m, cols in MODE_COLUMNS.items():  # the stored column of another mode: that mode's measure
        for base, col in cols.items():
            if name == col:
                return task_measure(base, m, t)
    if name == "tasks":
        return one
    if name in TOKEN_COLUMNS:
        return t.c[name]
    if name == "cost_usd":
        return cost_expr(mode, t)
    if name == "cloud_cost_equivalent":
        return cloud_expr(mode, t)
    if name == "unpriced":
        return case((cost_expr(mode, t).is_(None), one), else_=zero)
    if name == "lat_n":
        return case((t.c.latency_ms.is_(None), zero), else_=one)
    if name in ("lat_sum", "lat_max"):
        return t.c.latency_ms
    if name == "rated_helpful":
        return case((t.c.quality_rating == 1, one), else_=zero)
    if name == "rated_not_helpful":
        return case((t.c.quality_rating == 0, one), else_=zero)
    if name in ("first_ms", "last_ms"):
        return t.c.ts_ms
    raise KeyError(name)


def fold_sql(agg: str, expr_sql: str) -> str:
    """The SQL aggregate of a measure: SUM0 is a sum that is 0 rather than NULL over no value."""
    return f"COALESCE(SUM({expr_sql}), 0)" if agg == "SUM0" else f"{agg}({expr_sql})"


def task_measures_sql(dialect: str = "sqlite") -> str:
    """The SELECT list summing tasks into a rollup row, in TASK_MEASURES order (SQL text for the upkeep)."""
    return ", ".join(fold_sql(agg, sql(task_measure(name), dialect)) for name, agg in TASK_MEASURES)


def by_fold(measures=TASK_MEASURES) -> tuple[tuple, tuple, tuple]:
    """(summed, max, min) column names, to fold finer rollup rows into coarser ones."""
    return (tuple(n for n, a in measures if a in ("SUM", "SUM0")), tuple(n for n, a in measures if a == "MAX"),
            tuple(n for n, a in measures if a == "MIN"))


# ---------------------------------------------------------------- the summed columns of a tool call, declared once
# as for tasks: the upkeep groups the calls with these (tool_measures_sql), the read side's raw rows are the same
# expressions (store/read/plan.py raw_tool_rows). ok_helpful / ok_not_helpful (successful calls by the asking task's
# rating, for the useful changes) need the task: ``tool_measure(name, rating=…)``.
TOOL_DIMS = ("tool_name", "mcp_server", "error_type")
TOOL_MEASURES = (("calls", "SUM"), ("failures", "SUM"), ("pending", "SUM"), ("ok_all", "SUM"), ("lat_n", "SUM"),
                 ("lat_sum", "SUM"), ("lat_max", "MAX"))
TOOL_RATED = (("ok_helpful", "SUM", 1), ("ok_not_helpful", "SUM", 0))
TOOL_ROW_COLUMNS = (*TOOL_DIMS, *[n for n, _a in TOOL_MEASURES[:4]], *[n for n, _a, _r in TOOL_RATED],
                    *[n for n, _a in TOOL_MEASURES[4:]])


def tool_error_type(tc=None):
    """A call's error type dimension: its error_type when it failed, else NULL."""
    from sqlalchemy import null

    tc = _TC() if tc is None else tc
    return case((tc.c.success.is_(False), tc.c.error_type), else_=null())


def tool_measure(name: str, tc=None, rating=None):
    """One tool call's value of ``name``: a TOOL_MEASURES column, or a TOOL_RATED one given the asking task's
    ``rating`` (an expression)."""
    from sqlalchemy import and_ as and__
    from sqlalchemy import literal

    tc = _TC() if tc is None else tc
    one, zero = literal(1), literal(0)
    ok = tc.c.success.is_(True)
    if name == "calls":
        return one
    if name == "failures":
        return case((tc.c.success.is_(False), one), else_=zero)
    if name == "pending":
        return case((tc.c.success.is_(None), one), else_=zero)
    if name == "ok_all":
        return case((ok, one), else_=zero)
    if name == "lat_n":
        return case((tc.c.latency_ms.is_(None), zero), else_=one)
    if name in ("lat_sum", "lat_max"):
        return tc.c.latency_ms
    for n, _a, r in TOOL_RATED:
        if name == n:
            return case((and__(ok, rating == r), one), else_=zero)
    raise KeyError(name)


def tool_measures_sql(dialect: str = "sqlite") -> str:
    """The SELECT list grouping tool calls into a rollup row, in TOOL_MEASURES order (SQL text for the upkeep)."""
    return ", ".join(fold_sql(agg, sql(tool_measure(name), dialect)) for name, agg in TOOL_MEASURES)


def _TC():
    from nexus_tui.store.schema import ToolCall

    return ToolCall.__table__
