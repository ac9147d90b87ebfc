"""Tests for ``FourierHead`` and ``trl_explore.functional.fourier`` (Gillman et al., arXiv 2410.22269, Sec. 2 (Algorithm
1) and Sec. 3)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from reference.fourier_reference import (
    PublishedAlgorithmFourierHead,
    reference_cdf,
    reference_coefficients,
    reference_density,
    reference_density_scalar,
    reference_log_probs,
    reference_regularization,
)
from scipy import integrate, stats
from torch import nn

from trl_explore.functional import fourier as F
from trl_explore.modules.fourier_head import FourierHead

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _load_benchmark(name: str):
    path = REPO / "benchmarks" / f"{name}.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _head(in_features: int, m: int, n: int, seed: int = 0, scale: float = 1.0, **kw) -> FourierHead:
    """A head whose linear layer has O(1) outputs (the /100 init makes the density nearly uniform)."""
    torch.manual_seed(seed)
    head = FourierHead(in_features, m, n, **kw)
    with torch.no_grad():
        head.linear.weight.normal_(0.0, scale / math.sqrt(in_features))
        head.linear.bias.normal_(0.0, scale)
    return head


SHAPES = [  # (leading dims, in_features, m, N): typical, odd, tiny, large m with many frequencies
    ((16,), 32, 50, 12),
    ((3, 5), 7, 7, 1),
    ((2,), 3, 3, 1),
    ((4,), 16, 257, 64),
]


# --------------------------------------------------------------------------------------------- hand-derived values
def _two_coefficient_head(m: int, gamma: float = 0.0) -> FourierHead:
    """N = 1, weight 0, bias (Re a0, Re a1, Im a0, Im a1) = (1, 1, 0, 0) so a = (1, 1) for every input."""
    head = FourierHead(3, m, 1, regularization_gamma=gamma, eps=0.0)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.tensor([1.0, 1.0, 0.0, 0.0]))
    return head


def test_hand_derived_two_coefficients():
    """a = (1, 1): c_0 = |1|^2 + |1|^2 = 2, c_1 = a_1 conj(a_0) = 1, so c~_1 = 1/2 and p(z) = 1/2 + cos(pi z)/2.

    m = 4: centres -0.75, -0.25, 0.25, 0.75; cos(pi b) = -s, s, s, -s with s = sqrt(2)/2, so
    p = (1 - s)/2, (1 + s)/2, (1 + s)/2, (1 - s)/2 with sum 2, and P = (1 - s)/4, (1 + s)/4, (1 + s)/4, (1 - s)/4
    = 0.0732, 0.4268, 0.4268, 0.0732.  m = 3: centres -2/3, 0, 2/3, cos = -1/2, 1, -1/2, p = 1/4, 1, 1/4 with sum 3/2
    -> P = (1/6, 2/3, 1/6).
    CDF: F(x) = (x + 1)/2 + sin(pi x) / (2 pi): F(0) = 1/2, F(-1/2) = 1/4 - 1/(2 pi).
    Regulariser: gamma * 2 * (2 pi^2 * 1^2 * |c_1|^2) = 4 pi^2 gamma.
    """
    s = math.sqrt(2) / 2
    x = torch.zeros(2, 3)
    head = _two_coefficient_head(4, gamma=0.5)
    expected = torch.tensor([(1 - s) / 4, (1 + s) / 4, (1 + s) / 4, (1 - s) / 4])
    torch.testing.assert_close(head(x).exp(), expected.expand(2, 4), atol=1e-6, rtol=0)
    torch.testing.assert_close(head.regularization(x), torch.tensor(4 * math.pi**2 * 0.5), atol=1e-5, rtol=1e-6)
    expected3 = torch.tensor([1 / 6, 2 / 3, 1 / 6])
    torch.testing.assert_close(_two_coefficient_head(3)(x).exp(), expected3.expand(2, 3), atol=1e-6, rtol=0)
    cdf = head.cdf(x, torch.tensor([-1.0, -0.5, 0.0, 1.0]))
    expected_cdf = torch.tensor([0.0, 0.25 - 1 / (2 * math.pi), 0.5, 1.0])
    torch.testing.assert_close(cdf, expected_cdf.expand(2, 4), atol=1e-6, rtol=0)
    pdf = head.pdf(x, torch.tensor([-1.0, 0.0, 0.5]))
    torch.testing.assert_close(pdf, torch.tensor([0.0, 1.0, 0.5]).expand(2, 3), atol=1e-6, rtol=0)


def test_init_is_linear_default_divided_by_100():
    torch.manual_seed(3)
    plain = nn.Linear(10, 2 * (5 + 1))
    torch.manual_seed(3)
    head = FourierHead(10, 20, 5)
    # exact: the same seeded init divided by 100 in place (one correctly rounded division on each side)
    torch.testing.assert_close(head.linear.weight, plain.weight / 100, rtol=0, atol=0)
    torch.testing.assert_close(head.linear.bias, plain.bias / 100, rtol=0, atol=0)
    assert head.linear.out_features == 12


def test_buffers_non_persistent_and_follow_dtype_changes():
    head = _head(8, 30, 6)
    assert set(head.state_dict()) == {"linear.weight", "linear.bias"}
    names = {n for n, _ in head.named_buffers()}
    assert {"bin_centers", "basis"} <= names
    torch.testing.assert_close(head.bin_centers, torch.tensor([-1 + (2 * j + 1) / 30 for j in range(30)]))
    x = torch.randn(4, 8)
    ref = head(x)
    head64 = _head(8, 30, 6).to(torch.float64)
    assert head64.bin_centers.dtype == torch.float64  # buffers move with .to()
    torch.testing.assert_close(head64(x.double()), ref, atol=1e-5, rtol=1e-5)  # math re-done in float32 bases


@pytest.mark.parametrize("bad", [dict(num_bins=1), dict(num_frequencies=0), dict(regularization_gamma=-1.0)])
def test_invalid_arguments_raise(bad):
    kwargs = dict(in_features=4, num_bins=8, num_frequencies=2) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        FourierHead(**kwargs)


@pytest.mark.parametrize(("m", "n"), [(4, 100_000), (4, 2), (2, 1), (50, 25), (11, 6)])
def test_frequencies_at_or_above_nyquist_are_refused(m, n):
    """N < m / 2 (arXiv 2410.22269, §3.3): N = 100000 with 4 bins, and N = m / 2 exactly, are refused with one line
    naming both values. (Before: 100000 frequencies were accepted with a warning, N = m / 2 silently.)"""
    with pytest.raises(ValueError, match=rf"`num_frequencies`={n} must be < `num_bins` / 2 = {m / 2:g}") as err:
        FourierHead(4, m, n)
    assert "\n" not in str(err.value)


def test_allow_aliasing_reproduces_the_released_frequency_sweep():
    """The released code sweeps N up to 32 on Seaquest's 18 actions: `allow_aliasing=True` accepts it with a warning
    and builds the head (2 * (32 + 1) = 66 outputs of the linear layer, 18 log-probabilities)."""
    with pytest.warns(UserWarning, match="num_frequencies=32 >= num_bins / 2 = 9"):
        head = FourierHead(4, 18, 32, allow_aliasing=True)
    assert head.linear.out_features == 66
    assert head(torch.zeros(2, 4)).shape == (2, 18)
    with pytest.raises(ValueError, match="allow_aliasing"):
        FourierHead(4, 18, 4, allow_aliasing="yes")


@pytest.mark.parametrize("m", range(2, 13))
def test_nyquist_bound_is_where_the_bin_basis_loses_rank(m):
    """The bound is where the head's functions stop being independent on the bin centres: the 2N + 1 real functions
    1, cos(pi k b), sin(pi k b), k = 1..N, at b_j = -1 + (2j + 1)/m (plain float64 torch here) have rank 2N + 1
    exactly when N < m / 2 — and those N are the ones the head accepts."""
    b = -1 + (2 * torch.arange(m, dtype=torch.float64) + 1) / m
    for n in range(1, m + 1):
        k = torch.arange(1, n + 1, dtype=torch.float64)[:, None]
        basis = torch.cat(
            [torch.ones(1, m, dtype=torch.float64), torch.cos(math.pi * k * b), torch.sin(math.pi * k * b)]
        )
        independent = int(torch.linalg.matrix_rank(basis)) == 2 * n + 1
        try:
            FourierHead(2, m, n)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == independent == (2 * n < m), (m, n)


# --------------------------------------------------------------------------------------------- reference parity
@pytest.mark.parametrize("lead,d,m,n", SHAPES)
@pytest.mark.parametrize("exact", [False, True])
def test_output_matches_float64_reference(lead, d, m, n, exact):
    head = _head(d, m, n, exact_bin_integration=exact)
    x = torch.randn(*lead, d)
    out = head(x)
    assert out.shape == (*lead, m) and out.dtype == torch.float32
    params = head.linear(x).detach().reshape(-1, 2 * (n + 1))
    expected = reference_log_probs(params, m, eps=head.eps, exact=exact).reshape(*lead, m)
    torch.testing.assert_close(out.double(), expected, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(out.exp().sum(-1), torch.full(lead, 1.0 + m * head.eps), atol=2e-5, rtol=0)


@pytest.mark.parametrize("lead,d,m,n", SHAPES)
def test_gradients_match_float64_reference(lead, d, m, n):
    gamma = 1e-2
    head = _head(d, m, n, regularization_gamma=gamma)
    x = torch.randn(*lead, d, requires_grad=True)
    w = torch.randn(*lead, m)
    loss = (head(x) * w).sum() + head.regularization(x)
    gx, gw, gb = torch.autograd.grad(loss, [x, head.linear.weight, head.linear.bias])

    x64 = x.detach().double().requires_grad_(True)
    w64, b64 = (
        head.linear.weight.detach().double().requires_grad_(True),
        head.linear.bias.detach().double().requires_grad_(True),
    )
    params = torch.nn.functional.linear(x64, w64, b64).reshape(-1, 2 * (n + 1))
    ref = (reference_log_probs(params, m, eps=head.eps).reshape(*lead, m) * w.double()).sum()
    ref = ref + reference_regularization(params, gamma)
    rx, rw, rb = torch.autograd.grad(ref, [x64, w64, b64])
    for got, want in ((gx, rx), (gw, rw), (gb, rb)):
        scale = want.abs().max().item()
        torch.testing.assert_close(got.double(), want, atol=1e-3 * scale, rtol=2e-3)
        assert (got.double() - want).norm() <= 1e-3 * want.norm()


@pytest.mark.parametrize("lead,d,m,n", SHAPES[:2])
def test_bf16_autocast_runs_fourier_math_in_fp32(lead, d, m, n):
    """Under bf16 autocast only the linear layer is bf16: the output equals the float64 reference applied to that
    bf16 linear output at fp32 tolerance, and the fp32 output at bf16 tolerance."""
    head = _head(d, m, n, regularization_gamma=1e-3)
    x = torch.randn(*lead, d)
    fp32 = head(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(x)
        params = head.linear(x)
        assert head.regularization(x).dtype == torch.float32
    assert params.dtype == torch.bfloat16 and out.dtype == torch.float32
    expected = reference_log_probs(params.float().reshape(-1, 2 * (n + 1)), m, eps=head.eps).reshape(*lead, m)
    torch.testing.assert_close(out.double(), expected, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(out, fp32, atol=0.15, rtol=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # queries work under autocast with bf16 inputs too
        z = torch.tensor([-0.5, 0.0, 0.5])
        assert head.pdf(x.bfloat16(), z).dtype == torch.float32
        assert head.cdf(x.bfloat16(), z).dtype == torch.float32
        assert head.sample(x.bfloat16(), continuous=True).shape == lead
    # a bf16 module (weights cast) still does float32 Fourier math with float32 bases
    head_bf16 = _head(d, m, n).to(torch.bfloat16)
    out_bf16 = head_bf16(x.bfloat16())
    assert out_bf16.dtype == torch.float32 and head_bf16.basis.dtype == torch.float32


def test_regularization_matches_spec_formula():
    for lead, d, m, n in SHAPES:
        head = _head(d, m, n, regularization_gamma=1e-3)
        x = torch.randn(*lead, d)
        params = head.linear(x).detach().reshape(-1, 2 * (n + 1))
        expected = reference_regularization(params, 1e-3)
        torch.testing.assert_close(head.regularization(x).double(), expected, rtol=1e-4, atol=1e-9)
        torch.testing.assert_close(head.regularization(x, gamma=2e-3).double(), 2 * expected, rtol=1e-4, atol=1e-9)
    zero = _head(4, 8, 3)
    assert zero.regularization(torch.randn(2, 4)).item() == 0.0  # gamma = 0 (default): plain cross-entropy


def test_published_algorithm_reference_agrees():
    """The benchmark's re-implementation of the published approach computes the same function."""
    head = _head(16, 40, 9)
    pub = PublishedAlgorithmFourierHead(16, 40, 9)
    pub.linear.load_state_dict(head.linear.state_dict())
    x = torch.randn(6, 16)
    torch.testing.assert_close(pub(x), head(x), atol=1e-4, rtol=1e-4)
    a = reference_coefficients(head.linear(x).detach())
    torch.testing.assert_close(PublishedAlgorithmFourierHead.autocorrelate(a), F.fourier_autocorrelation(a))


