"""Command line: a thin click layer. Textual is imported only on the TUI path."""

from __future__ import annotations

import sys

import click

from nexus_tui import __version__
from nexus_tui.entry import REPORTS


def _fail(msg: str) -> None:
    """One line on stderr (control characters from data shown escaped), exit 2."""
    from nexus_tui.core.report import one_line

    click.echo(f"nexus-insights: {one_line(msg)}", err=True)
    sys.exit(2)


def _settings(ctx: click.Context):
    from nexus_tui.config import SettingsError, load_settings

    o = ctx.obj
    try:
        settings = load_settings(o["home"], o["db"], o["claude_dirs"], o.get("lunaroute_dirs", ()))
    except SettingsError as e:
        _fail(str(e))
    for line in settings.unknown:  # (one_line'd where made)
        click.echo(f"nexus-insights: {line}", err=True)
    return settings


def _open(settings):
    from nexus_tui.machine import identity
    from nexus_tui.store import StoreError, open_store

    try:
        return open_store(settings.db_url, machine=identity(settings))
    except (StoreError, ValueError) as e:
        _fail(str(e))


def _also_after(cmd=None, *, dirs: bool = True):
    """The options that say where the data is (--home, --db, --claude-dir, --lunaroute-dir) taken after a command
    too: ``nexus-insights ingest --claude-dir DIR`` is what people type; before it, they are the group's. ``dirs``:
    the source folders too (not for a command that reads no source)."""
    if cmd is None:
        return lambda c: _also_after(c, dirs=dirs)
    def put(key, multiple=False):
        def cb(ctx, param, value):
            if value:
                obj = ctx.find_root().ensure_object(dict)
                obj[key] = tuple(obj.get(key) or ()) + tuple(value) if multiple else value
            return value
        return cb

    options = (
            click.option("--home", type=click.Path(file_okay=False), expose_value=False, callback=put("home"),
                         help="Configuration home (as before the command)."),
            click.option("--db", metavar="URL|PATH", expose_value=False, callback=put("db"),
                         help="Database (as before the command)."),
            click.option("--claude-dir", multiple=True, type=click.Path(), expose_value=False,
                         callback=put("claude_dirs", True), help="Extra Claude Code folder; repeatable."),
            click.option("--lunaroute-dir", multiple=True, type=click.Path(), expose_value=False,
                         callback=put("lunaroute_dirs", True), help="LunaRoute sessions folder; repeatable."))
    for decorator in reversed(options if dirs else options[:2]):
        cmd = decorator(cmd)
    return cmd


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), envvar="NEXUS_INSIGHTS_HOME",
              help="Configuration home (default ~/.config/nexus).")
@click.option("--db", "db", metavar="URL|PATH", envvar="NEXUS_INSIGHTS_DB",
              help="Database: a SQLite file path, sqlite:///PATH or postgresql://user@host/db (needs the postgres "
                   "extra); default <home>/insights.db.")
@click.option("--claude-dir", "claude_dirs", multiple=True, type=click.Path(),
              help="Extra Claude Code folder (holding projects/); repeatable.")
@click.option("--lunaroute-dir", "lunaroute_dirs", multiple=True, type=click.Path(),
              help="LunaRoute sessions folder (default ~/.lunaroute/sessions); repeatable.")
@click.option("--headless", "report", type=click.Choice(REPORTS), metavar="REPORT",
              help=f"Print a report instead of opening the app: {', '.join(REPORTS)}.")
@click.option("--since", metavar="DATE", help="Start date (YYYY-MM-DD or ISO time), local time zone.")
@click.option("--until", metavar="DATE", help="End date, inclusive (YYYY-MM-DD or ISO time).")
@click.option("--project", metavar="P", help="Only this project (name or part of its path).")
@click.option("--tz", metavar="ZONE", help="Time zone for days and dates (default: local).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv", "parquet"]), default="text",
              show_default=True, help="parquet: --headless tasks only (needs the parquet extra).")
@click.option("--breakdown", is_flag=True, help="daily/weekly/monthly: a row per model inside each period.")
@click.option("--order", type=click.Choice(["asc", "desc"]), default="asc", show_default=True,
              help="daily/weekly/monthly: oldest (asc) or newest (desc) period first.")
@click.option("--output", "output", metavar="FILE", type=click.Path(dir_okay=False),
              help="--headless tasks: write the export to FILE (private, 0600).")
