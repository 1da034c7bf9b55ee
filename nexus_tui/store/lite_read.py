"""The light read: the common headless reports (daily, weekly, monthly, models, tools, summary, sessions) of a SQLite
database through the standard ``sqlite3`` module, with the store's own statements compiled by SQLAlchemy ahead of time
(store/read_sql.py), so that ``nexus-insights --headless daily`` imports no SQLAlchemy, SQLModel or schema classes
(most of its time).

The statements depend on how the range splits into rollup levels (``spans.plan``: which parts, which bounds are
open) and on the cost mode. read_sql.py holds them for every shape of range whose bounds are whole quarter hours
(dates, in any zone; a bound inside a quarter hour needs raw rows: the store's path), each parameter said to be a
bound of a part of the plan, a named value (the range's ends, a model, a latency bin's ends) or a constant. Whatever
it does not hold (filters on projects, machines, models or sources; a database at another schema version, with
rollup marks queued, or not a plain SQLite file; any ``sqlite3`` error) makes ``LiteReader.open`` answer None or a
read raise ``Unsupported``, and the caller takes the store's path, which handles everything.
``tests/test_lite_read.py`` compares the two paths' reports byte for byte.
"""

from __future__ import annotations

import os
import sqlite3
from collections import defaultdict
from datetime import tzinfo
from urllib.parse import quote

from nexus_tui.core.filters import Filters
from nexus_tui.private import check_sqlite_path
from nexus_tui.store.period_rows import fold
from nexus_tui.store.spans import (
    merge_hist,
    merge_tool_hist,
    money,
    plan,
    session_rows,
    summary_from,
    tool_waits_from,
    tools_rows,
    usage_by_rows,
    zone_level,
)
from nexus_tui.store.title_rows import TitlePicker

_CHECK_SQL = "SELECT (SELECT max(version) FROM schema_version), (SELECT count(*) FROM (SELECT 1 FROM rollup_dirty " \
             "LIMIT 1))"


class Unsupported(Exception):
    """This read is not one the light path holds: take the store's path."""


def covered(f: Filters) -> bool:
    """Whether the filters are ones the compiled statements hold (a range and a cost mode, nothing else)."""
    return not (f.project or f.project_members or f.model or f.source or f.cli_tool or f.persona or f.machine)


def shape(parts) -> str:
    """The key of a plan's statements: each part's level and which of its bounds are set (``day:10,hour:11``)."""
    return ",".join(f"{level}:{int(lo is not None)}{int(hi is not None)}" for level, lo, hi in parts)


def statements(f: Filters, tz: tzinfo) -> tuple[tuple, list]:
    """(the compiled entries of the period statements, the plan's parts) for ``f`` in ``tz``; Unsupported when
    read_sql.py does not hold them."""
    from nexus_tui.store.read_sql import PERIODS

    if not covered(f):
        raise Unsupported("filters")
    level = zone_level(tz, f.since_ms, f.until_ms)
    parts = plan(f.since_ms, f.until_ms, level)
    entry = PERIODS.get(f"{level} {shape(parts)} {f.cost_mode}")
    if entry is None:
        raise Unsupported("range")
    return entry, parts


def day_plan(f: Filters) -> tuple[str, list]:
    """The key and the parts of the plan of the reads not split by a zone (models, tools, summary)."""
    if not covered(f):
        raise Unsupported("filters")
    parts = plan(f.since_ms, f.until_ms, "day")
    return shape(parts), parts


def model_statements(f: Filters) -> tuple[tuple, list]:
    """(the compiled entries of the models report's sums and histograms, the plan's parts) for ``f``."""
    from nexus_tui.store.read_sql import MODELS

    key, parts = day_plan(f)
    entry = MODELS.get(f"{key} {f.cost_mode}")
    if entry is None:
        raise Unsupported("range")
    return entry, parts


