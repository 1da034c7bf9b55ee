"""The time range and filters shared by every report and screen (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

RANGES = ("today", "7d", "30d", "all", "custom")


@dataclass(frozen=True, slots=True)
class Filters:
    """``since_ms`` inclusive, ``until_ms`` exclusive (epoch ms); None = open. Other fields: exact match,
    except ``project``, which matches a session's project name exactly or a part of its cwd."""

    since_ms: int | None = None
    until_ms: int | None = None
    project: str | None = None
    model: str | None = None
    source: str | None = None
    cli_tool: str | None = None
    persona: str | None = None
    range_name: str = "all"
    machine: str | None = None  # a machine's id or name (docs/teams.md): its sessions only
    cost_mode: str = "auto"  # auto | calculate | display: which cost the reports sum (store/rollup.py cost_expr)
    # when ``project`` names a project group ([projects] groups in insights.toml): its members, each matched as a
    # project is (name, or part of the cwd); set by ``with_project_groups``
    project_members: tuple[str, ...] = ()

    def with_(self, **kw) -> "Filters":
        return replace(self, **kw)


def with_project_groups(f: Filters, groups: dict[str, tuple[str, ...]] | None) -> Filters:
    """``f`` with ``project_members`` set from the project groups when its project is a group's name (a group
    name wins over a project of the same name), else cleared."""
    members = tuple((groups or {}).get(f.project, ())) if f.project else ()
    return f if members == f.project_members else replace(f, project_members=members)


def local_zone(name: str | None = None) -> tzinfo:
    """The named IANA zone, or the machine's local zone."""
    if name:
        return ZoneInfo(name)
    return datetime.now().astimezone().tzinfo  # type: ignore[return-value]


def _day_start_ms(d: date, tz: tzinfo) -> int:
    return int(datetime.combine(d, time.min, tzinfo=tz).timestamp() * 1000)


def parse_bound(text: str, tz: tzinfo, *, end: bool) -> int:
    """'YYYY-MM-DD' (a whole local day: start, or the next day's start for an end bound) or an ISO time, held to
    the times data can have (core.events.MIN_TIME_MS .. MAX_TIME_MS): '--until 9999-12-31' is 'no end', not a day
    that cannot be converted in every zone (it crashed the reports, the dashboard and its range dialog)."""
    from nexus_tui.core.events import MAX_TIME_MS, MIN_TIME_MS

    s = text.strip()
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            ms = _day_start_ms(d + timedelta(days=1) if end and d < date.max else d, tz)
        elif len(s) == 8 and s.isdigit():  # ccusage style YYYYMMDD
            d = date(int(s[:4]), int(s[4:6]), int(s[6:]))
            ms = _day_start_ms(d + timedelta(days=1) if end and d < date.max else d, tz)
        else:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
            ms = int((dt if dt.tzinfo is not None else dt.replace(tzinfo=tz)).timestamp() * 1000)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or an ISO-8601 time)") from e
    return min(max(ms, MIN_TIME_MS), MAX_TIME_MS)


PRESET_DAYS = {"today": 1, "7d": 7, "30d": 30}


def preset(range_name: str, now_ms: int, tz: tzinfo) -> tuple[int | None, int | None]:
    """(since_ms, until_ms) for 'today', '7d', '30d' (calendar days ending with today: until the start of
    tomorrow, so a task dated in the future, a machine's clock ahead or a bad timestamp, is not 'today'), 'all'."""
    days = PRESET_DAYS.get(range_name)
    if days is None:
        return None, None
    today = datetime.fromtimestamp(now_ms / 1000, tz).date()
    return _day_start_ms(today - timedelta(days=days - 1), tz), _day_start_ms(today + timedelta(days=1), tz)


def drawn_span(f: Filters, first_ms: int, last_ms: int, now_ms: int) -> tuple[int, int]:
    """[start, end) a chart of the range ``f`` draws, given its first and last task: a preset or a range with
    only a start up to now (or its last task, if the clock is behind it), a preset no further than its end; a range
    with an end up to that end; all time from the first to the last task."""
    start = f.since_ms if f.since_ms is not None else first_ms
    if f.since_ms is None and f.until_ms is None:
        end = last_ms + 1
    elif f.until_ms is None or f.range_name in PRESET_DAYS:
        end = max(now_ms, last_ms + 1) if f.until_ms is None else min(max(now_ms, last_ms + 1), f.until_ms)
    else:
        end = f.until_ms
    return start, max(end, start + 1)
