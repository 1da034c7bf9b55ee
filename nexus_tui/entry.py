"""The console script: ``nexus-insights statusline`` takes a fast path that never imports click or the store's
libraries (Claude Code runs it after every message), and a plain ``nexus-insights ingest`` one that does not import
click (a pass after a few new lines is mostly start-up); everything else goes to the click command line."""

from __future__ import annotations

import sys

_VALUE_OPTIONS = ("--home", "--db")


def _statusline_args(argv: list[str], command: str = "statusline") -> list[str] | None:
    """The arguments for ``command`` when it is the command (only --home/--db before it): the options before it
    and the arguments after it."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == command:
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
    args = _statusline_args(sys.argv[1:], "ingest")
    if args is not None:
        code = _plain_ingest(args)
        if code is not None:
            sys.exit(code)
    from nexus_tui.cli import main as cli

    cli()


def _plain_ingest(args: list[str]) -> int | None:
    """``ingest`` with at most --home/--db (or their environment variables) run without click; None for anything
    the click command line must see (another argument, --help, a --home that is a file: click says why)."""
    import os

    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if name not in _VALUE_OPTIONS or name in opts:
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            value = args[i + 1]
            i += 1
        opts[name] = value
        i += 1
    home = opts.get("--home", os.environ.get("NEXUS_INSIGHTS_HOME"))
    db = opts.get("--db", os.environ.get("NEXUS_INSIGHTS_DB"))
    if home is not None and (not home or os.path.isfile(home)):
        return None  # click's check of --home tells what is wrong
    if db is not None and not db:
        return None
    from nexus_tui.config import SettingsError, load_settings
    from nexus_tui.ingest_cmd import fail, run

    try:
        settings = load_settings(home, db, (), ())
    except SettingsError as e:
        return fail(str(e))
    return run(settings)