@click.option("--no-collect", is_flag=True, help="Report on the database as it is; skip the ingest pass.")
@click.option("--cost-mode", type=click.Choice(["auto", "calculate", "display"]), default=None,
              help="Costs: the source's own figure where the cache-write split is unknown, else ours (auto); ours "
                   "from the tokens (calculate); the source's (display). Default: [pricing] cost_mode, else auto.")
@click.option("--machine", metavar="M", help="Only this machine's sessions (its id or name: docs/teams.md).")
@click.option("--session", "session_id", metavar="ID", help="errors, audit: only this session (an id or a "
              "unique prefix).")
@click.option("--component", metavar="C", help="errors: only this component (main, 'agent <id>', api, ingest, ...).")
@click.option("--kind", metavar="K", help="errors: only this kind (error type: edit_mismatch, api_error, ...).")
@click.option("--tool", metavar="T", help="errors: only this tool's failures.")
@click.option("--search", metavar="TEXT", help="errors: only those whose message, kind, tool, component or session "
              "holds TEXT (any case).")
@click.option("--demo", is_flag=True, help="Open the app on the bundled demo database.")
@click.option("--compact", is_flag=True, help="A small live view for a narrow tmux pane (40×12): quota bars, "
                                              "today against the daily budget, the current session.")
@click.option("--theme", type=click.Choice(["light", "dark"]), default=None,
              help="Colours for a light or a dark terminal (default: [ui] theme, else the terminal's COLORFGBG, "
                   "else dark).")
@click.version_option(__version__, prog_name="nexus-insights")
@click.pass_context
def main(ctx, home, db, claude_dirs, lunaroute_dirs, report, since, until, project, tz, fmt, breakdown, order,
         output, no_collect, cost_mode, machine, session_id, component, kind, tool, search, demo, compact, theme):
    """nexus-insights: which model did what, how long it took, what it cost, which tools fail."""
    ctx.ensure_object(dict)
    ctx.obj.update(home=home, db=db, claude_dirs=claude_dirs, lunaroute_dirs=lunaroute_dirs)
    if ctx.invoked_subcommand is not None:
        return
    if not report and ctx.get_parameter_source("fmt") is click.core.ParameterSource.COMMANDLINE:
        _fail("--format needs --headless REPORT (the dashboard has no output format)")
    if report and compact:
        _fail("--compact is a live view; it does not go with --headless REPORT")
    own = {"--session": session_id, "--component": component, "--kind": kind, "--tool": tool, "--search": search}
    allowed = {"errors": set(own), "audit": {"--session"}}.get(report or "", set())
    stray = [name for name, v in own.items() if v and name not in allowed]
    if stray:
        _fail(f"{', '.join(stray)}: only with --headless errors" + (" (audit takes --session)" if report == "audit"
                                                                     else " or audit (--session)"))
    if report:
        from nexus_tui.headless import run_headless

        opts = {"session_id": session_id, "component": component, "kind": kind, "tool": tool, "search": search}
        sys.exit(run_headless(_settings(ctx), report, since=since, until=until, project=project, tz=tz,
                              fmt=fmt, collect=not no_collect, cost_mode=cost_mode, machine=machine, opts=opts,
                              breakdown=breakdown, order=order, output=output))
    if not _stdout_is_terminal():  # a pipe or a file: a full-screen app would write escape codes into it, forever
        if demo:
            click.echo("nexus-insights: the dashboard needs a terminal (standard output is not one); "
                       "for a report use --headless REPORT", err=True)
            sys.exit(2)
        click.echo("nexus-insights: standard output is not a terminal, so the dashboard is not opened; printing "
                   "the summary report instead (choose one with --headless REPORT)", err=True)
        from nexus_tui.headless import run_headless

        sys.exit(run_headless(_settings(ctx), "summary", since=since, until=until, project=project, tz=tz,
                              fmt=fmt, collect=not no_collect, cost_mode=cost_mode, machine=machine))
    from nexus_tui.app import run_app

    sys.exit(run_app(_settings(ctx), demo=demo, collect=not no_collect, since=since, until=until,
                     project=project, tz=tz, theme=theme, compact=compact, machine=machine) or 0)


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


@main.command()
@_also_after
@click.pass_context
def ingest(ctx):
    """Run one ingest pass over every source and print what it did."""
    from nexus_tui.ingest_cmd import run

    sys.exit(run(_settings(ctx)))


