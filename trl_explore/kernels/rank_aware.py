"""Fused LM head + rank-aware NTP loss (arXiv 2512.22955) with its closed-form gradient.

The loss needs whole vocabulary rows (its head set K is the top-k of each token's distribution), so it is one
per-tile formula on the tiling core (`trl_explore.kernels._tiled_head`): tiles of ``n`` tokens × all ``V`` columns
with ``n · V`` bounded by TRL's own tile budget. `fused_rank_aware_loss` uses the core's *precompute* schedule: each
tile is turned into the loss, the statistics and — fused-linear-cross-entropy style — the gradient w.r.t. the logits,
which is folded into fp32 accumulators while the tile is at hand (the backward only scales them). Nothing of size
``[N, V]`` is ever held.

Gradient w.r.t. the (transformed) logits of one token, with p = softmax(z), a = λ_high, b = λ_low (spec, expanded so
that only the k head entries and the label need sparse updates)::

    dL/dz = c · p + (b − a) · p ⊙ 1_K + e_x · (−w + p_x · (a if x ∈ K else b))
    c = w + a · P(K \\ {x}) + b · P(tail) − b

which equals ``−w (e_x − p) − a p ⊙ (1_{S1} − P_{S1}) − b p ⊙ (1_{S2} − P_{S2})``. Logit scaling and soft-capping
follow TRL's fused head (the core chains them).

`RankAwareRequest` is the same formula as a kernel behind the fused-head seam (`trl_explore.kernels.fused_head`):
inside ``SFTTrainer.compute_loss`` it returns the negated per-token loss as the "log-probabilities" TRL sums, so
``−Σ log_probs / num_items`` is the rank-aware loss, and collects the ``rank_aware/*`` statistics of each call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..functional.rank_aware import rank_aware_log_weight
from ._tiled_head import FusedHeadCall, FusedHeadRecord, Tile, TiledHead, TileFormula, tiled_apply

__all__ = ["STAT_NAMES", "RankAwareFormula", "RankAwareRequest", "fused_rank_aware_loss"]

# Per-token statistics returned next to the loss (0 at unscored positions)
STAT_NAMES = ("loss", "entropy", "p_tail", "p_topk_neg", "w", "is_top1")
# Formula columns: the statistics (masses unclamped), then what a recomputing backward needs
_COLUMNS = (*STAT_NAMES, "log_z", "log_p_x", "x_in_k")
_COL = {name: i for i, name in enumerate(_COLUMNS)}


class RankAwareFormula(TileFormula):
    """Per-tile rank-aware loss (column 0, differentiable) and statistics; see the module docstring."""

    num_outputs = len(_COLUMNS)
    num_differentiable = 1

    def __init__(self, labels: Tensor, beta: float, top_k: int, lambda_high: float, lambda_low: float) -> None:
        self.labels = labels  # [N] valid ids on the scored rows
        self.beta, self.top_k = float(beta), int(top_k)
        self.a, self.b = float(lambda_high), float(lambda_low)

    def forward(self, tile: Tile) -> Tensor:
        z = tile.logits  # [n, V], left intact
        vocab = z.shape[1]
        k = min(self.top_k, vocab)
        y = tile.take(self.labels).unsqueeze(1)  # [n, 1]
        z_max, argmax = z.max(-1)  # [n], [n]; first maximum, like TRL's `is_top1`
        z_x = z.gather(1, y).squeeze(1)  # [n]
        top_vals, top_idx = z.topk(k, dim=-1, sorted=False)  # [n, k]: K, membership constant
        e = torch.sub(z, z_max.unsqueeze(1), out=tile.buffer("e")).exp_()  # [n, V], softmax(z) · Σ exp
        sum_exp = e.sum(-1)  # [n]
        log_z = z_max + sum_exp.log()  # [n]
        # entropy = log Z − Σ p z, the dot product without an [n, V] temporary
        entropy = log_z - torch.bmm(e.unsqueeze(1), z.unsqueeze(2)).view(-1) / sum_exp
        log_p_x = z_x - log_z  # [n]
        p_x = log_p_x.exp()
        p_k = (top_vals - log_z.unsqueeze(1)).exp()  # [n, k]
        topk_mass = p_k.sum(-1) if k < vocab else torch.ones_like(log_z)  # K = V: exactly 1, the tail exactly empty
        x_in_k = (top_idx == y).any(-1)  # [n]
        zero = torch.zeros_like(p_x)
        p_topk_neg = topk_mass - torch.where(x_in_k, p_x, zero)  # P(K \ {x})
        p_tail = 1.0 - topk_mass - torch.where(x_in_k, zero, p_x)  # P(V \ (K ∪ {x}))
        w = rank_aware_log_weight(log_p_x, self.beta).exp()
        loss = -w * log_p_x - self.a * p_topk_neg - self.b * p_tail
        is_top1 = (argmax == y.squeeze(1)).to(z.dtype)
        tile.cache.update(e=e, sum_exp=sum_exp, top_idx=top_idx, p_k=p_k)
        out = tile.out  # [n, C], columns in `_COLUMNS` order
        for i, value in enumerate((loss, entropy, p_tail, p_topk_neg, w, is_top1, log_z, log_p_x, x_in_k)):
            out[:, i] = value
        return out

    def backward(self, tile: Tile, saved: Tensor, grads: Sequence[Tensor | None]) -> Tensor:
        (g,) = grads  # [n]
        a, b = self.a, self.b
        w, log_z = saved[:, _COL["w"]], saved[:, _COL["log_z"]]
        p_x = saved[:, _COL["log_p_x"]].exp()
        x_in_k = saved[:, _COL["x_in_k"]] > 0.5
        c = w + a * saved[:, _COL["p_topk_neg"]] + b * saved[:, _COL["p_tail"]] - b  # [n]
        cache = tile.cache
        if "e" in cache:  # the forward's exponentials of this tile: c · p in place over them
            p = cache["e"].mul_((c * g / cache["sum_exp"]).unsqueeze(1))
            top_idx, p_k = cache["top_idx"], cache["p_k"]
        else:  # recompute: p = exp(z − log Z), K again from the logits
            z = tile.logits
            top_idx = z.topk(min(self.top_k, z.shape[1]), dim=-1, sorted=False).indices  # [n, k]
            p_k = (z.gather(1, top_idx) - log_z.unsqueeze(1)).exp()
            p = torch.sub(z, log_z.unsqueeze(1), out=tile.buffer("e")).exp_().mul_((c * g).unsqueeze(1))
        if a != b:
            p.scatter_add_(1, top_idx, ((b - a) * g).unsqueeze(1) * p_k)
        x_coef = -w + p_x * torch.where(x_in_k, torch.full_like(p_x, a), torch.full_like(p_x, b))
        p.scatter_add_(1, tile.take(self.labels).unsqueeze(1), (x_coef * g).unsqueeze(1))
        return p  # [n, V]


def fused_rank_aware_loss(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    bias: Tensor | None = None,
    beta: float = 0.0,
    top_k: int = 100,
    lambda_high: float = 0.0,
    lambda_low: float = 0.0,
    ignore_index: int = -100,
    logit_scale: float = 1.0,
    softcap: float | None = None,
    tile_rows: int | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Summed rank-aware loss of the LM head applied to ``hidden``, without materialising ``[tokens, V]`` logits.

    Equivalent to ``rank_aware_token_loss(transform(hidden @ weight.T + bias), labels, ...).sum()`` with
    ``transform(y) = cap · tanh(logit_scale · y / cap)`` (or ``logit_scale · y`` without soft-capping), the same
    transform TRL's fused LM head applies. Divide the result by the number of tokens (or ``num_items_in_batch``).

    Args:
        hidden (`torch.Tensor` of shape `[..., d]`): final hidden states aligned with `labels` (already shifted).
        weight (`torch.Tensor` of shape `[V, d]`): LM head weight (the embedding matrix with tied embeddings).
        labels (`torch.Tensor` of shape `[...]`): label ids, `ignore_index` where skipped.
        bias (`torch.Tensor` of shape `[V]`, *optional*): LM head bias.
        beta (`float`, *optional*, defaults to `0.0`): β of the ground-truth weight.
        top_k (`int`, *optional*, defaults to `100`): size of the head set K (clipped to V).
        lambda_high (`float`, *optional*, defaults to `0.0`): reward of the negatives in K \\ {x}.
        lambda_low (`float`, *optional*, defaults to `0.0`): reward of the tail negatives.
        ignore_index (`int`, *optional*, defaults to `-100`): skipped label value (those tokens are not projected).
        logit_scale (`float`, *optional*, defaults to `1.0`): multiplier applied to the logits before soft-capping.
        softcap (`float`, *optional*): final-logit soft-capping value (Gemma-style), `None` for none.
        tile_rows (`int`, *optional*): tokens per tile (default: `4096 · 32768 // V`, TRL's tile budget).

    Returns:
        `tuple[torch.Tensor, dict[str, torch.Tensor]]`: the summed loss (fp32 scalar, differentiable w.r.t. `hidden`,
        `weight` and `bias`) and detached per-token statistics of shape `[...]` (0 at ignored positions): `"loss"`,
        `"entropy"`, `"p_tail"`, `"p_topk_neg"`, `"w"`, `"is_top1"` (bool) and `"mask"` (bool).
    """
    shape = labels.shape
    if hidden.shape[:-1] != shape:
        raise ValueError(f"`hidden` {tuple(hidden.shape)} must be `labels` {tuple(shape)} plus a hidden dim.")
    flat_labels = labels.reshape(-1)
    mask = flat_labels != ignore_index
    loss, stats = RankAwareRequest(beta, top_k, lambda_high, lambda_low).loss(
        hidden.reshape(-1, hidden.shape[-1]),
        TiledHead(weight, bias, logit_scale, softcap),
        flat_labels.masked_fill(~mask, 0),
        row_index=None if bool(mask.all()) else mask.nonzero().squeeze(-1),
        tile_rows=tile_rows,
    )
    out = {name: value.view(shape) for name, value in stats.items()}
    out["mask"] = mask.view(shape)
    return loss.sum(), out


