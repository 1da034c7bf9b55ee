"""A parsed batch as table rows, with no SQL and no SQLAlchemy: folded by natural key and laid out in the tables'
column order (``prepare``), relabelled for a machine, and the rollup pairs the rows touch. The writer executes
these rows (store/writer.py); so does the light ingest path (store/lite.py), and a parser worker lays them out."""

from __future__ import annotations

from dataclasses import dataclass, field

from nexus_tui.core.events import Batch, iso_from_ms
from nexus_tui.core.merge import PROXY_FIELDS, fold_sessions, fold_tasks, fold_tool_calls
from nexus_tui.store.sqlite_sql import COLUMNS
from nexus_tui.store.upkeep import bucket

# the columns holding an id of this machine's rows (or one referring to them), per kind of Prepared rows
ID_COLUMNS = ("id", "session_id", "task_id", "tool_use_id", "request_id", "parent_request_id", "leaf_uuid",
              "parent_task_request_id", "conversation_id", "branch_id")


@dataclass
class CursorUpdate:
    path: str
    source: str
    dev: int | None
    inode: int | None
    size: int | None
    mtime_ns: int | None
    offset: int
    head_hash: str | None
    state: str | None
    lines: int
    skipped: int
    last_seen: str


CURSOR_COLS = ("path", "source", "dev", "inode", "size", "mtime_ns", "offset", "head_hash", "state", "lines",
                "skipped", "last_seen")


@dataclass
class WriteResult:
    new_sessions: int = 0
    new_tasks: int = 0
    updated_tasks: int = 0
    new_tool_calls: int = 0
    new_results_only: int = 0  # of new_tool_calls: results whose call (the tool's name) was not read yet
    new_errors: int = 0
    ratings: int = 0
    session_ids: set[str] = field(default_factory=set)
    task_ids: list[str] = field(default_factory=list)  # ids written for the first time
    dropped: dict[str, int] = field(default_factory=dict)  # records the writer could not store, by reason

    def add(self, other: "WriteResult") -> None:
        self.new_sessions += other.new_sessions
        self.new_tasks += other.new_tasks
        self.updated_tasks += other.updated_tasks
        self.new_tool_calls += other.new_tool_calls
        self.new_results_only += other.new_results_only
        self.new_errors += other.new_errors
        self.ratings += other.ratings
        self.session_ids |= other.session_ids
        self.task_ids.extend(other.task_ids)
        for k, v in other.dropped.items():
            self.dropped[k] = self.dropped.get(k, 0) + v

    @property
    def changed(self) -> bool:
        return bool(self.new_sessions or self.new_tasks or self.updated_tasks or self.new_tool_calls
                    or self.new_errors or self.ratings)


def session_row(s) -> dict:
    return {"id": s.id, "start_time": iso_from_ms(s.start_ms), "end_time": iso_from_ms(s.end_ms),
            "start_ms": s.start_ms, "end_ms": s.end_ms, "cli_tool": s.cli_tool, "persona": s.persona,
            "nexus_mode": s.nexus_mode, "project": s.project, "cwd": s.cwd, "git_branch": s.git_branch,
            "cli_version": s.cli_version}


def task_row(t) -> dict:
    latency = t.latency_ms
    if t.end_ms is not None and t.trigger_ms is not None:
        latency = max(0, t.end_ms - t.trigger_ms)
    return {"id": t.id, "session_id": t.session_id, "timestamp": iso_from_ms(t.ts_ms), "ts_ms": t.ts_ms,
            "source": t.source, "model": t.model, "routing": t.routing, "routing_reason": t.routing_reason,
            "tokens_in": t.tokens_in, "tokens_out": t.tokens_out, "cache_read_tokens": t.cache_read_tokens,
            "cache_creation_tokens": t.cache_creation_tokens,
            "cache_creation_5m_tokens": t.cache_creation_5m_tokens,
            "cache_creation_1h_tokens": t.cache_creation_1h_tokens, "thinking_tokens": t.thinking_tokens,
            "total_tokens": t.total_tokens, "trigger_ms": t.trigger_ms, "end_ms": t.end_ms, "latency_ms": latency,
            "cost_usd": t.cost_usd, "cloud_cost_equivalent": t.cloud_cost_equivalent,
            "request_id": t.request_id, "message_id": t.message_id, "project": t.project, "agent_id": t.agent_id,
            "is_sidechain": t.is_sidechain, "status": t.status, "error_message": t.error_message,
            "stop_reason": t.stop_reason, "cli_tool": t.cli_tool, "persona": t.persona, "tier": t.tier,
            "component": t.component, "prompt_length": t.prompt_length, "response_length": t.response_length,
            "speed": t.speed, "service_tier": t.service_tier, "priced_as": t.priced_as,
            "quality_rating": t.quality_rating, "reported_cost_usd": t.reported_cost_usd, **{f: getattr(t, f) for f in PROXY_FIELDS}}


