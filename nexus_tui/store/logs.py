"""Reads for the agent's own MCP tools (``nexus_tui/mcp_serve.py``) that no report had: a session picked by id,
prefix, "latest" or working directory; searching the error, tool call and task records; sums per component,
sub-agent and local hour; one session's tools and failures.

Sums use the same column expressions and rollup sources as ``store/queries.py`` (``_usage_cols``, ``usage_cols_u``,
``rollup.task_source``), so a group's numbers add up to the summary report's for the same range.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import Engine, and_, case, func, literal, or_, select, true

from nexus_tui.core.filters import Filters
from nexus_tui.store import rollup
from nexus_tui.store.queries import (
    _BUCKET_MS,
    E,
    S,
    TC,
    T,
    _int_fix,
    _usage_cols,
    _usage_dict,
    cache_hit_rate,
    error_conds,
    session_filter,
    task_conds,
    tool_conds,
    usage_cols_u,
)

SEARCH_KINDS = ("errors", "tool_calls", "tasks")
USAGE_KEYS = ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "unpriced_tasks")


# ---------------------------------------------------------------- sessions
def latest_session(engine: Engine, cwd: str | None = None, stop: tuple[str, ...] = ()) -> str | None:
    """The most recently active session (latest end, then start); with ``cwd``: of that working directory, else of
    the nearest folder above it that has sessions (an agent started in a sub-folder of its project), never going up
    to a folder in ``stop`` (the home folder) or above it, nor to the root."""
    last = func.coalesce(S.c.end_ms, S.c.start_ms)
    with engine.connect() as conn:
        if cwd is None:
            return conn.execute(select(S.c.id).order_by(last.desc().nulls_last(), S.c.id.desc()).limit(1)).scalar()
        barriers = {b.rstrip("/") for b in stop if b} | {""}
        path = cwd.rstrip("/")
        first = True
        while first or path not in barriers and not any(b.startswith(path + "/") for b in barriers if b):
            sid = conn.execute(select(S.c.id).where(S.c.cwd.in_([path or "/", path + "/"]))
                               .order_by(last.desc().nulls_last(), S.c.id.desc()).limit(1)).scalar()
            if sid is not None or "/" not in path:
                return sid
            first = False
            path = path.rsplit("/", 1)[0]
        return None


def find_session(engine: Engine, ref: str) -> tuple[str | None, list[str]]:
    """(the session id, []) for an exact id or a unique prefix; (None, candidates) when the prefix is ambiguous."""
    with engine.connect() as conn:
        if conn.execute(select(S.c.id).where(S.c.id == ref)).scalar() is not None:
            return ref, []
        like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        ids = [r[0] for r in conn.execute(select(S.c.id).where(S.c.id.like(like, escape="\\"))
                                          .order_by(S.c.id).limit(6))]
    return (ids[0], []) if len(ids) == 1 else (None, ids)


def session_tools(engine: Engine, session_id: str) -> list[dict]:
    """One session's calls and failures per tool (most calls first)."""
    fails = func.coalesce(func.sum(case((TC.c.success.is_(False), 1), else_=0)), 0)
    with engine.connect() as conn:
        rows = conn.execute(select(TC.c.tool_name, TC.c.mcp_server, func.count(), fails)
                            .where(and_(TC.c.session_id == session_id, *tool_conds(Filters())))
                            .group_by(TC.c.tool_name, TC.c.mcp_server)).all()
    return sorted(({"tool": t, "server": s, "calls": int(n), "failures": int(x)} for t, s, n, x in rows),
                  key=lambda d: (-d["calls"], d["tool"]))


