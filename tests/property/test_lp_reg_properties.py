"""Property tests of `trl_explore.functional.lp_reg` (Lp-Reg, arXiv 2510.03222).

Covered: keep set (the argmax is always kept, the "fixed" rule is an absolute cut, a larger κ keeps a subset, shift
invariance of the logits); proxy log-probs (shapes, fp32 / bf16 logits, ``-inf`` exactly where the label is filtered,
``proxy <= 0``, kept mass in (0, 1], agreement with the float64 reference, and κ → 0 equals plain log-softmax); the
percentile rule (k = int(n·ρ), the k-th smallest value, nothing below k = 2, empty populations); selection (selected ⊆
candidates ⊆ valid tokens of the allowed sign, fully masked micro-batches and all-positive advantages select nothing,
row permutations permute the selection); the per-token loss (unselected tokens untouched, k3 in [0, 10], β = 0 keeps
only −A·r, finite gradients with ``-inf`` proxies around); the full forward KL (non-negative, equal to −log Z
on-policy, equal to the float64 reference); argument validation.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from property.strategies import float_dtypes, int_tensors, masks, tensors
from reference.lp_reg_reference import full_forward_kl_row, proxy_row

from trl_explore.functional.lp_reg import (
    K3_CLAMP,
    lp_reg_forward_full_kl,
    lp_reg_keep_mask,
    lp_reg_per_token_loss,
    lp_reg_percentile_threshold,
    lp_reg_proxy_logps,
    lp_reg_select,
)

min_ps = st.floats(1e-4, 1.0)
temperatures = st.floats(0.25, 4.0)
thresholds = st.sampled_from(["min_p", "fixed"])


@st.composite
def logits_labels(draw, max_rows: int = 6, max_vocab: int = 10, integer: bool = False):
    n = draw(st.integers(0, max_rows))
    v = draw(st.integers(1, max_vocab))
    if integer:  # small integers: z − max z and integer shifts are exact in float32
        logits = draw(int_tensors((n, v), -12, 12)).float()
    else:
        logits = draw(tensors((n, v), -15.0, 15.0))
    return logits, draw(int_tensors((n,), 0, v - 1))


@settings(max_examples=30)
@given(logits_labels(integer=True), min_ps, min_ps, st.integers(-50, 50))
def test_keep_mask_rules(problem, kappa_a, kappa_b, shift):
    logits, _ = problem
    keep = lp_reg_keep_mask(logits, kappa_a, "min_p")
    assert keep.shape == logits.shape and keep.dtype == torch.bool
    if logits.numel():
        assert keep.gather(-1, logits.argmax(-1, keepdim=True)).all()  # π_max >= κ π_max
    lo, hi = sorted((kappa_a, kappa_b))
    assert not (lp_reg_keep_mask(logits, hi, "min_p") & ~lp_reg_keep_mask(logits, lo, "min_p")).any()
    assert torch.equal(lp_reg_keep_mask(logits + shift, kappa_a, "min_p"), keep)
    fixed = lp_reg_keep_mask(logits.double(), kappa_a, "fixed")
    probs = torch.softmax(logits.double(), -1)
    clear = (probs - kappa_a).abs() > 1e-9  # away from the cut, where rounding cannot decide
    assert torch.equal(fixed[clear], (probs >= kappa_a)[clear])


@settings(max_examples=30)
@given(logits_labels(), float_dtypes, min_ps, thresholds, temperatures)
def test_proxy_logps_properties_and_reference(problem, dtype, min_p, threshold, temperature):
    logits, labels = problem
    logits = logits.to(dtype)
    proxy, kept = lp_reg_proxy_logps(logits, labels, min_p, threshold, temperature)
    assert proxy.shape == labels.shape and kept.shape == labels.shape
    assert proxy.dtype == kept.dtype == torch.float32
    assert not torch.isnan(proxy).any() and torch.isfinite(kept).all()
    keep = lp_reg_keep_mask(logits, min_p, threshold)
    label_kept = keep.gather(-1, labels.unsqueeze(-1)).squeeze(-1) if labels.numel() else labels.bool()
    assert torch.equal(torch.isinf(proxy), ~label_kept)  # -inf exactly where the label is filtered
    assert (proxy[label_kept] <= 1e-6).all()
    has_kept = keep.any(-1)
    assert ((kept[has_kept] > 0) & (kept[has_kept] <= 1 + 1e-5)).all()
    for i in range(labels.numel()):
        ref_p, ref_z = proxy_row(logits[i].double(), int(labels[i]), min_p, threshold, temperature)
        assert kept[i].item() == pytest.approx(ref_z, abs=1e-5)
        if ref_p == -math.inf:
            assert proxy[i].item() == -math.inf
        else:
            assert proxy[i].item() == pytest.approx(ref_p, abs=1e-4)


@settings(max_examples=20)
@given(logits_labels(), temperatures)
def test_proxy_with_everything_kept_is_log_softmax(problem, temperature):
    """κ below every probability ratio (logits within ±15: ratios >= e^-30): the proxy is the plain log-softmax of the
    tempered logits and the kept mass is 1 ("knob at zero")."""
    logits, labels = problem
    proxy, kept = lp_reg_proxy_logps(logits, labels, min_p=1e-14, temperature=temperature)
    expected = torch.log_softmax(logits / temperature, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(proxy, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(kept, torch.ones_like(kept), rtol=0, atol=1e-5)


@settings(max_examples=40)
@given(st.integers(0, 40).flatmap(lambda n: tensors((n,), -20.0, 0.0)), st.floats(0.01, 0.99))
def test_percentile_threshold_rule(logps, rho):
    threshold, k = lp_reg_percentile_threshold(logps, rho)
    n = logps.numel()
    assert k == int(n * rho)
    if k <= 1:
        assert threshold is None
        return
    assert threshold.item() == sorted(logps.tolist())[k - 1]
    assert int((logps <= threshold).sum()) >= k and int((logps < threshold).sum()) < k


@st.composite
def selection_problems(draw):
    b = draw(st.integers(0, 5))
    t = draw(st.integers(1, 8))
    logps = draw(tensors((b, t), -12.0, 0.0))
    proxy = draw(tensors((b, t), -12.0, 0.0))
    filtered = draw(masks((b, t), kind="random"))
    proxy = proxy.masked_fill(filtered, -math.inf)
    adv_shape = draw(st.sampled_from([(b, 1), (b, t)]))
    advantages = draw(tensors(adv_shape, -2.0, 2.0))
    return logps, proxy, advantages, draw(masks((b, t)))


@settings(max_examples=40)
@given(selection_problems(), st.floats(0.01, 0.99), st.booleans(), st.sampled_from(["negative", "both"]), st.data())
def test_selection_invariants(problem, rho, below, apply_to, data):
    logps, proxy, advantages, mask = problem
    sel = lp_reg_select(logps, proxy, advantages, mask, rho, below, apply_to)
    sign = advantages.expand_as(logps) < 0 if apply_to == "negative" else torch.ones_like(mask)
    allowed = mask & sign
    assert not (sel.selected & ~sel.candidates).any()
    assert not (sel.candidates & ~allowed).any()
    assert (proxy[sel.selected] > -math.inf).all()
    if below:
        assert (logps[sel.selected] < proxy[sel.selected]).all()
    population = logps[allowed]
    k = int(population.numel() * rho)
    assert sel.k == k
    if k <= 1:
        assert not sel.candidates.any() and sel.threshold_logp.item() == -math.inf
    else:
        kth = sorted(population.tolist())[k - 1]
        assert torch.equal(sel.candidates, allowed & (logps <= kth))
    if logps.shape[0] > 1:  # rows are independent given the threshold: a row permutation permutes the selection
        rows = torch.tensor(data.draw(st.permutations(range(logps.shape[0]))), dtype=torch.long)
        adv = advantages[rows]
        permuted = lp_reg_select(logps[rows], proxy[rows], adv, mask[rows], rho, below, apply_to)
        assert torch.equal(permuted.selected, sel.selected[rows])


@settings(max_examples=15)
@given(selection_problems(), st.floats(0.01, 0.99))
def test_nothing_selected_without_negative_valid_tokens(problem, rho):
    logps, proxy, advantages, mask = problem
    none = lp_reg_select(logps, proxy, advantages, torch.zeros_like(mask), rho, apply_to="both")
    positive = lp_reg_select(logps, proxy, advantages.abs() + 0.1, mask, rho, apply_to="negative")
    forced = lp_reg_select(logps, proxy, advantages, mask, rho, threshold_logp=torch.tensor(-math.inf))
    for sel in (none, positive, forced):
        assert not sel.selected.any() and not sel.candidates.any()


@settings(max_examples=30)
@given(selection_problems(), st.floats(0.0, 3.0), st.booleans())
def test_per_token_loss_properties(problem, beta, bf16):
    logps, proxy, advantages, mask = problem
    dtype = torch.bfloat16 if bf16 else torch.float32
    selected = lp_reg_select(logps, proxy, advantages, mask, 0.5, True, "both").selected
    current = logps.to(dtype).requires_grad_()
    base = torch.randn(logps.shape).to(dtype)
    ratio = torch.exp(current - logps.to(dtype).detach() + 0.1)
    out, stats = lp_reg_per_token_loss(base, ratio, current, proxy, advantages.to(dtype), selected, beta)
    assert out.shape == logps.shape
    assert torch.equal(out[~selected].float(), base[~selected].float())
    kl = stats["kl"]
    assert (kl[~selected] == 0).all() and (kl >= 0).all() and (kl <= K3_CLAMP).all()
    assert torch.isfinite(out.float()).all()
    if out.numel():
        (grad,) = torch.autograd.grad(out.float().sum(), current)
        assert torch.isfinite(grad.float()).all()
    plain, _ = lp_reg_per_token_loss(base, ratio, current, proxy, advantages.to(dtype), selected, 0.0)
    expected = -advantages.to(dtype).expand_as(ratio) * ratio
    assert torch.equal(plain[selected].float(), expected[selected].float())


@settings(max_examples=25)
@given(logits_labels(max_rows=4, max_vocab=8), min_ps, thresholds, temperatures)
def test_forward_full_kl(problem, min_p, threshold, temperature):
    """On-policy (π_θ = the data-generating policy) KL(π_proxy ‖ π_θ) = −log Z, Z the kept mass; and the reference."""
    logits, labels = problem
    assume(logits.shape[0] > 0)
    z = logits.double().requires_grad_()
    kl = lp_reg_forward_full_kl(z, min_p, threshold, temperature)
    assert kl.shape == (logits.shape[0],) and kl.dtype == torch.float64
    assert torch.isfinite(kl).all() and (kl >= -1e-12).all()
    _, kept = lp_reg_proxy_logps(z.detach(), labels, min_p, threshold, temperature)
    has_kept = lp_reg_keep_mask(z.detach(), min_p, threshold).any(-1)
    torch.testing.assert_close(kl[has_kept], -kept[has_kept].log(), rtol=1e-9, atol=1e-9)
    for i in range(logits.shape[0]):
        ref = full_forward_kl_row(z[i].detach(), min_p, threshold, temperature)
        assert kl[i].item() == pytest.approx(float(ref), abs=1e-9)
    (grad,) = torch.autograd.grad(kl.sum(), z)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("rho", [0.0, 1.0, 1.5, -0.1, math.nan])
def test_rho_out_of_range_raises_value_error(rho):
    logps = torch.linspace(-5, 0, 20)
    with pytest.raises(ValueError, match="rho"):
        lp_reg_percentile_threshold(logps, rho)
    with pytest.raises(ValueError, match="rho"):
        lp_reg_select(logps.view(2, 10), logps.view(2, 10), -torch.ones(2, 1), torch.ones(2, 10), rho=rho)


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.nan, math.inf])
def test_bad_temperature_raises_value_error(temperature):
    logits = torch.zeros(2, 5)
    with pytest.raises(ValueError, match="temperature"):
        lp_reg_proxy_logps(logits, torch.zeros(2, dtype=torch.long), temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        lp_reg_forward_full_kl(logits, temperature=temperature)


@pytest.mark.parametrize(("kwargs", "name"), [({"min_p": 0.0}, "min_p"), ({"threshold": "top_p"}, "threshold")])
def test_bad_keep_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        lp_reg_keep_mask(torch.zeros(2, 5), **kwargs)


def test_bad_beta_and_apply_to_raise():
    ones = torch.ones(1, 2)
    with pytest.raises(ValueError, match="beta"):
        lp_reg_per_token_loss(ones, ones, ones, ones, -ones, ones.bool(), beta=-1.0)
    with pytest.raises(ValueError, match="apply_to"):
        lp_reg_select(ones, ones, -ones, ones, 0.5, apply_to="positive")
