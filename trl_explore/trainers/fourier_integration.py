"""Fourier head training integration: add the smoothness regulariser of every ``FourierHead`` to the loss and log it.

Gillman et al., ICLR 2025 (arXiv 2410.22269), Section 3: total loss = CE + gamma * int |f'|^2. The official large-scale
scripts dropped the second term; here it is added whenever a model contains Fourier heads with
``regularization_gamma > 0``.

Plain TRL (one line, after constructing the trainer)::

    trainer = SFTTrainer(model=model, ...)          # or GRPOTrainer, or transformers.Trainer
    add_fourier_regularization(trainer)
    trainer.train()

or as a mixin: ``class MySFTTrainer(FourierRegularizationMixin, SFTTrainer): ...``.

Our own trainers call :func:`fourier_regularization` right after their model forward (or wrap their loss with
:func:`collect_fourier_terms`) and log :func:`fourier_metrics`.

Logged metrics (averaged over the logging window, reduced across processes):
    ``fourier/regularization``  the added term gamma * int |f'|^2 summed over heads (before gradient-accumulation scaling)
    ``fourier/smoothness``      the smoothness metric s(P) of the heads' bin pmfs (up to 64 rows of the last forward)

TRL 1.16's ``SFTTrainer`` / ``GRPOTrainer`` compute the training log-probabilities with a *fused* LM head that reads
``lm_head.weight`` directly and so would silently bypass a :class:`~trl_explore.modules.numeric_head.FourierNumericHead`.
:func:`add_fourier_regularization` therefore also routes fused forwards of a model with a numeric head through the
head (:func:`use_numeric_head_in_fused_forward`); this materialises the ``[B, T, V]`` logits for that model.
"""

from __future__ import annotations

import functools
import logging
import types
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from ..metrics.smoothness import smoothness
from ..modules.fourier_head import FourierHead
from ..modules.numeric_head import find_numeric_head

__all__ = [
    "FourierRegularizationMixin",
    "FourierTerms",
    "add_fourier_regularization",
    "collect_fourier_terms",
    "fourier_heads",
    "fourier_metrics",
    "fourier_regularization",
    "use_numeric_head_in_fused_forward",
]

logger = logging.getLogger(__name__)


def fourier_heads(model: nn.Module) -> list[FourierHead]:
    """Every :class:`FourierHead` inside ``model`` (PEFT wrappers included)."""
    return [m for m in model.modules() if isinstance(m, FourierHead)]


def fourier_regularization(model: nn.Module) -> Tensor | None:
    """Sum of the regularisers ``gamma * int |f'|^2`` recorded by the last forward of every head with
    ``regularization_gamma > 0``, *consumed*: each recorded term is returned once (then the head forgets it), so a
    head that does not run in a later step never re-adds a stale term.

    Returns ``None`` when no such head has an unconsumed forward. Call it right after the forward whose loss it
    joins (a head called several times before the call contributes its last call only; use
    :func:`collect_fourier_terms` for chunked forwards).
    """
    terms = []
    for h in fourier_heads(model):
        if h.regularization_gamma > 0:
            reg = h.pop_regularization_loss()
            if reg is not None:
                terms.append(reg.float())
    return torch.stack(terms).sum() if terms else None


def _smoothness_of(heads: list[FourierHead]) -> float | None:
    values = []
    for h in heads:
        pmf = h.smoothness_sample()
        if pmf is not None and pmf.numel():
            values.append(smoothness(pmf.float()).mean().item())
    return sum(values) / len(values) if values else None


def fourier_metrics(model: nn.Module) -> dict[str, float]:
    """``{"fourier/regularization": ..., "fourier/smoothness": ...}`` from the heads' last forwards (keys omitted when
    not available; reading them consumes nothing)."""
    out: dict[str, float] = {}
    values = [
        h._last.regularization_value
        for h in fourier_heads(model)
        if h.regularization_gamma > 0 and h._last.regularization_value is not None
    ]
    if values:
        out["fourier/regularization"] = float(sum(v.item() for v in values))
    smooth = _smoothness_of([h for h in fourier_heads(model) if h.smoothness_sample() is not None])
    if smooth is not None:
        out["fourier/smoothness"] = smooth
    return out


