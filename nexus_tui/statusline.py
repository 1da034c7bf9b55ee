"""``nexus-insights statusline``: Claude Code's status-line command, fast and unbreakable.

Claude Code runs the command after every assistant message with a JSON object on stdin (docs/statusline.md) and
drops a slow command. This path therefore imports the standard library only (no click, SQLAlchemy, SQLModel,
Textual, pandas or genai-prices; ``tests/test_statusline.py`` checks the modules loaded) and never waits for a
lock:

1. read stdin (if it is not a terminal), guard every field's type and range;
2. record it: one line appended to the event log (``<home>/logs/YYYY-MM-DD.jsonl``, type ``statusline``) with a
   single ``O_APPEND`` write; the collector turns it into quota snapshots and the session's status;
3. print one line: model · context used % · session cost · today's cost / daily budget · 5-hour used % with a
   pace marker and the time to reset · 7-day used %.

With no input (a terminal, or tmux's ``#(nexus-insights statusline)``) the line is made from what is stored: the
last status-line event of the event log and today's cost from the database. Whatever fails (bad input, a locked,
missing or newer database, an unreadable config), the line shows what it can and the exit code is 0.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

from nexus_tui.core.quota import fmt_duration, pace, window_label

DEFAULT_SEGMENTS = ("model", "context", "session_cost", "today", "five_hour", "seven_day")
DEFAULT_WARN, DEFAULT_CRITICAL = 70.0, 90.0
MAX_INPUT_BYTES = 1 << 20
TAIL_BYTES = 256 * 1024
_RESET = "\x1b[0m"
_COLOURS = {"ok": "\x1b[32m", "warn": "\x1b[33m", "critical": "\x1b[31m", "dim": "\x1b[2m"}
# --tmux: tmux reads a status line's #() output as a format (#[fg=red] styles it, ## is one #): colours as tmux
# styles, and every # of the line's text doubled, so a model or window name holding "#[...]" is shown, not applied
_TMUX_RESET = "#[default]"
_TMUX_COLOURS = {"ok": "#[fg=green]", "warn": "#[fg=yellow]", "critical": "#[fg=red]", "dim": "#[dim]"}
_KNOWN_SCHEMA = 64  # reading the few columns used here works on any version we know of; newer: best effort


# ---------------------------------------------------------------- guarded values
def _num(v, lo: float = 0.0, hi: float = 1e12) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an integer of 400 digits: JSON has no limit (it cost the whole input)
        return None
    if not math.isfinite(f) or f < lo or f > hi:
        return None
    return f


def _int(v, hi: float) -> int | None:
    f = _num(v, 0, hi)
    return int(f) if f is not None else None


def _text(v, limit: int = 200) -> str | None:
    if not isinstance(v, str) or not v:
        return None
    # shown in a terminal: no control characters from data
    return "".join(c if c.isprintable() else "?" for c in v[:limit])


def parse_input(raw: bytes | str) -> dict | None:
    """The fields used here, each checked for type and range; None when the input is not a JSON object."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError, TypeError):
        return None
    if not isinstance(data, dict):
        return None

    def sub(d, k):
        v = d.get(k) if isinstance(d, dict) else None
        return v if isinstance(v, dict) else {}

    model, cost, ctx, ws = sub(data, "model"), sub(data, "cost"), sub(data, "context_window"), sub(data, "workspace")
    out: dict = {
        "session_id": _text(data.get("session_id")),
        "model": _text(model.get("display_name")) or _text(model.get("id")),
        "model_id": _text(model.get("id")),
        "version": _text(data.get("version"), 40),
        "cwd": _text(ws.get("current_dir"), 1000) or _text(data.get("cwd"), 1000),
        "context_used_pct": _num(ctx.get("used_percentage"), 0, 100),
        "context_window_size": _int(ctx.get("context_window_size"), 1e9),
        "cost_usd": _num(cost.get("total_cost_usd"), 0, 1e7),
        # the event schema's bound (its "count"): a larger one made the whole event refused, its quota lost
        "duration_ms": _int(cost.get("total_duration_ms"), 1e10),
        "api_duration_ms": _int(cost.get("total_api_duration_ms"), 1e10),
        "lines_added": _int(cost.get("total_lines_added"), 1e9),
        "lines_removed": _int(cost.get("total_lines_removed"), 1e9),
    }
    windows = {}
    rl = data.get("rate_limits")
    if isinstance(rl, dict):
        for name, w in list(rl.items())[:16]:
            if not isinstance(name, str) or not isinstance(w, dict) or len(name) > 64:
                continue
            used = _num(w.get("used_percentage"), 0, 1000)
            resets = _num(w.get("resets_at"), 0, 1e11)  # epoch seconds
            if used is None:
                continue
            windows[_text(name, 64)] = {"used_percentage": used,
                                        "resets_at": int(resets) if resets is not None else None}
    out["rate_limits"] = windows
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------- where things are
def _home(argv_home: str | None) -> Path:
    if argv_home:
        return Path(argv_home).expanduser()
    env = os.environ.get("NEXUS_INSIGHTS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".config" / "nexus"


def _sqlite_path(db: str | None, home: Path) -> Path | None:
    url = db or os.environ.get("NEXUS_INSIGHTS_DB")
    if not url:
        return home / "insights.db"
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    if "://" not in url:  # a plain path is a SQLite file
        return Path(url).expanduser()
    return None  # another backend: today's cost is left out on this fast path


def _config(home: Path) -> dict:
    """[statusline] and [budget] from insights.toml, each value checked; a bad file or value falls back."""
    cfg = {"segments": DEFAULT_SEGMENTS, "warn": DEFAULT_WARN, "critical": DEFAULT_CRITICAL, "daily_usd": None}
    try:
        import tomllib

        raw = tomllib.loads((home / "insights.toml").read_text(encoding="utf-8"))
    except Exception:
        return cfg
    sl = raw.get("statusline") if isinstance(raw.get("statusline"), dict) else {}
    seg = sl.get("segments")
    if isinstance(seg, list) and seg and all(isinstance(s, str) and s in DEFAULT_SEGMENTS for s in seg):
        cfg["segments"] = tuple(seg)
    warn, crit = _num(sl.get("warn_pct"), 0, 1000), _num(sl.get("critical_pct"), 0, 1000)
    if warn is not None:
        cfg["warn"] = warn
    if crit is not None:
        cfg["critical"] = crit
    budget = raw.get("budget") if isinstance(raw.get("budget"), dict) else {}
    d = _num(budget.get("daily_usd"), 0, 1e9)
    cfg["daily_usd"] = d if d else None
    return cfg


# ---------------------------------------------------------------- recording
def record(home: Path, fields: dict, now: float | None = None) -> bool:
    """Append one ``statusline`` event to the event log: one O_APPEND write, no lock, never raises."""
    try:
        now = time.time() if now is None else now
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        from nexus_tui.core.redact import redact_event  # stdlib only

        ev = redact_event({"v": 1, "type": "statusline", "ts": ts, **fields})  # a cwd or model holding a secret
        line = (json.dumps(ev, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8", "replace")
        from nexus_tui.private import append_lines, open_append, private_dir  # stdlib only

        logs = private_dir(home / "logs")  # 0700, and so is every missing parent (os.makedirs gave those 0777)
        path = logs / (time.strftime("%Y-%m-%d", time.gmtime(now)) + ".jsonl")
        fd = open_append(path)  # 0600 whatever the umask
        try:
            return append_lines(fd, line)
        finally:
            os.close(fd)
    except Exception:
        return False


def last_recorded(home: Path) -> dict | None:
    """The newest ``statusline`` event in the last two event-log files (read from their ends only)."""
    logs = home / "logs"
    try:
        files = sorted((p for p in logs.iterdir() if p.name.endswith(".jsonl") and p.is_file()),
                       key=lambda p: p.name, reverse=True)[:2]
    except OSError:
        return None
    for p in files:
        try:
            with open(p, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - TAIL_BYTES))
                data = f.read(TAIL_BYTES)
        except OSError:
            continue
        for line in reversed(data.split(b"\n")):
            if b'"statusline"' not in line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("type") == "statusline":
                return parse_input(json.dumps(_as_input(ev)))
    return None


def _as_input(ev: dict) -> dict:
    """A recorded event in the shape of Claude Code's input, so one parser guards both."""
    return {"session_id": ev.get("session_id"), "version": ev.get("version"),
            "model": {"display_name": ev.get("model"), "id": ev.get("model_id")},
            "workspace": {"current_dir": ev.get("cwd")},
            "context_window": {"used_percentage": ev.get("context_used_pct"),
                               "context_window_size": ev.get("context_window_size")},
            "cost": {"total_cost_usd": ev.get("cost_usd"), "total_duration_ms": ev.get("duration_ms"),
                     "total_api_duration_ms": ev.get("api_duration_ms"),
                     "total_lines_added": ev.get("lines_added"), "total_lines_removed": ev.get("lines_removed")},
            "rate_limits": ev.get("rate_limits")}


# ---------------------------------------------------------------- today's cost
def today_cost(db_path: Path | None, now: float | None = None) -> float | None:
    """Today's (local day) cost from the store: whole hours from the hourly rollups, the ends from the tasks.

    Read-only, no waiting: a locked, missing or unreadable database gives None."""
    if db_path is None or not db_path.is_file():
        return None
    import sqlite3

    now = time.time() if now is None else now
    lt = time.localtime(now)
    midnight = int(time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1)) * 1000)
    now_ms = int(now * 1000)
    hour = 3_600_000
    first_full = -(-midnight // hour) * hour  # first hour boundary at or after midnight
    last_full = (now_ms // hour) * hour  # start of the current hour
    try:
        from nexus_tui.private import check_sqlite_path  # stdlib only

        check_sqlite_path(db_path)
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=0.05)
    except (sqlite3.Error, OSError):
        return None
    try:
        ver = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        if ver is not None and ver > _KNOWN_SCHEMA:
            return None
        total = 0.0
        if first_full < last_full:
            total += conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM task_hours WHERE bucket_ms >= ? "
                                  "AND bucket_ms < ?", (first_full, last_full)).fetchone()[0]
            edges = ((midnight, first_full), (last_full, now_ms + 1))
        else:
            edges = ((midnight, now_ms + 1),)
        for lo, hi in edges:
            if lo < hi:
                total += conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM tasks WHERE ts_ms >= ? AND ts_ms < ?",
                                      (lo, hi)).fetchone()[0]
        return float(total)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


