"""The toy multiple-choice task: MMLU columns, a correct answer among distinct choices, uniform answer positions."""

import re
from collections import Counter

import pytest

from trl_explore.toy import make_multiple_choice_dataset

_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def test_columns_answers_and_distinct_choices():
    ds = make_multiple_choice_dataset(400, seed=1)
    assert ds.column_names == ["question", "choices", "answer"]
    for row in ds:
        a, op, b = re.fullmatch(r"What is (\d+)([-+*])(\d+)\?", row["question"]).groups()
        assert row["choices"][row["answer"]] == str(_OPS[op](int(a), int(b)))
        assert len(row["choices"]) == 4 and len(set(row["choices"])) == 4
    counts = Counter(ds["answer"])
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 60  # ~100 each


def test_seeded_and_options():
    assert make_multiple_choice_dataset(5, seed=3)[:] == make_multiple_choice_dataset(5, seed=3)[:]
    assert make_multiple_choice_dataset(5, seed=3)[:] != make_multiple_choice_dataset(5, seed=4)[:]
    ds = make_multiple_choice_dataset(20, num_choices=7, operations="+", question_template="{a} {op} {b} =")
    assert all(len(c) == 7 and len(set(c)) == 7 for c in ds["choices"])
    assert all(q.endswith(" =") and "+" in q for q in ds["question"])
    assert len(make_multiple_choice_dataset(0)) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_samples": -1}, "num_samples"),
        ({"num_samples": 2, "num_choices": 1}, "num_choices"),
        ({"num_samples": 2, "num_choices": 27}, "num_choices"),
        ({"num_samples": 2, "max_operand": 0}, "max_operand"),
        ({"num_samples": 2, "operations": "/"}, "operations"),
        ({"num_samples": 2, "question_template": "What is {a}?"}, "question_template"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_multiple_choice_dataset(**kwargs)
