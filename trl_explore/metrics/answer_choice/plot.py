"""The plot of PM and accuracy by number of in-context examples k, per prompt format, and accuracy against PM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_answer_choice_mass"]


def _point_labels(
    ks: Sequence[int], mass: Sequence[float], acc: Sequence[float], tol: float = 0.05
) -> dict[tuple[float, float], str]:
    """One label per cluster of nearby points: a point within `tol` (in both PM and accuracy, the axes' units) of an
    earlier labelled point joins its label, ``"k=0, 1"``, instead of printing its own over it."""
    groups: list[tuple[tuple[float, float], list[int]]] = []
    for k, m, a in zip(ks, mass, acc):
        near = next((g for g in groups if abs(g[0][0] - m) <= tol and abs(g[0][1] - a) <= tol), None)
        if near is None:
            groups.append(((m, a), [k]))
        else:
            near[1].append(k)
    return {point: "k=" + ", ".join(str(k) for k in group) for point, group in groups}


def plot_answer_choice_mass(rows: Sequence[Mapping[str, Any]], path: str | Path | None = None) -> Any:
    """Plot PM and accuracy by number of shots k, per prompt format, and accuracy against PM.

    One row of three panels per dataset: PM by k; accuracy by k (solid: sequence scoring, dotted: PMI when measured);
    accuracy against PM with each point labelled by its k.

    Args:
        rows: one mapping per (dataset, format, k) with keys ``dataset``, ``format``, ``k``, ``mass``, ``accuracy``
            and, optionally, ``pmi_accuracy`` — e.g. ``{"dataset": name, "k": k, **result.summary()}``.
        path: where to save the PNG (not saved when `None`).

    Returns:
        The `matplotlib.figure.Figure` (closed after saving when `path` is given).
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows is empty: nothing to plot.")

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    formats = list(dict.fromkeys(r["format"] for r in rows))
    colors = dict(zip(formats, ("tab:blue", "tab:orange", "tab:green")))
    fig, axes = plt.subplots(len(datasets), 3, figsize=(15, 4 * len(datasets)), squeeze=False)
    for d, name in enumerate(datasets):
        ax_mass, ax_acc, ax_scatter = axes[d]
        for f_index, fmt in enumerate(formats):
            sel = sorted((r for r in rows if r["dataset"] == name and r["format"] == fmt), key=lambda r: r["k"])
            ks = [r["k"] for r in sel]
            mass = [r["mass"] for r in sel]
            acc = [r["accuracy"] for r in sel]
            ax_mass.plot(ks, mass, "o-", color=colors[fmt], label=fmt)
            ax_acc.plot(ks, acc, "o-", color=colors[fmt], label=f"{fmt} (sequence)")
            if all(r.get("pmi_accuracy") is not None for r in sel):
                ax_acc.plot(ks, [r["pmi_accuracy"] for r in sel], "o:", color=colors[fmt], label=f"{fmt} (PMI)")
            ax_scatter.plot(mass, acc, "o-", color=colors[fmt], label=fmt, alpha=0.8)
            for (m, a), label in _point_labels(ks, mass, acc).items():
                ax_scatter.annotate(
                    label,
                    (m, a),
                    textcoords="offset points",
                    xytext=(5, 4 + 10 * f_index),
                    fontsize=8,
                    color=colors[fmt],
                )
        short = Path(str(name)).name
        ax_mass.set(
            title=f"{short}: probability mass on answer choices",
            xlabel="in-context examples k",
            ylabel="PM",
            ylim=(-0.02, 1.02),
        )
        ax_acc.set(title=f"{short}: accuracy", xlabel="in-context examples k", ylabel="accuracy", ylim=(-0.02, 1.02))
        ax_scatter.set(
            title=f"{short}: accuracy vs PM",
            xlabel="PM",
            ylabel="accuracy (sequence)",
            xlim=(-0.02, 1.02),
            ylim=(-0.02, 1.02),
        )
        ks_all = sorted({r["k"] for r in rows if r["dataset"] == name})
        for ax in (ax_mass, ax_acc):
            ax.set_xticks(ks_all)
        for ax in (ax_mass, ax_acc, ax_scatter):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
