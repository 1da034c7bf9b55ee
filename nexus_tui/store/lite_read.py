"""The light read: the period reports (daily, weekly, monthly) of a SQLite database through the standard ``sqlite3``
module, with the store's own statements compiled by SQLAlchemy ahead of time (store/read_sql.py), so that
``nexus-insights --headless daily`` imports no SQLAlchemy, SQLModel or schema classes (most of its time).

The statements depend on how the range splits into rollup levels (``spans.plan``: which parts, which bounds are
open) and on the cost mode; read_sql.py holds them for every shape of ranges whose bounds are whole quarter hours
(dates, in any zone: a bound inside a quarter hour needs raw rows, left to the store), each with where its parameters come from
(a bound of a part of the plan, or a constant). Whatever it does not hold (filters on projects, machines, models or
sources; a database at another schema version, with rollup marks queued, or not a plain SQLite file; any
``sqlite3`` error) makes ``open``/``periods`` answer None or raise ``Unsupported``, and the caller takes the store's
path, which handles everything. ``tests/test_lite_read.py`` compares the two paths' reports byte for byte.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import tzinfo
from urllib.parse import quote

from nexus_tui.core.filters import Filters
from nexus_tui.store.period_rows import fold
from nexus_tui.store.spans import money, plan, zone_level

_CHECK_SQL = "SELECT (SELECT max(version) FROM schema_version), (SELECT count(*) FROM (SELECT 1 FROM rollup_dirty " \
             "LIMIT 1))"


class Unsupported(Exception):
    """This read is not one the light path holds: take the store's path."""


def covered(f: Filters) -> bool:
    """Whether the filters are ones the compiled statements hold (a range and a cost mode, nothing else)."""
    return not (f.project or f.project_members or f.model or f.source or f.cli_tool or f.persona or f.machine)


def shape(parts) -> tuple:
    """The key of a plan's statements: each part's level and which of its bounds are set."""
    return tuple((level, lo is not None, hi is not None) for level, lo, hi in parts)


def statements(f: Filters, tz: tzinfo) -> tuple[tuple, list]:
    """(the compiled entries of the period statements, the plan's parts) for ``f`` in ``tz``; Unsupported when
    read_sql.py does not hold them."""
    from nexus_tui.store.read_sql import PERIODS

    if not covered(f):
        raise Unsupported("filters")
    level = zone_level(tz, f.since_ms, f.until_ms)
    parts = plan(f.since_ms, f.until_ms, level)
    entry = PERIODS.get((level, shape(parts), f.cost_mode))
    if entry is None:
        raise Unsupported("range")
    return entry, parts


def bind(entry, parts) -> tuple[str, tuple]:
    """(SQL, parameters) of one compiled statement: each parameter a bound of the plan's parts or a constant."""
    from nexus_tui.store.read_sql import SQL

    index, params, _money = entry
    slots = [v for _level, lo, hi in parts for v in (lo, hi)]
    return SQL[index], tuple(slots[v] if is_slot else v for is_slot, v in params)


class LiteReader:
    """A read transaction on a SQLite file at the schema the statements were compiled for, with no rollup mark
    queued (the rollups are whole). Passed to the period reports in place of an engine (``lite`` is true)."""

    lite = True

    def __init__(self, raw: sqlite3.Connection):
        self.raw = raw

    @classmethod
    def open(cls, path: str, busy_timeout_s: float | None = None) -> LiteReader | None:
        from nexus_tui.store import read_sql
        from nexus_tui.store.version import SCHEMA_VERSION

        if read_sql.SCHEMA_VERSION != SCHEMA_VERSION or not os.path.exists(path):
            return None
        if busy_timeout_s is None:
            from nexus_tui.store.engine import DEFAULT_BUSY_TIMEOUT_S

            busy_timeout_s = float(os.environ.get("NEXUS_INSIGHTS_BUSY_TIMEOUT", DEFAULT_BUSY_TIMEOUT_S))
        try:
            raw = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=busy_timeout_s,
                                  isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return None
        try:
            raw.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            raw.execute("BEGIN")  # one snapshot for the check and every statement
            if raw.execute(_CHECK_SQL).fetchone() != (SCHEMA_VERSION, 0):
                raw.close()
                return None
        except sqlite3.Error:
            raw.close()
            return None
        return cls(raw)

    def close(self) -> None:
        try:
            self.raw.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        self.raw.close()

    def _run(self, entry, parts) -> list[tuple]:
        """Run one compiled statement (``bind``), its money columns rounded as the store's Money type reads them."""
        money_cols = entry[2]
        rows = self.raw.execute(*bind(entry, parts)).fetchall()
        if money_cols:
            rows = [tuple(money(v) if i in money_cols and v is not None else v for i, v in enumerate(r)) for r in rows]
        return rows

    def periods(self, f: Filters, tz: tzinfo, unit: str = "date") -> list[dict]:
        """store.periods.periods over this database (Unsupported when the statements are not compiled here)."""
        from nexus_tui.store.read_sql import PERIODS_TASK_COLUMNS

        entry, parts = statements(f, tz)
        rows = [dict(zip(PERIODS_TASK_COLUMNS, r)) for r in self._run(entry[0], parts)]
        return fold(rows, self._run(entry[1], parts), tz, unit)


