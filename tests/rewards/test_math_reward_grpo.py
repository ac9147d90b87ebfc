"""The reward under TRL's real `GRPOTrainer`: the trainer's keyword arguments are accepted, its `log_metric` receives
the reward's counters, and the reward's ``__name__`` names TRL's per-function reward metrics."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")


def test_two_grpo_steps_log_reward_metrics(tmp_path) -> None:
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from trl_explore.rewards import make_math_reward, math_accuracy_reward
    from trl_explore.toy import make_arithmetic_dataset, make_tiny_model, make_tokenizer

    torch.manual_seed(0)
    tokenizer = make_tokenizer()
    model = make_tiny_model(tokenizer, hidden_size=32, num_hidden_layers=1)
    dataset = make_arithmetic_dataset(8, seed=0).select_columns(["prompt", "solution"])
    gsm_style = make_math_reward(extractors=("last_number",), symbolic=False, name="last_number_accuracy")
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        logging_steps=1,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[math_accuracy_reward, gsm_style],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2
    for entry in logs:
        assert "rewards/math_accuracy_reward/mean" in entry
        assert "rewards/last_number_accuracy/mean" in entry
        assert entry["math_reward/timeouts"] == 0.0
        assert entry["math_reward/unparsable_gold"] == 0.0
        assert 0.0 <= entry["math_reward/no_answer_frac"] <= 1.0
