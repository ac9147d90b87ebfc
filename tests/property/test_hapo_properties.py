"""Property tests of `trl_explore.functional.hapo` (HAPO, arXiv 2509.16591).

Covered: entropy scores (shape, float32, range [-1, 1], 0 on masked tokens, fully masked / empty / single-token
populations, fp32 and bf16 entropies, agreement with the float64 reference, monotone in the entropy, unchanged by
rescaling every entropy, permutation equivariance, ``released`` = ``|paper|``, reusing the statistics reproduces the
scores); ATS factors (in [1 − τ, 1 + τ], finite per-row factors from fp32 / bf16 logits); TLGA (equal lengths =
group normalisation with the population std, agreement with the float64 reference including the fallback count,
invariance to a common length scale and a reward shift, permutation equivariance, dtype kept, empty input); AAC
bounds (never narrower than TRL's, α = 0 gives the scalars, reference); DAR (β = 0 is the identity, the sign of the
advantage is kept, on-policy only dampening, reference); argument validation.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from property.strategies import float_dtypes, group_permutations, masks, tensors
from reference import hapo_reference as ref

from trl_explore.functional.hapo import (
    hapo_clip_bounds,
    hapo_entropy_scores,
    hapo_redistribute_advantages,
    hapo_row_temperature_factor,
    hapo_temperature_factor,
)
from trl_explore.functional.hapo import tlga_advantages as _tlga_advantages


def tlga_advantages(*args, **kwargs):
    """`tlga_advantages` with torch's warning about the (unused) std of an empty batch silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"std\(\).*degrees of freedom", category=UserWarning)
        return _tlga_advantages(*args, **kwargs)


signs = st.sampled_from(["paper", "released"])
quantiles = st.floats(0.05, 1.0)


@st.composite
def entropy_problems(draw, low: float = 0.0, high: float = 8.0):
    b = draw(st.integers(0, 5))
    t = draw(st.integers(1, 7))
    return draw(tensors((b, t), low, high)), draw(masks((b, t)))


@settings(max_examples=50)
@given(entropy_problems(), float_dtypes, quantiles, signs)
def test_scores_range_masks_dtypes_and_reference(problem, dtype, q, sign):
    entropies, mask = problem
    entropies = entropies.to(dtype)
    scores, stats = hapo_entropy_scores(entropies, mask, q, sign)
    assert scores.shape == entropies.shape and scores.dtype == torch.float32
    assert torch.isfinite(scores).all() and (scores.abs() <= 1).all()
    assert (scores[~mask] == 0).all()
    if sign == "released":
        assert (scores >= 0).all()
    n_valid = int(mask.sum())
    if n_valid <= 1:  # nothing to compare with: every score 0
        assert (scores == 0).all()
    if n_valid == 0:
        assert tuple(stats) == (0.0, 1.0, 0.0, 0.0)
        return
    expected, ref_stats = ref.entropy_scores(entropies.double().tolist(), mask.tolist(), q=q, sign=sign)
    torch.testing.assert_close(scores.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-5)
    assert tuple(stats) == pytest.approx(ref_stats, rel=1e-9, abs=1e-12)


@settings(max_examples=40)
@given(entropy_problems(low=1e-3), quantiles, st.floats(1e-2, 1e2), st.data())
def test_scores_monotone_scale_invariant_and_permutation_equivariant(problem, q, scale, data):
    entropies, mask = problem
    entropies = entropies.double()
    scores, stats = hapo_entropy_scores(entropies, mask, q)
    valid_h, valid_s = entropies[mask], scores[mask]
    order = torch.argsort(valid_h)
    assert (valid_s[order].diff() >= -1e-6).all()  # higher entropy, higher score
    # x = log H: a common factor shifts x and the pivot alike; the RMS and the scores do not move
    rescaled, _ = hapo_entropy_scores(entropies * scale, mask, q)
    torch.testing.assert_close(rescaled, scores, rtol=1e-4, atol=1e-4)
    again, same = hapo_entropy_scores(entropies, mask, q, stats=stats)
    assert torch.equal(again, scores) and same == stats
    released, _ = hapo_entropy_scores(entropies, mask, q, "released")
    assert torch.equal(released, scores.abs())
    flat = entropies.flatten()
    perm = torch.tensor(data.draw(st.permutations(range(flat.numel()))), dtype=torch.long)
    shape = entropies.shape
    permuted, _ = hapo_entropy_scores(flat[perm].view(shape), mask.flatten()[perm].view(shape), q)
    torch.testing.assert_close(permuted.flatten(), scores.flatten()[perm], rtol=1e-6, atol=1e-6)


@settings(max_examples=30)
@given(entropy_problems(), st.floats(0.0, 0.99))
def test_temperature_factor_range(problem, tau):
    entropies, mask = problem
    scores, _ = hapo_entropy_scores(entropies, mask)
    factor = hapo_temperature_factor(scores, tau)
    assert (factor >= 1 - tau - 1e-6).all() and (factor <= 1 + tau + 1e-6).all()
    assert torch.equal(hapo_temperature_factor(scores, 0.0), torch.ones_like(scores))


