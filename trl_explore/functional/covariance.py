"""Covariance-based entropy control: Clip-Cov and KL-Cov (Cui et al., "The Entropy Mechanism of Reinforcement
Learning for Reasoning Language Models", arXiv 2505.22617, Sec. 4; used by SPEAR, arXiv 2509.22601).

Entropy collapse is driven by tokens whose log-probability and advantage move together. Per valid token ``t`` of a
micro-batch (``mask > 0``), with means over the valid tokens only::

    cov_t = (A_t - mean(A)) · (log π_θ(y_t) - mean(log π_θ))                         (Cui et al., Eq. 9)

* **Clip-Cov**: among the valid tokens that PPO has *not* already clipped and whose covariance lies strictly inside
  ``(lb, ub)``, pick ``k = max(1, ⌊ratio · N_valid⌋)`` uniformly at random (all of them when fewer are eligible) and
  cut their policy-gradient term (loss × 0).
* **KL-Cov**: the ``k = max(1, ⌊ratio · N_valid⌋)`` valid tokens with the largest covariance get the penalty
  ``coef · |log π_θ(y_t) - log π_old(y_t)|`` added to their loss.

``log π_θ`` enters the covariance detached (it only ranks tokens). Shapes: ``[B, T]`` per token; advantages may be
``[B, 1]`` (one per sequence, broadcast) or ``[B, T]``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["clip_cov_mask", "covariance_k", "kl_cov_penalty", "token_covariance"]


def _check_common(advantages: torch.Tensor, logps: torch.Tensor, mask: torch.Tensor) -> None:
    if logps.dim() != 2:
        raise ValueError(f"`logps` must be [B, T], got shape {tuple(logps.shape)}.")
    if mask.shape != logps.shape:
        raise ValueError(f"`mask` must have the shape of `logps` {tuple(logps.shape)}, got {tuple(mask.shape)}.")
    if advantages.dim() != 2 or advantages.size(0) != logps.size(0) or advantages.size(1) not in (1, logps.size(1)):
        raise ValueError(
            f"`advantages` must be [B, 1] or [B, T] with B, T = {tuple(logps.shape)}, got {tuple(advantages.shape)}."
        )


def _check_ratio(name: str, ratio: float) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not (math.isfinite(ratio) and 0 <= ratio < 1):
        raise ValueError(f"`{name}` must be a finite number in [0, 1), got {ratio!r}.")


def covariance_k(ratio: float, num_valid: int) -> int:
    """Tokens to select: ``max(1, ⌊ratio · N_valid⌋)``, and 0 when ``ratio == 0`` or there is no valid token."""
    _check_ratio("ratio", ratio)
    if ratio == 0 or num_valid <= 0:
        return 0
    return max(1, int(math.floor(ratio * num_valid)))


def token_covariance(advantages: torch.Tensor, logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token centred product ``cov_t = (A_t - Ā)·(logp_t - l̄)`` over the valid tokens (Cui et al., Eq. 9).

    Args:
        advantages: ``[B, 1]`` or ``[B, T]``.
        logps: ``[B, T]`` log-probabilities of the sampled tokens (detached here).
        mask: ``[B, T]``, valid tokens ``> 0``.

    Returns:
        ``[B, T]`` float32 covariance terms, 0 at invalid positions (means taken over valid tokens only).
    """
    _check_common(advantages, logps, mask)
    valid = mask > 0
    adv = advantages.detach().float().expand_as(logps)
    lp = logps.detach().float()
    n = valid.sum().clamp(min=1)
    adv_mean = (adv * valid).sum() / n
    lp_mean = (lp * valid).sum() / n
    cov = (adv - adv_mean) * (lp - lp_mean)
    return cov.masked_fill(~valid, 0.0)


