"""Checks of what users hand to the trainers, before TRL sees it: a model given as a `pathlib.Path`, and datasets
that are empty or lack the columns the trainer reads (refused with the columns they have)."""

from __future__ import annotations

import os
from typing import Any

from ..data import check_dataset

__all__ = ["check_grpo_datasets", "check_sft_datasets", "model_as_str"]


def model_as_str(model: Any) -> Any:
    """A model given as an `os.PathLike` (``warm_start()`` returns a `pathlib.Path`) becomes its `str` path, which is
    what TRL's trainers load; anything else is returned unchanged."""
    return os.fspath(model) if isinstance(model, os.PathLike) else model


def _each(dataset: Any, name: str):
    if dataset is None:
        return
    if isinstance(dataset, dict):
        for key, value in dataset.items():
            yield value, f"{name}[{key!r}]"
    else:
        yield dataset, name


def check_grpo_datasets(train_dataset: Any, eval_dataset: Any, *, needs_prompt: bool = True) -> None:
    """GRPO reads a ``prompt`` column; refuse an empty dataset or one without it (train and eval, a dict of eval
    datasets included). With an ``environment_factory`` (``needs_prompt=False``) the environment may supply the
    conversation (TRL routes rows by their ``environment`` column): only emptiness is checked."""
    columns = ["prompt"] if needs_prompt else []
    for dataset, name in [*_each(train_dataset, "train_dataset"), *_each(eval_dataset, "eval_dataset")]:
        check_dataset(dataset, columns, name)


def check_sft_datasets(train_dataset: Any, eval_dataset: Any, args: Any, formatting_func: Any = None) -> None:
    """SFT reads text (``dataset_text_field``), conversations (``messages`` / ``conversations``), prompt-completion
    rows or pre-tokenized ``input_ids``; refuse an empty dataset or one with none of these columns (any columns do
    with a ``formatting_func``)."""
    text_field = getattr(args, "dataset_text_field", None) or "text"
    columns = [] if formatting_func is not None else [text_field, "messages", "conversations", "prompt", "input_ids"]
    for dataset, name in [*_each(train_dataset, "train_dataset"), *_each(eval_dataset, "eval_dataset")]:
        check_dataset(dataset, columns, name, any_of=True)
