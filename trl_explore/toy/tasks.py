"""Synthetic verifiable tasks for the toy kit: multi-step arithmetic and countdown.

Both builders return a `datasets.Dataset` with a `prompt` column (plain text or a one-message conversation), a
`solution` column the task's reward grades against, and a `completion` column holding a target completion in the
``<think>...</think>\\boxed{...}`` format (prompt-completion data for warm-start SFT; GRPO ignores it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

from datasets import Dataset

from .expression import ExpressionError, last_boxed_content, parse_expression

ARITHMETIC_PROMPT_TEMPLATE = "Compute {expression}\n"
COUNTDOWN_PROMPT_TEMPLATE = "Use {numbers} to make {target}\n"

_OPS = "+-*/"
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return None
    return a / b


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _check_operations(operations: str) -> str:
    if not operations or any(op not in _OPS for op in operations) or len(set(operations)) != len(operations):
        raise ValueError(
            f"operations must be a non-empty string of distinct characters from '+-*/', got {operations!r}."
        )
    return operations


def _make_prompt(text: str, conversational: bool, system_prompt: str | None) -> Any:
    if not conversational:
        return text if system_prompt is None else system_prompt + text
    messages = [] if system_prompt is None else [{"role": "system", "content": system_prompt}]
    return [*messages, {"role": "user", "content": text.rstrip("\n")}]


def _make_completion(text: str, conversational: bool) -> Any:
    return [{"role": "assistant", "content": text}] if conversational else text


# ----------------------------------------------------------------------------------------------------------------------
# Multi-step arithmetic
# ----------------------------------------------------------------------------------------------------------------------


def make_arithmetic_dataset(
    num_samples: int,
    seed: int = 0,
    num_steps: int = 2,
    max_operand: int = 9,
    operations: str = "+-*",
    conversational: bool = False,
    prompt_template: str = ARITHMETIC_PROMPT_TEMPLATE,
    system_prompt: str | None = None,
) -> Dataset:
    """Multi-step arithmetic evaluated left to right, e.g. ``Compute (3+4)*2`` -> ``\\boxed{14}``.

    Each sample starts from an operand and applies `num_steps` operations with operands drawn uniformly from
    ``[1, max_operand]``; the expression is written with the parentheses that make standard precedence agree with
    the left-to-right order. Division (when enabled) only uses divisors that keep every intermediate result an
    integer.

    Args:
        num_samples (`int`):
            Number of rows.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the generator (same seed -> same dataset).
        num_steps (`int`, *optional*, defaults to `2`):
            Operations per problem (>= 1).
        max_operand (`int`, *optional*, defaults to `9`):
            Largest operand (>= 1).
        operations (`str`, *optional*, defaults to `"+-*"`):
            Operators to draw from, any of ``+ - * /``.
        conversational (`bool`, *optional*, defaults to `False`):
            Whether `prompt` / `completion` are conversations (``[{"role": "user", "content": ...}]``) instead of
            plain text.
        prompt_template (`str`, *optional*, defaults to `"Compute {expression}\\n"`):
            Format string with an ``{expression}`` field.
        system_prompt (`str`, *optional*):
            Text prepended to plain prompts, or a system message for conversational ones.

    Returns:
        `datasets.Dataset` with columns `prompt`, `solution` (``\\boxed{answer}``, gradeable by
        `trl_explore.rewards.math_accuracy_reward`), `completion` (e.g. ``<think>3+4=7,7*2=14</think>\\boxed{14}``),
        `expression` and `answer` (`int`).
    """
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}.")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}.")
    if max_operand < 1:
        raise ValueError(f"max_operand must be >= 1, got {max_operand}.")
    _check_operations(operations)
    rng = random.Random(seed)
    rows: dict[str, list[Any]] = {k: [] for k in ("prompt", "solution", "completion", "expression", "answer")}
    for _ in range(num_samples):
        value = rng.randint(1, max_operand)
        expression = str(value)
        last_precedence = 3  # a bare literal binds tightest
        steps: list[str] = []
        for _ in range(num_steps):
            op = rng.choice(operations)
            if op == "/":
                divisors = [d for d in range(1, max_operand + 1) if value % d == 0]
                operand = rng.choice(divisors)
                result = value // operand
            else:
                operand = rng.randint(1, max_operand)
                result = value + operand if op == "+" else value - operand if op == "-" else value * operand
            left = f"({expression})" if last_precedence < _PRECEDENCE[op] else expression
            expression = f"{left}{op}{operand}"
            last_precedence = _PRECEDENCE[op]
            steps.append(f"{value}{op}{operand}={result}")
            value = result
        rows["prompt"].append(
            _make_prompt(prompt_template.format(expression=expression), conversational, system_prompt)
        )
        rows["solution"].append(f"\\boxed{{{value}}}")
        rows["completion"].append(
            _make_completion(f"<think>{','.join(steps)}</think>\\boxed{{{value}}}", conversational)
        )
        rows["expression"].append(expression)
        rows["answer"].append(value)
    return Dataset.from_dict(rows)


# ----------------------------------------------------------------------------------------------------------------------
# Countdown
# ----------------------------------------------------------------------------------------------------------------------

# An expression tree is either a leaf index (int, position in the number tuple) or (op, left, right).
_Tree = Any


def _trees(indices: tuple[int, ...], operations: str) -> list[_Tree]:
    """Every binary expression tree whose leaves are exactly `indices` (each once, any order)."""
    if len(indices) == 1:
        return [indices[0]]
    out: list[_Tree] = []
    n = len(indices)
    # Split the index set into two non-empty parts (ordered: left, right).
    for mask in range(1, (1 << n) - 1):
        left = tuple(indices[i] for i in range(n) if mask >> i & 1)
        right = tuple(indices[i] for i in range(n) if not mask >> i & 1)
        for lt in _trees(left, operations):
            for rt in _trees(right, operations):
                for op in operations:
                    out.append((op, lt, rt))
    return out


def _render(tree: _Tree, numbers: Sequence[int]) -> tuple[str, int]:
    """Render with minimal parentheses; returns (text, precedence of the top node)."""
    if isinstance(tree, int):
        return str(numbers[tree]), 3
    op, lt, rt = tree
    left, lp = _render(lt, numbers)
    right, rp = _render(rt, numbers)
    p = _PRECEDENCE[op]
    if lp < p:
        left = f"({left})"
    # Right operand: parenthesise when it binds looser, or equally for non-associative - and /.
    if rp < p or (rp == p and op in "-/"):
        right = f"({right})"
    return f"{left}{op}{right}", p


def _evaluate(tree: _Tree, numbers: Sequence[int], steps: list[str] | None = None) -> Fraction | None:
    if isinstance(tree, int):
        return Fraction(numbers[tree])
    op, lt, rt = tree
    a = _evaluate(lt, numbers, steps)
    b = _evaluate(rt, numbers, steps)
    if a is None or b is None:
        return None
    value = _apply(op, a, b)
    if value is not None and steps is not None:
        steps.append(f"{_fmt(a)}{op}{_fmt(b)}={_fmt(value)}")
    return value


@lru_cache(maxsize=4096)
def _countdown_solutions(numbers: tuple[int, ...], operations: str) -> dict[Fraction, tuple[str, ...]]:
    """Map each reachable value to the distinct expression strings (minimal parentheses) that reach it."""
    table: dict[Fraction, set[str]] = {}
    for tree in _trees(tuple(range(len(numbers))), operations):
        value = _evaluate(tree, numbers)
        if value is not None:
            table.setdefault(value, set()).add(_render(tree, numbers)[0])
    return {value: tuple(sorted(exprs)) for value, exprs in table.items()}


def countdown_solutions(numbers: Sequence[int], target: int, operations: str = "+-*") -> list[str]:
    """All distinct expressions (minimal parentheses) using each of `numbers` once that evaluate to `target`.

    Exhaustive search over expression trees; meant for the small instances of the toy task (up to 4 numbers).
    """
    _check_operations(operations)
    key = tuple(sorted(int(n) for n in numbers))
    return list(_countdown_solutions(key, operations).get(Fraction(target), ()))


def make_countdown_dataset(
    num_samples: int,
    seed: int = 0,
    num_numbers: int = 3,
    max_number: int = 9,
    operations: str = "+-*",
    min_target: int = 1,
    max_target: int = 99,
    min_solutions: int = 2,
    conversational: bool = False,
    prompt_template: str = COUNTDOWN_PROMPT_TEMPLATE,
    system_prompt: str | None = None,
) -> Dataset:
    """Countdown: combine the given numbers, each exactly once, with the operators to reach the target.

    Example prompt: ``Use 3 5 7 to make 22`` (one solution ``3*5+7``; ``7+3*5``, ``5*3+7``, ... also verify). A
    sample is generated by drawing `num_numbers` numbers from ``[1, max_number]`` and a random expression tree over
    them; its value becomes the target when it is an integer in ``[min_target, max_target]`` reached by at least
    `min_solutions` distinct expressions (otherwise the sample is redrawn), so every sample is solvable and most have
    several solutions (drawing the tree uniformly favours targets with many solutions).

    Args:
        num_samples (`int`):
            Number of rows.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the generator (same seed -> same dataset).
        num_numbers (`int`, *optional*, defaults to `3`):
            Numbers per problem, between 2 and 4.
        max_number (`int`, *optional*, defaults to `9`):
            Largest number (>= 1); numbers are drawn from ``[1, max_number]`` with repetition.
        operations (`str`, *optional*, defaults to `"+-*"`):
            Operators used to build targets, any of ``+ - * /``. (`countdown_reward` accepts all four.)
        min_target (`int`, *optional*, defaults to `1`):
            Smallest target.
        max_target (`int`, *optional*, defaults to `99`):
            Largest target (>= `min_target`).
        min_solutions (`int`, *optional*, defaults to `2`):
            Fewest distinct solution expressions a kept target must have (>= 1).
        conversational (`bool`, *optional*, defaults to `False`):
            Whether `prompt` / `completion` are conversations instead of plain text.
        prompt_template (`str`, *optional*, defaults to `"Use {numbers} to make {target}\\n"`):
            Format string with ``{numbers}`` (space-separated) and ``{target}`` fields.
        system_prompt (`str`, *optional*):
            Text prepended to plain prompts, or a system message for conversational ones.

    Returns:
        `datasets.Dataset` with columns `prompt`, `solution` (the target as a string), `target` (`int`), `numbers`
        (`list[int]`), `completion` (one solution, e.g. ``<think>3*5=15,15+7=22</think>\\boxed{3*5+7}``) and
        `num_solutions` (distinct solution expressions).
    """
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}.")
    if not 2 <= num_numbers <= 4:
        raise ValueError(f"num_numbers must be in [2, 4], got {num_numbers}.")
    if max_number < 1:
        raise ValueError(f"max_number must be >= 1, got {max_number}.")
    if max_target < min_target:
        raise ValueError(f"max_target must be >= min_target ({min_target}), got {max_target}.")
    if min_solutions < 1:
        raise ValueError(f"min_solutions must be >= 1, got {min_solutions}.")
    _check_operations(operations)
    rng = random.Random(seed)
    all_trees = _trees(tuple(range(num_numbers)), operations)
    rows: dict[str, list[Any]] = {
        k: [] for k in ("prompt", "solution", "target", "numbers", "completion", "num_solutions")
    }
    max_attempts = 1000 * max(num_samples, 1)
    attempts = 0
    while len(rows["prompt"]) < num_samples:
        attempts += 1
        if attempts > max_attempts:
            raise ValueError(
                "could not draw enough countdown problems; relax min_target/max_target/min_solutions "
                f"(got {min_target}/{max_target}/{min_solutions})."
            )
        numbers = [rng.randint(1, max_number) for _ in range(num_numbers)]
        tree = rng.choice(all_trees)
        steps: list[str] = []
        value = _evaluate(tree, numbers, steps)
        if value is None or value.denominator != 1 or not min_target <= value <= max_target:
            continue
        target = int(value)
        solutions = _countdown_solutions(tuple(sorted(numbers)), operations).get(value, ())
        if len(solutions) < min_solutions:
            continue
        expression = _render(tree, numbers)[0]
        numbers_text = " ".join(str(n) for n in numbers)
        prompt_text = prompt_template.format(numbers=numbers_text, target=target)
        rows["prompt"].append(_make_prompt(prompt_text, conversational, system_prompt))
        rows["solution"].append(str(target))
        rows["target"].append(target)
        rows["numbers"].append(numbers)
        rows["completion"].append(
            _make_completion(f"<think>{','.join(steps)}</think>\\boxed{{{expression}}}", conversational)
        )
        rows["num_solutions"].append(len(solutions))
    return Dataset.from_dict(rows)


def _completion_text(completion: Any) -> str:
    """Plain text of a TRL completion: a string, or a conversation whose assistant contents are joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for message in completion:
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                content = message.get("content")
                if isinstance(content, str):
                    parts.append(content)
        return "".join(parts)
    return ""


