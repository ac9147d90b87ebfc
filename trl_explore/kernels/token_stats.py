"""Fused per-token statistics of an LM head without materialising ``[N, V]`` logits.

`token_stats` is one per-tile formula on the tiling core (`trl_explore.kernels._tiled_head`): every tile holds whole
vocabulary rows, so one pass yields, exactly, per token: the label log-probability (differentiable), the entropy
(differentiable), the row's max log-probability, its logsumexp and the Lp-Reg proxy statistics (kept mass ``Z`` and
proxy log-probability of the label, see `trl_explore.functional.lp_reg`), which depend on the row's global maximum and
so cannot be folded from vocabulary-split tiles in one pass; on request also TRL's other fused-head outputs
(``is_top1``, ``log_sum_sq_probs``, ``mean_logits``). The backward recomputes each tile (like TRL's
``ChunkedLogProbFunction``), accumulating the gradient GEMMs in float32.

Per tile, with ``z`` the temperature-1 logits, ``T`` the temperature, ``m = max z / T`` and ``e = exp(z / T − m)``::

    log_z    = m + log Σ e                       logprobs = z_x / T − log_z
    entropy  = log_z − Σ e · z / T / Σ e          max_logp = m − log_z
    keep     = z >= max z + log κ   ("min_p")  or  z >= logsumexp z + log τ   ("fixed", temperature 1)
    kept     = Σ_keep e / Σ e                    proxy    = logprobs − log kept   (−inf when x is not kept)
    d logprobs / dz = (e_x − p) / T              d entropy / dz = −p (log p + H) / T

`fused_token_stats` routes the fused LM head TRL installs on a model through this kernel for the duration of a block
(`trl_explore.kernels.fused_head`, the one fused-head seam) and collects the statistics of each call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import torch
from torch import Tensor

from ._tiled_head import (
    TILE_FLOATS,
    FusedHeadCall,
    FusedHeadRecord,
    Tile,
    TiledHead,
    TileFormula,
    rows_per_tile,
    tiled_apply,
)

# TRL 1.16's tile: 4096 tokens x 32768 vocabulary entries (the name the GRPO code and tests use)
TRL_TILE_FLOATS = TILE_FLOATS
THRESHOLDS = ("min_p", "fixed")
# TRL's fused-head outputs (`trl.kernels.chunked_logprob.OPTIONAL_OUTPUTS`) this kernel can also produce
EXTRA_OUTPUTS = ("is_top1", "log_sum_sq_probs", "mean_logits")

__all__ = [
    "TRL_TILE_FLOATS",
    "TokenStats",
    "TokenStatsFormula",
    "TokenStatsRequest",
    "rows_per_tile",
    "token_stats",
]


@dataclass
class TokenStats:
    """Per-token statistics, all ``[N]`` float32 (see the module docstring); ``kept_mass`` / ``proxy_logps`` are NaN
    without a proxy, the `EXTRA_OUTPUTS` NaN unless requested (``is_top1`` as 0/1)."""

    logprobs: Tensor
    entropy: Tensor
    max_logp: Tensor
    log_z: Tensor
    kept_mass: Tensor
    proxy_logps: Tensor
    is_top1: Tensor
    log_sum_sq_probs: Tensor
    mean_logits: Tensor


_NAMES = tuple(f.name for f in fields(TokenStats))
# Always computed (the first two differentiable); the `EXTRA_OUTPUTS` get a column only when requested
_BASE = _NAMES[: len(_NAMES) - len(EXTRA_OUTPUTS)]


class TokenStatsFormula(TileFormula):
    """Per-tile formula of `token_stats`: columns `_BASE`, then the requested `EXTRA_OUTPUTS` (`columns`)."""

    num_differentiable = 2

    def __init__(
        self,
        targets: Tensor,
        temperature: float,
        min_p: float | None,
        threshold: str,
        extra_outputs: Sequence[str] = (),
    ) -> None:
        self.targets = targets  # [N] long
        self.inv_t = 1.0 / temperature
        self.min_p = min_p
        self.log_kappa = math.log(min_p) if min_p is not None else 0.0
        self.threshold = threshold
        self.extra = frozenset(extra_outputs)
        names = _BASE + tuple(name for name in EXTRA_OUTPUTS if name in self.extra)
        self.columns = {name: i for i, name in enumerate(names)}
        self.num_outputs = len(names)

    def forward(self, tile: Tile) -> Tensor:
        z = tile.logits  # [n, V], temperature-1 logits
        col = self.columns
        out = tile.out.fill_(math.nan)  # [n, C]
        tgt = tile.take(self.targets).unsqueeze(-1)  # [n, 1]
        m1 = z.amax(-1)  # [n]
        keep = None
        if self.min_p is not None:
            if self.threshold == "min_p":
                keep = z >= (m1 + self.log_kappa).unsqueeze(-1)  # [n, V]
            else:  # "fixed": π₁(v) >= τ  <=>  z_v >= log τ + logsumexp(z)
                keep = z >= (torch.logsumexp(z, dim=-1) + self.log_kappa).unsqueeze(-1)
        if "is_top1" in self.extra:  # argmax returns the first maximum, like TRL's `is_top1`
            out[:, col["is_top1"]] = (z.argmax(-1, keepdim=True) == tgt).squeeze(-1).to(z.dtype)
        if "mean_logits" in self.extra:
            out[:, col["mean_logits"]] = z.mean(-1) * self.inv_t
        if self.inv_t != 1.0:
            z.mul_(self.inv_t)
        m = m1 * self.inv_t  # the max commutes with a positive scale
        e = torch.sub(z, m.unsqueeze(-1), out=tile.buffer("e")).exp_()  # [n, V]
        s = e.sum(-1)  # [n]
        xs = torch.bmm(e.unsqueeze(1), z.unsqueeze(2)).view(-1)  # [n], Σ e·z without an [n, V] temporary
        lz = m + torch.log(s)  # [n]
        target_z = z.gather(-1, tgt).squeeze(-1)  # [n]
        out[:, col["logprobs"]] = target_z - lz
        out[:, col["entropy"]] = lz - xs / s
        out[:, col["max_logp"]] = m - lz
        out[:, col["log_z"]] = lz
        if "log_sum_sq_probs" in self.extra:
            out[:, col["log_sum_sq_probs"]] = (
                torch.log(torch.bmm(e.unsqueeze(1), e.unsqueeze(2)).view(-1)) - 2 * s.log()
            )
        if keep is not None:
            kept = e.masked_fill_(~keep, 0.0).sum(-1) / s  # [n], Z = Σ_kept π_T
            out[:, col["kept_mass"]] = kept
            label_kept = keep.gather(-1, tgt).squeeze(-1)
            out[:, col["proxy_logps"]] = torch.where(
                label_kept, target_z - lz - torch.log(kept), torch.full_like(kept, -math.inf)
            )
        return out

    def backward(self, tile: Tile, saved: Tensor, grads: Sequence[Tensor | None]) -> Tensor:
        grad_logprobs, grad_entropy = grads
        col = self.columns
        y = tile.logits  # [n, V] temperature-1 logits, overwritten by the gradient
        # y ← log p = z / T − log_z
        y.mul_(self.inv_t).sub_(saved[:, col["log_z"]].unsqueeze(-1))
        p = torch.exp(y, out=tile.buffer("e"))  # [n, V]
        if grad_entropy is not None:
            # d(entropy)/dz_j = −p_j (log p_j + H)
            y.add_(saved[:, col["entropy"]].unsqueeze(-1)).mul_(p).mul_(-grad_entropy.unsqueeze(-1))
        else:
            y.zero_()
        if grad_logprobs is not None:
            # d(log p_target)/dz_j = 1[j = target] − p_j
            g = grad_logprobs.unsqueeze(-1)  # [n, 1]
            y.sub_(p.mul_(g))
            y.scatter_add_(-1, tile.take(self.targets).unsqueeze(-1), g)
        if self.inv_t != 1.0:
            y.mul_(self.inv_t)
        return y


def token_stats(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    bias: Tensor | None = None,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    logit_scale: float = 1.0,
    min_p: float | None = 0.02,
    threshold: str = "min_p",
    extra_outputs: Sequence[str] = (),
    tile_rows: int | None = None,
) -> TokenStats:
    """Per-token statistics of ``hidden @ weight.T (+ bias)`` in token tiles with full vocabulary rows.

    Args:
        hidden: ``[N, H]`` final hidden states.
        weight: ``[V, H]`` LM-head weight.
        targets: ``[N]`` label ids (must be valid indices; pass 0 for ignored positions and mask afterwards).
        bias: optional ``[V]`` LM-head bias.
        temperature: T > 0 (the logits are divided by it; the proxy keep set uses temperature 1).
        softcap: final-logit soft-capping ``c · tanh(z / c)`` of the model (``None``: none), as in TRL.
        logit_scale: multiplier of the logits applied first (``1.0``: none), as in TRL.
        min_p: κ / τ of the proxy; ``None`` skips the proxy (``kept_mass``/``proxy_logps`` are NaN).
        threshold: ``"min_p"`` or ``"fixed"``.
        extra_outputs: any of ``"is_top1"``, ``"log_sum_sq_probs"``, ``"mean_logits"`` (TRL's other outputs).
        tile_rows: tokens per tile (default: `rows_per_tile` of the vocabulary size).

    Returns:
        `TokenStats`; ``logprobs`` and ``entropy`` carry gradients w.r.t. ``hidden``, ``weight`` and ``bias``.
    """
    return TokenStatsRequest(min_p, threshold).stats(
        hidden,
        TiledHead(weight, bias, logit_scale, softcap),
        targets,
        temperature=temperature,
        extra_outputs=extra_outputs,
        tile_rows=tile_rows,
    )


# --------------------------------------------------------------------------------------------------------------------
# Routing TRL's fused LM head through the kernel
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class TokenStatsRequest:
    """What a `fused_token_stats` block asks for, and what it collected (one entry per fused LM-head call).

    Attributes:
        min_p, threshold: proxy parameters (``min_p=None`` skips the proxy).
        keep_hidden: keep the (graph-connected) hidden rows and head parameters, for full-vocabulary terms on a few
            selected rows later (``kl_estimator="forward_full"``, `trl_explore.kernels.fused_head.project_rows`).
        calls: per call, a `~trl_explore.kernels.fused_head.FusedHeadRecord`: ``stats`` holds the `TokenStats` fields
            by name (flat ``[N]``); ``hidden`` and ``head`` only with ``keep_hidden``.
    """

    min_p: float | None = 0.02
    threshold: str = "min_p"
    keep_hidden: bool = False
    calls: list[FusedHeadRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.min_p is not None and not (
            isinstance(self.min_p, (int, float)) and not isinstance(self.min_p, bool) and 0.0 < self.min_p <= 1.0
        ):
            raise ValueError(f"`min_p` must be in (0, 1] or None, got {self.min_p!r}.")
        if self.threshold not in THRESHOLDS:
            raise ValueError(f"`threshold` must be one of {THRESHOLDS}, got {self.threshold!r}.")

    def stats(
        self,
        hidden: Tensor,
        head: TiledHead,
        targets: Tensor,
        *,
        temperature: float = 1.0,
        extra_outputs: Sequence[str] = (),
        row_index: Tensor | None = None,
        tile_rows: int | None = None,
    ) -> TokenStats:
        """`TokenStats` of ``hidden [N, H]`` through any `TiledHead` (a plain or a numeric head), with this request's
        proxy; only the rows in ``row_index`` (default all) are scored, the others are 0. See `token_stats`."""
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"`temperature` must be a finite number > 0, got {temperature!r}.")
        unknown = set(extra_outputs) - set(EXTRA_OUTPUTS)
        if unknown:
            raise ValueError(f"`extra_outputs` must be among {EXTRA_OUTPUTS}, got {sorted(unknown)}.")
        formula = TokenStatsFormula(targets, temperature, self.min_p, self.threshold, extra_outputs)
        (logprobs, entropy), rest = tiled_apply(formula, hidden, head, tile_rows=tile_rows, row_index=row_index)
        nan = rest.new_full((), math.nan).expand(rest.shape[0])  # unrequested outputs: NaN, no memory
        values = {name: rest[:, i - 2] for name, i in formula.columns.items() if i >= 2}
        return TokenStats(logprobs, entropy, *(values.get(name, nan) for name in _NAMES[2:]))

    def __call__(self, call: FusedHeadCall) -> tuple[Tensor | None, ...]:
        """The fused-head kernel of this request (`trl_explore.kernels.fused_head.FusedHeadKernel`)."""
        head = call.head
        stats = self.stats(
            call.hidden,
            head,
            call.targets,
            temperature=call.temperature,
            extra_outputs=[name for name in call.outputs if name in EXTRA_OUTPUTS],
            row_index=call.row_index,
        )
        keep = self.keep_hidden
        record = FusedHeadRecord(
            stats={name: getattr(stats, name) for name in _NAMES},
            n=call.hidden.shape[0],
            row_index=call.row_index,
            temperature=call.temperature,
            hidden=call.hidden if keep else None,
            head=head if keep else None,
        )
        self.calls.append(record)
        return trl_outputs(stats, call.outputs)


def trl_outputs(stats: TokenStats, outputs: tuple[str, ...]) -> tuple[Tensor | None, ...]:
    """TRL's fused-head return tuple ``(log_probs, entropy, log_sum_sq_probs, mean_logits, is_top1)``, each output
    ``None`` unless requested (``is_top1`` as bool)."""
    unknown = set(outputs) - {"log_probs", "entropy", *EXTRA_OUTPUTS}
    if unknown:
        raise ValueError(f"the fused token statistics cannot produce the fused-head outputs {sorted(unknown)}.")
    return (
        stats.logprobs,
        stats.entropy if "entropy" in outputs else None,
        stats.log_sum_sq_probs if "log_sum_sq_probs" in outputs else None,
        stats.mean_logits if "mean_logits" in outputs else None,
        stats.is_top1 > 0.5 if "is_top1" in outputs else None,
    )
