"""How rows are bound (store/engine.py ``bind_rows``): on SQLite every None is bound as NaN, which SQLite stores as
NULL whatever the column's type; PostgreSQL (which would store a NaN in a float column) gets None. These tests write
a row of every kind with every nullable column None, and one with the "falsy" value of each column's type (0, 0.0,
'', False, which must not become NULL), through the store's writer and the light path, and read every column back."""

from __future__ import annotations

import math
import sqlite3

import pytest
from sqlalchemy import BigInteger, Boolean, Float, Integer, Numeric, String, Text, event

from nexus_tui.store.engine import bind_rows
from nexus_tui.store.rows import KIND_TABLES, CursorUpdate, Prepared
from nexus_tui.store.schema import TABLES

_TABLE = {m.__table__.name: m.__table__ for m in TABLES}
# the kinds of rows each path writes (routing decisions, session stats and quota snapshots only the store's)
WRITER_KINDS = ("sessions", "tasks", "tool_result", "routing", "errors", "session_stats", "quota_snapshots",
                "message_uuids", "title_lines")
LITE_KINDS = ("sessions", "tasks", "tool_result", "errors", "message_uuids", "title_lines")
MACHINE = "m-bind"


def _kind_of(col) -> str:
    t = col.type
    t = getattr(t, "impl_instance", None) or t
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, (Integer, BigInteger)):
        return "int"
    if isinstance(t, (Float, Numeric)):
        return "float"
    assert isinstance(t, (String, Text)), (col, t)
    return "text"


_FALSY = {"bool": False, "int": 0, "float": 0.0, "text": ""}
_GIVEN = {"bool": True, "int": 7, "float": 2.5, "text": "v"}
# the columns that name other rows: the same ids in every table (the session "s-<n>", the task "t-<n>")
_REFS = {"session_id": "s-{n}", "task_id": "t-{n}"}


def _row(kind: str, n: int, falsy: bool) -> tuple:
    """A row of ``kind``: its id ``<kind>-<n>``, required columns given, every other column None (``falsy``: the
    falsy value of its type instead)."""
    table = _TABLE[KIND_TABLES[kind]]
    out = []
    for c in table.columns:
        k = _kind_of(c)
        if c.name == "id" and k == "text":
            v = {"sessions": "s-{n}", "tasks": "t-{n}"}.get(kind, f"{kind}-{{n}}").format(n=n)
        elif c.name in _REFS and (not c.nullable or kind in ("tasks", "routing")):
            v = _REFS[c.name].format(n=n)
        elif c.name == "machine":
            v = MACHINE  # every path stores the machine it writes as
        elif kind == "tasks" and c.name == "ts_ms" and not falsy:
            v = 1_700_000_000_000  # a time: the task's rollup rows (store/upkeep.py) are written, NULLs in them too
        elif not c.nullable:
            v = _GIVEN[k]
        else:
            v = _FALSY[k] if falsy else None
        out.append(v)
    return tuple(out)


def _prepared(kinds) -> Prepared:
    p = Prepared()
    for kind in kinds:
        p.rows[kind] = [_row(kind, 1, False), _row(kind, 2, True)]
    return p


def _cursors() -> list[CursorUpdate]:
    return [CursorUpdate(path="/nulls", source="claude_code", dev=None, inode=None, size=None, mtime_ns=None,
                         offset=0, head_hash=None, state=None, lines=0, skipped=0, last_seen=""),
            CursorUpdate(path="/falsy", source="claude_code", dev=0, inode=0, size=0, mtime_ns=0, offset=0,
                         head_hash="", state="", lines=0, skipped=0, last_seen="")]


def _stored(conn, table, key_col: str, key) -> dict:
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    p = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    cur = conn.execute(f'SELECT {names} FROM {table.name} WHERE "{key_col}" = {p}', (key,))
    row = cur.fetchone()
    assert row is not None, (table.name, key)
    return dict(zip((c.name for c in table.columns), row))


def _expected(table, row: tuple) -> dict:
    return {c.name: (int(v) if isinstance(v, bool) else v) for c, v in zip(table.columns, row)}


def _check_sqlite(path: str, kinds) -> None:
    """Every column of every row written reads back as given: None as NULL (typeof 'null'), 0/0.0/''/False as
    themselves."""
    with sqlite3.connect(path) as conn:
        for kind in kinds:
            table = _TABLE[KIND_TABLES[kind]]
            key_col = "session_id" if kind == "session_stats" else "id"
            for n, falsy in ((1, False), (2, True)):
                row = _row(kind, n, falsy)
                key = row[[c.name for c in table.columns].index(key_col)]
                got = _stored(conn, table, key_col, key)
                assert got == _expected(table, row), (kind, n)
                names = ", ".join(f'typeof("{c.name}")' for c in table.columns)
                types = conn.execute(f'SELECT {names} FROM {table.name} WHERE "{key_col}" = ?', (key,)).fetchone()
                for c, v, typ in zip(table.columns, row, types):
                    if v is None:
                        assert typ == "null", (kind, c.name, typ)
                    else:  # a falsy value keeps its type's storage class
                        assert typ == {"bool": "integer", "int": "integer", "float": "real", "text": "text"}[
                            _kind_of(c)], (kind, c.name, v, typ)
        t = _TABLE["ingest_cursors"]
        for c in _cursors():
            got = _stored(conn, t, "path", c.path)
            assert got == {**{k: getattr(c, k) for k in got if k != "machine"}, "machine": MACHINE}
            assert conn.execute('SELECT typeof(dev), typeof(head_hash), typeof(state) FROM ingest_cursors '
                                'WHERE path = ?', (c.path,)).fetchone() == \
                (("null",) * 3 if c.dev is None else ("integer", "text", "text"))


