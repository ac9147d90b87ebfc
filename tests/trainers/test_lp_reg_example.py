"""`examples/lpreg_grpo.py` runs end to end on a local tiny model and a local JSONL dataset."""

from __future__ import annotations

import math

from example_utils import load_example, local_model_and_questions


def test_example_trains_on_local_files(tmp_path):
    from trl import ModelConfig, TrlParser

    from trl_explore.trainers import LpRegConfig

    model_dir, data_file = local_model_and_questions(tmp_path, num_rows=8)
    example = load_example("lpreg_grpo")
    parser = TrlParser((example.MathScriptArguments, LpRegConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config(
        args=[
            "--model_name_or_path", str(model_dir), "--dataset_name", str(data_file),
            "--problem_column", "question", "--solution_column", "answer", "--output_dir", str(tmp_path / "out"),
            "--max_steps", "2", "--per_device_train_batch_size", "4", "--num_generations", "4",
            "--max_completion_length", "8", "--use_cpu", "--bf16", "false", "--report_to", "none",
            "--dtype", "float32", "--logging_steps", "1", "--lp_reg_rho", "0.2", "--save_strategy", "no",
        ]
    )  # fmt: skip
    assert training_args.lp_reg and training_args.epsilon_high == 9.0
    trainer = example.main(script_args, training_args, model_args)
    assert (tmp_path / "out" / "config.json").is_file()
    logged = [e for e in trainer.state.log_history if "lp_reg/kept_mass" in e]
    assert len(logged) == 2 and all(math.isfinite(e["lp_reg/kept_mass"]) for e in logged)
    assert any("math" in k or "reward" in k for k in logged[0])
