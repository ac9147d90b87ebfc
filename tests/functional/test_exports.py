"""`trl_explore.functional` exports every public function and class of every ``functional/*.py`` module.

The modules are found by walking the package (not a list written here), and each module's public names are read from
the module itself: the functions and classes it defines whose name does not start with ``_``, plus every callable in
its ``__all__``. Each must be in the package's lazy table, resolve to the very same object, and be in ``__all__``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import trl_explore.functional as functional

MODULES = sorted(info.name for info in pkgutil.iter_modules(functional.__path__) if not info.name.startswith("_"))


def _public_callables(module) -> set[str]:
    defined = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }
    listed = {name for name in getattr(module, "__all__", ()) if callable(getattr(module, name))}
    return defined | listed


def test_the_walk_finds_the_method_modules():
    """The walk is not empty and sees HAPO's module (the one whose functions were missing)."""
    assert {"hapo", "lastde", "lp_reg", "spear", "fourier"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_every_public_function_is_exported(name):
    module = importlib.import_module(f"{functional.__name__}.{name}")
    public = _public_callables(module)
    assert public, f"functional/{name}.py defines no public function"
    missing = sorted(n for n in public if functional._LAZY.get(n) != name)
    assert not missing, f"functional/{name}.py: not in trl_explore.functional's table: {missing}"
    for n in public:
        assert n in functional.__all__
        assert getattr(functional, n) is getattr(module, n)


def test_hapo_functions_are_exported():
    """The functions the issue names, by hand."""
    from trl_explore.functional import (
        hapo_clip_bounds,
        hapo_entropy_scores,
        hapo_redistribute_advantages,
        tlga_advantages,
    )

    assert all(
        callable(f) for f in (hapo_entropy_scores, tlga_advantages, hapo_clip_bounds, hapo_redistribute_advantages)
    )


def test_table_names_only_existing_modules_and_names():
    for n, module in functional._LAZY.items():
        assert module in MODULES and hasattr(importlib.import_module(f"{functional.__name__}.{module}"), n), n


def test_pass_at_k_is_the_function_after_its_module_is_imported():
    """`pass_at_k` is a module and its function: importing the submodule first (as `metrics.sampling` does) used to
    bind the package attribute to the module. In a fresh process, so that the import order is the one tested."""
    import subprocess
    import sys

    code = (
        "import inspect, trl_explore.functional.pass_at_k\n"
        "from trl_explore.functional import pass_at_k\n"
        "assert inspect.isfunction(pass_at_k), pass_at_k\n"
        "assert pass_at_k(4, 2, 1) == 0.5\n"  # 1 - C(2, 1) / C(4, 1) = 1 - 2/4
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