# ---------------------------------------------------------------- the line
def _level(pct: float | None, cfg: dict) -> str:
    if pct is None:
        return "dim"
    if pct >= cfg["critical"]:
        return "critical"
    if pct >= cfg["warn"]:
        return "warn"
    return "ok"


def render(info: dict | None, today: float | None, cfg: dict, now: float | None = None,
           colour: bool = True, tmux: bool = False) -> str:
    """The one line, from guarded input (or what was stored) and today's cost (``tmux``: as a tmux format)."""
    now_ms = int((time.time() if now is None else now) * 1000)
    info = info or {}
    parts: list[str] = []
    colours, reset = (_TMUX_COLOURS, _TMUX_RESET) if tmux else (_COLOURS, _RESET)

    from nexus_tui.core.redact import redact  # stdlib only

    def seg(text: str, level: str | None = None) -> None:
        text = redact(text)  # a model or window name from the input holding a key is shown without it
        if tmux:
            text = text.replace("#", "##")
        parts.append(f"{colours[level]}{text}{reset}" if colour and level else text)

    windows = info.get("rate_limits") or {}
    for name in cfg["segments"]:
        if name == "model" and info.get("model"):
            seg(info["model"])
        elif name == "context" and "context_used_pct" in info:
            pct = info["context_used_pct"]
            seg(f"ctx {pct:.0f}%", _level(pct, cfg))
        elif name == "session_cost" and "cost_usd" in info:
            seg(f"session ${info['cost_usd']:.2f}")
        elif name == "today" and today is not None:
            budget = cfg.get("daily_usd")
            if budget:
                pct = 100.0 * today / budget
                seg(f"today ${today:.2f}/${budget:.0f}", _level(pct, cfg))
            else:
                seg(f"today ${today:.2f}")
        elif name in ("five_hour", "seven_day"):
            # the window itself, then its model-specific variants (seven_day_opus, ...)
            for wname in sorted(w for w in windows if w == name or w.startswith(name + "_")):
                w = windows[wname]
                resets = w.get("resets_at")
                p = pace(wname, w["used_percentage"], resets * 1000 if resets else None, now_ms)
                if p.reset_passed:  # the snapshot is of a window that has ended: nothing known of the new one
                    seg(f"{window_label(wname)} reset", "dim")
                    continue
                text = f"{window_label(wname)} {p.used_pct:.0f}%"
                if p.pace is not None:
                    # ▲: at this pace the window runs out before it resets; ▴ faster than even; ▿ slower
                    mark = "▲" if p.will_hit_limit else ("▴" if p.pace > 1.0 else "▿")
                    text += f" {mark}{p.pace:.1f}x"
                if name == "five_hour" and p.remaining_ms is not None:
                    text += f" ↻{fmt_duration(p.remaining_ms)}"
                lvl = _level(max(p.used_pct, p.projected_pct or 0.0) if p.will_hit_limit else p.used_pct, cfg)
                seg(text, lvl)
    if not parts:
        return "nexus-insights: no status yet"
    sep = f" {colours['dim']}·{reset} " if colour else " · "
    return sep.join(parts)


