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
"""

from __future__ import annotations

import logging
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..functional.answer_choice import masked_argmax, pad_ragged, pmi_log_scores, sfc_certificate, unique_token_mass

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

FORMATS = ("enumerated", "string", "cloze")
#: folder of the `evaluate` metric module: ``evaluate.load(ANSWER_CHOICE_MASS_EVALUATE_PATH)`` (works offline)
ANSWER_CHOICE_MASS_EVALUATE_PATH = str(Path(__file__).resolve().parent / "evaluate_modules" / "answer_choice_mass")
SYMBOLS = string.ascii_uppercase
#: the question-free premise of PMI_DC for the cloze format
CLOZE_PREMISE = "?"

__all__ = [
    "ANSWER_CHOICE_MASS_EVALUATE_PATH",
    "FORMATS",
    "AnswerChoiceMassResult",
    "answer_choice_mass",
    "build_prompt",
    "draw_demos",
    "load_multiple_choice_dataset",
    "parse_generation",
    "plot_answer_choice_mass",
    "unconditional_premise",
]


# --------------------------------------------------------------------------------------------------------------------
# Prompt formats (Wiegreffe et al.)
# --------------------------------------------------------------------------------------------------------------------


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


def build_prompt(
    question: str, choices: Sequence[str], format: str = "enumerated", demos: Sequence[Mapping[str, Any]] = ()
) -> str:
    """The plain-text prompt of a question in one of the paper's formats, after its in-context demonstrations.

    * ``cloze``: ``"{question}"`` (the choice is scored as the continuation ``" {choice}"``); demos ``"{q} {answer}\\n"``.
    * ``string``: ``"question: {q}\\nanswer choices: a, b, or c\\nThe correct answer is:"``.
    * ``enumerated``: ``"Question: {q}\\nChoices:\\n A: {a}\\n B: {b}\\nAnswer:"`` (demos end with ``"Answer: {symbol}"``).

    String and enumerated demos are separated from what follows by a blank line.

    Args:
        question (`str`): the question.
        choices (`Sequence[str]`): its answer choices.
        format (`str`, *optional*, defaults to `"enumerated"`): one of `FORMATS`.
        demos (`Sequence[Mapping]`, *optional*): demonstrations, each with ``question``, ``choices`` and ``answer``
            (the index of the correct choice).
    """
    _check_format(format)
    return "".join(_demo_text(d, format) for d in demos) + _question_text(question, choices, format)


def unconditional_premise(choices: Sequence[str], format: str = "enumerated") -> str:
    """The question-free premise ``x_unc`` of PMI_DC: ``"?"`` (cloze), ``"answer choices: …\\nThe correct answer
    is:"`` (string), ``"Choices:\\n A: …\\nAnswer:"`` (enumerated)."""
    _check_format(format)
    if format == "cloze":
        return CLOZE_PREMISE
    if format == "string":
        return f"answer choices: {_join_choices(choices)}\nThe correct answer is:"
    return f"Choices:{_enumerated_list(choices)}\nAnswer:"


def draw_demos(
    pool: Sequence[Mapping[str, Any]], num_items: int, num_shots: int, seed: int = 0, exclude_self: bool = False
) -> list[list[Mapping[str, Any]]]:
    """In-context demonstrations for each of `num_items` questions, drawn by a seeded shuffle of `pool`.

    Question ``i`` shuffles the pool with ``numpy.random.default_rng([seed, i])`` and takes the first `num_shots`
    entries (skipping entry ``i`` itself when `exclude_self`, i.e. when the pool is the evaluated set). The draw of
    ``k`` shots is a prefix of the draw of ``k + 1`` shots, so results at different k differ only by the added demos.
    """
    _check_int("num_shots", num_shots, 0)
    _check_int("num_items", num_items, 0)
    _check_int("seed", seed, None)
    available = len(pool) - (1 if exclude_self else 0)
    if num_shots > available:
        raise ValueError(
            f"num_shots={num_shots} needs at least {num_shots} demonstrations per question, the pool has {available}."
        )
    out = []
    for i in range(num_items):
        if num_shots == 0:
            out.append([])
            continue
        order = np.random.default_rng([seed, i]).permutation(len(pool))
        picked = [int(j) for j in order if not (exclude_self and j == i)][:num_shots]
        out.append([pool[j] for j in picked])
    return out


# --------------------------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------------------------


def _check_format(format: Any) -> None:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}.")


