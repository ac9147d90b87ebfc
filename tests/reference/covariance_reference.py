"""Slow, obviously-correct float64 references of Clip-Cov / KL-Cov (Cui et al., arXiv 2505.22617, Sec. 4, as
used by SPEAR, arXiv 2509.22601): plain Python loops over the valid tokens, no vectorisation."""

from __future__ import annotations

import math


def reference_covariance(advantages: list[list[float]], logps: list[list[float]], mask: list[list[int]]):
    """cov[b][t] = (A - mean A)(logp - mean logp) over valid tokens (0 elsewhere); advantages per token or per row."""
    valid = [(b, t) for b in range(len(mask)) for t in range(len(mask[b])) if mask[b][t]]

    def adv(b: int, t: int) -> float:
        row = advantages[b]
        return float(row[0] if len(row) == 1 else row[t])

    n = len(valid)
    mean_a = sum(adv(b, t) for b, t in valid) / n if n else 0.0
    mean_l = sum(float(logps[b][t]) for b, t in valid) / n if n else 0.0
    cov = [[0.0] * len(mask[b]) for b in range(len(mask))]
    for b, t in valid:
        cov[b][t] = (adv(b, t) - mean_a) * (float(logps[b][t]) - mean_l)
    return cov


def reference_kl_cov_loss(
    advantages, logps, old_logps, mask, ratio: float, coef: float
) -> tuple[float, list[tuple[int, int]]]:
    """Σ over the top-k covariance tokens of coef·|logp - old_logp| (k = max(1, ⌊ratio·N⌋)), and the selection."""
    cov = reference_covariance(advantages, logps, mask)
    valid = [(b, t) for b in range(len(mask)) for t in range(len(mask[b])) if mask[b][t]]
    k = max(1, math.floor(ratio * len(valid))) if ratio > 0 and valid else 0
    flat_order = sorted(valid, key=lambda bt: (-cov[bt[0]][bt[1]], bt[0] * len(mask[0]) + bt[1]))
    chosen = flat_order[:k]
    return sum(coef * abs(float(logps[b][t]) - float(old_logps[b][t])) for b, t in chosen), chosen
