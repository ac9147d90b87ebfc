"""Detection metrics (AUROC, PR-AUC, TPR at a fixed FPR), thresholds and calibration, all from scikit-learn.

Machine text is the positive class (label 1) and higher scores mean more machine-like, as in Fast-DetectGPT's and
Lastde's evaluation: AUROC = ``roc_auc_score``; PR-AUC = the area under ``precision_recall_curve`` (``auc(recall,
precision)``, the published papers' PR-AUC); TPR at 1% FPR = the largest true-positive rate among the ROC points
(``roc_curve``) whose false-positive rate is at most 1%. Texts whose score is undefined (NaN) are left out, and
counted.

(The `evaluate` library's ``roc_auc`` module is a thin wrapper over the same scikit-learn function that
``evaluate.load`` fetches from the Hub, so it does not load offline; scikit-learn is used directly.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["calibrate", "choose_threshold", "detection_metrics", "plot_roc"]


def _sklearn_metrics():
    try:
        from sklearn import metrics
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError("the detection metrics need scikit-learn: `pip install scikit-learn`.") from err
    return metrics


def _as_scores(name: str, values: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"`{name}` must be a sequence of numbers, got {type(values).__name__}.") from err
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {arr.shape}.")
    if np.isinf(arr).any():
        raise ValueError(f"`{name}` must not hold ±inf.")
    return arr


def detection_metrics(human_scores: Sequence[float], machine_scores: Sequence[float], fpr: float = 0.01) -> dict:
    """AUROC, PR-AUC and TPR at ``fpr`` of machine-vs-human scores (higher = more machine-like).

    Args:
        human_scores (`Sequence[float]`): scores of human-written texts (label 0); NaN entries are left out.
        machine_scores (`Sequence[float]`): scores of machine-generated texts (label 1); NaN entries are left out.
        fpr (`float`, *optional*, defaults to `0.01`): the false-positive rate of ``tpr_at_fpr``, in ``(0, 1)``.

    Returns:
        `dict`: ``auroc``, ``pr_auc``, ``tpr_at_fpr`` (with ``fpr``), ``num_human``, ``num_machine`` (scored) and
        ``num_unscored`` (NaN scores left out).
    """
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 < fpr < 1:
        raise ValueError(f"`fpr` must be a number in (0, 1), got {fpr!r}.")
    human, machine = _as_scores("human_scores", human_scores), _as_scores("machine_scores", machine_scores)
    unscored = int(np.isnan(human).sum() + np.isnan(machine).sum())
    human, machine = human[~np.isnan(human)], machine[~np.isnan(machine)]
    if unscored:
        logger.warning("%d text(s) with an undefined (NaN) score left out of the metrics.", unscored)
    if len(human) == 0 or len(machine) == 0:
        raise ValueError(
            f"need at least one scored human and one scored machine text, got {len(human)} and {len(machine)}."
        )
    m = _sklearn_metrics()
    labels = np.concatenate([np.zeros(len(human)), np.ones(len(machine))])
    scores = np.concatenate([human, machine])
    roc_fpr, roc_tpr, _ = m.roc_curve(labels, scores)
    precision, recall, _ = m.precision_recall_curve(labels, scores)
    return {
        "auroc": float(m.roc_auc_score(labels, scores)),
        "pr_auc": float(m.auc(recall, precision)),
        "tpr_at_fpr": float(roc_tpr[roc_fpr <= fpr].max()),
        "fpr": float(fpr),
        "num_human": len(human),
        "num_machine": len(machine),
        "num_unscored": unscored,
    }


def _check_labels(scores: np.ndarray, labels: Any) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != len(scores):
        raise ValueError(f"`labels` must hold one label per text ({len(scores)}), got shape {arr.shape}.")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.isin(arr, (0, 1)).all():
        raise ValueError("`labels` must be 0 (human) or 1 (machine) (or booleans).")
    return arr.astype(np.int64)


def _scored_pairs(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The scored texts' ``(scores, labels)`` (NaN scores left out), both classes required."""
    s = _as_scores("scores", scores)
    y = _check_labels(s, labels)
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    if len(np.unique(y)) != 2:
        raise ValueError("`labels` must contain both classes (0 = human, 1 = machine) among the scored texts.")
    return s, y


