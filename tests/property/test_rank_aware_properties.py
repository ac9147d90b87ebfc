"""Property tests of `trl_explore.functional.rank_aware` (rank-aware NTP loss, arXiv 2512.22955).

Covered: shapes and output dtype for fp32 / bf16 / float64 logits; ignored labels (all, none, a single valid token)
give exactly 0 loss and 0 gradient; empty inputs; finite loss and gradient for finite logits; (β, λ) = 0 equals
cross-entropy bit for bit (any top_k, fp32 and bf16); agreement with the float64 reference (values and gradients) on
random logits and knobs; row-permutation equivariance and vocabulary-permutation invariance; monotonicity of the
weight in β; the statistics' ranges; argument validation.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from property.strategies import float_dtypes, int_tensors, masks, tensors
from reference.rank_aware_reference import reference_grad, reference_loss

from trl_explore.functional.rank_aware import rank_aware_log_weight, rank_aware_token_loss, rank_aware_token_stats

IGNORE = -100
knob = st.floats(-1.0, 1.0, allow_nan=False)


@st.composite
def problems(draw, max_rows: int = 6, max_vocab: int = 9, unique: bool = False, allow_empty: bool = True):
    """``(logits [N, V] float32, labels [N])`` with some labels ignored (random / all / none / one valid)."""
    n = draw(st.integers(0 if allow_empty else 1, max_rows))
    v = draw(st.integers(1 if not unique else 2, max_vocab))
    if unique:  # distinct by at least 1/8 (a denormal apart is a tie after the softmax: the top-k set is ambiguous)
        logits = draw(int_tensors((n, v), -160, 160).filter(lambda z: all(len(set(r)) == len(r) for r in z.tolist())))
        logits = logits.float() / 8
    else:
        logits = draw(tensors((n, v), -20.0, 20.0))
    labels = draw(int_tensors((n,), 0, v - 1))
    valid = draw(masks((n,)))
    return logits, torch.where(valid, labels, torch.full_like(labels, IGNORE))


@settings(max_examples=40)
@given(problems(), float_dtypes, st.integers(1, 12), knob, knob, knob)
def test_shapes_dtype_masks_and_finiteness(problem, dtype, top_k, beta, lambda_high, lambda_low):
    logits, labels = problem
    logits = logits.to(dtype).requires_grad_()
    loss = rank_aware_token_loss(logits, labels, beta, top_k, lambda_high, lambda_low)
    assert loss.shape == labels.shape and loss.dtype == torch.float32
    assert torch.isfinite(loss).all()
    ignored = labels == IGNORE
    assert torch.equal(loss[ignored], torch.zeros(int(ignored.sum())))
    if loss.numel():
        (grad,) = torch.autograd.grad(loss.sum(), logits)
        assert grad.dtype == dtype and torch.isfinite(grad.float()).all()
        assert (grad[ignored] == 0).all()


@settings(max_examples=30)
@given(problems(), float_dtypes, st.integers(1, 12))
def test_zero_knobs_equal_cross_entropy_exactly(problem, dtype, top_k):
    """(β, λ_high, λ_low) = (0, 0, 0): exactly cross-entropy of the float32 logits, whatever top_k."""
    logits, labels = problem
    logits = logits.to(dtype)
    ours = rank_aware_token_loss(logits, labels, top_k=top_k)
    ce = F.cross_entropy(logits.float(), labels, reduction="none", ignore_index=IGNORE)
    torch.testing.assert_close(ours, ce, rtol=0, atol=0)


@settings(max_examples=25)
@given(problems(unique=True, max_rows=4, max_vocab=7, allow_empty=False), st.integers(1, 8), knob, knob, knob)
def test_matches_float64_reference(problem, top_k, beta, lambda_high, lambda_low):
    """Distinct logits (the top-k set is then unambiguous): values and gradients equal the float64 reference
    (tests/reference)."""
    logits, labels = problem
    kwargs = {"beta": beta, "top_k": top_k, "lambda_high": lambda_high, "lambda_low": lambda_low}
    z = logits.double().requires_grad_()
    loss = rank_aware_token_loss(z, labels, **kwargs)
    ref, _ = reference_loss(z.detach(), labels, **kwargs)
    torch.testing.assert_close(loss, ref, rtol=1e-9, atol=1e-10)
    if loss.numel():
        (grad,) = torch.autograd.grad(loss.sum(), z)
        torch.testing.assert_close(grad, reference_grad(z.detach(), labels, **kwargs), rtol=1e-8, atol=1e-10)


@settings(max_examples=25)
@given(problems(unique=True, allow_empty=False), st.integers(1, 10), knob, knob, knob, st.data())
def test_row_and_vocabulary_permutations(problem, top_k, beta, lambda_high, lambda_low, data):
    """Permuting rows permutes the losses; permuting the vocabulary (and relabelling) changes nothing."""
    logits, labels = problem
    n, v = logits.shape
    kwargs = {"beta": beta, "top_k": top_k, "lambda_high": lambda_high, "lambda_low": lambda_low}
    base = rank_aware_token_loss(logits.double(), labels, **kwargs)
    rows = torch.tensor(data.draw(st.permutations(range(n))), dtype=torch.long)
    torch.testing.assert_close(rank_aware_token_loss(logits.double()[rows], labels[rows], **kwargs), base[rows])
    vocab = torch.tensor(data.draw(st.permutations(range(v))), dtype=torch.long)  # new column j holds old vocab[j]
    inverse = torch.argsort(vocab)
    relabelled = torch.where(labels == IGNORE, labels, inverse[labels.clamp(min=0)])
    permuted = rank_aware_token_loss(logits.double()[:, vocab], relabelled, **kwargs)
    torch.testing.assert_close(permuted, base, rtol=1e-12, atol=1e-12)


@settings(max_examples=40)
@given(st.floats(1e-6, 1.0 - 1e-6), st.floats(-3.0, 3.0), st.floats(-3.0, 3.0))
def test_weight_is_monotone_in_beta(p, beta_a, beta_b):
    """log w = (1 − (1 − p)^β) · log p is non-increasing in β: β < 0 up-weights (precision), β > 0 down-weights,
    β = 0 gives w = 1 exactly."""
    log_p = torch.tensor([math.log(p)], dtype=torch.float64)
    lo, hi = sorted((beta_a, beta_b))
    w_lo, w_hi = rank_aware_log_weight(log_p, lo), rank_aware_log_weight(log_p, hi)
    assert float(w_lo) >= float(w_hi) - 1e-12
    assert float(rank_aware_log_weight(log_p, 0.0)) == 0.0
    if hi > 0:
        assert float(w_hi) <= 1e-15  # diversity: w <= 1
    if lo < 0:
        assert float(w_lo) >= -1e-15  # precision: w >= 1


@settings(max_examples=30)
@given(problems(), float_dtypes, st.integers(1, 12), knob)
def test_stats_ranges(problem, dtype, top_k, beta):
    logits, labels = problem
    stats = rank_aware_token_stats(logits.to(dtype), labels, beta=beta, top_k=top_k)
    valid = labels != IGNORE
    assert torch.equal(stats["mask"], valid)
    v = logits.shape[-1]
    for name in ("entropy", "p_tail", "p_topk_neg", "w"):
        assert stats[name].shape == labels.shape and torch.isfinite(stats[name]).all(), name
        assert (stats[name][~valid] == 0).all(), name
    assert (stats["entropy"] >= -1e-5).all() and (stats["entropy"] <= math.log(v) + 1e-4).all()
    for name in ("p_tail", "p_topk_neg"):
        assert (stats[name] >= 0).all() and (stats[name] <= 1 + 1e-5).all(), name
    assert (stats["p_tail"] + stats["p_topk_neg"] <= 1 + 1e-5).all()
    assert (stats["w"][valid] > 0).all()
    if top_k >= v:
        assert (stats["p_tail"] == 0).all()
    assert not (stats["is_top1"] & ~valid).any()


def test_empty_and_single_token_inputs():
    """Zero tokens give an empty loss; one token over a one-word vocabulary has p_x = 1: loss 0 for every knob."""
    empty = rank_aware_token_loss(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), beta=-0.5, lambda_low=0.1)
    assert empty.shape == (0,)
    one = rank_aware_token_loss(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long), -0.5, 3, 0.2, -0.2)
    assert one.abs().item() == 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"beta": math.nan}, "beta"),
        ({"beta": math.inf}, "beta"),
        ({"lambda_high": math.nan}, "lambda_high"),
        ({"lambda_low": -math.inf}, "lambda_low"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(kwargs, name):
    logits, labels = torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=name):
        rank_aware_token_loss(logits, labels, **kwargs)
    if "top_k" in kwargs or "beta" in kwargs:
        with pytest.raises(ValueError, match=name):
            rank_aware_token_stats(logits, labels, **kwargs)
