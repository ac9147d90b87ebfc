"""Evaluation metrics: pass@k / avg@k / maj@k, distribution smoothness, exploration diagnostics.

Names are resolved lazily from their modules so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "avg_at_k": "sampling",
    "maj_at_k": "sampling",
    "pass_at_k_curve": "sampling",
    "smoothness": "smoothness",
    "kl_to_target": "smoothness",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trl_explore.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
