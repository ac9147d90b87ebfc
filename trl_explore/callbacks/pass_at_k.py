"""`PassAtKCallback`: track the capability boundary (pass@1 ... pass@k on held-out prompts) during training.

Over-exploitation shrinks what a model can solve at all: pass@1 rises while pass@k at large k falls. This callback
measures both on a fixed held-out prompt set every `eval_steps` optimizer steps (and before training), records
``pass_at_k/pass@<k>`` in the trainer state's log history at the step it was measured, hands it to the logging
integrations with the next logged metrics, and appends rows to ``<output_dir>/pass_at_k.csv``.

By default it samples like the trainer does (its temperature, top-p 1). The relative-negative papers (Zhu et al.,
arXiv 2506.01347; GRPO-N, arXiv 2510.04028) evaluate at temperature 0.6 and top-p 0.95 (with 256 samples per
problem): `PassAtKCallback.paper_protocol` builds the callback with those settings (`PAPER_PROTOCOL`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._validation import check_int, check_number, check_optional_number
from ..data import check_dataset
from .periodic import PeriodicEvalCallback

#: Sampling settings of the papers' pass@k evaluation (Zhu et al. 2025, arXiv 2506.01347: T = 0.6, top-p 0.95, 256
#: samples per problem, unbiased pass@k)
PAPER_PROTOCOL: dict[str, float] = {"temperature": 0.6, "top_p": 0.95}


def _is_conversational(prompt: Any) -> bool:
    return isinstance(prompt, list) and bool(prompt) and isinstance(prompt[0], dict) and "role" in prompt[0]


class PassAtKCallback(PeriodicEvalCallback):
    """Every `eval_steps` steps, sample `k` completions per held-out prompt, grade them and log the pass@k curve.

    Works with any trainer whose model is a causal LM (TRL's `GRPOTrainer` and our subclasses, `SFTTrainer`, ...).
    Each process samples a disjoint shard of the prompts; counts are gathered across processes, so every rank logs the
    same values.

    Args:
        eval_dataset (`datasets.Dataset`):
            Held-out rows with a `prompt` column (plain text or conversational, as in TRL) and the columns the reward
            needs (e.g. `solution`).
        reward_func (`Callable`):
            A TRL-contract reward function deciding correctness (e.g. `math_accuracy_reward`); a completion is correct
            when its reward is at least `correct_threshold`.
        k (`int`, *optional*, defaults to `8`):
            Completions per prompt (the largest k).
        eval_steps (`int`, *optional*, defaults to `50`):
            Evaluate every this many optimizer steps (and at step 0 and at the end of training).
        ks (`Sequence[int]`, *optional*):
            The k values to report (default: powers of two up to `k`).
        temperature (`float`, *optional*):
            Sampling temperature `> 0` (default: the trainer's `args.temperature`, else 1.0). The papers' protocol:
            `paper_protocol`.
        top_p (`float`, *optional*, defaults to `1.0`):
            Nucleus sampling, in `(0, 1]`.
        max_new_tokens (`int`, *optional*):
            Completion budget (default: the trainer's `args.max_completion_length`, else 256).
        batch_size (`int`, *optional*, defaults to `16`):
            Prompts per `generate` call.
        correct_threshold (`float`, *optional*, defaults to `1.0`):
            Reward at or above which a completion counts as correct.
        csv_name (`str`, *optional*, defaults to `"pass_at_k.csv"`):
            File under `args.output_dir` receiving one row per evaluation (step, k, pass@k, seconds).
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar while sampling.

    Attributes:
        history (`list[dict]`): one dict per evaluation: ``{"step": ..., "pass@1": ..., ..., "seconds": ...}``.
    """

    def __init__(
        self,
        eval_dataset: Any,
        reward_func: Callable[..., list[float | None]],
        k: int = 8,
        eval_steps: int = 50,
        ks: Sequence[int] | None = None,
        temperature: float | None = None,
        top_p: float = 1.0,
        max_new_tokens: int | None = None,
        batch_size: int = 16,
        correct_threshold: float = 1.0,
        csv_name: str = "pass_at_k.csv",
        show_progress: bool = True,
    ) -> None:
        check_int(None, "k", value=k, low=1)
        super().__init__(eval_steps=eval_steps, csv_name=csv_name, show_progress=show_progress)
        check_dataset(eval_dataset, ["prompt"], "`eval_dataset`")
        if not callable(reward_func):
            raise ValueError(f"`reward_func` must be a TRL reward function (callable), got {reward_func!r}.")
        check_optional_number(None, "temperature", value=temperature, low=0.0, low_open=True)
        check_number(None, "top_p", value=top_p, low=0.0, high=1.0, low_open=True)
        if max_new_tokens is not None:
            check_int(None, "max_new_tokens", value=max_new_tokens, low=1)
        check_int(None, "batch_size", value=batch_size, low=1)
        check_number(None, "correct_threshold", value=correct_threshold)
        if ks is not None:
            for kk in ks:
                check_int(None, "ks", value=kk, low=1, high=k)
        self.ks = sorted(set(ks)) if ks is not None else [2**i for i in range(k.bit_length()) if 2**i <= k]
        if any(kk < 1 or kk > k for kk in self.ks):
            raise ValueError(f"every value of `ks` must be in [1, k={k}], got {list(self.ks)}.")
        self.eval_dataset = eval_dataset
        self.reward_func = reward_func
        self.k = k
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.correct_threshold = correct_threshold

    @classmethod
    def paper_protocol(
        cls, eval_dataset: Any, reward_func: Callable[..., list[float | None]], k: int = 8, **kwargs: Any
    ) -> PassAtKCallback:
        """The callback with the papers' evaluation sampling (`PAPER_PROTOCOL`: temperature 0.6, top-p 0.95) instead
        of the trainer's; the papers use ``k=256``, the default here is 8 to keep periodic evaluation cheap. Other
        keyword arguments are `PassAtKCallback`'s (``temperature`` / ``top_p`` override the preset)."""
        return cls(eval_dataset, reward_func, k=k, **{**PAPER_PROTOCOL, **kwargs})

    # ------------------------------------------------------------------------------------------------ sampling
    def _sample_and_count(self, model: Any, tokenizer: Any, args: Any) -> tuple[list[int], list[int]]:
        """Sample `k` completions for this process's shard of prompts; return per-prompt (n, c)."""
        from ..evaluation import SamplingConfig, sample_completions_transformers

        shard = self.eval_dataset.select(self.shard_indices(len(self.eval_dataset)))
        if len(shard) == 0:
            return [], []
        prompts = shard["prompt"]
        temperature = self.temperature if self.temperature is not None else getattr(args, "temperature", 1.0)
        max_new = self.max_new_tokens or getattr(args, "max_completion_length", None) or 256
        config = SamplingConfig(
            num_samples=self.k,
            temperature=temperature,
            top_p=self.top_p,
            max_new_tokens=max_new,
            batch_size=self.batch_size,
            use_chat_template=_is_conversational(prompts[0]),
            seed=int(getattr(args, "seed", 0)),
        )
        samples = sample_completions_transformers(model, tokenizer, prompts, config, progress=self.show_progress)
        columns = {c: shard[c] for c in shard.column_names if c not in ("prompt", "completion")}
        flat_prompts = [p for p in prompts for _ in range(self.k)]
        texts = [s for row in samples for s in row]
        completions: list[Any] = texts
        if _is_conversational(prompts[0]):
            completions = [[{"role": "assistant", "content": s}] for s in texts]
        rewards = self.reward_func(
            prompts=flat_prompts,
            completions=completions,
            completion_ids=tokenizer(texts, add_special_tokens=False)["input_ids"],
            **{name: [v for v in values for _ in range(self.k)] for name, values in columns.items()},
        )
        counts = [
            sum(1 for r in rewards[i * self.k : (i + 1) * self.k] if r is not None and r >= self.correct_threshold)
            for i in range(len(prompts))
        ]
        return [self.k] * len(prompts), counts

    def measure(self, model: Any, tokenizer: Any, args: Any) -> dict[str, float]:
        """Sample, grade and gather across processes; returns ``{"pass@k": ...}`` for every k in `ks`."""
        from ..functional.pass_at_k import pass_at_k

        n, c = self._sample_and_count(model, tokenizer, args)
        counts = self.gather(list(zip(n, c)))
        return {
            f"pass@{kk}": float(sum(pass_at_k(ni, ci, kk) for ni, ci in counts) / max(len(counts), 1)) for kk in self.ks
        }

    def csv_rows(self, row: dict[str, float]) -> tuple[list[str], list[list[Any]]]:
        """One row per k: ``step, k, pass_at_k, seconds``."""
        rows = [[row["step"], kk, f"{row[f'pass@{kk}']:.6f}", f"{row['seconds']:.3f}"] for kk in self.ks]
        return ["step", "k", "pass_at_k", "seconds"], rows
