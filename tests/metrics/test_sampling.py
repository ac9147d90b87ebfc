"""avg@k, maj@k and the pass@k curve on hand-derived cases."""

import pytest

from trl_explore.metrics import avg_at_k, maj_at_k, pass_at_k_curve


def test_avg_at_k():
    """Problem 1: (1+0+1+1)/4 = 0.75; problem 2: 0/4 = 0 -> mean 0.375. With k=2: (0.5 + 0)/2 = 0.25."""
    scores = [[1, 0, 1, 1], [0, 0, 0, None]]
    assert avg_at_k(scores) == pytest.approx(0.375)
    assert avg_at_k(scores, k=2) == pytest.approx(0.25)


def test_maj_at_k_majority_and_ties():
    """P1: '5' x2 (correct) vs '6' x1 -> correct. P2: '3' x2 (wrong) vs '4' (correct) -> wrong.
    P3: tie '1' (first, wrong) vs '2' (correct) -> the first-seen '1' wins -> wrong. P4: no answers -> wrong."""
    answers = [["5", "6", "5"], ["3", "4", "3"], ["1", "2", None], [None, None, None]]
    scores = [[1, 0, 1], [0, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert maj_at_k(answers, scores) == pytest.approx(0.25)
    # with k=2, P2 becomes a tie won by the first-seen wrong '3'; P1 a tie won by the correct '5'
    assert maj_at_k(answers, scores, k=2) == pytest.approx(0.25)


def test_maj_at_k_key_normalises_votes():
    answers = [["1/2", "0.5", "2"]]
    scores = [[1, 1, 0]]
    assert maj_at_k(answers, scores, key=lambda a: {"1/2": "0.5"}.get(a, a)) == 1.0


def test_pass_at_k_curve():
    """P1 has 1 correct of 4: pass@1 = .25, pass@2 = .5, pass@4 = 1. P2 has 4 of 4: all 1. Means: .625, .75, 1."""
    curve = pass_at_k_curve([[1, 0, 0, 0], [1, 1, 1, 1]])
    assert list(curve) == [1, 2, 4]
    assert curve[1] == pytest.approx(0.625)
    assert curve[2] == pytest.approx(0.75)
    assert curve[4] == pytest.approx(1.0)


def test_graded_scores_use_threshold():
    assert pass_at_k_curve([[0.5, 0.5]], ks=[1])[1] == 0.0
    assert pass_at_k_curve([[0.5, 0.5]], ks=[1], correct_threshold=0.5)[1] == 1.0


def test_errors():
    with pytest.raises(ValueError, match="empty"):
        avg_at_k([])
    with pytest.raises(ValueError, match="needs 3 samples"):
        avg_at_k([[1, 0]], k=3)
    with pytest.raises(ValueError, match="answers"):
        maj_at_k([["1"]], [[1], [0]])