def named(f: Filters, name: str, *flags: bool):
    """The compiled entry of a read whose parameters are named values (the range's ends, ...)."""
    from nexus_tui.store.read_sql import NAMED

    code = "".join(str(int(x)) for x in (f.since_ms is not None, f.until_ms is not None, *flags))
    return NAMED[f"{name} {code}"]


def bind(entry, parts, **named) -> tuple[str, tuple]:
    """(SQL, parameters) of one compiled statement: each parameter a constant (0), a bound of the plan's parts (1),
    a named value (2), or a list for ``IN`` (3: named, 4: constant); the SQL is text ``index`` of the section
    ``where`` of read_sql.py."""
    from nexus_tui.store.read_sql import section

    (where, index), params, _money = entry
    sql = section(where)["sql"][index]
    slots = [v for _level, lo, hi in parts for v in (lo, hi)]
    args: list = []
    for p in params:
        kind = p[0]
        if kind >= 3:  # an IN list: a named one (3) or a constant one (4), its placeholders as SQLAlchemy renders them
            values = named[p[1]] if kind == 3 else p[1]
            sql = sql.replace(f"__[POSTCOMPILE_{p[2]}]", ", ".join("?" * len(values)), 1)
            args.extend(values)
        else:
            args.append(p[1] if kind == 0 else slots[p[1]] if kind == 1 else named[p[1]])
    return sql, tuple(args)


