"""The component protocol of `ExploreGRPOTrainer`: phases, contexts, metrics and the registry.

A component is one class (a subclass of `ExploreComponent`) plus, optionally, a dataclass of config fields (a subclass
of `ComponentArguments`) composed into the trainer's config. The trainer builds every *registered* component whose
`ExploreComponent.enabled` returns ``True`` for its config, and calls the phases below, each a no-op by default, in
the components' declared order (`ExploreComponent.order`, then registration order):

========================  ==============================================================================================
phase                     when, and what a component may do there
========================  ==============================================================================================
``sampling``              before each *training* rollout: return a `SamplingRequest` (logits processors for transformers
                          generation, per-request extra arguments for vLLM). Plain and tool-calling generation.
``advantages``            after TRL scored a generation batch: rewrite `GenerationContext.advantages`, drop samples from
                          the loss (`GenerationContext.drop_samples`), add rows to the batch
                          (`GenerationContext.add_rows`, e.g. replayed samples with their own loss weight and behaviour
                          log-probs); each component sees the previous one's output.
``generation_metrics``    after ``advantages`` (``GenerationContext``): local sums and counts (`Metric`); the trainer
                          reduces them across processes in one collective and logs ``<namespace>/<name>``.
``post_generation``       after the trainer wrote advantages and keep masks into TRL's output dict: any other edit of
                          it.
``prepare_loss``          before the clipped surrogate: per-token clip bounds, per-token advantages, a dual-clip
                          constant, behaviour log-probs, per-row loss weights (`LossContext`).
(surrogate)               TRL's ``-min(r·A, clip(r, 1-ε_low, 1+ε_high)·A)`` from the prepared context.
``adjust_loss``           edit the per-token loss, the loss mask, add scalar terms (`LossContext.extra_loss`); then the
                          per-row weights (`LossContext.row_weights`) scale each row's policy loss.
(masks, KL, agg.)         TRL's off-policy and entropy masks, vLLM correction, reference KL, loss-type normalisation,
                          TRL's entropy bonus, aux loss.
``after_loss``            after each loss is built (``LossContext``; also on TRL's own loss path): update state carried
                          between steps (e.g. statistics for the next rollout).
``loss_metrics``          after ``after_loss``: the loss's metrics, as ``generation_metrics``.
========================  ==============================================================================================

Values the components of one step share (e.g. HAPO's entropy scores of a micro-batch, computed by the first part that
needs them) live in typed slots: ``ctx.shared`` (`SharedValues`) keyed by a `SharedSlot`.

The ``metrics`` phase of earlier versions (one method for both contexts) is deprecated: a component that overrides it
still works (its `generation_metrics` and `loss_metrics` call it; registering it warns).

State carried between steps lives in `ExploreComponent.state_dict` / `ExploreComponent.load_state_dict` and is saved
with every checkpoint (one file per process for components with ``state_per_process = True``). Components never import
the trainer: they receive it (duck-typed) at construction.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import torch

from ...kernels.fused_head import FusedHeadRecord
from ...kernels.token_stats import TokenStatsRequest

logger = logging.getLogger(__name__)

__all__ = [
    "ADDED_KEY",
    "DEFAULT_ORDER",
    "IN_MASK_KEY",
    "KEEP_KEY",
    "NEGATIVE_NORMALIZATIONS",
    "OWN_LOSS_TYPES",
    "PHASES",
    "ROW_WEIGHT_KEY",
    "ComponentArguments",
    "ExploreComponent",
    "GenerationContext",
    "LossContext",
    "METRIC_REDUCTIONS",
    "Metric",
    "SamplingContext",
    "SamplingRequest",
    "SharedSlot",
    "SharedValues",
    "merge_token_stats_requests",
    "register_component",
    "registered_components",
    "unregister_component",
    "warn_if_ratio_is_one",
]

PHASES = (
    "sampling",
    "advantages",
    "generation_metrics",
    "post_generation",
    "prepare_loss",
    "adjust_loss",
    "after_loss",
    "loss_metrics",
)
# The deprecated single metrics phase: an `order` entry for it applies to both metrics phases
DEPRECATED_METRICS_PHASE = "metrics"
# Order of a component in a phase when it declares none; lower runs first
DEFAULT_ORDER = 100
# Loss types whose per-token surrogate the explore loss path reproduces (the others keep TRL's own loss only)
OWN_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
# How a `Metric` is reduced across processes
METRIC_REDUCTIONS = ("mean", "sum", "max", "min", "global")
# How dropped samples count in the loss denominator (see `GenerationContext.drop_samples`)
NEGATIVE_NORMALIZATIONS = ("all_tokens", "selected_tokens")
# Input keys of the per-sample masks ([B] bool) written by the generation phases; TRL shuffles and splits them
KEEP_KEY = "explore_keep"  # False: the sample's policy-gradient term is zero
IN_MASK_KEY = "explore_in_mask"  # False: the sample's tokens also leave the loss mask (denominator, KL)
# Written only when a component added rows (`GenerationContext.add_rows`): [B] bool, True for the added rows, and
# [B] float, the weight of each row's policy loss (1 for the generated rows)
ADDED_KEY = "explore_added"
ROW_WEIGHT_KEY = "explore_row_weight"


class ComponentArguments:
    """Base of a component's config fields: subclass it as a ``@dataclass`` whose fields all have defaults, and
    implement `validate` (called by the config's ``__post_init__`` after TRL's own validation, so every field of the
    composed config, e.g. ``loss_type``, is readable there). Raise `ValueError` naming the field, the value and the
    valid range."""

    def validate(self) -> None:
        """Check this mixin's fields (and their combination with the rest of the config)."""