@main.command()
@_also_after(dirs=False)
@click.option("--tmux", is_flag=True, help="Print the line as a tmux format: colours as tmux styles, every # from data "
              "doubled (for status-right's #(...)).")
@click.option("--no-record", is_flag=True, help="Show the line without appending the input to the event log.")
@click.pass_context
def statusline(ctx, tmux, no_record):
    """Claude Code's status-line command: reads its JSON on stdin, records it, prints one line (docs/statusline.md).

    With no stdin it prints the line from what was last recorded. The console script runs it without click; this
    command is the same path, reached for --help or from python -m."""
    from nexus_tui.statusline import main as statusline_main

    args = []
    for opt in ("home", "db"):
        v = (ctx.obj or {}).get(opt)
        if v:
            args += [f"--{opt}", str(v)]
    sys.exit(statusline_main(args + ["--tmux"] * tmux + ["--no-record"] * no_record))


@main.command()
@_also_after
@click.argument("source_url")
@click.option("--machine-id", metavar="ID", help="Whose rows from before machines were recorded (default: this "
              "machine's id).")
@click.pass_context
def merge(ctx, source_url, machine_id):
    """Copy another database's history (a laptop's sqlite:///…/insights.db) into --db; idempotent (docs/teams.md)."""
    from nexus_tui.core.report import safe
    from nexus_tui.machine import identity
    from nexus_tui.store import StoreError, describe_db_error, open_store
    from nexus_tui.store.merge import merge_from

    import os

    from nexus_tui.config import SettingsError, normalize_db_url
    from nexus_tui.store.engine import sqlite_file

    settings = _settings(ctx)
    try:  # as --db takes it: a plain path is a SQLite file
        source_url = normalize_db_url(source_url)
    except SettingsError as e:
        _fail(str(e).replace("--db", "SOURCE_URL"))
    path = sqlite_file(source_url)
    if path is not None and not os.path.isfile(path):  # opening it would create an empty database there
        _fail(f"no database at {path}: nothing to merge")
    dest = _open(settings)
    try:
        src = open_store(source_url)
    except StoreError as e:
        dest.close()
        _fail(str(e))
    try:
        mid, name = identity(settings)
        skipped: dict[str, int] = {}
        unknown: dict[str, int] = {}
        added = merge_from(dest.engine, src.engine, machine_id or mid, None if machine_id else name, skipped,
                           unknown)
    except ValueError as e:
        _fail(str(e))
    except Exception as e:  # noqa: BLE001 - a database failure, told in one sentence
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(e, SQLAlchemyError):
            raise
        _fail(describe_db_error(e, settings.db_url))
    finally:
        src.close()
        dest.close()
    click.echo("merged: " + ", ".join(f"{n} {safe(t)}" for t, n in added.items()))
    if skipped:
        click.echo(f"skipped rows: {sum(skipped.values())} ("
                   + ", ".join(f"{safe(why)}: {n}" for why, n in sorted(skipped.items(), key=lambda kv: -kv[1])) + ")")
    if unknown:
        click.echo(f"values stored as unknown (of the wrong type or out of range): {sum(unknown.values())} ("
                   + ", ".join(f"{safe(col)}: {n}" for col, n in sorted(unknown.items(), key=lambda kv: -kv[1])) + ")")


