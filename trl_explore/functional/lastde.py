"""Lastde / Lastde++: multiscale diversity entropy of a text's token-probability sequence (Xu et al., "Training-free
LLM-generated Text Detection by Mining Token Probability Sequences", arXiv 2410.06072, ICLR 2025, §3).

The token-probability sequence (TPS) of a text is ``ℓ_t = log p(x_t | x_<t)``, ``t = 1..n`` (n scored tokens). For a
scale ``τ`` (the paper's diversity entropy, eqs. 2-5)::

    y_i   = mean(ℓ_i .. ℓ_{i+τ−1})                    moving average, stride 1      i = 1..n−τ+1
    o_i   = (y_i .. y_{i+s−1})                         orbits of length s (embed_size)
    c_i   = cos(o_i, o_{i+1})                          N = n − τ − s + 1 adjacent cosine similarities
    P_k   = #{i : c_i in bin k} / N                    ε equal bins over [−1, 1], binned in float32
    DE_τ  = −(1 / ln ε) Σ_k P_k ln P_k                 (empty bins contribute 0)

and the scores (eqs. 6-8)::

    MDE(x)      = Agg_{τ = 1..τ'} DE_τ                 Agg in {std, expstd, range, exprange, l2}
    Lastde(x)   = mean_t ℓ_t / MDE(x)                  ε = int(ε_mult · n), the same for every τ
    Lastde++(x) = (Lastde(x) − mean_k Lastde(x̃_k)) / std_k Lastde(x̃_k)

where the ``x̃_k`` are K sequences whose tokens are drawn position by position from a reference model with the prefix
of ``x`` fixed and scored by the scoring model (Fast-DetectGPT's sampling), so ``Lastde(x̃_k)`` is computed from the
``[n]`` log-probabilities of the k-th sample. Higher scores mean more machine-like text.

Conventions fixed here (the paper leaves them open; each documented on the functions):

* bin of a cosine ``c`` (float32): ``k = clamp(floor((c + 1) · ε / 2), 0, ε − 1)`` — ``torch.histc(c, ε, −1, 1)``'s
  binning (tested), so ``c = 1`` falls in the last bin;
* ``cos(a, b) = a·b / max(‖a‖ ‖b‖, 1e-12)``: an all-zero orbit (log-probabilities exactly 0) has cosine 0;
* ``std`` is the unbiased standard deviation over the scales (``expstd = exp(std)``), ``range = max − min``
  (``exprange = exp(range)``), ``l2 = sqrt(Σ_τ DE_τ²)``; Lastde++'s ``std_k`` is unbiased too (Fast-DetectGPT's
  ``torch.std``);
* **short texts** (``n < τ' + s``, so that the largest scale has no cosine): ``short_text="clamp"`` uses the scales
  ``τ = 1..n − s`` of that text (`stats["clamped"]` marks it), ``"nan"`` returns NaN. A score that cannot be defined is
  NaN with a reason code in ``stats["undefined"]`` (`UNDEFINED_REASONS`): too few tokens for the aggregation even
  after clamping (std/expstd/range/exprange need 2 scales, l2 one), fewer than 2 bins, a zero MDE (all scales equally
  diverse: the ratio would be ±inf), or for Lastde++ fewer than 2 defined sample scores or a zero sample spread.
  No ±inf is ever returned.

Everything is computed in float64 (any float input is upcast) and vectorised over rows of unequal length (``lengths``)
and over any leading dimensions (e.g. ``[B, K, T]`` for K samples per text): no Python loop over rows or scales.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._validation import check_choice, check_int, check_number

__all__ = [
    "AGGREGATIONS",
    "SHORT_TEXT_RULES",
    "UNDEFINED_REASONS",
    "diversity_entropy",
    "lastde_plus_plus_score",
    "lastde_score",
    "multiscale_diversity_entropy",
]

AGGREGATIONS = ("std", "expstd", "range", "exprange", "l2")
SHORT_TEXT_RULES = ("clamp", "nan")
#: ``stats["undefined"]`` codes: index -> reason (0: the score is defined)
UNDEFINED_REASONS = (
    "",
    "too few tokens: fewer than the aggregation's minimum number of scales fit (n - embed_size < min scales)",
    "fewer than 2 histogram bins (int(epsilon_mult * n) < 2)",
    "zero multiscale diversity entropy (every scale equally diverse): the ratio would be infinite",
    "fewer than 2 sampled sequences have a defined Lastde score",
    "the Lastde scores of the sampled sequences do not vary (zero standard deviation)",
)
TOO_SHORT, TOO_FEW_BINS, ZERO_MDE, FEW_SAMPLES, ZERO_SAMPLE_STD = 1, 2, 3, 4, 5
_COS_EPS = 1e-12


# --------------------------------------------------------------------------------------------------------- validation
def _as_float64(name: str, x: Any, min_dim: int = 1) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise ValueError(f"`{name}` must hold floating-point values, got dtype {x.dtype}.")
    if x.dim() < min_dim:
        raise ValueError(f"`{name}` must have at least {min_dim} dimension(s), got shape {tuple(x.shape)}.")
    return x.double()


def _lengths(x: Tensor, lengths: Any) -> Tensor:
    """``[...]`` long lengths for ``x [..., T]`` (default: every row full); a ``[B]`` tensor broadcasts over the
    middle dimensions of ``[B, ..., T]``."""
    lead, width = x.shape[:-1], x.shape[-1]
    if lengths is None:
        return torch.full(lead, width, dtype=torch.long, device=x.device)
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.dtype == torch.bool or lengths.is_complex():
        raise ValueError(f"`lengths` must hold integers, got dtype {lengths.dtype}.")
    lengths = lengths.to(device=x.device, dtype=torch.long)
    if lengths.shape != lead:
        if lengths.dim() == 1 and len(lead) >= 1 and lengths.shape[0] == lead[0]:
            lengths = lengths.view(-1, *([1] * (len(lead) - 1))).expand(lead)
        else:
            raise ValueError(
                f"`lengths` must have shape {tuple(lead)} (or [{lead[0] if lead else ''}]) for token_logps "
                f"{tuple(x.shape)}, got {tuple(lengths.shape)}."
            )
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > width):
        raise ValueError(
            f"`lengths` must be in [0, {width}], got values in [{int(lengths.min())}, {int(lengths.max())}]."
        )
    return lengths


def _check_finite(name: str, x: Tensor, lengths: Tensor) -> None:
    valid = torch.arange(x.shape[-1], device=x.device) < lengths.unsqueeze(-1)
    if not bool(torch.isfinite(x[valid]).all()):
        raise ValueError(f"`{name}` must be finite at every scored position (got NaN or ±inf).")


# ------------------------------------------------------------------------------------------------------------- core
def _bin_ids(cos: Tensor, num_bins: Tensor) -> Tensor:
    """``torch.histc(c, ε, min=-1, max=1)`` bin of each cosine, in float32: ``floor((c + 1) · ε / 2)`` clamped to
    ``[0, ε − 1]``. ``cos [R, S, W]`` float64, ``num_bins [R]`` long -> ``[R, S, W]`` long."""
    eps32 = num_bins.to(torch.float32).view(-1, 1, 1)
    ids = torch.floor((cos.float() + 1.0) * eps32 / 2.0).long()
    return torch.minimum(ids.clamp_(min=0), num_bins.view(-1, 1, 1) - 1)


def _scale_entropies(x: Tensor, lengths: Tensor, embed_size: int, num_bins: Tensor, num_scales: int) -> Tensor:
    """``DE_τ`` for ``τ = 1..num_scales`` of every row: ``x [R, T]`` float64 (padding ignored), ``lengths [R]``,
    ``num_bins [R]`` (ε per row) -> ``[R, num_scales]``, NaN where a scale has no cosine (``n − τ − s + 1 < 1``) or a
    row has fewer than 2 bins."""
    rows, width = x.shape
    s = embed_size
    out = torch.full((rows, num_scales), float("nan"), dtype=torch.float64, device=x.device)
    n_cos = width - s  # cosine slots at τ = 1 (the widest)
    if rows == 0 or n_cos < 1 or num_scales < 1:
        return out
    positions = torch.arange(width, device=x.device)
    x = x.masked_fill(positions >= lengths.unsqueeze(1), 0.0)  # [R, T], padding 0
    # moving averages of every scale, laid out [R, S, T] (slots past n − τ + 1 are padding, set to 0)
    sums = x.clone()
    averages = x.new_zeros((rows, num_scales, width))
    averages[:, 0] = x
    for tau in range(2, num_scales + 1):  # running window sums: S_τ[i] = S_{τ−1}[i] + x[i + τ − 1]
        sums = sums[:, :-1] + x[:, tau - 1 :]  # [R, T − τ + 1]
        averages[:, tau - 1, : sums.shape[1]] = sums / tau
    taus = torch.arange(1, num_scales + 1, device=x.device)  # [S]
    n_avg = (lengths.unsqueeze(1) - taus + 1).clamp(min=0)  # [R, S] valid averages per scale
    averages.masked_fill_(positions.view(1, 1, -1) >= n_avg.unsqueeze(-1), 0.0)
    # orbits o_i = y[i : i + s]: dot(o_i, o_{i+1}) and |o_i|² by sliding sums of s products
    prod = averages[..., :-1] * averages[..., 1:]  # [R, S, T − 1]
    sq = averages.square()  # [R, S, T]
    dot = sum(prod[..., j : j + n_cos] for j in range(s))  # [R, S, W]
    norm2 = sum(sq[..., j : j + n_cos + 1] for j in range(s))  # [R, S, W + 1]
    denom = (norm2[..., :-1] * norm2[..., 1:]).sqrt().clamp_(min=_COS_EPS)
    cos = dot / denom  # [R, S, W]
    n_valid = (n_avg - s).clamp(min=0)  # [R, S] cosines per scale: n − τ + 1 − s
    valid = torch.arange(n_cos, device=x.device).view(1, 1, -1) < n_valid.unsqueeze(-1)  # [R, S, W]
    ids = _bin_ids(cos, num_bins)
    # padding slots get ids past every bin, distinct from each other, so they never join a real bin's run
    sentinel = int(num_bins.max()) + 1 + torch.arange(n_cos, device=x.device)
    ids = torch.where(valid, ids, sentinel.view(1, 1, -1)).view(rows * num_scales, n_cos)
    ordered, _ = ids.sort(dim=-1)  # equal bins are runs of the sorted row
    slot = torch.arange(n_cos, device=x.device).expand_as(ordered)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    run_start = torch.where(starts, slot, torch.zeros_like(slot)).cummax(dim=-1).values
    count = (slot - run_start + 1).view(rows, num_scales, n_cos).double()  # a run's length, read at its end
    # H = −Σ_k P_k ln P_k = (1/N) Σ_k c_k (ln N − ln c_k) over the occupied bins (exactly 0 for a single bin)
    n = n_valid.double().clamp(min=1)  # [R, S]
    real_end = (ends & (ordered < num_bins.repeat_interleave(num_scales).unsqueeze(1))).view(rows, num_scales, n_cos)
    terms = count * (n.log().unsqueeze(-1) - count.log())
    entropy = torch.where(real_end, terms, torch.zeros_like(terms)).sum(-1) / n  # [R, S]
    de = entropy / num_bins.double().clamp(min=2).log().unsqueeze(1)
    defined = (n_valid >= 1) & (num_bins >= 2).unsqueeze(1)
    out[:, :num_scales] = torch.where(defined, de, out)
    return out


def _aggregate(de: Tensor, used: Tensor, agg: str) -> Tensor:
    """Aggregate ``de [R, S]`` over the scales marked ``used [R, S]`` (NaN where fewer than needed)."""
    k = used.sum(-1).double()  # [R]
    zeros = torch.zeros_like(de)
    if agg == "l2":
        return torch.where(used, de, zeros).square().sum(-1).sqrt()
    if agg in ("std", "expstd"):
        # deviations from the first scale's value (shifted two-pass sums): exactly 0 when every scale is equal
        d = torch.where(used, de - de[:, :1], zeros)
        var = (d.square().sum(-1) - d.sum(-1).square() / k.clamp(min=1)) / (k - 1).clamp(min=1)
        value = var.clamp(min=0).sqrt()
        return value.exp() if agg == "expstd" else value
    inf = torch.full_like(de, float("inf"))
    spread = torch.where(used, de, -inf).amax(-1) - torch.where(used, de, inf).amin(-1)
    return spread.exp() if agg == "exprange" else spread


def _min_scales(agg: str) -> int:
    return 1 if agg == "l2" else 2


def _num_bins(lengths: Tensor, epsilon_mult: float) -> Tensor:
    """``ε = int(ε_mult · n)`` per row (as Python's ``int`` truncates)."""
    return torch.floor(lengths.double() * epsilon_mult).long()


def _mde(
    x: Tensor, lengths: Tensor, embed_size: int, epsilon_mult: float, tau_prime: int, agg: str, short_text: str
) -> tuple[Tensor, dict[str, Tensor]]:
    """Flattened core of `multiscale_diversity_entropy`: ``x [R, T]``, ``lengths [R]``."""
    num_bins = _num_bins(lengths, epsilon_mult)
    de = _scale_entropies(x, lengths, embed_size, num_bins, tau_prime)  # [R, τ']
    fit = (lengths - embed_size).clamp(min=0)  # largest scale with a cosine: τ <= n − s
    scales = fit.clamp(max=tau_prime) if short_text == "clamp" else torch.where(fit >= tau_prime, tau_prime, 0)
    used = torch.arange(1, tau_prime + 1, device=x.device) <= scales.unsqueeze(1)  # [R, τ']
    mde = _aggregate(de, used, agg)
    undefined = torch.zeros_like(lengths)
    undefined = torch.where(scales < _min_scales(agg), TOO_SHORT, undefined)
    undefined = torch.where((undefined == 0) & (num_bins < 2), TOO_FEW_BINS, undefined)
    mde = torch.where(undefined == 0, mde, torch.full_like(mde, float("nan")))
    stats = {
        "diversity_entropy": torch.where(used, de, torch.full_like(de, float("nan"))),
        "num_scales": torch.where(undefined == 0, scales, torch.zeros_like(scales)),
        "num_bins": num_bins,
        "clamped": (undefined == 0) & (scales < tau_prime),
        "undefined": undefined,
    }
    return mde, stats


def _validate(
    token_logps: Any, lengths: Any, embed_size: Any, epsilon_mult: Any, tau_prime: Any, agg: Any, short_text: Any
) -> tuple[Tensor, Tensor]:
    check_int(None, "embed_size", value=embed_size, low=1)
    check_number(None, "epsilon_mult", value=epsilon_mult, low=0, low_open=True)
    check_int(None, "tau_prime", value=tau_prime, low=1)
    check_choice(None, "agg", AGGREGATIONS, value=agg)
    check_choice(None, "short_text", SHORT_TEXT_RULES, value=short_text)
    x = _as_float64("token_logps", token_logps)
    n = _lengths(x, lengths)
    _check_finite("token_logps", x, n)
    return x, n


def _flatten(x: Tensor, n: Tensor) -> tuple[Tensor, Tensor]:
    return x.reshape(-1, x.shape[-1]), n.reshape(-1)


def _unflatten(value: Tensor, stats: dict[str, Tensor], lead: torch.Size) -> tuple[Tensor, dict[str, Tensor]]:
    return value.reshape(lead), {k: v.reshape(tuple(lead) + tuple(v.shape[1:])) for k, v in stats.items()}


# ------------------------------------------------------------------------------------------------------ public API
def diversity_entropy(sequence: Tensor, embed_size: int, num_bins: int, tau: int = 1, lengths: Any = None) -> Tensor:
    """Diversity entropy ``DE_τ`` of a sequence at scale ``τ`` (Lastde, arXiv 2410.06072, eqs. 2-5).

    ``y_i = mean(x_i .. x_{i+τ−1})``; orbits ``o_i = (y_i .. y_{i+s−1})``; ``c_i = cos(o_i, o_{i+1})``
    (``N = n − τ − s + 1`` of them); histogram of the ``c_i`` over ``[−1, 1]`` in ``num_bins`` equal bins (float32,
    ``torch.histc``'s binning); ``DE_τ = −(1 / ln ε) Σ_k P_k ln P_k``.

    Example (the official docstring's sanity value): ``diversity_entropy(torch.tensor([1., 2, 13, 7, 9, 5, 4]),
    embed_size=3, num_bins=10)`` = 0.30103 (the 4 cosines fall 2 and 2 into two bins: ``ln 2 / ln 10``).

    Args:
        sequence (`torch.Tensor`): ``[T]`` or ``[..., T]`` float values (e.g. token log-probabilities).
        embed_size (`int`): orbit length ``s >= 1``.
        num_bins (`int`): number of histogram bins ``ε >= 2``.
        tau (`int`, *optional*, defaults to `1`): moving-average window ``τ >= 1``.
        lengths (`torch.Tensor`, *optional*): ``[...]`` valid lengths of the rows (default: all ``T``).

    Returns:
        `torch.Tensor`: ``[]`` or ``[...]`` float64 values in ``[0, 1]``.

    Raises:
        ValueError: on a bad argument, or a row shorter than ``τ + s`` (no cosine to bin).
    """
    s = check_int(None, "embed_size", value=embed_size, low=1)
    bins = check_int(None, "num_bins", value=num_bins, low=2)
    tau = check_int(None, "tau", value=tau, low=1)
    x = _as_float64("sequence", sequence)
    n = _lengths(x, lengths)
    _check_finite("sequence", x, n)
    if n.numel() and int(n.min()) < tau + s:
        raise ValueError(
            f"`sequence` must have at least tau + embed_size = {tau + s} values per row, got a row of {int(n.min())}."
        )
    flat, flat_n = _flatten(x, n)
    de = _scale_entropies(flat, flat_n, s, torch.full_like(flat_n, bins), tau)[:, tau - 1]
    return de.view(x.shape[:-1])


def multiscale_diversity_entropy(
    token_logps: Tensor,
    embed_size: int = 3,
    epsilon_mult: float = 10,
    tau_prime: int = 5,
    agg: str = "std",
    *,
    lengths: Any = None,
    short_text: str = "clamp",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Multiscale diversity entropy ``MDE = Agg_{τ=1..τ'} DE_τ`` with ``ε = int(ε_mult · n)`` bins (Lastde, eq. 6).

    Args:
        token_logps (`torch.Tensor`): ``[..., T]`` token log-probabilities, each row's first ``lengths`` values scored
            (e.g. ``[B, T]`` texts or ``[B, K, T]`` K sampled sequences per text).
        embed_size (`int`, *optional*, defaults to `3`): orbit length ``s``.
        epsilon_mult (`float`, *optional*, defaults to `10`): bins per scored token, ``ε = int(ε_mult · n)``.
        tau_prime (`int`, *optional*, defaults to `5`): largest scale ``τ'``.
        agg (`str`, *optional*, defaults to `"std"`): ``"std"`` (released code), ``"expstd"`` (README's
            recommendation), ``"range"``, ``"exprange"`` or ``"l2"``.
        lengths (`torch.Tensor`, *optional*): ``[...]`` (or ``[B]``, broadcast) scored tokens per row (default ``T``).
        short_text (`str`, *optional*, defaults to `"clamp"`): rows with ``n < τ' + s``: ``"clamp"`` uses the scales
            ``1..n − s``, ``"nan"`` returns NaN (see the module docstring).

    Returns:
        ``(mde, stats)``: ``mde [...]`` float64 (NaN where undefined); ``stats`` (detached): ``diversity_entropy
        [..., τ']`` (NaN for unused scales), ``num_scales [...]`` scales used, ``num_bins [...]`` ε, ``clamped
        [...]`` bool, ``undefined [...]`` reason codes (`UNDEFINED_REASONS`, 0 = defined).
    """
    x, n = _validate(token_logps, lengths, embed_size, epsilon_mult, tau_prime, agg, short_text)
    flat, flat_n = _flatten(x, n)
    mde, stats = _mde(flat, flat_n, embed_size, float(epsilon_mult), tau_prime, agg, short_text)
    return _unflatten(mde, stats, x.shape[:-1])


def _lastde_flat(
    x: Tensor, n: Tensor, embed_size: int, epsilon_mult: float, tau_prime: int, agg: str, short_text: str
) -> tuple[Tensor, dict[str, Tensor]]:
    mde, stats = _mde(x, n, embed_size, epsilon_mult, tau_prime, agg, short_text)
    valid = torch.arange(x.shape[-1], device=x.device) < n.unsqueeze(-1)
    mean_logp = torch.where(valid, x, torch.zeros_like(x)).sum(-1) / n.clamp(min=1).double()
    undefined = stats["undefined"]
    undefined = torch.where((undefined == 0) & (mde == 0), ZERO_MDE, undefined)
    score = torch.where(undefined == 0, mean_logp / torch.where(mde == 0, torch.ones_like(mde), mde), float("nan"))
    stats = {**stats, "undefined": undefined, "mde": mde, "mean_logp": mean_logp}
    return score, stats


def lastde_score(
    token_logps: Tensor,
    embed_size: int = 3,
    epsilon_mult: float = 10,
    tau_prime: int = 5,
    agg: str = "std",
    *,
    lengths: Any = None,
    short_text: str = "clamp",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Lastde score ``mean_t ℓ_t / MDE(ℓ)`` (arXiv 2410.06072, eq. 7); higher = more machine-like.

    The paper's presets ``(s, ε_mult, τ')``: open-source scoring model ``(3, 10, 5)`` (the defaults), closed-source
    ``(3, 1, 15)``.

    Args:
        token_logps (`torch.Tensor`): ``[..., T]`` token log-probabilities (rows' first ``lengths`` values scored).
        embed_size (`int`, *optional*, defaults to `3`): orbit length ``s``.
        epsilon_mult (`float`, *optional*, defaults to `10`): bins per scored token, ``ε = int(ε_mult · n)``.
        tau_prime (`int`, *optional*, defaults to `5`): largest scale ``τ'``.
        agg (`str`, *optional*, defaults to `"std"`): ``"std"``, ``"expstd"``, ``"range"``, ``"exprange"``, ``"l2"``.
        lengths (`torch.Tensor`, *optional*): ``[...]`` (or ``[B]``, broadcast) scored tokens per row (default ``T``).
        short_text (`str`, *optional*, defaults to `"clamp"`): ``"clamp"`` or ``"nan"`` for rows with ``n < τ' + s``.

    Returns:
        ``(score, stats)``: ``score [...]`` float64, NaN where undefined (never ±inf); ``stats``: those of
        `multiscale_diversity_entropy` plus ``mde [...]`` and ``mean_logp [...]``; ``undefined`` also flags a zero MDE.
    """
    x, n = _validate(token_logps, lengths, embed_size, epsilon_mult, tau_prime, agg, short_text)
    flat, flat_n = _flatten(x, n)
    score, stats = _lastde_flat(flat, flat_n, embed_size, float(epsilon_mult), tau_prime, agg, short_text)
    return _unflatten(score, stats, x.shape[:-1])


def lastde_plus_plus_score(
    token_logps: Tensor,
    sample_logps: Tensor,
    embed_size: int = 4,
    epsilon_mult: float = 8,
    tau_prime: int = 15,
    agg: str = "std",
    *,
    lengths: Any = None,
    short_text: str = "clamp",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Lastde++ score ``(Lastde(x) − mean_k Lastde(x̃_k)) / std_k Lastde(x̃_k)`` (arXiv 2410.06072, eq. 8).

    The K sampled sequences share the text's prefix at every position (Fast-DetectGPT's conditional sampling), so
    they have the text's length ``n`` and the same ε. Sample scores that are undefined (NaN) are left out of the mean
    and the (unbiased) standard deviation.

    Args:
        token_logps (`torch.Tensor`): ``[B, T]`` log-probabilities of the texts under the scoring model.
        sample_logps (`torch.Tensor`): ``[B, K, T]`` scoring-model log-probabilities of the K sampled tokens per
            position (``K >= 2``).
        embed_size (`int`, *optional*, defaults to `4`): orbit length ``s`` (the paper's Lastde++ preset).
        epsilon_mult (`float`, *optional*, defaults to `8`): bins per scored token.
        tau_prime (`int`, *optional*, defaults to `15`): largest scale ``τ'``.
        agg (`str`, *optional*, defaults to `"std"`): aggregation over the scales (as `lastde_score`).
        short_text (`str`, *optional*, defaults to `"clamp"`): the short-text rule (as `lastde_score`).
        lengths (`torch.Tensor`, *optional*): ``[B]`` scored tokens per text (default ``T``).

    Returns:
        ``(score, stats)``: ``score [B]`` float64, NaN where undefined (never ±inf); ``stats``: ``lastde [B]``,
        ``sample_lastde [B, K]``, ``sample_mean [B]``, ``sample_std [B]``, ``num_samples_defined [B]``, the text's
        ``num_scales``, ``num_bins``, ``clamped``, ``mde``, ``mean_logp`` and ``undefined [B]`` reason codes.
    """
    x, n = _validate(token_logps, lengths, embed_size, epsilon_mult, tau_prime, agg, short_text)
    samples = _as_float64("sample_logps", sample_logps, min_dim=3)
    if x.dim() != 2 or samples.dim() != 3 or samples.shape[0] != x.shape[0] or samples.shape[2] != x.shape[1]:
        raise ValueError(
            f"`sample_logps` must be [B, K, T] for token_logps [B, T], got {tuple(samples.shape)} and {tuple(x.shape)}."
        )
    k = samples.shape[1]
    if k < 2:
        raise ValueError(f"`sample_logps` must hold K >= 2 samples per text, got K = {k}.")
    sample_n = n.unsqueeze(1).expand(-1, k)
    _check_finite("sample_logps", samples, sample_n)
    args = (embed_size, float(epsilon_mult), tau_prime, agg, short_text)
    score, stats = _lastde_flat(x, n, *args)
    flat_samples, flat_n = _flatten(samples, sample_n)
    sample_score, _ = _lastde_flat(flat_samples, flat_n, *args)
    sample_score = sample_score.view(x.shape[0], k)  # [B, K]
    defined = torch.isfinite(sample_score)
    m = defined.sum(-1)  # [B]
    zeros = torch.zeros_like(sample_score)
    mean = torch.where(defined, sample_score, zeros).sum(-1) / m.clamp(min=1)
    var = torch.where(defined, sample_score - mean.unsqueeze(-1), zeros).square().sum(-1) / (m - 1).clamp(min=1)
    std = var.sqrt()
    undefined = stats["undefined"]
    undefined = torch.where((undefined == 0) & (m < 2), FEW_SAMPLES, undefined)
    undefined = torch.where((undefined == 0) & (std == 0), ZERO_SAMPLE_STD, undefined)
    ok = undefined == 0
    value = torch.where(ok, (score - mean) / torch.where(ok, std, torch.ones_like(std)), float("nan"))
    stats = {
        **{key: stats[key] for key in ("num_scales", "num_bins", "clamped", "mde", "mean_logp")},
        "lastde": score,
        "sample_lastde": sample_score,
        "sample_mean": torch.where(m >= 1, mean, float("nan")),
        "sample_std": torch.where(m >= 2, std, float("nan")),
        "num_samples_defined": m,
        "undefined": undefined,
    }
    return value, stats
