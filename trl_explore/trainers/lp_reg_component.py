"""The Lp-Reg component of `ExploreGRPOTrainer` (math in `trl_explore.functional.lp_reg`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..functional.lp_reg import (
    lp_reg_forward_full_kl,
    lp_reg_per_token_loss,
    lp_reg_percentile_threshold,
    lp_reg_select,
)
from ..kernels.token_stats import TokenStatsRequest
from .explore_grpo_trainer import ExploreComponent, LossContext

if TYPE_CHECKING:  # pragma: no cover
    from .explore_grpo_trainer import ExploreGRPOTrainer

_PAD = 1.0e9  # sentinel for padded gathers: log-probabilities are <= 0


class LpRegComponent(ExploreComponent):
    """Replaces the per-token loss of selected low-probability tokens by ``-A·r + β·clamp(KL, -10, 10)``.

    The proxy log-probability and kept mass come from the fused LM head: from TRL's old-policy pass when TRL computes
    old log-probs (off-policy, vLLM), else from the training forward itself (on-policy, ``π_old = π_θ``).

    Metrics (``lp_reg/``): ``threshold`` (ρ-percentile probability, mean over processes), ``frac_selected``
    (selected / valid tokens), ``reg_ratio`` (selected / ρ-candidates), ``kept_mass`` (mean Z over valid tokens),
    ``k3_mean`` (mean KL term over selected tokens, before β).
    """

    name = "lp_reg"

    def __init__(self, trainer: ExploreGRPOTrainer) -> None:
        super().__init__(trainer)
        args = trainer.args
        self.min_p = args.lp_reg_min_p
        self.rho = args.lp_reg_rho
        self.beta = args.lp_reg_beta
        self.threshold = args.lp_reg_threshold
        self.scope = args.lp_reg_percentile_scope
        self.kl_estimator = args.lp_reg_kl_estimator
        if self.kl_estimator == "forward_full":
            from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

            if is_deepspeed_zero3_enabled():
                # The full rows are projected through `lm_head.weight` in the loss, outside the model's forward, where
                # ZeRO-3 neither gathers the head nor reduces its gradient
                raise ValueError(
                    "`lp_reg_kl_estimator='forward_full'` is not supported with DeepSpeed ZeRO-3; use the default "
                    "`'k3_sampled'`, ZeRO-2 or FSDP."
                )
        self.require_below_proxy = args.lp_reg_require_below_proxy
        self.apply_to = args.lp_reg_apply_to
        self.last_threshold_logp: float = math.nan  # percentile of the latest micro-batch (diagnostics, tests)

    def token_stats(self) -> TokenStatsRequest:
        return TokenStatsRequest(
            min_p=self.min_p, threshold=self.threshold, keep_hidden=self.kl_estimator == "forward_full"
        )

    @property
    def edits_loss(self) -> bool:
        return True

    def _global_threshold(self, logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ρ-percentile over every valid token of the micro-batch on all processes (``batch_all`` scope)."""
        accelerator = self.trainer.accelerator
        local = logps.detach()[mask.bool()].float()
        padded = accelerator.pad_across_processes(local, dim=0, pad_index=_PAD)
        gathered = accelerator.gather(padded)
        gathered = gathered[gathered != _PAD]
        threshold, _ = lp_reg_percentile_threshold(gathered, self.rho)
        if threshold is None:
            return torch.tensor(-math.inf, device=logps.device)
        return threshold

    def _full_kl(self, ctx: LossContext, selected: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` full-vocabulary KL on selected rows, from the hidden rows of the training forward."""
        if len(ctx.forward_calls) != 1 or ctx.row_index is None or "hidden" not in ctx.forward_calls[0]:
            raise RuntimeError("lp_reg_kl_estimator='forward_full' needs the hidden rows of one fused forward.")
        call = ctx.forward_calls[0]
        rows = ctx.row_index[selected]
        full = torch.zeros_like(ctx.per_token_logps)
        if rows.numel() == 0:
            return full
        hidden = call["hidden"][rows].float()
        logits = hidden @ call["weight"].float().t()
        if call["bias"] is not None:
            logits = logits + call["bias"].float()
        if call["logit_scale"] != 1.0:
            logits = logits * call["logit_scale"]
        if call["softcap"] is not None:
            logits = call["softcap"] * torch.tanh(logits / call["softcap"])
        kl = lp_reg_forward_full_kl(logits, self.min_p, self.threshold, call["temperature"])
        return full.masked_scatter(selected, kl)

    def adjust_loss(self, ctx: LossContext) -> None:
        stats = ctx.old_token_stats if "proxy_logps" in ctx.old_token_stats else ctx.token_stats
        proxy, kept_mass = stats["proxy_logps"], stats["kept_mass"]
        advantages = ctx.advantages.expand_as(ctx.per_token_logps)
        threshold = self._global_threshold(ctx.per_token_logps, ctx.mask) if self.scope == "batch_all" else None
        sel = lp_reg_select(
            ctx.per_token_logps,
            proxy,
            advantages,
            ctx.mask,
            rho=self.rho,
            require_below_proxy=self.require_below_proxy,
            apply_to=self.apply_to,
            threshold_logp=threshold,
        )
        self.last_threshold_logp = float(sel.threshold_logp)
        full_kl = self._full_kl(ctx, sel.selected) if self.kl_estimator == "forward_full" else None
        ctx.per_token_loss, loss_stats = lp_reg_per_token_loss(
            ctx.per_token_loss,
            ctx.coef_1,
            ctx.per_token_logps,
            proxy,
            ctx.advantages,
            sel.selected,
            beta=self.beta,
            full_kl=full_kl,
        )
        self._log(ctx, sel.selected, sel.candidates, sel.threshold_logp, kept_mass, loss_stats["kl"])

    def _log(self, ctx, selected, candidates, threshold_logp, kept_mass, kl) -> None:
        accelerator = self.trainer.accelerator
        mask = ctx.mask.bool()
        selected_f = (selected & mask).float()
        local = torch.stack(
            [
                selected_f.sum(),
                mask.float().sum(),
                (candidates & mask).float().sum(),
                torch.where(mask, kept_mass, torch.zeros_like(kept_mass)).sum(),
                (kl * selected_f).sum(),
            ]
        ).detach()
        n_sel, n_valid, n_cand, kept_sum, kl_sum = accelerator.reduce(local, reduction="sum").tolist()
        thr = accelerator.gather(threshold_logp.detach().float().exp().reshape(1))
        thr = thr[~torch.isnan(thr) & (thr > 0)]
        metrics = self.trainer._metrics[ctx.mode]
        metrics["lp_reg/threshold"].append(thr.mean().item() if thr.numel() else math.nan)
        metrics["lp_reg/frac_selected"].append(n_sel / max(n_valid, 1.0))
        metrics["lp_reg/reg_ratio"].append(n_sel / n_cand if n_cand > 0 else math.nan)
        metrics["lp_reg/kept_mass"].append(kept_sum / max(n_valid, 1.0))
        metrics["lp_reg/k3_mean"].append(kl_sum / n_sel if n_sel > 0 else math.nan)
