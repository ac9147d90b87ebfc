"""SPEAR's math (`trl_explore.functional.spear`) and Dr.BoT's filters (`trl_explore.functional.dr_bot`): hand-derived
schedule values, medians, recalibration, power-of-two subsets and their spread over processes, n-gram repetition and
the reward-std group filter."""

from __future__ import annotations

import math

import pytest
import torch

from trl_explore.functional.dr_bot import repeated_ngram_mask, top_std_group_mask
from trl_explore.functional.spear import (
    median,
    power_of_two_floor,
    recalibrated_advantages,
    replay_allocation,
    sil_weight,
    toolcall_reward_value,
    toolcall_weight,
)


def test_sil_weight_cosine_warmup():
    """γ(t) = c(1 - cos(πt/T))/2: t = 0 -> 0; t = T/2 -> c/2; t = T/4 -> c(1 - √2/2)/2; t >= T -> c."""
    assert sil_weight(0, 1.0, 200) == 0.0
    assert sil_weight(100, 1.0, 200) == pytest.approx(0.5)
    assert sil_weight(50, 2.0, 200) == pytest.approx(2.0 * (1 - math.sqrt(2) / 2) / 2)
    assert sil_weight(200, 1.0, 200) == 1.0 and sil_weight(10_000, 0.5, 200) == 0.5
    assert sil_weight(0, 0.7, 0) == 0.7  # no warm-up
    with pytest.raises(ValueError, match="step"):
        sil_weight(-1)
    with pytest.raises(ValueError, match="coef"):
        sil_weight(0, math.inf)


def test_toolcall_weight_schedules():
    """μ(t) = (1 + cos(πt/T))/2: 1 at 0, 0.5 at T/2, (1 + √2/2)/2 at T/4, 0 from T on; none 0, constant 1."""
    assert toolcall_weight(0, "cosine", 200) == 1.0
    assert toolcall_weight(100, "cosine", 200) == pytest.approx(0.5)
    assert toolcall_weight(50, "cosine", 200) == pytest.approx((1 + math.sqrt(2) / 2) / 2)
    assert toolcall_weight(200, "cosine", 200) == 0.0 and toolcall_weight(999, "cosine", 200) == 0.0
    assert toolcall_weight(5, "none") == 0.0 and toolcall_weight(5000, "constant") == 1.0
    with pytest.raises(ValueError, match="schedule"):
        toolcall_weight(0, "linear")
    with pytest.raises(ValueError, match="steps"):
        toolcall_weight(0, "cosine", 0)


def test_toolcall_reward_value():
    assert toolcall_reward_value(0) == 0.0
    assert toolcall_reward_value(3) == pytest.approx(0.3)
    assert toolcall_reward_value(25) == 1.0  # capped
    assert toolcall_reward_value(4, per_call=0.5, cap=1.5) == 1.5
    with pytest.raises(ValueError):
        toolcall_reward_value(-1)


def test_median_and_recalibration():
    """P50 [3, 1, 2] = 2, [4, 1, 3, 2] = 2.5 (mean of the middle two). Ã = R - P50: rewards [1, 0.5, 3] with P50 0.5 ->
    [0.5, 0, 2.5]; decay w = 0.1 of advantages [2, 0.4] -> [0.2, 0.04]."""
    assert median(torch.tensor([3.0, 1.0, 2.0])) == 2.0
    assert median(torch.tensor([4.0, 1.0, 3.0, 2.0])) == 2.5
    assert math.isnan(median(torch.empty(0)))
    out = recalibrated_advantages(torch.tensor([1.0, 0.5, 3.0]), torch.zeros(3), "p50", baseline_p50=0.5)
    torch.testing.assert_close(out, torch.tensor([0.5, 0.0, 2.5]))
    out = recalibrated_advantages(torch.tensor([9.0, 9.0]), torch.tensor([2.0, 0.4]), "decay", decay=0.1)
    torch.testing.assert_close(out, torch.tensor([0.2, 0.04]))
    with pytest.raises(ValueError, match="baseline_p50"):
        recalibrated_advantages(torch.ones(2), torch.ones(2), "p50", baseline_p50=math.nan)
    with pytest.raises(ValueError, match="mode"):
        recalibrated_advantages(torch.ones(2), torch.ones(2), "p90", baseline_p50=0.0)


