"""Read a tool call's input or result on demand from its source file (the store keeps only where it is).

The store records ``tool_calls.source_path`` and the byte offset and length of the transcript line holding the
``tool_use`` block (``use_offset``/``use_length``) and the one holding its ``tool_result``
(``result_offset``/``result_length``). Reading one block is a seek and a read of one line; nothing is cached
beyond what the screen shows. A missing file, a changed line or a source that records no position gives a clear
sentence instead of the text. What is read back is shown, never stored, but goes through ``core/redact.py`` like
everything the store keeps: a key in a command or in a tool's error output (or in the file's own path) never reaches
the screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from nexus_tui.collect.tail import open_regular
from nexus_tui.core.fmt import ellipsis
from nexus_tui.core.redact import MARK, key_of, redact

MAX_SHOW = 4000  # characters shown per block; the rest is counted
MAX_LINE = 16 * 1024 * 1024  # never read more than this for one line
_KEY_ROOM = 256  # characters read past a cut before redacting, so a secret crossing it is redacted whole

PREVIEW_KEYS = ("command", "file_path", "path", "pattern", "url", "query", "title", "description", "prompt",
                "notebook_path")


@dataclass(frozen=True)
class Block:
    """A block read back from the source: ``text`` to show (trimmed), ``value`` the parsed input, or ``problem``."""

    text: str
    value: Any = None
    problem: str | None = None


def read_tool_block(path: str | None, offset: int | None, length: int | None, tool_use_id: str,
                    kind: str) -> Block:
    """The ``tool_use`` input (kind='use') or ``tool_result`` content (kind='result') of ``tool_use_id``."""
    if not path or offset is None or not length:
        return _problem("not recorded by this source (it keeps no copy of tool inputs and results)")
    path = located(path)
    try:
        opened = open_regular(path)  # never blocks on a FIFO put in the file's place
        if opened is None:
            return _problem(f"the source file is no longer a regular file: {path}")
        with opened[0] as f:
            f.seek(offset)
            raw = f.read(min(length, MAX_LINE))
    except FileNotFoundError:
        return _problem(f"the source file is gone: {path} (the numbers stay in the database)")
    except OSError as e:
        return _problem(f"cannot read the source file {path}: {e.strerror or e}")
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _problem(f"the source file changed since it was read ({path}); this line is no longer there")
    if not isinstance(d, dict):
        return _problem(f"the source file changed since it was read ({path})")
    msgs = [d]
    if isinstance(d.get("data"), dict) and isinstance(d["data"].get("message"), dict):
        msgs.append(d["data"]["message"])  # progress lines wrap a sub-agent's message
    for m in msgs:
        content = (m.get("message") or {}).get("content") if isinstance(m.get("message"), dict) else None
        if not isinstance(content, list):
            continue
        for b in content:
            if not isinstance(b, dict):
                continue
            if kind == "use" and b.get("type") == "tool_use" and _same_id(b.get("id"), tool_use_id):
                value = b.get("input")
                return Block(_trim(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()), value=value)
            if kind == "result" and b.get("type") == "tool_result" and _same_id(b.get("tool_use_id"), tool_use_id):
                c = b.get("content")
                if isinstance(c, list):
                    c = "\n".join(x.get("text", f"[{x.get('type', 'block')}]") if isinstance(x, dict) else str(x)
                                  for x in c)
                return Block(_trim("" if c is None else str(c)), value=c)
    return _problem(f"the source file changed since it was read ({path}); this block is no longer there")


_REDACTED = MARK.split("{", 1)[0]  # "[REDACTED:": what a key or path the writer redacted holds
MAX_WALK = 100_000  # files looked at, at most, to find the file of a redacted path
_LOCATED: dict[str, str] = {}


def _same_id(got, stored: str) -> bool:
    """Whether an id read from the file is the one stored (the writer stores an id holding a secret redacted)."""
    return got == stored or (_REDACTED in stored and type(got) is str and key_of(got) == stored)


def located(path: str) -> str:
    """The file a stored path names. The writer stores a path holding a secret redacted (``core.redact.key_of``:
    Claude Code names project folders after the cwd), so that file is found again by walking the folders from the
    deepest one named whole before the first redaction, for the file whose path maps to the stored one (at most
    MAX_WALK files; found once per process). Any other path, or one not found, is returned as it is."""
    if _REDACTED not in path or os.path.exists(path):
        return path
    got = _LOCATED.get(path)
    if got is not None and os.path.exists(got):
        return got
    top = os.path.dirname(path[:path.index(_REDACTED)]) or os.sep
    seen = 0
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            if key_of(full) == path:
                _LOCATED[path] = full
                return full
            seen += 1
        if seen >= MAX_WALK:
            break
    return path


def read_block(path: str | None, offset: int | None, length: int | None, tool_use_id: str, kind: str) -> str:
    """The text of a block, or the sentence saying why it cannot be shown (in parentheses)."""
    b = read_tool_block(path, offset, length, tool_use_id, kind)
    return f"({b.problem})" if b.problem else b.text


def input_preview(value: Any, width: int = 70) -> str:
    """One line saying what a tool was asked (its command, path, pattern, url...), for a collapsed title."""
    if not isinstance(value, dict):
        return ""
    for k in PREVIEW_KEYS:
        v = value.get(k)
        if isinstance(v, str) and v.strip():
            line = " ".join(v.split()[:width])  # (a word per shown character is enough)
            return ellipsis(redact(line[:width + _KEY_ROOM]), width)
    return ""


def _trim(s: str) -> str:
    """The text shown of a block: redacted, then cut to MAX_SHOW characters (the rest counted)."""
    shown = redact(s[:MAX_SHOW + _KEY_ROOM])
    return shown if len(s) <= MAX_SHOW else shown[:MAX_SHOW] + f"\n… ({len(s) - MAX_SHOW:,} more characters)"


def _problem(text: str) -> Block:
    return Block("", problem=redact(text))  # (a path may hold a key: Claude Code names folders by the cwd)


def fill_targets(calls: list[dict]) -> int:
    """Give the audit trail's calls stored before schema version 9 (``target`` NULL) their target, read from the
    ``tool_use`` line in their transcript (core/targets.py ``tool_target``); only tools that have targets are read,
    each line once. Returns how many were filled. A call whose file is gone keeps no target."""
    from nexus_tui.core.targets import FETCH_TOOLS, FILE_TOOLS, FOLDER_TOOLS, SHELL_TOOLS, tool_target

    wanted = FILE_TOOLS.keys() | FOLDER_TOOLS.keys() | SHELL_TOOLS | FETCH_TOOLS
    filled = 0
    for c in calls:
        if c.get("target") is not None or c.get("tool") not in wanted or not c.get("source_path"):
            continue
        block = read_tool_block(c["source_path"], c.get("use_offset"), c.get("use_length"), c["id"], "use")
        if block.problem is None:
            c["target"] = redact(tool_target(c["tool"], block.value))  # as the writer stores targets
            filled += c["target"] is not None
    return filled
