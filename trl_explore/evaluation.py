"""Sampling-based evaluation of math reasoning: load a benchmark, sample k completions per problem, grade, summarise.

Used by ``examples/evaluate_math.py`` and by the callbacks that track pass@k during training. Datasets come from the
Hub by name or from a local JSONL / JSON / Parquet / CSV file or a ``save_to_disk`` folder, and are normalised to two
columns: ``prompt`` (the problem text) and ``solution`` (the gold answer as ``\\boxed{...}``, what
:func:`trl_explore.rewards.math_accuracy_reward` expects).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._validation import check_bool, check_int, check_number
from .data import pick_column

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)

#: Column names used by common math benchmarks, in order of preference.
PROMPT_COLUMNS = ("prompt", "problem", "question", "Problem", "Question", "input")
ANSWER_COLUMNS = ("answer", "final_answer", "Answer", "solution", "target", "expected_answer")

_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.DOTALL)


def _has_boxed(text: str) -> bool:
    return "\\boxed" in text or "\\fbox" in text


def gold_to_solution(answer: Any) -> str:
    """Bring a gold answer from any benchmark convention into the ``\\boxed{...}`` form the reward grades.

    - MATH / MATH-500 ``solution`` text that already has a ``\\boxed{}``: kept as is;
    - GSM8K rationales ending in ``#### 42``: the part after ``####`` (thousands separators removed);
    - bare answers (MATH-500 / AIME ``answer``; ints included): wrapped in ``\\boxed{}``.
    """
    text = str(answer).strip()
    if _has_boxed(text):
        return text
    m = _GSM8K_ANSWER.search(text)
    if m:
        text = m.group(1).replace(",", "").strip()
    return f"\\boxed{{{text}}}"


def load_math_dataset(
    name_or_path: str,
    split: str = "test",
    subset: str | None = None,
    prompt_column: str | None = None,
    answer_column: str | None = None,
    limit: int | None = None,
) -> datasets.Dataset:
    """Load a math benchmark and normalise it to ``prompt`` + ``solution`` columns.

    Args:
        name_or_path (`str`):
            A Hub dataset name (``"HuggingFaceH4/MATH-500"``, ``"openai/gsm8k"``), a local ``.jsonl``/``.json``/
            ``.parquet``/``.csv`` file, or a folder written by ``Dataset.save_to_disk``.
        split (`str`, *optional*, defaults to `"test"`):
            Split to load (local single files have one split and ignore it).
        subset (`str`, *optional*):
            Hub configuration name (``"main"`` for GSM8K).
        prompt_column (`str`, *optional*):
            Override the detected prompt column (detected from `PROMPT_COLUMNS`).
        answer_column (`str`, *optional*):
            Override the detected answer column (detected from `ANSWER_COLUMNS`).
        limit (`int`, *optional*):
            Keep only the first `limit` problems.

    Returns:
        The dataset with columns ``prompt``, ``solution`` and the original columns.
    """
    from .data import load_any_dataset

    data = load_any_dataset(name_or_path, subset, split=None if Path(name_or_path).exists() else split)
    # local single files have one ("train") split whatever `split` says
    ds = data[split] if split in data else data["train"] if len(data) == 1 else data[split]
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    p_col = pick_column(ds.column_names, prompt_column, PROMPT_COLUMNS, "prompt")
    a_col = pick_column(ds.column_names, answer_column, ANSWER_COLUMNS, "answer")

    def _normalise(row: dict[str, Any]) -> dict[str, Any]:
        return {"prompt": row[p_col], "solution": gold_to_solution(row[a_col])}

    return ds.map(_normalise, desc="normalising columns")


@dataclass
class SamplingConfig:
    """How completions are sampled for evaluation.

    Args:
        num_samples (`int`, *optional*, defaults to `8`): completions per problem (the largest k).
        temperature (`float`, *optional*, defaults to `0.6`): sampling temperature (0 = greedy, needs `num_samples=1`).
        top_p (`float`, *optional*, defaults to `0.95`): nucleus sampling.
        max_new_tokens (`int`, *optional*, defaults to `1024`): completion length limit.
        batch_size (`int`, *optional*, defaults to `8`): prompts per `generate` call (transformers backend).
        system_prompt (`str`, *optional*): system message for chat models.
        use_chat_template (`bool`, *optional*): apply the tokenizer's chat template (default: when it has one).
        seed (`int`, *optional*, defaults to `0`): seed of the sampler.
        extra (`dict`, *optional*): further keyword arguments for `model.generate`.
    """

    num_samples: int = 8
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 1024
    batch_size: int = 8
    system_prompt: str | None = None
    use_chat_template: bool | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_int(self, "num_samples", low=1)
        check_number(self, "temperature", low=0.0)
        if self.temperature == 0 and self.num_samples > 1:
            raise ValueError("`temperature=0` (greedy) gives identical samples; use `num_samples=1` with it.")
        check_number(self, "top_p", low=0.0, high=1.0, low_open=True)
        check_int(self, "max_new_tokens", low=1)
        check_int(self, "batch_size", low=1)
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            raise ValueError(f"`system_prompt` must be a string or None, got {self.system_prompt!r}.")
        if self.use_chat_template is not None:
            check_bool(self, "use_chat_template")
        check_int(self, "seed", low=0)
        if not isinstance(self.extra, dict):
            raise ValueError(f"`extra` must be a dict of `generate` keyword arguments, got {self.extra!r}.")


def render_prompts(tokenizer, prompts: Sequence[Any], config: SamplingConfig) -> list[str]:
    """Turn problem texts (or conversations) into model input strings."""
    use_chat = config.use_chat_template
    if use_chat is None:
        use_chat = getattr(tokenizer, "chat_template", None) is not None
    rendered = []
    for p in prompts:
        if not use_chat:
            if not isinstance(p, str):
                raise ValueError("Conversational prompts need a tokenizer with a chat template.")
            rendered.append(p)
            continue
        messages = list(p) if not isinstance(p, str) else [{"role": "user", "content": p}]
        if config.system_prompt and messages[0].get("role") != "system":
            messages = [{"role": "system", "content": config.system_prompt}, *messages]
        rendered.append(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return rendered


def sample_completions_transformers(
    model, tokenizer, prompts: Sequence[Any], config: SamplingConfig, progress: bool = True
) -> list[list[str]]:
    """Sample ``config.num_samples`` completions per prompt with ``model.generate``. Returns ``[P][k]`` strings."""
    import torch
    from tqdm.auto import tqdm

    texts = render_prompts(tokenizer, prompts, config)
    pad_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(config.seed)
    out: list[list[str]] = []
    was_training = model.training
    model.eval()
    try:
        for start in tqdm(range(0, len(texts), config.batch_size), desc="sampling", disable=not progress):
            batch = texts[start : start + config.batch_size]
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            greedy = config.temperature == 0
            with torch.no_grad():
                gen = model.generate(
                    **enc,
                    do_sample=not greedy,
                    temperature=None if greedy else config.temperature,
                    top_p=None if greedy else config.top_p,
                    top_k=None if greedy else 0,
                    max_new_tokens=config.max_new_tokens,
                    num_return_sequences=config.num_samples,
                    pad_token_id=tokenizer.pad_token_id,
                    **config.extra,
                )
            completions = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            k = config.num_samples
            out.extend(completions[i * k : (i + 1) * k] for i in range(len(batch)))
    finally:
        tokenizer.padding_side = pad_side
        model.train(was_training)
    return out


def sample_completions_vllm(
    model_name_or_path: str, tokenizer, prompts: Sequence[Any], config: SamplingConfig, **llm_kwargs: Any
) -> list[list[str]]:
    """Sample with vLLM (``pip install trl_explore[vllm]``). Returns ``[P][k]`` strings."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as err:
        raise ImportError("The vLLM backend needs vLLM: `pip install 'trl_explore[vllm]'`.") from err
    llm = LLM(model=model_name_or_path, seed=config.seed, **llm_kwargs)
    params = SamplingParams(
        n=config.num_samples, temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_new_tokens
    )
    results = llm.generate(render_prompts(tokenizer, prompts, config), params)
    return [[o.text for o in r.outputs] for r in results]


