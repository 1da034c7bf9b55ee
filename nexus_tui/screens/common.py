"""Small formatting helpers shared by the screens."""

from __future__ import annotations

import re
from datetime import datetime

from nexus_tui.core.fmt import fmt_duration, money_column, plural  # noqa: F401  (re-exported)
from nexus_tui.core.report import fmt_int, fmt_pct, fmt_usd  # noqa: F401  (re-exported)

fmt_ms = fmt_duration  # every duration reads '41s', '2h 05m', '3d 4h', on a screen as in a report
from nexus_tui.widgets.safe import escape


def local_time(app, ms: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, app.tz).strftime(fmt)


_DATE_SUFFIX = re.compile(r"-20\d{6}$")


def short_model(m: str | None) -> str:
    """'claude-sonnet-4-5-20250929' -> 'sonnet-4-5' (the full name is in the detail views)."""
    return _DATE_SUFFIX.sub("", (m or "-").replace("claude-", ""))


def rating_text(r: int | None) -> str:
    return {1: "+ helpful", 0: "- not helpful"}.get(r, "")


def rating_summary(helpful: int, not_helpful: int) -> str:
    if not helpful and not not_helpful:
        return ""
    return f"+{helpful} -{not_helpful}"


def empty_hint(app, sessions_in_db: int | None = None) -> str:
    """(Markup, its data escaped.) What to do when a screen has nothing to show: widen the range, or where logs are looked for and how to
    point at others (never a blank screen)."""
    if sessions_in_db:
        return escape(f"No data in this range ({app.range_label()}); the database holds "
                      f"{plural(sessions_in_db, 'session')}.\n\n"
                      "Widen the range with t, change the filters with f (ctrl+r there clears them).")
    s = app.settings
    dirs = ", ".join(str(d) for d in s.claude_dirs) or "(none)"
    collector = getattr(app, "collector", None)
    first = collector is not None and collector.last is None and not getattr(app, "demo", False)
    progress = app.first_pass_progress() if first else ""
    head = [f"Reading your history for the first time{f' ({progress})' if progress else ''}…",
            "Sessions appear here as their files are read."] if first else ["No sessions yet."]
    lines = [*head, "",
             f"Claude Code transcripts are looked for in: {dirs}",
             f"nexus event logs (mcp-wrap, proxy) in: {s.logs_dir}"]
    luna = getattr(s, "lunaroute_dirs", None)
    if luna:
        lines.append("LunaRoute recordings in: " + ", ".join(str(d) for d in luna))
    lines += ["",
              "Point at other folders with --claude-dir DIR (repeatable) or CLAUDE_CONFIG_DIR=dir1,dir2"
              + (", --lunaroute-dir DIR" if luna else "") + ".",
              "New data appears here by itself within a couple of seconds while the app runs"
              + (" (the collector is off: started with --no-collect)." if getattr(app, "collector", 1) is None
                 and not getattr(app, "demo", False) else "."),
              "Or look around the bundled demo: nexus-insights --demo"]
    return escape("\n".join(lines))  # markup text (Static.update): the folders and the range shown as they are


def theme_colour(app, name: str, fallback: str) -> str:
    """A colour of the app's current theme (``text-error``, ``text-warning``, ``text-success``: readable on its
    background, light or dark) for Rich ``Text`` styles, which cannot name theme variables; ``fallback`` without
    an app (pure rendering in tests)."""
    try:
        value = app.theme_variables.get(name) if app is not None else None
    except Exception:  # noqa: BLE001 - not running yet
        value = None
    return value if isinstance(value, str) and value.startswith("#") else fallback


def level_styles(app) -> dict[str, str]:
    """Styles of the ok / warn / critical levels (quota bars, budgets) in the app's theme."""
    return {"ok": theme_colour(app, "text-success", "green"), "warn": theme_colour(app, "text-warning", "yellow"),
            "critical": "bold " + theme_colour(app, "text-error", "red")}
