"""Property tests of `trl_explore.functional.fourier` (Fourier head, arXiv 2410.22269).

Covered: bin log-probabilities (shape ``[..., m]`` for any leading dims, empty batches, finite, probabilities >= 0 that
sum to ``1 + m·eps``, agreement with the float64 reference for the midpoint and exact rules, invariance under a common
scale and a common phase of the coefficients, all-zero coefficients give the uniform distribution); the
autocorrelation (reference, real non-negative ``c_0``, ``|c_k| <= c_0``); density and CDF (non-negative density,
``F(-1) = 0``, ``F(1) = 1``, non-decreasing, reference); the regulariser (non-negative, linear in γ, the reference,
0 for a constant density and for an empty batch); quantize / dequantize (bin range, monotone, round trip). The
functions take float32 / float64 (callers upcast bf16 linear outputs, see `FourierHead._params`); bf16 outputs of a
layer are covered by upcasting them first.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from property.strategies import tensors
from reference import fourier_reference as ref

from trl_explore.functional import fourier as F


@st.composite
def heads(draw, max_rows: int = 5, max_freq: int = 6, max_bins: int = 12, scale: tuple = (0.05, 5.0)):
    """``(params [R, 2(N+1)], N, m)`` with per-row magnitudes that keep float32 away from under/overflow."""
    n = draw(st.integers(1, max_freq))
    m = draw(st.integers(1, max_bins))
    r = draw(st.integers(1, max_rows))
    params = draw(tensors((r, 2 * (n + 1)), -1.0, 1.0))
    params[:, 0] = params[:, 0].abs() + 0.1  # a_0 away from 0: every row has a non-zero coefficient
    return params * draw(st.floats(*scale)), n, m


@settings(max_examples=40)
@given(heads(), st.booleans(), st.sampled_from([1e-5, 1e-3, 0.0]), st.booleans())
def test_bin_log_probs_are_distributions_matching_the_reference(head, exact, eps, bf16):
    params, n, m = head
    if bf16:  # a bf16 linear output, upcast as the module does
        params = params.bfloat16().float()
    basis = F.fourier_bin_basis(m, n, exact=exact)
    log_probs, c = F.fourier_bin_log_probs(params, basis, exact=exact, eps=eps)
    assert log_probs.shape == (params.shape[0], m) and c.shape == (params.shape[0], n + 1)
    probs = log_probs.double().exp()
    assert torch.isfinite(log_probs).all() or eps == 0.0  # eps = 0: a bin of exactly 0 mass is log 0 = -inf
    assert not torch.isnan(log_probs).any()
    assert (probs >= eps - 1e-5).all()
    torch.testing.assert_close(probs.sum(-1), torch.full((params.shape[0],), 1 + m * eps, dtype=torch.float64),
                               rtol=0, atol=1e-4)  # fmt: skip
    expected = ref.reference_log_probs(params, m, eps=eps, exact=exact)
    close = expected > math.log(max(eps, 1e-12)) + 3  # compare log-probs where float32 resolves them
    torch.testing.assert_close(log_probs.double()[close], expected[close], rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(probs, expected.exp(), rtol=0, atol=1e-4)


@settings(max_examples=30)
@given(heads(), st.floats(1e-2, 1e2), st.floats(-math.pi, math.pi), st.booleans())
def test_invariant_to_common_scale_and_phase(head, scale, phase, exact):
    """p(z) = |Σ a_j e^{iπjz}|² / (2 c_0): multiplying every a_j by s·e^{iφ} changes nothing."""
    params, n, m = head
    basis = F.fourier_bin_basis(m, n, exact=exact)
    base, _ = F.fourier_bin_log_probs(params, basis, exact=exact)
    a = F.fourier_coefficients(params) * (scale * complex(math.cos(phase), math.sin(phase)))
    rotated = torch.cat([a.real, a.imag], dim=-1)
    moved, _ = F.fourier_bin_log_probs(rotated, basis, exact=exact)
    torch.testing.assert_close(moved, base, rtol=1e-3, atol=1e-3)


@settings(max_examples=30)
@given(heads())
def test_autocorrelation_properties(head):
    params, n, _ = head
    a = F.fourier_coefficients(params.double())
    c = F.fourier_autocorrelation(a)
    torch.testing.assert_close(c, ref.reference_autocorrelation(ref.reference_coefficients(params)), rtol=1e-9,
                               atol=1e-12)  # fmt: skip
    c0 = c[:, 0]
    assert (c0.imag.abs() <= 1e-12 * c0.real.abs().clamp(min=1)).all() and (c0.real > 0).all()
    assert (c.abs() <= c0.real.unsqueeze(-1) * (1 + 1e-9)).all()  # Cauchy-Schwarz


@settings(max_examples=30)
@given(heads(max_rows=3), tensors((9,), -1.0, 1.0))
def test_density_and_cdf(head, points):
    params, n, _ = head
    c_tilde = F.normalize_autocorrelation(F.fourier_autocorrelation(F.fourier_coefficients(params.double())))
    rows = params.shape[0]
    z = points.double().expand(rows, -1)
    density = F.fourier_density_at(c_tilde, z)
    assert (density >= -1e-9).all()
    torch.testing.assert_close(density, ref.reference_density(c_tilde, points), rtol=1e-9, atol=1e-9)
    coeffs = F.fourier_coefficients(params.double())
    for i in range(rows):
        scalar = ref.reference_density_scalar(coeffs[i].tolist(), float(points[0]))
        assert float(density[i, 0]) == pytest.approx(scalar, rel=1e-9, abs=1e-12)
    grid = torch.linspace(-1, 1, 33, dtype=torch.float64).expand(rows, -1)
    cdf = F.fourier_cdf(c_tilde, grid)
    torch.testing.assert_close(cdf[:, 0], torch.zeros(rows, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(cdf[:, -1], torch.ones(rows, dtype=torch.float64), rtol=0, atol=1e-12)
    assert (cdf.diff(dim=-1) >= -1e-12).all()
    torch.testing.assert_close(cdf, ref.reference_cdf(c_tilde, grid[0]), rtol=1e-9, atol=1e-9)


@settings(max_examples=30)
@given(heads(), st.floats(0.0, 10.0))
def test_regularization(head, gamma):
    params, n, m = head
    _, c = F.fourier_bin_log_probs(params.double(), F.fourier_bin_basis(m, n, dtype=torch.float64))
    reg = F.fourier_regularization(c, gamma)
    assert reg.shape == () and reg >= 0
    torch.testing.assert_close(reg, ref.reference_regularization(params, gamma), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(F.fourier_regularization(c, 2 * gamma), 2 * reg)
    constant = torch.zeros_like(params.double())
    constant[:, 0] = 1.0  # only a_0: c_k = 0 for k >= 1, a flat density, no roughness
    _, c_flat = F.fourier_bin_log_probs(constant, F.fourier_bin_basis(m, n, dtype=torch.float64))
    assert F.fourier_regularization(c_flat, gamma).item() == pytest.approx(0.0, abs=1e-20)  # FFT rounding


@settings(max_examples=40)
@given(st.integers(1, 50), st.integers(0, 20).flatmap(lambda k: tensors((k,), -3.0, 3.0)))
def test_quantize_dequantize(m, values):
    idx = F.quantize(values, m)
    assert idx.dtype == torch.long and ((idx >= 0) & (idx < m)).all()
    order = torch.argsort(values)
    assert (idx[order].diff() >= 0).all()  # monotone (non-decreasing) in the value
    every = torch.arange(m)
    assert torch.equal(F.quantize(F.dequantize(every, m), m), every)  # the centre of bin i lies in bin i
    centres = F.dequantize(every, m)
    torch.testing.assert_close(centres, F.bin_centers(m))
    edges = F.bin_edges(m)
    inside = (values >= -1) & (values <= 1)
    lo, hi = edges[idx[inside]], edges[(idx[inside] + 1)]
    assert ((values[inside] >= lo - 1e-6) & (values[inside] <= hi + 1e-6)).all()


def test_empty_batch_and_zero_coefficients():
    """No rows (e.g. a micro-batch without numeric positions) gives empty outputs and a zero regulariser; all-zero
    coefficients (no direction to normalise) give the uniform distribution, not NaN."""
    n, m = 3, 5
    basis = F.fourier_bin_basis(m, n)
    for shape in ((0, 2 * (n + 1)), (2, 0, 2 * (n + 1))):
        params = torch.zeros(shape, requires_grad=True)
        log_probs, c = F.fourier_bin_log_probs(params, basis)
        assert log_probs.shape == (*shape[:-1], m) and c.shape == (*shape[:-1], n + 1)
        reg = F.fourier_regularization(c, 0.1)
        assert reg.item() == 0.0
        (log_probs.sum() + reg).backward()
        assert params.grad is not None and params.grad.shape == params.shape
    for exact in (False, True):
        params = torch.zeros(3, 2 * (n + 1), requires_grad=True)
        basis = F.fourier_bin_basis(m, n, exact=exact)
        log_probs, c = F.fourier_bin_log_probs(params, basis, exact=exact)
        torch.testing.assert_close(log_probs, torch.full((3, m), math.log(1 / m + 1e-5)))
        (log_probs.sum() + F.fourier_regularization(c, 0.1)).backward()
        assert torch.isfinite(params.grad).all()


def test_odd_parameter_count_raises():
    with pytest.raises(ValueError, match="params"):
        F.fourier_coefficients(torch.zeros(2, 7))
