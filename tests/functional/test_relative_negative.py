"""`relative_negative_advantages`: hand-derived values per mode, float64 reference parity, TRL parity, errors."""

from __future__ import annotations

import math
import os
import sys

import pytest
import torch
from trl.trainer.utils import nanstd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from relative_negative_reference import reference_advantages, reference_mixed_fraction  # noqa: E402

from trl_explore.functional import relative_negative_advantages, relative_negative_group_stats  # noqa: E402
from trl_explore.functional.relative_negative import ADVANTAGE_MODES  # noqa: E402

# G = 4: an all-correct group, an all-wrong group and a mixed group (one correct of four)
REWARDS = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
# mixed group: mean 0.25, squared deviations 0.5625 + 3 · 0.0625 = 0.75, unbiased var 0.75 / 3 = 0.25, std 0.5
POS = 0.75 / (0.5 + 1e-4)  # 1.4997000...
NEG = -0.25 / (0.5 + 1e-4)  # -0.4999000...
T, F = True, False
HAND = {
    # all-equal groups: (r - mean) = 0, std = 0 -> 0 / 1e-4 = 0
    "grpo": ([0.0] * 8 + [POS, NEG, NEG, NEG], [T] * 12),
    "grpo_n": ([0.0] * 8 + [0.0, NEG, NEG, NEG], [T] * 8 + [F, T, T, T]),
    "gspo_n": ([0.0] * 8 + [0.0, NEG, NEG, NEG], [T] * 8 + [F, T, T, T]),
    # no baseline: all-wrong groups still learn (-1), all-correct groups are dropped
    "nsr": ([0.0] * 4 + [-1.0] * 4 + [0.0, -1.0, -1.0, -1.0], [F] * 4 + [T] * 4 + [F, T, T, T]),
    "psr": ([1.0] * 4 + [0.0] * 4 + [1.0, 0.0, 0.0, 0.0], [T] * 4 + [F] * 4 + [T, F, F, F]),
    # λ = 0.1 for correct, -1 for incorrect, everything kept
    "w_reinforce": ([0.1] * 4 + [-1.0] * 4 + [0.1, -1.0, -1.0, -1.0], [T] * 12),
}


@pytest.mark.parametrize("mode", ADVANTAGE_MODES)
def test_hand_derived_values(mode):
    """All-correct, all-wrong and mixed groups, G = 4 (arithmetic in `HAND`)."""
    adv, keep = relative_negative_advantages(torch.tensor(REWARDS), 4, mode)
    expected_adv, expected_keep = HAND[mode]
    torch.testing.assert_close(adv, torch.tensor(expected_adv), rtol=0, atol=1e-6)
    assert keep.dtype == torch.bool and keep.tolist() == expected_keep
    assert adv.dtype == torch.float32 and adv.shape == (12,)
    assert (adv[~keep] == 0).all(), "dropped samples carry no advantage"


def test_lambda_zero_gives_nsr_and_one_gives_reinforce():
    """λ = 0: W-REINFORCE advantages equal NSR's; λ = 1: REINFORCE with ±1, i.e. 2r - 1 for binary r."""
    r = torch.tensor(REWARDS)
    w0, keep0 = relative_negative_advantages(r, 4, "w_reinforce", positive_weight=0.0)
    nsr, _ = relative_negative_advantages(r, 4, "nsr")
    torch.testing.assert_close(w0, nsr, rtol=0, atol=0)  # exact: 0·1 and -1 are exact in any float path
    assert keep0.all(), "W-REINFORCE keeps correct samples in the denominator even at λ = 0"
    w1, _ = relative_negative_advantages(r, 4, "w_reinforce", positive_weight=1.0)
    torch.testing.assert_close(w1, 2 * r - 1, rtol=0, atol=0)  # exact: ±1 from binary r, no rounding


def test_graded_rewards_mapped_by_threshold():
    """Graded rewards: correct = r >= correct_threshold. [1.2, 0.2, 1.0, 0.99] -> correct [T, F, T, F]; at threshold
    0.5: [T, F, T, T]."""
    r = torch.tensor([1.2, 0.2, 1.0, 0.99])
    adv, keep = relative_negative_advantages(r, 4, "nsr")
    assert adv.tolist() == [0.0, -1.0, 0.0, -1.0] and keep.tolist() == [F, T, F, T]
    adv, keep = relative_negative_advantages(r, 4, "psr", correct_threshold=0.5)
    assert adv.tolist() == [1.0, 0.0, 1.0, 1.0] and keep.tolist() == [T, F, T, T]


