"""`examples/rng_grpo.py` runs end to end on a local tiny model and a local JSONL dataset, mode chosen on the CLI."""

from __future__ import annotations

import math

import torch
from example_utils import load_example, local_model_and_questions


def test_example_trains_on_local_files(tmp_path):
    from trl import ModelConfig, TrlParser

    from trl_explore.trainers import RelativeNegativeConfig

    torch.set_num_threads(1)
    model_dir, data_file = local_model_and_questions(tmp_path, num_rows=12)
    example = load_example("rng_grpo")
    parser = TrlParser((example.RngScriptArguments, RelativeNegativeConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(
        args=[
            "--model_name_or_path", str(model_dir), "--dataset_name", str(data_file),
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