@dataclass
class Metric:
    """A component metric before the cross-process reduction.

    Attributes:
        value: the local sum (``reduce="mean"`` or ``"sum"``), the local extreme (``"max"`` / ``"min"``), or a value
            that is already identical on every process (``"global"``).
        count: the local count the sum is divided by, summed over processes (``"mean"`` only). A global count of 0
            logs NaN.
        reduce: ``"mean"`` (Σ value / Σ count), ``"sum"`` (Σ value, e.g. a count of events), ``"max"``, ``"min"`` or
            ``"global"``.
    """

    value: float | torch.Tensor
    count: float | torch.Tensor = 1.0
    reduce: str = "mean"

    @classmethod
    def masked_mean(cls, values: torch.Tensor, mask: torch.Tensor) -> Metric:
        """Mean of ``values`` over ``mask`` (same shape) across processes: ``Σ values·mask / Σ mask``."""
        mask = mask.to(values.dtype)
        return cls((values.detach() * mask).sum(), mask.sum())


@dataclass
class SamplingRequest:
    """What a component asks of the next training rollout.

    Attributes:
        logits_processors: `transformers.LogitsProcessor` instances appended to generation's processor list (they run
            before the temperature / top-k / top-p warpers of TRL's generation config).
        vllm_extra_args: flat scalar arguments for a vLLM logits processor: ``SamplingParams.extra_args`` in colocate
            mode, ``vllm_xargs`` of the request in server mode.
    """

    logits_processors: list[Any] = field(default_factory=list)
    vllm_extra_args: dict[str, bool | int | float | str] = field(default_factory=dict)


@dataclass
class SamplingContext:
    """Read-only view of the rollout about to happen: the trainer, ``mode`` and ``backend`` (``"transformers"``,
    ``"vllm_colocate"`` or ``"vllm_server"``)."""

    trainer: Any
    mode: str
    backend: str


T = TypeVar("T")


@dataclass(frozen=True)
class SharedSlot(Generic[T]):
    """A typed key for a value that several components share within one step (one generation batch, or the loss of
    one micro-batch). Declare it once, next to the value's type, e.g. ``SCORES = SharedSlot("hapo_scores", Scores)``.

    Attributes:
        name: unique, readable name (for error messages).
        type: the class of the values it holds (checked when a value is stored).
    """

    name: str
    type: type[T]


class SharedValues:
    """The values shared within one step, keyed by `SharedSlot` (``ctx.shared``); every value is type-checked when
    it is stored. A context starts empty: nothing carries over from one step to the next."""

    def __init__(self) -> None:
        self._values: dict[SharedSlot[Any], Any] = {}

    def __contains__(self, slot: SharedSlot[Any]) -> bool:
        return slot in self._values

    def get(self, slot: SharedSlot[T]) -> T | None:
        """The slot's value, ``None`` when nothing was stored."""
        return self._values.get(slot)

    def set(self, slot: SharedSlot[T], value: T) -> None:
        if not isinstance(value, slot.type):
            raise TypeError(f"Slot {slot.name!r} holds {slot.type.__name__}, got {type(value).__name__}.")
        self._values[slot] = value

    def get_or_compute(self, slot: SharedSlot[T], compute: Callable[[], T]) -> T:
        """The slot's value, computed by ``compute()`` and stored by the first caller."""
        if slot not in self._values:
            self.set(slot, compute())
        return self._values[slot]


