"""Pure tensor math, one module per method: no Trainer, no accelerate, no I/O.

Names are resolved lazily from their modules so importing this package stays cheap. Every public function and class
of every module is listed here (`tests/functional/test_exports.py` checks it).
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    # answer_choice
    "masked_argmax": "answer_choice",
    "pad_ragged": "answer_choice",
    "pmi_log_scores": "answer_choice",
    "sfc_certificate": "answer_choice",
    "unique_token_mass": "answer_choice",
    # covariance
    "clip_cov_mask": "covariance",
    "covariance_k": "covariance",
    "kl_cov_penalty": "covariance",
    "token_covariance": "covariance",
    # dr_bot
    "repeated_ngram_mask": "dr_bot",
    "top_std_group_mask": "dr_bot",
    # fourier
    "bin_centers": "fourier",
    "bin_edges": "fourier",
    "dequantize": "fourier",
    "fourier_autocorrelation": "fourier",
    "fourier_bases": "fourier",
    "fourier_bin_basis": "fourier",
    "fourier_bin_log_probs": "fourier",
    "fourier_cdf": "fourier",
    "fourier_coefficients": "fourier",
    "fourier_density": "fourier",
    "fourier_density_at": "fourier",
    "fourier_exact_bases": "fourier",
    "fourier_regularization": "fourier",
    "normalize_autocorrelation": "fourier",
    "quantize": "fourier",
    "sample_fourier_continuous": "fourier",
    # hapo
    "HapoEntropyStats": "hapo",
    "hapo_clip_bounds": "hapo",
    "hapo_entropy_scores": "hapo",
    "hapo_entropy_stats": "hapo",
    "hapo_pivot_rank": "hapo",
    "hapo_redistribute_advantages": "hapo",
    "hapo_row_temperature_factor": "hapo",
    "hapo_temperature_factor": "hapo",
    "tlga_advantages": "hapo",
    # lastde
    "diversity_entropy": "lastde",
    "lastde_plus_plus_score": "lastde",
    "lastde_score": "lastde",
    "multiscale_diversity_entropy": "lastde",
    # lp_reg
    "LpRegSelection": "lp_reg",
    "lp_reg_forward_full_kl": "lp_reg",
    "lp_reg_keep_mask": "lp_reg",
    "lp_reg_per_token_loss": "lp_reg",
    "lp_reg_percentile_threshold": "lp_reg",
    "lp_reg_proxy_logps": "lp_reg",
    "lp_reg_select": "lp_reg",
    # pass_at_k
    "pass_at_k": "pass_at_k",
    # rank_aware
    "rank_aware_log_weight": "rank_aware",
    "rank_aware_token_loss": "rank_aware",
    "rank_aware_token_stats": "rank_aware",
    # relative_negative
    "relative_negative_advantages": "relative_negative",
    "relative_negative_group_stats": "relative_negative",
    # spear
    "median": "spear",
    "power_of_two_floor": "spear",
    "recalibrated_advantages": "spear",
    "replay_allocation": "spear",
    "sil_weight": "spear",
    "toolcall_reward_value": "spear",
    "toolcall_weight": "spear",
    # swireasoning
    "SwitchStep": "swireasoning",
    "mix_embeddings": "swireasoning",
    "mix_weight": "swireasoning",
    "soft_embeddings": "swireasoning",
    "swireasoning_entropy": "swireasoning",
    "swireasoning_switch": "swireasoning",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

# `pass_at_k` names both a module and its function. Importing the submodule (from anywhere, e.g. `metrics.sampling`)
# binds the package attribute `pass_at_k` to the *module*, which then shadows the lazy name; binding the function here
# (numpy only, no torch) keeps `from trl_explore.functional import pass_at_k` the function in any import order.
from .pass_at_k import pass_at_k  # noqa: E402