def use_fields(u) -> dict:
    return {"id": u.id, "session_id": u.session_id, "task_id": u.task_id, "tool_name": u.tool_name,
            "mcp_server": u.mcp_server, "tool_use_id": u.id, "source": u.source, "agent_id": u.agent_id,
            "started": iso_from_ms(u.started_ms), "started_ms": u.started_ms, "input_size": u.input_size,
            "source_path": u.source_path, "use_offset": u.use_offset, "use_length": u.use_length,
            "target": u.target}


def result_fields(r) -> dict:
    return {"ended_ms": r.ended_ms, "success": r.success, "error_type": r.error_type,
            "error_message": r.error_message, "output_size": r.output_size, "result_offset": r.result_offset,
            "result_length": r.result_length, "wait_ms": r.wait_ms}


USE_COLS = ("session_id", "task_id", "tool_name", "mcp_server", "tool_use_id", "source", "agent_id", "started",
             "started_ms", "input_size", "source_path", "use_offset", "use_length", "target")
RESULT_COLS = ("ended_ms", "success", "error_type", "error_message", "output_size", "result_offset",
                "result_length", "wait_ms")


def tool_rows(folded: dict[str, dict]) -> tuple[list[dict], list[dict], list[dict]]:
    both, uses, results = [], [], []
    for tid, halves in folded.items():
        u, r = halves.get("use"), halves.get("result")
        if u is not None and r is not None:
            row = use_fields(u) | result_fields(r)
            row["latency_ms"] = r.latency_ms if r.latency_ms is not None else max(0, r.ended_ms - u.started_ms)
            both.append(row)
        elif u is not None:
            row = use_fields(u) | dict.fromkeys(RESULT_COLS)
            row["latency_ms"] = None
            uses.append(row)
        else:
            row = {"id": tid, "session_id": r.session_id, "task_id": r.task_id, "tool_name": r.tool_name,
                   "mcp_server": r.mcp_server, "tool_use_id": tid, "source": r.source, "agent_id": None,
                   "started": iso_from_ms(r.started_ms), "started_ms": r.started_ms, "input_size": None,
                   "source_path": r.source_path, "use_offset": None, "use_length": None} | result_fields(r)
            if r.latency_ms is not None:
                row["latency_ms"] = r.latency_ms
            elif r.started_ms is not None:
                row["latency_ms"] = max(0, r.ended_ms - r.started_ms)
            else:
                row["latency_ms"] = None
            results.append(row)
    return both, uses, results


@dataclass
class Prepared:
    """A batch folded and laid out as rows in table-column order, ready for executemany. Pure data, so it can be
    built in the worker process that parsed the batch."""

    rows: dict[str, list[tuple]] = field(default_factory=dict)
    ratings: list = field(default_factory=list)
    # (task id, request hashes, response keys) of recorded requests, linked after their task rows are written
    links: list = field(default_factory=list)

    def extend(self, other: "Prepared") -> None:
        for k, v in other.rows.items():
            self.rows.setdefault(k, []).extend(v)
        self.ratings.extend(other.ratings)
        self.links.extend(other.links)

    def size(self) -> int:
        return sum(len(v) for v in self.rows.values())


_POS: dict[tuple[str, str], int] = {}


def pos(kind: str, col: str) -> int:
    """The index of ``col`` in the row tuples of ``kind`` (Prepared.rows)."""
    got = _POS.get((kind, col))
    if got is None:
        got = _POS[(kind, col)] = COLUMNS[KIND_TABLES[kind]].index(col)
    return got


def rollup_keys(rows: dict[str, list[tuple]]) -> tuple[set, set, list]:
    """The (session, bucket) pairs of the rollups that these rows fall in, and the tool calls whose start the
    batch does not know (a result whose call was written before)."""
    task_keys: set = set()
    if rows.get("tasks"):
        si, ti = pos("tasks", "session_id"), pos("tasks", "ts_ms")
        task_keys = {(r[si], bucket(r[ti])) for r in rows["tasks"] if r[ti] is not None}
    tool_keys: set = set()
    unknown: list = []
    si, ti = pos("tool_use", "session_id"), pos("tool_use", "started_ms")
    for kind in ("tool_use", "tool_result"):
        for r in rows.get(kind, ()):
            if r[ti] is None:
                unknown.append(r[0])
            else:
                tool_keys.add((r[si], bucket(r[ti])))
            tool_keys.add((r[si], None))  # a call's start may just have been learned: it leaves the NULL bucket
    return task_keys, tool_keys, unknown


def new_without_tool(calls: list[tuple], known) -> int:
    """Of the tool call rows ``calls`` whose id is not in ``known``: how many have no tool name (a result whose call
    line was not read, or not written yet)."""
    i = COLUMNS["tool_calls"].index("tool_name")
    named = {r[0] for r in calls if r[i] is not None}
    return len({r[0] for r in calls if r[0] not in known and r[0] not in named})


def layout(table: str, row: dict) -> tuple:
    return tuple(map(row.get, COLUMNS[table]))