def session_failures(engine: Engine, session_id: str, limit: int = 20) -> list[dict]:
    """A session's newest failed tool calls with their error type and (stored, redacted) message."""
    with engine.connect() as conn:
        rows = conn.execute(select(TC.c.started_ms, TC.c.tool_name, TC.c.mcp_server, TC.c.agent_id, TC.c.error_type,
                                   TC.c.error_message, TC.c.task_id)
                            .where(and_(TC.c.session_id == session_id, TC.c.success.is_(False),
                                        TC.c.tool_name.isnot(None)))
                            .order_by(TC.c.started_ms.desc(), TC.c.id).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- search
def _contains(col, q: str):
    return func.lower(col).contains(q.lower(), autoescape=True)


def _agent_label(col):
    return case((col.is_(None), literal("main")), else_=literal("sub-agent:") + col)


def search(engine: Engine, query: str, kind: str | None = None, since_ms: int | None = None,
           limit: int = 50) -> list[dict]:
    """Records matching ``query`` (case-insensitive substring; empty: everything), newest first: error records
    (message, kind, component), tool calls (tool, server, error type and message) and tasks (model, status, stop
    reason, error message). Each: time_ms, kind, session_id, component, message, and the record's own fields."""
    kinds = [kind] if kind else list(SEARCH_KINDS)
    out: list[dict] = []
    q = query or ""
    with engine.connect() as conn:
        if "errors" in kinds:
            conds = [E.c.ts_ms >= since_ms] if since_ms is not None else []
            if q:
                conds.append(or_(_contains(E.c.message, q), _contains(E.c.kind, q), _contains(E.c.component, q)))
            for r in conn.execute(select(E.c.id, E.c.ts_ms, E.c.component, E.c.kind, E.c.message, E.c.session_id,
                                         E.c.task_id).where(and_(true(), *conds))
                                  .order_by(E.c.ts_ms.desc().nulls_last(), E.c.id).limit(limit)):
                out.append({"time_ms": r.ts_ms, "kind": "error", "session_id": r.session_id,
                            "component": r.component, "message": f"{r.kind}: {r.message}", "error_type": r.kind,
                            "task_id": r.task_id, "tool": None, "model": None})
        if "tool_calls" in kinds:
            conds = [TC.c.tool_name.isnot(None)]
            if since_ms is not None:
                conds.append(TC.c.started_ms >= since_ms)
            if q:
                conds.append(or_(_contains(TC.c.tool_name, q), _contains(TC.c.mcp_server, q),
                                 _contains(TC.c.error_type, q), _contains(TC.c.error_message, q)))
            for r in conn.execute(select(TC.c.started_ms, TC.c.tool_name, TC.c.mcp_server, TC.c.session_id,
                                         TC.c.task_id, _agent_label(TC.c.agent_id).label("component"), TC.c.success,
                                         TC.c.latency_ms, TC.c.error_type, TC.c.error_message)
                                  .where(and_(*conds)).order_by(TC.c.started_ms.desc().nulls_last(), TC.c.id)
                                  .limit(limit)):
                outcome = ("pending" if r.success is None else "ok" if r.success
                           else f"failed ({r.error_type or 'error'}): {r.error_message or ''}".rstrip(": "))
                name = r.tool_name + (f" [{r.mcp_server}]" if r.mcp_server else "")
                lat = f" in {r.latency_ms} ms" if r.latency_ms is not None else ""
                out.append({"time_ms": r.started_ms, "kind": "tool_call", "session_id": r.session_id,
                            "component": r.component, "message": f"{name}: {outcome}{lat}",
                            "error_type": r.error_type if r.success is False else None, "task_id": r.task_id,
                            "tool": r.tool_name, "model": None})
        if "tasks" in kinds:
            conds = [T.c.ts_ms >= since_ms] if since_ms is not None else []
            if q:
                conds.append(or_(_contains(T.c.model, q), _contains(T.c.status, q), _contains(T.c.stop_reason, q),
                                 _contains(T.c.error_message, q), _contains(T.c.component, q),
                                 _contains(T.c.source, q)))
            comp = func.coalesce(T.c.component, _agent_label(T.c.agent_id)).label("component")
            for r in conn.execute(select(T.c.id, T.c.ts_ms, T.c.session_id, comp, T.c.model, T.c.status,
                                         T.c.tokens_in, T.c.tokens_out, T.c.cache_read_tokens,
                                         T.c.cache_creation_tokens, T.c.cost_usd, T.c.error_message,
                                         T.c.stop_reason).where(and_(true(), *conds))
                                  .order_by(T.c.ts_ms.desc().nulls_last(), T.c.id).limit(limit)):
                tokens = sum(int(x or 0) for x in (r.tokens_in, r.tokens_out, r.cache_read_tokens,
                                                   r.cache_creation_tokens))
                cost = f"${r.cost_usd:.4f}" if r.cost_usd is not None else "unpriced"
                msg = f"{r.model}: {tokens} tokens, {cost}"
                if r.status == "error":
                    msg += f", error: {r.error_message or ''}".rstrip(": ")
                elif r.stop_reason:
                    msg += f", {r.stop_reason}"
                out.append({"time_ms": r.ts_ms, "kind": "task", "session_id": r.session_id,
                            "component": r.component, "message": msg,
                            "error_type": "error" if r.status == "error" else None, "task_id": r.id, "tool": None,
                            "model": r.model})
    out.sort(key=lambda d: -(d["time_ms"] if d["time_ms"] is not None else -1))
    return out[:limit]


# ---------------------------------------------------------------- summaries by group
def _component_expr(comp_col, agent_col):
    return func.coalesce(comp_col, case((agent_col.is_(None), literal("main")), else_=literal("sub-agent")))


def _finish(groups: dict) -> list[dict]:
    out = []
    for key in groups:
        d = groups[key]
        for k in USAGE_KEYS + ("tool_calls", "tool_failures"):
            d[k] = int(d.get(k) or 0)
        if d.get("errors") is not None:
            d["errors"] = int(d["errors"])
        d["cost_usd"] = float(d.get("cost_usd") or 0.0)
        d["total_tokens"] = d["tokens_in"] + d["tokens_out"] + d["cache_creation_tokens"] + d["cache_read_tokens"]
        d["cache_hit_rate"] = cache_hit_rate(d["tokens_in"], d["cache_read_tokens"], d["cache_creation_tokens"])
        out.append(d)
    return out


def _empty(key: str, errors: int | None = None) -> dict:
    return {"key": key, **dict.fromkeys(USAGE_KEYS, 0), "cost_usd": 0.0, "tool_calls": 0, "tool_failures": 0,
            "errors": errors}


def by_actor(engine: Engine, f: Filters, by: str) -> list[dict]:
    """Usage, tool calls and failures per component (a source's own component label, else 'main' or 'sub-agent')
    or per agent ('main' or each sub-agent's id), from the raw rows in the range. ``errors`` stays None: an error
    record (an API error) does not say which agent it came from."""
    if by == "agent":
        tkey = func.coalesce(T.c.agent_id, literal("main"))
        ckey = func.coalesce(TC.c.agent_id, literal("main"))
    elif by == "component":
        tkey = _component_expr(T.c.component, T.c.agent_id)
        task_comp = select(T.c.component).where(T.c.id == TC.c.task_id).limit(1).scalar_subquery()
        ckey = _component_expr(task_comp, TC.c.agent_id)
    else:
        raise ValueError(f"unknown grouping {by!r}")
    tkey, ckey = tkey.label("key"), ckey.label("key")  # grouped by the label: one expression (PostgreSQL)
    groups: dict[str, dict] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(tkey, *_usage_cols()).where(and_(true(), *task_conds(f))).group_by(tkey)):
            d = _int_fix(_usage_dict(r))
            g = groups.setdefault(d["key"], _empty(d["key"]))
            g.update({k: d[k] for k in USAGE_KEYS}, cost_usd=d["cost_usd"])
        fails = func.coalesce(func.sum(case((TC.c.success.is_(False), 1), else_=0)), 0)
        for key, calls, failures in conn.execute(select(ckey, func.count(), fails)
                                                 .where(and_(*tool_conds(f))).group_by(ckey)):
            g = groups.setdefault(key, _empty(key))
            g["tool_calls"], g["tool_failures"] = int(calls), int(failures)
    out = _finish(groups)
    out.sort(key=lambda d: (-d["cost_usd"], -d["tasks"], -d["tool_calls"], str(d["key"])))
    return out


