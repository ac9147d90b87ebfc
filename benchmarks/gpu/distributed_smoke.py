"""2-step smokes of the Lp-Reg GRPO and rank-aware SFT examples under DeepSpeed ZeRO-3 and FSDP2 (run by all.sh).

Each run is the user's command: ``accelerate launch --config_file examples/accelerate_configs/<backend>.yaml
--num_processes <GPUs> examples/<script>.py ...`` on a small Qwen2 model built in code and saved to a local folder (the
GPU machine has no network) with a local JSONL of math problems (GRPO) or the toy arithmetic set (SFT). A run passes
when it exits with status 0 and every logged loss is finite. One CSV row per run: ``smoke/<backend>/<script>``,
metric "finite losses logged" (the count; NaN when the run failed), with the wall time in the config.

    python benchmarks/gpu/distributed_smoke.py --steps 2 --csv gpu_all.csv      # on a GPU machine
    python benchmarks/gpu/distributed_smoke.py --dry-run                        # checks the commands, runs nothing
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

BACKENDS = {"zero3": "deepspeed_zero3.yaml", "fsdp2": "fsdp2.yaml"}
LOG_DICT = re.compile(r"\{'[^{}]*\}")


def example_args(script: str, workdir: Path, steps: int) -> list[str]:
    """The example's own flags for the smoke (small batches, bf16, no saving)."""
    common = ["--max_steps", str(steps), "--logging_steps", "1", "--report_to", "none", "--save_strategy", "no",
              "--bf16", "true", "--model_name_or_path", str(workdir / "model"), "--output_dir", str(workdir / f"out_{script}")]  # fmt: skip
    if script == "lpreg_grpo":
        return [*common, "--dataset_name", str(workdir / "math.jsonl"), "--per_device_train_batch_size", "8",
                "--num_generations", "8", "--max_completion_length", "32", "--learning_rate", "1e-5"]  # fmt: skip
    return [*common, "--dataset_name", "toy-arithmetic", "--per_device_train_batch_size", "8", "--learning_rate", "1e-4",
            "--rank_aware_beta", "-0.25"]  # fmt: skip


def launch_commands(workdir: Path, steps: int, num_processes: int) -> dict[str, list[str]]:
    """``{"<backend>/<script>": argv}`` for every backend and example."""
    commands = {}
    for backend, config in BACKENDS.items():
        for script in ("lpreg_grpo", "rank_aware_sft"):
            commands[f"{backend}/{script}"] = [
                sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(ROOT / "examples" / "accelerate_configs" / config), "--num_processes", str(num_processes),
                str(ROOT / "examples" / f"{script}.py"), *example_args(script, workdir, steps),
            ]  # fmt: skip
    return commands


def make_inputs(workdir: Path) -> None:
    """A small Qwen2 model with the toy tokenizer, and a JSONL of arithmetic problems, in ``workdir``."""
    from trl_explore.toy import make_arithmetic_dataset, make_tiny_model, make_tokenizer

    tokenizer = make_tokenizer()
    make_tiny_model(tokenizer, hidden_size=256, num_hidden_layers=4).save_pretrained(workdir / "model")
    tokenizer.save_pretrained(workdir / "model")
    rows = make_arithmetic_dataset(64, seed=0)
    with open(workdir / "math.jsonl", "w") as f:
        for problem, solution in zip(rows["prompt"], rows["solution"]):
            f.write(json.dumps({"problem": problem, "solution": solution}) + "\n")


def logged_losses(text: str) -> list[float]:
    """The ``loss`` values of the trainer's printed log dicts."""
    losses = []
    for match in LOG_DICT.findall(text):
        try:
            logs = ast.literal_eval(match)
        except (ValueError, SyntaxError):
            continue
        if isinstance(logs, dict) and "loss" in logs:
            losses.append(float(logs["loss"]))
    return losses


def dry_run(argv: list[str]) -> list[str]:
    """Problems of the smoke's launch commands: each accelerate config must load and each example must parse."""
    from accelerate.commands.config.config_args import load_config_from_file
    from check_commands import parse_only

    args = build_parser().parse_args(argv)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, command in launch_commands(Path(tmp), args.steps, 1).items():
            config = command[command.index("--config_file") + 1]
            try:
                load_config_from_file(config)
            except (OSError, ValueError, TypeError) as err:
                problems.append(f"{name}: {config}: {err}")
            script = next(i for i, a in enumerate(command) if a.endswith(".py"))
            error = parse_only(command[script], command[script + 1 :])
            if error is not None:
                problems.append(f"{name}: {error}")
    return problems


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per run (default 2)")
    parser.add_argument("--workdir", default=None, help="folder for the model, data and logs (default: a temp dir)")
    parser.add_argument("--timeout", type=int, default=150, help="seconds per run (default 150)")
    parser.add_argument("--csv", default=None, help="CSV file to append rows to (default benchmarks/results.csv)")
    parser.add_argument("--dry-run", action="store_true", help="check the commands, run nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.dry_run:
        problems = dry_run([a for a in (argv if argv is not None else sys.argv[1:]) if a != "--dry-run"])
        print("\n".join(problems) or "every smoke command parses")
        return 1 if problems else 0
    import torch
    from _common import append_rows, make_row

    workdir = Path(args.workdir or tempfile.mkdtemp())
    workdir.mkdir(parents=True, exist_ok=True)
    make_inputs(workdir)
    num_processes = max(torch.cuda.device_count(), 1)
    failed = 0
    for name, command in launch_commands(workdir, args.steps, num_processes).items():
        start = time.perf_counter()
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
            output, returncode = run.stdout + run.stderr, run.returncode
        except subprocess.TimeoutExpired as err:
            output, returncode = f"{err.stdout or ''}{err.stderr or ''}", "timeout"
        seconds = time.perf_counter() - start
        (workdir / f"{name.replace('/', '_')}.log").write_text(str(output))
        losses = logged_losses(str(output))
        ok = returncode == 0 and len(losses) > 0 and all(math.isfinite(v) for v in losses)
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name}: exit {returncode}, losses {losses}, {seconds:.0f} s", flush=True)
        if not ok:
            print("\n".join(f"    | {line}" for line in str(output).splitlines()[-25:]), flush=True)
        config = {"processes": num_processes, "steps": args.steps, "exit": returncode, "losses": losses,
                  "seconds": round(seconds, 1)}  # fmt: skip
        append_rows([make_row(f"smoke/{name}", "finite losses logged", "steps", len(losses) if ok else math.nan, None,
                              config)], args.csv)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
