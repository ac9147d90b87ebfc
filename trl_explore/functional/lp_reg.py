"""Lp-Reg: low-probability regularization (Huang et al., 2025, arXiv 2510.03222).

Pure tensor math, no trainer state. The library follows the released code (``compute_policy_loss_lp_reg`` of the
authors' verl fork) by default and exposes each paper-vs-code difference as an argument.

Proxy distribution (paper Sec. 3, Eq. 4-5), per position ``s`` with the data-generating policy ``π`` (detached)::

    keep(v)     = π₁(v) >= κ · max_u π₁(u)        (threshold="min_p", κ = min_p)
                  π₁(v) >= τ                       (threshold="fixed", τ = min_p)
    Z           = Σ_{v kept} π_T(v)               (kept mass)
    π_proxy(v)  = π_T(v) / Z if v kept else 0
    proxy_logp  = log π_T(o) - log Z if o kept else -inf     (o = sampled token)

``π₁`` is the temperature-1 distribution (the keep set is decided there, as in the released code) and ``π_T`` the
temperature-T distribution the policy samples from; they coincide at T = 1.

Selection (all conditions): valid token, advantage sign allowed by ``apply_to``, current probability among the lowest
``ρ`` fraction (k = int(n·ρ) > 1, else nothing is selected), ``proxy_logp > -inf`` and, optionally,
``logp_θ(o) < proxy_logp``.

Per-token loss on selected tokens (released code)::

    ℓ = -A · r + β · clamp(k3, -10, 10),  r = exp(logp_θ - logp_old) (unclipped),
    k3 = exp(proxy_logp - logp_θ) - (proxy_logp - logp_θ) - 1

or, with ``kl_estimator="forward_full"`` (paper Eq. 6), ``k3`` replaced by ``KL(π_proxy ‖ π_θ)`` over the vocabulary.
All other tokens keep the usual clipped surrogate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._validation import check_number

THRESHOLD_KINDS = ("min_p", "fixed")
PERCENTILE_SCOPES = ("micro_batch_negative", "batch_all")
KL_ESTIMATORS = ("k3_sampled", "forward_full")
APPLY_TO = ("negative", "both")
K3_CLAMP = 10.0

__all__ = [
    "LpRegSelection",
    "lp_reg_forward_full_kl",
    "lp_reg_keep_mask",
    "lp_reg_per_token_loss",
    "lp_reg_percentile_threshold",
    "lp_reg_proxy_logps",
    "lp_reg_select",
]


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """float32 for half / bfloat16 inputs, otherwise unchanged (float64 stays float64)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_threshold(threshold: str, min_p: float) -> None:
    if threshold not in THRESHOLD_KINDS:
        raise ValueError(f"threshold must be one of {THRESHOLD_KINDS}, got {threshold!r}.")
    if not 0.0 < min_p <= 1.0:
        raise ValueError(f"min_p must be in (0, 1], got {min_p}.")


def lp_reg_keep_mask(logits: torch.Tensor, min_p: float = 0.02, threshold: str = "min_p") -> torch.Tensor:
    """Keep set of the proxy distribution, decided on the temperature-1 probabilities.

    Args:
        logits: ``[..., V]`` unscaled (temperature-1) logits.
        min_p: κ for ``threshold="min_p"`` (relative to the row's top probability), τ for ``"fixed"`` (absolute).
        threshold: ``"min_p"``: ``π(v) >= κ · max π``; ``"fixed"``: ``π(v) >= τ``. ``>=`` as in the released code.

    Returns:
        ``[..., V]`` bool mask of kept vocabulary entries.
    """
    _check_threshold(threshold, min_p)
    z = _upcast(logits)
    if threshold == "min_p":
        # π(v) >= κ max π  <=>  z_v - max z >= log κ
        return (z - z.amax(-1, keepdim=True)) >= math.log(min_p)
    return torch.log_softmax(z, dim=-1) >= math.log(min_p)


