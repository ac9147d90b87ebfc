"""The ``trl-explore`` command line: ``demo`` (the offline exploration lab), ``warm-start``, ``detect`` (machine-text
detection, `trl_explore.detection.cli`) and ``info``."""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence

from ._cli_args import Parser as _Parser
from ._cli_args import console_logging
from ._cli_args import int_at_least as _int_at_least
from .demo.timing import DEMO_TIME

DESCRIPTION = f"""\
trl_explore: exploration-aware RL and SFT components for Hugging Face TRL.

commands:
  demo        train GRPO and every RL method of the library from one warm-started toy model with paired seeds,
              and write a report (verdict, paired statistics, plots); offline, {DEMO_TIME}
  warm-start  build (or reuse) the cached warm-started toy model and print its folder
  detect      score or evaluate texts with Lastde / Lastde++ and the baselines (likelihood, log-rank, entropy,
              Fast-DetectGPT): `trl-explore detect --help`
  info        versions of trl_explore and its dependencies

examples:
  trl-explore demo                      # the default run (report in ./trl_explore_demo/demo_report.md)
  trl-explore demo --quick              # a one-minute check that everything runs
  trl-explore demo --methods grpo lp_reg --seeds 5
  trl-explore demo --help               # every option and a line per method
  trl-explore detect --model_name_or_path toy --data_files toy   # detection on the offline toy set
"""


def _info(_: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from ._version import __version__

    lines = [f"trl_explore {__version__}", f"python {platform.python_version()} ({platform.platform()})"]
    for pkg in (
        "trl",
        "transformers",
        "torch",
        "peft",
        "accelerate",
        "datasets",
        "latex2sympy2",
        "vllm",
        "bitsandbytes",
    ):
        try:
            lines.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            lines.append(f"{pkg} (not installed)")
    import torch

    lines.append(f"cuda available: {torch.cuda.is_available()}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _warm_start(args: argparse.Namespace) -> int:
    from .toy import warm_start

    path = warm_start(task=args.task, seed=args.seed, force=args.force)
    sys.stdout.write(f"{path}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .demo.command import add_demo_command

    parser = _Parser(prog="trl-explore", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command", help="see commands above")

    add_demo_command(sub)

    sub.add_parser("info", description="Versions of trl_explore and its dependencies.").set_defaults(func=_info)

    ws = sub.add_parser(
        "warm-start", description="Build (or reuse) the cached warm-started toy model and print its folder."
    )
    ws.add_argument("--task", choices=["arithmetic", "countdown"], default="countdown", help="toy task")
    ws.add_argument("--seed", type=_int_at_least(0), default=0, help="seed of the warm start (default: 0)")
    ws.add_argument("--force", action="store_true", help="rebuild even when cached")
    ws.set_defaults(func=_warm_start)
    # `detect` parses its own arguments (those of examples/lastde_detect.py): see `main`
    sub.add_parser("detect", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    console_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["detect"]:
        from .detection.cli import run_cli

        run_cli(argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