# --------------------------------------------------------------------------------------------- density properties
def test_pdf_nonnegative_integrates_to_one_and_matches_identity():
    head = _head(8, 50, 12, seed=1, scale=2.0)
    x = torch.randn(5, 8)
    z = torch.linspace(-1, 1, 4001)
    pdf = head.pdf(x, z)
    assert pdf.shape == (5, 4001)
    assert pdf.min().item() >= -1e-6
    # density is a trig polynomial of degree N: 64-node Gauss-Legendre integrates it to machine precision
    nodes, weights = np.polynomial.legendre.leggauss(64)
    total = head.pdf(x, torch.from_numpy(nodes).float()).double() @ torch.from_numpy(weights)
    torch.testing.assert_close(total, torch.ones(5, dtype=torch.float64), atol=1e-5, rtol=0)
    # the paper's identity (Sec. 2) p(z) = |sum_j a_j e^{i pi j z}|^2 / (2 c_0)
    a = reference_coefficients(head.linear(x).detach())
    for zi in (-0.9, -0.3, 0.0, 0.77):
        want = [reference_density_scalar(a[r].tolist(), zi) for r in range(5)]
        torch.testing.assert_close(
            head.pdf(x, torch.tensor([zi]))[:, 0].double(),
            torch.tensor(want, dtype=torch.float64),
            atol=1e-5,
            rtol=1e-4,
        )
    c = F.fourier_autocorrelation(a)
    torch.testing.assert_close(pdf.double(), reference_density(c / c[:, :1].real, z), atol=1e-5, rtol=1e-4)
    # per-row points agree with shared points
    torch.testing.assert_close(head.pdf(x, z[:7].expand(5, 7)), pdf[:, :7], atol=1e-5, rtol=1e-5)


