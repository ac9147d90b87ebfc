"""Fused LM head + rank-aware NTP loss (arXiv 2512.22955) with its closed-form gradient.

The loss needs whole vocabulary rows (its head set K is the top-k of each token's distribution), so the projection
``hidden @ weight.T`` is computed in tiles of ``n`` tokens × all ``V`` columns, with ``n · V`` bounded by TRL's own
tile budget (``4096 × 32768`` floats, ``trl.kernels.chunked_logprob``). Each tile is turned into the loss, the
statistics and — fused-linear-cross-entropy style — the gradient w.r.t. the logits, which is immediately folded into
fp32 accumulators for the gradients w.r.t. the hidden states ``[N, d]``, the LM head weight ``[V, d]`` and bias ``[V]``.
The backward only scales them by the incoming scalar gradient. Nothing of size ``[N, V]`` is ever held: peak memory is
two tiles plus the gradient accumulators, independent of the number of tokens.

Gradient w.r.t. the (transformed) logits of one token, with p = softmax(z), a = λ_high, b = λ_low (spec, expanded so
that only the k head entries and the label need sparse updates)::

    dL/dz = c · p + (b − a) · p ⊙ 1_K + e_x · (−w + p_x · (a if x ∈ K else b))
    c = w + a · P(K \\ {x}) + b · P(tail) − b

which equals ``−w (e_x − p) − a p ⊙ (1_{S1} − P_{S1}) − b p ⊙ (1_{S2} − P_{S2})``. Logit scaling and soft-capping
follow TRL's fused head: ``z = cap · tanh(scale · (h W^T + b) / cap)``, so ``dz/dy = scale · (1 − (z / cap)^2)``.
"""

from __future__ import annotations

import math

import torch
from packaging.version import Version

from ..functional.rank_aware import rank_aware_log_weight

__all__ = ["TILE_BUDGET", "RankAwareLinearLossFunction", "fused_rank_aware_loss"]

# Floats per logits tile: TRL's `TOKEN_CHUNK_SIZE` (4096) × its vocabulary chunk `_CHUNKED_LOGPROB_CHUNK_SIZE` (32768)
TILE_BUDGET = 4096 * 32768
# Order of the per-token statistics returned next to the loss
STAT_NAMES = ("loss", "entropy", "p_tail", "p_topk_neg", "w", "is_top1")
_LOW_PRECISION = (torch.float16, torch.bfloat16)
# Vocabulary rows of the head upcast at a time for the fp32 gradient GEMM (TRL's `_CHUNKED_LOGPROB_CHUNK_SIZE`)
_VOCAB_CHUNK = 32768
_MM_OUT_DTYPE = Version(torch.__version__.split("+")[0]) >= Version("2.8.0")


def _mm_out_dtype_supported(device: torch.device, dtype: torch.dtype) -> bool:
    # `torch.addmm(..., out_dtype=torch.float32)` from bf16/fp16 inputs exists on CUDA only (torch >= 2.8)
    return device.type == "cuda" and dtype in _LOW_PRECISION and _MM_OUT_DTYPE


