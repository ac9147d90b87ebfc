"""Slow, obviously-correct float64 reference of the relative-negative advantage modes, written from the papers
(GRPO-N / GSPO-N: arXiv 2510.04028; NSR, PSR, W-REINFORCE: Zhu et al., arXiv 2506.01347, Eq. 4, 5, 7): one Python loop
over groups and samples, no vectorisation."""

from __future__ import annotations

import math


def reference_advantages(
    rewards: list[float], num_generations: int, mode: str, positive_weight: float = 0.1, correct_threshold: float = 1.0
) -> tuple[list[float], list[bool]]:
    """Per-sample ``(advantage, kept)`` for ``rewards`` laid out as consecutive groups of ``num_generations``."""
    advantages: list[float] = []
    kept: list[bool] = []
    for start in range(0, len(rewards), num_generations):
        group = [float(r) for r in rewards[start : start + num_generations]]
        g = len(group)
        mean = sum(group) / g
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (g - 1)) if g > 1 else float("nan")
        for r in group:
            correct = r >= correct_threshold
            if mode == "grpo":
                advantages.append((r - mean) / (std + 1e-4))
                kept.append(True)
            elif mode in ("grpo_n", "gspo_n"):
                a = (r - mean) / (std + 1e-4)
                advantages.append(min(a, 0.0))
                kept.append(a <= 0.0)
            elif mode == "nsr":
                advantages.append(0.0 if correct else -1.0)
                kept.append(not correct)
            elif mode == "psr":
                advantages.append(1.0 if correct else 0.0)
                kept.append(correct)
            elif mode == "w_reinforce":
                advantages.append(positive_weight if correct else -1.0)
                kept.append(True)
            else:
                raise ValueError(mode)
    return advantages, kept


def reference_mixed_fraction(rewards: list[float], num_generations: int, correct_threshold: float = 1.0) -> float:
    groups = [rewards[s : s + num_generations] for s in range(0, len(rewards), num_generations)]
    mixed = [any(r >= correct_threshold for r in g) and any(r < correct_threshold for r in g) for g in groups]
    return sum(mixed) / len(groups)
