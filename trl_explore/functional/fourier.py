"""Fourier head math: a smooth density on [-1, 1] from a truncated Fourier series, and its bin probabilities.

Gillman et al., "Fourier Head: Helping Large Language Models Learn Complex Probability Distributions", ICLR 2025
(arXiv 2410.22269), Section 2 (Algorithm 1) and Section 3 (regularisation).

Notation (per input row): ``N`` frequencies, ``m`` bins, complex coefficients ``a_0..a_N`` read from a linear layer's
``2 (N + 1)`` real outputs (real parts first, then imaginary parts).

    autocorrelation        c_k = sum_{j=0}^{N-k} a_{j+k} * conj(a_j),            k = 0..N
    normalised             c~_k = c_k / Re(c_0)
    density                p(z) = 1/2 + Re sum_{k=1}^{N} c~_k exp(i pi k z)       (= |sum_j a_j e^{i pi j z}|^2 / (2 c_0))
    CDF                    F(x) = (x + 1)/2 + Re sum_{k=1}^{N} c~_k (exp(i pi k x) - (-1)^k) / (i pi k)
    bin centres            b_j = -1 + (2 j + 1) / m,                              j = 0..m-1
    bin probabilities      P_j = p(b_j) / sum_l p(b_l)            (midpoint rule; ``exact``: F(e_{j+1}) - F(e_j))
    output                 log(P_j + eps)
    regularisation         gamma * 2 * mean_rows sum_{k=0}^{N} 2 pi^2 k^2 |c_k|^2   (= gamma * int |f'|^2)

Everything here runs in float32 (callers upcast); nothing materialises a ``[rows, m, N]`` tensor: the autocorrelation is
one FFT of length ``2 (N + 1)`` per row and the evaluation at the bin centres is the paper's two matmuls against cosine /
sine bases, fused into one ``addmm`` against the stacked basis ``[C; -S]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "bin_centers",
    "bin_edges",
    "dequantize",
    "fourier_autocorrelation",
    "fourier_bases",
    "fourier_bin_basis",
    "fourier_bin_log_probs",
    "fourier_cdf",
    "fourier_coefficients",
    "fourier_density",
    "fourier_density_at",
    "fourier_exact_bases",
    "fourier_regularization",
    "normalize_autocorrelation",
    "quantize",
    "sample_fourier_continuous",
]


def bin_edges(num_bins: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
    """Edges ``linspace(-1, 1, m + 1)`` of ``m`` equal bins on [-1, 1]. Shape ``[m + 1]``."""
    return torch.linspace(-1.0, 1.0, num_bins + 1, dtype=torch.float64, device=device).to(dtype)


def bin_centers(
    num_bins: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """Bin centres ``b_j = -1 + (2 j + 1) / m`` for ``j = 0..m-1``. Shape ``[m]``."""
    j = torch.arange(num_bins, dtype=torch.float64, device=device)
    return (-1.0 + (2.0 * j + 1.0) / num_bins).to(dtype)


def quantize(values: Tensor, num_bins: int) -> Tensor:
    """Bin index of each value in [-1, 1] (edges ``linspace(-1, 1, m + 1)``; out-of-range values are clipped).

    Shapes: ``values [...]`` -> ``[...]`` (``torch.long``). A value exactly on an inner edge goes to the upper bin.
    """
    idx = torch.floor((values.double() + 1.0) * (num_bins / 2.0)).long()
    return idx.clamp_(0, num_bins - 1)


def dequantize(indices: Tensor, num_bins: int) -> Tensor:
    """Inverse of :func:`quantize`: the bin centre ``-1 + (2 i + 1) / m``. Shapes: ``[...]`` -> ``[...]`` (float32)."""
    return -1.0 + (2.0 * indices.to(torch.float32) + 1.0) / num_bins


def fourier_coefficients(params: Tensor) -> Tensor:
    """Read ``2 (N + 1)`` real numbers as ``N + 1`` complex coefficients (real parts first, then imaginary parts).

    Shapes: ``params [..., 2 (N + 1)]`` -> ``[..., N + 1]`` complex64 (complex128 for float64 input).
    """
    if params.shape[-1] % 2:
        raise ValueError(f"params must have an even last dimension 2 * (N + 1), got {params.shape[-1]}")
    half = params.shape[-1] // 2
    return torch.complex(params[..., :half], params[..., half:])


def fourier_autocorrelation(a: Tensor) -> Tensor:
    """Autocorrelation ``c_k = sum_{j=0}^{N-k} a_{j+k} conj(a_j)`` for ``k = 0..N`` (paper Algorithm 1, step 3).

    Computed as ``ifft(|fft(a, L)|^2)[:N+1]`` with ``L = 2 (N + 1) >= 2N + 1`` (no circular aliasing): memory
    ``O(rows * N)``, time ``O(rows * N log N)``; no grouped convolution.

    Shapes: ``a [..., N + 1]`` complex -> ``c [..., N + 1]`` complex.
    """
    n = a.shape[-1]
    if a.numel() == 0:  # no rows: MKL's FFT refuses a zero batch
        return a * 0
    spectrum = torch.fft.fft(a, n=2 * n, dim=-1)  # [..., 2(N+1)]
    power = spectrum.real.square() + spectrum.imag.square()  # [..., 2(N+1)] real
    # ifft(A conj(A))[k] = sum_j a[j + k] conj(a[j]); the power spectrum is real, so use the complex inverse of a real.
    corr = torch.fft.ifft(power.to(a.dtype), dim=-1)  # [..., 2(N+1)]
    return corr[..., :n]


def normalize_autocorrelation(c: Tensor) -> Tensor:
    """``c~_k = c_k / Re(c_0)``, so that ``c~_0 = 1`` and the density integrates to 1. Shapes: ``[..., N+1]``.

    A row with ``c_0 = 0`` (every coefficient zero, or underflowed: no density is defined) gets the uniform density
    ``c~ = (1, 0, ..., 0)`` instead of NaN.
    """
    c0 = c[..., :1].real  # [..., 1]
    zero = c0 == 0
    c_tilde = c / torch.where(zero, torch.ones_like(c0), c0)
    uniform = torch.zeros_like(c_tilde)
    uniform[..., 0] = 1.0
    return torch.where(zero, uniform, c_tilde)


def fourier_bases(points: Tensor, num_frequencies: int) -> tuple[Tensor, Tensor]:
    """Real bases ``C[k, j] = cos(pi k z_j)`` and ``S[k, j] = sin(pi k z_j)`` for ``k = 1..N``.

    Shapes: ``points [P]`` -> ``(C [N, P], S [N, P])``, computed in float64 and returned in ``points.dtype``.
    """
    k = torch.arange(1, num_frequencies + 1, dtype=torch.float64, device=points.device)
    angle = math.pi * k[:, None] * points.double()[None, :]  # [N, P]
    return torch.cos(angle).to(points.dtype), torch.sin(angle).to(points.dtype)


def fourier_exact_bases(
    num_bins: int, num_frequencies: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """Bases for exact bin integrals ``P_j = F(e_{j+1}) - F(e_j)``.

    ``P_j = 1/m + sum_k Re(c~_k) DS[k, j] + Im(c~_k) DC[k, j]`` with
    ``DS[k, j] = (sin(pi k e_{j+1}) - sin(pi k e_j)) / (pi k)`` and ``DC[k, j] = (cos(pi k e_{j+1}) - cos(pi k e_j)) / (pi k)``.

    Returns ``(DS [N, m], DC [N, m])``.
    """
    edges = torch.linspace(-1.0, 1.0, num_bins + 1, dtype=torch.float64, device=device)
    k = torch.arange(1, num_frequencies + 1, dtype=torch.float64, device=device)[:, None]  # [N, 1]
    angle = math.pi * k * edges[None, :]  # [N, m+1]
    ds = (torch.sin(angle[:, 1:]) - torch.sin(angle[:, :-1])) / (math.pi * k)
    dc = (torch.cos(angle[:, 1:]) - torch.cos(angle[:, :-1])) / (math.pi * k)
    return ds.to(dtype), dc.to(dtype)


def fourier_bin_basis(
    num_bins: int,
    num_frequencies: int,
    *,
    exact: bool = False,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Stacked real basis ``B [2N, m]`` such that the unnormalised bin mass is ``const + [Re c~, Im c~] @ B``.

    Midpoint rule (``const = 1/2``): ``B = [C; -S]`` with ``C[k, j] = cos(pi k b_j)``, ``S[k, j] = sin(pi k b_j)``,
    i.e. the two matmuls ``Re(c~) @ C - Im(c~) @ S`` of the paper's formula fused into one.
    Exact integration (``const = 1/m``): ``B = [DS; DC]`` of :func:`fourier_exact_bases`.
    Computed in float64, returned in ``dtype``.
    """
    if exact:
        top, bottom = fourier_exact_bases(num_bins, num_frequencies, dtype=torch.float64, device=device)
    else:
        cos_b, sin_b = fourier_bases(bin_centers(num_bins, dtype=torch.float64, device=device), num_frequencies)
        top, bottom = cos_b, -sin_b
    return torch.cat([top, bottom], dim=0).to(dtype)


