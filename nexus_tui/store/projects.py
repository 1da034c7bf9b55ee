"""Projects: the project filter (a project or a project group's members) and usage per project and per group.

A session's project is its ``project`` name (Claude Code: the transcript folder's project), else its cwd, else
``-``. ``--project P`` matches a session whose project is P or whose cwd contains P; when P names a group
(``[projects] groups`` in insights.toml, ``Filters.project_members``), a session matching any member.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, or_, select

from nexus_tui.core.filters import Filters
from nexus_tui.store.read import plan
from nexus_tui.store.read.plan import project_cond  # noqa: F401 (the project filter lives with the other filters)
from nexus_tui.store.schema import Session, money

S = Session.__table__
SUMS = ("tasks", "tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens", "unpriced_tasks")


def matches(member: str, project: str | None, cwd: str | None) -> bool:
    """``project_cond`` for one session, in Python (SQLite's LIKE ignores ASCII case: so does this)."""
    return project == member or (cwd is not None and member.casefold() in cwd.casefold())


def _blank(**head) -> dict:
    return {**head, "sessions": 0, **dict.fromkeys(SUMS, 0), "cost_usd": 0.0, "tool_calls": 0, "tool_failures": 0,
            "first_ms": None, "last_ms": None}


def _add(into: dict, s: dict) -> None:
    into["sessions"] += 1
    for k in (*SUMS, "cost_usd", "tool_calls", "tool_failures"):
        into[k] += s[k]
    for k, pick in (("first_ms", min), ("last_ms", max)):
        if s[k] is not None:
            into[k] = s[k] if into[k] is None else pick(into[k], s[k])


def _finish(d: dict) -> dict:
    from nexus_tui.core.events import iso_from_ms
    from nexus_tui.store.read.plan import cache_hit_rate

    d["cost_usd"] = money(d["cost_usd"])
    d["total_tokens"] = d["tokens_in"] + d["tokens_out"] + d["cache_creation_tokens"] + d["cache_read_tokens"]
    d["cache_hit_rate"] = cache_hit_rate(d["tokens_in"], d["cache_read_tokens"], d["cache_creation_tokens"])
    d["tool_failure_rate"] = round(d["tool_failures"] / d["tool_calls"], 6) if d["tool_calls"] else None
    first, last = d.pop("first_ms"), d.pop("last_ms")
    d["first_task"] = iso_from_ms(first) if first is not None else None
    d["last_task"] = iso_from_ms(last) if last is not None else None
    return d


def session_usage(engine: Engine, f: Filters) -> list[dict]:
    """Per session active in the range (a task or a tool call in it, under the filters): its project, cwd, sums
    and the times of its first and last task in range (first_ms, last_ms). Read from the (session, day) rollups and the raw rows at the range's ends."""
    from nexus_tui.store.read.plan import session_filter, usage_cols_u

    sf = session_filter(f)
    u = plan.task_source(f, sf, coarsest="sday")
    t = plan.tool_source(f, sf, coarsest="sday")
    with engine.connect() as conn:
        tasks = {r.session_id: r._mapping for r in conn.execute(
            select(u.c.session_id, *usage_cols_u(u), func.min(u.c.first_ms).label("first_ms"),
                   func.max(u.c.last_ms).label("last_ms")).group_by(u.c.session_id))}
        tools = {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in conn.execute(
            select(t.c.session_id, func.sum(t.c.calls), func.coalesce(func.sum(t.c.failures), 0))
            .group_by(t.c.session_id))}
        ids = sorted(set(tasks) | set(tools), key=str)
        meta = {}
        for i in range(0, len(ids), 500):
            for sid, project, cwd in conn.execute(select(S.c.id, S.c.project, S.c.cwd)
                                                  .where(S.c.id.in_(ids[i:i + 500]))):
                meta[sid] = (project, cwd)
    out = []
    for sid in ids:
        m = tasks.get(sid)
        calls, fails = tools.get(sid, (0, 0))
        project, cwd = meta.get(sid, (None, None))
        row = {"session_id": sid, "project": project, "cwd": cwd,
               **{k: int(m[k] or 0) if m else 0 for k in SUMS},
               "cost_usd": float(m["cost_usd"] or 0.0) if m else 0.0, "tool_calls": calls, "tool_failures": fails}
        row["first_ms"], row["last_ms"] = (m["first_ms"], m["last_ms"]) if m else (None, None)  # tasks' times
        out.append(row)
    return out


def project_name(project: str | None, cwd: str | None) -> str:
    return project or cwd or "-"


def projects(engine: Engine, f: Filters, groups: dict[str, tuple[str, ...]] | None = None
             ) -> tuple[list[dict], list[dict]]:
    """(rows per project, rows per project group), each by cost then name. A project row names the groups whose
    members match one of its sessions; a group row sums the sessions matching any of its members (a session
    counts once per group)."""
    groups = groups or {}
    by_project: dict[str, dict] = {}
    by_group = {g: _blank(group=g, members=list(ms)) for g, ms in groups.items()}
    project_groups: dict[str, set] = {}
    for s in session_usage(engine, f):
        name = project_name(s["project"], s["cwd"])
        _add(by_project.setdefault(name, _blank(project=name)), s)
        for g, ms in groups.items():
            if any(matches(m, s["project"], s["cwd"]) for m in ms):
                _add(by_group[g], s)
                project_groups.setdefault(name, set()).add(g)
    rows = []
    for name, d in by_project.items():
        d["groups"] = sorted(project_groups.get(name, ()))
        rows.append(_finish(d))
    order = (lambda r: (-r["cost_usd"], -r["total_tokens"], r.get("project") or r.get("group")))
    return sorted(rows, key=order), sorted((_finish(d) for d in by_group.values()), key=order)
