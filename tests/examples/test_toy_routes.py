"""Every example's offline toy route, as documented, on a CPU WITHOUT ``--use_cpu``: the RL examples train with a
non-zero mean reward, the SFT examples with a falling loss, the evaluation examples write their tables.

The examples run in this process (parser + ``main``, as ``run_example`` calls them) and share one cached warm start of
the toy model (the session fixture ``toy_route_cache``: a temporary ``TRL_EXPLORE_CACHE``); a few steps each keep the
whole file at about a minute on a 2-core CPU.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from example_utils import load_example

RL_COMMON = [
    "--max_steps", "3", "--per_device_train_batch_size", "16", "--num_generations", "8", "--learning_rate", "1e-4",
    "--logging_steps", "1", "--report_to", "none", "--save_strategy", "no",
]  # fmt: skip
SFT_COMMON = [
    "--learning_rate", "3e-3", "--max_steps", "12", "--per_device_train_batch_size", "16", "--logging_steps", "3",
    "--report_to", "none", "--save_strategy", "no",
]  # fmt: skip


def _run(name: str, args: list[str]):
    """Parse ``args`` with the example's own parser and call its ``main`` (what ``python examples/<name>.py`` does)."""
    example = load_example(name)
    parsed = example.make_parser().parse_args_and_config(args)
    for config in parsed:
        if hasattr(config, "use_cpu"):
            assert config.use_cpu is False  # the device is picked, not passed
    return example.main(*parsed)


def _mean_reward(trainer) -> float:
    rewards = [e["reward"] for e in trainer.state.log_history if "reward" in e]
    assert rewards and all(math.isfinite(r) for r in rewards)
    return sum(rewards) / len(rewards)


def _losses(trainer) -> list[float]:
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("lpreg_grpo", []),
        ("rng_grpo", ["--advantage_mode", "nsr", "--negative_normalization", "selected_tokens",
                      "--steps_per_generation", "2", "--pass_at_k", "2", "--pass_at_k_steps", "2",
                      "--pass_at_k_prompts", "4"]),
        ("hapo_grpo", ["--steps_per_generation", "2", "--warmup_steps", "0"]),
    ],
)  # fmt: skip
def test_rl_toy_route(toy_route_cache, tmp_path, name, extra):
    args = ["--model_name_or_path", "toy", "--dataset_name", "toy-arithmetic", "--max_completion_length", "24"]
    trainer = _run(name, [*args, *RL_COMMON, *extra, "--output_dir", str(tmp_path)])
    assert trainer.args.bf16 is False and trainer.model.dtype == torch.float32
    assert trainer.accelerator.device.type == "cpu"
    assert _mean_reward(trainer) > 0.0
    assert (tmp_path / "config.json").is_file()
    if name == "rng_grpo":  # pass@k with the papers' protocol on rows held out of the toy data
        assert (tmp_path / "pass_at_k.csv").is_file()
        callback = next(c for c in trainer.callback_handler.callbacks if type(c).__name__ == "PassAtKCallback")
        assert (callback.temperature, callback.top_p) == (0.6, 0.95)


def test_spear_toy_route(toy_route_cache, tmp_path):
    args = [
        "--model_name_or_path", "toy", "--toy_warm_start_steps", "100", "--toy_eval_prompts", "0",
        "--max_completion_length", "96", "--max_tool_calling_iterations", "1", "--sil_buffer_size", "8",
        "--sil_trigger_factor", "1.0", "--sil_warmup_steps", "2", "--output_dir", str(tmp_path),
    ]  # fmt: skip
    trainer = _run("spear_grpo", [*args, *RL_COMMON])
    logs = [e for e in trainer.state.log_history if "tools/call_frequency" in e]
    assert logs and max(e["tools/call_frequency"] for e in logs) > 0
    assert _mean_reward(trainer) > 0.0


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("rank_aware_sft", ["--dataset_name", "toy-arithmetic", "--rank_aware_preset", "precision"]),
        ("fourier_head_sft", ["--dataset_name", "toy-mean", "--toy_samples", "256"]),
    ],
)
def test_sft_toy_route(toy_route_cache, tmp_path, name, extra):
    trainer = _run(name, ["--model_name_or_path", "toy", *extra, *SFT_COMMON, "--output_dir", str(tmp_path)])
    losses = _losses(trainer)
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert trainer.args.bf16 is False and trainer.accelerator.device.type == "cpu"


