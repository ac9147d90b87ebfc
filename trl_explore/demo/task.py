"""The demo's task and starting model: the training and held-out prompts with their reward, and the warm start.

Every method and seed trains on the same prompts (the run seed only orders them) and is evaluated on the same held-out
prompts, drawn with another seed; every run starts from the same weights.
"""

from __future__ import annotations

import logging
import random
from functools import lru_cache
from typing import Any

from .regime import DemoUsageError

logger = logging.getLogger(__name__)


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@lru_cache(maxsize=4)
def _task_data_cached(task: str, model: str | None, n_train: int, n_eval: int, train_seed: int, eval_seed: int):
    if task == "countdown":
        from ..toy import countdown_reward, make_countdown_dataset

        train = make_countdown_dataset(n_train, seed=train_seed)
        held_out = make_countdown_dataset(n_eval, seed=eval_seed)
        return train, held_out, countdown_reward
    if task == "arithmetic":
        from ..rewards import math_accuracy_reward
        from ..toy import make_arithmetic_dataset

        train = make_arithmetic_dataset(n_train, seed=train_seed)
        held_out = make_arithmetic_dataset(n_eval, seed=eval_seed)
        return train, held_out, math_accuracy_reward
    from ..evaluation import load_math_dataset
    from ..rewards import math_accuracy_reward

    try:
        data = load_math_dataset(task, split="train").shuffle(seed=train_seed)
    except (OSError, ValueError, FileNotFoundError, ConnectionError) as err:
        raise DemoUsageError(f"Could not load the task dataset {task!r}: {err}") from err
    held = min(n_eval, len(data) // 5)
    if held < 1:
        raise DemoUsageError(f"Task dataset {task!r} has {len(data)} rows: too few for a held-out split.")
    return data.select(range(held, len(data))), data.select(range(held)), math_accuracy_reward


def prepare_task(settings: Any) -> tuple[Any, Any, Any]:
    """``(train_dataset, held_out_dataset, reward_func)``: the same prompts for every method and seed (the run seed
    orders the training prompts); the held-out prompts come from another seed."""
    n_train = settings.steps * settings.prompts_per_step
    return _task_data_cached(
        settings.task,
        settings.model,
        n_train,
        settings.eval_prompts,
        settings.train_data_seed,
        settings.eval_data_seed,
    )


def prepare_model(settings: Any) -> str:
    """The model every method starts from: `settings.model`, or the toy warm start of the task (cached)."""
    if settings.model is not None:
        from transformers import AutoConfig

        from ..toy.pretrained import resolve_pretrained

        try:
            model = resolve_pretrained(settings.model)  # `smollm2`: the cached offline SmolLM2-135M-Instruct
            AutoConfig.from_pretrained(model)
        except (OSError, ValueError) as err:
            raise DemoUsageError(f"Could not load the model {settings.model!r}: {err}") from err
        return model
    from ..toy import warm_start, warm_start_path

    kwargs = {"task": settings.task, "seed": settings.warm_start_seed, "max_steps": settings.warm_start_steps}
    cached = (warm_start_path(**kwargs) / "warm_start.json").is_file()
    logger.info("warm start: %s", "cached" if cached else "training the toy model once (cached afterwards)")
    return str(warm_start(**kwargs))
