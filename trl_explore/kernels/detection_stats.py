"""Per-position statistics of a text under a scoring model (and a reference model), for machine-text detection.

What likelihood-based detectors (Lastde / Lastde++, Fast-DetectGPT) read from a language model at every position of a
text, computed in token tiles with full vocabulary rows on the tiling core (`trl_explore.kernels._tiled_head`):
forward only, never more than one ``[rows, V]`` logits tile per model.

For position ``i`` with label ``x``, scoring distribution ``p = softmax(z_p / T)`` and reference distribution
``q = softmax(z_q / T)`` (``q = p`` without a reference model; both models share the vocabulary)::

    label_logprob   log p(x)
    label_rank      1 + #{v : z_p[v] > z_p[x]}                 (rank_ties="min": 1 = top; ties do not push the label down)
                    1 + #{v : z_p[v] > z_p[x]} + #{v < x : z_p[v] = z_p[x]}     (rank_ties="released")
    entropy         − Σ_v p(v) log p(v)
    expected_logp   Σ_v q(v) log p(v)                          (Fast-DetectGPT's analytic mean under q)
    expected_logp2  Σ_v q(v) (log p(v))²                        (its variance is expected_logp2 − expected_logp²)
    samples         K tokens per position drawn from q, by inverse CDF from K uniforms per position drawn up front
                    from ``generator`` (the draws do not depend on the tiling); ``sample_logprobs`` = log p(samples)

Tied logits and the rank. ``rank_ties="min"`` (the default) gives every token tied with the label the label's best
rank — the "min" rank of ``scipy.stats.rankdata`` on the negated logits: a function of the distribution alone, so the
rank of a token does not depend on its id. The released code of the log-rank baseline (Mitchell et al., DetectGPT,
arXiv 2301.11305; kept by Fast-DetectGPT and Lastde, arXiv 2410.06072) takes the label's position in
``logits.argsort(descending=True)``: ties count the tied tokens placed before the label, in an order that torch's
unstable sort leaves to the implementation. ``rank_ties="released"`` counts them in a fixed order — tied tokens with a
smaller id come first, as a stable descending argsort orders them — so a label tied with ``k`` others gets a rank
between the min rank and the min rank plus ``k``. Example: logits ``[5]*10 + [1, 1]``, labels ``0, 3, 7, 9, 10, 11``
give ranks ``1, 1, 1, 1, 11, 11`` ("min") and ``1, 4, 8, 10, 11, 12`` ("released").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import check_choice
from ._tiled_head import Tile, TiledHead, TileFormula, tiled_forward

__all__ = ["RANK_TIES", "DetectionStats", "DetectionStatsFormula", "detection_stats", "label_rank"]

#: how tied logits count in the label's rank (see the module docstring)
RANK_TIES = ("min", "released")
_SCALARS = ("label_logprob", "label_rank", "entropy", "expected_logp", "expected_logp2")


@dataclass
class DetectionStats:
    """Per-position statistics (see the module docstring); ``[N]`` float32 unless noted.

    Attributes:
        label_logprob, entropy, expected_logp, expected_logp2: ``[N]``.
        label_rank: ``[N]`` long, 1 for the most likely token (ties: ``rank_ties``).
        sample_ids: ``[N, K]`` long, tokens drawn from q (``K = 0`` without sampling).
        sample_logprobs: ``[N, K]``, log p of the sampled tokens.
    """

    label_logprob: Tensor
    label_rank: Tensor
    entropy: Tensor
    expected_logp: Tensor
    expected_logp2: Tensor
    sample_ids: Tensor
    sample_logprobs: Tensor


def label_rank(logits: Tensor, labels: Tensor, rank_ties: str = "min") -> Tensor:
    """Rank of each label among its row's logits, 1 for the largest.

    Args:
        logits: ``[n, V]`` logits (any positive temperature keeps the order).
        labels: ``[n, 1]`` long, the label of each row.
        rank_ties: ``"min"``: ``1 + #{v : z[v] > z[x]}``; ``"released"``: plus ``#{v < x : z[v] = z[x]}``, the tied
            tokens of smaller id (a stable descending argsort's position of the label, plus 1).

    Returns:
        ``[n]`` long ranks in ``[1, V]``.
    """
    z_x = logits.gather(1, labels)  # [n, 1]
    rank = (logits > z_x).sum(-1) + 1  # [n]
    if rank_ties == "released":
        ids = torch.arange(logits.shape[1], device=logits.device)  # [V]
        rank = rank + ((logits == z_x) & (ids < labels)).sum(-1)  # tied tokens placed before the label
    return rank


class DetectionStatsFormula(TileFormula):
    """Per-tile formula of `detection_stats`: columns ``_SCALARS``, then ``K`` sample ids, then their log p."""

    def __init__(
        self,
        labels: Tensor,
        temperature: float,
        uniforms: Tensor | None,
        moments: bool = True,
        rank_ties: str = "min",
    ) -> None:
        self.labels = labels  # [N]
        self.moments = moments
        self.rank_ties = rank_ties
        self.inv_t = 1.0 / temperature
        self.uniforms = uniforms  # [N, K] in [0, 1), or None
        self.k = 0 if uniforms is None else uniforms.shape[1]
        self.num_outputs = len(_SCALARS) + 2 * self.k

    def forward(self, tile: Tile) -> Tensor:
        zp = tile.logits  # [n, V] scoring model, temperature 1
        y = tile.take(self.labels).unsqueeze(1)  # [n, 1]
        rank = label_rank(zp, y, self.rank_ties)  # [n], on the temperature-1 logits (a positive T keeps the order)
        if self.inv_t != 1.0:
            zp.mul_(self.inv_t)
        logp = zp.sub_(torch.logsumexp(zp, dim=-1, keepdim=True))  # [n, V], log p in place
        label_logprob = logp.gather(1, y).squeeze(1)
        if not (self.moments or self.k):  # the label's log-prob and rank only
            nan = torch.full_like(label_logprob, float("nan"))
            return torch.stack([label_logprob, rank.to(logp.dtype), nan, nan, nan], 1)
        p = torch.exp(logp, out=tile.buffer("p"))  # [n, V]
        if tile.others:  # q from the reference model's tile
            zq = tile.others[0]
            if self.inv_t != 1.0:
                zq.mul_(self.inv_t)
            q = zq.sub_(torch.logsumexp(zq, -1, keepdim=True)).exp_()  # [n, V], in place over q's logits
        else:
            q = p
        if self.moments:
            entropy = -torch.bmm(p.unsqueeze(1), logp.unsqueeze(2)).view(-1)
            expected = torch.bmm(q.unsqueeze(1), logp.unsqueeze(2)).view(-1)  # Σ q log p
            sq = torch.mul(logp, logp, out=tile.buffer("sq"))  # [n, V]
            expected2 = torch.bmm(q.unsqueeze(1), sq.unsqueeze(2)).view(-1)  # Σ q (log p)²
        else:
            entropy = expected = expected2 = torch.full_like(label_logprob, float("nan"))
        columns = [label_logprob, rank.to(logp.dtype), entropy, expected, expected2]
        out = torch.stack(columns, 1)
        if self.k:
            cdf = torch.cumsum(q, dim=-1, out=tile.buffer("cdf"))  # [n, V]
            u = tile.take(self.uniforms).to(cdf.dtype) * cdf[:, -1:]  # [n, K], scaled to the row's total mass
            ids = torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.shape[1] - 1)  # [n, K]
            out = torch.cat([out, ids.to(logp.dtype), logp.gather(1, ids)], dim=1)
        return out


def detection_stats(
    hidden: Tensor,
    head: TiledHead,
    labels: Tensor,
    *,
    reference_hidden: Tensor | None = None,
    reference_head: TiledHead | None = None,
    temperature: float = 1.0,
    num_samples: int = 0,
    generator: torch.Generator | None = None,
    uniforms: Tensor | None = None,
    moments: bool = True,
    rank_ties: str = "min",
    tile_rows: int | None = None,
) -> DetectionStats:
    """Detection statistics of a text's positions (see the module docstring); no gradients.

    Args:
        hidden: ``[N, H]`` the scoring model's final hidden states at the positions (already aligned with ``labels``).
        head: the scoring model's head (`TiledHead`: weight, bias, logit scale, soft-capping).
        labels: ``[N]`` the observed next tokens.
        reference_hidden: ``[N, H']`` the reference model's hidden states at the same positions, or ``None`` (q = p).
        reference_head: the reference model's head (same vocabulary size), with ``reference_hidden``.
        temperature: T > 0 applied to both models' logits.
        num_samples: K tokens drawn per position from q (0: none).
        generator: source of the ``[N, K]`` uniforms (on the hidden states' device); the samples are a deterministic
            function of its state.
        uniforms: ``[N, K]`` values in ``[0, 1)`` to sample with instead of drawing them from ``generator`` (e.g. drawn
            per text, so that a text's samples do not depend on the batch it is scored in); ``num_samples`` is then
            ``K`` (or must equal it).
        moments: compute ``entropy``, ``expected_logp`` and ``expected_logp2`` (``False``: they are NaN, and a pass
            without samples skips the exponentials and the three reductions over the vocabulary: what likelihood,
            log-rank and Lastde need).
        rank_ties: how logits tied with the label's count in ``label_rank``: ``"min"`` (none of them: the best rank
            of the tie) or ``"released"`` (those of smaller token id, the released code's argsort position with ties
            in a fixed order); see the module docstring.
        tile_rows: positions per tile (default: TRL's tile budget shared by the models' tiles).

    Returns:
        `DetectionStats` (float32 for float32/bf16 models, float64 for float64 ones).
    """
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"`temperature` must be a finite number > 0, got {temperature!r}.")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 0:
        raise ValueError(f"`num_samples` must be an integer >= 0, got {num_samples!r}.")
    if (reference_hidden is None) != (reference_head is None):
        raise ValueError("pass both `reference_hidden` and `reference_head`, or neither.")
    if labels.shape != hidden.shape[:1]:
        raise ValueError(
            f"`labels` must be [N] for `hidden` [N, H], got {tuple(labels.shape)} and {tuple(hidden.shape)}."
        )
    if uniforms is not None:
        if uniforms.dim() != 2 or uniforms.shape[0] != hidden.shape[0] or not uniforms.is_floating_point():
            raise ValueError(
                f"`uniforms` must be a float [N, K] tensor for `hidden` [N, H], got {tuple(uniforms.shape)} "
                f"({uniforms.dtype})."
            )
        if num_samples not in (0, uniforms.shape[1]):
            raise ValueError(f"`num_samples` ({num_samples}) must be 0 or K = {uniforms.shape[1]} with `uniforms`.")
        if uniforms.numel() and not bool(((uniforms >= 0) & (uniforms < 1)).all()):
            raise ValueError("`uniforms` must lie in [0, 1).")
        num_samples = uniforms.shape[1]
        uniforms = uniforms.to(hidden.device) if num_samples else None
    elif num_samples:
        uniforms = torch.rand((hidden.shape[0], num_samples), generator=generator, device=hidden.device)
    if not isinstance(moments, bool):
        raise ValueError(f"`moments` must be a bool, got {moments!r}.")
    check_choice(None, "rank_ties", RANK_TIES, value=rank_ties)
    formula = DetectionStatsFormula(labels, float(temperature), uniforms, moments, rank_ties)
    hiddens, heads = [hidden], [head]
    if reference_head is not None:
        hiddens.append(reference_hidden)
        heads.append(reference_head)
    out = tiled_forward(formula, hiddens, heads, tile_rows=tile_rows)  # [N, 5 + 2K]
    k, s = num_samples, len(_SCALARS)
    return DetectionStats(
        label_logprob=out[:, 0],
        label_rank=out[:, 1].round().long(),
        entropy=out[:, 2],
        expected_logp=out[:, 3],
        expected_logp2=out[:, 4],
        sample_ids=out[:, s : s + k].round().long(),
        sample_logprobs=out[:, s + k :],
    )