class FourierTerms:
    """What :func:`collect_fourier_terms` gathered: per head, the regulariser of each forward call."""

    def __init__(self) -> None:
        self._terms: dict[int, list[Tensor]] = defaultdict(list)
        self._pmfs: dict[int, list[Tensor]] = defaultdict(list)

    def _record(self, head: FourierHead) -> None:
        if head.regularization_gamma > 0 and head.regularization_loss is not None:
            self._terms[id(head)].append(head.regularization_loss)
        pmf = head.smoothness_sample()
        if pmf is not None:
            self._pmfs[id(head)].append(pmf)

    def regularization(self) -> Tensor | None:
        """Sum over heads of the mean over that head's forward calls (chunks of one batch); ``None`` if none ran."""
        per_head = [torch.stack([t.float() for t in ts]).mean() for ts in self._terms.values() if ts]
        return torch.stack(per_head).sum() if per_head else None

    def smoothness(self) -> float | None:
        """Smoothness s(P) of the recorded pmf samples (up to 64 rows per call): mean over rows, then over heads."""
        values = [smoothness(torch.cat(p).float()).mean().item() for p in self._pmfs.values() if p]
        return sum(values) / len(values) if values else None


@contextmanager
def collect_fourier_terms(model: nn.Module) -> Iterator[FourierTerms]:
    """Record the regulariser of every Fourier-head forward that runs inside the block (forward hooks)."""
    terms = FourierTerms()
    handles = []
    for head in fourier_heads(model):
        head.clear_last_forward()
        handles.append(head.register_forward_hook(lambda module, args, output: terms._record(module)))
    try:
        yield terms
    finally:
        for h in handles:
            h.remove()


def _loss_is_scaled_for_ga(trainer: Any, num_items_in_batch: Any) -> bool:
    """Mirror of ``transformers.Trainer.training_step``: whether the trainer will *not* divide the loss by the
    gradient-accumulation steps (it was normalised by ``num_items_in_batch`` over all micro-batches)."""
    flag = getattr(trainer, "loss_is_scaled_for_ga", None)
    if flag is not None:
        return bool(flag)
    return bool(
        (getattr(trainer, "model_accepts_loss_kwargs", False) and num_items_in_batch is not None)
        or getattr(trainer, "compute_loss_func", None) is not None
    )


def _fourier_compute_loss(
    trainer: Any, compute_loss: Any, model: nn.Module, inputs: Any, return_outputs: bool, num_items_in_batch: Any
) -> Any:
    with collect_fourier_terms(model) as terms:
        result = compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
    reg = terms.regularization()
    mode = "train" if model.training else "eval"
    store = trainer.__dict__.setdefault("_fourier_metrics", {"train": defaultdict(list), "eval": defaultdict(list)})
    if reg is not None:
        store[mode]["fourier/regularization"].append(reg.detach().item())
        if mode == "train" and _loss_is_scaled_for_ga(trainer, num_items_in_batch):
            reg = reg / getattr(trainer, "current_gradient_accumulation_steps", 1)
        if return_outputs:
            loss, outputs = result
            result = (loss + reg.to(loss.dtype), outputs)
        else:
            result = result + reg.to(result.dtype)
    smooth = terms.smoothness()
    if smooth is not None:
        store[mode]["fourier/smoothness"].append(smooth)
    return result


def _fourier_log_metrics(trainer: Any, logs: dict[str, float]) -> None:
    store = trainer.__dict__.get("_fourier_metrics")
    if not store:
        return
    mode = "eval" if any(k.startswith("eval_") for k in logs) else "train"
    values = {k: sum(v) / len(v) for k, v in store[mode].items() if v}
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is not None and accelerator.num_processes > 1 and values:
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], device=accelerator.device, dtype=torch.float32)
        t = accelerator.reduce(t, reduction="mean")
        values = dict(zip(keys, t.tolist()))
    prefix = "eval_" if mode == "eval" else ""
    logs.update({prefix + k: v for k, v in values.items()})
    store[mode].clear()


