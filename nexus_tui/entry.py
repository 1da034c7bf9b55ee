"""The console script: ``nexus-insights statusline`` takes a fast path that never imports click or the store's
libraries (Claude Code runs it after every message); everything else goes to the click command line."""

from __future__ import annotations

import sys

_VALUE_OPTIONS = ("--home", "--db")


def _statusline_args(argv: list[str]) -> list[str] | None:
    """The arguments for the status line when the command is ``statusline`` (only --home/--db before it)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "statusline":
            return argv[:i] + argv[i + 1:]
        if a in _VALUE_OPTIONS:
            i += 2
            continue
        if any(a.startswith(o + "=") for o in _VALUE_OPTIONS):
            i += 1
            continue
        return None
    return None


def main() -> None:
    args = _statusline_args(sys.argv[1:])
    if args is not None and not any(a in ("-h", "--help") for a in args):
        from nexus_tui.statusline import main as statusline

        sys.exit(statusline(args))
    from nexus_tui.cli import main as cli

    cli()