def _addmm_fp32(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``acc += a @ b`` into the fp32 ``acc`` without rounding the product to the inputs' precision."""
    if a.dtype == b.dtype and _mm_out_dtype_supported(acc.device, a.dtype):
        torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
    else:
        acc.addmm_(a.to(acc.dtype), b.to(acc.dtype))


class RankAwareLinearLossFunction(torch.autograd.Function):
    """Sum over tokens of the rank-aware loss of ``hidden @ weight.T (+ bias)``, and detached per-token statistics.

    ``forward(hidden [N, d], weight [V, d], bias [V] | None, labels [N], beta, top_k, lambda_high, lambda_low,
    ignore_index, logit_scale, softcap, tile_budget, grad_enabled) -> (loss_sum [], stats [N, 6])`` with ``stats`` columns
    ``STAT_NAMES`` (loss, entropy, p_tail, p_topk_neg, w, is_top1), 0 on ignored tokens. The gradients are computed in
    the forward (only for the inputs that require them) and scaled by the incoming gradient in the backward.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        labels: torch.Tensor,
        beta: float,
        top_k: int,
        lambda_high: float,
        lambda_low: float,
        ignore_index: int,
        logit_scale: float,
        softcap: float | None,
        tile_budget: int,
        grad_enabled: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        device = hidden.device
        compute_dtype = (
            torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else hidden.dtype
        )
        if compute_dtype == torch.float64:
            acc_dtype = torch.float64
        else:
            acc_dtype = torch.float32
        # `needs_input_grad` ignores `torch.no_grad()`, so the caller passes the grad mode it ran under
        need_h, need_w, need_b = (grad_enabled and needed for needed in ctx.needs_input_grad[:3])
        need_grad = need_h or need_w or (need_b and bias is not None)
        N, V = hidden.shape[0], weight.shape[0]
        k = min(top_k, V)
        a, b = float(lambda_high), float(lambda_low)
        n_tile = max(1, min(N, tile_budget // V)) if N > 0 else 1

        stats = torch.zeros((N, len(STAT_NAMES)), device=device, dtype=acc_dtype)
        grad_hidden = torch.zeros(hidden.shape, device=device, dtype=acc_dtype) if need_h else None
        grad_weight = torch.zeros(weight.shape, device=device, dtype=acc_dtype) if need_w else None
        grad_bias = torch.zeros(bias.shape, device=device, dtype=acc_dtype) if (need_b and bias is not None) else None

        with torch.autocast(device.type, enabled=False):
            w_c = weight.to(compute_dtype)  # [V, d]
            # Low-precision gradient GEMMs with fp32 output where they exist (CUDA); elsewhere they run in fp32 on
            # vocabulary chunks of the head upcast one at a time (never a whole fp32 copy of the head)
            mixed_gemm = _mm_out_dtype_supported(device, compute_dtype)
            b_c = bias.to(acc_dtype) if bias is not None else None
            z_buf = torch.empty((n_tile, V), device=device, dtype=acc_dtype)  # logits tile
            p_buf = torch.empty((n_tile, V), device=device, dtype=acc_dtype)  # exponentials, then gradient tile
            low_buf = (
                torch.empty((n_tile, V), device=device, dtype=compute_dtype) if compute_dtype != acc_dtype else None
            )

            for t0 in range(0, N, n_tile):
                t1 = min(t0 + n_tile, N)
                n = t1 - t0
                h = hidden[t0:t1].to(compute_dtype)  # [n, d]
                y = labels[t0:t1]  # [n]
                valid = y != ignore_index  # [n]
                safe = torch.where(valid, y, torch.zeros_like(y))
                z = z_buf[:n]  # [n, V]
                if low_buf is None:
                    torch.mm(h, w_c.t(), out=z)
                else:
                    # Logits rounded to the compute precision like TRL's fused head, then handled in fp32
                    torch.mm(h, w_c.t(), out=low_buf[:n])
                    z.copy_(low_buf[:n])
                if b_c is not None:
                    z.add_(b_c)
                if logit_scale != 1.0:
                    z.mul_(logit_scale)
                if softcap is not None:
                    z.div_(softcap).tanh_().mul_(softcap)

                z_max, argmax = z.max(-1)  # [n], [n]; first maximum, like TRL's `is_top1`
                z_x = z.gather(1, safe.unsqueeze(1)).squeeze(1)  # [n]
                top_vals, top_idx = z.topk(k, dim=-1, sorted=False)  # [n, k]: K, membership constant
                e = p_buf[:n]  # exp(z − max), i.e. softmax(z) · sum_exp; never normalised in place (one pass less)
                torch.sub(z, z_max.unsqueeze(1), out=e).exp_()  # [n, V]
                sum_exp = e.sum(-1)  # [n]
                log_z = z_max + sum_exp.log()  # [n]
                # entropy = log Z − Σ p z, the dot product without an [n, V] temporary
                entropy = log_z - torch.bmm(e.unsqueeze(1), z.unsqueeze(2)).view(n) / sum_exp
                log_p_x = z_x - log_z  # [n]
                p_x = log_p_x.exp()
                p_k = (top_vals - log_z.unsqueeze(1)).exp()  # [n, k]
                # K = V: the mass is exactly 1 and the tail exactly empty
                topk_mass = p_k.sum(-1) if k < V else torch.ones_like(log_z)  # [n]
                x_in_k = (top_idx == safe.unsqueeze(1)).any(-1)  # [n]
                zero = torch.zeros_like(p_x)
                p_topk_neg = topk_mass - torch.where(x_in_k, p_x, zero)  # P(K \ {x})
                p_tail = 1.0 - topk_mass - torch.where(x_in_k, zero, p_x)  # P(V \ (K ∪ {x}))
                w = rank_aware_log_weight(log_p_x, beta).exp()
                loss = -w * log_p_x - a * p_topk_neg - b * p_tail
                vf = valid.to(acc_dtype)
                stats[t0:t1] = torch.stack(
                    (
                        loss,
                        entropy,
                        p_tail.clamp(min=0.0),
                        p_topk_neg.clamp(min=0.0),
                        w,
                        (argmax == safe).to(acc_dtype),
                    ),
                    dim=1,
                ) * vf.unsqueeze(1)

                if not need_grad:
                    continue
                # dL/dz, times the per-token upstream weight (1 for a valid token, 0 for an ignored one) and the scale
                g = vf * logit_scale  # [n]
                c = w + a * p_topk_neg + b * p_tail - b  # [n]
                p = e.mul_((c * g / sum_exp).unsqueeze(1))  # c · p, in place over the exponentials
                if a != b:
                    p.scatter_add_(1, top_idx, ((b - a) * g).unsqueeze(1) * p_k)
                x_coef = -w + p_x * torch.where(x_in_k, torch.full_like(p_x, a), torch.full_like(p_x, b))
                p.scatter_add_(1, safe.unsqueeze(1), (x_coef * g).unsqueeze(1))
                if softcap is not None:
                    p.mul_(z.div_(softcap).square_().neg_().add_(1.0))  # dz/dy = 1 − tanh²
                grad_tile = p.to(compute_dtype) if mixed_gemm else p  # [n, V]
                if grad_hidden is not None:
                    if mixed_gemm or w_c.dtype == acc_dtype:
                        _addmm_fp32(grad_hidden[t0:t1], grad_tile, w_c)
                    else:
                        for c0 in range(0, V, _VOCAB_CHUNK):
                            _addmm_fp32(
                                grad_hidden[t0:t1], grad_tile[:, c0 : c0 + _VOCAB_CHUNK], w_c[c0 : c0 + _VOCAB_CHUNK]
                            )
                if grad_weight is not None:
                    _addmm_fp32(grad_weight, grad_tile.t(), h)
                if grad_bias is not None:
                    grad_bias += p.sum(0)

        loss_sum = stats[:, 0].sum()
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        ctx.mark_non_differentiable(stats)
        return loss_sum, stats

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor | None, grad_stats: torch.Tensor | None):  # type: ignore[override]
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        h_dtype, w_dtype, b_dtype = ctx.dtypes
        if grad_loss is None:
            return (None,) * 13

        def scaled(grad: torch.Tensor | None, dtype: torch.dtype | None) -> torch.Tensor | None:
            return None if grad is None else (grad * grad_loss.to(grad.dtype)).to(dtype)

        return (
            scaled(grad_hidden, h_dtype),
            scaled(grad_weight, w_dtype),
            scaled(grad_bias, b_dtype),
            *(None,) * 10,
        )


def fused_rank_aware_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    bias: torch.Tensor | None = None,
    beta: float = 0.0,
    top_k: int = 100,
    lambda_high: float = 0.0,
    lambda_low: float = 0.0,
    ignore_index: int = -100,
    logit_scale: float = 1.0,
    final_logit_softcapping: float | None = None,
    tile_budget: int = TILE_BUDGET,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Summed rank-aware loss of the LM head applied to ``hidden``, without materialising ``[tokens, V]`` logits.

    Equivalent to ``rank_aware_token_loss(transform(hidden @ weight.T + bias), labels, ...).sum()`` with
    ``transform(y) = cap · tanh(logit_scale · y / cap)`` (or ``logit_scale · y`` without soft-capping), the same
    transform TRL's fused LM head applies. Divide the result by the number of tokens (or ``num_items_in_batch``).

    Args:
        hidden (`torch.Tensor` of shape `[..., d]`): final hidden states aligned with `labels` (already shifted).
        weight (`torch.Tensor` of shape `[V, d]`): LM head weight (the embedding matrix with tied embeddings).
        labels (`torch.Tensor` of shape `[...]`): label ids, `ignore_index` where skipped.
        bias (`torch.Tensor` of shape `[V]`, *optional*): LM head bias.
        beta (`float`, *optional*, defaults to `0.0`): β of the ground-truth weight.
        top_k (`int`, *optional*, defaults to `100`): size of the head set K (clipped to V).
        lambda_high (`float`, *optional*, defaults to `0.0`): reward of the negatives in K \\ {x}.
        lambda_low (`float`, *optional*, defaults to `0.0`): reward of the tail negatives.
        ignore_index (`int`, *optional*, defaults to `-100`): skipped label value.
        logit_scale (`float`, *optional*, defaults to `1.0`): multiplier applied to the logits before soft-capping.
        final_logit_softcapping (`float`, *optional*): soft-capping value (Gemma-style), `None` for none.
        tile_budget (`int`, *optional*, defaults to `4096 * 32768`): floats per logits tile (tokens per tile is
            `tile_budget // V`, at least 1).

    Returns:
        `tuple[torch.Tensor, dict[str, torch.Tensor]]`: the summed loss (fp32 scalar, differentiable w.r.t. `hidden`,
        `weight` and `bias`) and detached per-token statistics of shape `[...]` (0 at ignored positions): `"loss"`,
        `"entropy"`, `"p_tail"`, `"p_topk_neg"`, `"w"`, `"is_top1"` (bool) and `"mask"` (bool).
    """
    if top_k < 1:
        raise ValueError(f"`top_k` must be >= 1, got {top_k}.")
    if final_logit_softcapping is not None and not (
        final_logit_softcapping > 0 and math.isfinite(final_logit_softcapping)
    ):
        raise ValueError(f"`final_logit_softcapping` must be a positive number or None, got {final_logit_softcapping}.")
    shape = labels.shape
    if hidden.shape[:-1] != shape:
        raise ValueError(f"`hidden` {tuple(hidden.shape)} must be `labels` {tuple(shape)} plus a hidden dim.")
    flat_hidden = hidden.reshape(-1, hidden.shape[-1])
    flat_labels = labels.reshape(-1)
    loss_sum, stats = RankAwareLinearLossFunction.apply(
        flat_hidden,
        weight,
        bias,
        flat_labels,
        float(beta),
        int(top_k),
        float(lambda_high),
        float(lambda_low),
        int(ignore_index),
        float(logit_scale),
        None if final_logit_softcapping is None else float(final_logit_softcapping),
        int(tile_budget),
        torch.is_grad_enabled(),
    )
    out = {name: stats[:, i].view(shape) for i, name in enumerate(STAT_NAMES)}
    out["is_top1"] = out["is_top1"] > 0.5
    out["mask"] = flat_labels.view(shape) != ignore_index
    return loss_sum, out
