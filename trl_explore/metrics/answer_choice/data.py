"""Loading multiple-choice sets (MMLU, CommonsenseQA / ARC, OpenBookQA conventions) into ``question``, ``choices``,
``answer`` rows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._validation import check_int
from ...data import pick_column
from .prompts import SYMBOLS

if TYPE_CHECKING:  # pragma: no cover
    import datasets

__all__ = ["load_multiple_choice_dataset"]

QUESTION_COLUMNS = ("question", "question_stem", "Question", "query")
CHOICES_COLUMNS = ("choices", "options", "endings")
ANSWER_COLUMNS = ("answer", "answerKey", "label", "gold", "Answer")


def _normalise_row(row: Mapping[str, Any], q_col: str, c_col: str | None, a_col: str) -> dict[str, Any]:
    question = row[q_col]
    if isinstance(question, Mapping):  # OpenBookQA-style nesting: {"stem": ...}
        question = question.get("stem", question)
    if c_col is None:  # MMLU's original CSV layout: columns A, B, C, D
        texts = [row[s] for s in SYMBOLS if s in row and row[s] is not None]
        labels = list(SYMBOLS[: len(texts)])
    else:
        raw = row[c_col]
        if isinstance(raw, Mapping):  # CommonsenseQA / OpenBookQA / ARC: {"label": [...], "text": [...]}
            texts, labels = list(raw["text"]), [str(x) for x in raw["label"]]
        else:  # MMLU: a list of strings
            texts, labels = list(raw), list(SYMBOLS[: len(raw)])
    answer = row[a_col]
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        index = int(answer)
    elif isinstance(answer, str) and answer.strip() in labels:
        index = labels.index(answer.strip())
    elif isinstance(answer, str) and answer.strip().isdigit():
        index = int(answer.strip())
    else:
        raise ValueError(
            f"answer {answer!r} is neither a choice index nor one of the labels {labels} (the test splits of "
            "CommonsenseQA and similar sets are unlabelled: use their validation split)."
        )
    if not 0 <= index < len(texts):
        raise ValueError(f"answer index {index} is out of range for {len(texts)} choices.")
    return {"question": str(question), "choices": [str(t) for t in texts], "answer": index}


def load_multiple_choice_dataset(
    name_or_path: str,
    split: str = "test",
    subset: str | None = None,
    limit: int | None = None,
    question_column: str | None = None,
    choices_column: str | None = None,
    answer_column: str | None = None,
) -> datasets.Dataset:
    """Load a multiple-choice set from the Hub or a local file and normalise it to ``question``, ``choices`` (list of
    strings) and ``answer`` (index of the correct choice).

    Column conventions recognised:

    * MMLU (``cais/mmlu``, subset ``all``): ``question``, ``choices`` (list), ``answer`` (index or letter); also
      the original CSV layout with columns ``A``, ``B``, ``C``, ``D``;
    * CommonsenseQA (``tau/commonsense_qa``, split ``validation``) and ARC: ``question``, ``choices`` =
      ``{"label": [...], "text": [...]}``, ``answerKey`` (a label);
    * OpenBookQA (``allenai/openbookqa``, subset ``main``): ``question_stem`` instead of ``question``.

    Args:
        name_or_path (`str`): Hub dataset name, local ``.jsonl``/``.json``/``.csv``/``.parquet`` file, or a folder
            written by ``save_to_disk``.
        split (`str`, *optional*, defaults to `"test"`): split to load (local single files ignore it).
        subset (`str`, *optional*): Hub configuration name.
        limit (`int`, *optional*): keep the first `limit` questions.
        question_column (`str`, *optional*): override the detected question column.
        choices_column (`str`, *optional*): override the detected choices column.
        answer_column (`str`, *optional*): override the detected answer column.

    Returns:
        `datasets.Dataset` with exactly the columns ``question``, ``choices``, ``answer``.
    """
    from ...data import load_any_dataset

    if limit is not None:
        check_int(None, "limit", value=limit, low=1)
    data = load_any_dataset(name_or_path, subset, split=None if Path(name_or_path).exists() else split)
    ds = data[split] if split in data else data["train"] if len(data) == 1 else data[split]
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    columns = ds.column_names
    q_col = pick_column(columns, question_column, QUESTION_COLUMNS, "question")
    a_col = pick_column(columns, answer_column, ANSWER_COLUMNS, "answer")
    if choices_column is None and not any(c in columns for c in CHOICES_COLUMNS) and {"A", "B"} <= set(columns):
        c_col = None
    else:
        c_col = pick_column(columns, choices_column, CHOICES_COLUMNS, "choices")

    def normalise(row: dict[str, Any], index: int) -> dict[str, Any]:
        try:
            return _normalise_row(row, q_col, c_col, a_col)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{name_or_path}, row {index}: {err}") from err

    from datasets import Features, Value
    from datasets import Sequence as ListOf

    features = Features({"question": Value("string"), "choices": ListOf(Value("string")), "answer": Value("int64")})
    return ds.map(
        normalise,
        with_indices=True,
        remove_columns=columns,
        features=features,
        desc="normalising multiple-choice columns",
    )
