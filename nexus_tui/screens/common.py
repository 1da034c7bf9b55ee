"""Small formatting helpers shared by the screens."""

from __future__ import annotations

import re
from datetime import datetime

from nexus_tui.core.report import fmt_int, fmt_ms, fmt_pct, fmt_usd  # noqa: F401  (re-exported)


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


def empty_hint(app) -> str:
    dirs = ", ".join(str(d) for d in app.settings.claude_dirs) or "(none)"
    return ("No data in this range yet.\n\n"
            f"Claude Code transcripts are looked for in: {dirs}\n"
            "Point at other folders with --claude-dir DIR or CLAUDE_CONFIG_DIR=dir1,dir2; widen the range with t;\n"
            "or try the bundled demo: nexus-insights --demo")
