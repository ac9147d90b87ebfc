"""A small, safe arithmetic parser for grading model text (countdown task).

Model text is untrusted: it is never passed to `eval`/`exec`/`sympify`. This module tokenizes the text itself
(non-negative integer literals, ``+ - * /``, parentheses, whitespace; anything else is rejected), parses it with a
recursive-descent parser under hard limits on length, token count, literal size and nesting depth, and evaluates it
exactly with `fractions.Fraction`. Every bad input raises `ExpressionError` (a `ValueError`); nothing is executed.

Grammar (standard precedence, left-associative)::

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := INTEGER | "(" expr ")" | "-" factor      # unary minus only when allow_unary_minus=True
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MAX_EXPRESSION_LENGTH = 256
MAX_TOKENS = 128
MAX_DIGITS = 12
MAX_DEPTH = 32
MAX_BOXED_SEARCH = 100_000  # characters scanned from the end of a completion when looking for \boxed{


class ExpressionError(ValueError):
    """The text is not a valid, bounded arithmetic expression."""


@dataclass(frozen=True)
class ParsedExpression:
    """Result of `parse_expression`: the exact value and the integer literals in order of appearance."""

    value: Fraction
    literals: tuple[int, ...]


def tokenize_expression(text: str, max_length: int = MAX_EXPRESSION_LENGTH, max_digits: int = MAX_DIGITS) -> list[str]:
    """Split `text` into integer literals, operators and parentheses.

    Raises `ExpressionError` when `text` is longer than `max_length` characters, contains any other character, or
    has a literal with more than `max_digits` digits. Whitespace is skipped.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    if len(text) > max_length:
        raise ExpressionError(f"expression longer than {max_length} characters ({len(text)})")
    tokens: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\n\r":
            i += 1
        elif ch in "+-*/()":
            tokens.append(ch)
            i += 1
        elif "0" <= ch <= "9":
            j = i
            while j < n and "0" <= text[j] <= "9":
                j += 1
            if j - i > max_digits:
                raise ExpressionError(f"integer literal longer than {max_digits} digits")
            tokens.append(text[i:j])
            i = j
        else:
            raise ExpressionError(f"unexpected character {ch!r} at position {i}")
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], max_depth: int, allow_unary_minus: bool) -> None:
        self.tokens = tokens
        self.pos = 0
        self.max_depth = max_depth
        self.allow_unary_minus = allow_unary_minus
        self.literals: list[int] = []

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ExpressionError("unexpected end of expression")
        self.pos += 1
        return token

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term(depth)
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self, depth: int) -> Fraction:
        value = self.factor(depth)
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.factor(depth)
            if op == "*":
                value = value * rhs
            else:
                if rhs == 0:
                    raise ExpressionError("division by zero")
                value = value / rhs
        return value

    def factor(self, depth: int) -> Fraction:
        if depth > self.max_depth:
            raise ExpressionError(f"nesting deeper than {self.max_depth}")
        token = self.take()
        if token == "(":
            value = self.expr(depth + 1)
            if self.take() != ")":
                raise ExpressionError("expected ')'")
            return value
        if token == "-" and self.allow_unary_minus:
            return -self.factor(depth + 1)
        if token.isdigit():
            try:
                literal = int(token)
            except ValueError as err:  # longer than Python's int-conversion digit limit (a caller raised max_digits)
                raise ExpressionError(f"integer literal of {len(token)} digits is too long to convert") from err
            self.literals.append(literal)
            return Fraction(literal)
        raise ExpressionError(f"unexpected token {token!r}")


def parse_expression(
    text: str,
    *,
    max_length: int = MAX_EXPRESSION_LENGTH,
    max_tokens: int = MAX_TOKENS,
    max_digits: int = MAX_DIGITS,
    max_depth: int = MAX_DEPTH,
    allow_unary_minus: bool = False,
) -> ParsedExpression:
    """Parse and evaluate an arithmetic expression exactly, without executing anything.

    Args:
        text (`str`):
            The expression, e.g. ``"(3+5)*7"``.
        max_length (`int`, *optional*, defaults to `256`):
            Longest accepted text, checked before anything else.
        max_tokens (`int`, *optional*, defaults to `128`):
            Most tokens (literals, operators, parentheses).
        max_digits (`int`, *optional*, defaults to `12`):
            Most digits in one integer literal. With `max_tokens` this bounds every intermediate value, since the
            only operators are ``+ - * /``.
        max_depth (`int`, *optional*, defaults to `32`):
            Deepest parenthesis / unary-minus nesting (bounds the recursion).
        allow_unary_minus (`bool`, *optional*, defaults to `False`):
            Whether ``-x`` is accepted (countdown rules use each given number as is, so it is off by default).

    Returns:
        `ParsedExpression`: `value` (`Fraction`) and `literals` (the integers used, in order).

    Raises:
        `ExpressionError`: on any invalid, oversized or too deeply nested input, or a division by zero.
    """
    tokens = tokenize_expression(text, max_length=max_length, max_digits=max_digits)
    if not tokens:
        raise ExpressionError("empty expression")
    if len(tokens) > max_tokens:
        raise ExpressionError(f"more than {max_tokens} tokens ({len(tokens)})")
    parser = _Parser(tokens, max_depth=max_depth, allow_unary_minus=allow_unary_minus)
    try:
        value = parser.expr(0)
    except RecursionError as err:  # a caller raised max_depth above what Python's recursion limit allows
        raise ExpressionError("expression nested too deeply to parse") from err
    if parser.pos != len(tokens):
        raise ExpressionError(f"unexpected token {tokens[parser.pos]!r} after the expression")
    return ParsedExpression(value=value, literals=tuple(parser.literals))


def last_boxed_content(text: str, max_content_length: int = MAX_EXPRESSION_LENGTH) -> str | None:
    """Return the content of the last ``\\boxed{...}`` in `text` (balanced braces), or `None`.

    Only the last `MAX_BOXED_SEARCH` characters are searched, and a box whose content is longer than
    `max_content_length` (or is never closed) yields `None`, so huge inputs cost linear time at most.
    """
    if not isinstance(text, str):
        return None
    start = text.rfind("\\boxed{", max(0, len(text) - MAX_BOXED_SEARCH))
    if start < 0:
        return None
    begin = start + len("\\boxed{")
    depth = 1
    end_limit = min(len(text), begin + max_content_length + 1)
    for i in range(begin, end_limit):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i]
    return None
