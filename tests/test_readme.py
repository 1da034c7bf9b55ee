"""The README's opening commands, as CI runs them, and the facts it must state."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    return [ln for ln in block.splitlines() if ln and not ln.startswith("#")]


def test_ci_runs_the_readme_test_command_verbatim_and_it_reuses_command_1s_venv():
    install, tests = _commands()
    assert install.startswith("python3 -m venv .venv && .venv/bin/pip install -e .")
    assert tests in (REPO / ".ci" / "run").read_text().splitlines()
    assert tests.startswith("test -d .venv || python3 -m venv .venv;")  # command 2 does not rebuild command 1's venv
    assert "-e '.[test]'" in tests and "pytest -q -n 2" in tests


def test_readme_states_the_db_forms_sizes_and_defaults():
    readme = (REPO / "README.md").read_text()
    for fact in ("--db /tmp/x.db", "sqlite:///PATH", "postgresql://", "pip install 'nexus-insights[postgres]'",
                 "80 columns × 24 rows", "not the defaults", "Only\n`--format` needs `--headless`",
                 "OpenTelemetry costs", "Command 2 takes about"):
        assert fact in readme, fact
