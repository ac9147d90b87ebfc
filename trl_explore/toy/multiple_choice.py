"""A synthetic multiple-choice task for the toy kit: one-step arithmetic with numeric answer choices.

Rows follow MMLU's column convention (``question``, ``choices`` as a list of strings, ``answer`` as the index of the
correct choice), which is what `trl_explore.metrics.answer_choice_mass`, its callback and
``examples/answer_choice_mass.py`` read, so the whole answer-choice pipeline runs offline.
"""

from __future__ import annotations

import random
from typing import Any

from datasets import Dataset

from .._validation import check_int

MULTIPLE_CHOICE_QUESTION_TEMPLATE = "What is {a}{op}{b}?"
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


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
    check_int(None, "num_samples", value=num_samples, low=0)
    check_int(None, "num_choices", value=num_choices, low=2, high=26)  # symbols A-Z
    check_int(None, "max_operand", value=max_operand, low=1)
    if not operations or any(op not in _OPS for op in operations) or len(set(operations)) != len(operations):
        raise ValueError(
            f"operations must be a non-empty string of distinct characters from '+-*', got {operations!r}."
        )
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


def make_multiple_choice_sft_dataset(
    num_samples: int,
    seed: int = 0,
    conversational: bool = True,
    max_shots: int = 2,
    num_choices: int = 4,
    max_operand: int = 9,
) -> Dataset:
    """Prompt-completion rows that teach the answer formats of `trl_explore.metrics.answer_choice_mass`.

    Each row takes a question of `make_multiple_choice_dataset`, one of the three prompt formats (enumerated, string,
    cloze; uniformly) and 0 to `max_shots` in-context examples (uniformly; drawn from the other questions), rendered
    exactly as `answer_choice_mass` renders them: conversational rows have the demonstrations as user / assistant turns
    and the question as the last user turn; plain rows are `build_prompt`'s text. The completion is the answer as the
    metric scores it: the symbol (``"B"``) in the enumerated format, the choice's text (``"7"``) otherwise (a leading
    space in plain rows).

    Args:
        num_samples (`int`): rows (>= 1).
        seed (`int`, *optional*, defaults to `0`): seed of the questions, formats and demonstrations.
        conversational (`bool`, *optional*, defaults to `True`): conversational rows (the toy chat template).
        max_shots (`int`, *optional*, defaults to `2`): the most in-context examples of a row.
        num_choices (`int`, *optional*, defaults to `4`): choices per question.
        max_operand (`int`, *optional*, defaults to `9`): operands are drawn from ``[1, max_operand]``.

    Returns:
        `datasets.Dataset` with ``prompt``, ``completion`` and ``solution`` (the completion's text, what
        `multiple_choice_reward` compares with).
    """
    from ..metrics.answer_choice.prompts import FORMATS, _answer_text, _question_text, build_prompt

    check_int(None, "num_samples", value=num_samples, low=1)
    check_int(None, "max_shots", value=max_shots, low=0)
    questions = make_multiple_choice_dataset(
        num_samples + max_shots + 1, seed=seed, num_choices=num_choices, max_operand=max_operand
    ).to_list()
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {"prompt": [], "completion": [], "solution": []}
    for i in range(num_samples):
        item, fmt, k = questions[i], rng.choice(FORMATS), rng.randint(0, max_shots)
        demos = [questions[j] for j in rng.sample([j for j in range(len(questions)) if j != i], k)]
        answer = _answer_text(item["choices"], item["answer"], fmt)
        if conversational:
            prompt = []
            for d in demos:
                prompt.append({"role": "user", "content": _question_text(d["question"], d["choices"], fmt)})
                prompt.append({"role": "assistant", "content": _answer_text(d["choices"], d["answer"], fmt)})
            prompt.append({"role": "user", "content": _question_text(item["question"], item["choices"], fmt)})
            completion: Any = [{"role": "assistant", "content": answer}]
        else:
            prompt, completion = build_prompt(item["question"], item["choices"], fmt, demos), " " + answer
        rows["prompt"].append(prompt)
        rows["completion"].append(completion)
        rows["solution"].append(answer)
    return Dataset.from_dict(rows)


def multiple_choice_reward(completions: list[Any], solution: list[str], **kwargs: Any) -> list[float]:
    """1.0 when the completion, stripped, is exactly the answer (`make_multiple_choice_sft_dataset`'s ``solution``),
    else 0.0 — the strict rule `parse_generation` applies. Plain or conversational completions (TRL's contract)."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(t.strip() == s) for t, s in zip(texts, solution, strict=True)]
