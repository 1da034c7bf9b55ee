"""Normalized records every source parses into; the store writes them, keyed by natural ids.

Times are carried twice: ``*_ms`` as integer epoch milliseconds (for arithmetic and buckets) and ISO-8601
UTC text ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the seed schema's TEXT columns, sortable as strings).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from operator import attrgetter
from functools import lru_cache
from datetime import UTC, datetime

# Source values stored in tasks.source (documented in docs/schema.md).
SOURCE_TRANSCRIPT = "transcript"  # Claude Code transcript JSONL
SOURCE_MCP = "mcp-tool"  # nexus MCP event log / mcp-wrap
SOURCE_PROXY = "proxy-intercept"  # recorded proxy traffic (LunaRoute, our own)
SOURCE_OTEL = "otel"  # OpenTelemetry logs
SOURCE_MANUAL = "manual"


# Times a source gives are valid only between these (core/parse/guard.py): 1990-01-01 (inclusive) and 2100-01-01
# (exclusive) UTC; a real calendar date is required ('2026-02-30' is not a time).
MIN_TIME_MS = calendar.timegm((1990, 1, 1, 0, 0, 0)) * 1000
MAX_TIME_MS = calendar.timegm((2100, 1, 1, 0, 0, 0)) * 1000
_MIN_YEAR, _MAX_YEAR = 1990, 2100  # the years of MIN_TIME_MS .. MAX_TIME_MS (UTC)


@lru_cache(maxsize=65536)
def _iso_second(sec: int) -> str:
    t = time.gmtime(sec)
    if not 0 < t.tm_year < 10000:
        raise ValueError("year out of range")
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}."


def iso_from_ms(ms: int | None) -> str | None:
    """Epoch milliseconds to the store's ISO text form (UTC, millisecond precision, 'Z')."""
    if ms is None:
        return None
    try:
        sec, milli = divmod(int(ms), 1000)
        return f"{_iso_second(sec)}{milli:03d}Z"
    except (OverflowError, OSError, ValueError, TypeError):
        return None


@lru_cache(maxsize=4096)
def _hour_ms(prefix: str) -> int | None:
    """Epoch ms of 'YYYY-MM-DDTHH' (UTC); None unless a real calendar hour in the valid range."""
    if prefix[4] != "-" or prefix[7] != "-" or prefix[10] != "T" or not prefix.isascii():
        return None
    try:
        y, m, d, h = int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10]), int(prefix[11:13])
    except ValueError:
        return None
    if not _MIN_YEAR <= y < _MAX_YEAR:  # also keeps year 0, which calendar cannot take, out
        return None
    if not (1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1] and 0 <= h < 24) \
            or not prefix[0:4].isdigit() or not prefix[5:7].isdigit() or not prefix[8:10].isdigit() \
            or not prefix[11:13].isdigit():
        return None
    ms = calendar.timegm((y, m, d, h, 0, 0, 0, 0, 0)) * 1000
    return ms if MIN_TIME_MS <= ms < MAX_TIME_MS else None


@lru_cache(maxsize=4096)
def _minute_ms(prefix: str) -> int | None:
    """Epoch ms of 'YYYY-MM-DDTHH:MM' (UTC, ASCII); None unless a real calendar minute in the valid range."""
    if prefix[13] != ":":
        return None
    base = _hour_ms(prefix[:13])
    mm = prefix[14:16]
    if base is None or not mm.isdigit() or int(mm) >= 60:
        return None
    return base + int(mm) * 60_000


_SECONDS: dict[str, int | bool | None] = {}  # 'YYYY-MM-DDTHH:MM:SS' -> _second_ms (bounded: cleared when full)
_SECONDS_KEPT = 4096


def _second_ms(prefix: str) -> int | bool | None:
    """Epoch ms of 'YYYY-MM-DDTHH:MM:SS' (ASCII, ':' at 16) as the fast path reads it: True when the minute is not
    a real calendar minute in range (the general parser decides), None when the seconds are not 00-59."""
    base = _minute_ms(prefix[:16])
    if base is None:
        return True
    ss = prefix[17:19]
    if not ss.isdigit() or int(ss) >= 60:
        return None
    return base + int(ss) * 1000