def prepare(batch: Batch) -> Prepared:
    """Fold ``batch`` by natural key and lay its rows out for the database (no I/O). Free text is redacted of
    secrets first (core/redact.py): every source's rows pass here."""
    from nexus_tui.core.events import SessionRec
    from nexus_tui.core.redact import redact_batch

    redact_batch(batch)

    sessions = fold_sessions(batch.sessions)
    tasks = fold_tasks(batch.tasks)
    for t in tasks.values():  # every task needs its session row (foreign key); a guard, sources send one
        if t.session_id not in sessions:
            sessions[t.session_id] = SessionRec(id=t.session_id, start_ms=t.ts_ms, end_ms=t.end_ms or t.ts_ms,
                                                cli_tool=t.cli_tool)
    st, tt, tc = "sessions", "tasks", "tool_calls"
    p = Prepared()
    p.rows["sessions"] = [layout(st, session_row(s)) for s in sessions.values()]
    p.rows["tasks"] = [layout(tt, task_row(t)) for t in tasks.values()]
    both, uses, results = tool_rows(fold_tool_calls(batch.tool_uses, batch.tool_results))
    p.rows["tool_use"] = [layout(tc, r) for r in uses]
    p.rows["tool_result"] = [layout(tc, r) for r in both + results]
    rt = "routing_decisions"
    p.rows["routing"] = [layout(rt, {"id": r.id, "task_id": r.task_id, "reason": r.reason,
                                      "alternatives_considered": r.alternatives_considered,
                                      "classifier_version": r.classifier_version}) for r in batch.routing]
    et = "errors"
    p.rows["errors"] = [layout(et, {"id": e.id, "time": iso_from_ms(e.ts_ms), "ts_ms": e.ts_ms,
                                     "component": e.component, "kind": e.kind, "message": e.message,
                                     "context": e.context, "session_id": e.session_id, "task_id": e.task_id})
                        for e in batch.errors]
    p.ratings = [(r.task_id, r.rating) for r in batch.ratings]
    p.links = [(k.get("task_id"), k.get("hashes"), k.get("response_keys")) for k in batch.links
               if isinstance(k, dict)]
    if batch.session_stats:
        latest: dict = {}
        for row in sorted(batch.session_stats, key=lambda r: r.get("updated_ms") or 0):
            merged = latest.setdefault((row["session_id"], row["source"]), {})
            merged.update({k: v for k, v in row.items() if v is not None})  # later values win, gaps keep earlier
        p.rows["session_stats"] = [layout("session_stats", r) for r in latest.values()]
    if batch.titles:  # session titles (store/titles.py): message uuids and title lines
        from nexus_tui.store.title_rows import prepare_rows

        p.rows.update(prepare_rows(batch.titles))
    if batch.quota_snapshots:
        qt = "quota_snapshots"
        p.rows["quota_snapshots"] = [layout(qt, {**r, "observed_at": iso_from_ms(r["observed_ms"])})
                                     for r in {r["id"]: r for r in reversed(batch.quota_snapshots)}.values()]
    return p


# --- machines: a machine's rows named and, on a machine other than the home one, their ids prefixed ------------

KIND_TABLES: dict[str, str] = {"sessions": "sessions", "tasks": "tasks", "tool_use": "tool_calls",
                                "tool_result": "tool_calls", "routing": "routing_decisions", "errors": "errors",
                                "session_stats": "session_stats", "quota_snapshots": "quota_snapshots",
                                "message_uuids": "message_uuids", "title_lines": "title_lines"}
_RELABEL: dict[str, tuple[list[int], int | None]] = {}


def relabel_plan(kind: str) -> tuple[list[int], int | None]:
    """The positions of the id columns and of the machine column in the row tuples of ``kind``."""
    got = _RELABEL.get(kind)
    if got is None:
        names = COLUMNS[KIND_TABLES[kind]]
        got = _RELABEL[kind] = ([i for i, n in enumerate(names) if n in ID_COLUMNS],
                                names.index("machine") if "machine" in names else None)
    return got


def relabel(p: Prepared, machine: str, prefix: str) -> Prepared:
    """``p``'s rows as machine ``machine`` stores them (a new Prepared; ``p`` is left as it is): the machine column
    filled and, with a ``prefix``, every id column prefixed."""
    out = Prepared()
    for kind, rows in p.rows.items():
        if kind not in KIND_TABLES:
            out.rows[kind] = rows
            continue
        ids, mpos = relabel_plan(kind)
        ids = ids if prefix else []
        if mpos is None and not ids:
            out.rows[kind] = rows
            continue
        new = []
        for r in rows:
            r = list(r)
            for i in ids:
                if isinstance(r[i], str):
                    r[i] = prefix + r[i]
            if mpos is not None:
                r[mpos] = machine
            new.append(tuple(r))
        out.rows[kind] = new
    out.ratings = [(prefix + tid, rating) for tid, rating in p.ratings] if prefix else list(p.ratings)
    return out
