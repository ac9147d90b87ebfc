"""The relative-negative advantage component of `ExploreGRPOTrainer` (math in `trl_explore.functional.relative_negative`).

GRPO-N / GSPO-N (arXiv 2510.04028) and NSR / PSR / W-REINFORCE (arXiv 2506.01347): the advantages TRL computed in
``_generate_and_score_completions`` are replaced after ``super()`` returns, and dropped samples are masked out of the
loss with the denominator chosen by ``negative_normalization``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from ..functional.relative_negative import GROUP_MODES, relative_negative_advantages, relative_negative_group_stats
from ..kernels.token_stats import TokenStatsRequest
from .explore_grpo_trainer import ExploreComponent, LossContext

if TYPE_CHECKING:  # pragma: no cover
    from .explore_grpo_trainer import ExploreGRPOTrainer

# Input key carrying the per-sample keep mask ([B] bool); TRL shuffles and splits it with the batch
SAMPLE_MASK_KEY = "rng_sample_mask"


class RelativeNegativeComponent(ExploreComponent):
    """Rewrites ``advantages`` per `ExploreGRPOConfig.advantage_mode` and masks dropped samples out of the loss.

    * ``grpo``: TRL's advantages untouched (the component only runs for the metrics, ``rng_metrics=True``).
    * ``grpo_n`` / ``gspo_n``: ``min(A_TRL, 0)`` on TRL's own (already sliced) advantages — exactly the group formula
      of `relative_negative_advantages` under TRL's defaults, and TRL's ``scale_rewards`` / multi-objective options
      otherwise; positive-advantage samples are dropped.
    * ``nsr`` / ``psr`` / ``w_reinforce``: `relative_negative_advantages` on the gathered rewards (TRL's weighted sum
      of the reward functions over all processes), sliced to this process like TRL does. A completion every reward
      function skipped (``None``, NaN) is unscorable: as in TRL it gets advantage 0, and it is dropped.

    ``negative_normalization="selected_tokens"`` removes dropped samples' tokens from the loss mask and recomputes
    ``num_items_in_batch`` (the ``dapo`` denominator) from the kept samples' tokens over all processes.

    Metrics (``rng/``): ``frac_negative_tokens`` (valid completion tokens of negative-advantage samples / valid
    tokens, global, per generation), ``frac_mixed_groups`` (groups with both a correct and an incorrect sample,
    per generation), ``frac_kept_samples`` (samples kept in the loss, per generation), ``max_prob_sampled`` (mean over
    valid completion tokens of the current policy's top probability at the sampling temperature, from the fused
    LM-head pass of the training forward, per micro-batch).
    """

    name = "relative_negative"

    def __init__(self, trainer: ExploreGRPOTrainer) -> None:
        super().__init__(trainer)
        args = trainer.args
        self.mode = args.advantage_mode
        self.positive_weight = args.positive_weight
        self.correct_threshold = args.correct_threshold
        self.normalization = args.negative_normalization
        if self.mode == "gspo_n" and trainer.importance_sampling_level != "sequence":
            raise ValueError(
                "advantage_mode='gspo_n' needs importance_sampling_level='sequence', "
                f"got {trainer.importance_sampling_level!r}."
            )

    def token_stats(self) -> TokenStatsRequest:
        # only the row maximum is needed: no proxy statistics
        return TokenStatsRequest(min_p=None)

    @property
    def edits_loss(self) -> bool:
        return True

    # ------------------------------------------------------------------------------------------------ generation
    def _combined_rewards(self) -> torch.Tensor:
        """``[N_global]`` TRL's weighted sum of the reward functions; NaN where every function skipped the sample."""
        trainer = self.trainer
        per_func = trainer._last_rewards_per_func
        if per_func is None:
            raise RuntimeError("No rewards were stashed from `_calculate_rewards` for this generation.")
        weights = trainer.reward_weights.to(per_func.device).unsqueeze(0)
        rewards = (per_func * weights).nansum(dim=1)
        rewards[torch.isnan(per_func).all(dim=1)] = math.nan
        return rewards

    def post_generation(self, output: dict[str, Any]) -> dict[str, Any]:
        trainer = self.trainer
        accelerator = trainer.accelerator
        mode = "train" if trainer.model.training else "eval"
        num_generations = trainer.num_generations if mode == "train" else trainer.num_generations_eval
        rewards = self._combined_rewards()  # [N_global]
        trl_advantages = output["advantages"]  # [B_local]
        local = trl_advantages.shape[0]
        start = accelerator.process_index * local
        if self.mode == "grpo":
            advantages, keep = trl_advantages, torch.ones_like(trl_advantages, dtype=torch.bool)
        elif self.mode in GROUP_MODES:
            advantages, keep = torch.clamp(trl_advantages, max=0.0), trl_advantages <= 0
        else:
            unscorable = torch.isnan(rewards)
            filled = torch.where(unscorable, torch.zeros_like(rewards), rewards)
            adv_all, keep_all = relative_negative_advantages(
                filled, num_generations, self.mode, self.positive_weight, self.correct_threshold
            )
            adv_all = adv_all.masked_fill(unscorable, 0.0)
            keep_all = keep_all & ~unscorable
            advantages = adv_all[start : start + local].to(trl_advantages.dtype)
            keep = keep_all[start : start + local]
        output["advantages"] = advantages
        output[SAMPLE_MASK_KEY] = keep

        loss_mask = output["completion_mask"]
        if output.get("tool_mask") is not None:
            loss_mask = loss_mask * output["tool_mask"]
        loss_mask = loss_mask.float()
        kept_mask = loss_mask * keep.unsqueeze(1).float()
        negative = (advantages < 0).unsqueeze(1).float()
        counts = torch.stack(
            [
                (loss_mask * negative).sum(),
                loss_mask.sum(),
                kept_mask.sum(),
                keep.float().sum(),
                torch.tensor(float(local), device=loss_mask.device),
            ]
        )
        n_negative, n_valid, n_kept_tokens, n_kept, n_samples = accelerator.reduce(counts, reduction="sum").tolist()
        if self.normalization == "selected_tokens":
            output["num_items_in_batch"] = torch.tensor(
                n_kept_tokens, device=output["num_items_in_batch"].device, dtype=output["num_items_in_batch"].dtype
            )
        group = relative_negative_group_stats(rewards, num_generations, self.correct_threshold)
        metrics = trainer._metrics[mode]
        metrics["rng/frac_negative_tokens"].append(n_negative / n_valid if n_valid > 0 else math.nan)
        metrics["rng/frac_mixed_groups"].append(group["frac_mixed_groups"])
        metrics["rng/frac_kept_samples"].append(n_kept / max(n_samples, 1.0))
        return output

    # ------------------------------------------------------------------------------------------------------- loss
    def adjust_loss(self, ctx: LossContext) -> None:
        trainer = self.trainer
        max_logp = ctx.token_stats.get("max_logp")
        if max_logp is not None:
            value = trainer._global_masked_mean(max_logp.detach().exp(), ctx.mask)
            trainer._metrics[ctx.mode]["rng/max_prob_sampled"].append(value)
        if trainer.entropy_coef != 0.0:
            # TRL's static entropy bonus (the explore loss path does not run TRL's): -coef · masked mean entropy, over
            # all valid tokens (TRL's mask), scaled for gradient accumulation only (adaptive mode is refused in config)
            accumulation = trainer.current_gradient_accumulation_steps if ctx.mode == "train" else 1.0
            mask = ctx.mask.to(ctx.entropies.dtype)
            entropy = (ctx.entropies * mask).sum() / mask.sum().clamp(min=1.0) / accumulation
            ctx.extra_loss.append(-trainer.entropy_coef * entropy)
        keep = ctx.inputs.get(SAMPLE_MASK_KEY)
        if keep is None:
            return
        keep = keep.to(ctx.per_token_loss.device).unsqueeze(1)  # [B, 1]
        # dropped samples have advantage 0, so their surrogate is already 0; zero it explicitly all the same
        ctx.per_token_loss = ctx.per_token_loss * keep.to(ctx.per_token_loss.dtype)
        if self.normalization == "selected_tokens":
            ctx.mask = ctx.mask * keep.to(ctx.mask.dtype)
