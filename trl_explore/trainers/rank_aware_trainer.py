"""`RankAwareSFTTrainer`: TRL's `SFTTrainer` with the rank-aware next-token loss (arXiv 2512.22955).

The trainer only swaps the LM-head kernel: `compute_loss` runs `SFTTrainer.compute_loss` inside a fused-head block
(`trl_explore.kernels.fused_head.fused_head`) whose kernel, `trl_explore.kernels.rank_aware.RankAwareRequest`, returns
the negated rank-aware loss per token where TRL's fused head returns log-probabilities, and never holds the
`[tokens, V]` logits. Labels, masks (completion-only, assistant-only), packing, collation, the loss normalisation,
MoE auxiliary loss, PEFT, FSDP2 and ZeRO-3 handling and the optimizer are all `SFTTrainer`'s. With the default
`(β, λ_high, λ_low) = (0, 0, 0)` the loss and gradients are `SFTTrainer`'s.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch
from transformers import TrainingArguments
from trl import SFTTrainer

from .._version import check_trl_version
from ..citations import trl_paper
from ..kernels.fused_head import fused_head, shifted_label_mask
from ..kernels.rank_aware import RankAwareRequest
from ._faults import EMPTY_MICRO_BATCHES
from ._inputs import check_sft_datasets, model_as_str
from ._trl_compat import resolve_resume_checkpoint, sft_config_from
from .rank_aware_config import RankAwareSFTConfig

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from datasets import Dataset, IterableDataset
    from peft import PeftConfig, PeftModel
    from transformers import (
        BitsAndBytesConfig,
        EvalPrediction,
        PreTrainedModel,
        PreTrainedTokenizerBase,
        ProcessorMixin,
        TrainerCallback,
    )

__all__ = ["RankAwareSFTTrainer"]

logger = logging.getLogger(__name__)

# Per-token statistics summed for the metrics, in the order they are gathered
_SUMMED = ("entropy", "p_tail", "p_topk_neg", "w")


class RankAwareSFTTrainer(SFTTrainer):
    """[`~trl.SFTTrainer`] trained with the rank-aware next-token loss of arXiv 2512.22955.

    Per token, ``L = − sg(w) · log p_x − λ_high · P(K \\ {x}) − λ_low · P(tail)`` with
    ``w = p_x^(1 − (1 − p_x)^β)`` and K the top-k of the detached distribution, summed over the non-ignored labels and
    divided by `num_items_in_batch` like `SFTTrainer`'s cross-entropy. Configure it with [`RankAwareSFTConfig`]
    (`rank_aware_beta`, `rank_aware_top_k`, `rank_aware_lambda_high`, `rank_aware_lambda_low`); everything else
    (datasets, masks, packing, PEFT, gradient accumulation) is `SFTTrainer`'s.

    Logs `SFTTrainer`'s `entropy`, `mean_token_accuracy` and `num_tokens`, plus `rank_aware/entropy`,
    `rank_aware/p_tail`, `rank_aware/p_topk_neg` and `rank_aware/w_mean` (means over the non-ignored labels of all
    processes), and `faults/empty_micro_batches` (processes whose micro-batch had no labelled token: loss 0).
    """

    _tag_names = ["trl", "sft", "trl_explore", "rank-aware"]
    _name = "RankAwareSFT"
    _paper = trl_paper("rank_aware")  # cited in the model card (`create_model_card`, `push_to_hub`)

    def __init__(
        self,
        model: str | PreTrainedModel | PeftModel,
        args: RankAwareSFTConfig | TrainingArguments | None = None,
        data_collator: Callable[[list[Any]], dict[str, Any]] | None = None,
        train_dataset: Dataset | IterableDataset | None = None,
        eval_dataset: Dataset | IterableDataset | dict[str, Dataset | IterableDataset] | None = None,
        processing_class: PreTrainedTokenizerBase | ProcessorMixin | None = None,
        compute_loss_func: Callable | None = None,
        compute_metrics: Callable[[EvalPrediction], dict] | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple[torch.optim.Optimizer | None, torch.optim.lr_scheduler.LambdaLR | None] = (None, None),
        optimizer_cls_and_kwargs: tuple[type[torch.optim.Optimizer], dict[str, Any]] | None = None,
        preprocess_logits_for_metrics: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        quantization_config: BitsAndBytesConfig | None = None,
        peft_config: PeftConfig | None = None,
        formatting_func: Callable[[dict], str] | None = None,
    ):
        model = model_as_str(model)
        if args is None:
            model_id = model if isinstance(model, str) else model.config._name_or_path
            args = RankAwareSFTConfig(f"{model_id.split('/')[-1]}-RankAwareSFT")
        else:
            args = sft_config_from(args, RankAwareSFTConfig, type(self).__name__)
        check_trl_version()
        if compute_loss_func is not None and args.rank_aware_shaping:
            raise ValueError(
                "`compute_loss_func` is not supported by `RankAwareSFTTrainer` while rank-aware shaping is on: it "
                "would replace the rank-aware loss (with shaping off it works as in `SFTTrainer`)."
            )
        check_sft_datasets(train_dataset, eval_dataset, args, formatting_func)
        super().__init__(
            model,
            args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_loss_func=compute_loss_func,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
            quantization_config=quantization_config,
            peft_config=peft_config,
            formatting_func=formatting_func,
        )
        self._check_top_k_against_vocabulary()
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

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        """`Trainer.train`; ``resume_from_checkpoint=True`` resumes from the newest *complete* checkpoint of
        ``output_dir`` (one a run killed while saving left half-written is skipped, with a warning)."""
        resume_from_checkpoint = resolve_resume_checkpoint(self.args.output_dir, resume_from_checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _check_top_k_against_vocabulary(self) -> None:
        """`rank_aware_top_k` at or above the vocabulary size puts every token in the head set: warn, since the tail
        (and with it `rank_aware_lambda_low`) is then empty."""
        model = self.accelerator.unwrap_model(self.model)
        vocab_size = getattr(getattr(model, "config", None), "vocab_size", None)
        top_k = self.args.rank_aware_top_k
        if isinstance(vocab_size, int) and top_k >= vocab_size:
            logger.warning(
                "`rank_aware_top_k`=%d >= the vocabulary size %d: the head set is the whole vocabulary (clipped to %d), "
                "so the tail is empty and `rank_aware_lambda_low`=%s has no effect.",
                top_k,
                vocab_size,
                vocab_size,
                self.args.rank_aware_lambda_low,
            )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        request = RankAwareRequest(
            beta=self.args.rank_aware_beta,
            top_k=self.args.rank_aware_top_k,
            lambda_high=self.args.rank_aware_lambda_high,
            lambda_low=self.args.rank_aware_lambda_low,
        )
        with fused_head(request, label_mask=shifted_label_mask(inputs)):
            result = super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        self._log_rank_aware_metrics("train" if self.model.training else "eval", request)
        return result

    def _log_rank_aware_metrics(self, mode: str, request: RankAwareRequest) -> None:
        if not request.calls:
            raise RuntimeError("the rank-aware kernel was not called: the model has no fused LM head to route.")
        # One collective: [num_scored, Σ entropy, Σ p_tail, Σ p_topk_neg, Σ w] summed over calls and processes, and
        # whether this process's micro-batch had no labelled token (its loss is 0: TRL clamps the denominator)
        local = torch.stack(
            [
                torch.stack(
                    [torch.tensor(float(call.num_scored), device=call.stats["loss"].device)]
                    + [call.stats[name].float().sum() for name in _SUMMED]
                )
                for call in request.calls
            ]
        ).sum(0)
        local = torch.cat([local, (local[:1] == 0).float()])
        totals = self.accelerator.gather(local.unsqueeze(0)).view(-1, local.numel()).sum(0).tolist()
        num_scored, sums = totals[0], dict(zip(_SUMMED, totals[1:-1]))

        def mean(name: str) -> float:
            return sums[name] / num_scored if num_scored > 0 else 0.0

        metrics = self._metrics[mode]
        metrics["rank_aware/entropy"].append(mean("entropy"))
        metrics["rank_aware/p_tail"].append(mean("p_tail"))
        metrics["rank_aware/p_topk_neg"].append(mean("p_topk_neg"))
        metrics["rank_aware/w_mean"].append(mean("w"))
        metrics[EMPTY_MICRO_BATCHES].append(totals[-1])
