"""Evaluation metrics: pass@k / avg@k / maj@k, distribution smoothness, exploration diagnostics.

Names are resolved lazily from their modules so importing this package stays cheap.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "avg_at_k": "sampling",
    "maj_at_k": "sampling",
    "pass_at_k_curve": "sampling",
    "smoothness": "smoothness",
    "kl_to_target": "smoothness",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

