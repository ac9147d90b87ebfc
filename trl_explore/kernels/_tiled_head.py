"""The one vocabulary-tiling core behind every fused LM-head kernel of `trl_explore.kernels`.

A kernel is a **per-tile formula** (`TileFormula`): given the logits of a tile of tokens with *full* vocabulary rows it
returns per-token outputs, and (for a differentiable kernel) the gradient of its loss with respect to those logits.
This module owns everything else, once:

* the **projection** (`TiledHead`): ``z = transform(group(h W^T + b))`` with an optional number-token group (the
  Fourier numeric head) and TRL's transform ``transform(y) = cap · tanh(scale · y / cap)`` (or ``scale · y``);
* the **dtypes**: the GEMM runs in the compute dtype (the autocast dtype, else the hidden states' dtype) with the head
  cast in vocabulary chunks (never a whole copy of the LM head), the formula sees float32 logits (float64 for float64
  inputs) rounded to the compute dtype first, like TRL's fused head;
* the **token-tile loop** and its **budget**: a tile holds ``rows · V <= 4096 · 32768`` floats, TRL 1.16's own tile;
  only rows selected by an optional row index are scored (the others output 0 and get no gradient);
* the **gradients**: the formula's ``dL/dz`` is chained through the transform and the group, then folded into float32
  accumulators for ``dL/dh [N, H]``, ``dL/dW [V, H]``, ``dL/db [V]`` (and the group log-probabilities ``[N, m]``).
  Two schedules:

  - *recompute* (any number of differentiable outputs): the backward recomputes each tile, like TRL's
    ``ChunkedLogProbFunction``; ZeRO-3 heads are gathered again around it.
  - *precompute* (one differentiable output): the forward, which already holds each tile, folds the gradient of the
    plain sum of that output into the accumulators (one projection GEMM less); the backward scales them by the
    incoming gradient when that gradient is one value on every scored row, and falls back to recomputing otherwise,
    so the result is exact for any loss.

Nothing of size ``[N, V]`` is ever allocated: peak memory is a few tiles plus ``[N, C]`` outputs and the accumulators.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from ..trainers import _trl_compat as compat

__all__ = [
    "TILE_FLOATS",
    "NumberGroup",
    "Tile",
    "TileFormula",
    "TiledHead",
    "rows_per_tile",
    "tiled_apply",
    "tiled_forward",
]

# TRL 1.16's tile: `TOKEN_CHUNK_SIZE` (4096 tokens) x `_CHUNKED_LOGPROB_CHUNK_SIZE` (32768 vocabulary entries)
TILE_FLOATS = 4096 * 32768
# Vocabulary rows of the head cast at a time when its dtype differs from the GEMM's (TRL's vocabulary chunk)
_CAST_CHUNK = 32768
_LOW_PRECISION = (torch.float16, torch.bfloat16)
GROUP_MODES = ("hybrid", "full")


def rows_per_tile(vocab_size: int, tile_floats: int = TILE_FLOATS) -> int:
    """Tokens per tile so that ``rows · V <= tile_floats`` (at least 1)."""
    return max(1, tile_floats // max(1, vocab_size))


def _compute_dtype(hidden: Tensor) -> torch.dtype:
    device_type = hidden.device.type
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype


def _accumulate_dtype(compute_dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if compute_dtype == torch.float64 else torch.float32


def _mixed_gemm(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether a low-precision GEMM can write a float32 result directly (CUDA, torch >= 2.8: TRL's choice)."""
    return device.type == "cuda" and dtype in _LOW_PRECISION and compat.mm_out_dtype()


def _addmm_acc(acc: Tensor, a: Tensor, b: Tensor) -> None:
    """``acc += a @ b`` into a float32/float64 accumulator without rounding the product to the inputs' dtype (TRL's
    ``_addmm_fp32`` for a float32 accumulator)."""
    if acc.dtype == torch.float32 and a.dtype == b.dtype:
        compat.addmm_fp32(acc, a, b)
    else:
        acc.addmm_(a.to(acc.dtype), b.to(acc.dtype))


