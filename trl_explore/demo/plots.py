"""The demo report's figures: the overview, pass@k over k, training curves and the methods' mechanisms.

Each ``plot_*`` function draws from a finished run (`trl_explore.demo.runner.DemoRun`) and writes one PNG; the report
(`trl_explore.demo.report`) lists them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .methods import BASELINE, METHODS
from .quantities import low_prob_key, series, window
from .stats import mean_se

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------------- plots
def _colors(run: Any) -> dict[str, str]:
    palette = [f"C{i}" for i in range(10)]
    order = [m for m in METHODS if m != BASELINE]
    return {m.name: "black" if m.name == BASELINE else palette[order.index(m.name) % 10] for m in run.methods}


def _smooth(values: Sequence[float], w: int) -> list[float]:
    """Trailing moving average over `w` points (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= w:
            total -= values[i - w]
        out.append(total / min(i + 1, w))
    return out


def _band(runs: Sequence[Any], key: str, w: int) -> tuple[list[float], list[float], list[float]] | None:
    """Steps, mean and standard error across seeds of the `w`-step moving average of `key` (a metric logged every
    few steps, like the reward at generation steps, is averaged over the points within `w` steps)."""
    per_seed = [dict(zip(*series(r.logs, key))) for r in runs]
    steps = sorted(set.intersection(*(set(s) for s in per_seed))) if per_seed else []
    if not steps:
        return None
    spacing = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else 1.0
    points = max(1, round(w / max(spacing, 1.0)))
    curves = [_smooth([s[t] for t in steps], points) for s in per_seed]
    means, ses = [], []
    for i in range(len(steps)):
        stat = mean_se([c[i] for c in curves])
        means.append(stat.mean)
        ses.append(stat.se if math.isfinite(stat.se) else 0.0)
    return steps, means, ses


def _scale_to_data(ax: Any, lows: list[float], highs: list[float], floor: float | None = None) -> None:
    lo, hi = min(lows), max(highs)
    pad = 0.08 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0)  # flat data: a visible band around it
    lo, hi = lo - pad, hi + pad
    if floor is not None:
        lo = max(lo, floor)
    ax.set_ylim(lo, hi)


def _plot_curve(ax: Any, run: Any, key: str, title: str, ylabel: str, methods: Sequence[Any] | None = None) -> bool:
    w = window(run.settings.steps)
    lows, highs, drawn = [], [], False
    for method in run.methods if methods is None else methods:
        band = _band(run.runs(method.name), key, w)
        if band is None:
            continue
        steps, mean, se = band
        color = _colors(run)[method.name]
        ax.plot(steps, mean, color=color, linewidth=2 if method.name == BASELINE else 1.6, label=method.label)
        lo = [m - s for m, s in zip(mean, se)]
        hi = [m + s for m, s in zip(mean, se)]
        ax.fill_between(steps, lo, hi, color=color, alpha=0.15, linewidth=0)
        lows.extend(lo)
        highs.extend(hi)
        drawn = True
    if not drawn:
        ax.set_visible(False)
        return False
    _scale_to_data(ax, lows, highs, floor=0.0)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return True


def _ks(run: Any) -> list[int]:
    k = run.settings.k
    return [2**i for i in range(k.bit_length()) if 2**i <= k]


def _pass_curve(rows: Sequence[dict[str, float]], ks: list[int]) -> tuple[list[float], list[float]]:
    means, ses = [], []
    for kk in ks:
        stat = mean_se([row[f"pass@{kk}"] for row in rows])
        means.append(stat.mean)
        ses.append(stat.se if math.isfinite(stat.se) else 0.0)
    return means, ses