def fourier_density(c_tilde: Tensor, cos_basis: Tensor, sin_basis: Tensor) -> Tensor:
    """Density at shared points: ``p = 1/2 + Re(c~[1:]) @ C - Im(c~[1:]) @ S`` (two matmuls).

    Shapes: ``c_tilde [..., N + 1]`` complex, ``cos_basis, sin_basis [N, P]`` -> ``p [..., P]`` real.
    """
    ct = c_tilde[..., 1:]
    return 0.5 + ct.real @ cos_basis - ct.imag @ sin_basis


def fourier_density_at(c_tilde: Tensor, z: Tensor) -> Tensor:
    """Density at per-row points: ``p(z) = 1/2 + sum_k Re(c~_k) cos(pi k z) - Im(c~_k) sin(pi k z)``.

    Shapes: ``c_tilde [..., N + 1]`` complex, ``z [..., P]`` (same leading dims) -> ``[..., P]``. Builds a
    ``[..., P, N]`` angle tensor: meant for few points per row (likelihoods, bisection); use :func:`fourier_density`
    with precomputed bases for many shared points.
    """
    n = c_tilde.shape[-1] - 1
    k = torch.arange(1, n + 1, dtype=z.dtype, device=z.device)
    angle = math.pi * z[..., None] * k  # [..., P, N]
    ct = c_tilde[..., None, 1:]  # [..., 1, N]
    return 0.5 + (ct.real * torch.cos(angle) - ct.imag * torch.sin(angle)).sum(-1)


