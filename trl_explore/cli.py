"""The ``trl-explore`` command line: ``demo`` (the offline exploration lab), ``warm-start``, ``detect`` (machine-text
detection, `trl_explore.detection.cli`) and ``info``."""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from collections.abc import Sequence


def _info(_: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    lines = [f"trl_explore {__version__}", f"python {platform.python_version()} ({platform.platform()})"]
    for pkg in ("trl", "transformers", "torch", "peft", "accelerate", "datasets", "latex2sympy2", "vllm", "bitsandbytes"):
        try:
            lines.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            lines.append(f"{pkg} (not installed)")
    import torch

    lines.append(f"cuda available: {torch.cuda.is_available()}")
    print("\n".join(lines))
    return 0


def _warm_start(args: argparse.Namespace) -> int:
    from .toy import warm_start

    path = warm_start(task=args.task, seed=args.seed, force=args.force)
    print(path)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoSettings, run_demo

    settings = DemoSettings(
        methods=args.methods or [],
        steps=args.steps,
        seed=args.seed,
        output_dir=args.output_dir,
        model=args.model,
        task=args.task,
        eval_every=args.eval_every or max(1, args.steps // 4),
        eval_prompts=args.eval_prompts,
        k=args.k,
        learning_rate=args.learning_rate,
    )
    report = run_demo(settings)
    print(f"report: {report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trl-explore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from .demo.methods import METHODS

    demo = sub.add_parser(
        "demo",
        help="offline exploration lab: train GRPO and every RL method from one warm start, write a report + plots",
    )
    demo.add_argument("--methods", nargs="+", choices=sorted(METHODS), help="methods to run (default: all)")
    demo.add_argument("--steps", type=int, default=100, help="optimizer steps per method (default: 100)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output-dir", default="trl_explore_demo", help="report directory (default: trl_explore_demo)")
    demo.add_argument("--model", default=None, help="Hub name or local path (default: the toy warm start)")
    demo.add_argument(
        "--task", default="countdown", help="countdown | arithmetic | a math dataset (Hub name or local file)"
    )
    demo.add_argument("--eval-every", type=int, default=None, help="pass@k interval in steps (default: steps // 4)")
    demo.add_argument("--eval-prompts", type=int, default=64, help="held-out prompts for pass@k (default: 64)")
    demo.add_argument("--k", type=int, default=8, help="samples per held-out prompt (default: 8)")
    demo.add_argument("--learning-rate", type=float, default=1e-4, help="shared learning rate (default: 1e-4)")
    demo.set_defaults(func=_demo)
    sub.add_parser("info", help="versions of trl_explore and its dependencies").set_defaults(func=_info)
    ws = sub.add_parser("warm-start", help="build (or reuse) the cached warm-started toy model and print its path")
    ws.add_argument("--task", choices=["arithmetic", "countdown"], default="countdown")
    ws.add_argument("--seed", type=int, default=0)
    ws.add_argument("--force", action="store_true", help="rebuild even when cached")
    ws.set_defaults(func=_warm_start)
    # `detect` parses its own arguments (those of examples/lastde_detect.py): see `main`
    sub.add_parser(
        "detect",
        help="score or evaluate texts with Lastde / Lastde++ and the baselines (`trl-explore detect --help`)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["detect"]:
        from .detection.cli import run_cli

        run_cli(argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
