"""The ``trl-explore`` command line: ``trl-explore info`` and ``trl-explore warm-start``."""

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trl-explore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions of trl_explore and its dependencies").set_defaults(func=_info)
    ws = sub.add_parser("warm-start", help="build (or reuse) the cached warm-started toy model and print its path")
    ws.add_argument("--task", choices=["arithmetic", "countdown"], default="countdown")
    ws.add_argument("--seed", type=int, default=0)
    ws.add_argument("--force", action="store_true", help="rebuild even when cached")
    ws.set_defaults(func=_warm_start)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
