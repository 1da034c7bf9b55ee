"""``nexus-insights collect``: the collector without a UI, optionally with the OTLP receiver."""

from __future__ import annotations

import signal
import sys
import threading
import time

from nexus_tui.collect.collector import Collector, PassReport
from nexus_tui.collect.registry import build_sources
from nexus_tui.core.report import plural


def _line(rep: PassReport) -> str:
    from nexus_tui.core.report import safe

    w = rep.written
    return (f"{time.strftime('%H:%M:%S')} read {plural(rep.files_read, 'file')}, {rep.bytes_read / 1e6:.1f} MB: "
            f"+{plural(w.new_tasks, 'task')}, +{plural(w.new_tool_calls - w.new_results_only, 'tool call')}, "
            f"+{plural(w.new_sessions, 'session')}, {plural(rep.skipped_total, 'skipped line')}"
            + (f"; ingest problems: {safe('; '.join(rep.problems))}" if rep.problems else ""))


def run(settings, store, once: bool = False, interval: float = 2.0, otlp: bool = False, host: str = "127.0.0.1",
        port: int = 4318) -> int:
    collector = Collector(store, build_sources(settings))
    receiver = None
    if otlp:
        from nexus_tui.collect.otlp import ReceiverThread

        receiver = ReceiverThread(collector, host, port)  # writes go through the collector's single writer
        receiver.start()
        receiver.ready.wait(10)
        if receiver.error is not None:
            print(f"nexus-insights: cannot listen on {host}:{port}: {receiver.error}", file=sys.stderr)
            return 2
        print(f"OTLP/HTTP receiver on http://{host}:{receiver.port} (POST /v1/logs, /v1/metrics)", flush=True)
    proxy = _start_proxy(settings) if getattr(settings, "proxy_enabled", False) else None
    alerts = _alert_monitor(settings, store)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while True:
            rep = collector.run_once()
            if once or rep.written.changed or rep.problems or rep.skipped_total:  # --once: always say what it did
                print(_line(rep), flush=True)
            if alerts is not None:
                alerts.check()
            if once or stop.wait(interval):
                break
    finally:
        if proxy is not None:  # first: its queued records are written before the last pass
            proxy.stop()
            proxy.join(10)
            if not once:
                collector.run_once()
        collector.close()
        if alerts is not None:
            alerts.wait()
        if receiver is not None:
            receiver.stop()
            receiver.join(5)
            s = receiver.stats
            print(f"receiver: {plural(s.requests, 'request')}, {plural(s.log_records, 'log record')}, "
                  f"{plural(s.tasks, 'new task')}, {plural(s.metric_points, 'metric point')}, {s.rejected} rejected",
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
        print(f"nexus-insights: recording proxy not started on {settings.proxy_host}:{settings.proxy_port}: "
              f"{t.error}", file=sys.stderr)
        return None
    print(f"recording proxy on http://{settings.proxy_host}:{t.port} -> {settings.proxy_upstream}", flush=True)
    return t