@dataclass
class RankAwareRequest:
    """The rank-aware loss as a kernel behind the fused-head seam (`trl_explore.kernels.fused_head.fused_head`).

    Each fused LM-head call returns, as TRL's ``log_probs``, the negated per-token rank-aware loss ``−L`` (so TRL's
    ``−Σ log_probs / num_items`` is the rank-aware loss; with ``β = λ_high = λ_low = 0`` it is the log-probability),
    with TRL's ``entropy`` and ``is_top1``, and appends the call's statistics to `calls`. Give the block the batch's
    ``label_mask`` (`trl_explore.kernels.fused_head.fused_head`) so that only the labelled rows are projected.

    Attributes:
        beta, top_k, lambda_high, lambda_low: the loss's knobs (`fused_rank_aware_loss`).
        calls: per call, a `~trl_explore.kernels.fused_head.FusedHeadRecord` (``stats``: ``{name: [N]}``, 0 on
            unscored rows; ``row_index``: the scored rows).
    """

    beta: float = 0.0
    top_k: int = 100
    lambda_high: float = 0.0
    lambda_low: float = 0.0
    calls: list[FusedHeadRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (isinstance(self.beta, (int, float)) and math.isfinite(self.beta)):
            raise ValueError(f"`beta` must be a finite number, got {self.beta!r}.")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"`top_k` must be an integer >= 1, got {self.top_k!r}.")
        for name in ("lambda_high", "lambda_low"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise ValueError(f"`{name}` must be a finite number, got {value!r}.")

    def loss(
        self,
        hidden: Tensor,
        head: TiledHead,
        labels: Tensor,
        *,
        row_index: Tensor | None = None,
        tile_rows: int | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-token rank-aware loss ``[N]`` (differentiable, 0 on unscored rows) and detached statistics ``[N]`` of
        ``hidden [N, H]`` through ``head``; ``labels [N]`` must be valid ids on the scored rows (``row_index``,
        default all). Precompute schedule: cheapest when the loss is summed with one weight per scored row."""
        formula = RankAwareFormula(labels, self.beta, self.top_k, self.lambda_high, self.lambda_low)
        (loss,), rest = tiled_apply(formula, hidden, head, tile_rows=tile_rows, row_index=row_index, precompute=True)
        stats = {name: rest[:, _COL[name] - 1] for name in STAT_NAMES[1:]}
        stats["loss"] = loss.detach()
        stats["p_tail"] = stats["p_tail"].clamp(min=0.0)
        stats["p_topk_neg"] = stats["p_topk_neg"].clamp(min=0.0)
        stats["is_top1"] = stats["is_top1"] > 0.5
        return loss, stats

    def __call__(self, call: FusedHeadCall) -> tuple[Tensor | None, ...]:
        if call.temperature != 1.0:
            raise ValueError(f"the rank-aware loss is defined at temperature 1, got {call.temperature}.")
        unsupported = set(call.outputs) - {"log_probs", "entropy", "is_top1"}
        if unsupported:
            raise ValueError(f"the rank-aware kernel cannot produce the fused-head outputs {sorted(unsupported)}.")
        loss, stats = self.loss(call.hidden, call.head, call.targets, row_index=call.row_index)
        self.calls.append(
            FusedHeadRecord(stats, call.hidden.shape[0], row_index=call.row_index, temperature=call.temperature)
        )
        return (
            -loss,
            stats["entropy"] if "entropy" in call.outputs else None,
            None,
            None,
            stats["is_top1"] if "is_top1" in call.outputs else None,
        )