def clip_cov_mask(
    advantages: torch.Tensor,
    logps: torch.Tensor,
    mask: torch.Tensor,
    clipped: torch.Tensor,
    ratio: float,
    lb: float,
    ub: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clip-Cov's token selection (Cui et al., Sec. 4.2): the tokens whose policy-gradient term is cut.

    Eligible: valid (``mask > 0``), not already clipped by PPO (``clipped`` False) and ``lb < cov_t < ub``. Selected:
    ``k = max(1, ⌊ratio · N_valid⌋)`` eligible tokens drawn uniformly without replacement (all of them when fewer than
    ``k`` are eligible); none when ``ratio == 0``.

    Args:
        advantages: ``[B, 1]`` or ``[B, T]``.
        logps: ``[B, T]`` current log-probabilities (detached here).
        mask: ``[B, T]`` valid tokens.
        clipped: ``[B, T]`` bool, tokens where PPO's clipped term is active (``-A·clip(r) > -A·r``).
        ratio: fraction in ``[0, 1)`` of the valid tokens to cut.
        lb: lower end of the open covariance band ``(lb, ub)``.
        ub: upper end of the band, ``lb < ub``.
        generator: torch RNG of the random draw (seed it per process).

    Returns:
        ``(selected [B, T] bool, stats)``: multiply the per-token loss by ``~selected``. ``stats`` (detached):
        ``num_valid``, ``num_eligible``, ``num_selected``.
    """
    _check_common(advantages, logps, mask)
    _check_ratio("ratio", ratio)
    if clipped.shape != logps.shape:
        raise ValueError(f"`clipped` must have the shape of `logps` {tuple(logps.shape)}, got {tuple(clipped.shape)}.")
    if not (math.isfinite(lb) and math.isfinite(ub) and lb < ub):
        raise ValueError(f"`lb` and `ub` must be finite with lb < ub, got lb={lb!r}, ub={ub!r}.")
    valid = mask > 0
    num_valid = int(valid.sum())
    cov = token_covariance(advantages, logps, mask)
    eligible = valid & ~clipped.bool() & (cov > lb) & (cov < ub)
    candidates = torch.nonzero(eligible.flatten(), as_tuple=False).squeeze(-1)
    k = covariance_k(ratio, num_valid)
    if k == 0:
        candidates = candidates[:0]
    elif candidates.numel() > k:
        order = torch.randperm(candidates.numel(), generator=generator, device="cpu").to(candidates.device)
        candidates = candidates[order[:k]]
    selected = torch.zeros(logps.numel(), dtype=torch.bool, device=logps.device)
    selected[candidates] = True
    selected = selected.view_as(logps)
    stats = {
        "num_valid": torch.tensor(float(num_valid)),
        "num_eligible": eligible.sum().float().detach().cpu(),
        "num_selected": selected.sum().float().detach().cpu(),
    }
    return selected, stats


def kl_cov_penalty(
    advantages: torch.Tensor,
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    mask: torch.Tensor,
    ratio: float,
    coef: float,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """KL-Cov's penalty (Cui et al., Sec. 4.2): ``coef · |log π_θ - log π_old|`` on the top-``k`` covariance tokens.

    ``k = max(1, ⌊ratio · N_valid⌋)`` valid tokens with the largest ``cov_t`` (ties: lower flat index first); none when
    ``ratio == 0``. The penalty carries the gradient of ``logps``; the selection does not.

    On-policy (``old_logps`` equal to ``logps.detach()``, as when TRL computes no old log-probs) the penalty is 0 in
    value **and** in gradient: torch's gradient of ``|x|`` at ``x = 0`` is 0, so KL-Cov is a no-op there.

    The penalty is a per-token term to add to a policy-gradient loss. Cui et al. (Sec. 4.2) add it to the unclipped
    surrogate ``-A·r`` (``r = exp(logps - old_logps)``); `ExploreGRPOTrainer` adds it to TRL's clipped surrogate by
    default and to ``-A·r`` with ``kl_cov_surrogate="unclipped"``.

    Args:
        advantages: ``[B, 1]`` or ``[B, T]``.
        logps: ``[B, T]`` current log-probabilities (with grad).
        old_logps: ``[B, T]`` behaviour log-probabilities.
        mask: ``[B, T]`` valid tokens.
        ratio: fraction in ``[0, 1)`` of the valid tokens penalised.
        coef: penalty weight ``>= 0``.

    Returns:
        ``(penalty [B, T], selected [B, T] bool, stats)``: add ``penalty`` to the per-token loss (0 off the selection).
        ``stats`` (detached): ``num_valid``, ``num_selected``, ``penalty_mean`` (mean ``|log r|`` over the selection,
        before ``coef``; NaN when nothing is selected).
    """
    _check_common(advantages, logps, mask)
    _check_ratio("ratio", ratio)
    if old_logps.shape != logps.shape:
        raise ValueError(
            f"`old_logps` must have the shape of `logps` {tuple(logps.shape)}, got {tuple(old_logps.shape)}."
        )
    if isinstance(coef, bool) or not isinstance(coef, (int, float)) or not (math.isfinite(coef) and coef >= 0):
        raise ValueError(f"`coef` must be a finite number >= 0, got {coef!r}.")
    valid = mask > 0
    num_valid = int(valid.sum())
    k = covariance_k(ratio, num_valid)
    cov = token_covariance(advantages, logps, mask).masked_fill(~valid, -math.inf).flatten()
    selected = torch.zeros(logps.numel(), dtype=torch.bool, device=logps.device)
    if k > 0:
        # a stable descending sort: equal covariances keep index order
        order = torch.sort(cov, descending=True, stable=True).indices[:k]
        selected[order] = True
    selected = selected.view_as(logps)
    abs_log_ratio = (logps - old_logps).abs()
    penalty = coef * abs_log_ratio * selected.to(logps.dtype)
    n_sel = selected.sum()
    stats = {
        "num_valid": torch.tensor(float(num_valid)),
        "num_selected": n_sel.float().detach().cpu(),
        "penalty_mean": (
            (abs_log_ratio.detach() * selected).sum() / n_sel if int(n_sel) > 0 else torch.tensor(math.nan)
        )
        .float()
        .cpu(),
    }
    return penalty, selected, stats
