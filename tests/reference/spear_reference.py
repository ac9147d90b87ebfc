"""Slow, obviously-correct float64 reference of the loss of a generation batch with replayed rows mixed in (Qin et al.,
arXiv 2509.22601, Sec. 3: J = J_GRPO(on-policy) + γ(t) J_SIL(replay), both PPO's clipped surrogate, replay with its
stored behaviour log-probs). Plain loops over rows and tokens."""

from __future__ import annotations

import math

import torch


def reference_mixed_loss(
    logps: torch.Tensor,
    behaviour: list[list[float] | None],
    advantages: list[float],
    mask: list[list[int]],
    weights: list[float],
    eps_low: float,
    eps_high: float,
    loss_type: str,
) -> torch.Tensor:
    """Loss of one micro-batch (no gradient accumulation, no KL).

    Args:
        logps: ``[B, T]`` float64 current log-probs (with grad).
        behaviour: per row, the behaviour log-probs, or ``None`` for on-policy rows (then the detached current ones).
        advantages: per row.
        mask: per row and token, 1 for loss tokens.
        weights: per row, the weight of its policy loss (1 on-policy, γ(t) replayed).
        eps_low, eps_high: clip half-widths.
        loss_type: ``"bnpo"`` (token mean over the micro-batch) or ``"grpo"`` (mean over rows of the token mean).
    """
    rows = []
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    for b in range(logps.shape[0]):
        row_sum = torch.zeros((), dtype=torch.float64)
        row_count = 0
        for t in range(logps.shape[1]):
            if not mask[b][t]:
                continue
            old = logps[b, t].detach() if behaviour[b] is None else torch.tensor(behaviour[b][t], dtype=torch.float64)
            ratio = torch.exp(logps[b, t] - old)
            a = advantages[b]
            clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
            loss = -torch.minimum(ratio * a, clipped * a) * weights[b]
            row_sum = row_sum + loss
            row_count += 1
        rows.append(row_sum / max(row_count, 1))
        total = total + row_sum
        count += row_count
    if loss_type == "bnpo":
        return total / max(count, 1)
    if loss_type == "grpo":
        return sum(rows) / len(rows)
    raise ValueError(loss_type)


def reference_p50(values: list[float]) -> float:
    """Median: the middle value, or the mean of the two middle values."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return math.nan
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
