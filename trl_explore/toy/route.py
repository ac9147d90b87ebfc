"""The toy kit's models and data for the offline "toy route" of the examples, the README and the notebooks.

The toy route runs the same code as a real model: the model is a checkpoint folder (`toy_model_path`: a tiny Qwen2
warm-started on conversational rows of a toy task, so it learned the toy tokenizer's chat template; or
`toy_base_model_path`, an untrained one for SFT), the data are conversational prompts (`toy_math_dataset`,
`toy_sft_dataset`) and the reward is a TRL reward function (`toy_math_reward`). Everything is cached under
`trl_explore.toy.default_cache_dir()` and built offline on a CPU.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from .._validation import check_int

logger = logging.getLogger(__name__)

__all__ = [
    "TOY_MATH_DATASETS",
    "TOY_MC_WARM_START",
    "TOY_WARM_START",
    "toy_base_model_path",
    "toy_math_dataset",
    "toy_math_reward",
    "toy_model_path",
    "toy_multiple_choice_model_path",
    "toy_sft_dataset",
]

#: Synthetic math datasets of the toy route (any model), with the task each one comes from
TOY_MATH_DATASETS = {"toy-arithmetic": "arithmetic", "toy-countdown": "countdown"}
#: Warm start of the toy route's model, per task: conversational (the model learns the toy chat template), sized to
#: solve a clear share of the problems after well under a minute of CPU (measured pass@1 at temperature 1 in
#: docs/toy.md: arithmetic 0.16, countdown about 0.15)
TOY_WARM_START: dict[str, dict[str, Any]] = {
    "arithmetic": {"max_steps": 300, "task_kwargs": {"num_steps": 1}},
    "countdown": {"max_steps": 600, "task_kwargs": {"num_numbers": 2}},
}


def toy_model_path(task: str = "arithmetic", *, seed: int = 0, max_steps: int | None = None) -> str:
    """The toy route's model: a tiny Qwen2 warm-started on conversational rows of a toy task (cached on disk).

    It learned the toy tokenizer's ChatML template, so prompts rendered with the chat template (what TRL does with
    conversational prompts, and `trl_explore.evaluation` with a tokenizer that has a template) are what it was
    trained on. Settings per task in `TOY_WARM_START` (arithmetic: one-operation problems, 300 SFT steps, about 15%
    solved at temperature 1; countdown: two numbers, 600 steps).

    Args:
        task (`str`, *optional*, defaults to `"arithmetic"`): `"arithmetic"` or `"countdown"`.
        seed (`int`, *optional*, defaults to `0`): seed of the warm start.
        max_steps (`int`, *optional*): SFT steps instead of the task's default.

    Returns:
        `str`: the checkpoint folder (model and tokenizer).
    """
    from .warm_start import warm_start

    if task not in TOY_WARM_START:
        raise ValueError(f"`task` must be one of {sorted(TOY_WARM_START)}, got {task!r}.")
    check_int(None, "seed", value=seed, low=0)
    settings = dict(TOY_WARM_START[task])
    if max_steps is not None:
        settings["max_steps"] = check_int(None, "max_steps", value=max_steps, low=1)
    path = warm_start(task, seed=seed, conversational=True, num_eval_prompts=32, **settings)
    logger.info("toy route: model %s (warm start on conversational %s problems)", path, task)
    return str(path)


def toy_base_model_path(*, seed: int = 0) -> str:
    """An untrained tiny Qwen2 (64 wide, 2 layers) with the toy tokenizer, saved once in the toy kit's cache folder:
    the SFT examples' toy model (``--model_name_or_path toy``), loaded by path like any other checkpoint."""
    import json

    from .._version import __version__
    from .models import make_tiny_model
    from .tokenizer import make_tokenizer
    from .warm_start import default_cache_dir

    check_int(None, "seed", value=seed, low=0)
    path = default_cache_dir() / f"base-qwen2-64x2-seed{seed}-v{__version__}"
    if not (path / "toy_base.json").is_file():  # built in a temporary folder and renamed: never half-written
        import shutil
        import tempfile

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent)
        try:
            tokenizer = make_tokenizer()
            make_tiny_model(tokenizer, seed=seed).save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            with open(os.path.join(tmp, "toy_base.json"), "w") as f:
                json.dump({"seed": seed, "trl_explore_version": __version__}, f)
            if not (path / "toy_base.json").is_file():  # another process may have finished first
                shutil.rmtree(path, ignore_errors=True)
                os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("toy route: untrained tiny model %s", path)
    return str(path)


