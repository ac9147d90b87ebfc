"""Issue 25's errors, each one ``error:`` line naming the field or file (and what to do), raised before anything
heavy runs: an empty data file, ``--use_vllm`` without vLLM, ``top_k`` above the vocabulary, a zero
``max_completion_length``, an unknown ``toy-`` dataset, and rewards that are invalid everywhere (the run stops after
``max_invalid_reward_batches`` batches, naming the reward function)."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import time

import pytest
import torch
from example_utils import load_example

pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing.*:FutureWarning")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from trl_explore.toy import make_tiny_model, make_tokenizer

    path = tmp_path_factory.mktemp("tiny")
    tokenizer = make_tokenizer()
    make_tiny_model(tokenizer, hidden_size=32, num_hidden_layers=1).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"problem": f"{i}+1", "solution": str(i + 1)}) + "\n" for i in range(8)))
    return path


def _error_line(example_name: str, argv: list[str], capsys, monkeypatch) -> str:
    """Run the example's command line; return its single ``error:`` line (exit status 2, no traceback)."""
    monkeypatch.delenv("TRL_EXPLORE_DEBUG", raising=False)
    example = load_example(example_name)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        example.run_example(example.make_parser(), example.main, argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def test_empty_jsonl_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    """`datasets` raised a bare StopIteration on an empty .jsonl."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    argv = ["--output_dir", str(tmp_path / "out"), "--model_name_or_path", str(tmp_path), "--dataset_name", str(empty)]
    line = _error_line("lpreg_grpo", argv, capsys, monkeypatch)
    assert f"Dataset file '{empty}' is empty" in line


def test_use_vllm_without_vllm_says_what_to_install(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    argv = ["--output_dir", str(tmp_path / "out"), "--model_name_or_path", "toy", "--use_vllm", "true"]
    line = _error_line("lpreg_grpo", argv, capsys, monkeypatch)
    assert "--use_vllm needs vLLM, which is not installed: pip install 'trl_explore[vllm]'" in line


def test_max_completion_length_zero_is_refused_at_construction(tmp_path, capsys, monkeypatch):
    """It was accepted, and a later error named `max_new_tokens` instead of the field the user set."""
    from trl_explore.trainers import LpRegConfig

    with pytest.raises(ValueError, match=r"`max_completion_length` must be an integer >= 1, got 0"):
        LpRegConfig(output_dir=str(tmp_path), max_completion_length=0)
    with pytest.raises(ValueError, match=r"`top_k` must be an integer >= 0, got -1"):
        LpRegConfig(output_dir=str(tmp_path), top_k=-1)
    argv = ["--output_dir", str(tmp_path / "out"), "--model_name_or_path", "toy", "--max_completion_length", "0"]
    assert "`max_completion_length` must be an integer >= 1, got 0" in _error_line(
        "lpreg_grpo", argv, capsys, monkeypatch
    )


def test_top_k_above_the_vocabulary_is_refused_at_trainer_init(
    tiny_model_dir, data_file, tmp_path, capsys, monkeypatch
):
    """`--top_k 1000000` trained silently (every token kept). The toy tokenizer's vocabulary is the model's
    `vocab_size`; `top_k` equal to it is still allowed."""
    from transformers import AutoConfig

    vocab = AutoConfig.from_pretrained(tiny_model_dir).vocab_size
    argv = ["--output_dir", str(tmp_path / "out"), "--model_name_or_path", str(tiny_model_dir), "--dataset_name",
            str(data_file), "--top_k", "1000000", "--max_completion_length", "4", "--per_device_train_batch_size",
            "4", "--num_generations", "4", "--report_to", "none"]  # fmt: skip
    line = _error_line("lpreg_grpo", argv, capsys, monkeypatch)
    assert f"`top_k` is 1000000, larger than the model's vocabulary ({vocab} tokens)" in line
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # refused before anything was written

    from trl_explore.trainers._guards import check_top_k

    model = type("M", (), {"config": type("C", (), {"vocab_size": vocab})()})()
    check_top_k(vocab, model)  # the whole vocabulary: allowed
    check_top_k(0, model)  # off
    with pytest.raises(ValueError, match="`top_k` is"):
        check_top_k(vocab + 1, model)


@pytest.mark.parametrize(
    ("example", "argv", "known"),
    [
        ("lpreg_grpo", ["--model_name_or_path", "toy", "--dataset_name", "toy-arithmetc"], "toy-arithmetic"),
        ("lpreg_grpo", ["--model_name_or_path", "Qwen/x", "--dataset_name", "toy-nope"], None),
        ("rank_aware_sft", ["--model_name_or_path", "toy", "--dataset_name", "toy-countdwn"], "toy-countdown"),
        ("evaluate_math", ["--model_name_or_path", "toy", "--datasets", "toy-arithmetik"], "toy-arithmetic"),
    ],
)  # fmt: skip
def test_unknown_toy_dataset_is_refused_at_once(example, argv, known, tmp_path, capsys, monkeypatch):
    """`toy-` names are the toy kit's: an unknown one is refused with the list (and the closest name) instead of
    28 s of Hub retries; nothing is downloaded or warm-started first."""
    start = time.perf_counter()
    line = _error_line(example, [*argv, "--output_dir", str(tmp_path / "out")], capsys, monkeypatch)
    assert "is not a toy dataset: use one of [" in line and "'toy-arithmetic'" in line
    if known:
        assert f"Did you mean {known!r}?" in line
    assert time.perf_counter() - start < 20  # no network, no warm start (a generous bound for a loaded CI machine)


def test_data_layer_refuses_unknown_toy_names():
    from trl_explore.data import load_any_dataset

    with pytest.raises(ValueError, match=r"--dataset_name 'toy-mcq' is not a toy dataset: .* Did you mean 'toy-mc'"):
        load_any_dataset("toy-mcq")


# ---------------------------------------------------------------------------------------------- invalid rewards
def test_reward_guard_counts_consecutive_all_invalid_batches():
    """Hand-derived: with max 2, batch 1 all-NaN (count 1), batch 2 one valid value (reset to 0), batches 3 and 4
    all-NaN (1, then 2: stop). Only the functions without any valid value are named."""
    from trl_explore.trainers._guards import InvalidRewardGuard

    nan = math.nan
    all_invalid = torch.tensor([[nan, nan], [nan, nan]])
    some_valid = torch.tensor([[nan, 1.0], [nan, nan]])
    guard = InvalidRewardGuard(2)
    assert guard.update(all_invalid, ["a", "b"]) is None
    assert guard.consecutive == 1
    assert guard.update(some_valid, ["a", "b"]) is None
    assert guard.consecutive == 0
    assert guard.update(all_invalid, ["a", "b"]) is None
    assert guard.update(all_invalid, ["a", "b"], training=False) is None  # evaluation batches do not count
    stop = guard.update(all_invalid, ["a", "b"])
    assert re.search(r"reward function\(s\) 'a', 'b' returned None, NaN or inf .* 2 ", stop) and "\n" not in stop
    never = InvalidRewardGuard(0)
    assert all(never.update(all_invalid, ["a"]) is None for _ in range(5))  # 0: never stops


def test_reward_returning_none_stops_the_run_naming_the_function(tiny_model_dir, tmp_path, one_thread, caplog):
    """A reward that returns None for every completion: after `max_invalid_reward_batches` (2) generation batches
    the trainer logs an error naming it and stops (it used to warn each batch and train on, loss 0). `train()`
    returns, as TRL's does (TRL's own test of all-None rewards expects that); an example script turns
    `trainer.stop_reason` into one `error:` line."""
    from datasets import Dataset

    from trl_explore.scripts import UsageError, train_and_save
    from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer

    def never_scores(completions, **kwargs):
        return [None] * len(completions)

    args = ExploreGRPOConfig(
        output_dir=str(tmp_path), max_steps=5, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=4, report_to="none", save_strategy="no", max_invalid_reward_batches=2,
    )  # fmt: skip
    assert ExploreGRPOConfig(output_dir=str(tmp_path)).max_invalid_reward_batches == 10  # the documented default
    dataset = Dataset.from_dict({"prompt": [f"{i}+1=" for i in range(8)]})
    trainer = ExploreGRPOTrainer(model=str(tiny_model_dir), reward_funcs=never_scores, args=args, train_dataset=dataset)
    with caplog.at_level("ERROR", logger="trl_explore"):
        trainer.train()
    message = r"'never_scores' returned None, NaN or inf for every completion of 2 generation batches"
    assert re.search(message, trainer.stop_reason) and re.search(message, caplog.text)
    assert trainer.state.global_step == 2  # the second generation batch's step finishes, then training stops
    again = ExploreGRPOTrainer(model=str(tiny_model_dir), reward_funcs=never_scores, args=args, train_dataset=dataset)
    with pytest.raises(UsageError, match=message):  # what an example script's main() raises: one `error:` line
        train_and_save(again, args)
