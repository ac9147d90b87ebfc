"""Toy study of relative negative gradients (arXiv 2510.04028 / 2506.01347): does negative-only training keep the
capability boundary?

From the same warm-started tiny model (`trl_explore.toy.warm_start("countdown")`, a weak solver of the toy countdown
task), trains GRPO (TRL's own `GRPOTrainer`, the baseline), PSR, NSR, W-REINFORCE (λ = 0.1) and GRPO-N
(`ExploreGRPOTrainer` with `advantage_mode=...`) for the same number of steps with the same seed, data order and
optimiser settings, then reports pass@1 and pass@k (unbiased estimator, `--k` samples per held-out prompt at
temperature 1, the same sampling seed for every model) before and after training, as a Markdown table on stdout, plus
a CSV row per method and metric through `benchmarks/_common.py` (baseline column: TRL GRPO's value).

The papers' claim: negative-only training (NSR, GRPO-N) keeps large-k pass@k near the base model while PSR and GRPO
lose it. At this scale expect noise (64 prompts: one seed's pass@32 has a standard error of ~0.04): compare several
`--seeds`. The learning rate matters: at the default 1e-4 every method keeps training stable; at 5e-4 even GRPO loses
pass@1 and NSR (which pushes down every incorrect sample, all-wrong groups included) collapses the toy model.

    python benchmarks/rng_toy.py                                   # ~5 minutes per seed on one busy CPU core
    python benchmarks/rng_toy.py --steps 200 --k 64 --seeds 0 1 2

The first run builds the warm start (a few minutes of CPU; cached in ~/.cache/trl_explore).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import append_rows, make_row  # noqa: E402

METHODS: dict[str, dict[str, Any]] = {
    "GRPO": {},  # TRL's GRPOTrainer
    "PSR": {"advantage_mode": "psr", "negative_normalization": "selected_tokens"},
    "NSR": {"advantage_mode": "nsr", "negative_normalization": "selected_tokens"},
    "W-REINFORCE": {"advantage_mode": "w_reinforce", "positive_weight": 0.1},
    "GRPO-N": {"advantage_mode": "grpo_n"},
}


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _config_values(args: argparse.Namespace, out: str, seed: int) -> dict[str, Any]:
    from trl_explore.demo.runner import shared_grpo_values

    values = shared_grpo_values(
        output_dir=out,
        steps=args.steps,
        prompts_per_step=args.prompts_per_step,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        learning_rate=args.learning_rate,
        seed=seed,
    )
    # The NSR / W-REINFORCE recipe's symmetric clip; CPU so that the numbers compare across machines.
    values.update(epsilon=0.2, epsilon_high=0.2, use_cpu=True, bf16=False, disable_tqdm=True)
    return values


def _evaluate(model: Any, tokenizer: Any, held_out: Any, reward: Any, args: argparse.Namespace, seed: int) -> dict:
    from types import SimpleNamespace

    from trl_explore.callbacks.pass_at_k import PassAtKCallback

    callback = PassAtKCallback(
        held_out,
        reward,
        k=args.k,
        temperature=1.0,
        max_new_tokens=args.max_completion_length,
        batch_size=64,
        show_progress=False,
    )
    model.eval()
    row = callback.evaluate(model, tokenizer, SimpleNamespace(output_dir=None, seed=seed), step=0)
    return {kk: row[f"pass@{kk}"] for kk in callback.ks}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from trl_explore.toy import countdown_reward, make_countdown_dataset, warm_start
    from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer

    model_path = str(warm_start("countdown", seed=0))
    train = make_countdown_dataset(args.steps * args.prompts_per_step, seed=1000)
    held_out = make_countdown_dataset(args.eval_prompts, seed=2000)
    results = []
    for seed in args.seeds:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        base = _evaluate(
            AutoModelForCausalLM.from_pretrained(model_path), tokenizer, held_out, countdown_reward, args, seed
        )
        for name in args.methods:
            overrides = METHODS[name]
            _seed(seed)
            model = AutoModelForCausalLM.from_pretrained(model_path)
            with tempfile.TemporaryDirectory() as out:
                values = _config_values(args, out, seed)
                if overrides:
                    config, trainer_cls = ExploreGRPOConfig(**values, rng_metrics=True, **overrides), ExploreGRPOTrainer
                else:
                    config, trainer_cls = GRPOConfig(**values), GRPOTrainer
                trainer = trainer_cls(
                    model=model,
                    reward_funcs=countdown_reward,
                    args=config,
                    train_dataset=train,
                    processing_class=tokenizer,
                )
                trainer.remove_callback(PrinterCallback)  # stdout carries the table only
                start = time.perf_counter()
                trainer.train()
                seconds = time.perf_counter() - start
            logs = [e for e in trainer.state.log_history if "reward" in e]
            after = _evaluate(trainer.model, tokenizer, held_out, countdown_reward, args, seed)
            mean_reward = float(np.mean([e["reward"] for e in logs])) if logs else float("nan")
            max_prob = [e["rng/max_prob_sampled"] for e in logs if "rng/max_prob_sampled" in e]
            results.append(
                {
                    "method": name,
                    "seed": seed,
                    "base": base,
                    "after": after,
                    "train_reward": mean_reward,
                    "max_prob_last": max_prob[-1] if max_prob else float("nan"),
                    "entropy_last": logs[-1].get("entropy", float("nan")) if logs else float("nan"),
                    "seconds": seconds,
                }
            )
            logging.getLogger(__name__).info("%s seed %d done in %.0fs", name, seed, seconds)
    return results


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    kmax = args.k
    lines = [
        f"Toy countdown, warm-started tiny Qwen2, {args.steps} steps x {args.prompts_per_step} prompts x "
        f"{args.num_generations} completions, lr {args.learning_rate:g}, clip 0.2, no KL, token-mean loss; "
        f"pass@k on {args.eval_prompts} held-out prompts, {kmax} samples at T = 1; mean over seeds {args.seeds}.",
        "",
        f"| method | pass@1 before | pass@1 after | pass@{kmax} before | pass@{kmax} after | Δ pass@{kmax} | "
        "mean train reward | final entropy | final max π | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in args.methods:
        rows = [r for r in results if r["method"] == name]

        def mean(fn, rows=rows):
            return float(np.mean([fn(r) for r in rows]))

        b1, a1 = mean(lambda r: r["base"][1]), mean(lambda r: r["after"][1])
        bk, ak = mean(lambda r: r["base"][kmax]), mean(lambda r: r["after"][kmax])
        max_prob = mean(lambda r: r["max_prob_last"])
        lines.append(
            f"| {name} | {b1:.3f} | {a1:.3f} | {bk:.3f} | {ak:.3f} | {ak - bk:+.3f} | "
            f"{mean(lambda r: r['train_reward']):.3f} | {mean(lambda r: r['entropy_last']):.3f} | "
            f"{'n/a' if np.isnan(max_prob) else f'{max_prob:.3f}'} | {mean(lambda r: r['seconds']):.0f} |"
        )
    return "\n".join(lines)


def write_csv(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    kmax = args.k
    config = {
        "task": "countdown",
        "steps": args.steps,
        "prompts_per_step": args.prompts_per_step,
        "num_generations": args.num_generations,
        "learning_rate": args.learning_rate,
        "k": kmax,
        "eval_prompts": args.eval_prompts,
        "seeds": " ".join(map(str, args.seeds)),
    }

    def mean_of(name: str, fn) -> float | None:
        rows = [r for r in results if r["method"] == name]
        return float(np.mean([fn(r) for r in rows])) if rows else None

    rows = []
    for name in args.methods:
        for metric, fn in (("pass@1", lambda r: r["after"][1]), (f"pass@{kmax}", lambda r: r["after"][kmax])):
            baseline = mean_of("GRPO", fn)
            rows.append(make_row(f"rng_toy/{name}", metric, "fraction", mean_of(name, fn), baseline, config))
    append_rows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--prompts-per-step", type=int, default=8)
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--max-completion-length", type=int, default=40)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--eval-prompts", type=int, default=64)
    parser.add_argument("--k", type=int, default=32, help="samples per held-out prompt (the largest k)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-csv", action="store_true", help="do not append rows to benchmarks/results.csv")
    args = parser.parse_args()
    if "GRPO" not in args.methods:
        args.methods = ["GRPO", *args.methods]
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("transformers", "trl", "datasets", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("WANDB_DISABLED", "true")
    results = run(args)
    sys.stdout.write(report(results, args) + "\n")
    if not args.no_csv:
        write_csv(results, args)


if __name__ == "__main__":
    main()
