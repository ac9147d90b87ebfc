"""Probability mass on answer choices, the SFC certificate and PMI_DC scores (Wiegreffe et al., EMNLP 2023,
"Increasing Probability Mass on Answer Choices Does Not Always Improve Accuracy", arXiv 2305.14596; PMI_DC from
Holtzman et al., 2021, "Surface Form Competition", arXiv 2104.08315).

Pure tensor math over padded rows (one row per question, one column per answer choice or candidate token; ``mask``
marks the real entries). Nothing here runs a model: `trl_explore.metrics.answer_choice_mass` produces the
log-probabilities, and the `evaluate` module in ``trl_explore/metrics/evaluate_modules`` feeds precomputed ones.

Formulas (per question x with answer choices c_1 … c_m)::

    PM(x)           = Σ_{u ∈ U} P(u | x)          U = the unique first tokens of the valid surface forms
    all-token mass  = Σ_i P(c_i | x)              full-sequence probabilities
    SFC-resolved(x) = max(0, 1 − s) < g           s = Σ_i P(c_i | x), g = P(top) − P(second)   (the "SFC bound")
    PMI_DC(c_i)     = P(c_i | x) / P(c_i | x_unc) x_unc = a question-free premise            (Holtzman et al.)

The certificate: the mass ``1 − s`` outside the listed choices is the most any surface-form competitor could move
to a choice; when it is smaller than the gap between the top two choices, no reallocation flips the prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "masked_argmax",
    "pad_ragged",
    "pmi_log_scores",
    "sfc_certificate",
    "unique_token_mass",
]


def pad_ragged(
    rows: Sequence[Sequence[float | int]], fill: float | int = 0, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack rows of unequal length into ``[B, M]`` (``M`` = longest row), padded with `fill`.

    Returns:
        ``(values [B, M] of dtype, mask [B, M] bool)`` with ``mask[b, j]`` true for the real entries.
    """
    width = max((len(r) for r in rows), default=0)
    values = torch.full((len(rows), width), fill, dtype=dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for b, row in enumerate(rows):
        if len(row):
            values[b, : len(row)] = torch.as_tensor(list(row), dtype=dtype)
            mask[b, : len(row)] = True
    return values, mask


def _full_mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones(x.shape, dtype=torch.bool, device=x.device)
    if mask.shape != x.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match the values' shape {tuple(x.shape)}.")
    return mask.bool()


def unique_token_mass(
    token_logprobs: torch.Tensor, token_ids: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Probability mass on answer choices: ``PM = Σ over the unique ids u of P(u | x)``.

    A token id listed several times in a row (``" A"`` and ``" A)"`` start with the same token; two choices whose
    text starts with the same word) is counted once: its first listed entry.

    Args:
        token_logprobs: ``[B, K]`` log P(token_ids[b, k] | x_b) at the answer position.
        token_ids: ``[B, K]`` integer token ids.
        mask: ``[B, K]`` bool, true for the real entries (default: all).

    Returns:
        ``(mass [B], {"num_unique": [B] long})``, mass in the dtype of `token_logprobs` (in [0, 1] up to rounding).
        Example: ids ``[7, 7, 9]`` with probabilities ``[0.2, 0.2, 0.3]`` give ``0.2 + 0.3 = 0.5``.
    """
    if token_logprobs.shape != token_ids.shape or token_logprobs.dim() != 2:
        raise ValueError(
            f"token_logprobs and token_ids must both be [B, K], got {tuple(token_logprobs.shape)} and "
            f"{tuple(token_ids.shape)}."
        )
    valid = _full_mask(token_logprobs, mask)  # [B, K]
    k = token_ids.shape[1]
    same = token_ids.unsqueeze(2) == token_ids.unsqueeze(1)  # [B, K, K]: same[b, j, i] = ids[b, j] == ids[b, i]
    earlier = torch.ones(k, k, dtype=torch.bool, device=token_ids.device).tril(diagonal=-1)  # [K, K]: i < j
    duplicate = (same & earlier & valid.unsqueeze(1)).any(dim=2)  # [B, K]: a valid entry i < j has the same id
    keep = valid & ~duplicate  # [B, K]
    probs = token_logprobs.exp().masked_fill(~keep, 0.0)  # [B, K]
    return probs.sum(dim=1), {"num_unique": keep.sum(dim=1).detach()}


def sfc_certificate(
    choice_probs: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The SFC bound of Wiegreffe et al.: is the prediction safe from surface-form competition?

    ``resolved = max(0, 1 − s) < g`` with ``s = Σ_i P(c_i | x)`` and ``g = P(top) − P(second)`` (``g = P(top)`` for a
    single choice). The strict inequality leaves ties unresolved. ``s`` can exceed 1 when one choice's tokens are a
    prefix of another's (``" dog"`` and ``" dog house"``); the missing mass is then clamped at 0.

    Args:
        choice_probs: ``[B, m]`` P(c_i | x) (full-sequence probabilities of the choices).
        mask: ``[B, m]`` bool, true for the real choices (default: all).

    Returns:
        ``(resolved [B] bool, {"missing_mass": [B], "gap": [B], "total": [B]})``. Example: ``[0.6, 0.3]`` gives
        s = 0.9, missing 0.1 < g = 0.3: resolved; ``[0.4, 0.35]`` gives missing 0.25 >= g = 0.05: not resolved.
    """
    if choice_probs.dim() != 2:
        raise ValueError(f"choice_probs must be [B, m], got shape {tuple(choice_probs.shape)}.")
    valid = _full_mask(choice_probs, mask)  # [B, m]
    probs = choice_probs.masked_fill(~valid, 0.0)  # [B, m]
    total = probs.sum(dim=1)  # [B]
    top2 = probs.topk(min(2, probs.shape[1]), dim=1).values  # [B, <=2], padded entries are 0
    first = top2[:, 0] if top2.shape[1] > 0 else torch.zeros_like(total)  # [B] (no choice at all: 0)
    second = top2[:, 1] if top2.shape[1] > 1 else torch.zeros_like(total)  # [B]
    gap = first - second  # [B]
    missing = (1.0 - total).clamp(min=0.0)  # [B]
    resolved = missing < gap  # [B]
    return resolved, {"missing_mass": missing.detach(), "gap": gap.detach(), "total": total.detach()}


def pmi_log_scores(conditional_logprobs: torch.Tensor, unconditional_logprobs: torch.Tensor) -> torch.Tensor:
    """PMI_DC in log space: ``log P(c | x) − log P(c | x_unc)`` = the log of the probability ratio.

    Shapes: ``[B, m]`` and ``[B, m]`` -> ``[B, m]``. Argmax of this equals argmax of the ratio; the log form does not
    overflow when a long choice is much likelier with the question than without.
    """
    if conditional_logprobs.shape != unconditional_logprobs.shape:
        raise ValueError(
            f"conditional and unconditional log-probs must have the same shape, got "
            f"{tuple(conditional_logprobs.shape)} and {tuple(unconditional_logprobs.shape)}."
        )
    return conditional_logprobs - unconditional_logprobs


def masked_argmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the best real entry per row (the first one on ties). Shapes: ``[B, m]`` -> ``[B]`` long.

    Needs ``m >= 1``; a row without a real entry gets index 0."""
    if scores.dim() != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores must be [B, m] with m >= 1 choices, got shape {tuple(scores.shape)}.")
    valid = _full_mask(scores, mask)
    return scores.masked_fill(~valid, float("-inf")).argmax(dim=1)
