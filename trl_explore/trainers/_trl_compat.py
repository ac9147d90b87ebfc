"""Everything `trl_explore` knows about TRL 1.16's private internals, in one place (the seam to TRL).

A TRL minor upgrade is one file to re-read: each item below names the TRL code it mirrors, and
``tests/trainers/test_trl_compat.py`` holds the tripwires (recorded signatures, source markers and a hash of
``GRPOTrainer._compute_loss``) that fail when that code changes. No other module of the package imports a private TRL
name or assigns to a TRL attribute (``tests/test_import_graph.py::test_trl_private_names_only_in_the_seam``), and this
module imports nothing of the package above it (it sits in the lowest layer, so the kernels reach TRL through it too).

* `MULTIMODAL_KEYS` — the per-batch model inputs ``GRPOTrainer._compute_loss`` forwards to
  ``_get_per_token_logps_and_entropies``.
* `computes_old_logps` — the condition under which ``_generate_and_score_completions`` computes
  ``old_per_token_logps`` (the old-policy pass whose statistics the trainer captures).
* `unflatten_token_stats` — the label layout of TRL's fused LM head (``add_fused_lm_head``): which flat rows the
  chunked log-prob kernel scores.
* `checkpoint_folder` / `process_state_file` — the checkpoint folder ``Trainer._save_checkpoint`` writes, and the
  per-process component-state file in it (named like transformers' per-process ``rng_state_<i>.pth``).
* `pad_token_id` — the padding id of TRL's generation batches (rows appended by components are padded with it).
* `generation_backend` / `bound_sampling` — where ``_generate_single_turn`` (also called by the multi-turn tool
  loop) samples, and how extra logits processors / vLLM arguments reach it without copying it.
* `upgrade_config` — a plain `GRPOConfig` (already post-processed by TRL) turned into a component config.
* `guarded_reward_functions` — ``_calculate_rewards`` calls each entry of ``self.reward_funcs`` that is not an
  ``nn.Module`` with keyword arguments and awaits it when ``is_async_callable``; the reward guards replace them there.
* `resolve_resume_checkpoint` — transformers' ``_save_checkpoint`` writes ``trainer_state.json`` after the model,
  optimizer, scheduler and RNG states, and TRL's writes ``entropy_ctrl_state.json`` after that: a checkpoint holding
  them is complete.
* `fused_lm_head_kernel` / `fused_lm_head_fallback` — the kernel name ``add_fused_lm_head``'s forward calls
  (``trl.trainer.utils._ChunkedLogProbFunction``), swapped only while a `trl_explore.kernels.fused_head` block is open.
* `mm_out_dtype` / `addmm_fp32` — TRL's ``_MM_OUT_DTYPE`` / ``_addmm_fp32`` (trl/kernels/chunked_logprob.py), the
  float32-accumulating GEMM the tiling core shares with TRL's kernel.
* `shared_token_terms`, `aggregate_loss`, `add_entropy_bonus`, `add_router_aux_loss`, `log_loss_metrics` — the steps
  of ``GRPOTrainer._compute_loss`` the explore loss path shares with TRL (masks, vLLM correction, KL, loss-type
  normalisation, the entropy bonus and its adaptive controller's private state, the router loss, the metrics).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ..kernels.fused_head import FusedHeadRecord

logger = logging.getLogger(__name__)

__all__ = [
    "COMPONENT_STATE_FILE",
    "ENTROPY_CONTROLLER_FILE",
    "sft_config_from",
    "MULTIMODAL_KEYS",
    "OLD_STATS_PREFIX",
    "bound_sampling",
    "checkpoint_folder",
    "computes_old_logps",
    "generation_backend",
    "guarded_reward_functions",
    "parameter_sharding",
    "pad_token_id",
    "process_state_file",
    "resolve_resume_checkpoint",
    "unflatten_token_stats",
    "upgrade_config",
]

# File (in each checkpoint folder) holding the components' state_dicts
COMPONENT_STATE_FILE = "explore_components.pt"


def process_state_file(process_index: int) -> str:
    """File (in each checkpoint folder) of the per-process component states of process ``process_index``."""
    return f"explore_components_rank{process_index}.pt"


# Prefix of input keys carrying per-token statistics of the old policy, computed during generation
OLD_STATS_PREFIX = "explore_old_"

# GRPOTrainer._compute_loss: the multimodal inputs passed to `_get_per_token_logps_and_entropies`
MULTIMODAL_KEYS = (
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


def computes_old_logps(trainer: Any) -> bool:
    """TRL's condition (``_generate_and_score_completions``) for computing ``old_per_token_logps`` during generation:
    several optimizer steps per generation batch, or vLLM's importance-sampling correction."""
    generate_every = trainer.args.steps_per_generation * trainer.num_iterations
    return trainer.args.gradient_accumulation_steps % generate_every != 0 or bool(
        trainer.use_vllm and trainer.vllm_importance_sampling_correction
    )


