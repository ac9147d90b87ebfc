"""Pure tensor math, one module per method: no Trainer, no accelerate, no I/O.

Names are resolved lazily from their modules so importing this package stays cheap.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "pass_at_k": "pass_at_k",
    "rank_aware_token_loss": "rank_aware",
    "rank_aware_token_stats": "rank_aware",
    "rank_aware_log_weight": "rank_aware",
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
    "relative_negative_advantages": "relative_negative",
    "relative_negative_group_stats": "relative_negative",
    "dequantize": "fourier",
    "swireasoning_entropy": "swireasoning",
    "swireasoning_switch": "swireasoning",
    "soft_embeddings": "swireasoning",
    "mix_embeddings": "swireasoning",
    "mix_weight": "swireasoning",
    "unique_token_mass": "answer_choice",
    "sfc_certificate": "answer_choice",
    "pmi_log_scores": "answer_choice",
    "clip_cov_mask": "covariance",
    "kl_cov_penalty": "covariance",
    "token_covariance": "covariance",
    "repeated_ngram_mask": "dr_bot",
    "top_std_group_mask": "dr_bot",
    "sil_weight": "spear",
    "toolcall_weight": "spear",
    "recalibrated_advantages": "spear",
    "replay_allocation": "spear",
    "power_of_two_floor": "spear",
    "diversity_entropy": "lastde",
    "multiscale_diversity_entropy": "lastde",
    "lastde_score": "lastde",
    "lastde_plus_plus_score": "lastde",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

