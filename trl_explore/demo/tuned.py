"""Each demo method's learning rate: the one table the default `trl-explore demo` trains with (issue 26).

Methods that change the scale or the sign balance of the gradient (NSR, W-REINFORCE, GRPO-N drop or shrink the
positive samples) need their own learning rate; the papers compare each method at a tuned rate. The table is filled
from the declared learning-rate sweep (`trl_explore.demo.sweep`: candidates, tuning seeds, criterion and rules fixed
before any result was seen), by `rates_from_sweep` on the sweep's ``sweep.json``.

A plain `trl-explore demo` trains every method at its rate here; ``--learning-rate`` (`DemoSettings.learning_rate`)
trains every method at that one shared rate instead. A method without an entry (`psr`, a method added with
`register_method`) trains at GRPO's rate.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .methods import BASELINE

__all__ = [
    "TUNED_COLLAPSED",
    "TUNED_COMMAND",
    "TUNED_DATE",
    "TUNED_LEARNING_RATES",
    "TUNED_PROVISIONAL",
    "TUNED_SWEEP_JSON",
    "collapse_note",
    "collapsed_from_sweep",
    "learning_rate_of",
    "rates_from_sweep",
]

TUNED_COMMAND = "python benchmarks/demo_sweep.py"
"""The command that ran the declared sweep (its ``sweep.json`` fills the table)."""

TUNED_SWEEP_JSON = "docs/img/demo_sweep/sweep.json"
"""Where the finished sweep's ``sweep.json`` is kept in the repository, next to the docs' figure ``sweep.png``
(relative to the repository root); `tests/demo/test_tuned.py` checks the table against it once it is there."""

# From the declared sweep run on 2026-12-07 (`python benchmarks/demo_sweep.py`; its sweep.json, sweep.csv and
# sweep.png are in docs/img/demo_sweep/): `rates_from_sweep` and `collapsed_from_sweep` on that sweep.json.
TUNED_PROVISIONAL = False
TUNED_DATE: str | None = "2026-12-07"
TUNED_LEARNING_RATES: dict[str, float] = {
    "grpo": 5e-5,
    "lp_reg": 1.5e-4,
    "grpo_n": 5e-5,
    "nsr": 5e-5,
    "w_reinforce": 5e-5,
    "hapo": 5e-5,
    "spear": 5e-5,
}
TUNED_COLLAPSED: tuple[str, ...] = ()
"""Methods for which the sweep found no candidate rate that kept pass@1 from falling below the base model's (its
collapse rule flagged every rate): `collapsed_from_sweep`. The report says so for them."""


def rates_from_sweep(path: str | os.PathLike) -> dict[str, float]:
    """The chosen learning rate per method from a finished sweep's ``sweep.json`` (written by
    `trl_explore.demo.sweep.run_sweep`: ``{"choices": {method: {"learning_rate": ..., ...}}, "cells": [...]}``)."""
    data: Any = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("choices"), dict) or not data["choices"]:
        raise ValueError(f"{path} is not a finished sweep's sweep.json: no `choices` per method.")
    rates = {}
    for method, choice in data["choices"].items():
        rate = choice.get("learning_rate") if isinstance(choice, dict) else None
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ValueError(f"{path}: method {method!r} has learning_rate {rate!r}; expected a number in (0, 1].")
        rates[method] = float(rate)
    return rates


def collapsed_from_sweep(path: str | os.PathLike) -> tuple[str, ...]:
    """The methods a finished sweep flagged ``collapsed`` (every candidate rate ineligible), in its order."""
    data: Any = json.loads(Path(path).read_text())
    choices = data.get("choices", {}) if isinstance(data, dict) else {}
    return tuple(m for m, choice in choices.items() if isinstance(choice, dict) and choice.get("collapsed"))


def collapse_note(shared: float | None, method: str) -> str:
    """A sentence for the report when `method` trains at its tuned rate and the sweep found that every candidate rate
    pulled its pass@1 below the base model's; else ``""``."""
    if shared is not None or method not in TUNED_COLLAPSED:
        return ""
    return (
        " In the learning-rate sweep every candidate rate pulled its pass@1 below the base model's (beyond 2 "
        "standard errors); it trains at the best of them."
    )


def learning_rate_of(shared: float | None, method: str) -> float:
    """The learning rate `method` trains at: `shared` when given (``--learning-rate``: every method alike), else its
    `TUNED_LEARNING_RATES` entry, else GRPO's."""
    if shared is not None:
        return float(shared)
    return TUNED_LEARNING_RATES.get(method, TUNED_LEARNING_RATES[BASELINE])
