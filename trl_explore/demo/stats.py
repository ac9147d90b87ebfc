"""Paired statistics across seeds: every method runs with the same seeds as GRPO, so method and baseline are compared
seed by seed and the seed-to-seed noise they share cancels.

For seeds s = 1..n with a method's value x_s and the baseline's value y_s:

    d_s  = x_s - y_s
    mean = (1/n) Σ d_s
    se   = sqrt( Σ (d_s - mean)² / (n - 1) ) / sqrt(n)        (sample standard deviation / sqrt(n); nan for n < 2)

A difference is called *resolved* when the two-sided 95% paired t-interval excludes zero:

    |mean| > t_{0.975, n-1} · se

with t_{0.975, n-1} the Student-t quantile at n - 1 degrees of freedom (`t_critical`: 12.706 at n = 2, 4.303 at n = 3,
2.776 at n = 5, 1.960 as n grows). This is the paired t-test at the 5% level: it assumes the per-seed differences are
roughly normal, and with few seeds it needs a large effect (4.3 standard errors at 3 seeds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

CONFIDENCE = 0.95
"""Two-sided confidence level of the interval that decides *resolved*."""


def t_two_sided_probability(t: float, dof: int) -> float:
    """P(|T| <= t) for Student's t with `dof` degrees of freedom, in closed form (Abramowitz & Stegun 26.7.3-4).

    With θ = atan(t / sqrt(ν)), c = cos θ, s = sin θ:

        ν odd:  A = (2/π) · (θ + s · (c + (2/3) c³ + (2·4)/(3·5) c⁵ + ...
                                    + (2·4···(ν-3))/(3·5···(ν-2)) c^(ν-2)))
                (for ν = 1 only the θ term: A = 2θ/π)
        ν even: A = s · (1 + (1/2) c² + (1·3)/(2·4) c⁴ + ... + (1·3···(ν-3))/(2·4···(ν-2)) c^(ν-2))

    Example: ν = 2 gives A = s = t / sqrt(2 + t²).
    """
    if isinstance(dof, bool) or not isinstance(dof, int) or dof < 1:
        raise ValueError(f"`dof` must be an integer >= 1, got {dof!r}.")
    if t <= 0:
        return 0.0
    theta = math.atan(t / math.sqrt(dof))
    c, s = math.cos(theta), math.sin(theta)
    if dof % 2 == 1:
        total, term = 0.0, c
        for j in range(1, (dof - 1) // 2 + 1):  # terms c, (2/3) c³, ...: (dof - 1) / 2 of them
            total += term
            term *= (2 * j) / (2 * j + 1) * c * c
        return min(1.0, 2.0 / math.pi * (theta + s * total))
    total, term = 0.0, 1.0
    for j in range(1, dof // 2 + 1):  # terms 1, (1/2) c², ...: dof / 2 of them
        total += term
        term *= (2 * j - 1) / (2 * j) * c * c
    return min(1.0, s * total)


@lru_cache(maxsize=128)
def t_critical(dof: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student-t critical value t with P(|T| <= t) = `confidence` at `dof` degrees of freedom, by
    bisection on `t_two_sided_probability` (no scipy at run time).

    Examples: dof 1 -> tan(0.475 π) = 12.706; dof 2 -> solving t / sqrt(2 + t²) = 0.95 gives t² = 1.805 / 0.0975,
    t = 4.303; dof 4 -> 2.776; large dof -> the normal 1.960.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence}.")
    low, high = 0.0, 1.0
    while t_two_sided_probability(high, dof) < confidence:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if mid in (low, high):
            break
        if t_two_sided_probability(mid, dof) < confidence:
            low = mid
        else:
            high = mid
    return high


@dataclass(frozen=True)
class PairedDifference:
    """Mean of per-seed values (or of paired differences) and its standard error across seeds.

    Attributes:
        mean (`float`): the mean.
        se (`float`): standard error of the mean (`nan` with fewer than 2 seeds).
        n (`int`): number of seeds.
    """

    mean: float
    se: float
    n: int

    @property
    def half_width(self) -> float:
        """Half-width of the two-sided 95% t-interval, t_{0.975, n-1} · se (`nan` with fewer than 2 seeds)."""
        return t_critical(self.n - 1) * self.se if self.n >= 2 and math.isfinite(self.se) else float("nan")

    @property
    def resolved(self) -> bool:
        """Whether the 95% t-interval excludes zero, |mean| > t_{0.975, n-1} · se (never with fewer than 2 seeds,
        never for a zero spread with a zero mean)."""
        return math.isfinite(self.half_width) and abs(self.mean) > self.half_width

    def format(self, digits: int = 3) -> str:
        """``+0.050 ± 0.010`` (the ± is one standard error)."""
        se = "n/a" if not math.isfinite(self.se) else f"{self.se:.{digits}f}"
        return f"{self.mean:+.{digits}f} ± {se}"


def mean_se(values: Sequence[float]) -> PairedDifference:
    """Mean and standard error of `values` (one value per seed). Shapes: `values` [n] -> scalars.

    Example: ``mean_se([1.0, 2.0, 3.0])`` -> mean 2, sample sd 1, se 1/sqrt(3) = 0.5774.
    """
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("`values` must hold at least one value, got an empty sequence.")
    if not all(math.isfinite(v) for v in xs):
        raise ValueError(f"`values` must be finite, got {xs}.")
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return PairedDifference(mean, float("nan"), n)
    var = sum((v - mean) ** 2 for v in xs) / (n - 1)
    return PairedDifference(mean, math.sqrt(var / n), n)


def paired_difference(values: Sequence[float], baseline: Sequence[float]) -> PairedDifference:
    """Paired difference ``values - baseline`` across seeds (same seed at the same position): mean ± standard error.

    Shapes: `values` [n], `baseline` [n] -> scalars. Formula in the module docstring.

    Example: method (0.30, 0.40, 0.35) vs baseline (0.25, 0.30, 0.32): differences (0.05, 0.10, 0.03), mean 0.06,
    sample sd sqrt(((-0.01)² + 0.04² + (-0.03)²) / 2) = sqrt(0.0013) = 0.03606, se 0.03606 / sqrt(3) = 0.02082.
    """
    if len(values) != len(baseline):
        raise ValueError(
            f"`values` and `baseline` must hold one value per seed each, got {len(values)} and {len(baseline)}."
        )
    return mean_se([float(a) - float(b) for a, b in zip(values, baseline)])
