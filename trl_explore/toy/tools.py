"""A sandboxed calculator tool for TRL's tool calling (``GRPOTrainer(tools=[calculator])``).

The expression comes from model text, so it is untrusted: it is parsed and evaluated by the toy kit's safe arithmetic
parser (`trl_explore.toy.expression`: integers, ``+ - * /``, parentheses, unary minus; exact fractions) and never
reaches `eval`. Size limits bound the work: at most `MAX_CHARACTERS` characters, `MAX_TOKENS` tokens, literals of
`MAX_DIGITS` digits and `MAX_DEPTH` levels of nesting, so an evaluation takes microseconds, and a result longer than
`MAX_RESULT_DIGITS` digits is refused. A bad expression raises `ExpressionError` (a `ValueError`), which TRL's tool
loop reports to the model as ``{"error": ...}`` and counts in ``tools/failure_frequency``.
"""

from __future__ import annotations

from .expression import ExpressionError, parse_expression

__all__ = [
    "MAX_CHARACTERS",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_RESULT_DIGITS",
    "MAX_TOKENS",
    "calculator",
    "format_number",
]

MAX_CHARACTERS = 128
MAX_TOKENS = 64
MAX_DIGITS = 12
MAX_DEPTH = 16
MAX_RESULT_DIGITS = 64


def format_number(value) -> str:
    """An exact `fractions.Fraction` as text: ``"42"``, ``"-7"`` or ``"3/4"``."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly.

    Args:
        expression: An arithmetic expression with integers, +, -, *, / and parentheses, e.g. "(37+5)*12".

    Returns:
        The exact value, as an integer or a fraction such as "3/4".
    """
    if not isinstance(expression, str):
        raise ExpressionError(f"expression must be a string, got {type(expression).__name__}")
    parsed = parse_expression(
        expression,
        max_length=MAX_CHARACTERS,
        max_tokens=MAX_TOKENS,
        max_digits=MAX_DIGITS,
        max_depth=MAX_DEPTH,
        allow_unary_minus=True,
    )
    text = format_number(parsed.value)
    if sum(ch.isdigit() for ch in text) > MAX_RESULT_DIGITS:
        raise ExpressionError(f"result longer than {MAX_RESULT_DIGITS} digits")
    return text
