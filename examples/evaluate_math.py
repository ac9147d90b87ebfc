# /// script
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
# ]
# ///
"""Evaluate a model on math benchmarks with sampled completions: pass@k, avg@k and maj@k per dataset.

Run (transformers backend; any Hub model or local checkpoint; datasets by Hub name or local file):

```bash
python examples/evaluate_math.py \
    --model_name_or_path Qwen/Qwen2.5-Math-1.5B-Instruct \
    --datasets HuggingFaceH4/MATH-500 math-ai/aime24 \
    --num_samples 16 --temperature 0.6 --top_p 0.95 --max_new_tokens 4096 \
    --output_dir eval_out
```

GSM8K needs its configuration: `--datasets openai/gsm8k --subset main`. Local files: `--datasets data/aime.jsonl`.
With vLLM installed (`pip install 'trl_explore[vllm]'`), add `--backend vllm`. Offline try-out with the toy kit:
`python examples/evaluate_math.py --model_name_or_path toy --datasets toy-arithmetic --num_samples 4`.

`--backend swireasoning` compares SwiReasoning decoding (latent/explicit switch thinking, `trl_explore.generation`)
with plain sampling at the same budgets and sampling settings: accuracy (`math_accuracy_reward`), generated tokens
and the share of latent steps, as a table (`swireasoning_comparison.md/json`). Budget sweep:
`--swi_budgets 1024 2048 4096`. Thinking models (Qwen3, R1-distill) have the `<think>` / `</think>` tokens it needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from trl import TrlParser

from trl_explore.evaluation import (
    SamplingConfig,
    grade_samples,
    load_math_dataset,
    sample_completions_transformers,
    sample_completions_vllm,
    write_results,
)

logger = logging.getLogger(__name__)


@dataclass
class EvalArguments:
    """Arguments of the evaluation script.

    Args:
        model_name_or_path: Hub name or local path of the model; `toy` builds the toy kit's warm-started model.
        datasets: Hub names or local files of the benchmarks; `toy-arithmetic` / `toy-countdown` use the toy tasks.
    """

    model_name_or_path: str = field(metadata={"help": "Hub name or local path; `toy` for the offline toy model."})
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
    backend: str = field(default="transformers", metadata={"help": "`transformers`, `vllm` or `swireasoning`."})
    swi_budgets: list[int] | None = field(
        default=None, metadata={"help": "SwiReasoning backend: budgets to compare (default: `max_new_tokens`)."}
    )
    swi_alpha0: float = field(default=1.0, metadata={"help": "SwiReasoning α0 (explicit -> latent mix)."})
    swi_beta0: float = field(default=0.7, metadata={"help": "SwiReasoning β0 (latent -> explicit mix)."})
    swi_window_size: int = field(default=512, metadata={"help": "SwiReasoning explicit steps before going latent."})
    swi_max_switch_count: int | None = field(default=None, metadata={"help": "SwiReasoning switch cap C (off)."})
    dtype: str = field(default="auto", metadata={"help": "Model dtype: auto, bfloat16, float16, float32."})
    seed: int = field(default=0, metadata={"help": "Random seed."})
    output_dir: str = field(default="eval_out", metadata={"help": "Where summary.md/json and samples go."})


def _load_model(args: EvalArguments):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = args.model_name_or_path
    if path == "toy":
        from trl_explore.toy import warm_start

        path = str(warm_start(task="arithmetic"))
    tokenizer = AutoTokenizer.from_pretrained(path)
    if args.backend == "vllm":
        return path, None, tokenizer
    dtype = args.dtype if args.dtype == "auto" else getattr(torch, args.dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    return path, model, tokenizer


def _load_dataset(name: str, args: EvalArguments):
    if name.startswith("toy-"):
        from trl_explore import toy

        task = name.removeprefix("toy-")
        make = {"arithmetic": toy.make_arithmetic_dataset}.get(task)
        if make is None:
            raise ValueError(f"Unknown toy dataset {name!r}; use toy-arithmetic.")
        return make(args.limit or 32, seed=10_000 + args.seed)
    return load_math_dataset(
        name, split=args.split, subset=args.subset, prompt_column=args.prompt_column,
        answer_column=args.answer_column, limit=args.limit,
    )


def main(args: EvalArguments) -> dict:
    if args.backend not in ("transformers", "vllm", "swireasoning"):
        raise ValueError(f"`backend` must be 'transformers', 'vllm' or 'swireasoning', got {args.backend!r}.")
    config = SamplingConfig(
        num_samples=args.num_samples, temperature=args.temperature, top_p=args.top_p,
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, system_prompt=args.system_prompt,
        seed=args.seed,
    )
    path, model, tokenizer = _load_model(args)
    if args.backend == "swireasoning":
        return compare_with_swireasoning(args, model, tokenizer, config)
    results = {}
    for name in args.datasets:
        ds = _load_dataset(name, args)
        logger.info("%s: %d problems x %d samples", name, len(ds), config.num_samples)
        # the toy model was trained on plain-text prompts, not on its chat template
        ds_config = replace(config, use_chat_template=False, system_prompt=None) if name.startswith("toy-") else config
        if args.backend == "vllm":
            samples = sample_completions_vllm(path, tokenizer, ds["prompt"], ds_config)
        else:
            samples = sample_completions_transformers(model, tokenizer, ds["prompt"], ds_config)
        results[name] = grade_samples(samples, ds["solution"])
    summary_path = write_results(results, args.output_dir)
    print(summary_path.read_text())  # noqa: T201 - the script's report
    return {name: r.as_dict() for name, r in results.items()}


def compare_with_swireasoning(args: EvalArguments, model, tokenizer, config: SamplingConfig) -> dict:
    """SwiReasoning vs plain sampling, same budgets and sampling settings, graded by `math_accuracy_reward`."""
    import json
    from pathlib import Path

    from trl_explore.evaluation import render_prompts
    from trl_explore.generation import SwiReasoningConfig
    from trl_explore.generation.swireasoning_eval import compare_decoding
    from trl_explore.rewards import math_accuracy_reward

    swi = SwiReasoningConfig(alpha0=args.swi_alpha0, beta0=args.swi_beta0, window_size=args.swi_window_size,
                             max_switch_count=args.swi_max_switch_count)
    tables, lines = {}, []
    for name in args.datasets:
        ds = _load_dataset(name, args)
        ds_config = replace(config, use_chat_template=False, system_prompt=None) if name.startswith("toy-") else config
        comparison = compare_decoding(
            model, tokenizer, render_prompts(tokenizer, ds["prompt"], ds_config), math_accuracy_reward,
            {"solution": ds["solution"]}, swi_configs={"swireasoning": swi},
            budgets=args.swi_budgets or [args.max_new_tokens], num_samples=args.num_samples,
            temperature=args.temperature, top_p=args.top_p, batch_size=args.batch_size, seed=args.seed,
        )
        tables[name] = comparison.rows
        lines += [f"## {name} ({len(ds)} problems x {args.num_samples} samples)", "", comparison.markdown()]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "swireasoning_comparison.json").write_text(json.dumps(tables, indent=2))
    (out / "swireasoning_comparison.md").write_text("\n".join(lines))
    print("\n".join(lines))  # noqa: T201 - the script's report
    return tables


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    (eval_args,) = TrlParser(EvalArguments).parse_args_and_config()
    main(eval_args)
