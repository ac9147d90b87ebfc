"""The one fused-head seam: where a trainer's LM head is routed through a `trl_explore` kernel for one forward.

TRL 1.16's ``SFTTrainer`` and ``GRPOTrainer`` install a fused LM head on the model (``trl.trainer.utils.
add_fused_lm_head``): ``model(..., labels=..., fused_lm_head=True)`` runs the backbone, gathers the head (FSDP2
``DTensor``, DeepSpeed ZeRO-3), selects the scored positions and calls one kernel,
``trl.kernels.ChunkedLogProbFunction.apply(hidden, weight, bias, targets, temperature, chunk, softcap, scale,
outputs)``, through a module-level name of ``trl.trainer.utils``. While a `fused_head` block is open that name is a
dispatcher (swapped in by `trl_explore.trainers._trl_compat
.fused_lm_head_kernel` when the first block anywhere in the process opens, and put back when the last one closes, so
no other trainer ever runs through it outside a block); the dispatcher sends the calls of the block's own context to
the block's **kernel** (token statistics, the rank-aware loss, or TRL's own outputs computed on our tiling core)
projected through the block's **projection** (the plain head, or a Fourier numeric head), and any other call (another
thread) to TRL's kernel unchanged. Everything TRL does around the kernel (PEFT, FSDP2, ZeRO-3, label shifting, masking,
the loss) stays TRL's.

Blocks nest: an inner block replaces the kernel and inherits the projection of the outer one (and vice versa).

`project_rows` projects a few hidden rows kept by a kernel (``keep_hidden``) through the same head, with autograd, for
full-vocabulary terms on selected rows (Lp-Reg's ``forward_full`` KL).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..trainers import _trl_compat as compat
from ._tiled_head import FusedHeadCall, FusedHeadKernel, FusedHeadRecord, TiledHead

if TYPE_CHECKING:  # pragma: no cover
    from .token_stats import TokenStatsRequest

__all__ = [
    "FusedHeadCall",
    "FusedHeadKernel",
    "FusedHeadRecord",
    "HeadProjection",
    "fused_head",
    "fused_token_stats",
    "label_row_index",
    "project_rows",
    "shifted_label_mask",
]


# (weight, bias, logit_scale, softcap) as TRL passes them -> the head the kernel projects through
HeadProjection = Callable[[Tensor, "Tensor | None", float, "float | None"], TiledHead]


@dataclass(frozen=True)
class _Route:
    kernel: FusedHeadKernel | None
    projection: HeadProjection | None
    label_mask: Tensor | None


_ACTIVE: contextvars.ContextVar[_Route | None] = contextvars.ContextVar("trl_explore_fused_head", default=None)


def _plain_projection(weight: Tensor, bias: Tensor | None, logit_scale: float, softcap: float | None) -> TiledHead:
    return TiledHead(weight, bias, float(logit_scale), None if softcap is None else float(softcap))


class _Dispatch:
    """Stands in for TRL's fused-head kernel while a block is open: TRL's kernel unless this context is in a
    `fused_head` block."""

    @staticmethod
    def apply(
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        targets: Tensor,
        temperature: float,
        chunk_size: int,
        final_logit_softcapping: float | None = None,
        logit_scale: float = 1.0,
        outputs: tuple[str, ...] = ("log_probs",),
    ) -> tuple[Tensor | None, ...]:
        route = _ACTIVE.get()
        if route is None:  # another thread or trainer, outside any block: TRL's kernel (as installed before ours)
            return compat.fused_lm_head_fallback().apply(
                hidden, weight, bias, targets, temperature, chunk_size, final_logit_softcapping, logit_scale, outputs
            )
        projection = route.projection or _plain_projection
        head = projection(weight, bias, logit_scale, final_logit_softcapping)
        if route.kernel is None:  # only the projection is replaced: TRL's outputs, computed on the tiling core
            from .token_stats import TokenStatsRequest

            kernel = TokenStatsRequest(min_p=None)
        else:
            kernel = route.kernel
        mask = route.label_mask
        row_index = None if mask is None else label_row_index(hidden.shape[0], mask.to(hidden.device))
        return kernel(FusedHeadCall(hidden, head, targets, float(temperature), tuple(outputs), row_index))


@contextlib.contextmanager
def fused_head(
    kernel: FusedHeadKernel | None = None,
    *,
    projection: HeadProjection | None = None,
    label_mask: Tensor | None = None,
) -> Iterator[None]:
    """Route every fused LM-head call (``model(..., fused_lm_head=True)`` on a model with TRL's fused head) in the
    block through ``kernel``, projected through ``projection``.

    Args:
        kernel: a `FusedHeadKernel` (e.g. a `~trl_explore.kernels.token_stats.TokenStatsRequest` or a
            `~trl_explore.kernels.rank_aware.RankAwareRequest`); ``None`` keeps the enclosing block's kernel, or TRL's
            outputs computed on the tiling core.
        projection: maps TRL's ``(weight, bias, logit_scale, softcap)`` to the `TiledHead` to project through (e.g.
            `trl_explore.modules.numeric_head.numeric_head_projection`); ``None`` keeps the enclosing block's, or the
            plain head.
        label_mask: the shifted mask of labelled positions of the one batch the block scores (`shifted_label_mask`),
            so that only those rows are projected whichever layout TRL uses (`label_row_index`); ``None`` keeps the
            enclosing block's, or scores every row TRL passes.
    """
    outer = _ACTIVE.get()

    def pick(value: Any, name: str) -> Any:
        return value if value is not None else (getattr(outer, name) if outer is not None else None)

    route = _Route(pick(kernel, "kernel"), pick(projection, "projection"), pick(label_mask, "label_mask"))
    with compat.fused_lm_head_kernel(_Dispatch):
        token = _ACTIVE.set(route)
        try:
            yield
        finally:
            _ACTIVE.reset(token)


def shifted_label_mask(inputs: dict[str, Any]) -> Tensor:
    """``[B, T − 1]`` (``[B, T]`` for pre-shifted ``shift_labels``) mask of the positions TRL's fused LM head scores in
    a batch: its labels shifted as ``add_fused_lm_head`` shifts them, not ``-100``."""
    if inputs.get("shift_labels") is not None:
        return inputs["shift_labels"] != -100
    return inputs["labels"][:, 1:] != -100


def label_row_index(n_rows: int, label_mask: Tensor | None) -> Tensor | None:
    """The rows a fused-head call scores, as a long index into its ``n_rows`` rows (``None``: every row).

    TRL scores every position (``N = B · (T − 1)``, ignored labels clamped to 0) on devices without Triton and only
    the labelled ones (``N = #labels``) elsewhere; ``label_mask`` is the shifted ``[B, T − 1]`` mask of labelled
    positions (`None`: unknown, score every row). Prompt-learning PEFT models prepend virtual tokens (unlabelled) to
    every row; their positions are recognised from ``n_rows``.
    """
    if label_mask is None:
        return None
    if n_rows == label_mask.numel():
        return label_mask.reshape(-1).nonzero().squeeze(-1)
    if n_rows == int(label_mask.sum()):
        return None
    rows, width = label_mask.shape
    if n_rows > label_mask.numel() and n_rows % rows == 0:
        # prompt-learning PEFT (prompt / prefix tuning, p-tuning) prepends its virtual tokens to every sequence and
        # pads the labels on the left with -100 for them: those leading positions are never scored
        virtual = label_mask.new_zeros(rows, n_rows // rows - width)
        return torch.cat([virtual, label_mask], dim=1).reshape(-1).nonzero().squeeze(-1)
    raise ValueError(
        f"the fused LM head scored {n_rows} positions, but the labels have {int(label_mask.sum())} of "
        f"{label_mask.numel()} (models that pad labels, e.g. prompt-learning PEFT, are not supported)."
    )


def project_rows(call: FusedHeadRecord, hidden_rows: Tensor) -> Tensor:
    """Float32 logits ``[n, V]`` (temperature 1) of hidden rows ``[n, H]`` through the head of a recorded fused-head
    call (a `~trl_explore.kernels.token_stats.TokenStatsRequest` record with ``keep_hidden``): the same projection as
    the tiled kernel (bias, logit scale, soft-capping, numeric-head group), differentiable with autograd. Use it for a
    few selected rows only: it builds ``[n, V]``."""
    if call.head is None:
        raise ValueError("the fused-head call kept no head: record it with `TokenStatsRequest(keep_hidden=True)`.")
    logits = call.head.logits(hidden_rows)
    return logits if logits.dtype == torch.float32 else logits.float()


@contextlib.contextmanager
def fused_token_stats(request: TokenStatsRequest) -> Iterator[TokenStatsRequest]:
    """Route every fused LM-head call (``model(..., fused_lm_head=True)``) in the block through
    `trl_explore.kernels.token_stats.token_stats` (a `TokenStatsRequest` is the kernel).

    The model keeps its one backbone forward; only the LM-head kernel changes, so the training log-probabilities, the
    entropy and the extra statistics come from the same pass. Outside the block TRL's kernel runs unchanged. A
    projection set by an enclosing `trl_explore.kernels.fused_head.fused_head` block (a numeric head) is kept.
    """
    with fused_head(request):
        yield request
