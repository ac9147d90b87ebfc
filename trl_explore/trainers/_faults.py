"""Faults a training run survives, and the counts the trainers log for them (``docs/robustness.md``).

Reward functions are user code run on untrusted model text at every step; what they return is checked here, once,
for every trainer of the `ExploreGRPOTrainer` family:

==================================  ===================================================================================
a reward function ...               what happens
==================================  ===================================================================================
raises                              the run stops with the function's own exception, annotated with the function's
                                    name and the global step (an error in a reward is a bug that would otherwise
                                    train on garbage; return ``None`` to skip a completion instead)
returns a non-numeric value         ``TypeError`` naming the function, the completion index and the value
(a string, a list, ...)
returns ``None`` or NaN             TRL's contract: that function skips that completion; counted
                                    (``faults/reward_skipped``)
returns ``+inf`` / ``-inf``         treated as ``None`` (skipped), one warning per generation batch, counted
                                    (``faults/reward_nonfinite``): an infinite reward would make every advantage of its
                                    group NaN or infinite
skips a completion in every         the completion is unscorable: advantage 0, out of the group statistics (TRL);
function                            counted (``faults/unscorable_completions``); a generation batch in which every
                                    completion is unscorable trains on nothing and logs a warning
==================================  ===================================================================================

The counts are per generation batch over all processes (the rewards are gathered by TRL before they are screened).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

import torch

logger = logging.getLogger(__name__)

__all__ = [
    "EMPTY_COMPLETIONS",
    "EMPTY_MICRO_BATCHES",
    "FAULT_METRICS",
    "REWARD_NONFINITE",
    "REWARD_SKIPPED",
    "UNSCORABLE",
    "RewardScreen",
    "check_reward_values",
    "guard_reward_function",
    "screen_rewards",
]

# Metric names (one value per generation batch, or per micro-batch for EMPTY_MICRO_BATCHES, over all processes)
REWARD_SKIPPED = "faults/reward_skipped"  # reward values that were None or NaN (a function skipped a completion)
REWARD_NONFINITE = "faults/reward_nonfinite"  # +/-inf reward values, treated as None
UNSCORABLE = "faults/unscorable_completions"  # completions every reward function skipped: advantage 0
EMPTY_COMPLETIONS = "faults/empty_completions"  # completions without a single loss token (all masked)
EMPTY_MICRO_BATCHES = "faults/empty_micro_batches"  # micro-batches without a loss token, summed over processes: loss 0
FAULT_METRICS = (REWARD_SKIPPED, REWARD_NONFINITE, UNSCORABLE, EMPTY_COMPLETIONS, EMPTY_MICRO_BATCHES)


def _scalar(value: Any) -> Any:
    """A 0-d / one-element tensor or a numpy scalar as a Python number; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        return item()
    return value


def check_reward_values(name: str, output: Any) -> list[float | None]:
    """The values of one reward function's output as floats (``None`` kept: TRL's "skip this completion").

    Accepts a list, tuple, 1-D tensor or 1-D numpy array of numbers (bool, int, float, numpy / one-element tensor
    scalars) and ``None``; raises a `TypeError` naming the function, the completion index and the value otherwise.
    The length is TRL's to check (its error names the expected count)."""
    if isinstance(output, torch.Tensor) or type(output).__module__ == "numpy":
        if getattr(output, "ndim", 1) != 1:
            raise TypeError(
                f"Reward function {name!r} returned an array of shape {tuple(output.shape)}; it must return one value "
                "per completion (a list of floats, None to skip a completion)."
            )
        output = output.tolist()
    if isinstance(output, (str, bytes)) or not isinstance(output, Sequence):
        raise TypeError(
            f"Reward function {name!r} returned {type(output).__name__}; it must return a list with one float per "
            "completion (None to skip a completion)."
        )
    values: list[float | None] = []
    for i, value in enumerate(output):
        value = _scalar(value)
        if value is None:
            values.append(None)
        elif isinstance(value, Real):
            values.append(float(value))
        else:
            raise TypeError(
                f"Reward function {name!r} returned a non-numeric value for completion {i}: {value!r} "
                f"({type(value).__name__}); return a float, or None to skip the completion."
            )
    return values


def _annotate(err: BaseException, name: str, step: int, count: int) -> None:
    note = f"(raised by reward function {name!r} at global step {step}, on {count} completions of this process)"
    if hasattr(err, "add_note"):  # Python >= 3.11
        err.add_note(note)
    else:  # pragma: no cover - Python 3.10
        logger.error("Reward function %r raised %s at global step %d.", name, type(err).__name__, step)


def guard_reward_function(func: Callable, name: str, step: Callable[[], int], is_async: bool) -> Callable:
    """``func`` with its output checked (`check_reward_values`) and its exceptions annotated with its name and the
    global step (then re-raised: an exception in a reward function stops the run). ``is_async``: ``func`` returns a
    coroutine (TRL awaits it), and so does the guard."""
    if is_async:

        @functools.wraps(func)
        async def guarded_async(*args: Any, **kwargs: Any) -> list[float | None]:
            try:
                output = await func(*args, **kwargs)
            except Exception as err:
                _annotate(err, name, step(), len(kwargs.get("completions") or ()))
                raise
            return check_reward_values(name, output)

        return guarded_async

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> list[float | None]:
        try:
            output = func(*args, **kwargs)
        except Exception as err:
            _annotate(err, name, step(), len(kwargs.get("completions") or ()))
            raise
        return check_reward_values(name, output)

    return guarded


class RewardScreen:
    """Counts of one generation batch's reward faults (global: computed on the gathered rewards)."""

    def __init__(self, skipped: int, nonfinite: int, unscorable: int, total: int) -> None:
        self.skipped, self.nonfinite, self.unscorable, self.total = skipped, nonfinite, unscorable, total

    def metrics(self) -> dict[str, float]:
        return {
            REWARD_SKIPPED: float(self.skipped),
            REWARD_NONFINITE: float(self.nonfinite),
            UNSCORABLE: float(self.unscorable),
        }


def screen_rewards(
    rewards_per_func: torch.Tensor, names: Sequence[str], warn: bool = True
) -> tuple[torch.Tensor, RewardScreen]:
    """``rewards_per_func`` (``[N, F]``, gathered) with ``±inf`` replaced by NaN (skipped), and the fault counts.

    ``warn``: log the warnings (the main process only, the counts being identical everywhere)."""
    infinite = torch.isinf(rewards_per_func)
    nonfinite = int(infinite.sum())
    if nonfinite:
        rewards_per_func = rewards_per_func.masked_fill(infinite, math.nan)
        if warn:
            per_func = {name: int(n) for name, n in zip(names, infinite.sum(0).tolist()) if n}
            logger.warning(
                "Reward functions returned +/-inf (treated as None, the completion skipped by that function): %s of "
                "%d completions. Return None to skip a completion, or a finite value.",
                per_func,
                rewards_per_func.size(0),
            )
    missing = torch.isnan(rewards_per_func)
    unscorable = missing.all(dim=1) if rewards_per_func.size(1) else torch.zeros(0, dtype=torch.bool)
    screen = RewardScreen(
        skipped=int(missing.sum()) - nonfinite,
        nonfinite=nonfinite,
        unscorable=int(unscorable.sum()),
        total=rewards_per_func.size(0),
    )
    if warn and screen.total and screen.unscorable == screen.total:
        logger.warning(
            "Every completion of this generation batch (%d) is unscorable (each reward function returned None, NaN or "
            "inf): their advantages are 0 and this batch trains on nothing. Check the reward functions.",
            screen.total,
        )
    return rewards_per_func, screen
