"""`trl_explore.data`: local files, `save_to_disk` folders, and the prompt/solution mapping of the examples."""

import pytest
from datasets import Dataset, DatasetDict

from trl_explore.data import load_any_dataset, to_prompt_solution


def test_local_files_and_folders(tmp_path):
    (tmp_path / "corpus.txt").write_text("line one\nline two\n")
    assert load_any_dataset(str(tmp_path / "corpus.txt"))["train"]["text"] == ["line one", "line two"]

    Dataset.from_dict({"a": [1, 2]}).save_to_disk(str(tmp_path / "single"))
    assert load_any_dataset(str(tmp_path / "single"))["train"]["a"] == [1, 2]

    DatasetDict({"train": Dataset.from_dict({"a": [1]}), "test": Dataset.from_dict({"a": [2]})}).save_to_disk(
        str(tmp_path / "dict")
    )
    loaded = load_any_dataset(str(tmp_path / "dict"))
    assert set(loaded) == {"train", "test"} and loaded["test"]["a"] == [2]

    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(ValueError, match="Unsupported"):
        load_any_dataset(str(tmp_path / "x.xlsx"))


def test_to_prompt_solution():
    ds = Dataset.from_dict({
        "problem": ["1+1?"],
        "answer": [2],
        "other": ["dropped"],
    })
    out = to_prompt_solution(ds, "problem", "answer", system_prompt="Box it.")
    assert out.column_names == ["prompt", "solution"]
    assert out[0]["prompt"] == [{"role": "system", "content": "Box it."}, {"role": "user", "content": "1+1?"}]
    assert out[0]["solution"] == "2"
    no_system = to_prompt_solution(ds, "problem", "answer")
    assert no_system[0]["prompt"] == [{"role": "user", "content": "1+1?"}]
    with pytest.raises(ValueError, match="has \\['problem', 'answer', 'other'\\]"):
        to_prompt_solution(ds, "question", "answer")