@settings(max_examples=30)
@given(
    st.integers(0, 5).flatmap(lambda n: tensors((n, 6), -30.0, 30.0)),
    float_dtypes,
    entropy_problems(),
    st.floats(0.0, 0.99),
    st.floats(0.3, 3.0),
    signs,
)
def test_row_temperature_factor(logits, dtype, population, tau, temperature, sign):
    _, stats = hapo_entropy_scores(*population)
    factor = hapo_row_temperature_factor(logits.to(dtype), stats, tau, temperature, sign)
    assert factor.shape == (logits.shape[0],) and factor.dtype == torch.float32
    assert torch.isfinite(factor).all()
    assert (factor >= 1 - tau - 1e-6).all() and (factor <= 1 + tau + 1e-6).all()


@st.composite
def tlga_problems(draw, equal_lengths: bool = False, max_g: int = 8, allow_empty: bool = True):
    g = draw(st.integers(2, max_g))
    p = draw(st.integers(0 if allow_empty else 1, 4))
    rewards = draw(tensors((p * g,), -3.0, 3.0) | st.just(torch.tensor([0.0, 1.0]).repeat(p * g)[: p * g]))
    if equal_lengths:
        lengths = torch.full((p * g,), float(draw(st.integers(1, 500))))
    else:
        lengths = draw(tensors((p * g,), 0.0, 50.0)).round()
    return rewards, lengths, g


@settings(max_examples=50)
@given(tlga_problems(equal_lengths=True))
def test_tlga_equal_lengths_is_group_normalisation_with_population_std(problem):
    """With equal lengths the length weights cancel: A = (r − mean) / (population std + 1e-6). For G <= 8 no |A| can
    reach the fallback threshold 5 (the largest population z-score of G values is sqrt(G − 1))."""
    rewards, lengths, g = problem
    adv, stats = tlga_advantages(rewards, lengths, g, return_stats=True)
    assert stats["fallback_groups"] == 0.0
    if not rewards.numel():
        assert adv.shape == (0,)
        return
    grouped = rewards.double().view(-1, g)
    centred = grouped - grouped.mean(-1, keepdim=True)
    expected = centred / (grouped.std(-1, unbiased=False, keepdim=True) + 1e-6)
    torch.testing.assert_close(adv.double(), expected.flatten(), rtol=1e-5, atol=1e-5)


@settings(max_examples=50)
@given(tlga_problems(max_g=12), st.sampled_from([torch.float32, torch.bfloat16, torch.float64]), st.floats(1.0, 8.0))
def test_tlga_reference_dtype_and_finiteness(problem, dtype, fallback):
    rewards, lengths, g = problem
    adv, stats = tlga_advantages(rewards.to(dtype), lengths, g, fallback=fallback, return_stats=True)
    assert adv.shape == rewards.shape and adv.dtype == dtype and torch.isfinite(adv).all()
    assert stats["groups"] == rewards.numel() // g
    expected, fallbacks = ref.tlga(rewards.to(dtype).double().tolist(), lengths.tolist(), g, fallback)
    assert stats["fallback_groups"] == fallbacks
    tol = 1e-9 if dtype == torch.float64 else 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(adv.double(), torch.tensor(expected, dtype=torch.float64), rtol=tol, atol=tol)