def ms_from_iso(text: object) -> int | None:
    """Parse an ISO-8601 timestamp ('Z' or offset; naive means UTC) to epoch ms; None if unparseable, not a real
    calendar time, or outside MIN_TIME_MS .. MAX_TIME_MS."""
    # fast path for the form every transcript uses: 2026-02-10T21:58:27.120Z (the second's start cached)
    if type(text) is str and len(text) == 24 and text[23] == "Z" and text[19] == "." and text[16] == ":" \
            and text.isascii():
        key = text[:19]
        base = _SECONDS.get(key, False)
        if base is False:
            base = _second_ms(key)
            if len(_SECONDS) >= _SECONDS_KEPT:
                _SECONDS.clear()
            _SECONDS[key] = base
        if base is not True:  # True: not a real minute, the general parser below answers (as it always did)
            if base is None:
                return None
            milli = text[20:23]
            return base + int(milli) if milli.isdigit() else None
    if not isinstance(text, str) or len(text) < 10 or len(text) > 64:
        return None
    s = text.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        ms = int(dt.timestamp() * 1000 + (0.5 if dt.timestamp() >= 0 else -0.5))
    except (OverflowError, OSError, ValueError):
        return None
    return ms if MIN_TIME_MS <= ms < MAX_TIME_MS else None


@dataclass(slots=True)
class SessionRec:
    """A session as one source saw it; the store merges records of the same id (min start, max end)."""

    id: str
    start_ms: int
    end_ms: int
    cli_tool: str | None = None
    persona: str | None = None
    nexus_mode: str | None = None
    project: str | None = None
    cwd: str | None = None
    git_branch: str | None = None
    cli_version: str | None = None


@dataclass(slots=True)
class TaskRec:
    """One model response (one API request): the unit that is priced, timed and rated."""

    id: str
    session_id: str
    ts_ms: int
    source: str
    model: str
    routing: str = "cloud"
    routing_reason: str | None = None
    tokens_in: int = 0  # uncached input (Anthropic semantics)
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_5m_tokens: int | None = None
    cache_creation_1h_tokens: int | None = None
    thinking_tokens: int | None = None
    trigger_ms: int | None = None  # when the request was triggered (the line the response answers)
    end_ms: int | None = None  # last line of the response
    latency_ms: int | None = None  # given by the source (telemetry, event log); else end - trigger
    cost_usd: float | None = None
    cloud_cost_equivalent: float | None = None
    reported_cost_usd: float | None = None  # the source's own figure (Claude Code's cost_usd), beside our computed one
    request_id: str | None = None
    message_id: str | None = None
    project: str | None = None
    agent_id: str | None = None
    is_sidechain: bool = False
    status: str = "ok"
    error_message: str | None = None
    stop_reason: str | None = None
    cli_tool: str | None = None
    persona: str | None = None
    tier: str | None = None
    component: str | None = None
    prompt_length: int | None = None
    response_length: int | None = None
    speed: str | None = None
    service_tier: str | None = None
    priced_as: str | None = None  # genai-prices model id used, None when unpriced
    quality_rating: int | None = None  # only sources that carry a rating set it
    # what a recording proxy sees (schema version 6); the linking fields come from core/linking.py
    conversation_id: str | None = None
    branch_id: str | None = None
    parent_request_id: str | None = None
    parent_task_request_id: str | None = None
    is_subtask: bool | None = None
    message_hash: str | None = None
    parent_message_hash: str | None = None
    system_hash: str | None = None
    message_count: int | None = None
    http_status: int | None = None
    error_type: str | None = None
    ttfb_ms: int | None = None
    ttft_ms: int | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    streamed: bool | None = None
    client: str | None = None
    retries: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.tokens_in + self.tokens_out + self.cache_read_tokens + self.cache_creation_tokens


@dataclass(slots=True)
class ToolUseRec:
    """The call half of a tool call (tool_use block / tools/call request)."""

    id: str
    session_id: str
    task_id: str | None
    tool_name: str
    started_ms: int
    mcp_server: str | None = None
    source: str = SOURCE_TRANSCRIPT
    agent_id: str | None = None
    input_size: int | None = None
    source_path: str | None = None
    use_offset: int | None = None
    use_length: int | None = None
    target: str | None = None  # what the call acted on (core/targets.py): a file path, a program, a host


@dataclass(slots=True)
class ToolResultRec:
    """The result half of a tool call (tool_result block / JSON-RPC response)."""

    id: str
    session_id: str
    ended_ms: int
    success: bool
    error_type: str | None = None
    error_message: str | None = None
    output_size: int | None = None
    latency_ms: int | None = None  # when the source measures it directly (execution only when wait_ms is set)
    source_path: str | None = None
    result_offset: int | None = None
    result_length: int | None = None
    tool_name: str | None = None  # sources that send only a completed call fill the call half too
    started_ms: int | None = None
    mcp_server: str | None = None
    task_id: str | None = None
    source: str | None = None
    wait_ms: int | None = None  # time waiting for the user (a question, a permission prompt), apart from latency_ms


@dataclass(slots=True)
class RoutingDecisionRec:
    id: str
    task_id: str
    reason: str
    alternatives_considered: str | None = None  # JSON array of {model, reason_rejected}
    classifier_version: str | None = None


