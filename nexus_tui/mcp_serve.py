"""``nexus-insights mcp-serve``: a read-only MCP server (official SDK, stdio) that lets the agent ask about its own
usage, spend, sessions, logs and tool failures. Guide: docs/mcp-serve.md.

Every number comes from the store's read functions the headless reports use (``store/queries.py``), or from
``store/logs.py`` for what no report had (search, per component / agent / hour), so a tool's numbers equal the
report's for the same range. The server never writes: it opens the store as the ``--no-collect`` reports do (one
optional ingest pass at start with ``--collect``). Each tool returns structured content (an output schema from the
pydantic models below) and a short text.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, tzinfo
from typing import Annotated, Literal

from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from nexus_tui.core.report import no_such_session, plural
from nexus_tui.core.events import iso_from_ms
from nexus_tui.core.filters import Filters, parse_bound

MAX_LIMIT = 500
EMPTY_HINT = ("The database holds no sessions yet: keep `nexus-insights collect` (or the dashboard) running, or start "
              "this server with `mcp-serve --collect`.")
RECENT_EXAMPLES = 10


# ---------------------------------------------------------------- output models
class Period(BaseModel):
    since: str | None = Field(description="Start of the range asked for (UTC ISO), none: open")
    until: str | None = Field(description="End of the range (exclusive, UTC ISO), none: open")
    first_task: str | None = None
    last_task: str | None = None


class Tokens(BaseModel):
    tokens_in: int
    tokens_out: int
    cache_creation_tokens: int
    cache_read_tokens: int
    total_tokens: int


class ModelUsage(Tokens):
    model: str
    tasks: int
    cost_usd: float
    cost_share: float | None
    unpriced_tasks: int
    cache_hit_rate: float | None


class ToolUsage(BaseModel):
    tool: str
    server: str | None
    calls: int
    failures: int
    failure_rate: float | None


class Group(Tokens):
    key: str | None = Field(description="The group: a model, day, hour, tool, component or agent")
    tasks: int = 0
    cost_usd: float = 0.0
    unpriced_tasks: int = 0
    cache_hit_rate: float | None = None
    tool_calls: int = 0
    tool_failures: int = 0
    errors: int | None = Field(default=None, description="Error records (API errors, tool failures, ingest problems)")


class UsageSummary(Tokens):
    period: Period
    project: str | None
    sessions: int
    tasks: int
    cost_usd: float
    cloud_cost_equivalent: float
    local_savings_usd: float
    unpriced_tasks: int = Field(description="Tasks of a model with no known price (not in cost_usd)")
    cache_hit_rate: float | None = Field(description="cache_read / (tokens_in + cache_read + cache_creation)")
    tool_calls: int
    tool_failures: int
    tool_failure_rate: float | None
    api_errors: int
    failed_operation_rate: float | None = Field(description="(tool failures + API errors) / (tool calls + tasks + "
                                                "API errors), as the summary report's")
    cost_mode: str = Field(default="auto", description="Which cost is summed: auto, calculate or display")
    top_models: list[ModelUsage]
    top_tools: list[ToolUsage]
    group_by: str | None = None
    groups: list[Group] | None = None


class PeriodBudget(BaseModel):
    period: Literal["day", "month"]
    start: str
    end: str
    spent_usd: float
    budget_usd: float | None = Field(description="From [budget] daily_usd / monthly_usd in insights.toml")
    used: float | None = Field(description="spent / budget")
    exceeded: bool
    burn_rate_usd_per_hour: float
    projected_usd: float = Field(description="The Costs screen's projection (core/scoring.py PROJECTION_METHOD): "
                                 "spent + the median of what the rest of the period cost in recent history; with "
                                 "under 3 past periods, spent + burn rate x hours left")
    projected_low_usd: float | None = Field(description="spent + 10th percentile of the rest of the period in recent "
                                            "history (none: too little history)")
    projected_high_usd: float | None
    runs_out_at: str | None = Field(description="When the budget runs out at the burn rate (none: no budget/spend)")
    runs_out_in_period: bool


class QuotaWindow(BaseModel):
    window: str
    source: str | None = None
    account: str | None = None
    observed_at: str | None = None
    used_fraction: float | None = None
    resets_at: str | None = None
    status: str | None = None
    elapsed_fraction: float | None = Field(default=None, description="Share of the window gone at 'now'")
    pace: float | None = Field(default=None, description="used ÷ elapsed share of the window: above 1, the limit "
                               "comes before the reset; also the share used at the reset at this pace")
    reset_passed: bool = Field(default=False, description="The window has reset since this snapshot: its use is "
                               "unknown until the next one")
    pace_detail: dict | None = Field(default=None, description="the projection at this pace (core/quota.py): projected_percentage, full_at, remaining_ms")


class BudgetStatus(BaseModel):
    now: str
    time_zone: str
    today: PeriodBudget
    month: PeriodBudget
    quota: list[QuotaWindow] | None
    note: str | None = None


class SessionTool(BaseModel):
    tool: str
    server: str | None
    calls: int
    failures: int


class Failure(BaseModel):
    time: str | None
    tool: str
    server: str | None = None
    error_type: str | None
    message: str | None
    session_id: str | None = None
    agent: str | None = None
    task_id: str | None = None


class SubAgent(BaseModel):
    agent_id: str
    tasks: int


class SessionDetail(Tokens):
    found: bool
    session_id: str | None
    title: str | None = Field(default=None, description="The session's title (its custom, AI or summary title line), "
                                                       "else its project and start time (local)")
    title_source: str | None = Field(default=None, description="Where the title comes from: custom, ai, summary; "
                                                              "null: project and start time")
    matched: str | None = Field(default=None, description="How the session was chosen: id, prefix, latest, current")
    candidates: list[str] = Field(default_factory=list, description="The first 5 sessions an ambiguous prefix matches (the message says how many)")
    project: str | None = None
    cwd: str | None = None
    git_branch: str | None = None
    cli_tool: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration_ms: int | None = None
    models: list[str] = Field(default_factory=list)
    tasks: int = 0
    task_errors: int = 0
    cost_usd: float = 0.0
    unpriced_tasks: int = 0
    cache_hit_rate: float | None = None
    avg_latency_ms: float | None = None
    tool_calls: int = 0
    tool_failures: int = 0
    api_errors: int = 0
    tools: list[SessionTool] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    subagents: list[SubAgent] = Field(default_factory=list)


class LogRecord(BaseModel):
    time: str | None
    kind: Literal["error", "tool_call", "task"]
    session_id: str | None
    component: str | None = Field(description="'main', 'sub-agent:<id>', or the source's component (api, tool, ...)")
    message: str
    error_type: str | None = None
    tool: str | None = None
    model: str | None = None
    task_id: str | None = None


class LogSearch(BaseModel):
    query: str
    kind: str | None
    since: str | None
    limit: int
    count: int
    records: list[LogRecord]


class LogSummary(BaseModel):
    by: str
    since: str | None
    groups: list[Group]


class FailureType(BaseModel):
    tool: str
    error_type: str
    failures: int


class ToolFailures(BaseModel):
    since: str | None
    tool: str | None
    calls: int
    failures: int
    failure_rate: float | None
    by_tool: list[ToolUsage]
    by_type: list[FailureType]
    recent: list[Failure]


# ---------------------------------------------------------------- helpers
def _fraction(v) -> float | None:
    """A stored used fraction, when it is a finite number in [0, 10] (a window can be overrun, not by 1000 %)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or not 0 <= v <= 10:
        return None
    return float(v)


