"""Fused vocabulary passes on one tiling core (CPU torch path; no [B, T, V] tensors). Names resolve lazily."""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "TiledHead": "_tiled_head",
    "token_stats": "token_stats",
    "TokenStats": "token_stats",
    "TokenStatsRequest": "token_stats",
    "fused_token_stats": "fused_head",
    "fused_rank_aware_loss": "rank_aware",
    "RankAwareRequest": "rank_aware",
    "fused_head": "fused_head",
    "FusedHeadRecord": "fused_head",
    "project_rows": "fused_head",
    "detection_stats": "detection_stats",
    "DetectionStats": "detection_stats",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
