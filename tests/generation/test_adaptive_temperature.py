"""HAPO's adaptive temperature: the transformers logits processor (exact scaling, order before the generation
config's warpers, τ = 0 is plain sampling) and the vLLM V1 processor (against a stand-in of vLLM's interface)."""

from __future__ import annotations

import configparser
import enum
import importlib
import math
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from transformers import GenerationConfig

from trl_explore.functional.hapo import HapoEntropyStats, hapo_entropy_scores
from trl_explore.generation import AdaptiveTemperatureLogitsProcessor
from trl_explore.toy import make_tiny_model, make_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
STATS = HapoEntropyStats(pivot=1.0, rms=0.5, pos_max=2.0, neg_min=-3.0)


def _expected_factor(logits: torch.Tensor, tau: float, temperature: float, sign: str = "paper") -> torch.Tensor:
    """1 + τ·h̃ by hand: entropy of softmax(logits / T), h = (log H − pivot) / rms, divided by pos_max or |neg_min|."""
    p = torch.softmax(logits.double() / temperature, -1)
    entropy = -(p * torch.log(p)).sum(-1)
    h = (torch.log(entropy) - STATS.pivot) / STATS.rms
    neg = abs(STATS.neg_min) if sign == "paper" else STATS.neg_min
    scores = torch.where(h > 0, h / STATS.pos_max, h / neg).clamp(-1, 1)
    return 1 + tau * scores


@pytest.mark.parametrize("sign", ["paper", "released"])
def test_processor_scales_each_row_exactly(sign):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 50, generator=g) * torch.tensor([0.1, 0.5, 1.0, 2.0, 4.0, 8.0]).unsqueeze(1)
    processor = AdaptiveTemperatureLogitsProcessor(0.1, STATS, temperature=0.7, sign=sign)
    out = processor(torch.zeros(6, 1, dtype=torch.long), logits.clone())
    factor = _expected_factor(logits, 0.1, 0.7, sign)
    torch.testing.assert_close(out.double(), logits.double() / factor.unsqueeze(1), rtol=1e-6, atol=1e-6)
    assert (factor != 1).any() and (factor >= 0.9 - 1e-9).all() and (factor <= 1.1 + 1e-9).all()
    total, count, low, high = processor.temperature_stats()
    assert count == 6 and total / count == pytest.approx(float((0.7 * factor).mean()), rel=1e-6)
    assert low == pytest.approx(float(0.7 * factor.min()), rel=1e-6)


def test_processor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="tau"):
        AdaptiveTemperatureLogitsProcessor(1.0, STATS)
    with pytest.raises(ValueError, match="stats"):
        AdaptiveTemperatureLogitsProcessor(0.1, (1.0, math.nan, 1.0, -1.0))
    with pytest.raises(ValueError, match="rms"):
        AdaptiveTemperatureLogitsProcessor(0.1, (1.0, 0.0, 1.0, -1.0))
    with pytest.raises(ValueError, match="sign"):
        AdaptiveTemperatureLogitsProcessor(0.1, STATS, sign="both")


def _model():
    tok = make_tokenizer()
    model = make_tiny_model(tok, num_hidden_layers=1, hidden_size=32)
    with torch.no_grad():
        model.lm_head.weight.mul_(4.0)
    ids = tok(["12+3=", "7*8="], return_tensors="pt", padding=True)
    return model.eval(), ids


def test_runs_before_the_generation_configs_temperature():
    """generate(..., logits_processor=[ours]) with T_base = 0.7 in the generation config: the scores that reach
    sampling are raw / (T_base · factor), factor from the raw logits' entropy at T_base — so the processor runs
    first and the warper divides by T_base after it (the other order would give raw / T_base / factor(raw / T_base))."""
    model, inputs = _model()
    config = GenerationConfig(do_sample=True, temperature=0.7, top_k=0, top_p=1.0, max_new_tokens=4, pad_token_id=0)
    processor = AdaptiveTemperatureLogitsProcessor(0.2, STATS, temperature=0.7)
    torch.manual_seed(0)
    out = model.generate(
        **inputs,
        generation_config=config,
        logits_processor=[processor],
        output_scores=True,
        output_logits=True,
        return_dict_in_generate=True,
    )
    for raw, processed in zip(out.logits, out.scores):
        factor = _expected_factor(raw, 0.2, 0.7)
        torch.testing.assert_close(processed.double(), raw.double() / (0.7 * factor).unsqueeze(1), rtol=1e-5, atol=1e-5)
        assert (factor != 1).any()


