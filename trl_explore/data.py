"""Dataset loading shared by the example scripts, the evaluation helpers and the demo: a Hub name or a local path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import datasets

#: Local data files by extension -> `datasets` builder.
DATA_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
#: The synthetic datasets of the toy kit, by name (each script takes the ones it knows); any other ``toy-`` name is
#: refused at once instead of being looked up on the Hub
TOY_DATASETS = ("toy-arithmetic", "toy-countdown", "toy-tools", "toy-mc", "toy-mean")


def check_toy_name(name: str, known: Sequence[str] = TOY_DATASETS, option: str = "--dataset_name") -> None:
    """Refuse a ``toy-`` dataset name that is not one of ``known``, with the list and the closest match.

    Raises:
        ValueError: ``<option> 'toy-nope' is not a toy dataset: use one of [...]. Did you mean 'toy-...'?``
    """
    import difflib

    if not isinstance(name, str) or not name.startswith("toy-") or name in known:
        return
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{option} {name!r} is not a toy dataset: use one of {sorted(known)}.{hint}")


def _is_empty_file(path: str) -> bool:
    """A file with no bytes, or only whitespace (``datasets`` fails on it with a bare `StopIteration`)."""
    if os.path.getsize(path) == 0:
        return True
    if os.path.getsize(path) > 4096:
        return False
    with open(path, "rb") as f:
        return not f.read().strip()


def pick_column(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str) -> str:
    """The column holding `what`: `wanted` when given (it must exist), else the first of `candidates` present.

    Raises:
        ValueError: naming the columns, when `wanted` is missing or no candidate is present.
    """
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"{what} column {wanted!r} not in the dataset's columns {list(columns)}.")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise ValueError(
        f"Could not find a {what} column among {list(columns)}; pass it explicitly (one of {list(candidates)} "
        "is expected)."
    )


def load_any_dataset(name_or_path: str, config: str | None = None, split: str | None = None) -> datasets.DatasetDict:
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
        ValueError: for a missing name, an unknown ``toy-`` name (`check_toy_name`), an empty data file, or a local
            file with an unsupported extension.
        FileNotFoundError: for a path (a name with a data-file extension, or starting with ``/``, ``./``, ``~``) that
            does not exist.
    """
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    if name_or_path is None or not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise ValueError(f"`dataset_name` must be a Hub dataset name or a local path, got {name_or_path!r}.")
    name_or_path = os.path.expanduser(os.fspath(name_or_path))
    if not os.path.exists(name_or_path):
        check_toy_name(name_or_path)
    looks_local = name_or_path.startswith(("/", "./", "../")) or os.path.splitext(name_or_path)[1].lower() in (
        DATA_FILE_BUILDERS
    )
    if looks_local and not os.path.exists(name_or_path):
        raise FileNotFoundError(f"Dataset {name_or_path!r} not found (no such file or folder).")
    if os.path.isfile(name_or_path):
        ext = os.path.splitext(name_or_path)[1].lower()
        if ext not in DATA_FILE_BUILDERS:
            raise ValueError(
                f"Unsupported dataset file {name_or_path!r}: use one of {sorted(DATA_FILE_BUILDERS)} or a Hub name."
            )
        empty = f"Dataset file {name_or_path!r} is empty (no rows): fill it, or choose another --dataset_name."
        if _is_empty_file(name_or_path):
            raise ValueError(empty)
        try:
            return load_dataset(DATA_FILE_BUILDERS[ext], data_files=name_or_path)
        except StopIteration as err:  # `datasets`' json builder on a file without a row
            raise ValueError(empty) from err
        except ValueError as err:  # `datasets` says 'Instruction "train" corresponds to no data!' for 0 rows
            if "corresponds to no data" in str(err):
                raise ValueError(empty) from err
            raise
    if os.path.isdir(name_or_path) and (
        os.path.exists(os.path.join(name_or_path, "dataset_dict.json"))
        or os.path.exists(os.path.join(name_or_path, "dataset_info.json"))
    ):
        loaded = load_from_disk(name_or_path)
        return DatasetDict({"train": loaded}) if isinstance(loaded, Dataset) else loaded
    if split is not None:
        return DatasetDict({split: load_dataset(name_or_path, name=config, split=split)})
    return load_dataset(name_or_path, name=config)


def load_split(data: datasets.DatasetDict, split: str, name: str | None = None) -> datasets.Dataset:
    """``data[split]``, or a `ValueError` that lists the splits there are (instead of a `KeyError`)."""
    if split not in data:
        where = f" of {name!r}" if name else ""
        raise ValueError(f"Split {split!r} not found{where}; it has {sorted(data)}.")
    return data[split]


def check_dataset(dataset: Any, columns: Sequence[str] = (), what: str = "dataset", *, any_of: bool = False) -> None:
    """Refuse an empty dataset, or one without the needed columns, before anything trains on it.

    Args:
        dataset: a `datasets.Dataset` (an `IterableDataset` without known columns passes the column check and is not
            counted).
        columns: the column names it needs (all of them; with ``any_of=True``, at least one).
        what: how the error names it (``"train_dataset"``, ``"the train split of 'x.jsonl'"``).

    Raises:
        ValueError: naming `what`, the missing column(s) and the columns the dataset has.
    """
    names = getattr(dataset, "column_names", None)
    if names is not None and columns:
        missing = [c for c in columns if c not in names]
        if (any_of and len(missing) == len(columns)) or (not any_of and missing):
            need = f"one of the columns {list(columns)}" if any_of else f"the column(s) {missing}"
            raise ValueError(f"{what} needs {need}; it has {list(names)}.")
    try:
        size = len(dataset)
    except TypeError:  # an iterable dataset: its length is unknown until it is read
        return
    if size == 0:
        raise ValueError(f"{what} is empty (0 rows; columns {list(names or [])}): nothing to train or evaluate on.")


def to_prompt_solution(
    dataset: datasets.Dataset,
    problem_column: str = "problem",
    solution_column: str = "solution",
    system_prompt: str | None = None,
) -> datasets.Dataset:
    """Map rows to TRL's conversational ``prompt`` plus the ``solution`` column the math reward reads.

    String problems become ``[system?, user]`` messages; conversational problems are kept. Other columns are dropped.

    Raises:
        ValueError: when a column is missing (the message lists the dataset's columns) or the dataset is empty.
    """
    for column in (problem_column, solution_column):
        if column not in dataset.column_names:
            raise ValueError(
                f"Column {column!r} not found; the dataset has {dataset.column_names} (choose the columns with "
                "--problem_column / --solution_column)."
            )
    check_dataset(dataset, (), "the dataset")

    def convert(example: dict[str, Any]) -> dict[str, Any]:
        problem = example[problem_column]
        if isinstance(problem, str):
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            problem = [*messages, {"role": "user", "content": problem}]
        return {"prompt": problem, "solution": str(example[solution_column])}

    keep = {"prompt", "solution"}
    return dataset.map(convert, remove_columns=[c for c in dataset.column_names if c not in keep])
