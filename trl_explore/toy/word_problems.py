"""One-step English arithmetic word problems with known answers, for real chat models offline.

The toy tasks (``toy-arithmetic``, ``toy-countdown``) speak the toy model's terse format. A real instruction-tuned
model such as SmolLM2-135M-Instruct (`pretrained_model_path`) gets questions in plain English that it can sometimes
solve: one addition, subtraction or multiplication of small numbers wrapped in a sentence, with the instruction to put
the final answer in ``\\boxed{}`` (what `math_accuracy_reward` reads). Rows follow TRL's conversational format
(``prompt`` is a list of messages) plus a ``solution`` column, so they feed `GRPOTrainer`-style trainers directly.
"""

from __future__ import annotations

import random

__all__ = ["WORD_PROBLEM_INSTRUCTION", "make_word_problem_dataset", "sample_word_problems"]

WORD_PROBLEM_INSTRUCTION = "Think step by step, then give the final answer as a number in \\boxed{}."

_NAMES = ("Anna", "Ben", "Carla", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam")
_ITEMS = ("apples", "books", "marbles", "stickers", "pencils", "cookies", "stamps", "shells")

# (template, operation); {n}: a name, {i}: an item, {a}, {b}: the operands
_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("{n} has {a} {i}. {n} gets {b} more {i}. How many {i} does {n} have now?", "+"),
    ("A box holds {a} {i} and another box holds {b} {i}. How many {i} are there in both boxes?", "+"),
    ("{n} had {a} {i} and gave {b} of them to a friend. How many {i} does {n} have left?", "-"),
    ("There were {a} {i} on a table. {n} took {b} of them. How many {i} are still on the table?", "-"),
    ("{n} buys {a} bags with {b} {i} in each bag. How many {i} does {n} buy in all?", "*"),
    ("A shelf has {a} rows with {b} {i} in each row. How many {i} are on the shelf?", "*"),
)


def sample_word_problems(num_problems: int, *, seed: int = 0) -> list[tuple[str, int]]:
    """``num_problems`` ``(question, answer)`` pairs; the answer is a non-negative integer.

    Operands: 2-20 for ``+`` and ``-`` (the larger first, so no answer is negative), 2-9 for ``*``.

    Example: ``"Anna has 3 apples. Anna gets 4 more apples. How many apples does Anna have now?"`` -> 7.
    """
    if isinstance(num_problems, bool) or not isinstance(num_problems, int) or num_problems < 1:
        raise ValueError(f"`num_problems` must be a positive integer, got {num_problems!r}.")
    rng = random.Random(seed)
    out = []
    for _ in range(num_problems):
        template, op = rng.choice(_TEMPLATES)
        if op == "*":
            a, b = rng.randint(2, 9), rng.randint(2, 9)
        else:
            a, b = sorted((rng.randint(2, 20), rng.randint(2, 20)), reverse=True)
        answer = {"+": a + b, "-": a - b, "*": a * b}[op]
        question = template.format(n=rng.choice(_NAMES), i=rng.choice(_ITEMS), a=a, b=b)
        out.append((question, answer))
    return out


def make_word_problem_dataset(num_problems: int = 256, *, seed: int = 0, instruction: str = WORD_PROBLEM_INSTRUCTION):
    """A `datasets.Dataset` of word problems: ``prompt`` (one user message: question + instruction) and
    ``solution`` (the answer as a string)."""
    from datasets import Dataset

    rows = [
        {"prompt": [{"role": "user", "content": f"{question} {instruction}".strip()}], "solution": str(answer)}
        for question, answer in sample_word_problems(num_problems, seed=seed)
    ]
    return Dataset.from_list(rows)
