"""Every command of the README's examples table, as printed (its toy-route arguments plus what the table's header says
to add), runs as a subprocess and finishes within 60 s (the toy warm starts cached first, as after a first run), and
a training script prints a non-zero learning signal. The commands are parsed from README.md, so they cannot drift.

Slow (about ten subprocesses); the 60 s bound is for an idle 2-core machine: set ``TRL_EXPLORE_README_TIMEOUT`` to
run on a loaded one."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = float(os.environ.get("TRL_EXPLORE_README_TIMEOUT", "60"))
TRAINING = {"lpreg_grpo.py", "rng_grpo.py", "hapo_grpo.py", "spear_grpo.py", "rank_aware_sft.py", "fourier_head_sft.py"}
RL = {"lpreg_grpo.py", "rng_grpo.py", "hapo_grpo.py", "spear_grpo.py"}


def readme_table_commands() -> list[tuple[str, list[str]]]:
    """``(script, arguments)`` for every script of the README's examples table: the first code span of its row's
    second column, plus the arguments the header tells to add for that kind of script."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Examples\n") :]
    table = section[section.index("\n|") + 1 :]
    rows = table[: table.index("\n\n")].splitlines()
    header = rows[0].split("|")[2]
    add_all = shlex.split(re.findall(r"`([^`]*)`", header)[0])
    add_training = shlex.split(re.findall(r"`([^`]*)`", header)[1]) if header.count("`") >= 4 else []
    commands = []
    for row in rows[2:]:
        scripts_cell, args_cell = row.split("|")[1:3]
        args = shlex.split(re.findall(r"`([^`]*)`", args_cell)[0])
        for script in re.findall(r"`([a-z_]+\.py)`", scripts_cell):
            commands.append((script, [*args, *add_all, *(add_training if script in TRAINING else [])]))
    return commands


COMMANDS = readme_table_commands()


def test_the_table_is_parsed():
    scripts = [script for script, _ in COMMANDS]
    assert len(scripts) == 9 and set(scripts) >= TRAINING | {"evaluate_math.py", "lastde_detect.py"}
    assert all("--output_dir" in args and "toy" in args for _, args in COMMANDS)


@pytest.fixture(scope="module")
def warm_caches():
    """The toy models the table's commands use, built (or found) in the toy kit's cache before anything is timed."""
    import torch

    from trl_explore.toy import toy_base_model_path, toy_model_path, warm_start
    from trl_explore.toy.tool_task import warm_start_tool_task

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        toy_model_path("arithmetic")
        toy_base_model_path()
        warm_start(task="arithmetic")  # the detection route's scoring model
        spear = load_spear_toy_task()
        warm_start_tool_task(max_steps=300, num_eval_prompts=32, **spear)
    finally:
        torch.set_num_threads(previous)


def load_spear_toy_task() -> dict:
    from example_utils import load_example

    return dict(load_example("spear_grpo").TOY_TASK)


@pytest.mark.slow
@pytest.mark.parametrize(("script", "args"), COMMANDS, ids=[f"{s}:{' '.join(a[:4])}" for s, a in COMMANDS])
def test_readme_table_command_finishes_with_a_learning_signal(warm_caches, script, args, tmp_path):
    argv = [a if a != "/tmp/x" else str(tmp_path / "out") for a in args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRL_EXPLORE_DEBUG": ""}
    env.pop("OMP_NUM_THREADS", None)  # the scripts choose their threads for the toy model themselves
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *argv], capture_output=True, text=True, env=env,
        timeout=TIMEOUT, cwd=tmp_path,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert seconds < TIMEOUT
    if script in TRAINING:
        signal = re.search(r"learning signal: (.*)", output)
        assert signal, output[-3000:]
        if script in RL:
            mean_reward = float(
                re.search(
                    r"reward [-\d.]+ \(step \d+\) -> [-\d.]+ \(step \d+\), mean ([-\d.]+)", signal.group(1)
                ).group(1)
            )
            assert mean_reward > 0
        else:
            first, last = map(float, re.search(r"loss ([-\d.]+) \(step \d+\) -> ([-\d.]+)", signal.group(1)).groups())
            assert last < first
    else:
        assert "|" in done.stdout or "wrote" in done.stdout  # the script's table / what it wrote
