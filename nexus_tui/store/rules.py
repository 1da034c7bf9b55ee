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


def sql(expr) -> str:
    """An expression over unqualified columns as SQL text for the upkeep's statements (literals inlined; the text
    is the same on SQLite and PostgreSQL for the expressions used here)."""
    from sqlalchemy.dialects import sqlite

    text = str(expr.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    return text.replace("tasks.", "").replace("tool_calls.", "")