def _plot_pass_at_k(ax: Any, run: Any, *, relative: bool) -> None:
    ks = _ks(run)
    start_rows = [run.start_evals[s] for s in run.settings.seed_list]
    start_mean, start_se = _pass_curve(start_rows, ks)
    lows, highs = [], []
    if not relative:
        ax.plot(ks, start_mean, color="grey", linestyle="--", marker="o", markersize=3, label="start (every method)")
        lows.extend(m - s for m, s in zip(start_mean, start_se))
        highs.extend(m + s for m, s in zip(start_mean, start_se))
    else:
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    for method in run.methods:
        runs = run.runs(method.name)
        if not runs or not all(r.final_eval for r in runs):
            continue
        if relative:
            rows = [{f"pass@{kk}": r.final_eval[f"pass@{kk}"] - r.start_eval[f"pass@{kk}"] for kk in ks} for r in runs]
        else:
            rows = [r.final_eval for r in runs]
        mean, se = _pass_curve(rows, ks)
        color = _colors(run)[method.name]
        ax.plot(
            ks,
            mean,
            color=color,
            marker="o",
            markersize=3,
            linewidth=2 if method.name == BASELINE else 1.6,
            label=method.label,
        )
        lo, hi = [m - s for m, s in zip(mean, se)], [m + s for m, s in zip(mean, se)]
        ax.fill_between(ks, lo, hi, color=color, alpha=0.15, linewidth=0)
        lows.extend(lo)
        highs.extend(hi)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(kk) for kk in ks])
    ax.set_xlabel("k (samples per held-out prompt)")
    if relative:
        lows.append(0.0)
        highs.append(0.0)
        ax.set_ylabel("pass@k at the end − at the start")
        ax.set_title("Change of held-out pass@k over training", fontsize=10)
    else:
        ax.set_ylabel("pass@k (fraction of held-out prompts)")
        ax.set_title("Held-out pass@k: start (dashed) vs end of training (solid)", fontsize=10)
    if lows:
        _scale_to_data(ax, lows, highs, floor=None if relative else 0.0)
    ax.grid(alpha=0.3)


def _band_note(run: Any) -> str:
    n = run.settings.seeds
    band = f"band: ± 1 standard error across {n} seeds" if n > 1 else "one seed: no band"
    return f"curves: mean over seeds of a {window(run.settings.steps)}-step moving average; {band}"


