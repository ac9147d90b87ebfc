"""Decoding: SwiReasoning latent/explicit switch-thinking decoding (`swi_generate`, `swireasoning_decoding` for
``model.generate(custom_generate=...)``) and logits processors for training rollouts (HAPO's adaptive temperature).

Names are resolved lazily from their modules so importing this package stays cheap. The vLLM logits processor lives in
`trl_explore.generation.vllm_adaptive_temperature` (importable only where vLLM is installed).
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "AdaptiveTemperatureLogitsProcessor": "adaptive_temperature",
    "SwiReasoningConfig": "swireasoning_config",
    "SwiReasoningEvent": "swireasoning",
    "SwiReasoningOutput": "swireasoning",
    "swi_generate": "swireasoning",
    "swireasoning_decoding": "swireasoning",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
