"""Paired statistics of the demo against hand computations."""

import math

import pytest

from trl_explore.demo.stats import (
    PairedDifference,
    mean_se,
    paired_difference,
    t_critical,
    t_two_sided_probability,
)


def test_paired_difference_hand_computed():
    """method (0.30, 0.40, 0.35) vs GRPO (0.25, 0.30, 0.32), same seeds:
    d = (0.05, 0.10, 0.03); mean = 0.18 / 3 = 0.06;
    deviations (-0.01, 0.04, -0.03); sum of squares 0.0001 + 0.0016 + 0.0009 = 0.0026; sample variance 0.0013;
    sd = 0.036056; se = sd / sqrt(3) = 0.020817. The 95% t-interval at 2 degrees of freedom has half-width
    4.303 * 0.020817 = 0.08957 > 0.06 -> not resolved (the former "> 2 SE" screen, 0.041633, called it resolved)."""
    diff = paired_difference([0.30, 0.40, 0.35], [0.25, 0.30, 0.32])
    assert diff.n == 3
    assert diff.mean == pytest.approx(0.06, abs=1e-12)
    assert diff.se == pytest.approx(math.sqrt(0.0013 / 3), abs=1e-12)
    assert diff.se == pytest.approx(0.020817, abs=1e-6)
    assert diff.half_width == pytest.approx(4.30265 * 0.020817, rel=1e-4)
    assert not diff.resolved
    assert diff.format() == "+0.060 ± 0.021"


def test_pairing_is_not_a_difference_of_means():
    """Pairing removes the shared seed effect: x = (0.1, 0.5, 0.9), y = (0.0, 0.4, 0.8). Every d = 0.1, so se = 0
    and the difference is resolved, while the unpaired spread of each list (sd 0.4) would hide it."""
    diff = paired_difference([0.1, 0.5, 0.9], [0.0, 0.4, 0.8])
    assert diff.mean == pytest.approx(0.1)
    assert diff.se == pytest.approx(0.0, abs=1e-12)
    assert diff.resolved
    unpaired = math.hypot(mean_se([0.1, 0.5, 0.9]).se, mean_se([0.0, 0.4, 0.8]).se)
    assert unpaired == pytest.approx(math.sqrt(2 * 0.16 / 3))  # 0.3266: the 0.1 difference would not be resolved


def test_unresolved_and_degenerate_cases():
    """d = (0.02, -0.01, 0.05): mean 0.02, deviations (0, -0.03, 0.03), variance 0.0018 / 2 = 0.0009, sd 0.03,
    se 0.03 / sqrt(3) = 0.017321; 0.02 < 2 * 0.017321 -> not resolved."""
    diff = paired_difference([0.12, 0.09, 0.15], [0.10, 0.10, 0.10])
    assert diff.mean == pytest.approx(0.02)
    assert diff.se == pytest.approx(0.03 / math.sqrt(3))
    assert not diff.resolved
    single = paired_difference([0.5], [0.2])
    assert single.mean == pytest.approx(0.3) and math.isnan(single.se) and not single.resolved
    assert single.format() == "+0.300 ± n/a"
    zero = paired_difference([0.2, 0.2], [0.2, 0.2])
    assert zero.mean == 0.0 and zero.se == 0.0 and not zero.resolved  # 0 > t * 0 is false


def test_t_critical_hand_values():
    """Two-sided 95% Student-t quantiles. dof 1: P(|T| <= t) = 2 atan(t) / π = 0.95 -> t = tan(0.475 π) = 12.7062.
    dof 2: P = t / sqrt(2 + t²) = 0.95 -> t² (1 - 0.9025) = 0.9025 * 2 -> t = sqrt(1.805 / 0.0975) = 4.30265.
    dof 4: 2.776 and dof 30: 2.042, dof 120: 1.980 (printed t tables, three decimals); the normal limit 1.960."""
    assert t_critical(1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-9)
    assert t_critical(2) == pytest.approx(math.sqrt(1.805 / 0.0975), rel=1e-9)
    assert t_critical(4) == pytest.approx(2.776, abs=5e-4)
    assert t_critical(30) == pytest.approx(2.042, abs=5e-4)
    assert t_critical(120) == pytest.approx(1.980, abs=5e-4)
    assert t_critical(100000) == pytest.approx(1.95996, abs=1e-4)
    # dof 2 in closed form: P(|T| <= t) = t / sqrt(2 + t²); at t = 1: 1 / sqrt(3)
    assert t_two_sided_probability(1.0, 2) == pytest.approx(1 / math.sqrt(3), rel=1e-12)
    # dof 3 at t = 1: θ = atan(1 / sqrt(3)) = π/6, (2/π)(π/6 + sin(π/6) cos(π/6)) = 1/3 + sqrt(3) / (2π) = 0.60900
    assert t_two_sided_probability(1.0, 3) == pytest.approx(1 / 3 + math.sqrt(3) / (2 * math.pi), rel=1e-12)
    with pytest.raises(ValueError, match="dof"):
        t_critical(0)


def test_resolved_is_the_95_percent_t_interval():
    """d = (0.10, 0.12, 0.11): mean 0.11, sd 0.01, se 0.005774; half-width 4.30265 * 0.005774 = 0.02484 < 0.11 ->
    resolved. Five seeds d = (0.05, 0.10, 0.03, 0.06, 0.06): mean 0.06, deviations (-0.01, 0.04, -0.03, 0, 0), sum of
    squares 0.0026, variance 0.00065, se sqrt(0.00065 / 5) = 0.011402; half-width 2.77645 * 0.011402 = 0.03166 < 0.06
    -> resolved (the same differences at three seeds are not: test_paired_difference_hand_computed)."""
    three = paired_difference([0.10, 0.12, 0.11], [0.0, 0.0, 0.0])
    assert three.half_width == pytest.approx(4.30265 * 0.01 / math.sqrt(3), rel=1e-5) and three.resolved
    five = paired_difference([0.05, 0.10, 0.03, 0.06, 0.06], [0.0] * 5)
    assert five.se == pytest.approx(math.sqrt(0.00065 / 5)) and five.resolved
    assert five.half_width == pytest.approx(2.77645 * math.sqrt(0.00065 / 5), rel=1e-5)
    assert math.isnan(paired_difference([0.5], [0.2]).half_width)


def test_mean_se_hand_computed():
    """(1, 2, 3): mean 2, sample variance (1 + 0 + 1) / 2 = 1, se = 1 / sqrt(3)."""
    stat = mean_se([1.0, 2.0, 3.0])
    assert isinstance(stat, PairedDifference) and stat.n == 3
    assert stat.mean == pytest.approx(2.0) and stat.se == pytest.approx(1 / math.sqrt(3))


@pytest.mark.parametrize(
    "values, baseline, match",
    [([1.0, 2.0], [1.0], "one value per seed"), ([], [], "at least one value"), ([float("nan")], [0.0], "finite")],
)
def test_bad_input(values, baseline, match):
    with pytest.raises(ValueError, match=match):
        paired_difference(values, baseline)
