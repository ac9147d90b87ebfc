"""Property tests of `trl_explore.functional.pass_at_k` (unbiased pass@k, Chen et al. 2021, eq. 1).

Covered: agreement with the exact rational closed form 1 − C(n − c, k) / C(n, k); range [0, 1]; monotone in k and in
c; pass@1 = c / n; the boundary cases c = 0, n − c < k; vectorised = element-wise, broadcasting and empty arrays;
`ValueError` naming the bad argument for c outside [0, n], k outside [1, n] and non-integers.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trl_explore.functional import pass_at_k


@st.composite
def nck(draw, max_n: int = 300):
    n = draw(st.integers(1, max_n))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@settings(max_examples=80)
@given(nck())
def test_matches_exact_closed_form(args):
    n, c, k = args
    exact = 1 - Fraction(comb(n - c, k), comb(n, k))
    value = pass_at_k(n, c, k)
    assert isinstance(value, float) and 0.0 <= value <= 1.0
    assert value == pytest.approx(float(exact), rel=1e-11, abs=1e-14)
    if c == 0:
        assert value == 0.0
    if n - c < k:
        assert value == 1.0
    if k == 1:
        assert value == pytest.approx(c / n, rel=1e-12)


@settings(max_examples=60)
@given(nck())
def test_monotone_in_k_and_c(args):
    n, c, k = args
    if k < n:
        assert pass_at_k(n, c, k + 1) >= pass_at_k(n, c, k) - 1e-15
    if c < n:
        assert pass_at_k(n, c + 1, k) >= pass_at_k(n, c, k) - 1e-15


@settings(max_examples=40)
@given(st.lists(nck(max_n=60), min_size=0, max_size=8), st.integers(1, 60))
def test_vectorised_equals_elementwise(problems, k):
    problems = [(n, c) for n, c, _ in problems if n >= k]
    n = np.array([p[0] for p in problems], dtype=np.int64)
    c = np.array([p[1] for p in problems], dtype=np.int64)
    out = pass_at_k(n, c, k)
    assert isinstance(out, np.ndarray) and out.shape == n.shape and out.dtype == np.float64
    assert out.tolist() == [pass_at_k(int(a), int(b), k) for a, b in zip(n, c)]
    if len(problems):
        grid = pass_at_k(n[:, None], c[:, None], k)  # [P, 1]: broadcasting keeps the shape
        assert grid.shape == (len(problems), 1) and grid[:, 0].tolist() == out.tolist()


@pytest.mark.parametrize(
    ("n", "c", "k", "name"),
    [
        (4, 5, 1, "c"),
        (4, -1, 1, "c"),
        (4, 1, 0, "k"),
        (4, 1, 5, "k"),
        (4, 1, 1.5, "k"),
        (4.5, 1, 1, "n"),
        (4, 1.5, 1, "c"),
        ([4, 2], [1, 3], 1, "c"),
        ([4, 2], [1, 1], 3, "k"),
    ],
)
def test_invalid_inputs_raise_value_error_naming_them(n, c, k, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        pass_at_k(n, c, k)
