"""Shared helpers of the ``benchmarks/real_*.py`` scripts (SmolLM2-135M-Instruct, the real-model test bed): loading
the model, AUROC with a paired bootstrap over texts, and programmatic multiple-choice questions with known answers.

The math helpers are pure (numpy only) and unit-tested in ``tests/benchmarks/test_real_helpers.py``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MC_KINDS",
    "auroc",
    "icl_mass_steps",
    "load_real_model",
    "machine_note",
    "make_mc_questions",
    "paired_bootstrap_auroc",
    "paired_t_interval",
    "resolved_share_by_mass",
]


# ------------------------------------------------------------------------------------------------------ the model
def load_real_model(threads: int):
    """SmolLM2-135M-Instruct from the cached folder of `trl_explore.toy.pretrained_model_path`, float32, eval mode,
    with ``torch.set_num_threads(threads)`` (pinned: the numbers below are measured on a shared 2-core machine)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trl_explore.toy import pretrained_model_path

    torch.set_num_threads(threads)
    path = pretrained_model_path()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer


def machine_note() -> str:
    """``"<cpu>, N cores, load 1/5/15 min: a b c"`` — the machine and how busy it was (the load average)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine_description

    try:
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return f"{machine_description()}, load average {load}"


# ------------------------------------------------------------------------------------------------------- AUROC
def auroc(human: Sequence[float], machine: Sequence[float]) -> float:
    """Area under the ROC curve with machine text as the positive class: the probability that a machine text scores
    above a human text, ties counting 1/2 (the Mann-Whitney U statistic over ``n_h · n_m``)::

        AUROC = (1 / (n_h n_m)) Σ_i Σ_j [m_j > h_i] + ½ [m_j = h_i]

    Computed from average ranks of the pooled scores: ``(R_m − n_m (n_m + 1) / 2) / (n_h n_m)`` with ``R_m`` the sum
    of the machine scores' ranks.
    """
    h = np.asarray(human, dtype=np.float64)
    m = np.asarray(machine, dtype=np.float64)
    if h.ndim != 1 or m.ndim != 1 or h.size == 0 or m.size == 0:
        raise ValueError(
            f"`human` and `machine` must be non-empty 1-D score lists, got shapes {h.shape} and {m.shape}."
        )
    if not (np.isfinite(h).all() and np.isfinite(m).all()):
        raise ValueError("`human` and `machine` scores must be finite (drop the undefined ones first).")
    return float(_auroc_rows(h[None, :], m[None, :])[0])


def _auroc_rows(h: np.ndarray, m: np.ndarray) -> np.ndarray:
    """AUROC of each row of ``h [R, n_h]`` against the same row of ``m [R, n_m]`` (vectorised Mann-Whitney)."""
    from scipy.stats import rankdata

    n_h, n_m = h.shape[1], m.shape[1]
    ranks = rankdata(np.concatenate([h, m], axis=1), axis=1)  # average ranks for ties
    r_m = ranks[:, n_h:].sum(axis=1)
    return (r_m - n_m * (n_m + 1) / 2) / (n_h * n_m)


def paired_bootstrap_auroc(
    human: Mapping[str, Sequence[float]],
    machine: Mapping[str, Sequence[float]],
    pairs: Sequence[tuple[str, str]] = (),
    *,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """AUROC of several methods scored on the **same** texts, with percentile bootstrap CIs, and CIs of paired
    differences ``AUROC(a) − AUROC(b)``.

    Every resample draws ``n_h`` human and ``n_m`` machine texts with replacement (stratified: the class sizes stay
    fixed) and evaluates every method on the same drawn texts, so a difference's CI accounts for the methods being
    correlated through the texts. The interval is the ``(1 − confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of the resampled values (numpy's linear interpolation).

    Args:
        human, machine: ``{method: scores}``; every method has the same number of human (and of machine) scores, in
            the same text order, all finite.
        pairs: ``(a, b)`` method names whose difference ``a − b`` is reported under the key ``"a - b"``.
        num_resamples: bootstrap resamples (>= 1).
        confidence: in (0, 1).
        seed: seed of the resampling (`numpy.random.default_rng`).

    Returns:
        ``{name: {"auroc" | "diff": point estimate, "low": ..., "high": ..., "excludes_zero": 0/1 (differences)}}``.
    """
    if set(human) != set(machine) or not human:
        raise ValueError(
            f"`human` and `machine` must name the same non-empty methods, got {sorted(human)} and {sorted(machine)}."
        )
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, int) or num_resamples < 1:
        raise ValueError(f"`num_resamples` must be a positive integer, got {num_resamples!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    names = list(human)
    h = {k: np.asarray(human[k], dtype=np.float64) for k in names}
    m = {k: np.asarray(machine[k], dtype=np.float64) for k in names}
    n_h, n_m = len(h[names[0]]), len(m[names[0]])
    for k in names:
        if len(h[k]) != n_h or len(m[k]) != n_m:
            raise ValueError(f"method {k!r} has {len(h[k])} / {len(m[k])} scores, expected {n_h} / {n_m}.")
        if not (np.isfinite(h[k]).all() and np.isfinite(m[k]).all()):
            raise ValueError(f"method {k!r} has non-finite scores (drop those texts for every method first).")
    for a, b in pairs:
        if a not in h or b not in h:
            raise ValueError(f"pair {(a, b)!r} names a method not among {names}.")
    rng = np.random.default_rng(seed)
    ih = rng.integers(0, n_h, size=(num_resamples, n_h))
    im = rng.integers(0, n_m, size=(num_resamples, n_m))
    lo_q, hi_q = (1 - confidence) / 2, (1 + confidence) / 2
    point = {k: auroc(h[k], m[k]) for k in names}
    boot = {k: _auroc_rows(h[k][ih], m[k][im]) for k in names}
    out: dict[str, dict[str, float]] = {}
    for k in names:
        out[k] = {
            "auroc": point[k],
            "low": float(np.quantile(boot[k], lo_q)),
            "high": float(np.quantile(boot[k], hi_q)),
        }
    for a, b in pairs:
        d = boot[a] - boot[b]
        low, high = float(np.quantile(d, lo_q)), float(np.quantile(d, hi_q))
        out[f"{a} - {b}"] = {
            "diff": point[a] - point[b],
            "low": low,
            "high": high,
            "excludes_zero": float(low > 0 or high < 0),
        }
    return out


# ------------------------------------------------------------------------------------ paired seeds: t-interval
def paired_t_interval(method: Sequence[float], baseline: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean paired difference ``d_i = method_i − baseline_i`` over ``n`` paired runs (seeds) with its two-sided
    Student-t interval on ``n − 1`` degrees of freedom::

        d̄ ± t_{(1 + confidence) / 2, n − 1} · s_d / √n,     s_d² = Σ (d_i − d̄)² / (n − 1)

    Returns ``{"n", "mean_method", "mean_baseline", "diff", "low", "high", "excludes_zero"}``; with ``n = 1`` the
    interval is undefined (``low = high = NaN``, ``excludes_zero = 0``).
    """
    a = np.asarray(method, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"`method` and `baseline` must be non-empty 1-D lists of equal length, got {a.shape} and {b.shape}."
        )
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    d = a - b
    n = d.size
    diff = float(d.mean())
    low = high = float("nan")
    if n > 1:
        from scipy.stats import t

        half = float(t.ppf((1 + confidence) / 2, n - 1)) * float(d.std(ddof=1)) / np.sqrt(n)
        low, high = diff - half, diff + half
    return {
        "n": n,
        "mean_method": float(a.mean()),
        "mean_baseline": float(b.mean()),
        "diff": diff,
        "low": low,
        "high": high,
        "excludes_zero": float(n > 1 and (low > 0 or high < 0)),
    }


# ------------------------------------------------------------------------------------- multiple-choice questions
_ANIMALS = ("dog", "cat", "horse", "cow", "lion", "tiger", "rabbit", "sheep", "wolf", "bear")
_FRUITS = ("apple", "banana", "orange", "grape", "pear", "cherry", "peach", "lemon", "mango", "plum")
_COLORS = ("red", "blue", "green", "yellow", "purple", "black", "white", "pink", "brown", "gray")
_VEHICLES = ("car", "bus", "train", "bicycle", "truck", "boat", "plane", "taxi", "tractor", "scooter")
CATEGORIES = {"animal": _ANIMALS, "fruit": _FRUITS, "color": _COLORS, "vehicle": _VEHICLES}
ANTONYMS = (
    ("hot", "cold"),
    ("big", "small"),
    ("fast", "slow"),
    ("happy", "sad"),
    ("light", "dark"),
    ("up", "down"),
    ("open", "closed"),
    ("old", "young"),
    ("early", "late"),
    ("hard", "soft"),
    ("full", "empty"),
    ("rich", "poor"),
    ("strong", "weak"),
    ("wet", "dry"),
    ("high", "low"),
    ("loud", "quiet"),
    ("long", "short"),
    ("thick", "thin"),
)
CAPITALS = (
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Japan", "Tokyo"),
    ("Egypt", "Cairo"),
    ("Russia", "Moscow"),
    ("Canada", "Ottawa"),
    ("Greece", "Athens"),
    ("Portugal", "Lisbon"),
    ("Norway", "Oslo"),
    ("Ireland", "Dublin"),
    ("Austria", "Vienna"),
    ("Poland", "Warsaw"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("China", "Beijing"),
    ("Sweden", "Stockholm"),
    ("Belgium", "Brussels"),
)
MC_KINDS = ("arithmetic", "largest", "odd_one_out", "antonym", "capital")


def _place(rng: random.Random, correct: str, distractors: Sequence[str]) -> tuple[list[str], int]:
    """The correct choice and the distractors, shuffled; returns ``(choices, index of the correct one)``."""
    choices = [correct, *distractors]
    if len(set(choices)) != len(choices):
        raise AssertionError(f"duplicate choices {choices}")  # a builder bug, never user input
    rng.shuffle(choices)
    return choices, choices.index(correct)


def _arithmetic(rng: random.Random) -> tuple[str, str, list[str]]:
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    op = rng.choice("+-*")
    if op == "-":
        a, b = max(a, b) + 1, min(a, b)  # a positive result, never 0
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    word = {"+": "plus", "-": "minus", "*": "times"}[op]
    pool = [value + d for d in (-2, -1, 1, 2, 10)] + [a + b, abs(a - b), a * b]
    distractors = []
    for x in pool:
        if x != value and x >= 0 and str(x) not in distractors:
            distractors.append(str(x))
    rng.shuffle(distractors)
    return f"What is {a} {word} {b}?", str(value), distractors[:3]


def _largest(rng: random.Random) -> tuple[str, str, list[str]]:
    numbers = rng.sample(range(10, 100), 4)
    best = max(numbers)
    return "Which number is the largest?", str(best), [str(x) for x in numbers if x != best]


def _odd_one_out(rng: random.Random) -> tuple[str, str, list[str]]:
    category, other = rng.sample(sorted(CATEGORIES), 2)
    members = rng.sample(CATEGORIES[category], 3)
    intruder = rng.choice(CATEGORIES[other])
    return f"Which of these is not a {category}?", intruder, members


def _antonym(rng: random.Random) -> tuple[str, str, list[str]]:
    index = rng.randrange(len(ANTONYMS))
    word, opposite = ANTONYMS[index] if rng.random() < 0.5 else ANTONYMS[index][::-1]
    others = [w for j, pair in enumerate(ANTONYMS) if j != index for w in pair]
    return f"What is the opposite of {word}?", opposite, rng.sample(others, 3)


def _capital(rng: random.Random) -> tuple[str, str, list[str]]:
    index = rng.randrange(len(CAPITALS))
    country, city = CAPITALS[index]
    others = [c for j, (_, c) in enumerate(CAPITALS) if j != index]
    return f"What is the capital of {country}?", city, rng.sample(others, 3)


_BUILDERS = {"arithmetic": _arithmetic, "largest": _largest, "odd_one_out": _odd_one_out, "antonym": _antonym,
             "capital": _capital}  # fmt: skip


def make_mc_questions(per_kind: int, *, seed: int = 0, kinds: Sequence[str] = MC_KINDS) -> list[dict[str, Any]]:
    """``per_kind`` four-choice questions of each kind, in kind-major order, each ``{"question", "choices",
    "answer", "kind"}`` (``answer`` = index of the correct choice; choices shuffled so it is uniform over positions).

    Kinds (the answer is known by construction): ``arithmetic`` (``What is 7 plus 5?``; distractors: the result ± 1,
    2 or 10 and the other operations' results), ``largest`` (four distinct two-digit numbers), ``odd_one_out`` (three
    members of one category — animal, fruit, color, vehicle — and one of another; ``Which of these is not a
    fruit?``), ``antonym`` (``What is the opposite of hot?``; distractors from other antonym pairs), ``capital``
    (``What is the capital of France?`` from a hand list of 19 countries; distractors: other capitals).
    """
    if isinstance(per_kind, bool) or not isinstance(per_kind, int) or per_kind < 1:
        raise ValueError(f"`per_kind` must be a positive integer, got {per_kind!r}.")
    unknown = [k for k in kinds if k not in _BUILDERS]
    if unknown or not kinds:
        raise ValueError(f"`kinds` must be a non-empty list from {MC_KINDS}, got {list(kinds)!r}.")
    rng = random.Random(seed)
    out = []
    for kind in kinds:
        for _ in range(per_kind):
            question, correct, distractors = _BUILDERS[kind](rng)
            choices, answer = _place(rng, correct, distractors)
            out.append({"question": question, "choices": choices, "answer": answer, "kind": kind})
    return out


# ------------------------------------------------------------------------------- answer-choice claims, summarised
def icl_mass_steps(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each step from ``k`` to the next larger ``k`` within the same ``(format, chat)`` setting: how mass and accuracy
    moved. ``rows`` carry ``format``, ``chat``, ``num_shots``, ``mass`` and ``accuracy``; returns one dict per step
    with ``format``, ``chat``, ``k_from``, ``k_to``, ``d_mass``, ``d_accuracy`` and ``discordant`` (mass up while
    accuracy down: the paper's "more mass does not always mean more accuracy")."""
    groups: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["format"], row["chat"]), []).append(row)
    steps = []
    for (fmt, chat), group in groups.items():
        group = sorted(group, key=lambda r: r["num_shots"])
        for a, b in zip(group, group[1:]):
            d_mass, d_acc = b["mass"] - a["mass"], b["accuracy"] - a["accuracy"]
            steps.append(
                {
                    "format": fmt,
                    "chat": chat,
                    "k_from": a["num_shots"],
                    "k_to": b["num_shots"],
                    "d_mass": d_mass,
                    "d_accuracy": d_acc,
                    "discordant": d_mass > 0 and d_acc < 0,
                }
            )
    return steps


def resolved_share_by_mass(mass: Sequence[float], resolved: Sequence[bool], threshold: float = 0.5) -> dict[str, float]:
    """Share of questions the SFC certificate resolves among those with mass ``>= threshold`` and ``< threshold``
    (pooled over settings), with the counts: ``{"high", "low", "n_high", "n_low"}`` (NaN share for an empty side)."""
    m = np.asarray(mass, dtype=np.float64)
    r = np.asarray(resolved, dtype=bool)
    if m.shape != r.shape:
        raise ValueError(f"`mass` and `resolved` must have the same length, got {m.shape} and {r.shape}.")
    high = m >= threshold
    return {
        "high": float(r[high].mean()) if high.any() else float("nan"),
        "low": float(r[~high].mean()) if (~high).any() else float("nan"),
        "n_high": int(high.sum()),
        "n_low": int((~high).sum()),
    }
