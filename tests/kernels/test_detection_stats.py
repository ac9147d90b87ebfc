"""Detection statistics kernel: exact against full float64 logits, with and without a reference model; sampling."""

from __future__ import annotations

import pytest
import torch

from trl_explore.kernels._tiled_head import TiledHead
from trl_explore.kernels.detection_stats import detection_stats


def _reference(h, head, labels, ref_h=None, ref_head=None, temperature=1.0):
    """Full ``[N, V]`` float64 logits, the formulas written out."""
    z = head.logits(h.double()) / temperature
    logp = torch.log_softmax(z, -1)
    q = torch.softmax(ref_head.logits(ref_h.double()) / temperature, -1) if ref_head is not None else logp.exp()
    zx = z.gather(1, labels[:, None])
    return {
        "label_logprob": logp.gather(1, labels[:, None]).squeeze(1),
        "label_rank": (z > zx).sum(-1) + 1,
        "entropy": -(logp.exp() * logp).sum(-1),
        "expected_logp": (q * logp).sum(-1),
        "expected_logp2": (q * logp.square()).sum(-1),
        "logp": logp,
        "q": q,
    }


def _model(n, hidden, vocab, seed, bias=True, scale=1.0, softcap=None):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, hidden, generator=g, dtype=torch.float64) * 2
    w = torch.randn(vocab, hidden, generator=g, dtype=torch.float64) / hidden**0.5
    b = torch.randn(vocab, generator=g, dtype=torch.float64) * 0.3 if bias else None
    return h, TiledHead(w, b, scale, softcap)


@pytest.mark.parametrize(
    ("reference", "temperature", "tile_rows"), [(False, 1.0, 4), (True, 1.0, 7), (True, 0.8, None)]
)
def test_detection_stats_exact(reference, temperature, tile_rows):
    """Every statistic equals the float64 full-logits computation (float64 inputs: to 1e-10); ranks exactly, ties
    included (a duplicated logit row entry does not push the label down)."""
    n, vocab = 23, 41
    h, head = _model(n, 8, vocab, seed=0, scale=0.7, softcap=6.0)
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, vocab, (n,), generator=g)
    ref_h, ref_head = _model(n, 12, vocab, seed=2) if reference else (None, None)
    ours = detection_stats(
        h,
        head,
        labels,
        reference_hidden=ref_h,
        reference_head=ref_head,
        temperature=temperature,
        tile_rows=tile_rows,
    )
    want = _reference(h, head, labels, ref_h, ref_head, temperature)
    for name in ("label_logprob", "entropy", "expected_logp", "expected_logp2"):
        torch.testing.assert_close(getattr(ours, name), want[name], rtol=1e-10, atol=1e-10, msg=name)
    assert torch.equal(ours.label_rank, want["label_rank"])
    assert ours.label_rank.min() >= 1 and ours.sample_ids.shape == (n, 0)
    if not reference:  # q = p: Σ p log p = − entropy
        torch.testing.assert_close(ours.expected_logp, -ours.entropy)