def test_power_of_two_floor():
    assert [power_of_two_floor(n) for n in (0, 1, 2, 3, 6, 8, 2047, 2048, 3100)] == [0, 1, 2, 2, 4, 8, 1024, 2048, 2048]
    assert power_of_two_floor(-5) == 0


def test_replay_allocation_round_robin_power_of_two():
    """[5, 1, 3] with room 16: 9 available -> 8 units: rounds [1,1,1], [2,1,2], [3,1,3], then process 0: [4,1,3].
    Room 4 caps at 4: [2, 1, 1]. Nothing available: zeros. One process: the power of two."""
    assert replay_allocation([5, 1, 3], 16) == [4, 1, 3]
    assert replay_allocation([5, 1, 3], 4) == [2, 1, 1]
    assert replay_allocation([0, 0], 8) == [0, 0]
    assert replay_allocation([13], 2048) == [8]
    assert replay_allocation([3000], 2048) == [2048]
    for available in ([7, 0, 2, 9], [1, 1, 1], [100, 3]):
        shares = replay_allocation(available, 64)
        total = sum(shares)
        assert total == power_of_two_floor(min(sum(available), 64))
        assert all(0 <= s <= a for s, a in zip(shares, available))


def test_repeated_ngram_mask():
    """n = 2, min_count = 3: [5,6,5,6,5,6] has (5,6) three times -> True; [5,6,5,6,7] twice -> False; a masked-out
    token breaks nothing (n-grams run over the kept tokens): [5,6,9,5,6,5,6] with the 9 masked -> True."""
    ids = torch.tensor([[5, 6, 5, 6, 5, 6, 0], [5, 6, 5, 6, 7, 0, 0], [5, 6, 9, 5, 6, 5, 6]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0], [1, 1, 0, 1, 1, 1, 1]])
    assert repeated_ngram_mask(ids, mask, 2, 3).tolist() == [True, False, True]
    # SPEAR's setting: a 20-gram 10 times needs 29 tokens of one repeated token
    assert repeated_ngram_mask(torch.full((1, 29), 7), torch.ones(1, 29), 20, 10).tolist() == [True]
    assert repeated_ngram_mask(torch.full((1, 28), 7), torch.ones(1, 28), 20, 10).tolist() == [False]
    with pytest.raises(ValueError, match="min_count"):
        repeated_ngram_mask(ids, mask, 2, 1)


def test_top_std_group_mask():
    """Groups [0,1 | 1,1 | 0,0.5 | 2,0]: stds 0.707, 0, 0.354, 1.414; keep ⌈0.75·4⌉ = 3: groups 3, 0, 2."""
    rewards = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0, 0.5, 2.0, 0.0])
    keep, stats = top_std_group_mask(rewards, 2, 0.75)
    assert keep.tolist() == [True, True, False, False, True, True, True, True]
    torch.testing.assert_close(
        stats["group_std"], torch.tensor([math.sqrt(0.5), 0.0, math.sqrt(0.125), math.sqrt(2.0)])
    )
    assert int(stats["num_kept"]) == 3
    keep, _ = top_std_group_mask(rewards, 2, 1.0)
    assert bool(keep.all())
    # ties keep the lower index; a group with a single finite reward ranks last
    keep, _ = top_std_group_mask(torch.tensor([0.0, 1.0, 1.0, 0.0, math.nan, 5.0]), 2, 0.5)
    assert keep.tolist() == [True, True, True, True, False, False]
    with pytest.raises(ValueError, match="keep_ratio"):
        top_std_group_mask(rewards, 2, 0.0)