def fourier_cdf(c_tilde: Tensor, x: Tensor) -> Tensor:
    """CDF ``F(x) = (x + 1)/2 + sum_k [Re(c~_k) sin(pi k x) - Im(c~_k) ((-1)^k - cos(pi k x))] / (pi k)``.

    This is ``(x+1)/2 + Re sum_k c~_k (e^{i pi k x} - (-1)^k) / (i pi k)`` written in real arithmetic.
    Shapes: ``c_tilde [..., N + 1]`` complex, ``x [..., P]`` (same leading dims) -> ``[..., P]``.
    """
    n = c_tilde.shape[-1] - 1
    k = torch.arange(1, n + 1, dtype=x.dtype, device=x.device)
    sign = 1.0 - 2.0 * torch.remainder(k, 2)  # (-1)^k
    angle = math.pi * x[..., None] * k  # [..., P, N]
    ct = c_tilde[..., None, 1:]
    terms = (ct.real * torch.sin(angle) - ct.imag * (sign - torch.cos(angle))) / (math.pi * k)
    return (x + 1.0) / 2.0 + terms.sum(-1)


def fourier_bin_log_probs(
    params: Tensor,
    basis: Tensor,
    *,
    exact: bool = False,
    eps: float = 1e-5,
) -> tuple[Tensor, Tensor]:
    """Log bin probabilities ``log(P_j + eps)`` from the linear layer's output (spec steps 1-6).

    With ``A = [Re c~_{1..N}, Im c~_{1..N}]`` (``[rows, 2N]``) and ``const = 1/2`` (midpoint) or ``1/m`` (exact):
    ``u = const + A @ B`` (the unnormalised bin masses, ``p(b_j)`` for the midpoint rule), ``S = sum_j u_j
    = m const + A @ B.sum(1)`` (no pass over the ``[rows, m]`` tensor), and
    ``log(P_j + eps) = log(u_j / S + eps) = log(u_j + eps S) - log S``: one ``addmm`` and one ``log`` over
    ``[rows, m]``.

    Args:
        params: ``[..., 2 (N + 1)]`` real, the linear layer's output (upcast to float32 by the caller).
        basis: ``[2N, m]`` from :func:`fourier_bin_basis` (with the same ``exact``).
        exact: integrate the density over each bin exactly (closed-form CDF) instead of the midpoint rule.
        eps: added to the probabilities before the log.

    Returns:
        ``(log_probs [..., m], c [..., N + 1])``: log-probabilities and the *unnormalised* autocorrelation (for the
        regulariser).
    """
    a = fourier_coefficients(params)  # [..., N+1] complex
    c = fourier_autocorrelation(a)  # [..., N+1]
    c_tilde = normalize_autocorrelation(c)  # [..., N+1]
    lead = c.shape[:-1]
    m = basis.shape[-1]
    coeffs = torch.cat([c_tilde.real[..., 1:], c_tilde.imag[..., 1:]], dim=-1).reshape(-1, basis.shape[0])  # [R, 2N]
    const = 1.0 / m if exact else 0.5
    total = m * const + coeffs @ basis.sum(-1)  # [R]  S = sum_j u_j
    shifted = torch.addmm((const + eps * total)[:, None], coeffs, basis)  # [R, m]  u_j + eps S
    log_probs = torch.log(shifted) - torch.log(total)[:, None]  # [R, m]
    return log_probs.reshape(*lead, m), c