def test_detection_stats_float32_and_ties():
    """float32 model within float32 tolerance; tied logits: rank counts only strictly larger ones."""
    h, head = _model(9, 6, 17, seed=3)
    h32 = h.float()
    head32 = TiledHead(head.weight.float(), head.bias.float())
    labels = torch.randint(0, 17, (9,), generator=torch.Generator().manual_seed(4))
    ours = detection_stats(h32, head32, labels, tile_rows=2)
    want = _reference(h32.double(), TiledHead(head32.weight.double(), head32.bias.double()), labels)
    assert ours.entropy.dtype == torch.float32
    torch.testing.assert_close(ours.label_logprob.double(), want["label_logprob"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.expected_logp2.double(), want["expected_logp2"], rtol=1e-5, atol=1e-4)
    # two identical rows of the head: the label ties with another token
    w = torch.zeros(5, 2, dtype=torch.float64)
    w[1] = w[3] = torch.tensor([1.0, 0.0])
    tied = detection_stats(torch.tensor([[1.0, 0.0]], dtype=torch.float64), TiledHead(w), torch.tensor([3]))
    assert tied.label_rank.tolist() == [1]
    below = detection_stats(torch.tensor([[1.0, 0.0]], dtype=torch.float64), TiledHead(w), torch.tensor([0]))
    assert below.label_rank.tolist() == [3]  # tokens 1 and 3 are strictly larger


def test_detection_samples_follow_q_and_score_under_p():
    """Samples are drawn from q (reference model): empirical frequencies over 40k draws per position match q
    (|freq − q| < 5 standard errors); their scores are log p of the drawn ids; the same generator state gives the
    same samples whatever the tiling."""
    n, vocab, k = 3, 11, 40_000
    h, head = _model(n, 5, vocab, seed=5)
    ref_h, ref_head = _model(n, 4, vocab, seed=6)
    labels = torch.zeros(n, dtype=torch.long)

    def run(tile_rows):
        gen = torch.Generator().manual_seed(7)
        return detection_stats(
            h,
            head,
            labels,
            reference_hidden=ref_h,
            reference_head=ref_head,
            num_samples=k,
            generator=gen,
            tile_rows=tile_rows,
        )

    ours = run(1)
    want = _reference(h, head, labels, ref_h, ref_head)
    assert ours.sample_ids.shape == (n, k) and ours.sample_ids.dtype == torch.long
    torch.testing.assert_close(ours.sample_logprobs, want["logp"].gather(1, ours.sample_ids), rtol=1e-12, atol=1e-12)
    freq = torch.nn.functional.one_hot(ours.sample_ids, vocab).double().mean(1)  # [n, V]
    q = want["q"]
    se = (q * (1 - q) / k).sqrt()
    assert ((freq - q).abs() <= 5 * se + 1e-12).all()
    again = run(None)
    assert torch.equal(again.sample_ids, ours.sample_ids)


def test_detection_stats_validation():
    h, head = _model(4, 3, 7, seed=8)
    labels = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        detection_stats(h, head, labels, temperature=0.0)
    with pytest.raises(ValueError, match="num_samples"):
        detection_stats(h, head, labels, num_samples=-1)
    with pytest.raises(ValueError, match="reference"):
        detection_stats(h, head, labels, reference_hidden=h)
    with pytest.raises(ValueError, match="vocabularies"):
        other_h, other = _model(4, 3, 9, seed=9)
        detection_stats(h, head, labels, reference_hidden=other_h, reference_head=other)
    with pytest.raises(ValueError, match="labels"):
        detection_stats(h, head, labels[:2])


def test_detection_stats_with_given_uniforms():
    """Passing the uniforms is the same as drawing them from the generator (same values, same samples); bad ones are
    refused with an error naming them."""
    n, vocab, k = 6, 13, 5
    h, head = _model(n, 4, vocab, seed=10)
    labels = torch.zeros(n, dtype=torch.long)
    drawn = detection_stats(h, head, labels, num_samples=k, generator=torch.Generator().manual_seed(3), tile_rows=4)
    u = torch.rand((n, k), generator=torch.Generator().manual_seed(3))
    given = detection_stats(h, head, labels, uniforms=u, tile_rows=2)
    assert torch.equal(given.sample_ids, drawn.sample_ids)
    torch.testing.assert_close(given.sample_logprobs, drawn.sample_logprobs)
    for bad in (u[:3], u.long(), u + 1.0):
        with pytest.raises(ValueError, match="uniforms"):
            detection_stats(h, head, labels, uniforms=bad)
    with pytest.raises(ValueError, match="num_samples"):
        detection_stats(h, head, labels, uniforms=u, num_samples=2)


def test_detection_stats_without_moments():
    """``moments=False``: the label's log-prob and rank (and the samples) are unchanged, entropy and the moments are
    NaN; ``moments`` must be a bool."""
    n, vocab = 9, 15
    h, head = _model(n, 4, vocab, seed=11)
    ref_h, ref_head = _model(n, 3, vocab, seed=12)
    labels = torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(5))
    u = torch.rand((n, 3), generator=torch.Generator().manual_seed(6))
    for kwargs in ({}, {"uniforms": u, "reference_hidden": ref_h, "reference_head": ref_head}):
        full = detection_stats(h, head, labels, tile_rows=4, **kwargs)
        lean = detection_stats(h, head, labels, tile_rows=4, moments=False, **kwargs)
        assert torch.equal(lean.label_logprob, full.label_logprob) and torch.equal(lean.label_rank, full.label_rank)
        assert torch.equal(lean.sample_ids, full.sample_ids) and torch.equal(lean.sample_logprobs, full.sample_logprobs)
        for name in ("entropy", "expected_logp", "expected_logp2"):
            assert torch.isnan(getattr(lean, name)).all()
    with pytest.raises(ValueError, match="moments"):
        detection_stats(h, head, labels, moments=1)


