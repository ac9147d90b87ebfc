"""`examples/spear_grpo.py` runs end to end: the offline toy route (warm-started tiny model, toy tool task) and a local
model + JSONL dataset, both with TRL's tool calling and the calculator."""

from __future__ import annotations

import json

import torch
from example_utils import load_example

ARGS = [
    "--max_steps", "2", "--per_device_train_batch_size", "8", "--num_generations", "4", "--use_cpu",
    "--bf16", "false", "--report_to", "none", "--logging_steps", "1", "--save_strategy", "no",
    "--max_tool_calling_iterations", "1", "--sil_buffer_size", "2", "--sil_trigger_factor", "0.5",
]  # fmt: skip


def _parse(example, args):
    from trl import ModelConfig, TrlParser

    from trl_explore.trainers import SPEARConfig

    return TrlParser((example.SpearScriptArguments, SPEARConfig, ModelConfig)).parse_args_and_config(args=args)


def test_toy_route(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("TRL_EXPLORE_CACHE", str(tmp_path / "cache"))
    example = load_example("spear_grpo")
    script_args, training_args, model_args = _parse(
        example,
        ["--model_name_or_path", "toy", "--output_dir", str(tmp_path / "out"), "--toy_warm_start_steps", "2", "--toy_eval_prompts", "0",
         "--toy_samples", "16", "--max_completion_length", "48", *ARGS],
    )  # fmt: skip
    assert training_args.sil and training_args.clip_cov_replay_ratio == 0.02
    trainer = example.main(script_args, training_args, model_args)
    assert (tmp_path / "out" / "config.json").is_file()
    logs = [e for e in trainer.state.log_history if "spear/replay_triggered" in e]
    assert len(logs) == 2 and all("tools/call_frequency" in e and "spear/toolcall_weight" in e for e in logs)
    assert "rewards/arithmetic_reward/mean" in logs[0] and "rewards/toolcall_reward/mean" in logs[0]


def test_local_model_and_dataset(tmp_path):
    from trl_explore.toy import make_tiny_model
    from trl_explore.toy.tool_task import make_tool_tokenizer

    torch.set_num_threads(1)
    tok = make_tool_tokenizer()
    make_tiny_model(tok, hidden_size=32, num_hidden_layers=1).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    rows = [{"question": f"What is {i}*{i}?", "answer": str(i * i)} for i in range(8)]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    example = load_example("spear_grpo")
    script_args, training_args, model_args = _parse(
        example,
        ["--model_name_or_path", str(tmp_path / "model"), "--dataset_name", str(tmp_path / "train.jsonl"),
         "--problem_column", "question", "--solution_column", "answer", "--output_dir", str(tmp_path / "out"),
         "--dtype", "float32", "--max_completion_length", "24", *ARGS],
    )  # fmt: skip
    trainer = example.main(script_args, training_args, model_args)
    logs = [e for e in trainer.state.log_history if "spear/buffer_size" in e]
    assert len(logs) == 2 and "rewards/math_accuracy_reward/mean" in logs[0]
