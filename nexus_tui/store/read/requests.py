"""Reads for the ``requests`` and ``conversations`` reports (one row per API request / per conversation).

The linking and proxy columns come with schema migration 6; on a database without one of them the column reads
as null, so the reports work on any version.
"""

from __future__ import annotations

from sqlalchemy import Engine, and_, inspect, literal_column, null, select, true

from nexus_tui.core.events import iso_from_ms
from nexus_tui.core.filters import Filters
from nexus_tui.store.linking import LINK_COLUMNS, PROXY_COLUMNS
from nexus_tui.store.read.plan import TC, T, task_conds, typed_rows
from nexus_tui.store.spans import stored_int

REQUEST_FIELDS = [
    "request_id",
    "time",
    "session_id",
    "conversation_id",
    "branch_id",
    "parent_request_id",
    "parent_task_request_id",
    "is_subtask",
    "source",
    "model",
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cost_usd",
    "ttft_ms",
    "latency_ms",
    "status",
    "http_status",
    "error_type",
    "stop_reason",
    "message_count",
    "client",
    "retries",
    "tools",
]
CONVERSATION_FIELDS = [
    "conversation_id",
    "session_id",
    "root_request_id",
    "start_time",
    "end_time",
    "duration_ms",
    "requests",
    "branches",
    "compactions",
    "subtasks",
    "errors",
    "models",
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "cache_creation_tokens",
    "total_tokens",
    "cost_usd",
    "unpriced_requests",
    "avg_latency_ms",
    "avg_ttft_ms",
]

_INTS = (
    "tokens_in",
    "tokens_out",
    "cache_read_tokens",
    "cache_creation_tokens",
    "ttft_ms",
    "latency_ms",
    "http_status",
    "message_count",
    "retries",
)


def _task_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("tasks")}


def requests(engine: Engine, f: Filters) -> list[dict]:
    """One row per request (task) in range, oldest first; ``tools``: the tool names it called, in order."""
    have = _task_columns(engine)
    extra = [
        literal_column(f"tasks.{c}").label(c) if c in have else null().label(c)
        for c in LINK_COLUMNS + PROXY_COLUMNS
    ]
    q = (
        select(
            T.c.id,
            T.c.request_id,
            T.c.ts_ms,
            T.c.session_id,
            T.c.source,
            T.c.model,
            T.c.tokens_in,
            T.c.tokens_out,
            T.c.cache_read_tokens,
            T.c.cache_creation_tokens,
            T.c.cost_usd,
            T.c.latency_ms,
            T.c.status,
            T.c.stop_reason,
            *extra,
        )
        .where(and_(true(), *task_conds(f)))
        .order_by(T.c.ts_ms, T.c.id)
    )
    tq = (
        select(TC.c.task_id, TC.c.tool_name)
        .where(
            TC.c.task_id.in_(select(T.c.id).where(and_(true(), *task_conds(f)))), TC.c.tool_name.isnot(None)
        )
        .order_by(TC.c.task_id, TC.c.started_ms, TC.c.id)
    )
    with engine.connect() as conn:
        rows = typed_rows(conn, q)
        tools: dict[str, list[str]] = {}
        for tid, name in conn.execute(tq):
            tools.setdefault(tid, []).append(str(name))
    out = []
    for r in rows:
        d = {
            "request_id": r["request_id"] or r["id"],
            "time": iso_from_ms(r["ts_ms"]),
            "session_id": r["session_id"],
            "conversation_id": r["conversation_id"],
            "branch_id": r["branch_id"],
            "parent_request_id": r["parent_request_id"],
            "parent_task_request_id": r["parent_task_request_id"],
            "is_subtask": bool(r["is_subtask"]) if r["is_subtask"] is not None else None,
            "source": r["source"],
            "model": r["model"],
            "tokens_in": r["tokens_in"] or 0,
            "tokens_out": r["tokens_out"] or 0,
            "cache_read_tokens": r["cache_read_tokens"] or 0,
            "cache_creation_tokens": r["cache_creation_tokens"] or 0,
            "cost_usd": float(r["cost_usd"]) if r["cost_usd"] is not None else None,
            "ttft_ms": r["ttft_ms"],
            "latency_ms": r["latency_ms"],
            "status": r["status"],
            "http_status": r["http_status"],
            "error_type": r["error_type"],
            "stop_reason": r["stop_reason"],
            "message_count": r["message_count"],
            "client": r["client"],
            "retries": r["retries"],
            "tools": tools.get(r["id"], []),
            "_ts_ms": r["ts_ms"],
            "_task_id": r["id"],
        }
        for k in _INTS:
            if d[k] is not None:
                d[k] = stored_int(d[k])
        out.append(d)
    return out


def _avg(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def conversations(engine: Engine, f: Filters, rows: list[dict] | None = None) -> list[dict]:
    """One row per conversation with a linked request in range (sums over those requests), newest first."""
    rows = requests(engine, f) if rows is None else rows
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["conversation_id"]:
            groups.setdefault(r["conversation_id"], []).append(r)
    out = []
    for conv, rs in groups.items():
        start, end = rs[0]["_ts_ms"], rs[-1]["_ts_ms"]
        root = next((r for r in rs if not r["parent_request_id"]), None)  # None: the root is out of range
        branches = {r["branch_id"] for r in rs if r["branch_id"]}
        priced = [r["cost_usd"] for r in rs if r["cost_usd"] is not None]
        sums = {
            k: sum(r[k] for r in rs)
            for k in ("tokens_in", "tokens_out", "cache_read_tokens", "cache_creation_tokens")
        }
        models: list[str] = []
        for r in rs:
            if r["model"] not in models:
                models.append(r["model"])
        out.append(
            {
                "conversation_id": conv,
                "session_id": (root or rs[0])["session_id"],
                "root_request_id": root["request_id"] if root else None,
                "start_time": iso_from_ms(start),
                "end_time": iso_from_ms(end),
                "duration_ms": (end - start) if start is not None and end is not None else None,
                "requests": len(rs),
                "branches": len(branches),
                "compactions": sum(1 for b in branches if b.startswith("compact_")),
                "subtasks": sum(1 for r in rs if r["is_subtask"]),
                "errors": sum(1 for r in rs if r["status"] == "error"),
                "models": models,
                **sums,
                "total_tokens": sum(sums.values()),
                "cost_usd": sum(priced) if priced else None,
                "unpriced_requests": len(rs) - len(priced),
                "avg_latency_ms": _avg([r["latency_ms"] for r in rs]),
                "avg_ttft_ms": _avg([r["ttft_ms"] for r in rs]),
                "_start_ms": start,
            }
        )
    out.sort(key=lambda c: (c["_start_ms"] or 0, c["conversation_id"]), reverse=True)
    return out
