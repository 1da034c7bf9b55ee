"""``nexus-insights ingest``: one pass over every source, its report printed. Run by the click command and, for a
plain ``ingest`` (only --home/--db before it), straight from the console script without importing click
(``entry.py``): a pass after a few appended lines is mostly start-up, and click is a sixth of it."""

from __future__ import annotations

import sys


def _echo(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:  # a closed pipe (``| head``): the pass is done, its report goes nowhere
        pass


def fail(msg: str) -> int:
    """One line on stderr (control characters from data shown escaped); the exit code 2."""
    from nexus_tui.core.report import one_line

    _echo(f"nexus-insights: {one_line(msg)}", err=True)
    return 2


def _open(settings):
    from nexus_tui.machine import identity
    from nexus_tui.store import StoreError, open_store

    try:
        return open_store(settings.db_url, machine=identity(settings))
    except (StoreError, ValueError) as e:
        fail(str(e))
        return None


def run(settings) -> int:
    """Run one ingest pass over every source and print what it did; the exit code."""
    import gc

    # a one-shot bulk load makes millions of short-lived containers and hardly any cycles: collect rarely (and as
    # before afterwards: tests run the command in their own process)
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        return _run(settings)
    finally:
        gc.set_threshold(*thresholds)


def _run(settings) -> int:
    import time
    from collections import Counter

    from nexus_tui.collect import parsing
    from nexus_tui.collect.registry import build_sources

    from nexus_tui.collect import price_cache

    _die_on_term(parsing.kill_workers)
    sources = build_sources(settings)
    price_cache.load(settings.home)  # a few new lines are priced without importing genai-prices' tables
    # plan the pass and start the parser workers first: they parse while this process imports the store's
    # libraries (SQLAlchemy, SQLModel: most of the start-up) and opens the database
    from nexus_tui.machine import identity

    try:
        machine, machine_name = identity(settings)
    except ValueError:
        machine = machine_name = None  # told by _open below
    ahead = parsing.start(settings.db_url, sources, machine=machine)
    if ahead.nothing_to_read(settings.db_url, sources):  # nothing changed: the store is not even loaded
        plans = list(ahead.plans.values())
        passed = Counter()
        for p in plans:
            passed.update(p.passed_over)
        _print_pass(sum(p.files_seen for p in plans), 0, 0, 0, time.perf_counter() - ahead.started,
                    (0, 0, 0, 0, 0, 0), Counter(), passed)
        _no_transcripts_note(settings)
        return 0
    from nexus_tui.collect.light import small_pass

    light = small_pass(settings.db_url, ahead, sources, machine, machine_name)
    if light is not None:  # a few new lines, written without loading the store's libraries (collect/light.py)
        price_cache.save(settings.home)
        w = light.written
        _print_pass(light.files_seen, light.files_read, light.bytes_read, light.lines, light.seconds,
                    (w.new_sessions, w.new_tasks, w.updated_tasks, w.new_tool_calls, w.new_errors, w.new_results_only), light.skipped,
                    light.passed_over)
        _no_transcripts_note(settings)
        return 0
    try:
        store = _open(settings)
        if store is None:
            return 2
        from nexus_tui.collect import progress
        from nexus_tui.collect.collector import Collector

        collector = Collector(store, sources)
        stop = progress.on_terminal(collector, sys.stderr)
        try:
            rep = collector.run_once(ahead)
        finally:
            if stop is not None:
                stop()
            collector.close()
    finally:
        ahead.close()
    price_cache.save(settings.home)
    from nexus_tui.core.report import one_line

    w = rep.written
    _print_pass(rep.files_seen, rep.files_read, rep.bytes_read, rep.lines, rep.seconds,
                (w.new_sessions, w.new_tasks, w.updated_tasks, w.new_tool_calls, w.new_errors, w.new_results_only), rep.skipped,
                rep.passed_over)
    for p in rep.problems:
        _echo(f"ingest problem: {one_line(p)}", err=True)
    _no_transcripts_note(settings)
    store.close()
    # a database problem fails the command even when some rows were written (a damaged file must be noticed)
    return 1 if rep.db_problems or (rep.problems and not w.changed) else 0


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


def _print_pass(files_seen, files_read, bytes_read, lines, seconds, new, skipped, passed_over) -> None:
    from nexus_tui.core.report import plural, safe

    sessions, tasks, updated, tool_calls, errors, results_only = new
    _echo(f"files: {files_seen:,} seen, {files_read:,} read ({bytes_read / 1e6:.1f} MB, "
          f"{plural(lines, 'line')}) in {seconds:.2f}s")
    # a result whose call line was not read (refused, or not written yet) is stored, but the Tools screen and the
    # reports count calls by their tool: say how many of the new ones have none yet
    unnamed = f" ({results_only:,} of them results whose call was not read)" if results_only else ""
    _echo(f"new: {plural(sessions, 'session')}, {plural(tasks, 'task')} ({updated:,} updated), "
          f"{plural(tool_calls, 'tool call')}{unnamed}, {plural(errors, 'failure')} recorded "
          f"(tool failures and API errors)")
    if skipped:
        _echo(f"skipped lines: {sum(skipped.values()):,} (" +
              ", ".join(f"{safe(k)}: {v:,}" for k, v in skipped.most_common()) + ")")
    else:
        _echo("skipped lines: 0")
    if passed_over:
        _echo(f"passed over: {plural(sum(passed_over.values()), 'entry', 'entries')} (" +
              ", ".join(f"{safe(k)}: {v}" for k, v in passed_over.most_common()) + ")")


def _no_transcripts_note(settings) -> None:
    from nexus_tui.core.report import safe

    if not settings.claude_dirs or not any(d.is_dir() for d in settings.claude_dirs):
        _echo("no Claude Code transcripts found in: " + ", ".join(safe(d) for d in settings.claude_dirs)
                   + " (use --claude-dir or CLAUDE_CONFIG_DIR)", err=True)
