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
    ds = Dataset.from_dict(
        {
            "problem": ["1+1?"],
            "answer": [2],
            "other": ["dropped"],
        }
    )
    out = to_prompt_solution(ds, "problem", "answer", system_prompt="Box it.")
    assert out.column_names == ["prompt", "solution"]
    assert out[0]["prompt"] == [{"role": "system", "content": "Box it."}, {"role": "user", "content": "1+1?"}]
    assert out[0]["solution"] == "2"
    no_system = to_prompt_solution(ds, "problem", "answer")
    assert no_system[0]["prompt"] == [{"role": "user", "content": "1+1?"}]
    with pytest.raises(ValueError, match="has \\['problem', 'answer', 'other'\\]"):
        to_prompt_solution(ds, "question", "answer")


@pytest.mark.parametrize("content", ["", "\n  \n"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_empty_data_file_is_a_value_error_naming_it(tmp_path, suffix, content):
    """An empty .jsonl ended in a bare StopIteration inside `datasets` (issue 25)."""
    path = tmp_path / f"empty{suffix}"
    path.write_text(content)
    with pytest.raises(ValueError, match=rf"Dataset file '{path}' is empty \(no rows\)"):
        load_any_dataset(str(path))


def test_unknown_toy_name_is_refused_without_the_hub():
    from trl_explore.data import check_toy_name

    with pytest.raises(ValueError, match=r"'toy-arithmetc' is not a toy dataset: .* Did you mean 'toy-arithmetic'\?"):
        load_any_dataset("toy-arithmetc")
    with pytest.raises(ValueError, match=r"use one of \['toy-mean'\]\.$"):
        check_toy_name("toy-zzz", ["toy-mean"])
    check_toy_name("toy-mean", ["toy-mean"])  # known: no error
    check_toy_name("org/toy-data")  # not a toy- name