class LiteReader:
    """A read transaction on a SQLite file at the schema the statements were compiled for, with no rollup mark
    queued (the rollups are whole). Passed to the headless reports in place of an engine (``lite`` is true): each
    method is the read function of the same name over it."""

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
            check_sqlite_path(path)
            raw = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=busy_timeout_s,
                                  isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError):
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

    def _run(self, entry, parts, **named) -> list[tuple]:
        """Run one compiled statement (``bind``), its money columns rounded as the store's Money type reads them."""
        money_cols = entry[2]
        rows = self.raw.execute(*bind(entry, parts, **named)).fetchall()
        if money_cols:
            rows = [tuple(money(v) if i in money_cols and v is not None else v for i, v in enumerate(r)) for r in rows]
        return rows

    def periods(self, f: Filters, tz: tzinfo, unit: str = "date") -> list[dict]:
        """store.periods.periods over this database (Unsupported when the statements are not compiled here)."""
        from nexus_tui.store.read_sql import PERIODS_TASK_COLUMNS

        entry, parts = statements(f, tz)
        rows = [dict(zip(PERIODS_TASK_COLUMNS, r)) for r in self._run(entry[0], parts)]
        return fold(rows, self._run(entry[1], parts), tz, unit)

    def models(self, f: Filters) -> list[dict]:
        """store.read.usage.models over this database: the sums per model, the p95 latency from the merged
        histograms and the stored latencies of its bin."""
        from nexus_tui.store.read_sql import MODELS_COLUMNS

        (sums, hist_entries), parts = model_statements(f)
        rows = [dict(zip(MODELS_COLUMNS, r)) for r in self._run(sums, parts)]
        hists: dict = defaultdict(dict)
        for raw, entry in hist_entries:
            merge_hist(hists, raw, self._run(entry, parts))

        def between(value):
            entry = named(f, "task_latencies", value is None)

            def read(lo: int, hi: int) -> list:
                return [r[0] for r in self._run(entry, (), since=f.since_ms, until=f.until_ms, key=value, lo=lo,
                                                hi=hi)]
            return read
        return usage_by_rows(rows, "model", hists, between)

    def tools_report(self, f: Filters) -> list[dict]:
        """store.read.tools.tools_report over this database."""
        from nexus_tui.store.read_sql import TOOLS

        key, parts = day_plan(f)
        entry = TOOLS.get(key)
        if entry is None:
            raise Unsupported("range")
        rows = self._run(entry["rows"], parts)
        hists: dict = defaultdict(dict)
        for raw, e in entry["hists"]:
            merge_tool_hist(hists, raw, self._run(e, parts))
        waits = tool_waits_from(self._run(named(f, "waits"), (), since=f.since_ms, until=f.until_ms))

        def between(name, server):
            e = named(f, "tool_latencies", server is None)

            def read(lo: int, hi: int) -> list:
                return [r[0] for r in self._run(e, (), since=f.since_ms, until=f.until_ms, key=name, server=server,
                                                lo=lo, hi=hi)]
            return read
        return tools_rows(rows, hists, waits, between)

    def sessions(self, f: Filters) -> list[dict]:
        """store.read.sessions.sessions(f).rows over this database (every session in the range, newest first)."""
        from nexus_tui.store.read_sql import SESSION_COLUMNS

        if not covered(f):
            raise Unsupported("filters")
        ends = {"since": f.since_ms, "until": f.until_ms}
        ids = [r[0] for r in self._run(named(f, "session_ids"), (), **ends)]
        rows = [dict(zip(SESSION_COLUMNS, r)) for r in self._run(named(f, f"session_rows {f.cost_mode}"), (),
                                                                   **ends, ids=ids)] if ids else []
        model_map: dict[str, list[str]] = {}
        found = [r["id"] for r in rows]
        for i in range(0, len(found), 500):
            for sid, model in self._run(named(f, "session_models"), (), **ends, ids=found[i:i + 500]):
                model_map.setdefault(sid, []).append(model)
        return session_rows(rows, model_map)

    def titles(self, session_ids: list[str]) -> dict[str, tuple[str, str]]:
        """store.titles.titles over this database."""
        from nexus_tui.store.read_sql import NAMED

        pick = TitlePicker()
        for i in range(0, len(session_ids), 500):
            ids = session_ids[i:i + 500]
            pick.lines(self._run(NAMED["title_lines"], (), ids=ids))
            pick.summaries(self._run(NAMED["title_summaries"], (), ids=ids))
        return pick.titles()

    def summary(self, f: Filters, top: int = 5) -> dict:
        """store.read.usage.summary over this database."""
        from nexus_tui.store.read_sql import SUMMARY, SUMMARY_USAGE_COLUMNS

        key, parts = day_plan(f)
        entry = SUMMARY.get(f"{key} {f.cost_mode}")
        if entry is None:
            raise Unsupported("range")
        one = {k: self._run(e, parts)[0] for k, e in entry.items()}
        ends = {"since": f.since_ms, "until": f.until_ms}
        sessions = self._run(named(f, "sessions"), (), **ends)[0][0]
        api_errors = self._run(named(f, "api_errors"), (), **ends)[0][0]
        return summary_from(f, dict(zip(SUMMARY_USAGE_COLUMNS, one["usage"])), one["span"], int(sessions or 0),
                            one["tools"], api_errors, self.models(f)[:top], self.tools_report(f)[:top])


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
    when it is out of date.

    Each statement is built by the read side's own code and compiled with marked values in place of the plan's bounds
    (part i's: MARK + 2i, MARK + 2i + 1) and of the named values, so every parameter is known for what it is (two
    bounds of a real range may be equal), the rest are constants."""
    import zlib

    from sqlalchemy.dialects import sqlite

    from nexus_tui.store import titles
    from nexus_tui.store.periods import statements as period_statements
    from nexus_tui.store.read import plan as read_plan
    from nexus_tui.store.read import sessions, tools, usage
    from nexus_tui.store.read.plan import TC, T, task_conds, tool_conds, values_statement
    from nexus_tui.store.schema import SCHEMA_VERSION, Money
    from nexus_tui.store.upkeep import COST_MODES

    dialect = sqlite.dialect()
    mark = 9 * 10 ** 15
    named_marks = {mark - 1: "since", mark - 2: "until", mark - 3: "lo", mark - 4: "hi", "\x00key": "key",
                   "\x00server": "server"}
    texts: dict[str, dict[str, int]] = {}  # per section of read_sql.py (each decompressed when first read)
    columns: dict[str, tuple] = {}

    def compiled(stmt, where: str, name: str | None = None) -> list:
        c = stmt.compile(dialect=dialect)
        params = []
        for k in c.positiontup:
            v = c.params[k]
            if c.binds[k].expanding:  # IN (a list): its placeholders rendered when bound
                params.append([3, "ids", k] if v == ["\x00ids"] else [4, list(v), k])
            elif isinstance(v, (int, str)) and not isinstance(v, bool) and v in named_marks:
                params.append([2, named_marks[v]])
            elif isinstance(v, int) and not isinstance(v, bool) and v >= mark:
                params.append([1, v - mark])
            else:
                params.append([0, v])
        money_cols = []
        for i, col in enumerate(stmt.selected_columns):
            if isinstance(col.type, Money):
                money_cols.append(i)
            elif col.type.result_processor(dialect, None) is not None:
                raise AssertionError(f"a result processor the light read does not apply: {col.type!r}")
        if name is not None:
            cols = tuple(col.name for col in stmt.selected_columns)
            assert columns.setdefault(name, cols) == cols
        sql = texts.setdefault(where, {})
        return [[where, sql.setdefault(str(c), len(sql))], params, money_cols]

    def ends(since: bool, until: bool) -> dict:
        """The range's ends as named marks (a statement reading them directly names them)."""
        return {"since_ms": mark - 1 if since else None, "until_ms": mark - 2 if until else None}

    reps: dict[tuple, tuple] = {}
    for level in ("day", "hour", "quarter"):
        for since, until in _ranges():
            parts = plan(since, until, level)
            if any(p[0] == "raw" for p in parts):  # a bound inside a quarter hour (a time, not a date): the store
                continue
            reps.setdefault((level, shape(parts)), (since is not None, until is not None, parts))
    periods: dict[str, list] = {}
    models: dict[str, list] = {}
    summary: dict[str, dict] = {}
    tool_reads: dict[str, dict] = {}
    real_plan = read_plan.plan
    try:
        for (level, key), (since, until, parts) in reps.items():
            marked = [(lv, None if lo is None else mark + 2 * i, None if hi is None else mark + 2 * i + 1)
                      for i, (lv, lo, hi) in enumerate(parts)]
            read_plan.plan = lambda *_a, _m=marked, **_k: list(_m)
            for mode in COST_MODES:
                f = Filters(**ends(since, until), cost_mode=mode)
                task_stmt, tool_stmt = period_statements(f, level)
                periods[f"{level} {key} {mode}"] = [compiled(task_stmt, "periods", "periods"), compiled(tool_stmt, "periods")]
                if level != "day":
                    continue
                hists = [[raw, compiled(stmt, "models")] for raw, stmt in
                         read_plan.task_hist_statements(f, [], "model", T.c.model)]
                models[f"{key} {mode}"] = [compiled(usage.usage_by_statement(f, "model"), "models", "models"), hists]
                st = usage.summary_statements(f)
                summary[f"{key} {mode}"] = {"usage": compiled(st["usage"], "summary", "summary"),
                                            "span": compiled(st["span"], "summary"),
                                            "tools": compiled(st["tools"], "summary")}
            if level == "day":
                f = Filters(**ends(since, until))
                tool_reads[key] = {"rows": compiled(tools.tools_report_statement(f), "tools"), "hists": [
                    [raw, compiled(stmt, "tools")] for raw, stmt in read_plan.tool_hist_statements(
                        f, [], ["tool_name", "mcp_server"], [TC.c.tool_name, TC.c.mcp_server])]}
    finally:
        read_plan.plan = real_plan
    lines, summaries = titles.title_statements(["\x00ids"])
    named_reads = {"title_lines": compiled(lines, "sessions"), "title_summaries": compiled(summaries, "sessions")}
    for since in (True, False):
        for until in (True, False):
            f = Filters(**ends(since, until))
            code = f"{int(since)}{int(until)}"
            for mode in COST_MODES:  # the rows' sums are of the cost mode's cost
                ids_q, rows_q = sessions.list_statements(Filters(**ends(since, until), cost_mode=mode), ["\x00ids"])
                named_reads[f"session_ids {code}"] = compiled(ids_q, "sessions")
                named_reads[f"session_rows {mode} {code}"] = compiled(rows_q, "sessions", "sessions")
            named_reads[f"session_models {code}"] = compiled(sessions.session_models_statement(f, ["\x00ids"]),
                                                             "sessions")
            st = usage.summary_statements(f)
            named_reads[f"sessions {code}"] = compiled(st["sessions"], "summary")
            named_reads[f"api_errors {code}"] = compiled(st["api_errors"], "summary")
            named_reads[f"waits {code}"] = compiled(tools.waits_statement(tool_conds(f)), "tools")
            for null in (True, False):
                col = usage.DIMENSIONS["model"]
                cond = col.is_(None) if null else col == "\x00key"
                named_reads[f"task_latencies {code}{int(null)}"] = compiled(
                    values_statement(T.c.latency_ms, task_conds(f) + [cond], mark - 3, mark - 4), "models")
                conds = tools.tool_latency_conds(tool_conds(f), "\x00key", None if null else "\x00server")
                named_reads[f"tool_latencies {code}{int(null)}"] = compiled(
                    values_statement(TC.c.latency_ms, conds, mark - 3, mark - 4), "tools")
    import orjson

    entries = {"periods": periods, "models": models, "summary": summary, "tools": tool_reads, "named": named_reads,
               "sessions": {}}  # the sessions' texts (their entries are NAMED)
    blobs = {k: zlib.compress(orjson.dumps({"sql": list(texts.get(k, ())), "entries": v}), 9)
             for k, v in entries.items()}
    out = ['"""Generated by ``python -m nexus_tui.store.lite`` from the read side\'s statements (store/periods.py, '
           'store/read/usage.py,\ntools.py, plan.py): do not edit. For store/lite_read.py: per section (a report\'s '
           'reads), the statements compiled\nfor SQLite (``print(section("periods")["sql"][i])`` shows one) and which '
           'of them each read runs, as [[section, index\nof its SQL], parameters as [0: a constant, 1: a bound of the '
           'plan\'s parts, 2: a named value; which], money\ncolumns]: PERIODS per "zone level, plan shape, cost mode" '
           '(usage per bucket and model, tool calls per bucket);\nMODELS per "plan shape, cost mode" (usage per model, '
           '[raw rows?, latency histograms] per part); SUMMARY per "plan\nshape, cost mode"; TOOLS per plan shape; '
           'NAMED per "read since-set? until-set? [NULL key?]". Compressed JSON,\neach section read when first used: '
           'as literals, 500 KB of near repeats took 50 ms to compile where no .pyc is\nwritten."""', "",
           "import zlib", "", "import orjson", "", f"SCHEMA_VERSION = {SCHEMA_VERSION}", "",
           f"PERIODS_TASK_COLUMNS = {columns['periods']!r}", f"MODELS_COLUMNS = {columns['models']!r}",
           f"SUMMARY_USAGE_COLUMNS = {columns['summary']!r}", f"SESSION_COLUMNS = {columns['sessions']!r}", "",
           "_BLOBS = {"]
    out += [f"    {k!r}: {v!r}," for k, v in blobs.items()]
    out += ["}", "_LOADED: dict = {}", "", "",
            "def section(name: str) -> dict:",
            '    """{\"sql\": [texts], \"entries\": {key: entry}} of one section, decompressed on first use."""',
            "    got = _LOADED.get(name)",
            "    if got is None:",
            "        got = _LOADED[name] = orjson.loads(zlib.decompress(_BLOBS[name]))",
            "    return got", "", "",
            "def __getattr__(name: str):  # PERIODS, MODELS, SUMMARY, TOOLS, NAMED: a section's entries",
            '    if name.isupper() and name.lower() in _BLOBS:',
            '        return section(name.lower())["entries"]',
            '    raise AttributeError(name)', ""]
    return "\n".join(out)