class GenerationContext:
    """A generation batch after TRL scored it, as the ``advantages`` and ``metrics`` phases see it.

    Attributes:
        trainer: the trainer (read ``accelerator``, ``args``, ``num_generations``, ...).
        mode: ``"train"`` or ``"eval"``.
        output: TRL's ``_generate_and_score_completions`` output for this process (``completion_mask`` ``[B, T]``,
            ``tool_mask``, ...).
        num_generations: completions per prompt in this mode.
        process_slice: rows of this process in the gathered (global) arrays.
        rewards_per_func: ``[N, F]`` TRL's gathered rewards per reward function (NaN where a function skipped).
        rewards: ``[N]`` TRL's weighted sum of the reward functions (``reward_weights``, NaN ignored); NaN where every
            function skipped the completion.
        completions: this process's completions as TRL decoded them for the reward functions (strings, or message
            lists for conversational prompts: tool calls and tool results included), or ``None``.
        advantages: ``[B]`` (or ``[B, T]``) the current advantages of this process's rows (TRL's to start with).
        keep: ``[B]`` bool, rows whose policy-gradient term stays in the loss.
        in_mask: ``[B]`` bool, rows whose tokens stay in the loss mask (denominator, reference KL).
        records: a component's own scratch space for its ``generation_metrics``, one entry per component name.
        shared: values the components share within this generation batch (`SharedValues`).
    """

    def __init__(
        self,
        trainer: Any,
        mode: str,
        output: dict[str, Any],
        num_generations: int,
        rewards_per_func: torch.Tensor,
        reward_weights: torch.Tensor,
        completions: list[Any] | None = None,
    ) -> None:
        self.trainer = trainer
        self.completions = completions
        self.mode = mode
        self.output = output
        self.num_generations = num_generations
        self.advantages: torch.Tensor = output["advantages"]
        local = self.advantages.shape[0]
        start = trainer.accelerator.process_index * local
        self.process_slice = slice(start, start + local)
        self.rewards_per_func = rewards_per_func
        weights = reward_weights.to(rewards_per_func.device).unsqueeze(0)
        rewards = (rewards_per_func * weights).nansum(dim=1)
        rewards[torch.isnan(rewards_per_func).all(dim=1)] = math.nan
        self.rewards = rewards
        device = self.advantages.device
        self.keep = torch.ones(local, dtype=torch.bool, device=device)
        self.in_mask = torch.ones(local, dtype=torch.bool, device=device)
        self.recount_tokens = False
        self.records: dict[str, Any] = {}
        self.shared = SharedValues()
        self._global_lengths: torch.Tensor | None = None
        self.added_rows: list[dict[str, torch.Tensor]] = []
        self.added_advantages: list[torch.Tensor] = []
        self.added_weights: list[torch.Tensor] = []

    @property
    def local_rewards(self) -> torch.Tensor:
        """``[B]`` the rewards of this process's rows."""
        return self.rewards[self.process_slice]

    def loss_mask(self) -> torch.Tensor:
        """``[B, T]`` float: TRL's loss mask of the completions (``completion_mask``, times ``tool_mask`` if any)."""
        mask = self.output["completion_mask"]
        if self.output.get("tool_mask") is not None:
            mask = mask * self.output["tool_mask"]
        return mask.float()

    def global_completion_lengths(self) -> torch.Tensor:
        """``[N]`` model-generated tokens per completion (tool-masked tokens excluded), gathered over processes.

        A collective: every process must call it, which holds as long as components call it unconditionally."""
        if self._global_lengths is None:
            self._global_lengths = self.trainer.accelerator.gather(self.loss_mask().sum(-1))
        return self._global_lengths

    def drop_samples(self, drop: torch.Tensor, normalization: str = "all_tokens") -> None:
        """Drop the rows ``drop`` (``[B]`` bool) from the policy-gradient loss.

        Args:
            drop: rows of this process to drop.
            normalization: ``"all_tokens"``: dropped rows still count in the loss denominator and still receive the
                reference-KL term (their policy-gradient term is zeroed); ``"selected_tokens"``: their tokens also leave
                the loss mask, and ``num_items_in_batch`` (the ``dapo`` denominator) is recounted from the remaining
                rows over all processes. Call it on every process alike (the recount is a collective).
        """
        if normalization not in NEGATIVE_NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {list(NEGATIVE_NORMALIZATIONS)}, got {normalization!r}.")
        drop = drop.to(device=self.keep.device, dtype=torch.bool)
        if drop.shape != self.keep.shape:
            raise ValueError(f"drop must have shape {tuple(self.keep.shape)}, got {tuple(drop.shape)}.")
        self.keep &= ~drop
        if normalization == "selected_tokens":
            self.in_mask &= ~drop
            self.recount_tokens = True

    def add_rows(
        self, rows: list[dict[str, torch.Tensor]], advantages: torch.Tensor, weights: torch.Tensor | None = None
    ) -> None:
        """Append ``rows`` to this process's batch after the ``advantages`` phase (e.g. replayed samples).

        Each row is a dict with exactly the batch's per-row keys (`trl_explore.trainers.components.rows.take_row`
        of an earlier batch), ``advantages`` excepted; it may also carry ``old_per_token_logps`` (its behaviour
        log-probs) when the batch has none: the generated rows then get NaN there, read by the loss as "the current
        policy" (on-policy, what TRL assumes without old log-probs). The trainer pads the batch to the widest row,
        marks the added rows (`ADDED_KEY`), weights their policy loss by ``weights`` (`ROW_WEIGHT_KEY`, 1 for the
        generated rows), keeps them in the loss and recounts ``num_items_in_batch`` over all processes. Needs a
        loss-editing component (the weights and the behaviour log-probs are read by the trainer's own loss path).

        Call it on every process alike (with an empty list where a process adds nothing): the token recount is a
        collective. The rows of a process must keep its batch divisible by ``steps_per_generation`` (TRL splits the
        generation batch into that many equal micro-batches and would drop a remainder): the trainer refuses otherwise.

        Args:
            rows: the rows to add (CPU or device tensors).
            advantages: ``[R]`` their advantages (broadcast along the completion when the batch has per-token ones).
            weights: ``[R]`` weights of their policy loss (default 1).
        """
        advantages = torch.as_tensor(advantages, dtype=torch.float32).reshape(-1)
        if advantages.numel() != len(rows):
            raise ValueError(f"add_rows: {len(rows)} rows but {advantages.numel()} advantages.")
        weights = torch.ones_like(advantages) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        weights = weights.reshape(-1)
        if weights.numel() != len(rows) or not bool(torch.isfinite(weights).all()):
            raise ValueError(f"add_rows: weights must be {len(rows)} finite values, got {weights.tolist()}.")
        self.added_rows.extend(rows)
        self.added_advantages.append(advantages)
        self.added_weights.append(weights)
        self.recount_tokens = True


