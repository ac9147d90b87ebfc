"""`ExploreGRPOTrainer`: TRL's `GRPOTrainer` carrying composable exploration components.

Design (``DESIGN.md`` principles 2-3):

* The trainer builds every registered component (`trl_explore.trainers.components`) enabled by its config and runs
  their phases in the declared order; it never names a component. With none enabled every hooked method defers to
  TRL unchanged, so the loss and the gradients are TRL's.
* TRL's large private methods are never copied. Sampling requests are bound around TRL's ``_generate_single_turn``
  (also used by the multi-turn tool loop); the rewards TRL computes are stashed from ``_calculate_rewards``; the
  advantages phase post-processes ``super()._generate_and_score_completions``. Everything the trainer knows of TRL's
  internals lives in `trl_explore.trainers._trl_compat` (the one seam, with tripwires).
* Only when a component edits the loss does the trainer use its own small loss path (`_explore_compute_loss`): the
  components' phases around TRL's clipped surrogate for ``loss_type`` in ``{grpo, bnpo, dr_grpo, dapo}`` (per-token
  clip bounds and advantages and a dual clip when a component prepares them), which is what differs from TRL. The
  steps it shares with TRL's ``_compute_loss`` (the off-policy and high-entropy masks, the vLLM importance-sampling
  correction, the reference KL, the normalisations, the entropy bonus and its adaptive controller, the metrics) are
  `_trl_compat`'s mirror of that method, run in TRL's order.
* Extra per-token statistics (e.g. Lp-Reg's proxy log-probability) come from the same LM-head pass as the training
  log-probabilities (`trl_explore.kernels.fused_head.fused_token_stats`); when TRL computes old-policy log-probs
  during generation, the statistics of that pass are captured and carried in the inputs (``explore_old_<name>``
  keys), split with the batch by TRL.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from trl import GRPOConfig, GRPOTrainer

from .._version import check_trl_version
from ..citations import trainer_card_paper
from ..kernels.fused_head import fused_token_stats
from ..kernels.token_stats import TokenStatsRequest
from . import _faults as faults
from . import _guards as guards
from . import _trl_compat as compat
from ._inputs import check_grpo_datasets, model_as_str
from .components import (
    ADDED_KEY,
    IN_MASK_KEY,
    KEEP_KEY,
    METRIC_REDUCTIONS,
    OWN_LOSS_TYPES,
    ROW_WEIGHT_KEY,
    ExploreComponent,
    GenerationContext,
    LossContext,
    Metric,
    SamplingContext,
    merge_token_stats_requests,
    registered_components,
)
from .components.rows import append_rows
from .explore_grpo_config import ExploreGRPOConfig

if TYPE_CHECKING:  # pragma: no cover
    from datasets import Dataset, IterableDataset
    from peft import PeftConfig, PeftModel
    from transformers import (
        BitsAndBytesConfig,
        PreTrainedModel,
        PreTrainedTokenizerBase,
        ProcessorMixin,
        TrainerCallback,
    )
    from trl.trainer.grpo_trainer import RewardFunc

logger = logging.getLogger(__name__)

__all__ = ["ExploreGRPOTrainer"]


def _check_datasets(train_dataset: Any, eval_dataset: Any, environment_factory: Any) -> None:
    """Empty datasets are refused, and so are datasets without ``prompt`` unless an ``environment_factory`` supplies
    the conversations (TRL routes the rows by their ``environment`` column)."""
    check_grpo_datasets(train_dataset, eval_dataset, needs_prompt=environment_factory is None)


def _row_column(x: float | torch.Tensor) -> float | torch.Tensor:
    """``x[:, :1]`` when ``x`` is a ``[B, T]`` tensor holding one value along each row, else ``x``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] == 1:
        return x
    column = x[:, :1]
    return column if bool((x == column).all()) else x


