"""Zero-shot detectors of LLM-generated text: Lastde / Lastde++ (Xu et al., arXiv 2410.06072) and the baselines they
are compared with — likelihood, log-rank, entropy (Gehrmann et al. 2019; Mitchell et al. 2023) and Fast-DetectGPT's
analytic sampling discrepancy (Bao et al., arXiv 2310.05130). One interface for all:

    detector = LastdeDetector(model, tokenizer, preset="lastde")        # or "lastde_closed", "lastde++"
    scores = detector.score(texts)                                     # np.ndarray, higher = more machine-like
    detector.fit(train_texts, train_labels)                            # threshold (Youden's J or a target FPR) + Platt
    detector.predict(texts), detector.predict_proba(texts)
    detector.evaluate(human_texts, machine_texts)                      # AUROC, PR-AUC, TPR at 1% FPR

Scores per text, from the per-token statistics of `trl_explore.detection.scoring` (one forward per batch, the fused
detection-statistics kernel; no ``[T, V]`` logits kept), with ``ℓ_t = log p(x_t | x_<t)``:

    likelihood      mean_t ℓ_t
    log_rank        − mean_t log rank_t                           (rank 1 = the most likely token; ties: rank_ties)
    entropy         mean_t H(p_t)                                 (the released baseline's sign: see EntropyDetector)
    fast_detectgpt  (Σ_t ℓ_t − Σ_t μ_t) / sqrt(Σ_t σ_t²)          μ_t, σ_t²: mean and variance of log p under q_t
    lastde          mean_t ℓ_t / MDE(ℓ)                           `trl_explore.functional.lastde`
    lastde++        (Lastde(x) − mean_k Lastde(x̃_k)) / std_k Lastde(x̃_k), x̃_k drawn from q with the prefix fixed

(q: the reference model's distribution — Fast-DetectGPT's and Lastde++'s sampling model — or the scoring model's own
without one.) A score that cannot be defined (too few tokens, a zero spread) is NaN with a reason, never ±inf.

Orientation: every score is reported as the papers' evaluation code computes it — machine text is the positive class
and the score is used as is, higher = machine (AUROC = P(score(machine) > score(human))). Per detector, the direction
that counts as machine-like: likelihood — a higher mean log-probability; log_rank — a lower mean log-rank; entropy —
a *higher* mean predictive entropy (the sign of the released baselines of DetectGPT, Fast-DetectGPT and Lastde, whose
tables report this baseline's AUROC); fast_detectgpt — a log-likelihood higher than its expectation under q; lastde —
a higher mean log-probability over the multiscale diversity entropy; lastde++ — a Lastde score higher than those of
the sampled sequences.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from .._validation import check_bool, check_choice, check_int, check_number
from ..functional.lastde import (
    AGGREGATIONS,
    SHORT_TEXT_RULES,
    UNDEFINED_REASONS,
    lastde_plus_plus_score,
    lastde_score,
)
from ..kernels.detection_stats import RANK_TIES
from .metrics import calibrate, choose_threshold, detection_metrics
from .scoring import TextStatistics, TokenStatisticsScorer

logger = logging.getLogger(__name__)

__all__ = [
    "METHODS",
    "PRESETS",
    "DetectionScores",
    "EntropyDetector",
    "FastDetectGPTDetector",
    "LastdeDetector",
    "LastdePreset",
    "LikelihoodDetector",
    "LogRankDetector",
    "ZeroShotDetector",
    "make_detector",
    "score_all_methods",
]

#: texts whose statistics are held at once while scoring (then dropped)
CHUNK_TEXTS = 256
TOO_FEW_TOKENS = "fewer than 2 tokens: nothing to score"
NON_FINITE = "the model gave non-finite log-probabilities (overflow?)"


@dataclass(frozen=True)
class LastdePreset:
    """Hyper-parameters of a Lastde preset (arXiv 2410.06072, §4.1).

    Attributes:
        embed_size: orbit length ``s``.
        epsilon_mult: bins per scored token (``ε = int(ε_mult · n)``).
        tau_prime: largest scale ``τ'``.
        agg: aggregation over the scales.
        plus_plus: whether the score is Lastde++ (sampled sequences) rather than Lastde.
    """

    embed_size: int
    epsilon_mult: float
    tau_prime: int
    agg: str = "std"
    plus_plus: bool = False


#: the paper's presets: open-source scoring model, closed-source (black-box proxy) setting, Lastde++
PRESETS: dict[str, LastdePreset] = {
    "lastde": LastdePreset(3, 10, 5),
    "lastde_closed": LastdePreset(3, 1, 15),
    "lastde++": LastdePreset(4, 8, 15, plus_plus=True),
}


@dataclass
class DetectionScores:
    """Scores of a list of texts with what explains them.

    Attributes:
        scores: ``[N]`` float64, higher = more machine-like; NaN where undefined.
        reasons: ``N`` strings, empty where the score is defined, else why it is NaN.
        num_tokens: ``[N]`` scored tokens per text.
        details: per-method extras, ``[N]`` arrays (e.g. Lastde's ``mde``, ``mean_logp``, ``clamped``).
    """

    scores: np.ndarray
    reasons: list[str]
    num_tokens: np.ndarray
    details: dict[str, np.ndarray] = field(default_factory=dict)


def _check_texts(name: str, texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ValueError(f"`{name}` must be a list of strings, got {type(texts).__name__}.")
    if len(texts) == 0:
        raise ValueError(f"`{name}` is empty: pass at least one text.")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"`{name}` must hold strings only; item {bad[0]} is {type(texts[bad[0]]).__name__}.")
    return list(texts)


def _same_vocabulary(tokenizer: Any, other: Any) -> bool:
    if tokenizer is other:
        return True
    try:
        return tokenizer.get_vocab() == other.get_vocab()
    except (AttributeError, NotImplementedError):
        return len(tokenizer) == len(other)


class ZeroShotDetector:
    """Base of the zero-shot detectors: tokenisation, batched scoring, fit / predict / evaluate.

    Args:
        model (`transformers.PreTrainedModel`): the scoring causal LM (any device / dtype; put in eval mode while
            scoring, then restored).
        tokenizer (`transformers.PreTrainedTokenizerBase`): its tokenizer.
        reference_model (`transformers.PreTrainedModel`, *optional*): Fast-DetectGPT's / Lastde++'s sampling model
            (``None``: the scoring model samples itself). It must share the scoring model's tokenizer; the other
            detectors ignore it.
        reference_tokenizer (*optional*): the reference model's tokenizer, checked to have the same vocabulary.
        batch_size (`int`, *optional*, defaults to `8`): texts per forward pass.
        max_length (`int` or `None`, *optional*, defaults to `512`): texts are truncated to this many tokens
            (``None``: no truncation).
        add_special_tokens (`bool`, *optional*, defaults to `True`): tokenizer flag (e.g. a BOS token, which is never
            scored itself but conditions the first scored token).
        show_progress (`bool`, *optional*, defaults to `True`): tqdm progress bar over the batches.
        seed (`int`, *optional*, defaults to `0`): seed of the samples of Lastde++ (drawn per text).
        rank_ties (`str`, *optional*, defaults to `"min"`): how logits tied with the observed token's count in its
            rank (read by ``log_rank``): ``"min"`` — none of them, every tied token gets the tie's best rank;
            ``"released"`` — those of smaller token id, the released code's ``argsort`` position with the ties in a
            fixed order (`trl_explore.kernels.detection_stats`).
    """

    method: ClassVar[str] = ""
    num_samples: int = 0
    uses_reference: ClassVar[bool] = False
    #: whether the score reads the entropy or the moments under q (else the kernel skips them)
    needs_moments: ClassVar[bool] = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        reference_model: Any = None,
        reference_tokenizer: Any = None,
        batch_size: int = 8,
        max_length: int | None = 512,
        add_special_tokens: bool = True,
        show_progress: bool = True,
        seed: int = 0,
        rank_ties: str = "min",
    ) -> None:
        if model is None or not hasattr(model, "parameters"):
            raise ValueError(f"`model` must be a causal LM (torch module), got {type(model).__name__}.")
        if tokenizer is None or not callable(tokenizer):
            raise ValueError(f"`tokenizer` must be a Hugging Face tokenizer, got {type(tokenizer).__name__}.")
        self.batch_size = check_int(None, "batch_size", value=batch_size, low=1)
        if max_length is not None:
            check_int(None, "max_length", value=max_length, low=2)
        self.max_length = max_length
        self.add_special_tokens = check_bool(None, "add_special_tokens", value=add_special_tokens)
        self.show_progress = check_bool(None, "show_progress", value=show_progress)
        self.seed = check_int(None, "seed", value=seed, low=0)
        self.rank_ties = check_choice(None, "rank_ties", RANK_TIES, value=rank_ties)
        if reference_model is not None and not hasattr(reference_model, "parameters"):
            raise ValueError(f"`reference_model` must be a causal LM, got {type(reference_model).__name__}.")
        if reference_tokenizer is not None and reference_model is None:
            raise ValueError("`reference_tokenizer` was given without a `reference_model`.")
        if reference_tokenizer is not None and not _same_vocabulary(tokenizer, reference_tokenizer):
            raise ValueError(
                "`reference_tokenizer` differs from `tokenizer`: the reference and scoring models must share a "
                "tokenizer (the sampled tokens are scored by the scoring model)."
            )
        self.model, self.tokenizer = model, tokenizer
        self.reference_model = reference_model if self.uses_reference else None
        self.threshold_: float | None = None
        self.calibration_: Any = None
        self._scorer: TokenStatisticsScorer | None = None

    # ------------------------------------------------------------------------------------------------ statistics
    def _get_scorer(self) -> TokenStatisticsScorer:
        if self._scorer is None:
            pad = getattr(self.tokenizer, "pad_token_id", None)
            if pad is None:
                pad = getattr(self.tokenizer, "eos_token_id", None) or 0
            self._scorer = TokenStatisticsScorer(
                self.model,
                self.reference_model,
                num_samples=self.num_samples,
                seed=self.seed,
                pad_token_id=pad,
                rank_ties=self.rank_ties,
            )
        return self._scorer

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (truncated to ``max_length``)."""
        texts = _check_texts("texts", texts)
        kwargs: dict[str, Any] = {"add_special_tokens": self.add_special_tokens}
        if self.max_length is not None:
            kwargs.update(truncation=True, max_length=self.max_length)
        return [list(ids) for ids in self.tokenizer(texts, **kwargs)["input_ids"]]

    def statistics(self, texts: Sequence[str], moments: bool | None = None) -> list[TextStatistics]:
        """Per-token statistics of every text (`TextStatistics`); batches sorted by length, progress bar.

        Args:
            texts (`list[str]`): the texts.
            moments (`bool`, *optional*): compute the entropy and the moments under q (default: when this detector
                reads them; without, they are NaN and the pass is cheaper).
        """
        from tqdm.auto import tqdm

        token_ids = self.tokenize(texts)
        with tqdm(
            total=self._num_batches(token_ids),
            desc=f"{self.method or 'scoring'}: scoring texts",
            unit="batch",
            disable=not self.show_progress,
        ) as bar:
            return self._statistics(token_ids, moments, bar)

    def _num_batches(self, token_ids: Sequence[Sequence[int]]) -> int:
        total = 0
        for start in range(0, len(token_ids), CHUNK_TEXTS):
            scorable = sum(len(ids) >= 2 for ids in token_ids[start : start + CHUNK_TEXTS])
            total += -(-scorable // self.batch_size)
        return total

    def _statistics(self, token_ids: Sequence[Sequence[int]], moments: bool | None, bar: Any) -> list[TextStatistics]:
        moments = self.needs_moments if moments is None else check_bool(None, "moments", value=moments)
        out: list[TextStatistics | None] = [None] * len(token_ids)
        scorable = [i for i, ids in enumerate(token_ids) if len(ids) >= 2]
        for i, ids in enumerate(token_ids):
            if len(ids) < 2:
                out[i] = TextStatistics.empty(ids, self.num_samples)
        order = sorted(scorable, key=lambda i: -len(token_ids[i]))  # similar lengths together: little padding
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if batches:
            scorer = self._get_scorer()
            for batch in batches:
                for i, stats in zip(batch, scorer([token_ids[i] for i in batch], moments=moments)):
                    out[i] = stats
                bar.update(1)
        return out  # type: ignore[return-value]

    # ---------------------------------------------------------------------------------------------------- scores
    def score_statistics(self, stats: Sequence[TextStatistics]) -> DetectionScores:
        """Scores from already computed statistics (lets several detectors share one pass)."""
        raise NotImplementedError

    def warn_undefined(self, result: DetectionScores) -> None:
        """Warn (once per call) about the texts whose score is NaN, with the reasons counted."""
        _warn_undefined(self.method, result.reasons)

    def score(self, texts: Sequence[str], *, return_details: bool = False) -> np.ndarray | DetectionScores:
        """Score texts: higher = more machine-like. Texts are processed in chunks of `CHUNK_TEXTS` (their statistics
        — Lastde++'s K samples per token included — are dropped once scored, so memory does not grow with the list).

        Args:
            texts (`list[str]`): the texts.
            return_details (`bool`, *optional*, defaults to `False`): return a `DetectionScores` (scores, NaN
                reasons, token counts, per-method extras) instead of the array.

        Returns:
            `np.ndarray` or `DetectionScores`: ``[N]`` float64 scores (NaN where undefined, with a warning naming the
            reasons), or the `DetectionScores`.
        """
        check_bool(None, "return_details", value=return_details)
        result = _scored_in_chunks(self, [self], texts)[0]
        self.warn_undefined(result)
        return result if return_details else result.scores

    # ------------------------------------------------------------------------------------------ classification
    def fit(self, texts: Sequence[str], labels: Sequence[int], threshold: str | float = "youden") -> ZeroShotDetector:
        """Pick a decision threshold and fit a probability calibration on labelled texts.

        Args:
            texts (`list[str]`): the texts.
            labels (`Sequence[int]`): 1 = machine-generated, 0 = human-written (booleans accepted), one per text.
            threshold (`str` or `float`, *optional*, defaults to `"youden"`): ``"youden"`` (maximise TPR − FPR) or a
                target false-positive rate in ``(0, 1)`` (the threshold with the largest TPR at that FPR).

        Returns:
            ZeroShotDetector: ``self``, with ``threshold_`` and ``calibration_`` set.
        """
        texts = _check_texts("texts", texts)
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(texts):
            raise ValueError(f"`labels` must hold one label per text ({len(texts)}), got shape {labels.shape}.")
        return self.fit_scores(self.score(texts), labels, threshold=threshold)

    def fit_scores(
        self, scores: Sequence[float], labels: Sequence[int], threshold: str | float = "youden"
    ) -> ZeroShotDetector:
        """`fit` from scores already computed with this detector (NaN scores are left out)."""
        self.threshold_ = choose_threshold(scores, labels, threshold)
        self.calibration_ = calibrate(scores, labels)
        return self

    def _check_fitted(self) -> None:
        if self.threshold_ is None or self.calibration_ is None:
            raise ValueError(f"this {type(self).__name__} is not fitted: call `fit(texts, labels)` first.")

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """``[N]`` int: 1 = machine-generated (score >= ``threshold_``), 0 = human, −1 = undefined score."""
        self._check_fitted()
        return self.predict_scores(self.score(texts))

    def predict_scores(self, scores: Sequence[float]) -> np.ndarray:
        """`predict` from scores."""
        self._check_fitted()
        s = np.asarray(scores, dtype=np.float64)
        return np.where(np.isnan(s), -1, (s >= self.threshold_).astype(np.int64))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, 2]`` calibrated probabilities (columns: human, machine), NaN rows where the score is undefined."""
        self._check_fitted()
        p = self.calibration_(self.score(texts))
        return np.stack([1.0 - p, p], axis=1)

    def evaluate(self, human_texts: Sequence[str], machine_texts: Sequence[str], fpr: float = 0.01) -> dict:
        """AUROC, PR-AUC and TPR at ``fpr`` (default 1%) of this detector on human vs machine texts
        (`trl_explore.detection.detection_metrics`, scikit-learn); NaN scores are left out and counted."""
        human = _check_texts("human_texts", human_texts)
        machine = _check_texts("machine_texts", machine_texts)
        scores = self.score(human + machine)
        return detection_metrics(scores[: len(human)], scores[len(human) :], fpr=fpr)


def _concat(parts: Sequence[DetectionScores]) -> DetectionScores:
    keys = parts[0].details.keys() if parts else ()
    return DetectionScores(
        np.concatenate([p.scores for p in parts]),
        [r for p in parts for r in p.reasons],
        np.concatenate([p.num_tokens for p in parts]),
        {k: np.concatenate([p.details[k] for p in parts]) for k in keys},
    )


def _scored_in_chunks(
    source: ZeroShotDetector, detectors: Sequence[ZeroShotDetector], texts: Sequence[str]
) -> list[DetectionScores]:
    """Statistics from ``source`` chunk by chunk, scored by every detector, then concatenated."""
    from tqdm.auto import tqdm

    token_ids = source.tokenize(texts)
    moments = any(det.needs_moments for det in detectors)
    parts: list[list[DetectionScores]] = [[] for _ in detectors]
    with tqdm(
        total=source._num_batches(token_ids),
        desc=f"{source.method or 'scoring'}: scoring texts",
        unit="batch",
        disable=not source.show_progress,
    ) as bar:
        for start in range(0, len(token_ids), CHUNK_TEXTS):
            stats = source._statistics(token_ids[start : start + CHUNK_TEXTS], moments, bar)
            for part, det in zip(parts, detectors):
                part.append(det.score_statistics(stats))
    return [_concat(p) for p in parts]


def _warn_undefined(method: str, reasons: Sequence[str]) -> None:
    counts = Counter(r for r in reasons if r)
    if counts:
        text = "; ".join(f"{n} x {reason}" for reason, n in counts.items())
        warnings.warn(
            f"{method}: {sum(counts.values())} of {len(reasons)} text(s) have no score (NaN): {text}.", stacklevel=3
        )


def _per_text(stats: Sequence[TextStatistics], fn) -> DetectionScores:
    """Scores from a per-text function ``stats -> (score, reason)`` over texts with at least one scored token."""
    scores, reasons = np.full(len(stats), np.nan), [""] * len(stats)
    for i, st in enumerate(stats):
        if st.num_tokens == 0:
            reasons[i] = TOO_FEW_TOKENS
            continue
        score, reason = fn(st)
        if not reason and not math.isfinite(score):  # e.g. an fp16 model overflowing: never return ±inf
            score, reason = math.nan, NON_FINITE
        scores[i], reasons[i] = score, reason
    return DetectionScores(scores, reasons, np.array([st.num_tokens for st in stats]))


class LikelihoodDetector(ZeroShotDetector):
    """Mean token log-likelihood ``mean_t log p(x_t | x_<t)`` (higher = more machine-like). Same arguments as
    `ZeroShotDetector`."""

    method = "likelihood"
    needs_moments = False

    def score_statistics(self, stats: Sequence[TextStatistics]) -> DetectionScores:
        return _per_text(stats, lambda st: (float(st.label_logprob.double().mean()), ""))


class LogRankDetector(ZeroShotDetector):
    """Negative mean log-rank ``− mean_t log rank_t`` of the observed tokens (rank 1 = most likely; higher = more
    machine-like). Same arguments as `ZeroShotDetector`; ``rank_ties`` says how tied logits count in a rank."""

    method = "log_rank"
    needs_moments = False

    def score_statistics(self, stats: Sequence[TextStatistics]) -> DetectionScores:
        return _per_text(stats, lambda st: (-float(st.label_rank.double().log().mean()), ""))


class EntropyDetector(ZeroShotDetector):
    """Mean predictive entropy ``mean_t H(p(· | x_<t))``, ``H(p) = − Σ_v p(v) log p(v)``, used as the score as is:
    higher entropy counts as more machine-like. This is the sign of the released entropy baseline (DetectGPT, arXiv
    2301.11305; Fast-DetectGPT, arXiv 2310.05130; Lastde, arXiv 2410.06072, Tables 1-2), so AUROCs compare with the
    papers' tables; the opposite intuition (confident text is machine-like) gives 1 − that AUROC: negate the scores.
    Same arguments as `ZeroShotDetector`."""

    method = "entropy"

    def score_statistics(self, stats: Sequence[TextStatistics]) -> DetectionScores:
        return _per_text(stats, lambda st: (float(st.entropy.double().mean()), ""))


def _fast_detectgpt(st: TextStatistics) -> tuple[float, str]:
    mu = st.expected_logp.double()
    var = (st.expected_logp2.double() - mu.square()).clamp(min=0)  # per position, rounding kept >= 0
    total_var = float(var.sum())
    if not total_var > 0:
        return math.nan, "zero variance of log p under the sampling distribution (every position deterministic)"
    return float((st.label_logprob.double().sum() - mu.sum()) / math.sqrt(total_var)), ""


class FastDetectGPTDetector(ZeroShotDetector):
    """Fast-DetectGPT's analytic sampling discrepancy (Bao et al., arXiv 2310.05130, eq. 5 with the analytic mean and
    variance): ``(Σ_t log p(x_t) − Σ_t μ_t) / sqrt(Σ_t σ_t²)`` with ``μ_t = Σ_v q_t(v) log p_t(v)`` and
    ``σ_t² = Σ_v q_t(v) (log p_t(v))² − μ_t²``; q is the reference model's distribution (``reference_model``; the
    scoring model's own without one — the white-box setting). Same arguments as `ZeroShotDetector`."""

    method = "fast_detectgpt"
    uses_reference = True

    def score_statistics(self, stats: Sequence[TextStatistics]) -> DetectionScores:
        return _per_text(stats, _fast_detectgpt)


