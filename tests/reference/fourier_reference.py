"""Reference implementations for the Fourier head (Gillman et al., ICLR 2025, arXiv 2410.22269,
Sec. 2 and Algorithm 1; regulariser Sec. 3).

Two things live here:

1. ``reference_*`` — slow, obviously-correct float64 transcriptions of Algorithm 1's steps 2-6, the regulariser and the
   CDF, with explicit Python loops over frequencies and bins (used for parity tests).
2. ``PublishedAlgorithmFourierHead`` — a re-implementation, written from the paper's description, of the *approach*
   of the published algorithm, for the speed / memory benchmark: the autocorrelation as a grouped ``conv1d`` (one
   group per row) and the evaluation as a ``[rows, m, N]`` complex tensor of ``c~_k exp(i pi k b_j)`` summed over k.
"""

from __future__ import annotations

import cmath
import math

import torch
from torch import Tensor, nn


def reference_coefficients(params: Tensor) -> Tensor:
    """``[R, 2(N+1)]`` real -> ``[R, N+1]`` complex128: real parts first, then imaginary parts."""
    p = params.double()
    n1 = p.shape[-1] // 2
    return torch.complex(p[..., :n1], p[..., n1:])


def reference_autocorrelation(a: Tensor) -> Tensor:
    """``c_k = sum_{j=0}^{N-k} a_{j+k} conj(a_j)`` by an explicit loop over k. ``[R, N+1]`` -> ``[R, N+1]``."""
    n = a.shape[-1] - 1
    cols = []
    for k in range(n + 1):
        cols.append((a[..., k:] * a[..., : n + 1 - k].conj()).sum(-1))
    return torch.stack(cols, dim=-1)


def reference_density(c_tilde: Tensor, z: Tensor) -> Tensor:
    """``p(z) = 1/2 + Re sum_{k=1}^{N} c~_k exp(i pi k z)``. ``c_tilde [R, N+1]``, ``z [P]`` -> ``[R, P]``."""
    n = c_tilde.shape[-1] - 1
    z = z.double()
    out = torch.full((c_tilde.shape[0], z.shape[0]), 0.5, dtype=torch.float64)
    for k in range(1, n + 1):
        e = torch.exp(1j * math.pi * k * z.to(torch.complex128))  # [P]
        out = out + (c_tilde[:, k : k + 1] * e[None, :]).real
    return out


def reference_cdf(c_tilde: Tensor, x: Tensor) -> Tensor:
    """``F(x) = (x+1)/2 + Re sum_k c~_k (exp(i pi k x) - (-1)^k) / (i pi k)``. ``[R, N+1]``, ``[P]`` -> ``[R, P]``."""
    n = c_tilde.shape[-1] - 1
    x = x.double()
    out = ((x + 1.0) / 2.0)[None, :].repeat(c_tilde.shape[0], 1)
    for k in range(1, n + 1):
        num = torch.exp(1j * math.pi * k * x.to(torch.complex128)) - (-1.0) ** k
        out = out + (c_tilde[:, k : k + 1] * (num / (1j * math.pi * k))[None, :]).real
    return out


def reference_bin_centers(m: int) -> Tensor:
    return torch.tensor([-1.0 + (2 * j + 1) / m for j in range(m)], dtype=torch.float64)


def reference_log_probs(params: Tensor, num_bins: int, eps: float = 1e-5, exact: bool = False) -> Tensor:
    """Algorithm 1, steps 2-6, in float64: ``log(P_j + eps)``. ``params [R, 2(N+1)]`` -> ``[R, m]``.

    ``exact``: ``P_j`` = integral of the density over bin j via the closed-form CDF (then normalised; sums to 1).
    """
    a = reference_coefficients(params)
    c = reference_autocorrelation(a)
    c_tilde = c / c[:, :1].real
    if exact:
        edges = torch.linspace(-1.0, 1.0, num_bins + 1, dtype=torch.float64)
        cdf = reference_cdf(c_tilde, edges)
        probs = cdf[:, 1:] - cdf[:, :-1]
    else:
        probs = reference_density(c_tilde, reference_bin_centers(num_bins))
    probs = probs / probs.sum(-1, keepdim=True)
    return torch.log(probs + eps)