class FourierRegularizationMixin:
    """Mixin for any ``transformers.Trainer`` subclass: ``class T(FourierRegularizationMixin, SFTTrainer)``.

    Adds the Fourier heads' regulariser to the loss, logs ``fourier/regularization`` and ``fourier/smoothness``, and
    routes TRL's fused LM-head forward through a numeric head when the model has one.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _patch_fused_forward_for_trainer(self)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: D102
        return _fourier_compute_loss(self, super().compute_loss, model, inputs, return_outputs, num_items_in_batch)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:  # noqa: D102
        _fourier_log_metrics(self, logs)
        super().log(logs, *args, **kwargs)


def add_fourier_regularization(trainer: Any) -> Any:
    """One-liner for a constructed TRL / transformers trainer: patch its ``compute_loss`` and ``log`` on the instance
    (see :class:`FourierRegularizationMixin`). Returns the trainer. Calling it twice is a no-op."""
    if getattr(trainer, "_fourier_regularization_added", False):
        return trainer
    compute_loss = trainer.compute_loss
    log = trainer.log

    def patched_compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        return _fourier_compute_loss(self, compute_loss, model, inputs, return_outputs, num_items_in_batch)

    def patched_log(self, logs, *args, **kwargs):
        _fourier_log_metrics(self, logs)
        return log(logs, *args, **kwargs)

    trainer.compute_loss = types.MethodType(patched_compute_loss, trainer)
    trainer.log = types.MethodType(patched_log, trainer)
    trainer._fourier_regularization_added = True
    _patch_fused_forward_for_trainer(trainer)
    if not fourier_heads(trainer.model):
        logger.warning("add_fourier_regularization: the trainer's model has no FourierHead; nothing will be added")
    return trainer


# --------------------------------------------------------------------------------------------- fused LM head
def _patch_fused_forward_for_trainer(trainer: Any) -> None:
    model = getattr(trainer, "model", None)
    if model is None:
        return
    temperature = float(getattr(trainer, "temperature", 1.0) or 1.0)
    for m in model.modules():
        if "forward" in m.__dict__ and hasattr(m, "get_output_embeddings") and find_numeric_head(m) is not None:
            use_numeric_head_in_fused_forward(m, temperature=temperature)


def use_numeric_head_in_fused_forward(model: nn.Module, temperature: float = 1.0) -> None:
    """Make ``model(..., labels=..., fused_lm_head=True)`` (TRL 1.16's fused LM-head contract) use the model's own
    output layer, i.e. a :class:`FourierNumericHead`, instead of ``lm_head.weight``.

    The fused call then runs the unfused forward, takes the full logits ``[B, T, V]`` and returns TRL's
    ``FusedCausalLMOutput`` fields (``loss``, ``log_probs``, ``entropy``, ``is_top1``, ``label_mask``; per-token,
    zero where the label is -100) at ``temperature``. Non-fused calls (``generate``) are unchanged.
    """
    from trl.trainer.utils import FusedCausalLMOutput

    current = model.forward
    class_forward = type(model).forward

    @functools.wraps(class_forward)
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs):
        if not fused_lm_head:
            extra = {
                k: v
                for k, v in (
                    ("labels", labels),
                    ("shift_labels", shift_labels),
                    ("num_items_in_batch", num_items_in_batch),
                )
                if v is not None
            }
            return current(*args, **kwargs, **extra)
        kwargs["use_cache"] = False
        kwargs.pop("output_router_logits", None)
        logits = class_forward(self, *args, **kwargs).logits  # [B, T, V] through the numeric head
        if shift_labels is None:
            logits, targets = logits[:, :-1], labels[:, 1:]
        else:
            targets = shift_labels
        mask = targets != -100  # [B, T']
        logp = torch.log_softmax(logits.float() / temperature, dim=-1)  # [B, T', V]
        safe = targets.clamp(min=0)
        log_probs = logp.gather(-1, safe[..., None])[..., 0].masked_fill(~mask, 0.0)
        with torch.no_grad():
            entropy = -(logp.exp() * logp).sum(-1).masked_fill(~mask, 0.0)
            is_top1 = (logp.argmax(-1) == safe) & mask
        denom = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(
            loss=-log_probs.sum() / denom, log_probs=log_probs, entropy=entropy, is_top1=is_top1, label_mask=mask
        )

    model.forward = types.MethodType(forward, model)