def _int(v) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**53 else None


def _text(v) -> str | None:
    return v if isinstance(v, str) else None if v is None else str(v)


_REL = re.compile(r"^\s*(\d{1,6})\s*(m|min|h|d|w)\s*$", re.I)
_REL_MS = {"m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_time(text: str | None, tz: tzinfo, *, end: bool = False, now_ms: int | None = None) -> int | None:
    """A bound: YYYY-MM-DD (a whole local day), an ISO time, 'today', 'yesterday', or a duration back from now
    ('90m', '24h', '7d', '2w'). Raises ValueError with a readable message."""
    if text is None or not str(text).strip():
        return None
    s = str(text).strip().lower()
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    m = _REL.match(s)
    if m:
        return max(0, now - int(m.group(1)) * _REL_MS[m.group(2).lower()])  # at most back to 1970
    if s in ("today", "yesterday", "now"):
        if s == "now":
            return now
        day = datetime.fromtimestamp(now / 1000, tz).date() - timedelta(days=1 if s == "yesterday" else 0)
        return parse_bound(day.isoformat(), tz, end=end)
    return parse_bound(str(text), tz, end=end)  # held to the data's times: '9999-12-31' is no limit


def _filters(since, until, project, tz, cost_mode: str = "auto") -> Filters:
    f = Filters(since_ms=parse_time(since, tz), until_ms=parse_time(until, tz, end=True),
                project=(project or None), range_name="custom" if since or until else "all", cost_mode=cost_mode)
    if f.since_ms is not None and f.until_ms is not None and f.since_ms >= f.until_ms:
        raise ValueError("since must be before until")
    return f


def _local(ms: int | None, tz: tzinfo) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """The short text on one line, without control characters (a stored message may hold escapes)."""
    return " ".join(_CONTROL.sub("", text).split())


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _tokens(d: dict) -> dict:
    keys = ("tokens_in", "tokens_out", "cache_creation_tokens", "cache_read_tokens")
    out = {k: int(d.get(k) or 0) for k in keys}
    out["total_tokens"] = sum(out.values())
    return out


def _failure(r: dict) -> Failure:
    return Failure(time=iso_from_ms(r.get("started_ms")), tool=r.get("tool_name") or "?", server=r.get("mcp_server"),
                   error_type=r.get("error_type"), message=r.get("error_message"), session_id=r.get("session_id"),
                   agent=r.get("agent_id"), task_id=r.get("task_id"))


def _result(model: BaseModel, text: str):
    """The structured content rounded as the headless reports' JSON (money 6 decimals, rates 4, ms 1)."""
    from nexus_tui.core.report import rounded

    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=rounded(model.model_dump(mode="json")))