def _tied_top():
    """A head whose logits are ``[5]*10 + [1, 1]`` at every position: ``h = [1]``, weight column ``[5]*10 + [1, 1]``,
    no bias (each logit is one product ``1 · w_v``, so equal weights give bit-equal logits)."""
    w = torch.tensor([[5.0]] * 10 + [[1.0], [1.0]], dtype=torch.float64)  # [V = 12, H = 1]
    return torch.ones(6, 1, dtype=torch.float64), TiledHead(w)


@pytest.mark.parametrize("tile_rows", [1, 4, None])
def test_rank_ties_min_by_hand(tile_rows):
    """``rank_ties="min"`` (default): labels 0, 3, 7, 9 sit in the 10-way tied top (no logit is larger: rank 1);
    labels 10, 11 have the ten 5's above them and tie with each other: rank 1 + 10 = 11 each."""
    h, head = _tied_top()
    labels = torch.tensor([0, 3, 7, 9, 10, 11])
    for kwargs in ({}, {"rank_ties": "min"}):
        ours = detection_stats(h, head, labels, tile_rows=tile_rows, **kwargs)
        assert ours.label_rank.tolist() == [1, 1, 1, 1, 11, 11]


@pytest.mark.parametrize("tile_rows", [1, 4, None])
def test_rank_ties_released_by_hand(tile_rows):
    """``rank_ties="released"``: 1 + #larger + #tied tokens of smaller id. Label 0: 1 + 0 + 0 = 1; label 3:
    1 + 0 + 3 (ids 0, 1, 2) = 4; label 7: 1 + 7 = 8; label 9: 1 + 9 = 10; label 10: 1 + 10 + 0 = 11; label 11:
    1 + 10 + 1 (id 10) = 12. (Fails on code without the option: it took no ``rank_ties``.)"""
    h, head = _tied_top()
    ours = detection_stats(h, head, torch.tensor([0, 3, 7, 9, 10, 11]), tile_rows=tile_rows, rank_ties="released")
    assert ours.label_rank.tolist() == [1, 4, 8, 10, 11, 12]


def test_rank_ties_released_equals_stable_argsort_position():
    """``"released"`` is the label's position (+1) in a stable descending argsort of the logits, computed here with
    plain torch on the full ``[N, V]`` logits; logits rounded to 1 decimal so that many tie. ``"min"`` is at most it."""
    n, vocab = 40, 23
    h, head = _model(n, 6, vocab, seed=13)
    rounded = TiledHead((head.weight * 2).round() / 2)  # weights on a 0.5 grid, h on an integer grid: exact ties
    h = h.round()
    labels = torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(14))
    z = h @ rounded.weight.t()  # [N, V] (float64, integer-valued products: exact)
    order = torch.sort(z, dim=-1, descending=True, stable=True).indices  # [N, V]
    want = (order == labels[:, None]).nonzero()[:, 1] + 1
    released = detection_stats(h, rounded, labels, tile_rows=7, rank_ties="released").label_rank
    low = detection_stats(h, rounded, labels, tile_rows=7).label_rank
    assert torch.equal(released, want)
    assert (low <= released).all() and (low < released).any()  # the draw has ties below some labels


def test_rank_ties_validation():
    h, head = _tied_top()
    with pytest.raises(ValueError, match="rank_ties"):
        detection_stats(h, head, torch.zeros(6, dtype=torch.long), rank_ties="max")
