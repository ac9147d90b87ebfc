# /// script
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
# ]
# ///
r"""Evaluate a model on math benchmarks with sampled completions: pass@k, avg@k and maj@k per dataset.

Offline on a CPU (toy kit; no Hub, no GPU): `--model_name_or_path toy` is the toy route's warm-started tiny model
(cached; the same one the training examples use), `toy-arithmetic` / `toy-countdown` are synthetic problems (countdown
graded by `trl_explore.toy.countdown_reward`: every number used once, exact value). A checkpoint written by a training
example's toy route evaluates the same way (`--model_name_or_path /tmp/lpreg_toy`):

```bash
python examples/evaluate_math.py --model_name_or_path toy --datasets toy-arithmetic \
    --limit 16 --num_samples 4 --max_new_tokens 24 --output_dir /tmp/eval_toy
```

One GPU (transformers backend; any Hub model or local checkpoint; datasets by Hub name or local file):

```bash
python examples/evaluate_math.py \
    --model_name_or_path Qwen/Qwen2.5-Math-1.5B-Instruct \
    --datasets HuggingFaceH4/MATH-500 math-ai/aime24 \
    --num_samples 16 --temperature 0.6 --top_p 0.95 --max_new_tokens 4096 \
    --output_dir eval_out
```

Faster and on several GPUs with vLLM (`pip install 'trl_explore[vllm]'`; tensor parallel over the visible GPUs is
vLLM's own): add `--backend vllm`. GSM8K needs its configuration: `--datasets openai/gsm8k --subset main`. Local
files: `--datasets data/aime.jsonl`. Without a GPU the script samples on the CPU in float32.

`--backend swireasoning` compares SwiReasoning decoding (latent/explicit switch thinking, `trl_explore.generation`)
with plain sampling at the same budgets and sampling settings: accuracy (`math_accuracy_reward`), generated tokens
and the share of latent steps, as a table (`swireasoning_comparison.md/json`). Budget sweep:
`--swi_budgets 1024 2048 4096`. Thinking models (Qwen3, R1-distill) have the `<think>` / `</think>` tokens it needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from trl_explore._device import default_device
from trl_explore._output import check_output_dir, writing_into
from trl_explore._validation import check_choice, check_int, check_number
from trl_explore.data import check_toy_name
from trl_explore.evaluation import (
    SamplingConfig,
    grade_samples,
    load_math_dataset,
    sample_completions_transformers,
    sample_completions_vllm,
    write_results,
)
from trl_explore.scripts import (
    TOY_MATH_DATASETS,
    ExampleParser,
    check_model_path,
    is_toy,
    run_example,
    toy_math_dataset,
    toy_math_reward,
    toy_model_path,
)
from trl_explore.toy.warm_start import small_model_threads, torch_threads

logger = logging.getLogger(__name__)


@dataclass
class EvalArguments:
    """Arguments of the evaluation script (each field's help text is in its metadata).

    Args:
        model_name_or_path: Hub name or local path of the model; `toy` builds the toy kit's warm-started model.
        datasets: Hub names or local files of the benchmarks; `toy-arithmetic` / `toy-countdown` use the toy tasks.
    """

    model_name_or_path: str = field(
        default=None, metadata={"help": "Hub name or local path (required); `toy` for the offline toy model."}
    )
    datasets: list[str] = field(default_factory=lambda: ["HuggingFaceH4/MATH-500"], metadata={"help": "Benchmarks."})
    split: str = field(default="test", metadata={"help": "Dataset split."})
    subset: str | None = field(default=None, metadata={"help": "Hub dataset configuration (`main` for GSM8K)."})
    prompt_column: str | None = field(default=None, metadata={"help": "Prompt column (auto-detected)."})
    answer_column: str | None = field(default=None, metadata={"help": "Answer column (auto-detected)."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N problems."})
    num_samples: int = field(default=8, metadata={"help": "Samples per problem (largest k)."})
    temperature: float = field(default=0.6, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Completion length limit."})
    batch_size: int = field(default=8, metadata={"help": "Prompts per generate call."})
    system_prompt: str | None = field(
        default="Please reason step by step, and put your final answer within \\boxed{}.",
        metadata={"help": "System prompt for chat models."},
    )
    backend: str = field(
        default="transformers",
        metadata={"help": "Sampler.", "choices": ["transformers", "vllm", "swireasoning"]},
    )
    swi_budgets: list[int] | None = field(
        default=None, metadata={"help": "SwiReasoning backend: budgets to compare (default: `max_new_tokens`)."}
    )
    swi_alpha0: float = field(default=1.0, metadata={"help": "SwiReasoning α0 (explicit -> latent mix)."})
    swi_beta0: float = field(default=0.7, metadata={"help": "SwiReasoning β0 (latent -> explicit mix)."})
    swi_window_size: int = field(default=512, metadata={"help": "SwiReasoning explicit steps before going latent."})
    swi_max_switch_count: int | None = field(default=None, metadata={"help": "SwiReasoning switch cap C (off)."})
    dtype: str = field(
        default="auto",
        metadata={
            "help": "Model dtype (auto: the checkpoint's on a GPU, float32 on a CPU).",
            "choices": ["auto", "bfloat16", "float16", "float32"],
        },
    )
    seed: int = field(default=0, metadata={"help": "Random seed."})
    output_dir: str = field(
        default="eval_out",
        metadata={
            "help": "Where summary.md/json and samples go; a re-run replaces the files it wrote there, other files "
            "stay (one that it would overwrite is refused)."
        },
    )

    def __post_init__(self) -> None:
        if not self.datasets or not all(isinstance(d, str) and d for d in self.datasets):
            raise ValueError(f"`datasets` must be a non-empty list of dataset names or files, got {self.datasets!r}.")
        if self.limit is not None:
            check_int(self, "limit", low=1)
        check_int(self, "num_samples", low=1)
        check_number(self, "temperature", low=0.0)
        check_number(self, "top_p", low=0.0, high=1.0, low_open=True)
        check_int(self, "max_new_tokens", low=1)
        check_int(self, "batch_size", low=1)
        check_choice(self, "backend", ["transformers", "vllm", "swireasoning"])
        for budget in self.swi_budgets or []:
            check_int(None, "swi_budgets", value=budget, low=1)
        check_choice(self, "dtype", ["auto", "bfloat16", "float16", "float32"])
        check_int(self, "seed", low=0)


def _load_model(args: EvalArguments):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if is_toy(args.model_name_or_path):
        toy_task = next((TOY_MATH_DATASETS[d] for d in args.datasets if d in TOY_MATH_DATASETS), "arithmetic")
        path = toy_model_path(toy_task)
    else:
        path = check_model_path(args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if args.backend == "vllm":
        return path, None, tokenizer
    device = default_device()
    dtype = args.dtype if args.dtype != "auto" or device != "cpu" else "float32"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype if dtype == "auto" else getattr(torch, dtype))
    logger.info("model %s on %s (%s)", path, device, dtype)
    return path, model.to(device), tokenizer


#: The script's name in the output folder's manifest, and the files it writes there (`trl_explore._output`)
COMMAND = "evaluate_math.py"
OUTPUT_FILES = (
    "summary.json",
    "summary.md",
    "samples_*.jsonl",
    "swireasoning_comparison.json",
    "swireasoning_comparison.md",
)


def _load_dataset(name: str, args: EvalArguments):
    if name in TOY_MATH_DATASETS:
        return toy_math_dataset(name, args.limit or 32, seed=10_000 + args.seed)
    check_toy_name(name, list(TOY_MATH_DATASETS), "--datasets")
    return load_math_dataset(
        name,
        split=args.split,
        subset=args.subset,
        prompt_column=args.prompt_column,
        answer_column=args.answer_column,
        limit=args.limit,
    )


def _dataset_config(name: str, config: SamplingConfig) -> SamplingConfig:
    """Toy problems are conversations without a system message, as the toy model saw them in its warm start."""
    return replace(config, system_prompt=None) if name in TOY_MATH_DATASETS else config


def _grade(name: str, ds, samples):
    if name in TOY_MATH_DATASETS:
        extra = ["target", "numbers"] if TOY_MATH_DATASETS[name] == "countdown" else []
        return grade_samples(
            samples,
            ds["solution"],
            reward_fn=toy_math_reward(name) if extra else None,
            columns={c: ds[c] for c in extra},
        )
    return grade_samples(samples, ds["solution"])


def main(args: EvalArguments) -> dict:
    config = SamplingConfig(
        num_samples=args.num_samples,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        system_prompt=args.system_prompt,
        seed=args.seed,
    )
    check_output_dir(args.output_dir, COMMAND, OUTPUT_FILES)  # before the model loads
    path, model, tokenizer = _load_model(args)
    with torch_threads(small_model_threads(model)):  # one thread for a tiny model, restored afterwards
        return _evaluate(args, path, model, tokenizer, config)


def _evaluate(args: EvalArguments, path: str, model, tokenizer, config: SamplingConfig) -> dict:
    if args.backend == "swireasoning":
        return compare_with_swireasoning(args, model, tokenizer, config)
    results = {}
    for name in args.datasets:
        ds = _load_dataset(name, args)
        logger.info("%s: %d problems x %d samples", name, len(ds), config.num_samples)
        ds_config = _dataset_config(name, config)
        if args.backend == "vllm":
            samples = sample_completions_vllm(path, tokenizer, ds["prompt"], ds_config)
        else:
            samples = sample_completions_transformers(model, tokenizer, ds["prompt"], ds_config)
        results[name] = _grade(name, ds, samples)
    with writing_into(args.output_dir, COMMAND, OUTPUT_FILES):
        summary_path = write_results(results, args.output_dir)
    print(summary_path.read_text())  # noqa: T201 - the script's report
    return {name: r.as_dict() for name, r in results.items()}


def compare_with_swireasoning(args: EvalArguments, model, tokenizer, config: SamplingConfig) -> dict:
    """SwiReasoning vs plain sampling, same budgets and sampling settings, graded by `math_accuracy_reward` (toy
    datasets: by their own reward)."""
    import json

    from trl_explore.evaluation import render_prompts
    from trl_explore.generation import SwiReasoningConfig
    from trl_explore.generation.swireasoning_eval import compare_decoding
    from trl_explore.rewards import math_accuracy_reward

    swi = SwiReasoningConfig(
        alpha0=args.swi_alpha0,
        beta0=args.swi_beta0,
        window_size=args.swi_window_size,
        max_switch_count=args.swi_max_switch_count,
    )
    tables, lines = {}, []
    for name in args.datasets:
        ds = _load_dataset(name, args)
        ds_config = _dataset_config(name, config)
        reward, columns = math_accuracy_reward, {"solution": ds["solution"]}
        if name in TOY_MATH_DATASETS:
            reward = toy_math_reward(name)
            columns.update({c: ds[c] for c in ("target", "numbers") if c in ds.column_names})
        comparison = compare_decoding(
            model,
            tokenizer,
            render_prompts(tokenizer, ds["prompt"], ds_config),
            reward,
            columns,
            swi_configs={"swireasoning": swi},
            budgets=args.swi_budgets or [args.max_new_tokens],
            num_samples=args.num_samples,
            temperature=args.temperature,
            top_p=args.top_p,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        tables[name] = comparison.rows
        lines += [f"## {name} ({len(ds)} problems x {args.num_samples} samples)", "", comparison.markdown()]
    with writing_into(args.output_dir, COMMAND, OUTPUT_FILES) as out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "swireasoning_comparison.json").write_text(json.dumps(tables, indent=2))
        (out / "swireasoning_comparison.md").write_text("\n".join(lines))
    print("\n".join(lines))  # noqa: T201 - the script's report
    return tables


def make_parser() -> ExampleParser:
    return ExampleParser(EvalArguments, doc=__doc__)


if __name__ == "__main__":
    run_example(make_parser(), main)
