"""Slow, obviously-correct float64 reference of Lp-Reg, written from the paper (Huang et al., arXiv 2510.03222,
Sec. 3, Eq. 4-6) and the choices in ``docs/methods/lp_reg.md``, with full logits.

Everything is computed token by token from the full ``[B, T, V]`` logits with plain softmax, no tiling and no
vectorised tricks, so it can be read against the paper's equations line by line.
"""

from __future__ import annotations

import math

import torch


def proxy_row(logits_row: torch.Tensor, label: int, min_p: float, threshold: str, temperature: float):
    """The proxy distribution (Eq. 4-5) for one position: ``(proxy_logp, Z)`` as Python floats (detached)."""
    z = logits_row.detach().double()
    p1 = torch.softmax(z, dim=-1)  # temperature-1 probabilities decide the keep set
    if threshold == "min_p":
        keep = p1 >= min_p * p1.max()
    else:
        keep = p1 >= min_p
    p_t = torch.softmax(z / temperature, dim=-1)
    kept_mass = float(p_t[keep].sum())
    if not bool(keep[label]):
        return -math.inf, kept_mass
    return math.log(float(p_t[label]) / kept_mass), kept_mass


def full_forward_kl_row(logits_row: torch.Tensor, min_p: float, threshold: str, temperature: float) -> torch.Tensor:
    """KL(π_proxy ‖ π_θ) over the vocabulary, π_proxy from the detached row (differentiable through π_θ)."""
    z = logits_row.double()
    p1 = torch.softmax(z.detach(), dim=-1)
    keep = p1 >= (min_p * p1.max() if threshold == "min_p" else min_p)
    p_old = torch.softmax(z.detach() / temperature, dim=-1)
    p_proxy = torch.where(keep, p_old / p_old[keep].sum(), torch.zeros_like(p_old))
    logp_theta = torch.log_softmax(z / temperature, dim=-1)
    total = z.new_zeros(())
    for v in range(z.shape[-1]):
        if bool(keep[v]):
            total = total + p_proxy[v] * (torch.log(p_proxy[v]) - logp_theta[v])
    return total


def lp_reg_reference_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    advantages: torch.Tensor,
    normalizer: float,
    *,
    old_logps: torch.Tensor | None = None,
    proxy_logits: torch.Tensor | None = None,
    min_p: float = 0.02,
    threshold: str = "min_p",
    temperature: float = 1.0,
    rho: float = 0.01,
    beta: float = 1.0,
    scope: str = "micro_batch_negative",
    kl_estimator: str = "k3_sampled",
    require_below_proxy: bool = True,
    apply_to: str = "negative",
    epsilon_low: float = 1.0,
    epsilon_high: float = 9.0,
):
    """Token-sum of the Lp-Reg per-token loss divided by ``normalizer`` (TRL ``dapo`` aggregation).

    Args:
        logits: ``[B, T, V]`` raw logits of the current policy at the completion positions (with grad).
        labels: ``[B, T]`` sampled tokens. mask: ``[B, T]``. advantages: ``[B]``.
        old_logps: ``[B, T]`` old-policy log-probs (``None``: on-policy, ratio 1).
        proxy_logits: ``[B, T, V]`` logits the proxy is built from (``None``: the current logits, detached).

    Returns:
        ``(loss, info)`` with ``info`` holding ``selected`` (set of (b, t)), ``threshold`` (probability or None),
        ``kept_mass`` (list over valid tokens) and ``kl`` (dict (b, t) -> float).
    """
    B, T, _ = logits.shape
    logp = torch.log_softmax(logits.double() / temperature, dim=-1)
    src = logits if proxy_logits is None else proxy_logits
    token_logp = {}
    proxy = {}
    kept = {}
    for b in range(B):
        for t in range(T):
            if not bool(mask[b, t]):
                continue
            token_logp[(b, t)] = logp[b, t, int(labels[b, t])]
            proxy[(b, t)], kept[(b, t)] = proxy_row(src[b, t], int(labels[b, t]), min_p, threshold, temperature)

    def sign_ok(b: int) -> bool:
        return float(advantages[b]) < 0 if apply_to == "negative" else True

    # percentile population: the micro-batch's valid tokens of the allowed sign, or every valid token
    population = sorted(
        float(token_logp[(b, t)].detach()) for (b, t) in token_logp if scope == "batch_all" or sign_ok(b)
    )
    k = int(len(population) * rho)
    thr = population[k - 1] if k > 1 else None

    selected = set()
    candidates = set()
    if thr is not None:
        for (b, t), lp in token_logp.items():
            if sign_ok(b) and float(lp.detach()) <= thr:
                candidates.add((b, t))
                if proxy[(b, t)] > -math.inf and (not require_below_proxy or float(lp.detach()) < proxy[(b, t)]):
                    selected.add((b, t))

    total = logits.new_zeros((), dtype=torch.float64)
    kl_values = {}
    for (b, t), lp in token_logp.items():
        a = float(advantages[b])
        old = float(old_logps[b, t]) if old_logps is not None else float(lp.detach())
        ratio = torch.exp(lp - old)
        if (b, t) in selected:
            if kl_estimator == "k3_sampled":
                d = proxy[(b, t)] - lp
                kl = torch.exp(d) - d - 1
            else:
                kl = full_forward_kl_row(logits[b, t] / 1.0, min_p, threshold, temperature)
            kl = torch.clamp(kl, -10.0, 10.0)
            kl_values[(b, t)] = float(kl)
            total = total + (-a * ratio + beta * kl)
        else:
            clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
            total = total - torch.minimum(ratio * a, clipped * a)
    info = {
        "selected": selected,
        "candidates": candidates,
        "threshold": None if thr is None else math.exp(thr),
        "kept_mass": list(kept.values()),
        "kl": kl_values,
    }
    return total / normalizer, info
