"""The Lp-Reg component (low-probability regularization, arXiv 2510.03222; math in `trl_explore.functional.lp_reg`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from ..._validation import changed_fields, check_bool, check_choice, check_number
from ...functional.lp_reg import (
    APPLY_TO,
    KL_ESTIMATORS,
    PERCENTILE_SCOPES,
    THRESHOLD_KINDS,
    lp_reg_forward_full_kl,
    lp_reg_per_token_loss,
    lp_reg_percentile_threshold,
    lp_reg_select,
)
from ...kernels.fused_head import project_rows
from ...kernels.token_stats import TokenStatsRequest
from .base import OWN_LOSS_TYPES, ComponentArguments, ExploreComponent, LossContext, Metric, register_component

logger = logging.getLogger(__name__)

__all__ = ["LpRegArguments", "LpRegComponent"]

_PAD = 1.0e9  # sentinel for padded gathers: log-probabilities are <= 0


@dataclass
class LpRegArguments(ComponentArguments):
    r"""
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
            Weight β >= 0 (finite) of the KL term `β · clamp(KL, -10, 10)` on selected tokens.
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
    """

    lp_reg: bool = field(default=False, metadata={"help": "Turn the Lp-Reg component on."})
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

    def validate(self) -> None:
        check_bool(self, "lp_reg")
        check_number(self, "lp_reg_min_p", low=0.0, high=1.0, low_open=True)
        check_number(self, "lp_reg_rho", low=0.0, high=1.0, low_open=True, high_open=True)
        check_number(self, "lp_reg_beta", low=0.0)
        check_choice(self, "lp_reg_threshold", THRESHOLD_KINDS)
        check_choice(self, "lp_reg_percentile_scope", PERCENTILE_SCOPES)
        check_choice(self, "lp_reg_kl_estimator", KL_ESTIMATORS)
        check_bool(self, "lp_reg_require_below_proxy")
        check_choice(self, "lp_reg_apply_to", APPLY_TO)
        if not self.lp_reg:
            ignored = changed_fields(self, [f.name for f in fields(LpRegArguments) if f.name != "lp_reg"])
            if ignored:
                logger.warning("%s set but `lp_reg=False`: no effect.", ", ".join(f"`{f}`" for f in ignored))
        if self.lp_reg and self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(
                f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} when `lp_reg=True`, got {self.loss_type!r}."
            )


@register_component
class LpRegComponent(ExploreComponent):
    """Replaces the per-token loss of selected low-probability tokens by ``-A·r + β·clamp(KL, -10, 10)``.

    The proxy log-probability and kept mass come from the fused LM head: from TRL's old-policy pass when TRL computes
    old log-probs (off-policy, vLLM), else from the training forward itself (on-policy, ``π_old = π_θ``).

    Metrics (``lp_reg/``): ``threshold`` (ρ-percentile probability, mean over processes), ``frac_selected``
    (selected / valid tokens), ``reg_ratio`` (selected / ρ-candidates), ``kept_mass`` (mean Z over valid tokens),
    ``k3_mean`` (mean KL term over selected tokens, before β).
    """

    name = "lp_reg"
    arguments = LpRegArguments
    order = {"adjust_loss": 50}
    edits_loss = True
    uses_old_token_stats = True  # the proxy of the data-generating policy
    example_config = dict(lp_reg=True, lp_reg_rho=0.2)

    @classmethod
    def enabled(cls, args: Any) -> bool:
        return bool(getattr(args, "lp_reg", False))

    def __init__(self, trainer: Any) -> None:
        super().__init__(trainer)
        args = self.args
        if args.lp_reg_kl_estimator == "forward_full":
            from .. import _trl_compat

            sharding = {"deepspeed_zero3": "DeepSpeed ZeRO-3", "fsdp1": "FSDP1"}.get(
                _trl_compat.parameter_sharding(trainer)
            )
            if sharding is not None:
                # The full rows are projected through the LM-head weight in the loss, after the model's forward: ZeRO-3
                # neither gathers the head there nor reduces its gradient, and FSDP1 has resharded (freed) the
                # unsharded weight the forward saw. FSDP2 hands the fused head a gathered copy, which stays valid.
                raise ValueError(
                    f"`lp_reg_kl_estimator='forward_full'` is not supported with {sharding}: the "
                    "full-vocabulary KL projects hidden rows through the LM head after the forward, where the head is "
                    "sharded. Use the default `'k3_sampled'`, ZeRO-2 or FSDP2 (`fsdp_version: 2`)."
                )
        self.last_threshold_logp: float = math.nan  # percentile of the latest micro-batch (diagnostics, tests)

    def token_stats(self) -> TokenStatsRequest:
        return TokenStatsRequest(
            min_p=self.args.lp_reg_min_p,
            threshold=self.args.lp_reg_threshold,
            keep_hidden=self.args.lp_reg_kl_estimator == "forward_full",
        )

    def _global_threshold(self, logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ρ-percentile over every valid token of the micro-batch on all processes (``batch_all`` scope)."""
        accelerator = self.trainer.accelerator
        local = logps.detach()[mask.bool()].float()
        padded = accelerator.pad_across_processes(local, dim=0, pad_index=_PAD)
        gathered = accelerator.gather(padded)
        gathered = gathered[gathered != _PAD]
        threshold, _ = lp_reg_percentile_threshold(gathered, self.args.lp_reg_rho)
        if threshold is None:
            return torch.tensor(-math.inf, device=logps.device)
        return threshold

    def _full_kl(self, ctx: LossContext, selected: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` full-vocabulary KL on selected rows, from the hidden rows of the training forward."""
        if len(ctx.forward_calls) != 1 or ctx.row_index is None or ctx.forward_calls[0].hidden is None:
            raise RuntimeError("lp_reg_kl_estimator='forward_full' needs the hidden rows of one fused forward.")
        call = ctx.forward_calls[0]
        rows = ctx.row_index[selected]
        full = torch.zeros_like(ctx.per_token_logps)
        if rows.numel() == 0:
            return full
        logits = project_rows(call, call.hidden[rows])  # [n_selected, V] fp32, temperature 1
        kl = lp_reg_forward_full_kl(logits, self.args.lp_reg_min_p, self.args.lp_reg_threshold, call.temperature)
        return full.masked_scatter(selected, kl)

    def adjust_loss(self, ctx: LossContext) -> None:
        args = self.args
        stats = ctx.old_token_stats if "proxy_logps" in ctx.old_token_stats else ctx.token_stats
        proxy, kept_mass = stats["proxy_logps"], stats["kept_mass"]
        advantages = ctx.advantages.expand_as(ctx.per_token_logps)
        scope_all = args.lp_reg_percentile_scope == "batch_all"
        threshold = self._global_threshold(ctx.per_token_logps, ctx.mask) if scope_all else None
        sel = lp_reg_select(
            ctx.per_token_logps,
            proxy,
            advantages,
            ctx.mask,
            rho=args.lp_reg_rho,
            require_below_proxy=args.lp_reg_require_below_proxy,
            apply_to=args.lp_reg_apply_to,
            threshold_logp=threshold,
        )
        self.last_threshold_logp = float(sel.threshold_logp)
        full_kl = self._full_kl(ctx, sel.selected) if args.lp_reg_kl_estimator == "forward_full" else None
        ctx.per_token_loss, loss_stats = lp_reg_per_token_loss(
            ctx.per_token_loss,
            ctx.coef_1,
            ctx.per_token_logps,
            proxy,
            ctx.advantages,
            sel.selected,
            beta=args.lp_reg_beta,
            full_kl=full_kl,
        )
        ctx.records[self.name] = (sel, kept_mass, loss_stats["kl"])

    def loss_metrics(self, ctx: LossContext) -> dict[str, Metric]:
        if self.name not in ctx.records:
            return {}
        sel, kept_mass, kl = ctx.records[self.name]
        mask = ctx.mask.bool()
        selected = (sel.selected & mask).float()
        n_valid = mask.float().sum()
        threshold = sel.threshold_logp.detach().float().exp()
        valid_threshold = bool(torch.isfinite(threshold) & (threshold > 0))
        return {
            "threshold": Metric(threshold if valid_threshold else 0.0, 1.0 if valid_threshold else 0.0),
            "frac_selected": Metric(selected.sum(), n_valid),
            "reg_ratio": Metric(selected.sum(), (sel.candidates & mask).float().sum()),
            "kept_mass": Metric.masked_mean(kept_mass, mask),
            "k3_mean": Metric((kl.detach() * selected).sum(), selected.sum()),
        }
