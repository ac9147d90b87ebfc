"""`FourierSFTTrainer`: TRL's `SFTTrainer` with Fourier heads (Gillman et al., ICLR 2025, arXiv 2410.22269).

Two things change, both around `SFTTrainer.compute_loss`, which runs unchanged:

* the smoothness regulariser ``γ · ∫|f′|²`` of every `FourierHead` forward of the step is collected with forward hooks
  (`trl_explore.modules.fourier_head.collect_fourier_terms`) and added to the loss (the official large-scale scripts
  dropped it);
* a `FourierNumericHead` is honoured by TRL's fused LM head, which reads ``lm_head.weight`` directly and would bypass
  the Fourier part: the step runs in a fused-head block (`trl_explore.kernels.fused_head.fused_head`) whose projection
  is the numeric head (`numeric_head_projection`), tile by tile, on the labelled positions only.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from typing import TYPE_CHECKING, Any

import torch
from transformers import TrainingArguments
from trl import SFTTrainer

from .._version import check_trl_version
from ..citations import trl_paper
from ..kernels.fused_head import fused_head, shifted_label_mask
from ..modules.fourier_head import collect_fourier_terms, fourier_heads
from ..modules.numeric_head import (
    attach_numeric_head,
    find_numeric_head,
    numeric_head_modules_to_save,
    numeric_head_projection,
)
from ._faults import EMPTY_MICRO_BATCHES
from ._inputs import check_sft_datasets, model_as_str
from ._trl_compat import resolve_resume_checkpoint, sft_config_from
from .fourier_head_config import FourierSFTConfig

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

__all__ = ["FourierSFTTrainer", "number_token_ids"]

logger = logging.getLogger(__name__)


def number_token_ids(tokenizer: Any, tokens: list[str]) -> list[int]:
    """Ids of ``tokens``, each of which must be a single token of ``tokenizer`` (a tokenizer or a processor)."""
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    ids = []
    for token in tokens:
        encoded = tokenizer(token, add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            raise ValueError(f"number token {token!r} is not a single token for this tokenizer: {encoded}.")
        ids.append(encoded[0])
    return ids


class FourierSFTTrainer(SFTTrainer):
    """[`~trl.SFTTrainer`] for models with Fourier heads; configure it with [`FourierSFTConfig`].

    The loss is `SFTTrainer`'s plus ``fourier_head_regularization_gamma · ∫|f′|²`` of every Fourier head forward of
    the step (a head run several times in one step, e.g. in chunks, contributes the mean of its terms). With
    `num_items_in_batch` normalisation the term is divided by the gradient-accumulation steps, so that it counts once
    per optimizer step. Everything else (datasets, masks, packing, PEFT, gradient accumulation) is `SFTTrainer`'s.

    With `fourier_head_number_tokens` the trainer attaches a `FourierNumericHead` before PEFT wraps the model and
    adds it to PEFT's `modules_to_save` (trained in full, saved with the adapter).

    Logs `SFTTrainer`'s metrics plus `fourier_head/regularization` (the added term, before the accumulation scaling)
    and `fourier_head/smoothness` (smoothness `s(P)` of the heads' bin pmfs, up to 64 rows per forward), averaged over
    processes, and `faults/empty_micro_batches` (processes whose micro-batch had no labelled token).
    """

    _tag_names = ["trl", "sft", "trl_explore", "fourier-head"]
    _name = "FourierSFT"
    _paper = trl_paper("fourier_head")  # cited in the model card (`create_model_card`, `push_to_hub`)

    def __init__(
        self,
        model: str | PreTrainedModel | PeftModel,
        args: FourierSFTConfig | TrainingArguments | None = None,
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
        check_trl_version()
        model = model_as_str(model)
        args = self._fourier_args(model, args)
        check_sft_datasets(train_dataset, eval_dataset, args, formatting_func)
        if args.fourier_head_number_tokens is not None:
            if isinstance(model, str):
                from trl.trainer.utils import create_model_from_path

                init_kwargs = dict(args.model_init_kwargs or {})
                if quantization_config is not None:
                    init_kwargs["quantization_config"] = quantization_config
                init_kwargs.setdefault("trust_remote_code", args.trust_remote_code)
                model = create_model_from_path(model, **init_kwargs)
                quantization_config = None
            if find_numeric_head(model) is not None:
                raise ValueError(
                    "`fourier_head_number_tokens` is set but the model already has a FourierNumericHead; leave it "
                    "unset to train the model's head."
                )
            if processing_class is None:
                from transformers import AutoProcessor

                processing_class = AutoProcessor.from_pretrained(model.config._name_or_path)
            ids = number_token_ids(processing_class, args.fourier_head_number_tokens)
            attach_numeric_head(
                model,
                ids,
                args.fourier_head_num_frequencies,
                mode=args.fourier_head_mode,
                regularization_gamma=args.fourier_head_regularization_gamma,
            )
        if not isinstance(model, str) and not fourier_heads(model):
            raise ValueError(
                "the model has no FourierHead: set `fourier_head_number_tokens` to attach a numeric head, or attach "
                "one (`trl_explore.modules.numeric_head.attach_numeric_head`) before building the trainer."
            )
        if peft_config is not None and not isinstance(model, str) and find_numeric_head(model) is not None:
            # the head is trained and saved in full; LoRA does not wrap it
            peft_config = copy.copy(peft_config)
            peft_config.modules_to_save = sorted(
                set(peft_config.modules_to_save or []) | set(numeric_head_modules_to_save(model))
            )
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
        if not fourier_heads(self.model):
            raise ValueError("the model has no FourierHead; set `fourier_head_number_tokens` to attach one.")

    @staticmethod
    def _fourier_args(model: Any, args: Any) -> FourierSFTConfig:
        if args is None:
            model_id = model if isinstance(model, str) else model.config._name_or_path
            return FourierSFTConfig(f"{str(model_id).split('/')[-1] or 'model'}-FourierSFT")
        return sft_config_from(args, FourierSFTConfig, "FourierSFTTrainer")

    def _loss_scaled_for_accumulation(self, num_items_in_batch: Any) -> bool:
        """`transformers.Trainer.training_step`'s rule: the loss is already divided over the accumulation steps."""
        if self.loss_is_scaled_for_ga is not None:
            return bool(self.loss_is_scaled_for_ga)
        return bool(
            (self.model_accepts_loss_kwargs and num_items_in_batch is not None) or self.compute_loss_func is not None
        )

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        """`Trainer.train`; ``resume_from_checkpoint=True`` resumes from the newest *complete* checkpoint of
        ``output_dir`` (one a run killed while saving left half-written is skipped, with a warning)."""
        resume_from_checkpoint = resolve_resume_checkpoint(self.args.output_dir, resume_from_checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        route = contextlib.nullcontext()
        if find_numeric_head(model) is not None:
            route = fused_head(projection=numeric_head_projection(model), label_mask=shifted_label_mask(inputs))
        with collect_fourier_terms(model, self.args.fourier_head_regularization_gamma) as terms, route:
            loss = super().compute_loss(model, inputs, return_outputs=False, num_items_in_batch=num_items_in_batch)
        reg = terms.regularization()
        empty = not bool(shifted_label_mask(inputs).any()) if inputs.get("labels") is not None else False
        self._log_fourier_metrics(mode, reg, terms.smoothness(), empty)
        if reg is not None:
            if mode == "train" and self._loss_scaled_for_accumulation(num_items_in_batch):
                reg = reg / self.current_gradient_accumulation_steps
            loss = loss + reg.to(loss.dtype)
        if return_outputs:  # like `SFTTrainer`: the logits take an extra forward, outside the collected step
            with torch.no_grad():
                outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            return loss, outputs
        return loss

    def _log_fourier_metrics(self, mode: str, reg: torch.Tensor | None, smooth: float | None, empty: bool) -> None:
        values = torch.tensor(
            [math.nan if reg is None else reg.detach().float().item(), math.nan if smooth is None else smooth, empty],
            device=self.accelerator.device,
        )
        gathered = self.accelerator.gather(values.unsqueeze(0)).view(-1, 3)
        means = gathered[:, :2].nanmean(0).tolist()
        for name, value in zip(("fourier_head/regularization", "fourier_head/smoothness"), means):
            if not math.isnan(value):  # some process measured it
                self._metrics[mode][name].append(value)
        # processes whose micro-batch had no labelled token (loss: the regulariser alone; TRL clamps the denominator)
        self._metrics[mode][EMPTY_MICRO_BATCHES].append(gathered[:, 2].sum().item())
