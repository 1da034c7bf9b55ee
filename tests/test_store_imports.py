"""The store's modules import each other without cycles and never import another module's private (``_name``) names
(issue 13: the read side by subject, over one plan). Read from the source with ``ast``: every import, at the top or
inside a function, counts."""

from __future__ import annotations

import ast
from pathlib import Path

import nexus_tui.store

STORE = Path(nexus_tui.store.__file__).parent
PACKAGE = "nexus_tui.store"


def _module_name(path: Path) -> str:
    rel = path.relative_to(STORE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(STORE.rglob("*.py"))}


def _imports(src: str, name: str, is_pkg: bool, modules) -> list[tuple[str, str | None, int]]:
    """(imported store module, imported name or None, line) for every import of a store module in ``src``, the
    source of the module ``name``."""
    tree = ast.parse(src)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in modules:
                    out.append((a.name, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in modules:  # from package import module
                    out.append((sub, None, node.lineno))
                elif base in modules:
                    out.append((base, a.name, node.lineno))
    return out


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    private: list[str] = []
    for name, path in modules.items():
        for target, imported, line in _imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py",
                                                modules):
            if target == name:
                continue
            # a package's __init__ is imported with any of its modules; only a real edge counts
            graph[name].add(target)
            if imported and imported.startswith("_") and not imported.startswith("__"):
                private.append(f"{path.relative_to(STORE.parent.parent)}:{line} imports {target}.{imported}")
    return graph, private


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """``nexus_tui.store``'s __init__ (open_store) imports engine/migrations/writer lazily, and every submodule
    import runs the package __init__ first: that is Python's package loading, not a dependency of the submodule
    on the package. Edges *to* a package __init__ from its own submodules are therefore dropped."""
    return {m: {t for t in ts if not (m.startswith(t + ".") and _modules()[t].name == "__init__.py")}
            for m, ts in graph.items()}


def test_the_store_has_no_import_cycle():
    graph, _private = _graph()
    assert "nexus_tui.store.read.plan" in graph and "nexus_tui.store.writer" in graph  # the walk sees the store
    assert _cycles(_without_package_inits(graph)) == []


def test_no_store_module_imports_another_modules_private_name():
    _graph_, private = _graph()
    assert private == []


def test_the_walk_finds_a_cycle_and_a_private_import():
    """The checks themselves can fail: a made-up graph with a cycle, and sources importing private names (absolute,
    relative, inside a function) are caught."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    modules = _modules()
    src = ("from nexus_tui.store.read.plan import _coarsest, plan\n"
           "from nexus_tui.store import rollup\n"
           "def f():\n    from .plan import _bounds\n")
    found = _imports(src, "nexus_tui.store.read.usage", False, modules)
    assert ("nexus_tui.store.read.plan", "_coarsest", 1) in found
    assert ("nexus_tui.store.read.plan", "_bounds", 4) in found
    assert ("nexus_tui.store.rollup", None, 2) in found


def test_the_read_side_never_imports_the_writer():
    """Subject modules ask the plan; nothing on the read side imports the writer (rollup upkeep lives beside it)."""
    graph, _ = _graph()
    read = [m for m in graph if m.startswith("nexus_tui.store.read.")]
    assert {"nexus_tui.store.read.plan", "nexus_tui.store.read.usage", "nexus_tui.store.read.sessions"} <= set(read)
    for m in read:
        assert "nexus_tui.store.writer" not in graph[m], m
