"""SwiReasoning on the toy kit's warm-started models: accuracy, tokens and what the decoder did, against plain
sampling with the same budget and sampling settings (the figures of `docs/methods/swireasoning.md`).

For each task (arithmetic, countdown) the cached warm start (`trl_explore.toy.warm_start`, trained on first use) decodes
``--prompts`` held-out prompts × ``--samples`` samples at temperature 0.6 / top-p 0.95 with a budget of
``--budget`` tokens, with plain sampling and several SwiReasoning settings. Prints a Markdown table per task and
appends tidy rows (accuracy, tokens, latent share, switches, math-override share) to ``benchmarks/results.csv``.

    python benchmarks/swireasoning_toy.py
    python benchmarks/swireasoning_toy.py --prompts 256 --samples 8 --budget 64
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import append_rows, make_row  # noqa: E402

from trl_explore.generation import SwiReasoningConfig  # noqa: E402
from trl_explore.generation.swireasoning_eval import compare_decoding  # noqa: E402

SETTINGS = {
    "SwiReasoning (defaults)": {},
    "SwiReasoning (no math override)": {"math_override": False},
    "SwiReasoning (window 8, α0 0.5)": {"window_size": 8, "alpha0": 0.5},
    "SwiReasoning (window 8, α0 0.5, C 2)": {"window_size": 8, "alpha0": 0.5, "max_switch_count": 2},
}


def task_data(task: str, prompts: int, seed: int):
    from trl_explore import toy
    from trl_explore.rewards import math_accuracy_reward

    if task == "arithmetic":
        data = toy.make_arithmetic_dataset(prompts, seed=seed)
        return data, math_accuracy_reward, {"solution": data["solution"]}
    data = toy.make_countdown_dataset(prompts, seed=seed)
    return data, toy.countdown_reward, {"target": data["target"], "numbers": data["numbers"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=("arithmetic", "countdown"), default=["arithmetic", "countdown"])
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--budget", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--open-think",
        action="store_true",
        help="end every prompt with `<think>` so that step 0 is the first thinking token (by default "
        "the model writes `<think>` itself at step 0, with near-zero entropy: a low reference)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", default=None, help="CSV path (default benchmarks/results.csv)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trl_explore.toy import warm_start

    rows = []
    for task in args.tasks:
        path = warm_start(task=task, seed=args.seed)
        model = AutoModelForCausalLM.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        data, reward, columns = task_data(task, args.prompts, seed=2000 + args.seed)
        prompts = [p + "<think>" for p in data["prompt"]] if args.open_think else data["prompt"]
        start = time.perf_counter()
        comparison = compare_decoding(
            model,
            tokenizer,
            prompts,
            reward,
            columns,
            swi_configs={name: SwiReasoningConfig(**kw) for name, kw in SETTINGS.items()},
            budgets=[args.budget],
            num_samples=args.samples,
            temperature=0.6,
            top_p=0.95,
            batch_size=64,
            seed=args.seed,
            progress=False,
        )
        seconds = time.perf_counter() - start
        print(
            f"\n### {task}: {args.prompts} held-out prompts x {args.samples} samples, budget {args.budget}, "
            f"temperature 0.6, top-p 0.95{', prompts end with <think>' if args.open_think else ''} "
            f"({seconds:.0f} s)\n"
        )
        print(comparison.markdown())
        for r in comparison.rows:
            config = {
                "task": task,
                "decoder": r["decoder"],
                "open_think": args.open_think,
                "prompts": args.prompts,
                "samples": args.samples,
                "budget": args.budget,
                "seed": args.seed,
            }
            baseline = comparison.rows[0]
            for metric in ("accuracy", "mean_tokens", "latent_share", "switches", "math_override_share"):
                if r.get(metric) is not None:
                    base = baseline.get(metric) if metric in ("accuracy", "mean_tokens") else None
                    rows.append(make_row(f"swireasoning_toy/{task}", metric, "", r[metric], base, config))
    path = append_rows(rows, args.csv)
    print(f"rows appended to {path}")


if __name__ == "__main__":
    main()
