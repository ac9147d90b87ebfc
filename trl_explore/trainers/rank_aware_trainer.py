"""`RankAwareSFTTrainer`: TRL's `SFTTrainer` with the rank-aware next-token loss (arXiv 2512.22955).

The trainer only swaps the loss: `compute_loss` runs the model's backbone and hands the final hidden states and the LM
head to the fused kernel `trl_explore.kernels.rank_aware.fused_rank_aware_loss`, which never holds the
`[tokens, V]` logits. Labels, masks (completion-only, assistant-only), packing, collation and the optimizer are all
`SFTTrainer`'s. With the default `(β, λ_high, λ_low) = (0, 0, 0)` the loss and gradients are `SFTTrainer`'s.
"""

from __future__ import annotations

import functools
import types
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import transformers
from accelerate.utils import is_peft_model
from torch.distributed.tensor import DTensor
from transformers.utils import ModelOutput
from trl import SFTTrainer

from .. import _check_trl_version
from ..kernels.rank_aware import fused_rank_aware_loss
from .rank_aware_config import RankAwareSFTConfig

__all__ = ["RankAwareCausalLMOutput", "RankAwareSFTTrainer", "add_rank_aware_lm_head"]

# Per-token statistics summed for the metrics, in the order they are gathered
_SUMMED = ("entropy", "is_top1", "p_tail", "p_topk_neg", "w")


@dataclass
class RankAwareCausalLMOutput(ModelOutput):
    """Output of a model patched by [`add_rank_aware_lm_head`] and called with `rank_aware_lm_head=True`.

    Args:
        loss (`torch.Tensor`): summed rank-aware loss divided by `num_items_in_batch` (the number of non-ignored labels
            when not passed), like the model's own loss.
        loss_sum (`torch.Tensor`): the summed rank-aware loss over the non-ignored labels.
        label_mask (`torch.Tensor` of shape `(batch, seq_len - 1)`): whether each (shifted) label is not `-100`.
        entropy, p_tail, p_topk_neg, w (`torch.Tensor` of shape `(num_valid,)`): detached per-token statistics of the
            non-ignored labels, in order.
        is_top1 (`torch.Tensor` of shape `(num_valid,)`): whether the label is the most likely token.
        aux_loss (`torch.Tensor`, *optional*): MoE load-balancing loss, when router logits are requested.
    """

    loss: torch.Tensor | None = None
    loss_sum: torch.Tensor | None = None
    label_mask: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    p_tail: torch.Tensor | None = None
    p_topk_neg: torch.Tensor | None = None
    w: torch.Tensor | None = None
    is_top1: torch.Tensor | None = None
    aux_loss: torch.Tensor | None = None


def _logit_transform(text_config: Any) -> tuple[float, float | None]:
    """`(logit_scale, final_logit_softcapping)` of a model config, read like TRL's fused LM head reads them.

    The scale comes from `logit_scale`, `output_multiplier` or `lm_head_multiplier` (multipliers), or
    `logits_scaling` (a divisor, except for HyperCLOVA X where it multiplies); soft-capping from
    `final_logit_softcapping`.
    """
    softcap = getattr(text_config, "final_logit_softcapping", None)
    scale = None
    for name in ("logit_scale", "output_multiplier", "lm_head_multiplier"):
        scale = getattr(text_config, name, None)
        if scale is not None:
            break
    if scale is None and getattr(text_config, "logits_scaling", None) is not None:
        divisor = text_config.logits_scaling
        scale = divisor if getattr(text_config, "model_type", None) == "hyperclovax" else 1.0 / divisor
    return (1.0 if scale is None else float(scale)), (None if softcap is None else float(softcap))


