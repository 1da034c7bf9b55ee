"""Tools: calls, failures, latency percentiles and waits per tool and per MCP server; failures by type; the
newest failed calls; one session's tools."""

from __future__ import annotations

from sqlalchemy import Engine, and_, case, func, select, true

from nexus_tui.core import sketch
from nexus_tui.core.filters import Filters
from nexus_tui.store.read.plan import TC, session_filter, tool_conds, tool_hists, tool_source, values_between
from nexus_tui.store.spans import tool_waits_from, tools_rows


def tools_report_statement(f: Filters):
    """The sums per (tool, server) of ``tools_report``."""
    t = tool_source(f, session_filter(f))
    return (select(t.c.tool_name, t.c.mcp_server, func.sum(t.c.calls), func.coalesce(func.sum(t.c.failures), 0),
                   func.coalesce(func.sum(t.c.pending), 0),
                   func.sum(t.c.lat_sum) * 1.0 / func.nullif(func.sum(t.c.lat_n), 0), func.max(t.c.lat_max))
            .group_by(t.c.tool_name, t.c.mcp_server))


def waits_statement(conds: list):
    """(tool, server, wait) of the calls that waited for the user under ``conds``, shortest wait first."""
    return select(TC.c.tool_name, TC.c.mcp_server, TC.c.wait_ms).where(*conds, TC.c.wait_ms > 0).order_by(TC.c.wait_ms)


def tool_latency_conds(conds: list, name, server) -> list:
    """``conds`` and one (tool, server)'s calls."""
    return conds + [TC.c.tool_name == name] + [TC.c.mcp_server.is_(None) if server is None
                                               else TC.c.mcp_server == server]


def tools_report(engine: Engine, f: Filters, percentiles: bool = True) -> list[dict]:
    """Per tool and MCP server: calls, failures, failure rate, latency percentiles (nearest rank) and max."""
    conds = tool_conds(f)
    sf = session_filter(f)
    with engine.connect() as conn:
        rows = conn.execute(tools_report_statement(f)).all()
        hists = (tool_hists(conn, f, sf, ["tool_name", "mcp_server"], [TC.c.tool_name, TC.c.mcp_server])
                 if percentiles else None)
        waits = tool_waits_from(conn.execute(waits_statement(conds)).all())

        def between(name, server):
            return values_between(conn, TC.c.latency_ms, tool_latency_conds(conds, name, server))
        return tools_rows(rows, hists, waits, between)


def tool_failures_by_type(engine: Engine, f: Filters, tool: str | None = None) -> list[dict]:
    extra_r = [lambda r: r.c.failures > 0] + ([lambda r: r.c.tool_name == tool] if tool else [])
    extra_t = [TC.c.success.is_(False)] + ([TC.c.tool_name == tool] if tool else [])
    t = tool_source(f, session_filter(f), extra_raw=extra_t, extra_rollup=extra_r)
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.tool_name, t.c.error_type, func.sum(t.c.failures))
                            .group_by(t.c.tool_name, t.c.error_type)).all()
    return sorted(({"tool": t, "error_type": e or "error", "failures": int(n)} for t, e, n in rows),
                  key=lambda d: (-d["failures"], d["tool"]))


def recent_tool_failures(engine: Engine, f: Filters, tool: str | None = None, limit: int = 50) -> list[dict]:
    conds = tool_conds(f) + [TC.c.success.is_(False)]
    if tool:
        conds.append(TC.c.tool_name == tool)
    with engine.connect() as conn:
        rows = conn.execute(select(TC.c.id, TC.c.tool_name, TC.c.mcp_server, TC.c.started_ms, TC.c.latency_ms,
                                   TC.c.error_type, TC.c.error_message, TC.c.session_id, TC.c.task_id)
                            .where(and_(true(), *conds)).order_by(TC.c.started_ms.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def tools_by_server(engine: Engine, f: Filters) -> list[dict]:
    """Per MCP server: tools, calls, failures, failure rate, p50/p95/p99 (exact nearest rank) and max latency."""
    sf = session_filter(f)
    t = tool_source(f, sf, extra_raw=[TC.c.mcp_server.isnot(None)],
                           extra_rollup=[lambda r: r.c.mcp_server.isnot(None)])
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.mcp_server, func.count(func.distinct(t.c.tool_name)), func.sum(t.c.calls),
                                   func.coalesce(func.sum(t.c.failures), 0), func.max(t.c.lat_max))
                            .group_by(t.c.mcp_server)).all()
        hists = tool_hists(conn, f, sf, ["mcp_server"], [TC.c.mcp_server],
                                  extra_rollup=[lambda r: r.c.mcp_server.isnot(None)],
                                  extra_raw=[TC.c.mcp_server.isnot(None)])
        out = []
        for server, tools, calls, failures, mx in rows:
            calls, failures = int(calls), int(failures)
            d = {"server": server, "tools": int(tools), "calls": calls, "failures": failures,
                 "failure_rate": failures / calls if calls else None, "max_ms": mx}
            ps = sketch.exact_percentiles(hists.get((server,), {}), (50, 95, 99),
                                          values_between(conn, TC.c.latency_ms,
                                                          [*tool_conds(f), TC.c.mcp_server == server]), mx)
            for p in (50, 95, 99):
                d[f"p{p}_ms"] = ps[p]
            out.append(d)
    out.sort(key=lambda d: (-d["calls"], d["server"]))
    return out


def recent_failures(engine: Engine, f: Filters, *, tool: str | None = None, server: str | None = None,
                    limit: int = 100) -> list[dict]:
    """The newest failed calls of a tool (or of every tool of an MCP server) with their error text."""
    conds = tool_conds(f) + [TC.c.success.is_(False)]
    if tool:
        conds.append(TC.c.tool_name == tool)
    if server:
        conds.append(TC.c.mcp_server == server)
    with engine.connect() as conn:
        rows = conn.execute(select(TC.c.id, TC.c.tool_name, TC.c.mcp_server, TC.c.started_ms, TC.c.latency_ms,
                                   TC.c.error_type, TC.c.error_message, TC.c.session_id, TC.c.task_id)
                            .where(and_(true(), *conds)).order_by(TC.c.started_ms.desc(), TC.c.id).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def failures_by_type(engine: Engine, f: Filters, *, server: str) -> list[dict]:
    """Failures of an MCP server's tools by error type (``queries.tool_failures_by_type`` does one tool)."""
    t = tool_source(f, session_filter(f), extra_raw=[TC.c.success.is_(False), TC.c.mcp_server == server],
                           extra_rollup=[lambda r: r.c.failures > 0, lambda r: r.c.mcp_server == server])
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.tool_name, t.c.error_type, func.sum(t.c.failures))
                            .group_by(t.c.tool_name, t.c.error_type)).all()
    return sorted(({"tool": t, "error_type": e or "error", "failures": int(n)} for t, e, n in rows),
                  key=lambda d: (-d["failures"], d["tool"], d["error_type"]))


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