def test_cdf_matches_numerical_integration_and_reference():
    head = _head(8, 50, 12, seed=2, scale=2.0)
    x = torch.randn(3, 8)
    pts = torch.tensor([-1.0, -0.61, -0.2, 0.0, 0.33, 0.9, 1.0])
    cdf = head.cdf(x, pts)
    # numerical integration: adaptive quadrature of the module's own pdf on one row ...
    val, _ = integrate.quad(lambda z: head.pdf(x[:1], torch.tensor([z]))[0, 0].item(), -1.0, 0.33, limit=200)
    assert abs(cdf[0, 4].item() - val) < 1e-5
    # ... and 64-node Gauss-Legendre on [-1, p] for every row and point (exact for this trig polynomial)
    nodes, weights = np.polynomial.legendre.leggauss(64)
    for j, p in enumerate(pts.tolist()):
        half = (p + 1.0) / 2.0
        z = torch.from_numpy(-1.0 + half * (nodes + 1.0)).float()
        val = head.pdf(x, z).double() @ torch.from_numpy(weights * half)
        torch.testing.assert_close(cdf[:, j].double(), val, atol=1e-5, rtol=0)
    c = reference_coefficients(head.linear(x).detach())
    c = torch.stack([(c[:, k:] * c[:, : c.shape[1] - k].conj()).sum(-1) for k in range(c.shape[1])], -1)
    torch.testing.assert_close(cdf.double(), reference_cdf(c / c[:, :1].real, pts), atol=1e-5, rtol=0)
    assert torch.all(cdf[:, 1:] >= cdf[:, :-1] - 1e-6)  # monotone


