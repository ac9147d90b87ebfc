"""`ExploreGRPOTrainer`: TRL's `GRPOTrainer` carrying composable exploration components.

Design (``DESIGN.md`` principles 2-3):

* Every component is a small `ExploreComponent` object with optional hooks; the trainer holds a list of the enabled
  ones. With none enabled every hooked method defers to TRL unchanged, so the loss and the gradients are TRL's.
* TRL's large private methods are never copied. Generation is post-processed after
  ``super()._generate_and_score_completions`` (`ExploreComponent.post_generation`); the rewards TRL computes are
  stashed from ``_calculate_rewards`` (``self._last_rewards_per_func``) for advantage components.
* Components that change the per-token loss switch the trainer to a small own loss path (`_explore_compute_loss`):
  TRL's clipped surrogate for ``loss_type`` in ``{grpo, bnpo, dr_grpo, dapo}``, token- or sequence-level importance
  sampling, the reference KL, the off-policy mask, the high-entropy mask, the vLLM importance-sampling correction and
  TRL's normalisations, each a separate method; components edit the `LossContext` in between.
* Extra per-token statistics (e.g. Lp-Reg's proxy log-probability) come from the same LM-head pass as the training
  log-probabilities (`trl_explore.kernels.token_stats.fused_token_stats`); when TRL computes old-policy log-probs
  during generation, the statistics of that pass are captured and carried in the inputs (``explore/<name>`` keys),
  split with the batch by TRL.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOTrainer

from ..kernels.token_stats import TokenStatsRequest, fused_token_stats
from .explore_grpo_config import OWN_LOSS_TYPES, ExploreGRPOConfig

logger = logging.getLogger(__name__)

# File (in each checkpoint folder) holding the components' state_dicts
COMPONENT_STATE_FILE = "explore_components.pt"
# Prefix of input keys carrying per-token statistics of the old policy, computed during generation
OLD_STATS_PREFIX = "explore_old_"


@dataclass
class LossContext:
    """Everything a component may read or edit while the per-token loss is built (shapes ``[B, T]`` unless noted).

    Attributes:
        model: the model being trained.
        inputs: the micro-batch dict.
        mode: ``"train"`` or ``"eval"``.
        mask: ``[B, T]`` loss mask (components may shrink it; the normalisation follows it).
        per_token_logps: current log-probs of the sampled tokens (with grad).
        old_per_token_logps: log-probs of the data-generating policy (detached).
        entropies: per-token entropies.
        advantages: ``[B, 1]`` or ``[B, T]``.
        coef_1: unclipped importance ratio, ``[B, T]`` (token level) or ``[B, 1]`` (sequence level).
        per_token_loss: the surrogate loss; components replace or edit it.
        token_stats: extra statistics of the current forward (``[B, T]`` each, see `ExploreComponent.token_stats`).
        old_token_stats: the same statistics of the old policy when TRL computed old log-probs, else empty.
        forward_calls: raw per-call records of the fused head (hidden rows for full-vocabulary terms).
        extra_loss: scalar terms added after aggregation (already normalised by the component).
    """

    model: Any
    inputs: dict[str, Any]
    mode: str
    mask: torch.Tensor
    per_token_logps: torch.Tensor
    old_per_token_logps: torch.Tensor
    entropies: torch.Tensor
    advantages: torch.Tensor
    coef_1: torch.Tensor
    per_token_loss: torch.Tensor
    token_stats: dict[str, torch.Tensor] = field(default_factory=dict)
    old_token_stats: dict[str, torch.Tensor] = field(default_factory=dict)
    forward_calls: list[dict[str, Any]] = field(default_factory=list)
    row_index: torch.Tensor | None = None
    extra_loss: list[torch.Tensor] = field(default_factory=list)


class ExploreComponent:
    """One exploration component of `ExploreGRPOTrainer`. Override only the hooks you need.

    Hooks, in the order the trainer calls them:

    * `token_stats` — a `TokenStatsRequest` when the component needs per-token statistics from the policy's LM head
      pass (the same pass as the training log-probs), else ``None``.
    * `post_generation` — edit TRL's generation output dict (e.g. recompute ``advantages``).
    * `edits_loss` — whether the component changes the per-token loss (switches to the own loss path).
    * `adjust_loss` — edit the `LossContext` after the surrogate is built, before masks, KL and aggregation.
    * `state_dict` / `load_state_dict` — state carried between steps (saved with checkpoints).
    """

    name: str = "component"

    def __init__(self, trainer: ExploreGRPOTrainer) -> None:
        self.trainer = trainer

    def token_stats(self) -> TokenStatsRequest | None:
        return None

    def post_generation(self, output: dict[str, Any]) -> dict[str, Any]:
        return output

    @property
    def edits_loss(self) -> bool:
        return False

    def adjust_loss(self, ctx: LossContext) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class ExploreGRPOTrainer(GRPOTrainer):
    """`trl.GRPOTrainer` with exploration components (see `ExploreGRPOConfig`); each is off by default.

    The constructor takes the arguments of `trl.GRPOTrainer`; ``args`` must be an `ExploreGRPOConfig` (a plain
    `GRPOConfig` raises `TypeError`; ``None`` gives the default `ExploreGRPOConfig`, every component off).

    Extending: a new component subclasses `ExploreComponent` and is appended in `_build_components`; advantage
    components read ``self._last_rewards_per_func`` (TRL's gathered ``[N_global, n_reward_funcs]`` rewards of the
    current generation) in `ExploreComponent.post_generation` and rewrite ``output["advantages"]``; loss components
    edit the `LossContext` (``per_token_loss``, ``mask``, ``extra_loss``) in `ExploreComponent.adjust_loss`.
    """

    _tag_names = ["trl", "grpo", "trl_explore"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from .. import _check_trl_version

        _check_trl_version()
        train_args = kwargs.get("args")
        if train_args is None and len(args) > 2:
            train_args = args[2]
        if train_args is None:
            model = kwargs.get("model", args[0] if args else None)
            name = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", "")
            kwargs["args"] = train_args = ExploreGRPOConfig(f"{str(name).split('/')[-1] or 'model'}-ExploreGRPO")
        if not isinstance(train_args, ExploreGRPOConfig):
            raise TypeError(f"`args` must be an ExploreGRPOConfig, got {type(train_args).__name__}.")
        super().__init__(*args, **kwargs)
        self._last_rewards_per_func: torch.Tensor | None = None
        self._old_stats_request: TokenStatsRequest | None = None
        self._old_stats_captured: dict[str, torch.Tensor] | None = None
        self.components: list[ExploreComponent] = self._build_components()
        if self._uses_own_loss and self.loss_type not in OWN_LOSS_TYPES:
            raise ValueError(f"`loss_type` must be one of {list(OWN_LOSS_TYPES)} with the enabled components.")

    # ----------------------------------------------------------------------------------------------- components
    def _build_components(self) -> list[ExploreComponent]:
        """The enabled components, in application order. Subclasses / later components extend this list."""
        components: list[ExploreComponent] = []
        if self.args.relative_negative_enabled:  # first: its mask edits apply before the loss components read them
            from .relative_negative_component import RelativeNegativeComponent

            components.append(RelativeNegativeComponent(self))
        if self.args.lp_reg:
            from .lp_reg_component import LpRegComponent

            components.append(LpRegComponent(self))
        return components

    @property
    def _uses_own_loss(self) -> bool:
        return any(c.edits_loss for c in self.components)

    def _merged_token_stats_request(self) -> TokenStatsRequest | None:
        requests = [r for r in (c.token_stats() for c in self.components) if r is not None]
        if not requests:
            return None
        if len(requests) > 1:
            first = requests[0]
            if any((r.min_p, r.threshold) != (first.min_p, first.threshold) for r in requests[1:] if r.min_p):
                raise ValueError("Components request incompatible proxy statistics from the fused LM head.")
        return TokenStatsRequest(
            min_p=next((r.min_p for r in requests if r.min_p is not None), None),
            threshold=next((r.threshold for r in requests if r.min_p is not None), "min_p"),
            keep_hidden=any(r.keep_hidden for r in requests),
        )

    # ------------------------------------------------------------------------------------ generation (post-process)
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards_per_func = rewards_per_func  # gathered [N_global, n_funcs], for advantage components
        return rewards_per_func

    def _computes_old_logps(self) -> bool:
        """TRL's own condition for computing ``old_per_token_logps`` during generation."""
        generate_every = self.args.steps_per_generation * self.num_iterations
        return self.args.gradient_accumulation_steps % generate_every != 0 or bool(
            self.use_vllm and self.vllm_importance_sampling_correction
        )

    def _generate_and_score_completions(self, inputs):
        request = self._merged_token_stats_request()
        self._old_stats_request = request if (request is not None and self._computes_old_logps()) else None
        self._old_stats_captured = None
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._old_stats_request = None
        if self._old_stats_captured is not None:
            for key, value in self._old_stats_captured.items():
                output[OLD_STATS_PREFIX + key] = value
            self._old_stats_captured = None
        for component in self.components:
            output = component.post_generation(output)
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
        stats, _ = self._unflatten_token_stats(request, input_ids, attention_mask, logits_to_keep, batch_size)
        self._old_stats_captured = {k: v.detach() for k, v in stats.items()}
        return out

    @staticmethod
    def _unflatten_token_stats(
        request: TokenStatsRequest,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
        batch_size: int | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Lay the fused head's flat per-call statistics out as ``[B, logits_to_keep]`` tensors.

        TRL scores every position (``N = B·(L-1)``) on devices without Triton and only the labelled ones elsewhere
        (``N = #labels``); both layouts are recognised from ``N``. Also returns, for a single call, the flat row
        index of each position in the call's hidden rows (``-1`` where none).
        """
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        labels[:, :-logits_to_keep] = -100
        label_mask = labels[:, 1:] != -100  # [B, L-1]
        batch_size = batch_size or input_ids.size(0)
        chunks = list(range(0, input_ids.size(0), batch_size))
        if len(chunks) != len(request.calls):
            raise RuntimeError(f"Expected {len(chunks)} fused LM-head calls, got {len(request.calls)}.")
        names = ("logprobs", "entropy", "max_logp", "log_z", "kept_mass", "proxy_logps")
        out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        row_index = None
        for start, call in zip(chunks, request.calls):
            m = label_mask[start : start + batch_size]
            n = call["n"]
            if n == m.numel():
                index = torch.arange(n, device=m.device).view(m.shape).masked_fill(~m, -1)
            elif n == int(m.sum()):
                index = (torch.cumsum(m.flatten().long(), 0) - 1).view(m.shape).masked_fill(~m, -1)
            else:
                raise ValueError(
                    f"The fused LM head scored {n} positions, but the labels have {int(m.sum())} of {m.numel()}; "
                    "models that pad labels (prompt-learning PEFT) are not supported by the token statistics."
                )
            for name in names:
                flat = getattr(call["stats"], name)
                value = flat[index.clamp(min=0)].masked_fill(~m, 0.0)
                out[name].append(value[:, -logits_to_keep:])
            row_index = index[:, -logits_to_keep:]
        stats = {name: torch.cat(values, dim=0) for name, values in out.items()}
        return stats, (row_index if len(chunks) == 1 else None)

    # ------------------------------------------------------------------------------------------------------- loss
    def _compute_loss(self, model, inputs):
        if not self._uses_own_loss:
            return super()._compute_loss(model, inputs)
        return self._explore_compute_loss(model, inputs)

    def _policy_forward(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor, Any, dict, list, Any]:
        """TRL's policy forward (log-probs, entropies, aux loss), through the fused token-statistics head if asked."""
        prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
        logits_to_keep = completion_ids.size(1)
        mm_keys = (
            "pixel_values",
            "image_grid_thw",
            "num_images",
            "pixel_attention_mask",
            "spatial_shapes",
            "num_tiles",
            "image_sizes",
            "token_type_ids",
            "mm_token_type_ids",
            "image_position_ids",
        )
        call_kwargs = {k: inputs.get(k) for k in mm_keys}
        request = self._merged_token_stats_request()

        def forward():
            # the old-statistics capture only arms inside generation, so this is TRL's forward
            return self._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                compute_entropy=True,
                compute_aux_loss=self.aux_loss_enabled,
                **call_kwargs,
            )

        if request is None:
            logps, entropies, aux_loss = forward()
            return logps, entropies, aux_loss, {}, [], None
        with fused_token_stats(request):
            logps, entropies, aux_loss = forward()
        stats, row_index = self._unflatten_token_stats(request, input_ids, attention_mask, logits_to_keep)
        return logps, entropies, aux_loss, stats, request.calls, row_index

    def _importance_weights(self, per_token_logps, old_per_token_logps, mask) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_ratio [B, T], coef_1)`` with TRL's token / sequence importance-sampling levels."""
        log_ratio = per_token_logps - old_per_token_logps
        if self.importance_sampling_level == "token":
            log_weights = log_ratio
        elif self.importance_sampling_level == "sequence":
            log_weights = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
        else:
            raise ValueError(f"Unknown importance sampling level: {self.importance_sampling_level}.")
        return log_ratio, torch.exp(log_weights)

    def _clipped_surrogate(self, coef_1: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
        """TRL's PPO-clip per-token loss ``-min(r·A, clip(r, 1-ε_low, 1+ε_high)·A)`` (two-sided with ``delta``)."""
        coef_2 = torch.clamp(coef_1, 1 - self.epsilon_low, 1 + self.epsilon_high)
        if self.args.delta is not None:
            coef_1 = torch.clamp(coef_1, max=self.args.delta)
        return -torch.min(coef_1 * advantages, coef_2 * advantages)

    def _aggregate(self, per_token_loss: torch.Tensor, mask: torch.Tensor, inputs, mode: str) -> torch.Tensor:
        """TRL's loss-type normalisation; returns the loss already scaled for gradient accumulation."""
        accumulation = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        if self.loss_type == "grpo":
            return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean() / accumulation
        if self.loss_type == "bnpo":
            return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0) / accumulation
        if self.loss_type == "dr_grpo":
            return (per_token_loss * mask).sum() / (per_token_loss.size(0) * self.max_completion_length) / accumulation
        if self.loss_type == "dapo":
            normalizer = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
            if mode == "train":
                normalizer = normalizer * self.current_gradient_accumulation_steps / self.args.steps_per_generation
            return (per_token_loss * mask).sum() / normalizer
        raise ValueError(f"`loss_type` {self.loss_type!r} is not supported by the explore loss path.")

    def _global_masked_mean(self, x: torch.Tensor, mask: torch.Tensor) -> float:
        if x.shape[1] == 1:
            local = torch.stack([x.sum(), torch.tensor(float(x.shape[0]), device=x.device)])
        else:
            local = torch.stack([(x * mask).sum(), mask.sum().float()])
        totals = self.accelerator.reduce(local, reduction="sum")
        return (totals[0] / totals[1].clamp(min=1.0)).item()

    def _log_standard_metrics(self, ctx: LossContext, per_token_kl: torch.Tensor | None) -> None:
        """TRL's metrics of the loss step: ``kl``, ``entropy`` and ``clip_ratio/*``."""
        from trl.trainer.utils import nanmax, nanmin

        mode, mask, coef_1, advantages = ctx.mode, ctx.mask, ctx.coef_1, ctx.advantages
        metrics = self._metrics[mode]
        if per_token_kl is not None:
            metrics["kl"].append(self._global_masked_mean(per_token_kl, mask))
        metrics["entropy"].append(self._global_masked_mean(ctx.entropies, mask))
        is_low = (coef_1 < 1 - self.epsilon_low) & (advantages < 0)
        is_high = (coef_1 > 1 + self.epsilon_high) & (advantages > 0)
        metrics["clip_ratio/low_mean"].append(self._global_masked_mean(is_low.float(), mask))
        metrics["clip_ratio/high_mean"].append(self._global_masked_mean(is_high.float(), mask))
        metrics["clip_ratio/region_mean"].append(self._global_masked_mean((is_low | is_high).float(), mask))

        def seq_mean(x: torch.Tensor) -> torch.Tensor:
            return x.squeeze(1) if x.shape[1] == 1 else (x * mask).sum(-1) / mask.sum(-1)

        metrics["clip_ratio/low_min"].append(nanmin(self.accelerator.gather(seq_mean(is_low.float()))).item())
        metrics["clip_ratio/high_max"].append(nanmax(self.accelerator.gather(seq_mean(is_high.float()))).item())

    def _explore_compute_loss(self, model, inputs) -> torch.Tensor:
        """The own loss path: TRL's GRPO loss, built from small steps, with component edits in between."""
        mode = "train" if self.model.training else "eval"
        completion_mask = inputs["completion_mask"]
        mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        per_token_logps, entropies, aux_loss, stats, calls, row_index = self._policy_forward(model, inputs)

        advantages = inputs["advantages"]
        if advantages.dim() == 1:
            advantages = advantages.unsqueeze(1)
        old_per_token_logps = inputs.get("old_per_token_logps")
        old_per_token_logps = per_token_logps.detach() if old_per_token_logps is None else old_per_token_logps
        log_ratio, coef_1 = self._importance_weights(per_token_logps, old_per_token_logps, mask)

        ctx = LossContext(
            model=model,
            inputs=inputs,
            mode=mode,
            mask=mask,
            per_token_logps=per_token_logps,
            old_per_token_logps=old_per_token_logps,
            entropies=entropies,
            advantages=advantages,
            coef_1=coef_1,
            per_token_loss=self._clipped_surrogate(coef_1, advantages),
            token_stats=stats,
            old_token_stats={
                k[len(OLD_STATS_PREFIX) :]: v for k, v in inputs.items() if k.startswith(OLD_STATS_PREFIX)
            },
            forward_calls=calls,
            row_index=row_index,
        )
        for component in self.components:
            component.adjust_loss(ctx)
        per_token_loss, mask = ctx.per_token_loss, ctx.mask

        if self.off_policy_mask_threshold is not None:
            sampling_logps = inputs.get("sampling_per_token_logps", old_per_token_logps)
            per_token_loss = per_token_loss * self.get_off_policy_mask(
                advantages, per_token_logps, sampling_logps, mask, self.off_policy_mask_threshold
            )
        if self.top_entropy_quantile < 1.0:
            per_token_loss = per_token_loss * self.get_high_entropy_mask(entropies, mask, 1 - self.top_entropy_quantile)
        if self.use_vllm and self.vllm_importance_sampling_correction:
            per_token_loss = per_token_loss * inputs["importance_sampling_ratio"]
        per_token_kl = None
        if self.beta != 0.0:
            ref = inputs["ref_per_token_logps"]
            per_token_kl = torch.exp(ref - per_token_logps) - (ref - per_token_logps) - 1
            if self.args.use_bias_correction_kl:
                per_token_kl = per_token_kl * coef_1
            per_token_loss = per_token_loss + self.beta * per_token_kl

        loss = self._aggregate(per_token_loss, mask, inputs, mode)
        for term in ctx.extra_loss:
            loss = loss + term
        if self.aux_loss_enabled:
            accumulation = self.current_gradient_accumulation_steps if mode == "train" else 1.0
            loss = loss + self.router_aux_loss_coef * aux_loss / accumulation
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(aux_loss).mean().item())
        self._log_standard_metrics(ctx, per_token_kl)
        return loss

    # ------------------------------------------------------------------------------------------------ state (P. 7)
    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        states = {c.name: c.state_dict() for c in self.components}
        if any(states.values()) and self.args.should_save:
            run_dir = self._get_output_dir(trial=trial)
            folder = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
            torch.save(states, os.path.join(folder, COMPONENT_STATE_FILE))

    def _load_optimizer_and_scheduler(self, checkpoint):
        # called on every resume (TRL restores its own entropy-controller state here too)
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = os.path.join(checkpoint, COMPONENT_STATE_FILE)
        if os.path.isfile(path):
            states = torch.load(path, weights_only=True)
            for component in self.components:
                if component.name in states:
                    component.load_state_dict(states[component.name])
