"""The database schema (version 6: 5 adds the source-reported cost and tool waits, 6 the proxy's task columns and
quota_snapshots). The seed's three tables keep every column, name and meaning.

Times are ISO-8601 UTC text (seed) plus integer epoch-ms twins (``*_ms``) for portable arithmetic and
range scans. ``tokens_in`` is uncached input (Anthropic semantics); total input = tokens_in +
cache_read_tokens + cache_creation_tokens. See docs/schema.md.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Version 6 (the recording proxy, issue 11): the task columns below "added in version 6" and quota_snapshots.
# Version 8 (many machines, issue 13 section 3): the machine columns and the machines table.
# Version 7 (quota, issue 12): the status line's session columns of session_stats and quota_snapshots.machine.
from nexus_tui.store.version import (CURSOR_INDEX_SCHEMA_VERSION, MACHINE_SCHEMA_VERSION, PARTIAL_INDEX_SCHEMA_VERSION,  # noqa: E402,F401
                                     PROXY_SCHEMA_VERSION, QUOTA_SCHEMA_VERSION, REDACT_ALL_SCHEMA_VERSION, REDACT_KEYS_SCHEMA_VERSION,
                                     REDACT_GLUED_SCHEMA_VERSION, REDACT_LABELS_SCHEMA_VERSION, SCHEMA_VERSION,
                                     SESSION_MODEL_SCHEMA_VERSION, TARGET_SCHEMA_VERSION,
                                     TITLES_SCHEMA_VERSION)  # one place, read without SQLAlchemy


from nexus_tui.store.spans import MONEY_DECIMALS, money  # noqa: E402,F401 (pure: the light read rounds alike)


class Money(TypeDecorator):
    """US dollars: a FLOAT column (the DDL is unchanged), read back rounded to the nano-dollar.

    A sum of floats depends on the order and the algorithm of the addition: SQLite's SUM compensates (Kahan-Babuska-
    Neumaier, SQLite 3.43+), PostgreSQL's adds plainly, and either may visit rows in another order, so the same costs
    summed on the two backends differ in the last bits (0.45065955 against 0.45065954999999996). Every expression
    typed by a money column (its SUM, COALESCE, CASE, a subquery's or a union's column) is read through here, so
    both backends report the same figures. A nano-dollar is far below any price step (genai-prices' per-token
    prices are exact at 1e-12 per token, our figures are shown to the cent)."""

    impl = Float
    cache_ok = True

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return round(float(value), MONEY_DECIMALS)
        except (TypeError, ValueError, OverflowError):  # SQLite keeps any value: a text another program stored
            return None


def _money():
    return Field(default=None, sa_type=Money)


def _big(**kw):
    return Field(default=None, sa_column=Column(BigInteger, **kw))


class Session(SQLModel, table=True):
    __tablename__ = "sessions"

    id: str = Field(primary_key=True)
    start_time: str = Field(nullable=False)
    end_time: str | None = None
    cli_tool: str | None = None  # 'claude-code', 'gemini-cli', 'kiro-cli', 'proxy', 'mcp'
    persona: str | None = None
    nexus_mode: str | None = None  # 'hybrid', 'cloud', 'personas-only'
    # --- added in version 2 ---
    project: str | None = Field(default=None, index=True)
    cwd: str | None = None
    git_branch: str | None = None
    cli_version: str | None = None
    start_ms: int | None = _big(index=True)
    end_ms: int | None = _big()
    # --- added in version 8 (MACHINE_SCHEMA_VERSION): the machine (collector) that wrote the row (docs/teams.md) ---
    machine: str | None = Field(default=None, index=True)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_session_ts", "session_id", "ts_ms"),
        Index("ix_tasks_model_ts", "model", "ts_ms"),
        Index("ix_tasks_latency_ts_model", "latency_ms", "ts_ms", "model"),  # one histogram bin's values (covering)
    )

    id: str = Field(primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", nullable=False)
    timestamp: str = Field(nullable=False)
    source: str = Field(nullable=False)  # 'transcript', 'mcp-tool', 'proxy-intercept', 'otel', 'manual'
    model: str = Field(nullable=False)
    routing: str = Field(nullable=False)  # 'cloud', 'local'
    routing_reason: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: int | None = None
    cost_usd: float | None = _money()
    cloud_cost_equivalent: float | None = _money()
    quality_rating: int | None = None  # NULL, 1 helpful, 0 not helpful
    # --- added in version 2 ---
    ts_ms: int | None = _big(index=True)
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cache_creation_5m_tokens: int | None = None
    cache_creation_1h_tokens: int | None = None
    thinking_tokens: int | None = None
    total_tokens: int | None = None
    trigger_ms: int | None = _big()
    end_ms: int | None = _big()
    request_id: str | None = None  # equals the id for Claude Code tasks (the key), so no index of its own
    message_id: str | None = None
    project: str | None = None
    agent_id: str | None = None
    is_sidechain: bool | None = None
    status: str | None = None  # 'ok', 'error'
    error_message: str | None = None
    stop_reason: str | None = None
    cli_tool: str | None = None
    persona: str | None = None
    tier: str | None = None  # an orchestrator's tier label ('Tier 1'..), when a source gives one
    component: str | None = None
    prompt_length: int | None = None
    response_length: int | None = None
    speed: str | None = None
    service_tier: str | None = None
    priced_as: str | None = None  # genai-prices model id; NULL = unpriced
    rated_ms: int | None = _big()
    # --- added in version 5 ---
    reported_cost_usd: float | None = _money()  # the source's own cost (Claude Code's cost_usd); cost_usd is computed
    # --- added in version 6 (the recording proxy; linking columns filled by core/linking.py; their indexes hold the
    # proxy's rows alone: store/linking.py PARTIAL_INDEXES) ---
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
    error_type: str | None = None  # the API's error type: overloaded_error, rate_limit_error, ...
    ttfb_ms: int | None = None  # request sent -> first response byte
    ttft_ms: int | None = None  # request sent -> first content token (streamed)
    request_bytes: int | None = _big()
    response_bytes: int | None = _big()
    streamed: bool | None = None
    client: str | None = None  # the client's user agent
    retries: int | None = None  # the client's retry count (x-stainless-retry-count)
    # --- added in version 8 (MACHINE_SCHEMA_VERSION): the machine (collector) that wrote the row (docs/teams.md) ---
    machine: str | None = None
    rated_by: str | None = None  # the machine id of the last rating (who rated)


class RoutingDecision(SQLModel, table=True):
    __tablename__ = "routing_decisions"

    id: str = Field(primary_key=True)
    task_id: str = Field(foreign_key="tasks.id", nullable=False, index=True)
    reason: str = Field(nullable=False)
    alternatives_considered: str | None = None  # JSON array of {model, reason_rejected}
    classifier_version: str | None = None  # 'rules-v1', 'ml-v1'


class ToolCall(SQLModel, table=True):
    __tablename__ = "tool_calls"
    __table_args__ = (
        Index("ix_tool_calls_tool_latency", "tool_name", "latency_ms"),
        Index("ix_tool_calls_session", "session_id", "started_ms"),
    )

    id: str = Field(primary_key=True)  # tool_use_id where the source has one
    session_id: str = Field(nullable=False)
    task_id: str | None = Field(default=None, index=True)
    tool_name: str | None = None  # NULL until the call half is seen
    mcp_server: str | None = None
    tool_use_id: str | None = None
    source: str | None = None
    agent_id: str | None = None
    started: str | None = None
    started_ms: int | None = _big(index=True)
    ended_ms: int | None = _big()
    latency_ms: int | None = None
    success: bool | None = None  # NULL while no result has been seen
    error_type: str | None = None
    error_message: str | None = None
    input_size: int | None = None
    output_size: int | None = None
    source_path: str | None = None  # where the tool_use / tool_result lines sit, for on-demand detail
    use_offset: int | None = _big()
    use_length: int | None = None
    result_offset: int | None = _big()
    result_length: int | None = None
    # --- added in version 5 ---
    wait_ms: int | None = None  # time the call waited for the user (a question, a permission prompt); latency_ms
    # --- added in version 8 (MACHINE_SCHEMA_VERSION): the machine (collector) that wrote the row (docs/teams.md) ---
    machine: str | None = None
    # is then the execution alone (docs/metrics.md)
    # --- added in version 9 (TARGET_SCHEMA_VERSION): what the call acted on (core/targets.py), for the audit trail ---
    target: str | None = None


class ErrorEvent(SQLModel, table=True):
    __tablename__ = "errors"

    id: str = Field(primary_key=True)
    time: str = Field(nullable=False)
    ts_ms: int | None = _big(index=True)
    component: str = Field(nullable=False)  # 'api', 'tool', 'ingest', 'collector', 'receiver'
    kind: str = Field(nullable=False)
    message: str = Field(sa_column=Column(Text, nullable=False))
    context: str | None = None  # JSON object
    session_id: str | None = Field(default=None, index=True)
    task_id: str | None = None
    # --- added in version 8 (MACHINE_SCHEMA_VERSION): the machine (collector) that wrote the row (docs/teams.md) ---
    machine: str | None = None


class IngestCursor(SQLModel, table=True):
    __tablename__ = "ingest_cursors"

    path: str = Field(primary_key=True)
    source: str = Field(nullable=False)
    dev: int | None = _big()
    inode: int | None = _big()
    size: int | None = _big()
    mtime_ns: int | None = _big()
    offset: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    head_hash: str | None = None  # hash of the first bytes: a replaced file is re-read from the start
    state: str | None = None  # small JSON parser state carried between passes
    lines: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    skipped: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    last_seen: str | None = None
    # --- added in version 8 (MACHINE_SCHEMA_VERSION): the machine (collector) that wrote the row (docs/teams.md) ---
    machine: str | None = None  # NULL: the home machine (cursors written before version 8)


class SessionStat(SQLModel, table=True):
    """Per-session statistics a source computes itself (LunaRoute's session summary); added in version 3."""

    __tablename__ = "session_stats"

    session_id: str = Field(primary_key=True)
    source: str = Field(primary_key=True)
    requests: int | None = None
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    max_latency_ms: float | None = None
    proxy_overhead_ms: float | None = None
    proxy_overhead_pct: float | None = None
    thinking_tokens: int | None = None
    thinking_share: float | None = None
    tokens_per_second: float | None = None
    tool_calls: int | None = None
    tool_errors: int | None = None
    updated_ms: int | None = _big()
    # added in version 7: what Claude Code's status line reports of the session (source 'statusline')
    context_used_pct: float | None = None  # 0..100
    context_window_size: int | None = _big()
    reported_cost_usd: float | None = None  # Claude Code's own total for the session
    lines_added: int | None = _big()
    lines_removed: int | None = _big()
    # added in version 12 (SESSION_MODEL_SCHEMA_VERSION): the model the status line reported (its id, e.g.
    # 'claude-opus-4-6'; the display name when it gave no id), at most MAX_MODEL_CHARS characters
    # (core/parse/nexus_events.py): a session known only from the status line still has a model
    model: str | None = Field(default=None, sa_type=Text)


class QuotaSnapshot(SQLModel, table=True):
    """One rate-limit window as a response's ``anthropic-ratelimit-*`` headers showed it (version 6)."""

    __tablename__ = "quota_snapshots"
    __table_args__ = (Index("ix_quota_window_ms", "window", "observed_ms"),)

    id: str = Field(primary_key=True)  # <request id>:<window>
    observed_ms: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    observed_at: str = Field(nullable=False)
    source: str = Field(nullable=False)  # 'proxy' | 'statusline'
    account: str | None = None  # anthropic-organization-id when sent
    window: str = Field(nullable=False)  # 'unified', '5h', '7d', '7d_opus', 'requests', 'tokens', ...
    used_fraction: float | None = None  # 0..1
    resets_at_ms: int | None = _big()
    status: str | None = None  # allowed | allowed_warning | rejected
    raw_json: str | None = Field(default=None, sa_column=Column(Text))  # that window's headers as sent
    machine: str | None = None  # the host that saw it (status line), added in version 7


def _bigt(nullable: bool = True):
    """A BIGINT field each table gets its own column for (for fields declared once in a shared base)."""
    return Field(default=None, sa_type=BigInteger, nullable=nullable)


class _TaskTotals(SQLModel):
    """The sums every task rollup level keeps."""

    tasks: int = 0
    tokens_in: int | None = _bigt()
    tokens_out: int | None = _bigt()
    cache_creation_tokens: int | None = _bigt()
    cache_read_tokens: int | None = _bigt()
    cost_usd: float | None = _money()  # NULL when every task of the row is unpriced
    cloud_cost_equivalent: float | None = _money()
    unpriced: int = 0
    lat_n: int = 0
    lat_sum: int | None = _bigt()
    lat_max: int | None = _bigt()
    rated_helpful: int = 0
    rated_not_helpful: int = 0
    first_ms: int | None = _bigt()
    last_ms: int | None = _bigt()
    # --- added in version 5: the cost of the other cost modes (store/rollup.py cost_expr) ---
    cost_auto_usd: float | None = _money()
    unpriced_auto: int = 0
    cost_display_usd: float | None = _money()
    unpriced_display: int = 0
    cloud_auto_usd: float | None = _money()
    cloud_display_usd: float | None = _money()


class _TaskSums(_TaskTotals):
    """The dimensions, sums and latency histogram of task_rollups, task_hours and task_days."""

    model: str | None = None
    source: str | None = None
    routing: str | None = None
    tier: str | None = None
    persona: str | None = None
    cli_tool: str | None = None
    agent: str | None = None  # 'main' (agent_id empty) or 'sub-agent'
    lat_hist: str | None = Field(default=None, sa_type=Text)  # core/sketch.py


class _ToolTotals(SQLModel):
    """The sums every tool rollup level keeps; ``ok_*``: successful calls by the asking task's rating (the
    efficiency screen's useful changes)."""

    tool_name: str = Field(nullable=False)
    calls: int = 0
    failures: int = 0
    pending: int = 0
    ok_all: int = 0
    ok_helpful: int = 0
    ok_not_helpful: int = 0
    lat_n: int = 0
    lat_sum: int | None = _bigt()
    lat_max: int | None = _bigt()


class _ToolSums(_ToolTotals):
    """The dimensions, sums and latency histogram of tool_rollups, tool_hours and tool_days."""

    mcp_server: str | None = None
    error_type: str | None = None
    lat_hist: str | None = Field(default=None, sa_type=Text)


class TaskRollup(_TaskSums, table=True):
    """Tasks summed per (session, 15-minute bucket, model, source, routing, tier, persona, CLI tool, agent); added
    in version 4. Kept by the writer with the tasks (store/rollup.py, docs/rollups.md), so the screens and reports
    aggregate these rows instead of every task."""

    __tablename__ = "task_rollups"
    __table_args__ = (
        Index("ix_task_rollups_session", "session_id", "bucket_ms"),
        Index("ix_task_rollups_bucket", "bucket_ms"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(nullable=False)
    bucket_ms: int = _bigt(nullable=False)


class TaskHour(_TaskSums, table=True):
    """task_rollups summed per hour over every session (version 4): what a range without a session-level filter
    (project, persona, CLI tool) reads for its whole hours."""

    __tablename__ = "task_hours"
    __table_args__ = (Index("ix_task_hours_bucket", "bucket_ms"),)

    id: int | None = Field(default=None, primary_key=True)
    bucket_ms: int = _bigt(nullable=False)


class ToolRollup(_ToolSums, table=True):
    """Tool calls summed per (session, 15-minute bucket of the call's start, tool, MCP server, error type); added in
    version 4."""

    __tablename__ = "tool_rollups"
    __table_args__ = (
        Index("ix_tool_rollups_session", "session_id", "bucket_ms"),
        Index("ix_tool_rollups_bucket", "bucket_ms"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(nullable=False)
    bucket_ms: int | None = _bigt()  # NULL: calls without a start time


class ToolHour(_ToolSums, table=True):
    """tool_rollups summed per hour over every session (version 4)."""

    __tablename__ = "tool_hours"
    __table_args__ = (Index("ix_tool_hours_bucket", "bucket_ms"),)

    id: int | None = Field(default=None, primary_key=True)
    bucket_ms: int | None = _bigt()


class TaskDay(_TaskSums, table=True):
    """task_hours summed per UTC day (version 4): the whole days of a long range without a session filter."""

    __tablename__ = "task_days"
    __table_args__ = (Index("ix_task_days_bucket", "bucket_ms"),)

    id: int | None = Field(default=None, primary_key=True)
    bucket_ms: int = _bigt(nullable=False)


class ToolDay(_ToolSums, table=True):
    """tool_hours summed per UTC day (version 4)."""

    __tablename__ = "tool_days"
    __table_args__ = (Index("ix_tool_days_bucket", "bucket_ms"),)

    id: int | None = Field(default=None, primary_key=True)
    bucket_ms: int | None = _bigt()


class TaskSessionDay(_TaskTotals, table=True):
    """task_rollups summed per (session, UTC day), without dimensions (version 4): per-session sums over long ranges
    (sessions sorted by cost, efficiency per session) without a model or source filter."""

    __tablename__ = "task_session_days"
    __table_args__ = (Index("ix_task_session_days", "session_id", "bucket_ms"),
                      Index("ix_task_session_days_bucket", "bucket_ms"))

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(nullable=False)
    bucket_ms: int = _bigt(nullable=False)


class ToolSessionDay(_ToolTotals, table=True):
    """tool_rollups summed per (session, UTC day, tool) (version 4)."""

    __tablename__ = "tool_session_days"
    __table_args__ = (Index("ix_tool_session_days", "session_id", "bucket_ms"),
                      Index("ix_tool_session_days_bucket", "bucket_ms"))

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(nullable=False)
    bucket_ms: int | None = _bigt()


class RollupDirty(SQLModel, table=True):
    """(session, bucket) pairs written but not yet summed into the rollups: a collector pass writes its rows in
    groups and sums every touched bucket once at its end (version 4). Read and emptied by Writer.apply_rollups."""

    __tablename__ = "rollup_dirty"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(nullable=False)  # 'task' or 'tool'
    session_id: str = Field(nullable=False)
    bucket_ms: int | None = _big()


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "schema_version"

    version: int = Field(primary_key=True)
    applied_at: str = Field(nullable=False)
    note: str | None = None


# The seed's version-1 DDL (what a v0.2.0 nexus database holds); migrations start from it.
SCHEMA_V1_DDL = [
    """CREATE TABLE sessions (
    id TEXT PRIMARY KEY, start_time TEXT NOT NULL, end_time TEXT, cli_tool TEXT, persona TEXT, nexus_mode TEXT)""",
    """CREATE TABLE tasks (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id), timestamp TEXT NOT NULL,
    source TEXT NOT NULL, model TEXT NOT NULL, routing TEXT NOT NULL, routing_reason TEXT, tokens_in INTEGER,
    tokens_out INTEGER, latency_ms INTEGER, cost_usd REAL, cloud_cost_equivalent REAL, quality_rating INTEGER)""",
    """CREATE TABLE routing_decisions (
    id TEXT PRIMARY KEY, task_id TEXT NOT NULL REFERENCES tasks(id), reason TEXT NOT NULL,
    alternatives_considered TEXT, classifier_version TEXT)""",
]

class Machine(SQLModel, table=True):
    """The machines (collectors) writing to this database (version 8). The first one to register is the home machine:
    its rows keep the sources' natural ids; another machine's ids are prefixed with ``<its id>/`` (docs/teams.md)."""

    __tablename__ = "machines"

    id: str = Field(primary_key=True)
    name: str | None = None  # a readable name (the host name, or [machine] name)
    home: bool = Field(default=False, nullable=False)
    first_seen_ms: int | None = _big()
    last_seen_ms: int | None = _big()


class MessageUuid(SQLModel, table=True):
    """Where a transcript message sits: its uuid (``id``) and session (version 10). Claude Code's ``summary`` lines name
    the session they title only by the uuid of its leaf message (``leafUuid``), which may be in another file and
    arrive before or after the summary; the title is resolved when read (store/titles.py). A uuid seen in two
    sessions keeps the smaller session id, so the result does not depend on the order files are read."""

    __tablename__ = "message_uuids"

    id: str = Field(primary_key=True)
    session_id: str = Field(nullable=False, index=True)
    ts_ms: int | None = _big()


class TitleLine(SQLModel, table=True):
    """A session title line (version 10): ``summary`` (``leaf_uuid`` names the session), ``custom`` (``/rename``:
    ``custom-title``) or ``ai`` (``ai-title``) with their ``session_id``. ``id``: file and offset of the line."""

    __tablename__ = "title_lines"

    id: str = Field(primary_key=True)
    kind: str = Field(nullable=False)
    title: str = Field(nullable=False)
    leaf_uuid: str | None = Field(default=None, index=True)
    session_id: str | None = Field(default=None, index=True)
    line_offset: int | None = _big()  # the later line of a file wins among a session's custom / ai titles


TABLES = [Session, Task, RoutingDecision, ToolCall, ErrorEvent, IngestCursor, SessionStat, TaskRollup, ToolRollup,
          TaskHour, ToolHour, TaskDay, ToolDay, TaskSessionDay, ToolSessionDay, RollupDirty, QuotaSnapshot, Machine, MessageUuid, TitleLine,
          SchemaVersion]