def verify_countdown(expression: str, target: int, numbers: Sequence[int]) -> bool:
    """Whether `expression` uses each of `numbers` exactly once (as literals) and evaluates exactly to `target`.

    The expression is parsed by the safe parser of `trl_explore.toy.expression` (``+ - * /``, parentheses, no unary
    minus). An optional ``= ...`` tail (``3*5+7=22``) is ignored. Invalid input returns `False`; nothing is executed.
    """
    if not isinstance(expression, str):
        return False
    expression = expression.split("=", 1)[0]
    try:
        parsed = parse_expression(expression)
    except ExpressionError:
        return False
    return sorted(parsed.literals) == sorted(int(n) for n in numbers) and parsed.value == Fraction(int(target))


def countdown_reward(
    completions: list[Any], target: list[int], numbers: list[Sequence[int]], **kwargs: Any
) -> list[float | None]:
    """TRL reward function for the countdown task: 1.0 when the last ``\\boxed{}`` holds a valid solution, else 0.0.

    A solution uses every given number exactly once, only ``+ - * /`` and parentheses, and evaluates exactly
    (fractions, no rounding) to the target. Grading uses a small safe parser with length, token, digit and depth
    limits, never `eval`; untrusted text can neither execute code nor hang. A sample with no target or numbers scores
    `None` (TRL skips it).

    Args:
        completions (`list[str]` or `list[list[dict]]`):
            Plain completions, or conversational ones (``[{"role": "assistant", "content": ...}]``).
        target (`list[int]`):
            Target per completion (the dataset's `target` column).
        numbers (`list[list[int]]`):
            Numbers per completion (the dataset's `numbers` column).
        **kwargs:
            Other dataset columns and TRL arguments (ignored).

    Returns:
        `list[float | None]`: one score per completion.
    """
    rewards: list[float | None] = []
    for completion, goal, nums in zip(completions, target, numbers, strict=True):
        if goal is None or nums is None:
            rewards.append(None)
            continue
        boxed = last_boxed_content(_completion_text(completion))
        rewards.append(1.0 if boxed is not None and verify_countdown(boxed, goal, nums) else 0.0)
    return rewards


