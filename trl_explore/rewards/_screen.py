"""Size screening of an extracted answer, before anything parses it (`screen` with its `Limits`).

Pure Python, no sympy and no evaluation: regular expressions written so that they cannot backtrack polynomially on
long inputs (see `trl_explore.rewards._normalize` for the pipeline).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Limits", "screen"]


# ----------------------------------------------------------------------------------------------------------------------
# limits (checked on the raw extracted answer, before anything else looks at it)
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Size limits applied to an extracted answer before any parsing.

    Attributes:
        max_chars: longest accepted answer.
        max_depth: deepest accepted nesting of ``{}``, ``()`` and ``[]`` together.
        max_number_digits: longest accepted run of digits in one number literal.
        max_power_nesting: deepest accepted nesting of superscripts (``2^{2^{2}}`` nests 3 deep).
        max_power_digits: largest accepted estimated size, in decimal digits, of ``<number>^<number>`` literals.
        max_factorial_arg: largest accepted integer literal directly followed by ``!``.
        max_items: most items accepted in a tuple / set / list / matrix.
    """

    max_chars: int = 2000
    max_depth: int = 50
    max_number_digits: int = 400
    max_power_nesting: int = 3
    max_power_digits: int = 10_000
    max_factorial_arg: int = 1000
    max_items: int = 64


_DIGIT_RUN = re.compile(r"\d+")
# These run on the raw answer, before whitespace is collapsed, so each gap between two tokens is ONE character class
# (``[\s})\]]*``, not ``\s*[})\]]*\s*``: adjacent quantifiers over the same characters backtrack polynomially on
# long runs of spaces), and a number only starts where a digit run starts (``(?<!\d)``).
_FACTORIAL_CHAIN = re.compile(r"![\s})\]]*!")
_FACTORIAL_ARG = re.compile(r"(?<!\d)(\d+)[\s})\]]*!")
_INT_POWER = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)[\s})\]]*\^[\s{(]*(\d+)")
# latex2sympy2 builds these matrices eagerly while parsing (``\operatorname{eye}(10^9)`` allocates); ``:=``
# (definition notation) is no answer
_BLOCKED_COMMANDS = re.compile(
    r"\\operatorname\s*\{\s*(?:eye|zeros|ones|diag|hstack|vstack|orth\w*|rank|rref|nullspace|inverse)\s*\}|:="
)


def _superscript_nesting(text: str) -> int:
    """Deepest nesting of superscripts, counting ``^{...}`` groups and unbraced ``^x^y`` chains."""
    best = 0
    stack: list[bool] = []  # for each open brace: does it open a superscript group?
    pending_sup = False
    chain = 0  # unbraced superscripts in a row (``2^2^2``)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "^":
            pending_sup = True
            i += 1
            continue
        if ch.isspace():
            i += 1
            continue
        if ch == "{":
            stack.append(pending_sup)
            pending_sup = False
            chain = 0
        elif ch == "}":
            if stack:
                stack.pop()
        elif pending_sup:
            pending_sup = False
            chain += 1
            best = max(best, sum(stack) + chain)
            i += 1
            continue
        else:
            if not ch.isalnum():
                chain = 0
        best = max(best, sum(stack))
        i += 1
    return best


def screen(text: str, limits: Limits) -> str | None:
    """Return why ``text`` is refused before parsing (``"too_long"``, ``"too_deep"``, ``"huge_number"``,
    ``"power_tower"``, ``"huge_power"``, ``"factorial_chain"``, ``"huge_factorial"``, ``"blocked_command"``), or
    `None` when it passes. Linear time in ``len(text)``."""
    if len(text) > limits.max_chars:
        return "too_long"
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "{([":
            depth += 1
            if depth > limits.max_depth:
                return "too_deep"
        elif ch in "})]":
            depth = max(0, depth - 1)
        i += 1
    for m in _DIGIT_RUN.finditer(text):
        if m.end() - m.start() > limits.max_number_digits:
            return "huge_number"
    if _superscript_nesting(text) > limits.max_power_nesting:
        return "power_tower"
    for m in _INT_POWER.finditer(text):
        base = float(m.group(1)) if len(m.group(1)) < 300 else math.inf
        exponent_digits = len(m.group(2))
        if exponent_digits > 12:
            return "huge_power"
        digits = int(m.group(2)) * math.log10(base) if base > 1 else 0.0
        if digits > limits.max_power_digits:
            return "huge_power"
    if _FACTORIAL_CHAIN.search(text):
        return "factorial_chain"
    for m in _FACTORIAL_ARG.finditer(text):
        if len(m.group(1)) > 12 or int(m.group(1)) > limits.max_factorial_arg:
            return "huge_factorial"
    if _BLOCKED_COMMANDS.search(text):
        return "blocked_command"
    return None
