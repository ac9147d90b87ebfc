"""Lastde math (`trl_explore.functional.lastde`): the official sanity value, torch.histc's binning, parity with the
float64 reference (`tests/reference/lastde_reference.py`) for every aggregation on random rows of unequal length and on
K samples per row, the short-text rule, the no-±inf guards and argument validation."""

from __future__ import annotations

import math

import pytest
import torch
from reference import lastde_reference as ref

from trl_explore.functional.lastde import (
    AGGREGATIONS,
    UNDEFINED_REASONS,
    _bin_ids,
    diversity_entropy,
    lastde_plus_plus_score,
    lastde_score,
    multiscale_diversity_entropy,
)


def _tps(shape, seed):
    """Random token log-probabilities (−Exp(1) · 3, float64)."""
    g = torch.Generator().manual_seed(seed)
    return -torch.empty(shape, dtype=torch.float64).exponential_(1.0, generator=g) * 3


def test_sanity_value_from_the_official_docstring():
    """[1, 2, 13, 7, 9, 5, 4], s = 3, ε = 10, τ = 1: orbits (1,2,13), (2,13,7), (13,7,9), (7,9,5), (9,5,4); the cosines
    0.605, 0.699, 0.924, 0.931 fall 2 and 2 into bins [0.6, 0.8) and [0.8, 1.0], so DE = −2 · ½ ln ½ / ln 10 =
    log10(2) = 0.30103."""
    de = diversity_entropy(torch.tensor([1.0, 2, 13, 7, 9, 5, 4]), embed_size=3, num_bins=10, tau=1)
    assert round(float(de), 5) == 0.30103
    assert float(de) == pytest.approx(math.log10(2), abs=1e-12)
    assert float(ref.diversity_entropy([1, 2, 13, 7, 9, 5, 4], 3, 10, 1)) == pytest.approx(math.log10(2))


def test_one_bin_and_all_bins_by_hand():
    """A geometric sequence 2^t: every orbit is a multiple of the first, every cosine is 1 (last bin): DE = 0. Three
    cosines in three different bins: DE = ln 3 / ln ε."""
    geometric = torch.tensor([2.0**t for t in range(8)], dtype=torch.float64)
    assert float(diversity_entropy(geometric, embed_size=2, num_bins=7)) == pytest.approx(0.0, abs=1e-12)
    # s = 1: orbits are single values, cos(a, b) = sign(a · b): +1, −1, +1 -> bins 3, 0, 3 of 4: P = (1/3, 2/3)
    signs = torch.tensor([1.0, 2.0, -1.0, -3.0], dtype=torch.float64)
    want = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3)) / math.log(4)
    assert float(diversity_entropy(signs, embed_size=1, num_bins=4)) == pytest.approx(want, abs=1e-12)


def test_binning_equals_torch_histc():
    """Our float32 bin rule counts exactly like torch.histc(c, ε, −1, 1), edges and ±1 included."""
    g = torch.Generator().manual_seed(0)
    for bins in (2, 7, 10, 64, 333, 4000):
        c = torch.rand(5000, generator=g, dtype=torch.float64) * 2 - 1
        edges = torch.linspace(-1, 1, bins + 1, dtype=torch.float64)
        c = torch.cat([c, edges, torch.tensor([-1.0, 1.0, 0.0], dtype=torch.float64)])
        ids = _bin_ids(c.view(1, 1, -1), torch.tensor([bins])).view(-1)
        ours = torch.bincount(ids, minlength=bins).float()
        assert torch.equal(ours, torch.histc(c.float(), bins=bins, min=-1, max=1)), bins


@pytest.mark.parametrize("tau", [1, 2, 4])
def test_diversity_entropy_matches_reference(tau):
    x = _tps((6, 50), seed=1)
    lengths = torch.tensor([50, 31, 17, 9, 40, 12])
    ours = diversity_entropy(x, embed_size=3, num_bins=37, tau=tau, lengths=lengths)
    for i, n in enumerate(lengths.tolist()):
        assert float(ours[i]) == pytest.approx(ref.diversity_entropy(x[i, :n].tolist(), 3, 37, tau), abs=1e-12)