def _figure(nrows: int, ncols: int, size: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    return fig, axes


def _save(fig: Any, path: Path, note: str, legend: bool = True) -> None:
    import matplotlib.pyplot as plt

    handles, labels = [], []
    for ax in fig.axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    # bottom up: the note, the legend above it (as many rows as it needs), the panels above both
    renderer = fig.canvas.get_renderer()
    to_fig = fig.transFigure.inverted()
    text = fig.text(0.5, 0.008, note, ha="center", va="bottom", fontsize=8, color="dimgrey")
    bottom = text.get_window_extent(renderer).transformed(to_fig).y1 + 0.005
    if legend and labels:
        box = fig.legend(
            handles,
            labels,
            loc="lower center",
            bbox_to_anchor=(0.5, bottom),
            ncol=min(len(labels), 7),
            fontsize=9,
            frameon=False,
        )
        bottom = box.get_window_extent(renderer).transformed(to_fig).y1 + 0.01
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curve_panels(run: Any) -> list[tuple[str, str, str]]:
    thr = run.settings.low_prob_threshold
    return [
        ("reward", "Training reward (pass@1 on the training prompts)", "mean reward"),
        ("entropy", "Policy entropy of the sampled completions", "nats / token"),
        (low_prob_key(thr), f"Share of sampled tokens with p < {thr:g}", "share of tokens"),
    ]


def plot_overview(run: Any, path: Path) -> Path:
    """The README figure: reward, entropy and low-probability share over steps, and pass@k over k."""
    fig, axes = _figure(2, 2, (11.0, 7.6))
    for ax, (key, title, ylabel) in zip(axes.flat, _curve_panels(run)):
        _plot_curve(ax, run, key, title, ylabel)
    _plot_pass_at_k(axes[1, 1], run, relative=False)
    fig.suptitle(_title(run), fontsize=11)
    _save(fig, path, _band_note(run))
    return path


def plot_pass_at_k(run: Any, path: Path) -> Path:
    """pass@k over k: absolute (start vs end) and the change over training, per method."""
    fig, axes = _figure(1, 2, (11.0, 4.4))
    _plot_pass_at_k(axes[0, 0], run, relative=False)
    _plot_pass_at_k(axes[0, 1], run, relative=True)
    _save(fig, path, f"mean over {run.settings.seeds} seed(s); band: ± 1 standard error across seeds")
    return path


def plot_curves(run: Any, path: Path) -> Path:
    """Training curves, plus held-out pass@1 / pass@k over steps when evaluated during training."""
    panels = _curve_panels(run)
    extra = len(run.settings.eval_steps) > 1
    fig, axes = _figure(1, len(panels) + (2 if extra else 0), (4.2 * (len(panels) + (2 if extra else 0)), 3.8))
    for ax, (key, title, ylabel) in zip(axes.flat, panels):
        _plot_curve(ax, run, key, title, ylabel)
    if extra:
        for ax, kk in zip(axes.flat[len(panels) :], (1, run.settings.k)):
            _plot_eval_over_steps(ax, run, kk)
    _save(fig, path, _band_note(run))
    return path


def plot_mechanisms(run: Any, path: Path) -> Path | None:
    """One panel per method that declares `mechanism` metrics: the metric over steps (mean ± SE across seeds)."""
    panels = [
        (m, key, label)
        for m in run.methods
        for key, label in m.mechanism
        if any(key in e for r in run.runs(m.name) for e in r.logs)
    ]
    if not panels:
        return None
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig, axes = _figure(rows, cols, (4.2 * cols, 3.6 * rows))
    for ax, (method, key, label) in zip(axes.flat, panels):
        _plot_curve(ax, run, key, f"{method.label}: {label}", "share", methods=[method])
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    _save(fig, path, _band_note(run), legend=False)
    return path


def _plot_eval_over_steps(ax: Any, run: Any, kk: int) -> None:
    lows, highs = [], []
    for method in run.methods:
        runs = run.runs(method.name)
        if not runs:
            continue
        steps = [0] + [int(row["step"]) for row in runs[0].evals]
        rows = [[r.start_eval] + r.evals for r in runs]
        means, ses = [], []
        for i in range(len(steps)):
            stat = mean_se([seed_rows[i][f"pass@{kk}"] for seed_rows in rows])
            means.append(stat.mean)
            ses.append(stat.se if math.isfinite(stat.se) else 0.0)
        color = _colors(run)[method.name]
        ax.plot(steps, means, marker="o", markersize=3, color=color, label=method.label)
        lo, hi = [m - s for m, s in zip(means, ses)], [m + s for m, s in zip(means, ses)]
        ax.fill_between(steps, lo, hi, color=color, alpha=0.15, linewidth=0)
        lows.extend(lo)
        highs.extend(hi)
    if lows:
        _scale_to_data(ax, lows, highs, floor=0.0)
    ax.set_title(f"Held-out pass@{kk} over training", fontsize=10)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(f"pass@{kk}")
    ax.grid(alpha=0.3)


def _title(run: Any) -> str:
    s = run.settings
    rates = {r.learning_rate for r in run.results if r.learning_rate is not None}
    if s.learning_rate is not None:
        lr = f"lr {s.learning_rate:g}"
    else:  # each method at its own rate; one figure when they all agree (the provisional table)
        lr = f"lr {rates.pop():g} (every method)" if len(rates) == 1 else "per-method lr"
    return (
        f"{'toy ' + s.task if s.model is None else s.model}: {len(run.methods)} methods × {s.seeds} paired seeds, "
        f"{s.steps} steps, {lr}, temperature {s.temperature:g}"
    )
