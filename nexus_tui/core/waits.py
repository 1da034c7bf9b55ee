"""User waits inside a tool call's time, from Claude Code transcripts (docs/metrics.md "Tool waits").

A transcript gives a tool call's start (the ``tool_use`` line) and end (the ``tool_result`` line). Between them
Claude Code may wait for the user: a question (AskUserQuestion), a plan to approve (ExitPlanMode), a permission
prompt before the tool runs. Counted as latency, those waits make a Write look like it takes minutes. This module
splits the time into execution and wait, from what the transcript shows:

1. a question tool (AskUserQuestion, ExitPlanMode; also a result whose ``toolUseResult`` holds ``answers``):
   all of it is waiting, execution 0;
2. a call the user rejected at the prompt (the result is Claude Code's rejection text): all of it is waiting, no
   execution happened;
3. the tool reports its own run time (``toolUseResult.durationMs``, ``totalDurationMs``, ``durationSeconds``;
   Bash: its ``bash_progress`` lines give the command's start as line time minus ``elapsedTimeSeconds``): that is
   the execution, the rest is waiting when it is at least ``MIN_WAIT_MS`` and permission prompts can happen;
4. a file edit (Write, Edit, MultiEdit, NotebookEdit: it runs in milliseconds) that took more than
   ``INSTANT_MAX_MS`` while prompts could happen: the time is a permission prompt; execution is taken as 0.

Prompts cannot happen in ``bypassPermissions`` mode, nor for edits in ``acceptEdits`` mode, nor (taken so here)
for the read-only tools and the todo list (the ``permissionMode``
of the session's user lines; rule 1 applies in any mode). Anything else is execution, as before. Pure: no I/O.
"""

from __future__ import annotations

MIN_WAIT_MS = 2000  # less than this beside a tool's own run time is hooks, start-up and rounding, not a wait
INSTANT_MAX_MS = 2000  # an instant tool taking longer than this waited for a permission prompt

QUESTION_TOOLS = frozenset({"AskUserQuestion", "ExitPlanMode"})
INSTANT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
# read-only tools and the todo list run without a prompt inside the project: their time is never taken as a wait
NO_PROMPT_TOOLS = frozenset({"Read", "Glob", "Grep", "LS", "NotebookRead", "TodoWrite"})
EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
REJECTED = ("The user doesn't want to proceed with this tool use", "The user doesn't want to take this action")


def _own_ms(tur) -> int | None:
    """The run time a tool reports in its toolUseResult, in ms; None if it reports none (or nonsense)."""
    if not isinstance(tur, dict):
        return None
    for key, scale in (("durationMs", 1), ("totalDurationMs", 1), ("durationSeconds", 1000)):
        v = tur.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e9:
            return int(v * scale)
    return None


def can_prompt(tool: str, mode: str | None) -> bool:
    """Whether a permission prompt can stand before ``tool`` in the session's permission ``mode``."""
    if mode == "bypassPermissions" or tool in NO_PROMPT_TOOLS:
        return False
    if mode == "acceptEdits" and tool in EDIT_TOOLS:
        return False
    return True


def split(tool: str | None, total_ms: int, *, result_text: str = "", failed: bool = False, tur=None,
          exec_start_ms: int | None = None, end_ms: int | None = None, mode: str | None = None
          ) -> tuple[int, int] | None:
    """(execution ms, wait ms) of a call that took ``total_ms`` from tool_use to tool_result, or None when the
    transcript shows no wait (then all of it is execution, as stored before)."""
    if total_ms <= 0 or not isinstance(tool, str):
        return None
    if tool in QUESTION_TOOLS or (isinstance(tur, dict) and "answers" in tur and "questions" in tur):
        return 0, total_ms
    if failed and result_text.lstrip().startswith(("Error: " + REJECTED[0], *REJECTED)):
        return 0, total_ms
    if not can_prompt(tool, mode):
        return None
    own = _own_ms(tur)
    if own is None and exec_start_ms is not None and end_ms is not None:
        own = max(0, end_ms - exec_start_ms)
    if own is not None:
        own = min(own, total_ms)
        return (own, total_ms - own) if total_ms - own >= MIN_WAIT_MS else None
    if tool in INSTANT_TOOLS and total_ms > INSTANT_MAX_MS:
        return 0, total_ms
    return None
