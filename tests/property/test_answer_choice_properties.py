"""Property tests of `trl_explore.functional.answer_choice` (answer-choice mass, the SFC certificate, PMI_DC).

Covered: unique-token mass (the reference's Σ over distinct ids, duplicates and padding, fully masked rows and zero
columns give 0, invariance under a permutation of a row's entries, fp32 / bf16 / float64 log-probs); the SFC
certificate (the reference's reading of the bound on every row, ties never resolved, padding ignored, zero choices and
fully masked rows are unresolved, permutation invariance, row equivariance); PMI scores (the log ratio, its argmax is
the ratio's); ``masked_argmax`` (a real entry holding the maximum, the first on ties); ``pad_ragged`` round trips;
shape errors.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from property.strategies import int_tensors, masks, tensors
from reference.answer_choice_reference import sfc_resolved, unique_mass

from trl_explore.functional.answer_choice import (
    masked_argmax,
    pad_ragged,
    pmi_log_scores,
    sfc_certificate,
    unique_token_mass,
)

dtypes = st.sampled_from([torch.float32, torch.bfloat16, torch.float64])


@st.composite
def token_rows(draw, max_rows: int = 5, max_k: int = 7):
    """``(log-probs [B, K], ids [B, K], mask [B, K])`` where a repeated id has one probability within its row."""
    b = draw(st.integers(0, max_rows))
    k = draw(st.integers(0, max_k))
    ids = draw(int_tensors((b, k), 0, 5))
    per_id = draw(tensors((b, 6), 0.0, 0.16))  # six ids, each P <= 0.16: a row's distinct ids sum to <= 0.96
    probs = per_id.gather(1, ids) if k else torch.zeros(b, 0)
    return probs.clamp(min=1e-30).log(), ids, draw(masks((b, k)))


@settings(max_examples=50)
@given(token_rows(), dtypes, st.data())
def test_unique_token_mass(rows, dtype, data):
    log_probs, ids, mask = rows
    log_probs = log_probs.to(dtype)
    mass, stats = unique_token_mass(log_probs, ids, mask)
    b, k = ids.shape
    assert mass.shape == (b,) and mass.dtype == dtype and stats["num_unique"].shape == (b,)
    probs = log_probs.double().exp()
    for i in range(b):
        real = [int(j) for j in range(k) if mask[i, j]]
        by_id = {int(ids[i, j]): float(probs[i, j]) for j in real}
        assert mass[i].item() == pytest.approx(unique_mass(by_id, [int(ids[i, j]) for j in real]), abs=1e-6, rel=1e-2)
        assert int(stats["num_unique"][i]) == len(by_id)
    assert (mass[~mask.any(-1)] == 0).all() if b else True
    if k:  # the same entries in another order: the same mass
        perm = torch.tensor(data.draw(st.permutations(range(k))), dtype=torch.long)
        permuted, _ = unique_token_mass(log_probs[:, perm], ids[:, perm], mask[:, perm])
        torch.testing.assert_close(permuted, mass, rtol=1e-2 if dtype == torch.bfloat16 else 1e-6, atol=1e-6)


@st.composite
def choice_rows(draw, max_rows: int = 5, max_m: int = 6):
    b = draw(st.integers(0, max_rows))
    m = draw(st.integers(0, max_m))
    values = st.sampled_from([0.0, 0.25, 0.5]) | st.floats(0.0, 0.6)  # repeats: ties and exact boundaries
    probs = torch.tensor(draw(st.lists(st.lists(values, min_size=m, max_size=m), min_size=b, max_size=b)),
                         dtype=torch.float64).view(b, m)  # fmt: skip
    return probs, draw(masks((b, m)))


@settings(max_examples=60)
@given(choice_rows(), st.data())
def test_sfc_certificate(rows, data):
    probs, mask = rows
    b, m = probs.shape
    resolved, stats = sfc_certificate(probs, mask)
    assert resolved.shape == (b,) and resolved.dtype == torch.bool
    for i in range(b):
        real = [float(probs[i, j]) for j in range(m) if mask[i, j]]
        if not real:  # no choice: nothing is certified
            assert not resolved[i] and stats["gap"][i] == 0 and stats["total"][i] == 0
            continue
        assert bool(resolved[i]) == sfc_resolved(real), (real, stats)
        assert float(stats["total"][i]) == pytest.approx(sum(real))
    assert (stats["missing_mass"] >= 0).all() and (stats["gap"] >= 0).all()
    if m:
        perm = torch.tensor(data.draw(st.permutations(range(m))), dtype=torch.long)
        assert torch.equal(sfc_certificate(probs[:, perm], mask[:, perm])[0], resolved)
        padded = torch.cat([probs, torch.full((b, 1), 0.99, dtype=probs.dtype)], dim=1)  # a masked 0.99 changes nothing
        assert torch.equal(
            sfc_certificate(padded, torch.cat([mask, torch.zeros(b, 1, dtype=torch.bool)], 1))[0], resolved
        )
    if b > 1:
        rows_perm = torch.tensor(data.draw(st.permutations(range(b))), dtype=torch.long)
        assert torch.equal(sfc_certificate(probs[rows_perm], mask[rows_perm])[0], resolved[rows_perm])


@settings(max_examples=40)
@given(st.integers(0, 4).flatmap(lambda b: st.integers(1, 6).flatmap(
    lambda m: st.tuples(tensors((b, m), -20.0, 0.0), tensors((b, m), -20.0, 0.0), masks((b, m))))))  # fmt: skip
def test_pmi_scores_and_masked_argmax(args):
    cond, unc, mask = args
    scores = pmi_log_scores(cond.double(), unc.double())
    torch.testing.assert_close(scores, cond.double() - unc.double())
    ratio = cond.double().exp() / unc.double().exp()
    best = masked_argmax(scores, mask)
    assert best.shape == (cond.shape[0],)
    for i in range(cond.shape[0]):
        if not mask[i].any():
            continue
        j = int(best[i])
        assert mask[i, j]
        real = scores[i][mask[i]]
        assert scores[i, j] == real.max()
        assert j == int(torch.nonzero(mask[i] & (scores[i] == real.max()))[0])  # the first on ties
        assert ratio[i, j] == pytest.approx(float(ratio[i][mask[i]].max()), rel=1e-9)


@settings(max_examples=40)
@given(st.lists(st.lists(st.floats(-5.0, 5.0), max_size=5), max_size=5), st.floats(-1.0, 1.0))
def test_pad_ragged_round_trip(rows, fill):
    values, mask = pad_ragged(rows, fill=fill)
    width = max((len(r) for r in rows), default=0)
    assert values.shape == mask.shape == (len(rows), width)
    for i, row in enumerate(rows):
        assert values[i][mask[i]].tolist() == row
        assert (values[i][~mask[i]] == fill).all()


def test_zero_choices_and_shape_errors():
    resolved, stats = sfc_certificate(torch.zeros(2, 0))
    assert resolved.tolist() == [False, False] and stats["gap"].tolist() == [0.0, 0.0]
    assert stats["missing_mass"].tolist() == [1.0, 1.0]
    mass, stats = unique_token_mass(torch.zeros(2, 0), torch.zeros(2, 0, dtype=torch.long))
    assert mass.tolist() == [0.0, 0.0] and stats["num_unique"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="scores"):
        masked_argmax(torch.zeros(2, 0))
    with pytest.raises(ValueError, match="mask"):
        sfc_certificate(torch.zeros(2, 3), torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="choice_probs"):
        sfc_certificate(torch.zeros(3))
    with pytest.raises(ValueError, match="token_ids"):
        unique_token_mass(torch.zeros(2, 3), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="same shape"):
        pmi_log_scores(torch.zeros(1, 2), torch.zeros(1, 3))
    assert math.isfinite(float(sfc_certificate(torch.rand(3, 4))[1]["gap"].sum()))
