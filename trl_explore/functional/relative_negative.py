"""Relative-negative advantages: GRPO-N / GSPO-N (arXiv 2510.04028) and NSR / PSR / W-REINFORCE (arXiv 2506.01347).

Rewards arrive laid out like TRL's ``GRPOTrainer`` (each prompt's ``G = num_generations`` completions consecutive), as a
flat ``[N]`` tensor with ``N = P · G``. Every mode returns ``(advantages [N], sample_mask [N] bool)``; ``sample_mask``
says which samples stay in the loss (a dropped sample has advantage 0 and, with
``negative_normalization="selected_tokens"``, leaves the token denominator too).

Modes (r: reward of a completion, g: its group of G completions, "correct" = ``r >= correct_threshold``)::

    grpo         A = (r - mean_g(r)) / (std_g(r) + 1e-4)                 all kept          (TRL's baseline)
    grpo_n       A = min(A_grpo, 0)                                      kept: A_grpo <= 0  (2510.04028, "GRPO-N")
    gspo_n       as grpo_n (the trainer switches to sequence-level importance sampling)
    nsr          A = -1 if incorrect, dropped if correct                 kept: incorrect    (Zhu et al. 2025, Eq. 5)
    psr          A = +1 if correct,   dropped if incorrect               kept: correct      (Zhu et al. 2025, Eq. 4)
    w_reinforce  A = +λ if correct, -1 if incorrect                      all kept           (Zhu et al. 2025, Eq. 7)

``std_g`` is the unbiased (Bessel-corrected) standard deviation, TRL's ``nanstd``; ``+ 1e-4`` as in TRL 1.16. NSR, PSR
and W-REINFORCE use no baseline and no standard deviation. With ``λ = 0`` W-REINFORCE gives NSR's advantages (but keeps
correct samples in the denominator), with ``λ = 1`` it is plain REINFORCE with ±1 rewards.

Graded rewards: NSR / PSR / W-REINFORCE only need the correct / incorrect split, so any finite reward is mapped by
``correct = r >= correct_threshold`` (e.g. a 1.0 accuracy reward plus a 0.2 format bonus: 1.2 and 1.0 are correct, 0.2
and 0.0 incorrect). NaN rewards (unscorable completions) raise `ValueError`: the caller decides what to do with them.
"""

from __future__ import annotations

import math

import torch

ADVANTAGE_MODES = ("grpo", "grpo_n", "gspo_n", "nsr", "psr", "w_reinforce")
# modes that need a correct / incorrect split of the rewards
SPLIT_MODES = ("nsr", "psr", "w_reinforce")
# modes built on TRL's group-normalised advantages
GROUP_MODES = ("grpo", "grpo_n", "gspo_n")
# TRL 1.16's epsilon in (r - mean) / (std + eps)
STD_EPS = 1e-4

__all__ = [
    "ADVANTAGE_MODES",
    "GROUP_MODES",
    "SPLIT_MODES",
    "STD_EPS",
    "relative_negative_advantages",
    "relative_negative_group_stats",
]


def _check(rewards: torch.Tensor, num_generations: int, mode: str, positive_weight: float, correct_threshold: float):
    if mode not in ADVANTAGE_MODES:
        raise ValueError(f"`mode` must be one of {list(ADVANTAGE_MODES)}, got {mode!r}.")
    if not isinstance(rewards, torch.Tensor) or rewards.dim() != 1:
        raise ValueError(f"`rewards` must be a 1-D tensor [N], got shape {getattr(rewards, 'shape', None)}.")
    if not rewards.is_floating_point():
        raise ValueError(f"`rewards` must be a floating-point tensor, got dtype {rewards.dtype}.")
    if isinstance(num_generations, bool) or not isinstance(num_generations, int) or num_generations < 1:
        raise ValueError(f"`num_generations` must be an integer >= 1, got {num_generations!r}.")
    if mode in GROUP_MODES and num_generations < 2:
        raise ValueError(f"`num_generations` must be >= 2 for mode {mode!r} (group std), got {num_generations}.")
    if rewards.numel() % num_generations != 0:
        raise ValueError(
            f"`rewards` has {rewards.numel()} entries, not a multiple of `num_generations` ({num_generations})."
        )
    if not (math.isfinite(positive_weight) and positive_weight >= 0.0):
        raise ValueError(f"`positive_weight` must be a finite value >= 0, got {positive_weight}.")
    if not math.isfinite(correct_threshold):
        raise ValueError(f"`correct_threshold` must be finite, got {correct_threshold}.")
    nan = torch.isnan(rewards)
    if bool(nan.any()):
        raise ValueError(
            f"`rewards` contains {int(nan.sum())} NaN value(s) (unscorable completions); mode {mode!r} needs a "
            "finite reward for every sample: drop or fill them before calling."
        )


