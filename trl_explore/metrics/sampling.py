"""Dataset-level metrics over k sampled completions per problem: pass@k curve, avg@k and maj@k (cons@k).

Inputs are per-problem lists of sample scores (1.0 correct, 0.0 wrong; ``None`` — an ungradeable sample — counts as
wrong) and, for majority voting, per-problem lists of normalised final answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence

import numpy as np

from ..functional.pass_at_k import pass_at_k


def _check_scores(scores: Sequence[Sequence[float | bool | None]]) -> list[list[float]]:
    if len(scores) == 0:
        raise ValueError("`scores` is empty: need at least one problem.")
    out = []
    for i, row in enumerate(scores):
        if len(row) == 0:
            raise ValueError(f"`scores[{i}]` is empty: every problem needs at least one sample.")
        out.append([0.0 if s is None else float(s) for s in row])
    return out


def _correct(score: float, correct_threshold: float) -> bool:
    return score >= correct_threshold


def pass_at_k_curve(
    scores: Sequence[Sequence[float | bool | None]],
    ks: Iterable[int] | None = None,
    correct_threshold: float = 1.0,
) -> dict[int, float]:
    """Unbiased pass@k averaged over problems, for each k in `ks`.

    Args:
        scores (`Sequence[Sequence[float]]`): `[P][n_p]` sample scores per problem.
        ks (`Iterable[int]`, *optional*): the k values; defaults to powers of two up to the smallest `n_p`.
        correct_threshold (`float`, *optional*, defaults to `1.0`): a sample is correct when its score is at least this.

    Returns:
        `dict[int, float]` mapping k to the mean over problems of pass@k (in [0, 1]).
    """
    rows = _check_scores(scores)
    n_min = min(len(r) for r in rows)
    if ks is None:
        ks = [2**i for i in range(int(np.log2(n_min)) + 1)]
    n = np.asarray([len(r) for r in rows])
    c = np.asarray([sum(_correct(s, correct_threshold) for s in r) for r in rows])
    return {int(k): float(np.mean(pass_at_k(n, c, int(k)))) for k in ks}


def avg_at_k(scores: Sequence[Sequence[float | bool | None]], k: int | None = None) -> float:
    """avg@k: mean score over the first `k` samples of each problem, averaged over problems.

    Args:
        scores (`Sequence[Sequence[float]]`): `[P][n_p]` sample scores per problem.
        k (`int`, *optional*): samples per problem to use (all when `None`); every problem needs at least `k`.
    """
    rows = _check_scores(scores)
    if k is not None:
        if k < 1:
            raise ValueError(f"`k` must be >= 1, got {k}.")
        short = [i for i, r in enumerate(rows) if len(r) < k]
        if short:
            raise ValueError(f"avg@{k} needs {k} samples per problem; problem {short[0]} has {len(rows[short[0]])}.")
        rows = [r[:k] for r in rows]
    return float(np.mean([np.mean(r) for r in rows]))


def maj_at_k(
    answers: Sequence[Sequence[Hashable | None]],
    scores: Sequence[Sequence[float | bool | None]],
    k: int | None = None,
    key: Callable[[Hashable], Hashable] | None = None,
    correct_threshold: float = 1.0,
) -> float:
    """maj@k (also called cons@k): the share of problems whose most frequent answer among `k` samples is correct.

    Samples without an answer (`None`) do not vote. Ties go to the answer seen first. A problem where no sample has an
    answer counts as wrong.

    Args:
        answers (`Sequence[Sequence]`): `[P][n_p]` normalised final answers (e.g. extracted `\\boxed{}` contents).
        scores (`Sequence[Sequence[float]]`): `[P][n_p]` scores of the same samples (which answers are correct).
        k (`int`, *optional*): number of samples to vote with (all when `None`).
        key (`Callable`, *optional*): maps an answer to its voting key (e.g. a normaliser); identity by default.
        correct_threshold (`float`, *optional*, defaults to `1.0`): a sample is correct when its score is at least this.
    """
    rows = _check_scores(scores)
    if len(answers) != len(rows):
        raise ValueError(f"`answers` has {len(answers)} problems but `scores` has {len(rows)}.")
    hits = []
    for i, (ans_row, score_row) in enumerate(zip(answers, rows)):
        if len(ans_row) != len(score_row):
            raise ValueError(f"problem {i}: {len(ans_row)} answers but {len(score_row)} scores.")
        if k is not None:
            if len(ans_row) < k:
                raise ValueError(f"maj@{k} needs {k} samples per problem; problem {i} has {len(ans_row)}.")
            ans_row, score_row = ans_row[:k], score_row[:k]
        votes: Counter = Counter()
        first_seen: dict[Hashable, int] = {}
        correct_of: dict[Hashable, bool] = {}
        for j, (a, s) in enumerate(zip(ans_row, score_row)):
            if a is None:
                continue
            kk = key(a) if key is not None else a
            votes[kk] += 1
            first_seen.setdefault(kk, j)
            correct_of[kk] = correct_of.get(kk, False) or _correct(s, correct_threshold)
        if not votes:
            hits.append(0.0)
            continue
        winner = max(votes, key=lambda a: (votes[a], -first_seen[a]))
        hits.append(1.0 if correct_of[winner] else 0.0)
    return float(np.mean(hits))