def test_exact_integration_equals_cdf_differences():
    head = _head(8, 20, 5, exact_bin_integration=True, eps=0.0)
    x = torch.randn(4, 8)
    cdf = head.cdf(x, F.bin_edges(20))
    torch.testing.assert_close(head(x).exp(), cdf[:, 1:] - cdf[:, :-1], atol=1e-5, rtol=1e-4)


def test_continuous_samples_pass_ks_test():
    head = _head(4, 50, 12, seed=5, scale=3.0)
    x = torch.randn(1, 4)
    gen = torch.Generator().manual_seed(0)
    samples = head.sample(x.expand(4000, 4), continuous=True, generator=gen)
    assert samples.shape == (4000,) and samples.min() >= -1 and samples.max() <= 1

    def cdf(z: np.ndarray) -> np.ndarray:
        zt = torch.from_numpy(np.asarray(z, dtype=np.float32)).reshape(1, -1)
        return head.cdf(x, zt).detach().double().numpy().reshape(np.shape(z))

    assert stats.kstest(samples.numpy(), cdf).pvalue > 1e-3
    # the test has power: the same samples are rejected against the uniform distribution
    assert stats.kstest(samples.numpy(), stats.uniform(loc=-1, scale=2).cdf).pvalue < 1e-6


def test_discrete_samples_follow_bin_probabilities():
    head = _head(4, 10, 3, seed=6, scale=2.0)
    x = torch.randn(1, 4)
    gen = torch.Generator().manual_seed(0)
    idx = head.sample(x.expand(20000, 4), generator=gen)
    assert idx.dtype == torch.long and idx.shape == (20000,)
    counts = torch.bincount(idx, minlength=10).double()
    probs = head(x).detach().exp()[0].double()
    probs = probs / probs.sum()
    assert stats.chisquare(counts.numpy(), (probs * 20000).numpy()).pvalue > 1e-3


