"""Claude Code transcript lines -> normalized records (pure: bytes in, records and skip reasons out).

Counting follows ccusage's ``daily`` report (FORMATS.md section 1): one usage per response, keyed by
requestId (message.id when there is none; the two are one-to-one in every sample), keeping the largest
record; sub-agent turns replayed in ``progress``/``agent_progress`` lines count under the same key, so they
never double with a sub-agent file; ``<synthetic>`` turns are API errors, not tasks.

Task latency: from the line the response answers (its first line's ``parentUuid``: the prompt or the tool
result that triggered the request) to the last line of the response. The parser keeps the last few line
times per file in a small state carried between passes, so a response read in a later pass than its
trigger still gets a latency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import orjson

from nexus_tui.core.events import (SOURCE_TRANSCRIPT, Batch, ErrorRec, SessionRec, TaskRec, ToolResultRec,
                                   ToolUseRec, ms_from_iso)
from nexus_tui.core.parse.guard import MAX_TOKENS, Malformed, guarded, loads, quoted, time_ok
from nexus_tui.core import waits
from nexus_tui.core.fmt import ellipsis
from nexus_tui.core.pricing import price
from nexus_tui.core.targets import tool_target

CLI_TOOL = "claude-code"
_RECENT = 256  # line times remembered per file for latency
_MAX_TOKENS = MAX_TOKENS  # a count (or a response's total) above this is corrupt data, not usage
_ERR_TRIM = 500
_SEMVER = re.compile(r"^\d+\.\d+\.\d+")
_KNOWN_TYPES = frozenset({"user", "assistant", "system", "summary", "progress", "queue-operation",
                          "file-history-snapshot", "attachment", "last-prompt", "ai-title", "file-history-delta",
                          "pr-link", "agent-setting", "custom-title", "tag", "mode"})


# title lines and the key holding their title (FORMATS.md: summary verified on the real fixtures; custom-title and
# ai-title as public readers of Claude Code's transcripts show them, not yet seen in our samples)
_TITLE_TYPES = {"summary": "summary", "custom-title": "customTitle", "ai-title": "aiTitle"}
_NO_ENVELOPE = frozenset({"file-history-snapshot", "queue-operation"})
_TURNS = frozenset({"assistant", "user"})
USAGE_LINE = "usage"  # the type a line of another (or no) type is parsed as when its message carries usage
UNKNOWN_MODEL = "<unknown>"  # a usage line without a model: counted (as ccusage counts it), never priced
_CCUSAGE_MAX_DEPTH = 127  # ccusage 20.0.24 refuses a line nested deeper (the line's own object is level 1)
_MAX_REPORTED_USD = 1e6  # a line's costUSD above this (or negative, or not finite) is not kept as its reported cost
_orjson_loads, _JSONDecodeError = orjson.loads, orjson.JSONDecodeError
# a usage line's fields as ccusage's schema takes them (docs/sources.md, "Which usage lines count"): these may be
# absent but never null; the speed is one of two words; the timestamp is RFC 3339 with milliseconds or none
_NOT_NULL_TOP = ("cwd", "version", "sessionId", "requestId", "costUSD", "isApiErrorMessage")
_SPEEDS = frozenset({"fast", "standard"})
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3})?(?:Z|[+-]\d\d:\d\d)")


def _deeper_than(obj, limit: int) -> bool:
    """Whether ``obj`` (parsed JSON) nests containers deeper than ``limit`` levels (itself level 1); iterative."""
    stack = [(obj, 1)]
    while stack:
        o, depth = stack.pop()
        if depth > limit:
            return True
        if type(o) is dict:
            stack.extend((v, depth + 1) for v in o.values() if type(v) in (dict, list))
        elif type(o) is list:
            stack.extend((v, depth + 1) for v in o if type(v) in (dict, list))
    return False


@lru_cache(maxsize=1024)
def _semver(version: str) -> bool:
    return _SEMVER.match(version) is not None


@dataclass(frozen=True, slots=True)
class FileContext:
    """What the file's place tells about its lines."""

    path: str
    project: str | None = None  # the folder under projects/ (Claude Code's encoded cwd)


def new_state() -> dict:
    return {"recent": {}}


def _int(v) -> int | None:
    """A token count: a JSON integer in 0.._MAX_TOKENS; None for anything else (a float such as ``100.0`` or
    ``1e2``, a numeric string, a bool, null, a negative or huge number), which ccusage does not count either."""
    return v if type(v) is int and 0 <= v <= _MAX_TOKENS else None


