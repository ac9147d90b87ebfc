"""Probability mass on answer choices: does a model attend to the answer choices of a multiple-choice question, and
does that explain its accuracy? (Wiegreffe et al., EMNLP 2023, arXiv 2305.14596.)

`answer_choice_mass` scores a causal LM on multiple-choice questions in one of three prompt formats and returns, per
question, the probability mass on the valid answer choices (PM), the full-sequence choice probabilities, the
predictions of sequence scoring, first-token scoring, PMI_DC and greedy generation, and the SFC certificate; the
aggregates are properties of the returned `AnswerChoiceMassResult`. The math is in
`trl_explore.functional.answer_choice`.

Cost. Every format runs one forward over the (left-padded) prompt batch that keeps only the last position's logits
(``logits_to_keep=1``): the answer position's softmax ``[B, V]``, never ``[T, V]`` for the prompt. PM and first-token
scores are read there. Continuations longer than one token (string and cloze formats, multi-token surface forms, the
PMI premise) are scored from that prefill's KV cache, repeated once per continuation (``Cache.reorder_cache`` with a
repeated index): the prompt is encoded once per question, not once per choice.

`answer_choice_mass` runs in named steps: check the inputs and options (`validation`), resolve the demonstrations
(`demos`), tokenise every question (`_prepare_questions`), score the batches (`_score_batches`) and assemble the
result (`_build_result`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .demos import _resolve_demos
from .encoding import _prepare, _Prepared
from .parsing import parse_generation
from .result import AnswerChoiceMassResult
from .scoring import _generate, _score
from .validation import _check_inputs, _check_options, _resolve_protocol

logger = logging.getLogger(__name__)

__all__ = ["answer_choice_mass"]


@dataclass(frozen=True)
class _Settings:
    """The validated options of one `answer_choice_mass` call."""

    format: str
    num_shots: int
    surface_forms: list[str]
    pmi: bool
    batch_size: int
    use_chat_template: bool
    greedy_max_new_tokens: int
    show_progress: bool
    instruction: str | None
    answer_parsing: str


@dataclass
class _Scores:
    """What the batches of one call produced, one entry per question."""

    first: list[list[float]]
    total: list[list[float]]
    mass: list[list[float]]
    unconditional: list[list[float]]
    generations: list[str]


def _pad_id(tokenizer: Any) -> int:
    """The pad token, else the eos token, else 0 (padding is masked; its id only has to exist)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return 0 if pad_id is None else pad_id


def _prepare_questions(
    tokenizer: Any,
    questions: Sequence[str],
    choices: Sequence[Sequence[str]],
    demo_lists: Sequence[Sequence[Mapping[str, Any]]],
    settings: _Settings,
) -> tuple[list[_Prepared], list[str]]:
    """Tokenise every question; returns them with a warning when whitespace was moved into the prompts."""
    prepared = [
        _prepare(
            tokenizer,
            q,
            c,
            d,
            settings.format,
            settings.surface_forms,
            settings.use_chat_template,
            settings.pmi,
            settings.instruction,
        )
        for q, c, d in zip(questions, choices, demo_lists)
    ]
    warnings_: list[str] = []
    num_moved = sum(1 for p in prepared if p.moved_prefix)
    if num_moved:
        example = next(p.moved_prefix for p in prepared if p.moved_prefix)
        warnings_.append(
            f"{num_moved} of {len(prepared)} questions: every surface form starts with the same token {example!r} "
            "under this tokenizer (no leading-space form of the answers); that whitespace was moved into the prompt "
            "so that the forms differ at the first token."
        )
    return prepared, warnings_