def reference_regularization(params: Tensor, gamma: float) -> Tensor:
    """``gamma * 2 * mean_rows sum_{k=0}^{N} 2 pi^2 k^2 |c_k|^2`` with the unnormalised ``c_k``; scalar float64."""
    c = reference_autocorrelation(reference_coefficients(params))
    n = c.shape[-1] - 1
    total = torch.zeros(c.shape[0], dtype=torch.float64)
    for k in range(n + 1):
        total = total + 2.0 * math.pi**2 * k**2 * c[:, k].abs() ** 2
    return gamma * 2.0 * total.mean()


def reference_density_scalar(coeffs: list[complex], z: float) -> float:
    """``|sum_j a_j e^{i pi j z}|^2 / (2 c_0)`` for one row in plain Python (the paper's non-negativity identity, Sec.
    2)."""
    s = sum(a * cmath.exp(1j * math.pi * j * z) for j, a in enumerate(coeffs))
    c0 = sum(abs(a) ** 2 for a in coeffs)
    return abs(s) ** 2 / (2.0 * c0)


class PublishedAlgorithmFourierHead(nn.Module):
    """The published algorithm's approach (grouped-conv autocorrelation, ``[rows, m, N]`` complex evaluation).

    Same parameters and outputs as :class:`trl_explore.modules.FourierHead` (midpoint rule), so the two can be timed
    on the same weights. Written from the paper's description, for benchmarking only.
    """

    def __init__(self, in_features: int, num_bins: int, num_frequencies: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_bins = num_bins
        self.num_frequencies = num_frequencies
        self.eps = eps
        self.linear = nn.Linear(in_features, 2 * (num_frequencies + 1))
        centers = -1.0 + (2.0 * torch.arange(num_bins, dtype=torch.float32) + 1.0) / num_bins
        self.register_buffer("bin_centers", centers, persistent=False)
        self.register_buffer("frequencies", torch.arange(1, num_frequencies + 1, dtype=torch.float32), persistent=False)

    @staticmethod
    def autocorrelate(a: Tensor) -> Tensor:
        """Grouped conv1d: one group per row. ``a [R, N+1]`` complex -> ``c [R, N+1]``.

        ``conv1d`` computes ``out[k] = sum_j in[j + k] w[j]``; with ``in = a`` right-padded by N zeros and
        ``w = conj(a)`` this is ``c_k``. Complex input is split into real convolutions:
        ``(u + iv) * (u' - iv') = (uu' + vv') + i(vu' - uv')``.
        """
        rows, n1 = a.shape
        u, v = a.real, a.imag
        pad = lambda t: torch.nn.functional.pad(t, (0, n1 - 1))[None]  # noqa: E731  [1, R, 2N+1]
        w = lambda t: t[:, None, :]  # noqa: E731  [R, 1, N+1]
        conv = lambda i, k: torch.nn.functional.conv1d(pad(i), w(k), groups=rows)[0]  # noqa: E731  [R, N+1]
        real = conv(u, u) + conv(v, v)
        imag = conv(v, u) - conv(u, v)
        return torch.complex(real, imag)

    def forward(self, x: Tensor) -> Tensor:
        params = self.linear(x).float()
        lead = params.shape[:-1]
        params = params.reshape(-1, params.shape[-1])
        n1 = params.shape[-1] // 2
        a = torch.complex(params[:, :n1], params[:, n1:])  # [R, N+1]
        c = self.autocorrelate(a)
        c_tilde = c / c[:, :1].real  # [R, N+1]
        angle = math.pi * self.bin_centers[:, None] * self.frequencies[None, :]  # [m, N]
        phase = torch.polar(torch.ones_like(angle), angle)  # [m, N] complex
        terms = c_tilde[:, None, 1:] * phase[None, :, :]  # [R, m, N] complex
        density = 0.5 + terms.sum(-1).real  # [R, m]
        probs = density / density.sum(-1, keepdim=True)
        return torch.log(probs + self.eps).reshape(*lead, self.num_bins)
