"""The demo's learning-rate sweep (issue 26): every default demo method at each candidate learning rate on the tuning
seeds, one rate chosen per method by the rule declared in `trl_explore/demo/sweep.py` before any result was seen.

    python benchmarks/demo_sweep.py                                   # the declared sweep -> benchmarks/out/demo_sweep
    python benchmarks/demo_sweep.py --output-dir /tmp/s --steps 4     # a quick check of the machinery (not a sweep)

Resumable: each learning rate's runs are saved as they finish and read back by a re-run with the same settings.
Prints the chosen rate per method; writes sweep.json, sweep.csv and sweep.png (criterion vs learning rate).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    from trl_explore.demo.sweep import SWEEP_LEARNING_RATES, TUNING_SEEDS, run_sweep

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--output-dir", default=str(HERE / "out" / "demo_sweep"), help="folder of the sweep's files")
    parser.add_argument("--methods", nargs="+", default=None, help="demo methods (default: the default demo's)")
    parser.add_argument(
        "--learning-rates",
        nargs="+",
        type=float,
        default=list(SWEEP_LEARNING_RATES),
        help="candidate rates (default: the declared %(default)s)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=len(TUNING_SEEDS),
        help=f"tuning seeds from {TUNING_SEEDS[0]} on (default: %(default)s)",
    )
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: the demo's; for checks only)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: the demo's choice)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    regime = {} if args.steps is None else {"steps": args.steps}
    choices = run_sweep(
        args.output_dir,
        methods=args.methods,
        learning_rates=args.learning_rates,
        seeds=range(TUNING_SEEDS[0], TUNING_SEEDS[0] + args.seeds),
        workers=args.workers,
        **regime,
    )
    width = max(len(m) for m in choices)
    for method, choice in choices.items():
        flag = "  (every rate collapsed pass@1 below the base model)" if choice.collapsed else ""
        excluded = f"  excluded: {', '.join(f'{r:g}' for r in choice.ineligible)}" if choice.ineligible else ""
        sys.stdout.write(
            f"{method:<{width}}  lr {choice.learning_rate:g}  criterion {choice.criterion:.3f} ± "
            f"{choice.criterion_se:.3f}{excluded}{flag}\n"
        )
    sys.stdout.write(f"wrote {Path(args.output_dir) / 'sweep.png'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