def test_quantize_dequantize_roundtrip():
    """m = 4: edges -1, -0.5, 0, 0.5, 1; -0.75 -> 0, -0.5 -> 1 (upper bin on an edge), 0.1 -> 2, 1.0 -> 3 (clipped),
    -2 -> 0 (clipped); centres -0.75, -0.25, 0.25, 0.75."""
    idx = F.quantize(torch.tensor([-0.75, -0.5, 0.1, 1.0, -2.0]), 4)
    assert idx.tolist() == [0, 1, 2, 3, 0]
    torch.testing.assert_close(F.dequantize(torch.arange(4), 4), torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    torch.testing.assert_close(F.quantize(F.dequantize(torch.arange(50), 50), 50), torch.arange(50))


def test_memory_is_linear_in_rows_times_bins():
    """No ``[rows, m, N]`` tensor: forward + backward peak stays far below rows * m * N * 8 bytes."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _common import peak_memory_bytes

    rows, d, m, n = 512, 32, 256, 64
    head = _head(d, m, n)
    x = torch.randn(rows, d)
    peak = peak_memory_bytes(lambda: head(x).sum().backward())
    assert peak < rows * m * n * 8 / 4, peak


def test_drop_in_for_linear_in_cross_entropy_training():
    """Trains like an nn.Linear classifier: cross-entropy decreases on a fixed batch."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), FourierHead(16, 20, 6, regularization_gamma=1e-6))
    x = torch.rand(64, 2) * 2 - 1
    y = F.quantize(x[:, 0] * 0.8, 20)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), y) + model[2].regularization(model[:2](x))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


# --------------------------------------------------------------------------------------------- benchmarks
def test_speed_benchmark_runs_on_tiny_setting(tmp_path):
    bench = _load_benchmark("fourier_head")
    rows = bench.main(
        [
            "--rows",
            "32",
            "--in-features",
            "8",
            "--bins",
            "16",
            "--freqs",
            "3",
            "--repeats",
            "1",
            "--csv",
            str(tmp_path / "r.csv"),
        ]
    )
    assert len(rows) == 4 and all(r["value"] > 0 for r in rows)
    assert (tmp_path / "r.csv").read_text().count("fourier_head_vs_published") == 2


