"""Configuration of `ExploreGRPOTrainer`: TRL's `GRPOConfig` plus every exploration component, each off by default."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from trl import GRPOConfig

from ..functional.lp_reg import APPLY_TO, KL_ESTIMATORS, PERCENTILE_SCOPES, THRESHOLD_KINDS
from ..functional.relative_negative import ADVANTAGE_MODES

logger = logging.getLogger(__name__)

NEGATIVE_NORMALIZATIONS = ("all_tokens", "selected_tokens")

# Loss types whose per-token surrogate the explore loss path reproduces (the others keep TRL's own loss only)
OWN_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


@dataclass
class ExploreGRPOConfig(GRPOConfig):
    r"""
    Configuration class for [`ExploreGRPOTrainer`]: every parameter of [`~trl.GRPOConfig`] plus the exploration
    components. Every component is off by default; with all of them off the trainer is TRL's `GRPOTrainer`.

    > Parameters of the Lp-Reg component (low-probability regularization, arXiv 2510.03222)

        lp_reg (`bool`, *optional*, defaults to `False`):
            Whether to regularize low-probability "reasoning spark" tokens of negative-advantage samples towards a
            min-p-filtered proxy of the data-generating policy.
        lp_reg_min_p (`float`, *optional*, defaults to `0.02`):
            Proxy threshold in `(0, 1]`: κ of `π(v) >= κ · max π` with `lp_reg_threshold="min_p"`, or the absolute
            τ of `π(v) >= τ` with `lp_reg_threshold="fixed"`. Decided on the temperature-1 probabilities.
        lp_reg_rho (`float`, *optional*, defaults to `0.01`):
            Fraction ρ in `(0, 1)` of lowest-probability tokens that are candidates for regularization (`0.005` in
            the 32B recipe). Nothing is selected when `int(n · ρ) <= 1`.
        lp_reg_beta (`float`, *optional*, defaults to `1.0`):
            Weight β >= 0 of the KL term `β · clamp(KL, -10, 10)` on selected tokens.
        lp_reg_threshold (`str`, *optional*, defaults to `"min_p"`):
            Kind of proxy threshold: `"min_p"` (relative to the row's top probability, released code) or `"fixed"`.
        lp_reg_percentile_scope (`str`, *optional*, defaults to `"micro_batch_negative"`):
            Population of the ρ-percentile: `"micro_batch_negative"` (the local micro-batch's valid tokens of the
            sign `lp_reg_apply_to` allows, released code) or `"batch_all"` (all valid tokens of the micro-batch on
            every process, gathered, paper).
        lp_reg_kl_estimator (`str`, *optional*, defaults to `"k3_sampled"`):
            `"k3_sampled"`: the low-variance k3 estimator on the sampled token (released code); `"forward_full"`:
            full-vocabulary `KL(π_proxy ‖ π_θ)` on the selected rows (paper text).
        lp_reg_require_below_proxy (`bool`, *optional*, defaults to `True`):
            Whether a selected token must also satisfy `log π_θ(o) < log π_proxy(o)` (released code).
        lp_reg_apply_to (`str`, *optional*, defaults to `"negative"`):
            `"negative"`: only negative-advantage tokens; `"both"`: any advantage sign (paper ablation).

    > Parameters of the relative-negative advantage component (GRPO-N / GSPO-N, arXiv 2510.04028; NSR / PSR /
    > W-REINFORCE, arXiv 2506.01347). "The" reward of a completion is TRL's weighted sum of the reward functions
    > (`reward_weights`); formulas in `trl_explore.functional.relative_negative`.

        advantage_mode (`str`, *optional*, defaults to `"grpo"`):
            `"grpo"`: TRL's own advantages, untouched (the component is off unless `rng_metrics=True`); `"grpo_n"`:
            `min(A_grpo, 0)`, only relative-negative gradients (positive-advantage samples dropped); `"gspo_n"`: as
            `"grpo_n"` with sequence-level importance sampling (sets `importance_sampling_level="sequence"`);
            `"nsr"`: `-1` for incorrect samples, correct ones dropped; `"psr"`: `+1` for correct samples, incorrect
            ones dropped; `"w_reinforce"`: `+positive_weight` for correct, `-1` for incorrect samples.
        positive_weight (`float`, *optional*, defaults to `0.1`):
            λ >= 0 of W-REINFORCE, the advantage of correct samples (`0` gives NSR's advantages, `1` REINFORCE).
        correct_threshold (`float`, *optional*, defaults to `1.0`):
            A completion is "correct" when its reward is `>= correct_threshold` (NSR / PSR / W-REINFORCE, and the
            `rng/frac_mixed_groups` metric). With graded rewards this is the mapping to the correct / incorrect split.
        negative_normalization (`str`, *optional*, defaults to `"all_tokens"`):
            Whether dropped samples still count in the loss denominator: `"all_tokens"` (they do, with advantage 0;
            GRPO-N paper default) or `"selected_tokens"` (their tokens leave the loss mask: the `dapo` denominator
            becomes the kept samples' tokens over all processes, `bnpo` the kept tokens of the micro-batch; NSR's
            released code). With `grpo` and `dr_grpo` the denominators do not depend on which samples are kept, so
            the two options differ only in whether dropped samples still receive the reference-KL term (`beta > 0`).
        rng_metrics (`bool`, *optional*, defaults to `False`):
            Log the `rng/*` metrics also with `advantage_mode="grpo"` (the component then runs with TRL's advantages
            untouched, through the explore loss path). Always on for the other modes.
    """

    lp_reg: bool = field(default=False, metadata={"help": "Enable the Lp-Reg component."})
    lp_reg_min_p: float = field(
        default=0.02, metadata={"help": "κ of the min-p proxy (or τ with lp_reg_threshold='fixed'), in (0, 1]."}
    )
    lp_reg_rho: float = field(
        default=0.01, metadata={"help": "Fraction ρ of lowest-probability tokens that are candidates, in (0, 1)."}
    )
    lp_reg_beta: float = field(default=1.0, metadata={"help": "Weight β >= 0 of the KL term on selected tokens."})
    lp_reg_threshold: str = field(
        default="min_p", metadata={"help": "Proxy threshold kind.", "choices": list(THRESHOLD_KINDS)}
    )
    lp_reg_percentile_scope: str = field(
        default="micro_batch_negative",
        metadata={"help": "Population of the ρ-percentile.", "choices": list(PERCENTILE_SCOPES)},
    )
    lp_reg_kl_estimator: str = field(
        default="k3_sampled", metadata={"help": "KL estimator on selected tokens.", "choices": list(KL_ESTIMATORS)}
    )
    lp_reg_require_below_proxy: bool = field(
        default=True, metadata={"help": "Require log π_θ(o) < log π_proxy(o) for selection."}
    )
    lp_reg_apply_to: str = field(
        default="negative", metadata={"help": "Advantage signs Lp-Reg applies to.", "choices": list(APPLY_TO)}
    )

    advantage_mode: str = field(
        default="grpo",
        metadata={"help": "Advantage mode of the relative-negative component.", "choices": list(ADVANTAGE_MODES)},
    )
    positive_weight: float = field(default=0.1, metadata={"help": "λ >= 0 of W-REINFORCE (weight of correct samples)."})
    correct_threshold: float = field(
        default=1.0, metadata={"help": "Reward at or above which a completion counts as correct."}
    )
    negative_normalization: str = field(
        default="all_tokens",
        metadata={
            "help": "Whether dropped samples count in the loss denominator.",
            "choices": list(NEGATIVE_NORMALIZATIONS),
        },
    )
    rng_metrics: bool = field(default=False, metadata={"help": "Log the rng/* metrics with advantage_mode='grpo' too."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self._validate_lp_reg()
        self._validate_relative_negative()

    @property
    def relative_negative_enabled(self) -> bool:
        """Whether the relative-negative component runs (any mode but `"grpo"`, or `rng_metrics=True`)."""
        return self.advantage_mode != "grpo" or self.rng_metrics

    def _validate_relative_negative(self) -> None:
        if self.advantage_mode not in ADVANTAGE_MODES:
            raise ValueError(f"`advantage_mode` must be one of {list(ADVANTAGE_MODES)}, got {self.advantage_mode!r}.")
        if self.negative_normalization not in NEGATIVE_NORMALIZATIONS:
            raise ValueError(
                f"`negative_normalization` must be one of {list(NEGATIVE_NORMALIZATIONS)}, "
                f"got {self.negative_normalization!r}."
            )
        if not (math.isfinite(self.positive_weight) and self.positive_weight >= 0.0):
            raise ValueError(f"`positive_weight` must be a finite value >= 0, got {self.positive_weight}.")
        if not math.isfinite(self.correct_threshold):
            raise ValueError(f"`correct_threshold` must be a finite value, got {self.correct_threshold}.")
        if self.advantage_mode == "gspo_n" and self.importance_sampling_level != "sequence":
            # GSPO-N *is* GRPO-N with sequence-level ratios; token level would be grpo_n, so the field is set, not refused
            logger.info("advantage_mode='gspo_n' sets importance_sampling_level='sequence'.")
            self.importance_sampling_level = "sequence"
        if not self.relative_negative_enabled:
            return
        if self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(
                f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} with advantage_mode={self.advantage_mode!r}, "
                f"got {self.loss_type!r}."
            )
        if self.use_adaptive_entropy:
            raise ValueError(
                f"`use_adaptive_entropy` must be False with advantage_mode={self.advantage_mode!r} (a static "
                "`entropy_coef` is supported), got True."
            )
        if self.entropy_coef != 0.0 and self.top_entropy_quantile < 1.0:
            raise ValueError(
                "`top_entropy_quantile` must be 1.0 when `entropy_coef` != 0 with the relative-negative component, "
                f"got {self.top_entropy_quantile}."
            )

    def _validate_lp_reg(self) -> None:
        def choice(name: str, options: tuple[str, ...]) -> None:
            value = getattr(self, name)
            if value not in options:
                raise ValueError(f"`{name}` must be one of {list(options)}, got {value!r}.")

        if not 0.0 < self.lp_reg_min_p <= 1.0:
            raise ValueError(f"`lp_reg_min_p` must be in (0, 1], got {self.lp_reg_min_p}.")
        if not 0.0 < self.lp_reg_rho < 1.0:
            raise ValueError(f"`lp_reg_rho` must be in (0, 1), got {self.lp_reg_rho}.")
        if not self.lp_reg_beta >= 0.0:
            raise ValueError(f"`lp_reg_beta` must be >= 0, got {self.lp_reg_beta}.")
        choice("lp_reg_threshold", THRESHOLD_KINDS)
        choice("lp_reg_percentile_scope", PERCENTILE_SCOPES)
        choice("lp_reg_kl_estimator", KL_ESTIMATORS)
        choice("lp_reg_apply_to", APPLY_TO)
        if self.lp_reg:
            if self.loss_type not in OWN_LOSS_TYPES:
                raise ValueError(
                    f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} when `lp_reg=True`, got {self.loss_type!r}."
                )
            if self.entropy_coef != 0.0 or self.use_adaptive_entropy:
                raise ValueError(
                    "`entropy_coef` must be 0.0 and `use_adaptive_entropy` False when `lp_reg=True` (Lp-Reg replaces "
                    f"the entropy bonus), got entropy_coef={self.entropy_coef}, "
                    f"use_adaptive_entropy={self.use_adaptive_entropy}."
                )