class ExploreGRPOTrainer(GRPOTrainer):
    """`trl.GRPOTrainer` with exploration components (see `ExploreGRPOConfig`); each is off by default.

    The constructor takes the arguments of `trl.GRPOTrainer` (same names, order and defaults). ``args`` may be an
    `ExploreGRPOConfig` (or the trainer's own config class), a plain `trl.GRPOConfig` (upgraded to the trainer's config
    class with the component fields at that class's defaults, e.g. Lp-Reg on for `LpRegGRPOTrainer`), or ``None`` (the
    config class's defaults).

    Extending: register a component (`trl_explore.trainers.components.register_component`); see the docs page
    "Writing a component". The enabled components are in ``trainer.components``.
    """

    _tag_names = ["trl", "grpo", "trl_explore"]
    # the config class `args=None` and a plain GRPOConfig are turned into, and the suffix of the default output dir
    config_class: type[ExploreGRPOConfig] = ExploreGRPOConfig
    _default_output_suffix = "ExploreGRPO"

    # the model card (`create_model_card`, `push_to_hub`) names and cites the enabled components' papers
    _name = property(lambda self: trainer_card_paper(self, GRPOTrainer)[0])
    _paper = property(lambda self: trainer_card_paper(self, GRPOTrainer)[1])

    def __init__(
        self,
        model: str | PreTrainedModel | PeftModel,
        reward_funcs: RewardFunc | list[RewardFunc] | None = None,
        args: GRPOConfig | None = None,
        train_dataset: Dataset | IterableDataset | None = None,
        eval_dataset: Dataset | IterableDataset | dict[str, Dataset | IterableDataset] | None = None,
        processing_class: PreTrainedTokenizerBase | ProcessorMixin | None = None,
        reward_processing_classes: PreTrainedTokenizerBase | list[PreTrainedTokenizerBase] | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple[torch.optim.Optimizer | None, torch.optim.lr_scheduler.LambdaLR | None] = (None, None),
        quantization_config: BitsAndBytesConfig | None = None,
        peft_config: PeftConfig | None = None,
        tools: list[Callable] | None = None,
        rollout_func: Callable | None = None,
        environment_factory: Callable | dict[str, Callable] | None = None,
    ) -> None:
        check_trl_version()
        model = model_as_str(model)
        _check_datasets(train_dataset, eval_dataset, environment_factory)
        super().__init__(
            model,
            reward_funcs,
            args=self._resolve_args(model, args),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            reward_processing_classes=reward_processing_classes,
            callbacks=callbacks,
            optimizers=optimizers,
            quantization_config=quantization_config,
            peft_config=peft_config,
            tools=tools,
            rollout_func=rollout_func,
            environment_factory=environment_factory,
        )
        self._reward_guard = guards.check_trainer(self)  # top_k vs the vocabulary; the invalid-reward guard
        self.stop_reason: str | None = None  # why training stopped early (the invalid-reward guard), else None
        self._last_rewards_per_func: torch.Tensor | None = None
        self._last_completions: list[Any] | None = None
        self._old_stats_request: TokenStatsRequest | None = None
        self._old_stats_captured: dict[str, torch.Tensor] | None = None
        self.components: list[ExploreComponent] = self._build_components()
        self._check_compatibility()
        off = self._method_off_warning()
        if off:
            logger.warning(off)

    def _method_off_warning(self) -> str | None:
        """For a method's trainer (`config_class` with the method on): the warning when ``args`` turned it off."""
        return None

    @classmethod
    def _resolve_args(cls, model: Any, train_args: GRPOConfig | None) -> ExploreGRPOConfig:
        """``args`` as an instance of `config_class`'s family: ``None`` gives the class's defaults, a plain
        `trl.GRPOConfig` is upgraded (component fields at this class's defaults)."""
        if train_args is None:
            name = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", "")
            return cls.config_class(f"{str(name).split('/')[-1] or 'model'}-{cls._default_output_suffix}")
        if isinstance(train_args, ExploreGRPOConfig):
            return train_args
        if not isinstance(train_args, GRPOConfig):
            raise TypeError(
                f"`args` must be a GRPOConfig (or {cls.config_class.__name__}), got {type(train_args).__name__}."
            )
        logger.info(
            "%s: upgrading the given %s to %s (component fields at their defaults for this trainer).",
            cls.__name__,
            type(train_args).__name__,
            cls.config_class.__name__,
        )
        return compat.upgrade_config(train_args, cls.config_class)

    # ----------------------------------------------------------------------------------------------- components
    def _build_components(self) -> list[ExploreComponent]:
        """Every registered component enabled by ``self.args``, in registration order."""
        return [cls(self) for cls in registered_components() if cls.enabled(self.args)]

    def _check_compatibility(self) -> None:
        """Refuse, at construction, settings the enabled components cannot honour (each error says why); the
        components check what is theirs alone in their own ``__init__`` (docs/robustness.md lists every check)."""
        editing = [c.name for c in self.components if c.edits_loss]
        if editing and self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(
                f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} with the loss-editing components {editing}, got "
                f"{self.loss_type!r}: the explore loss path reproduces only those surrogates (TRL's cispo, sapo, luspo "
                "and vespo weight the tokens differently, so the components' edits would not apply to them)."
            )
        adding = [c.name for c in self.components if c.adds_rows]
        if adding and not editing:
            raise ValueError(
                f"The components {adding} add rows to the generation batch, which only the explore loss path reads "
                "(their loss weights and behaviour log-probabilities); enable a loss-editing component."
            )
        sampling = [c.name for c in self.components if type(c).sampling is not ExploreComponent.sampling]
        if sampling:
            if compat.generation_backend(self) == "transformers_continuous_batching":
                raise ValueError(
                    f"The components {sampling} change how training rollouts are sampled, which transformers' "
                    "continuous batching (`use_transformers_continuous_batching` / `use_transformers_paged`) does not "
                    "support: it takes no logits processors. Turn it off, or use vLLM."
                )
            if getattr(self, "rollout_func", None) is not None:
                raise ValueError(
                    f"The components {sampling} change how training rollouts are sampled, but a custom `rollout_func` "
                    "generates the completions itself and would ignore them. Remove `rollout_func`, or turn them off."
                )

    def _ordered(self, phase: str) -> list[ExploreComponent]:
        """The components in their declared order for ``phase`` (stable: registration order breaks ties)."""
        return sorted(self.components, key=lambda c: c.phase_order(phase))

    @property
    def _uses_own_loss(self) -> bool:
        return any(c.edits_loss for c in self.components)

    def _merged_token_stats_request(self, old_policy: bool = False) -> TokenStatsRequest | None:
        """The fused LM head's request of the training forward (``old_policy``: of TRL's old-policy pass during
        generation, only for the components that read `LossContext.old_token_stats`)."""
        components = [c for c in self.components if c.uses_old_token_stats or not old_policy]
        return merge_token_stats_requests([c.token_stats() for c in components])

    def _log_component_metrics(
        self,
        ctx: GenerationContext | LossContext | None,
        mode: str,
        extra: dict[str, Metric] | None = None,
        phase: str = "loss_metrics",
    ) -> None:
        """The components' metrics ``phase`` (``loss_metrics``: after ``after_loss``) and the trainer's ``extra`` ones
        (full names): one cross-process reduction for the means and sums, one gather for the extremes."""
        if phase == "loss_metrics" and ctx is not None:
            for component in self._ordered("after_loss"):
                component.after_loss(ctx)
        entries: list[tuple[str, Metric]] = list((extra or {}).items())
        for component in self._ordered(phase) if ctx is not None else ():
            for key, metric in getattr(component, phase)(ctx).items():
                entries.append((f"{component.namespace}/{key}", metric))
        for name, metric in entries:
            if metric.reduce not in METRIC_REDUCTIONS:
                raise ValueError(f"Metric {name}: unknown reduce {metric.reduce!r}.")
        if not entries:
            return
        device = self.accelerator.device

        def scalar(x: float | torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(x, dtype=torch.float32, device=device).detach().reshape(())

        means = [(n, m) for n, m in entries if m.reduce == "mean"]
        sums = [(n, m) for n, m in entries if m.reduce == "sum"]
        extremes = [(n, m) for n, m in entries if m.reduce in ("max", "min")]
        metrics = self._metrics[mode]
        if means or sums:
            local = torch.stack(
                [scalar(m.value) for _, m in means]
                + [scalar(m.count) for _, m in means]
                + [scalar(m.value) for _, m in sums]
            )
            totals = self.accelerator.reduce(local, reduction="sum").tolist()
            for i, (name, _) in enumerate(means):
                count = totals[len(means) + i]
                metrics[name].append(totals[i] / count if count > 0 else math.nan)
            for i, (name, _) in enumerate(sums):
                metrics[name].append(totals[2 * len(means) + i])
        if extremes:
            gathered = self.accelerator.gather(torch.stack([scalar(m.value) for _, m in extremes]).unsqueeze(0))
            for i, (name, metric) in enumerate(extremes):
                column = gathered[:, i]
                metrics[name].append((column.max() if metric.reduce == "max" else column.min()).item())
        for name, metric in entries:
            if metric.reduce == "global":
                metrics[name].append(float(metric.value))

    # ------------------------------------------------------------------------------------------------- sampling
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        mode = "train" if self.model.training else "eval"
        processors: list[Any] = []
        vllm_args: dict[str, Any] = {}
        if mode == "train" and self.components:
            ctx = SamplingContext(trainer=self, mode=mode, backend=compat.generation_backend(self))
            for component in self._ordered("sampling"):
                request = component.sampling(ctx)
                if request is not None:
                    processors.extend(request.logits_processors)
                    vllm_args.update(request.vllm_extra_args)
        if not processors and not vllm_args:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        with compat.bound_sampling(self, processors, vllm_args):
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )

    # ------------------------------------------------------------------------------------ generation (post-process)
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        # reward functions behind their guards (checked output, annotated exceptions); +/-inf screened out as skips
        with compat.guarded_reward_functions(self, faults.guard_reward_function):
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        rewards_per_func, screen = faults.screen_rewards(
            rewards_per_func, self.reward_func_names, warn=self.accelerator.is_main_process
        )
        mode = "train" if self.model.training else "eval"
        for name, value in screen.metrics().items():  # gathered rewards: the counts are global already
            self._metrics[mode][name].append(value)
        stop = self._reward_guard.update(rewards_per_func, self.reward_func_names, training=mode == "train")
        if stop is not None:  # log, finish this step and stop, like TRL's own early stops (train() returns)
            logger.error(stop)
            self.stop_reason = stop
            self.control.should_training_stop = True
        self._last_rewards_per_func = rewards_per_func  # gathered [N_global, n_funcs], for advantage components
        self._last_completions = completions  # this process's decoded completions (messages with tool calls)
        return rewards_per_func

    def _computes_old_logps(self) -> bool:
        return compat.computes_old_logps(self)

    def _generate_and_score_completions(self, inputs):
        request = self._merged_token_stats_request(old_policy=True)
        self._old_stats_request = request if (request is not None and self._computes_old_logps()) else None
        self._old_stats_captured = None
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._old_stats_request = None
        if self._old_stats_captured is not None:
            for key, value in self._old_stats_captured.items():
                output[compat.OLD_STATS_PREFIX + key] = value
            self._old_stats_captured = None
        return self._run_generation_phases(output)

    def _run_generation_phases(self, output: dict[str, Any]) -> dict[str, Any]:
        """The ``advantages``, ``generation_metrics`` and ``post_generation`` phases on TRL's output of a generation."""
        mode = "train" if self.model.training else "eval"
        # completions without a single loss token (e.g. truncated with `mask_truncated_completions`): nothing to learn
        empty = {faults.EMPTY_COMPLETIONS: Metric((self._loss_mask(output).sum(-1) == 0).sum(), reduce="sum")}
        if not self.components:
            self._log_component_metrics(None, mode, extra=empty, phase="generation_metrics")
            return output
        if self._last_rewards_per_func is None:
            raise RuntimeError("No rewards were stashed from `_calculate_rewards` for this generation.")
        num_generations = self.num_generations if mode == "train" else self.num_generations_eval
        ctx = GenerationContext(
            self,
            mode,
            output,
            num_generations,
            self._last_rewards_per_func,
            self.reward_weights,
            completions=self._last_completions,
        )
        for component in self._ordered("advantages"):
            component.advantages(ctx)
        output["advantages"] = ctx.advantages
        output[KEEP_KEY] = ctx.keep
        output[IN_MASK_KEY] = ctx.in_mask
        if ctx.recount_tokens and (ctx.added_advantages or ctx.added_rows):
            output = self._append_rows(output, ctx, mode)
        if ctx.recount_tokens:
            mask = self._loss_mask(output).float() * output[IN_MASK_KEY].unsqueeze(1).float()
            total = self.accelerator.reduce(mask.sum(), reduction="sum")
            reference = output["num_items_in_batch"]
            output["num_items_in_batch"] = total.to(device=reference.device, dtype=reference.dtype)
        self._log_component_metrics(ctx, mode, extra=empty, phase="generation_metrics")
        for component in self._ordered("post_generation"):
            output = component.post_generation(output)
        return output

    def _append_rows(self, output: dict[str, Any], ctx: GenerationContext, mode: str) -> dict[str, Any]:
        """Append the rows the components added (`GenerationContext.add_rows`): padded to common widths, kept in the
        loss, marked in `ADDED_KEY`, with their loss weights in `ROW_WEIGHT_KEY`."""
        size = output["completion_ids"].size(0)
        device = output["completion_ids"].device
        output[ADDED_KEY] = torch.zeros(size, dtype=torch.bool, device=device)
        output[ROW_WEIGHT_KEY] = torch.ones(size, dtype=torch.float32, device=device)
        if not ctx.added_rows:
            return output
        if not self._uses_own_loss:
            raise ValueError("Rows added to a generation batch need a loss-editing component (the own loss path).")
        advantages = torch.cat(ctx.added_advantages)
        weights = torch.cat(ctx.added_weights)
        rows = [
            {
                **row,
                "advantages": advantages[i],
                KEEP_KEY: torch.tensor(True),
                IN_MASK_KEY: torch.tensor(True),
                ADDED_KEY: torch.tensor(True),
                ROW_WEIGHT_KEY: weights[i],
            }
            for i, row in enumerate(ctx.added_rows)
        ]
        output = append_rows(
            output,
            rows,
            pad_token_id=compat.pad_token_id(self),
            pad_to_multiple_of=self.pad_to_multiple_of,
            fill_missing={"old_per_token_logps": math.nan},
        )
        total = output["completion_ids"].size(0)
        if mode == "train" and total % self.args.steps_per_generation != 0:
            raise ValueError(
                f"Components added {len(rows)} rows to a generation batch of {size}: {total} rows cannot be split into "
                f"steps_per_generation={self.args.steps_per_generation} equal micro-batches."
            )
        return output

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **kwargs,
    ):
        request = self._old_stats_request
        # The first policy forward inside generation is TRL's old-log-prob pass (the reference pass comes after it)
        if request is None or model is not self.model or self._old_stats_captured is not None:
            return super()._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size,
                compute_entropy,
                compute_aux_loss,
                **kwargs,
            )
        request = TokenStatsRequest(min_p=request.min_p, threshold=request.threshold, keep_hidden=False)
        with fused_token_stats(request):
            out = super()._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size,
                compute_entropy,
                compute_aux_loss,
                **kwargs,
            )
        stats, _ = compat.unflatten_token_stats(request.calls, input_ids, attention_mask, logits_to_keep, batch_size)
        self._old_stats_captured = {k: v.detach() for k, v in stats.items()}
        return out

    # ------------------------------------------------------------------------------------------------------- loss
    def _compute_loss(self, model, inputs):
        if self._uses_own_loss:
            return self._explore_compute_loss(model, inputs)
        request = self._merged_token_stats_request() if self.components else None
        if request is None:
            loss = super()._compute_loss(model, inputs)
            stats = {}
        else:  # metric-only components: TRL's loss, its LM-head pass also yields their statistics
            with fused_token_stats(request):
                loss = super()._compute_loss(model, inputs)
            stats, _ = self._unflatten(request, inputs)
        mode = "train" if self.model.training else "eval"
        mask = self._loss_mask(inputs)
        ctx = LossContext(model, inputs, mode, mask, token_stats=stats) if self.components else None
        self._log_component_metrics(ctx, mode, extra=self._empty_micro_batch(mask))
        return loss

    @staticmethod
    def _empty_micro_batch(mask: torch.Tensor) -> dict[str, Metric]:
        """``faults/empty_micro_batches``: 1 on a process whose micro-batch has no loss token (its loss is 0)."""
        return {faults.EMPTY_MICRO_BATCHES: Metric((mask.sum() == 0).float(), reduce="sum")}

    @staticmethod
    def _loss_mask(inputs: dict[str, Any]) -> torch.Tensor:
        completion_mask = inputs["completion_mask"]
        return completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]

    @staticmethod
    def _unflatten(request: TokenStatsRequest, inputs: dict[str, Any]):
        input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        return compat.unflatten_token_stats(request.calls, input_ids, attention_mask, inputs["completion_ids"].size(1))

    def _policy_forward(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor, Any, dict, list, Any]:
        """TRL's policy forward (log-probs, entropies, aux loss), through the fused token-statistics head if asked."""
        input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        call_kwargs = {k: inputs.get(k) for k in compat.MULTIMODAL_KEYS}
        request = self._merged_token_stats_request()

        def forward():
            # the old-statistics capture only arms inside generation, so this is TRL's forward
            return self._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                inputs["completion_ids"].size(1),
                compute_entropy=True,
                compute_aux_loss=self.aux_loss_enabled,
                **call_kwargs,
            )

        if request is None:
            logps, entropies, aux_loss = forward()
            return logps, entropies, aux_loss, {}, [], None
        with fused_token_stats(request):
            logps, entropies, aux_loss = forward()
        stats, row_index = self._unflatten(request, inputs)
        return logps, entropies, aux_loss, stats, request.calls, row_index

    def _clipped_surrogate(self, ctx: LossContext) -> torch.Tensor:
        """TRL's PPO-clip per-token loss ``-min(r·A, clip(r, 1-ε_low, 1+ε_high)·A)`` (two-sided with ``delta``), with
        the context's (possibly per-token) bounds and advantages; dual clip ``min(·, -c·A)`` where ``A < 0``.

        With a sequence-level ratio ``[B, 1]``, per-token bounds and advantages that are one value along each row are
        taken as ``[B, 1]`` columns, so the surrogate (and its backward) runs TRL's operations in TRL's shapes."""
        coef_1, advantages = ctx.coef_1, ctx.advantages
        low, high = ctx.clip_bounds()
        if coef_1.shape[1] == 1:
            advantages, low, high = (_row_column(x) for x in (advantages, low, high))
        coef_2 = torch.clamp(coef_1, low, high)
        if self.args.delta is not None:
            coef_1 = torch.clamp(coef_1, max=self.args.delta)
        per_token_loss = -torch.min(coef_1 * advantages, coef_2 * advantages)
        if ctx.dual_clip is not None:
            capped = torch.minimum(per_token_loss, -ctx.dual_clip * advantages)
            per_token_loss = torch.where(advantages < 0, capped, per_token_loss)
        return per_token_loss

    def _aggregate(self, per_token_loss: torch.Tensor, mask: torch.Tensor, inputs, mode: str):
        """TRL's loss-type normalisation (`_trl_compat.aggregate_loss`)."""
        return compat.aggregate_loss(self, per_token_loss, mask, inputs, mode)

    def _explore_compute_loss(self, model, inputs) -> torch.Tensor:
        """The own loss path: the components' phases around the clipped surrogate; TRL's shared steps (masks, vLLM
        correction, KL, normalisation, entropy bonus, aux loss, metrics) in `_trl_compat`, in TRL's order."""
        mode = "train" if self.model.training else "eval"
        mask = self._loss_mask(inputs)
        if IN_MASK_KEY in inputs:
            mask = mask * inputs[IN_MASK_KEY].unsqueeze(1).to(mask.dtype)
        per_token_logps, entropies, aux_loss, stats, calls, row_index = self._policy_forward(model, inputs)
        advantages = inputs["advantages"]
        if advantages.dim() == 1:
            advantages = advantages.unsqueeze(1)
        old_per_token_logps = inputs.get("old_per_token_logps")
        if old_per_token_logps is not None and ADDED_KEY in inputs:
            # rows added without behaviour log-probs of their own (NaN) are on-policy: the current policy, as in TRL
            old_per_token_logps = torch.where(
                torch.isnan(old_per_token_logps), per_token_logps.detach(), old_per_token_logps
            )
        ctx = LossContext(
            model,
            inputs,
            mode,
            mask,
            per_token_logps=per_token_logps,
            entropies=entropies,
            advantages=advantages,
            old_per_token_logps=per_token_logps.detach() if old_per_token_logps is None else old_per_token_logps,
            importance_sampling_level=self.importance_sampling_level,
            eps_low=self.epsilon_low,
            eps_high=self.epsilon_high,
            token_stats=stats,
            old_token_stats={
                k[len(compat.OLD_STATS_PREFIX) :]: v for k, v in inputs.items() if k.startswith(compat.OLD_STATS_PREFIX)
            },
            forward_calls=calls,
            row_index=row_index,
        )
        if ROW_WEIGHT_KEY in inputs:
            ctx.row_weights = inputs[ROW_WEIGHT_KEY].unsqueeze(1).to(per_token_logps.dtype)
        for component in self._ordered("prepare_loss"):
            component.prepare_loss(ctx)
        ctx.per_token_loss = self._clipped_surrogate(ctx)
        if KEEP_KEY in inputs:  # dropped samples: no policy-gradient term (their advantage is usually 0 already)
            ctx.per_token_loss = ctx.per_token_loss * inputs[KEEP_KEY].unsqueeze(1).to(ctx.per_token_loss.dtype)
        for component in self._ordered("adjust_loss"):
            component.adjust_loss(ctx)
        if ctx.row_weights is not None:  # per-row weight of the policy loss (e.g. replayed rows' γ(t))
            ctx.per_token_loss = ctx.per_token_loss * ctx.row_weights

        per_token_loss, entropy_mask, per_token_kl = compat.shared_token_terms(self, ctx, per_token_logps, entropies)
        loss, policy_loss = self._aggregate(per_token_loss, ctx.mask, inputs, mode)
        for term in ctx.extra_loss:
            loss = loss + term
        loss = compat.add_entropy_bonus(self, loss, entropies, ctx.mask, entropy_mask, policy_loss, mode)
        loss = compat.add_router_aux_loss(self, loss, aux_loss, mode)
        compat.log_loss_metrics(self, ctx, per_token_kl)
        self._log_component_metrics(ctx, mode, extra=self._empty_micro_batch(self._loss_mask(inputs)))
        return loss

    # ------------------------------------------------------------------------------------------------ state (P. 7)
    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        """`Trainer.train`; ``resume_from_checkpoint=True`` resumes from the newest *complete* checkpoint of
        ``output_dir`` (one a run killed while saving left half-written is skipped, with a warning)."""
        required = (compat.ENTROPY_CONTROLLER_FILE,) if self.use_adaptive_entropy else ()
        resume_from_checkpoint = compat.resolve_resume_checkpoint(
            self.args.output_dir, resume_from_checkpoint, required
        )
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _stateful(self, per_process: bool) -> list[ExploreComponent]:
        return [
            c
            for c in self.components
            if c.state_per_process == per_process and type(c).state_dict is not ExploreComponent.state_dict
        ]

    def _save_checkpoint(self, model, trial):
        # The components' state goes first: transformers writes `trainer_state.json` last, so a checkpoint that has it
        # (what `compat.resolve_resume_checkpoint` calls complete) also has the components' state.
        folder = compat.checkpoint_folder(self, trial)
        shared = self._stateful(per_process=False)
        if shared and self.args.should_save:
            os.makedirs(folder, exist_ok=True)
            torch.save({c.name: c.state_dict() for c in shared}, os.path.join(folder, compat.COMPONENT_STATE_FILE))
        own = self._stateful(per_process=True)
        if own:  # every process writes its own (like transformers' per-process RNG states)
            os.makedirs(folder, exist_ok=True)
            torch.save(
                {c.name: c.state_dict() for c in own},
                os.path.join(folder, compat.process_state_file(self.accelerator.process_index)),
            )
            if self.accelerator.num_processes > 1:  # every process's file is on disk before `trainer_state.json`
                self.accelerator.wait_for_everyone()
        super()._save_checkpoint(model, trial)

    def _load_optimizer_and_scheduler(self, checkpoint):
        # called on every resume (TRL restores its own entropy-controller state here too)
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        shared_path = os.path.join(checkpoint, compat.COMPONENT_STATE_FILE)
        shared_states = torch.load(shared_path, weights_only=True) if os.path.isfile(shared_path) else {}
        own_path = os.path.join(checkpoint, compat.process_state_file(self.accelerator.process_index))
        own_states = torch.load(own_path, weights_only=True) if os.path.isfile(own_path) else {}
        missing = []
        for component in self._stateful(per_process=False) + self._stateful(per_process=True):
            states = own_states if component.state_per_process else shared_states
            if component.name in states:
                component.load_state_dict(states[component.name])
            elif component.state_per_process and component.name in shared_states:
                # a checkpoint written when this component's state was still shared by the processes
                component.load_state_dict(shared_states[component.name])
            else:
                missing.append(component.name)
        if missing:
            logger.warning(
                "No saved state of the components %s in %s (process %d): they start afresh.",
                missing,
                checkpoint,
                self.accelerator.process_index,
            )
