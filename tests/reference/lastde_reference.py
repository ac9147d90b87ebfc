"""Slow, obviously-correct reference of Lastde / Lastde++, written from the paper (Xu et al., arXiv 2410.06072,
§3): one
sequence at a time, Python lists and floats (float64), explicit moving averages, orbits, cosines, an explicit histogram
(each cosine rounded to float32 and binned with ``torch.histc``'s rule) and ``−Σ P ln P``."""

from __future__ import annotations

import math
import statistics

import numpy as np


def moving_average(x: list[float], tau: int) -> list[float]:
    return [sum(x[i : i + tau]) / tau for i in range(len(x) - tau + 1)]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(u * v for u, v in zip(a, b))
    norm = math.sqrt(sum(u * u for u in a)) * math.sqrt(sum(v * v for v in b))
    return dot / max(norm, 1e-12)


def histogram(values: list[float], num_bins: int) -> list[int]:
    """Counts over [-1, 1] in ``num_bins`` equal bins; the bin index computed in float32 like ``torch.histc``."""
    counts = [0] * num_bins
    for c in values:
        c32 = np.float32(c)
        k = int(np.floor((c32 + np.float32(1.0)) * np.float32(num_bins) / np.float32(2.0)))
        counts[min(max(k, 0), num_bins - 1)] += 1
    return counts


def diversity_entropy(x: list[float], embed_size: int, num_bins: int, tau: int) -> float:
    y = moving_average(list(x), tau)
    orbits = [y[i : i + embed_size] for i in range(len(y) - embed_size + 1)]
    cosines = [cosine(orbits[i], orbits[i + 1]) for i in range(len(orbits) - 1)]
    counts = histogram(cosines, num_bins)
    total = sum(counts)
    entropy = -sum((c / total) * math.log(c / total) for c in counts if c > 0)
    return entropy / math.log(num_bins)


def aggregate(values: list[float], agg: str) -> float:
    if agg == "std":
        return statistics.stdev(values)
    if agg == "expstd":
        return math.exp(statistics.stdev(values))
    if agg == "range":
        return max(values) - min(values)
    if agg == "exprange":
        return math.exp(max(values) - min(values))
    if agg == "l2":
        return math.sqrt(sum(v * v for v in values))
    raise ValueError(agg)


def multiscale_diversity_entropy(x: list[float], embed_size: int, epsilon_mult: float, tau_prime: int, agg: str):
    """MDE over τ = 1..τ' (the caller clamps τ' for short texts); ε = int(ε_mult · n)."""
    num_bins = int(epsilon_mult * len(x))
    return aggregate([diversity_entropy(x, embed_size, num_bins, tau) for tau in range(1, tau_prime + 1)], agg)


def lastde(x: list[float], embed_size: int, epsilon_mult: float, tau_prime: int, agg: str) -> float:
    """``mean ℓ / MDE``; ``nan`` when MDE = 0."""
    mde = multiscale_diversity_entropy(x, embed_size, epsilon_mult, tau_prime, agg)
    return statistics.fmean(x) / mde if mde != 0 else float("nan")


def lastde_plus_plus(
    x: list[float], samples: list[list[float]], embed_size: int, epsilon_mult: float, tau_prime: int, agg: str
) -> float:
    """``(Lastde(x) − mean_k Lastde(x̃_k)) / std_k Lastde(x̃_k)``, unbiased std, NaN sample scores left out."""
    own = lastde(x, embed_size, epsilon_mult, tau_prime, agg)
    scores = [lastde(s, embed_size, epsilon_mult, tau_prime, agg) for s in samples]
    scores = [s for s in scores if not math.isnan(s)]
    return (own - statistics.fmean(scores)) / statistics.stdev(scores)
