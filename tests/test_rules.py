"""Each rule declared once, its Python and its SQL checked against each other on the real fixture transcripts:
the merge policy of a task seen by several records (core/merge.py folds in Python; store/writer.py's upsert is
built from the same lists), the auto cost mode (store/rules.py: the read side's expression and the text the rollup
upkeep runs) and the useful-change formula (core.scoring.useful_changes, in Python and applied to SQL)."""

from __future__ import annotations

from sqlalchemy import func, select, text

from nexus_tui.core.events import Batch
from nexus_tui.core.filters import Filters
from nexus_tui.core.parse.claude_code import FileContext, new_state, parse_lines
from nexus_tui.core.scoring import is_file_changing, useful_changes
from nexus_tui.store import rules
from nexus_tui.store.read import efficiency as RE
from nexus_tui.store.read.plan import T
from tests.conftest import copy_cc_tree
from tests.helpers import collector_for, dump, store_at


def _fixture_batches(tmp_path) -> list[Batch]:
    projects = copy_cc_tree(tmp_path / "cc")
    out = []
    for path in sorted(projects.rglob("*.jsonl")):
        out.append(parse_lines(path.read_bytes(), 0, FileContext(str(path)), new_state()))
    return out


def _records(b: Batch) -> list[Batch]:
    """Every record of ``b`` as its own batch (sessions first, as a pass writes them)."""
    return ([Batch(sessions=[s]) for s in b.sessions] + [Batch(tasks=[t]) for t in b.tasks]
            + [Batch(tool_uses=[u]) for u in b.tool_uses] + [Batch(tool_results=[r]) for r in b.tool_results])


def test_the_merge_policy_folds_the_same_in_python_and_in_sql(tmp_path):
    """The same records written once as whole files (folded in Python first: writer.prepare -> core.merge) and once
    one record per transaction (each merged by the SQL upsert) give the same rows. In the records' own order: a
    task's time is its first record's under both, so only the merge, not the arrival order, is compared."""
    batches = _fixture_batches(tmp_path)
    assert sum(len(b.tasks) for b in batches) > len({t.id for b in batches for t in b.tasks})  # records do merge
    python = store_at(tmp_path / "python.sqlite")
    for b in batches:
        python.writer.write(b)
    sql = store_at(tmp_path / "sql.sqlite")
    singles = [one for b in batches for one in _records(b)]
    sessions = [s for s in singles if s.sessions]
    for one in sessions + [s for s in singles if not s.sessions]:  # a task's session row exists first (FK)
        sql.writer.write(one)
    a, b = dump(python), dump(sql)
    assert a["tasks"] and a["sessions"]
    assert a["tasks"] == b["tasks"]
    assert a["tool_calls"] == b["tool_calls"]
    assert a["sessions"] == b["sessions"]


def test_the_auto_cost_rule_reads_the_same_from_the_rollups_and_the_rows(tmp_path):
    """The rollup upkeep (store/upkeep.py) runs SQL text generated from rules.py into store/rollup_sql.py (so it needs
    no SQLAlchemy); the read side uses the expressions themselves: the generated file is current, and per cost mode
    the rollups' sums equal the rows' sums."""
    from pathlib import Path

    from nexus_tui.store import lite, rollup_sql

    store = store_at(tmp_path / "db.sqlite")
    collector_for(store, copy_cc_tree(tmp_path / "cc")).run_once()
    assert Path(rollup_sql.__file__).read_text() == lite.generate_rollup(), "run python -m nexus_tui.store.lite"
    for dialect in ("sqlite", "postgresql"):
        assert rollup_sql.TASK_SUMS_SQL[dialect] == rules.task_measures_sql(dialect)
        assert rules.sql(rules.cost_expr("auto"), dialect) in rollup_sql.TASK_SUMS_SQL[dialect]
        assert rollup_sql.TOOL_SUMS_SQL[dialect] == rules.tool_measures_sql(dialect)
    with store.engine.connect() as conn:
        for mode, col in (("auto", "cost_auto_usd"), ("calculate", "cost_usd"), ("display", "cost_display_usd")):
            rows = conn.execute(select(func.sum(rules.cost_expr(mode)), func.count())
                                .where(rules.cost_expr(mode).is_(None))).one()
            unpriced = rows[1]
            total = conn.execute(select(func.sum(rules.cost_expr(mode)))).scalar()
            rolled = conn.execute(text(f"SELECT SUM({col}) FROM task_rollups")).scalar()
            assert (total is None) == (rolled is None), mode
            if total is not None:
                assert abs(total - rolled) < 1e-9 * max(1.0, abs(total)), mode
            un_col = {"auto": "unpriced_auto", "calculate": "unpriced", "display": "unpriced_display"}[mode]
            assert conn.execute(text(f"SELECT SUM({un_col}) FROM task_rollups")).scalar() == unpriced, mode
        assert conn.execute(select(func.count()).select_from(T)).scalar() > 50


