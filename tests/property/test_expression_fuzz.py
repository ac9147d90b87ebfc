"""Fuzzing the toy kit's safe arithmetic (`trl_explore.toy.expression`), which a calculator tool will reuse, and the
countdown / arithmetic rewards built on it.

Covered: any text (unicode, control characters, LaTeX, very long inputs, deep parentheses, huge literals) either
parses or raises `ExpressionError` (a `ValueError`), never anything else and never executes anything, within a small
time bound; the same with caller-chosen limits (long texts, deep nesting, many digits); valid expressions generated
from the grammar evaluate to the exact `Fraction` of their tree (a reference evaluator over the tree, standard
precedence, left-associative) with the literals in order, unchanged by whitespace; `last_boxed_content` returns the
content of the last balanced ``\\boxed{}`` or `None` within its search limits; `verify_countdown`, `countdown_reward` and
`arithmetic_reward` return their documented values on fuzzed completions; the calculator tool
(`trl_explore.toy.tools.calculator`, on main with SPEAR; skipped where absent) returns an exact number as text or raises
`ExpressionError` for any argument.
"""

from __future__ import annotations

import builtins
import importlib.util
import os
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trl_explore.toy.expression import (
    MAX_BOXED_SEARCH,
    ExpressionError,
    ParsedExpression,
    last_boxed_content,
    parse_expression,
    tokenize_expression,
)
from trl_explore.toy.tasks import arithmetic_reward, countdown_reward, verify_countdown

TIME_BOUND = 1.0  # seconds per call: everything here is linear in the (length-limited) input

# ------------------------------------------------------------------------------------------------------- strategies
_ALPHABET = "0123456789+-*/() \t\n\r"
_HOSTILE = "٠١٢३४५𝟙①¹½.,=^%!xe_\\{}[]$\x00\x0b\x0c\u00a0\u2009\u200b\u202e\ufeff−×÷⁄"


