"""``--headless errors`` and ``--headless audit --session ID`` (text, JSON, CSV; docs/reports.md). Never imports
Textual: the Errors screen and the session's audit view load their data through ``load_errors`` / ``load_audit``
here, so the screens and the reports show the same rows."""

from __future__ import annotations

from datetime import datetime

from nexus_tui.core import report as R
from nexus_tui.core.events import iso_from_ms
from nexus_tui.core.filters import Filters

ERROR_FIELDS = ["time", "component", "kind", "tool", "message", "session_id", "task_id", "id"]
CALL_FIELDS = ["seq", "time", "tool", "server", "target", "outcome", "error_type", "latency_ms", "wait_ms", "agent",
               "task_id", "turn_tokens_in", "turn_tokens_out"]
FILE_FIELDS = ["path", "edits", "first_change", "last_change"]
MESSAGE_WIDTH = 100  # cells of a message in the text report (JSON and CSV keep the stored text)


class ReportArgumentError(ValueError):
    """A report's own argument is missing or names nothing (exit code 2)."""


# ---------------------------------------------------------------- loading (shared with the screens)
def load_errors(engine, f: Filters, query=None, limit: int | None = None, facets: bool = False):
    """The errors page (store/errors.py ``error_list``)."""
    from nexus_tui.store.errors import error_list

    return error_list(engine, f, query, limit=limit, facets=facets)


def load_audit(engine, session_id: str) -> dict | None:
    """{"calls": [...], "files_changed": [...]} of a session (targets of calls stored before schema 9 read from
    their transcript), or None when there is no such session."""
    from nexus_tui.collect.reader import fill_targets
    from nexus_tui.core.targets import files_changed
    from nexus_tui.store.audit import session_calls, session_exists

    if not session_exists(engine, session_id):
        return None
    calls = session_calls(engine, session_id)
    fill_targets(calls)
    return {"calls": calls, "files_changed": files_changed(calls)}


# ---------------------------------------------------------------- rows as the reports show them
def error_rows(page) -> list[dict]:
    return [{"time": iso_from_ms(r["time_ms"]), "component": r["component"], "kind": r["kind"], "tool": r["tool"],
             "message": r["message"], "session_id": r["session_id"], "task_id": r["task_id"], "id": r["id"]}
            for r in page.rows]


def call_rows(audit: dict) -> list[dict]:
    return [{"seq": c["seq"], "time": iso_from_ms(c["time_ms"]), "tool": c["tool"], "server": c["server"],
             "target": c["target"], "outcome": c["outcome"], "error_type": c["error_type"],
             "latency_ms": c["latency_ms"], "wait_ms": c["wait_ms"], "agent": c["agent"], "task_id": c["task_id"],
             "turn_tokens_in": c["turn_tokens_in"], "turn_tokens_out": c["turn_tokens_out"]}
            for c in audit["calls"]]


def file_rows(audit: dict) -> list[dict]:
    return [{"path": d["path"], "edits": d["edits"], "first_change": iso_from_ms(d["first_ms"]),
             "last_change": iso_from_ms(d["last_ms"])} for d in audit["files_changed"]]


def _local(ms, tz, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, tz).strftime(fmt)


def session_by_ref(engine, ref: str, unknown_ok: bool = False) -> str:
    """The session ``--session ref`` names: its id or a unique prefix of one; an ambiguous prefix (or, unless
    ``unknown_ok``, an unknown id) is a ReportArgumentError saying so. ``unknown_ok``: ``ref`` itself (the errors
    report: an error may name a session that has no session row)."""
    from nexus_tui.store.read.sessions import find_session

    sid, candidates, total = find_session(engine, ref)
    if sid is None and not (unknown_ok and total == 0):
        raise ReportArgumentError(R.no_such_session(ref, candidates, total))
    return sid or ref


# ---------------------------------------------------------------- rendering
def render_errors(engine, f: Filters, tz, fmt: str, query=None) -> tuple[str, dict]:
    """(output, JSON body) of the errors report: every error in range under the filters, newest first."""
    if query is not None and query.session_id:  # the table shows 8 characters of the id: they name it too
        from dataclasses import replace

        query = replace(query, session_id=session_by_ref(engine, query.session_id, unknown_ok=True))
    page = load_errors(engine, f, query)
    rows = error_rows(page)
    if fmt == "json":
        return "", {"errors": rows}
    if fmt == "csv":
        return R.to_csv(rows, ERROR_FIELDS), {}
    if not page.rows:
        return "no tool failures, API errors or ingest problems in this range", {}
    body = R.table(["time", "component", "kind", "tool", "session", "message"],
                   [[_local(r["time_ms"], tz), r["component"], r["kind"], r["tool"] or "-",
                     (r["session_id"] or "-")[:8], _cut(r["message"])] for r in page.rows], right=set())
    return body + "\n" + R.error_counts(R.error_noun(bool(r["tool"]), r["component"], r["kind"]) for r in page.rows), {}

def _cut(message) -> str:
    m = R.one_line(message)
    return R.clip_cells(m, MESSAGE_WIDTH)  # cells: a CJK message is as wide as any other


def render_audit(engine, session_id: str | None, tz, fmt: str) -> tuple[str, dict]:
    """(output, JSON body) of one session's audit trail."""
    if not session_id:
        raise ReportArgumentError("the audit report needs --session ID")
    audit = load_audit(engine, session_id)
    if audit is None:  # a unique prefix names the session too
        session_id = session_by_ref(engine, session_id)
        audit = load_audit(engine, session_id)
    calls, files = call_rows(audit), file_rows(audit)
    if fmt == "json":
        return "", {"session_id": session_id, "tool_calls": len(calls),
                    "tool_failures": sum(1 for c in calls if c["outcome"] == "failed"), "calls": calls,
                    "files_changed": files}
    if fmt == "csv":  # the calls (one table per CSV file); the changed files are the JSON's and the text's
        return R.to_csv(calls, CALL_FIELDS), {}
    failed = sum(1 for c in calls if c["outcome"] == "failed")
    lines = [f"session {R.safe(session_id)}: {R.plural(len(calls), 'tool call')}, {R.plural(failed, 'tool failure')}"]
    if calls:
        lines += ["", R.table(["#", "time", "tool", "target", "outcome", "latency", "agent", "turn in", "turn out"],
                              [[str(c["seq"]), _local(c["time_ms"], tz), c["tool"], c["target"] or "-",
                                c["outcome"] + (f" ({c['error_type']})" if c["error_type"] else ""),
                                R.fmt_ms(c["latency_ms"]), c["agent"], R.fmt_int(c["turn_tokens_in"]),
                                R.fmt_int(c["turn_tokens_out"])] for c in audit["calls"]],
                              right={0, 5, 7, 8}, keep_end={3})]
    lines += ["", "files changed" + ("" if files else ": none")]
    if files:
        lines.append(R.table(["file", "edits", "last change"],
                             [[d["path"], R.fmt_int(d["edits"]), _local(d["last_ms"], tz)]
                              for d in audit["files_changed"]], right={1}, keep_end={0}))
    return "\n".join(lines), {}