@pytest.mark.parametrize("agg", AGGREGATIONS)
@pytest.mark.parametrize(("embed_size", "epsilon_mult", "tau_prime"), [(3, 10, 5), (3, 1, 15), (4, 8, 15), (2, 0.5, 3)])
def test_lastde_matches_reference(agg, embed_size, epsilon_mult, tau_prime):
    """Rows of unequal length in one padded batch: every score and MDE equals the float64 reference on the row alone
    (padding filled with garbage that must be ignored)."""
    lengths = torch.tensor([64, 40, 23, tau_prime + embed_size, 51])
    x = _tps((5, 64), seed=2)
    x[torch.arange(64) >= lengths.unsqueeze(1)] = 123.0  # padding: never read
    score, stats = lastde_score(x, embed_size, epsilon_mult, tau_prime, agg, lengths=lengths)
    mde, _ = multiscale_diversity_entropy(x, embed_size, epsilon_mult, tau_prime, agg, lengths=lengths)
    assert score.dtype == torch.float64 and score.shape == (5,)
    for i, n in enumerate(lengths.tolist()):
        row = x[i, :n].tolist()
        want_mde = ref.multiscale_diversity_entropy(row, embed_size, epsilon_mult, tau_prime, agg)
        assert float(mde[i]) == pytest.approx(want_mde, rel=1e-10, abs=1e-12)
        want = ref.lastde(row, embed_size, epsilon_mult, tau_prime, agg)
        assert float(score[i]) == pytest.approx(want, rel=1e-10, nan_ok=True)
        assert int(stats["num_bins"][i]) == int(epsilon_mult * n) and int(stats["num_scales"][i]) == tau_prime
    torch.testing.assert_close(stats["mde"], mde, equal_nan=True)
    assert torch.isfinite(score).sum() >= 4  # a 5-token row with 2 bins may have a zero MDE, the others do not


@pytest.mark.parametrize("agg", ["std", "expstd", "l2"])
def test_k_samples_dimension_and_lastde_plus_plus_match_reference(agg):
    """``[B, K, T]`` with ``[B]`` lengths equals the reference per sampled row; Lastde++ equals the reference z-score."""
    lengths = torch.tensor([30, 55, 16])
    x = _tps((3, 55), seed=3)
    samples = _tps((3, 6, 55), seed=4)
    per_sample, _ = lastde_score(samples, 4, 8, 15, agg, lengths=lengths)
    assert per_sample.shape == (3, 6)
    plus, stats = lastde_plus_plus_score(x, samples, 4, 8, 15, agg, lengths=lengths)
    for i, n in enumerate(lengths.tolist()):
        tau_prime = min(15, n - 4)  # the 16-token text is clamped to τ' = n − s = 12
        rows = [samples[i, k, :n].tolist() for k in range(6)]
        for k in range(6):
            assert float(per_sample[i, k]) == pytest.approx(ref.lastde(rows[k], 4, 8, tau_prime, agg), rel=1e-10)
        want = ref.lastde_plus_plus(x[i, :n].tolist(), rows, 4, 8, tau_prime, agg)
        assert float(plus[i]) == pytest.approx(want, rel=1e-9)
    assert stats["clamped"].tolist() == [False, False, True]
    assert stats["num_samples_defined"].tolist() == [6, 6, 6]


def test_short_text_rule():
    """n < τ' + s: "clamp" scores with τ' = n − s (and says so), "nan" returns NaN with the too-short reason; rows too
    short even after clamping are NaN with that reason under both rules; nothing is infinite."""
    lengths = torch.tensor([20, 7, 4, 3, 0])
    x = _tps((5, 20), seed=5)
    clamp, st = lastde_score(x, 3, 10, 5, "std", lengths=lengths)
    nan, sn = lastde_score(x, 3, 10, 5, "std", lengths=lengths, short_text="nan")
    assert torch.equal(clamp[0], nan[0]) and not torch.isinf(clamp).any() and not torch.isinf(nan).any()
    assert float(clamp[1]) == pytest.approx(ref.lastde(x[1, :7].tolist(), 3, 10, 4, "std"), rel=1e-10)
    assert st["clamped"].tolist() == [False, True, False, False, False]
    assert st["num_scales"].tolist() == [5, 4, 0, 0, 0]
    # n = 4: one scale fits (n − s = 1) — too few for std
    assert torch.isnan(clamp[2:]).all() and st["undefined"][2:].tolist() == [1, 1, 1]
    assert torch.isnan(nan[1:]).all() and sn["undefined"][1:].tolist() == [1, 1, 1, 1]
    assert "too few tokens" in UNDEFINED_REASONS[1]
    # l2 needs one scale: n = 4 with s = 3 is clamped to τ' = 1, whose single cosine has DE = 0: zero MDE, NaN
    l2, sl = lastde_score(x, 3, 10, 5, "l2", lengths=lengths)
    assert torch.isfinite(l2[:2]).all() and torch.isnan(l2[2]) and sl["undefined"][2] == 3


