"""Regime search for `trl-explore demo`: run plain GRPO (only GRPO) in a candidate toy regime with the search seeds and
check the pre-registered criteria of `benchmarks/demo_regime.md`.

Each call trains GRPO with the given settings and seeds through the demo's own runner (`trl_explore.demo.runner`),
prints the criteria and appends one row to the log table of `benchmarks/demo_regime.md` (every configuration tried is
recorded there) and the full numbers to `benchmarks/out/demo_regime.jsonl`. The methods are never run here: the
regime is chosen on GRPO's behaviour alone, before any comparison.

    python benchmarks/demo_regime.py --learning-rate 5e-4                # one candidate, search seeds 100-102
    python benchmarks/demo_regime.py --learning-rate 5e-4 --temperature 1.2 --note "stage 2"

Criteria (GRPO, paired by seed; "start"/"end" of entropy and share = first/last tenth of the steps):
  (a)  held-out pass@1 gain >= 0.04 and > 2 standard errors;
  (b1) policy entropy: mean relative change <= -10%, negative in every seed, thirds of the seed-mean curve decreasing;
  (b2) share of sampled tokens with p < 0.1: the same;
  (b3) held-out pass@k (largest k) falls by more than 2 standard errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOG = HERE / "demo_regime.md"
JSONL = HERE / "out" / "demo_regime.jsonl"
TABLE_MARKER = "<!-- search rows are appended at the end of this file by benchmarks/demo_regime.py -->"


def _thirds_decreasing(values: list[float]) -> bool:
    n = len(values)
    if n < 3:
        return False
    cuts = [values[: n // 3], values[n // 3 : 2 * n // 3], values[2 * n // 3 :]]
    means = [sum(c) / len(c) for c in cuts]
    return means[0] > means[1] > means[2]


def criteria(run: Any) -> dict[str, Any]:
    """The pre-registered criteria on a GRPO-only demo run (numbers and pass/fail)."""
    from trl_explore.demo.quantities import low_prob_key, series
    from trl_explore.demo.report import change, quantity_values
    from trl_explore.demo.stats import mean_se

    out: dict[str, Any] = {}
    gain = change(run, "grpo", "pass@1")
    out["pass1_start"] = mean_se(quantity_values(run, "grpo", "pass@1", at_end=False)).mean
    out["pass1_end"] = mean_se(quantity_values(run, "grpo", "pass@1")).mean
    out["pass1_gain"], out["pass1_gain_se"] = gain.mean, gain.se
    # the search's declared "> 2 SE" (not the demo's t-interval, which came later, in issue 26)
    out["a"] = gain.mean >= 0.04 and gain.mean > 2 * gain.se
    runs = run.runs("grpo")
    for tag, qkey, logkey in (
        ("b1", "entropy", "entropy"),
        ("b2", "low_prob_share", low_prob_key(run.settings.low_prob_threshold)),
    ):
        start = quantity_values(run, "grpo", qkey, at_end=False)
        end = quantity_values(run, "grpo", qkey)
        rel = [(e - s) / s for s, e in zip(start, end)]
        curves = [series(r.logs, logkey)[1] for r in runs]
        mean_curve = [sum(v) / len(v) for v in zip(*curves)]
        out[f"{qkey}_start"], out[f"{qkey}_end"] = sum(start) / len(start), sum(end) / len(end)
        out[f"{qkey}_rel_change"] = sum(rel) / len(rel)
        out[f"{qkey}_falls_every_seed"] = all(r < 0 for r in rel)
        out[f"{qkey}_thirds_decreasing"] = _thirds_decreasing(mean_curve)
        out[tag] = (
            out[f"{qkey}_rel_change"] <= -0.10 and out[f"{qkey}_falls_every_seed"] and out[f"{qkey}_thirds_decreasing"]
        )
    big = change(run, "grpo", "pass@k")
    out["passk_start"] = mean_se(quantity_values(run, "grpo", "pass@k", at_end=False)).mean
    out["passk_end"] = mean_se(quantity_values(run, "grpo", "pass@k")).mean
    out["passk_change"], out["passk_change_se"] = big.mean, big.se
    out["b3"] = big.mean < 0 and -big.mean > 2 * big.se
    out["all"] = all(out[t] for t in ("a", "b1", "b2", "b3"))
    out["seconds_per_step"] = sum(r.seconds_per_step for r in runs) / len(runs)
    out["run_seconds"] = sum(r.train_seconds + r.eval_seconds for r in runs) / len(runs)
    return out


def _row(args: argparse.Namespace, c: dict[str, Any]) -> str:
    def yes(flag: bool) -> str:
        return "✓" if flag else "✗"

    return (
        f"| {dt.date.today().isoformat()} | {args.note} | {args.warm_start_steps or 'kit (1500)'} | "
        f"{args.learning_rate:g} | {args.steps} | {args.steps_per_generation} | {args.temperature:g} | "
        f"{' '.join(map(str, range(args.seed, args.seed + args.seeds)))} | "
        f"{c['pass1_start']:.3f} → {c['pass1_end']:.3f} ({c['pass1_gain']:+.3f} ± {c['pass1_gain_se']:.3f}) "
        f"{yes(c['a'])} | "
        f"{c['entropy_start']:.3f} → {c['entropy_end']:.3f} ({100 * c['entropy_rel_change']:+.0f}%) {yes(c['b1'])} | "
        f"{c['low_prob_share_start']:.4f} → {c['low_prob_share_end']:.4f} "
        f"({100 * c['low_prob_share_rel_change']:+.0f}%) {yes(c['b2'])} | "
        f"{c['passk_start']:.3f} → {c['passk_end']:.3f} ({c['passk_change']:+.3f} ± {c['passk_change_se']:.3f}) "
        f"{yes(c['b3'])} | {c['seconds_per_step']:.2f} | **{'pass' if c['all'] else 'fail'}** |"
    )


def main() -> None:
    from trl_explore.demo.regime import DEFAULT_REGIME as R

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learning-rate", type=float, default=R.learning_rate)
    parser.add_argument("--steps", type=int, default=R.steps)
    parser.add_argument("--steps-per-generation", type=int, default=R.steps_per_generation)
    parser.add_argument("--temperature", type=float, default=R.temperature)
    parser.add_argument("--warm-start-steps", type=int, default=R.warm_start_steps)
    parser.add_argument("--seed", type=int, default=100, help="first search seed (the demo uses 0, 1, 2)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--note", default="", help="stage / candidate name for the log")
    parser.add_argument("--no-log", action="store_true", help="do not append to benchmarks/demo_regime.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from trl_explore.demo.runner import DemoSettings, collect

    regime = R.replace(
        learning_rate=args.learning_rate,
        steps=args.steps,
        steps_per_generation=args.steps_per_generation,
        temperature=args.temperature,
        warm_start_steps=args.warm_start_steps,
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = DemoSettings.from_regime(
            regime,
            methods=["grpo"],
            seed=args.seed,
            seeds=args.seeds,
            workers=args.workers,
            output_dir=tmp,
        )
        run = collect(settings)
    c = criteria(run)
    row = _row(args, c)
    sys.stdout.write(
        json.dumps(
            {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in c.items()}, indent=1
        )
        + "\n"
        + row
        + "\n"
    )
    if not args.no_log:
        text = LOG.read_text()
        if TABLE_MARKER not in text:
            raise SystemExit(f"{LOG} has no search table marker.")
        LOG.write_text(text.rstrip("\n") + "\n" + row + "\n")
        JSONL.parent.mkdir(parents=True, exist_ok=True)
        with JSONL.open("a") as f:
            f.write(
                json.dumps(
                    {"args": vars(args), "regime": regime.as_dict(), "criteria": c, "machine_load": os.getloadavg()}
                )
                + "\n"
            )


if __name__ == "__main__":
    main()
