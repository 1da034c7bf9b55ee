"""The console script: ``nexus-insights statusline`` takes a fast path that never imports click or the store's
libraries (Claude Code runs it after every message), and a plain ``nexus-insights ingest`` and a plain
``--headless REPORT`` (common options only) ones that do not import click (a pass after a few new lines, or a report
on it, is mostly start-up); everything else goes to the click command line, which also tells what is wrong with
arguments these paths do not take."""

from __future__ import annotations

import sys

_VALUE_OPTIONS = ("--home", "--db")
# the source folders, given any number of times (cli.py: multiple=True): taken by the plain ingest and headless paths
_DIR_OPTIONS = ("--claude-dir", "--lunaroute-dir")

# the reports of ``--headless`` (cli.py's choice list is this one)
REPORTS = ("summary", "sessions", "models", "tools", "daily", "weekly", "monthly", "projects", "efficiency",
           "requests", "conversations", "quota", "errors", "audit", "tasks")
# what the plain ``--headless`` path takes: options with a value (None: any value; else its choices) and flags;
# anything else (--output, parquet, the errors/audit filters, --help, a repeated option) goes to click
_HEADLESS_VALUES: dict[str, tuple[str, ...] | None] = {
    "--home": None, "--db": None, "--headless": REPORTS, "--since": None, "--until": None, "--project": None,
    "--tz": None, "--machine": None, "--format": ("text", "json", "csv"), "--order": ("asc", "desc"),
    "--cost-mode": ("auto", "calculate", "display")}
_HEADLESS_FLAGS = ("--breakdown", "--no-collect")


def _statusline_args(argv: list[str], command: str = "statusline", options: tuple[str, ...] = _VALUE_OPTIONS,
                     after: bool = True) -> list[str] | None:
    """The arguments for ``command`` when it is the command (only ``options`` with their values before it): the
    options before it and the arguments after it (``after=False``: None when there are any, which click must
    judge)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == command:
            if not after and argv[i + 1:]:
                return None
            return argv[:i] + argv[i + 1:]
        if a in options:
            i += 2
            continue
        if any(a.startswith(o + "=") for o in options):
            i += 1
            continue
        return None
    return None


def main() -> None:
    args = _statusline_args(sys.argv[1:])
    if args is not None and not any(a in ("-h", "--help") for a in args):
        from nexus_tui.statusline import main as statusline

        sys.exit(statusline(args))
    args = _statusline_args(sys.argv[1:], "ingest", _VALUE_OPTIONS + _DIR_OPTIONS, after=False)
    if args is not None:
        code = _plain_ingest(args)
        if code is not None:
            sys.exit(code)
    elif "--headless" in sys.argv or any(a.startswith("--headless=") for a in sys.argv):
        code = _plain_headless(sys.argv[1:])
        if code is not None:
            sys.exit(code)
    from nexus_tui.cli import main as cli

    cli()


def _plain_options(args: list[str], values: dict[str, tuple[str, ...] | None],
                   flags: tuple[str, ...] = ()) -> tuple[dict[str, str], set[str]] | None:
    """The options in ``args`` when each is one of ``values`` (with a value: any, or one of its choices; spelled
    ``--name value`` or ``--name=value``) or of ``flags``, each once, or of ``_DIR_OPTIONS``, any number of times
    (their values listed in order under the option's name, in ``opts``); None for anything else."""
    values = {**values, **dict.fromkeys(_DIR_OPTIONS)}
    opts: dict = {}
    seen: set[str] = set()
    seen_dirs: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a in flags and a not in seen:
            seen.add(a)
            i += 1
            continue
        name, eq, value = a.partition("=")
        if name not in values or name in opts:
            return None
        if not eq:
            if i + 1 >= len(args):
                return None
            value = args[i + 1]
            i += 1
        choices = values[name]
        if not value or value.startswith("-") or (choices is not None and value not in choices):
            return None
        if name in _DIR_OPTIONS:
            seen_dirs.setdefault(name, []).append(value)
        else:
            opts[name] = value
        i += 1
    opts.update(seen_dirs)
    return opts, seen


def _plain_settings(opts: dict[str, str]):
    """The settings for --home/--db in ``opts`` (else their environment variables): ``(settings, None)``, or
    ``(None, exit code)`` after saying what is wrong with them, or None where click's own checks must speak (a
    --home that is a file)."""
    import os

    home = opts.get("--home", os.environ.get("NEXUS_INSIGHTS_HOME"))
    db = opts.get("--db", os.environ.get("NEXUS_INSIGHTS_DB"))
    if (home is not None and (not home or os.path.isfile(home))) or (db is not None and not db):
        return None
    from nexus_tui.config import SettingsError, load_settings
    from nexus_tui.ingest_cmd import fail

    try:
        settings = load_settings(home, db, opts.get("--claude-dir", ()), opts.get("--lunaroute-dir", ()))
    except SettingsError as e:
        return None, fail(str(e))
    for line in settings.unknown:  # as cli._settings says them
        sys.stderr.write(f"nexus-insights: {line}\n")
    return settings, None


def _plain_ingest(args: list[str]) -> int | None:
    """``ingest`` with at most --home/--db (or their environment variables) run without click; None for anything
    the click command line must see (another argument, --help, a --home that is a file: click says why)."""
    parsed = _plain_options(args, {"--home": None, "--db": None})  # and the source folders
    got = _plain_settings(parsed[0]) if parsed is not None else None
    if got is None:
        return None
    settings, code = got
    if settings is None:
        return code
    from nexus_tui.ingest_cmd import run

    return run(settings)


def _plain_headless(args: list[str]) -> int | None:
    """``--headless REPORT`` with only the common options (``_HEADLESS_VALUES``, ``_HEADLESS_FLAGS``), each once,
    with a valid choice, run without click; None for anything else (click parses it, and says what is wrong)."""
    parsed = _plain_options(args, _HEADLESS_VALUES, _HEADLESS_FLAGS)
    if parsed is None or "--headless" not in parsed[0]:
        return None
    opts, flags = parsed
    got = _plain_settings(opts)
    if got is None:
        return None
    settings, code = got
    if settings is None:
        return code
    from nexus_tui.headless import run_headless

    return run_headless(settings, opts["--headless"], since=opts.get("--since"), until=opts.get("--until"),
                        project=opts.get("--project"), tz=opts.get("--tz"), fmt=opts.get("--format", "text"),
                        collect="--no-collect" not in flags, cost_mode=opts.get("--cost-mode"),
                        machine=opts.get("--machine"), breakdown="--breakdown" in flags,
                        order=opts.get("--order", "asc"), output=None,
                        opts={"session_id": None, "component": None, "kind": None, "tool": None, "search": None})
