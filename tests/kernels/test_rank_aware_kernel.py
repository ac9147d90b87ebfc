"""Tests of the fused rank-aware LM-head kernel `trl_explore.kernels.rank_aware`."""

from __future__ import annotations

import pytest
import torch
from reference.rank_aware_reference import reference_loss

from trl_explore.functional.rank_aware import rank_aware_token_loss, rank_aware_token_stats
from trl_explore.kernels._tiled_head import TILE_FLOATS
from trl_explore.kernels.rank_aware import fused_rank_aware_loss

PRESETS = {
    "cross_entropy": {},
    "precision": {"beta": -0.25},
    "diversity": {"beta": 0.5},
    "tail_suppression": {"lambda_low": -0.1},
    "head_preservation": {"lambda_high": 0.1},
    "all_knobs": {"beta": -0.25, "lambda_high": 0.3, "lambda_low": -0.2},
}


def _inputs(n, d, vocab, dtype=torch.float64, seed=0, bias=True, ignore_every=5):
    gen = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(n, d, generator=gen, dtype=torch.float64) * 2).to(dtype).requires_grad_()
    weight = (torch.randn(vocab, d, generator=gen, dtype=torch.float64) / d**0.5).to(dtype).requires_grad_()
    b = (torch.randn(vocab, generator=gen, dtype=torch.float64) * 0.5).to(dtype).requires_grad_() if bias else None
    labels = torch.randint(0, vocab, (n,), generator=gen)
    labels[::ignore_every] = -100
    return hidden, weight, b, labels


def _transform(hidden, weight, bias, logit_scale=1.0, softcap=None):
    z = hidden @ weight.t()
    if bias is not None:
        z = z + bias
    z = z * logit_scale
    return softcap * torch.tanh(z / softcap) if softcap is not None else z


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize(
    ("n", "d", "vocab", "top_k", "tile_tokens"),
    [(37, 8, 53, 5, 8), (64, 16, 130, 100, 64), (9, 4, 7, 100, 2)],  # odd shapes, several tiles, top_k ≥ V
)
def test_fused_equals_functional(preset, n, d, vocab, top_k, tile_tokens):
    """Values (summed and per token) and gradients w.r.t. hidden states, LM head weight and bias, float64."""
    _check_fused_equals_functional(preset, n, d, vocab, top_k, tile_tokens, 1.0, None)


@pytest.mark.parametrize("preset", ["precision", "all_knobs"])
@pytest.mark.parametrize(("logit_scale", "softcap"), [(0.7, None), (1.0, 4.0), (0.7, 4.0)])
def test_fused_logit_scale_and_softcap(preset, logit_scale, softcap):
    """TRL's fused-head transform z = cap · tanh(scale · y / cap): values and gradients through it."""
    _check_fused_equals_functional(preset, 37, 8, 53, 5, 8, logit_scale, softcap)


