"""Pure helpers of the real-model benchmarks (``benchmarks/_real.py``): AUROC, the paired bootstrap, the
programmatic multiple-choice questions and the answer-choice claim summaries. Expected values are derived by hand in
the docstrings; nothing here needs the model."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def real(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _real

    return _real


def test_auroc_hand_case(real):
    """human [0.1, 0.4], machine [0.35, 0.8]: of the 4 (machine, human) pairs 0.35 > 0.1, 0.35 < 0.4, 0.8 > 0.1,
    0.8 > 0.4 -> 3 of 4 = 0.75. A tie counts one half: human [1, 0], machine [1, 2] -> pairs (1 vs 1) 0.5, (1 vs 0)
    1, (2 vs 1) 1, (2 vs 0) 1 -> 3.5 / 4 = 0.875."""
    # both sides are exact binary fractions of a rank sum: compared exactly
    assert real.auroc([0.1, 0.4], [0.35, 0.8]) == 0.75
    assert real.auroc([1.0, 0.0], [1.0, 2.0]) == 0.875
    assert real.auroc([5.0, 6.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="finite"):
        real.auroc([0.0, math.nan], [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        real.auroc([], [1.0])


def test_bootstrap_perfectly_separated_and_self_difference(real):
    """Every human score below every machine score: every resample (same classes, with replacement) is still
    separated, so AUROC = 1 with CI [1, 1]; a method minus its own copy is 0 in every resample -> CI [0, 0], and it
    does not exclude 0. The shuffled method's AUROC (hand: human [3, 0, 2], machine [1, 4, 5]: pairs won 1>0,
    4>all 3, 5>all 3 -> 7 of 9) lies within its CI."""
    human = {"a": [0.0, 1.0, 2.0], "b": [0.0, 1.0, 2.0], "c": [3.0, 0.0, 2.0]}
    machine = {"a": [3.0, 4.0, 5.0], "b": [3.0, 4.0, 5.0], "c": [1.0, 4.0, 5.0]}
    out = real.paired_bootstrap_auroc(human, machine, [("a", "b"), ("a", "c")], num_resamples=200, seed=1)
    assert out["a"] == {"auroc": 1.0, "low": 1.0, "high": 1.0}
    assert out["a - b"]["diff"] == 0.0 and out["a - b"]["low"] == 0.0 and out["a - b"]["high"] == 0.0
    assert out["a - b"]["excludes_zero"] == 0.0
    assert out["c"]["auroc"] == pytest.approx(7 / 9, rel=1e-12)
    assert out["c"]["low"] <= 7 / 9 <= out["c"]["high"]
    # a minus c >= 0 in every resample (a is always 1): the interval's low end is >= 0
    assert out["a - c"]["low"] >= 0.0


def test_bootstrap_is_seeded_and_paired(real):
    """Same seed -> the same interval; another seed -> another one (the resampling really is random). Paired: with
    b = a + noise, the CI of a - b is narrower than a's own CI would suggest for independent draws."""
    rng = np.random.default_rng(0)
    h, m = rng.normal(size=60), rng.normal(0.8, 1.0, size=60)
    human = {"a": h, "b": h + 0.05 * rng.normal(size=60)}
    machine = {"a": m, "b": m + 0.05 * rng.normal(size=60)}
    one = real.paired_bootstrap_auroc(human, machine, [("a", "b")], num_resamples=300, seed=3)
    two = real.paired_bootstrap_auroc(human, machine, [("a", "b")], num_resamples=300, seed=3)
    other = real.paired_bootstrap_auroc(human, machine, [("a", "b")], num_resamples=300, seed=4)
    assert one == two
    assert one["a"]["low"] != other["a"]["low"] or one["a"]["high"] != other["a"]["high"]
    width_diff = one["a - b"]["high"] - one["a - b"]["low"]
    width_a = one["a"]["high"] - one["a"]["low"]
    assert width_diff < width_a / 2