# --------------------------------------------------------------------------------------------------------------------
# The projection
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberGroup:
    """An ordered group of number tokens whose logits come from another head (the Fourier numeric head).

    Attributes:
        token_ids: ``[m]`` long, the group's vocabulary ids.
        mode: ``"hybrid"``: ``z[ids] = logsumexp(y[ids]) + group_logp`` (the LM head keeps the group's total mass,
            the group's shape is ``group_logp``); ``"full"``: ``z[ids] = group_logp`` and every other logit is
            ``finfo.min`` (only number tokens can be emitted).
        log_probs: ``hidden [n, H] -> group_logp [n, m]``, normalised log-probabilities over the group
            (differentiable; called once per kernel call on the scored rows).
    """

    token_ids: Tensor
    mode: str
    log_probs: Callable[[Tensor], Tensor]

    def __post_init__(self) -> None:
        if self.mode not in GROUP_MODES:
            raise ValueError(f"`mode` must be one of {GROUP_MODES}, got {self.mode!r}.")


@dataclass(frozen=True)
class TiledHead:
    """An LM head as the kernels see it: ``z = transform(group(hidden @ weight.T + bias))``.

    Attributes:
        weight: ``[V, H]`` LM-head weight (the input embedding with tied embeddings).
        bias: ``[V]`` or ``None``.
        logit_scale: multiplier applied first (``1.0``: none), as TRL's fused head reads it from the model config.
        softcap: final-logit soft-capping ``c · tanh(z / c)`` (``None``: none).
        group: optional `NumberGroup` replacing the logits of a group of number tokens.
    """

    weight: Tensor
    bias: Tensor | None = None
    logit_scale: float = 1.0
    softcap: float | None = None
    group: NumberGroup | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.logit_scale, (int, float)) and math.isfinite(self.logit_scale)):
            raise ValueError(f"`logit_scale` must be a finite number, got {self.logit_scale!r}.")
        if self.softcap is not None and not (
            isinstance(self.softcap, (int, float)) and math.isfinite(self.softcap) and self.softcap > 0
        ):
            raise ValueError(f"`softcap` must be a positive finite number or None, got {self.softcap!r}.")

    @property
    def vocab_size(self) -> int:
        return self.weight.shape[0]

    def logits(self, hidden: Tensor) -> Tensor:
        """Full float32 (float64 for float64 inputs) logits ``[n, V]`` of a few hidden rows ``[n, H]``, differentiable
        with plain autograd (for terms on a handful of selected rows; the tiled kernels never build this)."""
        acc = _accumulate_dtype(hidden.dtype)
        if self.group is not None and self.group.mode == "full":
            z = torch.full((hidden.shape[0], self.vocab_size), torch.finfo(acc).min, device=hidden.device, dtype=acc)
        else:
            z = hidden.to(acc) @ self.weight.to(acc).t()  # [n, V]
            if self.bias is not None:
                z = z + self.bias.to(acc)
        if self.group is not None:
            ids = self.group.token_ids.to(z.device)
            group_logp = self.group.log_probs(hidden).to(acc)  # [n, m]
            if self.group.mode == "hybrid":
                group_logp = torch.logsumexp(z.index_select(-1, ids), dim=-1, keepdim=True) + group_logp
            z = z.index_copy(-1, ids, group_logp)
        if self.logit_scale != 1.0:
            z = z * self.logit_scale
        if self.softcap is not None:
            z = self.softcap * torch.tanh(z / self.softcap)
        return z


# --------------------------------------------------------------------------------------------------------------------
# Tiles and formulas
# --------------------------------------------------------------------------------------------------------------------


