"""The demo's learning-rate sweep: every method at several learning rates on tuning seeds, one rate chosen per method.

Declared before any sweep result was seen (issue 26), and not to be changed after:

- **Candidates** (`SWEEP_LEARNING_RATES`): 5e-5, 1.5e-4, 5e-4, 1.5e-3 — four rates spanning 30x, half a decade apart,
  with the demo's former shared rate (5e-4) among them.
- **Tuning seeds** (`TUNING_SEEDS`): 100, 101, 102, run seeds the default demo never uses, and a tuning held-out set
  (`TUNING_EVAL_DATA_SEED` = 3000) other than the demo's evaluation prompts (2000). Everything else is the demo's
  default regime (`DEFAULT_REGIME`: task, warm start, steps, batch, temperature, evaluation size).
- **Criterion** (`sweep_criterion`): the mean held-out pass@k over k in {1, 2, 4, 8, 16, 32} at the end of training
  (the area under the pass@k curve on a log-k axis: it rewards precision and coverage alike), averaged over the tuning
  seeds.
- **Collapse rule**: a rate is ineligible when its end-of-training pass@1 is below the base model's pass@1 (the same
  seeds' start evaluation) by more than 2 standard errors of the paired difference across the tuning seeds.
- **Choice** (`choose_learning_rates`): the eligible rate with the highest criterion; an exact tie goes to the smaller
  rate. When no rate is eligible, the highest criterion among all rates is taken and the choice is flagged
  (``collapsed=True``), and the report says so for that method.

``python benchmarks/demo_sweep.py`` runs it (resumable: each learning rate's runs are saved as they finish) and writes
``sweep.json``, ``sweep.csv`` and ``sweep.png`` (the criterion against the learning rate per method, with a band of one
standard error across the tuning seeds).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .stats import mean_se, paired_difference

__all__ = [
    "PASS_AT_K_GRID",
    "SWEEP_LEARNING_RATES",
    "TUNING_EVAL_DATA_SEED",
    "TUNING_SEEDS",
    "RateChoice",
    "SweepCell",
    "choose_learning_rates",
    "plot_sweep",
    "run_sweep",
    "sweep_criterion",
]

SWEEP_LEARNING_RATES: tuple[float, ...] = (5e-5, 1.5e-4, 5e-4, 1.5e-3)
TUNING_SEEDS: tuple[int, ...] = (100, 101, 102)
TUNING_EVAL_DATA_SEED = 3000
PASS_AT_K_GRID: tuple[int, ...] = (1, 2, 4, 8, 16, 32)


def sweep_criterion(row: dict[str, float], k_grid: Sequence[int] = PASS_AT_K_GRID) -> float:
    """Mean of ``pass@k`` over ``k_grid`` in one evaluation row: (1/|K|) Σ_{k∈K} pass@k.

    Example: pass@1 = 0.2, pass@2 = 0.3, pass@4 = 0.4 with K = (1, 2, 4) gives (0.2 + 0.3 + 0.4) / 3 = 0.3.
    """
    missing = [k for k in k_grid if f"pass@{k}" not in row]
    if missing:
        raise KeyError(f"the evaluation row has no pass@k for k = {missing} (keys: {sorted(row)})")
    return sum(float(row[f"pass@{k}"]) for k in k_grid) / len(k_grid)


@dataclass(frozen=True)
class SweepCell:
    """One run of the sweep: a method at one learning rate with one tuning seed."""

    method: str
    learning_rate: float
    seed: int
    criterion: float
    pass1_start: float
    pass1_end: float


@dataclass(frozen=True)
class RateChoice:
    """A method's chosen learning rate and why.

    Attributes:
        method (`str`): the method.
        learning_rate (`float`): the chosen rate.
        criterion (`float`): its mean criterion over the tuning seeds.
        criterion_se (`float`): the standard error of that mean across seeds.
        ineligible (`tuple[float, ...]`): rates excluded by the collapse rule.
        collapsed (`bool`): every rate was ineligible (the choice is the best of them all, flagged).
    """

    method: str
    learning_rate: float
    criterion: float
    criterion_se: float
    ineligible: tuple[float, ...]
    collapsed: bool


def _by(cells: Iterable[SweepCell], method: str, rate: float) -> list[SweepCell]:
    return sorted((c for c in cells if c.method == method and c.learning_rate == rate), key=lambda c: c.seed)


def choose_learning_rates(cells: Sequence[SweepCell]) -> dict[str, RateChoice]:
    """Apply the declared rule (module docstring) to every method of ``cells``."""
    choices: dict[str, RateChoice] = {}
    for method in dict.fromkeys(c.method for c in cells):
        rates = sorted({c.learning_rate for c in cells if c.method == method})
        scored, ineligible = [], []
        for rate in rates:
            runs = _by(cells, method, rate)
            summary = mean_se([c.criterion for c in runs])
            drop = paired_difference([c.pass1_end for c in runs], [c.pass1_start for c in runs])
            collapsed = drop.n >= 2 and math.isfinite(drop.se) and drop.mean < -2.0 * drop.se
            if collapsed:
                ineligible.append(rate)
            scored.append((rate, summary, collapsed))
        pool = [s for s in scored if not s[2]] or scored
        best = max(pool, key=lambda s: (s[1].mean, -s[0]))  # highest criterion; an exact tie -> smaller rate
        choices[method] = RateChoice(
            method=method,
            learning_rate=best[0],
            criterion=best[1].mean,
            criterion_se=best[1].se,
            ineligible=tuple(ineligible),
            collapsed=len(ineligible) == len(rates),
        )
    return choices


def _k_grid(k: int) -> tuple[int, ...]:
    """The powers of two up to ``k`` (``PASS_AT_K_GRID`` at the demo's k = 32)."""
    return tuple(2**i for i in range(k.bit_length()) if 2**i <= k)


def _cells_of(run: Any, learning_rate: float) -> list[SweepCell]:
    grid = _k_grid(run.settings.k)
    cells = []
    for result in run.results:
        end, start = result.final_eval, run.start_evals[result.seed]
        if not end:
            raise ValueError(f"{result.method} seed {result.seed}: no evaluation at the end of training")
        cells.append(
            SweepCell(
                method=result.method,
                learning_rate=learning_rate,
                seed=result.seed,
                criterion=sweep_criterion(end, grid),
                pass1_start=float(start["pass@1"]),
                pass1_end=float(end["pass@1"]),
            )
        )
    return cells


def run_sweep(
    output_dir: str | os.PathLike,
    *,
    methods: Sequence[str] | None = None,
    learning_rates: Sequence[float] = SWEEP_LEARNING_RATES,
    seeds: Sequence[int] = TUNING_SEEDS,
    workers: int | None = None,
    show_progress: bool = True,
    **regime: Any,
) -> dict[str, RateChoice]:
    """Train every method at every rate on the tuning seeds, choose a rate per method, write the outputs.

    Each learning rate's runs are written to ``<output_dir>/lr_<rate>.json`` as soon as they finish, and an existing
    file is read back instead of training again: an interrupted sweep resumes where it stopped.

    Args:
        output_dir: folder of the sweep's files (created).
        methods: demo method names (default: the default demo's methods).
        learning_rates: the candidates (default: the declared `SWEEP_LEARNING_RATES`).
        seeds: consecutive tuning seeds (default: the declared `TUNING_SEEDS`).
        workers: worker processes (default: the demo's choice).
        show_progress: the demo's progress bar and evaluation lines.
        **regime: other `DemoSettings` fields (e.g. ``steps`` for a quick check); the declared sweep uses none.
    """
    from .runner import DemoSettings, collect

    seeds = list(seeds)
    if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError(f"`seeds` must be consecutive integers, got {seeds}.")
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    regime.setdefault("eval_data_seed", TUNING_EVAL_DATA_SEED)
    cells: list[SweepCell] = []
    for rate in learning_rates:
        path = folder / f"lr_{rate:.2e}.json"
        settings = DemoSettings(
            methods=list(methods or []),
            seed=seeds[0],
            seeds=len(seeds),
            learning_rate=float(rate),
            workers=workers,
            show_progress=show_progress,
            output_dir=str(folder),
            **regime,
        )
        # the settings that decide the numbers (the default float path is left out: files written before the field
        # existed keep matching)
        key = {
            k: v
            for k, v in asdict(settings).items()
            if k not in ("workers", "show_progress", "output_dir") and (k, v) != ("float_path", "default")
        }
        if path.is_file() and json.loads(path.read_text()).get("settings") == key:
            saved = json.loads(path.read_text())
            cells += [SweepCell(**c) for c in saved["cells"]]
            continue
        run = collect(settings)
        new = _cells_of(run, float(rate))
        cells += new
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "settings": key,
                    "cells": [asdict(c) for c in new],
                    "wall_seconds": run.total_seconds,
                    "cpu_seconds": run.cpu_seconds,
                },
                indent=1,
            )
        )
        os.replace(tmp, path)
    choices = choose_learning_rates(cells)
    _write_outputs(folder, cells, choices)
    return choices


