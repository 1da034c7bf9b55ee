"""Where things live: the home folder, the database URL, the Claude Code folders, and the config file.

Home: ``--home`` > ``NEXUS_INSIGHTS_HOME`` > ``~/.config/nexus``. Database: ``--db`` > ``NEXUS_INSIGHTS_DB`` >
``sqlite:///<home>/insights.db``; a plain path is a SQLite file, ``postgresql://`` uses psycopg (v3).
Config file: ``<home>/insights.toml``, read here and only here, into one typed ``Settings``.

Every key of ``SECTIONS`` is checked where it is read: a value of the wrong type or range (``daily_usd =
"twenty"``, ``-5``, ``port = 99999``) or a file that is not TOML raises ``SettingsError`` with one line naming the file
and the key; the commands print it and exit 2 (nothing is silently dropped), except ``mcp-wrap``, which warns and
starts the wrapped server anyway. Sections and keys not in ``SECTIONS``
are kept in ``Settings.raw`` untouched. To add a section: add a ``Settings`` field per key and one entry
``"name": {"key": Key("settings_attr", check)}`` to ``SECTIONS``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_tui.store.engine import sqlite_url

DEFAULT_REFERENCE_MODEL = "claude-sonnet-4-5"
POSTGRES_EXTRA = "pip install 'nexus-insights[postgres]'"


class SettingsError(ValueError):
    """A bad setting or option, told in one line (the commands exit 2)."""


def default_home() -> Path:
    env = os.environ.get("NEXUS_INSIGHTS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".config" / "nexus"


def claude_project_dirs(extra: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """Folders holding Claude Code transcripts, found the way Claude Code and ccusage look for them."""
    roots: list[Path] = []
    env = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
    if env:
        roots.extend(Path(p.strip()).expanduser() for p in env.split(",") if p.strip())
    else:
        roots.extend([Path.home() / ".config" / "claude", Path.home() / ".claude"])
    out: list[Path] = []
    for r in roots:
        out.append(r / "projects" if (r / "projects").is_dir() or r.name != "projects" else r)
    for e in extra:
        p = Path(e).expanduser()
        out.append(p / "projects" if (p / "projects").is_dir() else p)
    seen, uniq = set(), []
    for p in out:
        key = str(p.resolve()) if p.exists() else str(p)
        if key not in seen:
            seen.add(key)
            uniq.append(p)
    return uniq


# ---------------------------------------------------------------- database URL
def normalize_db_url(value: str) -> str:
    """The SQLAlchemy URL for ``--db``/``NEXUS_INSIGHTS_DB``: a plain path (no ``scheme://``) is a SQLite file;
    ``postgresql://`` and ``postgres://`` without a driver use psycopg (v3), our PostgreSQL driver. Raises
    SettingsError for an unusable URL, or a PostgreSQL URL without the postgres extra installed."""
    v = value.strip()
    if not v:
        raise SettingsError("--db is empty (give a file path or a URL such as postgresql://user@host/db)")
    if "://" not in v:
        return sqlite_url(Path(v).expanduser().absolute())
    scheme, rest = v.split("://", 1)
    backend, _, driver = scheme.lower().partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql":
        if driver in ("", "psycopg2"):
            driver = "psycopg"
        v = f"{backend}+{driver}://{rest}"
        if driver == "psycopg":
            import importlib.util

            if importlib.util.find_spec("psycopg") is None:
                raise SettingsError(f"a PostgreSQL --db needs the postgres extra: {POSTGRES_EXTRA}")
    elif backend != "sqlite":
        raise SettingsError(f"--db: unsupported database {scheme!r}:// (use a file path, sqlite:///PATH or "
                            "postgresql://user@host/db)")
    from sqlalchemy.engine import make_url

    from nexus_tui.core.redact import redact

    try:  # 'postgresql://[::1', a port 'abc': told here in one line, not as int()'s words from the driver
        url = make_url(v)
    except Exception as e:  # noqa: BLE001 - ArgumentError, ValueError: the URL is not one
        raise SettingsError(f"--db: not a database URL: {redact(v)!r} ({redact(str(e))})") from None
    if backend == "sqlite" and (not url.database or url.database == ":memory:" or url.query.get("mode") == "memory"):
        # an in-memory database: ingest, collect and the proxy would report success and keep nothing
        raise SettingsError(f"--db: {redact(v)!r} names no database file (an in-memory SQLite database keeps "
                            "nothing; give a file path or sqlite:///PATH)")
    return v


# ---------------------------------------------------------------- typed config keys
def _number(minimum: float = 0.0, strict: bool = False, maximum: float | None = None) -> Callable[[Any], float]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
            raise ValueError("expected a number")
        if v < minimum or (strict and v == minimum):
            raise ValueError(f"expected a number {'>' if strict else '>='} {minimum:g}")
        if maximum is not None and v > maximum:
            raise ValueError(f"expected a number from {minimum:g} to {maximum:g}")
        return float(v)
    return check


def _bool(v) -> bool:
    if not isinstance(v, bool):
        raise ValueError("expected true or false")
    return v


def _text(v) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("expected a non-empty string")
    if "\0" in v:  # no host, command, model or path holds one ('embedded null byte' where it is used)
        raise ValueError("expected a string without a NUL character")
    return v.strip()


def _port(v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise ValueError("expected a whole number from 1 to 65535")
    return v


def _dirs(v) -> list[str]:
    v = [v] if isinstance(v, str) else v
    if not isinstance(v, list) or not v or not all(isinstance(d, str) and d.strip() and "\0" not in d for d in v):
        raise ValueError("expected a folder or a list of folders")
    return v


def _names(v) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(d, str) and d for d in v):
        raise ValueError("expected a list of strings")
    return v


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v):
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return v
    return check


def _http_url(v) -> str:
    if not isinstance(v, str) or not v.startswith(("http://", "https://")) or len(v) > 2000:
        raise ValueError("expected an http:// or https:// URL")
    from urllib.parse import urlsplit

    try:  # what the proxy reads of it when it starts: a host, and a port 0..65535 if one is given
        u = urlsplit(v)
        ok = bool(u.hostname) and (u.port, True)[1]
    except ValueError:  # 'http://[::1' (an unclosed IPv6 address), 'http://h:99999'
        ok = False
    if not ok:
        raise ValueError("expected an http:// or https:// URL with a host")
    return v


COST_MODES = ("auto", "calculate", "display")


def _thresholds(v) -> tuple[float, ...]:
    if (not isinstance(v, list) or not v or
            not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 1000 for t in v)):
        raise ValueError("expected a list of percentages, each above 0 and at most 1000")
    return tuple(sorted({float(t) for t in v}))


def _int_range(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"expected a whole number from {lo} to {hi}")
        return v
    return check


def _groups(v) -> dict[str, tuple[str, ...]]:
    """``[projects] groups = { clientA = ["repo1", "repo2"] }``: group name -> its member projects (a project name
    or a part of a cwd, matched as ``--project`` matches one)."""
    if not isinstance(v, dict):
        raise ValueError('expected a table of group = ["project", ...], e.g. { clientA = ["repo1", "repo2"] }')
    out = {}
    for name, members in v.items():
        if not name.strip():
            raise ValueError("a group needs a non-empty name")
        members = [members] if isinstance(members, str) else members
        if (not isinstance(members, list) or not members
                or not all(isinstance(m, str) and m.strip() for m in members)):
            raise ValueError(f"group {name!r}: expected a project or a list of projects (non-empty strings)")
        out[name.strip()] = tuple(dict.fromkeys(m.strip() for m in members))
    return out


def _segments(v) -> list[str]:
    from nexus_tui.statusline import DEFAULT_SEGMENTS

    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x in DEFAULT_SEGMENTS for x in v):
        raise ValueError(f"expected a list of segments among {', '.join(DEFAULT_SEGMENTS)}")
    return v


@dataclass(frozen=True)
class Key:
    attr: str | None  # the Settings attribute it sets (None: validated, read from raw by its user)
    check: Callable[[Any], Any]


SECTIONS: dict[str, dict[str, Key]] = {
    "budget": {"daily_usd": Key("daily_budget_usd", _number()),
               "monthly_usd": Key("monthly_budget_usd", _number())},
    "pricing": {"reference_model": Key("reference_model", _text), "cost_mode": Key("cost_mode", _choice(COST_MODES))},
    # a wait longer than time_t holds raises OverflowError in the collector thread; a day is plenty, 10 ms the least
    "collector": {"poll_seconds": Key("poll_seconds", _number(0.01, maximum=86400.0))},
    "otlp": {"enabled": Key("otlp_enabled", _bool), "host": Key("otlp_host", _text),
             "port": Key("otlp_port", _port), "token": Key("otlp_token", _text)},
    "lunaroute": {"enabled": Key(None, _bool), "dirs": Key(None, _dirs)},
    "efficiency": {"file_changing_tools": Key(None, _names)},
    "alerts": {"enabled": Key("alerts_enabled", _bool), "bell": Key("alert_bell", _bool),
               "desktop": Key("alert_desktop", _bool), "command": Key("alert_command", _text),
               "thresholds": Key("alert_thresholds", _thresholds)},
    "projects": {"groups": Key("project_groups", _groups)},
    "quota": {"history_days": Key("quota_history_days", _int_range(1, 400))},
    "ui": {"theme": Key("ui_theme", _choice(("light", "dark", "auto")))},
    # read by the status line itself (which falls back on a bad value, never failing Claude Code's status line) and
    # by machine.identity (the id's form checked there): checked here too, so the commands say what is wrong
    "statusline": {"segments": Key(None, _segments), "warn_pct": Key(None, _number(maximum=1000.0)),
                   "critical_pct": Key(None, _number(maximum=1000.0))},
    "machine": {"name": Key(None, _text), "id": Key(None, _text)},
    "proxy": {"enabled": Key("proxy_enabled", _bool), "host": Key("proxy_host", _text),
              "port": Key("proxy_port", _port), "upstream": Key("proxy_upstream", _http_url),
              "openai_upstream": Key("proxy_openai_upstream", _http_url),
              "store_bodies": Key("proxy_store_bodies", _bool)},
}


@dataclass
class Settings:
    home: Path
    db_url: str
    claude_dirs: list[Path]
    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None
    reference_model: str = DEFAULT_REFERENCE_MODEL
    poll_seconds: float = 2.0
    raw: dict = field(default_factory=dict)
    # insights.toml's sections and keys that are no setting (a typo: '[budget] daly_usd'), one line each: said on
    # stderr by the commands (cli.py, entry.py), ignored otherwise
    unknown: list[str] = field(default_factory=list)
    lunaroute_dirs: list[Path] = field(default_factory=list)
    otlp_enabled: bool = False  # [otlp] enabled = true: the dashboard's collector also runs the OTLP receiver
    otlp_host: str = "127.0.0.1"
    otlp_port: int = 4318
    otlp_token: str | None = None  # [otlp] token: clients send Authorization: Bearer <token>; needed off loopback
    cost_mode: str = "auto"  # [pricing] cost_mode: auto | calculate | display (store/rollup.py cost_expr)
    # [proxy] in insights.toml: enabled = true runs the recording proxy inside the dashboard and `collect`
    proxy_enabled: bool = False
    proxy_host: str = "127.0.0.1"
    proxy_port: int = 8787
    proxy_upstream: str = "https://api.anthropic.com"
    proxy_openai_upstream: str | None = None  # where /v1/chat/completions goes (Ollama, llama.cpp, vLLM, ...)
    proxy_store_bodies: bool = False  # request and response bodies in the event log (hashes only otherwise)
    # [alerts] (docs/quota.md): thresholds in % on each quota window and the daily / monthly budgets
    alert_thresholds: tuple[float, ...] = (80.0, 90.0, 100.0)
    alerts_enabled: bool = True
    alert_bell: bool = True
    alert_desktop: bool = True  # notify-send / osascript when found
    alert_command: str | None = None  # run with the alert as JSON on stdin
    quota_history_days: int = 35  # [quota] history_days: past windows shown
    ui_theme: str = "auto"  # [ui] theme: light | dark | auto (from COLORFGBG; core/theme.py)
    # [projects] groups: name -> member projects; every project filter accepts a group's name (core/filters.py)
    project_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def config_file(self) -> Path:
        return self.home / "insights.toml"


def read_config(path: Path) -> tuple[dict, dict[str, Any]]:
    """(the file's raw tables, {Settings attribute: checked value}) of insights.toml; ({}, {}) without a file.
    Raises SettingsError naming the file and the key for a value of the wrong type or range."""
    if not path.is_file():
        return {}, {}
    import tomllib  # only with a file to read (a pass with none starts sooner)

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: not a readable TOML file: {e}") from e
    values: dict[str, Any] = {}
    unknown = []
    for name, sec in raw.items():
        if name not in SECTIONS:
            unknown.append(f"[{name}]" if isinstance(sec, dict) else name)
        elif isinstance(sec, dict):
            unknown += [f"[{name}] {k}" for k in sec if k not in SECTIONS[name]]
    if unknown:
        from nexus_tui.core.report import one_line

        values["unknown"] = [one_line(f"{path}: {u[:200]} is not a setting of nexus-insights (a typo?); ignored")
                             for u in unknown[:20]]
    for name, keys in SECTIONS.items():
        if name not in raw:
            continue
        sec = raw[name]
        if not isinstance(sec, dict):
            raise SettingsError(f"{path}: [{name}] must be a table (a [{name}] header with keys under it)")
        for key, spec in keys.items():
            if key not in sec:
                continue
            try:
                v = spec.check(sec[key])
            except ValueError as e:
                from nexus_tui.core.redact import redact

                shown = repr(sec[key])  # a URL's password or a key pasted in the wrong place is not shown
                shown = redact(shown if len(shown) <= 300 else shown[:300] + "…")
                raise SettingsError(f"{path}: [{name}] {key} = {shown}: {e}") from None
            if spec.attr:
                values[spec.attr] = v
    return raw, values


def file_changing_tools(settings: Settings) -> tuple[str, ...]:
    """Extra file-changing tool names: [efficiency] file_changing_tools = ["mcp__x__save"] (checked by SECTIONS)."""
    sec = settings.raw.get("efficiency") if isinstance(getattr(settings, "raw", None), dict) else None
    names = sec.get("file_changing_tools") if isinstance(sec, dict) else None
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def lunaroute_dirs_of(raw: dict) -> list[Path]:
    """LunaRoute session folders from ``[lunaroute] dirs`` in insights.toml, else LunaRoute's default
    ``~/.lunaroute/sessions``; ``[lunaroute] enabled = false`` turns the import off."""
    sec = raw.get("lunaroute") if isinstance(raw.get("lunaroute"), dict) else {}
    if sec.get("enabled") is False:
        return []
    dirs = sec.get("dirs")
    dirs = [dirs] if isinstance(dirs, str) else dirs
    if isinstance(dirs, list) and dirs and all(isinstance(d, str) and d for d in dirs):
        return [Path(d).expanduser() for d in dirs]
    return [Path.home() / ".lunaroute" / "sessions"]




def load_settings(home: str | os.PathLike | None = None, db: str | None = None,
                  claude_dirs: list[str] | tuple[str, ...] = (),
                  lunaroute_dirs: list[str] | tuple[str, ...] = ()) -> Settings:
    """The one place settings are read (options > environment > insights.toml > defaults); raises SettingsError."""
    h = Path(home).expanduser() if home else default_home()
    given = db or os.environ.get("NEXUS_INSIGHTS_DB")
    url = normalize_db_url(given) if given else sqlite_url(h / "insights.db")
    raw, values = read_config(h / "insights.toml")
    return Settings(home=h, db_url=url, claude_dirs=claude_project_dirs(claude_dirs), raw=raw,
                    lunaroute_dirs=[Path(d).expanduser() for d in lunaroute_dirs] or lunaroute_dirs_of(raw),
                    **values)
