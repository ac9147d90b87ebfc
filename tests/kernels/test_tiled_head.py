"""The tiling core: the projection (bias, scale, soft-capping, number group), scored rows, both gradient schedules."""

from __future__ import annotations

import pytest
import torch
from reference.rank_aware_reference import reference_loss
from reference.tiled_head_reference import reference_log_softmax, reference_logits

from trl_explore.kernels._tiled_head import NumberGroup, TiledHead, rows_per_tile
from trl_explore.kernels.rank_aware import RankAwareRequest
from trl_explore.kernels.token_stats import TokenStatsRequest


def _group_head(mode, n=13, hidden=6, vocab=29, seed=0, scale=0.8, softcap=5.0):
    """A float64 head whose 5 number tokens take their logits from a small linear 'Fourier' part."""
    g = torch.Generator().manual_seed(seed)
    h = (torch.randn(n, hidden, generator=g, dtype=torch.float64) * 2).requires_grad_()
    w = (torch.randn(vocab, hidden, generator=g, dtype=torch.float64) / hidden**0.5).requires_grad_()
    b = (torch.randn(vocab, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    part = torch.nn.Linear(hidden, 5, dtype=torch.float64)
    ids = torch.tensor([3, 4, 7, 11, 20])
    group = NumberGroup(ids, mode, lambda rows: torch.log_softmax(part(rows), dim=-1))
    return h, TiledHead(w, b, scale, softcap, group), part


@pytest.mark.parametrize("mode", ["hybrid", "full"])
def test_number_group_projection_equals_full_logits(mode):
    """Token statistics through a head with a number group equal those of its full float64 logits, written out in
    `tests/reference/tiled_head_reference.py` (plain autograd; not the module's own `TiledHead.logits`), values and
    gradients w.r.t. hidden, weight, bias and the group's part; several tiles. float64 both sides, different operation
    orders: rtol 1e-10 (~ 5e5 float64 ulps, far below any float32-sized error)."""
    h, head, part = _group_head(mode)
    targets = torch.randint(0, 29, (13,), generator=torch.Generator().manual_seed(1))
    targets[::3] = head.group.token_ids[1]  # labels inside the group too
    if mode == "full":
        targets = head.group.token_ids[torch.arange(13) % 5]
    stats = TokenStatsRequest(min_p=None).stats(h, head, targets, temperature=0.9, tile_rows=4)
    ids = head.group.token_ids.tolist()
    z = reference_logits(h, head.weight, head.bias, head.logit_scale, head.softcap, ids, head.group.log_probs(h), mode)
    logp = reference_log_softmax(z / 0.9)
    ref_lp = logp.gather(1, targets[:, None]).squeeze(1)
    ref_h = -(logp.exp() * logp).sum(-1)
    torch.testing.assert_close(stats.logprobs, ref_lp, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(stats.entropy, ref_h, rtol=1e-10, atol=1e-10)
    params = [h, head.weight, head.bias, *part.parameters()]
    g1, g2 = torch.randn(13, dtype=torch.float64), torch.randn(13, dtype=torch.float64)
    ours = torch.autograd.grad((stats.logprobs * g1).sum() + (stats.entropy * g2).sum(), params, allow_unused=True)
    ref = torch.autograd.grad((ref_lp * g1).sum() + (ref_h * g2).sum(), params, allow_unused=True)
    for name, a, r in zip(("hidden", "weight", "bias", "part.weight", "part.bias"), ours, ref):
        if mode == "full" and name in ("weight", "bias"):  # the LM head is not used
            assert a is None and (r is None or not r.any())
            continue
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-10, msg=name)


def test_scored_rows_only_and_zero_elsewhere():
    """With a row index, unscored rows output 0 and get no gradient; scored rows equal the unrestricted pass."""
    torch.manual_seed(0)
    h = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    head = TiledHead(torch.randn(15, 4, dtype=torch.float64, requires_grad=True))
    targets = torch.randint(0, 15, (10,))
    rows = torch.tensor([1, 2, 5, 9])
    part = TokenStatsRequest(min_p=0.1).stats(h, head, targets, row_index=rows, tile_rows=3)
    full = TokenStatsRequest(min_p=0.1).stats(h, head, targets, tile_rows=3)
    unscored = torch.ones(10, dtype=torch.bool)
    unscored[rows] = False
    for name in ("logprobs", "entropy", "kept_mass", "proxy_logps"):
        torch.testing.assert_close(getattr(part, name)[rows], getattr(full, name)[rows], msg=name)
        assert not getattr(part, name)[unscored].any(), name
    (gh,) = torch.autograd.grad(part.logprobs.sum() + part.entropy.sum(), [h])
    assert not gh[unscored].any() and gh[rows].abs().sum() > 0


@pytest.mark.parametrize("weighting", ["uniform", "per_token"])
def test_precompute_schedule_exact_for_any_upstream(weighting):
    """The rank-aware kernel folds the gradient of the plain sum in its forward; a weighted sum (a different upstream
    value per token) falls back to recomputing: both equal the float64 reference's gradients."""
    g = torch.Generator().manual_seed(2)
    h = torch.randn(17, 5, generator=g, dtype=torch.float64, requires_grad=True)
    w = (torch.randn(23, 5, generator=g, dtype=torch.float64) / 2).requires_grad_()
    labels = torch.randint(0, 23, (17,), generator=g)
    weights = torch.ones(17, dtype=torch.float64) if weighting == "uniform" else torch.rand(17, generator=g).double()
    knobs = {"beta": -0.25, "top_k": 4, "lambda_high": 0.2, "lambda_low": -0.1}
    loss, _ = RankAwareRequest(**knobs).loss(h, TiledHead(w, logit_scale=1.3, softcap=3.0), labels, tile_rows=5)
    ours = torch.autograd.grad((loss * weights).sum(), [h, w])
    z = 3.0 * torch.tanh(1.3 * (h @ w.t()) / 3.0)
    ref, _ = reference_loss(z, labels, **knobs)
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-10, atol=1e-12)
    want = torch.autograd.grad((ref * weights).sum(), [h, w])
    for a, r in zip(ours, want):
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-11)


def test_head_validation_and_tile_size():
    w = torch.randn(5, 3)
    with pytest.raises(ValueError, match="softcap"):
        TiledHead(w, softcap=-1.0)
    with pytest.raises(ValueError, match="logit_scale"):
        TiledHead(w, logit_scale=float("nan"))
    with pytest.raises(ValueError, match="mode"):
        NumberGroup(torch.tensor([0, 1]), "bins", lambda rows: rows)
    with pytest.raises(ValueError, match="hidden"):
        TokenStatsRequest().stats(torch.randn(4, 2), TiledHead(w), torch.zeros(4, dtype=torch.long))
    assert rows_per_tile(151936) == 883 and rows_per_tile(10**9) == 1


@pytest.mark.parametrize("mode", [None, "hybrid", "full"])
def test_head_logits_equal_the_reference(mode):
    """`TiledHead.logits` itself (used by other kernels for selected rows) against the written-out reference."""
    h, head, _ = _group_head(mode or "hybrid")
    if mode is None:
        head = TiledHead(head.weight, head.bias, head.logit_scale, head.softcap)
    ids = None if mode is None else head.group.token_ids.tolist()
    group_logp = None if mode is None else head.group.log_probs(h)
    want = reference_logits(
        h, head.weight, head.bias, head.logit_scale, head.softcap, ids, group_logp, mode or "hybrid"
    )
    torch.testing.assert_close(head.logits(h), want, rtol=1e-12, atol=1e-12)
