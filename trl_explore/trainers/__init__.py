"""Trainers: thin subclasses of TRL trainers. Names are resolved lazily so importing this package stays cheap."""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "ExploreGRPOConfig": "explore_grpo_config",
    "ExploreGRPOTrainer": "explore_grpo_trainer",
    "ComponentArguments": "components",
    "ExploreComponent": "components",
    "GenerationContext": "components",
    "LossContext": "components",
    "Metric": "components",
    "SamplingContext": "components",
    "SamplingRequest": "components",
    "register_component": "components",
    "registered_components": "components",
    "unregister_component": "components",
    "HAPOArguments": "components",
    "HAPOConfig": "hapo_config",
    "HAPOGRPOTrainer": "hapo_trainer",
    "LpRegArguments": "components",
    "LpRegComponent": "components",
    "LpRegConfig": "lp_reg_config",
    "LpRegGRPOTrainer": "lp_reg_trainer",
    "FourierSFTConfig": "fourier_head_config",
    "FourierSFTTrainer": "fourier_head_trainer",
    "RankAwareSFTConfig": "rank_aware_config",
    "RankAwareSFTTrainer": "rank_aware_trainer",
    "RelativeNegativeArguments": "components",
    "RelativeNegativeComponent": "components",
    "RelativeNegativeConfig": "relative_negative_config",
    "RelativeNegativeGRPOTrainer": "relative_negative_trainer",
    "ClipCovComponent": "components",
    "CovarianceArguments": "components",
    "DrBoTArguments": "components",
    "DrBoTComponent": "components",
    "KLCovComponent": "components",
    "SelfImitationComponent": "components",
    "SPEARArguments": "components",
    "SPEARConfig": "spear_config",
    "SPEARGRPOTrainer": "spear_trainer",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
