"""Dataset loading shared by the example scripts, the evaluation helpers and the demo: a Hub name or a local path."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import datasets

#: Local data files by extension -> `datasets` builder.
DATA_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}


def load_any_dataset(
    name_or_path: str, config: str | None = None, split: str | None = None
) -> datasets.DatasetDict:
    """Load a dataset from the Hub or from disk, always as a `DatasetDict`.

    Args:
        name_or_path (`str`):
            A local data file (``.json``/``.jsonl``/``.csv``/``.parquet``/``.txt``: one ``"train"`` split), a folder
            written by ``save_to_disk`` (a `DatasetDict`, or a single `Dataset` exposed as ``"train"``), or a Hub
            dataset name.
        config (`str`, *optional*):
            Hub configuration name (e.g. ``"main"`` for GSM8K).
        split (`str`, *optional*):
            For Hub datasets, download only this split (returned as the dict's only key).

    Raises:
        ValueError: for a local file with an unsupported extension.
    """
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    if os.path.isfile(name_or_path):
        ext = os.path.splitext(name_or_path)[1].lower()
        if ext not in DATA_FILE_BUILDERS:
            raise ValueError(
                f"Unsupported dataset file {name_or_path!r}: use one of {sorted(DATA_FILE_BUILDERS)} or a Hub name."
            )
        return load_dataset(DATA_FILE_BUILDERS[ext], data_files=name_or_path)
    if os.path.isdir(name_or_path) and (
        os.path.exists(os.path.join(name_or_path, "dataset_dict.json"))
        or os.path.exists(os.path.join(name_or_path, "dataset_info.json"))
    ):
        loaded = load_from_disk(name_or_path)
        return DatasetDict({"train": loaded}) if isinstance(loaded, Dataset) else loaded
    if split is not None:
        return DatasetDict({split: load_dataset(name_or_path, name=config, split=split)})
    return load_dataset(name_or_path, name=config)


def to_prompt_solution(
    dataset: datasets.Dataset,
    problem_column: str = "problem",
    solution_column: str = "solution",
    system_prompt: str | None = None,
) -> datasets.Dataset:
    """Map rows to TRL's conversational ``prompt`` plus the ``solution`` column the math reward reads.

    String problems become ``[system?, user]`` messages; conversational problems are kept. Other columns are dropped.

    Raises:
        ValueError: when a column is missing (the message lists the dataset's columns).
    """
    for column in (problem_column, solution_column):
        if column not in dataset.column_names:
            raise ValueError(f"Column {column!r} not found; the dataset has {dataset.column_names}.")

    def convert(example: dict[str, Any]) -> dict[str, Any]:
        problem = example[problem_column]
        if isinstance(problem, str):
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            problem = [*messages, {"role": "user", "content": problem}]
        return {"prompt": problem, "solution": str(example[solution_column])}

    keep = {"prompt", "solution"}
    return dataset.map(convert, remove_columns=[c for c in dataset.column_names if c not in keep])
