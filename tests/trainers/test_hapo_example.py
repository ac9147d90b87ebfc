"""`examples/hapo_grpo.py` runs end to end on a local tiny model and a local JSONL dataset."""

from __future__ import annotations

import math

from example_utils import load_example, local_model_and_questions


def test_example_trains_on_local_files(tmp_path):
    from trl import ModelConfig, TrlParser

    from trl_explore.trainers import HAPOConfig

    model_dir, data_file = local_model_and_questions(tmp_path, num_rows=16)
    example = load_example("hapo_grpo")
    parser = TrlParser((example.MathScriptArguments, HAPOConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(
        args=[
            "--model_name_or_path", str(model_dir), "--dataset_name", str(data_file),
            "--problem_column", "question", "--solution_column", "answer", "--output_dir", str(tmp_path / "out"),
            "--max_steps", "3", "--per_device_train_batch_size", "4", "--num_generations", "4",
            "--steps_per_generation", "2", "--max_completion_length", "8", "--use_cpu", "--bf16", "false",
            "--report_to", "none", "--dtype", "float32", "--logging_steps", "1", "--save_strategy", "no",
            "--hapo_sign", "released",
        ]
    )  # fmt: skip
    assert training_args.hapo_dar and training_args.hapo_sign == "released"
    trainer = example.main(script_args, training_args, model_args)
    assert (tmp_path / "out" / "config.json").is_file()
    logged = [e for e in trainer.state.log_history if "hapo/eps_high_mean" in e]
    assert len(logged) == 3 and all(math.isfinite(e["hapo/h_mean"]) for e in logged)
