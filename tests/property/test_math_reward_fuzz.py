"""Fuzzing the math reward (`trl_explore.rewards.MathReward` / `math_accuracy_reward`) with untrusted text.

Hypothesis generates completions and gold solutions: LaTeX-shaped answers (nested ``\\frac``, ``\\sqrt``, ``\\boxed{}``,
powers and power towers such as ``9^9^9^9``, factorials, sums, integrals, matrices, sets, intervals, text and
units), deep parentheses / braces, unicode (control characters, symbols, combining marks), very long inputs, broken
boxes, conversational and oddly-typed completions, and injection payloads aimed at a sentinel file. Every batch must

* return one score per completion from the allowed set (no exception escapes);
* finish within the documented limits: in-process grading (extraction, screening, normalisation, exact / numeric
  comparison) within the reward's ``timeout`` per call, and symbolic grading within ``timeout`` per symbolic check
  (plus a worker start-up allowance only when a worker had to start);
* execute nothing: the sentinel file never appears, and ``eval`` / ``exec`` / ``os.system`` / ``subprocess`` are
  never called in this process while grading in-process.

The default suite runs a few dozen examples (a few seconds); the ``slow`` variants run hundreds, with longer inputs.
Regression tests pin the in-process stall found while building this fuzzer in the answer screen (polynomial regex
backtracking on a 2000-character answer: 4.6 s for 400 digits + 1590 spaces; cubic for ``1^`` + spaces, 3.5 s at 1200
spaces, about 16 s at 1990); the long-runs property reproduces it against the old patterns on every run.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trl_explore.rewards import MathReward, extract_normalized_answer, math_accuracy_reward
from trl_explore.rewards._normalize import Limits, screen

# ---------------------------------------------------------------------------------------------------------- strategies
_ATOMS = [
    "0", "1", "2", "-3", "7", "42", "0.5", ".5", "3.14159", "1,000", "1e5", "x", "y", "n", "e", "i", "\\pi",
    "\\infty", "-\\infty", "\\theta", "\\alpha", "10^{100}", "9^9^9^9", "2^{2^{2^{2}}}", "2^{2^{100}}", "10!!",
    "(10^{10})!", "\\sqrt{2}", "50\\%", "\\$5", "5^\\circ", "\\text{Monday}", "(B)", "\\emptyset", "\\varnothing",
    "12\\text{ cm}", "\\frac12", "\\dfrac{1}{2}", "3\\,000", "x^2+2x+1", "\\sin^2 x + \\cos^2 x", "\\operatorname{eye}(1000000000)",
    "a := 3", "\\infty!", "0^0", "0^{-1}", "\\frac{1}{0}", "1/0", "(-8)^{1/3}", "\\log 0", "\\sqrt{-1}", "100000",
    "\\sum_{n=1}^{100000} \\frac{1}{n^2}",  # passes every screen, hangs sympy: killed at the deadline
]  # fmt: skip
_UNICODE = "π√−×·∞≤≥≠∪∩∅°\u00a0\u2009\u202f\u200b\u200e\u202e\ufeff\x00\x07\x1b\x7f\u0301ℝ𝟙日本語🙂"

atoms = st.one_of(
    st.sampled_from(_ATOMS),
    st.integers(-(10**12), 10**12).map(str),
    st.integers(1, 700).map(lambda n: "9" * n),  # around max_number_digits (400)
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=_UNICODE + "0123456789+-*/^_{}()[]\\!,.= abcxyz", max_size=8),
)


def _compose(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    two = st.tuples(children, children)
    return st.one_of(
        two.map(lambda t: f"\\frac{{{t[0]}}}{{{t[1]}}}"),
        children.map(lambda a: f"\\sqrt{{{a}}}"),
        two.map(lambda t: f"\\sqrt[{t[0]}]{{{t[1]}}}"),
        two.map(lambda t: f"{t[0]}^{{{t[1]}}}"),
        two.map(lambda t: f"{t[0]}^{t[1]}"),
        two.map(lambda t: f"{t[0]}_{{{t[1]}}}"),
        children.map(lambda a: f"({a})"),
        children.map(lambda a: f"\\left( {a} \\right)"),
        children.map(lambda a: f"\\boxed{{{a}}}"),
        children.map(lambda a: f"{{{a}}}"),
        children.map(lambda a: f"{a}!"),
        children.map(lambda a: f"-{a}"),
        two.map(lambda t: f"{t[0]} + {t[1]}"),
        two.map(lambda t: f"{t[0]} \\cdot {t[1]}"),
        two.map(lambda t: f"{t[0]} \\times {t[1]}"),
        two.map(lambda t: f"{t[0]}, {t[1]}"),
        two.map(lambda t: f"\\{{{t[0]}, {t[1]}\\}}"),
        two.map(lambda t: f"[{t[0]}, {t[1]})"),
        two.map(lambda t: f"{t[0]} \\cup {t[1]}"),
        two.map(lambda t: f"{t[0]} \\leq {t[1]}"),
        two.map(lambda t: f"x = {t[0]} \\text{{ or }} {t[1]}"),
        two.map(lambda t: f"\\begin{{pmatrix}} {t[0]} & {t[1]} \\\\ {t[1]} & {t[0]} \\end{{pmatrix}}"),
        two.map(lambda t: f"\\sum_{{n=1}}^{{{t[0]}}} {t[1]}"),
        two.map(lambda t: f"\\prod_{{k=1}}^{{{t[0]}}} {t[1]}"),
        two.map(lambda t: f"\\int_0^{{{t[0]}}} {t[1]} \\, dx"),
        two.map(lambda t: f"\\lim_{{x \\to {t[0]}}} {t[1]}"),
        two.map(lambda t: f"\\binom{{{t[0]}}}{{{t[1]}}}"),
        two.map(lambda t: f"\\log_{{{t[0]}}} {t[1]}"),
        children.map(lambda a: f"\\sin {a}"),
        children.map(lambda a: f"\\text{{{a}}}"),
        children.map(lambda a: f"\\operatorname{{{a}}}(2)"),
        children.map(lambda a: f"{a} \\%"),
        children.map(lambda a: f"{a}\\text{{ units}}"),
    )


latex = st.recursive(atoms, _compose, max_leaves=10)


def _nest(depth: int, opener: str, core: str, closer: str) -> str:
    return opener * depth + core + closer * depth


def deep(max_depth: int) -> st.SearchStrategy[str]:
    """Deep nesting of parentheses, braces, fractions, roots, powers and boxes."""
    depths = st.integers(1, max_depth)
    return st.one_of(
        depths.map(lambda d: _nest(d, "(", "1", ")")),
        depths.map(lambda d: _nest(d, "{", "1", "}")),
        depths.map(lambda d: _nest(d, "[", "1", "]")),
        depths.map(lambda d: _nest(d, "\\frac{1}{", "2", "}")),
        depths.map(lambda d: _nest(d, "\\sqrt{", "2", "}")),
        depths.map(lambda d: _nest(d, "2^{", "2", "}")),
        depths.map(lambda d: "9" + "^9" * d),
        depths.map(lambda d: _nest(d, "\\boxed{", "3", "}")),
        depths.map(lambda d: _nest(d, "\\left(", "x", "\\right)")),
        depths.map(lambda d: "(" * d + "1"),  # unbalanced
        depths.map(lambda d: "1" + "}" * d),
    )


def long_text(max_len: int) -> st.SearchStrategy[str]:
    """Long repetitions of characters and fragments that exercise the linear-time scanners and the screen."""
    pieces = st.sampled_from(
        ["a", "9", " ", "{", "}", "\\", "^", "!", "(", ")", "\\boxed{", "\\boxed", "####", "\\frac{", "\\text{",
         "1 ", "1^ ", "! ", "9 ^ ", ") ", "\n", "\\left(", ",", "\\!", "\\,", "$", "final answer is "]
    )  # fmt: skip
    return st.tuples(st.lists(pieces, min_size=1, max_size=4), st.integers(1, max_len)).map(
        lambda t: ("".join(t[0]) * (t[1] // max(1, len("".join(t[0]))) + 1))[: t[1]]
    )


def answers(max_depth: int = 200, max_len: int = 5000) -> st.SearchStrategy[str]:
    return st.one_of(
        latex,
        latex,
        deep(max_depth),
        long_text(max_len),
        st.text(max_size=60),  # any unicode, control characters included
        st.tuples(latex, long_text(max_len)).map(lambda t: t[0] + t[1]),
        st.tuples(long_text(2100), latex).map(lambda t: t[0] + t[1]),  # around max_answer_chars (2000)
    )


def completions(max_depth: int = 200, max_len: int = 5000) -> st.SearchStrategy[object]:
    ans = answers(max_depth, max_len)
    noise = st.text(max_size=40)
    text = st.one_of(
        ans.map(lambda a: f"Reasoning... so the answer is $\\boxed{{{a}}}$."),
        st.tuples(noise, ans, noise).map(lambda t: f"{t[0]}\\boxed{{{t[1]}}}{t[2]}"),
        st.tuples(ans, ans).map(lambda t: f"\\boxed{{{t[0]}}} no wait \\fbox{{{t[1]}}}"),
        ans.map(lambda a: f"\\boxed{{{a}"),  # cut off before the closing brace
        ans.map(lambda a: f"\\boxed {a}"),
        ans.map(lambda a: f"Step 1.\n#### {a}"),
        ans.map(lambda a: f"The final answer is {a}. Done"),
        ans.map(lambda a: f"The final answer is ${a}$"),
        ans,
        noise,
    )
    return st.one_of(
        text,
        text.map(lambda t: [{"role": "assistant", "content": t}]),
        text.map(lambda t: [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "text", "text": t}]}]),  # noqa: E501
        st.sampled_from([None, "", [], {}, 42, 3.5, [{"role": "user"}], [{"content": None}], {"content": 7}, ["x"]]),
    )  # fmt: skip


def golds() -> st.SearchStrategy[object]:
    return st.one_of(
        latex,
        latex.map(lambda a: f"so \\boxed{{{a}}}"),
        st.integers(-1000, 1000),
        st.integers(-1000, 1000).map(lambda n: f"#### {n}"),
        st.floats(allow_nan=True, allow_infinity=True),
        answers(50, 3000),
        st.sampled_from([None, "", "   "]),
    )


def _injections(sentinel: Path) -> list[str]:
    s = str(sentinel)
    return [
        f"__import__('os').system('touch {s}')",
        "().__class__.__bases__[0].__subclasses__()",
        f"eval(\"open('{s}', 'w').write('x')\")",
        f"exec(compile('import os; os.system(\"touch {s}\")', 'x', 'exec'))",
        f"\\text{{__import__('os').system('touch {s}')}}",
        f"\\operatorname{{system}}(touch {s})",
        f"$(touch {s})",
        f"`touch {s}`",
        f"x; import os; os.system('touch {s}')",
        f"\\input{{{s}}}",
        f"\\write18{{touch {s}}}",
        f"\\immediate\\write18{{touch {s}}}",
        f"Symbol('x').__class__.__init__.__globals__['os'].system('touch {s}')",
        f"lambda: __import__('os').system('touch {s}')",
        f"{{'a': open('{s}', 'w')}}",
    ]


@st.composite
def batches(draw, sentinel: Path, max_size: int, max_depth: int, max_len: int):
    """Up to ``max_size`` (completion, gold) pairs, one of them (maybe) carrying an injection payload in a random
    LaTeX context, as the answer or as the gold."""
    n = draw(st.integers(1, max_size))
    comps = draw(st.lists(completions(max_depth, max_len), min_size=n, max_size=n))
    sols = draw(st.lists(golds(), min_size=n, max_size=n))
    if draw(st.booleans()):
        payload = draw(st.sampled_from(_injections(sentinel)))
        wrapper = draw(
            st.sampled_from(["{}", "\\frac{{{}}}{{2}}", "\\sqrt{{{}}}", "\\text{{{}}}", "({}) + 1", "x = {}"])
        )
        where = draw(st.integers(0, n - 1))
        if draw(st.booleans()):
            comps[where] = f"\\boxed{{{wrapper.format(payload)}}}"
        else:
            sols[where] = wrapper.format(payload)
    return comps, sols


# ------------------------------------------------------------------------------------------------------------- guards
class _Forbidden(Exception):
    pass


@contextlib.contextmanager
def _no_code_execution():
    """Make every Python-level way to run code or commands in this process record itself and fail."""
    calls: list[str] = []

    def trap(name):
        def _trap(*args, **kwargs):
            calls.append(name)
            raise _Forbidden(name)

        return _trap

    patched = [
        (builtins, "eval"), (builtins, "exec"), (builtins, "compile"), (os, "system"), (os, "popen"), (os, "execv"),
        (os, "execve"), (os, "execvp"), (os, "fork"), (subprocess, "Popen"), (subprocess, "run"),
    ]  # fmt: skip
    saved = [(obj, name, getattr(obj, name)) for obj, name in patched]
    try:
        for obj, name in patched:
            setattr(obj, name, trap(f"{getattr(obj, '__name__', obj)}.{name}"))
        yield calls
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


ALLOWED = {None, 0.0, 1.0}


def _check_scores(scores: list, n: int) -> None:
    assert isinstance(scores, list) and len(scores) == n
    assert all(s in ALLOWED for s in scores), scores


# ------------------------------------------------------------------------------------------------- in-process grading
IN_PROCESS = MathReward(
    extractors=("boxed", "final_answer", "gsm8k", "last_number"), symbolic=False, name="fuzz_in_process"
)


def _check_in_process(batch, sentinel: Path) -> None:
    comps, sols = batch
    with _no_code_execution() as calls:
        start = time.monotonic()
        scores = IN_PROCESS(comps, sols)
        elapsed = time.monotonic() - start
        keys = [IN_PROCESS.extract(c) for c in comps]
    assert not calls, calls
    _check_scores(scores, len(comps))
    assert elapsed < IN_PROCESS.timeout, f"in-process grading of {len(comps)} completions took {elapsed:.2f} s"
    assert all(k is None or isinstance(k, str) for k in keys)
    assert not sentinel.exists()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "pwned"


@settings(max_examples=60)
@given(data=st.data())
def test_in_process_grading_survives_fuzzed_text(sentinel, data):
    _check_in_process(data.draw(batches(sentinel, max_size=4, max_depth=300, max_len=20_000)), sentinel)


@pytest.mark.slow
@settings(max_examples=1500)
@given(data=st.data())
def test_in_process_grading_survives_fuzzed_text_slow(sentinel, data):
    _check_in_process(data.draw(batches(sentinel, max_size=8, max_depth=20_000, max_len=1_000_000)), sentinel)


@settings(max_examples=30)
@given(st.lists(completions(100, 5000), min_size=1, max_size=3), st.lists(golds(), min_size=1, max_size=3))
def test_default_reward_and_voting_key_survive(comps, sols):
    """`math_accuracy_reward` (the default instance) and `extract_normalized_answer` on fuzzed text. The batch is
    graded in-process here (golds and answers that would need sympy are paired with a gold that decides them)."""
    n = min(len(comps), len(sols))
    comps = comps[:n]
    with _no_code_execution() as calls:
        keys = [extract_normalized_answer(c) for c in comps]
        scores = math_accuracy_reward(comps, ["\\text{never equal}"] * n)  # a word answer: decided in-process
    assert not calls, calls
    _check_scores(scores, n)
    assert all(k is None or isinstance(k, str) for k in keys)


# -------------------------------------------------------------------------------------------------- symbolic grading
TIMEOUT = 1.0
WORKERS = 2
START_UP_ALLOWANCE = 60.0  # a fresh worker imports sympy + latex2sympy2 and warms up before it takes a task


@pytest.fixture(scope="module")
def symbolic_reward():
    reward = MathReward(timeout=TIMEOUT, max_workers=WORKERS, name="fuzz_symbolic", cache_size=0)
    assert reward([r"\boxed{\sqrt{4}}", r"\boxed{\sqrt{9}}"], ["2", "3"]) == [1.0, 1.0]  # start and warm the workers
    return reward


def _check_symbolic(reward: MathReward, batch, sentinel: Path) -> None:
    comps, sols = batch
    pool = reward._pool()
    warming = any(not w.ready for w in pool._workers) or len(pool._workers) < WORKERS  # replacements of killed ones
    spawned_before = pool.counters["spawned"]
    checks_before = reward.stats["symbolic_checks"]
    start = time.monotonic()
    scores = reward(comps, sols)
    elapsed = time.monotonic() - start
    _check_scores(scores, len(comps))
    assert not sentinel.exists()
    checks = reward.stats["symbolic_checks"] - checks_before
    # every symbolic check ends by its deadline (or is killed at it), one after the other in the worst case; the
    # in-process part gets one more `timeout`; a worker that had to start first gets the start-up allowance
    started = warming or pool.counters["spawned"] > spawned_before
    bound = (checks + 1) * (TIMEOUT + 0.5) + (START_UP_ALLOWANCE if started else 0.0)
    assert elapsed < bound, f"{checks} symbolic checks took {elapsed:.1f} s (bound {bound:.1f} s)"


@st.composite
def latex_batches(draw, sentinel: Path, max_size: int):
    """LaTeX answers and golds (most pass the screen and reach sympy), maybe one injection payload."""
    n = draw(st.integers(1, max_size))
    comps = [f"\\boxed{{{a}}}" for a in draw(st.lists(latex, min_size=n, max_size=n))]
    sols = draw(st.lists(latex, min_size=n, max_size=n))
    if draw(st.booleans()):
        comps[0] = f"\\boxed{{{draw(st.sampled_from(_injections(sentinel)))}}}"
    return comps, sols


@settings(max_examples=5)
@given(data=st.data())
def test_symbolic_grading_survives_fuzzed_latex(symbolic_reward, sentinel, data):
    """LaTeX-shaped answers and golds that pass the screen go to the sympy workers: each is decided or killed at the
    1 s limit; nothing escapes, nothing executes."""
    _check_symbolic(symbolic_reward, data.draw(latex_batches(sentinel, max_size=4)), sentinel)


@pytest.mark.slow
@settings(max_examples=150)
@given(data=st.data())
def test_symbolic_grading_survives_fuzzed_latex_slow(symbolic_reward, sentinel, data):
    batch = data.draw(latex_batches(sentinel, 8) | batches(sentinel, max_size=8, max_depth=60, max_len=3000))
    _check_symbolic(symbolic_reward, batch, sentinel)


# --------------------------------------------------------------------------------------- regressions found by fuzzing
SCREEN_BUDGET = 0.5  # seconds; a linear scan of 2000 characters takes well under a millisecond


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("1" * 400 + " " * 1590 + "x", id="digits-then-spaces"),  # _INT_POWER / _FACTORIAL_ARG: 4.6 s
        pytest.param("1^" + " " * 1990 + "x", id="power-then-spaces"),  # three adjacent \s*: cubic, about 16 s
        pytest.param("!" + " " * 1990 + "x", id="factorial-then-spaces"),
        pytest.param(("1" * 399 + " ") * 5, id="digit-runs"),
        pytest.param(("9 ) ^ { ( " * 200)[:2000], id="mixed-gaps"),
    ],
)
def test_screen_is_linear_on_whitespace_runs(answer):
    """Regression: the screen's power / factorial patterns backtracked polynomially on runs of spaces (the answer is
    screened before whitespace is collapsed), stalling the trainer process for seconds per completion."""
    start = time.monotonic()
    screen(answer, Limits())
    assert time.monotonic() - start < SCREEN_BUDGET
    reward = MathReward(symbolic=False)
    start = time.monotonic()
    assert reward([f"\\boxed{{{answer}}}"], ["5"]) == [0.0]
    assert time.monotonic() - start < SCREEN_BUDGET


def test_screen_still_refuses_what_it_refused():
    """The linear patterns keep every refusal (and accept spaces / closing brackets anywhere in the gaps)."""
    limits = Limits()
    refused = {
        "2^{2^{2^{2^{10}}}}": "power_tower",
        "9999999999999^{9999999999}": "huge_power",
        "2 ^ { ( 99999": "huge_power",
        "12 ) ) ^ 40000": "huge_power",
        "1.5^{100000}": "huge_power",
        "10!!!!!!!": "factorial_chain",
        "(5!) ) !": "factorial_chain",
        "1001 !": "huge_factorial",
        "(1001)!": "huge_factorial",
    }
    for text, reason in refused.items():
        assert screen(text, limits) == reason, text
    for text in ("3!", "2^{10}", "1.5^{3}", "(2!)(3!)", "10^{100}", "x^{2}", "\\frac{1}{2}"):
        assert screen(text, limits) is None, text


_SEGMENTS = {
    "digits": lambda n: ("1234567890" * 40)[: min(n, 400)],  # up to the 400-digit number limit
    "decimal": lambda n: "1." + "5" * min(n, 398),
    "spaces": lambda n: " " * n,
    "tabs": lambda n: "\t \n" * (n // 3 + 1),
    "closers": lambda n: ") } ]" * (n // 5 + 1),
    "power": lambda n: "^" * min(n, 3),
    "factorial": lambda n: "!" * min(n, 3),
    "openers": lambda n: "{ (" * min(n, 15),  # deeper than 50 is refused before any pattern runs
    "junk": lambda n: "x" * min(n, 5),
}


@st.composite
def _runs(draw, max_run: int) -> str:
    """Answers made of segments (digit runs, long runs of spaces / closing brackets, ``^``, ``!``, a few openers):
    the shape on which backtracking patterns blow up, within the 2000-character answer limit."""
    kinds = draw(st.lists(st.sampled_from(sorted(_SEGMENTS)), min_size=2, max_size=6))
    return "".join(_SEGMENTS[k](draw(st.integers(1, max_run))) for k in kinds)[:2000]


@settings(max_examples=60)
@given(_runs(1900))
def test_screen_time_is_bounded_on_long_runs(answer):
    start = time.monotonic()
    screen(answer, Limits())
    assert time.monotonic() - start < SCREEN_BUDGET


@pytest.mark.slow
@settings(max_examples=2000)
@given(st.one_of(_runs(1900), st.text(alphabet="19 ^{}()[]!.\\x", min_size=1500, max_size=2000)))
def test_screen_time_is_bounded_on_long_runs_slow(answer):
    start = time.monotonic()
    screen(answer, Limits())
    assert time.monotonic() - start < SCREEN_BUDGET


def test_no_nan_from_nan_golds():
    """A NaN / inf gold (a float column) is a value like any other: graded, never a crash."""
    scores = IN_PROCESS([r"\boxed{1}", r"\boxed{nan}", r"\boxed{\infty}"], [math.nan, math.nan, math.inf])
    _check_scores(scores, 3)
