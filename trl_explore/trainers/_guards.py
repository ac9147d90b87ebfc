"""Checks that stop a GRPO run of the `ExploreGRPOTrainer` family early, with one line naming what to fix.

- `check_top_k`: ``top_k`` larger than the model's vocabulary keeps every token (it would train silently as if
  ``top_k`` were off); refused when the trainer is built, naming ``top_k`` and the vocabulary size.
- `warn_if_no_step`: a sized training set with fewer prompts than one generation batch takes (TRL's sampler drops
  an incomplete batch, so `train()` would end after zero optimizer steps without a word); one warning naming the
  fields.
- `InvalidRewardGuard`: rewards that are ``None`` / NaN / inf for every completion train on nothing (advantages 0,
  loss 0, see `trl_explore.trainers._faults`); after ``max_invalid_reward_batches`` such generation batches in a row
  the trainer logs an error naming the reward function(s) and stops training (``trainer.stop_reason`` holds the
  message; `trainer.train()` returns, as TRL's does, and the example scripts turn it into one ``error:`` line).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

logger = logging.getLogger(__name__)

__all__ = [
    "InvalidRewardGuard",
    "check_top_k",
    "check_trainer",
    "prompts_per_generation",
    "vocabulary_size",
    "warn_if_no_step",
]


def vocabulary_size(model: Any) -> int | None:
    """The number of logits the model produces per token (its output embedding's rows, else ``config.vocab_size``);
    ``None`` when neither is known."""
    get_output = getattr(model, "get_output_embeddings", None)
    head = get_output() if callable(get_output) else None
    weight = getattr(head, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() == 2 and weight.numel() > 0:
        return int(weight.shape[0])
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    if size is None:
        text_config = getattr(getattr(model, "config", None), "get_text_config", None)
        size = getattr(text_config(), "vocab_size", None) if callable(text_config) else None
    return int(size) if isinstance(size, int) and size > 0 else None


def check_top_k(top_k: int | None, model: Any) -> None:
    """Refuse ``top_k`` above the model's vocabulary size (`vocabulary_size`; nothing is checked when unknown).

    Raises:
        ValueError: naming ``top_k``, its value and the vocabulary size.
    """
    vocab = vocabulary_size(model)
    if top_k and vocab is not None and top_k > vocab:
        raise ValueError(
            f"`top_k` is {top_k}, larger than the model's vocabulary ({vocab} tokens): it would keep every token. Use "
            f"a value in [1, {vocab}], or 0 to turn top-k filtering off."
        )


class InvalidRewardGuard:
    """Counts consecutive training generation batches in which no completion has a valid reward, and stops the run
    after ``max_batches`` of them.

    Args:
        max_batches (`int`): the number of such batches in a row that stops the run (``0``: never stop, only TRL's
            and `trl_explore.trainers._faults`' warnings).
    """

    def __init__(self, max_batches: int) -> None:
        self.max_batches = max_batches
        self.consecutive = 0

    def update(self, rewards_per_func: torch.Tensor, names: Sequence[str], training: bool = True) -> str | None:
        """Record one generation batch (``rewards_per_func``: ``[N, F]`` gathered rewards, NaN where a function
        skipped a completion or returned NaN / inf); evaluation batches (``training=False``) are not counted.

        Returns:
            `str` or `None`: after ``max_batches`` batches in a row without a valid reward, the one-line reason to
            stop, naming the function(s) that returned no valid value; else `None`.
        """
        if not training:
            return None
        invalid = ~torch.isfinite(rewards_per_func)
        if rewards_per_func.numel() == 0 or not bool(invalid.all(dim=1).all()):
            self.consecutive = 0
            return None
        self.consecutive += 1
        if not self.max_batches or self.consecutive < self.max_batches:
            return None
        culprits = [name for name, bad in zip(names, invalid.all(dim=0).tolist()) if bad]
        return (
            f"reward function(s) {', '.join(repr(n) for n in culprits)} returned None, NaN or inf for every "
            f"completion of {self.consecutive} generation batches in a row: nothing trains. Fix the reward (return a "
            "float; None only to skip a completion), or raise `max_invalid_reward_batches` (0: never stop)."
        )


def prompts_per_generation(args: Any) -> int:
    """Distinct prompts one generation batch draws: ``generation_batch_size // num_generations`` (all processes)."""
    return int(args.generation_batch_size) // int(args.num_generations)


def warn_if_no_step(args: Any, train_dataset: Any) -> bool:
    """Warn when `train_dataset` (sized) holds fewer prompts than one generation batch draws: TRL's sampler yields
    only complete generation batches, so training would run zero optimizer steps. Returns whether it warned.

    Example: 24 prompts, ``per_device_train_batch_size=8``, ``steps_per_generation=16``, one process,
    ``num_generations=4`` → a generation batch of 128 completions = 32 prompts > 24: no step.
    """
    if train_dataset is None or not hasattr(train_dataset, "__len__"):
        return False
    needed, available = prompts_per_generation(args), len(train_dataset)
    if available >= needed:
        return False
    logger.warning(
        "train_dataset has %d prompts, fewer than the %d one generation batch draws (generation_batch_size=%d / "
        "num_generations=%d; generation_batch_size = per_device_train_batch_size x processes x "
        "steps_per_generation=%d): TRL's sampler drops incomplete batches, so no optimizer step will run. Add "
        "prompts, or lower per_device_train_batch_size or steps_per_generation.",
        available,
        needed,
        args.generation_batch_size,
        args.num_generations,
        args.steps_per_generation,
    )
    return True


def check_trainer(trainer: Any) -> InvalidRewardGuard:
    """What `ExploreGRPOTrainer.__init__` checks once the model is loaded (`check_top_k`, `warn_if_no_step`), and the
    trainer's `InvalidRewardGuard` (``args.max_invalid_reward_batches``)."""
    check_top_k(trainer.args.top_k, trainer.model)
    warn_if_no_step(trainer.args, trainer.train_dataset)
    return InvalidRewardGuard(trainer.args.max_invalid_reward_batches)
