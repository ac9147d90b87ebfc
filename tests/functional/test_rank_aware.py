"""Tests of `trl_explore.functional.rank_aware` (rank-aware NTP loss, arXiv 2512.22955)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from reference.rank_aware_reference import reference_grad, reference_loss, reference_stats, reference_surrogate

from trl_explore.functional.rank_aware import rank_aware_log_weight, rank_aware_token_loss, rank_aware_token_stats

PRESETS = {
    "cross_entropy": {},
    "precision": {"beta": -0.25},
    "diversity": {"beta": 0.5},
    "tail_suppression": {"lambda_low": -0.1},
    "head_preservation": {"lambda_high": 0.1},
    "all_knobs": {"beta": -0.25, "lambda_high": 0.3, "lambda_low": -0.2},
}


def _logits(shape, seed=0, dtype=torch.float64, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def _labels(shape, vocab, seed=1, ignore_every=4):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, vocab, shape, generator=gen)
    flat = labels.view(-1)
    flat[::ignore_every] = -100
    return labels


# ---------------------------------------------------------------------------------------------------------------------
# Hand-derived values
# ---------------------------------------------------------------------------------------------------------------------


def test_weight_table_from_spec():
    """β = −0.25: w = p^(1 − (1 − p)^−0.25) ≈ 1.01 / 1.06 / 1.14 / 1.09 / 1.02 at p = 0.01 / 0.1 / 0.5 / 0.9 / 0.99.

    e.g. p = 0.5: (0.5)^−0.25 = 1.189207, 1 − 1.189207 = −0.189207, 0.5^−0.189207 = 2^0.189207 = 1.140135.
    """
    p = torch.tensor([0.01, 0.1, 0.5, 0.9, 0.99], dtype=torch.float64)
    w = rank_aware_log_weight(p.log(), -0.25).exp()
    torch.testing.assert_close(w, torch.tensor([1.01, 1.06, 1.14, 1.09, 1.02], dtype=torch.float64), atol=5e-3, rtol=0)
    assert w[2].item() == pytest.approx(2**0.189207, rel=1e-5)
    # β = 0 is exactly 1 (cross-entropy); p_x = 1 hits the 1e-6 clamp and stays finite (w = 1^… = 1)
    assert torch.equal(rank_aware_log_weight(p.log(), 0.0), torch.zeros_like(p))
    assert rank_aware_log_weight(torch.zeros(1, dtype=torch.float64), -0.25).item() == 0.0


def test_hand_values_precision():
    """p = [0.2, 0.3, 0.5], x = 2, β = −0.25: w = 2^0.189207 = e^0.131148 = 1.140135, L = −w · ln 0.5 = 0.790283."""
    logits = torch.tensor([[0.2, 0.3, 0.5]], dtype=torch.float64).log()
    loss = rank_aware_token_loss(logits, torch.tensor([2]), beta=-0.25)
    expected = 0.5 ** (1 - 0.5**-0.25) * math.log(2.0)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert loss.item() == pytest.approx(0.790283, abs=1e-6)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        # p = [0.1, 0.2, 0.3, 0.4], k = 2 → K = {3, 2}. x = 0 ∉ K: P(K\{x}) = 0.7, P(tail) = 1 − 0.7 − 0.1 = 0.2
        # L = −ln 0.1 − 0.1 · 0.7 − (−0.1) · 0.2 = 2.302585 − 0.07 + 0.02 = 2.252585
        (0, -math.log(0.1) - 0.1 * 0.7 + 0.1 * 0.2),
        # x = 3 ∈ K: P(K\{x}) = 0.3, P(tail) = 1 − 0.7 − 0 = 0.3; L = −ln 0.4 − 0.03 + 0.03 = 0.916291
        (3, -math.log(0.4) - 0.1 * 0.3 + 0.1 * 0.3),
        # x = 1 ∉ K: P(K\{x}) = 0.7, P(tail) = 1 − 0.7 − 0.2 = 0.1; L = −ln 0.2 − 0.07 + 0.01 = 1.549438
        (1, -math.log(0.2) - 0.1 * 0.7 + 0.1 * 0.1),
    ],
)
def test_hand_values_negatives(label, expected):
    logits = torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64).log()
    loss = rank_aware_token_loss(logits, torch.tensor([label]), top_k=2, lambda_high=0.1, lambda_low=-0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_hand_gradient_tail_suppression():
    """p = [0.1, 0.2, 0.3, 0.4], x = 3, k = 2, λ_low = −0.1: S2 = {0, 1}, P(S2) = 0.3, w = 1.

    dL/dz = −(e_x − p) + 0.1 · p ⊙ (1_{S2} − 0.3)
          = [0.1, 0.2, 0.3, −0.6] + 0.1 · [0.1·0.7, 0.2·0.7, −0.3·0.3, −0.4·0.3]
          = [0.107, 0.214, 0.291, −0.612].
    """
    logits = torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64).log().requires_grad_()
    rank_aware_token_loss(logits, torch.tensor([3]), top_k=2, lambda_low=-0.1).sum().backward()
    torch.testing.assert_close(logits.grad, torch.tensor([[0.107, 0.214, 0.291, -0.612]], dtype=torch.float64))


# ---------------------------------------------------------------------------------------------------------------------
# Parity with the float64 reference (values, gradients, finite differences)
# ---------------------------------------------------------------------------------------------------------------------

SHAPES = [((2, 5, 11), 3), ((3, 7, 130), 100), ((1, 4, 37), 200), ((13, 9), 4)]  # (logits shape, top_k); 200 ≥ V


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize(("shape", "top_k"), SHAPES)
def test_matches_reference_float64(preset, shape, top_k):
    kwargs = {**PRESETS[preset], "top_k": top_k}
    logits = _logits(shape).requires_grad_()
    labels = _labels(shape[:-1], shape[-1])
    loss = rank_aware_token_loss(logits, labels, **kwargs)
    ref, _ = reference_loss(logits.detach(), labels, **kwargs)
    assert loss.shape == labels.shape and loss.dtype == torch.float64
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-12)
    assert torch.all(loss[labels == -100] == 0)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    torch.testing.assert_close(grad, reference_grad(logits.detach(), labels, **kwargs), rtol=1e-9, atol=1e-12)
    assert torch.all(grad[labels == -100] == 0)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_gradient_finite_differences(preset):
    """Central differences of the reference loss with w and K frozen at the base point (the paper's stop-gradient
    sg)."""
    kwargs = {**PRESETS[preset], "top_k": 3}
    shape = (2, 3, 7)
    logits = _logits(shape, seed=3, scale=1.5).requires_grad_()
    labels = _labels(shape[:-1], shape[-1], seed=4, ignore_every=5)
    (grad,) = torch.autograd.grad(rank_aware_token_loss(logits, labels, **kwargs).sum(), logits)
    _, frozen = reference_loss(logits.detach(), labels, **kwargs)
    flat = logits.detach().reshape(-1, shape[-1]).clone()
    flat_labels = labels.reshape(-1)

    def f(z):
        return reference_surrogate(
            z,
            flat_labels,
            frozen["w"],
            frozen["s1"],
            frozen["s2"],
            kwargs.get("lambda_high", 0.0),
            kwargs.get("lambda_low", 0.0),
        ).sum()

    eps = 1e-6
    fd = torch.zeros_like(flat)
    for i in range(flat.shape[0]):
        for j in range(flat.shape[1]):
            plus, minus = flat.clone(), flat.clone()
            plus[i, j] += eps
            minus[i, j] -= eps
            fd[i, j] = (f(plus) - f(minus)) / (2 * eps)
    torch.testing.assert_close(grad.reshape_as(fd), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("preset", ["precision", "tail_suppression", "all_knobs"])
def test_low_precision_inputs(dtype, preset):
    """fp32 / bf16 logits are handled in fp32: compare with the float64 reference on the same (rounded) logits."""
    kwargs = {**PRESETS[preset], "top_k": 5}
    shape = (3, 6, 50)
    logits = _logits(shape, dtype=dtype).requires_grad_()
    labels = _labels(shape[:-1], shape[-1])
    loss = rank_aware_token_loss(logits, labels, **kwargs)
    assert loss.dtype == torch.float32
    ref, _ = reference_loss(logits.detach().double(), labels, **kwargs)
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    assert grad.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(
        grad.double(), reference_grad(logits.detach().double(), labels, **kwargs), rtol=tol, atol=tol
    )


# ---------------------------------------------------------------------------------------------------------------------
# Degenerate equivalence: (β, λ_high, λ_low) = (0, 0, 0) is cross-entropy
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("top_k", [1, 100])
def test_zero_knobs_equal_cross_entropy(dtype, top_k):
    shape = (4, 9, 33)
    logits = _logits(shape, dtype=dtype).requires_grad_()
    labels = _labels(shape[:-1], shape[-1], ignore_every=3)
    ours = rank_aware_token_loss(logits, labels, top_k=top_k)
    ce = F.cross_entropy(logits.reshape(-1, shape[-1]), labels.reshape(-1), reduction="none", ignore_index=-100)
    # exact: β = 0 gives w = exp(0) = 1 and -1·log_softmax(z)[x], cross-entropy's own log_softmax on the same [N, V]
    torch.testing.assert_close(ours, ce.view(labels.shape), rtol=0, atol=0)
    (g1,) = torch.autograd.grad(ours.sum(), logits)
    (g2,) = torch.autograd.grad(ce.sum(), logits)
    torch.testing.assert_close(g1, g2)


# ---------------------------------------------------------------------------------------------------------------------
# Statistics and errors
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "top_k"), SHAPES)
def test_stats_match_reference(shape, top_k):
    logits = _logits(shape)
    labels = _labels(shape[:-1], shape[-1])
    stats = rank_aware_token_stats(logits, labels, beta=-0.25, top_k=top_k)
    ref = reference_stats(logits, labels, beta=-0.25, top_k=top_k)
    for name in ("entropy", "p_tail", "p_topk_neg", "w"):
        torch.testing.assert_close(stats[name], ref[name], rtol=1e-9, atol=1e-12, msg=name)
    valid = labels != -100
    assert torch.equal(stats["mask"], valid)
    argmax = logits.argmax(-1)
    assert torch.equal(stats["is_top1"], (argmax == labels) & valid)
    if top_k >= shape[-1]:
        assert torch.all(stats["p_tail"] == 0)


def test_hand_stats():
    """p = [0.1, 0.2, 0.3, 0.4], x = 0, k = 2: P(K\\{x}) = 0.7, P(tail) = 0.2, H = −Σ p ln p = 1.279854."""
    logits = torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64).log()
    stats = rank_aware_token_stats(logits, torch.tensor([0]), top_k=2)
    assert stats["p_topk_neg"].item() == pytest.approx(0.7)
    assert stats["p_tail"].item() == pytest.approx(0.2)
    assert stats["entropy"].item() == pytest.approx(-sum(p * math.log(p) for p in (0.1, 0.2, 0.3, 0.4)))
    assert stats["w"].item() == 1.0 and not stats["is_top1"].item()


def test_errors():
    logits = torch.zeros(2, 3, 5)
    with pytest.raises(ValueError, match="top_k"):
        rank_aware_token_loss(logits, torch.zeros(2, 3, dtype=torch.long), top_k=0)
    with pytest.raises(ValueError, match="vocabulary"):
        rank_aware_token_loss(logits, torch.zeros(2, 4, dtype=torch.long))


def test_custom_ignore_index():
    """A custom `ignore_index` (here 3, a valid token id) masks exactly like -100 does."""
    shape = (2, 6, 9)
    logits = _logits(shape)
    labels = _labels(shape[:-1], shape[-1], ignore_every=3)
    custom = torch.where(labels == -100, torch.full_like(labels, 3), labels)
    custom[labels == 3] = 4  # keep the id 3 for ignored positions only
    relabeled = torch.where(labels == 3, torch.full_like(labels, 4), labels)
    kwargs = {"beta": -0.25, "top_k": 4, "lambda_low": -0.1}
    torch.testing.assert_close(
        rank_aware_token_loss(logits, custom, ignore_index=3, **kwargs),
        rank_aware_token_loss(logits, relabeled, **kwargs),
    )


@pytest.mark.parametrize("beta", [-1.0, -0.25, 0.5])
def test_weight_float32_near_p_one(beta):
    """``1 − p_x`` comes from the log-probability (``−expm1(log p_x)``), not from a rounded ``p_x``.

    At ``log p_x = −3e-6`` float32 rounds ``p_x = exp(−3e-6)`` to a multiple of 6e-8, so ``1 − p_x`` computed as
    ``1 − exp(log p_x)`` is off by up to 1%, and at ``β = −1`` ``log w = (1 − 1/(1 − p_x)) · log p_x ≈ 1`` inherits
    it: ``w`` is off by ~1e-2 (up to 6e-2 over this range). The float32 weight must match the float64 one to 1e-4.
    """
    log_p = -torch.logspace(-6, -4, 200, dtype=torch.float64)  # 1 − p_x from 1e-6 to 1e-4: above the 1e-6 clamp
    exact = rank_aware_log_weight(log_p, beta).exp()
    ours = rank_aware_log_weight(log_p.float(), beta).exp()
    torch.testing.assert_close(ours.double(), exact, rtol=1e-4, atol=0)
    if beta == -1.0:  # the old formula's error at these points, for the record: it fails the same check
        one_minus_old = (1.0 - log_p.float().exp()).clamp(min=1e-6)
        old = ((1.0 - torch.exp(beta * torch.log(one_minus_old))) * log_p.float()).exp()
        assert (old.double() - exact).abs().max() > 1e-2
