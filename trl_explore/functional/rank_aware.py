"""Rank-aware next-token prediction loss ("Diversity or Precision? A Deep Dive into Next Token Prediction",
arXiv 2512.22955).

Cross-entropy is a one-step policy gradient whose reward is ``sg(1 / π(x))`` on the ground-truth token ``x`` and 0
elsewhere. The paper reshapes that reward:

- ground truth:  r_pos = sg( (1 / π(x)) ^ ((1 − π(x)) ^ β) )      β = 0 → CE, β < 0 precision, β > 0 diversity
- negatives:     r_neg(a) = λ_high for a ∈ K \\ {x},  λ_low for a ∉ K ∪ {x}   (K = top-k of the detached π)

The per-token loss whose gradient is that policy gradient (p = softmax(z)):

    L = − sg(w) · log p_x − λ_high · P(K \\ {x}) − λ_low · P(tail)
    w = p_x ^ (1 − (1 − p_x) ^ β),    log w = (1 − exp(β · log(−expm1(log p_x)))) · log p_x
    P(K \\ {x}) = Σ_{a ∈ K} p_a − p_x · 1[x ∈ K]
    P(tail)    = 1 − Σ_{a ∈ K} p_a − p_x · 1[x ∉ K]

``w`` and the membership of ``K`` are constants (no gradient flows through them). The masses are built from the ``k``
top log-probabilities and the label's log-probability, so no ``V``-sized mask is formed. With
``(β, λ_high, λ_low) = (0, 0, 0)``, ``w = 1`` and ``L = − log p_x``: exactly cross-entropy.

These functions take full logits ``[..., V]``; the memory-bounded path from hidden states and the LM head is
:func:`trl_explore.kernels.rank_aware.fused_rank_aware_loss`.
"""

from __future__ import annotations

import torch

from .._validation import check_int, check_number

__all__ = ["rank_aware_log_weight", "rank_aware_token_loss", "rank_aware_token_stats"]

# `1 − p_x` is clamped to at least this before `log1p`, so `β < 0` never raises 0 to a negative power
_ONE_MINUS_P_MIN = 1e-6


def rank_aware_log_weight(log_p_x: torch.Tensor, beta: float) -> torch.Tensor:
    """Log of the ground-truth weight ``w = p_x^(1 − (1 − p_x)^β)`` (paper eq. for r_pos times π(x)), no gradient.

    ``log w = (1 − exp(β · log(1 − p_x))) · log p_x`` with ``1 − p_x = −expm1(log p_x)`` computed from the
    log-probability (not as ``1 − exp(log p_x)``, whose rounding of ``p_x`` near 1 costs up to 6e-2 in ``w`` at
    ``β = −1`` in float32) and clamped to ``≥ 1e-6``, in the input's precision (use float32 or float64). ``β = 0``
    gives exactly ``log w = 0``.

    Args:
        log_p_x (`torch.Tensor` of any shape): log-probability of the label.
        beta (`float`): the paper's β.

    Returns:
        `torch.Tensor`, same shape as `log_p_x`, detached.
    """
    log_p_x = log_p_x.detach()
    if beta == 0.0:
        return torch.zeros_like(log_p_x)
    one_minus = (-torch.expm1(log_p_x)).clamp(min=_ONE_MINUS_P_MIN)  # 1 − p_x, exact near p_x = 1
    return (1.0 - torch.exp(beta * torch.log(one_minus))) * log_p_x


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _masses(
    log_probs: torch.Tensor, safe_labels: torch.Tensor, top_k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    # log_probs [N, V], safe_labels [N] -> log_p_x [N], top-k mass [N], x in K [N] (bool), top-k indices [N, k]
    k = min(top_k, log_probs.shape[-1])
    topk_idx = log_probs.detach().topk(k, dim=-1, sorted=False).indices  # [N, k], constant
    if k >= log_probs.shape[-1]:
        # K is the whole vocabulary: its mass is exactly 1 (and constant), so the tail is exactly empty
        topk_mass = torch.ones_like(log_probs[:, 0])
    else:
        topk_mass = log_probs.gather(-1, topk_idx).exp().sum(-1)  # [N], Σ_{a∈K} p_a (differentiable)
    log_p_x = log_probs.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)  # [N]
    x_in_k = (topk_idx == safe_labels.unsqueeze(-1)).any(-1)  # [N]
    return log_p_x, topk_mass, x_in_k, topk_idx


def _check_knobs(beta: float, top_k: int, lambda_high: float = 0.0, lambda_low: float = 0.0) -> None:
    check_int(None, "top_k", value=top_k, low=1)
    check_number(None, "beta", value=beta)
    check_number(None, "lambda_high", value=lambda_high)
    check_number(None, "lambda_low", value=lambda_low)


