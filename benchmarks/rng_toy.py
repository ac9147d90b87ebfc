"""Toy study of relative negative gradients (arXiv 2510.04028 / 2506.01347): does negative-only training keep the
capability boundary?

Runs GRPO (TRL's own `GRPOTrainer`, the baseline), PSR, NSR, W-REINFORCE (λ = 0.1) and GRPO-N (`advantage_mode=...`)
through the demo's runner, in the demo's toy regime (`trl_explore.demo.regime.DEFAULT_REGIME`: warm-started tiny
Qwen2 on toy countdown, the same steps, learning rate, optimizer steps per generation and evaluation) with the same
paired seeds. So with the default flags the GRPO / NSR / W-REINFORCE / GRPO-N rows equal the demo's default run
(`trl-explore demo`, `summary.csv`) exactly; each method trains at its tuned rate (`trl_explore.demo.tuned`; PSR,
which has none, at GRPO's) unless ``--learning-rate`` sets one rate for all. Prints a Markdown table on stdout: pass@1 and pass@k (unbiased
estimator, k samples per held-out prompt at temperature 1) before and after training, and each method's paired
difference to GRPO ± standard error across seeds; appends a CSV row per method and metric through
`benchmarks/_common.py` (baseline column: GRPO's value).

The papers' claim: negative-only training (NSR, GRPO-N) keeps large-k pass@k near the base model while PSR and GRPO
lose it. The table says which differences are resolved (the 95% paired t-interval excludes 0) at the number of seeds
run.

    python benchmarks/rng_toy.py                      # 5 methods x 3 seeds, about 5 minutes on 2 CPU cores
    python benchmarks/rng_toy.py --seeds 6            # more seeds: smaller standard errors
    python benchmarks/rng_toy.py --learning-rate 5e-4 # every method at one rate (the demo before issue 26)

The first run builds the warm start (about 1.5 CPU-minutes; cached in ~/.cache/trl_explore).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import append_rows, make_row  # noqa: E402

METHODS = ["grpo", "psr", "nsr", "w_reinforce", "grpo_n"]


def run(args: argparse.Namespace) -> Any:
    from trl_explore.demo.regime import DEFAULT_REGIME
    from trl_explore.demo.runner import DemoSettings, collect

    changes = {name: value for name, value in (("steps", args.steps), ("k", args.k)) if value is not None}
    with tempfile.TemporaryDirectory() as tmp:
        settings = DemoSettings.from_regime(
            DEFAULT_REGIME.replace(**changes),
            methods=args.methods,
            seeds=args.seeds,
            seed=args.seed,
            workers=args.workers,
            learning_rate=args.learning_rate,
            output_dir=tmp,
        )
        return collect(settings)


def report(run: Any) -> str:
    from trl_explore.demo.report import change, quantity_values, versus_baseline
    from trl_explore.demo.stats import mean_se

    s = run.settings
    k = s.k

    def mean(method: str, key: str, at_end: bool = True) -> float:
        return mean_se(quantity_values(run, method, key, at_end=at_end)).mean

    if s.learning_rate is None:  # each method at its own tuned rate (trl_explore.demo.tuned), as the demo
        from trl_explore.demo.tuned import learning_rate_of

        lr = ", ".join(f"{m.label} {learning_rate_of(None, m.name):g}" for m in run.methods)
    else:
        lr = f"{s.learning_rate:g}"
    lines = [
        f"Toy countdown (demo regime), warm-started tiny Qwen2, {s.steps} steps x {s.prompts_per_step} prompts x "
        f"{s.num_generations} completions, {s.steps_per_generation} optimizer steps per generation, lr "
        f"{lr}, no KL, token-mean loss; pass@k on {s.eval_prompts} held-out prompts, {k} samples at "
        f"T = {s.temperature:g}; mean over seeds {s.seed_list}; ± = one standard error across seeds, paired by seed; "
        "* = resolved (95% paired t-interval excludes 0).",
        "",
        f"| method | pass@1 before → after | pass@{k} before → after | Δ pass@{k} (after − before) | "
        f"pass@{k} vs GRPO | pass@1 vs GRPO | entropy (end) | s / step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in run.methods:
        name = method.name
        own = change(run, name, "pass@k")
        cells = []
        for key in ("pass@k", "pass@1"):
            diff = None if name == "grpo" else versus_baseline(run, name, key)
            cells.append("—" if diff is None else diff.format() + ("*" if diff.resolved else ""))
        sps = sum(r.seconds_per_step for r in run.runs(name)) / max(len(run.runs(name)), 1)
        lines.append(
            f"| {method.label} | {mean(name, 'pass@1', False):.3f} → {mean(name, 'pass@1'):.3f} | "
            f"{mean(name, 'pass@k', False):.3f} → {mean(name, 'pass@k'):.3f} | "
            f"{own.format() + ('*' if own.resolved else '') if own else 'n/a'} | {cells[0]} | {cells[1]} | "
            f"{mean(name, 'entropy'):.3f} | {sps:.2f} |"
        )
    return "\n".join(lines)


def write_csv(run: Any) -> None:
    from trl_explore.demo.report import quantity_values
    from trl_explore.demo.stats import mean_se

    s = run.settings
    config = {**s.regime.as_dict(), "seeds": " ".join(map(str, s.seed_list))}
    rows = []
    for method in run.methods:
        for key, metric in (("pass@1", "pass@1"), ("pass@k", f"pass@{s.k}")):
            value = mean_se(quantity_values(run, method.name, key)).mean
            baseline = mean_se(quantity_values(run, "grpo", key)).mean
            rows.append(make_row(f"rng_toy/{method.label}", metric, "fraction", value, baseline, config))
    append_rows(rows)


def main() -> None:
    from trl_explore.demo.regime import DEFAULT_SEEDS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--seeds", type=int, default=DEFAULT_SEEDS, help="number of paired seeds (default: %(default)s, as the demo)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed (default: 0, as the demo)")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="override the regime's steps (then the numbers no longer match the demo's)",
    )
    parser.add_argument("--k", type=int, default=None, help="override the regime's largest k")
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="one rate for every method (default: each method's tuned rate, as the demo)",
    )
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the CPU cores)")
    parser.add_argument("--no-csv", action="store_true", help="do not append rows to benchmarks/results.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(args)
    sys.stdout.write(report(result) + "\n")
    if not args.no_csv:
        write_csv(result)


if __name__ == "__main__":
    main()