def _error(text: str):
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


# ---------------------------------------------------------------- the tools' logic (plain functions, testable)
class Reader:
    """The server's read side: an engine, the settings (budgets), the time zone and the working directory."""

    def __init__(self, engine, settings, tz: tzinfo, cwd: str):
        self.engine, self.settings, self.tz, self.cwd = engine, settings, tz, cwd
        self.cost_mode = getattr(settings, "cost_mode", None) or "auto"  # [pricing] cost_mode, as the reports

    def usage_summary(self, since=None, until=None, project=None, group_by=None) -> tuple[UsageSummary, str]:
        from nexus_tui.store.read import tools as RT
        from nexus_tui.store.read import usage as RU

        f = _filters(since, until, project, self.tz, self.cost_mode)
        if self.settings is not None:  # a project group's name matches its members ([projects] groups)
            from nexus_tui.core.filters import with_project_groups

            f = with_project_groups(f, self.settings.project_groups)
        s = RU.summary(self.engine, f)
        groups = None
        if group_by == "model":
            groups = [Group(key=r["model"], **_tokens(r), tasks=r["tasks"], cost_usd=r["cost_usd"],
                            unpriced_tasks=r["unpriced_tasks"], cache_hit_rate=r["cache_hit_rate"])
                      for r in RU.models(self.engine, f)]
        elif group_by == "day":
            errs = RU.errors_by_day(self.engine, f, self.tz)
            groups = [Group(key=r["date"], **_tokens(r), tasks=r["tasks"], cost_usd=r["cost_usd"],
                            unpriced_tasks=r["unpriced_tasks"], cache_hit_rate=r["cache_hit_rate"],
                            tool_calls=r["tool_calls"], tool_failures=r["tool_failures"], errors=errs.get(r["date"], 0))
                      for r in RU.daily(self.engine, f, self.tz)]
        elif group_by == "tool":
            groups = [Group(key=r["tool"] + (f" [{r['server']}]" if r["server"] else ""), **_tokens({}),
                            tool_calls=r["calls"], tool_failures=r["failures"])
                      for r in RT.tools_report(self.engine, f, percentiles=False)]
        elif group_by in ("agent", "component"):
            groups = [Group(**g) for g in RU.by_actor(self.engine, f, group_by)]
        elif group_by == "hour":
            groups = [Group(**g) for g in RU.by_hour(self.engine, f, self.tz)]
        elif group_by:
            raise ValueError(f"unknown group_by {group_by!r} (model, day, hour, tool, agent, component)")
        out = UsageSummary(
            period=Period(**s["period"]), project=f.project, sessions=s["sessions"], tasks=s["tasks"],
            **_tokens(s), cost_usd=s["cost_usd"], cloud_cost_equivalent=s["cloud_cost_equivalent"],
            local_savings_usd=s["local_savings_usd"], unpriced_tasks=s["unpriced_tasks"],
            cache_hit_rate=s["cache_hit_rate"], tool_calls=s["tool_calls"], tool_failures=s["tool_failures"],
            tool_failure_rate=s["tool_failure_rate"], api_errors=s["api_errors"],
            failed_operation_rate=s["failed_operation_rate"], cost_mode=f.cost_mode,
            top_models=[ModelUsage(model=m["model"], tasks=m["tasks"], **_tokens(m), cost_usd=m["cost_usd"],
                                   cost_share=m["cost_share"], unpriced_tasks=m["unpriced_tasks"],
                                   cache_hit_rate=m["cache_hit_rate"]) for m in s["top_models"]],
            top_tools=[ToolUsage(tool=t["tool"], server=t["server"], calls=t["calls"], failures=t["failures"],
                                 failure_rate=t["failure_rate"]) for t in s["top_tools"]],
            group_by=group_by or None, groups=groups)
        p = s["period"]
        unpriced = f" ({s['unpriced_tasks']} unpriced tasks not included)" if s["unpriced_tasks"] else ""
        text = (f"{p['since'] or p['first_task'] or '-'} .. {p['until'] or p['last_task'] or '-'}"
                f"{' project ' + f.project if f.project else ''}: {s['sessions']} sessions, {s['tasks']} tasks, "
                f"{s['total_tokens']:,} tokens (in {s['tokens_in']:,}, out {s['tokens_out']:,}, cache write "
                f"{s['cache_creation_tokens']:,}, cache read {s['cache_read_tokens']:,}), cost {_usd(s['cost_usd'])}"
                f"{unpriced}"
                f", cache hits {_pct(s['cache_hit_rate'])}; {s['tool_calls']} tool calls, {s['tool_failures']} failed")
        if s["top_models"]:
            text += "; top model " + s["top_models"][0]["model"]
        elif not s["sessions"]:
            from nexus_tui.store.read import sessions as RS

            if not RS.session_count(self.engine):
                text += f". {EMPTY_HINT}"
        return out, text

    def budget_status(self, now_ms: int | None = None) -> tuple[BudgetStatus, str]:
        """Today's and this month's spend against the budgets, with the Costs screen's projection (same
        functions: core.scoring over store.read.usage's windows; periods ignore any range)."""
        from nexus_tui.core import scoring as C
        from nexus_tui.store.read import usage as RU

        now = now_ms if now_ms is not None else int(time.time() * 1000)
        f = Filters(cost_mode=self.cost_mode)  # the Costs screen's filters without a range
        first, _last = RU.span(self.engine, f)
        d0, d1 = C.period_bounds(now, self.tz, "day")
        m0, m1 = C.period_bounds(now, self.tz, "month")
        rest_windows = C.rest_of_day_windows(now, d1, self.tz, first_ms=first)
        day_windows = C.past_day_windows(d0, self.tz, first_ms=first)
        fixed = [(d0, now + 1), (m0, now + 1), (now - C.DAY_RATE_WINDOW_MS + 1, now + 1),
                 (now - C.MONTH_RATE_WINDOW_MS + 1, now + 1)]
        sums = RU.spend_in_windows(self.engine, f, fixed + rest_windows + day_windows)
        spent_d, spent_m, w_d, w_m = sums[:4]
        rest = sums[4:4 + len(rest_windows)]
        daily = sums[4 + len(rest_windows):]
        day = C.project("day", d0, d1, now, spent_d, w_d, C.DAY_RATE_WINDOW_MS, rest, self.settings.daily_budget_usd)
        month = C.project("month", m0, m1, now, spent_m, w_m, C.MONTH_RATE_WINDOW_MS,
                          C.month_rest_samples(daily, max(0.0, (m1 - now) / 3_600_000)),
                          self.settings.monthly_budget_usd)

        def pb(p) -> PeriodBudget:
            return PeriodBudget(period=p.period, start=iso_from_ms(p.start_ms), end=iso_from_ms(p.end_ms),
                                spent_usd=p.spent, budget_usd=p.budget, used=p.used, exceeded=p.exceeded,
                                burn_rate_usd_per_hour=p.rate_per_hour, projected_usd=p.projected,
                                projected_low_usd=p.low, projected_high_usd=p.high,
                                runs_out_at=iso_from_ms(p.runs_out_ms), runs_out_in_period=p.runs_out_in_period)

        quota, note = self._quota(now)
        out = BudgetStatus(now=iso_from_ms(now), time_zone=str(self.tz), today=pb(day), month=pb(month), quota=quota,
                           note=note)

        def line(name, p) -> str:
            s = f"{name} {_usd(p.spent)}"
            s += f" of {_usd(p.budget)} ({_pct(p.used)})" if p.budget is not None else " (no budget set)"
            s += f", projected {_usd(p.projected)}"
            if p.exceeded:
                s += ", budget exceeded"
            elif p.runs_out_in_period:
                s += f", runs out at {_local(p.runs_out_ms, self.tz)}"
            return s

        text = line("today", day) + "; " + line("this month", month)
        if quota:
            text += "; quota " + ", ".join(
                f"{q.window} {_pct(q.used_fraction)}" + (" (reset since)" if q.reset_passed else
                                                         f" (pace {q.pace:.2f})" if q.pace is not None else "")
                for q in quota)
        elif note:
            text += f"; {note}"
        return out, text

    def _quota(self, now: int) -> tuple[list[QuotaWindow] | None, str | None]:
        from nexus_tui.store.read import quota as SQ

        rows = SQ.latest_quota(self.engine)
        if not rows:
            return None, "no quota snapshot"
        from nexus_tui.core import quota as Qm

        out = []
        for r in rows:
            window = str(r.get("window"))
            used, resets = _fraction(r.get("used_fraction")), _int(r.get("resets_at_ms"))
            elapsed = pace = detail = None
            passed = resets is not None and resets <= now
            if used is not None:
                p = Qm.pace(window, used * 100, resets, now)  # the one pace model (core/quota.py)
                passed = passed or p.reset_passed
                if not passed and p.elapsed_pct is not None:
                    elapsed, pace = p.elapsed_pct / 100, p.pace
                    detail = {"projected_percentage": p.projected_pct, "full_at": iso_from_ms(p.full_at_ms),
                              "remaining_ms": p.remaining_ms}
            observed = r.get("observed_at")
            out.append(QuotaWindow(window=window, source=_text(r.get("source")), account=_text(r.get("account")),
                                   observed_at=observed if isinstance(observed, str) else
                                   iso_from_ms(_int(r.get("observed_ms"))),
                                   used_fraction=used, resets_at=iso_from_ms(resets), status=_text(r.get("status")),
                                   elapsed_fraction=elapsed, pace=pace, reset_passed=passed, pace_detail=detail))
        return out, None

    def session_detail(self, session_id: str) -> tuple[SessionDetail, str]:
        from nexus_tui.store.read import sessions as RS
        from nexus_tui.store.read import tools as RT

        ref = (session_id or "").strip()
        candidates: list[str] = []
        total = 0
        if ref.lower() == "current":
            sid, how = RS.latest_session(self.engine, self.cwd, stop=(os.path.expanduser("~"),)), "current"
        elif ref.lower() in ("latest", ""):
            sid, how = RS.latest_session(self.engine), "latest"
        else:
            sid, candidates, total = RS.find_session(self.engine, ref)
            how = "id" if sid == ref else "prefix"
        h = RS.session_header(self.engine, sid) if sid else None
        if h is None:
            why = (f"no session recorded in {self.cwd}" if ref.lower() == "current"
                   else "no sessions recorded" if ref.lower() in ("latest", "")
                   else no_such_session(ref, candidates, total))
            if not RS.session_count(self.engine):
                why += f". {EMPTY_HINT}"
            return SessionDetail(found=False, session_id=None, candidates=candidates, **_tokens({})), why
        u = h["usage"]
        title = h["title"] or f"{h['project'] or h['cwd'] or '-'} {_local(h['start_ms'], self.tz) or ''}".strip()
        out = SessionDetail(
            found=True, session_id=sid, title=title, title_source=h["title_source"], matched=how, project=h["project"], cwd=h["cwd"],
            git_branch=h["git_branch"], cli_tool=h["cli_tool"], start_time=iso_from_ms(h["start_ms"]),
            end_time=iso_from_ms(h["end_ms"]),
            duration_ms=(h["end_ms"] - h["start_ms"]) if h["end_ms"] is not None and h["start_ms"] is not None
            else None, models=h["models"], tasks=int(u["tasks"]), task_errors=h["task_errors"], **_tokens(u),
            cost_usd=u["cost_usd"], unpriced_tasks=int(u["unpriced_tasks"]), cache_hit_rate=u["cache_hit_rate"],
            avg_latency_ms=u["avg_latency_ms"], tool_calls=h["tool_calls"], tool_failures=h["tool_errors"],
            api_errors=h["api_errors"], tools=[SessionTool(**t) for t in RT.session_tools(self.engine, sid)],
            failures=[_failure({**r, "session_id": sid}) for r in RT.session_failures(self.engine, sid)],
            subagents=[SubAgent(agent_id=a, tasks=n) for a, n in h["subagents"].items()])
        text = (f"session {sid} ({title}, {how}): {out.tasks} tasks, {out.total_tokens:,} tokens, cost "
                f"{_usd(out.cost_usd)}, {out.tool_calls} tool calls ({out.tool_failures} failed), "
                f"{len(out.subagents)} sub-agents, models {', '.join(out.models) or '-'}")
        return out, text

    def log_search(self, query: str, kind=None, since=None, limit=50) -> tuple[LogSearch, str]:
        from nexus_tui.store.read import search as RF

        if kind is not None and kind not in RF.SEARCH_KINDS:
            raise ValueError(f"unknown kind {kind!r} (errors, tool_calls, tasks)")
        since_ms = parse_time(since, self.tz)
        limit = max(1, min(MAX_LIMIT, int(limit)))
        rows = RF.search(self.engine, query or "", kind, since_ms, limit)
        recs = [LogRecord(time=iso_from_ms(r["time_ms"]), kind=r["kind"], session_id=r["session_id"],
                          component=r["component"], message=r["message"], error_type=r["error_type"],
                          tool=r["tool"], model=r["model"], task_id=r["task_id"]) for r in rows]
        out = LogSearch(query=query or "", kind=kind, since=iso_from_ms(since_ms), limit=limit, count=len(recs),
                        records=recs)
        text = f"{plural(len(recs), 'record')} matching {query!r}" + (f" in {kind}" if kind else "")
        if recs:
            text += "; newest: " + " | ".join(f"{r.time} {r.component}: {r.message[:120]}" for r in recs[:3])
        return out, text

    def log_summary(self, since=None, by="component") -> tuple[LogSummary, str]:
        by = by or "component"
        if by not in ("component", "agent", "tool", "day", "hour"):
            raise ValueError(f"unknown by {by!r} (component, agent, tool, day, hour)")
        s, _ = self.usage_summary(since=since, group_by=by)
        groups = s.groups or []
        out = LogSummary(by=by, since=s.period.since, groups=groups)
        text = f"{plural(len(groups), 'group')} by {by}" + ("; " + "; ".join(
            f"{g.key}: {g.tasks} tasks, {_usd(g.cost_usd)}, {g.tool_calls} calls, {g.tool_failures} failed"
            for g in groups[:5]) if groups else "")
        return out, text

    def tool_failures(self, since=None, tool=None) -> tuple[ToolFailures, str]:
        from nexus_tui.store.read import tools as RT

        f = _filters(since, None, None, self.tz, self.cost_mode)
        tool = tool or None
        rows = [r for r in RT.tools_report(self.engine, f, percentiles=False) if tool is None or r["tool"] == tool]
        calls, fails = sum(r["calls"] for r in rows), sum(r["failures"] for r in rows)
        by_type = sorted(RT.tool_failures_by_type(self.engine, f, tool),  # ties in a fixed order on every backend
                         key=lambda d: (-d["failures"], d["tool"], d["error_type"]))
        recent = RT.recent_tool_failures(self.engine, f, tool, limit=RECENT_EXAMPLES)
        out = ToolFailures(
            since=iso_from_ms(f.since_ms), tool=tool, calls=calls, failures=fails,
            failure_rate=fails / calls if calls else None,
            by_tool=sorted((ToolUsage(tool=r["tool"], server=r["server"], calls=r["calls"], failures=r["failures"],
                                      failure_rate=r["failure_rate"]) for r in rows if r["failures"]),
                           key=lambda t: (-t.failures, t.tool, t.server or "")),
            by_type=[FailureType(**d) for d in by_type], recent=[_failure(r) for r in recent])
        text = f"{fails} failed of {calls} tool calls" + (f" of {tool}" if tool else "")
        if by_type:
            text += "; " + ", ".join(f"{d['tool']} {d['error_type']}: {d['failures']}" for d in by_type[:5])
        return out, text


