"""Fused per-token statistics of an LM head without materialising ``[N, V]`` logits.

`TokenStatsFunction` projects ``hidden @ weight.T`` in **token tiles with full vocabulary rows**. Because every tile
holds whole rows, one pass yields, exactly, per token: the label log-probability (differentiable), the entropy
(differentiable), the row's max log-probability, its logsumexp and the Lp-Reg proxy statistics (kept mass ``Z`` and
proxy log-probability of the label, see `trl_explore.functional.lp_reg`), which depend on the row's global maximum and
so cannot be folded from vocabulary-split tiles in one pass. The token tile is sized so that a tile holds no more
floats than TRL 1.16's own tile (``4096 × 32768``): ``rows = 4096 · 32768 // V`` (V = 152k gives ~880 rows).

The backward recomputes each tile and turns it into the logits gradient in place (like TRL's
``ChunkedLogProbFunction``), accumulating the gradient GEMMs in float32.

`fused_token_stats` is a context manager that routes the fused LM head TRL installs on a model
(``trl.trainer.utils.add_fused_lm_head``) through this kernel for the duration of the block, and collects the extra
statistics, so a trainer gets them from the very forward that produces its training log-probabilities.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

# TRL 1.16's tile: 4096 tokens x 32768 vocabulary entries
TRL_TILE_FLOATS = 4096 * 32768

__all__ = [
    "TRL_TILE_FLOATS",
    "TokenStats",
    "TokenStatsFunction",
    "TokenStatsRequest",
    "fused_token_stats",
    "rows_per_tile",
    "token_stats",
]


def rows_per_tile(vocab_size: int, tile_floats: int = TRL_TILE_FLOATS) -> int:
    """Tokens per tile so that ``rows · V <= tile_floats`` (at least 1)."""
    return max(1, tile_floats // max(1, vocab_size))


def _transform_(z: torch.Tensor, logit_scale: float, softcap: float | None) -> torch.Tensor:
    """In place: ``z ← softcap · tanh(z · scale / softcap)`` (temperature-1 logits)."""
    if logit_scale != 1.0:
        z.mul_(logit_scale)
    if softcap is not None:
        z.div_(softcap).tanh_().mul_(softcap)
    return z


# `torch.addmm(..., out_dtype=torch.float32)` from bf16/fp16 inputs (CUDA, torch >= 2.8)
_MM_OUT_DTYPE = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 8)
# vocabulary rows converted at a time when the LM head's dtype differs from the compute dtype
_CAST_CHUNK = 32768


def _addmm_fp32(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``acc += a @ b`` into a float32 accumulator without rounding the product to the inputs' dtype."""
    if _MM_OUT_DTYPE and acc.device.type == "cuda" and a.dtype in (torch.float16, torch.bfloat16):
        torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
    else:
        acc.addmm_(a.float(), b.float())


def _project(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, out: torch.Tensor) -> None:
    """``out = h @ weight.T + bias`` in ``out.dtype``; a weight of another dtype is cast in vocabulary chunks so that no
    full-size copy of the LM head is made."""
    if weight.dtype == out.dtype:
        torch.mm(h, weight.t(), out=out)
    else:
        for start in range(0, weight.shape[0], _CAST_CHUNK):
            end = min(start + _CAST_CHUNK, weight.shape[0])
            out[:, start:end] = h @ weight[start:end].to(out.dtype).t()
    if bias is not None:
        out.add_(bias.to(out.dtype))


