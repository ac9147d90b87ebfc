"""No import circle inside `trl_explore`: module- and function-level imports between its modules form a DAG.

Package ``__init__`` files are left out (their lazy re-exports are not dependencies), and so are imports under
``if TYPE_CHECKING:``. A component must never import its trainer: shared types live below both.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "trl_explore"


def _module(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def _targets(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module name an import statement of ``path`` may refer to (``from a import b``: ``a`` and ``a.b``)."""
    here = _module(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _graph(root: Path) -> dict[str, set[str]]:
    files = {_module(p, root): p for p in root.rglob("*.py") if p.name != "__init__.py"}
    return {name: _targets(path, root) & files.keys() - {name} for name, path in files.items()}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def test_no_import_circles():
    graph = _graph(PACKAGE)
    assert len(graph) > 40 and sum(map(len, graph.values())) > 40, "the walk must see the modules and their imports"
    circle = _circle(graph)
    assert circle is None, f"import circle: {' -> '.join(circle or [])}"


def test_walk_detects_a_circle(tmp_path):
    """The check can fail: a module-level and a function-level import closing a circle are found."""
    package = tmp_path / "trl_explore"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n")
    graph = _graph(package)
    assert graph == {"trl_explore.a": {"trl_explore.b"}, "trl_explore.b": {"trl_explore.a"}, "trl_explore.c": set()}
    assert set(_circle(graph) or []) == {"trl_explore.a", "trl_explore.b"}
