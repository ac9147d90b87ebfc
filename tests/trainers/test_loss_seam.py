"""The explore loss path's own piece, the clipped surrogate, runs TRL's operations in TRL's shapes when it can.

With a sequence-level ratio (``importance_sampling_level="sequence"``) TRL's surrogate is one value per sequence,
``[B, 1]``, and its backward sums the per-token gradients first and multiplies by the advantage after. Components may
hand per-token ``[B, T]`` bounds or advantages holding one value per row (HAPO's adaptive clip at α = 0, its
redistribution at β = 0); broadcast to ``[B, T]`` they give the same loss but reorder that backward sum, which differs
from TRL in the last bits on some CPUs (an auditor saw 2.3e-10 under other SIMD kernels). Row-uniform pieces are
therefore taken as ``[B, 1]`` columns.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from trl_explore.trainers import ExploreGRPOTrainer, LossContext


def _surrogate(ctx):
    return ExploreGRPOTrainer._clipped_surrogate(SimpleNamespace(args=SimpleNamespace(delta=None)), ctx)


def _sequence_ctx(advantages, eps_low, eps_high):
    # log π − log π_old = [[0.1, 0.3], [-0.2, -0.4]] on full masks: sequence log-ratios 0.2 and -0.3
    logps = torch.tensor([[0.1, 0.3], [-0.2, -0.4]], requires_grad=True)
    return LossContext(
        model=None,
        inputs={},
        mode="train",
        mask=torch.ones(2, 2),
        per_token_logps=logps,
        old_per_token_logps=torch.zeros(2, 2),
        advantages=advantages,
        importance_sampling_level="sequence",
        eps_low=eps_low,
        eps_high=eps_high,
    )


def test_row_uniform_per_token_pieces_give_trls_shapes_and_gradients():
    """Per-token ε (0.2 / 0.28) and advantages ([1, -1] per row) that are one value per row: the surrogate is
    ``[B, 1]`` and equals, with its gradient, TRL's computation on the scalar bounds and ``[B, 1]`` advantages (the same
    operations in the same order, so compared exactly). Ratios: exp(0.2) = 1.2214 < 1.28 with A = +1: unclipped;
    exp(-0.3) = 0.7408 < 0.8 with A = -1: clipped."""
    adv_rows = torch.tensor([[1.0], [-1.0]])
    ctx = _sequence_ctx(adv_rows.expand(2, 2), torch.full((2, 2), 0.2, dtype=torch.float64), torch.full((2, 2), 0.28))
    ours = _surrogate(ctx)
    assert ours.shape == (2, 1)
    (ours * ctx.mask).sum().backward()
    grad_ours = ctx.per_token_logps.grad.clone()

    ref = _sequence_ctx(adv_rows, 0.2, 0.28)
    coef_1 = ref.coef_1  # TRL: coef_2 = clamp(coef_1, 1 - ε_low, 1 + ε_high); -min(coef_1·A, coef_2·A)
    trl = -torch.min(coef_1 * adv_rows, torch.clamp(coef_1, 1 - 0.2, 1 + 0.28) * adv_rows)
    (trl * ref.mask).sum().backward()
    torch.testing.assert_close(ours, trl, rtol=0, atol=0)
    torch.testing.assert_close(grad_ours, ref.per_token_logps.grad, rtol=0, atol=0)
    # clipped row 1: -min(0.7408·(-1), 0.8·(-1)) = 0.8, no gradient; row 0: -1.2214, d/dlogp = -1.2214 / 2 per token
    assert ours[1, 0].item() == torch.tensor(0.8).item() and ref.per_token_logps.grad[1].abs().sum() == 0


def test_per_token_pieces_that_vary_along_a_row_stay_per_token():
    """Advantages that differ inside a row ([1, 2] and [-1, -1]) keep the ``[B, T]`` surrogate: row 0 (ratio
    1.2214, unclipped) gives -[1.2214, 2.4428]."""
    ctx = _sequence_ctx(torch.tensor([[1.0, 2.0], [-1.0, -1.0]]), 0.2, 0.28)
    out = _surrogate(ctx)
    assert out.shape == (2, 2)
    r = torch.exp(torch.tensor(0.2))
    torch.testing.assert_close(out[0], -torch.stack([r, 2 * r]), rtol=4 * torch.finfo(torch.float32).eps, atol=0)