# --- store/read_sql.py, generated from the read side's statements -------------------------------------------------

def _ranges():
    """Ranges that give every shape of plan over bounds of whole quarter hours: open or bounded ends at every quarter
    hour of a day, of every length in quarter hours up to a day and of a few days more."""
    d, q = 86_400_000, 900_000
    base = 20_000 * d
    lens = [k * q for k in range(1, 97)] + [n * d + k * q for n in (1, 3) for k in range(0, 96)]
    yield None, None
    for i in range(96):
        lo = base + i * q
        yield lo, None
        yield None, lo
        for n in lens:
            yield lo, lo + n


def generate() -> str:
    """The source of store/read_sql.py. ``python -m nexus_tui.store.lite`` rewrites it; tests/test_lite_read.py fails
    when it is out of date."""
    from sqlalchemy.dialects import sqlite

    from nexus_tui.store.periods import statements
    from nexus_tui.store.schema import SCHEMA_VERSION, Money
    from nexus_tui.store.upkeep import COST_MODES

    dialect = sqlite.dialect()
    texts: dict[str, int] = {}
    periods: dict[tuple, tuple] = {}
    task_columns = None

    def compiled(stmt) -> tuple:
        c = stmt.compile(dialect=dialect)
        money_cols = []
        for i, col in enumerate(stmt.selected_columns):
            if isinstance(col.type, Money):
                money_cols.append(i)
            elif col.type.result_processor(dialect, None) is not None:
                raise AssertionError(f"a result processor the light read does not apply: {col.type!r}")
        return str(c), [c.params[k] for k in c.positiontup], tuple(money_cols)

    from nexus_tui.store.read import plan as read_plan

    reps: dict[tuple, tuple] = {}
    for level in ("day", "hour", "quarter"):
        for since, until in _ranges():
            parts = plan(since, until, level)
            if any(p[0] == "raw" for p in parts):  # a bound inside a quarter hour (a time, not a date): the store
                continue
            reps.setdefault((level, shape(parts)), (since, until, parts))
    # each statement is compiled with the plan's bounds replaced by marked values (slot i: MARK + i), so every
    # parameter is known as the bound of a part it is (two bounds of a real range may be equal), or a constant
    mark = 9 * 10 ** 15
    real_plan = read_plan.plan
    try:
        for (level, key), (since, until, parts) in reps.items():
            marked = [(lv, None if lo is None else mark + 2 * i, None if hi is None else mark + 2 * i + 1)
                      for i, (lv, lo, hi) in enumerate(parts)]
            read_plan.plan = lambda *_a, _m=marked, **_k: list(_m)
            for mode in COST_MODES:
                entry = []
                stmts = statements(Filters(since_ms=since, until_ms=until, cost_mode=mode), level)
                cols = tuple(c.name for c in stmts[0].selected_columns)
                assert task_columns in (None, cols)
                task_columns = cols
                for stmt in stmts:
                    sql, values, money_cols = compiled(stmt)
                    params = tuple((True, v - mark) if isinstance(v, int) and v >= mark else (False, v)
                                   for v in values)
                    entry.append((texts.setdefault(sql, len(texts)), params, money_cols))
                periods[(level, key, mode)] = tuple(entry)
    finally:
        read_plan.plan = real_plan
    out = ['"""Generated by ``python -m nexus_tui.store.lite`` from the read side\'s statements (store/periods.py): do '
           'not edit.\nThe statements compiled for SQLite (SQL), and per (zone level, plan shape, cost mode) which of '
           'them the period reports\nrun: (index, parameters as (from the plan\'s bounds?, slot or value), money '
           'columns), for store/lite_read.py."""', "",
           f"SCHEMA_VERSION = {SCHEMA_VERSION}", "", f"PERIODS_TASK_COLUMNS = {task_columns!r}", "", "SQL = ("]
    out += [f"    {t!r}," for t in texts]
    out += [")", "", "PERIODS = {"]
    for key, entry in periods.items():
        out.append(f"    {key!r}: {entry!r},")
    out += ["}", ""]
    return "\n".join(out)
