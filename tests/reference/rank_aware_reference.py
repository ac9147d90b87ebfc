"""Slow, obviously-correct float64 reference for the rank-aware NTP loss (arXiv 2512.22955). One token at a time,
explicit V-sized set masks, the paper's formulas written out literally.
"""

from __future__ import annotations

import torch


def reference_sets(logits_row: torch.Tensor, label: int, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks ``S1 = K \\ {x}`` and ``S2 = V \\ (K ∪ {x})`` for one token, K = top-k of softmax(z)."""
    V = logits_row.shape[-1]
    p = torch.softmax(logits_row.double(), -1)
    k = min(top_k, V)
    in_k = torch.zeros(V, dtype=torch.bool)
    in_k[torch.argsort(p, descending=True)[:k]] = True
    is_x = torch.zeros(V, dtype=torch.bool)
    is_x[label] = True
    return in_k & ~is_x, ~in_k & ~is_x


def reference_weight(p_x: float, beta: float) -> float:
    """``w = p_x ** (1 - (1 - p_x) ** beta)`` with ``1 - p_x`` clamped at 1e-6 (the stability clamp,
    docs/methods/rank_aware.md)."""
    one_minus = max(1.0 - p_x, 1e-6)
    return p_x ** (1.0 - one_minus**beta)


def reference_surrogate(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    s1: torch.Tensor,
    s2: torch.Tensor,
    lambda_high: float,
    lambda_low: float,
    ignore_index: int = -100,
) -> torch.Tensor:
    """Per-token loss with the weights ``w`` [N] and sets ``s1``/``s2`` [N, V] held fixed (the paper's stop-gradient
    'sg').

    ``L = − w · log p_x − λ_high · Σ_{a∈S1} p_a − λ_low · Σ_{a∈S2} p_a``; differentiable in ``logits`` [N, V] only,
    so its autograd / finite-difference gradient is the paper's gradient.
    """
    out = []
    for i in range(logits.shape[0]):
        label = int(labels[i])
        if label == ignore_index:
            out.append(logits[i].sum() * 0.0)
            continue
        p = torch.softmax(logits[i].double(), -1)
        loss = -weights[i] * torch.log(p[label]) - lambda_high * p[s1[i]].sum() - lambda_low * p[s2[i]].sum()
        out.append(loss)
    return torch.stack(out)


def reference_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    beta: float = 0.0,
    top_k: int = 100,
    lambda_high: float = 0.0,
    lambda_low: float = 0.0,
    ignore_index: int = -100,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token loss [...] (differentiable, float64) and the frozen quantities (w [N], s1/s2 [N, V]) it used."""
    shape = labels.shape
    z = logits.reshape(-1, logits.shape[-1]).double()
    y = labels.reshape(-1)
    N, V = z.shape
    weights = torch.zeros(N, dtype=torch.float64)
    s1 = torch.zeros(N, V, dtype=torch.bool)
    s2 = torch.zeros(N, V, dtype=torch.bool)
    for i in range(N):
        label = int(y[i])
        if label == ignore_index:
            continue
        s1[i], s2[i] = reference_sets(z[i].detach(), label, top_k)
        p_x = float(torch.softmax(z[i].detach(), -1)[label])
        weights[i] = reference_weight(p_x, beta)
    loss = reference_surrogate(z, y, weights, s1, s2, lambda_high, lambda_low, ignore_index)
    return loss.view(shape), {"w": weights, "s1": s1, "s2": s2}


def reference_grad(
    logits: torch.Tensor,
    labels: torch.Tensor,
    beta: float = 0.0,
    top_k: int = 100,
    lambda_high: float = 0.0,
    lambda_low: float = 0.0,
    ignore_index: int = -100,
) -> torch.Tensor:
    """Closed-form gradient of each token's loss w.r.t. its logits, the paper's formula literally:

    ``dL/dz = −w (e_x − p) − λ_high · p ⊙ (1_{S1} − P_{S1}) − λ_low · p ⊙ (1_{S2} − P_{S2})`` ([..., V], float64).
    """
    z = logits.reshape(-1, logits.shape[-1]).double()
    y = labels.reshape(-1)
    grads = torch.zeros_like(z)
    for i in range(z.shape[0]):
        label = int(y[i])
        if label == ignore_index:
            continue
        p = torch.softmax(z[i], -1)
        s1, s2 = reference_sets(z[i], label, top_k)
        w = reference_weight(float(p[label]), beta)
        e_x = torch.zeros_like(p)
        e_x[label] = 1.0
        grads[i] = (
            -w * (e_x - p)
            - lambda_high * p * (s1.double() - p[s1].sum())
            - lambda_low * p * (s2.double() - p[s2].sum())
        )
    return grads.view(logits.shape)


def reference_stats(logits: torch.Tensor, labels: torch.Tensor, beta: float, top_k: int, ignore_index: int = -100):
    """Per-token entropy, P(tail), P(K \\ {x}) and w (0 at ignored positions), float64."""
    z = logits.reshape(-1, logits.shape[-1]).double()
    y = labels.reshape(-1)
    out = {name: torch.zeros(z.shape[0], dtype=torch.float64) for name in ("entropy", "p_tail", "p_topk_neg", "w")}
    for i in range(z.shape[0]):
        label = int(y[i])
        if label == ignore_index:
            continue
        p = torch.softmax(z[i], -1)
        s1, s2 = reference_sets(z[i], label, top_k)
        out["entropy"][i] = -(p * torch.log(p)).sum()
        out["p_tail"][i] = p[s2].sum()
        out["p_topk_neg"][i] = p[s1].sum()
        out["w"][i] = reference_weight(float(p[label]), beta)
    return {k: v.view(labels.shape) for k, v in out.items()}
