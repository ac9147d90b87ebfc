"""The relative-negative advantage component (math in `trl_explore.functional.relative_negative`).

GRPO-N / GSPO-N (arXiv 2510.04028) and NSR / PSR / W-REINFORCE (arXiv 2506.01347): the advantages of a scored
generation batch are replaced in the ``advantages`` phase, and dropped samples leave the loss with the denominator
chosen by ``negative_normalization`` (`GenerationContext.drop_samples`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from ..._validation import check_bool, check_choice, check_number
from ...functional.relative_negative import (
    ADVANTAGE_MODES,
    GROUP_MODES,
    relative_negative_advantages,
    relative_negative_group_stats,
)
from ...kernels.token_stats import TokenStatsRequest
from .base import (
    NEGATIVE_NORMALIZATIONS,
    OWN_LOSS_TYPES,
    ComponentArguments,
    ExploreComponent,
    GenerationContext,
    LossContext,
    Metric,
    register_component,
)

__all__ = ["RelativeNegativeArguments", "RelativeNegativeComponent"]

logger = logging.getLogger(__name__)


@dataclass
class RelativeNegativeArguments(ComponentArguments):
    r"""
    > Parameters of the relative-negative advantage component (GRPO-N / GSPO-N, arXiv 2510.04028; NSR / PSR /
    > W-REINFORCE, arXiv 2506.01347). "The" reward of a completion is TRL's weighted sum of the reward functions
    > (`reward_weights`); formulas in `trl_explore.functional.relative_negative`.

        advantage_mode (`str`, *optional*, defaults to `"grpo"`):
            `"grpo"`: TRL's own advantages, untouched (the component is off unless `rng_metrics=True`); `"grpo_n"`:
            `min(A, 0)` of the incoming advantages, only relative-negative gradients (positive-advantage samples
            dropped); `"gspo_n"`: as `"grpo_n"` with sequence-level importance sampling (sets
            `importance_sampling_level="sequence"`); `"nsr"`: `-1` for incorrect samples, correct ones dropped;
            `"psr"`: `+1` for correct samples, incorrect ones dropped; `"w_reinforce"`: `+positive_weight` for correct,
            `-1` for incorrect samples.
        positive_weight (`float`, *optional*, defaults to `0.1`):
            λ >= 0 of W-REINFORCE, the advantage of correct samples (`0` gives NSR's advantages, `1` REINFORCE). Only
            read by `"w_reinforce"`.
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
            Log the `rng/*` metrics also with `advantage_mode="grpo"` (TRL's loss then runs unchanged; only its LM-head
            pass also yields the top probability). Always on for the other modes.
    """

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

    @property
    def relative_negative_enabled(self) -> bool:
        """Whether the relative-negative component runs (any mode but `"grpo"`, or `rng_metrics=True`)."""
        return self.advantage_mode != "grpo" or self.rng_metrics

    def validate(self) -> None:
        check_choice(self, "advantage_mode", ADVANTAGE_MODES)
        check_choice(self, "negative_normalization", NEGATIVE_NORMALIZATIONS)
        check_number(self, "positive_weight", low=0.0)
        check_number(self, "correct_threshold")
        check_bool(self, "rng_metrics")
        if self.advantage_mode == "gspo_n" and self.importance_sampling_level != "sequence":
            # GSPO-N *is* GRPO-N with sequence-level ratios; token level would be grpo_n, so the field is set, not refused
            logger.info("advantage_mode='gspo_n' sets importance_sampling_level='sequence'.")
            self.importance_sampling_level = "sequence"
        if self.advantage_mode != "w_reinforce" and self.positive_weight != 0.1:
            logger.warning(
                "`positive_weight`=%s has no effect: only advantage_mode='w_reinforce' reads it (got %r).",
                self.positive_weight,
                self.advantage_mode,
            )
        if self.advantage_mode == "grpo" and self.negative_normalization != "all_tokens":
            logger.warning("`negative_normalization` has no effect with advantage_mode='grpo' (no sample is dropped).")
        if self.advantage_mode != "grpo" and self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(
                f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} with advantage_mode={self.advantage_mode!r}, "
                f"got {self.loss_type!r}."
            )


@register_component
class RelativeNegativeComponent(ExploreComponent):
    """Rewrites the advantages per ``advantage_mode`` and drops the samples the mode does not train on.

    * ``grpo``: the incoming advantages untouched (the component only runs for the metrics, ``rng_metrics=True``).
    * ``grpo_n`` / ``gspo_n``: ``min(A, 0)`` of the incoming advantages (TRL's, or those of an earlier advantage
      component) — exactly the group formula of `relative_negative_advantages` under TRL's defaults, and TRL's
      ``scale_rewards`` / multi-objective options otherwise; non-negative samples are dropped.
    * ``nsr`` / ``psr`` / ``w_reinforce``: `relative_negative_advantages` on the gathered rewards (TRL's weighted sum
      of the reward functions over all processes), sliced to this process like TRL does. A completion every reward
      function skipped (``None``, NaN) is unscorable: as in TRL it gets advantage 0, and it is dropped.

    Metrics (``rng/``): ``frac_negative_tokens`` (valid completion tokens of negative-advantage samples / valid
    tokens, global, per generation), ``frac_mixed_groups`` (groups with both a correct and an incorrect sample,
    per generation), ``frac_kept_samples`` (samples kept in the loss, per generation), ``max_prob_sampled`` (mean over
    valid completion tokens of the current policy's top probability at the sampling temperature, from the fused
    LM-head pass of the training forward, per micro-batch).
    """

    name = "relative_negative"
    metric_namespace = "rng"
    arguments = RelativeNegativeArguments
    # a sample selection: after advantage normalisations (e.g. HAPO's token-level group average)
    order = {"advantages": 50}
    example_config = dict(advantage_mode="grpo_n")

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return getattr(args, "advantage_mode", "grpo") != "grpo" or bool(getattr(args, "rng_metrics", False))

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        self.mode = self.args.advantage_mode
        self._threshold_warned = False
        if self.mode == "gspo_n" and trainer.importance_sampling_level != "sequence":
            raise ValueError(
                "advantage_mode='gspo_n' needs importance_sampling_level='sequence', "
                f"got {trainer.importance_sampling_level!r}."
            )

    @property
    def edits_loss(self) -> bool:  # type: ignore[override]
        return self.mode != "grpo"

    def token_stats(self) -> TokenStatsRequest:
        return TokenStatsRequest(min_p=None)  # only the row maximum is needed: no proxy statistics

    # ------------------------------------------------------------------------------------------------ generation
    def advantages(self, ctx: GenerationContext) -> None:
        if self.mode == "grpo":
            return
        if self.mode in GROUP_MODES:
            drop = ctx.advantages > 0
            ctx.advantages = torch.clamp(ctx.advantages, max=0.0)
        else:
            rewards = ctx.rewards
            unscorable = torch.isnan(rewards)
            self._warn_if_threshold_unreached(rewards[~unscorable])
            filled = torch.where(unscorable, torch.zeros_like(rewards), rewards)
            adv_all, keep_all = relative_negative_advantages(
                filled, ctx.num_generations, self.mode, self.args.positive_weight, self.args.correct_threshold
            )
            adv_all = adv_all.masked_fill(unscorable, 0.0)
            keep_all = keep_all & ~unscorable
            ctx.advantages = adv_all[ctx.process_slice].to(ctx.advantages.dtype)
            drop = ~keep_all[ctx.process_slice]
        ctx.drop_samples(drop, self.args.negative_normalization)

    def _warn_if_threshold_unreached(self, rewards: torch.Tensor) -> None:
        """Once per run: the rewards of a batch differ, yet none reaches `correct_threshold`, so every completion
        counts as incorrect (NSR trains on all of them, PSR on none). Usually a threshold above the reward scale."""
        if self._threshold_warned or rewards.numel() == 0:
            return
        low, high = rewards.min().item(), rewards.max().item()
        if high > low and high < self.args.correct_threshold:
            self._threshold_warned = True
            logger.warning(
                "advantage_mode=%r: no completion of this batch reaches `correct_threshold`=%s although the rewards "
                "range from %.4g to %.4g, so every completion counts as incorrect. Is the threshold above your "
                "reward scale?",
                self.mode,
                self.args.correct_threshold,
                low,
                high,
            )

    # ---------------------------------------------------------------------------------------------------- metrics
    def loss_metrics(self, ctx: LossContext) -> dict[str, Metric]:
        max_logp = ctx.token_stats.get("max_logp")
        return {} if max_logp is None else {"max_prob_sampled": Metric.masked_mean(max_logp.exp(), ctx.mask)}

    def generation_metrics(self, ctx: GenerationContext) -> dict[str, Metric]:
        advantages = ctx.advantages if ctx.advantages.dim() == 1 else ctx.advantages.mean(-1)
        loss_mask = ctx.loss_mask()
        negative = (advantages < 0).unsqueeze(1).float()
        group = relative_negative_group_stats(ctx.rewards, ctx.num_generations, self.args.correct_threshold)
        return {
            "frac_negative_tokens": Metric((loss_mask * negative).sum(), loss_mask.sum()),
            "frac_mixed_groups": Metric(group["frac_mixed_groups"], reduce="global"),
            "frac_kept_samples": Metric(ctx.keep.float().sum(), float(ctx.keep.numel())),
        }
