"""`examples/rng_grpo.py` runs end to end on a local tiny model and a local JSONL dataset, mode chosen on the CLI."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rng_grpo.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("rng_grpo_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_example_trains_on_local_files(tmp_path):
    from trl import ModelConfig, TrlParser

    from trl_explore.toy import make_tiny_model, make_tokenizer
    from trl_explore.trainers import RelativeNegativeConfig

    torch.set_num_threads(1)
    tok = make_tokenizer()
    make_tiny_model(tok, hidden_size=32, num_hidden_layers=1).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    rows = [{"question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(12)]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    example = _load_example()
    parser = TrlParser((example.RngScriptArguments, RelativeNegativeConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(
        args=[
            "--model_name_or_path", str(tmp_path / "model"), "--dataset_name", str(tmp_path / "train.jsonl"),
            "--problem_column", "question", "--solution_column", "answer", "--output_dir", str(tmp_path / "out"),
            "--max_steps", "2", "--per_device_train_batch_size", "4", "--num_generations", "4",
            "--max_completion_length", "8", "--use_cpu", "--bf16", "false", "--report_to", "none",
            "--dtype", "float32", "--logging_steps", "1", "--save_strategy", "no",
            "--advantage_mode", "w_reinforce", "--positive_weight", "0.2",
            "--negative_normalization", "selected_tokens", "--pass_at_k", "2", "--pass_at_k_prompts", "2",
        ]
    )  # fmt: skip
    assert training_args.advantage_mode == "w_reinforce" and training_args.positive_weight == 0.2
    trainer = example.main(script_args, training_args, model_args)
    assert (tmp_path / "out" / "config.json").is_file()
    assert (tmp_path / "out" / "pass_at_k.csv").is_file()
    logged = [e for e in trainer.state.log_history if "rng/frac_mixed_groups" in e]
    assert len(logged) == 2 and all(math.isfinite(e["rng/max_prob_sampled"]) for e in logged)
    assert len(trainer.train_dataset) == 10  # 2 rows held out for pass@k (no test split)
