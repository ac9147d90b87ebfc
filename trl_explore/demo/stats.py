"""Paired statistics across seeds: every method runs with the same seeds as GRPO, so method and baseline are compared
seed by seed and the seed-to-seed noise they share cancels.

For seeds s = 1..n with a method's value x_s and the baseline's value y_s:

    d_s  = x_s - y_s
    mean = (1/n) Σ d_s
    se   = sqrt( Σ (d_s - mean)² / (n - 1) ) / sqrt(n)        (sample standard deviation / sqrt(n); nan for n < 2)

A difference is called *resolved* when |mean| > 2 · se. With 3 seeds this is a lenient screen (a two-sided 95%
t-interval needs |mean| > 4.30 · se at 2 degrees of freedom); the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

RESOLVED_SE = 2.0


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
    def resolved(self) -> bool:
        """Whether |mean| > 2 · se (never with fewer than 2 seeds, never for a zero spread with a zero mean)."""
        return self.n >= 2 and math.isfinite(self.se) and abs(self.mean) > RESOLVED_SE * self.se

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
