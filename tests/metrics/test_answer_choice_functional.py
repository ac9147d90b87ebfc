"""`trl_explore.functional.answer_choice`: hand-derived PM, SFC certificate and PMI values, and the result's
aggregates from precomputed log-probabilities."""

import math

import pytest
import torch
from reference.answer_choice_reference import pmi_ratio, sfc_resolved, unique_mass

from trl_explore.functional.answer_choice import (
    masked_argmax,
    pad_ragged,
    pmi_log_scores,
    sfc_certificate,
    unique_token_mass,
)
from trl_explore.metrics.answer_choice import AnswerChoiceMassResult

LOG = math.log


def test_unique_token_mass_counts_duplicates_once():
    """Row 0: ids [7, 7, 9] with P = [0.2, 0.2, 0.3] -> 0.2 + 0.3 = 0.5 (the second 7 is a duplicate).
    Row 1: ids [1, 2, (pad)] with P = [0.1, 0.4] -> 0.5; the padded entry has id 7 and P = 0.9 but is masked, and must
    not make the real 7 of another row (or itself) a duplicate."""
    lp = torch.tensor([[LOG(0.2), LOG(0.2), LOG(0.3)], [LOG(0.1), LOG(0.4), LOG(0.9)]], dtype=torch.float64)
    ids = torch.tensor([[7, 7, 9], [1, 2, 7]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    mass, stats = unique_token_mass(lp, ids, mask)
    assert mass.tolist() == pytest.approx([0.5, 0.5], abs=1e-12)
    assert stats["num_unique"].tolist() == [2, 2]
    # a masked duplicate before a real entry does not hide the real one: ids [5 (masked), 5] -> P(second 5)
    mass, _ = unique_token_mass(
        torch.tensor([[LOG(0.6), LOG(0.25)]]), torch.tensor([[5, 5]]), torch.tensor([[False, True]])
    )
    assert mass.item() == pytest.approx(0.25)
    assert unique_mass({7: 0.2, 9: 0.3}, [7, 7, 9]) == pytest.approx(0.5)  # the reference agrees


@pytest.mark.parametrize(
    ("probs", "resolved", "missing", "gap"),
    [
        ([0.6, 0.3], True, 0.1, 0.3),  # s = 0.9: 0.1 < 0.3
        ([0.4, 0.35], False, 0.25, 0.05),  # s = 0.75: 0.25 >= 0.05
        ([0.5, 0.25, 0.25], True, 0.0, 0.25),  # s = 1: nothing missing, any gap > 0 resolves
        ([0.5, 0.5], False, 0.0, 0.0),  # a tie is never resolved (strict inequality)
        ([0.3, 0.2], False, 0.5, 0.1),  # half the mass is elsewhere
        ([0.7, 0.6], True, 0.0, 0.1),  # s = 1.3 (one choice a prefix of the other): missing clamped at 0
        ([0.45, 0.4], False, 0.15, 0.05),  # 0.15 >= 0.05
    ],
)
def test_sfc_certificate_hand_made(probs, resolved, missing, gap):
    r, stats = sfc_certificate(torch.tensor([probs], dtype=torch.float64))
    assert r.tolist() == [resolved]
    assert stats["missing_mass"].item() == pytest.approx(missing, abs=1e-12)
    assert stats["gap"].item() == pytest.approx(gap, abs=1e-12)
    assert sfc_resolved(probs) is resolved  # the reference's reading of the paper


def test_sfc_certificate_boundary_and_padding():
    """1 − s == g exactly (0.5, 0.25: s = 0.75, missing 0.25 = gap) is not resolved; padding entries are ignored even
    when they would be the top probability."""
    values, mask = pad_ragged([[0.5, 0.25], [0.6, 0.3, 0.05]], fill=0.99)
    r, stats = sfc_certificate(values, mask)
    assert r.tolist() == [False, True]
    assert stats["total"].tolist() == pytest.approx([0.75, 0.95])


def test_pmi_is_the_probability_ratio():
    """P(c|x) = [0.2, 0.1], P(c|x_unc) = [0.4, 0.05] -> ratios [0.5, 2.0]: PMI prefers choice 1, plain scoring choice 0."""
    cond = torch.tensor([[LOG(0.2), LOG(0.1)]], dtype=torch.float64)
    unc = torch.tensor([[LOG(0.4), LOG(0.05)]], dtype=torch.float64)
    log_ratio = pmi_log_scores(cond, unc)
    assert log_ratio.exp().tolist()[0] == pytest.approx([0.5, 2.0])
    assert [pmi_ratio(c, u) for c, u in zip(cond[0].tolist(), unc[0].tolist())] == pytest.approx([0.5, 2.0])
    assert masked_argmax(log_ratio).tolist() == [1] and masked_argmax(cond).tolist() == [0]
    with pytest.raises(ValueError, match="same shape"):
        pmi_log_scores(cond, unc[:, :1])


def test_masked_argmax_ignores_padding_and_breaks_ties_first():
    scores, mask = pad_ragged([[0.1, 0.3], [0.2, 0.2, 0.1]], fill=5.0)
    assert masked_argmax(scores, mask).tolist() == [1, 0]


def test_shape_errors():
    with pytest.raises(ValueError, match="token_ids"):
        unique_token_mass(torch.zeros(2, 3), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="mask shape"):
        unique_token_mass(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="choice_probs"):
        sfc_certificate(torch.zeros(3))


def test_result_from_logprobs_hand_derived():
    """Two questions.

    Q0: choice probs [0.6, 0.3] (single-token choices, ids 10, 11), gold 0 -> PM = 0.9, all-token mass 0.9, sequence
    and first-token predictions 0, resolved (0.1 < 0.3). Unconditional [0.9, 0.1]: ratios [2/3, 3] -> PMI picks 1.
    Q1: three choices, probs [0.1, 0.2, 0.3], first tokens [0.15, 0.25, 0.15] with ids [5, 6, 5] (choices 0 and 2
    share a first token), gold 2 -> PM = 0.15 + 0.25 = 0.4, all-token mass 0.6, sequence prediction 2, first-token
    prediction 1, not resolved (0.4 >= 0.1). Unconditional [0.1, 0.4, 0.6]: ratios [1, 0.5, 0.5] -> PMI picks 0.
    Accuracies: sequence 2/2, first-token 1/2, PMI 0/2; resolved fraction 1/2; mean PM 0.65.
    """
    r = AnswerChoiceMassResult.from_logprobs(
        choice_logprobs=[[LOG(0.6), LOG(0.3)], [LOG(0.1), LOG(0.2), LOG(0.3)]],
        answers=[0, 2],
        first_token_logprobs=[[LOG(0.6), LOG(0.3)], [LOG(0.15), LOG(0.25), LOG(0.15)]],
        first_token_ids=[[10, 11], [5, 6, 5]],
        unconditional_logprobs=[[LOG(0.9), LOG(0.1)], [LOG(0.1), LOG(0.4), LOG(0.6)]],
    )
    assert r.mass == pytest.approx([0.9, 0.4])
    assert r.all_token_mass == pytest.approx([0.9, 0.6])
    assert r.pred_sequence == [0, 2] and r.pred_first_token == [0, 1] and r.pred_pmi == [1, 0]
    assert r.sfc_resolved == [True, False]
    assert r.first_token_collision == [False, True]
    assert r.pmi_scores[0] == pytest.approx([2 / 3, 3.0]) and r.pmi_scores[1] == pytest.approx([1.0, 0.5, 0.5])
    s = r.summary()
    assert s["mass"] == pytest.approx(0.65) and s["accuracy"] == 1.0 and s["first_token_accuracy"] == 0.5
    assert s["pmi_accuracy"] == 0.0 and s["sfc_resolved"] == 0.5 and s["generation_accuracy"] is None
    assert s["invalid_rate"] is None


def test_result_mass_tokens_and_validation():
    """Explicit mass tokens (surface-form variants): ids [3, 4, 3, 8] with P [0.2, 0.1, 0.2, 0.05] -> PM = 0.35."""
    r = AnswerChoiceMassResult.from_logprobs(
        choice_logprobs=[[LOG(0.2), LOG(0.1)]],
        mass_token_logprobs=[[LOG(0.2), LOG(0.1), LOG(0.2), LOG(0.05)]],
        mass_token_ids=[[3, 4, 3, 8]],
    )
    assert r.mass == pytest.approx([0.35]) and r.accuracy is None
    with pytest.raises(ValueError, match="together"):
        AnswerChoiceMassResult.from_logprobs([[0.0, -1.0]], mass_token_ids=[[1, 2]])
    with pytest.raises(ValueError, match="first_token_ids"):
        AnswerChoiceMassResult.from_logprobs([[0.0, -1.0]], first_token_ids=[[1]])
    with pytest.raises(ValueError, match="answers"):
        AnswerChoiceMassResult.from_logprobs([[0.0, -1.0]], answers=[0, 1])
    with pytest.raises(ValueError, match="unconditional_logprobs"):
        AnswerChoiceMassResult.from_logprobs([[0.0, -1.0]], unconditional_logprobs=[[0.0]])
