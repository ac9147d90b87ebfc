"""Clip-Cov / KL-Cov math (`trl_explore.functional.covariance`): hand-derived covariances, exact-k selection among
eligible tokens only, float64 reference parity of the KL-Cov penalty (values and gradients), errors."""

from __future__ import annotations

import math
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from covariance_reference import reference_covariance, reference_kl_cov_loss  # noqa: E402

from trl_explore.functional.covariance import (  # noqa: E402
    clip_cov_mask,
    covariance_k,
    kl_cov_penalty,
    token_covariance,
)


def test_token_covariance_hand_derived():
    """A = [[1], [-1]] per row, logps [[0, -2], [-1, -5]], last token of row 1 masked: valid tokens (0,0), (0,1),
    (1,0); mean A = (1 + 1 - 1) / 3 = 1/3; mean logp = (0 - 2 - 1) / 3 = -1.
    cov(0,0) = (2/3)(1) = 2/3; cov(0,1) = (2/3)(-1) = -2/3; cov(1,0) = (-4/3)(0) = 0; masked -> 0."""
    adv = torch.tensor([[1.0], [-1.0]])
    logps = torch.tensor([[0.0, -2.0], [-1.0, -5.0]])
    mask = torch.tensor([[1, 1], [1, 0]])
    cov = token_covariance(adv, logps, mask)
    torch.testing.assert_close(cov, torch.tensor([[2 / 3, -2 / 3], [0.0, 0.0]]))
    assert cov.requires_grad is False


def test_covariance_k():
    assert covariance_k(0.0, 100) == 0 and covariance_k(0.5, 0) == 0
    assert covariance_k(2e-4, 100) == 1  # max(1, floor(0.02))
    assert covariance_k(0.02, 1000) == 20 and covariance_k(0.25, 10) == 2
    with pytest.raises(ValueError, match="ratio"):
        covariance_k(1.0, 10)


def _random_batch(seed: int, b: int = 6, t: int = 9):
    g = torch.Generator().manual_seed(seed)
    adv = torch.randn(b, 1, generator=g) * 3
    logps = -torch.rand(b, t, generator=g) * 6
    mask = (torch.rand(b, t, generator=g) > 0.2).long()
    return adv, logps, mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clip_cov_selects_exactly_k_eligible_tokens_never_clipped(seed):
    adv, logps, mask = _random_batch(seed)
    g = torch.Generator().manual_seed(seed)
    clipped = torch.rand(logps.shape, generator=g) > 0.7
    cov = torch.tensor(reference_covariance(adv.tolist(), logps.tolist(), mask.tolist()))
    lb, ub = -0.5, 3.0
    eligible = (mask > 0) & ~clipped & (cov > lb) & (cov < ub)
    n_eligible = int(eligible.sum())
    assert n_eligible >= 4, "the test needs several eligible tokens"
    ratio = 3.0 / int(mask.sum())  # k = 3
    selected, stats = clip_cov_mask(
        adv, logps, mask, clipped, ratio, lb, ub, generator=torch.Generator().manual_seed(5)
    )
    assert int(selected.sum()) == 3 == int(stats["num_selected"])
    assert bool((selected <= eligible).all()), "only eligible tokens may be selected"
    assert not bool((selected & clipped).any()) and int(stats["num_eligible"]) == n_eligible
    # fewer eligible than k: all eligible are selected
    selected, _ = clip_cov_mask(adv, logps, mask, clipped, 0.99, lb, ub)
    assert torch.equal(selected, eligible)
    # ratio 0: nothing
    selected, stats = clip_cov_mask(adv, logps, mask, clipped, 0.0, lb, ub)
    assert not bool(selected.any()) and int(stats["num_selected"]) == 0


