"""Toy study of rank-aware NTP (arXiv 2512.22955): does a precision prior keep a higher pass@k?

Trains the same tiny model from scratch with `RankAwareSFTTrainer` on the toy multi-step arithmetic task
(`trl_explore.toy.make_arithmetic_dataset`, completion-only loss) under four losses — cross-entropy, β = −0.25
(precision), β = 0.5 (diversity) and λ_low = −0.1 (tail suppression) — then reports, on held-out problems:

- next-token entropy of the model on the reference completions (teacher-forced, mean over completion tokens);
- pass@k (unbiased estimator, `n` samples per prompt at temperature 1) for k in `--ks`.

The paper's claim is that the precision prior (β < 0) ends with lower entropy and keeps higher pass@k (a better
starting point for RL); β > 0 does the opposite. On this toy scale expect noise: use several `--seeds`.

    python benchmarks/rank_aware_toy.py                        # ~10 minutes on 2 CPU cores
    python benchmarks/rank_aware_toy.py --steps 600 --seeds 0 1 2 --samples 32

`--top-k` is the head-set size: the toy vocabulary has ~107 tokens, so the paper's k = 100 (of ~150k) would leave
almost no tail; the default 10 keeps a tail of ~97 tokens.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import datasets
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import append_rows, make_row  # noqa: E402

from trl_explore.functional.pass_at_k import pass_at_k  # noqa: E402
from trl_explore.functional.rank_aware import rank_aware_token_stats  # noqa: E402
from trl_explore.toy import make_arithmetic_dataset, make_tiny_model, make_tokenizer  # noqa: E402
from trl_explore.toy.tasks import arithmetic_reward  # noqa: E402
from trl_explore.trainers.rank_aware_config import RankAwareSFTConfig  # noqa: E402
from trl_explore.trainers.rank_aware_trainer import RankAwareSFTTrainer  # noqa: E402

LOSSES = {
    "cross_entropy": {},
    "precision(beta=-0.25)": {"rank_aware_beta": -0.25},
    "diversity(beta=0.5)": {"rank_aware_beta": 0.5},
    "tail_suppression(lambda_low=-0.1)": {"rank_aware_lambda_low": -0.1},
}


@torch.no_grad()
def completion_entropy(model, tokenizer, dataset) -> float:
    """Mean next-token entropy over the reference completion tokens (prompt tokens excluded)."""
    model.eval()
    total, count = 0.0, 0
    for row in dataset:
        prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        completion = tokenizer(row["completion"] + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt + completion])
        labels = ids.clone()
        labels[:, : len(prompt)] = -100
        logits = model(input_ids=ids).logits[:, :-1]
        stats = rank_aware_token_stats(logits, labels[:, 1:])
        total += stats["entropy"].sum().item()
        count += int(stats["mask"].sum())
    return total / max(count, 1)


@torch.no_grad()
def correct_counts(model, tokenizer, dataset, samples: int, max_new_tokens: int, seed: int) -> list[int]:
    """Number of correct completions among `samples` sampled at temperature 1 (top_k=0, top_p=1) per prompt."""
    model.eval()
    eos = tokenizer.eos_token_id
    counts = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for row in dataset:
            prompt = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
            input_ids = torch.tensor([prompt] * samples)
            out = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
            )
            texts = tokenizer.batch_decode(out[:, len(prompt) :], skip_special_tokens=True)
            rewards = arithmetic_reward(texts, [row["solution"]] * samples)
            counts.append(sum(1 for r in rewards if r is not None and r >= 1.0))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--eval-size", type=int, default=48)
    parser.add_argument("--samples", type=int, default=16, help="samples per prompt (n of pass@k)")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    if any(k > args.samples for k in args.ks):
        raise ValueError(f"every k in --ks must be <= --samples ({args.samples}), got {args.ks}.")

    tokenizer = make_tokenizer()
    task = {"num_steps": 2, "max_operand": 9, "operations": "+-*"}
    train = make_arithmetic_dataset(args.train_size, seed=1000, **task)
    held_out = make_arithmetic_dataset(args.eval_size, seed=2000, **task)

    results: dict[str, list[dict[str, float]]] = {name: [] for name in LOSSES}
    for seed in args.seeds:
        for name, knobs in LOSSES.items():
            start = time.perf_counter()
            model = make_tiny_model(tokenizer, hidden_size=args.hidden, num_hidden_layers=args.layers, seed=seed)
            with tempfile.TemporaryDirectory() as out_dir:
                config = RankAwareSFTConfig(
                    output_dir=out_dir,
                    max_steps=args.steps,
                    per_device_train_batch_size=args.batch_size,
                    learning_rate=args.lr,
                    lr_scheduler_type="cosine",
                    warmup_steps=max(1, args.steps // 20),
                    logging_steps=max(1, args.steps // 4),
                    save_strategy="no",
                    report_to="none",
                    use_cpu=True,
                    seed=seed,
                    disable_tqdm=True,
                    rank_aware_top_k=args.top_k,
                    **knobs,
                )
                trainer = RankAwareSFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
                trainer.train()
            model = trainer.model
            entropy = completion_entropy(model, tokenizer, held_out)
            counts = correct_counts(model, tokenizer, held_out, args.samples, 40, seed)
            row = {"entropy": entropy}
            for k in args.ks:
                row[f"pass@{k}"] = float(pass_at_k([args.samples] * len(counts), counts, k).mean())
            results[name].append(row)
            print(f"seed {seed} {name:36s} {row}  ({time.perf_counter() - start:.0f} s)", flush=True)

    metrics = ["entropy"] + [f"pass@{k}" for k in args.ks]
    mean = {name: {m: sum(r[m] for r in rows) / len(rows) for m in metrics} for name, rows in results.items()}
    print(
        f"\nmeans over seeds {args.seeds} ({args.steps} steps, batch {args.batch_size}, top_k {args.top_k}, "
        f"{args.eval_size} held-out prompts x {args.samples} samples)"
    )
    print("| loss | " + " | ".join(metrics) + " |")
    print("|---|" + "---|" * len(metrics))
    for name in LOSSES:
        print(f"| {name} | " + " | ".join(f"{mean[name][m]:.4f}" for m in metrics) + " |")

    config = {k: v for k, v in vars(args).items() if k != "csv"}
    rows = [
        make_row(
            f"rank_aware_toy/{name}",
            metric,
            "nats" if metric == "entropy" else "fraction",
            mean[name][metric],
            mean["cross_entropy"][metric],
            config,
        )
        for name in LOSSES
        for metric in metrics
    ]
    print(f"rows appended to {append_rows(rows, args.csv)}")


if __name__ == "__main__":
    main()
