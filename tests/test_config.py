"""Where transcripts, the home and the database are looked for."""

from __future__ import annotations

from pathlib import Path

from nexus_tui.config import claude_project_dirs, load_settings


def test_default_claude_folders_are_the_two_claude_code_uses(isolated_env, monkeypatch):
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    home = Path(isolated_env / "home")
    assert claude_project_dirs() == [home / ".config" / "claude" / "projects", home / ".claude" / "projects"]


def test_claude_config_dir_lists_several_folders_and_claude_dir_adds_more(isolated_env, monkeypatch):
    a, b, c = isolated_env / "a", isolated_env / "b", isolated_env / "c"
    for p in (a / "projects", b / "projects", c / "projects"):
        p.mkdir(parents=True)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{a}, {b}")
    assert claude_project_dirs([str(c)]) == [a / "projects", b / "projects", c / "projects"]
    # a --claude-dir may also name the projects folder itself; duplicates collapse
    assert claude_project_dirs([str(c / "projects"), str(a)]) == [a / "projects", b / "projects", c / "projects"]


def test_home_and_database_resolution(isolated_env, monkeypatch):
    s = load_settings()
    assert s.home == isolated_env / "nexus" and s.db_url == f"sqlite:///{isolated_env / 'nexus' / 'insights.db'}"
    assert s.logs_dir == isolated_env / "nexus" / "logs"
    s = load_settings(home=str(isolated_env / "h2"))
    assert s.db_url.endswith("h2/insights.db")
    monkeypatch.setenv("NEXUS_INSIGHTS_DB", "sqlite:////tmp/x.db")
    assert load_settings().db_url == "sqlite:////tmp/x.db"
    assert load_settings(db="postgresql://u@localhost/n").db_url == "postgresql+psycopg://u@localhost/n"
    assert load_settings(db=str(isolated_env / "plain.db")).db_url == f"sqlite:///{isolated_env / 'plain.db'}"
    monkeypatch.delenv("NEXUS_INSIGHTS_HOME")
    monkeypatch.delenv("NEXUS_INSIGHTS_DB")
    assert load_settings().home == isolated_env / "home" / ".config" / "nexus"


def test_config_file_budgets_and_a_broken_file(isolated_env):
    import pytest

    from nexus_tui.config import SettingsError

    home = isolated_env / "nexus"
    home.mkdir()
    (home / "insights.toml").write_text('[budget]\ndaily_usd = 20\nmonthly_usd = 400.5\n'
                                        '[pricing]\nreference_model = "claude-opus-4-6"\n')
    s = load_settings()
    assert (s.daily_budget_usd, s.monthly_budget_usd, s.reference_model) == (20.0, 400.5, "claude-opus-4-6")
    (home / "insights.toml").write_text("[budget\nnope")  # a broken file is an error, not silently ignored
    with pytest.raises(SettingsError, match="not a readable TOML file"):
        load_settings()
