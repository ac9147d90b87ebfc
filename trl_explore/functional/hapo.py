"""HAPO — Heterogeneous Adaptive Policy Optimization (arXiv 2509.16591): pure math.

All four parts of HAPO are driven by one normalised per-token entropy score ``h̃ ∈ [-1, 1]``
(`hapo_entropy_scores`):

1. ``x = log(max(H, 1e-8))`` over the valid tokens (H: full-vocabulary entropy of ``softmax(logits / T)``);
2. ``pivot`` = nearest-rank q-quantile of x (``q = 0.8``): the ``⌈q·n⌉``-th smallest value, computed with
   `torch.kthvalue` (``torch.quantile`` refuses more than 2^24 elements). ``pivot_rule="released"`` takes the released
   code's ``torch.quantile(x, q, interpolation="nearest")`` instead: 0-based index ``round(q·(n − 1))`` (half to even),
   one rank lower for 12 of n = 1..59 at q = 0.8 (every ``n ≡ 4 mod 5``);
3. ``h = (x − pivot) / σ`` with ``σ = sqrt(max(mean((x − pivot)²), 1e-8))`` (RMS around the pivot);
4. ``h̃ = h / max(h⁺)`` where ``h > 0`` and ``h / |min(h⁻)|`` where ``h ≤ 0`` (``sign="paper"``). The released code
   divides the negative side by the negative ``min(h⁻)`` itself, so every score lands in ``[0, 1]``
   (``sign="released"``).

Then:

* Adaptive temperature sampling (ATS, paper Eq. 3): ``T_tok = T_base · (1 + τ · h̃_tok)`` (`hapo_temperature_factor`).
* Token-level group average (TLGA, Eq. 5): length-weighted group mean and variance, ``A_i = (r_i − μ) / (σ + 1e-6)``
  (`tlga_advantages`); a group with any ``|A_i| >= 5`` falls back to GRPO's ``(r − mean) / (unbiased std + 1e-6)``.
* Asymmetric adaptive clipping (AAC, Eq. 8): ``ε_L(t) = ε_L · (1 − α·h̃)`` for ``h̃ ≤ 0`` (else ``ε_L``),
  ``ε_R(t) = ε_R · (1 + α·h̃)`` for ``h̃ > 0`` (else ``ε_R``) (`hapo_clip_bounds`).
* Differential advantage redistribution (DAR, Eq. 6-7): ``A_ent = A · (1 + β·h̃)``; high-entropy tokens (``h̃ > 0``)
  take ``A_ent`` when the ratio is *outside* the neutral zone ``1 − ε_L/2 < r < 1 + ε_R/2``, low-entropy tokens take it
  *inside* it; elsewhere ``A`` (`hapo_redistribute_advantages`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._validation import check_choice, check_int, check_number

__all__ = [
    "HAPO_PIVOT_RULES",
    "HAPO_SIGNS",
    "HapoEntropyStats",
    "hapo_clip_bounds",
    "hapo_entropy_scores",
    "hapo_entropy_stats",
    "hapo_pivot_rank",
    "hapo_redistribute_advantages",
    "hapo_row_temperature_factor",
    "hapo_temperature_factor",
    "tlga_advantages",
]

HAPO_SIGNS = ("paper", "released")
HAPO_PIVOT_RULES = ("nearest_rank", "released")
_LOG_FLOOR = 1e-8  # H is floored before the log
_VAR_FLOOR = 1e-8  # mean squared deviation is floored before the square root
_TLGA_EPS = 1e-6


class HapoEntropyStats(NamedTuple):
    """Statistics of one population of log-entropies (detached floats).

    Attributes:
        pivot: nearest-rank q-quantile of ``x = log(max(H, 1e-8))``.
        rms: ``sqrt(max(mean((x − pivot)²), 1e-8))``.
        pos_max: largest standardised deviation ``max(h)`` over the population (``<= 0`` when none is positive).
        neg_min: smallest standardised deviation ``min(h)`` (``<= 0``).
    """

    pivot: float
    rms: float
    pos_max: float
    neg_min: float


def hapo_pivot_rank(n: int, q: float, rule: str = "nearest_rank") -> int:
    """The 1-based rank ``k`` of the pivot among ``n >= 1`` sorted values (the ``k``-th smallest).

    * ``"nearest_rank"``: ``k = min(n, max(1, ⌈q·n⌉))`` (the nearest-rank quantile);
    * ``"released"``: ``k = round(q·(n − 1)) + 1``, rounding half to even (``torch.quantile(..., interpolation=
      "nearest")``, the released code's pivot). Example, q = 0.8, n = 9: ``⌈7.2⌉ = 8`` vs ``round(6.4) + 1 = 7``.
    """
    check_int(None, "n", value=n, low=1)
    check_choice(None, "rule", HAPO_PIVOT_RULES, value=rule)
    if rule == "released":
        index = torch.round(torch.tensor(q * (n - 1), dtype=torch.float64))  # torch.round: half to even
        return int(index) + 1
    return min(n, max(1, math.ceil(q * n)))


def hapo_entropy_stats(
    log_entropies: torch.Tensor, pivot_quantile: float = 0.8, pivot_rule: str = "nearest_rank"
) -> HapoEntropyStats:
    """`HapoEntropyStats` of a 1-D tensor of log-entropies (the valid tokens of the population); the pivot is the
    `hapo_pivot_rank`-th smallest value (``pivot_rule``).

    An empty population gives the neutral statistics ``(0, 1, 0, 0)`` (every score 0)."""
    x = log_entropies.detach().double().flatten()
    if x.numel() == 0:
        return HapoEntropyStats(0.0, 1.0, 0.0, 0.0)
    pivot = torch.kthvalue(x, hapo_pivot_rank(x.numel(), pivot_quantile, pivot_rule)).values
    deviation = x - pivot
    rms = torch.sqrt(torch.clamp((deviation**2).mean(), min=_VAR_FLOOR))
    h = deviation / rms
    return HapoEntropyStats(float(pivot), float(rms), float(h.max()), float(h.min()))


def hapo_entropy_scores(
    entropies: torch.Tensor,
    mask: torch.Tensor,
    pivot_quantile: float = 0.8,
    sign: str = "paper",
    stats: HapoEntropyStats | tuple[float, float, float, float] | None = None,
    pivot_rule: str = "nearest_rank",
) -> tuple[torch.Tensor, HapoEntropyStats]:
    """Normalised entropy scores ``h̃`` (HAPO Sec. 3.1; steps 1-4 of the module docstring).

    Args:
        entropies: ``[B, T]`` per-token entropies H (any float dtype; detached).
        mask: ``[B, T]`` valid tokens (bool or 0/1).
        pivot_quantile: q of the pivot, in ``(0, 1]``.
        sign: ``"paper"`` (``h̃ ∈ [−1, 1]``) or ``"released"`` (the released code's all-positive scores).
        stats: precomputed `HapoEntropyStats` (e.g. the previous step's, on the sampling side); ``None`` computes them
            from the valid tokens of ``entropies``.
        pivot_rule: ``"nearest_rank"`` or ``"released"`` (`hapo_pivot_rank`; used when ``stats`` is ``None``).

    Returns:
        ``(scores [B, T] float32 in [−1, 1], 0 where masked; stats)``. Scores are clamped to ``[−1, 1]`` (they can only
        leave it when ``stats`` come from another population).
    """
    check_number(None, "pivot_quantile", value=pivot_quantile, low=0.0, high=1.0, low_open=True)
    check_choice(None, "sign", HAPO_SIGNS, value=sign)
    if entropies.shape != mask.shape:
        raise ValueError(f"`entropies` {tuple(entropies.shape)} and `mask` {tuple(mask.shape)} must have one shape.")
    valid = mask.bool()
    x = torch.log(torch.clamp(entropies.detach().double(), min=_LOG_FLOOR))
    if stats is None:
        stats = hapo_entropy_stats(x[valid], pivot_quantile, pivot_rule)
    stats = HapoEntropyStats(*(float(v) for v in stats))
    h = (x - stats.pivot) / stats.rms
    positive = h > 0
    pos_scale = stats.pos_max if stats.pos_max > 0 else math.inf
    neg_scale = abs(stats.neg_min) if stats.neg_min < 0 else math.inf
    if sign == "released":
        neg_scale = -neg_scale  # divides by the negative minimum: negative deviations become positive scores
    scores = torch.where(positive, h / pos_scale, h / neg_scale)
    scores = torch.clamp(scores, -1.0, 1.0).masked_fill(~valid, 0.0)
    return scores.float(), stats


def hapo_temperature_factor(scores: torch.Tensor, tau: float) -> torch.Tensor:
    """ATS (Eq. 3): the per-token temperature multiplier ``1 + τ · h̃`` (``T_tok = T_base · factor``)."""
    check_number(None, "tau", value=tau, low=0.0, high=1.0, high_open=True)
    return 1.0 + tau * scores


def hapo_row_temperature_factor(
    logits: torch.Tensor,
    stats: HapoEntropyStats | tuple[float, float, float, float],
    tau: float,
    temperature: float = 1.0,
    sign: str = "paper",
) -> torch.Tensor:
    """ATS at one decode step: the factor ``1 + τ·h̃`` of each row, h̃ from the entropy of ``softmax(logits / T)``
    standardised with the given statistics (the previous training step's), clamped to ``[−1, 1]``.

    Args:
        logits: ``[N, V]`` raw next-token logits (before temperature).
        stats: `HapoEntropyStats` of the training-side entropies.
        tau: τ in ``[0, 1)``.
        temperature: T_base, the temperature the training-side entropies were computed at (> 0).
        sign: ``"paper"`` or ``"released"``.

    Returns:
        ``[N]`` float32 factors; dividing the logits by them before T_base gives ``T_tok = T_base · factor``.
    """
    check_number(None, "temperature", value=temperature, low=0.0, low_open=True)
    z = logits.detach().float() / temperature
    log_probs = torch.log_softmax(z, dim=-1)
    entropy = -(log_probs.exp() * log_probs).nansum(-1)  # [N]; -inf logits contribute 0
    scores, _ = hapo_entropy_scores(
        entropy.unsqueeze(0), torch.ones_like(entropy, dtype=torch.bool).unsqueeze(0), sign=sign, stats=stats
    )
    return hapo_temperature_factor(scores.squeeze(0), tau)


def tlga_advantages(
    rewards: torch.Tensor,
    lengths: torch.Tensor,
    num_generations: int,
    fallback: float = 5.0,
    return_stats: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, float]]:
    """Token-level group average advantages (TLGA, HAPO Eq. 5), one scalar per completion.

    Per group of ``G = num_generations`` consecutive completions with rewards ``r_i`` and token counts ``L_i``::

        μ = Σ L_i r_i / Σ L_i,   σ² = Σ L_i (r_i − μ)² / Σ L_i,   A_i = (r_i − μ) / (σ + 1e-6)

    A group in which any ``|A_i| >= fallback`` (or whose completions hold no token) uses GRPO's advantage
    ``(r_i − mean(r)) / (std(r) + 1e-6)`` with the unbiased std instead (released safeguard; padding cells are not
    counted, unlike the released code).

    Args:
        rewards: ``[N]`` rewards, ``N = P · G`` (each group consecutive, as in TRL).
        lengths: ``[N]`` finite, non-negative token counts (tool-masked tokens excluded by the caller).
        num_generations: G >= 2.
        fallback: the ``|A|`` threshold of the safeguard (> 0).
        return_stats: also return ``{"fallback_groups": count, "groups": P}``.

    Returns:
        ``[N]`` advantages in the rewards' dtype (and the stats with ``return_stats``).
    """
    check_int(None, "num_generations", value=num_generations, low=2)
    check_number(None, "fallback", value=fallback, low=0.0, low_open=True)
    if rewards.dim() != 1 or rewards.shape != lengths.shape or rewards.numel() % num_generations:
        raise ValueError(
            f"`rewards` and `lengths` must be [N] with N a multiple of num_generations={num_generations}, got "
            f"{tuple(rewards.shape)} and {tuple(lengths.shape)}."
        )
    if not torch.isfinite(rewards).all():
        raise ValueError("`rewards` must be finite (map unscorable completions to a value first).")
    if not (torch.isfinite(lengths) & (lengths >= 0)).all():
        raise ValueError("`lengths` must be finite and non-negative.")
    r = rewards.double().view(-1, num_generations)  # [P, G]
    w = lengths.double().view(-1, num_generations)
    total = w.sum(-1, keepdim=True)
    mu = (w * r).sum(-1, keepdim=True) / total.clamp(min=1e-30)
    sigma = torch.sqrt((w * (r - mu) ** 2).sum(-1, keepdim=True) / total.clamp(min=1e-30))
    tlga = (r - mu) / (sigma + _TLGA_EPS)
    grpo = (r - r.mean(-1, keepdim=True)) / (r.std(-1, keepdim=True) + _TLGA_EPS)
    use_fallback = (tlga.abs() >= fallback).any(-1, keepdim=True) | (total <= 0)
    advantages = torch.where(use_fallback, grpo, tlga).flatten().to(rewards.dtype)
    if return_stats:
        return advantages, {"fallback_groups": float(use_fallback.sum()), "groups": float(r.shape[0])}
    return advantages


def hapo_clip_bounds(
    scores: torch.Tensor, epsilon_low: float, epsilon_high: float, alpha: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Asymmetric adaptive clipping (AAC, HAPO Eq. 8): per-token clip half-widths.

    ``ε_L(t) = ε_L · (1 − α·h̃)`` where ``h̃ ≤ 0`` (low entropy: a wider lower bound), else ``ε_L``;
    ``ε_R(t) = ε_R · (1 + α·h̃)`` where ``h̃ > 0`` (high entropy: a wider upper bound), else ``ε_R``.

    Args:
        scores: ``[B, T]`` scores h̃ (0 where masked gives the scalar bounds there).
        epsilon_low: TRL's ε_L (>= 0).
        epsilon_high: TRL's ε_R (>= 0).
        alpha: α >= 0.

    Returns:
        ``(eps_low [B, T], eps_high [B, T])`` in float64 (exact for the trainer's bit-identical bounds).
    """
    check_number(None, "epsilon_low", value=epsilon_low, low=0.0)
    check_number(None, "epsilon_high", value=epsilon_high, low=0.0)
    check_number(None, "alpha", value=alpha, low=0.0)
    h = scores.detach().double()
    eps_low = torch.where(h <= 0, epsilon_low * (1.0 - alpha * h), torch.full_like(h, epsilon_low))
    eps_high = torch.where(h > 0, epsilon_high * (1.0 + alpha * h), torch.full_like(h, epsilon_high))
    return eps_low, eps_high


def hapo_redistribute_advantages(
    advantages: torch.Tensor,
    scores: torch.Tensor,
    ratio: torch.Tensor,
    eps_low: torch.Tensor | float,
    eps_high: torch.Tensor | float,
    beta: float = 1.0,
) -> torch.Tensor:
    """Differential advantage redistribution (DAR, HAPO Eq. 6-7): per-token advantages.

    ``A_ent = A · (1 + β·h̃)``; the neutral zone is ``1 − ε_L/2 < r < 1 + ε_R/2`` (strict) with the per-token
    (adapted) ε. High-entropy tokens (``h̃ > 0``) take ``A_ent`` outside the zone (amplify where the policy moved),
    low-entropy tokens (``h̃ ≤ 0``) take it inside the zone (dampen where it did not); elsewhere ``A``. On-policy
    (``r ≡ 1``) only the dampening applies.

    Args:
        advantages: ``[B, 1]`` or ``[B, T]``.
        scores: ``[B, T]`` h̃.
        ratio: ``[B, T]`` or ``[B, 1]`` importance ratio (detached).
        eps_low: ε_L, a float or a tensor broadcastable to ``[B, T]``.
        eps_high: ε_R, a float or a tensor broadcastable to ``[B, T]``.
        beta: β >= 0.

    Returns:
        ``[B, T]`` advantages in ``advantages``' dtype.
    """
    check_number(None, "beta", value=beta, low=0.0)
    h = scores.detach()
    r = ratio.detach()
    low = 1.0 - torch.as_tensor(eps_low, dtype=torch.float64) / 2
    high = 1.0 + torch.as_tensor(eps_high, dtype=torch.float64) / 2
    inside = (r.double() > low) & (r.double() < high)
    use_entropy = torch.where(h > 0, ~inside, inside)
    adv = advantages.expand(h.shape) if advantages.shape != h.shape else advantages
    scaled = adv * (1.0 + beta * h.to(adv.dtype))
    return torch.where(use_entropy, scaled, adv)
