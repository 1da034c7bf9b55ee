"""The ``requests`` and ``conversations`` headless reports (text, JSON, CSV). Never imports Textual.

Contract: docs/reports.md. Linking: docs/proxy.md.
"""

from __future__ import annotations

from datetime import datetime

from nexus_tui.core.report import plural
from nexus_tui.core import report as R
from nexus_tui.core.filters import Filters

LINKED_REPORTS = ("requests", "conversations")


def _short(s: str | None, n: int = 8) -> str:
    return "-" if not s else str(s)[:n]


def _local(iso_ms: int | None, tz) -> str:
    return "-" if iso_ms is None else datetime.fromtimestamp(iso_ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")


def _public(rows: list[dict], fields: list[str]) -> list[dict]:
    return [{k: r.get(k) for k in fields} for r in rows]


def render_linked(report: str, engine, f: Filters, tz, fmt: str) -> str:
    from nexus_tui.store.read import requests as RR

    if report == "requests":
        rows = RR.requests(engine, f)
        if fmt == "json":
            return R.to_json(_public(rows, RR.REQUEST_FIELDS))
        if fmt == "csv":
            return R.to_csv(_public(rows, RR.REQUEST_FIELDS), RR.REQUEST_FIELDS)
        body = R.table(
            [
                "time",
                "request",
                "conv",
                "branch",
                "parent",
                "model",
                "in",
                "out",
                "cache r",
                "cache w",
                "cost",
                "ttft",
                "latency",
                "status",
                "tools",
            ],
            [
                [
                    _local(r["_ts_ms"], tz),
                    _short(r["request_id"], 12),
                    _short(r["conversation_id"]),
                    (r["branch_id"] or "-")[:22] + (" (sub)" if r["is_subtask"] else ""),
                    _short(r["parent_request_id"], 12),
                    str(r["model"]).replace("claude-", "")[:24],
                    R.fmt_int(r["tokens_in"]),
                    R.fmt_int(r["tokens_out"]),
                    R.fmt_int(r["cache_read_tokens"]),
                    R.fmt_int(r["cache_creation_tokens"]),
                    R.fmt_usd(r["cost_usd"]),
                    R.fmt_ms(r["ttft_ms"]),
                    R.fmt_ms(r["latency_ms"]),
                    (r["status"] or "-") + (f" {r['error_type']}" if r["error_type"] else ""),
                    ",".join(r["tools"])[:40] or "-",
                ]
                for r in rows
            ],
            right={6, 7, 8, 9, 10, 11, 12},
        )
        return body + f"\n{plural(len(rows), 'request')}"
    if report == "conversations":
        rows = RR.conversations(engine, f)
        if fmt == "json":
            return R.to_json(_public(rows, RR.CONVERSATION_FIELDS))
        if fmt == "csv":
            return R.to_csv(_public(rows, RR.CONVERSATION_FIELDS), RR.CONVERSATION_FIELDS)
        body = R.table(
            [
                "start",
                "conversation",
                "session",
                "requests",
                "branches",
                "compact",
                "subtasks",
                "errors",
                "tokens",
                "cost",
                "models",
            ],
            [
                [
                    _local(r["_start_ms"], tz),
                    _short(r["conversation_id"]),
                    _short(r["session_id"]),
                    R.fmt_int(r["requests"]),
                    R.fmt_int(r["branches"]),
                    R.fmt_int(r["compactions"]),
                    R.fmt_int(r["subtasks"]),
                    R.fmt_int(r["errors"]),
                    R.fmt_int(r["total_tokens"]),
                    R.fmt_usd(r["cost_usd"]),
                    ",".join(m.replace("claude-", "") for m in r["models"])[:34],
                ]
                for r in rows
            ],
            right=set(range(3, 10)),
        )
        return body + f"\n{plural(len(rows), 'conversation')}"
    raise ValueError(f"unknown report {report!r}")