@dataclass(slots=True)
class ErrorRec:
    """One entry of the audit trail: an API error turn, a failed tool call, an ingest problem."""

    id: str
    ts_ms: int
    component: str
    kind: str
    message: str
    context: str | None = None  # JSON object
    session_id: str | None = None
    task_id: str | None = None


@dataclass(slots=True)
class RatingRec:
    task_id: str
    rating: int | None


MAX_REASONS = 40  # distinct skip reasons kept; more are counted together under OTHER_REASONS
OTHER_REASONS = "other reasons"


def add_skips(into: dict, reasons: dict) -> None:
    """Add the counts of ``reasons`` to ``into`` (a dict or Counter), keeping at most MAX_REASONS distinct reasons:
    a reason may quote data (an unknown line type, an invalid value), and a file of many different ones must not
    make a skip note, an ingest error row or the app's running totals grow with each (the counts stay exact)."""
    for reason, n in reasons.items():
        if reason not in into and len(into) >= MAX_REASONS:
            reason = OTHER_REASONS
        into[reason] = into.get(reason, 0) + n


@dataclass(slots=True)
class Batch:
    """What parsing a run of lines produced, plus the reasons lines were skipped."""

    sessions: list[SessionRec] = field(default_factory=list)
    tasks: list[TaskRec] = field(default_factory=list)
    tool_uses: list[ToolUseRec] = field(default_factory=list)
    tool_results: list[ToolResultRec] = field(default_factory=list)
    routing: list[RoutingDecisionRec] = field(default_factory=list)
    errors: list[ErrorRec] = field(default_factory=list)
    ratings: list[RatingRec] = field(default_factory=list)
    session_stats: list[dict] = field(default_factory=list)  # rows for the session_stats table (latest wins)
    quota_snapshots: list[dict] = field(default_factory=list)  # rows for quota_snapshots (first of an id wins)
    # conversation-linking keys of recorded requests: {"task_id", "hashes", "response_keys"} (store/linking.py)
    links: list[dict] = field(default_factory=list)
    # session titles (store/titles.py): ("uuid", message uuid, session id, ts_ms) of transcript messages, and
    # ("title", line id, kind summary|custom|ai, title, leaf uuid, session id, line offset)
    titles: list[tuple] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    lines: int = 0

    def skip(self, reason: str, n: int = 1) -> None:
        add_skips(self.skipped, {reason: n})

    def extend(self, other: "Batch") -> None:
        self.sessions.extend(other.sessions)
        self.tasks.extend(other.tasks)
        self.tool_uses.extend(other.tool_uses)
        self.tool_results.extend(other.tool_results)
        self.routing.extend(other.routing)
        self.errors.extend(other.errors)
        self.ratings.extend(other.ratings)
        self.session_stats.extend(other.session_stats)
        self.quota_snapshots.extend(other.quota_snapshots)
        self.links.extend(other.links)
        self.titles.extend(other.titles)
        add_skips(self.skipped, other.skipped)
        self.lines += other.lines

    def is_empty(self) -> bool:
        return not (self.sessions or self.tasks or self.tool_uses or self.tool_results or self.routing
                    or self.errors or self.ratings or self.session_stats or self.quota_snapshots or self.links
                    or self.titles)

    def __reduce__(self):
        # Pickled compactly (a parser worker hands batches to the writer's process): each record as a tuple of its
        # fields, rebuilt with its constructor; about 4x cheaper than pickling the slotted records one by one.
        return _unpack_batch, (tuple(_pack(getattr(self, n)) for n in _RECORD_LISTS), self.session_stats,
                               self.skipped, self.lines, self.quota_snapshots, self.links, self.titles)


_RECORD_LISTS = ("sessions", "tasks", "tool_uses", "tool_results", "routing", "errors", "ratings")
_GETTERS: dict[type, Callable] = {}


def _pack(records: list):
    if not records:
        return None
    cls = type(records[0])
    get = _GETTERS.get(cls)
    if get is None:
        names = [f.name for f in fields(cls)] if is_dataclass(cls) else []
        if len(names) < 2:
            return records
        get = _GETTERS[cls] = attrgetter(*names)
    for r in records:
        if type(r) is not cls:
            return records  # mixed: pickled as they are
    return cls, list(map(get, records))


def _unpack(packed) -> list:
    if packed is None:
        return []
    if isinstance(packed, list):
        return packed
    cls, rows = packed
    return [cls(*r) for r in rows]


def _unpack_batch(lists: tuple, session_stats: list, skipped: dict, lines: int, quota_snapshots=(),
                  links=(), titles=()) -> Batch:
    return Batch(*map(_unpack, lists), session_stats=session_stats, skipped=skipped, lines=lines,
                 quota_snapshots=list(quota_snapshots), links=list(links), titles=list(titles))
