"""Trainers: thin subclasses of TRL trainers. Names are resolved lazily so importing this package stays cheap."""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "ExploreGRPOConfig": "explore_grpo_config",
    "ExploreGRPOTrainer": "explore_grpo_trainer",
    "ExploreComponent": "explore_grpo_trainer",
    "LossContext": "explore_grpo_trainer",
    "LpRegComponent": "lp_reg_component",
    "LpRegConfig": "lp_reg_config",
    "LpRegGRPOTrainer": "lp_reg_trainer",
    "FourierSFTConfig": "fourier_head_config",
    "FourierSFTTrainer": "fourier_head_trainer",
    "RankAwareSFTConfig": "rank_aware_config",
    "RankAwareSFTTrainer": "rank_aware_trainer",
    "RelativeNegativeComponent": "relative_negative_component",
    "RelativeNegativeConfig": "relative_negative_config",
    "RelativeNegativeGRPOTrainer": "relative_negative_trainer",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

