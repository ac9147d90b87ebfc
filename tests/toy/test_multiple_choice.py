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


def test_sft_rows_answer_each_format_correctly():
    """Every row's last user turn is one of the three formats, its completion the correct answer worked out here:
    the symbol of the right choice (enumerated) or the right number (string, cloze); demonstrations are user /
    assistant pairs; plain rows are the text with a leading-space answer."""
    from trl_explore.toy import make_multiple_choice_sft_dataset, multiple_choice_reward

    ds = make_multiple_choice_sft_dataset(60, seed=2, max_shots=1)
    seen = set()
    for row in ds:
        *demos, last = row["prompt"]
        assert len(demos) in (0, 2) and [m["role"] for m in demos] == ["user", "assistant"][: len(demos)]
        a, op, b = re.search(r"What is (\d+)([-+*])(\d+)\?", last["content"]).groups()
        value = str(_OPS[op](int(a), int(b)))
        if last["content"].startswith("Question:"):  # enumerated: " A: 12" lines
            symbol = re.search(rf"\n ([A-D]): {re.escape(value)}(\n|$)", last["content"]).group(1)
            expected, fmt = symbol, "enumerated"
        else:
            expected, fmt = value, "string" if last["content"].startswith("question:") else "cloze"
        seen.add(fmt)
        assert row["completion"] == [{"role": "assistant", "content": expected}] and row["solution"] == expected
    assert seen == {"enumerated", "string", "cloze"}
    assert multiple_choice_reward(ds["completion"][:3], ds["solution"][:3]) == [1.0, 1.0, 1.0]
    plain = make_multiple_choice_sft_dataset(4, seed=2, conversational=False)
    assert all(
        isinstance(p, str) and c == " " + s for p, c, s in zip(plain["prompt"], plain["completion"], plain["solution"])
    )