class LastdeDetector(ZeroShotDetector):
    """Lastde / Lastde++ (Xu et al., arXiv 2410.06072): the token-probability sequence's mean over its multiscale
    diversity entropy, and Lastde++'s standardisation against K sequences sampled with the prefix fixed.

    Args:
        model (`transformers.PreTrainedModel`): the scoring causal LM.
        tokenizer (`transformers.PreTrainedTokenizerBase`): its tokenizer.
        reference_model (`transformers.PreTrainedModel`, *optional*): Lastde++'s sampling model (must share the
            tokenizer; ``None``: the scoring model samples itself). Ignored by the Lastde presets.
        preset (`str`, *optional*, defaults to `"lastde"`): ``"lastde"`` (open-source scoring model: s = 3,
            ε_mult = 10, τ' = 5), ``"lastde_closed"`` (closed-source / black-box proxy: 3, 1, 15) or ``"lastde++"``
            (4, 8, 15; the README's τ' = 10 is ``tau_prime=10``).
        n_samples (`int`, *optional*, defaults to `100`): K sampled sequences of Lastde++ (>= 2).
        batch_size (`int`, *optional*, defaults to `8`): texts per forward pass.
        embed_size (`int`, *optional*): overrides the preset's orbit length ``s``.
        epsilon_mult (`float`, *optional*): overrides the preset's ``ε_mult`` (bins per scored token).
        tau_prime (`int`, *optional*): overrides the preset's largest scale ``τ'``.
        agg (`str`, *optional*): overrides the aggregation: ``"std"``, ``"expstd"`` (the README's recommendation),
            ``"range"``, ``"exprange"``, ``"l2"``.
        short_text (`str`, *optional*, defaults to `"clamp"`): texts with fewer than ``τ' + s`` scored tokens:
            ``"clamp"`` scores them on the scales ``1..n − s`` and warns; ``"nan"`` gives NaN with the reason.
        reference_tokenizer (*optional*): the reference model's tokenizer, checked to match ``tokenizer``.
        max_length (`int` or `None`, *optional*, defaults to `512`): truncation length in tokens.
        add_special_tokens (`bool`, *optional*, defaults to `True`): tokenizer flag.
        show_progress (`bool`, *optional*, defaults to `True`): tqdm progress bar over the batches.
        seed (`int`, *optional*, defaults to `0`): seed of Lastde++'s samples (drawn per text from the seed and the
            text's tokens: the same text gets the same samples in any batch).
        rank_ties (`str`, *optional*, defaults to `"min"`): tied-logit rule of the shared statistics pass (read by
            ``log_rank`` only; see `ZeroShotDetector`).
    """

    method = "lastde"
    uses_reference = True
    needs_moments = False

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        reference_model: Any = None,
        preset: str = "lastde",
        n_samples: int = 100,
        batch_size: int = 8,
        *,
        embed_size: int | None = None,
        epsilon_mult: float | None = None,
        tau_prime: int | None = None,
        agg: str | None = None,
        short_text: str = "clamp",
        reference_tokenizer: Any = None,
        max_length: int | None = 512,
        add_special_tokens: bool = True,
        show_progress: bool = True,
        seed: int = 0,
        rank_ties: str = "min",
    ) -> None:
        check_choice(None, "preset", tuple(PRESETS), value=preset)
        base = PRESETS[preset]
        self.preset = preset
        self.plus_plus = base.plus_plus
        self.method = preset
        self.embed_size = check_int(
            None, "embed_size", value=base.embed_size if embed_size is None else embed_size, low=1
        )
        eps = base.epsilon_mult if epsilon_mult is None else epsilon_mult
        self.epsilon_mult = check_number(None, "epsilon_mult", value=eps, low=0, low_open=True)
        self.tau_prime = check_int(None, "tau_prime", value=base.tau_prime if tau_prime is None else tau_prime, low=1)
        self.agg = check_choice(None, "agg", AGGREGATIONS, value=base.agg if agg is None else agg)
        self.short_text = check_choice(None, "short_text", SHORT_TEXT_RULES, value=short_text)
        check_int(None, "n_samples", value=n_samples, low=2)
        self.n_samples = n_samples
        self.num_samples = n_samples if self.plus_plus else 0
        if reference_model is not None and not self.plus_plus:
            logger.info("preset %r scores with the scoring model alone: `reference_model` is not used.", preset)
        super().__init__(
            model,
            tokenizer,
            reference_model=reference_model if self.plus_plus else None,
            reference_tokenizer=reference_tokenizer if self.plus_plus else None,
            batch_size=batch_size,
            max_length=max_length,
            add_special_tokens=add_special_tokens,
            show_progress=show_progress,
            seed=seed,
            rank_ties=rank_ties,
        )

    def warn_undefined(self, result: DetectionScores) -> None:
        """Warn about clamped short texts (``short_text="clamp"``) and about NaN scores, each counted once."""
        clamped = result.details.get("clamped")
        if clamped is not None and clamped.any():
            warnings.warn(
                f"{self.method}: {int(clamped.sum())} of {len(clamped)} text(s) have fewer than tau_prime + "
                f"embed_size = {self.tau_prime + self.embed_size} scored tokens: scored on the scales "
                "1..n - embed_size (short_text='clamp'); pass short_text='nan' to leave them unscored.",
                stacklevel=3,
            )
        super().warn_undefined(result)

    @property
    def settings(self) -> dict[str, Any]:
        """The hyper-parameters in use."""
        return {
            "preset": self.preset,
            "embed_size": self.embed_size,
            "epsilon_mult": self.epsilon_mult,
            "tau_prime": self.tau_prime,
            "agg": self.agg,
            "short_text": self.short_text,
            "n_samples": self.n_samples if self.plus_plus else 0,
        }

    def score_statistics(self, stats: Sequence[TextStatistics]) -> DetectionScores:
        # texts whose log-probabilities are not finite (a model overflowing) are scored on zero tokens, then NaN
        broken = [
            not (bool(torch.isfinite(st.label_logprob).all()) and bool(torch.isfinite(st.sample_logprobs).all()))
            for st in stats
        ]
        lengths = torch.tensor([0 if bad else st.num_tokens for st, bad in zip(stats, broken)], dtype=torch.long)
        width = max(1, int(lengths.max()))
        x = torch.zeros((len(stats), width), dtype=torch.float64)
        for i, st in enumerate(stats):
            x[i, : lengths[i]] = st.label_logprob[: lengths[i]].double()
        args = (self.embed_size, self.epsilon_mult, self.tau_prime, self.agg)
        if self.plus_plus:
            if any(st.sample_logprobs.shape[1] < 2 for st in stats if st.num_tokens):
                raise ValueError("Lastde++ needs statistics computed with at least 2 samples per position.")
            k = max(st.sample_logprobs.shape[1] for st in stats)
            samples = torch.zeros((len(stats), k, width), dtype=torch.float64)
            for i, st in enumerate(stats):
                samples[i, :, : lengths[i]] = st.sample_logprobs[: lengths[i]].double().t()
            score, info = lastde_plus_plus_score(x, samples, *args, lengths=lengths, short_text=self.short_text)
        else:
            score, info = lastde_score(x, *args, lengths=lengths, short_text=self.short_text)
        reasons = []
        for st, bad, code in zip(stats, broken, info["undefined"].tolist()):
            reasons.append(TOO_FEW_TOKENS if st.num_tokens == 0 else NON_FINITE if bad else UNDEFINED_REASONS[code])
        details = {key: info[key].numpy() for key in ("mde", "mean_logp", "num_scales", "clamped")}
        if self.plus_plus:
            details.update(
                lastde=info["lastde"].numpy(),
                sample_mean=info["sample_mean"].numpy(),
                sample_std=info["sample_std"].numpy(),
            )
        num_tokens = np.array([st.num_tokens for st in stats])
        return DetectionScores(score.numpy(), reasons, num_tokens, details)


