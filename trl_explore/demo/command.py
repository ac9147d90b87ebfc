"""The ``demo`` command: ``trl-explore demo`` (`trl_explore.cli` adds it) and ``python -m trl_explore.demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._cli_args import Parser, console_logging, fail, int_at_least, positive_float
from .timing import DEMO_TIME

DEMO_DESCRIPTION = """\
The offline exploration lab. A tiny Qwen2 model is warm-started on the toy countdown task (once, cached), then GRPO
and every RL method below are trained from those weights with the same paired seeds and budget. The report
(<output-dir>/demo_report.md) opens with a three-line verdict (did GRPO learn; which methods changed the quantity
they target, by how much), gives each method's paired difference to GRPO +- standard error across seeds with its
95% t-interval (resolved = the interval excludes 0), and plots reward, policy entropy, the share of low-probability
tokens and pass@k over k. A re-run replaces the files an earlier run wrote in the output folder (its manifest,
.trl_explore_manifest.json) and keeps every other file; it refuses to overwrite a file that the demo did not write.

Each method trains at its own learning rate (trl_explore.demo.tuned, chosen by the declared sweep: `--sweep`, on
tuning seeds 100-102 that the demo never uses); --learning-rate trains every method at one shared rate instead.
"""


def _description() -> str:
    from .tuned import TUNED_PROVISIONAL

    provisional = "Provisional: the sweep has not finished, and every method holds the former shared rate 5e-4.\n"
    return DEMO_DESCRIPTION + (provisional if TUNED_PROVISIONAL else "")


def _sweep(args: argparse.Namespace, prog: str) -> int:
    """`trl-explore demo --sweep`: the declared learning-rate sweep (`trl_explore.demo.sweep.run_sweep`)."""
    from .sweep import run_sweep

    extra = [
        flag
        for flag, value in (
            ("--learning-rate", args.learning_rate),
            ("--seeds", args.seeds),
            ("--quick", args.quick),
            ("--model", args.model),
        )
        if value
    ]
    if extra:
        return fail(
            prog,
            ValueError(
                f"{', '.join(extra)} cannot be combined with --sweep (its candidates, tuning "
                "seeds and model are declared in trl_explore.demo.sweep)."
            ),
        )
    regime = {} if args.steps is None else {"steps": args.steps}
    try:
        choices = run_sweep(
            args.output_dir or "trl_explore_sweep",
            methods=args.methods,
            workers=args.workers,
            show_progress=not args.no_progress,
            **regime,
        )
    except ValueError as err:
        return fail(prog, err)
    for method, choice in choices.items():
        flag = "  (every rate collapsed pass@1 below the base model)" if choice.collapsed else ""
        sys.stdout.write(
            f"{method:<12} lr {choice.learning_rate:g}  criterion {choice.criterion:.3f} ± {choice.criterion_se:.3f}"
            f"{flag}\n"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    from .regime import DEFAULT_SEEDS
    from .runner import DemoSettings, DemoUsageError, run_demo

    prog = "trl-explore demo"
    if args.sweep:
        return _sweep(args, prog)
    args.output_dir = args.output_dir or "trl_explore_demo"
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
        "float_path": args.float_path,
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
            settings = DemoSettings(**{**run_fields, "seeds": args.seeds or DEFAULT_SEEDS}, **overrides)
    except ValueError as err:
        return fail(prog, err)
    try:
        report = run_demo(settings)
    except DemoUsageError as err:
        return fail(prog, err)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted; {args.output_dir} is unchanged\n")
        return 130
    sys.stdout.write(f"report: {report}\n")
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
        f"examples (the default run takes {DEMO_TIME}, warm start included):",
        "  trl-explore demo                                # default run: every method, 3 paired seeds",
        "  trl-explore demo --quick                        # a one-minute check that everything runs",
        "  trl-explore demo --methods grpo nsr --seeds 6   # two methods, more seeds",
    ]
    return "\n".join(lines)


def add_demo_arguments(demo: argparse.ArgumentParser) -> None:
    """The ``demo`` command's options on ``demo`` (its own parser or ``trl-explore``'s subparser)."""
    from .floatpath import FLOAT_PATHS
    from .methods import METHODS
    from .regime import DEFAULT_REGIME as R
    from .regime import DEFAULT_SEEDS

    demo.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        metavar="METHOD",
        help="methods to run (default: every method without *; GRPO always runs)",
    )
    demo.add_argument(
        "--seeds",
        type=int_at_least(1),
        default=None,
        help=f"number of paired seeds (default: {DEFAULT_SEEDS}; 2 with --quick)",
    )
    demo.add_argument("--seed", type=int_at_least(0), default=0, help="first seed (default: 0)")
    demo.add_argument(
        "--steps", type=int_at_least(1), default=None, help=f"optimizer steps per run (default: {R.steps})"
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="tiny budget on a barely warm-started model: checks that everything runs (~1 minute)",
    )
    demo.add_argument(
        "--output-dir",
        default=None,
        help="report folder; a re-run replaces only the files the demo wrote there (default: "
        "trl_explore_demo; trl_explore_sweep with --sweep)",
    )
    demo.add_argument("--model", default=None, help="Hub name or local path (default: the toy warm start)")
    demo.add_argument(
        "--task",
        default="countdown",
        help="countdown | arithmetic | with --model, a math dataset (Hub name or local file)",
    )
    demo.add_argument(
        "--learning-rate",
        type=positive_float,
        default=None,
        help="one constant learning rate for every method (default: each method's own rate, trl_explore.demo.tuned)",
    )
    demo.add_argument(
        "--float-path",
        choices=list(FLOAT_PATHS),
        default="default",
        help="floating-point path of the workers: avx2 / scalar run torch's CPU kernels as a CPU without "
        "AVX-512 / without SIMD would, to check that the verdict does not hang on rounding (default: "
        "default)",
    )
    demo.add_argument(
        "--sweep",
        action="store_true",
        help="run the declared learning-rate sweep instead (trl_explore.demo.sweep: 4 rates x tuning "
        "seeds 100-102; hours on 2 cores; resumable) and print each method's chosen rate",
    )
    demo.add_argument(
        "--eval-every",
        type=int_at_least(1),
        default=None,
        help="also evaluate pass@k every N steps (default: only before and after training)",
    )
    demo.add_argument(
        "--eval-prompts",
        type=int_at_least(1),
        default=None,
        help=f"held-out prompts for pass@k (default: {R.eval_prompts})",
    )
    demo.add_argument(
        "--k", type=int_at_least(1), default=None, help=f"samples per held-out prompt, the largest k (default: {R.k})"
    )
    demo.add_argument(
        "--workers",
        type=int_at_least(1),
        default=None,
        help="parallel worker processes (default: the CPU cores, at most 8, for the toy model on a CPU; else 1)",
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bar or per-evaluation lines")
    demo.set_defaults(func=run)


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to ``trl-explore``'s subcommands."""
    demo = sub.add_parser(
        "demo",
        description=_description(),
        epilog=_methods_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_demo_arguments(demo)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trl_explore.demo [options]``: the same as ``trl-explore demo [options]``."""
    console_logging()
    parser = Parser(
        prog="trl-explore demo",
        description=_description(),
        epilog=_methods_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_demo_arguments(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return args.func(args)