def test_toy_batched_training_equals_independent_runs():
    """The toy benchmark trains G runs as one batched model; each run must equal a plain independent training."""
    toy = _load_benchmark("fourier_toy")
    splits = [toy.make_split("gaussian", s, 200, 50) for s in (1, 2)]
    model = toy.BatchedMLP("fourier", [1, 2], 50, 4, 1e-3)
    torch.manual_seed(2)
    plain = toy._mlp("fourier", 50, 4, 1e-3)
    x = torch.stack([s.x_train[:8] for s in splits])
    y = torch.stack([s.y_train[:8] for s in splits])
    out, reg = model(x)
    # Batched and plain matmuls sum in different orders: the bin probabilities agree to float32 rounding of their
    # scale (<= 1), a few ulps, compared as probabilities because log(p + eps) of a near-empty bin (log-prob ~ -11)
    # magnifies that absolute rounding by 1 / (p + eps) (1.5e-4 apart with the default kernels, AVX2-less).
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(out[1].exp(), plain(x[1]).exp(), rtol=0.0, atol=16 * eps)
    loss = nn.functional.cross_entropy(out.reshape(-1, 50), y.reshape(-1), reduction="none").view(2, -1).mean(1).sum()
    (loss + reg).backward()
    plain_loss = nn.functional.cross_entropy(plain(x[1]), y[1]) + plain[4].regularization(plain[:4](x[1]))
    plain_loss.backward()
    torch.testing.assert_close(model.weights[2].grad[1], plain[4].linear.weight.grad.t(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.weights[0].grad[1], plain[0].weight.grad.t(), atol=1e-5, rtol=1e-4)


def test_toy_split_matches_scikit_learn_train_test_split():
    """The toy split equals scikit-learn's ``train_test_split(test_size=0.2, random_state=42)`` as the paper used it
    (index values below were produced by scikit-learn 1.x), including the rounding up of the test size."""
    toy = _load_benchmark("fourier_toy")
    train, test = toy.split_indices(5000)
    assert test[:5].tolist() == [1501, 2586, 2653, 1055, 705]
    assert train[:5].tolist() == [4227, 4676, 800, 3671, 4193]
    assert len(test) == 1000 and len(train) == 4000
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(5000))
    train, test = toy.split_indices(1001)
    assert (len(test), len(train)) == (201, 800) and test[:3].tolist() == [521, 941, 741]


def test_toy_datasets_follow_the_official_draw_order():
    """A seed gives the same samples as the official data scripts: drawn call for call on ``default_rng(seed)``."""
    toy = _load_benchmark("fourier_toy")
    n, sd = 40, 0.1
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-0.8, 0.8, n), rng.uniform(-0.8, 0.8, n)
    z = []
    for i in range(n):
        first = rng.uniform(0, 1) < 0.5
        z.append(rng.normal(loc=x[i] if first else y[i], scale=sd))
    np.testing.assert_array_equal(toy.make_dataset("gmm2", n, 7), np.stack([x, y, np.array(z)], 1))
    rng = np.random.default_rng(7)
    x = rng.uniform(-0.8, 0.8, n)
    y = np.array([rng.normal(loc=v, scale=sd) for v in x])  # scalar calls: same stream as the vectorised draw
    sign = rng.choice([1, -1], size=n)
    z = np.array([sign[i] * rng.beta(abs(100 * x[i]), abs(100 * y[i])) for i in range(n)])
    np.testing.assert_array_equal(toy.make_dataset("beta", n, 7), np.stack([x, y, z], 1))


def test_toy_paired_comparison_by_hand():
    toy = _load_benchmark("fourier_toy")
    head = {"seeds": [1, 2, 3], "kl": [0.1, 0.3, 0.2]}
    linear = {"seeds": [3, 1, 2, 9], "kl": [0.4, 0.2, 0.2, 5.0]}
    diff, se, wins, n = toy.paired_comparison(head, linear, "kl")
    # differences: seed 1 -0.1, seed 2 +0.1, seed 3 -0.2 -> mean -1/15, sd sqrt(7/300), se sd / sqrt(3)
    assert n == 3 and wins == 2
    assert diff == pytest.approx(-1 / 15)
    assert se == pytest.approx(math.sqrt(7 / 300) / math.sqrt(3))
    assert math.isnan(toy.paired_comparison({"seeds": [1], "kl": [0.0]}, linear, "kl")[1])
    with pytest.raises(ValueError, match="distinct"):
        toy.run_toy_runs(epochs=1, seeds=(1, 2, 1), num_samples=100)


