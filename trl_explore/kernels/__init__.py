"""Chunked / fused vocabulary passes (CPU torch path; no [B, T, V] tensors). Names resolve lazily."""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "token_stats": "token_stats",
    "TokenStatsFunction": "token_stats",
    "TokenStatsRequest": "token_stats",
    "fused_token_stats": "token_stats",
    "fused_rank_aware_loss": "rank_aware",
    "RankAwareLinearLossFunction": "rank_aware",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

