"""HAPO's pure math (`trl_explore.functional.hapo`): hand-derived cases and the float64 reference (arXiv 2509.16591,
Sec. 3)."""

from __future__ import annotations

import math

import pytest
import torch
from reference import hapo_reference as ref

from trl_explore.functional.hapo import (
    HapoEntropyStats,
    hapo_clip_bounds,
    hapo_entropy_scores,
    hapo_redistribute_advantages,
    hapo_temperature_factor,
    tlga_advantages,
)

SQRT3 = math.sqrt(3.0)


# --------------------------------------------------------------------------------------------- entropy scores
def test_scores_hand_derived_both_signs():
    """x = log H = [0, 1, 2, 3, 4]; q = 0.8 of 5 values: the ceil(4) = 4th smallest, pivot 3. Deviations
    [-3, -2, -1, 0, 1], mean square 15 / 5 = 3, rms √3: h = [-√3, -2/√3, -1/√3, 0, 1/√3]; max h⁺ = 1/√3,
    min h⁻ = -√3. Paper: [-1, -2/3, -1/3, 0, 1]. Released (negatives divided by -√3): [1, 2/3, 1/3, 0, 1]."""
    entropies = torch.exp(torch.arange(5.0)).unsqueeze(0)
    mask = torch.ones(1, 5, dtype=torch.bool)
    scores, stats = hapo_entropy_scores(entropies, mask)
    torch.testing.assert_close(scores, torch.tensor([[-1.0, -2 / 3, -1 / 3, 0.0, 1.0]]))
    assert stats.pivot == pytest.approx(3.0) and stats.rms == pytest.approx(SQRT3)
    assert stats.pos_max == pytest.approx(1 / SQRT3) and stats.neg_min == pytest.approx(-SQRT3)
    released, _ = hapo_entropy_scores(entropies, mask, sign="released")
    torch.testing.assert_close(released, torch.tensor([[1.0, 2 / 3, 1 / 3, 0.0, 1.0]]))
    assert (released >= 0).all()


def test_scores_all_equal_entropies_are_zero_and_masked_positions_zero():
    """All-equal entropies: deviations 0, rms = sqrt(1e-8) = 1e-4, every score 0 (never NaN)."""
    scores, stats = hapo_entropy_scores(torch.full((2, 3), 0.7), torch.tensor([[1, 1, 1], [1, 1, 0]]))
    assert torch.equal(scores, torch.zeros(2, 3)) and stats.rms == pytest.approx(1e-4)
    masked, _ = hapo_entropy_scores(torch.tensor([[0.0, 5.0, 1.0]]), torch.tensor([[0, 1, 1]]))
    assert masked[0, 0] == 0.0 and torch.isfinite(masked).all()
    empty, stats = hapo_entropy_scores(torch.rand(2, 2), torch.zeros(2, 2))
    assert torch.equal(empty, torch.zeros(2, 2)) and stats == HapoEntropyStats(0.0, 1.0, 0.0, 0.0)


def test_scores_with_given_stats_reuse_and_clamp():
    """Given statistics are used as they are (the sampling side); scores outside [-1, 1] are clamped."""
    entropies = torch.exp(torch.arange(5.0)).unsqueeze(0)
    mask = torch.ones(1, 5, dtype=torch.bool)
    scores, stats = hapo_entropy_scores(entropies, mask)
    again, same = hapo_entropy_scores(entropies, mask, stats=tuple(stats))
    torch.testing.assert_close(again, scores) and None
    assert same == stats
    hot = torch.tensor([[math.exp(10.0), math.exp(-10.0)]])
    clamped, _ = hapo_entropy_scores(hot, torch.ones(1, 2), stats=stats)
    assert clamped.tolist() == [[1.0, -1.0]]


@pytest.mark.parametrize("sign", ["paper", "released"])
@pytest.mark.parametrize(("shape", "q"), [((4, 9), 0.8), ((3, 1), 0.5), ((7, 13), 1.0)])
def test_scores_match_reference(sign, shape, q):
    g = torch.Generator().manual_seed(hash((sign, shape, q)) % 1000)
    entropies = torch.rand(shape, generator=g) * 3
    entropies[0, 0] = 0.0  # floored at 1e-8 before the log
    mask = torch.rand(shape, generator=g) > 0.3
    mask[0, 0] = True
    scores, stats = hapo_entropy_scores(entropies, mask, pivot_quantile=q, sign=sign)
    expected, ref_stats = ref.entropy_scores(entropies.tolist(), mask.tolist(), q=q, sign=sign)
    torch.testing.assert_close(scores.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-6, atol=1e-6)
    assert tuple(stats) == pytest.approx(ref_stats, rel=1e-9)


