"""Conversation linking over the store: core.linking's LinkLookup in SQL, the link keys kept per request, and
``link_pending`` (links newly written proxy requests in time order; see docs/proxy.md).

Columns used on ``tasks`` (added by schema migration 6): ``conversation_id, branch_id, parent_request_id,
parent_task_request_id, is_subtask, message_hash, parent_message_hash, system_hash, message_count``. A request's
identity is its task id (for proxy tasks the upstream ``request-id``), and ``parent_request_id`` /
``parent_task_request_id`` hold task ids.

What the linker needs beyond those columns (grandparent hash, the single user message's text hash, a compacted
continuation's summary hash, a summarization response's summary hash, the Task prompts of a response, the
summarization flag) is kept as hashes in the small table ``link_keys`` (task_id, kind, seq, key), so no prompt text
is stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Column, Engine, Index, Integer, MetaData, String, Table, inspect, text

from nexus_tui.core import linking as L
from nexus_tui.store.engine import write_tx

LINK_COLUMNS = (
    "conversation_id",
    "branch_id",
    "parent_request_id",
    "parent_task_request_id",
    "is_subtask",
    "message_hash",
    "parent_message_hash",
    "system_hash",
    "message_count",
)

# the other request columns of migration 6 (written by the proxy's recording; read by the requests report)
PROXY_COLUMNS = (
    "http_status",
    "error_type",
    "ttfb_ms",
    "ttft_ms",
    "request_bytes",
    "response_bytes",
    "streamed",
    "client",
    "retries",
)

link_metadata = MetaData()
link_keys = Table(
    "link_keys",
    link_metadata,
    Column("task_id", String, primary_key=True),
    Column("kind", String, primary_key=True),  # core.linking.KEY_*
    Column("seq", Integer, primary_key=True),  # order within the request (Task prompts)
    Column("key", String, nullable=False),  # a SHA-256 hex digest ('1' for the summarization marker)
    Index("ix_link_keys_kind_key", "kind", "key"),
)

# the indexes the lookups use, created with link_keys by ensure_link_schema (name, columns, condition). Each is
# partial: only the proxy's rows carry these columns (a transcript's rows leave them NULL), so the indexes hold those
# rows alone and cost other sources' writes nothing (four index inserts less per transcript row: schema version 11).
# Every lookup's condition implies the index's (``col = :v`` and ``col IN (...)`` imply ``col IS NOT NULL``; the
# pending requests are asked for with ``message_hash IS NOT NULL``), so SQLite and PostgreSQL use them
# (tests/test_partial_indexes.py reads the plans).
PARTIAL_INDEXES = (
    ("ix_tasks_message_hash", ("message_hash",), "message_hash IS NOT NULL"),
    ("ix_tasks_parent_request_id", ("parent_request_id",), "parent_request_id IS NOT NULL"),
    ("ix_tasks_conversation_id", ("conversation_id",), "conversation_id IS NOT NULL"),
    # conversation lookups, and the pending requests (conversation NULL, hash set) without scanning linked ones
    ("ix_tasks_conversation_message", ("conversation_id", "message_hash"), "message_hash IS NOT NULL"),
    # the Sessions screen asks which sessions the proxy saw; only the proxy's rows carry an HTTP status
    ("ix_tasks_proxied_session", ("session_id",), "http_status IS NOT NULL"),
)
# the indexes of version 10 and before that held every row (migration 11 makes them partial)
FULL_BEFORE_11 = ("ix_tasks_message_hash", "ix_tasks_parent_request_id", "ix_tasks_conversation_id",
                  "ix_tasks_conversation_message")


def ensure_link_schema(conn) -> None:
    """Create ``link_keys`` and the lookup indexes where missing: the last step of schema migrations 6 (after the
    tasks columns exist) and 11, and of creating a database (store/migrations.py). Idempotent."""
    insp = inspect(conn)
    if "link_keys" not in insp.get_table_names():
        link_keys.create(conn)
    have = {c["name"] for c in insp.get_columns("tasks")}
    have_ix = {ix["name"] for ix in insp.get_indexes("tasks")}
    for name, cols, where in PARTIAL_INDEXES:
        if name not in have_ix and set(cols) <= have:
            quoted = ", ".join(f'"{c}"' for c in cols)
            conn.execute(text(f'CREATE INDEX "{name}" ON tasks ({quoted}) WHERE {where}'))


def _hex(v) -> str | None:
    return v if isinstance(v, str) and len(v) == 64 else None


def link_columns(hashes: dict) -> dict:
    """The task-row columns of :func:`core.linking.request_hashes`' result (links still empty: NULL); values of
    the wrong type or shape become NULL."""
    mc = hashes.get("message_count")
    return {
        "message_hash": _hex(hashes.get("message_hash")),
        "parent_message_hash": _hex(hashes.get("parent_message_hash")),
        "system_hash": _hex(hashes.get("system_hash")),
        "message_count": mc if isinstance(mc, int) and not isinstance(mc, bool) and 0 <= mc < 2**31 else None,
    }


def save_request_keys(
    conn, task_id: str, hashes: dict, response=None, response_keys: Iterable | None = None
) -> None:
    """Record one request's hashes on its (already written) task row and its link keys, and mark it pending
    (links cleared), so the next :func:`link_pending` links it. ``hashes``: :func:`core.linking.request_hashes`'
    result (JSON round-tripped is fine). The response's keys (Task prompts, summary) come either from
    ``response`` (the response body or its tool_use blocks) or, already computed where the body was seen, from
    ``response_keys`` (:func:`core.linking.response_keys`' rows)."""
    hashes = hashes if isinstance(hashes, dict) else {}
    conn.execute(
        text(
            "UPDATE tasks SET message_hash = :message_hash, parent_message_hash = :parent_message_hash,"
            " system_hash = :system_hash, message_count = :message_count, conversation_id = NULL,"
            " branch_id = NULL, parent_request_id = NULL, parent_task_request_id = NULL,"
            " is_subtask = NULL WHERE id = :id"
        ),
        dict(link_columns(hashes), id=task_id),
    )
    keys = list(L.iter_link_keys(hashes, response))
    keys.extend(response_keys or ())
    save_link_keys(conn, task_id, keys)


def save_link_keys(conn, task_id: str, keys: Iterable) -> None:
    """Replace the request's link keys; rows of any other shape than (kind, sha256 hex, seq) are ignored."""
    rows: dict[tuple[str, int], str] = {}
    for k in keys:
        if not isinstance(k, (list, tuple)) or len(k) != 3:
            continue
        kind, key, seq = k
        if (
            kind in L.KEY_KINDS
            and isinstance(key, str)
            and 0 < len(key) <= 64
            and isinstance(seq, int)
            and not isinstance(seq, bool)
            and 0 <= seq < 2**31
        ):
            rows[(kind, seq)] = key
    conn.execute(link_keys.delete().where(link_keys.c.task_id == task_id))
    if rows:
        conn.execute(
            link_keys.insert(),
            [{"task_id": task_id, "kind": k, "seq": s, "key": v} for (k, s), v in rows.items()],
        )


_BEFORE = "(t.ts_ms < :bt OR (t.ts_ms = :bt AND t.id < :bid))"
_COLS = "t.id, t.ts_ms, t.conversation_id, t.branch_id, t.message_hash, t.system_hash, t.is_subtask"


def _rec(row) -> L.LinkedRequest:
    return L.LinkedRequest(
        request_id=row[0],
        ts_ms=int(row[1] or 0),
        conversation_id=row[2],
        branch_id=row[3],
        message_hash=row[4],
        system_hash=row[5],
        is_subtask=bool(row[6]),
    )


class SqlLinkLookup:
    """core.linking.LinkLookup over the tasks columns and link_keys, on one connection."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def _q(self, sql: str, before: tuple[int, str], **params) -> list[L.LinkedRequest]:
        rows = self.conn.execute(text(sql), dict(params, bt=before[0], bid=before[1]))
        return [_rec(r) for r in rows]

    def by_message_hash(self, message_hash, system_hash, before):
        sys = " AND t.system_hash = :sh" if system_hash else ""
        return self._q(
            f"SELECT {_COLS} FROM tasks t WHERE t.message_hash = :mh{sys} AND {_BEFORE}"
            " ORDER BY t.ts_ms, t.id LIMIT 8",
            before,
            mh=message_hash,
            sh=system_hash,
        )

    def children(self, parent_request_id, before):
        return self._q(
            f"SELECT {_COLS} FROM tasks t WHERE t.parent_request_id = :p AND {_BEFORE}"
            " ORDER BY t.ts_ms, t.id",
            before,
            p=parent_request_id,
        )

    def _keyed(self, kind, key, since_ms, before, limit):
        return self._q(
            f"SELECT {_COLS} FROM link_keys k JOIN tasks t ON t.id = k.task_id"
            f" WHERE k.kind = :kind AND k.key = :key AND t.ts_ms >= :since AND {_BEFORE}"
            f" ORDER BY t.ts_ms DESC, t.id DESC, k.seq LIMIT {int(limit)}",
            before,
            kind=kind,
            key=key,
            since=since_ms,
        )

    def compact_source(self, summary_hash, since_ms, before):
        rows = self._keyed(L.KEY_SUMMARY_OUT, summary_hash, since_ms, before, 1)
        return rows[0] if rows else None

    def task_invocations(self, prompt_hash, since_ms, before):
        return self._keyed(L.KEY_TASK_PROMPT, prompt_hash, since_ms, before, 8)

    def subtask_count(self, conversation_id, before):
        return int(
            self.conn.execute(
                text(
                    "SELECT COUNT(DISTINCT t.branch_id) FROM tasks t WHERE t.conversation_id = :c AND t.is_subtask = :yes"
                    f" AND {_BEFORE}"
                ),
                {"c": conversation_id, "yes": True, "bt": before[0], "bid": before[1]},
            ).scalar()
            or 0
        )

    def branch_exists(self, conversation_id, branch_id, before):
        return (
            self.conn.execute(
                text(
                    "SELECT 1 FROM tasks t WHERE t.conversation_id = :c AND t.branch_id = :b"
                    f" AND {_BEFORE} LIMIT 1"
                ),
                {"c": conversation_id, "b": branch_id, "bt": before[0], "bid": before[1]},
            ).first()
            is not None
        )


def _pending_rows(conn, start: tuple[int, str]):
    keys = {}
    for tid, kind, key in conn.execute(
        text(
            "SELECT k.task_id, k.kind, k.key FROM link_keys k JOIN tasks t ON t.id = k.task_id"
            " WHERE k.kind IN (:g, :u, :c, :s) AND (t.ts_ms > :bt OR (t.ts_ms = :bt AND t.id >= :bid))"
        ),
        {
            "g": L.KEY_GRANDPARENT,
            "u": L.KEY_USER_TEXT,
            "c": L.KEY_COMPACT,
            "s": L.KEY_SUMMARIZATION,
            "bt": start[0],
            "bid": start[1],
        },
    ):
        keys.setdefault(tid, {})[kind] = key
    rows = conn.execute(
        text(
            "SELECT t.id, t.ts_ms, t.message_hash, t.parent_message_hash, t.system_hash, t.message_count"
            " FROM tasks t"
            " WHERE t.message_hash IS NOT NULL AND (t.ts_ms > :bt OR (t.ts_ms = :bt AND t.id >= :bid))"
            " ORDER BY t.ts_ms, t.id"
        ),
        {"bt": start[0], "bid": start[1]},
    ).fetchall()
    for tid, ts, mh, pmh, sh, mc in rows:
        k = keys.get(tid, {})
        yield L.PendingRequest(
            request_id=tid,
            ts_ms=int(ts or 0),
            message_hash=mh,
            parent_message_hash=pmh,
            grandparent_message_hash=k.get(L.KEY_GRANDPARENT),
            system_hash=sh,
            message_count=int(mc or 0),
            is_summarization=L.KEY_SUMMARIZATION in k,
            user_text_hash=k.get(L.KEY_USER_TEXT),
            compact_hash=k.get(L.KEY_COMPACT),
        )


def link_pending_conn(conn) -> int:
    """Link every request written since the last pass (hashes set, conversation not yet), in time order. A
    request that arrives out of order (earlier than requests already linked) relinks everything after it, so
    the result is always that of linking all requests in time order. Returns the number of rows (re)linked."""
    first = conn.execute(
        text(
            "SELECT ts_ms, id FROM tasks WHERE message_hash IS NOT NULL"
            " AND conversation_id IS NULL ORDER BY ts_ms, id LIMIT 1"
        )
    ).first()
    if first is None:
        return 0
    linker = L.Linker(SqlLinkLookup(conn))
    n = 0
    upd = text(
        "UPDATE tasks SET conversation_id = :c, branch_id = :b, parent_request_id = :p,"
        " parent_task_request_id = :pt, is_subtask = :s WHERE id = :id"
    )
    for pending in list(_pending_rows(conn, (int(first[0] or 0), first[1]))):
        res = linker.link(pending)
        conn.execute(
            upd,
            {
                "c": res.conversation_id,
                "b": res.branch_id,
                "p": res.parent_request_id,
                "pt": res.parent_task_request_id,
                "s": res.is_subtask,
                "id": pending.request_id,
            },
        )
        n += 1
    return n


def link_pending(engine: Engine) -> int:
    """:func:`link_pending_conn` in one write transaction."""
    with write_tx(engine) as conn:
        return link_pending_conn(conn)


def partial_link_indexes(conn) -> None:
    """Schema migration 11: the lookup indexes that held every task row made partial (PARTIAL_INDEXES)."""
    for name in FULL_BEFORE_11:
        conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    ensure_link_schema(conn)
