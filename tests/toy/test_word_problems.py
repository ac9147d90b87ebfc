"""`trl_explore.toy.word_problems`: English one-step arithmetic questions for real chat models (issue 27)."""

from __future__ import annotations

import re

import pytest

from trl_explore.toy import make_word_problem_dataset, sample_word_problems

# the operation each template's wording implies (read off the sentences, independently of the generator)
_PLUS = ("more", "another box")
_MINUS = ("gave", "took")
_TIMES = ("in each",)


def _solve(question: str) -> int:
    a, b = (int(x) for x in re.findall(r"\d+", question))
    if any(w in question for w in _TIMES):
        return a * b
    if any(w in question for w in _MINUS):
        return a - b
    assert any(w in question for w in _PLUS), question
    return a + b


def test_answers_agree_with_the_wording():
    pairs = sample_word_problems(300, seed=3)
    assert len({q for q, _ in pairs}) > 200  # varied
    for question, answer in pairs:
        assert answer == _solve(question) >= 0


def test_dataset_rows_are_conversational_with_a_boxed_instruction():
    data = make_word_problem_dataset(5, seed=1)
    assert data.column_names == ["prompt", "solution"]
    row = data[0]
    assert row["prompt"][0]["role"] == "user" and "\\boxed{}" in row["prompt"][0]["content"]
    assert int(row["solution"]) == _solve(row["prompt"][0]["content"].split("Think")[0])
    assert make_word_problem_dataset(5, seed=1)["prompt"] == data["prompt"]
    with pytest.raises(ValueError, match="num_problems"):
        sample_word_problems(0)