def test_bind_rows_binds_none_as_nan_on_sqlite_only():
    rows = [(None, 0, 0.0, "", False, "x", None), ("id", None, 1.5, None, True, "", 3)]
    got = bind_rows("sqlite", rows, ("tail", None))
    assert len(got) == 2 and all(len(r) == 9 for r in got)
    for row, out in zip(rows, got):
        for v, b in zip((*row, "tail", None), out):
            if v is None:
                assert isinstance(b, float) and math.isnan(b)
            else:  # every other value is the very same object
                assert b is v
    # rows whose first holds no None: as they are (a later None binds as NULL all the same)
    plain = [("a", 1), ("b", None)]
    assert bind_rows("sqlite", plain) is plain and bind_rows("sqlite", []) == []
    # PostgreSQL: the rows as they are (a NaN there would be stored as NaN in a float column)
    assert bind_rows("postgresql", rows) is rows
    pg = bind_rows("postgresql", rows, ("tail", None))
    assert pg == [r + ("tail", None) for r in rows]
    assert not any(isinstance(v, float) and math.isnan(v) for r in pg for v in r)


@pytest.mark.parametrize("decl", ["VARCHAR", "TEXT", "INTEGER", "BIGINT", "FLOAT", "BOOLEAN", "NUMERIC", "BLOB", ""])
def test_sqlite_stores_a_nan_bound_as_null_in_every_column_type(decl):
    """The rule the binding rests on, for every declared type (affinity) SQLite knows: the same statements bound
    with NaN (bind_rows) and with None store the same (executemany and execute, a plain INSERT, an upsert's excluded
    values in expressions, a NOT NULL column refused as NULL is)."""
    def run(bind):
        conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, v {decl}, w {decl} NOT NULL DEFAULT 1)")
        conn.executemany("INSERT INTO t (id, v) VALUES (?, ?)", bind([(1, None), (2, None), (3, None)]))
        conn.executemany("INSERT INTO t (id, v) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
                         "v = CASE WHEN excluded.v IS NULL THEN coalesce(excluded.v, 5) ELSE 9 END "
                         "WHERE excluded.v IS NULL AND t.v IS NULL", bind([(2, None)]))
        conn.execute("INSERT INTO t (id, v) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
                     bind([(3, None)])[0])
        with pytest.raises(sqlite3.IntegrityError):
            conn.executemany("INSERT INTO t (id, v, w) VALUES (?, ?, ?)", bind([(4, 1, None)]))
        return conn.execute("SELECT id, v, typeof(v), w FROM t ORDER BY id").fetchall()

    got = run(lambda rows: bind_rows("sqlite", rows))
    assert got == run(lambda rows: rows)
    # NULL where None was bound; the upsert saw excluded.v as NULL (its coalesce stored 5, not 9)
    assert [r[2] for r in got] == ["null", got[1][2], "null"] and got[1][2] != "null" and got[1][1] in (5, "5")


def test_the_store_writer_stores_none_as_null_in_every_column(tmp_path):
    from nexus_tui.store import open_store

    db = tmp_path / "w.db"
    store = open_store(f"sqlite:///{db}", machine=(MACHINE, None))
    try:
        res = store.writer.write(_prepared(WRITER_KINDS), _cursors())
    finally:
        store.close()
    assert res.dropped == {} and res.new_tasks == 2 and res.new_sessions == 2
    _check_sqlite(str(db), WRITER_KINDS)


def test_the_light_path_stores_none_as_null_in_every_column(tmp_path):
    from nexus_tui.store import lite, open_store

    db = tmp_path / "l.db"
    open_store(f"sqlite:///{db}", machine=(MACHINE, None)).close()  # registered: the light path writes as it
    res = lite.write_pass(str(db), [(_prepared(LITE_KINDS), _cursors())], MACHINE, None)
    assert res is not None and res.new_tasks == 2 and res.new_sessions == 2
    _check_sqlite(str(db), LITE_KINDS)


def test_postgresql_never_gets_a_nan(pg_url):
    """On PostgreSQL the same rows store NULL (not NaN) in every nullable column, and no parameter of any statement
    the writer sends (rows, cursors, rollups) is a NaN."""
    from nexus_tui.store import open_store

    store = open_store(pg_url, machine=(MACHINE, None))
    sent = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _spy(conn, cursor, statement, parameters, context, executemany):
        for params in (parameters if executemany else [parameters]):
            values = params.values() if isinstance(params, dict) else (params or ())
            sent.extend(v for v in values if isinstance(v, float))

    try:
        res = store.writer.write(_prepared(WRITER_KINDS), _cursors(), defer_rollups=False)
        assert res.dropped == {} and res.new_tasks == 2
        with store.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            for kind in WRITER_KINDS:
                table = _TABLE[KIND_TABLES[kind]]
                key_col = "session_id" if kind == "session_stats" else "id"
                for n, falsy in ((1, False), (2, True)):
                    row = _row(kind, n, falsy)
                    key = row[[c.name for c in table.columns].index(key_col)]
                    got = _stored(raw.cursor(), table, key_col, key)
                    assert got == {c.name: v for c, v in zip(table.columns, row)}, (kind, n)
            nans = raw.cursor().execute("SELECT count(*) FROM tasks WHERE cost_usd = 'NaN'::float OR "
                                        "cloud_cost_equivalent = 'NaN'::float").fetchone()[0]
    finally:
        store.close()
    assert nans == 0
    assert sent and not any(math.isnan(v) for v in sent)  # floats were sent (the 0.0 and 2.5 of the rows), no NaN