class TokenStatsFunction(torch.autograd.Function):
    """Label log-prob and entropy (with gradients) plus detached row statistics of ``hidden @ weight.T``.

    Inputs: ``hidden [N, H]``, ``weight [V, H]``, ``bias [V] | None``, ``targets [N]`` (long), ``temperature``,
    ``softcap | None``, ``logit_scale``, ``min_p | None`` (``None`` skips the proxy), ``threshold``
    (``"min_p" | "fixed"``), ``tile_rows | None``.

    Outputs (all ``[N]`` float32): ``logprobs``, ``entropy``, ``max_logp`` (log of the top probability), ``log_z``
    (logsumexp of the temperature-scaled logits), ``kept_mass``, ``proxy_logps`` (``-inf`` for filtered labels). Only the
    first two carry gradients.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        temperature: float = 1.0,
        softcap: float | None = None,
        logit_scale: float = 1.0,
        min_p: float | None = None,
        threshold: str = "min_p",
        tile_rows: int | None = None,
    ) -> tuple[torch.Tensor, ...]:
        ctx.set_materialize_grads(False)
        device = hidden.device
        n_tokens, vocab = hidden.shape[0], weight.shape[0]
        compute_dtype = (
            torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else hidden.dtype
        )
        rows = tile_rows or rows_per_tile(vocab)
        inv_t = 1.0 / temperature
        f32 = {"device": device, "dtype": torch.float32}
        logprobs = torch.empty(n_tokens, **f32)
        entropy = torch.empty(n_tokens, **f32)
        max_logp = torch.empty(n_tokens, **f32)
        log_z = torch.empty(n_tokens, **f32)
        kept_mass = torch.full((n_tokens,), math.nan, **f32)
        proxy = torch.full((n_tokens,), math.nan, **f32)
        log_kappa = math.log(min_p) if min_p is not None else 0.0
        buf = torch.empty((min(n_tokens, rows), vocab), device=device, dtype=compute_dtype)
        for start in range(0, n_tokens, rows):
            end = min(start + rows, n_tokens)
            tile = buf[: end - start]
            _project(hidden[start:end].to(compute_dtype), weight, bias, tile)
            z = tile if tile.dtype == torch.float32 else tile.float()  # [n, V], temperature-1 logits after transform
            _transform_(z, logit_scale, softcap)
            tgt = targets[start:end].unsqueeze(-1)
            m1 = z.amax(-1)  # [n]
            keep = None
            if min_p is not None:
                if threshold == "min_p":
                    keep = z >= (m1 + log_kappa).unsqueeze(-1)
                else:  # "fixed": π₁(v) >= τ  <=>  z_v >= log τ + logsumexp(z)
                    lse1 = torch.logsumexp(z, dim=-1)
                    keep = z >= (lse1 + log_kappa).unsqueeze(-1)
            if inv_t != 1.0:
                z.mul_(inv_t)
            m = m1 * inv_t  # the max commutes with a positive scale
            e = torch.sub(z, m.unsqueeze(-1)).exp_()  # [n, V]
            s = e.sum(-1)
            xs = torch.bmm(e.unsqueeze(1), z.unsqueeze(2)).view(-1)  # Σ e·z without an [n, V] temporary
            lz = m + torch.log(s)
            target_z = z.gather(-1, tgt).squeeze(-1)
            logprobs[start:end] = target_z - lz
            entropy[start:end] = lz - xs / s
            max_logp[start:end] = m - lz
            log_z[start:end] = lz
            if keep is not None:
                kept = e.masked_fill_(~keep, 0.0).sum(-1) / s  # Z = Σ_kept π_T
                kept_mass[start:end] = kept
                label_kept = keep.gather(-1, tgt).squeeze(-1)
                proxy[start:end] = torch.where(
                    label_kept, target_z - lz - torch.log(kept), torch.full_like(kept, -math.inf)
                )
            del e, z, keep
        ctx.save_for_backward(hidden, weight, bias, targets, log_z, entropy)
        ctx.cfg = (compute_dtype, rows, inv_t, softcap, logit_scale)
        ctx.mark_non_differentiable(max_logp, log_z, kept_mass, proxy)
        return logprobs, entropy, max_logp, log_z, kept_mass, proxy

    @staticmethod
    def backward(ctx: Any, grad_logprobs: torch.Tensor | None, grad_entropy: torch.Tensor | None, *_: Any):  # type: ignore[override]
        hidden, weight, bias, targets, log_z, entropy = ctx.saved_tensors
        if grad_logprobs is None and grad_entropy is None:
            return (None,) * 10
        # ZeRO-3 releases the head after the forward's gather; the recomputation needs it again (as in TRL's kernel)
        from trl.trainer.utils import maybe_gather_lm_head_ctx

        with maybe_gather_lm_head_ctx(weight, bias):
            grads = _token_stats_backward(
                hidden,
                weight,
                bias,
                targets,
                log_z,
                entropy,
                grad_logprobs,
                grad_entropy,
                ctx.cfg,
                ctx.needs_input_grad[:3],
            )
        return (*grads, *([None] * 7))


def _token_stats_backward(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    log_z: torch.Tensor,
    entropy: torch.Tensor,
    grad_logprobs: torch.Tensor | None,
    grad_entropy: torch.Tensor | None,
    cfg: tuple,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Gradients of `TokenStatsFunction` w.r.t. (hidden, weight, bias): each tile recomputed, turned into the logits
    gradient in place and folded into the GEMMs (float32 accumulation)."""
    compute_dtype, rows, inv_t, softcap, logit_scale = cfg
    need_h, need_w, need_b = needs
    n_tokens, vocab = hidden.shape[0], weight.shape[0]
    grad_hidden = torch.zeros(hidden.shape, device=hidden.device, dtype=torch.float32) if need_h else None
    grad_weight = torch.zeros(weight.shape, device=weight.device, dtype=torch.float32) if need_w else None
    grad_bias = torch.zeros(bias.shape, device=bias.device, dtype=torch.float32) if need_b else None
    buf = torch.empty((min(n_tokens, rows), vocab), device=hidden.device, dtype=compute_dtype)
    for start in range(0, n_tokens, rows):
        end = min(start + rows, n_tokens)
        h = hidden[start:end].to(compute_dtype)
        tile = buf[: end - start]
        _project(h, weight, bias, tile)
        y = tile if tile.dtype == torch.float32 else tile.float()
        if logit_scale != 1.0:
            y.mul_(logit_scale)
        t = None
        if softcap is not None:
            t = torch.tanh(y / softcap)
            y.copy_(t).mul_(softcap)
        # y ← log p = z·inv_t - log_z
        y.mul_(inv_t).sub_(log_z[start:end].unsqueeze(-1))
        p = torch.exp(y)
        if grad_entropy is not None:
            # d(entropy)/dz_j = -p_j (log p_j + H)
            y.add_(entropy[start:end].unsqueeze(-1)).mul_(p).mul_(-grad_entropy[start:end].float().unsqueeze(-1))
        else:
            y.zero_()
        if grad_logprobs is not None:
            # d(log p_target)/dz_j = 1[j = target] - p_j
            g = grad_logprobs[start:end].float().unsqueeze(-1)
            y.sub_(p.mul_(g))
            y.scatter_add_(-1, targets[start:end].unsqueeze(-1), g)
        del p
        if inv_t != 1.0:
            y.mul_(inv_t)
        if t is not None:
            y.mul_(1 - t * t)
        if logit_scale != 1.0:
            y.mul_(logit_scale)
        gz = y if y.dtype == compute_dtype else y.to(compute_dtype)
        for v0 in range(0, vocab, vocab if weight.dtype == compute_dtype else _CAST_CHUNK):
            v1 = min(v0 + (vocab if weight.dtype == compute_dtype else _CAST_CHUNK), vocab)
            if grad_hidden is not None:
                _addmm_fp32(grad_hidden[start:end], gz[:, v0:v1], weight[v0:v1].to(compute_dtype))
            if grad_weight is not None:
                _addmm_fp32(grad_weight[v0:v1], gz[:, v0:v1].t(), h)
        if grad_bias is not None:
            grad_bias += gz.sum(0, dtype=torch.float32)
    return (
        grad_hidden.to(hidden.dtype) if grad_hidden is not None else None,
        grad_weight.to(weight.dtype) if grad_weight is not None else None,
        grad_bias.to(bias.dtype) if grad_bias is not None else None,
    )


