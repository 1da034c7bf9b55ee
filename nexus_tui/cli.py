"""Command line: a thin click layer. Textual is imported only on the TUI path."""

from __future__ import annotations

import sys

import click

from nexus_tui import __version__

REPORTS = ("summary", "sessions", "models", "tools", "daily", "requests", "conversations", "quota")


def _settings(ctx: click.Context):
    from nexus_tui.config import load_settings

    o = ctx.obj
    return load_settings(o["home"], o["db"], o["claude_dirs"], o.get("lunaroute_dirs", ()))


def _open(settings):
    from nexus_tui.store import StoreError, open_store

    try:
        return open_store(settings.db_url)
    except StoreError as e:
        click.echo(f"nexus-insights: {e}", err=True)
        sys.exit(2)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), envvar="NEXUS_INSIGHTS_HOME",
              help="Configuration home (default ~/.config/nexus).")
@click.option("--db", "db", metavar="URL", envvar="NEXUS_INSIGHTS_DB",
              help="Database URL (default sqlite:///<home>/insights.db).")
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
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
@click.option("--no-collect", is_flag=True, help="Report on the database as it is; skip the ingest pass.")
@click.option("--cost-mode", type=click.Choice(["auto", "calculate", "display"]), default=None,
              help="Costs: the source's own figure where the cache-write split is unknown, else ours (auto); ours "
                   "from the tokens (calculate); the source's (display). Default: [pricing] cost_mode, else auto.")
@click.option("--demo", is_flag=True, help="Open the app on the bundled demo database.")
@click.version_option(__version__, prog_name="nexus-insights")
@click.pass_context
def main(ctx, home, db, claude_dirs, lunaroute_dirs, report, since, until, project, tz, fmt, no_collect, cost_mode,
         demo):
    """nexus-insights: which model did what, how long it took, what it cost, which tools fail."""
    ctx.ensure_object(dict)
    ctx.obj.update(home=home, db=db, claude_dirs=claude_dirs, lunaroute_dirs=lunaroute_dirs)
    if ctx.invoked_subcommand is not None:
        return
    if report:
        from nexus_tui.headless import run_headless

        sys.exit(run_headless(_settings(ctx), report, since=since, until=until, project=project, tz=tz,
                              fmt=fmt, collect=not no_collect, cost_mode=cost_mode))
    from nexus_tui.app import run_app

    sys.exit(run_app(_settings(ctx), demo=demo, collect=not no_collect) or 0)


def _die_on_term(kill_workers) -> None:
    """SIGTERM (and SIGHUP): kill the parser workers, then end with the shell's code for the signal (128 + N).
    Nothing half-written stays: the open transaction is rolled back by SQLite."""
    import os
    import signal

    def handler(signum, _frame):
        kill_workers()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


@main.command()
@click.pass_context
def ingest(ctx):
    """Run one ingest pass over every source and print what it did."""
    import gc

    # a one-shot bulk load makes millions of short-lived containers and hardly any cycles: collect rarely
    gc.set_threshold(100_000, 50, 100)
    from nexus_tui.collect import parsing
    from nexus_tui.collect.registry import build_sources

    from nexus_tui.collect import price_cache

    _die_on_term(parsing.kill_workers)
    settings = _settings(ctx)
    sources = build_sources(settings)
    price_cache.load(settings.home)  # a few new lines are priced without importing genai-prices' tables
    # plan the pass and start the parser workers first: they parse while this process imports the store's
    # libraries (SQLAlchemy, SQLModel: most of the start-up) and opens the database
    ahead = parsing.start(settings.db_url, sources)
    try:
        store = _open(settings)
        from nexus_tui.collect.collector import Collector

        collector = Collector(store, sources)
        try:
            rep = collector.run_once(ahead)
        finally:
            collector.close()
    finally:
        ahead.close()
    price_cache.save(settings.home)
    w = rep.written
    click.echo(f"files: {rep.files_seen} seen, {rep.files_read} read ({rep.bytes_read / 1e6:.1f} MB, "
               f"{rep.lines} lines) in {rep.seconds:.2f}s")
    click.echo(f"new: {w.new_sessions} sessions, {w.new_tasks} tasks ({w.updated_tasks} updated), "
               f"{w.new_tool_calls} tool calls, {w.new_errors} errors")
    if rep.skipped:
        click.echo(f"skipped lines: {rep.skipped_total} (" +
                   ", ".join(f"{k}: {v}" for k, v in rep.skipped.most_common()) + ")")
    else:
        click.echo("skipped lines: 0")
    if rep.passed_over:
        click.echo(f"passed over: {sum(rep.passed_over.values())} *.jsonl entries (" +
                   ", ".join(f"{k}: {v}" for k, v in rep.passed_over.most_common()) + ")")
    for p in rep.problems:
        click.echo(f"problem: {p}", err=True)
    if not settings.claude_dirs or not any(d.is_dir() for d in settings.claude_dirs):
        click.echo("no Claude Code transcripts found in: " + ", ".join(str(d) for d in settings.claude_dirs)
                   + " (use --claude-dir or CLAUDE_CONFIG_DIR)", err=True)
    store.close()
    # a database problem fails the command even when some rows were written (a damaged file must be noticed)
    sys.exit(1 if rep.db_problems or (rep.problems and not w.changed) else 0)


@main.command("mcp-wrap", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--name", help="Display name of the server (default: the name it reports).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
def mcp_wrap(ctx, name, command):
    """Run an MCP server (stdio) and record each exchange: nexus-insights mcp-wrap -- COMMAND [ARGS...]"""
    from nexus_tui.mcp_wrap import run

    settings = _settings(ctx)
    sys.exit(run(list(command), name=name, logs_dir=settings.logs_dir))


@main.command()
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between passes.")
@click.option("--otlp", is_flag=True, help="Also receive OpenTelemetry logs and metrics over OTLP/HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the OTLP receiver.")
@click.option("--port", type=int, default=4318, show_default=True, help="Port of the OTLP receiver.")
@click.pass_context
def collect(ctx, once, interval, otlp, host, port):
    """Run the collector without a UI (a terminal tab or a service); --otlp adds the OTLP/HTTP receiver."""
    from nexus_tui.daemon import run

    settings = _settings(ctx)
    store = _open(settings)
    try:
        sys.exit(run(settings, store, once=once, interval=interval, otlp=otlp, host=host, port=port))
    finally:
        store.close()


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; loopback only without "
              "--allow-remote).")
@click.option("--port", type=int, default=None, help="Port (default [proxy] port, else 8787).")
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
        click.echo(f"nexus-insights: {e}", err=True)
        sys.exit(2)
    sys.exit(run_foreground(cfg, s.logs_dir, echo=lambda m: click.echo(m, err=m.startswith("nexus-insights:"))))


if __name__ == "__main__":  # pragma: no cover
    main()
