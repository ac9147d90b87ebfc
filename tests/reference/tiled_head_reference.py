"""Plain float64 reference of an LM head's logits as the tiled kernels define them (imports nothing from the package).

``z = softcap · tanh(scale · g(h Wᵀ + b) / softcap)``, where ``g`` rewrites the logits of an ordered group of number
tokens from another head's normalised log-probabilities ``ℓ`` (the Fourier numeric head, arXiv 2410.22269):

- ``"hybrid"``: ``z[ids] = logsumexp(z[ids]) + ℓ`` — the group keeps the LM head's total mass, ``ℓ`` its shape;
- ``"full"``: ``z[ids] = ℓ`` and every other logit is the dtype's most negative finite value (no softmax selects it;
  ``-inf`` would turn ``0 · log 0`` into NaN in an entropy).

Written one row and one vocabulary entry at a time, with plain autograd, so values and gradients can be checked.
"""

from __future__ import annotations

import torch


def reference_logits(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    logit_scale: float = 1.0,
    softcap: float | None = None,
    group_ids: list[int] | None = None,
    group_logp: torch.Tensor | None = None,
    mode: str = "hybrid",
) -> torch.Tensor:
    """``[n, V]`` float64 logits of ``hidden [n, H]`` for ``weight [V, H]``, ``bias [V]``; ``group_logp [n, m]``."""
    n, vocab = hidden.shape[0], weight.shape[0]
    rows = []
    for i in range(n):
        h = hidden[i].double()
        if mode == "full" and group_ids is not None:
            z = [torch.tensor(torch.finfo(torch.float64).min, dtype=torch.float64) for _ in range(vocab)]
        else:
            z = [(h * weight[v].double()).sum() + (bias[v].double() if bias is not None else 0.0) for v in range(vocab)]
        if group_ids is not None:
            lp = group_logp[i].double()
            if mode == "hybrid":
                group = torch.stack([z[v] for v in group_ids])
                top = group.max().detach()
                total = top + torch.log(torch.exp(group - top).sum())  # logsumexp written out
                for j, v in enumerate(group_ids):
                    z[v] = total + lp[j]
            else:
                for j, v in enumerate(group_ids):
                    z[v] = lp[j]
        row = torch.stack(z) * logit_scale
        if softcap is not None:
            row = softcap * torch.tanh(row / softcap)
        rows.append(row)
    return torch.stack(rows)


def reference_log_softmax(z: torch.Tensor) -> torch.Tensor:
    """``log softmax`` of each row, written out: ``z − max − log Σ exp(z − max)``."""
    top = z.max(dim=-1, keepdim=True).values.detach()
    return z - top - torch.log(torch.exp(z - top).sum(-1, keepdim=True))
