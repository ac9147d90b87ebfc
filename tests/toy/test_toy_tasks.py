"""Toy tasks: dataset columns, correct solutions, countdown reward, and the safe arithmetic parser."""

from __future__ import annotations

import builtins
import time
from fractions import Fraction

import pytest

from trl_explore.toy import (
    arithmetic_reward,
    countdown_reward,
    countdown_solutions,
    make_arithmetic_dataset,
    make_countdown_dataset,
    verify_countdown,
)
from trl_explore.toy.expression import ExpressionError, last_boxed_content, parse_expression

# ----------------------------------------------------------------------------------------------------------------------
# Arithmetic
# ----------------------------------------------------------------------------------------------------------------------


def test_arithmetic_columns_and_answers() -> None:
    ds = make_arithmetic_dataset(200, seed=1, num_steps=3)
    assert set(ds.column_names) == {"prompt", "solution", "completion", "expression", "answer"}
    for row in ds:
        assert row["prompt"] == f"Compute {row['expression']}\n"
        # The expression is a safe-parser-valid formula whose standard-precedence value is the answer.
        assert parse_expression(row["expression"]).value == row["answer"]
        assert row["solution"] == f"\\boxed{{{row['answer']}}}"
        assert row["completion"].startswith("<think>") and row["completion"].endswith(row["solution"])
        assert row["completion"].count("=") == 3  # one step per operation
    # The stored completion earns full reward on its own solution.
    assert arithmetic_reward(ds["completion"], ds["solution"]) == [1.0] * len(ds)


def test_arithmetic_hand_example() -> None:
    """Seeded draws are deterministic; check one row by hand: the think steps chain left to right."""
    row = make_arithmetic_dataset(1, seed=0, num_steps=2)[0]
    steps = row["completion"][len("<think>") : row["completion"].index("</think>")].split(",")
    assert len(steps) == 2
    a, rest = steps[0].split("=")
    first = int(rest)
    assert parse_expression(a).value == first
    b, rest = steps[1].split("=")
    assert b.startswith(str(first)) and int(rest) == row["answer"]
    assert make_arithmetic_dataset(5, seed=3)["prompt"] == make_arithmetic_dataset(5, seed=3)["prompt"]
    assert make_arithmetic_dataset(5, seed=3)["prompt"] != make_arithmetic_dataset(5, seed=4)["prompt"]


def test_arithmetic_precedence_parentheses() -> None:
    """(3+4)*2 needs parentheses for left-to-right order; 3*4+2 does not."""
    ds = make_arithmetic_dataset(300, seed=2, num_steps=2)
    assert any(e.startswith("(") for e in ds["expression"])
    for e, ans in zip(ds["expression"], ds["answer"]):
        assert parse_expression(e).value == ans


def test_arithmetic_division_is_exact() -> None:
    ds = make_arithmetic_dataset(100, seed=0, operations="/*", num_steps=3)
    for e, ans in zip(ds["expression"], ds["answer"]):
        assert parse_expression(e).value == Fraction(ans)


def test_arithmetic_conversational_and_math_reward() -> None:
    ds = make_arithmetic_dataset(20, seed=0, conversational=True)
    row = ds[0]
    assert row["prompt"] == [{"role": "user", "content": f"Compute {row['expression']}"}]
    assert row["completion"][0]["role"] == "assistant"
    from trl_explore.rewards import math_accuracy_reward

    assert math_accuracy_reward(ds["completion"], ds["solution"]) == [1.0] * len(ds)
    wrong = [[{"role": "assistant", "content": f"\\boxed{{{a + 1}}}"}] for a in ds["answer"]]
    assert math_accuracy_reward(wrong, ds["solution"]) == [0.0] * len(ds)
    assert arithmetic_reward(wrong, ds["solution"]) == [0.0] * len(ds)