def _usage_schema_fault(d: dict, usage: dict) -> str | None:
    """Why ccusage's schema refuses this top-level usage line (None: it takes it), for the fields beyond the token
    counts: a known field that is null, a requestId that is not a non-empty string, a costUSD that is not a number,
    an isSidechain that is not a boolean, an unknown speed, a timestamp not in RFC 3339 with milliseconds."""
    for k in _NOT_NULL_TOP:
        if k in d and d[k] is None:
            return f"usage line with a null {k}"
    rid = d.get("requestId")
    if rid is not None and (type(rid) is not str or not rid):
        return "usage line with an invalid requestId"
    cost = d.get("costUSD")
    if cost is not None and (type(cost) not in (int, float)):
        return "usage line with an invalid costUSD"
    side = d.get("isSidechain")
    if side is not None and type(side) is not bool:
        return "usage line with an invalid isSidechain"
    if "speed" in usage and (type(usage["speed"]) is not str or usage["speed"] not in _SPEEDS):
        return "usage line with an invalid speed"
    ts = d.get("timestamp")
    if _RFC3339.fullmatch(ts) is None:
        return "usage line with a timestamp not in RFC 3339 form"
    return None


def mcp_server_of(tool_name: str) -> str | None:
    """'mcp__server__tool' -> 'server' (Claude Code's MCP tool naming)."""
    if tool_name.startswith("mcp__"):
        rest = tool_name[5:]
        server, sep, _ = rest.partition("__")
        return server if sep else None
    return None


def classify_tool_error(text: str) -> str:
    """A short error type for a failed tool call, from its result text."""
    t = text.lower()
    if "doesn't want to proceed" in t or "user rejected" in t or "was rejected" in t or "permission to use" in t:
        return "rejected"
    if "interrupted" in t:
        return "interrupted"
    if "timed out" in t or "timeout" in t:
        return "timeout"
    if "string to replace not found" in t or "old_string" in t or "found multiple" in t or "no changes to make" in t:
        return "edit_mismatch"
    if "has not been read yet" in t or "modified since read" in t:
        return "stale_read"
    if "does not exist" in t or "no such file" in t or "not found" in t or "enoent" in t:
        return "not_found"
    if "permission denied" in t or "eacces" in t or "not allowed" in t:
        return "permission"
    if "exit code" in t:
        return "exit_code"
    if "inputvalidationerror" in t or "invalid" in t:
        return "invalid_input"
    if "<tool_use_error>" in t:
        return "tool_use_error"
    return "error"


def file_session(path: str) -> str | None:
    """The session a transcript's place names: ``projects/<project>/<session>.jsonl``, or the folder under the
    project for a file deeper down (``<project>/<session>/subagents/agent-x.jsonl``); for a line without a
    sessionId (ccusage counts it under this session too)."""
    parts = path.replace("\\", "/").split("/")
    if "projects" in parts:
        below = parts[len(parts) - 1 - parts[::-1].index("projects") + 1:]
        if len(below) > 2 and below[1]:
            return below[1]
    name = parts[-1]
    return (name[:-6] if name.endswith(".jsonl") else name) or None


def _result_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for c in content:
            if isinstance(c, dict) and isinstance(c.get("text"), str):
                parts.append(c["text"])
        return "\n".join(parts)
    return ""


def _result_size(content) -> int:
    if isinstance(content, str):  # bytes in UTF-8 (an ASCII string's length is that already: no copy)
        return len(content) if content.isascii() else len(content.encode("utf-8", "replace"))
    if isinstance(content, list):
        n = 0
        for c in content:
            if isinstance(c, dict):
                text = c.get("text")
                if isinstance(text, str):
                    n += len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
                elif isinstance(c.get("source"), dict) and isinstance(c["source"].get("data"), str):
                    n += len(c["source"]["data"])
        return n
    return 0


def _trim(text: str, n: int = _ERR_TRIM) -> str:
    text = text.strip()
    return ellipsis(text, n)


_PENDING = 256  # tool calls awaiting their result, per file


