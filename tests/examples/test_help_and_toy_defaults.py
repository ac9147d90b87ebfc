"""The examples' ``--help`` (own options first, TRL's section short, ``--help-all`` for everything), the toy route's
toy-sized defaults (only for options the user did not set), the learning-signal line, and the thread count that toy
work uses (set for the work, the caller's restored)."""

from __future__ import annotations

import pytest
import torch
from example_utils import load_example

from trl_explore.scripts import COMMON_TRAINING_OPTIONS, learning_signal, with_toy_defaults

GRPO_EXAMPLES = ["lpreg_grpo", "rng_grpo", "hapo_grpo", "spear_grpo"]


@pytest.mark.parametrize("name", [*GRPO_EXAMPLES, "rank_aware_sft", "fourier_head_sft"])
def test_help_is_short_and_help_all_is_complete(name, capsys):
    parser = load_example(name).make_parser()
    short, full = parser.format_help(), parser.format_help(full=True)
    assert short.index("script options:") < short.index("(trl_explore):") < short.index("training options (TRL")
    assert len(short.splitlines()) < 0.6 * len(full.splitlines())  # GRPO: 315 of 868 lines (lpreg_grpo)
    training = short[short.index("training options (TRL") :]
    assert "more: --help-all." in training and "--output_dir" in training and "--learning_rate" in short
    shown = {line.split()[0][2:] for line in training.splitlines() if line.startswith("  --")}
    assert shown <= COMMON_TRAINING_OPTIONS | {f"no_{n}" for n in COMMON_TRAINING_OPTIONS}
    assert "--save_only_model" not in short and "--save_only_model" in full  # a TRL option few users change
    assert "With --model_name_or_path toy, the options you do not set default to: --" in short
    with pytest.raises(SystemExit) as stop:
        parser.parse_args_and_config(["--help-all"])
    assert stop.value.code == 0 and "--save_only_model" in capsys.readouterr().out


def test_toy_route_gets_toy_sized_defaults_unless_set(tmp_path):
    """`lpreg_grpo.py --model_name_or_path toy --dataset_name toy-arithmetic` started a 3,000-step run at lr 1e-6;
    now the toy defaults apply, an explicit value wins, and a real model keeps the recipe's defaults."""
    example = load_example("lpreg_grpo")
    base = ["--dataset_name", "toy-arithmetic", "--output_dir", str(tmp_path), "--report_to", "none"]
    _, toy, _ = example.make_parser().parse_args_and_config(["--model_name_or_path", "toy", *base])
    assert (toy.max_steps, toy.learning_rate, toy.max_completion_length) == (10, 1e-4, 24)
    assert (toy.per_device_train_batch_size, toy.num_generations, toy.logging_steps) == (16, 8, 1)
    _, mine, _ = example.make_parser().parse_args_and_config(
        ["--model_name_or_path=toy", *base, "--max-steps", "3", "--learning_rate=0.001"]
    )
    assert (mine.max_steps, mine.learning_rate, mine.max_completion_length) == (3, 1e-3, 24)
    _, real, _ = example.make_parser().parse_args_and_config(["--model_name_or_path", "Qwen/x", *base])
    assert (real.max_steps, real.learning_rate) == (-1, 1e-6)


def test_with_toy_defaults_reads_the_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("max_steps: 5\n")
    argv = ["--model_name_or_path", "toy", "--config", str(config), "--no_lp_reg"]
    out = with_toy_defaults(argv, {"max_steps": 10, "lp_reg": True, "logging_steps": 1})
    assert out == ["--logging_steps", "1", *argv]  # max_steps from the file, lp_reg from --no_lp_reg
    assert with_toy_defaults(["--model_name_or_path", "gpt2"], {"max_steps": 10}) == ["--model_name_or_path", "gpt2"]


def test_learning_signal_line():
    """Hand-derived: rewards 0.25, 0.5, 0.75 -> mean 0.5; losses 2.0 then 1.5."""
    history = [
        {"step": 1, "reward": 0.25, "loss": 2.0},
        {"step": 2, "reward": 0.5},
        {"step": 3, "reward": 0.75, "loss": 1.5},
        {"train_loss": 1.0},
    ]
    assert learning_signal(history) == (
        "reward 0.250 (step 1) -> 0.750 (step 3), mean 0.500; loss 2.0000 (step 1) -> 1.5000 (step 3), mean 1.7500"
    )
    assert learning_signal([{"train_runtime": 1.0}]) is None


def test_toy_work_uses_one_thread_and_restores_the_callers(tmp_path, monkeypatch):
    """The warm start trains with `toy_threads()` (1, or $TRL_EXPLORE_TOY_THREADS) and gives the caller back its
    own thread count, also when training fails."""
    import importlib

    ws = importlib.import_module("trl_explore.toy.warm_start")

    seen = []

    def fake_train(settings, out_dir, *args):
        seen.append(torch.get_num_threads())
        raise RuntimeError("stop here")

    monkeypatch.setattr(ws, "_train", fake_train)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="stop here"):
            ws.warm_start(task="arithmetic", max_steps=1, cache_dir=tmp_path)
        assert seen == [1] and torch.get_num_threads() == 2
        monkeypatch.setenv(ws.TOY_THREADS_ENV, "3")
        with pytest.raises(RuntimeError):
            ws.warm_start(task="arithmetic", max_steps=1, cache_dir=tmp_path)
        assert seen == [1, 3] and torch.get_num_threads() == 2
        monkeypatch.setenv(ws.TOY_THREADS_ENV, "zero")
        with pytest.raises(ValueError, match="TRL_EXPLORE_TOY_THREADS must be a positive integer"):
            ws.toy_threads()
    finally:
        torch.set_num_threads(previous)
    tiny = torch.nn.Linear(4, 4)
    monkeypatch.delenv(ws.TOY_THREADS_ENV)
    assert ws.small_model_threads(tiny) == 1 and ws.small_model_threads(None) is None
    monkeypatch.setattr(ws, "SMALL_MODEL_PARAMETERS", 10)
    assert ws.small_model_threads(tiny) is None  # 20 parameters: "large", torch's setting is left alone
