"""Probability mass on answer choices: does a model attend to the answer choices of a multiple-choice question, and
does that explain its accuracy? (Wiegreffe et al., EMNLP 2023, arXiv 2305.14596.)

One module per job: `prompts` (the formats and the released instruction headers), `demos` (in-context
demonstrations), `validation`, `encoding` (tokenisation of one question), `scoring` (the cached forwards and greedy
generation), `parsing` (which choice a generation names), `result` (`AnswerChoiceMassResult`), `core`
(`answer_choice_mass`), `plot` and `data` (loading multiple-choice sets). The math is in
`trl_explore.functional.answer_choice`.
"""

from __future__ import annotations

from pathlib import Path

from .core import answer_choice_mass
from .data import load_multiple_choice_dataset
from .demos import draw_demos, draw_shared_demos
from .parsing import parse_generation
from .plot import plot_answer_choice_mass
from .prompts import (
    CLOZE_PREMISE,
    FORMATS,
    RELEASED_INSTRUCTIONS,
    SYMBOLS,
    build_prompt,
    released_instruction,
    unconditional_premise,
)
from .result import AnswerChoiceMassResult
from .validation import ANSWER_PARSING, DEMO_SAMPLING, PROTOCOLS

#: folder of the `evaluate` metric module: ``evaluate.load(ANSWER_CHOICE_MASS_EVALUATE_PATH)`` (works offline)
ANSWER_CHOICE_MASS_EVALUATE_PATH = str(
    Path(__file__).resolve().parent.parent / "evaluate_modules" / "answer_choice_mass"
)

__all__ = [
    "ANSWER_CHOICE_MASS_EVALUATE_PATH",
    "ANSWER_PARSING",
    "CLOZE_PREMISE",
    "DEMO_SAMPLING",
    "FORMATS",
    "PROTOCOLS",
    "RELEASED_INSTRUCTIONS",
    "SYMBOLS",
    "AnswerChoiceMassResult",
    "answer_choice_mass",
    "build_prompt",
    "draw_demos",
    "draw_shared_demos",
    "load_multiple_choice_dataset",
    "parse_generation",
    "plot_answer_choice_mass",
    "released_instruction",
    "unconditional_premise",
]