class LossContext:
    """Everything a component may read or edit while the per-token loss of a micro-batch is built.

    Shapes are ``[B, T]`` unless noted. On TRL's own loss path (no enabled component edits the loss) only ``model``,
    ``inputs``, ``mode``, ``mask``, ``token_stats``, ``records`` and ``shared`` are set, for the ``after_loss`` and
    ``loss_metrics`` phases.

    Attributes:
        model, inputs, mode: the model, the micro-batch dict and ``"train"`` / ``"eval"``.
        mask: the loss mask (components may shrink it; the normalisation follows it).
        per_token_logps: current log-probs of the sampled tokens (with grad).
        entropies: per-token entropies of the current policy.
        advantages: ``[B, 1]`` or ``[B, T]``; ``prepare_loss`` may replace it by per-token advantages.
        old_per_token_logps: behaviour (data-generating) log-probs, detached; ``prepare_loss`` may replace them, and
            the importance ratio follows.
        importance_sampling_level: ``"token"`` or ``"sequence"`` (TRL's).
        eps_low, eps_high: clip half-widths, floats (TRL's) or tensors broadcastable to ``[B, T]``. Bounds given as
            float64 tensors equal to the floats give the scalar path's loss bit for bit.
        dual_clip: ``c > 1`` caps the loss of negative-advantage tokens at ``-c·A`` (dual-clip PPO), ``None``: off.
        row_weights: ``[B, 1]`` weight of each row's policy loss (the surrogate after ``adjust_loss``; the reference KL
            is not weighted), ``None``: 1. Set from the batch when rows were added (`GenerationContext.add_rows`);
            ``prepare_loss`` / ``adjust_loss`` may change it.
        per_token_loss: the surrogate, set by the trainer after ``prepare_loss``; ``adjust_loss`` edits it.
        token_stats: extra statistics of the current forward (`ExploreComponent.token_stats`).
        old_token_stats: the same statistics of the old policy when TRL computed old log-probs, else empty.
        forward_calls: the fused head's per-call records (`trl_explore.kernels.fused_head.FusedHeadRecord`; hidden
            rows for full-vocabulary terms).
        row_index: for a single fused call, the flat row of each position in the call's hidden rows (``-1``: none).
        extra_loss: scalar terms added after aggregation (already normalised by the component).
        records: a component's own scratch space for its ``loss_metrics``, one entry per component name.
        shared: values the components share within this micro-batch's loss (`SharedValues`).
    """

    def __init__(
        self,
        model: Any,
        inputs: dict[str, Any],
        mode: str,
        mask: torch.Tensor,
        per_token_logps: torch.Tensor | None = None,
        entropies: torch.Tensor | None = None,
        advantages: torch.Tensor | None = None,
        old_per_token_logps: torch.Tensor | None = None,
        importance_sampling_level: str = "token",
        eps_low: float | torch.Tensor = 0.2,
        eps_high: float | torch.Tensor = 0.2,
        token_stats: dict[str, torch.Tensor] | None = None,
        old_token_stats: dict[str, torch.Tensor] | None = None,
        forward_calls: list[FusedHeadRecord] | None = None,
        row_index: torch.Tensor | None = None,
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.mode = mode
        self.mask = mask
        self.per_token_logps = per_token_logps
        self.entropies = entropies
        self.advantages = advantages
        self._old_per_token_logps = old_per_token_logps
        self.importance_sampling_level = importance_sampling_level
        self.eps_low = eps_low
        self.eps_high = eps_high
        self.dual_clip: float | None = None
        self.row_weights: torch.Tensor | None = None
        self.per_token_loss: torch.Tensor | None = None
        self.token_stats = token_stats or {}
        self.old_token_stats = old_token_stats or {}
        self.forward_calls = forward_calls or []
        self.row_index = row_index
        self.extra_loss: list[torch.Tensor] = []
        self.records: dict[str, Any] = {}
        self.shared = SharedValues()
        self._ratio: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def old_per_token_logps(self) -> torch.Tensor | None:
        return self._old_per_token_logps

    @old_per_token_logps.setter
    def old_per_token_logps(self, value: torch.Tensor) -> None:
        self._old_per_token_logps = value
        self._ratio = None

    def _importance(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._ratio is None:
            if self.per_token_logps is None or self._old_per_token_logps is None:
                raise RuntimeError("The importance ratio is only defined on the explore loss path.")
            log_ratio = self.per_token_logps - self._old_per_token_logps
            if self.importance_sampling_level == "token":
                log_weights = log_ratio
            elif self.importance_sampling_level == "sequence":
                mask = self.mask
                log_weights = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
            else:
                raise ValueError(f"Unknown importance sampling level: {self.importance_sampling_level}.")
            self._ratio = (log_ratio, torch.exp(log_weights))
        return self._ratio

    @property
    def log_ratio(self) -> torch.Tensor:
        """``[B, T]`` ``log π_θ − log π_old`` per token."""
        return self._importance()[0]

    @property
    def coef_1(self) -> torch.Tensor:
        """The unclipped importance ratio: ``[B, T]`` (token level) or ``[B, 1]`` (sequence level, TRL's GSPO)."""
        return self._importance()[1]

    def clip_bounds(self) -> tuple[float | torch.Tensor, float | torch.Tensor]:
        """``(1 − ε_low, 1 + ε_high)`` as floats, or as tensors in the ratio's dtype (computed in float64, rounded
        once, so float64 bounds equal to the scalars give TRL's bounds exactly)."""
        if not isinstance(self.eps_low, torch.Tensor) and not isinstance(self.eps_high, torch.Tensor):
            return 1 - self.eps_low, 1 + self.eps_high
        dtype, device = self.coef_1.dtype, self.coef_1.device

        def bound(eps: float | torch.Tensor, sign: float) -> torch.Tensor:
            eps = torch.as_tensor(eps, dtype=torch.float64, device=device)
            return (1 + sign * eps.to(torch.float64)).to(dtype)

        return bound(self.eps_low, -1.0), bound(self.eps_high, 1.0)


def merge_token_stats_requests(requests: list[TokenStatsRequest | None]) -> TokenStatsRequest | None:
    """One request for the fused LM head from the components' requests: the proxy statistics of the one component
    that asks for them (components that ask for different proxies raise), hidden rows if any component needs them."""
    wanted = [r for r in requests if r is not None]
    if not wanted:
        return None
    proxies = {(r.min_p, r.threshold) for r in wanted if r.min_p is not None}
    if len(proxies) > 1:
        raise ValueError(f"Components request incompatible proxy statistics from the fused LM head: {sorted(proxies)}.")
    min_p, threshold = next(iter(proxies)) if proxies else (None, "min_p")
    return TokenStatsRequest(min_p=min_p, threshold=threshold, keep_hidden=any(r.keep_hidden for r in wanted))


class ExploreComponent:
    """One exploration component of `ExploreGRPOTrainer`. Override only what you need.

    Class attributes:
        name: unique registry name (also the key of its checkpoint state).
        metric_namespace: prefix of its metrics (defaults to ``name``).
        arguments: its config-field mixin (a `ComponentArguments` dataclass), or ``None``.
        order: per-phase order, lower first (`DEFAULT_ORDER` for phases not listed); equal orders run in registration
            order. E.g. an advantage normalisation (``{"advantages": 10}``) runs before a sample selection (``50``).
        edits_loss: whether it changes the loss (then the trainer uses its own loss path; else TRL's ``_compute_loss``
            runs unchanged and the component only sees the ``after_loss`` and ``loss_metrics`` phases of the loss).
        uses_old_token_stats: whether it reads `LossContext.old_token_stats` (its `token_stats` of TRL's old-policy
            pass during generation, captured when TRL computes old log-probs).
        state_per_process: whether each process carries its own state (e.g. a buffer of its own rows): then every
            process saves and restores its `state_dict` (one file per process rank in the checkpoint); else the main
            process's state is saved and every process restores it.
        adds_rows: whether it may add rows to a generation batch (`GenerationContext.add_rows`); the trainer then
            requires a loss-editing component (the own loss path reads the added rows' weights and log-probs).
        example_config: config overrides that turn it on in a small run (a few steps of a tiny model). The
            multi-process test suite runs every built-in component with it that no hand-written case covers.
    """

    name: ClassVar[str] = ""
    metric_namespace: ClassVar[str | None] = None
    arguments: ClassVar[type[ComponentArguments] | None] = None
    order: ClassVar[Mapping[str, int]] = {}
    edits_loss: ClassVar[bool] = False
    uses_old_token_stats: ClassVar[bool] = False
    state_per_process: ClassVar[bool] = False
    adds_rows: ClassVar[bool] = False
    example_config: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.args = trainer.args

    # ----------------------------------------------------------------------------------------------- declaration
    @classmethod
    def enabled(cls, args: Any) -> bool:
        """Whether the component runs for this config (default: never)."""
        return False

    @classmethod
    def phase_order(cls, phase: str) -> int:
        default = DEFAULT_ORDER
        if phase in ("generation_metrics", "loss_metrics"):  # a deprecated `order["metrics"]` applies to both
            default = cls.order.get(DEPRECATED_METRICS_PHASE, DEFAULT_ORDER)
        return int(cls.order.get(phase, default))

    @property
    def namespace(self) -> str:
        return self.metric_namespace or self.name

    def token_stats(self) -> TokenStatsRequest | None:
        """Per-token statistics wanted from the policy's LM-head pass (the same pass as the training log-probs)."""
        return None

    # ---------------------------------------------------------------------------------------------------- phases
    def sampling(self, ctx: SamplingContext) -> SamplingRequest | None:
        return None

    def advantages(self, ctx: GenerationContext) -> None:
        return None

    def post_generation(self, output: dict[str, Any]) -> dict[str, Any]:
        return output

    def prepare_loss(self, ctx: LossContext) -> None:
        return None

    def adjust_loss(self, ctx: LossContext) -> None:
        return None

    def generation_metrics(self, ctx: GenerationContext) -> dict[str, Metric]:
        """Local metric values of a generation batch, after the generation phases; keys are logged as
        ``<namespace>/<key>``."""
        return self._deprecated_metrics(ctx)

    def after_loss(self, ctx: LossContext) -> None:
        """After the loss of a micro-batch is built, before its metrics: update state carried between steps."""
        return None

    def loss_metrics(self, ctx: LossContext) -> dict[str, Metric]:
        """Local metric values of a micro-batch's loss, after ``after_loss``; keys are logged as
        ``<namespace>/<key>``."""
        return self._deprecated_metrics(ctx)

    def metrics(self, ctx: GenerationContext | LossContext) -> dict[str, Metric]:
        """Deprecated: override `generation_metrics` and `loss_metrics` (and `after_loss` for state updates). An
        override of it is still called by both, with the one or the other context."""
        return {}

    def _deprecated_metrics(self, ctx: GenerationContext | LossContext) -> dict[str, Metric]:
        if type(self).metrics is ExploreComponent.metrics:
            return {}
        return self.metrics(ctx)

    # ----------------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def warn_if_ratio_is_one(component: ExploreComponent, consequence: str, hint: str = "") -> None:
    """Warn at construction when TRL computes no old log-probs for this configuration (one optimizer step per
    generation batch, no vLLM correction): the importance ratio of the generated rows is then exactly 1.

    Args:
        component: the component being built (its ``name`` and ``trainer``).
        consequence: what a ratio of 1 means for it (e.g. ``"the adaptive clip bounds are never reached"``).
        hint: appended to the advice (e.g. the paper's number of updates per generation).
    """
    from .. import _trl_compat

    if not _trl_compat.computes_old_logps(component.trainer):
        logger.warning(
            "%s is on, but TRL computes no old log-probs in this configuration (one optimizer step per generation "
            "batch, no vLLM correction): the importance ratio is 1, so %s. Use `steps_per_generation` = k · "
            "`gradient_accumulation_steps`%s or `num_iterations` > 1.",
            component.name,
            consequence,
            f" ({hint})" if hint else "",
        )


_REGISTRY: dict[str, type[ExploreComponent]] = {}


def register_component(cls: type[ExploreComponent]) -> type[ExploreComponent]:
    """Register a component class (usable as a decorator). Every `ExploreGRPOTrainer` built afterwards runs it when
    ``cls.enabled(args)`` holds. Re-registering the same class (e.g. a reloaded module) replaces it."""
    if not (isinstance(cls, type) and issubclass(cls, ExploreComponent)):
        raise TypeError(f"register_component expects an ExploreComponent subclass, got {cls!r}.")
    if not cls.name or not isinstance(cls.name, str):
        raise ValueError(f"{cls.__qualname__}.name must be a non-empty string.")
    unknown = set(cls.order) - set(PHASES) - {DEPRECATED_METRICS_PHASE}
    if unknown:
        raise ValueError(f"{cls.__qualname__}.order names unknown phases {sorted(unknown)}; phases: {list(PHASES)}.")
    if cls.metrics is not ExploreComponent.metrics:
        warnings.warn(
            f"{cls.__qualname__} overrides `metrics`, which is deprecated: override `generation_metrics` (a "
            "GenerationContext) and `loss_metrics` (a LossContext) instead, and `after_loss` for state updates. The "
            "override is still called by both for now.",
            FutureWarning,
            stacklevel=2,
        )
    existing = _REGISTRY.get(cls.name)
    if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(
            f"A component named {cls.name!r} is already registered ({existing.__module__}.{existing.__qualname__})."
        )
    _REGISTRY[cls.name] = cls
    return cls


def unregister_component(name: str) -> None:
    """Remove a registered component (a no-op for unknown names)."""
    _REGISTRY.pop(name, None)


def registered_components() -> tuple[type[ExploreComponent], ...]:
    """The registered component classes, in registration order."""
    return tuple(_REGISTRY.values())
