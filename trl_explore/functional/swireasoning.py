"""SwiReasoning: switch-thinking between latent and explicit reasoning (Shi et al., 2025, arXiv 2510.05069, ICLR 2026).

Pure tensor math of one decoding step, no model and no loop (the loop is `trl_explore.generation.swireasoning_loop`).
Per sequence, at decoding step ``t`` with raw next-token logits ``z_t`` (paper Sec. 3)::

    p_t      = softmax(z_t)                      (no temperature, no truncation)
    H_t      = -Σ_v p_t(v) log p_t(v)            (next-token entropy, nats)
    e_soft   = p_t @ E                           (E = input embedding matrix [V, D]; whole vocabulary)

Switch rule, with ``ref`` the entropy at the start of the current block (``ref = H_0`` at step 0) and ``dwell`` the
number of explicit steps since the last switch, this step included::

    latent   -> explicit  when H_t < ref
    explicit -> latent    when H_t > ref  and  dwell >= window_size  and  explicit is not locked
    on a switch: ref <- H_t, dwell <- 0; switch_count counts latent -> explicit switches only

Explicit is locked for good once the model itself samples the end-of-thinking token ``</think>``; a latent row that
samples it switches to explicit at once. Next input embedding of a row, ``c`` its soft coefficient and ``a`` its
anchor token (`mix_embeddings`)::

    input = c · e_soft + (1 - c) · E[a]

    explicit step                    c = 0,    a = sampled token x_t
    latent step                      c = 1
    explicit -> latent switch step   c = α_t,  a = <think>       α_t = α0 + (1 - α0) · t / max_new_tokens
    latent -> explicit switch step   c = β_t,  a = </think>      β_t = β0 + (1 - β0) · t / max_new_tokens
    step 0 (latent start)            c = 0.9,  a = "\\n"
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = [
    "SwitchStep",
    "mix_embeddings",
    "mix_weight",
    "soft_embeddings",
    "swireasoning_entropy",
    "swireasoning_switch",
]


def swireasoning_entropy(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token distribution and its entropy from raw logits (paper Sec. 3).

    ``p = softmax(z)`` in float32 (whatever the logits' dtype), ``H = -Σ_v p(v) log p(v)`` with ``0 log 0 = 0``
    (a ``-inf`` logit contributes nothing).

    Args:
        logits: ``[B, V]`` raw next-token logits (before any temperature or truncation).

    Returns:
        ``(entropy [B], probs [B, V])``, both float32.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # [B, V]
    probs = logp.exp()  # [B, V]
    logp = logp.clamp_min_(torch.finfo(logp.dtype).min)  # -inf -> finite: p · log p = 0 there
    return -(probs * logp).sum(-1), probs  # [B], [B, V]


def soft_embeddings(
    probs: torch.Tensor, embedding_weight: torch.Tensor, embed_scale: float | torch.Tensor | None = None
) -> torch.Tensor:
    """Probability-weighted mixture of every input embedding: ``e_soft = p @ E`` (paper Sec. 3), no renormalisation.

    Args:
        probs: ``[B, V]`` next-token probabilities (float32); cast to the embedding dtype for the matmul.
        embedding_weight: ``[V, D]`` input embedding matrix (a model whose embedding module scales its lookups, like
            Gemma's, passes its `embed_scale` so that ``e_soft = Σ_v p(v) · embed(v)`` exactly).
        embed_scale: optional scale of the embedding module.

    Returns:
        ``[B, D]`` in the embedding dtype.
    """
    soft = probs.to(embedding_weight.dtype) @ embedding_weight  # [B, V] @ [V, D] -> [B, D]
    if embed_scale is not None:
        soft = soft * embed_scale
    return soft


def mix_weight(weight0: float, step: int, max_new_tokens: int) -> float:
    """Linear schedule of the soft share of a switch step: ``w_t = w0 + (1 - w0) · t / max_new_tokens`` (α and β)."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
    return weight0 + (1.0 - weight0) * step / max_new_tokens


def mix_embeddings(soft: torch.Tensor | None, anchor: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Next input embeddings ``c · e_soft + (1 - c) · E[a]`` per row.

    Args:
        soft: ``[B, D]`` soft embeddings, or ``None`` when every coefficient is 0 (all rows explicit).
        anchor: ``[B, D]`` embeddings of the anchor tokens.
        coef: ``[B]`` soft coefficients in ``[0, 1]``.

    Returns:
        ``[B, D]`` in the anchor dtype. Rows with ``c = 0`` are exactly ``E[a]``, rows with ``c = 1`` exactly
        ``e_soft``.
    """
    if soft is None:
        return anchor
    c = coef.to(anchor.dtype).unsqueeze(-1)  # [B, 1]
    mixed = c * soft + (1 - c) * anchor  # [B, D]
    # exact at the ends (c·x + (1-c)·y rounds otherwise)
    mixed = torch.where(c == 0, anchor, mixed)
    return torch.where(c == 1, soft.to(anchor.dtype), mixed)


class SwitchStep(NamedTuple):
    """Result of `swireasoning_switch` (all ``[B]``)."""

    explicit: torch.Tensor  #: bool, mode after the step (True = explicit)
    reference: torch.Tensor  #: float, block reference entropy after the step
    dwell: torch.Tensor  #: long, explicit steps since the last switch
    locked: torch.Tensor  #: bool, explicit locked (the model sampled the end-of-thinking token)
    to_explicit: torch.Tensor  #: bool, latent -> explicit switch (entropy drop or sampled end-of-thinking token)
    to_latent: torch.Tensor  #: bool, explicit -> latent switch
    entropy_drop: torch.Tensor  #: bool, the latent -> explicit switches triggered by H < ref


def swireasoning_switch(
    explicit: torch.Tensor,
    entropy: torch.Tensor,
    reference: torch.Tensor,
    dwell: torch.Tensor,
    locked: torch.Tensor,
    sampled_end_think: torch.Tensor,
    window_size: float = 512,
    frozen: torch.Tensor | None = None,
) -> SwitchStep:
    """One step of the switch rule (paper Sec. 3), vectorised over rows.

    ``dwell`` first counts this step when the row is explicit; then::

        locked'      = locked or sampled_end_think
        entropy_drop = latent and H < ref and not sampled_end_think and not frozen
        to_explicit  = entropy_drop or (latent and sampled_end_think)
        to_latent    = explicit and H > ref and dwell >= window_size and not locked' and not frozen
        on a switch: ref <- H, dwell <- 0

    Args:
        explicit: ``[B]`` bool, current mode (True = explicit).
        entropy: ``[B]`` entropy ``H_t`` of this step.
        reference: ``[B]`` reference entropy of the current block.
        dwell: ``[B]`` long, explicit steps since the last switch (before this step).
        locked: ``[B]`` bool, explicit already locked.
        sampled_end_think: ``[B]`` bool, the model sampled the end-of-thinking token at this step.
        window_size: minimum explicit steps before switching back to latent (``math.inf``: never).
        frozen: optional ``[B]`` bool, rows whose mode must not change this step (a forced string is being fed).

    Returns:
        `SwitchStep` with the new state and the switch masks.
    """
    if not window_size > 0:
        raise ValueError(f"window_size must be > 0 (math.inf: never switch back), got {window_size!r}.")
    dwell = dwell + explicit.long()
    now_locked = locked | sampled_end_think
    latent = ~explicit
    entropy_drop = latent & (entropy < reference) & ~sampled_end_think
    to_latent = explicit & (entropy > reference) & ~now_locked
    if math.isinf(window_size):
        to_latent = torch.zeros_like(to_latent)
    else:
        to_latent = to_latent & (dwell >= window_size)
    if frozen is not None:
        entropy_drop = entropy_drop & ~frozen
        to_latent = to_latent & ~frozen
    to_explicit = entropy_drop | (latent & sampled_end_think)
    switched = to_explicit | to_latent
    return SwitchStep(
        explicit=explicit ^ switched,
        reference=torch.where(switched, entropy, reference),
        dwell=torch.where(switched, torch.zeros_like(dwell), dwell),
        locked=now_locked,
        to_explicit=to_explicit,
        to_latent=to_latent,
        entropy_drop=entropy_drop,
    )
