"""A tool call's target for the audit trail (pure: no I/O).

What a call acted on, never what it carried: the file path for file tools, the program name of a shell command
(its first word, leading ``VAR=value`` assignments and the program's folder left out, no arguments), the host of a
fetched URL. Every other tool (MCP tools included) has no target: their inputs are content.

Computed at parse time from the ``tool_use`` input and stored in ``tool_calls.target`` (schema version 9); calls
stored before are read back from their transcript when an audit trail shows them (collect/reader.py
``fill_targets``).
"""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit

from nexus_tui.core.fmt import ellipsis

MAX_TARGET = 500  # characters kept of a path

# tool name -> the input keys that name the file it reads or changes (first present wins)
FILE_TOOLS: dict[str, tuple[str, ...]] = {
    "Read": ("file_path",), "Write": ("file_path",), "Edit": ("file_path",), "MultiEdit": ("file_path",),
    "NotebookEdit": ("notebook_path", "file_path"), "NotebookRead": ("notebook_path", "file_path"),
    # Gemini CLI's file tools
    "read_file": ("absolute_path", "file_path", "path"), "write_file": ("file_path", "path"),
    "replace": ("file_path", "path"),
}
# tools that search or list a folder: the folder is the target (the pattern is content)
FOLDER_TOOLS: dict[str, tuple[str, ...]] = {"Grep": ("path",), "Glob": ("path",), "LS": ("path",),
                                           "list_directory": ("path",), "glob": ("path",),
                                           "search_file_content": ("path",)}
SHELL_TOOLS = frozenset({"Bash", "run_shell_command", "shell", "BashBackground"})
FETCH_TOOLS = frozenset({"WebFetch", "web_fetch"})
# the tools that change the file they name: "files the session changed" counts their successful calls
EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit", "write_file", "replace"})


# what makes shlex (posix, whitespace_split, no commenters) split other than ``str.split()``: its quotes and escape,
# and the white space str.split() breaks at and shlex does not (shlex's own is space, tab, CR and LF)
_SHELL_SPECIAL = re.compile(r"""['"\\\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]""")


def _clip(s: str) -> str:
    return ellipsis(s, MAX_TARGET)


def _assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and bool(name) and (name[0].isalpha() or name[0] == "_") \
        and all(c.isalnum() or c == "_" for c in name)


def _words(head: str):
    """The command's words as a POSIX shell splits them, read lazily: only the first few are wanted, and shlex
    reads a character at a time (splitting whole commands was a fifth of a cold ingest's parse). Where the words
    read so far end in an unbalanced quote (or the command is cut off there), plain whitespace words."""
    special = _SHELL_SPECIAL.search(head)
    if special is None:  # no quote, escape or other white space: shlex's words are split()'s
        yield from head.split()
        return
    # the words that end before the first such character are shlex's words too; shlex reads on from the next one
    plain = head[:special.start()]
    words = plain.split()
    cut = len(plain)
    if words and plain[-1] not in " \t\r\n":
        cut -= len(words.pop())  # the word the special character is in
    n = 0
    for w in words:
        n += 1
        yield w
    lex = shlex.shlex(head[cut:], posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    try:
        for w in lex:
            n += 1
            yield w
    except ValueError:
        yield from head.split()[n:]


def program_name(command) -> str | None:
    """The program a shell command runs: its first word after any ``VAR=value`` assignments, without its folder
    (``/usr/bin/git log`` -> ``git``; ``FOO=1 BAR=2 make test`` -> ``make``). None for an empty command."""
    if not isinstance(command, str):
        return None
    head = command.strip()[:2000]
    if not head:
        return None
    for w in _words(head):
        if _assignment(w):
            continue
        for sep in ("&&", "||", ";", "|", "&"):  # 'make&&make install': the first word ends at an operator
            if sep in w and not w.startswith(sep):
                w = w.split(sep, 1)[0]
        name = w.rstrip("/").rsplit("/", 1)[-1] if "/" in w.rstrip("/") else w
        name = name.strip()
        return _clip(name) if name else None
    return None


def url_host(url) -> str | None:
    """The host of a URL (no user, password, port, path or query), lowercased; None when it has none."""
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return _clip(host) if host else None


def _first_str(inp: dict, keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = inp.get(k)
        if isinstance(v, str) and v.strip():
            return _clip(v.strip())
    return None


def tool_target(tool_name, tool_input) -> str | None:
    """The target of one call of ``tool_name`` with input ``tool_input`` (the ``tool_use`` block's ``input``)."""
    if not isinstance(tool_name, str) or not isinstance(tool_input, dict) or tool_name.startswith("mcp__"):
        return None
    keys = FILE_TOOLS.get(tool_name) or FOLDER_TOOLS.get(tool_name)
    if keys:
        return _first_str(tool_input, keys)
    if tool_name in SHELL_TOOLS:
        return program_name(tool_input.get("command"))
    if tool_name in FETCH_TOOLS:
        return url_host(tool_input.get("url"))
    return None


def files_changed(calls: list[dict]) -> list[dict]:
    """The files a session changed: each target of a successful edit call (``EDIT_TOOLS``) with how many such calls
    changed it, its first and last change (``time_ms``), most edits first, then by path. ``calls``: the audit
    trail's rows (tool, target, outcome, time_ms)."""
    out: dict[str, dict] = {}
    for c in calls:
        if c.get("tool") in EDIT_TOOLS and c.get("outcome") == "ok" and c.get("target"):
            d = out.setdefault(c["target"], {"path": c["target"], "edits": 0, "first_ms": None, "last_ms": None})
            d["edits"] += 1
            t = c.get("time_ms")
            if t is not None:
                d["first_ms"] = t if d["first_ms"] is None else min(d["first_ms"], t)
                d["last_ms"] = t if d["last_ms"] is None else max(d["last_ms"], t)
    return sorted(out.values(), key=lambda d: (-d["edits"], d["path"]))