class _Parser:
    __slots__ = ("ctx", "state", "batch", "sessions", "recent", "file_sid")

    def __init__(self, ctx: FileContext, state: dict):
        self.ctx = ctx
        self.state = state
        recent = state.get("recent")
        if not isinstance(recent, dict):  # a state from elsewhere (or none): start afresh
            recent = state["recent"] = {}
        self.recent: dict = recent
        self.batch = Batch()
        self.sessions: dict[str, SessionRec] = {}
        self.file_sid = file_session(ctx.path)

    def remember(self, uuid, ts: int, key: str | None) -> None:
        if not isinstance(uuid, str):
            return
        r = self.recent
        r[uuid] = (ts, key)
        if len(r) > _RECENT:
            del r[next(iter(r))]

    def title_line(self, d: dict, typ: str, sid, offset: int) -> None:
        """A session title: ``summary`` names its session by a leaf message's uuid (resolved when read:
        store/titles.py); ``custom-title`` (``/rename``) and ``ai-title`` by their sessionId, else the file's
        name (``<sessionId>.jsonl``). Kept as written, shortened to 200 characters; shown as literal text."""
        raw = title = d.get(_TITLE_TYPES[typ])
        if not isinstance(title, str) and typ != "summary":
            title = d.get("title")
        if not isinstance(title, str) or not title.strip():
            if any(v is not None and not isinstance(v, str) for v in (raw, title)):  # a title of the wrong type is
                self.batch.skip(f"{typ} line: title not a string")  # counted; a line without one is not
            return
        title = " ".join(title.split())[:200]  # line breaks and runs of spaces folded: a title is one line
        line_id = f"{self.ctx.path}:{offset}"
        if typ == "summary":
            leaf = d.get("leafUuid")
            if isinstance(leaf, str) and leaf:
                self.batch.titles.append(("title", line_id, "summary", title, leaf[:200], None, offset))
            else:
                self.batch.skip("summary line without leafUuid")
            return
        if not isinstance(sid, str) or not sid:
            name = self.ctx.path.replace("\\", "/").rsplit("/", 1)[-1]
            sid = name[:-6] if name.endswith(".jsonl") else None
        if sid:
            self.batch.titles.append(("title", line_id, "custom" if typ == "custom-title" else "ai", title, None,
                                      sid, offset))

    def new_session(self, d: dict, sid: str, ts: int) -> None:
        """The first line of a session in this chunk (``line`` moves the bounds of a known one)."""
        cwd, branch, version = d.get("cwd"), d.get("gitBranch"), d.get("version")
        if cwd is not None and not isinstance(cwd, str):
            cwd = None
        if not branch or not isinstance(branch, str):
            branch = None
        if version is not None and not isinstance(version, str):
            version = None
        project = (cwd.rstrip("/").rsplit("/", 1)[-1] or cwd) if cwd else self.ctx.project
        self.sessions[sid] = SessionRec(id=sid, start_ms=ts, end_ms=ts, cli_tool=CLI_TOOL, project=project,
                                        cwd=cwd, git_branch=branch, cli_version=version)

    def line(self, raw: bytes, offset: int) -> None:
        b = self.batch
        b.lines += 1
        lenient = False
        try:
            d = _orjson_loads(raw)  # the common case without loads's wrapper; anything it refuses goes through it
        except _JSONDecodeError:
            if not raw.strip():
                return
            try:
                d = loads(raw)
            except Malformed:
                b.skip("malformed JSON")
                return
            lenient = True  # valid JSON orjson refuses: a lone surrogate escape, or nested over 1024 levels
        if type(d) is not dict:
            b.skip("not a JSON object")
            return
        get = d.get
        typ = get("type")
        # ccusage counts the usage of a line of any type, or of none: such a line's usage is a task here too
        m = get("message") if typ != "assistant" else None
        usage_any = type(m) is dict and "usage" in m
        if (typ == "assistant" or usage_any) and \
                (lenient or (raw.count(b"[") + raw.count(b"{") > _CCUSAGE_MAX_DEPTH  # (most lines end here)
                             and _deeper_than(d, _CCUSAGE_MAX_DEPTH))):
            # JSON ccusage's reader refuses (a lone surrogate escape, 128 levels or more): its usage is not counted,
            # as ccusage does not count it; the rest of a user line (its tool results) is still read
            b.skip("usage line with a lone surrogate escape or nested 128 levels or deeper")
            if typ == "assistant" or type(typ) is not str or typ not in _KNOWN_TYPES:
                return
            usage_any = False
        if type(typ) is not str or typ not in _KNOWN_TYPES:
            if not usage_any:
                b.skip("no line type" if type(typ) is not str else f"unknown line type ({quoted(typ, 40)})")
                return
            typ = USAGE_LINE
        sid = get("sessionId")
        if typ in _TITLE_TYPES:
            self.title_line(d, typ, sid, offset)
            if not usage_any:
                return
            typ = USAGE_LINE
        if typ in _NO_ENVELOPE:
            if not usage_any:
                return  # lines with no session envelope carry no usage
            typ = USAGE_LINE
        ts = ms_from_iso(get("timestamp"))
        if sid is None and "sessionId" not in d:  # no sessionId at all: the file's session, as ccusage takes it
            sid = self.file_sid
        if type(sid) is not str or not sid:
            if typ in _TURNS or usage_any:  # a line that could count: its skip is counted
                b.skip("no sessionId")
            return
        if ts is None:
            if typ in _TURNS or usage_any:  # a line that could count: its skip is counted
                b.skip("no valid timestamp")
            return
        s = self.sessions.get(sid)
        if s is None:
            self.new_session(d, sid, ts)
        else:  # the common case, inline: most lines only move the session's bounds
            if ts < s.start_ms:
                s.start_ms = ts
            elif ts > s.end_ms:
                s.end_ms = ts
            branch = get("gitBranch")
            if branch and branch != s.git_branch and type(branch) is str:
                s.git_branch = branch
            version = get("version")
            if version and version != s.cli_version and type(version) is str:
                s.cli_version = version
            if s.cwd is None:
                cwd = get("cwd")
                if cwd and type(cwd) is str:
                    s.cwd = cwd
                    s.project = cwd.rstrip("/").rsplit("/", 1)[-1] or cwd
        ruid = get("uuid")
        uuid = ruid if type(ruid) is str and ruid else None
        if usage_any:
            self.assistant(d, d, sid, ts, offset, len(raw), get("agentId"), bool(get("isSidechain")))
            if typ == USAGE_LINE:
                return
        if typ == "progress":
            data = get("data")
            if type(data) is dict:
                dtype = data.get("type")
                if dtype == "bash_progress":
                    self.bash_progress(d, data, ts)
                elif dtype == "agent_progress":
                    inner = data.get("message")
                    if type(inner) is dict:
                        its = ms_from_iso(inner.get("timestamp")) or ts
                        if not time_ok(its):
                            its = ts
                        agent = data.get("agentId")
                        if type(agent) is not str:
                            agent = None
                        itype = inner.get("type")
                        if itype == "assistant":
                            self.assistant(inner, d, sid, its, offset, len(raw), agent, True)
                        elif itype == "user":
                            self.user(inner, sid, its, offset, len(raw))
                            self.remember(inner.get("uuid"), its, None)
        elif typ == "assistant":
            if uuid:
                b.titles.append(("uuid", uuid[:200], sid, ts))  # where a summary's leaf may be
            self.assistant(d, d, sid, ts, offset, len(raw), get("agentId"), bool(get("isSidechain")))
            return
        elif typ == "user":
            if uuid:
                b.titles.append(("uuid", uuid[:200], sid, ts))
            pm = get("permissionMode")
            if type(pm) is str:  # for tool waits (core/waits.py)
                self.state["pm"] = pm
            self.user(d, sid, ts, offset, len(raw))
        elif typ == "system":
            content = get("content")
            if get("level") == "error" and type(content) is str:
                uid = uuid or f"{self.ctx.path}:{offset}"
                b.errors.append(ErrorRec(id=f"cc-system:{uid}", ts_ms=ts, component="api", kind="system_error",
                                         message=_trim(content), session_id=sid))
        else:
            return  # the other known kinds only move their session's bounds
        if type(ruid) is str:  # remember(), inline
            r = self.recent
            r[ruid] = (ts, None)
            if len(r) > _RECENT:
                del r[next(iter(r))]

    def assistant(self, d: dict, env: dict, sid: str, ts: int, offset: int, length: int, agent, sidechain: bool):
        b = self.batch
        get = d.get
        m = get("message")
        if type(m) is not dict:
            b.skip("assistant line without message")
            return
        version = env.get("version")
        if version is not None and (type(version) is not str or not _semver(version)):
            b.skip("version is not semver")
            return
        mget = m.get
        model = mget("model")
        uuid = get("uuid")
        if type(uuid) is not str or not uuid:
            uuid = None
        if model == "<synthetic>" or get("isApiErrorMessage") is True:
            err = d.get("error")
            text = _result_text(m.get("content")) or (err if isinstance(err, str) and err else "API error")
            b.errors.append(ErrorRec(id=f"cc-api:{uuid or f'{self.ctx.path}:{offset}'}", ts_ms=ts, component="api",
                                     kind="api_error", message=_trim(text), session_id=sid))
            self.remember(uuid, ts, None)
            return
        mid, rid = mget("id"), get("requestId")
        if mid is None and "id" not in m:
            pass  # counted on its own, never deduplicated (as ccusage): its key is the line's place
        elif type(mid) is not str or not mid:
            b.skip("assistant line without message.id")
            return
        if model is None and "model" not in m:
            model = UNKNOWN_MODEL  # counted, not priced (ccusage: no model, cost 0 unless costUSD)
        elif type(model) is not str or not model:
            b.skip("assistant line without model")
            return
        usage = mget("usage")
        if type(usage) is not dict:
            b.skip("assistant line without usage")
            return
        uget = usage.get
        # as ccusage counts (docs/sources.md): input and output required, the cache counts 0 when absent; each a
        # JSON integer (null, a float, a string: the line is skipped)
        tin, tout = _int(uget("input_tokens")), _int(uget("output_tokens"))
        cread = _int(uget("cache_read_input_tokens", 0))
        cc_total = _int(uget("cache_creation_input_tokens", 0))
        if tin is None or tout is None or cread is None or cc_total is None:
            b.skip("usage with invalid token counts")
            return
        c5 = c1 = None
        split = uget("cache_creation")
        if split is not None:
            if type(split) is not dict:
                b.skip("usage with invalid token counts")
                return
            # ccusage: a split object's sum is the cache write (its absent fields 0), whatever the total says
            c5, c1 = _int(split.get("ephemeral_5m_input_tokens", 0)), _int(split.get("ephemeral_1h_input_tokens", 0))
            if c5 is None or c1 is None:
                b.skip("usage with invalid token counts")
                return
            cc_total = c5 + c1
        if d is env:
            fault = _usage_schema_fault(d, usage)
            if fault is not None:
                b.skip(fault)
                return
        if tin + tout + cread + cc_total > _MAX_TOKENS:  # the per-response cap holds for the sum (and the split)
            b.skip("usage with invalid token counts")
            return
        if type(rid) is not str:
            rid = None
        # ccusage deduplicates on the message id (with the request id when there is one); a line without a
        # message id is its own response
        key = (rid or f"msg:{mid}") if mid is not None else f"line:{self.ctx.path}:{offset}"
        pu = get("parentUuid")
        parent = self.recent.get(pu) if type(pu) is str else None
        trigger = parent[0] if isinstance(parent, (tuple, list)) and len(parent) == 2 and parent[1] != key \
            and time_ok(parent[0]) else None
        if uuid is not None:  # remember(), inline
            r = self.recent
            r[uuid] = (ts, key)
            if len(r) > _RECENT:
                del r[next(iter(r))]
        cost, priced_as = price(model, ts, tokens_in=tin, tokens_out=tout, cache_read=cread, cache_write=cc_total,
                                cache_write_5m=c5, cache_write_1h=c1)
        reported = get("costUSD")  # older Claude Code versions wrote the cost they computed (ccusage's display mode)
        if type(reported) not in (int, float) or not 0 <= reported <= _MAX_REPORTED_USD:  # NaN fails both
            reported = None
        agent_id = agent if type(agent) is str and agent else None
        stop, speed, tier = mget("stop_reason"), uget("speed"), uget("service_tier")
        s = self.sessions.get(sid)
        b.tasks.append(TaskRec(
            id=key, session_id=sid, ts_ms=ts, source=SOURCE_TRANSCRIPT, model=model, routing="cloud",
            tokens_in=tin, tokens_out=tout, cache_read_tokens=cread, cache_creation_tokens=cc_total,
            cache_creation_5m_tokens=c5, cache_creation_1h_tokens=c1, trigger_ms=trigger, end_ms=ts,
            cost_usd=cost, cloud_cost_equivalent=cost, reported_cost_usd=reported, request_id=rid,
            message_id=mid, project=s.project if s is not None else self.ctx.project,
            agent_id=agent_id, is_sidechain=sidechain or agent_id is not None,
            stop_reason=stop if type(stop) is str else None, cli_tool=CLI_TOOL,
            speed=speed if type(speed) is str else None, service_tier=tier if type(tier) is str else None,
            priced_as=priced_as))
        content = mget("content")
        if type(content) is list:
            for blk in content:
                if type(blk) is dict and blk.get("type") == "tool_use":
                    tid, name = blk.get("id"), blk.get("name")
                    if not isinstance(tid, str) or not isinstance(name, str):
                        b.skip("tool_use without id or name")
                        continue
                    try:
                        isize = len(orjson.dumps(blk.get("input")))
                    except TypeError:
                        isize = None
                    self.pending_use(tid, ts, name)
                    b.tool_uses.append(ToolUseRec(
                        id=tid, session_id=sid, task_id=key, tool_name=name, started_ms=ts,
                        mcp_server=mcp_server_of(name), source=SOURCE_TRANSCRIPT, agent_id=agent_id,
                        input_size=isize, source_path=self.ctx.path, use_offset=offset, use_length=length,
                        target=tool_target(name, blk.get("input"))))

    def pending_use(self, tid: str, ts: int, name: str) -> None:
        """A tool call waiting for its result (kept in the file's state, bounded), for its wait (core/waits.py)."""
        p = self.state.setdefault("pending", {})
        if tid not in p:
            p[tid] = [ts, name, None]
            if len(p) > _PENDING:
                del p[next(iter(p))]

    def bash_progress(self, d: dict, data: dict, ts: int) -> None:
        """A running command's progress: its start is the line's time less the elapsed time."""
        use = self.state.get("pending", {}).get(d.get("parentToolUseID"))
        el = data.get("elapsedTimeSeconds")
        if isinstance(use, list) and isinstance(el, (int, float)) and not isinstance(el, bool) and 0 <= el < 1e7:
            start = ts - int(el * 1000)
            if use[2] is None or start < use[2]:
                use[2] = start

    def user(self, d: dict, sid: str, ts: int, offset: int, length: int) -> None:
        m = d.get("message")
        content = m.get("content") if isinstance(m, dict) else None
        if not isinstance(content, list):
            return
        for blk in content:
            if not isinstance(blk, dict) or blk.get("type") != "tool_result":
                continue
            tid = blk.get("tool_use_id")
            if not isinstance(tid, str) or not tid:
                self.batch.skip("tool_result without tool_use_id")
                continue
            failed = blk.get("is_error") is True
            text = _result_text(blk.get("content")) if failed else ""
            etype = classify_tool_error(text) if failed else None
            emsg = _trim(text) if failed else None
            lat = wait = None
            use = self.state.get("pending", {}).pop(tid, None)
            if isinstance(use, list) and len(use) == 3 and isinstance(use[0], int):
                got = waits.split(use[1], ts - use[0], result_text=text, failed=failed, tur=d.get("toolUseResult"),
                                  exec_start_ms=use[2] if isinstance(use[2], int) else None, end_ms=ts,
                                  mode=self.state.get("pm"))
                if got is not None:
                    lat, wait = got
            self.batch.tool_results.append(ToolResultRec(
                id=tid, session_id=sid, ended_ms=ts, success=not failed, error_type=etype, error_message=emsg,
                output_size=_result_size(blk.get("content")), source_path=self.ctx.path, result_offset=offset,
                result_length=length, latency_ms=lat, wait_ms=wait))
            if failed:
                self.batch.errors.append(ErrorRec(
                    id=f"tool:{tid}", ts_ms=ts, component="tool", kind=etype or "error", message=emsg or "",
                    session_id=sid, context=orjson.dumps({"tool_use_id": tid}).decode()))


@guarded
def parse_lines(chunk: bytes, base_offset: int, ctx: FileContext, state: dict) -> Batch:
    """Parse complete lines (``chunk`` ends at a newline) starting at file offset ``base_offset``."""
    p = _Parser(ctx, state)
    line = p.line
    find = chunk.find
    pos = 0
    n = len(chunk)
    while pos < n:
        nl = find(b"\n", pos)
        end = n if nl < 0 else nl
        line(chunk[pos:end], base_offset + pos)
        pos = end + 1
    p.batch.sessions.extend(p.sessions.values())
    return p.batch
