"""Verifiable math reward for RLVR with TRL's reward-function contract.

``math_accuracy_reward(completions, solution, **kwargs) -> list[float | None]`` grades each completion's final answer
(last ``\\boxed{}`` by default) against the gold ``solution`` column: 1.0 when equivalent, 0.0 otherwise, `None` when
the gold answer cannot be extracted or parsed (TRL then skips the sample). :func:`make_math_reward` builds variants
(other extractors, tolerance, time limit, a format reward ...).

How a batch is graded (see ``docs/rewards.md``):

1. extract the answers (linear-time scanners with size and brace-depth limits);
2. screen them (length, depth, huge numbers, power towers, factorial chains) -- refused answers score 0;
3. normalise and compare in this process: exact canonical match, then plain numbers with a relative tolerance --
   most answers in a training batch are decided here in microseconds;
4. everything still undecided goes, deduplicated, to a pool of worker processes (latex2sympy2 + sympy), each task
   under a hard wall-clock limit enforced by killing the worker; a timeout scores 0 and is counted.

Security: model text never reaches ``eval``, ``exec`` or sympy's string parsers; only latex2sympy2's LaTeX grammar
builds expressions, and only inside the disposable workers. Importing this module does not import sympy.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._extract import EXTRACTORS, extract_answer
from ._normalize import Limits, Node, NormalizationError, compare, leaf_equal_cheap, node_key, parse_answer, screen

logger = logging.getLogger(__name__)

__all__ = [
    "MathReward",
    "extract_normalized_answer",
    "make_math_reward",
    "math_accuracy_reward",
    "math_reward_stats",
    "reset_math_reward_stats",
]

_STATS: Counter[str] = Counter()
_STATS_LOCK = threading.Lock()

STAT_NAMES = (
    "calls",
    "completions",
    "correct",
    "no_answer",
    "rejected",
    "unparsable_answer",
    "unparsable_gold",
    "decided_in_process",
    "symbolic_checks",
    "cache_hits",
    "symbolic_refused",
    "timeouts",
    "worker_errors",
)


def math_reward_stats() -> dict[str, int]:
    """Cumulative counters of every math reward in this process (see ``docs/rewards.md`` for their meaning)."""
    with _STATS_LOCK:
        return {name: int(_STATS.get(name, 0)) for name in STAT_NAMES}


def reset_math_reward_stats() -> None:
    """Zero the cumulative counters returned by :func:`math_reward_stats`."""
    with _STATS_LOCK:
        _STATS.clear()


def _completion_text(completion: Any) -> str:
    """Text of a plain or conversational completion (the last assistant message's content)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence):
        messages = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"]
        chosen = assistant[-1] if assistant else (messages[-1] if messages else None)
        return _content_text(chosen.get("content")) if chosen is not None else ""
    return str(completion)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return str(content)


@dataclass
class _Prepared:
    raw: str | None  # extracted answer text
    node: Node | None  # parsed answer
    status: str  # "ok", "no_answer", "rejected", "unparsable"


class MathReward:
    """A math-answer reward function with TRL's contract. Build it with :func:`make_math_reward`.

    Args:
        extractors (`Sequence[str]`, *optional*, defaults to `("boxed",)`):
            How the completion's final answer is found, tried in order: ``"boxed"`` (last ``\\boxed{}`` /
            ``\\fbox{}``), ``"final_answer"`` ("The final answer is ..."), ``"gsm8k"`` (after the last ``####``),
            ``"last_number"``.
        gold_extractors (`Sequence[str]`, *optional*, defaults to `("boxed", "gsm8k", "raw")`):
            Same for the gold ``solution`` column; ``"raw"`` takes the whole text (a bare answer like ``"42"``).
        timeout (`float`, *optional*, defaults to `2.0`):
            Wall-clock limit in seconds of one symbolic verification; the worker is killed past it and the completion
            scores 0. Must be > 0.
        numeric_rel_tol (`float`, *optional*, defaults to `1e-4`):
            Relative tolerance when a decimal / approximate value is compared (two integers must match exactly).
            Must be in [0, 1).
        format_reward (`float` or `None`, *optional*, defaults to `None`):
            Score of a completion whose answer is extracted but wrong (a format bonus); `None` means 0.0.
        missing_answer_reward (`float`, *optional*, defaults to `0.0`):
            Score of a completion with no extractable (or a refused) answer.
        max_workers (`int` or `None`, *optional*, defaults to `None`):
            Worker processes for symbolic checks; `None` means the available CPUs, capped at 8. Must be >= 1.
        symbolic (`bool`, *optional*, defaults to `True`):
            Run the latex2sympy2 + sympy check for answers that exact / numeric comparison cannot decide. When
            `False`, those score 0 and no worker process is ever started.
        max_answer_chars (`int`, *optional*, defaults to `2000`):
            Longest extracted answer that is graded; longer ones are refused (score 0). Must be >= 1.
        max_brace_depth (`int`, *optional*, defaults to `50`):
            Deepest brace / bracket nesting that is graded. Must be >= 1.
        max_number_digits (`int`, *optional*, defaults to `400`):
            Longest digit run in one number that is graded. Must be >= 1.
        memory_limit_mb (`int`, *optional*, defaults to `2048`):
            Address-space cap of each worker process (0 disables it). Must be >= 0.
        cache_size (`int`, *optional*, defaults to `65536`):
            Symbolic verdicts remembered per reward instance (identical pairs recur across a group). Must be >= 0.
        name (`str`, *optional*, defaults to `"math_accuracy_reward"`):
            ``__name__`` of the reward; TRL uses it to name the ``rewards/<name>/mean`` metrics.
        metric_prefix (`str`, *optional*, defaults to `"math_reward"`):
            Prefix of the metrics sent through TRL's ``log_metric``.
        log_answers (`bool`, *optional*, defaults to `False`):
            Add the extracted answers as a ``<metric_prefix>/answer`` column of TRL's completions table
            (through ``log_extra``).
    """

    def __init__(
        self,
        extractors: Sequence[str] = ("boxed",),
        gold_extractors: Sequence[str] = ("boxed", "gsm8k", "raw"),
        timeout: float = 2.0,
        numeric_rel_tol: float = 1e-4,
        format_reward: float | None = None,
        missing_answer_reward: float = 0.0,
        max_workers: int | None = None,
        symbolic: bool = True,
        max_answer_chars: int = 2000,
        max_brace_depth: int = 50,
        max_number_digits: int = 400,
        memory_limit_mb: int = 2048,
        cache_size: int = 65536,
        name: str = "math_accuracy_reward",
        metric_prefix: str = "math_reward",
        log_answers: bool = False,
    ) -> None:
        if isinstance(extractors, str):
            extractors = (extractors,)
        if isinstance(gold_extractors, str):
            gold_extractors = (gold_extractors,)
        for field_name, names, allowed in (
            ("extractors", extractors, set(EXTRACTORS)),
            ("gold_extractors", gold_extractors, set(EXTRACTORS) | {"raw"}),
        ):
            bad = [n for n in names if n not in allowed]
            if not names or bad:
                raise ValueError(
                    f"{field_name} must be a non-empty sequence of {sorted(allowed)}, got {list(names)!r}."
                )
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}.")
        if not 0 <= numeric_rel_tol < 1:
            raise ValueError(f"numeric_rel_tol must be in [0, 1), got {numeric_rel_tol}.")
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be >= 1 or None, got {max_workers}.")
        for field_name, value, low in (
            ("max_answer_chars", max_answer_chars, 1),
            ("max_brace_depth", max_brace_depth, 1),
            ("max_number_digits", max_number_digits, 1),
            ("memory_limit_mb", memory_limit_mb, 0),
            ("cache_size", cache_size, 0),
        ):
            if value < low:
                raise ValueError(f"{field_name} must be >= {low}, got {value}.")
        if not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}.")
        self.extractors = tuple(extractors)
        self.gold_extractors = tuple(gold_extractors)
        self.timeout = float(timeout)
        self.numeric_rel_tol = float(numeric_rel_tol)
        self.format_reward = format_reward
        self.missing_answer_reward = float(missing_answer_reward)
        self.max_workers = max_workers
        self.symbolic = symbolic
        self.limits = Limits(max_chars=max_answer_chars, max_depth=max_brace_depth, max_number_digits=max_number_digits)
        self.memory_limit_mb = memory_limit_mb
        self.cache_size = cache_size
        self.__name__ = name
        self.__qualname__ = name
        self.metric_prefix = metric_prefix
        self.log_answers = log_answers
        self.stats: Counter[str] = Counter()
        self._cache: OrderedDict[tuple[str, str], tuple[bool, str]] = OrderedDict()
        self._lock = threading.Lock()

    # pickling (TRL and dataloader workers may copy reward functions): drop the lock and the cache
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"MathReward(name={self.__name__!r}, extractors={self.extractors}, timeout={self.timeout}, "
            f"numeric_rel_tol={self.numeric_rel_tol}, symbolic={self.symbolic})"
        )

    # ---------------------------------------------------------------------------------------------------------------
    def _prepare(self, text: str, extractors: Sequence[str]) -> _Prepared:
        extraction = extract_answer(text, extractors, max_depth=self.limits.max_depth, max_chars=self.limits.max_chars)
        if extraction.rejected is not None:
            return _Prepared(None, None, "rejected")
        if extraction.answer is None:
            return _Prepared(None, None, "no_answer")
        raw = extraction.answer
        if screen(raw, self.limits) is not None:
            return _Prepared(raw, None, "rejected")
        try:
            node = parse_answer(raw, self.limits)
        except NormalizationError:
            return _Prepared(raw, None, "unparsable")
        return _Prepared(raw, node, "ok")

    def extract(self, completion: Any) -> str | None:
        """Canonical form of a completion's final answer (for majority voting), `None` when there is none."""
        prepared = self._prepare(_completion_text(completion), self.extractors)
        return node_key(prepared.node) if prepared.node is not None else None

    def _pool(self) -> Any:
        from ._pool import default_max_workers, get_pool

        return get_pool(self.max_workers or default_max_workers(), self.memory_limit_mb)

    def _verify_symbolic(self, pairs: list[tuple[str, str]], counts: Counter[str]) -> dict[tuple[str, str], bool]:
        verdicts: dict[tuple[str, str], bool] = {}
        todo: list[tuple[str, str]] = []
        with self._lock:
            for pair in pairs:
                hit = self._cache.get(pair)
                if hit is not None:
                    self._cache.move_to_end(pair)
                    verdicts[pair] = hit[0]
                    counts["cache_hits"] += 1
                    if hit[1] == "timeout":
                        counts["timeouts"] += 1
                    elif hit[1] != "ok":
                        counts["symbolic_refused"] += 1
                else:
                    todo.append(pair)
        if not todo:
            return verdicts
        counts["symbolic_checks"] += len(todo)
        limits = {
            "max_chars": self.limits.max_chars,
            "max_depth": self.limits.max_depth,
            "max_number_digits": self.limits.max_number_digits,
        }
        tasks = [{"pred": p, "gold": g, "rel_tol": self.numeric_rel_tol, "limits": limits} for p, g in todo]
        results = self._pool().run(tasks, timeout=self.timeout)
        with self._lock:
            for pair, result in zip(todo, results):
                status = str(result.get("status", "error"))
                equal = bool(result.get("equal", False)) and status == "ok"
                verdicts[pair] = equal
                if status == "timeout":
                    counts["timeouts"] += 1
                elif status in ("crashed", "error", "unavailable"):
                    counts["worker_errors"] += 1
                    logger.debug("symbolic check of %r vs %r failed: %s", pair[0][:80], pair[1][:80], result)
                elif status != "ok":  # parse_error, too_large, too_many_nodes, rejected, unparsable
                    counts["symbolic_refused"] += 1
                if status != "unavailable" and self.cache_size:
                    self._cache[pair] = (equal, status)
                    if len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return verdicts

    def __call__(
        self, completions: Sequence[Any], solution: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        """Score each completion against its gold solution.

        Args:
            completions: plain strings or conversational completions (lists of ``{"role", "content"}`` messages).
            solution: gold solutions (full worked solutions with a ``\\boxed{}``, GSM8K ``#### 42`` answers, or bare
                answers), one per completion. TRL passes the dataset column of that name.
            **kwargs: other TRL keyword arguments; ``log_metric`` (``log_metric(name, value)``) receives this
                batch's counters and ``log_extra`` the extracted answers when ``log_answers=True``. The rest
                (``prompts``, ``completion_ids``, ``trainer_state``, other dataset columns) are ignored.

        Returns:
            One reward per completion: 1.0 correct, 0.0 (or ``format_reward`` / ``missing_answer_reward``) otherwise,
            `None` when the gold answer cannot be extracted or parsed.
        """
        if solution is None:
            raise ValueError(
                f"{self.__name__} needs the gold answers as a `solution` dataset column (or solution=...); rename the "
                "gold column (e.g. `dataset.rename_column('answer', 'solution')`)."
            )
        if isinstance(solution, str):
            solution = [solution]
        if len(solution) != len(completions):
            raise ValueError(f"got {len(completions)} completions but {len(solution)} solutions; they must match.")
        counts: Counter[str] = Counter()
        counts["calls"] += 1
        counts["completions"] += len(completions)
        gold_cache: dict[str, _Prepared] = {}
        preds: list[_Prepared] = []
        golds: list[_Prepared] = []
        for completion, gold in zip(completions, solution):
            gold_text = (
                "" if gold is None else (_completion_text(gold) if not isinstance(gold, (int, float)) else str(gold))
            )
            if gold_text not in gold_cache:
                gold_cache[gold_text] = self._prepare(gold_text, self.gold_extractors)
            golds.append(gold_cache[gold_text])
            preds.append(self._prepare(_completion_text(completion), self.extractors))

        wrong = 0.0 if self.format_reward is None else float(self.format_reward)
        rewards: list[float | None] = [None] * len(preds)
        undecided: dict[int, tuple[str, str]] = {}
        rel_tol = self.numeric_rel_tol

        def cheap(a: Any, b: Any) -> bool | None:
            return leaf_equal_cheap(a, b, rel_tol)

        for i, (pred, gold) in enumerate(zip(preds, golds)):
            if gold.node is None:
                counts["unparsable_gold"] += 1
                rewards[i] = None
                continue
            if pred.node is None:
                counts[pred.status if pred.status != "unparsable" else "unparsable_answer"] += 1
                if pred.status == "unparsable":
                    rewards[i] = wrong
                else:
                    rewards[i] = self.missing_answer_reward
                continue
            verdict = compare(pred.node, gold.node, cheap)
            if verdict is None:
                assert pred.raw is not None and gold.raw is not None
                undecided[i] = (pred.raw, gold.raw)
                continue
            counts["decided_in_process"] += 1
            counts["correct"] += int(verdict)
            rewards[i] = 1.0 if verdict else wrong

        if undecided:
            if self.symbolic:
                verdicts = self._verify_symbolic(sorted(set(undecided.values())), counts)
            else:
                verdicts = {}
            for i, pair in undecided.items():
                correct = verdicts.get(pair, False)
                counts["correct"] += int(correct)
                rewards[i] = 1.0 if correct else wrong

        with self._lock:
            self.stats.update(counts)
        with _STATS_LOCK:
            _STATS.update(counts)
        self._log(kwargs, counts, preds, len(preds))
        return rewards

    def _log(self, kwargs: dict[str, Any], counts: Counter[str], preds: list[_Prepared], n: int) -> None:
        log_metric: Callable[[str, float], Any] | None = kwargs.get("log_metric")
        if callable(log_metric):
            p = self.metric_prefix
            log_metric(f"{p}/timeouts", float(counts["timeouts"]))
            log_metric(f"{p}/unparsable_gold", float(counts["unparsable_gold"]))
            log_metric(f"{p}/rejected", float(counts["rejected"]))
            log_metric(f"{p}/worker_errors", float(counts["worker_errors"]))
            log_metric(f"{p}/symbolic_refused", float(counts["symbolic_refused"]))
            log_metric(f"{p}/no_answer_frac", counts["no_answer"] / n if n else 0.0)
            log_metric(f"{p}/symbolic_frac", counts["symbolic_checks"] / n if n else 0.0)
        log_extra: Callable[[str, list], Any] | None = kwargs.get("log_extra")
        if self.log_answers and callable(log_extra):
            log_extra(f"{self.metric_prefix}/answer", [p.raw if p.raw is not None else "" for p in preds])


def make_math_reward(
    extractors: Sequence[str] = ("boxed",),
    timeout: float = 2.0,
    numeric_rel_tol: float = 1e-4,
    format_reward: float | None = None,
    max_workers: int | None = None,
    **kwargs: Any,
) -> MathReward:
    """Build a math reward function (TRL contract) with the given options; see :class:`MathReward` for all of them.

    Example::

        from trl import GRPOTrainer
        from trl_explore.rewards import make_math_reward

        gsm8k_reward = make_math_reward(extractors=("gsm8k", "boxed"), name="gsm8k_accuracy")
        trainer = GRPOTrainer(model=..., reward_funcs=[gsm8k_reward], train_dataset=...)  # needs a `solution` column
    """
    return MathReward(
        extractors=extractors,
        timeout=timeout,
        numeric_rel_tol=numeric_rel_tol,
        format_reward=format_reward,
        max_workers=max_workers,
        **kwargs,
    )


_DEFAULT: MathReward | None = None
_DEFAULT_LOCK = threading.Lock()


def _default() -> MathReward:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = MathReward()
        return _DEFAULT


def math_accuracy_reward(
    completions: Sequence[Any], solution: Sequence[Any] | None = None, **kwargs: Any
) -> list[float | None]:
    """Reward 1.0 when the completion's last ``\\boxed{}`` answer equals the gold ``solution``, else 0.0.

    TRL's reward contract: plain or conversational ``completions``, the ``solution`` dataset column, any other
    keyword arguments (``log_metric`` receives ``math_reward/timeouts`` and the other counters). Returns `None` for a
    sample whose gold answer cannot be extracted or parsed. It is :class:`MathReward` with its defaults (2 s limit per
    symbolic check, relative tolerance 1e-4); use :func:`make_math_reward` for other settings.
    """
    return _default()(completions, solution, **kwargs)


def extract_normalized_answer(completion: Any, extractors: Sequence[str] = ("boxed",)) -> str | None:
    """Canonical form of a completion's final answer (the voting key of maj@k), `None` when no answer is found.

    Equal keys mean equivalent answers for the exact / normalised comparison (``\\dfrac{1}{2}`` and
    ``\\frac12`` share a key; ``0.5`` does not -- numeric and symbolic equivalence are not folded into keys).
    """
    reward = _default() if tuple(extractors) == ("boxed",) else MathReward(extractors=extractors)
    return reward.extract(completion)