def _trl_group_advantages(rewards: torch.Tensor, g: int) -> torch.Tensor:
    """TRL 1.16's `sum_then_normalize` + `scale_rewards="group"` formula, with TRL's own `nanstd`."""
    mean = torch.nanmean(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
    std = nanstd(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
    return (rewards - mean) / (std + 1e-4)


@pytest.mark.parametrize(("groups", "g"), [(16, 8), (5, 3), (1, 7)])
def test_grpo_equals_trl_formula(groups, g):
    """Mode "grpo" is TRL's advantage computation (group mean, nanstd, + 1e-4), and grpo_n its negative part."""
    gen = torch.Generator().manual_seed(groups * g)
    r = torch.rand(groups * g, generator=gen)
    r[: g * (groups // 2)] = r[: g * (groups // 2)].round()  # binary groups (some all-equal) and graded ones
    trl = _trl_group_advantages(r, g)
    adv, _ = relative_negative_advantages(r, g, "grpo")
    torch.testing.assert_close(adv, trl, rtol=1e-6, atol=1e-6)
    adv_n, keep = relative_negative_advantages(r, g, "grpo_n")
    torch.testing.assert_close(adv_n, trl.clamp(max=0), rtol=1e-6, atol=1e-6)
    assert keep.tolist() == (trl <= 0).tolist()


@pytest.mark.parametrize("mode", ADVANTAGE_MODES)
@pytest.mark.parametrize(("groups", "g"), [(32, 8), (7, 3)])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 1e-5), (torch.bfloat16, 5e-2)])
def test_matches_float64_reference(mode, groups, g, dtype, tol):
    """Random binary and graded rewards, typical (32 x 8) and odd (7 x 3) shapes, fp64 / fp32 / bf16.

    Advantages are constants of the loss (rewards carry no gradient); the gradient parity of the loss they feed is in
    `tests/trainers/test_relative_negative_trainer.py`.
    """
    gen = torch.Generator().manual_seed(100 * ADVANTAGE_MODES.index(mode) + groups * g)
    graded = torch.rand(groups * g, generator=gen, dtype=torch.float64) * 1.5
    binary = (torch.rand(groups * g, generator=gen, dtype=torch.float64) > 0.6).double()
    for r64 in (graded, binary):
        r = r64.to(dtype)
        ref_adv, ref_keep = reference_advantages(r.double().tolist(), g, mode, 0.3, 0.75)
        adv, keep = relative_negative_advantages(r, g, mode, positive_weight=0.3, correct_threshold=0.75)
        assert adv.dtype == dtype
        torch.testing.assert_close(adv.double(), torch.tensor(ref_adv, dtype=torch.float64), rtol=tol, atol=tol)
        if mode in ("grpo_n", "gspo_n") and dtype != torch.float64:
            # a reward equal to its group mean may round to either side of 0 in low precision: ignore those samples
            unclamped, _ = reference_advantages(r.double().tolist(), g, "grpo")
            clear = torch.tensor(unclamped).abs() > 10 * tol
            assert keep[clear].tolist() == torch.tensor(ref_keep)[clear].tolist() and bool(clear.any())
        else:
            assert keep.tolist() == ref_keep


def test_group_stats_hand_and_reference():
    """REWARDS: one mixed group of three -> 1/3; all-correct 1/3, all-wrong 1/3; 5 correct of 12 samples."""
    stats = relative_negative_group_stats(torch.tensor(REWARDS), 4)
    assert stats["frac_mixed_groups"] == pytest.approx(1 / 3)
    assert stats["frac_all_correct"] == pytest.approx(1 / 3) and stats["frac_all_wrong"] == pytest.approx(1 / 3)
    assert stats["frac_correct"] == pytest.approx(5 / 12)
    r = torch.rand(60, generator=torch.Generator().manual_seed(3)) * 2
    ref = reference_mixed_fraction(r.tolist(), 6, 1.0)
    assert relative_negative_group_stats(r, 6)["frac_mixed_groups"] == pytest.approx(ref)
    # NaN (unscorable) samples are ignored: [1, NaN] is not mixed, [0, 1] is
    stats = relative_negative_group_stats(torch.tensor([1.0, math.nan, 0.0, 1.0]), 2)
    assert stats["frac_mixed_groups"] == 0.5 and stats["frac_correct"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(rewards=torch.tensor([1.0, math.nan]), num_generations=2, mode="nsr"), "NaN"),
        (dict(rewards=torch.tensor([1.0, 0.0]), num_generations=2, mode="rloo"), "mode"),
        (dict(rewards=torch.tensor([1.0, 0.0, 1.0]), num_generations=2, mode="nsr"), "multiple"),
        (dict(rewards=torch.tensor([1.0, 0.0]), num_generations=1, mode="grpo_n"), "num_generations"),
        (dict(rewards=torch.tensor([1.0, 0.0]), num_generations=0, mode="nsr"), "num_generations"),
        (
            dict(rewards=torch.tensor([1.0, 0.0]), num_generations=2, mode="w_reinforce", positive_weight=-0.1),
            "λ|positive",
        ),
        (
            dict(rewards=torch.tensor([1.0, 0.0]), num_generations=2, mode="nsr", correct_threshold=math.inf),
            "threshold",
        ),
        (dict(rewards=torch.tensor([1, 0]), num_generations=2, mode="nsr"), "floating"),
        (dict(rewards=torch.ones(2, 2), num_generations=2, mode="nsr"), "1-D"),
    ],
)
def test_invalid_inputs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        relative_negative_advantages(**kwargs)


def test_nsr_with_single_generation_is_allowed():
    """NSR / PSR / W-REINFORCE need no group statistics: G = 1 works (e.g. eval with num_generations_eval=1)."""
    adv, keep = relative_negative_advantages(torch.tensor([1.0, 0.0]), 1, "nsr")
    assert adv.tolist() == [0.0, -1.0] and keep.tolist() == [F, T]
