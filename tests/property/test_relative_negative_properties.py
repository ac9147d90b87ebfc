"""Property tests of `trl_explore.functional.relative_negative` (GRPO-N / GSPO-N, NSR / PSR / W-REINFORCE).

Covered: shapes, dtypes (fp32, bf16, float64 kept), empty inputs and single-completion groups (NSR / PSR /
W-REINFORCE); finiteness; agreement with the float64 reference for every mode; the invariances W-REINFORCE(λ = 0) =
NSR's advantages (on NSR's kept samples, and everywhere), PSR + NSR = W-REINFORCE(λ = 1), GRPO-N = min(GRPO, 0), GRPO
advantages summing to 0 per group and unchanged by a reward shift, equivariance under permutations of groups and of
completions within a group; the group statistics (fractions summing to 1, the reference mixed fraction); argument
validation with `ValueError` naming the argument.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from property.strategies import group_permutations, grouped_rewards
from reference.relative_negative_reference import reference_advantages, reference_mixed_fraction

from trl_explore.functional.relative_negative import (
    ADVANTAGE_MODES,
    GROUP_MODES,
    SPLIT_MODES,
    relative_negative_advantages,
    relative_negative_group_stats,
)

modes = st.sampled_from(ADVANTAGE_MODES)
weights = st.floats(0.0, 2.0)
thresholds = st.sampled_from([1.0, 0.5, 0.0])
dtypes = st.sampled_from([torch.float32, torch.bfloat16, torch.float64])


def _min_g(mode: str) -> int:
    return 2 if mode in GROUP_MODES else 1


@settings(max_examples=60)
@given(modes.flatmap(lambda m: st.tuples(st.just(m), grouped_rewards(min_g=_min_g(m)))), dtypes, weights, thresholds)
def test_shapes_dtypes_finiteness_and_reference(mode_and_rewards, dtype, weight, threshold):
    mode, (rewards, g) = mode_and_rewards
    rewards = rewards.to(dtype)
    adv, keep = relative_negative_advantages(rewards, g, mode, weight, threshold)
    assert adv.shape == keep.shape == rewards.shape
    assert adv.dtype == dtype and keep.dtype == torch.bool
    assert torch.isfinite(adv).all()
    assert (adv[~keep] == 0).all()  # a dropped sample carries no advantage
    expected, kept = reference_advantages(rewards.double().tolist(), g, mode, weight, threshold)
    expected = torch.tensor(expected, dtype=torch.float64)
    if mode in GROUP_MODES and dtype != torch.float64:
        # low-precision group means round, so a reward equal to its group mean may land on either side of A = 0:
        # compare the kept mask away from 0, and the values of bf16 rewards in float32 (bf16 rounds every step)
        clear = expected.abs() > 1e-2
        assert keep[clear].tolist() == torch.tensor(kept)[clear].tolist()
        if dtype == torch.bfloat16:
            adv, _ = relative_negative_advantages(rewards.float(), g, mode, weight, threshold)
    else:
        assert keep.tolist() == kept
    tol = 1e-9 if dtype == torch.float64 else 2e-4 if adv.dtype == torch.float32 else 4e-3  # bf16 rounds λ too
    torch.testing.assert_close(adv.double(), expected, rtol=tol, atol=tol)


@settings(max_examples=40)
@given(grouped_rewards(min_g=1), thresholds)
def test_w_reinforce_at_zero_is_nsr(rewards_g, threshold):
    """λ = 0: W-REINFORCE's advantages are NSR's on NSR's kept (incorrect) samples, and 0 = NSR's on the correct ones;
    W-REINFORCE keeps every sample in the loss (so its token denominator differs), NSR only the incorrect ones."""
    rewards, g = rewards_g
    w_adv, w_keep = relative_negative_advantages(rewards, g, "w_reinforce", 0.0, threshold)
    nsr_adv, nsr_keep = relative_negative_advantages(rewards, g, "nsr", 0.1, threshold)
    assert torch.equal(w_adv[nsr_keep], nsr_adv[nsr_keep])
    assert torch.equal(w_adv, nsr_adv)
    assert w_keep.all() and torch.equal(nsr_keep, rewards < threshold)


@settings(max_examples=40)
@given(grouped_rewards(min_g=1), thresholds)
def test_psr_plus_nsr_is_w_reinforce_at_one(rewards_g, threshold):
    rewards, g = rewards_g
    psr, psr_keep = relative_negative_advantages(rewards, g, "psr", correct_threshold=threshold)
    nsr, nsr_keep = relative_negative_advantages(rewards, g, "nsr", correct_threshold=threshold)
    w, _ = relative_negative_advantages(rewards, g, "w_reinforce", 1.0, threshold)
    assert torch.equal(psr + nsr, w)
    assert torch.equal(psr_keep ^ nsr_keep, torch.ones_like(psr_keep))  # every sample is kept by exactly one


@settings(max_examples=40)
@given(grouped_rewards(), st.sampled_from([torch.float32, torch.float64]), st.floats(-100.0, 100.0))
def test_grpo_family_invariants(rewards_g, dtype, shift):
    rewards, g = rewards_g
    rewards = rewards.to(dtype)
    grpo, grpo_keep = relative_negative_advantages(rewards, g, "grpo")
    assert grpo_keep.all()
    exact, _ = relative_negative_advantages(rewards.double(), g, "grpo")  # float32 rounds the group mean
    sums = exact.view(-1, g).sum(-1) if exact.numel() else exact
    assert torch.allclose(sums, torch.zeros_like(sums), atol=1e-9)
    for mode in ("grpo_n", "gspo_n"):
        neg, keep = relative_negative_advantages(rewards, g, mode)
        assert torch.equal(neg, torch.clamp(grpo, max=0.0)) and torch.equal(keep, grpo <= 0)
    shifted, _ = relative_negative_advantages(rewards.double() + shift, g, "grpo")
    torch.testing.assert_close(shifted, grpo.double(), rtol=1e-3, atol=2e-3)


@settings(max_examples=40)
@given(modes.flatmap(lambda m: st.tuples(st.just(m), grouped_rewards(min_g=_min_g(m), allow_empty=False))), st.data())
def test_permutation_equivariance(mode_and_rewards, data):
    """Reordering whole groups, and the completions inside each group, reorders the advantages the same way."""
    mode, (rewards, g) = mode_and_rewards
    perm = data.draw(group_permutations(rewards.numel() // g, g))
    adv, keep = relative_negative_advantages(rewards.double(), g, mode)
    padv, pkeep = relative_negative_advantages(rewards.double()[perm], g, mode)
    torch.testing.assert_close(padv, adv[perm], rtol=1e-12, atol=1e-12)
    assert torch.equal(pkeep, keep[perm])


@settings(max_examples=40)
@given(grouped_rewards(min_g=1, values=st.sampled_from([0.0, 1.0, 0.5, math.nan])), thresholds)
def test_group_stats(rewards_g, threshold):
    rewards, g = rewards_g
    stats = relative_negative_group_stats(rewards, g, threshold)
    fractions = stats["frac_mixed_groups"] + stats["frac_all_correct"] + stats["frac_all_wrong"]
    grouped = rewards.view(-1, g)
    unscored = int(torch.isnan(grouped).all(-1).sum()) if rewards.numel() else 0
    n_groups = max(grouped.shape[0], 1)
    assert fractions == pytest.approx((grouped.shape[0] - unscored) / n_groups if rewards.numel() else 0.0)
    scored = rewards[~torch.isnan(rewards)]
    if scored.numel():
        assert stats["frac_correct"] == pytest.approx(float((scored >= threshold).float().mean()))
    else:
        assert math.isnan(stats["frac_correct"])
    if rewards.numel() and not torch.isnan(rewards).any():
        assert stats["frac_mixed_groups"] == pytest.approx(reference_mixed_fraction(rewards.tolist(), g, threshold))


def test_empty_and_single_completion_groups():
    for mode in ADVANTAGE_MODES:
        adv, keep = relative_negative_advantages(torch.zeros(0), 2, mode)
        assert adv.shape == keep.shape == (0,)
    for mode in SPLIT_MODES:  # no group statistics: one completion per prompt is fine
        adv, keep = relative_negative_advantages(torch.tensor([1.0, 0.0, 3.0]), 1, mode, 0.5)
        assert adv.shape == (3,) and keep.shape == (3,)
    assert relative_negative_advantages(torch.tensor([1.0, 0.0]), 1, "w_reinforce", 0.5)[0].tolist() == [0.5, -1.0]


@pytest.mark.parametrize(
    ("args", "kwargs", "name"),
    [
        ((torch.tensor([1.0, math.nan]), 2, "nsr"), {}, "rewards"),
        ((torch.tensor([1, 0]), 2, "grpo"), {}, "rewards"),
        ((torch.zeros(2, 2), 2, "grpo"), {}, "rewards"),
        ((torch.zeros(3), 2, "grpo"), {}, "num_generations"),
        ((torch.zeros(2), 1, "grpo"), {}, "num_generations"),
        ((torch.zeros(2), 0, "nsr"), {}, "num_generations"),
        ((torch.zeros(2), True, "nsr"), {}, "num_generations"),
        ((torch.zeros(2), 2, "ppo"), {}, "mode"),
        ((torch.zeros(2), 2, "w_reinforce"), {"positive_weight": -0.1}, "positive_weight"),
        ((torch.zeros(2), 2, "w_reinforce"), {"positive_weight": math.inf}, "positive_weight"),
        ((torch.zeros(2), 2, "nsr"), {"correct_threshold": math.nan}, "correct_threshold"),
    ],
)
def test_invalid_inputs_raise_value_error_naming_them(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        relative_negative_advantages(*args, **kwargs)
