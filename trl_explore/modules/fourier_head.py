"""``FourierHead``: a drop-in for ``nn.Linear(in_features, num_bins)`` whose outputs are log-probabilities of a smooth
density over ``num_bins`` ordered bins of [-1, 1] (Gillman et al., ICLR 2025, arXiv 2410.22269).

The math lives in :mod:`trl_explore.functional.fourier`; this module owns the parameters and the cached bases. It keeps
nothing between calls: the smoothness regulariser of a forward is :meth:`FourierHead.regularization` of its input, and
:func:`collect_fourier_terms` gathers the regulariser (and a pmf sample for the smoothness metric) of every Fourier
head forward inside a block with forward hooks, which trainers add to their loss.
"""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .._validation import check_bool, check_int, check_number
from ..functional import fourier as F

logger = logging.getLogger(__name__)

__all__ = ["FourierHead", "FourierTerms", "check_nyquist", "collect_fourier_terms", "fourier_heads"]

# Rows of each forward's pmf kept for the smoothness metric
_PMF_SAMPLE_ROWS = 64


def check_nyquist(
    num_frequencies: int, num_bins: int, names: tuple[str, str] = ("num_frequencies", "num_bins")
) -> None:
    """Refuse frequencies at or above the Nyquist limit of ``num_bins`` bins: ``N < m / 2`` (``2N + 1 <= m``).

    The paper's construction assumes ``N < m / 2`` (Gillman et al., arXiv 2410.22269, §3.3, Theorem 3.3). The head
    sees its density only at the ``m`` bin centres ``b_j = −1 + (2j + 1) / m``, where ``e^{iπ(m − k) b_j} =
    (−1)^{m+1} conj(e^{iπ k b_j})``: frequency ``m − k`` repeats frequency ``k``. The ``2N + 1`` real functions
    ``1, cos(πk b), sin(πk b)`` (``k = 1..N``) are linearly independent on the centres exactly when ``2N + 1 <= m``;
    at ``N = m / 2`` the cosine of frequency ``N`` vanishes at every centre, and above, frequencies alias lower ones
    (parameters without resolution).

    Args:
        num_frequencies: ``N``.
        num_bins: ``m``.
        names: the two arguments' names, for the error (e.g. a config's fields).

    Raises:
        ValueError: one line naming both values, when ``N >= m / 2``.
    """
    if 2 * num_frequencies >= num_bins:
        raise ValueError(
            f"`{names[0]}`={num_frequencies} must be < `{names[1]}` / 2 = {num_bins / 2:g} (the Nyquist limit of "
            f"{num_bins} bins; arXiv 2410.22269 §3.3 takes N < m/2): use at most {(num_bins - 1) // 2} frequencies "
            f"or at least {2 * num_frequencies + 1} bins."
        )