class _Workspace:
    """Buffers reused across the tiles of one pass (allocated once at the largest tile's size)."""

    def __init__(self, rows: int, device: torch.device) -> None:
        self.rows, self.device = rows, device
        self._buffers: dict[str, Tensor] = {}

    def buffer(self, name: str, n: int, width: int, dtype: torch.dtype) -> Tensor:
        """A ``[n, width]`` view of the named buffer (contents undefined)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape[1] != width or buf.dtype != dtype:
            buf = self._buffers[name] = torch.empty((self.rows, width), device=self.device, dtype=dtype)
        return buf[:n]


@dataclass
class Tile:
    """One tile of tokens with full vocabulary rows, as a `TileFormula` sees it.

    Attributes:
        rows: the tile's rows in the call's ``[N]`` outputs (a slice, or a long index of scored rows).
        logits: ``[n, V]`` transformed logits at temperature 1, float32 (float64 for float64 inputs); the formula may
            overwrite them.
        others: logits of further heads on the same rows (`tiled_forward` with several heads).
        workspace: buffers reused across tiles (`Tile.buffer`).
        cache: per-tile values a ``forward`` leaves for an immediately following ``backward`` (precompute schedule);
            empty when the backward recomputes the tile.
        out: ``[n, C]`` destination of the tile's outputs (a view into the call's outputs where possible; contents
            undefined): a ``forward`` fills and returns it, so no per-tile copy is made.
    """

    rows: slice | Tensor
    logits: Tensor
    others: tuple[Tensor, ...] = ()
    workspace: _Workspace | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    out: Tensor | None = None

    @property
    def n(self) -> int:
        return self.logits.shape[0]

    def buffer(self, name: str, width: int | None = None, dtype: torch.dtype | None = None) -> Tensor:
        """A reusable ``[n, width]`` buffer (default ``[n, V]`` in the logits' dtype); contents undefined."""
        width = self.logits.shape[1] if width is None else width
        return self.workspace.buffer(name, self.n, width, dtype or self.logits.dtype)

    def take(self, x: Tensor) -> Tensor:
        """The tile's rows of a per-token tensor ``[N, ...]``."""
        return x[self.rows]


class TileFormula:
    """A kernel's per-tile formula. Subclasses set `num_outputs` / `num_differentiable` and implement the methods.

    The first `num_differentiable` output columns carry gradients; the rest are detached statistics.
    """

    num_outputs: int = 1
    num_differentiable: int = 0

    def forward(self, tile: Tile) -> Tensor:
        """``[n, num_outputs]`` outputs of the tile (float32/float64), written into ``tile.out`` and returned. May
        overwrite ``tile.logits`` only when no gradient follows (``tile.cache`` is what a following `backward` may
        use)."""
        raise NotImplementedError

    def backward(self, tile: Tile, saved: Tensor, grads: Sequence[Tensor | None]) -> Tensor:
        """``dL/dz`` ``[n, V]`` of the tile (may alias ``tile.logits``), for the upstream gradients ``grads`` (one
        ``[n]`` tensor or ``None`` per differentiable output); ``saved`` is the tile's ``[n, num_outputs]`` forward
        output. ``tile.cache`` holds what `forward` left on the same tile, or is empty (recompute: rebuild it)."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------------------------
# Projection of tiles and folding of their gradients
# --------------------------------------------------------------------------------------------------------------------


class _Projector:
    """Projects tiles of one head and tells how to chain a logits gradient back through the projection."""

    def __init__(
        self,
        head: TiledHead,
        hidden: Tensor,
        group_logp: Tensor | None,
        compute: torch.dtype,
        workspace: _Workspace,
        slot: str = "",
    ) -> None:
        self.head, self.hidden, self.group_logp = head, hidden, group_logp
        self.weight, self.bias = head.weight, head.bias
        self.vocab = head.vocab_size
        self.compute, self.acc = compute, _accumulate_dtype(compute)
        self.workspace, self.slot = workspace, slot
        self.full_group = head.group is not None and head.group.mode == "full"
        self.ids = head.group.token_ids.to(hidden.device) if head.group is not None else None

    def chunks(self, dtype: torch.dtype | None = None) -> Iterator[tuple[int, int]]:
        """Vocabulary chunks ``(v0, v1)`` in which the head is cast to ``dtype`` (default the compute dtype): one
        chunk when no cast is needed."""
        step = self.vocab if self.weight.dtype == (dtype or self.compute) else _CAST_CHUNK
        for v0 in range(0, self.vocab, step):
            yield v0, min(v0 + step, self.vocab)

    def project(self, rows: slice | Tensor, n: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(z [n, V] transformed logits, h [n, H] in the compute dtype, y_group [n, m] before the override)``."""
        ws = self.workspace
        z = ws.buffer("z" + self.slot, n, self.vocab, self.acc)  # [n, V]
        h = self.hidden[rows].to(self.compute)  # [n, H]
        y_group = None
        if self.full_group:
            z.fill_(torch.finfo(self.acc).min)
        else:
            out = z if self.compute == self.acc else ws.buffer("low" + self.slot, n, self.vocab, self.compute)
            for v0, v1 in self.chunks():  # the head cast a vocabulary chunk at a time, never as a whole copy
                w = self.weight[v0:v1].to(self.compute)  # [v, H]
                if v0 == 0 and v1 == self.vocab:
                    torch.mm(h, w.t(), out=out)
                else:
                    out[:, v0:v1] = h @ w.t()
            if self.bias is not None:
                out.add_(self.bias.to(self.compute))
            if out is not z:
                z.copy_(out)  # logits rounded to the compute dtype like TRL's fused head, then handled in fp32
        if self.ids is not None:
            group = self.group_logp[rows].to(self.acc)  # [n, m]
            if not self.full_group:
                y_group = z.index_select(1, self.ids)  # [n, m]
                group = torch.logsumexp(y_group, dim=-1, keepdim=True) + group
            z.index_copy_(1, self.ids, group)
        if self.head.logit_scale != 1.0:
            z.mul_(self.head.logit_scale)
        if self.head.softcap is not None:
            z.div_(self.head.softcap).tanh_().mul_(self.head.softcap)
        return z, h, y_group

    def softcap_factor(self, z: Tensor) -> Tensor | None:
        """``1 − (z / cap)²`` (the soft-capping's derivative over the scale) into a buffer; ``None`` without."""
        if self.head.softcap is None:
            return None
        factor = self.workspace.buffer("softcap" + self.slot, z.shape[0], self.vocab, self.acc)  # [n, V]
        return torch.div(z, self.head.softcap, out=factor).square_().neg_().add_(1.0)


class _Gradients:
    """Float32 (float64) accumulators of the gradients w.r.t. hidden, weight, bias and the group log-probabilities."""

    def __init__(self, projector: _Projector, needs: Sequence[bool]) -> None:
        p = self.p = projector
        need_h, need_w, need_b, need_g = needs
        uses_head = not p.full_group

        def zeros(like: Tensor | None, needed: bool) -> Tensor | None:
            return torch.zeros(like.shape, device=like.device, dtype=p.acc) if needed and like is not None else None

        self.hidden = zeros(p.hidden, need_h and uses_head)  # [N, H]
        self.weight = zeros(p.weight, need_w and uses_head)  # [V, H]
        self.bias = zeros(p.bias, need_b and uses_head)  # [V]
        self.group = zeros(p.group_logp, need_g)  # [N, m]
        self.dtypes = tuple(None if t is None else t.dtype for t in (p.hidden, p.weight, p.bias, p.group_logp))

    def add(self, dz: Tensor, factor: Tensor | None, rows: slice | Tensor, h: Tensor, y_group: Tensor | None) -> None:
        """Chain a tile's ``dL/dz [n, V]`` through the transform and the group, then fold it into the accumulators."""
        p = self.p
        if factor is not None:
            dz.mul_(factor)
        if p.head.logit_scale != 1.0:
            dz.mul_(p.head.logit_scale)
        if p.ids is not None:
            d_group = dz.index_select(1, p.ids)  # [n, m]: dL/d(group logits)
            if self.group is not None:
                _add_rows(self.group, rows, d_group)
            if p.full_group:
                return
            # z_g = logsumexp(y_g) + group_logp  =>  dL/dy_g = softmax(y_g) · Σ_j dL/dz_g,j
            dz.index_copy_(1, p.ids, torch.softmax(y_group, dim=-1) * d_group.sum(-1, keepdim=True))
        mixed = _mixed_gemm(dz.device, p.compute)
        g = dz.to(p.compute) if mixed else dz  # [n, V]
        h = h if mixed else h.to(p.acc)  # [n, H]
        if self.hidden is not None:
            part = self.hidden[rows] if isinstance(rows, slice) else dz.new_zeros((dz.shape[0], h.shape[1]))
            for v0, v1 in p.chunks(g.dtype):
                _addmm_acc(part, g[:, v0:v1], p.weight[v0:v1].to(g.dtype))  # [n, H] += [n, v] @ [v, H]
            if not isinstance(rows, slice):
                self.hidden.index_add_(0, rows, part)
        if self.weight is not None:
            _addmm_acc(self.weight, g.t(), h)  # [V, H] += [V, n] @ [n, H]
        if self.bias is not None:
            self.bias += g.sum(0, dtype=p.acc)  # [V]

    def results(self, scale: Tensor | None = None) -> tuple[Tensor | None, ...]:
        """``(grad_hidden, grad_weight, grad_bias, grad_group)`` in the inputs' dtypes, times ``scale`` if given."""
        out = []
        for grad, dtype in zip((self.hidden, self.weight, self.bias, self.group), self.dtypes):
            if grad is not None and scale is not None:
                grad = grad * scale.to(grad.dtype)
            out.append(None if grad is None else grad.to(dtype))
        return tuple(out)

    def release(self) -> None:
        """Drop the reference to the projection (keep only the accumulators)."""
        self.p = None


def _add_rows(acc: Tensor, rows: slice | Tensor, value: Tensor) -> None:
    if isinstance(rows, slice):
        acc[rows] += value
    else:
        acc.index_add_(0, rows, value.to(acc.dtype))


def _tiles(num_rows: int, row_index: Tensor | None, tile_rows: int) -> Iterator[tuple[slice | Tensor, int]]:
    """``(rows, n)`` of each tile: slices of ``range(num_rows)``, or chunks of ``row_index``."""
    total = num_rows if row_index is None else row_index.numel()
    for start in range(0, total, tile_rows):
        end = min(start + tile_rows, total)
        yield (slice(start, end) if row_index is None else row_index[start:end]), end - start


# --------------------------------------------------------------------------------------------------------------------
# The autograd function
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    head: TiledHead  # static fields only are read from it (the tensors come as inputs)
    formula: TileFormula
    tile_rows: int
    row_index: Tensor | None
    precompute: bool
    grad_enabled: bool

    def workspace(self, hidden: Tensor) -> _Workspace:
        scored = hidden.shape[0] if self.row_index is None else self.row_index.numel()
        return _Workspace(max(1, min(scored, self.tile_rows)), hidden.device)


def _head_with(head: TiledHead, weight: Tensor, bias: Tensor | None) -> TiledHead:
    return TiledHead(weight, bias, head.logit_scale, head.softcap, head.group)


class _TiledHeadFunction(torch.autograd.Function):
    """``(hidden [N, H], weight [V, H], bias [V] | None, group_logp [N, m] | None, plan) ->
    (*differentiable [N] outputs, detached [N, C - D] outputs)``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        group_logp: Tensor | None,
        plan: _Plan,
    ) -> tuple[Tensor, ...]:
        ctx.set_materialize_grads(False)
        formula, device, n_tokens = plan.formula, hidden.device, hidden.shape[0]
        compute = _compute_dtype(hidden)
        # `needs_input_grad` ignores `torch.no_grad()`, so the caller passes the grad mode it ran under
        needs = tuple(plan.grad_enabled and need for need in ctx.needs_input_grad[:4])
        precompute = plan.precompute and any(needs)
        with torch.autocast(device.type, enabled=False):
            proj = _Projector(_head_with(plan.head, weight, bias), hidden, group_logp, compute, plan.workspace(hidden))
            # [C, N]: each output a contiguous row, returned as views (no copies)
            outputs = torch.zeros((formula.num_outputs, n_tokens), device=device, dtype=proj.acc)
            grads = _Gradients(proj, needs) if precompute else None
            for rows, n in _tiles(n_tokens, plan.row_index, plan.tile_rows):
                z, h, y_group = proj.project(rows, n)  # [n, V], [n, H], [n, m] | None
                factor = proj.softcap_factor(z) if precompute else None
                dest = outputs[:, rows].t() if isinstance(rows, slice) else z.new_empty((n, formula.num_outputs))
                tile = Tile(rows, z, workspace=proj.workspace, out=dest)
                out = formula.forward(tile)  # [n, C]
                if out is not dest or not isinstance(rows, slice):  # index rows: scatter the temporary
                    outputs[:, rows] = out.t()
                if precompute:  # the gradient of Σ out[:, 0], folded while the tile is at hand
                    unit = torch.ones(n, device=device, dtype=proj.acc)
                    grads.add(formula.backward(tile, out, [unit]), factor, rows, h, y_group)
        if grads is not None:
            grads.release()
        ctx.plan, ctx.compute, ctx.precomputed = plan, compute, grads
        ctx.save_for_backward(hidden, weight, bias, group_logp, outputs)
        d = formula.num_differentiable
        detached = outputs[d:]  # [C - D, N]
        ctx.mark_non_differentiable(detached)
        return (*outputs[:d], detached)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor | None):  # type: ignore[override]
        plan: _Plan = ctx.plan
        grads = list(grad_outputs[: plan.formula.num_differentiable])
        if all(g is None for g in grads):
            return (None,) * 5
        if ctx.precomputed is not None:
            scale = _uniform_upstream(grads[0], plan.row_index)
            if scale is not None:
                return (*ctx.precomputed.results(scale), None)
        hidden, weight, bias, group_logp, outputs = ctx.saved_tensors
        # ZeRO-3 releases the head after the forward's gather; the recomputation needs it again (as in TRL's kernel)
        from trl.trainer.utils import maybe_gather_lm_head_ctx

        with maybe_gather_lm_head_ctx(weight, bias), torch.autocast(hidden.device.type, enabled=False):
            proj = _Projector(
                _head_with(plan.head, weight, bias), hidden, group_logp, ctx.compute, plan.workspace(hidden)
            )
            acc = _Gradients(proj, ctx.needs_input_grad[:4])
            upstream = [None if g is None else g.to(proj.acc) for g in grads]  # each [N]
            for rows, n in _tiles(hidden.shape[0], plan.row_index, plan.tile_rows):
                z, h, y_group = proj.project(rows, n)
                factor = proj.softcap_factor(z)
                tile = Tile(rows, z, workspace=proj.workspace)
                saved = outputs[:, rows].t()  # [n, C]
                dz = plan.formula.backward(tile, saved, [None if g is None else g[rows] for g in upstream])
                acc.add(dz, factor, rows, h, y_group)
        return (*acc.results(), None)


def _uniform_upstream(grad: Tensor, row_index: Tensor | None) -> Tensor | None:
    """The one value of ``grad [N]`` on the scored rows, or ``None`` when it varies (unscored rows output a constant
    0, so their upstream gradient does not matter)."""
    scored = grad if row_index is None else grad[row_index]
    if scored.numel() == 0:
        return grad.new_zeros(())
    value = scored[0]
    return value if bool((scored == value).all()) else None


def tiled_apply(
    formula: TileFormula,
    hidden: Tensor,
    head: TiledHead,
    *,
    tile_rows: int | None = None,
    row_index: Tensor | None = None,
    precompute: bool = False,
) -> tuple[list[Tensor], Tensor]:
    """Run ``formula`` over ``hidden [N, H]`` projected through ``head``, with gradients.

    Args:
        formula: the per-tile formula.
        hidden: ``[N, H]`` hidden rows.
        head: the projection.
        tile_rows: tokens per tile (default `rows_per_tile` of the vocabulary size).
        row_index: ``[S]`` long, the rows to score (default all); the other rows output 0 (constants: no gradient
            flows through them).
        precompute: fold the gradient of the sum of the single differentiable output during the forward (see the
            module docstring); exact for any upstream gradient (falls back to recomputing).

    Returns:
        ``(differentiable, detached)``: a list of ``num_differentiable`` ``[N]`` tensors and the detached
        ``[N, num_outputs - num_differentiable]`` outputs, float32 (float64 for float64 inputs).
    """
    if hidden.dim() != 2 or head.weight.dim() != 2 or hidden.shape[1] != head.weight.shape[1]:
        raise ValueError(
            f"`hidden` must be [N, H] and the head's weight [V, H], got {tuple(hidden.shape)} and "
            f"{tuple(head.weight.shape)}."
        )
    rows = tile_rows or rows_per_tile(head.vocab_size)
    if rows < 1:
        raise ValueError(f"`tile_rows` must be >= 1, got {tile_rows}.")
    if row_index is not None:
        row_index = row_index.to(device=hidden.device, dtype=torch.long)
    group_logp = None
    if head.group is not None:
        scored = hidden if row_index is None else hidden[row_index]
        group_logp = head.group.log_probs(scored)  # [S, m]
        if row_index is not None:  # laid out over all N rows (zeros elsewhere), differentiable
            group_logp = group_logp.new_zeros((hidden.shape[0], group_logp.shape[1])).index_copy(
                0, row_index, group_logp
            )
    plan = _Plan(head, formula, rows, row_index, precompute, torch.is_grad_enabled())
    *differentiable, detached = _TiledHeadFunction.apply(hidden, head.weight, head.bias, group_logp, plan)
    return differentiable, detached.t()


@torch.no_grad()
def tiled_forward(
    formula: TileFormula,
    hidden: Sequence[Tensor],
    heads: Sequence[TiledHead],
    *,
    tile_rows: int | None = None,
) -> Tensor:
    """Forward-only pass of ``formula`` over the same rows of one or several heads (e.g. a scoring and a reference
    model with the same vocabulary): each tile holds one ``[rows, V]`` logits tile per head, the first as
    ``tile.logits``, the others as ``tile.others``. Returns the ``[N, num_outputs]`` outputs."""
    if len(hidden) != len(heads) or not heads:
        raise ValueError("pass one hidden-state tensor per head (at least one).")
    n_tokens = hidden[0].shape[0]
    vocab = heads[0].vocab_size
    for h, head in zip(hidden, heads):
        if h.dim() != 2 or h.shape[0] != n_tokens or h.shape[1] != head.weight.shape[1]:
            raise ValueError(f"hidden rows {tuple(h.shape)} do not match {n_tokens} rows of the head's width.")
        if head.vocab_size != vocab:
            raise ValueError(f"the heads' vocabularies differ: {head.vocab_size} != {vocab}.")
    rows = tile_rows or rows_per_tile(vocab * len(heads))
    device = hidden[0].device
    workspace = _Workspace(max(1, min(n_tokens, rows)), device)
    projectors = []
    for i, (h, head) in enumerate(zip(hidden, heads)):
        group_logp = head.group.log_probs(h) if head.group is not None else None
        projectors.append(_Projector(head, h, group_logp, _compute_dtype(h), workspace, slot=str(i)))
    acc = projectors[0].acc
    outputs = torch.zeros((n_tokens, formula.num_outputs), device=device, dtype=acc)
    with torch.autocast(device.type, enabled=False):
        for sl, n in _tiles(n_tokens, None, rows):
            logits = [p.project(sl, n)[0] for p in projectors]
            tile = Tile(sl, logits[0], tuple(logits[1:]), workspace, out=outputs[sl])
            out = formula.forward(tile)
            if out is not tile.out:
                outputs[sl] = out
    return outputs


@dataclass(frozen=True)
class FusedHeadCall:
    """One call of TRL's fused LM-head kernel, as a kernel behind the seam receives it.

    Attributes:
        hidden: ``[N, H]`` hidden rows (graph-connected).
        head: the `TiledHead` to project through (the block's projection of TRL's weight, bias, scale, softcap).
        targets: ``[N]`` label ids (TRL clamps ignored labels to 0 when it scores every position).
        temperature: the logits are divided by it.
        outputs: TRL's requested outputs, among ``log_probs``, ``entropy``, ``log_sum_sq_probs``, ``mean_logits``,
            ``is_top1``.
        row_index: ``[S]`` long, the rows to score (``None``: all); TRL ignores the others, which may output 0.
    """

    hidden: Tensor
    head: TiledHead
    targets: Tensor
    temperature: float
    outputs: tuple[str, ...]
    row_index: Tensor | None = None


@dataclass(frozen=True)
class FusedHeadRecord:
    """What a kernel behind the seam recorded of one fused LM-head call (`TokenStatsRequest.calls`,
    `RankAwareRequest.calls`): the one record type every reader takes.

    Attributes:
        stats: ``{name: [N]}`` per-row statistics of the call's ``N`` rows (0 or NaN on the rows it did not score);
            the names are the kernel's (`~trl_explore.kernels.token_stats.TokenStats` fields, or the rank-aware
            kernel's `~trl_explore.kernels.rank_aware.STAT_NAMES`).
        n: ``N``, the rows TRL passed (every position, or only the labelled ones: see
            `~trl_explore.kernels.fused_head.label_row_index`).
        row_index: ``[S]`` long, the rows scored (``None``: all ``N``).
        temperature: the call's temperature (the logits were divided by it).
        hidden: ``[N, H]`` graph-connected hidden rows, kept only when asked (``keep_hidden``), else ``None``.
        head: the `TiledHead` the call projected through, kept with ``hidden`` (for
            `~trl_explore.kernels.fused_head.project_rows`), else ``None``.
    """

    stats: dict[str, Tensor]
    n: int
    row_index: Tensor | None = None
    temperature: float = 1.0
    hidden: Tensor | None = None
    head: TiledHead | None = None

    @property
    def num_scored(self) -> int:
        """How many of the ``N`` rows the kernel scored."""
        return self.n if self.row_index is None else int(self.row_index.numel())


class FusedHeadKernel(Protocol):
    """A kernel behind the seam: ``kernel(call) -> (log_probs, entropy, log_sum_sq_probs, mean_logits, is_top1)``,
    each ``[N]`` or ``None`` (TRL's fused-head contract: ``None`` unless ``call.outputs`` requests it)."""

    def __call__(self, call: FusedHeadCall) -> tuple[Tensor | None, ...]: ...