def test_the_useful_change_formula_is_the_same_in_python_and_in_sql(tmp_path):
    """efficiency_totals counts changes in SQL (the rollups, plus core.scoring.useful_changes applied to SQL
    expressions); recounted here in Python from the raw rows with is_file_changing and useful_changes, with some
    tasks rated so every weight is used."""
    store = store_at(tmp_path / "db.sqlite")
    collector_for(store, copy_cc_tree(tmp_path / "cc")).run_once()
    with store.engine.connect() as conn:
        calls = conn.execute(text("SELECT tool_calls.tool_name, tool_calls.success, tool_calls.task_id "
                                  "FROM tool_calls WHERE tool_name IS NOT NULL")).all()
    changing = sorted({c[2] for c in calls if c[1] and is_file_changing(c[0]) and c[2]})
    assert len(changing) >= 3
    store.writer.rate(changing[0], 1)
    store.writer.rate(changing[1], 0)
    with store.engine.connect() as conn:
        ratings = dict(conn.execute(text("SELECT id, quality_rating FROM tasks")).all())
    h = u = n = 0
    for name, ok, task in calls:
        if ok and is_file_changing(name):
            r = ratings.get(task)
            h, u, n = h + (r == 1), u + (r is None), n + (r == 0)
    assert h and n and u
    got = RE.efficiency_totals(store.engine, Filters())
    assert (got["ch_helpful"], got["ch_unrated"], got["ch_not_helpful"]) == (h, u, n)
    assert useful_changes(got["ch_helpful"], got["ch_unrated"], got["ch_not_helpful"]) == useful_changes(h, u, n)
    # and the SQL form of the formula on the same counts
    with store.engine.connect() as conn:
        sql_value = conn.execute(select(RE._useful_expr(func.abs(h), func.abs(u), func.abs(n)))).scalar()
    assert sql_value == useful_changes(h, u, n)


def test_the_tool_measures_sum_in_sql_as_counted_in_python(tmp_path):
    """The tool rollups (SQL text generated from rules.TOOL_MEASURES) hold, per tool, what the raw calls give when
    counted here in Python; and the read side's raw rows (the same declarations as expressions) agree."""
    from nexus_tui.store.read.plan import raw_tool_rows, TC

    store = store_at(tmp_path / "db.sqlite")
    collector_for(store, copy_cc_tree(tmp_path / "cc")).run_once()
    with store.engine.connect() as conn:
        calls = conn.execute(text("SELECT tool_name, success, latency_ms FROM tool_calls "
                                  "WHERE tool_name IS NOT NULL")).all()
        want: dict = {}
        for name, ok, lat in calls:
            w = want.setdefault(name, [0, 0, 0, 0, 0, 0])
            w[0] += 1
            w[1] += ok is not None and not ok
            w[2] += ok is None
            w[3] += bool(ok)
            w[4] += lat is not None
            w[5] += lat or 0
        rolled = {r[0]: list(r[1:]) for r in conn.execute(text(
            "SELECT tool_name, SUM(calls), SUM(failures), SUM(pending), SUM(ok_all), SUM(lat_n), "
            "COALESCE(SUM(lat_sum), 0) FROM tool_rollups GROUP BY tool_name"))}
        raw = raw_tool_rows([TC.c.tool_name.isnot(None)]).subquery()
        read = {r[0]: list(r[1:]) for r in conn.execute(
            select(raw.c.tool_name, func.sum(raw.c.calls), func.sum(raw.c.failures), func.sum(raw.c.pending),
                   func.sum(raw.c.ok_all), func.sum(raw.c.lat_n), func.coalesce(func.sum(raw.c.lat_sum), 0))
            .group_by(raw.c.tool_name))}
    assert len(want) >= 5 and sum(w[1] for w in want.values()) > 0
    assert rolled == want
    assert read == want
