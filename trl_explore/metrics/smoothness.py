"""Quality metrics for predicted distributions over ordered bins (Fourier head paper, Gillman et al. ICLR 2025,
arXiv 2410.22269, Section 4.1 "smoothness" and the toy experiment's KL divergence).

    smoothness  s(P) = sum_{sigma=1}^{100} 6 / (pi^2 sigma^2) * || P - G_sigma * P ||_2
                G_sigma: 1-D Gaussian filter with standard deviation sigma, wrap (periodic) padding, truncated at
                4 sigma and normalised (the ``scipy.ndimage.gaussian_filter1d(mode="wrap")`` convention).
                Lower is smoother; the weights 6 / (pi^2 sigma^2) sum to 1 over sigma = 1..inf.
    KL          KL(target || P) = sum_j t_j (log t_j - log(P_j + eps))
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["gaussian_wrap_filter", "kl_to_target", "smoothness"]


def _folded_gaussian_kernels(sigmas: Tensor, length: int, truncate: float) -> Tensor:
    """Normalised Gaussian kernels folded onto a circle of ``length`` points: ``[S, length]`` float64.

    ``k[s, j] = sum_{t in [-r, r], t = j mod length} w_s(t)``, ``w_s(t) ∝ exp(-t^2 / (2 sigma_s^2))``,
    ``r = int(truncate * sigma + 0.5)``; circular convolution with it equals filtering with wrap padding.
    """
    kernels = torch.zeros(len(sigmas), length, dtype=torch.float64)
    for s, sigma in enumerate(sigmas.tolist()):
        radius = int(truncate * sigma + 0.5)
        t = torch.arange(-radius, radius + 1, dtype=torch.float64)
        w = torch.exp(-0.5 * (t / sigma) ** 2)
        w = w / w.sum()
        kernels[s].scatter_add_(0, torch.remainder(t.long(), length), w)
    return kernels


def gaussian_wrap_filter(pmf: Tensor, sigmas: Tensor, truncate: float = 4.0) -> Tensor:
    """``G_sigma * P`` for every sigma: circular convolution with folded Gaussian kernels (via FFT).

    Shapes: ``pmf [..., m]``, ``sigmas [S]`` -> ``[..., S, m]`` in ``pmf``'s dtype (computed in float64).
    """
    m = pmf.shape[-1]
    kernels = _folded_gaussian_kernels(sigmas.double().cpu(), m, truncate).to(pmf.device)  # [S, m]
    spec = torch.fft.rfft(pmf.double(), dim=-1)[..., None, :]  # [..., 1, m//2+1]
    kspec = torch.fft.rfft(kernels, dim=-1)  # [S, m//2+1]
    return torch.fft.irfft(spec * kspec, n=m, dim=-1).to(pmf.dtype)  # [..., S, m]


def smoothness(pmf: Tensor, num_sigmas: int = 100, truncate: float = 4.0) -> Tensor:
    """Smoothness ``s(P) = sum_{sigma=1}^{num_sigmas} 6/(pi^2 sigma^2) ||P - G_sigma * P||_2`` (lower is smoother).

    The norms come from the spectrum (Parseval): with ``P^ = rfft(P)`` and ``K^_sigma = rfft(kernel_sigma)``,
    ``||P - G_sigma * P||^2 = (1/m) sum_k c_k |P^_k|^2 |1 - K^_sigma,k|^2`` (``c_k = 2`` for the bins that stand for
    two conjugate frequencies, else 1), one ``[rows, m//2+1] @ [m//2+1, S]`` product: memory ``O(rows * (m + S))``
    instead of the ``[rows, S, m]`` filtered copies.

    Args:
        pmf: ``[..., m]`` probabilities over ordered bins.
        num_sigmas: number of filter widths ``sigma = 1..num_sigmas`` (the paper uses 100).
        truncate: the Gaussian kernel is cut at ``truncate * sigma`` (scipy's default 4.0).

    Returns:
        ``[...]`` smoothness per distribution (float64 math, returned in ``pmf``'s floating dtype); empty for no rows.
    """
    m = pmf.shape[-1]
    if pmf.numel() == 0:  # no rows (e.g. a micro-batch without a labelled number): MKL's FFT refuses empty input
        return pmf.new_zeros(pmf.shape[:-1], dtype=pmf.dtype if pmf.is_floating_point() else torch.float64)
    sigmas = torch.arange(1, num_sigmas + 1, dtype=torch.float64)
    kernels = _folded_gaussian_kernels(sigmas, m, truncate).to(pmf.device)  # [S, m]
    response = (1.0 - torch.fft.rfft(kernels, dim=-1)).abs().square()  # [S, m//2+1]  |1 - K^|^2
    counts = torch.full((m // 2 + 1,), 2.0, dtype=torch.float64, device=pmf.device)
    counts[0] = 1.0
    if m % 2 == 0:
        counts[-1] = 1.0  # the Nyquist bin is its own conjugate
    power = torch.fft.rfft(pmf.double(), dim=-1).abs().square()  # [..., m//2+1]
    dist = ((power @ (response * counts).t()) / m).clamp_min(0.0).sqrt()  # [..., S]
    weights = (6.0 / (math.pi**2 * sigmas.square())).to(pmf.device)  # [S]
    out = dist @ weights
    return out.to(pmf.dtype) if pmf.is_floating_point() else out


def kl_to_target(pmf: Tensor, target_pmf: Tensor, eps: float = 1e-10) -> Tensor:
    """``KL(target || pmf) = sum_j t_j (log t_j - log(pmf_j + eps))`` per row; ``0 * log 0`` counts as 0.

    Shapes: ``pmf, target_pmf [..., m]`` -> ``[...]``. Average over rows for the paper's "batchmean" KL.
    """
    t = target_pmf.to(pmf.dtype)
    log_t = torch.where(t > 0, torch.log(t.clamp_min(torch.finfo(t.dtype).tiny)), torch.zeros_like(t))
    terms = t * (log_t - torch.log(pmf + eps))
    return torch.where(t > 0, terms, torch.zeros_like(terms)).sum(-1)
