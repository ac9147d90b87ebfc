"""Lazy attribute loading for packages (PEP 562), so that importing a package does not import torch or TRL."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], names: dict[str, str]) -> tuple[Callable, Callable]:
    """Build ``__getattr__`` and ``__dir__`` for `package` resolving ``names`` (public name -> submodule) on demand.

    Usage in a package's ``__init__.py``::

        _LAZY = {"pass_at_k": "pass_at_k"}
        __all__ = sorted(_LAZY)
        __getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

    A resolved value is cached in the package namespace, so the submodule is imported once.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