def add_rank_aware_lm_head(
    model: transformers.PreTrainedModel,
    beta: float = 0.0,
    top_k: int = 100,
    lambda_high: float = 0.0,
    lambda_low: float = 0.0,
) -> None:
    """Patch `model.forward` so that `model(..., labels=labels, rank_aware_lm_head=True)` returns a
    [`RankAwareCausalLMOutput`] computed by the fused rank-aware kernel from the backbone's last hidden states.

    Without `rank_aware_lm_head=True` the previous forward runs unchanged (for `SFTTrainer`, its fused LM head, and
    the plain forward for generation). Only the positions whose shifted label is not `-100` are projected. Patch the
    base model (`peft_model.get_base_model()`), like TRL's `add_fused_lm_head`: PEFT layers inside it stay active.

    Args:
        model ([`~transformers.PreTrainedModel`]): causal language model to patch.
        beta (`float`, *optional*, defaults to `0.0`): β of the ground-truth weight (`rank_aware_beta`).
        top_k (`int`, *optional*, defaults to `100`): size of the head set K (`rank_aware_top_k`).
        lambda_high (`float`, *optional*, defaults to `0.0`): reward of the head negatives (`rank_aware_lambda_high`).
        lambda_low (`float`, *optional*, defaults to `0.0`): reward of the tail negatives (`rank_aware_lambda_low`).
    """
    from trl.trainer.utils import maybe_gather_lm_head_ctx

    previous_forward = model.forward
    text_config = model.config.get_text_config()
    logit_scale, softcap = _logit_transform(text_config)

    @functools.wraps(type(model).forward)
    def _rank_aware_forward(self, *args, rank_aware_lm_head=False, labels=None, shift_labels=None, **kwargs):
        if not rank_aware_lm_head:
            if labels is not None:
                kwargs["labels"] = labels
            if shift_labels is not None:
                kwargs["shift_labels"] = shift_labels
            return previous_forward(*args, **kwargs)

        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        kwargs["use_cache"] = False
        if getattr(text_config, "output_router_logits", False):
            kwargs.setdefault("output_router_logits", True)
        # Looked up on every call: PEFT and FSDP replace the backbone and the head after patching
        backbone_outputs = self.base_model(*args, **kwargs)
        if shift_labels is None:
            hidden_states = backbone_outputs.last_hidden_state[:, :-1]
            labels = labels[:, 1:]
        else:
            hidden_states = backbone_outputs.last_hidden_state
            labels = shift_labels
        lm_head = self.get_output_embeddings()
        hidden_states = hidden_states.to(lm_head.weight.device)
        labels = labels.to(lm_head.weight.device)
        mask = labels != -100
        weight, bias = lm_head.weight, lm_head.bias
        if isinstance(weight, DTensor):  # FSDP2 shards: gather the head once
            weight = weight.full_tensor()
            bias = bias.full_tensor() if bias is not None else None
        # ZeRO-3: gather the head for the fused kernel, which reads the weight directly (its gradients are computed here)
        with maybe_gather_lm_head_ctx(weight, bias):
            loss_sum, stats = fused_rank_aware_loss(
                hidden_states[mask],  # [num_valid, d]
                weight,
                labels[mask],  # [num_valid]
                bias=bias,
                beta=beta,
                top_k=top_k,
                lambda_high=lambda_high,
                lambda_low=lambda_low,
                logit_scale=logit_scale,
                final_logit_softcapping=softcap,
            )
        denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        loss = loss_sum / denominator

        aux_loss = None
        if kwargs.get("output_router_logits"):
            from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

            aux_loss = load_balancing_loss_func(
                backbone_outputs.router_logits,
                text_config.num_experts,
                text_config.num_experts_per_tok,
                kwargs.get("attention_mask"),
            )
            loss = loss + getattr(text_config, "router_aux_loss_coef", 0.0) * aux_loss

        return RankAwareCausalLMOutput(
            loss=loss,
            loss_sum=loss_sum,
            label_mask=mask,
            entropy=stats["entropy"],
            p_tail=stats["p_tail"],
            p_topk_neg=stats["p_topk_neg"],
            w=stats["w"],
            is_top1=stats["is_top1"],
            aux_loss=aux_loss,
        )

    model.forward = types.MethodType(_rank_aware_forward, model)


