"""Slow, obviously-correct float64 reference of HAPO's math, written from the paper (arXiv 2509.16591,
Sec. 3) and the choices in ``docs/methods/hapo.md``.

Plain Python over lists, one token at a time, so each line can be read against the paper's equations.
"""

from __future__ import annotations

import math


def nearest_rank(values: list[float], q: float) -> float:
    """The ceil(q·n)-th smallest value (1-indexed), at least the first."""
    ordered = sorted(values)
    k = max(1, math.ceil(q * len(ordered)))
    return ordered[k - 1]


def entropy_scores(entropies, mask, q=0.8, sign="paper", stats=None):
    """The normalised entropy score h̃ (Sec. 3.1): returns (scores as nested lists, (pivot, rms, pos_max, neg_min))."""
    rows, cols = len(entropies), len(entropies[0])
    xs = {(b, t): math.log(max(float(entropies[b][t]), 1e-8)) for b in range(rows) for t in range(cols) if mask[b][t]}
    if stats is None:
        values = list(xs.values())
        pivot = nearest_rank(values, q)
        rms = math.sqrt(max(sum((x - pivot) ** 2 for x in values) / len(values), 1e-8))
        hs = [(x - pivot) / rms for x in values]
        stats = (pivot, rms, max(hs), min(hs))
    pivot, rms, pos_max, neg_min = stats
    scores = [[0.0] * cols for _ in range(rows)]
    for (b, t), x in xs.items():
        h = (x - pivot) / rms
        if h > 0:
            s = h / pos_max if pos_max > 0 else 0.0
        elif sign == "paper":
            s = h / abs(neg_min) if neg_min < 0 else 0.0
        else:  # released: divided by the negative minimum itself
            s = h / neg_min if neg_min < 0 else 0.0
        scores[b][t] = min(1.0, max(-1.0, s))
    return scores, stats


def tlga(rewards, lengths, g, fallback=5.0):
    """TLGA (Eq. 5): per group, length-weighted mean / variance; GRPO fallback when any |A| >= fallback."""
    out, fallbacks = [], 0
    for start in range(0, len(rewards), g):
        r = rewards[start : start + g]
        w = lengths[start : start + g]
        total = sum(w)
        adv = None
        if total > 0:
            mu = sum(li * ri for li, ri in zip(w, r)) / total
            sigma = math.sqrt(sum(li * (ri - mu) ** 2 for li, ri in zip(w, r)) / total)
            adv = [(ri - mu) / (sigma + 1e-6) for ri in r]
        if adv is None or any(abs(a) >= fallback for a in adv):
            fallbacks += 1
            mean = sum(r) / g
            std = math.sqrt(sum((ri - mean) ** 2 for ri in r) / (g - 1))
            adv = [(ri - mean) / (std + 1e-6) for ri in r]
        out.extend(adv)
    return out, fallbacks


def clip_bounds(score, eps_low, eps_high, alpha=1.0):
    """AAC (Eq. 8) for one token."""
    low = eps_low * (1 - alpha * score) if score <= 0 else eps_low
    high = eps_high * (1 + alpha * score) if score > 0 else eps_high
    return low, high


def redistribute(advantage, score, ratio, eps_low, eps_high, beta=1.0):
    """DAR (Eq. 6-7) for one token."""
    inside = 1 - eps_low / 2 < ratio < 1 + eps_high / 2
    entropic = advantage * (1 + beta * score)
    if score > 0:
        return entropic if not inside else advantage
    return entropic if inside else advantage


def hapo_reference_loss(
    logits,
    labels,
    mask,
    advantages,
    old_logps,
    normalizer,
    *,
    temperature=1.0,
    eps_low=0.2,
    eps_high=0.2,
    alpha=1.0,
    beta=1.0,
    dual_clip=10.0,
    q=0.8,
    sign="paper",
    adaptive_clip=True,
    dar=True,
):
    """Token-sum of HAPO's per-token loss (adaptive clip + DAR + dual clip) over ``normalizer`` (TRL's ``dapo``).

    ``logits`` ``[B, T, V]`` (with grad), ``labels`` / ``mask`` / ``old_logps`` ``[B, T]``, ``advantages`` ``[B]``.
    Entropies of ``softmax(logits / T)`` (detached) give the scores of the micro-batch; per token, the clip bounds,
    the redistributed advantage, then ``-min(r·A, clip(r)·A)`` capped at ``-c·A`` for ``A < 0``.
    """
    import torch

    B, T, _ = logits.shape
    logp = torch.log_softmax(logits.double() / temperature, dim=-1)
    entropies = [[float(-(logp[b, t].exp() * logp[b, t]).sum()) for t in range(T)] for b in range(B)]
    scores, _ = entropy_scores(entropies, mask.tolist(), q=q, sign=sign)
    total = logits.new_zeros((), dtype=torch.float64)
    for b in range(B):
        for t in range(T):
            if not bool(mask[b][t]):
                continue
            s = scores[b][t]
            low, high = clip_bounds(s, eps_low, eps_high, alpha) if adaptive_clip else (eps_low, eps_high)
            lp = logp[b, t, int(labels[b][t])]
            ratio = torch.exp(lp - float(old_logps[b][t]))
            a = float(advantages[b])
            if dar:
                a = redistribute(a, s, float(ratio), low, high, beta)
            clipped = torch.clamp(ratio, 1 - low, 1 + high)
            loss = -torch.minimum(ratio * a, clipped * a)
            if adaptive_clip and dual_clip is not None and a < 0:
                loss = torch.clamp(loss, max=-dual_clip * a)
            total = total + loss
    return total / normalizer