@torch.no_grad()
def lp_reg_proxy_logps(
    logits: torch.Tensor,
    labels: torch.Tensor,
    min_p: float = 0.02,
    threshold: str = "min_p",
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Proxy log-probability of the sampled token and the kept mass (detached).

    Formula (paper Eq. 4-5, released-code temperature handling)::

        keep = keep set on softmax(logits)                       (see `lp_reg_keep_mask`)
        logp_T = log_softmax(logits / T)
        Z = Σ_{v kept} exp(logp_T(v))
        proxy = logp_T(label) - log Z  if label kept else -inf

    Args:
        logits: ``[..., V]`` unscaled logits of the data-generating policy.
        labels: ``[...]`` sampled token ids.
        min_p: κ (``"min_p"``) or τ (``"fixed"``), in (0, 1].
        threshold: ``"min_p"`` or ``"fixed"``.
        temperature: sampling temperature T > 0.

    Returns:
        ``(proxy_logps, kept_mass)``, both ``[...]`` (float32, or float64 for float64 logits); filtered tokens get ``-inf``.
    """
    check_number(None, "temperature", value=temperature, low=0.0, low_open=True)
    keep = lp_reg_keep_mask(logits, min_p, threshold)
    logp_t = torch.log_softmax(_upcast(logits) / temperature, dim=-1)
    log_kept = torch.logsumexp(logp_t.masked_fill(~keep, -math.inf), dim=-1)  # log Z, [...]
    label_logp = logp_t.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    label_kept = keep.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    proxy = torch.where(label_kept, label_logp - log_kept, torch.full_like(label_logp, -math.inf))
    return proxy, log_kept.exp()


def lp_reg_percentile_threshold(logps: torch.Tensor, rho: float) -> tuple[torch.Tensor | None, int]:
    """The ρ-percentile of a population of token log-probabilities, released-code rule.

    ``k = int(n · ρ)``; when ``k <= 1`` nothing is selected (returns ``None``). Otherwise the threshold is the k-th
    smallest value, so the candidates ``logp <= threshold`` are the k lowest-probability tokens (ties included).

    Args:
        logps: ``[n]`` log-probabilities of the percentile population (detached).
        rho: fraction ρ in (0, 1).

    Returns:
        ``(threshold, k)``: a 0-d tensor (log-probability) or ``None``, and ``k``.
    """
    check_number(None, "rho", value=rho, low=0.0, high=1.0, low_open=True, high_open=True)
    n = logps.numel()
    k = int(n * rho)
    if k <= 1:
        return None, k
    return torch.kthvalue(_upcast(logps.detach()).reshape(-1), k).values, k


@dataclass
class LpRegSelection:
    """Result of `lp_reg_select` (all tensors detached).

    Attributes:
        selected: ``[B, T]`` bool, tokens whose loss is replaced by the Lp-Reg term.
        candidates: ``[B, T]`` bool, valid tokens of the allowed sign with ``logp <= threshold`` (the ρ-candidates).
        threshold_logp: 0-d tensor, the percentile log-probability (``-inf`` when nothing is selectable).
        k: ``int(n · ρ)`` of the percentile population.
    """

    selected: torch.Tensor
    candidates: torch.Tensor
    threshold_logp: torch.Tensor
    k: int


def _sign_mask(advantages: torch.Tensor, apply_to: str) -> torch.Tensor:
    if apply_to not in APPLY_TO:
        raise ValueError(f"apply_to must be one of {APPLY_TO}, got {apply_to!r}.")
    if apply_to == "negative":
        return advantages < 0
    return torch.ones_like(advantages, dtype=torch.bool)


@torch.no_grad()
def lp_reg_select(
    per_token_logps: torch.Tensor,
    proxy_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    rho: float = 0.01,
    require_below_proxy: bool = True,
    apply_to: str = "negative",
    threshold_logp: torch.Tensor | None = None,
) -> LpRegSelection:
    """Which tokens Lp-Reg regularizes.

    Conditions (spec "Which tokens are regularized"): ``mask`` and the sign rule (``A < 0`` for ``"negative"``, any
    sign for ``"both"``); ``logp <= δ_ρ``; ``proxy_logp > -inf``; and, with ``require_below_proxy``,
    ``logp < proxy_logp``.

    The percentile ``δ_ρ``: when ``threshold_logp`` is ``None`` it is computed here over the micro-batch's valid tokens
    of the allowed sign (``percentile_scope="micro_batch_negative"``, released code); pass a precomputed global value for
    ``"batch_all"`` (the trainer gathers it across processes; ``-inf`` selects nothing).

    Args:
        per_token_logps: ``[B, T]`` current policy log-probs of the sampled tokens (detached here).
        proxy_logps: ``[B, T]`` proxy log-probs (``-inf`` = filtered).
        advantages: ``[B, T]`` or ``[B, 1]`` advantages.
        mask: ``[B, T]`` valid completion tokens.
        rho: ρ in (0, 1).
        require_below_proxy: also require ``logp < proxy_logp``.
        apply_to: ``"negative"`` or ``"both"``.
        threshold_logp: optional 0-d precomputed percentile log-probability.

    Returns:
        `LpRegSelection`.
    """
    check_number(None, "rho", value=rho, low=0.0, high=1.0, low_open=True, high_open=True)
    logps = per_token_logps.detach()
    valid = mask.bool() & _sign_mask(advantages.expand_as(logps), apply_to)
    k = -1
    if threshold_logp is None:
        threshold_logp, k = lp_reg_percentile_threshold(logps[valid], rho)
        if threshold_logp is None:
            threshold_logp = torch.tensor(-math.inf, device=logps.device)
    candidates = valid & (logps <= threshold_logp) & torch.isfinite(threshold_logp)
    selected = candidates & (proxy_logps > -math.inf)
    if require_below_proxy:
        selected = selected & (logps < proxy_logps)
    return LpRegSelection(selected=selected, candidates=candidates, threshold_logp=threshold_logp, k=k)


def _k3(proxy_logps: torch.Tensor, per_token_logps: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """``exp(d) - d - 1`` with ``d = proxy - logp`` on selected tokens, 0 elsewhere (no NaN/inf in the graph)."""
    d = torch.where(selected, proxy_logps, per_token_logps.detach()) - per_token_logps
    return torch.exp(d) - d - 1


def lp_reg_forward_full_kl(
    logits: torch.Tensor,
    min_p: float = 0.02,
    threshold: str = "min_p",
    temperature: float = 1.0,
) -> torch.Tensor:
    """Full-vocabulary ``KL(π_proxy ‖ π_θ)`` per row (paper Eq. 6, ``kl_estimator="forward_full"``).

    ``π_proxy`` is built from ``logits.detach()`` (the data-generating policy on-policy); gradients flow into ``π_θ``::

        KL = Σ_{v kept} π_proxy(v) · (log π_proxy(v) - log π_θ(v)),   π_θ = softmax(logits / T)

    Args:
        logits: ``[S, V]`` unscaled logits of the selected rows (with grad).
        min_p: κ / τ, as in `lp_reg_proxy_logps`.
        threshold: ``"min_p"`` or ``"fixed"``.
        temperature: sampling temperature T > 0.

    Returns:
        ``[S]`` KL values (float32, float64 for float64 logits) (differentiable w.r.t. ``logits``).
    """
    check_number(None, "temperature", value=temperature, low=0.0, low_open=True)
    keep = lp_reg_keep_mask(logits.detach(), min_p, threshold)
    logp_theta = torch.log_softmax(_upcast(logits) / temperature, dim=-1)
    logp_old = logp_theta.detach()
    log_z = torch.logsumexp(logp_old.masked_fill(~keep, -math.inf), dim=-1, keepdim=True)
    logp_proxy = (logp_old - log_z).masked_fill(~keep, -math.inf)
    p_proxy = logp_proxy.exp()
    # masked_fill keeps 0 * (-inf) out of the graph
    return (p_proxy * (logp_proxy.masked_fill(~keep, 0.0) - logp_theta.masked_fill(~keep, 0.0))).sum(-1)


def lp_reg_per_token_loss(
    per_token_loss: torch.Tensor,
    coef_1: torch.Tensor,
    per_token_logps: torch.Tensor,
    proxy_logps: torch.Tensor,
    advantages: torch.Tensor,
    selected: torch.Tensor,
    beta: float = 1.0,
    full_kl: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Replace the per-token loss of selected tokens by the Lp-Reg term (released code).

    Formula::

        ℓ_sel = -A · r + β · clamp(KL, -10, 10)
        KL = k3 = exp(proxy - logp) - (proxy - logp) - 1         (k3_sampled, default)
           = full_kl                                               (forward_full, rows given as [B, T])

    Args:
        per_token_loss: ``[B, T]`` usual (clipped) surrogate loss.
        coef_1: ``[B, T]`` or ``[B, 1]`` unclipped importance ratio ``r``.
        per_token_logps: ``[B, T]`` current log-probs (with grad).
        proxy_logps: ``[B, T]`` proxy log-probs (``-inf`` = filtered).
        advantages: ``[B, T]`` or ``[B, 1]``.
        selected: ``[B, T]`` bool.
        beta: β >= 0.
        full_kl: optional ``[B, T]`` forward KL (zero on unselected tokens) replacing k3.

    Returns:
        ``(per_token_loss [B, T], stats)`` with detached ``stats["kl"]`` ``[B, T]`` (0 off the selection).
    """
    check_number(None, "beta", value=beta, low=0.0)
    kl = _k3(proxy_logps, per_token_logps, selected) if full_kl is None else full_kl
    kl = torch.clamp(kl, -K3_CLAMP, K3_CLAMP)
    reg_loss = -advantages * coef_1 + beta * kl
    out = torch.where(selected, reg_loss, per_token_loss)
    return out, {"kl": torch.where(selected, kl.detach(), torch.zeros_like(kl.detach()))}