def rank_aware_token_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    beta: float = 0.0,
    top_k: int = 100,
    lambda_high: float = 0.0,
    lambda_low: float = 0.0,
    ignore_index: int = -100,
) -> torch.Tensor:
    """Per-token rank-aware loss (arXiv 2512.22955, the policy-gradient reward r_pos / r_neg written as a loss).

    ``L = − sg(w) · log p_x − λ_high · P(K \\ {x}) − λ_low · P(tail)``, ``w = p_x^(1 − (1 − p_x)^β)``,
    ``K`` = top-``k`` tokens of the detached ``p = softmax(z)``; see the module docstring for the masses.

    The gradient w.r.t. the logits is ``−w (e_x − p) − λ_high p ⊙ (1_{S1} − P_{S1}) − λ_low p ⊙ (1_{S2} − P_{S2})``
    with ``S1 = K \\ {x}``, ``S2 = V \\ (K ∪ {x})``. Computed in float32 (float64 for float64 logits).

    Args:
        logits (`torch.Tensor` of shape `[..., V]`, e.g. `[B, T, V]`): next-token logits, already aligned with `labels`
            (shift them before calling for causal LM).
        labels (`torch.Tensor` of shape `[...]`, e.g. `[B, T]`): label ids, `ignore_index` where no loss is taken.
        beta (`float`, *optional*, defaults to `0.0`): β of the ground-truth reward; < 0 precision, > 0 diversity.
        top_k (`int`, *optional*, defaults to `100`): size of the head set K (clipped to V).
        lambda_high (`float`, *optional*, defaults to `0.0`): reward of the negatives in K \\ {x}.
        lambda_low (`float`, *optional*, defaults to `0.0`): reward of the tail negatives V \\ (K ∪ {x}).
        ignore_index (`int`, *optional*, defaults to `-100`): label value that is skipped.

    Returns:
        `torch.Tensor` of shape `[...]` (float32, or float64 for float64 logits): the loss of each token, `0` at ignored
        positions. Reduce it like cross-entropy: sum over the batch divided by the number of non-ignored tokens (or
        `num_items_in_batch`).
    """
    _check_knobs(beta, top_k, lambda_high, lambda_low)
    shape = labels.shape
    if logits.shape[:-1] != shape:
        raise ValueError(f"`logits` {tuple(logits.shape)} must be `labels` {tuple(shape)} plus a vocabulary dim.")
    z = logits.reshape(-1, logits.shape[-1]).to(_compute_dtype(logits.dtype))  # [N, V]
    flat_labels = labels.reshape(-1)  # [N]
    valid = flat_labels != ignore_index  # [N]
    safe_labels = torch.where(valid, flat_labels, torch.zeros_like(flat_labels))
    log_probs = torch.log_softmax(z, dim=-1)  # [N, V]
    log_p_x, topk_mass, x_in_k, _ = _masses(log_probs, safe_labels, top_k)
    loss = -rank_aware_log_weight(log_p_x, beta).exp() * log_p_x  # [N]
    if lambda_high != 0.0 or lambda_low != 0.0:
        p_x = log_p_x.exp()
        p_topk_neg = topk_mass - torch.where(x_in_k, p_x, torch.zeros_like(p_x))  # P(K \ {x})
        p_tail = 1.0 - topk_mass - torch.where(x_in_k, torch.zeros_like(p_x), p_x)  # P(V \ (K ∪ {x}))
        loss = loss - lambda_high * p_topk_neg - lambda_low * p_tail
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return loss.view(shape)


@torch.no_grad()
def rank_aware_token_stats(
    logits: torch.Tensor,
    labels: torch.Tensor,
    beta: float = 0.0,
    top_k: int = 100,
    ignore_index: int = -100,
) -> dict[str, torch.Tensor]:
    """Detached per-token statistics behind the ``rank_aware/*`` metrics.

    Args:
        logits (`torch.Tensor` of shape `[..., V]`): next-token logits aligned with `labels`.
        labels (`torch.Tensor` of shape `[...]`): label ids, `ignore_index` where skipped.
        beta (`float`, *optional*, defaults to `0.0`): β used for the weight `w`.
        top_k (`int`, *optional*, defaults to `100`): size of K.
        ignore_index (`int`, *optional*, defaults to `-100`): skipped label value.

    Returns:
        `dict[str, torch.Tensor]`, each of shape `[...]`, 0 at ignored positions:
        `"entropy"` (−Σ p log p), `"p_tail"` (P(V \\ (K ∪ {x}))), `"p_topk_neg"` (P(K \\ {x})), `"w"` (the weight
        `p_x^(1 − (1 − p_x)^β)`), `"is_top1"` (label is the first argmax, bool), and `"mask"` (label not ignored, bool).
    """
    _check_knobs(beta, top_k)
    shape = labels.shape
    z = logits.reshape(-1, logits.shape[-1]).to(_compute_dtype(logits.dtype))  # [N, V]
    flat_labels = labels.reshape(-1)
    valid = flat_labels != ignore_index
    safe_labels = torch.where(valid, flat_labels, torch.zeros_like(flat_labels))
    log_probs = torch.log_softmax(z, dim=-1)
    log_p_x, topk_mass, x_in_k, _ = _masses(log_probs, safe_labels, top_k)
    p_x = log_p_x.exp()
    zero = torch.zeros_like(p_x)
    stats = {
        "entropy": -(log_probs.exp() * log_probs).sum(-1),
        "p_tail": (1.0 - topk_mass - torch.where(x_in_k, zero, p_x)).clamp(min=0.0),
        "p_topk_neg": (topk_mass - torch.where(x_in_k, p_x, zero)).clamp(min=0.0),
        "w": rank_aware_log_weight(log_p_x, beta).exp(),
        "is_top1": z.argmax(-1) == safe_labels,
    }
    out = {name: torch.where(valid, value, torch.zeros_like(value)).view(shape) for name, value in stats.items()}
    out["mask"] = valid.view(shape)
    return out
