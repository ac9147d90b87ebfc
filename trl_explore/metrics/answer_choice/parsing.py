"""Which choice a greedy generation names: the released rule (an exact answer) or a lenient one (a prefix)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..._validation import check_choice
from .prompts import SYMBOLS, _check_format
from .validation import ANSWER_PARSING

__all__ = ["parse_generation"]

_SYMBOL_ANSWER = re.compile(r"\(?([A-Z])(?:[):.,\s]|$)")


def _released_answer(text: str) -> str:
    """The answer text the released code reads: the first line, periods stripped from both ends, then whitespace.

    ``" cat."`` -> ``"cat"``; ``" cat\\nmore"`` -> ``"cat"``; ``"\\ncat"`` -> ``""`` (the first line is empty);
    ``" cat. "`` -> ``"cat."`` (the periods are stripped before the whitespace, as released).
    """
    return text.split("\n", 1)[0].strip(".").strip()


def _parse_strict(text: str, choices: Sequence[str], format: str) -> int | None:
    answer = _released_answer(text)
    if format == "enumerated":
        symbols = SYMBOLS[: len(choices)]
        return symbols.index(answer) if len(answer) == 1 and answer in symbols else None
    return next((i for i, c in enumerate(choices) if c == answer), None)


def _parse_lenient(text: str, choices: Sequence[str], format: str) -> int | None:
    line = text.strip().split("\n", 1)[0].strip()
    if format == "enumerated":
        m = _SYMBOL_ANSWER.match(line)
        if m is None:
            return None
        index = SYMBOLS.index(m.group(1))
        return index if index < len(choices) else None
    low = line.lower()
    matches = [i for i, c in enumerate(choices) if low.startswith(c.strip().lower())]
    return max(matches, key=lambda i: len(choices[i].strip())) if matches else None


def parse_generation(text: str, choices: Sequence[str], format: str, answer_parsing: str = "strict") -> int | None:
    """The choice a greedy generation names, or `None` (an invalid answer).

    ``answer_parsing="strict"`` (default; the authors' released rule, Wiegreffe et al., arXiv 2305.14596, §3): take
    the generation's first line, strip periods from both ends, then whitespace; the result must *equal* a choice's
    symbol (enumerated: ``"B"``, case-sensitive, a symbol of this question) or a choice's text exactly (string,
    cloze; case-sensitive; the first equal choice). ``" cat."`` names ``"cat"``; ``" catfish"``, ``" Cat"``,
    ``" cat house"``, ``" (B)"`` and ``" C: bird"`` are invalid.

    ``answer_parsing="lenient"``: the first non-empty line, stripped, must *start with* a symbol (``A``, ``(A)``,
    ``A:``, ``A.``; enumerated) or, lower-cased, with a choice's text (string, cloze; the longest such choice wins).

    Args:
        text (`str`): the generation (special tokens removed).
        choices (`Sequence[str]`): the question's answer choices.
        format (`str`): `"enumerated"`, `"string"` or `"cloze"`.
        answer_parsing (`str`, *optional*, defaults to `"strict"`): `"strict"` or `"lenient"`.

    Returns:
        The index of the named choice, or `None`.
    """
    _check_format(format)
    check_choice(None, "answer_parsing", ANSWER_PARSING, value=answer_parsing)
    if answer_parsing == "strict":
        return _parse_strict(text, choices, format)
    return _parse_lenient(text, choices, format)