def test_scores_accept_bf16_and_more_than_2_24_tokens():
    """bf16 entropies give the same scores as their float32 values; the pivot of a population larger than 2^24
    (where torch.quantile refuses) is the nearest-rank quantile."""
    entropies = torch.rand(3, 5) + 0.1
    mask = torch.ones(3, 5)
    bf16, _ = hapo_entropy_scores(entropies.bfloat16(), mask)
    f32, _ = hapo_entropy_scores(entropies.bfloat16().float(), mask)
    assert torch.equal(bf16, f32)  # exact: the scores upcast to float64 first, so both run on the same values
    n = 2**24 + 3
    big = torch.exp(torch.arange(n, dtype=torch.float32) / n).unsqueeze(0)  # x = i / n, sorted
    _, stats = hapo_entropy_scores(big, torch.ones_like(big, dtype=torch.bool))
    k = math.ceil(0.8 * n)
    assert stats.pivot == pytest.approx(float(torch.log(big[0, k - 1]).double()), rel=1e-6)


def test_temperature_factor():
    torch.testing.assert_close(
        hapo_temperature_factor(torch.tensor([-1.0, 0.0, 0.5]), 0.05), torch.tensor([0.95, 1.0, 1.025])
    )
    with pytest.raises(ValueError, match="tau"):
        hapo_temperature_factor(torch.zeros(1), 1.0)


# ---------------------------------------------------------------------------------------------------- TLGA
def test_tlga_hand_derived():
    """Group 1: r = [1, 0, 0, 0], L = [1, 3, 3, 3]: μ = 1/10, σ² = (0.81 + 9·0.01)/10 = 0.09, σ = 0.3:
    A = [0.9, -0.1, -0.1, -0.1] / 0.3 = [3, -1/3, -1/3, -1/3] (all |A| < 5: kept).
    Group 2: r = [1, 0, 0, 0], L = [1, 100, 100, 100]: A_0 = (1 - 1/301) / σ ≈ 17.3 >= 5, so GRPO's fallback:
    mean 0.25, unbiased std 0.5: [1.5, -0.5, -0.5, -0.5]."""
    rewards = torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0])
    lengths = torch.tensor([1.0, 3, 3, 3, 1, 100, 100, 100])
    adv, stats = tlga_advantages(rewards, lengths, 4, return_stats=True)
    expected = [3, -1 / 3, -1 / 3, -1 / 3, 1.5, -0.5, -0.5, -0.5]
    torch.testing.assert_close(adv, torch.tensor(expected), rtol=1e-5, atol=1e-5)
    assert stats == {"fallback_groups": 1.0, "groups": 2.0}


def test_tlga_equal_lengths_is_group_normalisation_with_population_std():
    g = torch.Generator().manual_seed(0)
    rewards = torch.rand(12, generator=g)
    adv = tlga_advantages(rewards, torch.full((12,), 7.0), 4)
    grouped = rewards.double().view(3, 4)
    expected = (grouped - grouped.mean(-1, keepdim=True)) / (grouped.std(-1, unbiased=False, keepdim=True) + 1e-6)
    torch.testing.assert_close(adv.double(), expected.flatten(), rtol=1e-6, atol=1e-6)


def test_tlga_degenerate_groups():
    """All-equal rewards: 0 advantages; a group whose completions hold no token falls back (counted): r = [1, 0],
    mean 0.5, unbiased std √0.5, A = ±0.5 / √0.5."""
    adv, stats = tlga_advantages(torch.tensor([0.5, 0.5, 1.0, 0.0]), torch.tensor([3.0, 4, 0, 0]), 2, return_stats=True)
    torch.testing.assert_close(adv[:2], torch.zeros(2))
    torch.testing.assert_close(adv[2:], torch.tensor([0.5, -0.5]) / (math.sqrt(0.5) + 1e-6), rtol=1e-5, atol=1e-6)
    assert stats["fallback_groups"] == 1.0
    with pytest.raises(ValueError, match="finite"):
        tlga_advantages(torch.tensor([math.nan, 0.0]), torch.ones(2), 2)
    with pytest.raises(ValueError, match="num_generations"):
        tlga_advantages(torch.zeros(3), torch.ones(3), 2)


