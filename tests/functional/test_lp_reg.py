"""Lp-Reg pure math: hand-derived values, selection rules and parity with the float64 full-logits reference."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from reference.lp_reg_reference import full_forward_kl_row, lp_reg_reference_loss, proxy_row

from trl_explore.functional.lp_reg import (
    lp_reg_forward_full_kl,
    lp_reg_per_token_loss,
    lp_reg_percentile_threshold,
    lp_reg_proxy_logps,
    lp_reg_select,
)

PROBS = torch.tensor([0.6, 0.3, 0.095, 0.005], dtype=torch.float64)


def test_proxy_min_p_hand_values():
    """p = [0.6, 0.3, 0.095, 0.005], κ = 0.02: κ·max = 0.012, keep {0, 1, 2}, Z = 0.995.

    label 1 -> log(0.3 / 0.995) = -1.19894; label 3 (0.005 < 0.012) -> -inf.
    """
    logits = PROBS.log().expand(2, 4)
    proxy, kept = lp_reg_proxy_logps(logits, torch.tensor([1, 3]), min_p=0.02)
    assert proxy[0].item() == pytest.approx(math.log(0.3 / 0.995), abs=1e-6)
    assert proxy[1].item() == -math.inf
    assert kept.tolist() == pytest.approx([0.995, 0.995], abs=1e-6)


def test_proxy_fixed_hand_values():
    """τ = 0.1 (absolute): keep {0.6, 0.3}, Z = 0.9; label 0 -> log(0.6/0.9) = -0.405465; label 2 (0.095) -> -inf."""
    logits = PROBS.log().expand(2, 4)
    proxy, kept = lp_reg_proxy_logps(logits, torch.tensor([0, 2]), min_p=0.1, threshold="fixed")
    assert proxy[0].item() == pytest.approx(math.log(0.6 / 0.9), abs=1e-6)
    assert proxy[1].item() == -math.inf
    assert kept[0].item() == pytest.approx(0.9, abs=1e-6)


def test_proxy_temperature_keep_set_from_t1():
    """T = 2: keep set decided at T = 1 ({0, 1, 2} with κ = 0.02), then π_T ∝ sqrt(p) renormalised over it.

    sqrt(p) = [0.774597, 0.547723, 0.308221, 0.070711], sum 1.701252 -> π_T = [0.455310, 0.321953, 0.181173,
    0.041564]; Z = 0.958436; label 0 -> log(0.455310 / 0.958436) = -0.744344. With κ = 0.2 the T = 1 cut is 0.12:
    keep {0, 1} and label 2 is filtered, although at T = 2 it would pass (0.181 >= 0.2 · 0.455 = 0.091).
    """
    logits = PROBS.log().unsqueeze(0)
    s = PROBS.sqrt()
    pt = s / s.sum()
    proxy, kept = lp_reg_proxy_logps(logits, torch.tensor([0]), min_p=0.02, temperature=2.0)
    assert kept.item() == pytest.approx(float(pt[:3].sum()), abs=1e-6)
    assert proxy.item() == pytest.approx(math.log(float(pt[0] / pt[:3].sum())), abs=1e-6)
    proxy2, kept2 = lp_reg_proxy_logps(logits, torch.tensor([2]), min_p=0.2, temperature=2.0)
    assert proxy2.item() == -math.inf  # 0.095 < 0.2·0.6 at T = 1, though π_T(2) = 0.18 > 0.2·0.455
    assert kept2.item() == pytest.approx(float(pt[:2].sum()), abs=1e-6)


@pytest.mark.parametrize(("shape", "vocab"), [((2, 3), 50), ((5,), 7)])
@pytest.mark.parametrize("threshold", ["min_p", "fixed"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_proxy_matches_reference(shape, vocab, threshold, dtype):
    torch.manual_seed(0)
    logits = (3 * torch.randn(*shape, vocab)).to(dtype)
    labels = torch.randint(0, vocab, shape)
    min_p = 0.05 if threshold == "min_p" else 0.01
    for temperature in (1.0, 0.7):
        proxy, kept = lp_reg_proxy_logps(logits, labels, min_p, threshold, temperature)
        assert proxy.shape == shape and kept.shape == shape
        for idx in itertools.product(*[range(s) for s in shape]):
            ref_p, ref_z = proxy_row(logits[idx].double(), int(labels[idx]), min_p, threshold, temperature)
            assert kept[idx].item() == pytest.approx(ref_z, abs=1e-5)
            if ref_p == -math.inf:
                assert proxy[idx].item() == -math.inf
            else:
                assert proxy[idx].item() == pytest.approx(ref_p, abs=1e-4)


def test_percentile_k_rule():
    """n = 10 values, ρ = 0.15 -> k = int(1.5) = 1 <= 1: nothing; ρ = 0.2 -> k = 2: threshold = 2nd smallest."""
    values = torch.tensor([-1.0, -5.0, -2.0, -7.0, -3.0, -0.5, -4.0, -6.0, -0.1, -0.2])
    assert lp_reg_percentile_threshold(values, 0.15) == (None, 1)
    thr, k = lp_reg_percentile_threshold(values, 0.2)
    assert k == 2 and thr.item() == -6.0


def _selection_case():
    """2 rows x 5 tokens. Row 0: A = -1, row 1: A = +1. All valid.

    logps row 0 = [-1, -6, -2, -7, -3], row 1 = [-8, -0.5, -9, -1, -2].
    """
    logps = torch.tensor([[-1.0, -6.0, -2.0, -7.0, -3.0], [-8.0, -0.5, -9.0, -1.0, -2.0]])
    adv = torch.tensor([[-1.0], [1.0]])
    mask = torch.ones(2, 5, dtype=torch.bool)
    return logps, adv, mask


def test_select_k_le_1_selects_nothing():
    """Negative population = row 0 (n = 5); ρ = 0.3 -> k = int(1.5) = 1: nothing is selected."""
    logps, adv, mask = _selection_case()
    sel = lp_reg_select(logps, logps + 1.0, adv, mask, rho=0.3)
    assert not sel.selected.any() and not sel.candidates.any()


def test_select_negative_lowest_and_filtered_and_below_proxy():
    """ρ = 0.4 -> k = 2 over row 0: threshold = -6, candidates (0,1) and (0,3).

    proxy(0,3) = -inf (filtered) -> never selected; proxy(0,1) = -5.5 > -6 -> selected. Positive row untouched though
    its tokens (-8, -9) are lower.
    """
    logps, adv, mask = _selection_case()
    proxy = logps + 0.5
    proxy[0, 3] = -math.inf
    sel = lp_reg_select(logps, proxy, adv, mask, rho=0.4)
    assert sel.threshold_logp.item() == -6.0
    assert sel.candidates.nonzero().tolist() == [[0, 1], [0, 3]]
    assert sel.selected.nonzero().tolist() == [[0, 1]]
    # require_below_proxy: a proxy below the current log-prob blocks the selection unless disabled
    proxy[0, 1] = -6.5
    assert not lp_reg_select(logps, proxy, adv, mask, rho=0.4).selected.any()
    assert lp_reg_select(logps, proxy, adv, mask, rho=0.4, require_below_proxy=False).selected[0, 1]


def test_select_apply_to_both_and_masked():
    """apply_to="both": population = all 10 tokens, ρ = 0.2 -> k = 2, threshold = -8: (1,0) and (1,2) of the positive
    row. A masked token is never selected even when it is the lowest."""
    logps, adv, mask = _selection_case()
    proxy = logps + 0.5
    sel = lp_reg_select(logps, proxy, adv, mask, rho=0.2, apply_to="both")
    assert sel.selected.nonzero().tolist() == [[1, 0], [1, 2]]
    mask[1, 2] = False
    sel = lp_reg_select(logps, proxy, adv, mask, rho=0.2, apply_to="both")
    assert [1, 2] not in sel.selected.nonzero().tolist()


def test_select_precomputed_threshold():
    """batch_all passes a global threshold: -3 selects row-0 tokens with logp <= -3 (-6, -7, -3)."""
    logps, adv, mask = _selection_case()
    sel = lp_reg_select(logps, logps + 0.5, adv, mask, rho=0.01, threshold_logp=torch.tensor(-3.0))
    assert sel.selected.nonzero().tolist() == [[0, 1], [0, 3], [0, 4]]
    none = lp_reg_select(logps, logps + 0.5, adv, mask, threshold_logp=torch.tensor(-math.inf))
    assert not none.selected.any()


def test_per_token_loss_hand_values():
    """A = -1, r = 1, logp = log 0.25, proxy = log 0.5: d = ln 2, k3 = 2 - ln 2 - 1 = 0.306853;
    ℓ = -A·r + β·k3 = 1 + 0.5·0.306853 = 1.153426 (β = 0.5). dℓ/dlogp = -A·r + β(1 - e^d) = 1 + 0.5·(1 - 2) = 0.5.
    Unselected token keeps its surrogate (7.0). A huge gap clamps k3 to 10: ℓ = 1 + 0.5·10 = 6.
    """
    logp = torch.tensor([[math.log(0.25), -1.0, -30.0]], dtype=torch.float64, requires_grad=True)
    coef_1 = torch.exp(logp - logp.detach())
    proxy = torch.tensor([[math.log(0.5), -math.inf, 0.0]], dtype=torch.float64)
    adv = torch.tensor([[-1.0]], dtype=torch.float64)
    selected = torch.tensor([[True, False, True]])
    base = torch.tensor([[3.0, 7.0, 3.0]], dtype=torch.float64)
    loss, stats = lp_reg_per_token_loss(base, coef_1, logp, proxy, adv, selected, beta=0.5)
    assert loss[0, 0].item() == pytest.approx(1 + 0.5 * (1 - math.log(2)), abs=1e-12)
    assert loss[0, 1].item() == 7.0
    assert loss[0, 2].item() == pytest.approx(6.0, abs=1e-12)
    assert stats["kl"][0, 0].item() == pytest.approx(1 - math.log(2), abs=1e-12) and stats["kl"][0, 1] == 0
    (g,) = torch.autograd.grad(loss[0, 0], logp, retain_graph=True)
    assert g[0, 0].item() == pytest.approx(0.5, abs=1e-12)
    assert torch.isfinite(torch.autograd.grad(loss.sum(), logp)[0]).all()


@pytest.mark.parametrize("threshold", ["min_p", "fixed"])
def test_forward_full_kl_matches_reference(threshold):
    torch.manual_seed(1)
    logits = (2 * torch.randn(3, 11, dtype=torch.float64)).requires_grad_()
    min_p = 0.1 if threshold == "min_p" else 0.02
    kl = lp_reg_forward_full_kl(logits, min_p, threshold, temperature=0.8)
    ref = torch.stack([full_forward_kl_row(logits[i], min_p, threshold, 0.8) for i in range(3)])
    torch.testing.assert_close(kl.double(), ref, rtol=1e-5, atol=1e-6)
    g1 = torch.autograd.grad(kl.sum(), logits)[0]
    g2 = torch.autograd.grad(ref.sum(), logits)[0]
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-6)


def _functional_loss(logits, labels, mask, adv, normalizer, old_logps, proxy_logits, cfg):
    """The Lp-Reg loss assembled from the pure functions (what the trainer does, on full logits)."""
    T = cfg["temperature"]
    logp = torch.log_softmax(logits / T, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    src = logits if proxy_logits is None else proxy_logits
    proxy, _ = lp_reg_proxy_logps(src, labels, cfg["min_p"], cfg["threshold"], T)
    old = logp.detach() if old_logps is None else old_logps
    coef_1 = torch.exp(logp - old)
    a = adv.unsqueeze(1)
    base = -torch.min(coef_1 * a, torch.clamp(coef_1, 0.0, 10.0) * a)
    thr = None
    if cfg["scope"] == "batch_all":
        thr, _ = lp_reg_percentile_threshold(logp.detach()[mask], cfg["rho"])
        thr = torch.tensor(-math.inf) if thr is None else thr
    sel = lp_reg_select(
        logp, proxy, a.expand_as(logp), mask, cfg["rho"], cfg["require_below_proxy"], cfg["apply_to"], thr
    )
    full = None
    if cfg["kl_estimator"] == "forward_full":
        full = torch.zeros_like(logp)
        rows = logits[sel.selected]
        full = full.masked_scatter(sel.selected, lp_reg_forward_full_kl(rows, cfg["min_p"], cfg["threshold"], T))
    loss, _ = lp_reg_per_token_loss(base, coef_1, logp, proxy, a, sel.selected, cfg["beta"], full)
    return (loss * mask).sum() / normalizer, sel


@pytest.mark.parametrize("threshold", ["min_p", "fixed"])
@pytest.mark.parametrize("scope", ["micro_batch_negative", "batch_all"])
@pytest.mark.parametrize("kl_estimator", ["k3_sampled", "forward_full"])
@pytest.mark.parametrize("off_policy", [False, True])
def test_functional_loss_matches_reference(threshold, scope, kl_estimator, off_policy):
    """Composition of the pure functions equals the token-by-token float64 reference (values and gradients)."""
    torch.manual_seed(2)
    B, T, V = 4, 6, 13
    logits = (1.5 * torch.randn(B, T, V, dtype=torch.float64)).requires_grad_()
    labels = torch.randint(0, V, (B, T))
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 4:] = False
    adv = torch.tensor([-1.0, 0.5, -0.7, -0.2], dtype=torch.float64)
    old = proxy_logits = None
    if off_policy:
        proxy_logits = logits.detach() + 0.3 * torch.randn(B, T, V, dtype=torch.float64)
        old = torch.log_softmax(proxy_logits / 0.9, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    cfg = dict(
        min_p=0.05 if threshold == "min_p" else 0.01,
        threshold=threshold,
        temperature=0.9,
        rho=0.4,
        beta=0.7,
        scope=scope,
        kl_estimator=kl_estimator,
        require_below_proxy=True,
        apply_to="negative",
    )
    loss, sel = _functional_loss(logits, labels, mask, adv, 17.0, old, proxy_logits, cfg)
    ref, info = lp_reg_reference_loss(
        logits,
        labels,
        mask,
        adv,
        17.0,
        old_logps=old,
        proxy_logits=proxy_logits,
        min_p=cfg["min_p"],
        threshold=threshold,
        temperature=0.9,
        rho=0.4,
        beta=0.7,
        scope=scope,
        kl_estimator=kl_estimator,
    )
    assert set(map(tuple, sel.selected.nonzero().tolist())) == info["selected"]
    assert len(info["selected"]) > 0, "the case must exercise a selection"
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)
    g1 = torch.autograd.grad(loss, logits)[0]
    g2 = torch.autograd.grad(ref, logits)[0]
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-6)
