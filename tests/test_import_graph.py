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


# --------------------------------------------------------------------------------------------------- layer order
# The package's layers, lowest first. A module may import modules of its own unit (top-level subpackage or module)
# and of lower layers, never of its own layer's other units or of a higher one (a back-up arrow). The first layer holds
# the base modules that import nothing of the package: `trainers._trl_compat` is the one seam to TRL's internals, so
# the kernels reach TRL's private names through it too. "" is the package's own `__init__`.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_lazy", "_validation", "_device", "_version", "_cli_args", "_output", "citations", "trainers._trl_compat"),
    ("functional", "data"),
    ("kernels", "rewards", "metrics", "generation"),
    ("evaluation", "modules"),
    ("toy",),
    ("trainers",),
    ("callbacks",),
    ("scripts",),
    ("detection",),
    ("demo",),
    ("cli", "colab"),
    ("",),
)
# Back-up arrows still in the code, each with the change that removes it (issue 28)
KNOWN_BACK_ARROWS: set[tuple[str, str]] = set()


def _unit(module: str) -> str:
    parts = module.split(".")[1:]
    if parts[:2] == ["trainers", "_trl_compat"]:
        return "trainers._trl_compat"
    return parts[0] if parts else ""


def _imported_modules(path: Path, known: set[str], root: Path = PACKAGE) -> set[str]:
    """The package modules (or packages) ``path`` imports: ``from a import b`` counts ``a.b`` when that is a module,
    else ``a``; imports under ``if TYPE_CHECKING:`` are left out."""
    here = _module(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module)
    return found & known


def _back_arrows(root: Path) -> set[tuple[str, str]]:
    files = {_module(p, root): p for p in root.rglob("*.py")}
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    arrows = set()
    for module, path in files.items():
        here = _unit(module)
        assert here in rank, f"{module}: its unit {here!r} has no layer in LAYERS"
        for target in _imported_modules(path, set(files), root):
            there = _unit(target)
            assert there in rank, f"{target}: its unit {there!r} has no layer in LAYERS"
            if there != here and rank[there] >= rank[here]:
                arrows.add((module, target))
    return arrows


def test_imports_follow_the_layer_order():
    """No module imports a unit of its own layer or of a higher one (toy → trainers, toy → the package ``__init__``,
    demo → cli, kernels → trainers other than the TRL seam, ... are refused)."""
    arrows = _back_arrows(PACKAGE)
    assert arrows <= KNOWN_BACK_ARROWS, f"back-up import arrows: {sorted(arrows - KNOWN_BACK_ARROWS)}"


def test_layer_rule_detects_back_arrows(tmp_path):
    """The check can fail: toy → trainers, toy → the package ``__init__`` (``from .. import __version__``),
    demo → cli and kernels → trainers are found; the TRL seam and downward imports are allowed."""
    package = tmp_path / "trl_explore"
    for sub in ("toy", "trainers", "kernels", "demo"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("__version__ = '0'\n")
    (package / "cli.py").write_text("from .demo import runner\n")
    (package / "trainers" / "_trl_compat.py").write_text("")
    (package / "trainers" / "spear_config.py").write_text("from ..kernels import token_stats\n")
    (package / "kernels" / "token_stats.py").write_text("from ..trainers import _trl_compat\n")
    (package / "kernels" / "fused_head.py").write_text("from ..trainers.spear_config import X\n")
    (package / "toy" / "tool_task.py").write_text("def f():\n    from ..trainers.spear_config import S\n")
    (package / "toy" / "route.py").write_text("def f():\n    from .. import __version__\n")
    (package / "demo" / "runner.py").write_text("")
    (package / "demo" / "__main__.py").write_text("from ..cli import main\n")
    assert _back_arrows(package) == {
        ("trl_explore.toy.tool_task", "trl_explore.trainers.spear_config"),
        ("trl_explore.toy.route", "trl_explore"),
        ("trl_explore.demo.__main__", "trl_explore.cli"),
        ("trl_explore.kernels.fused_head", "trl_explore.trainers.spear_config"),
    }


# ------------------------------------------------------------------------------------------ TRL's private names
SEAM = PACKAGE / "trainers" / "_trl_compat.py"


def _trl_private_uses(path: Path) -> list[str]:
    """Where ``path`` imports a private TRL name (``from trl... import _x``, ``import trl._x``), reads one as an
    attribute of a TRL module (``trl.trainer.utils._x``, also through an ``import trl... as alias``) or assigns to an
    attribute of a TRL module."""
    tree = ast.parse(path.read_text())
    aliases: set[str] = set()  # local names bound to TRL modules
    found = []

    def private(name: str) -> bool:
        return any(part.startswith("_") and not part.startswith("__") for part in name.split("."))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "trl" or alias.name.startswith("trl."):
                    aliases.add(alias.asname or "trl")
                    if private(alias.name):
                        found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "trl":
            if private(node.module):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            for alias in node.names:
                if private(alias.name):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                elif alias.name[:1].islower():  # a submodule (`from trl.trainer import utils`)
                    aliases.add(alias.asname or alias.name)
    if not aliases:
        return found

    def rooted(node: ast.AST) -> bool:
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id in aliases

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and rooted(node.value):
            if private(node.attr):
                found.append(f"line {node.lineno}: .{node.attr}")
            if isinstance(node.ctx, ast.Store):
                found.append(f"line {node.lineno}: assigns .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and node.args
            and rooted(node.args[0])
        ):
            found.append(f"line {node.lineno}: setattr on a TRL module")
    return found


def test_trl_private_names_only_in_the_seam():
    """Every touch of a private TRL name (import, attribute read, attribute assignment) lives in
    `trainers/_trl_compat.py`, where each names the TRL code it mirrors and has a tripwire."""
    offenders = {
        str(path.relative_to(PACKAGE.parent)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != SEAM and (uses := _trl_private_uses(path))
    }
    assert not offenders, f"private TRL names outside trainers/_trl_compat.py: {offenders}"
    assert _trl_private_uses(SEAM), "the walk must see the seam's own private names"


def test_private_name_walk_detects_each_form(tmp_path):
    """The walk can fail: each form of touching TRL's internals is found, public names are not."""
    cases = {
        "from trl.trainer.utils import _ChunkedLogProbFunction\n": 1,
        "import trl.trainer.utils as u\nu._ChunkedLogProbFunction = None\n": 2,  # private, and an assignment
        "import trl\nx = trl.trainer.utils._addmm_fp32\n": 1,
        "from trl.trainer import utils\nutils.selective_log_softmax = None\n": 1,
        "import trl.trainer.utils as u\nsetattr(u, 'x', 1)\n": 1,
        "from trl.kernels.chunked_logprob import _MM_OUT_DTYPE\n": 1,
        "from trl import GRPOTrainer\nfrom trl.trainer.utils import nanmax\nx = nanmax\n": 0,
        "def f(trainer):\n    return trainer._entropy_window_stats\n": 0,  # a trainer instance, not a TRL module
    }
    for i, (source, expected) in enumerate(cases.items()):
        path = tmp_path / f"m{i}.py"
        path.write_text(source)
        assert len(_trl_private_uses(path)) == expected, source