class RankAwareSFTTrainer(SFTTrainer):
    """[`~trl.SFTTrainer`] trained with the rank-aware next-token loss of arXiv 2512.22955.

    Per token, ``L = − sg(w) · log p_x − λ_high · P(K \\ {x}) − λ_low · P(tail)`` with
    ``w = p_x^(1 − (1 − p_x)^β)`` and K the top-k of the detached distribution, summed over the non-ignored labels and
    divided by `num_items_in_batch` like `SFTTrainer`'s cross-entropy. Configure it with [`RankAwareSFTConfig`]
    (`rank_aware_beta`, `rank_aware_top_k`, `rank_aware_lambda_high`, `rank_aware_lambda_low`); everything else
    (datasets, masks, packing, PEFT, gradient accumulation) is `SFTTrainer`'s.

    Logs `SFTTrainer`'s `entropy`, `mean_token_accuracy` and `num_tokens`, plus `rank_aware/entropy`,
    `rank_aware/p_tail`, `rank_aware/p_topk_neg` and `rank_aware/w_mean` (means over the non-ignored labels of all
    processes).
    """

    _tag_names = ["trl", "sft", "trl_explore", "rank-aware"]
    _name = "RankAwareSFT"

    def __init__(self, model, args: RankAwareSFTConfig | None = None, *trainer_args, **kwargs):
        if args is None:
            model_id = model if isinstance(model, str) else model.config._name_or_path
            args = RankAwareSFTConfig(f"{model_id.split('/')[-1]}-RankAwareSFT")
        elif not isinstance(args, RankAwareSFTConfig):
            raise ValueError(
                f"`args` must be a `RankAwareSFTConfig`, got {type(args).__name__}; build one with the same fields."
            )
        _check_trl_version()
        if kwargs.get("compute_loss_func") is not None:
            raise ValueError(
                "`compute_loss_func` is not supported by `RankAwareSFTTrainer`: its loss is the rank-aware loss."
            )
        super().__init__(model, args, *trainer_args, **kwargs)
        parallelism_config = self.accelerator.parallelism_config
        if (
            parallelism_config is not None
            and getattr(parallelism_config, "sp_enabled", False)
            and getattr(parallelism_config, "sp_backend", None) == "deepspeed"
        ):
            raise ValueError(
                "`RankAwareSFTTrainer` does not support DeepSpeed sequence parallelism (Ulysses/ALST), which reduces "
                "the model's own cross-entropy across ranks."
            )
        add_rank_aware_lm_head(
            self.model.get_base_model() if is_peft_model(self.model) else self.model,
            beta=args.rank_aware_beta,
            top_k=args.rank_aware_top_k,
            lambda_high=args.rank_aware_lambda_high,
            lambda_low=args.rank_aware_lambda_low,
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        inputs["use_cache"] = False
        if self.aux_loss_enabled:
            inputs["output_router_logits"] = True
        outputs = model(**inputs, rank_aware_lm_head=True)
        # Same normalisation as `SFTTrainer`: tokens of every micro-batch (and rank) in the optimizer step, else local
        num_tokens = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
        loss = outputs.loss_sum / torch.as_tensor(num_tokens).clamp(min=1)
        # `num_items_in_batch` counts the tokens of every rank, and DDP averages the gradients across ranks
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        if self.aux_loss_enabled:
            steps = self.current_gradient_accumulation_steps if num_items_in_batch is not None else 1
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss / steps
            aux = self.accelerator.gather_for_metrics(outputs.aux_loss.detach()).mean().item()
            self._metrics[mode]["aux_loss"].append(aux)

        self._log_rank_aware_metrics(mode, inputs, outputs)

        if return_outputs:
            warnings.warn(
                "`return_outputs=True` recomputes the full logits with an extra forward pass (the fused loss does not "
                "build them), like `SFTTrainer`.",
                FutureWarning,
                stacklevel=2,
            )
            with torch.no_grad():
                outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        return (loss, outputs) if return_outputs else loss

    def _log_rank_aware_metrics(self, mode: str, inputs: dict[str, Any], outputs: RankAwareCausalLMOutput) -> None:
        # One collective: [num_valid, Σ entropy, Σ is_top1, Σ p_tail, Σ p_topk_neg, Σ w] summed over processes
        local = torch.stack(
            [outputs.label_mask.sum().float()] + [getattr(outputs, name).float().sum() for name in _SUMMED]
        )
        totals = self.accelerator.gather(local.unsqueeze(0)).view(-1, local.numel()).sum(0).tolist()
        num_valid, sums = totals[0], dict(zip(_SUMMED, totals[1:]))

        def mean(name: str) -> float:
            return sums[name] / num_valid if num_valid > 0 else 0.0

        metrics = self._metrics[mode]
        metrics["entropy"].append(mean("entropy"))
        metrics["mean_token_accuracy"].append(mean("is_top1"))
        metrics["rank_aware/entropy"].append(mean("entropy"))
        metrics["rank_aware/p_tail"].append(mean("p_tail"))
        metrics["rank_aware/p_topk_neg"].append(mean("p_topk_neg"))
        metrics["rank_aware/w_mean"].append(mean("w"))

        if mode == "train":
            # Like `SFTTrainer`: padding-free batches have `position_ids` instead of an attention mask
            if "attention_mask" in inputs:
                num_tokens = self.accelerator.gather(inputs["attention_mask"].sum().reshape(1)).sum().item()
            elif "position_ids" in inputs:
                local_tokens = torch.tensor([inputs["position_ids"].size(1)], device=inputs["position_ids"].device)
                num_tokens = self.accelerator.gather(local_tokens).sum().item()
            else:
                raise ValueError("Expected 'attention_mask' or 'position_ids' in inputs.")
            self._total_train_tokens += num_tokens // self._tp_size
        metrics["num_tokens"] = [self._total_train_tokens]