def test_clip_cov_band_is_open_and_draw_is_seeded():
    """Covariances [[2/3, -2/3], [0, ·]] (see the hand-derived test): band (0, 1) holds only (0,0); band (2/3, 1)
    holds none (open end); the same generator seed draws the same tokens."""
    adv = torch.tensor([[1.0], [-1.0]])
    logps = torch.tensor([[0.0, -2.0], [-1.0, -5.0]])
    mask = torch.tensor([[1, 1], [1, 0]])
    none = torch.zeros(2, 2, dtype=torch.bool)
    selected, _ = clip_cov_mask(adv, logps, mask, none, 0.5, 0.0, 1.0)
    assert selected.tolist() == [[True, False], [False, False]]
    selected, _ = clip_cov_mask(adv, logps, mask, none, 0.5, 2 / 3 + 1e-7, 1.0)
    assert not bool(selected.any())
    adv, logps, mask = _random_batch(7, b=8, t=16)
    draws = [
        clip_cov_mask(adv, logps, mask, torch.zeros_like(mask, dtype=torch.bool), 0.05, -1e9, 1e9,
                      generator=torch.Generator().manual_seed(s))[0]
        for s in (3, 3, 4)
    ]  # fmt: skip
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


@pytest.mark.parametrize(("b", "t", "ratio"), [(4, 7, 0.1), (3, 1, 0.4), (5, 13, 0.02)])
def test_kl_cov_penalty_equals_float64_reference(b, t, ratio):
    """Values and gradients against the loop reference (typical and odd shapes; per-token advantages in one case)."""
    torch.manual_seed(b * 100 + t)
    adv = torch.randn(b, t if t > 1 else 1, dtype=torch.float64)
    logps = (-torch.rand(b, t, dtype=torch.float64) * 5).requires_grad_(True)
    old = -torch.rand(b, t, dtype=torch.float64) * 5
    mask = (torch.rand(b, t) > 0.25).long()
    mask[0, 0] = 1
    penalty, selected, stats = kl_cov_penalty(adv, logps, old, mask, ratio, coef=0.1)
    expected, chosen = reference_kl_cov_loss(adv.tolist(), logps.tolist(), old.tolist(), mask.tolist(), ratio, 0.1)
    assert sorted(map(tuple, torch.nonzero(selected).tolist())) == sorted(chosen)
    assert int(stats["num_selected"]) == len(chosen) == max(1, math.floor(ratio * int(mask.sum())))
    torch.testing.assert_close(penalty.sum(), torch.tensor(expected, dtype=torch.float64))
    penalty.sum().backward()
    grad = torch.zeros(b, t, dtype=torch.float64)
    for i, j in chosen:
        grad[i, j] = 0.1 * math.copysign(1.0, logps[i, j].item() - old[i, j].item())
    torch.testing.assert_close(logps.grad, grad)


def test_kl_cov_float32_matches_float64():
    adv, logps, mask = _random_batch(3, b=5, t=11)
    old = logps - 0.3 * torch.randn(logps.shape, generator=torch.Generator().manual_seed(1))
    p32, s32, _ = kl_cov_penalty(adv, logps, old, mask, 0.1, 0.5)
    p64, s64, _ = kl_cov_penalty(adv.double(), logps.double(), old.double(), mask, 0.1, 0.5)
    # The selections agree exactly on any float path: the k-th and (k+1)-th largest covariances of this batch are
    # further apart than float32 rounding of the covariances (64·ε₃₂·max|cov|), so no rounding can swap them.
    valid = mask.bool()
    a, lp = adv.double().expand_as(logps)[valid], logps.double()[valid]
    cov = ((a - a.mean()) * (lp - lp.mean())).sort(descending=True).values
    k = int(s64.sum())
    assert cov[k - 1] - cov[k] > 64 * torch.finfo(torch.float32).eps * cov.abs().max()
    assert torch.equal(s32, s64)
    torch.testing.assert_close(p32.double(), p64, rtol=1e-6, atol=1e-6)


def test_argument_errors():
    adv, logps, mask = _random_batch(0)
    none = torch.zeros_like(mask, dtype=torch.bool)
    with pytest.raises(ValueError, match="lb"):
        clip_cov_mask(adv, logps, mask, none, 0.1, 5.0, 1.0)
    with pytest.raises(ValueError, match="ratio"):
        clip_cov_mask(adv, logps, mask, none, -0.1, 0.0, 1.0)
    with pytest.raises(ValueError, match="advantages"):
        token_covariance(torch.zeros(2, 3), logps, mask)
    with pytest.raises(ValueError, match="coef"):
        kl_cov_penalty(adv, logps, logps, mask, 0.1, -1.0)
    with pytest.raises(ValueError, match="clipped"):
        clip_cov_mask(adv, logps, mask, none[:, :2], 0.1, 0.0, 1.0)
