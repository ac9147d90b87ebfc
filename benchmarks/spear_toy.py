"""Toy study of SPEAR (arXiv 2509.22601): Dr.BoT GRPO with and without self-imitation replay on the toy tool task.

From the same warm-started tiny model (`trl_explore.toy.tool_task.warm_start_tool_task`: it calls the calculator in
every conversation and solves about 60% of held-out problems, failing by miscopying numbers), trains with TRL's
multi-turn tool calling (``tools=[calculator]``) for the same steps, seed, data order and optimiser settings:

* ``Dr.BoT``: `SPEARConfig.dr_bot_recipe(sil=False, clip_cov_replay_ratio=0.0)`;
* ``SPEAR``: `SPEARConfig.dr_bot_recipe()` (replay with γ(t), replay Clip-Cov) sized by `spear_toy_settings`;

both with the outcome reward (`arithmetic_reward`) plus SPEAR's tool-call curriculum (`toolcall_reward`). Reports the
pass rate with the tool (`evaluate_tool_pass_rate`, held-out prompts, temperature 1) before and after, the replay
triggers and the training time, as a Markdown table on stdout and a CSV row per method and metric through
`benchmarks/_common.py` (baseline column: Dr.BoT's value). Expect seed noise at this scale; compare several `--seeds`.

    python benchmarks/spear_toy.py                        # a few minutes per seed on one busy CPU core
    python benchmarks/spear_toy.py --steps 60 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import append_rows, make_row  # noqa: E402


def run(method: str, args: argparse.Namespace, seed: int, path: str, out: str) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trl_explore.rewards import toolcall_reward
    from trl_explore.toy import arithmetic_reward
    from trl_explore.toy.tool_task import evaluate_tool_pass_rate, make_tool_dataset, spear_toy_settings
    from trl_explore.toy.tools import calculator
    from trl_explore.trainers import SPEARConfig, SPEARGRPOTrainer

    toy = spear_toy_settings(out, max_steps=args.steps, seed=seed, learning_rate=args.learning_rate)
    recipe = {k: v for k, v in SPEARConfig.dr_bot_defaults().items()}
    fields = {f: toy[f] for f in ("per_device_train_batch_size", "num_generations", "max_completion_length",
                                           "max_tool_calling_iterations", "sil_buffer_size", "sil_trigger_factor",
                                           "sil_warmup_steps")}  # fmt: skip
    if method == "Dr.BoT":
        fields.update(sil=False, clip_cov_replay_ratio=0.0)
    config = SPEARConfig(
        output_dir=out, use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1,
        max_steps=args.steps, learning_rate=args.learning_rate, seed=seed, temperature=1.0, **recipe, **fields,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    held_out = make_tool_dataset(args.prompts, seed=20_000)
    before = evaluate_tool_pass_rate(model, tokenizer, held_out, num_samples_per_prompt=2, seed=123)
    trainer = SPEARGRPOTrainer(
        model=model,
        reward_funcs=[arithmetic_reward, toolcall_reward(schedule="cosine", steps=max(1, args.steps // 2))],
        args=config,
        train_dataset=make_tool_dataset(args.steps * config.per_device_train_batch_size, seed=1000 + seed),
        processing_class=tokenizer,
        tools=[calculator],
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    after = evaluate_tool_pass_rate(trainer.model, tokenizer, held_out, num_samples_per_prompt=2, seed=123)
    logs = trainer.state.log_history
    return {
        "pass_before": before["pass_rate"],
        "pass_after": after["pass_rate"],
        "tool_calls_after": after["tool_call_rate"],
        "replays": sum(e.get("spear/replay_triggered", 0.0) for e in logs),
        "train_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="GRPO steps per method (default 40).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="Seeds (default 0).")
    parser.add_argument("--learning_rate", type=float, default=5e-4, help="Learning rate (default 5e-4).")
    parser.add_argument("--prompts", type=int, default=64, help="Held-out prompts, 2 samples each (default 64).")
    parser.add_argument("--csv", default=None, help="CSV file to append rows to (default benchmarks/results.csv).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    from trl_explore.toy.tool_task import warm_start_tool_task

    path = str(warm_start_tool_task())
    results: dict[str, list[dict[str, Any]]] = {"Dr.BoT": [], "SPEAR": []}
    for seed in args.seeds:
        for method in results:
            with tempfile.TemporaryDirectory() as out:
                results[method].append(run(method, args, seed, path, out))
    print("| method | seeds | pass@1 before | pass@1 after | tool calls after | replays | train s |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    base = {k: sum(r[k] for r in results["Dr.BoT"]) / len(args.seeds) for k in results["Dr.BoT"][0]}
    for method, runs in results.items():
        mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
        print(
            f"| {method} | {len(runs)} | {mean['pass_before']:.3f} | {mean['pass_after']:.3f} | "
            f"{mean['tool_calls_after']:.3f} | {mean['replays']:.1f} | {mean['train_seconds']:.0f} |"
        )
        config = {
            "steps": args.steps,
            "seeds": args.seeds,
            "learning_rate": args.learning_rate,
            "prompts": args.prompts,
        }
        for metric, unit in (("pass_after", "fraction"), ("train_seconds", "s")):
            rows.append(make_row(f"spear_toy/{method}", metric, unit, mean[metric], base[metric], config))
    append_rows(rows, args.csv)


if __name__ == "__main__":
    main()