@pytest.mark.parametrize("g", [2, 5])
def test_tlga_matches_reference(g):
    gen = torch.Generator().manual_seed(g)
    rewards = torch.randint(0, 3, (4 * g,), generator=gen).float() / 2
    lengths = torch.randint(0, 20, (4 * g,), generator=gen).float()
    adv, stats = tlga_advantages(rewards, lengths, g, return_stats=True)
    expected, fallbacks = ref.tlga(rewards.tolist(), lengths.tolist(), g)
    torch.testing.assert_close(adv.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-5)
    assert stats["fallback_groups"] == fallbacks


# ------------------------------------------------------------------------------------------------ AAC, DAR
def test_clip_bounds_hand_derived():
    """h̃ = [-1, -0.5, 0, 0.5, 1], ε_L = 0.2, ε_R = 0.28, α = 1: ε_L(t) = 0.2·(1 - h̃) where h̃ <= 0 →
    [0.4, 0.3, 0.2, 0.2, 0.2]; ε_R(t) = 0.28·(1 + h̃) where h̃ > 0 → [0.28, 0.28, 0.28, 0.42, 0.56]."""
    low, high = hapo_clip_bounds(torch.tensor([[-1.0, -0.5, 0.0, 0.5, 1.0]]), 0.2, 0.28)
    assert low.dtype == torch.float64
    torch.testing.assert_close(low, torch.tensor([[0.4, 0.3, 0.2, 0.2, 0.2]], dtype=torch.float64))
    torch.testing.assert_close(high, torch.tensor([[0.28, 0.28, 0.28, 0.42, 0.56]], dtype=torch.float64))
    low, high = hapo_clip_bounds(torch.tensor([[-1.0, 1.0]]), 0.2, 0.28, alpha=0.0)
    assert low.tolist() == [[0.2, 0.2]] and high.tolist() == [[0.28, 0.28]]


def test_redistribution_hand_derived_zone_boundaries():
    """ε_L = ε_R = 0.2: neutral zone 0.9 < r < 1.1 (strict), β = 1, A = 2.
    h̃ = 0.5: inside (r = 1) → 2; outside (r = 1.2, and r = 1.1 on the boundary) → 2·1.5 = 3.
    h̃ = -0.5: inside (r = 1) → 2·0.5 = 1; outside (r = 1.2, and r = 0.9 on the boundary) → 2."""
    scores = torch.tensor([[0.5, 0.5, 0.5, -0.5, -0.5, -0.5]], dtype=torch.float64)
    ratio = torch.tensor([[1.0, 1.2, 1.1, 1.0, 1.2, 0.9]], dtype=torch.float64)
    out = hapo_redistribute_advantages(torch.tensor([[2.0]], dtype=torch.float64), scores, ratio, 0.2, 0.2)
    assert out.tolist() == [[2.0, 3.0, 3.0, 1.0, 2.0, 2.0]]
    # on-policy (r = 1): only dampening
    on_policy = hapo_redistribute_advantages(torch.tensor([[2.0]]), scores.float(), torch.ones(1, 6), 0.2, 0.2)
    assert on_policy.tolist() == [[2.0, 2.0, 2.0, 1.0, 1.0, 1.0]]


@pytest.mark.parametrize("sign", ["paper", "released"])
def test_clip_and_redistribution_match_reference(sign):
    gen = torch.Generator().manual_seed(3)
    scores, _ = hapo_entropy_scores(torch.rand(5, 7, generator=gen) * 2, torch.ones(5, 7), sign=sign)
    advantages = torch.randn(5, 1, generator=gen)
    ratio = 1 + 0.2 * torch.randn(5, 7, generator=gen)
    low, high = hapo_clip_bounds(scores, 0.2, 0.28, alpha=0.7)
    out = hapo_redistribute_advantages(advantages, scores, ratio, low, high, beta=0.6)
    for b in range(5):
        for t in range(7):
            s = float(scores[b, t])
            lo, hi = ref.clip_bounds(s, 0.2, 0.28, alpha=0.7)
            assert float(low[b, t]) == pytest.approx(lo) and float(high[b, t]) == pytest.approx(hi)
            expected = ref.redistribute(float(advantages[b, 0]), s, float(ratio[b, t]), lo, hi, beta=0.6)
            assert float(out[b, t]) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_redistribution_sequence_level_ratio_broadcasts():
    scores = torch.tensor([[0.5, -0.5]])
    out = hapo_redistribute_advantages(torch.tensor([[1.0]]), scores, torch.tensor([[1.5]]), 0.2, 0.2)
    assert out.tolist() == [[1.5, 1.0]]