def test_degenerate_inputs_never_give_inf():
    """A constant TPS: every cosine is 1, DE = 0 at every scale, MDE (std) = 0 -> NaN with the zero-MDE reason (the
    plain ratio would be −inf); expstd = exp(0) = 1 keeps it defined (= the mean log-prob). Too few bins -> NaN.
    Lastde++ with identical samples: zero spread -> NaN with its reason."""
    x = torch.full((2, 30), -0.7, dtype=torch.float64)
    score, stats = lastde_score(x, 3, 10, 5, "std")
    assert torch.isnan(score).all() and stats["undefined"].tolist() == [3, 3]
    exp_score, _ = lastde_score(x, 3, 10, 5, "expstd")
    torch.testing.assert_close(exp_score, torch.full((2,), -0.7, dtype=torch.float64))
    few_bins, sf = lastde_score(_tps((1, 10), seed=6), 3, 0.1, 5, "std")
    assert torch.isnan(few_bins).all() and sf["undefined"].tolist() == [2]
    y = _tps((1, 30), seed=7)
    plus, sp = lastde_plus_plus_score(y, y.unsqueeze(1).expand(1, 4, 30).clone(), 3, 10, 5, "std")
    assert torch.isnan(plus).all() and sp["undefined"].tolist() == [5]
    zero_orbits = torch.zeros(1, 12, dtype=torch.float64)  # log-probs exactly 0: cosines 0 by convention, no NaN
    de = diversity_entropy(zero_orbits, embed_size=3, num_bins=10)
    assert float(de) == 0.0


def test_scale_one_and_l2_knob():
    """τ' = 1 with l2 is DE_1 itself (|DE_1|); lengths=None equals full lengths; float32 input equals its float64 copy."""
    x = _tps((4, 33), seed=8)
    mde, stats = multiscale_diversity_entropy(x, 3, 10, 1, "l2")
    torch.testing.assert_close(mde, diversity_entropy(x, 3, 330, 1))
    full, _ = lastde_score(x, lengths=torch.full((4,), 33))
    torch.testing.assert_close(lastde_score(x)[0], full)
    torch.testing.assert_close(lastde_score(x.float().double())[0], lastde_score(x.float())[0])
    one, stats = lastde_score(x[0])  # a single 1-D sequence: 0-d results
    assert one.shape == () and stats["diversity_entropy"].shape == (5,)
    torch.testing.assert_close(one, lastde_score(x)[0][0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"embed_size": 0}, "embed_size"),
        ({"embed_size": 2.0}, "embed_size"),
        ({"epsilon_mult": 0}, "epsilon_mult"),
        ({"epsilon_mult": float("inf")}, "epsilon_mult"),
        ({"tau_prime": 0}, "tau_prime"),
        ({"tau_prime": True}, "tau_prime"),
        ({"agg": "mean"}, "agg"),
        ({"short_text": "skip"}, "short_text"),
        ({"lengths": torch.tensor([5, 99])}, "lengths"),
        ({"lengths": torch.tensor([5.0, 6.0])}, "lengths"),
        ({"lengths": torch.tensor([5, 6, 7])}, "lengths"),
    ],
)
def test_validation(kwargs, match):
    x = _tps((2, 20), seed=9)
    with pytest.raises(ValueError, match=match):
        lastde_score(x, **kwargs)


def test_validation_of_inputs():
    with pytest.raises(ValueError, match="token_logps"):
        lastde_score([[-1.0, -2.0]])
    with pytest.raises(ValueError, match="token_logps"):
        lastde_score(torch.ones(2, 5, dtype=torch.long))
    bad = _tps((1, 20), seed=10)
    bad[0, 3] = float("-inf")
    with pytest.raises(ValueError, match="finite"):
        lastde_score(bad)
    bad[0, 3], bad[0, 12] = -1.0, float("nan")  # past the length: ignored
    torch.testing.assert_close(lastde_score(bad, lengths=torch.tensor([12]))[0], lastde_score(bad[:, :12])[0])
    with pytest.raises(ValueError, match="num_bins"):
        diversity_entropy(_tps(10, seed=11), embed_size=3, num_bins=1)
    with pytest.raises(ValueError, match="sequence"):
        diversity_entropy(_tps(4, seed=11), embed_size=3, num_bins=10, tau=2)
    x = _tps((2, 20), seed=12)
    with pytest.raises(ValueError, match="sample_logps"):
        lastde_plus_plus_score(x, _tps((2, 1, 20), seed=13))
    with pytest.raises(ValueError, match="sample_logps"):
        lastde_plus_plus_score(x, _tps((2, 3, 19), seed=13))
