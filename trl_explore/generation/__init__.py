"""Decoding: logits processors for training rollouts (HAPO's adaptive temperature) and decoding algorithms.

Names are resolved lazily so importing this package stays cheap. The vLLM logits processor lives in
`trl_explore.generation.vllm_adaptive_temperature` (importable only where vLLM is installed).
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "AdaptiveTemperatureLogitsProcessor": "adaptive_temperature",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
