"""The demo's learning-rate sweep (issue 26): the declared criterion and choice rule on hand-made cells."""

from __future__ import annotations

import math

import pytest

from trl_explore.demo.sweep import (
    PASS_AT_K_GRID,
    SWEEP_LEARNING_RATES,
    TUNING_EVAL_DATA_SEED,
    TUNING_SEEDS,
    SweepCell,
    choose_learning_rates,
    sweep_criterion,
)


def test_declared_candidates_span_thirty_fold_and_seeds_are_not_the_demos():
    from trl_explore.demo.regime import DEFAULT_REGIME
    from trl_explore.demo.runner import DemoSettings

    assert len(SWEEP_LEARNING_RATES) >= 4
    assert max(SWEEP_LEARNING_RATES) / min(SWEEP_LEARNING_RATES) == pytest.approx(30.0)
    assert PASS_AT_K_GRID == (1, 2, 4, 8, 16, 32)
    demo = DemoSettings()
    assert not set(demo.seed_list) & set(TUNING_SEEDS)
    assert DEFAULT_REGIME.eval_data_seed != TUNING_EVAL_DATA_SEED


def test_criterion_is_the_mean_over_the_grid():
    row = {"pass@1": 0.2, "pass@2": 0.3, "pass@4": 0.4, "pass@8": 0.9}
    assert sweep_criterion(row, (1, 2, 4)) == pytest.approx((0.2 + 0.3 + 0.4) / 3)
    with pytest.raises(KeyError, match=r"k = \[16\]"):
        sweep_criterion(row, (1, 16))


def _cells(method, rate, criteria, starts, ends):
    return [SweepCell(method, rate, 100 + i, c, s, e) for i, (c, s, e) in enumerate(zip(criteria, starts, ends))]


def test_highest_criterion_wins_and_a_collapsed_rate_is_excluded():
    # 1e-3 has the highest criterion (0.6) but its pass@1 falls 0.20 -> 0.05/0.06/0.04 (paired drop -0.15, se 0.0058:
    # beyond 2 SE), so it is excluded; 1e-4 (0.5) beats 1e-5 (0.4).
    cells = (
        _cells("m", 1e-5, [0.4, 0.4, 0.4], [0.2] * 3, [0.2, 0.21, 0.19])
        + _cells("m", 1e-4, [0.5, 0.52, 0.48], [0.2] * 3, [0.25, 0.26, 0.24])
        + _cells("m", 1e-3, [0.6, 0.6, 0.6], [0.2] * 3, [0.05, 0.06, 0.04])
    )
    choice = choose_learning_rates(cells)["m"]
    assert choice.learning_rate == 1e-4 and choice.ineligible == (1e-3,) and not choice.collapsed
    assert choice.criterion == pytest.approx(0.5)
    assert choice.criterion_se == pytest.approx(0.02 / math.sqrt(3))  # sd of (0.5, 0.52, 0.48) = 0.02


def test_exact_tie_goes_to_the_smaller_rate_and_all_collapsed_is_flagged():
    tie = _cells("t", 1e-4, [0.5] * 3, [0.2] * 3, [0.2] * 3) + _cells("t", 1e-3, [0.5] * 3, [0.2] * 3, [0.2] * 3)
    assert choose_learning_rates(tie)["t"].learning_rate == 1e-4
    bad = _cells("b", 1e-4, [0.3, 0.3, 0.3], [0.2] * 3, [0.1, 0.11, 0.09]) + _cells(
        "b", 1e-3, [0.2, 0.2, 0.2], [0.2] * 3, [0.0, 0.01, 0.0]
    )
    choice = choose_learning_rates(bad)["b"]
    assert choice.collapsed and choice.learning_rate == 1e-4 and choice.ineligible == (1e-4, 1e-3)
