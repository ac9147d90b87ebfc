"""Fused token statistics: exactness against full logits, gradients, tiling and routing of TRL's fused LM head."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
from reference.lp_reg_reference import proxy_row

from trl_explore.kernels.fused_head import fused_token_stats
from trl_explore.kernels.token_stats import TRL_TILE_FLOATS, TokenStatsRequest, rows_per_tile, token_stats


def test_rows_per_tile_matches_trl_tile():
    """One tile holds at most 4096 x 32768 floats: V = 32768 -> 4096 rows, V = 151936 -> 883 rows (~880)."""
    assert rows_per_tile(32768) == 4096
    assert rows_per_tile(151936) == 883 and TRL_TILE_FLOATS >= 883 * 151936
    assert rows_per_tile(10**9) == 1


def _reference(h, w, b, t, temperature, softcap, scale, min_p, threshold):
    z = (h.double() @ w.double().T + (0 if b is None else b.double())) * scale
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    logp = torch.log_softmax(z / temperature, -1)
    label = logp.gather(-1, t[:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return z, label, entropy, logp.max(-1).values, torch.logsumexp(z / temperature, -1)


CASES = [
    # N, H, V, temperature, softcap, logit_scale, threshold, tile_rows
    (37, 16, 50, 1.0, None, 1.0, "min_p", 8),
    (5, 8, 7, 0.7, None, 1.0, "fixed", None),
    (64, 12, 33, 1.3, 5.0, 0.5, "min_p", 10),
]


@pytest.mark.parametrize(("n", "h", "v", "temp", "softcap", "scale", "threshold", "tile"), CASES)
def test_token_stats_exact_fp32(n, h, v, temp, softcap, scale, threshold, tile):
    """Every statistic equals a float64 full-logits computation; gradients of log-prob and entropy too."""
    torch.manual_seed(0)
    hid = torch.randn(n, h, requires_grad=True)
    w = torch.randn(v, h, requires_grad=True)
    b = torch.randn(v, requires_grad=True)
    t = torch.randint(0, v, (n,))
    min_p = 0.05 if threshold == "min_p" else 0.01
    s = token_stats(
        hid,
        w,
        t,
        b,
        temperature=temp,
        softcap=softcap,
        logit_scale=scale,
        min_p=min_p,
        threshold=threshold,
        tile_rows=tile,
    )
    z, label, entropy, max_logp, lse = _reference(hid, w, b, t, temp, softcap, scale, min_p, threshold)
    torch.testing.assert_close(s.logprobs.double(), label, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(s.entropy.double(), entropy, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(s.max_logp.double(), max_logp, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(s.log_z.double(), lse, rtol=1e-5, atol=1e-4)
    for i in range(n):
        ref_p, ref_z = proxy_row(z[i], int(t[i]), min_p, threshold, temp)
        assert s.kept_mass[i].item() == pytest.approx(ref_z, abs=1e-5)
        assert (s.proxy_logps[i].item() == -math.inf) == (ref_p == -math.inf)
        if ref_p != -math.inf:
            assert s.proxy_logps[i].item() == pytest.approx(ref_p, abs=1e-4)
    assert torch.isfinite(s.proxy_logps).any() and torch.isinf(s.proxy_logps).any()
    g1, g2 = torch.randn(n, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    ours = torch.autograd.grad((s.logprobs.double() * g1).sum() + (s.entropy.double() * g2).sum(), [hid, w, b])
    ref = torch.autograd.grad((label * g1).sum() + (entropy * g2).sum(), [hid, w, b])
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a.double(), r.double(), rtol=1e-4, atol=1e-4)


def test_token_stats_logprob_only_gradient_and_bf16():
    """Only the log-prob carries a gradient (entropy unused); bf16 inputs within bf16 tolerance of float64."""
    torch.manual_seed(1)
    hid = torch.randn(20, 16, dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(40, 16, dtype=torch.bfloat16, requires_grad=True)
    t = torch.randint(0, 40, (20,))
    s = token_stats(hid, w, t, min_p=0.02, tile_rows=7)
    _, label, entropy, _, _ = _reference(hid.float(), w.float(), None, t, 1.0, None, 1.0, 0.02, "min_p")
    torch.testing.assert_close(s.logprobs.double(), label, rtol=2e-2, atol=5e-2)
    torch.testing.assert_close(s.entropy.double(), entropy, rtol=2e-2, atol=5e-2)
    gh, gw = torch.autograd.grad(s.logprobs.sum(), [hid, w])
    hd, wd = hid.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    rh, rw = torch.autograd.grad(torch.log_softmax(hd @ wd.T, -1).gather(-1, t[:, None]).sum(), [hd, wd])
    assert gh.dtype == torch.bfloat16
    torch.testing.assert_close(gh.double(), rh, rtol=5e-2, atol=5e-2)
    torch.testing.assert_close(gw.double(), rw, rtol=5e-2, atol=5e-2)


def test_fused_token_stats_routes_trl_fused_head():
    """Inside the block the model's fused forward returns our kernel's log-probs (equal to TRL's) and the request
    collects the proxy statistics from the same call; outside it TRL's kernel runs."""
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    cfg = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    add_fused_lm_head(model, temperature=0.8, outputs=("log_probs", "entropy"))
    ids = torch.randint(0, 64, (2, 9))
    labels = ids.clone()
    labels[:, :4] = -100
    base = model(input_ids=ids, labels=labels, fused_lm_head=True)
    request = TokenStatsRequest(min_p=0.02)
    with fused_token_stats(request):
        ours = model(input_ids=ids, labels=labels, fused_lm_head=True)
    assert len(request.calls) == 1 and request.calls[0].n == 2 * 8
    torch.testing.assert_close(ours.log_probs, base.log_probs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.entropy, base.entropy, rtol=1e-5, atol=1e-5)
    after = model(input_ids=ids, labels=labels, fused_lm_head=True)
    torch.testing.assert_close(after.log_probs, base.log_probs, rtol=0, atol=0)  # the same call again: same ops
    flat = request.calls[0].stats
    assert flat["proxy_logps"].shape == (16,) and (flat["kept_mass"] <= 1 + 1e-6).all()


def test_token_stats_autocast_casts_head_in_chunks(monkeypatch):
    """fp32 LM head under bf16 autocast: the head is cast in vocabulary chunks (no full copy); values and gradients
    stay within bf16 tolerance of float64, and equal the unchunked result."""
    import trl_explore.kernels._tiled_head as core

    torch.manual_seed(3)
    hid = torch.randn(12, 16, requires_grad=True)
    w = torch.randn(30, 16, requires_grad=True)
    b = torch.randn(30, requires_grad=True)
    t = torch.randint(0, 30, (12,))

    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            s = token_stats(hid, w, t, b, min_p=0.05, tile_rows=5)
        grads = torch.autograd.grad(s.logprobs.sum() + 0.5 * s.entropy.sum(), [hid, w, b])
        return s, grads

    whole, whole_grads = run()
    monkeypatch.setattr(core, "_CAST_CHUNK", 7)
    chunked, chunked_grads = run()
    torch.testing.assert_close(chunked.logprobs, whole.logprobs, rtol=0, atol=1e-6)
    torch.testing.assert_close(chunked.kept_mass, whole.kept_mass, rtol=0, atol=1e-6)
    for a, c in zip(whole_grads, chunked_grads):
        assert a.dtype == torch.float32
        torch.testing.assert_close(c, a, rtol=1e-5, atol=1e-5)
    _, label, entropy, _, _ = _reference(hid, w, b, t, 1.0, None, 1.0, 0.05, "min_p")
    torch.testing.assert_close(chunked.logprobs.double(), label.detach(), rtol=3e-2, atol=8e-2)
    ref_grads = torch.autograd.grad(label.sum() + 0.5 * entropy.sum(), [hid, w, b])
    for c, r in zip(chunked_grads, ref_grads):
        torch.testing.assert_close(c.double(), r.double(), rtol=5e-2, atol=1e-1)


class _Zero3Partitioned:
    """Stand-in for DeepSpeed ZeRO-3 on a CPU machine: outside the gather context the parameters hold empty
    storage (``numel 0``, as ZeRO-3 partitions them), inside it their full data."""

    def __init__(self, *params):
        self.full = {id(p): (p, p.data) for p in params if p is not None}
        self.entries = 0
        self.release()

    def release(self):
        for p, data in self.full.values():
            p.data = torch.empty(0, dtype=data.dtype)

    @contextlib.contextmanager
    def __call__(self, *params):
        for p in params:
            if p is not None and id(p) in self.full:
                p.data = self.full[id(p)][1]
        self.entries += 1
        try:
            yield
        finally:
            self.release()


def test_token_stats_backward_regathers_a_zero3_partitioned_head(monkeypatch):
    """Under ZeRO-3 the head is gathered only for the fused forward; the backward recomputes the logits, so it must
    gather the head again (like TRL's own kernel). Gradients then equal those of an ordinary head."""
    import trl.trainer.utils as trl_utils

    torch.manual_seed(3)
    hid = torch.randn(9, 8, requires_grad=True)
    w_full, b_full = torch.randn(21, 8), torch.randn(21)
    t = torch.randint(0, 21, (9,))
    w, b = torch.nn.Parameter(w_full.clone()), torch.nn.Parameter(b_full.clone())
    zero3 = _Zero3Partitioned(w, b)
    monkeypatch.setattr(trl_utils, "maybe_gather_lm_head_ctx", zero3)
    assert w.numel() == 0
    with zero3(w, b):  # TRL's fused forward gathers the head around the kernel call
        s = token_stats(hid, w, t, b, min_p=0.05, tile_rows=4)
    assert w.numel() == 0 and zero3.entries == 1
    # `autograd.grad` hands the gradients back instead of accumulating them into the (empty) parameters, which
    # DeepSpeed's own hooks would do
    grads = torch.autograd.grad(s.logprobs.sum() + 0.5 * s.entropy.sum(), [hid, w, b])
    assert zero3.entries == 2 and w.numel() == 0

    hid_ref = hid.detach().clone().requires_grad_()
    w_ref, b_ref = w_full.clone().requires_grad_(), b_full.clone().requires_grad_()
    ref = token_stats(hid_ref, w_ref, t, b_ref, min_p=0.05, tile_rows=4)
    (ref.logprobs.sum() + 0.5 * ref.entropy.sum()).backward()
    torch.testing.assert_close(s.logprobs, ref.logprobs)
    for got, want in zip(grads, (hid_ref.grad, w_ref.grad, b_ref.grad)):
        torch.testing.assert_close(got, want)