def test_toy_json_round_trip_table_and_plot(tmp_path, capsys):
    """Per-run JSON from one head per process recombines into one table with paired statistics, and the plot is a
    real PNG."""
    toy = _load_benchmark("fourier_toy")
    common = ["--epochs", "2", "--seeds", "1", "2", "--num-samples", "400", "--datasets", "gmm2", "--no-csv"]
    toy.main([*common, "--heads", "linear", "--results-json", str(tmp_path / "lin.json")])
    toy.main([*common, "--heads", "fourier", "--results-json", str(tmp_path / "fou.json")])
    runs = json.loads((tmp_path / "fou.json").read_text())
    assert runs["gmm2"]["fourier"]["seeds"] == [1, 2] and len(runs["gmm2"]["fourier"]["kl"]) == 2
    capsys.readouterr()
    png = tmp_path / "toy.png"
    results = toy.main(
        ["--from-json", str(tmp_path / "lin.json"), str(tmp_path / "fou.json"), "--no-csv", "--plot", str(png)]
    )
    out = capsys.readouterr().out
    lin = json.loads((tmp_path / "lin.json").read_text())["gmm2"]["linear"]["kl"]
    fou = runs["gmm2"]["fourier"]["kl"]
    assert results["gmm2"]["fourier"][0] == pytest.approx(sum(fou) / 2)
    wins = sum(f < v for f, v in zip(fou, lin))
    assert f"lower in {wins}/2 runs" in out, (out, lin, fou)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_toy_table_paper_column_only_where_published_numbers_exist():
    """The published toy table (the authors' saved metrics, mean of seeds 1, 2, 3, 42) has linear and Fourier numbers
    and none for γ = 1e-6: the `fourier_reg` row shows measured numbers only (its paper columns are "—"), the
    `linear` / `fourier` rows the published ones (gaussian: 0.170 / 0.116)."""
    toy = _load_benchmark("fourier_toy")
    assert toy._paper(toy.PAPER["gaussian"], "kl", "linear") == "0.170"
    assert toy._paper(toy.PAPER["gaussian"], "smooth", "fourier") == "0.057"
    assert toy._paper(toy.PAPER["gaussian"], "kl", None) == "—"


def test_toy_reproduction_short_setting():
    """Shortened toy setting (3 epochs, 1 seed, 1000 samples): the Fourier head is smoother than the linear head on
    all three datasets and every metric is finite. The full setting's table is in docs/methods/fourier_head.md."""
    toy = _load_benchmark("fourier_toy")
    results = toy.run_toy(epochs=3, seeds=(1,), num_samples=1000, heads=("linear", "fourier"))
    for d in toy.DATASETS:
        (kl_lin, sm_lin), (kl_f, sm_f) = results[d]["linear"], results[d]["fourier"]
        assert all(math.isfinite(v) and v >= 0 for v in (kl_lin, sm_lin, kl_f, sm_f))
        assert sm_f < sm_lin, (d, results[d])


if os.environ.get("TRL_EXPLORE_FULL_TOY"):  # opt-in full-setting study (16 minutes on one core here)

    @pytest.mark.slow
    @pytest.mark.timeout(7200)
    def test_toy_reproduction_full_setting_44_seeds():
        """The paper's claim at a sample size that can show it: over 44 seeds (500 epochs, the paper's setting) the
        Fourier head's KL is lower than the linear head's on average, paired by seed, and it is smoother on every
        dataset. (With the published four seeds a faithful run shows the lower KL only 82-94% of the time per dataset;
        see docs/methods/fourier_head.md.)"""
        toy = _load_benchmark("fourier_toy")
        seeds = tuple(range(1, 45))  # the published 1, 2, 3, 42 among them
        runs = toy.run_toy_runs(epochs=500, seeds=seeds, heads=("linear", "fourier"))
        for d in toy.DATASETS:
            kl_diff, kl_se, _, n = toy.paired_comparison(runs[d]["fourier"], runs[d]["linear"], "kl")
            _, _, smoother, _ = toy.paired_comparison(runs[d]["fourier"], runs[d]["linear"], "smoothness")
            assert n == 44 and kl_diff + kl_se < 0, (d, kl_diff, kl_se)
            assert smoother == 44, d