METHODS = ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lastde", "lastde_closed", "lastde++")
_LASTDE_ONLY = ("n_samples", "embed_size", "epsilon_mult", "tau_prime", "agg", "short_text")
_BASELINES = {
    "likelihood": LikelihoodDetector,
    "log_rank": LogRankDetector,
    "entropy": EntropyDetector,
    "fast_detectgpt": FastDetectGPTDetector,
}


def make_detector(method: str, model: Any, tokenizer: Any, **kwargs: Any) -> ZeroShotDetector:
    """The detector of a method name in `METHODS` (Lastde presets by name), with `ZeroShotDetector` /
    `LastdeDetector` keyword arguments (Lastde's own — ``n_samples``, ``embed_size``, ``epsilon_mult``, ``tau_prime``,
    ``agg``, ``short_text`` — are ignored by the baselines)."""
    if method in PRESETS:
        return LastdeDetector(model, tokenizer, preset=method, **kwargs)
    if method not in _BASELINES:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    for name in _LASTDE_ONLY:  # Lastde's own options do not apply to the baselines
        kwargs.pop(name, None)
    return _BASELINES[method](model, tokenizer, **kwargs)


def score_all_methods(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    methods: Sequence[str] = METHODS,
    *,
    reference_model: Any = None,
    n_samples: int = 100,
    **kwargs: Any,
) -> dict[str, DetectionScores]:
    """Scores of several methods from **one** statistics pass (one forward per batch; the samples only when
    ``"lastde++"`` is among the methods).

    Args:
        model (`transformers.PreTrainedModel`): the scoring causal LM.
        tokenizer (`transformers.PreTrainedTokenizerBase`): its tokenizer.
        texts (`list[str]`): the texts.
        methods (`Sequence[str]`, *optional*): names from `METHODS` (default all).
        reference_model (*optional*): the sampling model of Fast-DetectGPT and Lastde++.
        n_samples (`int`, *optional*, defaults to `100`): Lastde++'s K.
        **kwargs: further `ZeroShotDetector` / `LastdeDetector` arguments (``batch_size``, ``max_length``, ...).

    Returns:
        `dict[str, DetectionScores]`: ``{method: DetectionScores}`` in the order of ``methods``.
    """
    if isinstance(methods, str) or not methods:
        raise ValueError(f"`methods` must be a non-empty list of names from {METHODS}, got {methods!r}.")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"`methods` must be names from {METHODS}, got {unknown}.")
    detectors = {
        m: make_detector(m, model, tokenizer, reference_model=reference_model, n_samples=n_samples, **kwargs)
        for m in methods
    }
    # the statistics of the most demanding detector serve all: samples if Lastde++ is asked for, and q from the
    # reference model, which only the moments of Fast-DetectGPT and the samples of Lastde++ read
    source = detectors.get("lastde++") or detectors.get("fast_detectgpt") or next(iter(detectors.values()))
    results = _scored_in_chunks(source, list(detectors.values()), _check_texts("texts", texts))
    for det, result in zip(detectors.values(), results):
        det.warn_undefined(result)
    return dict(zip(detectors, results))
