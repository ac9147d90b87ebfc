"""A training set smaller than one generation batch: TRL's sampler drops the incomplete batch and `train()` would end
after zero optimizer steps without a word; our trainers warn when they are built (`_guards.warn_if_no_step`)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from grpo_helpers import config_kwargs, const_reward, tiny_dataset, tiny_model, tiny_tokenizer

from trl_explore.trainers._guards import prompts_per_generation, warn_if_no_step

WARNING = "no optimizer step will run"


def _args(generation_batch_size: int, num_generations: int, steps_per_generation: int = 1) -> SimpleNamespace:
    return SimpleNamespace(
        generation_batch_size=generation_batch_size,
        num_generations=num_generations,
        steps_per_generation=steps_per_generation,
    )


def test_prompts_per_generation_hand_values():
    """8 completions per device x 16 steps per generation = 128 completions; 4 per prompt -> 32 prompts."""
    assert prompts_per_generation(_args(128, 4, 16)) == 32
    assert prompts_per_generation(_args(8, 8)) == 1


def test_warns_below_one_generation_batch_only(caplog):
    """24 prompts < 32 needed: warns, naming both counts; 32 prompts: silent; an unsized (iterable) set: silent."""
    with caplog.at_level(logging.WARNING):
        assert warn_if_no_step(_args(128, 4, 16), list(range(24)))
    assert WARNING in caplog.text and "24 prompts, fewer than the 32" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert not warn_if_no_step(_args(128, 4, 16), list(range(32)))
        assert not warn_if_no_step(_args(128, 4, 16), iter(range(3)))
        assert not warn_if_no_step(_args(128, 4, 16), None)
    assert WARNING not in caplog.text


def test_trainer_warns_and_the_warning_is_true(tmp_path, caplog, one_thread):
    """4 completions per device x 2 steps per generation = 8 completions, 2 per prompt = 4 prompts per generation
    batch > the 2 prompts of the set: the trainer warns when built, and `train()` indeed runs no step."""
    from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer

    tok = tiny_tokenizer()
    args = ExploreGRPOConfig(**config_kwargs(tmp_path, num_generations=2, steps_per_generation=2, max_steps=2))
    with caplog.at_level(logging.WARNING):
        trainer = ExploreGRPOTrainer(
            model=tiny_model(tok), reward_funcs=const_reward, args=args, train_dataset=tiny_dataset(2),
            processing_class=tok,
        )  # fmt: skip
    assert caplog.text.count(WARNING) == 1
    trainer.train()
    assert trainer.state.global_step == 0