def _check_fused_equals_functional(preset, n, d, vocab, top_k, tile_tokens, logit_scale, softcap):
    kwargs = {**PRESETS[preset], "top_k": top_k}
    hidden, weight, bias, labels = _inputs(n, d, vocab)
    loss_sum, stats = fused_rank_aware_loss(
        hidden,
        weight,
        labels,
        bias=bias,
        logit_scale=logit_scale,
        softcap=softcap,
        tile_rows=tile_tokens,
        **kwargs,
    )
    grads = torch.autograd.grad(loss_sum, (hidden, weight, bias))
    per_token = rank_aware_token_loss(_transform(hidden, weight, bias, logit_scale, softcap), labels, **kwargs)
    ref_grads = torch.autograd.grad(per_token.sum(), (hidden, weight, bias))
    torch.testing.assert_close(loss_sum, per_token.sum(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(stats["loss"], per_token.detach(), rtol=1e-12, atol=1e-12)
    for name, g, r in zip(("hidden", "weight", "bias"), grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12, msg=name)
    # the statistics agree with the functional ones (and the float64 reference behind them)
    ref_stats = rank_aware_token_stats(
        _transform(hidden, weight, bias, logit_scale, softcap), labels, beta=kwargs.get("beta", 0.0), top_k=top_k
    )
    for name in ("entropy", "p_tail", "p_topk_neg", "w"):
        torch.testing.assert_close(stats[name], ref_stats[name], rtol=1e-10, atol=1e-12, msg=name)
    assert torch.equal(stats["is_top1"], ref_stats["is_top1"]) and torch.equal(stats["mask"], labels != -100)


@pytest.mark.parametrize("preset", ["precision", "tail_suppression", "all_knobs"])
def test_fused_fp32_matches_float64_reference(preset):
    kwargs = {**PRESETS[preset], "top_k": 10}
    hidden, weight, _, labels = _inputs(41, 16, 97, dtype=torch.float32, bias=False)
    loss_sum, stats = fused_rank_aware_loss(hidden, weight, labels, tile_rows=16, **kwargs)
    g_h, g_w = torch.autograd.grad(loss_sum, (hidden, weight))
    h64, w64 = hidden.detach().double().requires_grad_(), weight.detach().double().requires_grad_()
    ref, _ = reference_loss(h64 @ w64.t(), labels, **kwargs)
    r_h, r_w = torch.autograd.grad(ref.sum(), (h64, w64))
    assert loss_sum.dtype == torch.float32 and g_h.dtype == torch.float32
    torch.testing.assert_close(stats["loss"].double(), ref.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_h.double(), r_h, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g_w.double(), r_w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["bf16_params", "autocast"])
def test_fused_bf16(mode, monkeypatch):
    """bf16 GEMMs, fp32 softmax / top-k / accumulation: close to the fp32 result on the same bf16-rounded logits."""
    monkeypatch.setattr("trl_explore.kernels._tiled_head._CAST_CHUNK", 64)  # several head chunks in the fp32 GEMM
    kwargs = {"beta": -0.25, "lambda_low": -0.1, "top_k": 10}
    hidden, weight, _, labels = _inputs(50, 32, 211, dtype=torch.float32, bias=False)
    if mode == "bf16_params":
        h = hidden.detach().bfloat16().requires_grad_()
        w = weight.detach().bfloat16().requires_grad_()
        loss_sum, _ = fused_rank_aware_loss(h, w, labels, tile_rows=16, **kwargs)
    else:
        h, w = hidden, weight
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss_sum, _ = fused_rank_aware_loss(h, w, labels, tile_rows=16, **kwargs)
    g_h, g_w = torch.autograd.grad(loss_sum, (h, w))
    assert loss_sum.dtype == torch.float32
    assert g_h.dtype == h.dtype and g_w.dtype == w.dtype
    h32 = hidden.detach().bfloat16().float().requires_grad_()
    w32 = weight.detach().bfloat16().float().requires_grad_()
    ref = rank_aware_token_loss((h32 @ w32.t()).bfloat16(), labels, **kwargs)
    r_h, r_w = torch.autograd.grad(ref.sum(), (h32, w32))
    torch.testing.assert_close(loss_sum, ref.sum(), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(g_h.float(), r_h, rtol=2e-2, atol=2e-3)
    torch.testing.assert_close(g_w.float(), r_w, rtol=2e-2, atol=2e-3)


def test_no_grad_and_all_ignored():
    hidden, weight, bias, labels = _inputs(12, 8, 31)
    with torch.no_grad():
        loss_sum, stats = fused_rank_aware_loss(hidden, weight, labels, bias=bias, beta=-0.25)
    assert not loss_sum.requires_grad
    ref = rank_aware_token_loss(_transform(hidden, weight, bias).detach(), labels, beta=-0.25)
    torch.testing.assert_close(stats["loss"], ref)
    # every label ignored: a differentiable zero with zero gradients
    ignored = torch.full_like(labels, -100)
    loss_sum, stats = fused_rank_aware_loss(hidden, weight, ignored, bias=bias)
    g_h, g_w, g_b = torch.autograd.grad(loss_sum, (hidden, weight, bias))
    assert loss_sum.item() == 0.0 and not stats["mask"].any()
    assert not g_h.any() and not g_w.any() and not g_b.any()
    # no tokens at all (a micro-batch whose labels are all masked after compaction)
    loss_sum, _ = fused_rank_aware_loss(hidden[:0], weight, labels[:0])
    (g_w,) = torch.autograd.grad(loss_sum, (weight,))
    assert loss_sum.item() == 0.0 and not g_w.any()


def test_upstream_gradient_scales():
    """`loss_sum / n` (the trainer's normalisation) scales every gradient by 1/n."""
    hidden, weight, _, labels = _inputs(20, 8, 40, bias=False)
    loss_sum, _ = fused_rank_aware_loss(hidden, weight, labels, lambda_high=0.1)
    g1 = torch.autograd.grad(loss_sum, (hidden, weight))
    loss_sum, _ = fused_rank_aware_loss(hidden, weight, labels, lambda_high=0.1)
    g2 = torch.autograd.grad(loss_sum / 7.0, (hidden, weight))
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a / 7.0, b)


def test_batched_shapes_and_errors():
    hidden, weight, _, labels = _inputs(24, 8, 40, bias=False)
    loss_sum, stats = fused_rank_aware_loss(hidden.view(4, 6, 8), weight, labels.view(4, 6), beta=0.5)
    assert stats["loss"].shape == (4, 6)
    flat_sum, _ = fused_rank_aware_loss(hidden, weight, labels, beta=0.5)
    torch.testing.assert_close(loss_sum, flat_sum)
    with pytest.raises(ValueError, match="top_k"):
        fused_rank_aware_loss(hidden, weight, labels, top_k=0)
    with pytest.raises(ValueError, match="hidden"):
        fused_rank_aware_loss(hidden, weight, labels[:-1])
    with pytest.raises(ValueError, match="softcap"):
        fused_rank_aware_loss(hidden, weight, labels, softcap=0.0)


def _peak_bytes(fn) -> int:
    # Replay the profiler's raw allocation / free events in time order (see benchmarks/rank_aware.py)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    current = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        current += e.nbytes()
        peak = max(peak, current)
    return peak


def test_peak_memory_does_not_grow_with_tokens():
    """Tiles of 32 tokens × V: 8× more tokens adds only the [N, d] gradient, never [N, V] logits."""
    vocab, d = 2048, 16
    peaks = {}
    for n in (64, 512):
        hidden, weight, _, labels = _inputs(n, d, vocab, dtype=torch.float32, bias=False)

        def run(hidden=hidden, weight=weight, labels=labels):
            loss_sum, _ = fused_rank_aware_loss(hidden, weight, labels, beta=-0.25, lambda_low=-0.1, tile_rows=32)
            loss_sum.backward()

        peaks[n] = _peak_bytes(run)
    full_logits = 512 * vocab * 4
    assert peaks[512] < peaks[64] + 512 * (d * 4 * 3 + 64)  # grad_hidden, stats and per-token vectors
    assert peaks[512] < full_logits / 4
    assert TILE_FLOATS == 4096 * 32768