def _score_batches(
    model: torch.nn.Module, tokenizer: Any, prepared: Sequence[_Prepared], settings: _Settings, pad_id: int
) -> _Scores:
    """Score (and, when asked, generate for) every question, `batch_size` at a time, with the model in eval mode."""
    from tqdm.auto import tqdm

    scores = _Scores([], [], [], [], [])
    was_training = model.training
    model.eval()
    try:
        starts = range(0, len(prepared), settings.batch_size)
        desc = f"answer-choice mass ({settings.format}, {settings.num_shots}-shot)"
        for start in tqdm(starts, desc=desc, disable=not settings.show_progress):
            batch = prepared[start : start + settings.batch_size]
            first, total, extra = _score(
                model,
                [p.context for p in batch],
                [p.continuations for p in batch],
                [p.mass_ids for p in batch],
                pad_id,
            )
            scores.first += first
            scores.total += total
            scores.mass += extra
            if settings.pmi:
                scores.unconditional += _score(
                    model,
                    [p.premise for p in batch],
                    [p.premise_continuations for p in batch],
                    [[] for _ in batch],
                    pad_id,
                )[1]
            if settings.greedy_max_new_tokens:
                scores.generations += _generate(
                    model, tokenizer, [p.generation_context for p in batch], settings.greedy_max_new_tokens, pad_id
                )
    finally:
        model.train(was_training)
    return scores


def _build_result(
    scores: _Scores,
    prepared: Sequence[_Prepared],
    choices: Sequence[Sequence[str]],
    answers: Sequence[int] | None,
    settings: _Settings,
    warnings_: list[str],
) -> AnswerChoiceMassResult:
    """The result, its generations parsed, with a warning for first-token collisions; warnings are also logged."""
    generate = settings.greedy_max_new_tokens > 0
    result = AnswerChoiceMassResult(
        choice_logprobs=scores.total,
        first_token_logprobs=scores.first,
        first_token_ids=[[c[0] for c in p.continuations] for p in prepared],
        mass_token_ids=[p.mass_ids for p in prepared],
        mass_token_logprobs=scores.mass,
        answers=None if answers is None else [int(a) for a in answers],
        unconditional_logprobs=scores.unconditional if settings.pmi else None,
        generations=scores.generations if generate else None,
        pred_generation=[
            parse_generation(g, c, settings.format, settings.answer_parsing)
            for g, c in zip(scores.generations, choices)
        ]
        if generate
        else None,
        format=settings.format,
        num_shots=settings.num_shots,
        surface_forms=settings.surface_forms,
        moved_prefix=[p.moved_prefix for p in prepared],
        warnings=warnings_,
    )
    collisions = sum(result.first_token_collision)
    if collisions:
        result.warnings.append(
            f"{collisions} of {len(result)} questions have distinct choices that share their first token: PM counts "
            "it once and first-token scoring cannot tell those choices apart."
        )
    for message in result.warnings:
        logger.warning(message)
    return result