def _write_outputs(folder: Path, cells: Sequence[SweepCell], choices: dict[str, RateChoice]) -> None:
    with open(folder / "sweep.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(SweepCell.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(c) for c in cells)
    (folder / "sweep.json").write_text(
        json.dumps(
            {"choices": {m: asdict(c) for m, c in choices.items()}, "cells": [asdict(c) for c in cells]}, indent=1
        )
    )
    plot_sweep(cells, choices, folder / "sweep.png")


def plot_sweep(cells: Sequence[SweepCell], choices: dict[str, RateChoice], path: str | os.PathLike) -> None:
    """The criterion against the learning rate (log axis), one line per method with a ±1 SE band across seeds; the
    chosen rate is ringed, a rate excluded by the collapse rule crossed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), constrained_layout=True)
    for method, choice in choices.items():
        rates = sorted({c.learning_rate for c in cells if c.method == method})
        stats = [mean_se([c.criterion for c in _by(cells, method, r)]) for r in rates]
        means = [s.mean for s in stats]
        ses = [s.se if math.isfinite(s.se) else 0.0 for s in stats]
        (line,) = ax.plot(rates, means, marker="o", label=method)
        ax.fill_between(
            rates,
            [m - s for m, s in zip(means, ses)],
            [m + s for m, s in zip(means, ses)],
            color=line.get_color(),
            alpha=0.15,
        )
        ax.scatter([choice.learning_rate], [choice.criterion], s=160, facecolors="none", edgecolors=line.get_color())
        for rate in choice.ineligible:
            ax.scatter([rate], [means[rates.index(rate)]], marker="x", s=70, color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("mean held-out pass@k, k = 1 … 32")
    ax.set_title(
        "Learning-rate sweep on the tuning seeds\n(ring: chosen rate; x: pass@1 collapsed below the base model)",
        fontsize=10,
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)