def test_tau_zero_equals_plain_sampling():
    model, inputs = _model()
    config = GenerationConfig(do_sample=True, temperature=0.8, top_k=20, top_p=0.9, max_new_tokens=12, pad_token_id=0)
    torch.manual_seed(1)
    plain = model.generate(**inputs, generation_config=config)
    torch.manual_seed(1)
    ours = model.generate(
        **inputs, generation_config=config, logits_processor=[AdaptiveTemperatureLogitsProcessor(0.0, STATS, 0.8)]
    )
    assert torch.equal(plain, ours)
    torch.manual_seed(1)
    adapted = model.generate(
        **inputs, generation_config=config, logits_processor=[AdaptiveTemperatureLogitsProcessor(0.5, STATS, 0.8)]
    )
    assert not torch.equal(plain, adapted), "a non-zero τ must change what is sampled"


# -------------------------------------------------------------------------------------------------- vLLM
@pytest.fixture
def vllm_module(monkeypatch):
    """The vLLM V1 logits-processor interface (vLLM 0.22-0.31), stood in by a minimal module of the same names."""

    class LogitsProcessor:
        @classmethod
        def validate_params(cls, sampling_params):
            return None

    class MoveDirectionality(enum.Enum):
        UNIDIRECTIONAL = enum.auto()
        SWAP = enum.auto()

    @dataclass(frozen=True)
    class BatchUpdate:
        batch_size: int
        removed: tuple
        added: tuple
        moved: tuple

    module = types.ModuleType("vllm.v1.sample.logits_processor")
    module.LogitsProcessor, module.MoveDirectionality, module.BatchUpdate = (
        LogitsProcessor,
        MoveDirectionality,
        BatchUpdate,
    )
    for name in ("vllm", "vllm.v1", "vllm.v1.sample"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "vllm.v1.sample.logits_processor", module)
    monkeypatch.delitem(sys.modules, "trl_explore.generation.vllm_adaptive_temperature", raising=False)
    yield importlib.import_module("trl_explore.generation.vllm_adaptive_temperature"), module
    sys.modules.pop("trl_explore.generation.vllm_adaptive_temperature", None)


def test_vllm_processor_applies_per_request_and_follows_the_batch(vllm_module):
    """Rows of requests that carry the HAPO arguments are scaled like the transformers processor; other rows are
    untouched; removals, one-way moves and swaps of the persistent batch are followed."""
    processor_module, vllm = vllm_module
    params = types.SimpleNamespace(extra_args=processor_module.request_arguments(0.2, 0.7, STATS, "paper"))
    plain = types.SimpleNamespace(extra_args=None)
    proc = processor_module.HapoAdaptiveTemperature(None, torch.device("cpu"), False)
    assert proc.is_argmax_invariant() is False
    proc.update_state(vllm.BatchUpdate(3, (), ((0, params, [1], []), (1, plain, [1], []), (2, params, [1], [])), ()))
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 40, generator=g) * 3
    out = proc.apply(logits.clone())
    expected = AdaptiveTemperatureLogitsProcessor(0.2, STATS, temperature=0.7)(None, logits[[0, 2]].clone())
    torch.testing.assert_close(out[[0, 2]], expected)
    assert torch.equal(out[1], logits[1])
    # request 0 finishes, request 2 moves to slot 0, then slots 0 and 1 swap: the HAPO row ends up in slot 1
    proc.update_state(vllm.BatchUpdate(2, (0,), (), ((2, 0, vllm.MoveDirectionality.UNIDIRECTIONAL),)))
    proc.update_state(vllm.BatchUpdate(2, (), (), ((0, 1, vllm.MoveDirectionality.SWAP),)))
    out = proc.apply(logits[:2].clone())
    assert torch.equal(out[0], logits[0]) and not torch.equal(out[1], logits[1])
    proc.update_state(None)  # no batch change
    with pytest.raises(ValueError, match="hapo_tau"):
        processor_module.HapoAdaptiveTemperature.validate_params(
            types.SimpleNamespace(extra_args={**params.extra_args, "hapo_tau": 1.5})
        )
    with pytest.raises(ValueError, match="lack"):
        proc.update_state(
            vllm.BatchUpdate(1, (), ((0, types.SimpleNamespace(extra_args={"hapo_tau": 0.1}), [], []),), ())
        )


def test_vllm_entry_point_declared():
    """vLLM loads the processor from the `vllm.logits_processors` entry-point group of the installed package."""
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    value = config["options.entry_points"]["vllm.logits_processors"]
    assert "trl_explore.generation.vllm_adaptive_temperature:HapoAdaptiveTemperature" in value


def test_scores_from_given_stats_match_processor_entropy():
    """The processor's h̃ is `hapo_entropy_scores` of the row entropies with the given statistics."""
    logits = torch.randn(4, 30)
    p = torch.softmax(logits, -1)
    entropy = -(p * p.log()).sum(-1, keepdim=True).T
    scores, _ = hapo_entropy_scores(entropy, torch.ones_like(entropy), stats=STATS)
    out = AdaptiveTemperatureLogitsProcessor(0.3, STATS)(None, logits.clone())
    torch.testing.assert_close(out, logits / (1 + 0.3 * scores.T), rtol=1e-5, atol=1e-6)
