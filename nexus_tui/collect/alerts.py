"""Alerts, the I/O edge: read the snapshots and today's / this month's spend, run the pure state machine
(``core/alerts.py``), remember what was raised in ``<home>/alerts.json`` (so the dashboard and the ``collect``
daemon, and a restart, raise each alert once), and deliver: the caller's callback (bell and in-app notification in
the dashboard, a printed line in the daemon), a desktop notification where the system has one (``notify-send``,
``osascript``; optional), and the configured ``[alerts] command`` with the alert as JSON on stdin."""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime

from nexus_tui.core.alerts import Alert, AlertState
from nexus_tui.core.report import one_line

COMMAND_TIMEOUT_S = 10.0
STATE_FILE = "alerts.json"


def desktop_notifier() -> list[str] | None:
    """The argv prefix of the system's notifier, or None: notify-send (Linux, BSD), osascript (macOS)."""
    if sys.platform == "darwin" and shutil.which("osascript"):
        return ["osascript"]
    path = shutil.which("notify-send")
    return [path] if path else None


def _desktop(alert: Alert, notifier: list[str]) -> None:
    if notifier[0].endswith("osascript"):
        # the text goes in as AppleScript string literals: quotes and backslashes escaped
        def lit(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        argv = notifier + ["-e", f"display notification {lit(alert.message)} with title {lit('nexus-insights')}"]
    else:
        # notify-send's body is markup (<b>, <a href>, <img>) on most notification servers: shown as text
        argv = notifier + ["--app-name=nexus-insights", "--", alert.title, html.escape(alert.message, quote=False)]
    try:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except OSError:
        pass


def run_command(command: str, alert: Alert) -> int | None:
    """``[alerts] command`` through the shell, the alert as one JSON object on stdin; its exit code (None: failed to
    start or timed out)."""
    try:
        return subprocess.run(command, shell=True, input=alert.to_json().encode() + b"\n", stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT_S, check=False).returncode
    except (OSError, subprocess.SubprocessError):
        return None


class AlertMonitor:
    """Checks after each collector pass; ``deliver`` is called with each new alert (on the checking thread)."""

    def __init__(self, settings, engine, deliver: Callable[[Alert], None] | None = None, tz=None,
                 desktop: bool | None = None, now: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.deliver = deliver
        self.tz = tz
        self.now = now or (lambda: int(time.time() * 1000))
        want_desktop = settings.alert_desktop if desktop is None else desktop
        self.notifier = desktop_notifier() if want_desktop else None
        self.path = settings.home / STATE_FILE
        self._lock = threading.Lock()
        self._commands: list[threading.Thread] = []

    def _load(self) -> AlertState:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        return AlertState.loads(text, self.settings.alert_thresholds)

    def _save(self, st: AlertState) -> None:
        try:
            from nexus_tui.private import private_dir, write_private

            private_dir(self.path.parent)
            write_private(self.path, st.dumps().encode("utf-8"))  # 0600, replaced atomically
        except OSError:
            pass

    def evaluate(self, now_ms: int | None = None) -> list[Alert]:
        """The new alerts at ``now_ms`` (state read and written, nothing delivered)."""
        from nexus_tui.core.filters import Filters
        from nexus_tui.core.scoring import period_bounds
        from nexus_tui.store.read import quota as SQ
        from nexus_tui.store.read import usage as RU

        now_ms = self.now() if now_ms is None else now_ms
        tz = self.tz or datetime.now().astimezone().tzinfo
        with self._lock:  # the state file is read, changed and written as one step in this process
            st = self._load()
            new = st.quota(SQ.snapshots(self.engine, now_ms - 8 * SQ.DAY_MS), now_ms)
            s = self.settings
            if s.daily_budget_usd or s.monthly_budget_usd:
                d0, _ = period_bounds(now_ms, tz, "day")
                m0, _ = period_bounds(now_ms, tz, "month")
                f = Filters().with_(cost_mode=getattr(s, "cost_mode", "auto"))
                day, month = RU.spend_in_windows(self.engine, f, [(d0, now_ms + 1), (m0, now_ms + 1)])
                label = datetime.fromtimestamp(now_ms / 1000, tz)
                new += st.budget("daily", day, s.daily_budget_usd, label.strftime("%Y-%m-%d"), now_ms)
                new += st.budget("monthly", month, s.monthly_budget_usd, label.strftime("%Y-%m"), now_ms)
            self._save(st)
        return new

    def check(self, now_ms: int | None = None) -> list[Alert]:
        """Evaluate and deliver every new alert; never raises (an alert must not stop the collector)."""
        if not self.settings.alerts_enabled:
            return []
        try:
            new = self.evaluate(now_ms)
        except Exception as e:  # noqa: BLE001 - a locked database, a broken file: try again next pass
            print(f"nexus-insights: alerts not checked: {type(e).__name__}: {one_line(e)}", file=sys.stderr)
            return []
        for a in new:
            if self.deliver is not None:
                try:
                    self.deliver(a)
                except Exception:  # noqa: BLE001
                    pass
            if self.notifier:
                _desktop(a, self.notifier)
            if self.settings.alert_command:
                t = threading.Thread(target=run_command, args=(self.settings.alert_command, a), daemon=True)
                t.start()
                self._commands.append(t)
        self._commands = [t for t in self._commands if t.is_alive()]
        return new

    def wait(self, timeout: float = COMMAND_TIMEOUT_S) -> None:
        """Let the alert commands started finish (before the process exits)."""
        for t in self._commands:
            t.join(timeout)