def fourier_regularization(c: Tensor, gamma: float) -> Tensor:
    """Sobolev smoothness penalty ``gamma * 2 * mean_rows sum_{k=0}^{N} 2 pi^2 k^2 |c_k|^2`` (paper Section 3).

    ``c`` is the *unnormalised* autocorrelation; the sum equals ``int_{-1}^{1} |f'(z)|^2 dz`` of the unnormalised
    function ``f(z) = sum_k c_k e^{i pi k z}`` up to the factor 2 in the paper's definition.
    Shapes: ``c [..., N + 1]`` complex -> scalar.
    """
    n = c.shape[-1] - 1
    k = torch.arange(n + 1, dtype=c.real.dtype, device=c.device)
    weights = 2.0 * math.pi**2 * k.square()  # [N+1]
    per_row = ((c.real.square() + c.imag.square()) * weights).sum(-1)  # [...]
    # no rows: nothing to penalise (the sum, 0, keeps the graph; the mean of nothing would be NaN)
    return gamma * 2.0 * (per_row.mean() if per_row.numel() else per_row.sum())


def sample_fourier_continuous(
    c_tilde: Tensor, *, num_iterations: int = 40, generator: torch.Generator | None = None
) -> Tensor:
    """Continuous samples in [-1, 1] by inverse-CDF bisection: find ``x`` with ``F(x) = u``, ``u ~ U(0, 1)``.

    Pure tensor arithmetic, so it runs on any device. ``num_iterations`` halvings give a bracket of width
    ``2 / 2^num_iterations``. Shapes: ``c_tilde [R, N + 1]`` complex -> ``[R]``.
    """
    rows = c_tilde.shape[0]
    dtype = c_tilde.real.dtype
    u = torch.rand(rows, dtype=dtype, device=c_tilde.device, generator=generator)
    lo = torch.full_like(u, -1.0)
    hi = torch.full_like(u, 1.0)
    for _ in range(num_iterations):
        mid = 0.5 * (lo + hi)
        below = fourier_cdf(c_tilde, mid[:, None])[:, 0] < u
        lo = torch.where(below, mid, lo)
        hi = torch.where(below, hi, mid)
    return 0.5 * (lo + hi)
