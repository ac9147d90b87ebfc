"""Clip-Cov and KL-Cov components (Cui et al., arXiv 2505.22617; math in `trl_explore.functional.covariance`).

Both act per micro-batch in the ``adjust_loss`` phase, on two token populations with their own settings: the rows
generated now ("on-policy") and rows a component added to the batch (`ADDED_KEY`, e.g. SPEAR's replayed rows). The
covariance is centred within each population.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..._validation import changed_fields, check_choice, check_number
from ...functional.covariance import clip_cov_mask, kl_cov_penalty
from .base import (
    ADDED_KEY,
    OWN_LOSS_TYPES,
    ComponentArguments,
    ExploreComponent,
    LossContext,
    Metric,
    register_component,
    warn_if_ratio_is_one,
)

logger = logging.getLogger(__name__)

__all__ = ["KL_COV_SURROGATES", "ClipCovComponent", "CovarianceArguments", "KLCovComponent"]

#: `kl_cov_surrogate` values: the policy-gradient term the KL-Cov penalty is added to
KL_COV_SURROGATES = ("clipped", "unclipped")


@dataclass
class CovarianceArguments(ComponentArguments):
    r"""
    > Parameters of the Clip-Cov and KL-Cov components (Cui et al., arXiv 2505.22617), each off while its ratios are 0.
    > `*_replay_*` fields apply to rows added to the batch by a component (SPEAR's replayed rows); the others to the
    > rows generated now.

        clip_cov_ratio (`float`, *optional*, defaults to `0.0`):
            Fraction in `[0, 1)` of the valid on-policy tokens whose policy-gradient term Clip-Cov cuts, drawn among
            tokens not already clipped by PPO with covariance in `(clip_cov_lb, clip_cov_ub)`. `0`: off. Paper
            (and SPEAR on-policy) value: `2e-4`.
        clip_cov_lb (`float`, *optional*, defaults to `1.0`):
            Lower end of the covariance band (exclusive).
        clip_cov_ub (`float`, *optional*, defaults to `5.0`):
            Upper end of the covariance band (exclusive).
        clip_cov_replay_ratio (`float`, *optional*, defaults to `0.0`):
            Clip-Cov ratio of the replayed rows. SPEAR: `0.02`.
        clip_cov_replay_lb (`float`, *optional*, defaults to `1.0`):
            Lower band end for replayed rows (SPEAR: `1` for math, `2` for agents).
        clip_cov_replay_ub (`float`, *optional*, defaults to `40.0`):
            Upper band end for replayed rows (SPEAR: `40` for math, `60` for agents).
        kl_cov_ratio (`float`, *optional*, defaults to `0.0`):
            Fraction in `[0, 1)` of the valid on-policy tokens, those with the largest covariance, that KL-Cov
            penalises with `kl_cov_coef · |log π_θ - log π_old|`. `0`: off. It needs old log-probs: when TRL computes
            none (one optimizer step per generation batch) the ratio is 1 and the penalty is 0 in value *and*
            gradient (a warning says so at construction).
        kl_cov_coef (`float`, *optional*, defaults to `0.1`):
            Weight `>= 0` of the KL-Cov penalty.
        kl_cov_replay_ratio (`float`, *optional*, defaults to `0.0`):
            KL-Cov ratio of the replayed rows.
        kl_cov_replay_coef (`float`, *optional*, defaults to `0.1`):
            KL-Cov weight of the replayed rows.
        kl_cov_surrogate (`str`, *optional*, defaults to `"clipped"`):
            Policy-gradient term of the rows KL-Cov acts on: `"clipped"` adds the penalty to TRL's clipped surrogate
            `-min(r·A, clip(r, 1-ε_low, 1+ε_high)·A)`; `"unclipped"` replaces that surrogate by `-r·A` on those rows
            (every token, penalised or not), as Cui et al. (arXiv 2505.22617, Sec. 4.2) and verl's `kl_cov` loss do.
    """

    clip_cov_ratio: float = field(default=0.0, metadata={"help": "Clip-Cov fraction of on-policy tokens (0: off)."})
    clip_cov_lb: float = field(default=1.0, metadata={"help": "Clip-Cov covariance band, lower end."})
    clip_cov_ub: float = field(default=5.0, metadata={"help": "Clip-Cov covariance band, upper end."})
    clip_cov_replay_ratio: float = field(
        default=0.0, metadata={"help": "Clip-Cov fraction of replayed tokens (0: off; SPEAR 0.02)."}
    )
    clip_cov_replay_lb: float = field(default=1.0, metadata={"help": "Clip-Cov band of replayed rows, lower end."})
    clip_cov_replay_ub: float = field(default=40.0, metadata={"help": "Clip-Cov band of replayed rows, upper end."})
    kl_cov_ratio: float = field(default=0.0, metadata={"help": "KL-Cov fraction of on-policy tokens (0: off)."})
    kl_cov_coef: float = field(default=0.1, metadata={"help": "KL-Cov penalty weight."})
    kl_cov_replay_ratio: float = field(default=0.0, metadata={"help": "KL-Cov fraction of replayed tokens (0: off)."})
    kl_cov_replay_coef: float = field(default=0.1, metadata={"help": "KL-Cov penalty weight of replayed rows."})
    kl_cov_surrogate: str = field(
        default="clipped",
        metadata={"help": "Surrogate of KL-Cov's rows: TRL's clipped one or -r·A.", "choices": list(KL_COV_SURROGATES)},
    )

    def validate(self) -> None:
        for name in ("clip_cov_ratio", "clip_cov_replay_ratio", "kl_cov_ratio", "kl_cov_replay_ratio"):
            check_number(self, name, low=0.0, high=1.0, high_open=True)
        for name in ("clip_cov_lb", "clip_cov_ub", "clip_cov_replay_lb", "clip_cov_replay_ub"):
            check_number(self, name)
        for low, high in (("clip_cov_lb", "clip_cov_ub"), ("clip_cov_replay_lb", "clip_cov_replay_ub")):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(
                    f"`{low}` must be smaller than `{high}`, got {getattr(self, low)!r} >= {getattr(self, high)!r}."
                )
        check_number(self, "kl_cov_coef", low=0.0)
        check_number(self, "kl_cov_replay_coef", low=0.0)
        check_choice(self, "kl_cov_surrogate", KL_COV_SURROGATES)
        for ratio, settings in (
            ("clip_cov_ratio", ("clip_cov_lb", "clip_cov_ub")),
            ("clip_cov_replay_ratio", ("clip_cov_replay_lb", "clip_cov_replay_ub")),
            ("kl_cov_ratio", ("kl_cov_coef",)),
            ("kl_cov_replay_ratio", ("kl_cov_replay_coef",)),
        ):
            ignored = changed_fields(self, settings) if getattr(self, ratio) == 0 else []
            if ignored:
                logger.warning("%s set but `%s=0` (off): no effect.", ", ".join(f"`{f}`" for f in ignored), ratio)
        if self.kl_cov_ratio == 0 and self.kl_cov_replay_ratio == 0 and changed_fields(self, ("kl_cov_surrogate",)):
            logger.warning("`kl_cov_surrogate` set but KL-Cov is off (`kl_cov_ratio=0`, `kl_cov_replay_ratio=0`).")
        on = self.clip_cov_ratio > 0 or self.clip_cov_replay_ratio > 0 or self.kl_cov_ratio > 0
        if (on or self.kl_cov_replay_ratio > 0) and self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(
                f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} with Clip-Cov / KL-Cov, got {self.loss_type!r}."
            )


def _populations(ctx: LossContext) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 1]`` bool masks of the generated rows and of the added (replayed) rows of the micro-batch."""
    added = ctx.inputs.get(ADDED_KEY)
    if added is None:
        added = torch.zeros(ctx.mask.size(0), dtype=torch.bool, device=ctx.mask.device)
    added = added.bool().unsqueeze(1)
    return ~added, added


def _seeded_generator(component: ExploreComponent, salt: int) -> torch.Generator:
    """A CPU generator seeded per process (``seed``, process index, component salt)."""
    rank = component.trainer.accelerator.process_index
    return torch.Generator().manual_seed(int(component.args.seed) * 1_000_003 + rank * 7919 + salt)


def _selection_metrics(ctx: LossContext, name: str, with_replay: bool) -> dict[str, Metric]:
    """``frac_selected`` (and ``frac_selected_replay``) from the counts the component's loss phase recorded."""
    if name not in ctx.records:
        return {}
    counts = ctx.records[name]
    out = {"frac_selected": Metric(*counts["frac_selected"])}
    if with_replay:
        out["frac_selected_replay"] = Metric(*counts["frac_selected_replay"])
    return out


@register_component
class ClipCovComponent(ExploreComponent):
    """Clip-Cov: cuts the policy-gradient term of a few random high-covariance tokens (``adjust_loss``).

    PPO-clipped tokens (``-A·clip(r, 1-ε_low, 1+ε_high) > -A·r``, with the context's bounds) are never selected. The
    random draw uses a per-process generator seeded from ``seed`` and the process index, saved with checkpoints.

    Metrics (``clip_cov/``): ``frac_selected`` (cut / valid on-policy tokens), ``frac_selected_replay`` (cut / valid
    replayed tokens; only with ``clip_cov_replay_ratio > 0``, NaN in steps without replayed rows).
    """

    name = "clip_cov"
    arguments = CovarianceArguments
    order = {"adjust_loss": 20}
    edits_loss = True
    state_per_process = True
    example_config = dict(clip_cov_ratio=0.2, clip_cov_lb=-1e9, clip_cov_ub=1e9)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return getattr(args, "clip_cov_ratio", 0.0) > 0 or getattr(args, "clip_cov_replay_ratio", 0.0) > 0

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        self.generator = _seeded_generator(self, salt=1)

    def adjust_loss(self, ctx: LossContext) -> None:
        low, high = ctx.clip_bounds()
        coef_1, advantages = ctx.coef_1.detach(), ctx.advantages.detach()
        clipped = (-advantages * torch.clamp(coef_1, low, high)) > (-advantages * coef_1)
        clipped = clipped.expand_as(ctx.per_token_logps)
        cut = torch.zeros_like(ctx.mask, dtype=torch.bool)
        counts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        generated, added = _populations(ctx)
        for key, rows, ratio, lb, ub in (
            ("frac_selected", generated, self.args.clip_cov_ratio, self.args.clip_cov_lb, self.args.clip_cov_ub),
            (
                "frac_selected_replay",
                added,
                self.args.clip_cov_replay_ratio,
                self.args.clip_cov_replay_lb,
                self.args.clip_cov_replay_ub,
            ),
        ):
            mask = ctx.mask * rows.to(ctx.mask.dtype)
            selected, stats = clip_cov_mask(
                ctx.advantages, ctx.per_token_logps, mask, clipped, ratio, lb, ub, generator=self.generator
            )
            cut |= selected
            counts[key] = (stats["num_selected"], stats["num_valid"])
        ctx.per_token_loss = ctx.per_token_loss * (~cut).to(ctx.per_token_loss.dtype)
        ctx.records[self.name] = counts

    def loss_metrics(self, ctx: LossContext) -> dict[str, Metric]:
        return _selection_metrics(ctx, self.name, with_replay=self.args.clip_cov_replay_ratio > 0)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


@register_component
class KLCovComponent(ExploreComponent):
    """KL-Cov: adds ``coef · |log π_θ - log π_old|`` to the loss of the top-covariance tokens (``adjust_loss``).

    ``π_old`` is the context's behaviour policy: TRL's old log-probs, the replayed rows' stored ones, or, when TRL
    computes none (one optimizer step per generation batch), the detached current policy. In that last case the
    penalty is 0 in value **and** in gradient (torch's gradient of ``|x|`` at 0 is 0): KL-Cov does nothing on the
    generated rows, and a warning says so at construction when ``kl_cov_ratio > 0``.

    ``kl_cov_surrogate`` (``prepare_loss``, after HAPO's bounds and redistribution): ``"clipped"`` keeps TRL's clipped
    surrogate; ``"unclipped"`` sets infinite clip bounds on the rows of each population KL-Cov acts on, so their
    policy-gradient term is ``-r·A`` (Cui et al., Sec. 4.2). TRL's ``delta`` and a component's dual clip still apply.

    Metrics (``kl_cov/``): ``frac_selected`` (penalised / valid on-policy tokens), ``frac_selected_replay`` (only with
    ``kl_cov_replay_ratio > 0``).
    """

    name = "kl_cov"
    arguments = CovarianceArguments
    order = {"prepare_loss": 40, "adjust_loss": 25}
    edits_loss = True
    example_config = dict(kl_cov_ratio=0.2, num_iterations=2)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return getattr(args, "kl_cov_ratio", 0.0) > 0 or getattr(args, "kl_cov_replay_ratio", 0.0) > 0

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        if self.args.kl_cov_ratio > 0:
            warn_if_ratio_is_one(
                self, "KL-Cov's penalty coef·|log r| is 0 with gradient 0 on the generated rows (it does nothing there)"
            )

    def prepare_loss(self, ctx: LossContext) -> None:
        if self.args.kl_cov_surrogate != "unclipped":
            return
        generated, added = _populations(ctx)
        rows = (generated & (self.args.kl_cov_ratio > 0)) | (added & (self.args.kl_cov_replay_ratio > 0))
        shape = ctx.per_token_logps.shape
        ctx.eps_low = _unclipped(ctx.eps_low, rows, shape)
        ctx.eps_high = _unclipped(ctx.eps_high, rows, shape)

    def adjust_loss(self, ctx: LossContext) -> None:
        generated, added = _populations(ctx)
        counts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        penalty_total = torch.zeros_like(ctx.per_token_loss)
        for key, rows, ratio, coef in (
            ("frac_selected", generated, self.args.kl_cov_ratio, self.args.kl_cov_coef),
            ("frac_selected_replay", added, self.args.kl_cov_replay_ratio, self.args.kl_cov_replay_coef),
        ):
            mask = ctx.mask * rows.to(ctx.mask.dtype)
            penalty, _, stats = kl_cov_penalty(
                ctx.advantages, ctx.per_token_logps, ctx.old_per_token_logps, mask, ratio, coef
            )
            penalty_total = penalty_total + penalty
            counts[key] = (stats["num_selected"], stats["num_valid"])
        ctx.per_token_loss = ctx.per_token_loss + penalty_total
        ctx.records[self.name] = counts

    def loss_metrics(self, ctx: LossContext) -> dict[str, Metric]:
        return _selection_metrics(ctx, self.name, with_replay=self.args.kl_cov_replay_ratio > 0)


def _unclipped(eps: float | torch.Tensor, rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``[B, T]`` float64 ε with ``+inf`` on ``rows`` (``[B, 1]`` bool): bounds ``(-inf, inf)``, so ``clip(r) = r``."""
    eps = torch.as_tensor(eps, dtype=torch.float64, device=rows.device).expand(shape)
    return torch.where(rows, torch.full_like(eps, math.inf), eps)