def choose_threshold(scores: Sequence[float], labels: Sequence[int], rule: str | float = "youden") -> float:
    """A decision threshold on the scores (a text is called machine-generated when its score is at least it).

    Args:
        scores (`Sequence[float]`): scores (NaN entries are left out).
        labels (`Sequence[int]`): 1 = machine, 0 = human.
        rule (`str` or `float`, *optional*, defaults to `"youden"`): ``"youden"`` maximises Youden's J = TPR − FPR
            over the ROC points; a number in ``(0, 1)`` is a target false-positive rate: the threshold with the
            largest TPR whose FPR on these texts is at most that.

    Returns:
        `float`: the threshold (finite).
    """
    s, y = _scored_pairs(scores, labels)
    fpr, tpr, thresholds = _sklearn_metrics().roc_curve(y, s)
    finite = np.isfinite(thresholds)  # the first ROC point's threshold is +inf (nothing flagged)
    if rule == "youden":
        j = np.where(finite, tpr - fpr, -np.inf)
        return float(thresholds[int(np.argmax(j))])
    if isinstance(rule, bool) or not isinstance(rule, (int, float)) or not 0 < rule < 1:
        raise ValueError(f"`threshold` must be 'youden' or a target false-positive rate in (0, 1), got {rule!r}.")
    ok = finite & (fpr <= rule)
    if not ok.any():  # no finite point reaches the target: flag nothing but the top score
        return float(np.nextafter(s.max(), np.inf))
    best = np.where(ok, tpr, -np.inf)
    return float(thresholds[int(np.argmax(best))])


def calibrate(scores: Sequence[float], labels: Sequence[int]) -> Any:
    """Platt scaling: a scikit-learn logistic regression ``P(machine | score)`` on the standardised scores (nearly
    unpenalised, ``C = 1e6``). Returns a fitted callable ``scores -> P(machine)`` (NaN in, NaN out)."""
    from sklearn.linear_model import LogisticRegression

    s, y = _scored_pairs(scores, labels)
    mean, std = float(s.mean()), float(s.std())
    std = std if std > 0 else 1.0
    model = LogisticRegression(C=1e6).fit(((s - mean) / std).reshape(-1, 1), y)
    return _Calibration(model, mean, std)


class _Calibration:
    def __init__(self, model: Any, mean: float, std: float) -> None:
        self.model, self.mean, self.std = model, mean, std

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        out = np.full(scores.shape, np.nan)
        keep = ~np.isnan(scores)
        if keep.any():
            out[keep] = self.model.predict_proba(((scores[keep] - self.mean) / self.std).reshape(-1, 1))[:, 1]
        return out


def plot_roc(
    curves: dict[str, tuple[Sequence[float], Sequence[float]]], path: Any = None, title: str | None = None
) -> Any:
    """ROC curves of several methods on one figure (matplotlib, Agg-safe), AUROC in the legend.

    Args:
        curves: ``{method: (human_scores, machine_scores)}`` (NaN scores left out).
        path: where to save the PNG (``None``: do not save).
        title: figure title.

    Returns:
        `matplotlib.figure.Figure`: the figure (closed after saving when ``path`` is given).
    """
    import matplotlib.pyplot as plt

    m = _sklearn_metrics()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, (human, machine) in curves.items():
        h, g = _as_scores("human_scores", human), _as_scores("machine_scores", machine)
        h, g = h[~np.isnan(h)], g[~np.isnan(g)]
        if not len(h) or not len(g):
            continue
        labels = np.concatenate([np.zeros(len(h)), np.ones(len(g))])
        scores = np.concatenate([h, g])
        fpr, tpr, _ = m.roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {m.roc_auc_score(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false-positive rate (human flagged as machine)")
    ax.set_ylabel("true-positive rate (machine flagged)")
    ax.set_title(title or "ROC: machine vs human text")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
