"""The quantities the demo compares methods on: what a method "targets" (`DemoMethod.targets`) refers to these keys.

Each quantity reads one number per run (a method trained with one seed) at the start and at the end of training:
held-out pass@1 / pass@k from the evaluations, policy entropy and the share of low-probability sampled tokens from the
training logs (mean over the first / last tenth of the steps, at least one step). Adding a quantity is one entry in
`QUANTITIES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LOW_PROB_PREFIX = "exploration/frac_prob_lt_"


def low_prob_key(threshold: float) -> str:
    """Log key of `ExplorationDiagnosticsCallback`'s share of sampled tokens with probability below `threshold`."""
    return f"{LOW_PROB_PREFIX}{threshold:g}"


def window(steps: int) -> int:
    """Steps averaged for a "start" / "end" value of a training-log quantity: a tenth of the run, at least 1."""
    return max(1, round(steps / 10))


def series(logs: Sequence[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    """``(steps, values)`` of `key` in per-step logs (entries without the key are skipped)."""
    pts = [(e["step"], e[key]) for e in logs if key in e and "step" in e and math.isfinite(e[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def _log_mean(run: Any, key: str, at_end: bool) -> float:
    _, values = series(run.logs, key)
    if not values:
        return float("nan")
    w = window(len(values))
    chunk = values[-w:] if at_end else values[:w]
    return sum(chunk) / len(chunk)


@dataclass(frozen=True)
class Quantity:
    """A number read from a run at its start and its end.

    Args:
        key (`str`): name used in `DemoMethod.targets`.
        label (`Callable[[settings], str]`): label in tables and plots (may depend on the settings, e.g. pass@32).
        unit (`str`): unit or kind of value (axis label).
        read (`Callable[[run, settings, at_end], float]`): the value.
        direction (`str`): what a higher value means, in words.
        intended (`int`): the direction a method targeting this quantity means to move it relative to GRPO: `+1`
            (raise it: more exploration kept) or `-1`.
    """

    key: str
    label: Callable[[Any], str]
    unit: str
    read: Callable[[Any, Any, bool], float]
    direction: str
    intended: int = 1

    def start(self, run: Any, settings: Any) -> float:
        return self.read(run, settings, False)

    def end(self, run: Any, settings: Any) -> float:
        return self.read(run, settings, True)


def _pass_at(k_of: Callable[[Any], int]) -> Callable[[Any, Any, bool], float]:
    def read(run: Any, settings: Any, at_end: bool) -> float:
        row = run.final_eval if at_end else run.start_eval
        return float(row.get(f"pass@{k_of(settings)}", float("nan"))) if row else float("nan")

    return read


QUANTITIES: dict[str, Quantity] = {
    q.key: q
    for q in [
        Quantity(
            key="pass@1",
            label=lambda s: "pass@1",
            unit="fraction",
            read=_pass_at(lambda s: 1),
            direction="more held-out problems solved per sample",
        ),
        Quantity(
            key="pass@k",
            label=lambda s: f"pass@{s.k}",
            unit="fraction",
            read=_pass_at(lambda s: s.k),
            direction="more held-out problems solved by at least one of k samples (the capability boundary)",
        ),
        Quantity(
            key="entropy",
            label=lambda s: "entropy",
            unit="nats / token",
            read=lambda run, s, at_end: _log_mean(run, "entropy", at_end),
            direction="a less peaked policy",
        ),
        Quantity(
            key="low_prob_share",
            label=lambda s: f"share p<{s.low_prob_threshold:g}",
            unit="share of sampled tokens",
            read=lambda run, s, at_end: _log_mean(run, low_prob_key(s.low_prob_threshold), at_end),
            direction="more low-probability tokens still sampled",
        ),
    ]
}
