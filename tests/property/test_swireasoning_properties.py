"""Property tests of `trl_explore.functional.swireasoning` (SwiReasoning, arXiv 2510.05069).

Covered: entropy and probabilities (float32 for fp32 / bf16 logits, empty batches, probabilities summing to 1,
entropy in [0, log V], the float64 entropy, ``-inf`` logits contributing nothing, invariance to a logit shift and to a
vocabulary permutation); soft embeddings (= p @ E, a one-hot p picks the row exactly, the embedding scale); mixing
(c = 0 / 1 exact, values between the two inputs, ``None`` soft); the α / β schedule (starts at w0, reaches 1,
monotone); the switch rule (a plain per-row transcription of the documented rule, disjoint switches, state updates,
row permutation equivariance, ``window_size = inf`` never returns to latent, frozen rows keep their mode) and its
argument validation.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from property.strategies import float_dtypes, int_tensors, masks, tensors

from trl_explore.functional.swireasoning import (
    mix_embeddings,
    mix_weight,
    soft_embeddings,
    swireasoning_entropy,
    swireasoning_switch,
)


@st.composite
def logits(draw, max_rows: int = 5, max_vocab: int = 12):
    b = draw(st.integers(0, max_rows))
    v = draw(st.integers(1, max_vocab))
    return draw(tensors((b, v), -30.0, 30.0))


@settings(max_examples=50)
@given(logits(), float_dtypes, st.floats(-100.0, 100.0), st.data())
def test_entropy_and_probabilities(z, dtype, shift, data):
    z = z.to(dtype)
    h, p = swireasoning_entropy(z)
    b, v = z.shape
    assert h.shape == (b,) and p.shape == (b, v) and h.dtype == p.dtype == torch.float32
    assert torch.isfinite(h).all() and torch.isfinite(p).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(b), rtol=0, atol=1e-5)
    assert (h >= -1e-6).all() and (h <= math.log(v) + 1e-5).all()
    if b:
        expected = torch.distributions.Categorical(logits=z.double()).entropy()
        torch.testing.assert_close(h.double(), expected, rtol=1e-5, atol=1e-5)
    h_shift, _ = swireasoning_entropy(z.float() + shift)
    torch.testing.assert_close(h_shift, h, rtol=1e-4, atol=1e-4)
    perm = torch.tensor(data.draw(st.permutations(range(v))), dtype=torch.long)
    h_perm, p_perm = swireasoning_entropy(z[:, perm])
    torch.testing.assert_close(h_perm, h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(p_perm, p[:, perm], rtol=1e-5, atol=1e-7)


@settings(max_examples=40)
@given(logits(max_vocab=10), st.data())
def test_masked_logits_contribute_nothing(z, data):
    """Setting some logits to -inf (but not all of a row) gives the entropy of the remaining sub-distribution."""
    b, v = z.shape
    drop = data.draw(masks((b, v), kind="random"))
    drop[:, 0] = False  # keep one entry per row
    h, p = swireasoning_entropy(z.masked_fill(drop, -math.inf))
    assert torch.isfinite(h).all() and (p[drop] == 0).all()
    for i in range(b):
        kept = z[i][~drop[i]].double()
        expected = torch.distributions.Categorical(logits=kept).entropy()
        assert h[i].item() == pytest.approx(float(expected), abs=1e-5)


@settings(max_examples=40)
@given(
    st.integers(0, 4).flatmap(lambda b: st.tuples(st.just(b), st.integers(1, 8), st.integers(1, 5))),
    st.sampled_from([None, 1.0, 2.5]),
    st.data(),
)
def test_soft_embeddings(shape, scale, data):
    b, v, d = shape
    weight = data.draw(tensors((v, d), -3.0, 3.0)).double()
    probs = torch.softmax(data.draw(tensors((b, v), -10.0, 10.0)).double(), -1)
    soft = soft_embeddings(probs, weight, scale)
    assert soft.shape == (b, d) and soft.dtype == weight.dtype
    expected = sum((probs[:, j : j + 1] * weight[j] for j in range(v)), torch.zeros(b, d, dtype=torch.float64))
    torch.testing.assert_close(soft, expected * (1.0 if scale is None else scale))
    one_hot = torch.nn.functional.one_hot(torch.arange(v), v).double()
    assert torch.equal(soft_embeddings(one_hot, weight), weight)  # a certain row is its own embedding, exactly


@settings(max_examples=40)
@given(st.integers(0, 5).flatmap(lambda b: st.tuples(st.just(b), st.integers(1, 6))), st.data(), float_dtypes)
def test_mix_embeddings(shape, data, dtype):
    b, d = shape
    soft = data.draw(tensors((b, d), -5.0, 5.0)).to(dtype)
    anchor = data.draw(tensors((b, d), -5.0, 5.0)).to(dtype)
    coef = data.draw(st.lists(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0), min_size=b, max_size=b))
    coef = torch.tensor(coef, dtype=torch.float32)
    mixed = mix_embeddings(soft, anchor, coef)
    assert mixed.shape == (b, d) and mixed.dtype == dtype
    assert torch.equal(mixed[coef == 0], anchor[coef == 0]) and torch.equal(mixed[coef == 1], soft[coef == 1])
    lo, hi = torch.minimum(soft, anchor).float(), torch.maximum(soft, anchor).float()
    slack = 1e-5 if dtype == torch.float32 else 5e-2
    assert ((mixed.float() >= lo - slack) & (mixed.float() <= hi + slack)).all()
    assert mix_embeddings(None, anchor, coef) is anchor


@settings(max_examples=40)
@given(st.floats(0.0, 1.0), st.integers(1, 4096), st.data())
def test_mix_weight_schedule(w0, max_new_tokens, data):
    assert mix_weight(w0, 0, max_new_tokens) == w0
    assert mix_weight(w0, max_new_tokens, max_new_tokens) == pytest.approx(1.0)
    t = data.draw(st.integers(0, max_new_tokens - 1))
    assert w0 - 1e-12 <= mix_weight(w0, t, max_new_tokens) <= mix_weight(w0, t + 1, max_new_tokens) + 1e-12


def _rule_for_one_row(explicit, h, ref, dwell, locked, end, window, frozen):
    """The documented rule for one row, in plain Python."""
    dwell = dwell + int(explicit)
    now_locked = locked or end
    drop = (not explicit) and h < ref and not end and not frozen
    to_latent = explicit and h > ref and dwell >= window and not now_locked and not frozen
    to_explicit = drop or ((not explicit) and end)
    switched = to_explicit or to_latent
    return {
        "explicit": explicit != switched,
        "reference": h if switched else ref,
        "dwell": 0 if switched else dwell,
        "locked": now_locked,
        "to_explicit": to_explicit,
        "to_latent": to_latent,
        "entropy_drop": drop,
    }


@st.composite
def switch_states(draw):
    b = draw(st.integers(0, 6))
    values = st.sampled_from([0.5, 1.0, 2.0]) | st.floats(0.0, 3.0)  # repeats make H == ref ties
    return {
        "explicit": draw(masks((b,))),
        "entropy": torch.tensor(draw(st.lists(values, min_size=b, max_size=b)), dtype=torch.float32),
        "reference": torch.tensor(draw(st.lists(values, min_size=b, max_size=b)), dtype=torch.float32),
        "dwell": draw(int_tensors((b,), 0, 6)),
        "locked": draw(masks((b,))),
        "sampled_end_think": draw(masks((b,))),
    }


@settings(max_examples=60)
@given(switch_states(), st.sampled_from([1, 2, 3, 5, math.inf]) | st.floats(0.5, 8.0), st.booleans(), st.data())
def test_switch_rule(state, window, use_frozen, data):
    b = state["explicit"].numel()
    frozen = data.draw(masks((b,))) if use_frozen else None
    step = swireasoning_switch(**state, window_size=window, frozen=frozen)
    for i in range(b):
        expected = _rule_for_one_row(
            bool(state["explicit"][i]), float(state["entropy"][i]), float(state["reference"][i]),
            int(state["dwell"][i]), bool(state["locked"][i]), bool(state["sampled_end_think"][i]), window,
            bool(frozen[i]) if frozen is not None else False,
        )  # fmt: skip
        got = {name: getattr(step, name)[i].item() for name in expected}
        assert got == pytest.approx(expected), i
    assert not (step.to_explicit & step.to_latent).any()
    assert not (step.to_explicit & state["explicit"]).any() and not (step.to_latent & ~state["explicit"]).any()
    assert not (state["locked"] & ~step.locked).any()
    if math.isinf(window):
        assert not step.to_latent.any()
    if frozen is not None:
        assert not (step.entropy_drop & frozen).any() and not (step.to_latent & frozen).any()
    if b > 1:
        perm = torch.tensor(data.draw(st.permutations(range(b))), dtype=torch.long)
        permuted = swireasoning_switch(
            **{k: v[perm] for k, v in state.items()}, window_size=window,
            frozen=frozen[perm] if frozen is not None else None,
        )  # fmt: skip
        for name in step._fields:
            assert torch.equal(getattr(permuted, name), getattr(step, name)[perm]), name


@pytest.mark.parametrize("window", [0, -1, math.nan])
def test_bad_window_raises(window):
    state = [torch.zeros(1, dtype=torch.bool), torch.zeros(1), torch.zeros(1), torch.zeros(1, dtype=torch.long)]
    with pytest.raises(ValueError, match="window_size"):
        swireasoning_switch(*state, torch.zeros(1, dtype=torch.bool), torch.zeros(1, dtype=torch.bool), window)


def test_bad_max_new_tokens_raises():
    with pytest.raises(ValueError, match="max_new_tokens"):
        mix_weight(0.5, 1, 0)
