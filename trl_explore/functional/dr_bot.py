"""Dr.BoT sample filters (SPEAR's strong GRPO baseline, arXiv 2509.22601, Sec. 4.1 "Dr.BoT").

* Repetitive completions: a completion is masked when some ``n``-gram of its model-generated tokens occurs at least
  ``min_count`` times (``n = 20``, ``min_count = 10``). Occurrences may overlap: a single token repeated
  ``n + min_count - 1`` times is such a completion.
* Group filter: only the ``⌈keep_ratio · #groups⌉`` groups with the largest reward standard deviation stay in the loss
  (``keep_ratio = 0.75``); groups are ranked by the unbiased std of their finite rewards (ties: lower group index
  first; a group with fewer than two finite rewards ranks last).
"""

from __future__ import annotations

import math

import torch

__all__ = ["repeated_ngram_mask", "top_std_group_mask"]


def repeated_ngram_mask(
    ids: torch.Tensor, mask: torch.Tensor, ngram_size: int = 20, min_count: int = 10
) -> torch.Tensor:
    """``[B]`` bool: rows whose masked tokens contain an ``ngram_size``-gram occurring ``>= min_count`` times.

    The n-grams are taken over the row's tokens with ``mask > 0`` in order (e.g. model-generated tokens, tool results
    removed), overlapping.

    Example: n = 2, min_count = 3: ``[5, 6, 5, 6, 5, 6]`` has (5, 6) three times -> True; ``[5, 6, 5, 6, 7]`` -> False.

    Args:
        ids: ``[B, T]`` token ids.
        mask: ``[B, T]`` tokens to consider.
        ngram_size: ``n >= 1``.
        min_count: occurrences ``>= 2`` that make a row repetitive.
    """
    if ids.dim() != 2 or mask.shape != ids.shape:
        raise ValueError(
            f"`ids` and `mask` must be [B, T] of one shape, got {tuple(ids.shape)} and {tuple(mask.shape)}."
        )
    if isinstance(ngram_size, bool) or not isinstance(ngram_size, int) or ngram_size < 1:
        raise ValueError(f"`ngram_size` must be an integer >= 1, got {ngram_size!r}.")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 2:
        raise ValueError(f"`min_count` must be an integer >= 2, got {min_count!r}.")
    out = torch.zeros(ids.size(0), dtype=torch.bool)
    for row in range(ids.size(0)):
        tokens = ids[row][mask[row] > 0].cpu()
        if tokens.numel() < ngram_size + min_count - 1:  # too short to hold min_count occurrences
            continue
        grams = tokens.unfold(0, ngram_size, 1)  # [L - n + 1, n]
        _, counts = torch.unique(grams, dim=0, return_counts=True)
        out[row] = bool((counts >= min_count).any())
    return out.to(ids.device)


def top_std_group_mask(
    rewards: torch.Tensor, num_generations: int, keep_ratio: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Keep the ``⌈keep_ratio · #groups⌉`` groups with the largest reward std (Dr.BoT keeps the top 75%).

    Example: 4 groups of 2 with rewards [0, 1 | 1, 1 | 0, 0.5 | 2, 0], keep_ratio 0.75: stds 0.71, 0, 0.35, 1.41 ->
    keep groups 3, 0, 2 (3 of 4) -> per-sample keep [1, 1, 0, 0, 1, 1, 1, 1].

    Args:
        rewards: ``[N]`` rewards, each prompt's ``num_generations`` completions consecutive (TRL's layout); NaN for
            unscorable samples.
        num_generations: group size ``G >= 2``.
        keep_ratio: fraction in ``(0, 1]`` of the groups kept.

    Returns:
        ``(keep [N] bool, stats)``; ``stats``: ``group_std`` ``[N / G]`` (NaN with fewer than two finite rewards),
        ``num_kept`` groups.
    """
    if rewards.dim() != 1:
        raise ValueError(f"`rewards` must be 1-D [N], got shape {tuple(rewards.shape)}.")
    if isinstance(num_generations, bool) or not isinstance(num_generations, int) or num_generations < 2:
        raise ValueError(f"`num_generations` must be an integer >= 2, got {num_generations!r}.")
    if rewards.numel() % num_generations:
        raise ValueError(f"`rewards` has {rewards.numel()} entries, not a multiple of {num_generations}.")
    if isinstance(keep_ratio, bool) or not isinstance(keep_ratio, (int, float)) or not 0 < keep_ratio <= 1:
        raise ValueError(f"`keep_ratio` must be a number in (0, 1], got {keep_ratio!r}.")
    grouped = rewards.detach().double().view(-1, num_generations)
    finite = torch.isfinite(grouped)
    count = finite.sum(1)
    filled = torch.where(finite, grouped, torch.zeros_like(grouped))
    mean = filled.sum(1) / count.clamp(min=1)
    var = (((filled - mean.unsqueeze(1)) ** 2) * finite).sum(1) / (count - 1).clamp(min=1)
    std = torch.where(count >= 2, var.sqrt(), torch.full_like(var, math.nan))
    num_groups = grouped.size(0)
    num_kept = min(num_groups, math.ceil(keep_ratio * num_groups - 1e-9))
    rank_key = torch.nan_to_num(std, nan=-1.0)  # stds are >= 0: NaN groups rank last
    order = torch.sort(rank_key, descending=True, stable=True).indices[:num_kept]
    keep_groups = torch.zeros(num_groups, dtype=torch.bool, device=rewards.device)
    keep_groups[order.to(rewards.device)] = True
    keep = keep_groups.repeat_interleave(num_generations)
    return keep, {"group_std": std.float(), "num_kept": torch.tensor(float(num_kept))}
