"""`load_multiple_choice_dataset` on local files in the MMLU, CommonsenseQA and OpenBookQA column conventions."""

import json

import pytest

from trl_explore.metrics import load_multiple_choice_dataset


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_mmlu_convention(tmp_path):
    path = _jsonl(
        tmp_path / "mmlu.jsonl",
        [
            {"question": "2+2?", "subject": "math", "choices": ["3", "4", "5", "6"], "answer": 1},
            {"question": "Letter answer?", "subject": "x", "choices": ["a", "b"], "answer": "B"},
        ],
    )
    ds = load_multiple_choice_dataset(path)
    assert ds.column_names == ["question", "choices", "answer"]
    assert ds[0] == {"question": "2+2?", "choices": ["3", "4", "5", "6"], "answer": 1}
    assert ds[1]["answer"] == 1


def test_mmlu_csv_layout(tmp_path):
    path = tmp_path / "mmlu.csv"
    path.write_text("question,A,B,C,D,answer\nWhich?,w,x,y,z,C\n")
    assert load_multiple_choice_dataset(str(path))[0] == {
        "question": "Which?",
        "choices": ["w", "x", "y", "z"],
        "answer": 2,
    }


def test_commonsense_qa_and_openbookqa_conventions(tmp_path):
    csqa = _jsonl(
        tmp_path / "csqa.jsonl",
        [
            {
                "id": "1",
                "question": "Where do fish live?",
                "question_concept": "fish",
                "choices": {"label": ["A", "B", "C", "D", "E"], "text": ["sea", "tree", "sky", "car", "desk"]},
                "answerKey": "A",
            }
        ],
    )
    obqa = _jsonl(
        tmp_path / "obqa.jsonl",
        [
            {
                "id": "7",
                "question_stem": "The sun is a",
                "choices": {"text": ["star", "planet", "moon", "comet"], "label": ["A", "B", "C", "D"]},
                "answerKey": "A",
            }
        ],
    )
    arc = _jsonl(
        tmp_path / "arc.jsonl",
        [
            {
                "question": "Q",
                "choices": {"text": ["x", "y", "z"], "label": ["1", "2", "3"]},
                "answerKey": "3",
            }
        ],
    )
    assert load_multiple_choice_dataset(csqa)[0] == {
        "question": "Where do fish live?",
        "choices": ["sea", "tree", "sky", "car", "desk"],
        "answer": 0,
    }
    assert load_multiple_choice_dataset(obqa)[0]["question"] == "The sun is a"
    assert load_multiple_choice_dataset(arc)[0]["answer"] == 2
    assert len(load_multiple_choice_dataset(csqa, limit=1)) == 1


def test_errors(tmp_path):
    unlabelled = _jsonl(
        tmp_path / "test.jsonl",
        [{"question": "Q", "choices": {"label": ["A", "B"], "text": ["x", "y"]}, "answerKey": ""}],
    )
    with pytest.raises(ValueError, match="row 0.*unlabelled"):
        load_multiple_choice_dataset(unlabelled)
    odd = _jsonl(tmp_path / "odd.jsonl", [{"prompt": "Q", "choices": ["x", "y"], "answer": 0}])
    with pytest.raises(ValueError, match="question column"):
        load_multiple_choice_dataset(odd)
    assert load_multiple_choice_dataset(odd, question_column="prompt")[0]["question"] == "Q"
    out_of_range = _jsonl(tmp_path / "oor.jsonl", [{"question": "Q", "choices": ["x", "y"], "answer": 5}])
    with pytest.raises(ValueError, match="out of range"):
        load_multiple_choice_dataset(out_of_range)
    with pytest.raises(ValueError, match="limit"):
        load_multiple_choice_dataset(odd, limit=0)
