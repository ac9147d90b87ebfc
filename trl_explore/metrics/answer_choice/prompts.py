"""The prompt formats of Wiegreffe et al. (arXiv 2305.14596, §3 and Appendix): the question, its demonstrations, the
optional instruction header and the question-free premise of PMI_DC, as plain text."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CLOZE_PREMISE",
    "FORMATS",
    "RELEASED_INSTRUCTIONS",
    "SYMBOLS",
    "build_prompt",
    "released_instruction",
    "unconditional_premise",
]

FORMATS = ("enumerated", "string", "cloze")
SYMBOLS = string.ascii_uppercase
#: the question-free premise of PMI_DC for the cloze format
CLOZE_PREMISE = "?"

#: The instruction headers of the authors' released prompts, per dataset and format (the cloze format has none). The
#: string format opens with "Let's answer {keyword} questions."; the enumerated format with a description of the
#: questions and the number of options. MMLU's enumerated header names the subject (``{subject}``, e.g.
#: ``"abstract algebra"``).
RELEASED_INSTRUCTIONS: dict[str, dict[str, str]] = {
    "commonsense_qa": {
        "string": "Let's answer commonsense reasoning questions.",
        "enumerated": "The following are multiple-choice questions about everyday situations. For the question "
        "below, select the most suitable answer from the 5 options given.",
    },
    "openbookqa": {
        "string": "Let's answer science questions.",
        "enumerated": "The following are elementary-level multiple-choice questions about science. For the question "
        "below, select the most suitable answer from the 4 options given.",
    },
    "mmlu": {
        "string": "Let's answer multiple-choice questions.",
        "enumerated": "The following are multiple-choice questions about {subject}. For the question below, select "
        "the most suitable answer from the 4 options given.",
    },
}


def _check_format(format: Any) -> None:
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}, got {format!r}.")


def released_instruction(dataset: str, format: str, subject: str | None = None) -> str | None:
    """The instruction header of the released prompts for `dataset` (``"commonsense_qa"``, ``"openbookqa"`` or
    ``"mmlu"``) in `format`; `None` for the cloze format, which has no header.

    Args:
        dataset (`str`): one of `RELEASED_INSTRUCTIONS`.
        format (`str`): one of `FORMATS`.
        subject (`str`, *optional*): MMLU's subject for the enumerated header, with spaces
            (``"high school physics"``; underscores are replaced).
    """
    _check_format(format)
    if dataset not in RELEASED_INSTRUCTIONS:
        raise ValueError(f"`dataset` must be one of {sorted(RELEASED_INSTRUCTIONS)}, got {dataset!r}.")
    if format == "cloze":
        return None
    text = RELEASED_INSTRUCTIONS[dataset][format]
    if "{subject}" in text:
        if not isinstance(subject, str) or not subject.strip():
            raise ValueError(
                f"`subject` is needed for {dataset}'s {format} header (e.g. 'abstract algebra'), got {subject!r}."
            )
        text = text.replace("{subject}", subject.replace("_", " "))
    return text


def _join_choices(choices: Sequence[str]) -> str:
    """``a``; ``a or b``; ``a, b, or c``."""
    if len(choices) <= 2:
        return " or ".join(choices)
    return ", ".join(choices[:-1]) + ", or " + choices[-1]


def _enumerated_list(choices: Sequence[str]) -> str:
    return "".join(f"\n {SYMBOLS[i]}: {c}" for i, c in enumerate(choices))


def _question_text(question: str, choices: Sequence[str], format: str) -> str:
    """The prompt of one question, without its answer."""
    if format == "cloze":
        return question
    if format == "string":
        return f"question: {question}\nanswer choices: {_join_choices(choices)}\nThe correct answer is:"
    return f"Question: {question}\nChoices:{_enumerated_list(choices)}\nAnswer:"


def _answer_text(choices: Sequence[str], answer: int, format: str) -> str:
    """What a demonstration's answer says: the symbol (enumerated) or the choice's text."""
    return SYMBOLS[answer] if format == "enumerated" else choices[answer]


def _demo_text(demo: Mapping[str, Any], format: str) -> str:
    """A demonstration with its answer: ``"{q} {answer}\\n"`` (cloze) or the prompt, the answer and a blank line."""
    text = _question_text(demo["question"], demo["choices"], format)
    answer = _answer_text(demo["choices"], demo["answer"], format)
    return f"{text} {answer}\n" if format == "cloze" else f"{text} {answer}\n\n"


def _header(instruction: str | None) -> str:
    """The instruction followed by a blank line, or nothing."""
    return f"{instruction}\n\n" if instruction else ""


def _check_instruction(instruction: Any) -> None:
    if instruction is not None and not isinstance(instruction, str):
        raise ValueError(f"`instruction` must be a string or None, got {instruction!r} ({type(instruction).__name__}).")


def build_prompt(
    question: str,
    choices: Sequence[str],
    format: str = "enumerated",
    demos: Sequence[Mapping[str, Any]] = (),
    instruction: str | None = None,
) -> str:
    """The plain-text prompt of a question in one of the paper's formats, after its in-context demonstrations.

    * ``cloze``: ``"{question}"`` (the choice is scored as the continuation ``" {choice}"``); demos ``"{q} {answer}\\n"``.
    * ``string``: ``"question: {q}\\nanswer choices: a, b, or c\\nThe correct answer is:"``.
    * ``enumerated``: ``"Question: {q}\\nChoices:\\n A: {a}\\n B: {b}\\nAnswer:"`` (demos end with ``"Answer: {symbol}"``).

    String and enumerated demos are separated from what follows by a blank line. An `instruction` opens the prompt,
    followed by a blank line: ``"{instruction}\\n\\n{demos}{question}"`` (the released prompts' header, see
    `released_instruction`).

    Args:
        question (`str`): the question.
        choices (`Sequence[str]`): its answer choices.
        format (`str`, *optional*, defaults to `"enumerated"`): one of `FORMATS`.
        demos (`Sequence[Mapping]`, *optional*): demonstrations, each with ``question``, ``choices`` and ``answer``
            (the index of the correct choice).
        instruction (`str`, *optional*): a header line before the demonstrations (none by default).
    """
    _check_format(format)
    _check_instruction(instruction)
    return (
        _header(instruction) + "".join(_demo_text(d, format) for d in demos) + _question_text(question, choices, format)
    )


def unconditional_premise(choices: Sequence[str], format: str = "enumerated") -> str:
    """The question-free premise ``x_unc`` of PMI_DC: ``"?"`` (cloze), ``"answer choices: …\\nThe correct answer
    is:"`` (string), ``"Choices:\\n A: …\\nAnswer:"`` (enumerated). No header, no demonstrations (as released)."""
    _check_format(format)
    if format == "cloze":
        return CLOZE_PREMISE
    if format == "string":
        return f"answer choices: {_join_choices(choices)}\nThe correct answer is:"
    return f"Choices:{_enumerated_list(choices)}\nAnswer:"
