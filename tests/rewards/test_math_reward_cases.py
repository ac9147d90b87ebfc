"""Equivalence / non-equivalence table for `math_accuracy_reward`, extraction, normalisation and the TRL contract.

Each case is ``(predicted answer, gold answer, expected reward)``; the expected value is what a grader of the MATH
benchmark would give by hand (comments say why when it is not obvious). The whole table is graded in ONE reward call
(module fixture), so symbolic cases run in parallel in the worker pool, then each row is its own test.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from trl_explore.rewards import MathReward, make_math_reward, math_accuracy_reward
from trl_explore.rewards._extract import extract_answer, extract_boxed
from trl_explore.rewards._normalize import Leaf, Limits, node_key, parse_answer, parse_number, screen

P = pytest.param

CASES = [
    # --- \dfrac / \tfrac / fraction shorthands -------------------------------------------------------------------
    P(r"\dfrac{1}{2}", r"\frac{1}{2}", 1.0, id="dfrac"),
    P(r"\tfrac{3}{4}", r"\frac34", 1.0, id="tfrac-vs-shorthand"),
    P(r"\frac12", "0.5", 1.0, id="frac-shorthand-vs-decimal"),
    P(r"\frac{1}{3}", "0.3333", 1.0, id="decimal-within-1e-4"),  # |1/3 - 0.3333| / (1/3) = 1e-4 <= tol
    P(r"\frac{1}{3}", "0.33", 0.0, id="decimal-outside-tol"),  # relative error 1e-2
    P(r"-\frac{1}{2}", r"\frac{-1}{2}", 1.0, id="frac-sign"),
    P("3/4", r"\frac{3}{4}", 1.0, id="slash-fraction"),
    # --- \left / \right -------------------------------------------------------------------------------------------
    P(r"\left( 1, 2 \right)", "(1,2)", 1.0, id="left-right-tuple"),
    P(r"\left[ 0, 1 \right)", "[0,1)", 1.0, id="left-right-interval"),
    P(r"\left\{ 1, 2 \right\}", r"\{2, 1\}", 1.0, id="left-right-set"),
    # --- \text{} / \mathrm{} / \mbox{} -------------------------------------------------------------------------------
    P(r"\text{Monday}", "Monday", 1.0, id="text-word"),
    P(r"\text{monday}", r"\text{Monday}", 1.0, id="text-word-case"),
    P(r"\text{Tuesday}", r"\text{Monday}", 0.0, id="text-word-wrong"),
    P(r"\mathrm{even}", "even", 1.0, id="mathrm-word"),
    P(r"\mbox{odd}", "even", 0.0, id="mbox-word-wrong"),
    # --- units --------------------------------------------------------------------------------------------------------
    P(r"5\text{ cm}", "5", 1.0, id="unit-text-cm"),
    P(r"12 \text{ inches}", "12", 1.0, id="unit-text-inches"),
    P(r"10\text{ cm}^2", "10", 1.0, id="unit-squared"),
    P("20 dollars", "20", 1.0, id="unit-bare-dollars"),
    P(r"\$20", "20", 1.0, id="dollar-sign"),
    P(r"7 \mbox{ ways}", "7", 1.0, id="unit-mbox"),
    P(r"8\text{ cm}", "5", 0.0, id="unit-wrong-value"),
    P(r"12 \text{ sq units}", "12", 1.0, id="unit-square-units"),
    P(r"\frac{7}{2}\text{ hours}", "3.5", 1.0, id="unit-after-fraction"),
    # --- degrees ----------------------------------------------------------------------------------------------------
    P(r"45^\circ", "45", 1.0, id="degrees-circ"),
    P(r"45^{\circ}", r"45^\circ", 1.0, id="degrees-braced"),
    P("30\u00b0", "30", 1.0, id="degrees-unicode"),
    P(r"60^\circ", "30", 0.0, id="degrees-wrong"),
    P(r"135^\circ", r"\frac{3\pi}{4}", 0.0, id="degrees-are-not-radians"),
    # --- percent ----------------------------------------------------------------------------------------------------
    P(r"50\%", "50", 1.0, id="percent-stripped"),
    P(r"50\%", "0.5", 1.0, id="percent-as-fraction"),  # 50 / 100 = 0.5
    P("25%", r"25\%", 1.0, id="percent-plain-sign"),
    P(r"40\%", "0.5", 0.0, id="percent-wrong"),  # 40 and 0.4 are both != 0.5
    # --- thousands separators (vs tuples) ----------------------------------------------------------------------------
    P("1,000", "1000", 1.0, id="thousands-comma"),
    P("1{,}000", "1000", 1.0, id="thousands-braced-comma"),
    P(r"1\,000", "1000", 1.0, id="thousands-thin-space"),
    P("12,345,678", "12345678", 1.0, id="thousands-multi"),
    P("1,001", "1000", 0.0, id="thousands-wrong"),
    P("(1,2)", "12", 0.0, id="tuple-is-not-thousands"),  # (1,2) is a pair, never the number 12
    P("1, 2", "12", 0.0, id="list-is-not-thousands"),  # "1, 2" has a space: a list of two numbers
    # --- trailing period --------------------------------------------------------------------------------------------
    P("5.", "5", 1.0, id="trailing-period"),
    P(r"\frac{1}{2}.", "0.5", 1.0, id="trailing-period-frac"),
    # --- x= / y= prefixes -------------------------------------------------------------------------------------------
    P("x=5", "5", 1.0, id="prefix-x"),
    P("y = -3", "-3", 1.0, id="prefix-y"),
    P(r"x = \frac{1}{2}", "0.5", 1.0, id="prefix-frac"),
    P("x=1, y=2", "(1,2)", 1.0, id="prefix-assignments-as-point"),  # sorted by variable: (x, y)
    P("x=4", "5", 0.0, id="prefix-wrong"),
    # --- multiple choice ----------------------------------------------------------------------------------------------
    P("(B)", "B", 1.0, id="choice-parens"),
    P("B", "(B)", 1.0, id="choice-bare"),
    P(r"\text{(B)}", "B", 1.0, id="choice-text"),
    P(r"\textbf{(C) } 12", "C", 1.0, id="choice-with-value"),
    P("(A)", "B", 0.0, id="choice-wrong"),
    P("C", r"\text{(D)}", 0.0, id="choice-wrong-text"),
    P(r"\text{(A)}\ 5", "A", 1.0, id="choice-text-with-value"),
    P("(B) or (C)", "B", 0.0, id="choice-hedging"),  # naming several letters is no single choice
    P("B, C", "B", 0.0, id="choice-list"),
    # --- tuples and intervals (brackets matter) ----------------------------------------------------------------------
    P("(1,2)", "(1, 2)", 1.0, id="tuple-spaces"),
    P("(2,1)", "(1,2)", 0.0, id="tuple-order"),
    P("[1,2)", "[1,2]", 0.0, id="interval-half-open-vs-closed"),
    P("(1,2)", "[1,2]", 0.0, id="interval-open-vs-closed"),
    P(r"(-\infty, 3]", r"(-\infty,3]", 1.0, id="interval-infinity"),
    P(r"(-\infty, 0) \cup (1, \infty)", r"(1,\infty)\cup(-\infty,0)", 1.0, id="interval-union-unordered"),
    P(r"(\frac{1}{2}, 3)", "(0.5, 3)", 1.0, id="tuple-numeric-items"),
    P("(1,2,3)", "(1,2)", 0.0, id="tuple-length"),
    P(r"x \in [2, 5)", "[2,5)", 1.0, id="interval-membership-prefix"),
    # --- sets and solution lists (unordered) ------------------------------------------------------------------------
    P("2, -3", "-3, 2", 1.0, id="list-unordered"),
    P(r"\{1,2,3\}", "3,2,1", 1.0, id="set-vs-list"),
    P("1, 2", "1, 3", 0.0, id="list-wrong"),
    P(r"x=1 \text{ or } x=2", "1, 2", 1.0, id="list-or"),
    P("5, 5", "5", 0.0, id="list-vs-scalar"),  # listing candidates is not answering
    P("1, 2, 3, 4, 5", "3", 0.0, id="list-hedging"),
    # --- matrices ---------------------------------------------------------------------------------------------------
    P(r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{bmatrix}1&2\\3&4\end{bmatrix}", 1.0, id="matrix-env"),
    P(r"\begin{pmatrix} 1 & 2 \\ 3 & 5 \end{pmatrix}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", 0.0, id="matrix-entry"),
    P(r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "(1,2)", 1.0, id="matrix-column-vs-tuple"),
    P(
        r"\begin{pmatrix} \frac{1}{2} & 0 \end{pmatrix}",
        r"\begin{pmatrix}0.5 & 0\end{pmatrix}",
        1.0,
        id="matrix-numeric",
    ),
    P(r"\begin{pmatrix} 1 & 2 \end{pmatrix}", r"\begin{pmatrix}1\\2\\3\end{pmatrix}", 0.0, id="matrix-shape"),
    # --- numeric tolerance ------------------------------------------------------------------------------------------
    P("3.14159", r"\pi", 1.0, id="numeric-pi"),  # |3.14159 - pi| / pi = 8.4e-7
    P("3.14", r"\pi", 0.0, id="numeric-pi-coarse"),  # relative error 5.1e-4 > 1e-4
    P("0.70711", r"\frac{\sqrt{2}}{2}", 1.0, id="numeric-sqrt"),  # relative error 4.1e-6
    P("1.0001e3", "1000.1", 1.0, id="numeric-scientific"),
    P("10001", "10000", 0.0, id="integers-exact"),  # two integers must be equal exactly (no 1e-4 slack)
    P("2.5", "2.50", 1.0, id="numeric-trailing-zero"),
    P(r"2 \times 10^{3}", "2000", 1.0, id="numeric-times-ten"),
    # --- symbolic (latex2sympy2 + sympy, in the worker pool) ---------------------------------------------------------
    P(r"\sqrt{4}", "2", 1.0, id="sym-sqrt"),
    P(r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}", 1.0, id="sym-rationalised"),
    P(r"2\sqrt{2}", r"\sqrt{8}", 1.0, id="sym-radical"),
    P(r"(x+1)^2", r"x^2+2x+1", 1.0, id="sym-expand"),
    P(r"x^2+2x", r"x^2+2x+1", 0.0, id="sym-wrong"),
    P(r"\frac{x^2-1}{x-1}", r"x+1", 1.0, id="sym-cancel"),
    P(r"\sin^2 x + \cos^2 x", "1", 1.0, id="sym-trig-identity"),
    P(r"\log_2 8", "3", 1.0, id="sym-log"),
    P(r"\binom{5}{2}", "10", 1.0, id="sym-binomial"),
    P(r"5!", "120", 1.0, id="sym-factorial"),
    P(r"2^{10}", "1024", 1.0, id="sym-power"),
    P(r"\infty", r"\infty", 1.0, id="sym-infinity"),
    P(r"-\infty", r"\infty", 0.0, id="sym-minus-infinity"),
    P(r"y = 2x + 3", r"2x+3", 1.0, id="sym-equation-prefix"),
    P(r"\sqrt{2}+\sqrt{3}", r"\sqrt{5+2\sqrt{6}}", 1.0, id="sym-nested-radical"),
    P(r"\pi r^2", r"r^2\pi", 1.0, id="sym-commute"),
    P(r"\frac{a}{b}", r"\frac{b}{a}", 0.0, id="sym-swapped"),
    P(r"\frac{3\pi}{4}", r"\frac{3}{4}\pi", 1.0, id="sym-pi-fraction"),
    P(r"y = 5 - 2x", r"y=-2x+5", 1.0, id="sym-line-both-prefixed"),
    P(r"\frac{1}{2}x", r"\frac{x}{2}", 1.0, id="sym-coefficient"),
    P("Yes", r"\text{yes}", 1.0, id="word-yes"),
    P("2x + 4y = 8", "x + 2y = 4", 1.0, id="sym-equation-scaled"),  # same line: 2x + 4y - 8 = 2 (x + 2y - 4)
    P("x + 2y = 4", "4 = 2y + x", 1.0, id="sym-equation-swapped"),
    P("x + 2y = 4", "x + 2y = 5", 0.0, id="sym-equation-wrong"),
    P(r"e^{i\pi}", "-1", 0.0, id="sym-i-is-a-symbol"),  # latex2sympy2 reads a bare `i` as a variable, not sqrt(-1)
]


@pytest.fixture(scope="module")
def reward() -> MathReward:
    return make_math_reward(max_workers=2)


@pytest.fixture(scope="module")
def graded(reward: MathReward) -> dict[tuple[str, str], float | None]:
    pairs = [(c.values[0], c.values[1]) for c in CASES]
    completions = [f"Let me think. So the answer is $\\boxed{{{p}}}$." for p, _ in pairs]
    scores = reward(completions, [g for _, g in pairs])
    return dict(zip(pairs, scores))


def test_table_size() -> None:
    assert len(CASES) >= 60
    assert {c.values[2] for c in CASES} == {0.0, 1.0}


@pytest.mark.parametrize(("pred", "gold", "expected"), CASES)
def test_equivalence(graded: dict, pred: str, gold: str, expected: float) -> None:
    assert graded[(pred, gold)] == expected


@pytest.mark.parametrize(
    ("gold", "expected"),
    [
        P("42", 1.0, id="bare"),
        P(r"Adding gives $40 + 2 = 42$, so the answer is $\boxed{42}$.", 1.0, id="worked-solution"),
        P("Natalia sold 48/2 = 24 clips in May.\n#### 42", 1.0, id="gsm8k"),
        P(r"\boxed{41}", 0.0, id="boxed-wrong"),
        P(42, 1.0, id="int-column"),
    ],
)
def test_gold_formats(reward: MathReward, gold: object, expected: float) -> None:
    assert reward([r"\boxed{42}"], [gold]) == [expected]


@pytest.mark.parametrize(
    "gold",
    [
        P("", id="empty"),
        P("   ", id="blank"),
        P(None, id="none"),
        P(r"\boxed{", id="truncated-box"),
        P(r"\boxed{}", id="empty-box"),
        P("{" * 60 + "1" + "}" * 60, id="too-deep"),
        P("1" * 5000, id="too-long"),
        P(r"\boxed{2^{2^{2^{2^{10}}}}}", id="power-tower"),
    ],
)
def test_unparsable_gold_is_none(reward: MathReward, gold: object) -> None:
    """TRL converts `None` to NaN and skips the sample, so an unusable gold answer must never score 0 or 1."""
    logged: dict[str, float] = {}
    scores = reward([r"\boxed{1}", "no answer"], [gold, gold], log_metric=logged.__setitem__)
    assert scores == [None, None]
    assert logged["math_reward/unparsable_gold"] == 2.0


def test_conversational_completions(reward: MathReward) -> None:
    completions = [
        [{"role": "assistant", "content": r"So $\boxed{\dfrac{1}{2}}$."}],
        [
            {"role": "assistant", "content": r"First guess \boxed{3}, let me call a tool."},
            {"role": "tool", "content": r"\boxed{99}"},
            {"role": "assistant", "content": r"The answer is \boxed{7}."},
        ],
        [{"role": "assistant", "content": [{"type": "text", "text": r"\boxed{(1, 2)}"}]}],
        [{"role": "assistant", "content": "I do not know."}],
    ]
    assert reward(completions, ["0.5", "7", "(1,2)", "3"]) == [1.0, 1.0, 1.0, 0.0]


def test_trl_keyword_arguments_and_metrics(reward: MathReward) -> None:
    """The exact keyword arguments GRPOTrainer._calculate_rewards passes (TRL 1.16) are accepted."""
    logged: list[tuple[str, float]] = []
    extra: dict[str, list] = {}
    scores = reward(
        prompts=["p1", "p2", "p3"],
        completions=[r"\boxed{4}", "no box here", r"\boxed{5}"],
        completion_ids=[[1], [2], [3]],
        solution=["4", "4", "4"],
        trainer_state=object(),
        log_extra=extra.__setitem__,
        log_metric=lambda name, value: logged.append((name, value)),
        other_column=["a", "b", "c"],
    )
    assert scores == [1.0, 0.0, 0.0]
    metrics = dict(logged)
    assert metrics["math_reward/timeouts"] == 0.0
    assert metrics["math_reward/unparsable_gold"] == 0.0
    assert metrics["math_reward/no_answer_frac"] == pytest.approx(1 / 3)
    assert all(isinstance(v, float) for v in metrics.values())
    assert extra == {}  # answers are only logged with log_answers=True


def test_log_answers_column() -> None:
    reward = make_math_reward(log_answers=True, symbolic=False)
    extra: dict[str, list] = {}
    reward([r"\boxed{4}", "none"], ["4", "4"], log_extra=extra.__setitem__)
    assert extra == {"math_reward/answer": ["4", ""]}


def test_format_and_missing_answer_rewards() -> None:
    reward = make_math_reward(format_reward=0.1, missing_answer_reward=-0.5, symbolic=False)
    assert reward([r"\boxed{4}", r"\boxed{5}", "no box"], ["4", "4", "4"]) == [1.0, 0.1, -0.5]


def test_extractors_option() -> None:
    gsm = make_math_reward(extractors=("gsm8k", "boxed"), symbolic=False, name="gsm8k_accuracy")
    assert gsm.__name__ == "gsm8k_accuracy"
    assert gsm(["2 + 2 = 4\n#### 4", r"\boxed{4}", "4"], ["4", "4", "4"]) == [1.0, 1.0, 0.0]
    phrase = make_math_reward(extractors=("final_answer",), symbolic=False)
    assert phrase(["The final answer is $\\frac{1}{2}$. I hope it is correct."], ["0.5"]) == [1.0]
    last = make_math_reward(extractors=("last_number",), symbolic=False)
    assert last(["so 3 apples plus 4 gives 1,234 total"], ["1234"]) == [1.0]


def test_default_reward_is_a_named_plain_function() -> None:
    assert math_accuracy_reward.__name__ == "math_accuracy_reward"
    assert math_accuracy_reward([r"\boxed{\frac{6}{4}}"], ["1.5"]) == [1.0]


def test_pickle_round_trip(reward: MathReward) -> None:
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == reward.__name__
    assert clone([r"\boxed{2}"], ["2"]) == [1.0]
    assert pickle.loads(pickle.dumps(math_accuracy_reward)) is math_accuracy_reward


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"numeric_rel_tol": 1.5}, "numeric_rel_tol"),
        ({"max_workers": 0}, "max_workers"),
        ({"extractors": ("boxd",)}, "extractors"),
        ({"extractors": ()}, "extractors"),
        ({"max_brace_depth": 0}, "max_brace_depth"),
        ({"memory_limit_mb": -1}, "memory_limit_mb"),
    ],
)
def test_invalid_options_raise(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make_math_reward(**kwargs)


def test_length_mismatch_and_missing_solution(reward: MathReward) -> None:
    with pytest.raises(ValueError, match="solutions"):
        reward(["a", "b"], ["1"])
    with pytest.raises(ValueError, match="solution"):
        reward(["a"])


# --- extraction ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        P(r"\boxed{1} then \boxed{2}", "2", id="last-box"),
        P(r"\boxed{\frac{a}{\sqrt{b}}}", r"\frac{a}{\sqrt{b}}", id="nested-braces"),
        P(r"\fbox{7}", "7", id="fbox"),
        P(r"\boxed 5 is it", "5", id="no-brace"),
        P(r"\boxed{\{1, 2\}}", r"\{1, 2\}", id="escaped-braces"),
        P(r"\boxed{3} and \boxed{4", None, id="truncated-last-box"),
        P("no box", None, id="none"),
    ],
)
def test_extract_boxed(text: str, expected: str | None) -> None:
    assert extract_boxed(text).answer == expected


def test_extraction_limits_reject() -> None:
    deep = r"\boxed{" + "{" * 10_000 + "}" * 10_001
    assert extract_boxed(deep).rejected == "too_deep"
    assert extract_boxed(r"\boxed{" + "1" * 3000 + "}").rejected == "too_long"
    # a refused box never falls back to a looser extractor
    assert extract_answer(deep + "\n#### 5", ("boxed", "gsm8k")).answer is None


# --- normalisation units --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("42", (42, True)),
        ("-0.5", (-0.5, False)),
        ("1.5e3", (1500, False)),
        (r"\frac{3}{4}", (0.75, False)),
        (r"2\times10^{3}", (2000, False)),
        ("10^{-2}", (0.01, False)),
        (r"x+1", None),
        (r"\frac{1}{0}", None),
    ],
)
def test_parse_number(key: str, value: tuple | None) -> None:
    parsed = parse_number(key)
    if value is None:
        assert parsed is None
    else:
        assert parsed is not None and float(parsed[0]) == pytest.approx(value[0]) and parsed[1] == value[1]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (r"2^{2^{2^{2^{10}}}}", "power_tower"),
        (r"9999999999999^{9999999999}", "huge_power"),
        (r"10!!!!!!!", "factorial_chain"),
        (r"100000!", "huge_factorial"),
        ("9" * 500, "huge_number"),
        ("(" * 60 + ")" * 60, "too_deep"),
        ("x" * 2001, "too_long"),
        (r"\operatorname{eye}(10^9)", "blocked_command"),
        (r"x := 5", "blocked_command"),
        (r"e^{-x^2}", None),
        (r"2^{100}", None),
        (r"10!", None),
    ],
)
def test_screen(text: str, reason: str | None) -> None:
    assert screen(text, Limits()) == reason


def test_majority_keys_are_canonical() -> None:
    from trl_explore.rewards import extract_normalized_answer

    assert extract_normalized_answer(r"\boxed{\dfrac{1}{2}}") == extract_normalized_answer(r"\boxed{\frac12}")
    assert extract_normalized_answer(r"\boxed{\{2, 1\}}") == extract_normalized_answer(r"\boxed{\{1,2\}}")
    assert extract_normalized_answer("nothing") is None
    assert node_key(parse_answer(r"5\text{ cm}")) == node_key(Leaf("5", "5"))


def test_import_is_light() -> None:
    """Importing the reward (and grading cheap answers) never imports sympy or latex2sympy2 in this process."""
    code = (
        "import sys\n"
        "from trl_explore.rewards import math_accuracy_reward\n"
        "assert math_accuracy_reward([r'\\boxed{0.5}'], [r'\\frac{1}{2}']) == [1.0]\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sympy', 'latex2sympy2', 'torch', 'trl')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- the worker-side symbolic layer (imported here directly; the reward itself only imports it in workers) --------


@pytest.mark.parametrize("text", [r"}{", r"\frac{1}", r"x \cup y", r"__import__('os')", ""])
def test_parse_latex_refuses_syntax_errors(text: str) -> None:
    from trl_explore.rewards._symbolic import SymbolicRefused, parse_latex

    with pytest.raises(SymbolicRefused, match="parse_error"):
        parse_latex(text)


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        (r"(10^{10})!", True),  # factorial argument has 11 digits
        (r"2^{2^{100}}", True),  # exponent ~1.3e30
        (r"9^{9^{9}}", True),  # exponent 387420489 > 1e7
        (r"x^{10^{9}}", True),
        (r"2^{100}", False),  # 31 digits
        (r"100!", False),  # 158 digits
        (r"\binom{50}{25}", False),
        (r"\frac{\sqrt{2}}{2} + \pi x^{3}", False),
    ],
)
def test_magnitude_bound(text: str, refused: bool) -> None:
    from trl_explore.rewards._symbolic import SymbolicRefused, check_bounds, parse_latex

    expr = parse_latex(text)
    if refused:
        with pytest.raises(SymbolicRefused, match="too_large"):
            check_bounds(expr)
    else:
        check_bounds(expr)


def test_parser_global_state_is_reset() -> None:
    """latex2sympy2 remembers assignments globally; parse_latex resets that table so answers cannot leak."""
    import latex2sympy2

    from trl_explore.rewards._symbolic import parse_latex

    latex2sympy2.latex2sympy(r"A = \begin{pmatrix}1 & 2\end{pmatrix}")  # `=` is an assignment in latex2sympy2
    with pytest.raises(TypeError):
        latex2sympy2.latex2sympy("A + 1")  # without a reset, A is now a matrix symbol
    assert str(parse_latex("A + 1")) == "A + 1"