@dataclass
class TokenStats:
    """Per-token statistics, all ``[N]`` float32 (see `TokenStatsFunction`)."""

    logprobs: torch.Tensor
    entropy: torch.Tensor
    max_logp: torch.Tensor
    log_z: torch.Tensor
    kept_mass: torch.Tensor
    proxy_logps: torch.Tensor


def token_stats(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    logit_scale: float = 1.0,
    min_p: float | None = 0.02,
    threshold: str = "min_p",
    tile_rows: int | None = None,
) -> TokenStats:
    """Functional entry point of `TokenStatsFunction`.

    Args:
        hidden: ``[N, H]`` final hidden states.
        weight: ``[V, H]`` LM-head weight.
        targets: ``[N]`` label ids (must be valid indices; pass 0 for ignored positions and mask afterwards).
        bias: optional ``[V]`` LM-head bias.
        temperature: T > 0 (the logits are divided by it; the proxy keep set uses temperature 1).
        softcap: final-logit soft-capping ``c · tanh(z / c)`` of the model (``None``: none), as in TRL.
        logit_scale: multiplier of the logits applied first (``1.0``: none), as in TRL.
        min_p: κ / τ of the proxy; ``None`` skips the proxy (``kept_mass``/``proxy_logps`` are NaN).
        threshold: ``"min_p"`` or ``"fixed"``.
        tile_rows: tokens per tile (default: `rows_per_tile` of the vocabulary size).

    Returns:
        `TokenStats`.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    out = TokenStatsFunction.apply(
        hidden, weight, bias, targets, temperature, softcap, logit_scale, min_p, threshold, tile_rows
    )
    return TokenStats(*out)


# --------------------------------------------------------------------------------------------------------------------
# Routing TRL's fused LM head through the kernel
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class TokenStatsRequest:
    """What a `fused_token_stats` block asks for, and what it collected (one entry per fused LM-head call).

    Attributes:
        min_p, threshold: proxy parameters (``min_p=None`` skips the proxy).
        keep_hidden: keep the (graph-connected) hidden rows and head parameters, for full-vocabulary terms on a few
            selected rows later (``kl_estimator="forward_full"``).
        calls: per call, a dict with ``stats`` (`TokenStats`, flat ``[N]``), ``n`` and, with ``keep_hidden``,
            ``hidden``, ``weight``, ``bias``, ``temperature``, ``softcap``, ``logit_scale``.
    """

    min_p: float | None = 0.02
    threshold: str = "min_p"
    keep_hidden: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)


_ACTIVE: contextvars.ContextVar[TokenStatsRequest | None] = contextvars.ContextVar(
    "trl_explore_token_stats", default=None
)
_INSTALLED: dict[str, Any] = {}


class _DispatchingChunkedLogProb:
    """Stand-in for ``trl.trainer.utils._ChunkedLogProbFunction``: TRL's kernel unless a request is active."""

    @staticmethod
    def apply(
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        temperature: float,
        chunk_size: int,
        final_logit_softcapping: float | None = None,
        logit_scale: float = 1.0,
        outputs: tuple[str, ...] = ("log_probs",),
    ) -> tuple[torch.Tensor | None, ...]:
        request = _ACTIVE.get()
        original = _INSTALLED["original"]
        if request is None:
            return original.apply(
                hidden, weight, bias, targets, temperature, chunk_size, final_logit_softcapping, logit_scale, outputs
            )
        unsupported = set(outputs) - {"log_probs", "entropy"}
        if unsupported:
            raise ValueError(f"fused_token_stats cannot produce the fused-head outputs {sorted(unsupported)}.")
        stats = token_stats(
            hidden,
            weight,
            targets,
            bias,
            temperature=temperature,
            softcap=final_logit_softcapping,
            logit_scale=logit_scale,
            min_p=request.min_p,
            threshold=request.threshold,
        )
        call: dict[str, Any] = {"stats": stats, "n": hidden.shape[0]}
        if request.keep_hidden:
            call.update(
                hidden=hidden,
                weight=weight,
                bias=bias,
                temperature=temperature,
                softcap=final_logit_softcapping,
                logit_scale=logit_scale,
            )
        request.calls.append(call)
        entropy = stats.entropy if "entropy" in outputs else None
        return stats.logprobs, entropy, None, None, None


def _install() -> None:
    """Swap TRL's fused-head kernel symbol for the dispatcher (idempotent; delegates to TRL when no request)."""
    if _INSTALLED:
        return
    import trl.trainer.utils as trl_utils

    original = trl_utils._ChunkedLogProbFunction
    if original is _DispatchingChunkedLogProb:  # pragma: no cover - module reloaded
        return
    _INSTALLED["original"] = original
    trl_utils._ChunkedLogProbFunction = _DispatchingChunkedLogProb


@contextlib.contextmanager
def fused_token_stats(request: TokenStatsRequest) -> Iterator[TokenStatsRequest]:
    """Route every fused LM-head call (``model(..., fused_lm_head=True)``) in the block through `TokenStatsFunction`.

    The model keeps its one backbone forward; only the LM-head kernel changes, so the training log-probabilities, the
    entropy and the extra statistics come from the same pass. Outside the block TRL's kernel runs unchanged.
    """
    _install()
    token = _ACTIVE.set(request)
    try:
        yield request
    finally:
        _ACTIVE.reset(token)
