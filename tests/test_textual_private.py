"""Textual's private API that nexus-insights relies on (nexus_tui/widgets/_textual_private.py) is still there, with
the signatures and behaviour relied on. A Textual upgrade that changes any of it fails here, by name."""

from __future__ import annotations

import ast
import importlib
import inspect
from importlib.metadata import version
from pathlib import Path

import pytest

from nexus_tui.widgets import _textual_private as P
from tests.tui_helpers import SIZE, demo_app, settle

PKG = Path(P.__file__).resolve().parents[1]


def _minor(v: str) -> tuple[int, int]:
    major, minor = v.split(".")[:2]
    return int(major), int(minor)


def test_textual_is_a_release_the_private_uses_were_checked_against():
    lo, hi = P.TEXTUAL_TESTED
    assert lo <= _minor(version("textual")) < hi, (version("textual"), P.TEXTUAL_TESTED)
    # pyproject.toml admits no other
    text = (PKG.parent / "pyproject.toml").read_text()
    assert f'"textual>={lo[0]}.{lo[1]},<{hi[0]}.{hi[1]}"' in text


@pytest.mark.parametrize("owner, name", [(o, n) for o, names in P.OVERRIDDEN.items() for n in names])
def test_each_overridden_private_method_still_has_the_signature_it_was_written_against(owner, name):
    module, cls_name = owner.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), cls_name)
    method = getattr(cls, name, None)
    assert callable(method), f"{owner}.{name} is gone"
    params = [p for p in inspect.signature(method).parameters if p != "self"]
    assert params == P.OVERRIDDEN[owner][name], f"{owner}.{name}{inspect.signature(method)} changed"


def test_every_private_textual_import_is_in_the_one_module():
    """Outside _textual_private.py no module imports a private Textual module or name, nor touches the app's or
    a screen's private state (the widgets' own overrides are listed in OVERRIDDEN)."""
    offenders = []
    for path in PKG.rglob("*.py"):
        if path.name == "_textual_private.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("textual"):
                if any(part.startswith("_") for part in node.module.split(".")) or \
                        any(a.name.startswith("_") for a in node.names):
                    offenders.append(f"{path.name}:{node.lineno} from {node.module} import ...")
            if isinstance(node, ast.Attribute) and node.attr in (
                    "_screen_stacks", "_modes", "_register", "_load_screen_css", "_current_mode",
                    "_css_update_count", "_screen_resized", "_compositor"):
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert not offenders, offenders


async def test_the_private_state_read_exists_and_behaves(tmp_path):
    from textual.widgets import DataTable
    from textual_plotext import PlotextPlot

    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        # app modes: the stacks, a screen built off screen, the fast switch to it and back
        stacks = P.screen_stacks(app)
        assert isinstance(stacks, dict) and stacks["sessions"] and not stacks.get("tiers")
        assert isinstance(P.css_update_count(app), int)
        P.build_mode_screen(app, "tiers")
        await settle(app, pilot)
        tiers = P.screen_stacks(app)["tiers"][0]
        assert type(tiers).__name__ == "TiersScreen" and tiers.is_mounted and app.screen is not tiers
        assert P.switch_to_built_mode(app, "sessions", 0) is None  # the current mode: Textual's way
        assert P.switch_to_built_mode(app, "costs", 0) is None  # not built yet: Textual's way
        done = P.switch_to_built_mode(app, "tiers", app._css_refreshed)
        assert done is not None and app.screen is tiers and app.current_mode == "tiers"
        await settle(app, pilot)
        assert tiers.loaded
        await pilot.press("1")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "SessionsScreen"
        # the attributes the table and chart overrides read
        table = app.screen.query_one(DataTable)
        missing = [a for a in P.DATATABLE_ATTRIBUTES if not hasattr(table, a)]
        assert not missing, f"DataTable lost {missing}"
        await pilot.press("2")
        await settle(app, pilot)
        chart = app.screen.query_one(PlotextPlot)
        missing = [a for a in P.PLOTEXT_ATTRIBUTES if not hasattr(chart, a)]
        assert not missing, f"PlotextPlot lost {missing}"
        assert P.RenderCache(chart.size, []).lines == []
        # what the footer is built from, and the screen's text
        from textual.widgets import Footer

        footer = app.screen.query_one(Footer)
        assert all(hasattr(footer, a) for a in P.FOOTER_ATTRIBUTES) and list(app.screen.query(P.FooterKey))
        lines = P.screen_lines(app)
        assert len(lines) == SIZE[1] and "nexus-insights" in lines[0]


def test_every_dependency_is_bounded_to_a_range_that_admits_what_is_installed():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((PKG.parent / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for group in project["optional-dependencies"].values() for r in group]
    for line in reqs:
        req = Requirement(line)
        uppers = [s for s in req.specifier if s.operator in ("<", "<=", "~=", "==")]
        assert uppers, f"{line}: no upper bound"
        installed = version(req.name)
        assert req.specifier.contains(installed, prereleases=True), f"{line} does not admit {installed}"