def unflatten_token_stats(
    calls: list[FusedHeadRecord],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    logits_to_keep: int,
    batch_size: int | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Lay the fused head's flat per-call statistics out as ``[B, logits_to_keep]`` tensors.

    TRL's ``_get_per_token_logps_and_entropies`` calls the fused head once per ``batch_size`` rows with labels
    ``input_ids`` masked by the attention mask and outside the last ``logits_to_keep`` positions. The kernel scores
    every position (``N = B·(L-1)``) on devices without Triton and only the labelled ones elsewhere (``N = #labels``);
    both layouts are recognised from ``N``. Also returns, for a single call, the flat row index of each position in
    the call's hidden rows (``-1`` where none).
    """
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    labels[:, :-logits_to_keep] = -100
    label_mask = labels[:, 1:] != -100  # [B, L-1]
    batch_size = batch_size or input_ids.size(0)
    chunks = list(range(0, input_ids.size(0), batch_size))
    if len(chunks) != len(calls):
        raise RuntimeError(f"Expected {len(chunks)} fused LM-head calls, got {len(calls)}.")
    names = ("logprobs", "entropy", "max_logp", "log_z", "kept_mass", "proxy_logps")
    out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    row_index = None
    for start, call in zip(chunks, calls):
        m = label_mask[start : start + batch_size]
        n = call.n
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
            flat = call.stats[name]
            value = flat[index.clamp(min=0)].masked_fill(~m, 0.0)
            out[name].append(value[:, -logits_to_keep:])
        row_index = index[:, -logits_to_keep:]
    stats = {name: torch.cat(values, dim=0) for name, values in out.items()}
    return stats, (row_index if len(chunks) == 1 else None)


def checkpoint_folder(trainer: Any, trial: Any) -> str:
    """The folder ``Trainer._save_checkpoint`` just wrote for the current step."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    run_dir = trainer._get_output_dir(trial=trial)
    return os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{trainer.state.global_step}")


# What TRL's `GRPOTrainer._save_checkpoint` writes *after* transformers' `trainer_state.json` when the adaptive entropy
# controller is on (``use_adaptive_entropy``); `GRPOTrainer._load_optimizer_and_scheduler` reads it back.
ENTROPY_CONTROLLER_FILE = "entropy_ctrl_state.json"


def resolve_resume_checkpoint(output_dir: str, resume_from_checkpoint: Any, required: tuple[str, ...] = ()) -> Any:
    """``resume_from_checkpoint`` for ``Trainer.train``, with ``True`` resolved to the newest *complete* checkpoint
    folder of ``output_dir``: one holding ``trainer_state.json`` (which ``Trainer._save_checkpoint`` writes after the
    model, optimizer, scheduler and RNG states) and every file of ``required`` (state written after it). Transformers'
    own ``get_last_checkpoint`` takes the newest folder, also one a run killed while saving left half-written. Newer
    incomplete folders are skipped with a warning; no complete one raises ``ValueError`` (as transformers does when
    there is none at all)."""
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if resume_from_checkpoint is not True:
        return resume_from_checkpoint
    prefix = f"{PREFIX_CHECKPOINT_DIR}-"
    folders = []
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            path = os.path.join(output_dir, name)
            if name.startswith(prefix) and name[len(prefix) :].isdigit() and os.path.isdir(path):
                folders.append((int(name[len(prefix) :]), path))
    needed = (TRAINER_STATE_NAME, *required)
    incomplete = []
    for _, path in sorted(folders, reverse=True):
        if all(os.path.isfile(os.path.join(path, name)) for name in needed):
            if incomplete:
                logger.warning(
                    "Skipping incomplete checkpoints %s (without all of %s: the run stopped while saving); resuming "
                    "from %s.",
                    incomplete,
                    list(needed),
                    path,
                )
            return path
        incomplete.append(path)
    raise ValueError(f"No valid checkpoint found in output directory ({output_dir}).")


def pad_token_id(trainer: Any) -> int:
    """The id TRL pads prompts and completions with (``_generate_and_score_completions``: the tokenizer's, also
    inside a multimodal processor)."""
    return trainer._tokenizer.pad_token_id


def generation_backend(trainer: Any) -> str:
    """Which branch of ``_generate_single_turn`` samples: ``"vllm_colocate"``, ``"vllm_server"``,
    ``"transformers_continuous_batching"`` or ``"transformers"``."""
    if trainer.use_vllm:
        return f"vllm_{trainer.vllm_generation.mode}"
    if trainer.use_transformers_continuous_batching:
        return "transformers_continuous_batching"
    return "transformers"


@contextlib.contextmanager
def _bound_generate(model: Any, processors: list[Any]) -> Iterator[None]:
    """Make ``model.generate`` append ``processors`` to its ``logits_processor`` argument inside the block.

    ``_generate_single_turn`` calls ``unwrapped_model.generate(**inputs, generation_config=...)`` with no processor
    argument; the unwrapped model is ``accelerator.unwrap_model(trainer.model_wrapped)``. `transformers.GenerationConfig`
    holds no logits processors and TRL exposes no hook for them, so the only other routes are copying TRL's
    ``_generate_single_turn`` or patching a class. Instead, an instance attribute shadows the class method of this one
    model for the block only and is removed (or the previous one restored) afterwards: the class, other models and
    other trainers never see it. Tripwire: ``tests/trainers/test_trl_compat.py::test_generation_goes_through_single_turn``.
    """
    from transformers import LogitsProcessorList

    previous = model.__dict__.get("generate")
    inner = model.generate

    def generate(*args: Any, logits_processor: Any = None, **kwargs: Any) -> Any:
        merged = LogitsProcessorList([*(logits_processor or []), *processors])
        return inner(*args, logits_processor=merged, **kwargs)

    model.generate = generate
    try:
        yield
    finally:
        if previous is None:
            del model.generate
        else:
            model.generate = previous


@contextlib.contextmanager
def _vllm_generation_kwargs(trainer: Any, key: str, extra: dict[str, Any]) -> Iterator[None]:
    """Merge ``extra`` into ``vllm_generation.generation_kwargs[key]`` for the block (colocate: ``extra_args`` of
    ``SamplingParams``; server: ``vllm_xargs`` of the OpenAI-compatible request body)."""
    kwargs = trainer.vllm_generation.generation_kwargs
    had, previous = key in kwargs, kwargs.get(key)
    kwargs[key] = {**(previous or {}), **extra}
    try:
        yield
    finally:
        if had:
            kwargs[key] = previous
        else:
            kwargs.pop(key, None)


@contextlib.contextmanager
def bound_sampling(trainer: Any, logits_processors: list[Any], vllm_extra_args: dict[str, Any]) -> Iterator[None]:
    """Apply the components' sampling requests to the generation that runs inside the block."""
    backend = generation_backend(trainer)
    if backend == "transformers_continuous_batching":
        raise ValueError(
            "Exploration components with a `sampling` phase do not support `use_transformers_paged=True` "
            "(transformers continuous batching takes no logits processors); turn it off."
        )
    if backend.startswith("vllm_"):
        if not vllm_extra_args:
            if logits_processors:
                raise ValueError(
                    "A component supplies transformers logits processors but generation runs in vLLM; it must pass "
                    "its settings as `vllm_extra_args` for a vLLM logits processor."
                )
            yield
            return
        key = "extra_args" if backend == "vllm_colocate" else "vllm_xargs"
        with _vllm_generation_kwargs(trainer, key, vllm_extra_args):
            yield
        return
    if not logits_processors:
        yield
        return
    with _bound_generate(trainer.accelerator.unwrap_model(trainer.model_wrapped), logits_processors):
        yield


def parameter_sharding(trainer: Any) -> str | None:
    """How the model's parameters are sharded: ``"deepspeed_zero3"``, ``"fsdp1"``, ``"fsdp2"`` or ``None`` (read from
    transformers' global ZeRO-3 flag and accelerate's FSDP plugin, as ``Trainer`` does)."""
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    if is_deepspeed_zero3_enabled():
        return "deepspeed_zero3"
    if getattr(trainer, "is_fsdp_enabled", False):
        plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
        return f"fsdp{int(getattr(plugin, 'fsdp_version', 1) or 1)}"
    return None


@contextlib.contextmanager
def guarded_reward_functions(trainer: Any, guard: Callable[..., Any]) -> Iterator[None]:
    """Inside the block, ``trainer.reward_funcs`` holds each reward *function* behind ``guard`` (called as
    ``guard(func, name, step, is_async=...)``, e.g. `trl_explore.trainers._faults.guard_reward_function`: output
    checked, exceptions annotated); reward models (``nn.Module``) are left as they are. The original list is restored
    afterwards."""
    from torch import nn
    from trl.trainer.utils import is_async_callable

    original = trainer.reward_funcs

    def step() -> int:
        return int(trainer.state.global_step)

    trainer.reward_funcs = [
        func if isinstance(func, nn.Module) else guard(func, name, step, is_async=is_async_callable(func))
        for func, name in zip(original, trainer.reward_func_names)
    ]
    try:
        yield
    finally:
        trainer.reward_funcs = original


def upgrade_config(args: Any, config_cls: type) -> Any:
    """``args`` (a `trl.GRPOConfig`, already post-processed by TRL) as an instance of ``config_cls``.

    TRL's and transformers' ``__post_init__`` already ran on ``args`` and rewrote several fields (``epsilon_high``,
    ``steps_per_generation``, ``report_to``, ...), and re-running it on the rewritten values is not always accepted
    (``generation_batch_size`` and ``steps_per_generation`` together raise); the values the user passed before the
    rewrite are not kept anywhere. So neither ``config_cls(**fields)`` nor `dataclasses.replace` (both re-run
    ``__post_init__``) can build it: the instance is created without ``__init__`` (``object.__new__``), takes every
    attribute of ``args`` as is (``__dict__``, including what ``__post_init__`` derived), and only the fields
    ``config_cls`` adds take their defaults; the components' validation then runs on the result. No TRL attribute is
    touched: ``args`` is left as it was.
    """
    new = object.__new__(config_cls)
    new.__dict__.update(vars(args))
    for f in dataclasses.fields(config_cls):
        if f.name in new.__dict__:
            continue
        if f.default is not dataclasses.MISSING:
            setattr(new, f.name, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            setattr(new, f.name, f.default_factory())
    new._validate_components()
    return new


def sft_config_from(args: Any, config_cls: type, trainer_name: str) -> Any:
    """``args`` (a `transformers.TrainingArguments`, e.g. TRL's `SFTConfig`) as a ``config_cls``: every init field it
    shares with ``config_cls`` passed on as is, so the method's fields take their defaults; one INFO line. (Unlike
    ``to_dict()``, which ``SFTTrainer`` uses for a plain `TrainingArguments`, this keeps the values of fields ending in
    ``_token`` — `SFTConfig`'s ``eos_token`` / ``pad_token`` — instead of masking them.)"""
    from transformers import TrainingArguments

    if isinstance(args, config_cls):
        return args
    if not isinstance(args, TrainingArguments):
        raise TypeError(
            f"`args` must be a {config_cls.__name__} (or TRL's `SFTConfig` / a `TrainingArguments`), got "
            f"{type(args).__name__}."
        )
    wanted = {f.name for f in dataclasses.fields(config_cls) if f.init}
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init and f.name in wanted}
    logger.info(
        "%s: upgrading the given %s to %s (method fields at their defaults).",
        trainer_name,
        type(args).__name__,
        config_cls.__name__,
    )
    return config_cls(**values)


# --------------------------------------------------------------------------------------------------------------------
# The fused LM head's kernel (trl/trainer/utils.py: add_fused_lm_head; trl/kernels/chunked_logprob.py)
# --------------------------------------------------------------------------------------------------------------------


@functools.cache
def _chunked_logprob() -> Any:
    import trl.kernels.chunked_logprob as module  # imported on first use: it loads TRL

    return module


def mm_out_dtype() -> bool:
    """Whether a float16/bfloat16 GEMM may write a float32 result directly on CUDA (``torch.addmm(...,
    out_dtype=torch.float32)``, torch >= 2.8): trl/kernels/chunked_logprob.py ``_MM_OUT_DTYPE``, so the tiling core
    makes TRL's choice. Tripwire: ``tests/trainers/test_trl_compat.py::test_chunked_logprob_gemm_helpers``."""
    return bool(_chunked_logprob()._MM_OUT_DTYPE)


def addmm_fp32(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``acc += a @ b`` for a float32 ``acc`` without rounding ``a @ b`` to the inputs' dtype first:
    trl/kernels/chunked_logprob.py ``_addmm_fp32`` (``a`` and ``b`` of one dtype). Tripwire: as `mm_out_dtype`."""
    _chunked_logprob()._addmm_fp32(acc, a, b)


_KERNEL_LOCK = threading.Lock()
_kernel_swap: dict[str, Any] = {"open": 0, "dispatch": None, "previous": None}


@contextlib.contextmanager
def fused_lm_head_kernel(dispatch: Any) -> Iterator[None]:
    """Inside the block, the fused LM head TRL installs on a model calls ``dispatch.apply`` instead of its kernel.

    Mirrors trl/trainer/utils.py ``add_fused_lm_head`` (1.16): its patched ``forward`` calls the module-level name
    ``_ChunkedLogProbFunction.apply(...)`` (``trl.kernels.ChunkedLogProbFunction``) on every call, so swapping that
    one name routes the kernel without copying TRL's forward (backbone, FSDP2 gather, ZeRO-3, label shifting). The
    name is process-wide: the first block that opens (in any thread) swaps it, the last one to close puts the previous
    kernel back, so outside every block a trainer (ours or a plain TRL one) runs TRL's kernel exactly. ``dispatch``
    must forward calls that are not its own to `fused_lm_head_fallback` (another thread may run TRL meanwhile).
    Tripwire: ``tests/trainers/test_trl_compat.py::test_fused_lm_head_kernel_name``."""
    import trl.trainer.utils as trl_utils

    with _KERNEL_LOCK:
        if _kernel_swap["open"] == 0:
            _kernel_swap["previous"] = trl_utils._ChunkedLogProbFunction
            _kernel_swap["dispatch"] = dispatch
            trl_utils._ChunkedLogProbFunction = dispatch
        elif _kernel_swap["dispatch"] is not dispatch:
            raise RuntimeError("Another dispatcher already routes TRL's fused LM-head kernel.")
        _kernel_swap["open"] += 1
    try:
        yield
    finally:
        with _KERNEL_LOCK:
            _kernel_swap["open"] -= 1
            if _kernel_swap["open"] == 0:
                trl_utils._ChunkedLogProbFunction = _kernel_swap["previous"]
                _kernel_swap["previous"] = _kernel_swap["dispatch"] = None


def fused_lm_head_fallback() -> Any:
    """The kernel TRL's fused LM head called before `fused_lm_head_kernel` swapped it (TRL's
    ``ChunkedLogProbFunction``), for the calls a dispatcher does not route."""
    from trl.kernels import ChunkedLogProbFunction

    return _kernel_swap["previous"] or ChunkedLogProbFunction


# --------------------------------------------------------------------------------------------------------------------
# TRL's GRPO loss: the steps the explore loss path shares with trl/trainer/grpo_trainer.py GRPOTrainer._compute_loss
# --------------------------------------------------------------------------------------------------------------------
# TRL's `_compute_loss` is one method (about 270 lines) with the clipped surrogate inline, so the explore loss path
# cannot call it around the components' edits (per-token bounds and advantages, dual clip, per-token loss edits, extra
# terms). The steps below follow it line for line, in its order, for the loss types in `OWN_LOSS_TYPES`; the tripwire
# `tests/trainers/test_trl_compat.py::test_compute_loss_source_unchanged` records a hash of TRL's method and
# `test_shared_loss_steps_match_compute_loss` the lines each step mirrors.


def shared_token_terms(
    trainer: Any, ctx: Any, per_token_logps: torch.Tensor, entropies: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The per-token steps after the surrogate, in ``_compute_loss``'s order: the off-policy sequence mask
    (``off_policy_mask_threshold``), the high-entropy mask (``top_entropy_quantile``), vLLM's importance-sampling
    correction and the reference KL ``β·(exp(ref − logp) − (ref − logp) − 1)`` (times the ratio with
    ``use_bias_correction_kl``). ``ctx`` is the `LossContext` (its per-token loss, advantages, mask, old
    log-probabilities and ratio). Returns ``(per_token_loss, entropy_mask, per_token_kl)``."""
    per_token_loss, mask, inputs = ctx.per_token_loss, ctx.mask, ctx.inputs
    if trainer.off_policy_mask_threshold is not None:
        sampling_logps = inputs.get("sampling_per_token_logps", ctx.old_per_token_logps)
        per_token_loss = per_token_loss * trainer.get_off_policy_mask(
            ctx.advantages, per_token_logps, sampling_logps, mask, trainer.off_policy_mask_threshold
        )
    entropy_mask = None
    if trainer.top_entropy_quantile < 1.0:
        entropy_mask = trainer.get_high_entropy_mask(entropies, mask, 1 - trainer.top_entropy_quantile)
        per_token_loss = per_token_loss * entropy_mask
    if trainer.use_vllm and trainer.vllm_importance_sampling_correction:
        per_token_loss = per_token_loss * inputs["importance_sampling_ratio"]
    per_token_kl = None
    if trainer.beta != 0.0:
        ref = inputs["ref_per_token_logps"]
        per_token_kl = torch.exp(ref - per_token_logps) - (ref - per_token_logps) - 1
        if trainer.args.use_bias_correction_kl:
            per_token_kl = per_token_kl * ctx.coef_1
        per_token_loss = per_token_loss + trainer.beta * per_token_kl
    return per_token_loss, entropy_mask, per_token_kl


def aggregate_loss(
    trainer: Any, per_token_loss: torch.Tensor, mask: torch.Tensor, inputs: dict[str, Any], mode: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """TRL's loss-type normalisation: ``(loss scaled for gradient accumulation, policy_loss as TRL logs it)`` for
    ``grpo`` (per-sequence means), ``bnpo`` (token mean), ``dr_grpo`` (``B·max_completion_length``) and ``dapo``
    (``num_items_in_batch`` rescaled to one accumulation window)."""
    accumulation = trainer.current_gradient_accumulation_steps if mode == "train" else 1.0
    if trainer.loss_type == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif trainer.loss_type == "bnpo":
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    elif trainer.loss_type == "dr_grpo":
        loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * trainer.max_completion_length)
    elif trainer.loss_type == "dapo":
        normalizer = inputs["num_items_in_batch"].clamp(min=1.0) / trainer.accelerator.num_processes
        if mode == "train":
            normalizer = normalizer * trainer.current_gradient_accumulation_steps / trainer.args.steps_per_generation
        loss = (per_token_loss * mask).sum() / normalizer
        return loss, loss.detach()
    else:
        raise ValueError(f"`loss_type` {trainer.loss_type!r} is not supported by the explore loss path.")
    return loss / accumulation, loss.detach()


def add_entropy_bonus(
    trainer: Any,
    loss: torch.Tensor,
    entropies: torch.Tensor,
    mask: torch.Tensor,
    entropy_mask: torch.Tensor | None,
    policy_loss: torch.Tensor,
    mode: str,
) -> torch.Tensor:
    """TRL's entropy bonus ``loss − coef · mean entropy`` over the tokens the policy gradient acts on, scaled for
    accumulation only (static ``entropy_coef``, or the adaptive controller gated by ``_last_world_entropy``), and the
    controller's update at optimizer-step boundaries: TRL's private ``_entropy_bonus_enabled``,
    ``_entropy_window_stats`` and ``_last_world_entropy`` are read and written here, as ``_compute_loss`` does, so
    TRL's checkpointing of the controller (``_save_checkpoint`` / ``_load_optimizer_and_scheduler``) keeps working."""
    if not trainer._entropy_bonus_enabled:
        return loss
    args = trainer.args
    effective_mask = mask if entropy_mask is None else mask * entropy_mask
    accumulation = trainer.current_gradient_accumulation_steps if mode == "train" else 1.0
    entropy_loss = (entropies * effective_mask).sum() / effective_mask.sum().clamp(min=1.0) / accumulation
    if trainer.use_adaptive_entropy:
        apply_coef = trainer.entropy_coef if trainer._last_world_entropy <= args.entropy_target else 0.0
    else:
        apply_coef = trainer.entropy_coef
    loss = loss - apply_coef * entropy_loss
    trainer._metrics[mode]["policy_loss"].append(trainer.accelerator.gather(policy_loss).nanmean().item())
    if trainer.use_adaptive_entropy and mode == "train":
        stats = torch.stack([(entropies * effective_mask).sum(), effective_mask.sum()]).detach()
        window = trainer._entropy_window_stats
        trainer._entropy_window_stats = stats if window is None else window + stats
        if trainer.accelerator.sync_gradients:
            totals = trainer.accelerator.reduce(trainer._entropy_window_stats, reduction="sum")
            world_entropy = (totals[0] / totals[1].clamp(min=1.0)).item()
            if world_entropy <= args.entropy_target:
                trainer.entropy_coef = min(trainer.entropy_coef + args.entropy_coef_delta, args.entropy_coef_max)
            else:
                trainer.entropy_coef = max(trainer.entropy_coef - args.entropy_coef_delta, args.entropy_coef_min)
            trainer._last_world_entropy = world_entropy
            trainer._entropy_window_stats = None
    if mode == "train" and trainer.accelerator.sync_gradients:
        trainer._metrics[mode]["entropy_coef"].append(trainer.entropy_coef)
    return loss


def add_router_aux_loss(trainer: Any, loss: torch.Tensor, aux_loss: Any, mode: str) -> torch.Tensor:
    """The MoE router's auxiliary loss ``router_aux_loss_coef · aux / accumulation`` (with ``aux_loss_enabled``), and
    its ``aux_loss`` metric."""
    if not trainer.aux_loss_enabled:
        return loss
    accumulation = trainer.current_gradient_accumulation_steps if mode == "train" else 1.0
    loss = loss + trainer.router_aux_loss_coef * aux_loss / accumulation
    trainer._metrics[mode]["aux_loss"].append(trainer.accelerator.gather_for_metrics(aux_loss).mean().item())
    return loss


def _global_masked_mean(trainer: Any, x: torch.Tensor, mask: torch.Tensor) -> float:
    if x.shape[1] == 1:
        local = torch.stack([x.sum(), torch.tensor(float(x.shape[0]), device=x.device)])
    else:
        local = torch.stack([(x * mask).sum(), mask.sum().float()])
    totals = trainer.accelerator.reduce(local, reduction="sum")
    return (totals[0] / totals[1].clamp(min=1.0)).item()


def _gather_rows(trainer: Any, values: torch.Tensor) -> torch.Tensor:
    """``[B]`` per-row values of every process, concatenated. ``B`` may differ between processes (components add
    rows per process, e.g. SPEAR's replay), which a plain ``gather`` cannot take (a size mismatch in the collective:
    gloo aborts, NCCL may hang), so rows are padded with NaN (ignored by ``nanmin`` / ``nanmax``)."""
    padded = trainer.accelerator.pad_across_processes(values.float(), dim=0, pad_index=math.nan)
    return trainer.accelerator.gather(padded)


def log_loss_metrics(trainer: Any, ctx: Any, per_token_kl: torch.Tensor | None) -> None:
    """TRL's metrics of the loss step: ``kl``, ``entropy`` and ``clip_ratio/*``, with the context's (possibly
    per-token) bounds and advantages; sequence-level ratios with per-token bounds count one value per sequence, as TRL
    counts them."""
    from trl.trainer.utils import nanmax, nanmin

    mask, coef_1, advantages = ctx.mask, ctx.coef_1, ctx.advantages
    metrics = trainer._metrics[ctx.mode]
    if per_token_kl is not None:
        metrics["kl"].append(_global_masked_mean(trainer, per_token_kl, mask))
    metrics["entropy"].append(_global_masked_mean(trainer, ctx.entropies, mask))
    low, high = ctx.clip_bounds()
    is_low = (coef_1 < low) & (advantages < 0)
    is_high = (coef_1 > high) & (advantages > 0)
    is_low, is_high, is_region = is_low.float(), is_high.float(), (is_low | is_high).float()

    def seq_mean(x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(1) if x.shape[1] == 1 else (x * mask).sum(-1) / mask.sum(-1)

    if coef_1.shape[1] == 1 and is_low.shape[1] != 1:
        is_low, is_high, is_region = (seq_mean(x).unsqueeze(1) for x in (is_low, is_high, is_region))
    metrics["clip_ratio/low_mean"].append(_global_masked_mean(trainer, is_low, mask))
    metrics["clip_ratio/high_mean"].append(_global_masked_mean(trainer, is_high, mask))
    metrics["clip_ratio/region_mean"].append(_global_masked_mean(trainer, is_region, mask))
    metrics["clip_ratio/low_min"].append(nanmin(_gather_rows(trainer, seq_mean(is_low))).item())
    metrics["clip_ratio/high_max"].append(nanmax(_gather_rows(trainer, seq_mean(is_high))).item())