@dataclass
class EvaluationResult:
    """Per-dataset summary: pass@k curve, avg@k, maj@k, and the raw samples and scores."""

    pass_at_k: dict[int, float]
    avg_at_k: float
    maj_at_k: float
    num_problems: int
    num_samples: int
    samples: list[list[str]] = field(repr=False, default_factory=list)
    scores: list[list[float | None]] = field(repr=False, default_factory=list)

    def as_dict(self) -> dict[str, float]:
        row = {f"pass@{k}": v for k, v in self.pass_at_k.items()}
        row[f"avg@{self.num_samples}"] = self.avg_at_k
        row[f"maj@{self.num_samples}"] = self.maj_at_k
        row["num_problems"] = self.num_problems
        return row


def grade_samples(
    samples: Sequence[Sequence[str]],
    solutions: Sequence[str],
    reward_fn: Callable[..., list[float | None]] | None = None,
    answer_fn: Callable[[str], Any] | None = None,
    ks: Sequence[int] | None = None,
    columns: dict[str, Sequence[Any]] | None = None,
) -> EvaluationResult:
    """Grade ``[P][k]`` samples against gold solutions and summarise.

    Args:
        samples: completions per problem (all problems must have the same number).
        solutions: gold solutions, one per problem.
        reward_fn: a TRL-contract reward (default :func:`trl_explore.rewards.math_accuracy_reward`); all samples are
            graded in one call so that its verification runs in parallel.
        answer_fn: maps a completion to its normalised final answer, for maj@k (default: the reward's extractor and
            normaliser).
        ks: k values of the pass@k curve (default: powers of two up to k).
        columns: further per-problem dataset columns the reward reads (e.g. ``target`` and ``numbers`` of
            `trl_explore.toy.countdown_reward`), each repeated for the problem's samples.
    """
    from .metrics.sampling import avg_at_k, maj_at_k, pass_at_k_curve

    if len(samples) != len(solutions):
        raise ValueError(f"{len(samples)} problems of samples but {len(solutions)} solutions.")
    k = len(samples[0]) if samples else 0
    if k == 0 or any(len(s) != k for s in samples):
        raise ValueError("Every problem needs the same, non-zero number of samples.")
    if reward_fn is None or answer_fn is None:
        from .rewards import math as math_reward

        reward_fn = reward_fn or math_reward.math_accuracy_reward
        answer_fn = answer_fn or math_reward.extract_normalized_answer
    flat = [c for row in samples for c in row]
    flat_solutions = [sol for sol in solutions for _ in range(k)]
    extra = {}
    for name, values in (columns or {}).items():
        if len(values) != len(samples):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(samples)} problems.")
        extra[name] = [v for v in values for _ in range(k)]
    flat_scores = reward_fn(completions=flat, solution=flat_solutions, **extra)
    scores = [flat_scores[i * k : (i + 1) * k] for i in range(len(samples))]
    answers = [[answer_fn(c) for c in row] for row in samples]
    if ks is None:
        ks = [2**i for i in range(k.bit_length()) if 2**i <= k]
    return EvaluationResult(
        pass_at_k=pass_at_k_curve(scores, ks),
        avg_at_k=avg_at_k(scores),
        maj_at_k=maj_at_k(answers, scores),
        num_problems=len(samples),
        num_samples=k,
        samples=[list(r) for r in samples],
        scores=scores,
    )


def write_results(results: dict[str, EvaluationResult], output_dir: str | os.PathLike) -> Path:
    """Write a summary table (Markdown + JSON) and per-sample JSONL files; returns the summary path."""
    import json

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {name: r.as_dict() for name, r in results.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for name, r in results.items():
        # a local data file is named by its stem, a Hub dataset by its full name
        stem = Path(name).stem if Path(name).suffix.lower() in (".jsonl", ".json", ".parquet", ".csv", ".txt") else name
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
        with (out / f"samples_{safe}.jsonl").open("w") as f:
            for i, (row, sc) in enumerate(zip(r.samples, r.scores)):
                f.write(json.dumps({"problem": i, "completions": row, "scores": sc}) + "\n")
    cols = sorted(
        {c for row in summary.values() for c in row},
        key=lambda c: (0, int(c[5:]), "") if c.startswith("pass@") else (1, 0, c),
    )
    lines = ["| dataset | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in summary.items():
        cells = [f"{row[c]:.4f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path