def relative_negative_advantages(
    rewards: torch.Tensor,
    num_generations: int,
    mode: str,
    positive_weight: float = 0.1,
    correct_threshold: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-completion advantages and the mask of samples kept in the loss for one advantage mode.

    Args:
        rewards: ``[N]`` scalar rewards, ``N = P · G`` with each prompt's ``G`` completions consecutive (TRL's layout;
            with several reward functions, TRL's weighted sum).
        num_generations: ``G``, completions per prompt.
        mode: one of `ADVANTAGE_MODES` (see the module docstring for the formulas).
        positive_weight: λ >= 0 of W-REINFORCE (weight of correct samples); ignored by the other modes.
        correct_threshold: a sample is correct when ``r >= correct_threshold`` (NSR / PSR / W-REINFORCE).

    Returns:
        ``(advantages [N], sample_mask [N])``: advantages in the dtype of ``rewards`` (0 where dropped) and a bool mask,
        ``True`` for samples that stay in the loss.

    Raises:
        ValueError: unknown mode, non-1-D or integer rewards, NaN rewards, ``N`` not a multiple of ``G``, ``G < 2`` for
            the group modes, λ < 0 or non-finite, non-finite threshold.
    """
    _check(rewards, num_generations, mode, positive_weight, correct_threshold)
    if mode in GROUP_MODES:
        grouped = rewards.view(-1, num_generations)  # [P, G]
        mean = grouped.mean(dim=1, keepdim=True)  # [P, 1]
        # TRL's `nanstd` estimator (same operation order): mean squared deviation times the Bessel factor G / (G - 1)
        variance = ((grouped - mean) ** 2).mean(dim=1, keepdim=True) * (num_generations / (num_generations - 1))
        std = variance.sqrt()  # [P, 1]
        advantages = ((grouped - mean) / (std + STD_EPS)).view(-1)  # [N]
        if mode == "grpo":
            return advantages, torch.ones_like(rewards, dtype=torch.bool)
        keep = advantages <= 0
        return torch.clamp(advantages, max=0.0), keep
    correct = rewards >= correct_threshold  # [N]
    one = torch.ones_like(rewards)
    if mode == "nsr":
        return torch.where(correct, 0.0 * one, -one), ~correct
    if mode == "psr":
        return torch.where(correct, one, 0.0 * one), correct
    # w_reinforce
    return torch.where(correct, positive_weight * one, -one), torch.ones_like(rewards, dtype=torch.bool)


def relative_negative_group_stats(
    rewards: torch.Tensor, num_generations: int, correct_threshold: float = 1.0
) -> dict[str, float]:
    """Detached group statistics of ``[N]`` rewards in TRL's layout (NaN rewards are ignored).

    Returns a dict with
        ``frac_mixed_groups``: fraction of groups holding both a correct and an incorrect sample (the groups that give
            GRPO / GRPO-N a non-zero signal with binary rewards);
        ``frac_all_correct`` / ``frac_all_wrong``: fractions of groups whose scored samples are all correct / all
            incorrect (groups with no scored sample count in neither);
        ``frac_correct``: fraction of scored samples that are correct.
    """
    if rewards.dim() != 1 or num_generations < 1 or rewards.numel() % num_generations != 0:
        raise ValueError(
            f"`rewards` must be [N] with N a multiple of `num_generations`, got shape {tuple(rewards.shape)} and "
            f"num_generations={num_generations}."
        )
    grouped = rewards.detach().view(-1, num_generations)  # [P, G]
    scored = ~torch.isnan(grouped)
    correct = (grouped >= correct_threshold) & scored
    wrong = (grouped < correct_threshold) & scored
    any_correct, any_wrong = correct.any(dim=1), wrong.any(dim=1)
    n_groups = max(grouped.shape[0], 1)
    n_scored = int(scored.sum())
    return {
        "frac_mixed_groups": float((any_correct & any_wrong).sum()) / n_groups,
        "frac_all_correct": float((any_correct & ~any_wrong).sum()) / n_groups,
        "frac_all_wrong": float((any_wrong & ~any_correct).sum()) / n_groups,
        "frac_correct": float(correct.sum()) / n_scored if n_scored else math.nan,
    }
