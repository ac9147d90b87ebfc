"""Argument checks of `answer_choice_mass` and its callback: questions, choices, demonstrations and the scalar options,
each error naming the argument (the generic checks are `trl_explore._validation`'s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

from ..._validation import check_bool, check_choice, check_int
from .prompts import SYMBOLS, _check_format, _check_instruction

#: how greedy generations are matched to the choices (`parse_generation`)
ANSWER_PARSING = ("strict", "lenient")
#: how demonstrations are drawn from their pool (`draw_demos` / `draw_shared_demos`)
DEMO_SAMPLING = ("per_question", "shared")
#: option presets of `answer_choice_mass`
PROTOCOLS = ("default", "released")


def _is_sequence(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _check_item(names: tuple[str, str, str], question: Any, choices: Any, answer: Any, format: str) -> None:
    """Validate one question; `names` label its question, choices and answer in the error messages."""
    q_name, c_name, a_name = names
    if not isinstance(question, str):
        raise ValueError(f"{q_name} must be a string, got {type(question).__name__}.")
    if not _is_sequence(choices) or len(choices) < 2:
        raise ValueError(f"{c_name} must be a sequence of at least 2 answer choices, got {choices!r}.")
    for c in choices:
        if not isinstance(c, str) or not c.strip():
            raise ValueError(f"{c_name}: every answer choice must be a non-empty string, got {c!r}.")
    if format == "enumerated" and len(choices) > len(SYMBOLS):
        raise ValueError(
            f"{c_name}: the enumerated format supports at most {len(SYMBOLS)} choices, got {len(choices)}."
        )
    if answer is not None and (
        isinstance(answer, bool) or not isinstance(answer, Integral) or not 0 <= answer < len(choices)
    ):
        raise ValueError(f"{a_name} must be a choice index in [0, {len(choices)}), got {answer!r}.")


def _check_demo(name: str, demo: Any, format: str) -> None:
    if not isinstance(demo, Mapping) or not {"question", "choices", "answer"} <= set(demo):
        raise ValueError(f"{name} must be a mapping with 'question', 'choices' and 'answer', got {demo!r}.")
    if demo["answer"] is None:
        raise ValueError(f"{name}['answer'] is missing: demonstrations need their answer.")
    _check_item(
        (f"{name}['question']", f"{name}['choices']", f"{name}['answer']"),
        demo["question"],
        demo["choices"],
        demo["answer"],
        format,
    )


def _check_inputs(model: Any, tokenizer: Any, questions: Any, choices: Any, answers: Any, format: Any) -> None:
    """The model, the tokenizer and the questions with their choices and answers."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module (a causal LM), got {type(model).__name__}.")
    if not callable(tokenizer) or not hasattr(tokenizer, "decode"):
        raise ValueError(f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}.")
    _check_format(format)
    if not _is_sequence(questions) or len(questions) == 0:
        raise ValueError("questions must be a non-empty sequence of strings.")
    if not _is_sequence(choices) or len(choices) != len(questions):
        raise ValueError(
            f"choices must be a sequence with one list of choices per question ({len(questions)}), got "
            f"{len(choices) if _is_sequence(choices) else type(choices).__name__}."
        )
    if answers is not None and (not _is_sequence(answers) or len(answers) != len(questions)):
        raise ValueError(f"answers must have one index per question ({len(questions)}).")
    for i, (q, c) in enumerate(zip(questions, choices)):
        _check_item(
            (f"questions[{i}]", f"choices[{i}]", f"answers[{i}]"), q, c, None if answers is None else answers[i], format
        )


def _check_options(
    format: str,
    num_shots: Any,
    surface_forms: Any,
    pmi: Any,
    batch_size: Any,
    seed: Any,
    use_chat_template: Any,
    greedy_max_new_tokens: Any,
    show_progress: Any,
) -> list[str]:
    """Validate the scalar options of `answer_choice_mass`; returns the surface-form templates (default filled in)."""
    _check_format(format)
    check_int(None, "num_shots", value=num_shots, low=0)
    check_int(None, "batch_size", value=batch_size, low=1)
    check_int(None, "seed", value=seed, low=0)
    check_int(None, "greedy_max_new_tokens", value=greedy_max_new_tokens, low=0)
    check_bool(None, "pmi", value=pmi)
    check_bool(None, "use_chat_template", value=use_chat_template)
    check_bool(None, "show_progress", value=show_progress)
    if surface_forms is None:
        return _default_surface_forms(format, use_chat_template)
    if not _is_sequence(surface_forms) or len(surface_forms) == 0:
        raise ValueError(f"surface_forms must be a non-empty sequence of templates, got {surface_forms!r}.")
    for t in surface_forms:
        if not isinstance(t, str) or _placeholder(format) not in t:
            raise ValueError(
                f"surface_forms: every template must be a string containing {_placeholder(format)} for the {format} "
                f"format, got {t!r}."
            )
    return list(surface_forms)


def _resolve_protocol(
    protocol: Any, format: str, instruction: Any, demo_sampling: Any, answer_parsing: Any
) -> tuple[str | None, str, str]:
    """``(instruction, demo_sampling, answer_parsing)`` with the preset's values where an option is `None`.

    ``"default"``: no header, a per-question draw, strict parsing. ``"released"``: the authors' released protocol —
    a header is required for the string and enumerated formats (`released_instruction`), one shared draw of the
    demonstrations from a separate pool, strict parsing.
    """
    check_choice(None, "protocol", PROTOCOLS, value=protocol)
    _check_instruction(instruction)
    released = protocol == "released"
    if demo_sampling is None:
        demo_sampling = "shared" if released else "per_question"
    if answer_parsing is None:
        answer_parsing = "strict"
    check_choice(None, "demo_sampling", DEMO_SAMPLING, value=demo_sampling)
    check_choice(None, "answer_parsing", ANSWER_PARSING, value=answer_parsing)
    if released and instruction is None and format != "cloze":
        raise ValueError(
            f"`instruction` is needed with protocol='released' for the {format} format: the released prompts open "
            "with a header, e.g. instruction=released_instruction('commonsense_qa', format)."
        )
    return instruction, demo_sampling, answer_parsing


def _placeholder(format: str) -> str:
    return "{symbol}" if format == "enumerated" else "{choice}"


def _default_surface_forms(format: str, use_chat_template: bool) -> list[str]:
    return [_placeholder(format) if use_chat_template else " " + _placeholder(format)]