def _boxed_integer(text: str) -> int | None:
    content = last_boxed_content(text, max_content_length=32)
    if content is None:
        return None
    content = content.strip()
    digits = content[1:] if content.startswith("-") else content
    if not digits.isdigit() or not digits.isascii():
        return None
    return int(content)


def arithmetic_reward(completions: list[Any], solution: list[str], **kwargs: Any) -> list[float | None]:
    """Exact-match reward for `make_arithmetic_dataset`: 1.0 when the last ``\\boxed{}`` holds the answer integer.

    A light, dependency-free grader for the toy task (used by `warm_start`'s evaluation); for general math answers use
    `trl_explore.rewards.math_accuracy_reward`, which grades this task the same way. A gold `solution` without a
    boxed integer scores `None`.

    Args:
        completions (`list[str]` or `list[list[dict]]`):
            Plain or conversational completions.
        solution (`list[str]`):
            Gold solutions such as ``\\boxed{14}``.
        **kwargs:
            Other dataset columns and TRL arguments (ignored).

    Returns:
        `list[float | None]`: one score per completion.
    """
    rewards: list[float | None] = []
    for completion, gold in zip(completions, solution, strict=True):
        gold_value = _boxed_integer(gold) if isinstance(gold, str) else None
        if gold_value is None:
            rewards.append(None)
            continue
        rewards.append(1.0 if _boxed_integer(_completion_text(completion)) == gold_value else 0.0)
    return rewards
