"""The ``demo`` command: ``trl-explore demo`` (`trl_explore.cli` adds it) and ``python -m trl_explore.demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._cli_args import Parser, console_logging, fail, int_at_least, positive_float

DEMO_DESCRIPTION = """\
The offline exploration lab. A tiny Qwen2 model is warm-started on the toy countdown task (once, cached), then GRPO
and every RL method below are trained from those weights with the same paired seeds and budget. The report
(<output-dir>/demo_report.md) opens with a three-line verdict (did GRPO learn; which methods changed the quantity
they target, by how much), gives each method's paired difference to GRPO +- standard error across seeds, and plots
reward, policy entropy, the share of low-probability tokens and pass@k over k. A re-run replaces the output folder.
"""


def run(args: argparse.Namespace) -> int:
    from .runner import DemoSettings, DemoUsageError, run_demo

    prog = "trl-explore demo"
    run_fields = {
        "methods": args.methods or [],
        "seeds": args.seeds,
        "seed": args.seed,
        "output_dir": args.output_dir,
        "model": args.model,
        "task": args.task,
        "eval_every": args.eval_every,
        "workers": args.workers,
        "show_progress": not args.no_progress,
    }
    overrides = {
        name: value
        for name, value in (
            ("steps", args.steps),
            ("eval_prompts", args.eval_prompts),
            ("k", args.k),
            ("learning_rate", args.learning_rate),
        )
        if value is not None
    }
    try:
        if args.quick:
            settings = DemoSettings.quick(**{**run_fields, "seeds": args.seeds or 2}, **overrides)
        else:
            settings = DemoSettings(**{**run_fields, "seeds": args.seeds or 3}, **overrides)
    except ValueError as err:
        return fail(prog, err)
    try:
        report = run_demo(settings)
    except DemoUsageError as err:
        return fail(prog, err)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {args.output_dir} is unchanged", file=sys.stderr)
        return 130
    print(f"report: {report}")
    return 0


def _methods_epilog() -> str:
    from .methods import METHODS
    from .quantities import QUANTITIES
    from .regime import DEFAULT_REGIME

    lines = ["methods (--methods; * = not in the default run):"]
    width = max(len(name) for name in METHODS) + 2
    for m in METHODS.values():
        targets = ", ".join(QUANTITIES[t].label(DEFAULT_REGIME) for t in m.targets)
        line = f"  {m.name + ('' if m.default else '*'):<{width}}{m.label} — {m.summary}"
        if targets:
            line += f" Targets: {targets}."
        lines.append(line)
    lines += [
        "",
        "examples:",
        "  trl-explore demo                                # default run: every method, 3 paired seeds",
        "  trl-explore demo --quick                        # a one-minute check that everything runs",
        "  trl-explore demo --methods grpo nsr --seeds 6   # two methods, more seeds",
    ]
    return "\n".join(lines)


def add_demo_arguments(demo: argparse.ArgumentParser) -> None:
    """The ``demo`` command's options on ``demo`` (its own parser or ``trl-explore``'s subparser)."""
    from .methods import METHODS
    from .regime import DEFAULT_REGIME as R

    demo.add_argument("--methods", nargs="+", choices=list(METHODS), metavar="METHOD",
                      help="methods to run (default: every method without *; GRPO always runs)")
    demo.add_argument("--seeds", type=int_at_least(1), default=None,
                      help="number of paired seeds (default: 3; 2 with --quick)")
    demo.add_argument("--seed", type=int_at_least(0), default=0, help="first seed (default: 0)")
    demo.add_argument("--steps", type=int_at_least(1), default=None,
                      help=f"optimizer steps per run (default: {R.steps})")
    demo.add_argument("--quick", action="store_true",
                      help="tiny budget on a barely warm-started model: checks that everything runs (~1 minute)")
    demo.add_argument("--output-dir", default="trl_explore_demo",
                      help="report folder, replaced by a re-run (default: trl_explore_demo)")
    demo.add_argument("--model", default=None, help="Hub name or local path (default: the toy warm start)")
    demo.add_argument("--task", default="countdown",
                      help="countdown | arithmetic | with --model, a math dataset (Hub name or local file)")
    demo.add_argument("--learning-rate", type=positive_float, default=None,
                      help=f"shared constant learning rate (default: {R.learning_rate:g})")
    demo.add_argument("--eval-every", type=int_at_least(1), default=None,
                      help="also evaluate pass@k every N steps (default: only before and after training)")
    demo.add_argument("--eval-prompts", type=int_at_least(1), default=None,
                      help=f"held-out prompts for pass@k (default: {R.eval_prompts})")
    demo.add_argument("--k", type=int_at_least(1), default=None,
                      help=f"samples per held-out prompt, the largest k (default: {R.k})")
    demo.add_argument("--workers", type=int_at_least(1), default=None,
                      help="parallel worker processes (default: the CPU cores, at most 8, for the toy model on a "
                      "CPU; else 1)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar or per-evaluation lines")
    demo.set_defaults(func=run)


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to ``trl-explore``'s subcommands."""
    demo = sub.add_parser(
        "demo",
        description=DEMO_DESCRIPTION,
        epilog=_methods_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_demo_arguments(demo)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trl_explore.demo [options]``: the same as ``trl-explore demo [options]``."""
    console_logging()
    parser = Parser(
        prog="trl-explore demo",
        description=DEMO_DESCRIPTION,
        epilog=_methods_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_demo_arguments(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return args.func(args)