def test_bootstrap_validates(real):
    with pytest.raises(ValueError, match="same non-empty methods"):
        real.paired_bootstrap_auroc({"a": [0.0]}, {"b": [1.0]})
    with pytest.raises(ValueError, match="num_resamples"):
        real.paired_bootstrap_auroc({"a": [0.0]}, {"a": [1.0]}, num_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        real.paired_bootstrap_auroc({"a": [0.0]}, {"a": [1.0]}, confidence=1.0)
    with pytest.raises(ValueError, match="pair"):
        real.paired_bootstrap_auroc({"a": [0.0]}, {"a": [1.0]}, [("a", "z")])
    with pytest.raises(ValueError, match="expected"):
        real.paired_bootstrap_auroc({"a": [0.0], "b": [0.0, 1.0]}, {"a": [1.0], "b": [1.0]})


def _check_answer(q) -> None:
    """Recompute the correct choice from the question text alone, independently of the builder."""
    text, choice = q["question"], q["choices"][q["answer"]]
    if q["kind"] == "arithmetic":
        a, word, b = re.fullmatch(r"What is (\d+) (plus|minus|times) (\d+)\?", text).groups()
        value = {"plus": int(a) + int(b), "minus": int(a) - int(b), "times": int(a) * int(b)}[word]
        assert choice == str(value)
    elif q["kind"] == "largest":
        assert int(choice) == max(int(c) for c in q["choices"])
    elif q["kind"] == "odd_one_out":
        category = re.fullmatch(r"Which of these is not a (\w+)\?", text).group(1)
        members = {"animal": {"dog", "cat", "horse", "cow", "lion", "tiger", "rabbit", "sheep", "wolf", "bear"},
                   "fruit": {"apple", "banana", "orange", "grape", "pear", "cherry", "peach", "lemon", "mango", "plum"},
                   "color": {"red", "blue", "green", "yellow", "purple", "black", "white", "pink", "brown", "gray"},
                   "vehicle": {"car", "bus", "train", "bicycle", "truck", "boat", "plane", "taxi", "tractor",
                               "scooter"}}[category]  # fmt: skip
        assert choice not in members
        assert all(c in members for i, c in enumerate(q["choices"]) if i != q["answer"])
    elif q["kind"] == "antonym":
        word = re.fullmatch(r"What is the opposite of (\w+)\?", text).group(1)
        pairs = {("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("light", "dark"),
                 ("up", "down"), ("open", "closed"), ("old", "young"), ("early", "late"), ("hard", "soft"),
                 ("full", "empty"), ("rich", "poor"), ("strong", "weak"), ("wet", "dry"), ("high", "low"),
                 ("loud", "quiet"), ("long", "short"), ("thick", "thin")}  # fmt: skip
        assert (word, choice) in pairs or (choice, word) in pairs
    else:
        country = re.fullmatch(r"What is the capital of (\w+)\?", text).group(1)
        capitals = {"France": "Paris", "Germany": "Berlin", "Japan": "Tokyo", "Egypt": "Cairo", "Peru": "Lima",
                    "Canada": "Ottawa", "Kenya": "Nairobi", "Italy": "Rome", "Spain": "Madrid", "Russia": "Moscow",
                    "Greece": "Athens", "Portugal": "Lisbon", "Norway": "Oslo", "Ireland": "Dublin",
                    "Austria": "Vienna", "Poland": "Warsaw", "China": "Beijing", "Sweden": "Stockholm",
                    "Belgium": "Brussels"}  # fmt: skip
        assert choice == capitals[country]


def test_mc_questions_have_checkable_answers(real):
    questions = real.make_mc_questions(20, seed=0)
    assert len(questions) == 100
    assert [q["kind"] for q in questions[::20]] == list(real.MC_KINDS)
    for q in questions:
        assert len(q["choices"]) == 4 and len(set(q["choices"])) == 4
        _check_answer(q)
    # the correct position is spread over the four slots (100 shuffles: each slot gets some)
    assert {q["answer"] for q in questions} == {0, 1, 2, 3}
    assert real.make_mc_questions(3, seed=5) == real.make_mc_questions(3, seed=5)
    assert real.make_mc_questions(3, seed=5) != real.make_mc_questions(3, seed=6)
    with pytest.raises(ValueError, match="per_kind"):
        real.make_mc_questions(0)
    with pytest.raises(ValueError, match="kinds"):
        real.make_mc_questions(1, kinds=["riddle"])


def test_icl_mass_steps_and_sfc_share(real):
    """Setting enumerated/off: k 0 -> 1 mass 0.2 -> 0.9 (+0.7), accuracy 0.5 -> 0.4 (-0.1): discordant; 1 -> 3 mass
    0.9 -> 0.95, accuracy 0.4 -> 0.6: concordant. cloze/off k 0 -> 1: mass 0.5 -> 0.4, accuracy 0.3 -> 0.2: mass fell,
    not discordant. SFC share: mass [0.9, 0.6, 0.2, 0.1], resolved [T, F, F, F] -> high side (>= 0.5) 1 of 2 = 0.5,
    low side 0 of 2 = 0."""
    rows = [
        {"format": "enumerated", "chat": "off", "num_shots": 1, "mass": 0.9, "accuracy": 0.4},
        {"format": "enumerated", "chat": "off", "num_shots": 0, "mass": 0.2, "accuracy": 0.5},
        {"format": "enumerated", "chat": "off", "num_shots": 3, "mass": 0.95, "accuracy": 0.6},
        {"format": "cloze", "chat": "off", "num_shots": 0, "mass": 0.5, "accuracy": 0.3},
        {"format": "cloze", "chat": "off", "num_shots": 1, "mass": 0.4, "accuracy": 0.2},
    ]
    steps = real.icl_mass_steps(rows)
    assert [(s["format"], s["k_from"], s["k_to"], s["discordant"]) for s in steps] == [
        ("enumerated", 0, 1, True), ("enumerated", 1, 3, False), ("cloze", 0, 1, False)]  # fmt: skip
    assert steps[0]["d_mass"] == pytest.approx(0.7) and steps[0]["d_accuracy"] == pytest.approx(-0.1)
    share = real.resolved_share_by_mass([0.9, 0.6, 0.2, 0.1], [True, False, False, False])
    assert share == {"high": 0.5, "low": 0.0, "n_high": 2, "n_low": 2}
    empty = real.resolved_share_by_mass([0.9], [True])
    assert math.isnan(empty["low"]) and empty["n_low"] == 0


def test_paired_t_interval_hand_case(real):
    """method [3, 5, 7], baseline [2, 3, 4]: differences [1, 2, 3], mean 2, s_d = sqrt(((-1)^2 + 0 + 1^2) / 2) = 1,
    t_{0.975, 2} = 4.302653 (tables), half-width 4.302653 / sqrt(3) = 2.484138 -> [-0.484138, 4.484138], which
    contains 0. Means: method 5, baseline 3."""
    out = real.paired_t_interval([3.0, 5.0, 7.0], [2.0, 3.0, 4.0])
    assert out["n"] == 3 and out["mean_method"] == 5.0 and out["mean_baseline"] == 3.0 and out["diff"] == 2.0
    assert math.isclose(out["low"], -0.484138, abs_tol=1e-6) and math.isclose(out["high"], 4.484138, abs_tol=1e-6)
    assert out["excludes_zero"] == 0.0
    # the same differences shifted by +3 -> [4, 5, 6]: mean 5, same half-width -> [2.515862, 7.484138], excludes 0
    out = real.paired_t_interval([7.0, 8.0, 9.0], [3.0, 3.0, 3.0])
    assert math.isclose(out["low"], 2.515862, abs_tol=1e-6) and out["excludes_zero"] == 1.0


def test_paired_t_interval_one_pair_and_errors(real):
    """One pair: the difference is reported, the interval is undefined (n - 1 = 0 degrees of freedom)."""
    out = real.paired_t_interval([0.5], [0.25])
    assert out["diff"] == 0.25 and math.isnan(out["low"]) and math.isnan(out["high"]) and out["excludes_zero"] == 0.0
    with pytest.raises(ValueError, match="equal length"):
        real.paired_t_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        real.paired_t_interval([1.0], [1.0], confidence=1.0)