# ---------------------------------------------------------------- the server
INSTRUCTIONS = ("Read-only view of this machine's AI-coding-assistant usage recorded by nexus-insights: spend and "
                "budgets, sessions (use session_detail('current') for the session running in this folder), token "
                "use, tool failures and a searchable log. Times: YYYY-MM-DD, ISO times, 'today', or '24h', '7d'.")


def build_server(reader: Reader):
    from mcp.server.mcpserver import MCPServer

    from nexus_tui import __version__

    server = MCPServer("nexus-insights", version=__version__, instructions=INSTRUCTIONS)
    ro = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

    def call(fn, *args, **kw):
        from sqlalchemy.exc import SQLAlchemyError

        from nexus_tui.store.engine import describe_db_error

        try:
            model, text = fn(*args, **kw)
        except ValueError as e:
            return _error(str(e))
        except SQLAlchemyError as e:  # a locked, damaged or vanished database: said, and the server keeps serving
            return _error(describe_db_error(e, reader.settings.db_url))
        return _result(model, one_line(text))

    @server.tool(annotations=ro)
    def usage_summary(since: str | None = None, until: str | None = None, project: str | None = None,
                      group_by: Literal["model", "day", "hour", "tool", "agent", "component"] | None = None
                      ) -> Annotated[CallToolResult, UsageSummary]:
        """Tasks, tokens by type, cost, cache hit rate, top models and tools for a time range (the numbers of
        `nexus-insights --headless summary`), optionally grouped. since/until: YYYY-MM-DD (until inclusive), an ISO
        time, 'today', or a duration back from now such as '24h' or '7d'. project: a name or part of its path."""
        return call(reader.usage_summary, since, until, project, group_by)

    @server.tool(annotations=ro)
    def budget_status() -> Annotated[CallToolResult, BudgetStatus]:
        """Today's and this month's spend against the budgets, the burn rate, the projected total with a range,
        when the budget runs out, and the quota windows with their pace when a snapshot is known."""
        return call(reader.budget_status)

    @server.tool(annotations=ro)
    def session_detail(session_id: str = "current") -> Annotated[CallToolResult, SessionDetail]:
        """One session's tasks, tokens, cost, tool calls, failures, sub-agents and title. session_id: a session id
        (or a unique prefix), 'current' (the latest session of the folder this server runs in) or 'latest'."""
        return call(reader.session_detail, session_id)

    @server.tool(annotations=ro)
    def log_search(query: str = "", kind: Literal["errors", "tool_calls", "tasks"] | None = None,
                   since: str | None = None, limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 50
                   ) -> Annotated[CallToolResult, LogSearch]:
        """Search the recorded errors, tool calls and tasks (case-insensitive text in the message, tool, error type,
        model or component), newest first, each with its time, session, component and message."""
        return call(reader.log_search, query, kind, since, limit)

    @server.tool(annotations=ro)
    def log_summary(since: str | None = None,
                    by: Literal["component", "agent", "tool", "day", "hour"] = "component"
                    ) -> Annotated[CallToolResult, LogSummary]:
        """Counts, tokens, cost, tool calls, failures and error records per group: component (main agent,
        sub-agents, a source's components), agent (each sub-agent), tool, day or hour (local time)."""
        return call(reader.log_summary, since, by)

    @server.tool(annotations=ro)
    def tool_failures(since: str | None = None, tool: str | None = None) -> Annotated[CallToolResult, ToolFailures]:
        """Failed tool calls by tool and error type, with the most recent examples (their stored, redacted
        error messages)."""
        return call(reader.tool_failures, since, tool)

    return server