def test_evaluate_math_toy_route(toy_route_cache, tmp_path):
    summary = _run(
        "evaluate_math",
        ["--model_name_or_path", "toy", "--datasets", "toy-arithmetic", "toy-countdown", "--limit", "8",
         "--num_samples", "4", "--max_new_tokens", "24", "--output_dir", str(tmp_path)],
    )  # fmt: skip
    assert set(summary) == {"toy-arithmetic", "toy-countdown"}
    assert summary["toy-arithmetic"]["pass@4"] > 0.0  # the warm start solves some one-step problems
    assert all(row["num_problems"] == 8 for row in summary.values())
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_answer_choice_mass_toy_route(toy_route_cache, tmp_path):
    rows = _run(
        "answer_choice_mass",
        ["--model_name_or_path", "toy", "--datasets", "toy-mc", "--limit", "8", "--shots", "0", "1",
         "--formats", "enumerated", "--greedy_max_new_tokens", "2", "--output_dir", str(tmp_path)],
    )  # fmt: skip
    assert len(rows) == 2 and all(0.0 <= r["mass"] <= 1.0 for r in rows)
    # the toy model is warm-started on the task: it answers with a choice (an untrained one has PM about 0.01 and
    # every greedy answer invalid), and the toy route scores PMI by itself
    assert all(r["mass"] > 0.1 and r["invalid_rate"] < 1.0 and r["pmi_accuracy"] is not None for r in rows)
    assert (tmp_path / "results.md").is_file() and (tmp_path / "mass_vs_accuracy.png").is_file()


def test_lastde_detect_toy_route(toy_route_cache, tmp_path):
    """The documented `--model_name_or_path toy --data_files toy`: the warm-started toy model scores the toy
    human-vs-machine set and the metrics table and ROC plot are written."""
    report = _run(
        "lastde_detect",
        ["--model_name_or_path", "toy", "--data_files", "toy", "--limit", "6", "--n_samples", "4",
         "--methods", "likelihood", "lastde", "lastde++", "--output_dir", str(tmp_path)],
    )  # fmt: skip
    assert list(report["metrics"]) == ["likelihood", "lastde", "lastde++"]
    assert all(m["num_human"] == 6 and m["num_machine"] == 6 for m in report["metrics"].values())
    assert (tmp_path / "metrics.md").is_file() and (tmp_path / "roc.png").is_file()


#: the examples whose toy route this file runs
TESTED_EXAMPLES = {
    "lpreg_grpo", "rng_grpo", "hapo_grpo", "spear_grpo", "rank_aware_sft", "fourier_head_sft", "evaluate_math",
    "answer_choice_mass", "lastde_detect",
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.distributed
def test_documented_multi_process_cpu_command_starts_two_processes(toy_route_cache, tmp_path):
    """The docstrings' CPU multi-process command (`torchrun --nproc_per_node 2 examples/<script>.py <toy flags>`)
    really runs two processes (gloo) without `--use_cpu`, and they train together. Launched by the tests' launcher
    (the same command plus a free rendezvous port and per-rank logs in a failure message)."""
    from pathlib import Path

    from torchrun_launch import torchrun

    script = Path(__file__).resolve().parents[2] / "examples" / "lpreg_grpo.py"
    probe = tmp_path / "ranks.py"  # the example, plus a file per process with its rank and world size
    probe.write_text(
        "import os, runpy, sys\n"
        f"open(os.path.join({str(tmp_path)!r}, 'rank' + os.environ['RANK']), 'w').write(os.environ['WORLD_SIZE'])\n"
        f"sys.argv[0] = {str(script)!r}\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    args = ["--model_name_or_path", "toy", "--dataset_name", "toy-arithmetic", "--max_completion_length", "24",
            *RL_COMMON, "--per_device_train_batch_size", "8", "--max_steps", "2", "--output_dir", str(tmp_path / "out")]  # fmt: skip
    torchrun(probe, *args, nproc=2, timeout=600, log_dir=tmp_path / "logs")
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["2", "2"]
    assert (tmp_path / "out" / "config.json").is_file()