def _check_int(name: str, value: Any, low: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {value!r} ({type(value).__name__}).")


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
        raise ValueError(f"{c_name}: the enumerated format supports at most {len(SYMBOLS)} choices, got {len(choices)}.")
    if answer is not None and (
        isinstance(answer, bool) or not isinstance(answer, (int, np.integer)) or not 0 <= answer < len(choices)
    ):
        raise ValueError(f"{a_name} must be a choice index in [0, {len(choices)}), got {answer!r}.")


def _check_demo(name: str, demo: Any, format: str) -> None:
    if not isinstance(demo, Mapping) or not {"question", "choices", "answer"} <= set(demo):
        raise ValueError(f"{name} must be a mapping with 'question', 'choices' and 'answer', got {demo!r}.")
    if demo["answer"] is None:
        raise ValueError(f"{name}['answer'] is missing: demonstrations need their answer.")
    _check_item((f"{name}['question']", f"{name}['choices']", f"{name}['answer']"), demo["question"],
                demo["choices"], demo["answer"], format)


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
    _check_int("num_shots", num_shots, 0)
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, None)
    _check_int("greedy_max_new_tokens", greedy_max_new_tokens, 0)
    _check_bool("pmi", pmi)
    _check_bool("use_chat_template", use_chat_template)
    _check_bool("show_progress", show_progress)
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


def _placeholder(format: str) -> str:
    return "{symbol}" if format == "enumerated" else "{choice}"


def _default_surface_forms(format: str, use_chat_template: bool) -> list[str]:
    return [_placeholder(format) if use_chat_template else " " + _placeholder(format)]


# --------------------------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _accuracy(predictions: Sequence[int | None] | None, answers: Sequence[int] | None) -> float | None:
    if predictions is None or answers is None:
        return None
    return _mean([float(p is not None and p == a) for p, a in zip(predictions, answers)])