def answer_choice_mass(
    model: torch.nn.Module,
    tokenizer: Any,
    questions: Sequence[str],
    choices: Sequence[Sequence[str]],
    format: str = "enumerated",
    num_shots: int = 0,
    demos: Sequence[Mapping[str, Any]] | Sequence[Sequence[Mapping[str, Any]]] | None = None,
    surface_forms: Sequence[str] | None = None,
    pmi: bool = False,
    batch_size: int = 8,
    *,
    answers: Sequence[int] | None = None,
    seed: int = 0,
    use_chat_template: bool = False,
    greedy_max_new_tokens: int = 0,
    show_progress: bool = True,
    instruction: str | None = None,
    demo_sampling: str | None = None,
    answer_parsing: str | None = None,
    protocol: str = "default",
) -> AnswerChoiceMassResult:
    """Probability mass on the answer choices, choice probabilities, predictions and the SFC certificate.

    Args:
        model (`torch.nn.Module`):
            A causal LM (transformers `PreTrainedModel`, PEFT-wrapped or not). It is put in eval mode for the call and
            restored afterwards.
        tokenizer:
            Its tokenizer.
        questions (`Sequence[str]`):
            The questions.
        choices (`Sequence[Sequence[str]]`):
            The answer choices of each question (at least 2, non-empty; at most 26 in the enumerated format).
        format (`str`, *optional*, defaults to `"enumerated"`):
            Prompt format: `"enumerated"` (choices listed as `A:`, `B:` …, the answer is a symbol), `"string"`
            (choices listed in a sentence, the answer is the choice's text) or `"cloze"` (the bare question, the
            answer is the choice's text). See `build_prompt`.
        num_shots (`int`, *optional*, defaults to `0`):
            In-context demonstrations per question.
        demos (*optional*):
            Where demonstrations come from: `None` — the other evaluated questions (needs `answers`); a sequence of
            mappings with `question`, `choices`, `answer` — a pool; a sequence of per-question sequences — used as
            given (the first `num_shots` of each). A pool is drawn from as `demo_sampling` says.
        surface_forms (`Sequence[str]`, *optional*):
            Templates of the answer's surface form, with `{symbol}` (enumerated) or `{choice}` (string, cloze). The
            first is scored; the first tokens of all of them count in PM (deduplicated by token id), e.g.
            `["{symbol}", " {symbol}", "({symbol})"]`. Default: `[" {symbol}"]` / `[" {choice}"]`, without the
            leading space under `use_chat_template`.
        pmi (`bool`, *optional*, defaults to `False`):
            Also score each choice after the question-free premise (`unconditional_premise`) for PMI_DC.
        batch_size (`int`, *optional*, defaults to `8`):
            Questions per forward; their multi-token continuations (up to `batch_size` × choices rows) share one
            forward from the repeated prompt cache.
        answers (`Sequence[int]`, *optional*):
            Gold choice indices; needed for the accuracies and for demonstrations drawn from the questions.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the demonstrations' shuffle.
        use_chat_template (`bool`, *optional*, defaults to `False`):
            Render the prompt with the tokenizer's chat template (demonstrations as user / assistant turns).
        greedy_max_new_tokens (`int`, *optional*, defaults to `0`):
            When > 0, also generate greedily up to this many tokens and parse the answer (`parse_generation`):
            generation accuracy and invalid-answer rate.
        show_progress (`bool`, *optional*, defaults to `True`):
            Progress bar over the batches.
        instruction (`str`, *optional*):
            A header opening every prompt, followed by a blank line (default: none; with `protocol="released"` it is
            required for the string and enumerated formats: `released_instruction` gives the released headers). Not
            part of the PMI premise.
        demo_sampling (`str`, *optional*):
            How demonstrations are drawn from a pool: `"per_question"` (default; a seeded shuffle per question,
            `draw_demos`) or `"shared"` (the released code's: one draw, the same k demonstrations for every question,
            `draw_shared_demos`; needs a pool in `demos`). Default: the `protocol`'s.
        answer_parsing (`str`, *optional*):
            How a greedy generation is matched to the choices (`parse_generation`): `"strict"` (default; the released
            rule, an exact symbol or choice after stripping periods and whitespace) or `"lenient"` (a prefix,
            case-insensitive). Rejected generations count in `invalid_rate`.
        protocol (`str`, *optional*, defaults to `"default"`):
            Preset for the options left at `None`: `"default"` (no header, per-question draw, strict parsing) or
            `"released"` (the authors' released prompts: a header, one shared draw from a separate pool, strict
            parsing; with `seed=10` and the training split as `demos`, the released prompts byte for byte).

    Returns:
        `AnswerChoiceMassResult`.

    Raises:
        ValueError: naming the argument, for a wrong type, value or length.
    """
    _check_inputs(model, tokenizer, questions, choices, answers, format)
    surface_forms = _check_options(
        format, num_shots, surface_forms, pmi, batch_size, seed, use_chat_template, greedy_max_new_tokens, show_progress
    )
    instruction, demo_sampling, answer_parsing = _resolve_protocol(
        protocol, format, instruction, demo_sampling, answer_parsing
    )
    if use_chat_template and not getattr(tokenizer, "chat_template", None):
        raise ValueError("use_chat_template=True needs a tokenizer with a chat template.")
    settings = _Settings(
        format,
        num_shots,
        surface_forms,
        pmi,
        batch_size,
        use_chat_template,
        greedy_max_new_tokens,
        show_progress,
        instruction,
        answer_parsing,
    )
    demo_lists = _resolve_demos(demos, questions, choices, answers, num_shots, seed, format, demo_sampling)
    prepared, warnings_ = _prepare_questions(tokenizer, questions, choices, demo_lists, settings)
    scores = _score_batches(model, tokenizer, prepared, settings, _pad_id(tokenizer))
    return _build_result(scores, prepared, choices, answers, settings, warnings_)
