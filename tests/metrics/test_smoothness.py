"""Tests for ``trl_explore.metrics.smoothness`` (Fourier head paper's smoothness metric and KL to a target pmf)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from trl_explore.metrics.smoothness import gaussian_wrap_filter, kl_to_target, smoothness


def _reference_smoothness(pmf: np.ndarray, num_sigmas: int = 100) -> float:
    """The formula term by term with scipy's Gaussian filter (wrap padding, truncate 4)."""
    total = 0.0
    for sigma in range(1, num_sigmas + 1):
        filtered = gaussian_filter1d(pmf, sigma, mode="wrap")
        total += 6.0 / (math.pi**2 * sigma**2) * np.linalg.norm(pmf - filtered)
    return total


def test_constant_pmf_is_perfectly_smooth():
    """A constant vector is a fixed point of every normalised circular filter: s = 0."""
    assert smoothness(torch.full((50,), 0.02, dtype=torch.float64)).item() < 1e-15


def test_hand_derived_alternating_pmf_sigma_one():
    """P = (a, b, a, b, ...) with a + b = 2/m: with one sigma, G*P = mean + (P - mean) * r where r is the kernel's
    response at the Nyquist frequency, r = sum_t w_t (-1)^t; so ||P - G*P|| = |1 - r| * ||P - mean||
    = |1 - r| * sqrt(m) * |a - b| / 2, times the weight 6 / pi^2."""
    m, a, b = 10, 0.15, 0.05
    pmf = torch.tensor([a, b] * (m // 2), dtype=torch.float64)
    t = torch.arange(-4, 5, dtype=torch.float64)  # radius int(4 * 1 + 0.5) = 4
    w = torch.exp(-0.5 * t**2)
    r = ((w / w.sum()) * (-1.0) ** t).sum().item()
    expected = 6 / math.pi**2 * abs(1 - r) * math.sqrt(m) * abs(a - b) / 2
    assert smoothness(pmf, num_sigmas=1).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("m", [7, 50, 257])
def test_matches_scipy_reference(m):
    g = torch.Generator().manual_seed(m)
    pmf = torch.rand(3, m, generator=g, dtype=torch.float64)
    pmf = pmf / pmf.sum(-1, keepdim=True)
    got = smoothness(pmf)
    want = torch.tensor([_reference_smoothness(p.numpy()) for p in pmf], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)
    # the filter itself, including sigma far wider than the vector (kernel wraps several times)
    for sigma in (1.0, 13.0, 100.0):
        torch.testing.assert_close(
            gaussian_wrap_filter(pmf[0], torch.tensor([sigma]))[0],
            torch.from_numpy(gaussian_filter1d(pmf[0].numpy(), sigma, mode="wrap")),
        )


def test_peaked_is_less_smooth_than_spread_and_float32():
    centers = torch.linspace(-1, 1, 50)
    wide = torch.exp(-0.5 * (centers / 0.3) ** 2)
    spiky = wide * (1 + 0.8 * torch.tensor([(-1.0) ** j for j in range(50)]))
    wide, spiky = wide / wide.sum(), spiky / spiky.sum()
    s = smoothness(torch.stack([wide, spiky]))
    assert s.dtype == torch.float32 and s[0] < s[1]


def test_kl_to_target():
    """KL((1/2, 1/2, 0) || (1/4, 1/4, 1/2)) = 2 * (1/2) log(2) = log 2; zero-mass target bins count as 0;
    KL(p || p) = 0."""
    target = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    pmf = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    assert kl_to_target(pmf, target, eps=0.0).item() == pytest.approx(math.log(2), rel=1e-12)
    batch = torch.stack([pmf, target])
    torch.testing.assert_close(kl_to_target(batch, batch, eps=0.0), torch.zeros(2, dtype=torch.float64))
    assert kl_to_target(target, pmf, eps=1e-10).item() > 10  # target mass where the prediction has none


@pytest.mark.parametrize("m", [7, 50, 64])
def test_spectral_norms_equal_the_filtered_copies(m):
    """The metric's Parseval form equals ||P - G_sigma * P|| from the explicit filtered copies, odd and even m."""
    torch.manual_seed(m)
    pmf = torch.softmax(3 * torch.randn(2, 3, m, dtype=torch.float64), -1)
    sigmas = torch.arange(1, 101, dtype=torch.float64)
    filtered = gaussian_wrap_filter(pmf, sigmas)  # [2, 3, 100, m]
    dist = torch.linalg.vector_norm(pmf[..., None, :] - filtered, dim=-1)
    expected = (dist * 6 / (math.pi**2 * sigmas**2)).sum(-1)
    torch.testing.assert_close(smoothness(pmf), expected, rtol=1e-10, atol=1e-14)


def test_memory_stays_linear_in_rows():
    """20,000 rows of 50 bins (8 MB in float64): the peak stays within a few copies of the input, not the
    100 filtered copies per row (~800 MB) of the direct formula."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from _common import peak_memory_bytes

    pmf = torch.softmax(torch.randn(20_000, 50, dtype=torch.float64), -1)
    peak = peak_memory_bytes(lambda: smoothness(pmf))
    assert 0 < peak < 8 * pmf.numel() * pmf.element_size(), peak
