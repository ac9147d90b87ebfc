"""Final-answer extraction from model completions and gold solutions (pure Python, no sympy).

Every extractor scans the text in linear time and never uses a backtracking regular expression on the whole
completion, so a megabyte-long completion costs milliseconds. Brace groups are matched with an explicit depth counter
that gives up past a depth limit, so ``\\boxed{{{{...}}}}`` nested ten thousand deep is rejected, not recursed into.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "EXTRACTORS",
    "Extraction",
    "extract_answer",
    "extract_boxed",
    "extract_final_answer_phrase",
    "extract_gsm8k",
    "extract_last_number",
    "find_brace_group",
]


@dataclass(frozen=True)
class Extraction:
    """Result of an extraction.

    Attributes:
        answer (`str` or `None`): the extracted answer text, `None` when nothing usable was found.
        rejected (`str` or `None`): why the text was refused by a size / depth limit (``"too_long"``,
            ``"too_deep"``), `None` otherwise. A rejected answer always has ``answer=None``.
    """

    answer: str | None
    rejected: str | None = None


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def find_brace_group(text: str, start: int, max_depth: int, max_chars: int) -> int:
    """Return the index just past the ``}`` closing the ``{`` at ``text[start]``, or ``-1`` when unbalanced.

    Escaped braces (``\\{``, ``\\}``) are literal characters and do not open or close groups.

    Raises:
        _Rejected: when the nesting exceeds ``max_depth`` or the group is longer than ``max_chars``.
    """
    depth = 0
    i = start
    n = len(text)
    limit = min(n, start + max_chars + 2)
    while i < limit:
        ch = text[i]
        if ch == "\\":
            i += 2  # skip the escaped character (\{, \}, \\ ...)
            continue
        if ch == "{":
            depth += 1
            if depth > max_depth:
                raise _Rejected("too_deep")
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    if limit < n:
        raise _Rejected("too_long")
    return -1


_BOX_COMMANDS = ("\\boxed", "\\fbox")


def _last_box_start(text: str) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for cmd in _BOX_COMMANDS:
        pos = text.rfind(cmd)
        # skip longer command names that merely start with the box command (e.g. a hypothetical \boxedx)
        while pos != -1 and pos + len(cmd) < len(text) and text[pos + len(cmd)].isalpha():
            pos = text.rfind(cmd, 0, pos)
        if pos != -1 and (best is None or pos > best[0]):
            best = (pos, cmd)
    return best


def extract_boxed(text: str, max_depth: int = 50, max_chars: int = 2000) -> Extraction:
    """The content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (balanced, nested braces allowed).

    ``\\boxed 5`` (no braces) yields the next whitespace-delimited token. A truncated last box (unbalanced braces)
    yields no answer.
    """
    found = _last_box_start(text)
    if found is None:
        return Extraction(None)
    pos, cmd = found
    i = pos + len(cmd)
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i >= n:
        return Extraction(None)
    if text[i] != "{":
        j = i
        while j < n and not text[j].isspace() and text[j] not in "$":
            j += 1
            if j - i > max_chars:
                return Extraction(None, "too_long")
        token = text[i:j]
        return Extraction(token or None)
    try:
        end = find_brace_group(text, i, max_depth=max_depth, max_chars=max_chars)
    except _Rejected as err:
        return Extraction(None, err.reason)
    if end == -1:
        return Extraction(None)
    content = text[i + 1 : end - 1].strip()
    return Extraction(content or None)


def _line_after(text: str, start: int, max_chars: int) -> str | None:
    end = text.find("\n", start)
    if end == -1:
        end = len(text)
    if end - start > max_chars:
        return None
    return text[start:end]


def extract_gsm8k(text: str, max_depth: int = 50, max_chars: int = 2000) -> Extraction:
    """GSM8K convention: the rest of the line after the last ``####``."""
    pos = text.rfind("####")
    if pos == -1:
        return Extraction(None)
    line = _line_after(text, pos + 4, max_chars)
    if line is None:
        return Extraction(None, "too_long")
    line = line.strip().strip("$").strip()
    return Extraction(line or None)


_PHRASE = "final answer is"
_PHRASE_END = re.compile(r"\.(?:\s|$)|\n")


def extract_final_answer_phrase(text: str, max_depth: int = 50, max_chars: int = 2000) -> Extraction:
    """The text after the last "The final answer is" (case-insensitive), up to the end of the sentence or line.

    A ``\\boxed{}`` inside that sentence wins (``The final answer is $\\boxed{5}$``).
    """
    pos = text.lower().rfind(_PHRASE)
    if pos == -1:
        return Extraction(None)
    start = pos + len(_PHRASE)
    window = text[start : start + max_chars + 2]
    boxed = extract_boxed(window, max_depth=max_depth, max_chars=max_chars)
    if boxed.answer is not None or boxed.rejected is not None:
        return boxed
    window = window.lstrip(" :\t")
    if window.startswith("$"):
        close = window.find("$", 1)
        if close != -1:
            return Extraction(window[1:close].strip() or None)
    m = _PHRASE_END.search(window)
    end = m.start() if m else len(window)
    if m is None and len(text) - start > max_chars:
        return Extraction(None, "too_long")
    answer = window[:end].strip().strip("$").strip()
    return Extraction(answer or None)


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_last_number(text: str, max_depth: int = 50, max_chars: int = 2000) -> Extraction:
    """The last number in the text (digits with optional thousands commas, sign and decimals)."""
    # scan a bounded tail so a megabyte of digits cannot make this quadratic or huge
    tail = text[-(max_chars + 2) :]
    last = None
    for last in _NUMBER.finditer(tail):  # noqa: B007 - we want the final match
        pass
    if last is None:
        return Extraction(None)
    if last.start() == 0 and len(text) > len(tail) and text[-len(tail) - 1].isdigit():
        return Extraction(None, "too_long")
    return Extraction(last.group(0).rstrip(","))


EXTRACTORS: dict[str, Callable[..., Extraction]] = {
    "boxed": extract_boxed,
    "gsm8k": extract_gsm8k,
    "final_answer": extract_final_answer_phrase,
    "last_number": extract_last_number,
}


def _raw(text: str, max_depth: int = 50, max_chars: int = 2000) -> Extraction:
    stripped = text.strip()
    if not stripped:
        return Extraction(None)
    if len(stripped) > max_chars:
        return Extraction(None, "too_long")
    return Extraction(stripped)


def extract_answer(
    text: str, extractors: Sequence[str] = ("boxed",), max_depth: int = 50, max_chars: int = 2000
) -> Extraction:
    """Try the named extractors in order and return the first answer found.

    Args:
        text: completion or gold solution.
        extractors: names from :data:`EXTRACTORS` (``"boxed"``, ``"gsm8k"``, ``"final_answer"``, ``"last_number"``)
            plus ``"raw"`` (the whole stripped text, for gold columns that hold a bare answer).
        max_depth: brace nesting limit; deeper groups are rejected.
        max_chars: answer length limit; longer answers are rejected.

    Returns:
        The first :class:`Extraction` that found an answer or refused one by a limit (a refusal is final, so a
        rejected ``\\boxed{}`` never falls back to a looser extractor); ``Extraction(None)`` when nothing is found.
    """
    for name in extractors:
        fn = _raw if name == "raw" else EXTRACTORS[name]
        result = fn(text, max_depth=max_depth, max_chars=max_chars)
        # a candidate refused by a limit is final: falling back to a looser extractor would grade adversarial text
        if result.answer is not None or result.rejected is not None:
            return result
    return Extraction(None)
