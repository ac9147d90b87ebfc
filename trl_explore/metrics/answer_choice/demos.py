"""In-context demonstrations: a seeded draw per question (this library's default) or one draw shared by every question
(the authors' released protocol), from the evaluated questions or from a separate pool."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..._validation import check_bool, check_int
from .validation import _check_demo, _is_sequence

__all__ = ["draw_demos", "draw_shared_demos"]


def _check_pool_size(num_shots: int, available: int) -> None:
    if num_shots > available:
        raise ValueError(
            f"num_shots={num_shots} needs at least {num_shots} demonstrations per question, the pool has {available}."
        )


def draw_demos(
    pool: Sequence[Mapping[str, Any]], num_items: int, num_shots: int, seed: int = 0, exclude_self: bool = False
) -> list[list[Mapping[str, Any]]]:
    """In-context demonstrations for each of `num_items` questions, drawn by a seeded shuffle of `pool`.

    Question ``i`` shuffles the pool with ``numpy.random.default_rng([seed, i])`` and takes the first `num_shots`
    entries (skipping entry ``i`` itself when `exclude_self`, i.e. when the pool is the evaluated set). The draw of
    ``k`` shots is a prefix of the draw of ``k + 1`` shots, so results at different k differ only by the added demos.
    """
    check_int(None, "num_shots", value=num_shots, low=0)
    check_int(None, "num_items", value=num_items, low=0)
    check_int(None, "seed", value=seed, low=0)
    check_bool(None, "exclude_self", value=exclude_self)
    _check_pool_size(num_shots, len(pool) - (1 if exclude_self else 0))
    out = []
    for i in range(num_items):
        if num_shots == 0:
            out.append([])
            continue
        order = np.random.default_rng([seed, i]).permutation(len(pool))
        picked = [int(j) for j in order if not (exclude_self and j == i)][:num_shots]
        out.append([pool[j] for j in picked])
    return out


def draw_shared_demos(pool: Sequence[Mapping[str, Any]], num_shots: int, seed: int = 0) -> list[Mapping[str, Any]]:
    """One set of `num_shots` demonstrations for every question, as the released code draws them: the pool's indices
    shuffled by Python's ``random.Random(seed).sample(range(len(pool)), len(pool))``, the first `num_shots` taken (the
    released runs seed Python's generator with 10; the k-shot draw is a prefix of the (k + 1)-shot draw)."""
    check_int(None, "num_shots", value=num_shots, low=0)
    check_int(None, "seed", value=seed, low=0)
    _check_pool_size(num_shots, len(pool))
    order = random.Random(seed).sample(range(len(pool)), len(pool))
    return [pool[j] for j in order[:num_shots]]


def _resolve_demos(
    demos: Any,
    questions: Sequence[str],
    choices: Sequence[Sequence[str]],
    answers: Sequence[int] | None,
    num_shots: int,
    seed: int,
    format: str,
    demo_sampling: str = "per_question",
) -> list[list[Mapping[str, Any]]]:
    """The demonstrations of every question (see `answer_choice_mass`'s `demos` and `demo_sampling`)."""
    n = len(questions)
    if num_shots == 0:
        return [[] for _ in range(n)]
    if demos is None:
        if demo_sampling == "shared":
            raise ValueError(
                "demo_sampling='shared' draws one set of demonstrations for every question, so it needs a separate "
                "pool in `demos` (the released code uses the training split); the evaluated questions would see "
                "their own answers."
            )
        if answers is None:
            raise ValueError("answers are needed to use the evaluated questions as demonstrations (num_shots > 0).")
        pool = [{"question": q, "choices": c, "answer": a} for q, c, a in zip(questions, choices, answers)]
        return draw_demos(pool, n, num_shots, seed, exclude_self=True)
    if not _is_sequence(demos) or len(demos) == 0:
        raise ValueError(
            f"demos must be a non-empty sequence of demonstrations (or of per-question lists), got {demos!r}."
        )
    if isinstance(demos[0], Mapping):
        for j, d in enumerate(demos):
            _check_demo(f"demos[{j}]", d, format)
        if demo_sampling == "shared":
            shared = draw_shared_demos(demos, num_shots, seed)
            return [list(shared) for _ in range(n)]
        return draw_demos(demos, n, num_shots, seed)
    if len(demos) != n:
        raise ValueError(f"demos given per question must have one list per question ({n}), got {len(demos)}.")
    out = []
    for i, row in enumerate(demos):
        if not _is_sequence(row) or len(row) < num_shots:
            raise ValueError(f"demos[{i}] must be a sequence of at least num_shots={num_shots} demonstrations.")
        for j, d in enumerate(row[:num_shots]):
            _check_demo(f"demos[{i}][{j}]", d, format)
        out.append(list(row[:num_shots]))
    return out