def texts(max_len: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(alphabet=_ALPHABET, max_size=max_len),
        st.text(alphabet=_ALPHABET + _HOSTILE, max_size=max_len),
        st.text(max_size=max_len),  # any unicode
        st.tuples(st.sampled_from(["(", "-", "-(", "((1", "1+", "9" * 13, "0/", "1/(1-1)"]), st.integers(1, max_len)).map(
            lambda t: t[0] * (t[1] // len(t[0]) + 1)
        ),
        st.sampled_from(["__import__('os').system('x')", "1e9**9**9", "9**9**9**9", "2^10", "1_000", "0x10", "1.5", "4//2"]),
    )  # fmt: skip


def trees(max_leaves: int = 20):
    """Expression trees: ``int`` leaves, ``("neg", t)`` and ``(op, left, right)`` nodes."""
    leaves = st.integers(0, 10**6)
    return st.recursive(
        leaves,
        lambda kids: st.one_of(st.tuples(st.sampled_from("+-*/"), kids, kids), st.tuples(st.just("neg"), kids)),
        max_leaves=max_leaves,
    )


def evaluate(tree) -> Fraction | None:
    """Reference value of a tree (`None` on a division by zero)."""
    if isinstance(tree, int):
        return Fraction(tree)
    if tree[0] == "neg":
        inner = evaluate(tree[1])
        return None if inner is None else -inner
    left, right = evaluate(tree[1]), evaluate(tree[2])
    if left is None or right is None:
        return None
    if tree[0] == "/":
        return None if right == 0 else left / right
    return {"+": left + right, "-": left - right, "*": left * right}[tree[0]]


def literals(tree) -> list[int]:
    if isinstance(tree, int):
        return [tree]
    return [x for child in tree[1:] for x in literals(child)]


def render(tree, space: str = "") -> str:
    """Fully parenthesised text, so the parse must follow the tree whatever the precedence rules."""
    if isinstance(tree, int):
        return str(tree)
    if tree[0] == "neg":
        return f"-({render(tree[1], space)})"
    return f"({render(tree[1], space)}{space}{tree[0]}{space}{render(tree[2], space)})"


# ---------------------------------------------------------------------------------------------------------- checks
def _parse_or_refuse(text: str, **limits) -> ParsedExpression | None:
    executed: list[str] = []
    saved = builtins.eval, builtins.exec, os.system

    def trap(*args, **kwargs):
        executed.append(repr(args)[:80])
        raise AssertionError("code execution attempted")

    builtins.eval = builtins.exec = os.system = trap
    try:
        start = time.monotonic()
        try:
            result = parse_expression(text, **limits)
        except ExpressionError:
            result = None
        elapsed = time.monotonic() - start
    finally:
        builtins.eval, builtins.exec, os.system = saved
    assert not executed
    assert elapsed < TIME_BOUND, f"{elapsed:.2f} s for {len(text)} characters"
    if result is not None:
        assert isinstance(result.value, Fraction) and all(isinstance(x, int) and x >= 0 for x in result.literals)
    return result


@settings(max_examples=150)
@given(texts(400))
def test_any_text_parses_or_raises_expression_error(text):
    _parse_or_refuse(text)
    _parse_or_refuse(text, allow_unary_minus=True)


@pytest.mark.slow
@settings(max_examples=3000)
@given(texts(5000))
def test_any_text_parses_or_raises_expression_error_slow(text):
    _parse_or_refuse(text)
    _parse_or_refuse(text, allow_unary_minus=True)


limits = st.fixed_dictionaries(
    {},
    optional={
        "max_length": st.integers(1, 100_000),
        "max_tokens": st.integers(1, 100_000),
        "max_digits": st.integers(1, 10_000),
        "max_depth": st.integers(1, 100_000),
        "allow_unary_minus": st.booleans(),
    },
)


@st.composite
def deep_texts(draw):
    depth = draw(st.one_of(st.integers(1, 40), st.integers(5_000, 20_000)))  # around max_depth; past recursion
    kind = draw(st.sampled_from(["parens", "minus", "mixed", "digits"]))
    if kind == "parens":
        return "(" * depth + "1" + ")" * depth
    if kind == "minus":
        return "-" * depth + "1"
    if kind == "mixed":
        return "(-" * depth + "1" + ")" * depth
    return "9" * depth


_GENEROUS = {"max_length": 10**6, "max_tokens": 10**6, "max_digits": 10**6, "max_depth": 10**6}


@settings(max_examples=60)
@given(
    st.one_of(deep_texts(), texts(2000)),
    st.one_of(limits, st.booleans().map(lambda unary: {**_GENEROUS, "allow_unary_minus": unary})),
)
def test_caller_chosen_limits_still_only_raise_expression_error(text, chosen):
    """Raising the limits (a calculator tool may allow longer input) never turns bad input into another exception:
    a nesting deeper than Python's recursion limit, or a literal longer than int()'s digit limit, is an
    `ExpressionError` too."""
    _parse_or_refuse(text, **chosen)


@pytest.mark.parametrize(
    ("text", "unary"),
    [
        pytest.param("(" * 5000 + "1" + ")" * 5000, False, id="parentheses-past-the-recursion-limit"),
        pytest.param("-" * 5000 + "1", True, id="unary-minus-past-the-recursion-limit"),
        pytest.param("9" * 5000, False, id="literal-past-int-conversion-limit"),
    ],
)
def test_raised_limits_regressions(text, unary):
    """Regression: with raised limits these raised RecursionError / a plain ValueError from int(), not
    ExpressionError; moderate nesting under raised limits still parses."""
    with pytest.raises(ExpressionError):
        parse_expression(text, allow_unary_minus=unary, **_GENEROUS)
    assert parse_expression("(" * 200 + "7" + ")" * 200, **_GENEROUS).value == 7
    assert parse_expression("9" * 4000, **_GENEROUS).value == int("9" * 4000)


@settings(max_examples=100)
@given(trees(), st.sampled_from(["", " ", "\t", " \n "]), st.booleans())
def test_valid_expressions_evaluate_exactly(tree, space, unary):
    text = render(tree, space)
    expected = evaluate(tree)
    has_neg = any(isinstance(node, tuple) and node[0] == "neg" for node in _nodes(tree))
    kwargs = {"max_length": 100_000, "max_tokens": 100_000, "max_depth": 100_000, "allow_unary_minus": unary}
    if expected is None or (has_neg and not unary):
        with pytest.raises(ExpressionError):
            parse_expression(text, **kwargs)
        return
    parsed = parse_expression(text, **kwargs)
    assert parsed.value == expected
    assert list(parsed.literals) == literals(tree)
    assert parse_expression(text.replace(space, "") if space else text, **kwargs).value == expected


def _nodes(tree):
    yield tree
    if isinstance(tree, tuple):
        for child in tree[1:]:
            yield from _nodes(child)


@settings(max_examples=60)
@given(st.lists(st.integers(0, 999), min_size=1, max_size=6), st.sampled_from("+-*"))
def test_standard_precedence_left_associative(numbers, op):
    """``a op b op c ...`` without parentheses: left-associative, the same value as folding from the left; mixing
    ``+`` and ``*`` follows the usual precedence."""
    text = op.join(map(str, numbers))
    expected = Fraction(numbers[0])
    for n in numbers[1:]:
        expected = {"+": expected + n, "-": expected - n, "*": expected * n}[op]
    assert parse_expression(text).value == expected
    if len(numbers) >= 3:
        a, b, c = numbers[:3]
        assert parse_expression(f"{a}+{b}*{c}").value == a + b * c
        assert parse_expression(f"{a}-{b}-{c}").value == a - b - c


@settings(max_examples=100)
@given(
    st.text(max_size=300),
    st.text(alphabet="0123456789+-*/() ", max_size=40),
    st.text(alphabet=st.characters(exclude_characters="\\"), max_size=50),
)
def test_last_boxed_content(prefix, content, suffix):
    """The content of the last box, whatever precedes it (other boxes, broken boxes, any unicode)."""
    text = prefix + "\\boxed{" + content + "}" + suffix
    assert last_boxed_content(text) == content
    if content:
        assert last_boxed_content(text, max_content_length=len(content) - 1) is None


@settings(max_examples=60)
@given(st.one_of(texts(2000), st.text(alphabet="{}\\boxed", max_size=3000)), st.integers(0, 300))
def test_last_boxed_content_is_bounded_and_balanced(text, max_len):
    start = time.monotonic()
    found = last_boxed_content(text, max_content_length=max_len)
    assert time.monotonic() - start < TIME_BOUND
    if found is not None:
        assert len(found) <= max_len
        depth = 0
        for ch in found:  # the content is brace-balanced
            depth += {"{": 1, "}": -1}.get(ch, 0)
            assert depth >= 0
        assert depth == 0


def test_last_boxed_content_searches_only_the_tail():
    assert last_boxed_content("\\boxed{1}" + "x" * MAX_BOXED_SEARCH) is None
    assert last_boxed_content("\\boxed{1}" + "x" * (MAX_BOXED_SEARCH - 20)) == "1"


@st.composite
def countdown_cases(draw):
    numbers = draw(st.lists(st.integers(1, 100), min_size=1, max_size=5))
    target = draw(st.integers(-1000, 100_000))
    completion = draw(
        st.one_of(
            texts(300).map(lambda t: f"... \\boxed{{{t}}}"),
            texts(300),
            st.just(f"\\boxed{{{'+'.join(map(str, numbers))}}}"),
            st.just([{"role": "assistant", "content": f"\\boxed{{{'*'.join(map(str, numbers))}}}"}]),
            st.sampled_from([None, 42, [], [{"role": "assistant"}], [{"content": None}]]),
        )
    )
    return completion, target, numbers


@settings(max_examples=100)
@given(countdown_cases())
def test_countdown_and_arithmetic_rewards_survive(case):
    completion, target, numbers = case
    start = time.monotonic()
    scores = countdown_reward([completion], [target], [numbers])
    assert scores in ([0.0], [1.0])
    assert time.monotonic() - start < TIME_BOUND
    if isinstance(completion, list):  # a conversation: the assistant contents, joined
        text = "".join(m["content"] for m in completion if isinstance(m.get("content"), str))
    else:
        text = completion if isinstance(completion, str) else ""
    boxed = last_boxed_content(text)
    if scores == [1.0]:
        assert boxed is not None and verify_countdown(boxed, target, numbers)
    if isinstance(completion, str) and completion.endswith(f"\\boxed{{{'+'.join(map(str, numbers))}}}"):
        assert scores == [1.0 if sum(numbers) == target else 0.0]
    for gold in (f"\\boxed{{{target}}}", str(target), None, f"\\boxed{{{text[:20]}}}"):
        out = arithmetic_reward([completion], [gold])
        assert len(out) == 1 and out[0] in (None, 0.0, 1.0)
    assert countdown_reward([completion], [None], [numbers]) == [None]


# The calculator tool (`trl_explore.toy.tools`, added with SPEAR on main) reuses the parser with tighter limits.
_HAS_CALCULATOR = importlib.util.find_spec("trl_explore.toy.tools") is not None
needs_calculator = pytest.mark.skipif(not _HAS_CALCULATOR, reason="trl_explore.toy.tools (the calculator) not present")


def _calculate(expression):
    from trl_explore.toy.tools import MAX_RESULT_DIGITS, calculator

    start = time.monotonic()
    try:
        result = calculator(expression)
    except ExpressionError:
        result = None
    assert time.monotonic() - start < TIME_BOUND
    if result is not None:
        assert isinstance(result, str) and sum(ch.isdigit() for ch in result) <= MAX_RESULT_DIGITS
    return result


@needs_calculator
@settings(max_examples=150)
@given(st.one_of(texts(400), deep_texts(), st.sampled_from([None, 12, 1.5, b"1+1", ["1"], {"e": "1"}])))
def test_calculator_tool_returns_text_or_raises_expression_error(expression):
    """Whatever the model writes as the tool's argument: a number as text, or `ExpressionError` (which TRL's tool loop
    reports to the model), never another exception."""
    _calculate(expression)


@needs_calculator
@settings(max_examples=100)
@given(trees(max_leaves=8))
def test_calculator_tool_is_exact(tree):
    from trl_explore.toy.tools import format_number

    text = render(tree)
    result = _calculate(text)
    expected = evaluate(tree)
    if expected is None:  # a division by zero
        assert result is None
    elif result is not None:  # within the tool's size limits: the exact value
        assert result == format_number(expected)


@pytest.mark.parametrize(
    "text", ["١٢+٣", "𝟙+1", "①", "1⁄2", "½", "1\u00a0+1", "1\x0b+1", "1_000", "0x10", "2^3", "4//2"]
)
def test_non_ascii_digits_and_python_syntax_are_refused(text):
    with pytest.raises(ExpressionError):
        parse_expression(text)


def test_tokenizer_rejects_non_strings():
    for value in (None, 12, b"1+1", ["1"]):
        with pytest.raises(ExpressionError):
            tokenize_expression(value)  # type: ignore[arg-type]
        assert last_boxed_content(value) is None  # type: ignore[arg-type]
