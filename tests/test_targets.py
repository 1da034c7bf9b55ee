"""core/targets.py: a tool call's target (file path, program name, URL host; never contents)."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_tui.core.targets import EDIT_TOOLS, _assignment, _words, program_name, tool_target, url_host


@pytest.mark.parametrize("tool", ["Read", "Write", "Edit", "MultiEdit"])
def test_file_tools_give_the_file_path_and_nothing_of_the_content(tool):
    inp = {"file_path": "/home/dev/src/app.py", "content": "SECRET=1", "old_string": "a", "new_string": "b",
           "edits": [{"old_string": "x", "new_string": "y"}]}
    assert tool_target(tool, inp) == "/home/dev/src/app.py"


def test_notebook_edit_gives_its_notebook_path_or_file_path():
    assert tool_target("NotebookEdit", {"notebook_path": "/w/a.ipynb", "new_source": "print(1)"}) == "/w/a.ipynb"
    assert tool_target("NotebookEdit", {"file_path": "/w/b.ipynb", "new_source": "x"}) == "/w/b.ipynb"
    assert "NotebookEdit" in EDIT_TOOLS and "Read" not in EDIT_TOOLS


@pytest.mark.parametrize("command,program", [
    ("git status --short", "git"),
    ("/usr/bin/git log -p", "git"),
    ("FOO=1 BAR='a b' make test", "make"),
    ("  PATH=/x:$PATH ./scripts/run.sh --token abc", "run.sh"),
    ("pytest -q tests/test_api.py && git commit -m 'x'", "pytest"),
    ("make&&make install", "make"),
    ("echo 'unbalanced", "echo"),
    ("cd /repo; ls", "cd"),
    ("\"/opt/my tools/bin/tool\" --flag", "tool"),
])
def test_bash_gives_the_program_name_only(command, program):
    assert program_name(command) == program
    assert tool_target("Bash", {"command": command, "description": "d"}) == program


@pytest.mark.parametrize("command", ["", "   ", "A=1 B=2", None, 42])
def test_a_command_without_a_program_has_no_target(command):
    assert program_name(command) is None


@pytest.mark.parametrize("url,host", [
    ("https://docs.python.org/3/library/sqlite3.html?x=1#y", "docs.python.org"),
    ("https://user:pw@Example.COM:8443/path", "example.com"),
    ("http://[::1]:8080/", "::1"),
])
def test_webfetch_gives_the_host_of_its_url(url, host):
    assert url_host(url) == host
    assert tool_target("WebFetch", {"url": url, "prompt": "summarise"}) == host


@pytest.mark.parametrize("url", ["", "not a url", "mailto:x", None, "http://[::1"])
def test_a_url_without_a_host_has_no_target(url):
    assert url_host(url) is None


def test_mcp_tools_and_other_tools_have_no_target():
    assert tool_target("mcp__fs__write_file", {"path": "/etc/hosts", "content": "x"}) is None
    assert tool_target("mcp__github__create_issue", {"title": "t", "body": "b"}) is None
    assert tool_target("Task", {"prompt": "do it", "description": "d"}) is None
    assert tool_target("WebSearch", {"query": "q"}) is None
    assert tool_target("Grep", {"pattern": "TODO", "path": "src"}) == "src"
    assert tool_target("Grep", {"pattern": "TODO"}) is None
    assert tool_target("Read", {"file_path": 7}) is None
    assert tool_target("Read", "not a dict") is None
    assert tool_target(None, {"file_path": "/x"}) is None


def test_a_long_path_is_cut():
    got = tool_target("Read", {"file_path": "/" + "a" * 2000})
    assert len(got) == 500 and got.endswith("…")


def _program_by_whole_split(command: str):
    """program_name as it was first written: the whole command split by shlex (or by whitespace when its quotes do
    not balance), then the first word that is no assignment."""
    head = command.strip()[:2000]
    try:
        words = shlex.split(head, comments=False, posix=True)
    except ValueError:
        words = head.split()
    for w in words:
        if not _assignment(w):
            return w
    return None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["git", "A=1", "B='x y'", '"my prog"', "'q", '"', "\\ ", "ls", "&&", "-la",
                                 "/usr/bin/env", "C=\"u v\"", "x\\", "#c", "a;b"]), max_size=8))
def test_the_first_word_read_lazily_is_the_first_word_of_the_whole_split(parts):
    """The command is split lazily (only the first words are read); where the whole command splits cleanly, the first
    program word is the one the whole split gives (an unbalanced quote after it no longer matters)."""
    command = " ".join(parts)
    head = command.strip()[:2000]
    try:
        shlex.split(head, comments=False, posix=True)
        balanced = True
    except ValueError:
        balanced = False
    first = next((w for w in _words(head) if not _assignment(w)), None)
    if balanced:
        assert first == _program_by_whole_split(command)
    if program_name(command) is not None:
        assert first is not None


def _shlex_words(head: str) -> list[str]:
    """Every word shlex gives (the lazy reader's slow path), unbalanced quotes falling back as it does."""
    lex = shlex.shlex(head, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    out: list[str] = []
    try:
        for w in lex:
            out.append(w)
    except ValueError:
        out.extend(head.split()[len(out):])
    return out


_SHELL_CHARS = st.sampled_from(list("ab=/_-.;&|#$()*~") + [" ", "  ", "\t", "\r", "\n", "\x0b", "\x0c", "\x1c", "\x1f",
                                                          "\x85", "\xa0", "\u2003", "\u3000", "\u200b", "é", "'",
                                                          '"', "\\", "\x00"])


@settings(max_examples=600, deadline=None)
@given(st.lists(_SHELL_CHARS, max_size=24).map("".join) | st.text(max_size=24))
def test_the_fast_split_gives_shlexs_words(head):
    """A command with no quote, escape or white space other than shlex's own is split with str.split(): the words are
    those shlex gives, for any text."""
    assert list(_words(head)) == _shlex_words(head)
