"""Evaluation metrics: pass@k / avg@k / maj@k, distribution smoothness, answer-choice probability mass.

Names are resolved lazily from their modules so importing this package stays cheap.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "avg_at_k": "sampling",
    "maj_at_k": "sampling",
    "pass_at_k_curve": "sampling",
    "smoothness": "smoothness",
    "kl_to_target": "smoothness",
    "answer_choice_mass": "answer_choice",
    "AnswerChoiceMassResult": "answer_choice",
    "ANSWER_CHOICE_MASS_EVALUATE_PATH": "answer_choice",
    "build_prompt": "answer_choice",
    "unconditional_premise": "answer_choice",
    "draw_demos": "answer_choice",
    "parse_generation": "answer_choice",
    "load_multiple_choice_dataset": "answer_choice",
    "plot_answer_choice_mass": "answer_choice",
    "draw_shared_demos": "answer_choice",
    "released_instruction": "answer_choice",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