@settings(max_examples=40)
@given(tlga_problems(allow_empty=False), st.floats(0.01, 100.0), st.floats(-50.0, 50.0), st.data())
def test_tlga_invariances(problem, length_scale, shift, data):
    rewards, lengths, g = problem
    rewards, lengths = rewards.double(), lengths.double()
    adv, stats = tlga_advantages(rewards, lengths, g, return_stats=True)
    # weights are normalised per group: a common length scale changes nothing away from the fallback boundary
    tlga = tlga_advantages(rewards, lengths, g, fallback=1e9)
    assume(((tlga.abs() - 5.0).abs() > 1e-6).all())
    torch.testing.assert_close(tlga_advantages(rewards, lengths * length_scale, g), adv, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(tlga_advantages(rewards + shift, lengths, g), adv, rtol=1e-6, atol=1e-6)
    perm = data.draw(group_permutations(rewards.numel() // g, g))
    torch.testing.assert_close(tlga_advantages(rewards[perm], lengths[perm], g), adv[perm], rtol=1e-9, atol=1e-9)
    sums = (adv.view(-1, g) * lengths.view(-1, g)).sum(-1)
    used_tlga = (tlga.view(-1, g) == adv.view(-1, g)).all(-1) & (lengths.view(-1, g).sum(-1) > 0)
    assert torch.allclose(sums[used_tlga], torch.zeros_like(sums[used_tlga]), atol=1e-6)  # length-weighted mean 0


@settings(max_examples=40)
@given(entropy_problems(), st.floats(0.0, 0.5), st.floats(0.0, 0.5), st.floats(0.0, 2.0), st.floats(0.0, 2.0))
def test_clip_bounds(problem, eps_low, eps_high, alpha_a, alpha_b):
    entropies, mask = problem
    scores, _ = hapo_entropy_scores(entropies, mask)
    low, high = hapo_clip_bounds(scores, eps_low, eps_high, alpha_a)
    assert low.dtype == high.dtype == torch.float64 and low.shape == scores.shape
    assert (low >= eps_low).all() and (high >= eps_high).all()  # AAC only widens TRL's bounds
    assert (low[~mask] == eps_low).all() and (high[~mask] == eps_high).all()
    flat_low, flat_high = hapo_clip_bounds(scores, eps_low, eps_high, 0.0)
    assert (flat_low == eps_low).all() and (flat_high == eps_high).all()
    lo_alpha, hi_alpha = sorted((alpha_a, alpha_b))
    l1, h1 = hapo_clip_bounds(scores, eps_low, eps_high, lo_alpha)
    l2, h2 = hapo_clip_bounds(scores, eps_low, eps_high, hi_alpha)
    assert (l2 >= l1 - 1e-12).all() and (h2 >= h1 - 1e-12).all()
    for s, lo, hi in zip(scores.flatten().tolist(), low.flatten().tolist(), high.flatten().tolist()):
        assert (lo, hi) == pytest.approx(ref.clip_bounds(s, eps_low, eps_high, alpha_a), rel=1e-12, abs=1e-15)


@settings(max_examples=40)
@given(entropy_problems(), st.floats(0.0, 0.5), st.floats(0.0, 0.5), st.floats(0.0, 1.0), float_dtypes, st.data())
def test_redistribution(problem, eps_low, eps_high, beta, dtype, data):
    entropies, mask = problem
    b, t = entropies.shape
    scores, _ = hapo_entropy_scores(entropies, mask)
    advantages = data.draw(tensors((b, 1), -3.0, 3.0)).to(dtype)
    ratio = data.draw(tensors((b, t), 0.5, 1.5))
    out = hapo_redistribute_advantages(advantages, scores, ratio, eps_low, eps_high, beta)
    assert out.shape == (b, t) and out.dtype == dtype and torch.isfinite(out.float()).all()
    expanded = advantages.expand(b, t)
    assert torch.equal(hapo_redistribute_advantages(advantages, scores, ratio, eps_low, eps_high, 0.0), expanded)
    assert ((out.float() * expanded.float()) >= 0).all()  # 1 + β·h̃ >= 0 for β <= 1: the sign never flips
    on_policy = hapo_redistribute_advantages(advantages, scores, torch.ones(b, t), eps_low, eps_high, beta)
    if 1 - eps_low / 2 < 1 < 1 + eps_high / 2:  # r = 1 inside the zone: only low-entropy tokens change
        assert torch.equal(on_policy[scores > 0], expanded[scores > 0])
    low, high = hapo_clip_bounds(scores, eps_low, eps_high)
    adaptive = hapo_redistribute_advantages(advantages.double(), scores, ratio, low, high, beta)
    for i in range(b):
        for j in range(t):
            expected = ref.redistribute(
                float(advantages[i, 0]), float(scores[i, j]), float(ratio[i, j]), float(low[i, j]),
                float(high[i, j]), beta,
            )  # fmt: skip
            assert float(adaptive[i, j]) == pytest.approx(expected, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: hapo_entropy_scores(torch.ones(1, 2), torch.ones(1, 2), pivot_quantile=0.0), "pivot_quantile"),
        (lambda: hapo_entropy_scores(torch.ones(1, 2), torch.ones(1, 2), sign="both"), "sign"),
        (lambda: hapo_entropy_scores(torch.ones(1, 2), torch.ones(2, 1)), "mask"),
        (lambda: hapo_temperature_factor(torch.zeros(2), 1.0), "tau"),
        (lambda: hapo_row_temperature_factor(torch.zeros(1, 3), (0, 1, 1, -1), 0.1, 0.0), "temperature"),
        (lambda: tlga_advantages(torch.zeros(4), torch.ones(4), 1), "num_generations"),
        (lambda: tlga_advantages(torch.zeros(4), torch.ones(4), 2, fallback=0.0), "fallback"),
        (lambda: tlga_advantages(torch.tensor([1.0, math.inf]), torch.ones(2), 2), "rewards"),
        (lambda: tlga_advantages(torch.zeros(2), torch.tensor([1.0, -1.0]), 2), "lengths"),
        (lambda: tlga_advantages(torch.zeros(2), torch.tensor([1.0, math.nan]), 2), "lengths"),
        (lambda: tlga_advantages(torch.zeros(2), torch.tensor([1.0, math.inf]), 2), "lengths"),
        (lambda: hapo_clip_bounds(torch.zeros(2), -0.1, 0.2), "epsilon_low"),
        (lambda: hapo_clip_bounds(torch.zeros(2), 0.2, 0.2, alpha=math.nan), "alpha"),
        (
            lambda: hapo_redistribute_advantages(torch.ones(1, 1), torch.zeros(1, 2), torch.ones(1, 2), 0.2, 0.2, -1.0),
            "beta",
        ),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()
