"""HAPO's paper-vs-released-code options (arXiv 2509.16591, Sec. 3.1 and Eq. 3): the pivot's rank rule
(`hapo_pivot_rule`) and the logits of the sampler's entropy (`hapo_sampling_entropy`), with hand-derived values."""

from __future__ import annotations

import math
import sys
import types

import pytest
import torch
from grpo_helpers import build_trainer, config_kwargs

from trl_explore.functional.hapo import HapoEntropyStats, hapo_entropy_stats, hapo_pivot_rank
from trl_explore.generation.adaptive_temperature import AdaptiveTemperatureLogitsProcessor
from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer
from trl_explore.trainers.components import SamplingContext

# n = 5m + r: ⌈0.8·n⌉ = ⌈4m + 0.8r⌉ = 4m + r for r = 0..4; round(0.8·(n − 1)) + 1 = round(4m + 0.8r − 0.8) + 1 is
# 4m + r for r = 0..3 (round(−0.8), round(0), round(0.8), round(1.6) = −1, 0, 1, 2) but 4m + 3 for r = 4
# (round(2.4) = 2): one rank lower exactly when n ≡ 4 (mod 5).
DIFFERING = [4, 9, 14, 19, 24, 29, 34, 39, 44, 49, 54, 59]


def test_pivot_rank_rules_for_n_1_to_59():
    """The released rank is torch.quantile(..., "nearest")'s (an independent oracle); ours the nearest rank; they
    differ by one rank exactly for the 12 n ≡ 4 (mod 5) of 1..59."""
    differing = []
    for n in range(1, 60):
        released = hapo_pivot_rank(n, 0.8, "released")
        ours = hapo_pivot_rank(n, 0.8, "nearest_rank")
        oracle = torch.quantile(torch.arange(n, dtype=torch.float64), 0.8, interpolation="nearest")
        assert released - 1 == int(oracle), n
        assert ours == 4 * (n // 5) + n % 5, n  # 4m + r
        if ours != released:
            assert ours - released == 1
            differing.append(n)
    assert differing == DIFFERING


def test_entropy_stats_pivot_rule():
    """x = [0, 1, 2, 3] (n = 4, q = 0.8): nearest rank ⌈3.2⌉ = 4th → pivot 3; released round(2.4) = index 2 → pivot 2.
    RMS around the pivot: sqrt((9 + 4 + 1 + 0) / 4) = sqrt(3.5) and sqrt((4 + 1 + 0 + 1) / 4) = sqrt(1.5)."""
    x = torch.tensor([0.0, 1.0, 2.0, 3.0])
    ours = hapo_entropy_stats(x, 0.8)
    released = hapo_entropy_stats(x, 0.8, "released")
    assert ours.pivot == 3.0 and released.pivot == 2.0
    assert ours.rms == pytest.approx(math.sqrt(3.5), rel=1e-15)
    assert released.rms == pytest.approx(math.sqrt(1.5), rel=1e-15)
    with pytest.raises(ValueError, match="rule"):
        hapo_pivot_rank(4, 0.8, "median")


def _hand_entropy(probs):
    return -sum(p * math.log(p) for p in probs)


@pytest.mark.parametrize("entropy_temperature", [None, 1.0])
def test_sampler_entropy_at_t_base_or_raw_logits(entropy_temperature):
    """Logits [0, ln 3], T_base = 0.5. Raw: p = [1/4, 3/4]; at T_base: logits [0, 2 ln 3], p = [1/10, 9/10].
    Statistics (pivot 0, rms 1, pos_max 1, neg_min −1): h̃ = clamp(log H, −1, 1); τ = 0.5, factor 1 + 0.5·h̃.
    Raw: H = 0.5623, log H = −0.5757, factor 0.7121; T_base: H = 0.3251, log H = −1.1237 → h̃ = −1, factor 0.5."""
    stats = HapoEntropyStats(0.0, 1.0, 1.0, -1.0)
    processor = AdaptiveTemperatureLogitsProcessor(0.5, stats, temperature=0.5, entropy_temperature=entropy_temperature)
    logits = torch.tensor([[0.0, math.log(3.0)]])
    probs = [0.25, 0.75] if entropy_temperature == 1.0 else [0.1, 0.9]
    factor = 1 + 0.5 * max(-1.0, min(1.0, math.log(_hand_entropy(probs))))
    out = processor(torch.zeros(1, 1, dtype=torch.long), logits)
    torch.testing.assert_close(out, logits / factor, rtol=4 * torch.finfo(torch.float32).eps, atol=0.0)
    # the logged effective temperature is still T_base · factor
    total, count, _, _ = processor.temperature_stats()
    assert total / count == pytest.approx(0.5 * factor, rel=1e-6)


def test_config_options_reach_the_components(tmp_path, monkeypatch):
    """`hapo_sampling_entropy="raw"`: the sampler scores the raw logits (transformers: entropy temperature 1;
    vLLM: `hapo_temperature` 1, which its processor reads only for the entropy). `hapo_pivot_rule` reaches the
    statistics of the loss side (x = log H of H = e^[0, 1, 2, 3] → pivot 2, released)."""
    trainer = build_trainer(
        ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path, hapo_adaptive_temperature=True, temperature=0.7,
        hapo_sampling_entropy="raw", hapo_pivot_rule="released",
    )  # fmt: skip
    component = next(c for c in trainer.components if c.name == "hapo_adaptive_temperature")
    component.stats = HapoEntropyStats(0.0, 1.0, 1.0, -1.0)
    request = component.sampling(SamplingContext(trainer, "train", "transformers"))
    (processor,) = request.logits_processors
    assert processor.entropy_temperature == 1.0 and processor.temperature == 0.7
    # vLLM is not installed here: a stand-in module records the request arguments the component builds
    fake = types.ModuleType("trl_explore.generation.vllm_adaptive_temperature")
    fake.request_arguments = lambda tau, temperature, stats, sign: {"hapo_temperature": temperature}
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    request = component.sampling(SamplingContext(trainer, "train", "vllm_colocate"))
    assert request.vllm_extra_args["hapo_temperature"] == 1.0
    from trl_explore.trainers.components.hapo import _entropy_stats

    entropies = torch.exp(torch.tensor([[0.0, 1.0, 2.0, 3.0]]))
    stats = _entropy_stats(trainer, trainer.args, entropies, torch.ones(1, 4))
    assert stats.pivot == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(ValueError, match="hapo_sampling_entropy"):
        ExploreGRPOConfig(**config_kwargs(tmp_path, hapo_sampling_entropy="logits"))
    with pytest.raises(ValueError, match="hapo_pivot_rule"):
        ExploreGRPOConfig(**config_kwargs(tmp_path, hapo_pivot_rule="ceil"))
