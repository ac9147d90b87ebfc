"""pass@k: the product form against the closed form 1 - C(n-c, k)/C(n, k) (exact rational arithmetic)."""

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from trl_explore.functional import pass_at_k


def closed_form(n: int, c: int, k: int) -> float:
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


@pytest.mark.parametrize("n", [1, 2, 5, 16, 64, 256])
def test_matches_closed_form_on_grid(n):
    for c in range(n + 1):
        for k in sorted({1, min(2, n), n // 2 or 1, n - 1 or 1, n}):
            assert pass_at_k(n, c, k) == pytest.approx(closed_form(n, c, k), rel=1e-12, abs=1e-14), (n, c, k)


def test_hand_derived_values():
    """n=4, c=1: pass@1 = 1/4; pass@2 = 1 - C(3,2)/C(4,2) = 1 - 3/6 = 1/2; pass@4 = 1 (k > n - c)."""
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0


def test_pass_at_1_is_the_fraction_correct():
    for n, c in [(7, 3), (256, 17), (1000, 999)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n, rel=1e-12)


def test_numerically_stable_for_large_n():
    """C(2048, 1024) overflows float64; the product form does not. Compare with exact fractions."""
    n, c, k = 2048, 3, 1024
    value = pass_at_k(n, c, k)
    assert np.isfinite(value)
    assert value == pytest.approx(closed_form(n, c, k), rel=1e-10)


def test_vectorised_over_problems():
    n = np.array([4, 4, 8])
    c = np.array([0, 1, 8])
    out = pass_at_k(n, c, 2)
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])


def test_monotone_in_k():
    values = [pass_at_k(64, 5, k) for k in range(1, 65)]
    assert all(a <= b + 1e-15 for a, b in zip(values, values[1:]))


@pytest.mark.parametrize(("n", "c", "k"), [(4, 5, 1), (4, -1, 1), (4, 1, 0), (4, 1, 5), (4, 1, 1.5)])
def test_invalid_inputs_raise(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
