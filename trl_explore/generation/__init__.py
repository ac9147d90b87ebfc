"""Decoding-time methods: SwiReasoning latent/explicit switch-thinking decoding (`swi_generate`,
`swireasoning_decoding` for ``model.generate(custom_generate=...)``).

Names are resolved lazily from their modules so importing this package stays cheap.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "SwiReasoningConfig": "swireasoning_config",
    "SwiReasoningEvent": "swireasoning",
    "SwiReasoningOutput": "swireasoning",
    "swi_generate": "swireasoning",
    "swireasoning_decoding": "swireasoning",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
