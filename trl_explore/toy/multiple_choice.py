"""A synthetic multiple-choice task for the toy kit: one-step arithmetic with numeric answer choices.

Rows follow MMLU's column convention (``question``, ``choices`` as a list of strings, ``answer`` as the index of the
correct choice), which is what `trl_explore.metrics.answer_choice_mass`, its callback and
``examples/answer_choice_mass.py`` read, so the whole answer-choice pipeline runs offline.
"""

from __future__ import annotations

import random
from typing import Any

from datasets import Dataset

MULTIPLE_CHOICE_QUESTION_TEMPLATE = "What is {a}{op}{b}?"
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


def make_multiple_choice_dataset(
    num_samples: int,
    seed: int = 0,
    num_choices: int = 4,
    max_operand: int = 9,
    operations: str = "+-*",
    question_template: str = MULTIPLE_CHOICE_QUESTION_TEMPLATE,
) -> Dataset:
    """Multiple-choice arithmetic: ``What is 3+4?`` with choices such as ``["12", "7", "-1", "8"]``, answer ``1``.

    The distractors are, in order of preference, the results of the other operations on the same operands (the
    mistakes a confused solver makes) and the correct result ± 1, 2, …, all distinct from each other and from the
    answer; the choices are shuffled, so the correct index is uniform over positions.

    Args:
        num_samples (`int`):
            Number of questions (>= 0).
        seed (`int`, *optional*, defaults to `0`):
            Seed of the generator (same seed -> same dataset).
        num_choices (`int`, *optional*, defaults to `4`):
            Answer choices per question (2 to 26).
        max_operand (`int`, *optional*, defaults to `9`):
            Operands are drawn from ``[1, max_operand]``.
        operations (`str`, *optional*, defaults to `"+-*"`):
            Operators to draw from, any of ``+ - *``.
        question_template (`str`, *optional*, defaults to `"What is {a}{op}{b}?"`):
            Format string with ``{a}``, ``{op}`` and ``{b}`` fields.

    Returns:
        `datasets.Dataset` with columns ``question`` (`str`), ``choices`` (`list[str]`) and ``answer`` (`int`).
    """
    _check_int("num_samples", num_samples, 0)
    _check_int("num_choices", num_choices, 2)
    _check_int("max_operand", max_operand, 1)
    if num_choices > 26:
        raise ValueError(f"num_choices must be at most 26 (symbols A-Z), got {num_choices}.")
    if not operations or any(op not in _OPS for op in operations) or len(set(operations)) != len(operations):
        raise ValueError(f"operations must be a non-empty string of distinct characters from '+-*', got {operations!r}.")
    for name in ("{a}", "{op}", "{b}"):
        if name not in question_template:
            raise ValueError(f"question_template must contain {name}, got {question_template!r}.")
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {"question": [], "choices": [], "answer": []}
    for _ in range(num_samples):
        a, b = rng.randint(1, max_operand), rng.randint(1, max_operand)
        op = rng.choice(operations)
        correct = _OPS[op](a, b)
        candidates = [_OPS[other](a, b) for other in "+-*" if other != op]
        candidates += [correct + sign * d for d in range(1, num_choices + 1) for sign in (1, -1)]
        values = [correct]
        for v in candidates:
            if v not in values:
                values.append(v)
            if len(values) == num_choices:
                break
        order = list(range(num_choices))
        rng.shuffle(order)
        rows["question"].append(question_template.format(a=a, op=op, b=b))
        rows["choices"].append([str(values[j]) for j in order])
        rows["answer"].append(order.index(0))
    return Dataset.from_dict(rows)
