"""``nexus-insights collect``: the collector without a UI, optionally with the OTLP receiver."""

from __future__ import annotations

import os
import select
import signal
import sys
import time

from nexus_tui.collect import progress
from nexus_tui.collect.collector import Collector, PassReport
from nexus_tui.collect.registry import build_sources
from nexus_tui.core.report import plural, shown


def _line(rep: PassReport) -> str:
    from nexus_tui.core.report import safe

    w = rep.written
    return (f"{time.strftime('%H:%M:%S')} read {plural(rep.files_read, 'file')}, {rep.bytes_read / 1e6:.1f} MB: "
            f"+{plural(w.new_tasks, 'task')}, +{plural(w.new_tool_calls - w.new_results_only, 'tool call')}, "
            f"+{plural(w.new_sessions, 'session')}, {plural(rep.skipped_total, 'skipped line')}"
            + (f"; ingest problems: {safe('; '.join(rep.problems))}" if rep.problems else ""))


def _receiver_line(s, last: dict) -> str | None:
    """What the OTLP receiver took since the last line (``last`` is updated), with the records it rejected and why:
    None when nothing came. Its reasons quote data (an event's name): shown through ``safe``."""
    from nexus_tui.core.report import safe

    now = {"requests": s.requests, "log_records": s.log_records, "tasks": s.tasks, "points": s.metric_points,
           "refused": s.rejected, "skipped": dict(s.skipped)}
    before = dict(last) or {"requests": 0, "log_records": 0, "tasks": 0, "points": 0, "refused": 0, "skipped": {}}
    last.clear()
    last.update(now)
    if now["requests"] == before["requests"]:
        return None
    d = {k: now[k] - before[k] for k in ("requests", "log_records", "tasks", "points", "refused")}
    why = {k: n - before["skipped"].get(k, 0) for k, n in now["skipped"].items()}
    why = {k: n for k, n in why.items() if n > 0}
    line = (f"{time.strftime('%H:%M:%S')} OTLP: +{plural(d['requests'], 'request')}, "
            f"+{plural(d['log_records'], 'log record')}, +{plural(d['tasks'], 'task')}"
            + (f", +{plural(d['points'], 'metric point')}" if d["points"] else ""))
    if d["refused"]:
        line += f"; {plural(d['refused'], 'request')} refused (the client was told why)"
    if why:
        top = sorted(why.items(), key=lambda kv: -kv[1])
        line += (f"; {plural(sum(why.values()), 'record')} rejected: "
                 + "; ".join(f"{safe(k)[:160]} ({n:,})" for k, n in top[:5])
                 + (f"; {len(top) - 5} more reasons" if len(top) > 5 else ""))
    return line


class Stop:
    """The stop a signal asks for: a flag and a byte on a pipe the loop sleeps on. A threading.Event set by the
    handler deadlocked the daemon for good (SIGTERM ignored) when the signal came while the main thread was in
    Event.wait holding the Event's lock, the handler then waiting on the same lock: every few stops at
    ``--interval 0``. Nothing here takes a lock."""

    def __init__(self) -> None:
        self.flag = False
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)

    def set(self, *_args) -> None:
        self.flag = True
        try:
            os.write(self._w, b"x")
        except OSError:  # the pipe is full: a stop is already waiting to be read
            pass

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` or until set; whether it is set."""
        if not self.flag:
            select.select([self._r], [], [], max(0.0, seconds))
        return self.flag  # (the pipe lives as long as the process: a handler may still write to it)


def run(settings, store, once: bool = False, interval: float = 2.0, otlp: bool = False, host: str = "127.0.0.1",
        port: int = 4318, token: str | None = None) -> int:
    # the handlers first: a stop asked for as soon as a "... on http://..." line is printed is a clean stop
    stop = Stop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop.set)
    collector = Collector(store, build_sources(settings))
    receiver = None
    if otlp:
        from nexus_tui.collect.otlp import ReceiverThread

        receiver = ReceiverThread(collector, host, port, token=token)  # writes go through the collector's writer
        receiver.start()
        receiver.ready.wait(10)
        if receiver.error is not None:
            print(f"nexus-insights: cannot listen on {shown(host)}:{port}: {shown(receiver.error)}", file=sys.stderr)
            return 2
        print(f"OTLP/HTTP receiver on http://{shown(host)}:{receiver.port} (POST /v1/logs, /v1/metrics)", flush=True)
    proxy = _start_proxy(settings) if getattr(settings, "proxy_enabled", False) else None
    alerts = _alert_monitor(settings, store)
    seen: dict = {}
    try:
        while True:
            stop_progress = progress.on_terminal(collector, sys.stderr)
            try:
                rep = collector.run_once()
            finally:
                if stop_progress is not None:
                    stop_progress()
            if once or rep.written.changed or rep.problems or rep.skipped_total:  # --once: always say what it did
                print(_line(rep), flush=True)
            got = _receiver_line(receiver.stats, seen) if receiver is not None else None
            if got:
                print(got, flush=True)
            if alerts is not None:
                alerts.check()
            if once or stop.wait(interval):
                break
    finally:
        if proxy is not None:  # first: its queued records are written before the last pass
            from nexus_tui.collect.proxy import stats_line

            proxy.stop()
            proxy.join(10)
            print(stats_line(proxy.stats), flush=True)  # records it dropped (a full queue, a failed write) said
            if not once:
                collector.run_once()
        collector.close()
        if alerts is not None:
            alerts.wait()
        if receiver is not None:
            receiver.stop()
            receiver.join(5)
            s = receiver.stats
            got = _receiver_line(s, seen)  # what came since the last pass
            if got:
                print(got, flush=True)
            print(f"receiver: {plural(s.requests, 'request')} ({s.rejected:,} refused), "
                  f"{plural(s.log_records, 'log record')}, {plural(s.tasks, 'new task')}, "
                  f"{plural(s.metric_points, 'metric point')}, {plural(sum(s.skipped.values()), 'record')} rejected",
                  flush=True)
    return 0


def _alert_monitor(settings, store):
    """[alerts] (on by default): after each pass, new quota and budget alerts as a line with the terminal bell, a
    desktop notification where there is one, and the configured command."""
    if not getattr(settings, "alerts_enabled", False):
        return None
    from nexus_tui.collect.alerts import AlertMonitor

    def deliver(a) -> None:
        bell = "\a" if settings.alert_bell and sys.stdout.isatty() else ""
        print(f"{time.strftime('%H:%M:%S')} ALERT {a.message}{bell}", flush=True)

    return AlertMonitor(settings, store.engine, deliver)


def _start_proxy(settings):
    """[proxy] enabled = true: the recording proxy in a thread; its records reach the store through the event log,
    which this collector reads (the one writer)."""
    from nexus_tui.collect.proxy import ProxyThread, config_from_settings

    t = ProxyThread(config_from_settings(settings), settings.logs_dir)
    t.start()
    t.ready.wait(10)
    if t.error is not None:
        print(f"nexus-insights: recording proxy not started on {shown(settings.proxy_host)}:{settings.proxy_port}: "
              f"{shown(t.error)}", file=sys.stderr)
        return None
    print(f"recording proxy on http://{shown(settings.proxy_host)}:{t.port} -> {shown(settings.proxy_upstream)}",
          flush=True)
    return t