def test_arithmetic_reward_values() -> None:
    completions = ["<think>..</think>\\boxed{14}", "\\boxed{-3}", "\\boxed{14} then \\boxed{15}", "14", "\\boxed{1e1}"]
    solutions = ["\\boxed{14}", "\\boxed{-3}", "\\boxed{14}", "\\boxed{14}", "\\boxed{10}"]
    assert arithmetic_reward(completions, solutions) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert arithmetic_reward(["\\boxed{1}"], ["no box"]) == [None]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_samples": -1}, "num_samples"),
        ({"num_samples": 1, "num_steps": 0}, "num_steps"),
        ({"num_samples": 1, "max_operand": 0}, "max_operand"),
        ({"num_samples": 1, "operations": "+^"}, "operations"),
    ],
)
def test_arithmetic_invalid(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        make_arithmetic_dataset(**kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# Countdown
# ----------------------------------------------------------------------------------------------------------------------


def test_countdown_columns_and_every_solution_verifies() -> None:
    ds = make_countdown_dataset(500, seed=0)
    assert set(ds.column_names) == {"prompt", "solution", "target", "numbers", "completion", "num_solutions"}
    for row in ds:
        nums = " ".join(map(str, row["numbers"]))
        assert row["prompt"] == f"Use {nums} to make {row['target']}\n"
        assert row["solution"] == str(row["target"])
        assert len(row["numbers"]) == 3 and all(1 <= n <= 9 for n in row["numbers"])
        assert 1 <= row["target"] <= 99
        assert row["num_solutions"] >= 2
        assert len(row["prompt"]) < 40
    assert countdown_reward(ds["completion"], ds["target"], ds["numbers"]) == [1.0] * len(ds)
    # Many samples have several distinct solutions: exploration has something to find.
    assert sum(n >= 4 for n in ds["num_solutions"]) > len(ds) // 2


def test_countdown_enumerated_solutions_all_verify() -> None:
    ds = make_countdown_dataset(30, seed=5, num_numbers=4, max_target=200, min_solutions=3)
    for row in ds:
        sols = countdown_solutions(row["numbers"], row["target"])
        assert len(sols) == row["num_solutions"] >= 3
        assert all(verify_countdown(s, row["target"], row["numbers"]) for s in sols)
        assert countdown_reward(
            [f"\\boxed{{{s}}}" for s in sols], [row["target"]] * len(sols), [row["numbers"]] * len(sols)
        ) == [1.0] * len(sols)


def test_countdown_hand_example() -> None:
    """numbers 3 5 7, target 22: 3*5+7 = 15+7 = 22; (7-5)*3 = 6 is not 22; 3*5*7 = 105."""
    sols = countdown_solutions([3, 5, 7], 22)
    assert "3*5+7" in sols and "7+5*3" in sols
    assert all(verify_countdown(s, 22, [3, 5, 7]) for s in sols)
    completions = [
        "<think>3*5=15,15+7=22</think>\\boxed{3*5+7}",  # correct
        "\\boxed{7+3*5}",  # correct, other order
        "\\boxed{3*5+7=22}",  # trailing '= target' is ignored
        "\\boxed{(7-5)*3}",  # wrong value (6)
        "\\boxed{3*5*7}",  # wrong value (105)
        "\\boxed{22}",  # does not use the numbers
        "\\boxed{3*5+7+0}",  # extra number
        "\\boxed{3*5+7} wait \\boxed{3+5+7}",  # last box counts (15)
        "3*5+7",  # no box
        "\\boxed{15+7}",  # wrong numbers
        "\\boxed{3*5+-7+14}",  # unary minus rejected
    ]
    n = len(completions)
    expected = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert countdown_reward(completions, [22] * n, [[3, 5, 7]] * n) == expected
    conv = [[{"role": "assistant", "content": c}] for c in completions]
    assert countdown_reward(conv, [22] * n, [[3, 5, 7]] * n) == expected


def test_countdown_division_and_fractions() -> None:
    """8/(3-8/3) = 8/(1/3) = 24 (exact fractions, no rounding); 7/2*2 = 7 exactly."""
    assert verify_countdown("8/(3-8/3)", 24, [8, 3, 8, 3])
    assert verify_countdown("7/2*2", 7, [7, 2, 2])
    assert not verify_countdown("7/(2-2)", 7, [7, 2, 2])  # division by zero is invalid, not a crash
    assert countdown_reward(["\\boxed{1}"], [None], [[1]]) == [None]


def test_countdown_deterministic_and_invalid() -> None:
    assert make_countdown_dataset(10, seed=1)["prompt"] == make_countdown_dataset(10, seed=1)["prompt"]
    assert make_countdown_dataset(10, seed=1)["prompt"] != make_countdown_dataset(10, seed=2)["prompt"]
    with pytest.raises(ValueError, match="num_numbers"):
        make_countdown_dataset(1, num_numbers=6)
    with pytest.raises(ValueError, match="max_target"):
        make_countdown_dataset(1, min_target=10, max_target=5)
    with pytest.raises(ValueError, match="min_solutions"):
        make_countdown_dataset(1, min_solutions=0)
    with pytest.raises(ValueError, match="could not draw"):
        make_countdown_dataset(1, num_numbers=2, max_number=1, min_target=50, max_target=60)


def test_countdown_conversational() -> None:
    ds = make_countdown_dataset(5, seed=0, conversational=True, system_prompt="Answer in \\boxed{}.")
    row = ds[0]
    assert row["prompt"][0] == {"role": "system", "content": "Answer in \\boxed{}."}
    assert row["prompt"][1]["role"] == "user" and not row["prompt"][1]["content"].endswith("\n")
    assert countdown_reward(ds["completion"], ds["target"], ds["numbers"]) == [1.0] * 5


# ----------------------------------------------------------------------------------------------------------------------
# Safe parser
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,value,literals",
    [
        ("1+2*3", 7, (1, 2, 3)),
        ("(1+2)*3", 9, (1, 2, 3)),
        ("10-4-3", 3, (10, 4, 3)),  # left-associative: (10-4)-3
        ("8/4/2", 1, (8, 4, 2)),  # (8/4)/2
        ("2/3", Fraction(2, 3), (2, 3)),
        (" ( 7 ) ", 7, (7,)),
        ("((((5))))", 5, (5,)),
    ],
)
def test_parser_values(text: str, value, literals) -> None:
    parsed = parse_expression(text)
    assert parsed.value == value and parsed.literals == literals


def test_parser_unary_minus_option() -> None:
    with pytest.raises(ExpressionError):
        parse_expression("-3+5")
    assert parse_expression("-3+5", allow_unary_minus=True).value == 2
    assert parse_expression("2*-(3)", allow_unary_minus=True).value == -6


MALICIOUS = [
    "__import__('os').system('touch /tmp/trl_explore_pwned')",
    "open('/etc/passwd').read()",
    "exec('1')",
    "eval('2+2')",
    "lambda: 1",
    "1 if True else 2",
    "2**10",  # power is not an operator here
    "9**9**9**9",
    "1e308*10",
    "0x10",
    "1_000",
    "().__class__.__bases__[0].__subclasses__()",
    "1;2",
    "3 5",
    "(1+2",
    "1+2)",
    "",
    "   ",
    "+",
    "1+",
    "*1",
    "٣+٤",  # non-ASCII digits
    "1" * 13,  # 13-digit literal
    "1" * 10_000,
    "(" * 10_000 + "1" + ")" * 10_000,
    "+".join(["1"] * 100),  # 199 tokens
    "x" * 1_000_000,
    "1/0",
    "(1-1)/(2-2)",
]


@pytest.mark.parametrize("text", MALICIOUS, ids=range(len(MALICIOUS)))
def test_parser_rejects_malicious_and_oversized(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse_expression(text)


def test_nothing_is_executed(monkeypatch, tmp_path) -> None:
    """With eval/exec/compile/__import__ trapped, grading injection strings raises nothing and scores 0."""

    def trap(*args, **kwargs):
        raise AssertionError("model text reached a code-execution builtin")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, trap)
    marker = tmp_path / "pwned"
    payloads = [f"\\boxed{{__import__('os').system('touch {marker}')}}", *(f"\\boxed{{{m}}}" for m in MALICIOUS)]
    rewards = countdown_reward(payloads, [1] * len(payloads), [[1]] * len(payloads))
    assert rewards == [0.0] * len(payloads)
    assert not marker.exists()


def test_huge_inputs_are_fast() -> None:
    """A batch of 12 hostile completions (1 MB each) is graded in well under a second per item."""
    hostile = [
        "x" * 1_000_000 + "\\boxed{" + "9" * 1_000_000 + "}",
        "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}",
        "\\boxed{" * 100_000,
        "}" * 1_000_000,
        "\\boxed{" + "(" * 100_000 + "1" + ")" * 100_000 + "}",
        "\\boxed{" + "*".join(["9"] * 50_000) + "}",
    ] * 2
    start = time.perf_counter()
    rewards = countdown_reward(hostile, [1] * 12, [[1]] * 12)
    assert rewards == [0.0] * 12
    assert time.perf_counter() - start < 5.0


def test_last_boxed_content() -> None:
    assert last_boxed_content("a \\boxed{1} b \\boxed{2+{3}} c") == "2+{3}"
    assert last_boxed_content("\\boxed{unclosed") is None
    assert last_boxed_content("nothing") is None
    assert last_boxed_content("\\boxed{" + "1" * 300 + "}") is None  # longer than the limit
    assert last_boxed_content(None) is None  # type: ignore[arg-type]