def by_hour(engine: Engine, f: Filters, tz: tzinfo) -> list[dict]:
    """Usage, tool calls, failures and error records per local hour of ``tz`` (oldest first), from the same rollup
    sources as the daily report (15-minute rows folded into hours: every zone offset is a multiple of 15 minutes)."""
    sf = session_filter(f)
    u = rollup.task_source(f, sf, coarsest="quarter")
    t = rollup.tool_source(f, sf, coarsest="quarter")
    ub = (u.c.ts_ms // _BUCKET_MS).label("b")
    tb = (t.c.ts_ms // _BUCKET_MS).label("b")
    eb = (E.c.ts_ms // _BUCKET_MS).label("b")
    with engine.connect() as conn:
        rows = conn.execute(select(ub, *usage_cols_u(u)).group_by(ub)).all()
        tools = conn.execute(select(tb, func.sum(t.c.calls), func.coalesce(func.sum(t.c.failures), 0))
                             .group_by(tb)).all()
        errs = conn.execute(select(eb, func.count()).where(and_(E.c.ts_ms.isnot(None), *error_conds(f)))
                            .group_by(eb)).all()

    def hour_of(b) -> str:
        return datetime.fromtimestamp(int(b) * _BUCKET_MS / 1000, tz).strftime("%Y-%m-%dT%H:00%z")

    groups: dict[str, dict] = {}
    for r in rows:
        m = r._mapping
        g = groups.setdefault(hour_of(m["b"]), _empty(hour_of(m["b"]), 0))
        for k in USAGE_KEYS:
            g[k] += int(m[k] or 0)
        g["cost_usd"] += float(m["cost_usd"] or 0.0)
    for b, calls, failures in tools:
        if b is None:
            continue
        g = groups.setdefault(hour_of(b), _empty(hour_of(b), 0))
        g["tool_calls"] += int(calls)
        g["tool_failures"] += int(failures)
    for b, n in errs:
        g = groups.setdefault(hour_of(b), _empty(hour_of(b), 0))
        g["errors"] += int(n)
    return _finish({k: groups[k] for k in sorted(groups)})


def errors_by_day(engine: Engine, f: Filters, tz: tzinfo) -> dict[str, int]:
    """Error records (API errors, tool failures, ingest problems) per local day of ``tz``."""
    eb = (E.c.ts_ms // _BUCKET_MS).label("b")
    with engine.connect() as conn:
        rows = conn.execute(select(eb, func.count()).where(and_(E.c.ts_ms.isnot(None), *error_conds(f)))
                            .group_by(eb)).all()
    out: dict[str, int] = {}
    for b, n in rows:
        day = datetime.fromtimestamp(int(b) * _BUCKET_MS / 1000, tz).date().isoformat()
        out[day] = out.get(day, 0) + int(n)
    return out


# ---------------------------------------------------------------- quota snapshots
def latest_quota(engine: Engine) -> list[dict] | None:
    """The newest snapshot of each quota window (``quota_snapshots``), or None when the table does not exist."""
    from sqlalchemy import MetaData, Table, inspect

    with engine.connect() as conn:
        if not inspect(conn).has_table("quota_snapshots"):
            return None
        q = Table("quota_snapshots", MetaData(), autoload_with=conn)
        newest = (select(q.c.window, func.max(q.c.observed_ms).label("m")).group_by(q.c.window).subquery())
        rows = conn.execute(select(q).join(newest, and_(newest.c.window == q.c.window,
                                                        newest.c.m == q.c.observed_ms))
                            .order_by(q.c.window)).all()
    seen: dict = {}
    for r in rows:
        seen.setdefault(r._mapping["window"], dict(r._mapping))
    return list(seen.values())