def main(argv: list[str] | None = None, stdin=None, stdout=None) -> int:
    """Entry point of the fast path; argv holds the options given before/after ``statusline``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    home_arg = db_arg = None
    no_record = tmux = False
    it = iter(argv)
    for a in it:
        if a == "--home":
            home_arg = next(it, None)
        elif a.startswith("--home="):
            home_arg = a.split("=", 1)[1]
        elif a == "--db":
            db_arg = next(it, None)
        elif a.startswith("--db="):
            db_arg = a.split("=", 1)[1]
        elif a == "--no-record":
            no_record = True
        elif a == "--tmux":
            tmux = True
    line = "nexus-insights"
    try:
        home = _home(home_arg)
        info = None
        raw = b""
        try:
            if stdin is not None and not stdin.isatty():
                buf = getattr(stdin, "buffer", stdin)
                raw = buf.read(MAX_INPUT_BYTES)
        except (OSError, ValueError):
            raw = b""
        if raw and raw.strip():
            info = parse_input(raw)
            if info and not no_record:
                ev = {k: v for k, v in info.items() if k != "rate_limits"}
                node = _text(os.uname().nodename, 200) if hasattr(os, "uname") else None
                if node:
                    ev["machine"] = node
                if info.get("rate_limits"):
                    ev["rate_limits"] = info["rate_limits"]
                record(home, ev)
        if info is None:
            info = last_recorded(home)
        cfg = _config(home)
        today = today_cost(_sqlite_path(db_arg, home)) if "today" in cfg["segments"] else None
        colour = not os.environ.get("NO_COLOR")
        line = render(info, today, cfg, colour=colour, tmux=tmux)
    except Exception as e:  # never fail the caller's status line
        line = f"nexus-insights: {type(e).__name__}"
    try:
        stdout.write(line + "\n")
        stdout.flush()
    except Exception:
        pass
    return 0
