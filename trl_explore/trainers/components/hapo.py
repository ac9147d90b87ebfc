"""HAPO's four parts as components (arXiv 2509.16591; math in `trl_explore.functional.hapo`).

* ``hapo_tlga`` — `HapoTLGAComponent` (``advantages``): token-level group average advantages from the gathered rewards
  and the gathered model-token lengths (tool-masked tokens excluded). Runs before sample selections (order 10).
* ``hapo_adaptive_clip`` — `HapoClipComponent` (``prepare_loss``, order 20): per-token clip bounds from h̃, plus the
  dual clip ``c = hapo_dual_clip`` for negative advantages.
* ``hapo_dar`` — `HapoDARComponent` (``prepare_loss``, order 30, after the bounds it reads): per-token advantages.
* ``hapo_adaptive_temperature`` — `HapoTemperatureComponent` (``sampling``): training rollouts sample at
  ``T_base · (1 + τ·h̃)`` with the previous training step's entropy statistics (step 1 samples at plain T_base).

The entropy scores of a micro-batch are computed once, by the first part that needs them, and shared in the loss
context's typed slot `HAPO_SCORES` (`HapoScores`). They come from the entropies of the training forward at TRL's
temperature, over the micro-batch (``hapo_stats_scope="micro_batch"``, released) or over the micro-batches of every
process (``"batch_all"``, gathered). ``hapo_adaptive_temperature`` keeps the statistics of the latest training
micro-batch in its ``after_loss`` phase.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..._validation import check_bool, check_choice, check_number, check_optional_number
from ...functional.hapo import (
    HAPO_PIVOT_RULES,
    HAPO_SIGNS,
    HapoEntropyStats,
    hapo_clip_bounds,
    hapo_entropy_scores,
    hapo_entropy_stats,
    hapo_redistribute_advantages,
    tlga_advantages,
)
from ...kernels.token_stats import TokenStatsRequest
from .base import (
    OWN_LOSS_TYPES,
    ComponentArguments,
    ExploreComponent,
    GenerationContext,
    LossContext,
    Metric,
    SamplingRequest,
    SharedSlot,
    register_component,
    warn_if_ratio_is_one,
)

__all__ = [
    "HAPO_SAMPLING_ENTROPIES",
    "HAPO_SCORES",
    "HAPO_STATS_SCOPES",
    "HAPOArguments",
    "HapoClipComponent",
    "HapoScores",
    "HapoDARComponent",
    "HapoTLGAComponent",
    "HapoTemperatureComponent",
]

logger = logging.getLogger(__name__)

HAPO_STATS_SCOPES = ("micro_batch", "batch_all")
#: `hapo_sampling_entropy` values: the logits whose entropy the rollout sampler scores
HAPO_SAMPLING_ENTROPIES = ("t_base", "raw")
_HAPO_HINT = "HAPO: 16 updates per generation"
_PAD = -1.0e30  # sentinel for padded gathers of log-entropies (log H >= log 1e-8)


@dataclass
class HAPOArguments(ComponentArguments):
    r"""
    > Parameters of the HAPO components (Heterogeneous Adaptive Policy Optimization, arXiv 2509.16591). Each part is a
    > switch; `HAPOConfig` turns all four on with the released defaults.

        hapo_tlga (`bool`, *optional*, defaults to `False`):
            Token-level group average advantages: length-weighted group mean and variance (GRPO fallback for a group
            with any `|A| >= hapo_tlga_fallback`).
        hapo_dar (`bool`, *optional*, defaults to `False`):
            Differential advantage redistribution: per-token `A·(1 + β·h̃)` where the ratio is outside the neutral
            zone (high entropy) or inside it (low entropy).
        hapo_adaptive_clip (`bool`, *optional*, defaults to `False`):
            Asymmetric adaptive clipping: per-token `ε_L·(1 − α·h̃)` (h̃ ≤ 0) and `ε_R·(1 + α·h̃)` (h̃ > 0), plus the dual
            clip `hapo_dual_clip` for negative advantages.
        hapo_adaptive_temperature (`bool`, *optional*, defaults to `False`):
            Adaptive temperature sampling of training rollouts: `T_base·(1 + τ·h̃)` per row and decode step, with the
            previous step's entropy statistics. TRL still computes every log-prob (old, current, reference) at T_base.
        hapo_entropy_pivot (`float`, *optional*, defaults to `0.8`):
            Quantile q in `(0, 1]` of the log-entropies used as the pivot of h̃ (nearest rank).
        hapo_pivot_rule (`str`, *optional*, defaults to `"nearest_rank"`):
            Rank of the pivot among n sorted log-entropies: `"nearest_rank"`: the `⌈q·n⌉`-th smallest; `"released"`:
            the released code's `torch.quantile(..., interpolation="nearest")`, 0-based index `round(q·(n − 1))`
            (one rank lower for 12 of n = 1..59 at q = 0.8).
        hapo_sampling_entropy (`str`, *optional*, defaults to `"t_base"`):
            Logits whose entropy the adaptive-temperature sampler scores: `"t_base"`: `softmax(logits / T_base)`, the
            temperature of the training-side statistics it is standardised with; `"raw"`: `softmax(logits)`, as
            released (identical at T_base = 1).
        hapo_clip_alpha (`float`, *optional*, defaults to `1.0`):
            α >= 0 of the adaptive clipping.
        hapo_adv_beta (`float`, *optional*, defaults to `1.0`):
            β of the advantage redistribution, in `[0, 1]` with `hapo_sign="paper"` (a larger β would flip the sign of
            a low-entropy token's advantage, `1 + β·h̃ < 0`), any β >= 0 with `"released"` (scores in [0, 1]).
        hapo_temperature_tau (`float`, *optional*, defaults to `0.05`):
            τ in `[0, 1)` of the adaptive temperature (released code; the paper says 0.1).
        hapo_sign (`str`, *optional*, defaults to `"paper"`):
            `"paper"`: h̃ in [−1, 1]. `"released"`: the released code's scores, all in [0, 1] (its negative side is
            divided by a negative number), so the low-entropy branches never fire.
        hapo_stats_scope (`str`, *optional*, defaults to `"micro_batch"`):
            Population of the entropy statistics: `"micro_batch"` (this process's micro-batch, released) or
            `"batch_all"` (the micro-batches of every process, gathered).
        hapo_tlga_fallback (`float`, *optional*, defaults to `5.0`):
            A TLGA group with any `|A| >=` this value falls back to GRPO's advantage (released safeguard).
        hapo_dual_clip (`float` or `None`, *optional*, defaults to `10.0`):
            Dual-clip constant c > 1 of the adaptive clipping: the loss of a negative-advantage token is capped at
            `-c·A`. `None` turns it off. (TRL's `delta` is a different, two-sided cap.)
    """

    hapo_tlga: bool = field(default=False, metadata={"help": "HAPO token-level group average advantages."})
    hapo_dar: bool = field(default=False, metadata={"help": "HAPO differential advantage redistribution."})
    hapo_adaptive_clip: bool = field(default=False, metadata={"help": "HAPO asymmetric adaptive clipping."})
    hapo_adaptive_temperature: bool = field(
        default=False, metadata={"help": "HAPO adaptive temperature sampling of training rollouts."}
    )
    hapo_entropy_pivot: float = field(default=0.8, metadata={"help": "Quantile q in (0, 1] of the entropy pivot."})
    hapo_clip_alpha: float = field(default=1.0, metadata={"help": "α >= 0 of the adaptive clipping."})
    hapo_adv_beta: float = field(
        default=1.0, metadata={"help": "β of the advantage redistribution, in [0, 1] with hapo_sign='paper'."}
    )
    hapo_pivot_rule: str = field(
        default="nearest_rank",
        metadata={"help": "Rank rule of the entropy pivot.", "choices": list(HAPO_PIVOT_RULES)},
    )
    hapo_sampling_entropy: str = field(
        default="t_base",
        metadata={"help": "Logits of the sampler's entropy (T_base or raw).", "choices": list(HAPO_SAMPLING_ENTROPIES)},
    )
    hapo_temperature_tau: float = field(
        default=0.05, metadata={"help": "τ in [0, 1) of the adaptive temperature (paper: 0.1)."}
    )
    hapo_sign: str = field(
        default="paper", metadata={"help": "Entropy-score sign convention.", "choices": list(HAPO_SIGNS)}
    )
    hapo_stats_scope: str = field(
        default="micro_batch",
        metadata={"help": "Population of the entropy statistics.", "choices": list(HAPO_STATS_SCOPES)},
    )
    hapo_tlga_fallback: float = field(
        default=5.0, metadata={"help": "|A| at which a TLGA group falls back to GRPO's advantage."}
    )
    hapo_dual_clip: float | None = field(
        default=10.0, metadata={"help": "Dual-clip constant c > 1 for negative advantages (None: off)."}
    )

    @property
    def hapo_enabled(self) -> bool:
        """Whether any HAPO part is on."""
        return bool(self.hapo_tlga or self.hapo_dar or self.hapo_adaptive_clip or self.hapo_adaptive_temperature)

    def validate(self) -> None:
        for name in ("hapo_tlga", "hapo_dar", "hapo_adaptive_clip", "hapo_adaptive_temperature"):
            check_bool(self, name)
        check_choice(self, "hapo_sign", HAPO_SIGNS)
        check_number(self, "hapo_entropy_pivot", low=0.0, high=1.0, low_open=True)
        check_choice(self, "hapo_pivot_rule", HAPO_PIVOT_RULES)
        check_choice(self, "hapo_sampling_entropy", HAPO_SAMPLING_ENTROPIES)
        check_number(self, "hapo_clip_alpha", low=0.0)
        check_number(self, "hapo_adv_beta", low=0.0, high=1.0 if self.hapo_sign == "paper" else None)
        check_number(self, "hapo_temperature_tau", low=0.0, high=1.0, high_open=True)
        check_choice(self, "hapo_stats_scope", HAPO_STATS_SCOPES)
        check_number(self, "hapo_tlga_fallback", low=0.0, low_open=True)
        check_optional_number(self, "hapo_dual_clip", low=1.0, low_open=True)
        if (self.hapo_dar or self.hapo_adaptive_clip) and self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(
                f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} with `hapo_dar` or `hapo_adaptive_clip`, got "
                f"{self.loss_type!r}."
            )
        if self.hapo_adaptive_temperature and getattr(self, "use_transformers_paged", False):
            raise ValueError(
                "`hapo_adaptive_temperature=True` does not support `use_transformers_paged=True` (transformers "
                "continuous batching takes no logits processors)."
            )
        if self.hapo_adaptive_temperature and self.use_vllm and self.vllm_importance_sampling_correction:
            logger.warning(
                "`vllm_importance_sampling_correction=True` with HAPO's adaptive temperature: the rollouts are sampled "
                "at T_base·(1 + τ·h̃) while TRL scores them at T_base, so whole sequences can fall outside the "
                "correction's clip range. Released HAPO applies no correction; `HAPOConfig` turns it off."
            )
        if not self.hapo_enabled:
            unchanged = {
                "hapo_entropy_pivot": 0.8,
                "hapo_clip_alpha": 1.0,
                "hapo_adv_beta": 1.0,
                "hapo_temperature_tau": 0.05,
            }
            changed = [name for name, default in unchanged.items() if getattr(self, name) != default]
            if changed:
                logger.warning("%s set but every HAPO part is off: no effect.", changed)


# --------------------------------------------------------------------------------------------- shared scores
@dataclass(frozen=True, eq=False)
class HapoScores:
    """The entropy scores of one micro-batch, shared by HAPO's loss parts (`HAPO_SCORES`).

    Attributes:
        scores: ``[B, T]`` h̃ (0 where masked).
        stats: the `HapoEntropyStats` they were standardised with.
    """

    scores: torch.Tensor
    stats: HapoEntropyStats


#: The micro-batch's `HapoScores` in `LossContext.shared`: computed by the first HAPO part that needs them
HAPO_SCORES: SharedSlot[HapoScores] = SharedSlot("hapo_scores", HapoScores)


def _gathered_population(accelerator: Any, values: torch.Tensor) -> torch.Tensor:
    """The 1-D ``values`` of every process, concatenated (padded gather)."""
    padded = accelerator.pad_across_processes(values, dim=0, pad_index=_PAD)
    gathered = accelerator.gather(padded)
    return gathered[gathered != _PAD]


def _entropy_stats(trainer: Any, args: Any, entropies: torch.Tensor, mask: torch.Tensor) -> HapoEntropyStats:
    """Statistics of the valid log-entropies of the micro-batch (``micro_batch``) or of every process (``batch_all``).

    A non-finite entropy (from non-finite logits; that token's loss is not finite either) stays out of the population,
    so it cannot turn every other token's score into NaN."""
    log_h = torch.log(torch.clamp(entropies.detach().float(), min=1e-8))[mask.bool()]
    log_h = log_h[torch.isfinite(log_h)]
    if args.hapo_stats_scope == "batch_all":
        log_h = _gathered_population(trainer.accelerator, log_h)
    return hapo_entropy_stats(log_h, args.hapo_entropy_pivot, args.hapo_pivot_rule)


def _entropies(ctx: LossContext) -> torch.Tensor:
    return ctx.entropies if ctx.entropies is not None else ctx.token_stats["entropy"]


def _micro_batch_scores(component: ExploreComponent, ctx: LossContext) -> HapoScores:
    """The micro-batch's `HapoScores`, computed once (by the first HAPO part that asks) and shared in
    ``ctx.shared[HAPO_SCORES]``."""

    def compute() -> HapoScores:
        args = component.args
        entropies = _entropies(ctx)
        stats = _entropy_stats(component.trainer, args, entropies, ctx.mask)
        scores, stats = hapo_entropy_scores(entropies, ctx.mask, args.hapo_entropy_pivot, args.hapo_sign, stats=stats)
        return HapoScores(scores, stats)

    return ctx.shared.get_or_compute(HAPO_SCORES, compute)


def _score_metrics(ctx: LossContext) -> dict[str, Metric]:
    """``h_mean`` / ``frac_high_entropy`` of the micro-batch's shared scores (reported by one HAPO part: the adaptive
    clip when it is on, else the redistribution)."""
    shared = ctx.shared.get(HAPO_SCORES)
    if shared is None:
        return {}
    scores = shared.scores
    return {
        "h_mean": Metric.masked_mean(scores, ctx.mask),
        "frac_high_entropy": Metric.masked_mean((scores > 0).float(), ctx.mask),
    }


def _scorable(
    rewards: torch.Tensor, lengths: torch.Tensor, num_generations: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(rewards, lengths, unscorable)`` for `tlga_advantages` with the unscorable (NaN) completions out of TLGA's
    statistics: length 0 (no weight in the token-level mean and variance), and as reward the length-weighted mean of
    the group's scorable rewards (0 in a group with none), so that they deviate little in the GRPO fallback's plain
    mean and std either. Their advantages are set to 0 by the caller."""
    lengths = lengths.to(rewards.device, torch.float64)
    unscorable = torch.isnan(rewards)
    if not bool(unscorable.any()):
        return rewards, lengths, unscorable
    grouped = rewards.double().view(-1, num_generations)
    missing = unscorable.view(-1, num_generations)
    weights = torch.where(missing, torch.zeros_like(grouped), lengths.view(-1, num_generations))
    filled = torch.where(missing, torch.zeros_like(grouped), grouped)
    scorable = (~missing).double()
    # length-weighted mean; the plain mean where the scorable completions hold no token
    weighted = (weights * filled).sum(1) / weights.sum(1).clamp(min=1e-30)
    plain = filled.sum(1) / scorable.sum(1).clamp(min=1.0)
    mean = torch.where(weights.sum(1) > 0, weighted, plain).unsqueeze(1).expand_as(grouped)
    rewards = torch.where(missing, mean, grouped).flatten().to(rewards.dtype)
    return rewards, weights.flatten(), unscorable


# ------------------------------------------------------------------------------------------------ components
@register_component
class HapoTLGAComponent(ExploreComponent):
    """Token-level group average advantages (`tlga_advantages`). Unscorable completions (every reward function
    skipped them) stay out of their group's statistics and get advantage 0, as in TRL. Metric:
    ``hapo/tlga_fallback_groups`` (groups that fell back, per generation)."""

    name = "hapo_tlga"
    metric_namespace = "hapo"
    arguments = HAPOArguments
    order = {"advantages": 10}  # a normalisation: before sample selections (e.g. NSR / GRPO-N at 50)
    example_config = dict(hapo_tlga=True)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return bool(getattr(args, "hapo_tlga", False))

    def advantages(self, ctx: GenerationContext) -> None:
        rewards, lengths, unscorable = _scorable(ctx.rewards, ctx.global_completion_lengths(), ctx.num_generations)
        advantages, stats = tlga_advantages(
            rewards, lengths, ctx.num_generations, self.args.hapo_tlga_fallback, return_stats=True
        )
        advantages = advantages.masked_fill(unscorable, 0.0)
        ctx.advantages = advantages[ctx.process_slice].to(ctx.advantages.dtype)
        ctx.records[self.name] = stats

    def generation_metrics(self, ctx: GenerationContext) -> dict[str, Metric]:
        if self.name in ctx.records:
            return {"tlga_fallback_groups": Metric(ctx.records[self.name]["fallback_groups"], reduce="global")}
        return {}


@register_component
class HapoClipComponent(ExploreComponent):
    """Asymmetric adaptive clipping (`hapo_clip_bounds`) and the dual clip. Metrics: ``hapo/eps_low_mean``,
    ``hapo/eps_high_mean`` (over valid tokens), and the micro-batch's ``hapo/h_mean``, ``hapo/frac_high_entropy``."""

    name = "hapo_adaptive_clip"
    metric_namespace = "hapo"
    arguments = HAPOArguments
    order = {"prepare_loss": 20}
    edits_loss = True
    example_config = dict(hapo_adaptive_clip=True, num_iterations=2)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return bool(getattr(args, "hapo_adaptive_clip", False))

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        warn_if_ratio_is_one(self, "the adaptive clip bounds are never reached", _HAPO_HINT)

    def prepare_loss(self, ctx: LossContext) -> None:
        scores = _micro_batch_scores(self, ctx).scores
        ctx.eps_low, ctx.eps_high = hapo_clip_bounds(
            scores, self.trainer.epsilon_low, self.trainer.epsilon_high, self.args.hapo_clip_alpha
        )
        ctx.dual_clip = self.args.hapo_dual_clip

    def loss_metrics(self, ctx: LossContext) -> dict[str, Metric]:
        if ctx.per_token_logps is None:  # TRL's own loss path: the loss was not built here
            return {}
        # the bounds this part prepared (a later part, e.g. KL-Cov's unclipped surrogate, may have widened them)
        eps_low, eps_high = torch.as_tensor(ctx.eps_low), torch.as_tensor(ctx.eps_high)
        mask = ctx.mask
        return {
            "eps_low_mean": Metric.masked_mean(eps_low.float().expand_as(mask), mask),
            "eps_high_mean": Metric.masked_mean(eps_high.float().expand_as(mask), mask),
            **_score_metrics(ctx),
        }


@register_component
class HapoDARComponent(ExploreComponent):
    """Differential advantage redistribution (`hapo_redistribute_advantages`) with the (adapted) clip bounds of the
    context. Metrics: ``hapo/dar_frac_amplified`` (valid tokens whose advantage was scaled up) and
    ``hapo/dar_frac_dampened`` (scaled down), and the micro-batch's ``hapo/h_mean``, ``hapo/frac_high_entropy``."""

    name = "hapo_dar"
    metric_namespace = "hapo"
    arguments = HAPOArguments
    order = {"prepare_loss": 30}  # after the adaptive clip bounds it reads
    edits_loss = True
    example_config = dict(hapo_dar=True, num_iterations=2)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return bool(getattr(args, "hapo_dar", False))

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        warn_if_ratio_is_one(self, "the redistribution only dampens low-entropy tokens", _HAPO_HINT)

    def prepare_loss(self, ctx: LossContext) -> None:
        scores = _micro_batch_scores(self, ctx).scores
        before = ctx.advantages
        ctx.advantages = hapo_redistribute_advantages(
            before, scores, ctx.coef_1, ctx.eps_low, ctx.eps_high, self.args.hapo_adv_beta
        )
        changed = ctx.advantages.abs() - before.expand_as(ctx.advantages).abs()
        ctx.records[self.name] = ((changed > 0).float(), (changed < 0).float())

    def loss_metrics(self, ctx: LossContext) -> dict[str, Metric]:
        if self.name not in ctx.records:
            return {}
        amplified, dampened = ctx.records[self.name]
        return {
            "dar_frac_amplified": Metric.masked_mean(amplified, ctx.mask),
            "dar_frac_dampened": Metric.masked_mean(dampened, ctx.mask),
            # the adaptive clip (earlier in prepare_loss) computes and reports the shared scores when it is on
            **({} if self.args.hapo_adaptive_clip else _score_metrics(ctx)),
        }


@register_component
class HapoTemperatureComponent(ExploreComponent):
    """Adaptive temperature sampling of the training rollouts.

    The entropy statistics of the latest training micro-batch (its TRL-temperature entropies, from the fused LM-head
    pass) are kept as component state (each process's own, saved per process with every checkpoint); the next
    rollout samples with them (transformers: an `AdaptiveTemperatureLogitsProcessor`; vLLM: the request arguments of
    `trl_explore.generation.vllm_adaptive_temperature.HapoAdaptiveTemperature`). Before any training step the
    rollout samples at plain T_base. Metrics (per generation, transformers backend; vLLM applies the temperatures
    inside its engine and reports none): ``hapo/temperature_mean``, ``hapo/temperature_min``, ``hapo/temperature_max``
    over every row and decode step.
    """

    name = "hapo_adaptive_temperature"
    metric_namespace = "hapo"
    arguments = HAPOArguments
    # the released statistics (hapo_stats_scope="micro_batch") are each process's own: every process saves and
    # restores its own (with "batch_all" they are equal on every process, and per-process saving is still exact)
    state_per_process = True
    example_config = dict(hapo_adaptive_temperature=True)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return bool(getattr(args, "hapo_adaptive_temperature", False))

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        if trainer.use_vllm and trainer.vllm_importance_sampling_correction:
            raise ValueError(
                "`hapo_adaptive_temperature=True` does not support `vllm_importance_sampling_correction=True`: the "
                "rollouts are sampled at T_base·(1 + τ·h̃) while TRL scores them at T_base, so the correction would "
                "reweight (and clip) whole sequences for the temperature change itself. Set "
                "`vllm_importance_sampling_correction=False` (`HAPOConfig`'s default, as released HAPO)."
            )
        self.stats: HapoEntropyStats | None = None
        self._processors: list[Any] = []

    def token_stats(self) -> TokenStatsRequest:
        return TokenStatsRequest(min_p=None)  # the per-token entropy of the training forward

    def sampling(self, ctx: Any) -> SamplingRequest | None:
        if self.stats is None:
            return None
        args = self.args
        # the temperature of the row entropy: T_base, or 1 (the raw logits, released)
        entropy_temperature = 1.0 if args.hapo_sampling_entropy == "raw" else float(args.temperature)
        if ctx.backend.startswith("vllm"):
            from ...generation.vllm_adaptive_temperature import request_arguments

            # vLLM's processor reads `hapo_temperature` only for the row entropy (vLLM applies T_base itself)
            return SamplingRequest(
                vllm_extra_args=request_arguments(
                    args.hapo_temperature_tau, entropy_temperature, self.stats, args.hapo_sign
                )
            )
        from ...generation.adaptive_temperature import AdaptiveTemperatureLogitsProcessor

        processor = AdaptiveTemperatureLogitsProcessor(
            args.hapo_temperature_tau,
            self.stats,
            temperature=args.temperature,
            sign=args.hapo_sign,
            entropy_temperature=entropy_temperature,
        )
        self._processors.append(processor)
        return SamplingRequest(logits_processors=[processor])

    def after_loss(self, ctx: LossContext) -> None:
        if ctx.mode != "train":
            return
        # keep this micro-batch's statistics for the next rollout: the shared scores' when a HAPO loss part computed
        # them, else computed here (with "batch_all" a gather, run by every process alike: the phases run everywhere)
        shared = ctx.shared.get(HAPO_SCORES)
        self.stats = (
            shared.stats if shared is not None else _entropy_stats(self.trainer, self.args, _entropies(ctx), ctx.mask)
        )

    def generation_metrics(self, ctx: GenerationContext) -> dict[str, Metric]:
        if ctx.mode != "train" or self.trainer.use_vllm:  # vLLM applies the temperatures inside the engine
            return {}
        total = count = 0.0
        low, high = math.inf, -math.inf
        for processor in self._processors:
            s, n, lo, hi = processor.temperature_stats()
            total, count, low, high = total + s, count + n, min(low, lo), max(high, hi)
        self._processors = []
        if count == 0:  # plain T_base (first step, or vLLM): every temperature is T_base
            base = float(self.args.temperature)
            total, count, low, high = base, 1.0, base, base
        return {
            "temperature_mean": Metric(total, count),
            "temperature_min": Metric(low, reduce="min"),
            "temperature_max": Metric(high, reduce="max"),
        }

    def state_dict(self) -> dict[str, Any]:
        return {} if self.stats is None else {"stats": list(self.stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "stats" in state:
            self.stats = HapoEntropyStats(*(float(v) for v in state["stats"]))
