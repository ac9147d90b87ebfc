"""Pure tensor math, one module per method: no Trainer, no accelerate, no I/O.

Names are resolved lazily from their modules so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "pass_at_k": "pass_at_k",
    "lp_reg_proxy_logps": "lp_reg",
    "lp_reg_select": "lp_reg",
    "lp_reg_per_token_loss": "lp_reg",
    "lp_reg_forward_full_kl": "lp_reg",
    "lp_reg_percentile_threshold": "lp_reg",
    "lp_reg_keep_mask": "lp_reg",
    "fourier_bin_log_probs": "fourier",
    "fourier_autocorrelation": "fourier",
    "fourier_cdf": "fourier",
    "fourier_regularization": "fourier",
    "quantize": "fourier",
    "dequantize": "fourier",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trl_explore.functional' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
