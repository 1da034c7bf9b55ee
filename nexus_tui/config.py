"""Where things live: the home folder, the database URL, the Claude Code folders, and the config file.

Home: ``--home`` > ``NEXUS_INSIGHTS_HOME`` > ``~/.config/nexus``. Database: ``--db`` > ``NEXUS_INSIGHTS_DB`` >
``sqlite:///<home>/insights.db``. Config file: ``<home>/insights.toml`` (budgets, reference model, ...).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nexus_tui.store.engine import sqlite_url

DEFAULT_REFERENCE_MODEL = "claude-sonnet-4-5"


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
    lunaroute_dirs: list[Path] = field(default_factory=list)
    otlp_enabled: bool = False  # [otlp] enabled = true: the dashboard's collector also runs the OTLP receiver
    otlp_host: str = "127.0.0.1"
    otlp_port: int = 4318
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

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def config_file(self) -> Path:
        return self.home / "insights.toml"


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


COST_MODES = ("auto", "calculate", "display")


def _cost_mode(raw: dict) -> str:
    """``[pricing] cost_mode``; anything else than the three modes is reported and ``auto`` used."""
    sec = raw.get("pricing") if isinstance(raw.get("pricing"), dict) else {}
    v = sec.get("cost_mode", "auto")
    if v in COST_MODES:
        return v
    import sys

    print(f"nexus-insights: [pricing] cost_mode must be one of {', '.join(COST_MODES)}; using auto", file=sys.stderr)
    return "auto"


def load_settings(home: str | os.PathLike | None = None, db: str | None = None,
                  claude_dirs: list[str] | tuple[str, ...] = (),
                  lunaroute_dirs: list[str] | tuple[str, ...] = ()) -> Settings:
    h = Path(home).expanduser() if home else default_home()
    url = db or os.environ.get("NEXUS_INSIGHTS_DB") or sqlite_url(h / "insights.db")
    raw: dict = {}
    cfg = h / "insights.toml"
    if cfg.is_file():
        try:
            raw = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
            import sys

            print(f"nexus-insights: ignoring {cfg}: {e}", file=sys.stderr)
    budget = raw.get("budget", {}) if isinstance(raw.get("budget"), dict) else {}
    otlp = raw.get("otlp", {}) if isinstance(raw.get("otlp"), dict) else {}
    proxy = raw.get("proxy", {}) if isinstance(raw.get("proxy"), dict) else {}

    def _num(v):
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else None

    return Settings(home=h, db_url=url, claude_dirs=claude_project_dirs(claude_dirs),
                    daily_budget_usd=_num(budget.get("daily_usd")),
                    monthly_budget_usd=_num(budget.get("monthly_usd")),
                    reference_model=str(raw.get("pricing", {}).get("reference_model", DEFAULT_REFERENCE_MODEL))
                    if isinstance(raw.get("pricing"), dict) else DEFAULT_REFERENCE_MODEL,
                    poll_seconds=float(raw.get("collector", {}).get("poll_seconds", 2.0))
                    if isinstance(raw.get("collector"), dict) else 2.0,
                    raw=raw,
                    lunaroute_dirs=[Path(d).expanduser() for d in lunaroute_dirs] or lunaroute_dirs_of(raw),
                    otlp_enabled=bool(otlp.get("enabled", False)),
                    otlp_host=str(otlp.get("host", "127.0.0.1")),
                    otlp_port=int(otlp.get("port", 4318)) if str(otlp.get("port", 4318)).isdigit() else 4318,
                    cost_mode=_cost_mode(raw),
                    proxy_enabled=proxy.get("enabled") is True,
                    proxy_port=_port(proxy.get("port"), 8787),
                    proxy_upstream=_url(proxy.get("upstream")) or "https://api.anthropic.com",
                    proxy_openai_upstream=_url(proxy.get("openai_upstream")),
                    proxy_store_bodies=proxy.get("store_bodies") is True,
                    **_alerts(raw))


def _alerts(raw: dict) -> dict:
    """[alerts] and [quota]: each value checked; a bad one keeps its default."""
    from nexus_tui.core.alerts import clean_thresholds

    al = raw.get("alerts") if isinstance(raw.get("alerts"), dict) else {}
    qu = raw.get("quota") if isinstance(raw.get("quota"), dict) else {}
    cmd = al.get("command")
    days = qu.get("history_days")
    return {"alert_thresholds": clean_thresholds(al.get("thresholds")),
            "alerts_enabled": al.get("enabled") is not False, "alert_bell": al.get("bell") is not False,
            "alert_desktop": al.get("desktop") is not False,
            "alert_command": cmd if isinstance(cmd, str) and cmd.strip() and len(cmd) < 4000 else None,
            "quota_history_days": days if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= 400
            else 35}


def _port(v, default: int) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 else default


def _url(v) -> str | None:
    return v if isinstance(v, str) and v.startswith(("http://", "https://")) and len(v) < 2000 else None