def run(settings, *, tz_name: str | None = None, collect: bool = False, cwd: str | None = None) -> int:
    """Serve over stdio until the client closes; 2 when the database cannot be opened. Nothing is written to the
    database unless ``collect`` (one ingest pass at start)."""
    import sys

    from nexus_tui.core import report as R
    from nexus_tui.core.filters import local_zone
    from nexus_tui.store import StoreError, open_store

    try:
        tz = local_zone(tz_name)
    except Exception:
        print(f"nexus-insights: unknown time zone {R.one_line(repr(tz_name))}", file=sys.stderr)
        return 2
    try:
        store = open_store(settings.db_url, read_only_ok=not collect)
    except StoreError as e:
        print(f"nexus-insights: {R.one_line(e)}", file=sys.stderr)
        return 2
    try:
        if collect:
            import signal

            from nexus_tui.collect import parsing
            from nexus_tui.collect.collector import Collector
            from nexus_tui.collect.registry import build_sources

            def die(signum, _frame):  # the client gave up during the pass: no parser worker outlives us
                parsing.kill_workers()
                os._exit(128 + signum)

            before = {sig: signal.signal(sig, die) for sig in (signal.SIGTERM, signal.SIGHUP)}
            col = Collector(store, build_sources(settings))
            try:
                rep = col.run_once()
            finally:
                col.close()
                for sig, h in before.items():
                    signal.signal(sig, h)
            for p in rep.problems:  # stdout is the protocol: messages go to stderr
                print(f"nexus-insights: ingest: {R.one_line(p)}", file=sys.stderr)
        reader = Reader(store.engine, settings, tz, os.path.abspath(cwd or os.getcwd()))
        build_server(reader).run("stdio")
        return 0
    finally:
        store.close()