@dataclass
class AnswerChoiceMassResult:
    """Per-question scores of `answer_choice_mass` (lists, one entry per question) and their aggregates (properties).

    Attributes:
        mass: PM, the summed probability of the unique first tokens of every surface form of every choice.
        all_token_mass: Σ_i P(c_i | x) with full-sequence probabilities of the primary surface forms.
        choice_probs: P(c_i | x) per choice (full sequence of the primary surface form).
        first_token_probs: P(first token of c_i | x) per choice (primary surface form).
        pred_sequence: argmax of `choice_probs` (sequence scoring).
        pred_first_token: argmax of `first_token_probs` (first-token scoring; the first index on ties).
        sfc_resolved: the SFC certificate, ``max(0, 1 − Σ choice_probs) < P(top) − P(second)``.
        pmi_scores: ``P(c_i | x) / P(c_i | x_unc)`` per choice (`None` unless `pmi=True`).
        pred_pmi: argmax of the PMI scores (computed in log space).
        generations: greedy generations (`None` when `greedy_max_new_tokens=0`).
        pred_generation: the choice a generation names, `None` for an invalid answer.
        answers: gold choice indices (`None` when not given: accuracies are then `None`).
        choice_logprobs, first_token_logprobs, first_token_ids: the log-probabilities and ids behind the above.
        mass_token_ids, mass_token_logprobs: the first tokens PM sums over (duplicates listed, counted once).
        unconditional_logprobs: log P(c_i | x_unc) (`None` unless `pmi=True`).
        first_token_collision: distinct choices whose first tokens coincide (PM counts them once; first-token
            scoring cannot tell them apart).
        moved_prefix: whitespace moved from the surface forms into the prompt because every choice's form began
            with the same whitespace token (``" A"``, ``" B"`` under a character-level tokenizer); ``""`` otherwise.
        format, num_shots, surface_forms: the settings.
        warnings: what the run noticed (collisions, moved prefixes).
    """

    choice_logprobs: list[list[float]]
    first_token_logprobs: list[list[float]]
    first_token_ids: list[list[int]]
    mass_token_ids: list[list[int]]
    mass_token_logprobs: list[list[float]]
    answers: list[int] | None = None
    unconditional_logprobs: list[list[float]] | None = None
    generations: list[str] | None = None
    pred_generation: list[int | None] | None = None
    format: str = "custom"
    num_shots: int = 0
    surface_forms: list[str] = field(default_factory=list)
    moved_prefix: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # derived in __post_init__ (pure functions of the fields above)
    mass: list[float] = field(init=False)
    all_token_mass: list[float] = field(init=False)
    choice_probs: list[list[float]] = field(init=False)
    first_token_probs: list[list[float]] = field(init=False)
    pred_sequence: list[int] = field(init=False)
    pred_first_token: list[int] = field(init=False)
    sfc_resolved: list[bool] = field(init=False)
    pmi_scores: list[list[float]] | None = field(init=False)
    pred_pmi: list[int] | None = field(init=False)
    first_token_collision: list[bool] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.choice_logprobs)
        for name in ("first_token_logprobs", "first_token_ids", "mass_token_ids", "mass_token_logprobs"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, choice_logprobs has {n}.")
        if self.answers is not None and len(self.answers) != n:
            raise ValueError(f"answers has {len(self.answers)} entries, choice_logprobs has {n} rows.")
        seq, seq_mask = pad_ragged(self.choice_logprobs, fill=float("-inf"))  # [B, m]
        first, first_mask = pad_ragged(self.first_token_logprobs, fill=float("-inf"))  # [B, m]
        if not torch.equal(seq_mask, first_mask):
            raise ValueError("first_token_logprobs must have one entry per choice, like choice_logprobs.")
        mass_lp, mass_mask = pad_ragged(self.mass_token_logprobs, fill=float("-inf"))  # [B, K]
        mass_ids, ids_mask = pad_ragged(self.mass_token_ids, fill=-1, dtype=torch.long)  # [B, K]
        if not torch.equal(mass_mask, ids_mask):
            raise ValueError("mass_token_ids and mass_token_logprobs must have the same number of entries per row.")
        probs = seq.exp()  # [B, m]
        mass, _ = unique_token_mass(mass_lp, mass_ids, mass_mask)
        resolved, _ = sfc_certificate(probs, seq_mask)
        self.mass = mass.tolist()
        self.all_token_mass = probs.sum(dim=1).tolist()
        self.choice_probs = [[math.exp(v) for v in row] for row in self.choice_logprobs]
        self.first_token_probs = [[math.exp(v) for v in row] for row in self.first_token_logprobs]
        self.pred_sequence = masked_argmax(seq, seq_mask).tolist()
        self.pred_first_token = masked_argmax(first, first_mask).tolist()
        self.sfc_resolved = resolved.tolist()
        self.first_token_collision = [
            len(set(ids)) < len(ids) for ids in (list(map(int, row)) for row in self.first_token_ids)
        ]
        self.pmi_scores = self.pred_pmi = None
        if self.unconditional_logprobs is not None:
            unc, unc_mask = pad_ragged(self.unconditional_logprobs, fill=float("-inf"))
            if not torch.equal(unc_mask, seq_mask):
                raise ValueError("unconditional_logprobs must have one entry per choice, like choice_logprobs.")
            log_ratio = pmi_log_scores(seq.masked_fill(~seq_mask, 0.0), unc.masked_fill(~unc_mask, 0.0))  # [B, m]
            self.pmi_scores = [log_ratio[b, : len(row)].exp().tolist() for b, row in enumerate(self.choice_logprobs)]
            self.pred_pmi = masked_argmax(log_ratio, seq_mask).tolist()

    @classmethod
    def from_logprobs(
        cls,
        choice_logprobs: Sequence[Sequence[float]],
        answers: Sequence[int] | None = None,
        first_token_logprobs: Sequence[Sequence[float]] | None = None,
        first_token_ids: Sequence[Sequence[int]] | None = None,
        unconditional_logprobs: Sequence[Sequence[float]] | None = None,
        mass_token_logprobs: Sequence[Sequence[float]] | None = None,
        mass_token_ids: Sequence[Sequence[int]] | None = None,
    ) -> AnswerChoiceMassResult:
        """Scores from precomputed log-probabilities (no model): what the `evaluate` module computes.

        Args:
            choice_logprobs: ``[N][m_i]`` log P(c_j | x_i), full sequence.
            answers: gold choice indices.
            first_token_logprobs: ``[N][m_i]`` log P(first token of c_j | x_i) (default: `choice_logprobs`, i.e.
                single-token choices such as the enumerated symbols).
            first_token_ids: ``[N][m_i]`` first-token ids, to count shared first tokens once (default: all distinct).
            unconditional_logprobs: ``[N][m_i]`` log P(c_j | x_unc) for PMI_DC.
            mass_token_logprobs: ``[N][K_i]`` log-probabilities of the tokens PM sums over when they are more than the
                choices' first tokens (surface-form variants); default: the first tokens.
            mass_token_ids: ``[N][K_i]`` their token ids (duplicates count once); given with `mass_token_logprobs`.
        """
        choice_logprobs = [[float(v) for v in row] for row in choice_logprobs]
        first = choice_logprobs if first_token_logprobs is None else [[float(v) for v in r] for r in first_token_logprobs]
        if len(first) != len(choice_logprobs):
            raise ValueError(
                f"first_token_logprobs has {len(first)} rows, choice_logprobs has {len(choice_logprobs)}."
            )
        if first_token_ids is None:
            first_ids = [list(range(len(row))) for row in choice_logprobs]
        else:
            first_ids = [[int(v) for v in row] for row in first_token_ids]
            if [len(r) for r in first_ids] != [len(r) for r in choice_logprobs]:
                raise ValueError("first_token_ids must have one id per choice, like choice_logprobs.")
        if (mass_token_logprobs is None) != (mass_token_ids is None):
            raise ValueError("mass_token_logprobs and mass_token_ids must be given together.")
        if mass_token_logprobs is None:
            mass_lp, mass_ids = first, first_ids
        else:
            mass_lp = [[float(v) for v in r] for r in mass_token_logprobs]
            mass_ids = [[int(v) for v in r] for r in mass_token_ids]
        return cls(
            choice_logprobs=choice_logprobs,
            first_token_logprobs=first,
            first_token_ids=first_ids,
            mass_token_ids=mass_ids,
            mass_token_logprobs=mass_lp,
            answers=None if answers is None else [int(a) for a in answers],
            unconditional_logprobs=None
            if unconditional_logprobs is None
            else [[float(v) for v in r] for r in unconditional_logprobs],
        )

    # ------------------------------------------------------------------------------------------------ aggregates
    def __len__(self) -> int:
        return len(self.choice_logprobs)

    @property
    def mean_mass(self) -> float:
        """Mean PM over the questions."""
        return _mean(self.mass)

    @property
    def mean_all_token_mass(self) -> float:
        return _mean(self.all_token_mass)

    @property
    def accuracy(self) -> float | None:
        """Sequence-scoring accuracy (argmax of the full-sequence choice probability)."""
        return _accuracy(self.pred_sequence, self.answers)

    @property
    def first_token_accuracy(self) -> float | None:
        return _accuracy(self.pred_first_token, self.answers)

    @property
    def pmi_accuracy(self) -> float | None:
        return _accuracy(self.pred_pmi, self.answers)

    @property
    def generation_accuracy(self) -> float | None:
        """Accuracy of greedy generation (an invalid answer counts as wrong)."""
        return _accuracy(self.pred_generation, self.answers)

    @property
    def invalid_rate(self) -> float | None:
        """Share of greedy generations that name none of the choices."""
        if self.pred_generation is None:
            return None
        return _mean([float(p is None) for p in self.pred_generation])

    @property
    def sfc_resolved_fraction(self) -> float:
        """Share of questions whose prediction the SFC certificate secures."""
        return _mean([float(r) for r in self.sfc_resolved])

    @property
    def first_token_collision_rate(self) -> float:
        return _mean([float(c) for c in self.first_token_collision])

    def summary(self) -> dict[str, Any]:
        """The aggregates as a flat dict (``None`` where not measured)."""
        return {
            "format": self.format,
            "num_shots": self.num_shots,
            "num_questions": len(self),
            "mass": self.mean_mass,
            "all_token_mass": self.mean_all_token_mass,
            "accuracy": self.accuracy,
            "first_token_accuracy": self.first_token_accuracy,
            "pmi_accuracy": self.pmi_accuracy,
            "generation_accuracy": self.generation_accuracy,
            "invalid_rate": self.invalid_rate,
            "sfc_resolved": self.sfc_resolved_fraction,
            "first_token_collision_rate": self.first_token_collision_rate,
        }

    def to_dict(self) -> dict[str, Any]:
        """Every per-question field and the summary (JSON-serialisable)."""
        return {**asdict(self), "summary": self.summary()}


# --------------------------------------------------------------------------------------------------------------------
# Tokenisation of prompts and continuations
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    """One question, tokenised: the prompt, the primary continuation per choice, PM's first-token ids, the premise."""

    context: list[int]
    continuations: list[list[int]]
    mass_ids: list[int]
    moved_prefix: str
    premise: list[int] | None = None
    premise_continuations: list[list[int]] | None = None
    generation_context: list[int] = field(default_factory=list)


def _split_encode(tokenizer: Any, context: str, continuations: Sequence[str], add_special: bool):
    """Token ids of `context` and of each continuation as it follows the context.

    The whole string ``context + continuation`` is encoded and split after the context's tokens (so tokenizers that
    add a prefix space, like SentencePiece, see the continuation in place); when the tokenizer merges across the
    boundary the continuation is encoded alone.
    """
    ctx = tokenizer(context, add_special_tokens=add_special)["input_ids"]
    wholes = tokenizer([context + c for c in continuations], add_special_tokens=add_special)["input_ids"]
    conts = []
    for text, whole in zip(continuations, wholes):
        if len(whole) > len(ctx) and whole[: len(ctx)] == ctx:
            conts.append(list(whole[len(ctx) :]))
        else:
            conts.append(list(tokenizer(text, add_special_tokens=False)["input_ids"]))
        if not conts[-1]:
            raise ValueError(f"the surface form {text!r} encodes to no token after the prompt.")
    return list(ctx), conts


def _render(tokenizer: Any, demos: Sequence[Mapping[str, Any]], prompt: str, format: str, chat: bool) -> str:
    if not chat:
        return "".join(_demo_text(d, format) for d in demos) + prompt
    messages: list[dict[str, str]] = []
    for d in demos:
        messages.append({"role": "user", "content": _question_text(d["question"], d["choices"], format)})
        messages.append({"role": "assistant", "content": _answer_text(d["choices"], d["answer"], format)})
    messages.append({"role": "user", "content": prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _fill(template: str, format: str, choices: Sequence[str], i: int) -> str:
    value = SYMBOLS[i] if format == "enumerated" else choices[i]
    return template.replace(_placeholder(format), value)


def _prepare(
    tokenizer: Any,
    question: str,
    choices: Sequence[str],
    demos: Sequence[Mapping[str, Any]],
    format: str,
    surface_forms: Sequence[str],
    chat: bool,
    pmi: bool,
) -> _Prepared:
    add_special = not chat  # a rendered chat template already holds its special tokens
    context = _render(tokenizer, demos, _question_text(question, choices, format), format, chat)
    forms = [[_fill(t, format, choices, i) for i in range(len(choices))] for t in surface_forms]  # [templates][m]
    ctx, conts = _split_encode(tokenizer, context, forms[0], add_special)
    generation_context = ctx
    moved = ""
    firsts = {c[0] for c in conts}
    if len(firsts) == 1:
        # Every choice starts with the same token. When that token is whitespace that all the forms begin with (" A",
        # " B" under a character-level tokenizer), it carries no choice: move it into the prompt, score the rest.
        shared = tokenizer.decode([conts[0][0]])
        if shared and not shared.strip() and all(f.startswith(shared) and len(f) > len(shared) for f in forms[0]):
            moved = shared
            forms = [[f[len(shared) :] if f.startswith(shared) else f for f in row] for row in forms]
            context += moved
            ctx, conts = _split_encode(tokenizer, context, forms[0], add_special)
    mass_ids = [c[0] for c in conts]
    for row in forms[1:]:
        mass_ids += [c[0] for c in _split_encode(tokenizer, context, row, add_special)[1]]
    prepared = _Prepared(ctx, conts, mass_ids, moved, generation_context=generation_context)
    if pmi:
        premise = _render(tokenizer, (), unconditional_premise(choices, format), format, chat) + moved
        prepared.premise, prepared.premise_continuations = _split_encode(tokenizer, premise, forms[0], add_special)
    return prepared


# --------------------------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------------------------


def _cache_name() -> str:
    """The name of the KV cache in forward kwargs and outputs: ``cache`` (transformers >= 5.24) or
    ``past_key_values`` (before)."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in {f.name for f in fields(CausalLMOutputWithPast)} else "past_key_values"


def _model_device(model: torch.nn.Module) -> torch.device:
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else next(model.parameters()).device


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids [B, T], attention_mask [B, T])`` with the rows right-aligned (left padding)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        ids[b, width - len(row) :] = torch.as_tensor(row, dtype=torch.long)
        mask[b, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """float32 for half-precision logits; float32 / float64 unchanged."""
    return x.float() if x.element_size() < 4 else x


_TILE_FLOATS = 1 << 24  # logits converted at a time (64 MiB in float32)


def _label_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[target]`` per position, upcast in tiles of whole rows. ``[N, L, V]``, ``[N, L]`` ->
    ``[N, L]``."""
    vocab = logits.shape[-1]
    flat, flat_targets = logits.reshape(-1, vocab), targets.reshape(-1, 1)
    out = torch.empty(flat.shape[0], device=logits.device, dtype=_upcast(flat[:1]).dtype)
    rows = max(1, _TILE_FLOATS // vocab)
    for start in range(0, flat.shape[0], rows):
        z = _upcast(flat[start : start + rows])  # [rows, V]
        out[start : start + rows] = z.gather(1, flat_targets[start : start + rows]).squeeze(1) - z.logsumexp(-1)
    return out.view(targets.shape)


@torch.no_grad()
def _score(
    model: torch.nn.Module,
    contexts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[Sequence[int]]],
    extra_first_ids: Sequence[Sequence[int]],
    pad_id: int,
) -> tuple[list[list[float]], list[list[float]], list[list[float]]]:
    """Score the continuations of a batch of contexts.

    Returns per context: ``log P(first token | context)`` of each continuation, the full ``log P(continuation |
    context)`` of each, and ``log P(u | context)`` for each id ``u`` in ``extra_first_ids``.

    One prefill of the left-padded contexts keeps only the last position's logits (``logits_to_keep=1``). When a
    continuation is longer than one token, the prefill's cache is repeated once per such continuation
    (``reorder_cache`` with a repeated batch index) and the continuations, right-padded, run as one forward after it;
    position ids continue from each context's own length.
    """
    device = _model_device(model)
    ids, mask = _left_pad(contexts, pad_id, device)  # [B, T]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, T]
    long_rows = [(b, j) for b, conts in enumerate(continuations) for j, c in enumerate(conts) if len(c) > 1]
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, use_cache=bool(long_rows))
    answer_logp = torch.log_softmax(_upcast(out.logits[:, -1]), dim=-1)  # [B, V]: the softmax at the answer position
    first = [answer_logp[b, [c[0] for c in conts]].tolist() for b, conts in enumerate(continuations)]
    extra = [answer_logp[b, list(u)].tolist() if len(u) else [] for b, u in enumerate(extra_first_ids)]
    total = [list(row) for row in first]
    if long_rows:
        cache_name = _cache_name()
        cache = getattr(out, cache_name)
        index = torch.tensor([b for b, _ in long_rows], device=device)  # [N]
        cache.reorder_cache(index)  # [B, ...] -> [N, ...]: one copy of the prompt's cache per long continuation
        width = max(len(continuations[b][j]) - 1 for b, j in long_rows)
        feed = torch.full((len(long_rows), width), pad_id, dtype=torch.long)  # [N, L]: c_1 .. c_{n-1}
        targets = torch.zeros((len(long_rows), width), dtype=torch.long)  # [N, L]: c_2 .. c_n
        feed_mask = torch.zeros((len(long_rows), width), dtype=torch.long)  # [N, L]
        for r, (b, j) in enumerate(long_rows):
            c = continuations[b][j]
            feed[r, : len(c) - 1] = torch.as_tensor(c[:-1])
            targets[r, : len(c) - 1] = torch.as_tensor(c[1:])
            feed_mask[r, : len(c) - 1] = 1
        feed, targets, feed_mask = feed.to(device), targets.to(device), feed_mask.to(device)
        attention = torch.cat([mask[index], feed_mask], dim=1)  # [N, T + L]
        cont_positions = mask.sum(dim=1)[index].unsqueeze(1) + torch.arange(width, device=device)  # [N, L]
        logits = model(
            input_ids=feed, attention_mask=attention, position_ids=cont_positions, use_cache=True, **{cache_name: cache}
        ).logits  # [N, L, V]: the continuations' own positions only
        rest = (_label_logprobs(logits, targets) * feed_mask).sum(dim=1).tolist()  # [N]
        for r, (b, j) in enumerate(long_rows):
            total[b][j] += rest[r]
    return first, total, extra


@torch.no_grad()
def _generate(
    model: torch.nn.Module, tokenizer: Any, contexts: Sequence[Sequence[int]], max_new_tokens: int, pad_id: int
) -> list[str]:
    ids, mask = _left_pad(contexts, pad_id, _model_device(model))
    out = model.generate(
        input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad_id,
        temperature=None, top_p=None, top_k=None,
    )
    return tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)


_SYMBOL_ANSWER = re.compile(r"\(?([A-Z])(?:[):.,\s]|$)")


def parse_generation(text: str, choices: Sequence[str], format: str) -> int | None:
    """The choice a greedy generation names, or `None` (an invalid answer).

    Enumerated: the first line, stripped, must start with a choice's symbol (``A``, ``(A)``, ``A:``, ``A.``).
    String / cloze: the first line, stripped and lower-cased, must start with a choice's text (the longest such
    choice wins).
    """
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


# --------------------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------------------


def _resolve_demos(
    demos: Any, questions: Sequence[str], choices: Sequence[Sequence[str]], answers: Sequence[int] | None,
    num_shots: int, seed: int, format: str,
) -> list[list[Mapping[str, Any]]]:
    n = len(questions)
    if num_shots == 0:
        return [[] for _ in range(n)]
    if demos is None:
        if answers is None:
            raise ValueError("answers are needed to use the evaluated questions as demonstrations (num_shots > 0).")
        pool = [{"question": q, "choices": c, "answer": a} for q, c, a in zip(questions, choices, answers)]
        return draw_demos(pool, n, num_shots, seed, exclude_self=True)
    if not _is_sequence(demos) or len(demos) == 0:
        raise ValueError(f"demos must be a non-empty sequence of demonstrations (or of per-question lists), got {demos!r}.")
    if isinstance(demos[0], Mapping):
        for j, d in enumerate(demos):
            _check_demo(f"demos[{j}]", d, format)
        return draw_demos(demos, n, num_shots, seed)
    if len(demos) != n:
        raise ValueError(f"demos given per question must have one list per question ({n}), got {len(demos)}.")
    out = []
    for i, row in enumerate(demos):
        if not _is_sequence(row) or len(row) < num_shots:
            raise ValueError(f"demos[{i}] must be a sequence of at least num_shots={num_shots} demonstrations.")
        for j, d in enumerate(row[:num_shots]):
            _check_demo(f"demos[{i}][{j}]", d, format)
        out.append(list(row[:num_shots]))
    return out


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
            given (the first `num_shots` of each). Pools are drawn by a seeded shuffle (`draw_demos`).
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

    Returns:
        `AnswerChoiceMassResult`.

    Raises:
        ValueError: naming the argument, for a wrong type, value or length.
    """
    from tqdm.auto import tqdm

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
        _check_item((f"questions[{i}]", f"choices[{i}]", f"answers[{i}]"), q, c,
                    None if answers is None else answers[i], format)
    surface_forms = _check_options(
        format, num_shots, surface_forms, pmi, batch_size, seed, use_chat_template, greedy_max_new_tokens, show_progress
    )
    if use_chat_template and not getattr(tokenizer, "chat_template", None):
        raise ValueError("use_chat_template=True needs a tokenizer with a chat template.")
    demo_lists = _resolve_demos(demos, questions, choices, answers, num_shots, seed, format)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    pad_id = 0 if pad_id is None else pad_id
    prepared = [
        _prepare(tokenizer, q, c, d, format, surface_forms, use_chat_template, pmi)
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

    first_lp: list[list[float]] = []
    seq_lp: list[list[float]] = []
    mass_lp: list[list[float]] = []
    unc_lp: list[list[float]] = []
    generations: list[str] = []
    was_training = model.training
    model.eval()
    try:
        starts = range(0, len(prepared), batch_size)
        bar = tqdm(starts, desc=f"answer-choice mass ({format}, {num_shots}-shot)", disable=not show_progress)
        for start in bar:
            batch = prepared[start : start + batch_size]
            first, total, extra = _score(
                model, [p.context for p in batch], [p.continuations for p in batch], [p.mass_ids for p in batch],
                pad_id,
            )
            first_lp += first
            seq_lp += total
            mass_lp += extra
            if pmi:
                unc_lp += _score(
                    model, [p.premise for p in batch], [p.premise_continuations for p in batch],
                    [[] for _ in batch], pad_id,
                )[1]
            if greedy_max_new_tokens:
                generations += _generate(
                    model, tokenizer, [p.generation_context for p in batch], greedy_max_new_tokens, pad_id
                )
    finally:
        model.train(was_training)

    result = AnswerChoiceMassResult(
        choice_logprobs=seq_lp,
        first_token_logprobs=first_lp,
        first_token_ids=[[c[0] for c in p.continuations] for p in prepared],
        mass_token_ids=[p.mass_ids for p in prepared],
        mass_token_logprobs=mass_lp,
        answers=None if answers is None else [int(a) for a in answers],
        unconditional_logprobs=unc_lp if pmi else None,
        generations=generations if greedy_max_new_tokens else None,
        pred_generation=[parse_generation(g, c, format) for g, c in zip(generations, choices)]
        if greedy_max_new_tokens
        else None,
        format=format,
        num_shots=num_shots,
        surface_forms=surface_forms,
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


# --------------------------------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------------------------------


def plot_answer_choice_mass(rows: Sequence[Mapping[str, Any]], path: str | Path | None = None) -> Any:
    """Plot PM and accuracy by number of shots k, per prompt format, and accuracy against PM.

    One row of three panels per dataset: PM by k; accuracy by k (solid: sequence scoring, dotted: PMI when measured);
    accuracy against PM with each point labelled by its k.

    Args:
        rows: one mapping per (dataset, format, k) with keys ``dataset``, ``format``, ``k``, ``mass``, ``accuracy``
            and, optionally, ``pmi_accuracy`` — e.g. ``{"dataset": name, "k": k, **result.summary()}``.
        path: where to save the PNG (not saved when `None`).

    Returns:
        The `matplotlib.figure.Figure` (closed after saving when `path` is given).
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows is empty: nothing to plot.")

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    formats = list(dict.fromkeys(r["format"] for r in rows))
    colors = dict(zip(formats, ("tab:blue", "tab:orange", "tab:green")))
    fig, axes = plt.subplots(len(datasets), 3, figsize=(15, 4 * len(datasets)), squeeze=False)
    for d, name in enumerate(datasets):
        ax_mass, ax_acc, ax_scatter = axes[d]
        for fmt in formats:
            sel = sorted((r for r in rows if r["dataset"] == name and r["format"] == fmt), key=lambda r: r["k"])
            ks = [r["k"] for r in sel]
            mass = [r["mass"] for r in sel]
            acc = [r["accuracy"] for r in sel]
            ax_mass.plot(ks, mass, "o-", color=colors[fmt], label=fmt)
            ax_acc.plot(ks, acc, "o-", color=colors[fmt], label=f"{fmt} (sequence)")
            if all(r.get("pmi_accuracy") is not None for r in sel):
                ax_acc.plot(ks, [r["pmi_accuracy"] for r in sel], "o:", color=colors[fmt], label=f"{fmt} (PMI)")
            ax_scatter.plot(mass, acc, "o-", color=colors[fmt], label=fmt, alpha=0.8)
            for k, m, a in zip(ks, mass, acc):
                ax_scatter.annotate(f"k={k}", (m, a), textcoords="offset points", xytext=(4, 4), fontsize=8)
        short = Path(str(name)).name
        ax_mass.set(title=f"{short}: probability mass on answer choices", xlabel="in-context examples k",
                    ylabel="PM", ylim=(-0.02, 1.02))
        ax_acc.set(title=f"{short}: accuracy", xlabel="in-context examples k", ylabel="accuracy", ylim=(-0.02, 1.02))
        ax_scatter.set(title=f"{short}: accuracy vs PM", xlabel="PM", ylabel="accuracy (sequence)",
                       xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        for ax in (ax_mass, ax_acc, ax_scatter):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


# --------------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------------

QUESTION_COLUMNS = ("question", "question_stem", "Question", "query")
CHOICES_COLUMNS = ("choices", "options", "endings")
ANSWER_COLUMNS = ("answer", "answerKey", "label", "gold", "Answer")


def _normalise_row(row: Mapping[str, Any], q_col: str, c_col: str | None, a_col: str) -> dict[str, Any]:
    question = row[q_col]
    if isinstance(question, Mapping):  # OpenBookQA-style nesting: {"stem": ...}
        question = question.get("stem", question)
    if c_col is None:  # MMLU's original CSV layout: columns A, B, C, D
        texts = [row[s] for s in SYMBOLS if s in row and row[s] is not None]
        labels = list(SYMBOLS[: len(texts)])
    else:
        raw = row[c_col]
        if isinstance(raw, Mapping):  # CommonsenseQA / OpenBookQA / ARC: {"label": [...], "text": [...]}
            texts, labels = list(raw["text"]), [str(x) for x in raw["label"]]
        else:  # MMLU: a list of strings
            texts, labels = list(raw), list(SYMBOLS[: len(raw)])
    answer = row[a_col]
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        index = int(answer)
    elif isinstance(answer, str) and answer.strip() in labels:
        index = labels.index(answer.strip())
    elif isinstance(answer, str) and answer.strip().isdigit():
        index = int(answer.strip())
    else:
        raise ValueError(
            f"answer {answer!r} is neither a choice index nor one of the labels {labels} (the test splits of "
            "CommonsenseQA and similar sets are unlabelled: use their validation split)."
        )
    if not 0 <= index < len(texts):
        raise ValueError(f"answer index {index} is out of range for {len(texts)} choices.")
    return {"question": str(question), "choices": [str(t) for t in texts], "answer": index}


def load_multiple_choice_dataset(
    name_or_path: str,
    split: str = "test",
    subset: str | None = None,
    limit: int | None = None,
    question_column: str | None = None,
    choices_column: str | None = None,
    answer_column: str | None = None,
) -> datasets.Dataset:
    """Load a multiple-choice set from the Hub or a local file and normalise it to ``question``, ``choices`` (list of
    strings) and ``answer`` (index of the correct choice).

    Column conventions recognised:

    * MMLU (``cais/mmlu``, subset ``all``): ``question``, ``choices`` (list), ``answer`` (index or letter); also
      the original CSV layout with columns ``A``, ``B``, ``C``, ``D``;
    * CommonsenseQA (``tau/commonsense_qa``, split ``validation``) and ARC: ``question``, ``choices`` =
      ``{"label": [...], "text": [...]}``, ``answerKey`` (a label);
    * OpenBookQA (``allenai/openbookqa``, subset ``main``): ``question_stem`` instead of ``question``.

    Args:
        name_or_path (`str`): Hub dataset name, local ``.jsonl``/``.json``/``.csv``/``.parquet`` file, or a folder
            written by ``save_to_disk``.
        split (`str`, *optional*, defaults to `"test"`): split to load (local single files ignore it).
        subset (`str`, *optional*): Hub configuration name.
        limit (`int`, *optional*): keep the first `limit` questions.
        question_column (`str`, *optional*): override the detected question column.
        choices_column (`str`, *optional*): override the detected choices column.
        answer_column (`str`, *optional*): override the detected answer column.

    Returns:
        `datasets.Dataset` with exactly the columns ``question``, ``choices``, ``answer``.
    """
    from ..data import load_any_dataset
    from ..evaluation import _pick

    if limit is not None:
        _check_int("limit", limit, 1)
    data = load_any_dataset(name_or_path, subset, split=None if Path(name_or_path).exists() else split)
    ds = data[split] if split in data else data["train"] if len(data) == 1 else data[split]
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    columns = ds.column_names
    q_col = _pick(columns, question_column, QUESTION_COLUMNS, "question")
    a_col = _pick(columns, answer_column, ANSWER_COLUMNS, "answer")
    if choices_column is None and not any(c in columns for c in CHOICES_COLUMNS) and {"A", "B"} <= set(columns):
        c_col = None
    else:
        c_col = _pick(columns, choices_column, CHOICES_COLUMNS, "choices")

    def normalise(row: dict[str, Any], index: int) -> dict[str, Any]:
        try:
            return _normalise_row(row, q_col, c_col, a_col)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{name_or_path}, row {index}: {err}") from err

    from datasets import Features, Value
    from datasets import Sequence as ListOf

    features = Features({"question": Value("string"), "choices": ListOf(Value("string")), "answer": Value("int64")})
    return ds.map(
        normalise, with_indices=True, remove_columns=columns, features=features,
        desc="normalising multiple-choice columns",
    )
