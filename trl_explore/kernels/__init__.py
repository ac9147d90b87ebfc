"""Chunked / fused vocabulary passes (CPU torch path; no [B, T, V] tensors). Names resolve lazily."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "token_stats": "token_stats",
    "TokenStatsFunction": "token_stats",
    "TokenStatsRequest": "token_stats",
    "fused_token_stats": "token_stats",
    "fused_rank_aware_loss": "rank_aware",
    "RankAwareLinearLossFunction": "rank_aware",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trl_explore.kernels' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