@main.command("mcp-wrap", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--name", help="Display name of the server (default: the name it reports).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
def mcp_wrap(ctx, name, command):
    """Run an MCP server (stdio) and record each exchange: nexus-insights mcp-wrap -- COMMAND [ARGS...]"""
    from pathlib import Path

    from nexus_tui.config import SettingsError, default_home, load_settings
    from nexus_tui.core.report import one_line
    from nexus_tui.mcp_wrap import run

    o = ctx.obj
    try:  # the wrapped server must start whatever the settings: a bad one is a warning here, not exit 2
        logs_dir = load_settings(o["home"], o["db"], o["claude_dirs"], o.get("lunaroute_dirs", ())).logs_dir
    except SettingsError as e:
        click.echo(f"nexus-insights mcp-wrap: warning: {one_line(e)}", err=True)
        logs_dir = (Path(o["home"]).expanduser() if o["home"] else default_home()) / "logs"
    sys.exit(run(list(command), name=name, logs_dir=logs_dir))


@main.command("mcp-serve")
@_also_after
@click.option("--tz", "tz_name", metavar="ZONE", help="Time zone for days and dates (default: local).")
@click.option("--collect", "collect_first", is_flag=True,
              help="Run one ingest pass before serving (default: serve the database as it is, read-only).")
@click.pass_context
def mcp_serve(ctx, tz_name, collect_first):
    """Serve read-only MCP tools over stdio (usage, budgets, sessions, logs, tool failures) for the agent itself."""
    from nexus_tui.mcp_serve import run

    sys.exit(run(_settings(ctx), tz_name=tz_name, collect=collect_first))


def _address(_ctx, _param, value: str | None) -> str | None:
    """--host as [otlp] host takes it: '' listened on every interface, unasked (None: not given)."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("empty (give an address such as 127.0.0.1, or 0.0.0.0 for every interface)")
    return value.strip()


def _seconds(_ctx, _param, value: float) -> float:
    """--interval as [collector] poll_seconds takes it: 'inf' (OverflowError in the wait), 'nan' or -1 are not."""
    from nexus_tui.config import _number

    try:
        return _number(0.01, maximum=86400.0)(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@main.command()
@_also_after
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option("--interval", type=float, default=2.0, show_default=True, callback=_seconds,
              help="Seconds between passes (0.01 to 86400).")
@click.option("--otlp", is_flag=True, help="Also receive OpenTelemetry logs and metrics over OTLP/HTTP.")
@click.option("--host", default=None, callback=_address,
              help="Address of the OTLP receiver (default: [otlp] host, else 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port of the OTLP receiver (default: [otlp] port, else 4318).")
@click.option("--otlp-token", envvar="NEXUS_INSIGHTS_OTLP_TOKEN", default=None,
              help="OTLP clients must send 'Authorization: Bearer TOKEN' (needed to listen beyond loopback; "
                   "default: [otlp] token).")
@click.pass_context
def collect(ctx, once, interval, otlp, host, port, otlp_token):
    """Run the collector without a UI (a terminal tab or a service); --otlp adds the OTLP/HTTP receiver."""
    from nexus_tui.daemon import run

    settings = _settings(ctx)
    if otlp_token is not None and not otlp_token.strip():
        _fail("--otlp-token is empty")
    store = _open(settings)
    try:
        sys.exit(run(settings, store, once=once, interval=interval, otlp=otlp,
                     host=host if host is not None else settings.otlp_host,
                     port=port if port is not None else settings.otlp_port, token=otlp_token or settings.otlp_token))
    finally:
        store.close()


@main.command()
@_also_after
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; loopback only without "
              "--allow-remote).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default [proxy] port, else 8787).")
@click.option("--upstream", metavar="URL", default=None,
              help="Anthropic API base URL (default [proxy] upstream, else https://api.anthropic.com).")
@click.option("--openai-upstream", metavar="URL", default=None,
              help="Where /v1/chat/completions goes (an OpenAI-compatible server: Ollama, llama.cpp, vLLM).")
@click.option("--store-bodies", is_flag=True, default=None, help="Record request and response bodies too.")
@click.option("--allow-remote", is_flag=True, help="Accept non-loopback clients (needs --token).")
@click.option("--token", envvar="NEXUS_PROXY_TOKEN", default=None,
              help="Token clients must send as the x-nexus-proxy-token header.")
@click.pass_context
def proxy(ctx, host, port, upstream, openai_upstream, store_bodies, allow_remote, token):
    """Run the recording proxy in the foreground: ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude"""
    from nexus_tui.collect.proxy import ProxyConfig, run_foreground

    s = _settings(ctx)
    cfg = ProxyConfig(host=host or s.proxy_host, port=s.proxy_port if port is None else port,
                      upstream=upstream or s.proxy_upstream,
                      openai_upstream=openai_upstream or s.proxy_openai_upstream,
                      store_bodies=s.proxy_store_bodies if store_bodies is None else store_bodies,
                      allow_remote=allow_remote, token=token)
    try:
        cfg.check()
    except ValueError as e:
        _fail(str(e))
    sys.exit(run_foreground(cfg, s.logs_dir, echo=lambda m: click.echo(m, err=m.startswith("nexus-insights:"))))


if __name__ == "__main__":  # pragma: no cover
    main()
