"""`AnswerChoiceMassResult`: the per-question scores of `answer_choice_mass` and their aggregates (Wiegreffe et al.,
arXiv 2305.14596, §2: PM, sequence / first-token / PMI_DC / greedy accuracy, the SFC certificate)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ...functional.answer_choice import masked_argmax, pad_ragged, pmi_log_scores, sfc_certificate, unique_token_mass

__all__ = ["AnswerChoiceMassResult"]


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
        first = (
            choice_logprobs if first_token_logprobs is None else [[float(v) for v in r] for r in first_token_logprobs]
        )
        if len(first) != len(choice_logprobs):
            raise ValueError(f"first_token_logprobs has {len(first)} rows, choice_logprobs has {len(choice_logprobs)}.")
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
        """Share of greedy generations that name none of the choices under the call's `answer_parsing` (strict by
        default: anything but an exact choice or symbol is invalid)."""
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