def _toy_conversations(name: str, num_samples: int, seed: int) -> Any:
    """Every column of a toy math dataset, conversational, with the task settings of the toy model's warm start."""
    from .tasks import make_arithmetic_dataset, make_countdown_dataset

    if name not in TOY_MATH_DATASETS:
        raise ValueError(f"Unknown toy dataset {name!r}; use one of {sorted(TOY_MATH_DATASETS)}.")
    check_int(None, "num_samples", value=num_samples, low=1)
    task = TOY_MATH_DATASETS[name]
    builder = make_arithmetic_dataset if task == "arithmetic" else make_countdown_dataset
    return builder(num_samples, seed=seed, conversational=True, **TOY_WARM_START[task]["task_kwargs"])


def toy_math_dataset(name: str, num_samples: int, seed: int = 0) -> Any:
    """Rows of a toy math dataset (``toy-arithmetic`` / ``toy-countdown``) in the form the examples train on:
    conversational ``prompt`` (no system message) plus the columns its reward reads (``solution``; ``target`` and
    ``numbers`` for countdown), with the same task settings as the toy model's warm start."""
    data = _toy_conversations(name, num_samples, seed)
    keep = ["prompt", "solution"] + (["target", "numbers"] if TOY_MATH_DATASETS[name] == "countdown" else [])
    return data.select_columns(keep)


def toy_sft_dataset(name: str, num_samples: int, seed: int = 0) -> Any:
    """Prompt-completion rows of a toy math dataset for the SFT examples: conversational ``prompt`` and
    ``completion`` (``<think>…</think>\\boxed{…}``), the form of the toy model's warm start."""
    return _toy_conversations(name, num_samples, seed).select_columns(["prompt", "completion"])


def toy_math_reward(name: str) -> Callable[..., list[float | None]]:
    """The reward of a toy math dataset: `math_accuracy_reward` for ``toy-arithmetic`` (as for real math data),
    `countdown_reward` (every number used once, exact value) for ``toy-countdown``."""
    if name not in TOY_MATH_DATASETS:
        raise ValueError(f"Unknown toy dataset {name!r}; use one of {sorted(TOY_MATH_DATASETS)}.")
    if TOY_MATH_DATASETS[name] == "countdown":
        from .tasks import countdown_reward

        return countdown_reward
    from ..rewards import math_accuracy_reward

    return math_accuracy_reward


#: Warm start of the answer-choice toy route's model (`toy_multiple_choice_model_path`): conversational rows of the
#: three prompt formats with 0 or 1 in-context example (short rows keep the warm start fast; the model's 512 positions
#: hold about two)
TOY_MC_WARM_START: dict[str, Any] = {
    "max_steps": 100,
    "learning_rate": 1e-2,
    "per_device_train_batch_size": 16,
    "task_kwargs": {"max_shots": 1},
}


def toy_multiple_choice_model_path(*, seed: int = 0, max_steps: int | None = None) -> str:
    """The answer-choice toy route's model: a tiny Qwen2 warm-started (`trl_explore.toy.warm_start`, cached on disk)
    on conversational rows of `trl_explore.toy.multiple_choice.make_multiple_choice_sft_dataset`, so it answers toy multiple-choice questions with a
    choice in all three formats. Trained with one CPU thread (restored afterwards): the model is too small for more
    threads to help, and a busy machine's cores are not oversubscribed.

    Args:
        seed (`int`, *optional*, defaults to `0`): seed of the warm start.
        max_steps (`int`, *optional*): SFT steps instead of `TOY_MC_WARM_START`'s.

    Returns:
        `str`: the checkpoint folder (model and tokenizer).
    """
    import torch

    from .warm_start import warm_start

    check_int(None, "seed", value=seed, low=0)
    settings = dict(TOY_MC_WARM_START)
    if max_steps is not None:
        settings["max_steps"] = check_int(None, "max_steps", value=max_steps, low=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = warm_start("multiple_choice", seed=seed, conversational=True, num_eval_prompts=32, **settings)
    finally:
        torch.set_num_threads(threads)
    logger.info("toy route: model %s (warm start on the toy multiple-choice task)", path)
    return str(path)