class FourierHead(nn.Module):
    """Fourier head over ``num_bins`` ordered bins.

    Args:
        in_features (`int`):
            Size of each input row.
        num_bins (`int`):
            Number of ordered output classes ``m`` (equal bins of [-1, 1]).
        num_frequencies (`int`):
            Number of frequencies ``N``; the layer predicts ``N + 1`` complex coefficients. Must be below the
            Nyquist limit, ``N < num_bins / 2`` (`check_nyquist`; the paper uses N = 12 for 50 bins).
        regularization_gamma (`float`, *optional*, defaults to `0.0`):
            Weight ``gamma`` of the smoothness penalty ``gamma * int |f'|^2`` (:meth:`regularization`; the paper uses
            `1e-6`).
        eps (`float`, *optional*, defaults to `1e-5`):
            Added to bin probabilities before the log.
        exact_bin_integration (`bool`, *optional*, defaults to `False`):
            Integrate the density over each bin with the closed-form CDF instead of the paper's midpoint rule.
        allow_aliasing (`bool`, *optional*, defaults to `False`):
            Accept ``N >= num_bins / 2`` (with a warning) instead of refusing it. The released code's frequency sweep
            on Seaquest's 18 actions goes up to N = 32; set this to reproduce it. The frequencies above the limit alias
            lower ones (`check_nyquist`).

    Forward: ``x [..., in_features]`` -> ``log(P + eps) [..., num_bins]`` in **float32** whatever the input dtype or
    autocast state (the Fourier math runs in float32, and float32 log-probabilities are what ``cross_entropy`` /
    ``generate`` want; cast the result yourself if a lower precision is needed). The linear layer itself follows the
    ambient autocast. ``exp(output)`` sums to ``1 + num_bins * eps``.

    Attributes:
        linear: ``nn.Linear(in_features, 2 * (num_frequencies + 1))``; its output is read as the real parts, then the
            imaginary parts of ``a_0..a_N``. Weight and bias are initialised as PyTorch's default divided by 100.
        bin_centers: ``[num_bins]`` buffer (non-persistent, follows ``.to()``).
        basis: ``[2 * num_frequencies, num_bins]`` float32 buffer (non-persistent): ``[cos(pi k b_j); -sin(pi k b_j)]``
            (or the exact-integration basis), so the evaluation at the bin centres is one matmul.
    """

    def __init__(
        self,
        in_features: int,
        num_bins: int,
        num_frequencies: int,
        regularization_gamma: float = 0.0,
        eps: float = 1e-5,
        exact_bin_integration: bool = False,
        allow_aliasing: bool = False,
    ) -> None:
        super().__init__()
        check_int(None, "in_features", value=in_features, low=1)
        check_int(None, "num_bins", value=num_bins, low=2)
        check_int(None, "num_frequencies", value=num_frequencies, low=1)
        check_number(None, "regularization_gamma", value=regularization_gamma, low=0.0)
        check_number(None, "eps", value=eps, low=0.0)
        check_bool(None, "exact_bin_integration", value=exact_bin_integration)
        check_bool(None, "allow_aliasing", value=allow_aliasing)
        if not allow_aliasing:
            check_nyquist(num_frequencies, num_bins)
        elif 2 * num_frequencies >= num_bins:
            warnings.warn(
                f"FourierHead: num_frequencies={num_frequencies} >= num_bins / 2 = {num_bins / 2:g}: frequencies above "
                "the Nyquist limit alias lower ones (allow_aliasing=True).",
                stacklevel=2,
            )
        self.in_features = in_features
        self.num_bins = num_bins
        self.num_frequencies = num_frequencies
        self.regularization_gamma = float(regularization_gamma)
        self.eps = float(eps)
        self.exact_bin_integration = bool(exact_bin_integration)
        self.linear = nn.Linear(in_features, 2 * (num_frequencies + 1))
        with torch.no_grad():
            self.linear.weight.div_(100.0)
            self.linear.bias.div_(100.0)
        self._register_bases(device=None)

    # ------------------------------------------------------------------ buffers
    def _register_bases(self, device: torch.device | str | None) -> None:
        self.register_buffer("bin_centers", F.bin_centers(self.num_bins, device=device), persistent=False)
        basis = F.fourier_bin_basis(
            self.num_bins, self.num_frequencies, exact=self.exact_bin_integration, device=device
        )
        self.register_buffer("basis", basis, persistent=False)  # [2N, m] float32

    def _basis(self) -> Tensor:
        # ``module.to(torch.bfloat16)`` casts floating buffers too; rebuild them in float32 rather than lose precision.
        if self.basis.dtype != torch.float32:
            self._register_bases(device=self.basis.device)
        return self.basis

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_bins={self.num_bins}, num_frequencies={self.num_frequencies}, "
            f"regularization_gamma={self.regularization_gamma}, eps={self.eps}, "
            f"exact_bin_integration={self.exact_bin_integration}"
        )

    # ------------------------------------------------------------------ forward
    def _params(self, x: Tensor) -> Tensor:
        """Linear output upcast to float32: ``[..., 2 (N + 1)]``.

        Without autocast, an input whose dtype differs from the layer's (e.g. bf16 hidden states of a bf16 model
        feeding a float32 head) is cast to the layer's dtype.
        """
        if x.dtype != self.linear.weight.dtype and not torch.is_autocast_enabled(x.device.type):
            x = x.to(self.linear.weight.dtype)
        return self.linear(x).float()

    def _autocorrelation(self, x: Tensor) -> Tensor:
        """Unnormalised autocorrelation ``c [..., N + 1]`` (complex64) of the rows of ``x``."""
        params = self._params(x)  # the linear layer follows the ambient autocast, as in forward
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.fourier_autocorrelation(F.fourier_coefficients(params))

    def _c_tilde(self, x: Tensor) -> Tensor:
        c = self._autocorrelation(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.normalize_autocorrelation(c)

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., in_features]`` -> log bin probabilities ``[..., num_bins]`` (float32)."""
        params = self._params(x)
        basis = self._basis()
        with torch.autocast(device_type=x.device.type, enabled=False):
            log_probs, _ = F.fourier_bin_log_probs(params, basis, exact=self.exact_bin_integration, eps=self.eps)
        return log_probs

    def regularization(self, x: Tensor, gamma: float | None = None) -> Tensor:
        """Smoothness penalty of the head's densities on the rows of ``x [..., in_features]`` (scalar, float32,
        differentiable): ``gamma * 2 * mean_rows sum_{k=0}^{N} 2 pi^2 k^2 |c_k|^2`` (= ``gamma * int |f'|^2``,
        paper Section 3) with the unnormalised autocorrelation ``c``; ``gamma`` defaults to
        ``regularization_gamma``. Add it to the loss of the forward on the same ``x``."""
        gamma = self.regularization_gamma if gamma is None else float(gamma)
        c = self._autocorrelation(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.fourier_regularization(c, gamma)

    # ------------------------------------------------------------------ queries
    def pdf(self, x: Tensor, z: Tensor) -> Tensor:
        """Density ``p(z | x)`` on [-1, 1].

        Shapes: ``x [..., in_features]``; ``z [P]`` (points shared by every row) or ``[..., P]`` (per-row points,
        same leading dims as ``x``) -> ``[..., P]`` float32.
        """
        c_tilde = self._c_tilde(x)
        z = z.to(device=c_tilde.device, dtype=torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            if z.dim() == 1:
                cos_b, sin_b = F.fourier_bases(z, self.num_frequencies)
                return F.fourier_density(c_tilde, cos_b, sin_b)
            return F.fourier_density_at(c_tilde, z)

    def cdf(self, x: Tensor, z: Tensor) -> Tensor:
        """CDF ``F(z | x) = P(Z <= z)`` on [-1, 1]. Shapes as in :meth:`pdf`."""
        c_tilde = self._c_tilde(x)
        z = z.to(device=c_tilde.device, dtype=torch.float32)
        if z.dim() == 1:
            z = z.expand(*c_tilde.shape[:-1], z.shape[0])
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.fourier_cdf(c_tilde, z)

    @torch.no_grad()
    def sample(self, x: Tensor, continuous: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """One sample per input row.

        ``continuous=False``: bin indices ``[...]`` (``torch.long``) drawn from the bin probabilities.
        ``continuous=True``: values ``[...]`` in [-1, 1] drawn from the density by inverse-CDF bisection.
        """
        lead = x.shape[:-1]
        if continuous:
            c_tilde = self._c_tilde(x).reshape(-1, self.num_frequencies + 1)
            with torch.autocast(device_type=x.device.type, enabled=False):
                values = F.sample_fourier_continuous(c_tilde, generator=generator)
            return values.reshape(lead)
        probs = self.forward(x).exp().reshape(-1, self.num_bins)
        idx = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return idx.reshape(lead)


# --------------------------------------------------------------------------------------------------------------------
# Collecting the regulariser of the forwards of a block
# --------------------------------------------------------------------------------------------------------------------


def fourier_heads(model: nn.Module) -> list[FourierHead]:
    """Every :class:`FourierHead` inside ``model`` (PEFT wrappers and numeric heads included)."""
    return [m for m in model.modules() if isinstance(m, FourierHead)]


class FourierTerms:
    """What :func:`collect_fourier_terms` gathered, per head: the regulariser and a pmf sample of each forward."""

    def __init__(self, gamma: float | None = None) -> None:
        self.gamma = gamma
        self._terms: dict[int, list[Tensor]] = defaultdict(list)
        self._pmfs: dict[int, list[Tensor]] = defaultdict(list)

    def _record(self, head: FourierHead, args: tuple, output: Tensor) -> None:
        gamma = head.regularization_gamma if self.gamma is None else self.gamma
        if gamma > 0:
            self._terms[id(head)].append(head.regularization(args[0], gamma))
        self._pmfs[id(head)].append(output.detach().reshape(-1, head.num_bins)[:_PMF_SAMPLE_ROWS].exp())

    def regularization(self) -> Tensor | None:
        """Sum over heads of the mean over that head's forwards in the block (chunks of one batch), float32 scalar with
        gradients; ``None`` when no head with ``gamma > 0`` ran."""
        per_head = [torch.stack([t.float() for t in ts]).mean() for ts in self._terms.values() if ts]
        return torch.stack(per_head).sum() if per_head else None

    def smoothness(self) -> float | None:
        """Smoothness ``s(P)`` of the recorded bin pmfs (up to 64 rows per forward): mean over rows, then over heads;
        ``None`` when no head ran on a row."""
        from ..metrics.smoothness import smoothness

        rows = [torch.cat(p) for p in self._pmfs.values() if p]
        values = [smoothness(r.float()).mean().item() for r in rows if r.shape[0] > 0]
        return sum(values) / len(values) if values else None


@contextmanager
def collect_fourier_terms(model: nn.Module, gamma: float | None = None) -> Iterator[FourierTerms]:
    """Record the regulariser and a pmf sample of every :class:`FourierHead` forward inside ``model`` that runs in
    the block (forward hooks, removed on exit; nothing is stored on the heads).

    Args:
        model: the model (or a head) whose Fourier heads are watched.
        gamma: regularisation weight for every head; ``None`` uses each head's ``regularization_gamma``.
    """
    if gamma is not None and not gamma >= 0:
        raise ValueError(f"`gamma` must be >= 0 or None, got {gamma!r}.")
    terms = FourierTerms(gamma)
    handles = [
        head.register_forward_hook(lambda module, args, output: terms._record(module, args, output))
        for head in fourier_heads(model)
    ]
    try:
        yield terms
    finally:
        for handle in handles:
            handle.remove()
