"""`ExplorationDiagnosticsCallback`: hand-derived counts, the forward-hook mechanism and a TRL training run."""

from __future__ import annotations

import math
import os
import sys

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from trl_explore.callbacks.exploration import ExplorationDiagnosticsCallback
from trl_explore.toy import make_tokenizer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainers"))


def test_observe_hand_values():
    """Row 0 ids = " but" then 'x'; probabilities [0.5, 0.9, 0.8, 0.5, 0.05]; row 1 = [0.005, 0.2, pad...].

    Valid tokens: 5 + 2 = 7. p < 0.1: {0.05, 0.005} -> 2/7; p < 0.01: {0.005} -> 1/7.
    " but" is 4 tokens (' ', 'b', 'u', 't') at row-0 positions 0-3: joint probability 0.5·0.9·0.8·0.5 = 0.18.
    """
    tok = make_tokenizer()
    cb = ExplorationDiagnosticsCallback(tokenizer=tok, spark_words=["but", "wait"])
    cb._build_patterns()
    ids0 = tok(" but", add_special_tokens=False)["input_ids"] + tok("x", add_special_tokens=False)["input_ids"]
    assert len(ids0) == 5
    ids = torch.tensor([ids0, ids0[:2] + [0, 0, 0]])
    probs = torch.tensor([[0.5, 0.9, 0.8, 0.5, 0.05], [0.005, 0.2, 1.0, 1.0, 1.0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    cb.observe(probs.log(), ids, mask)
    m = cb.compute()
    assert m["exploration/frac_prob_lt_0.1"] == pytest.approx(2 / 7)
    assert m["exploration/frac_prob_lt_0.01"] == pytest.approx(1 / 7)
    assert m["exploration/spark_prob/but"] == pytest.approx(0.18)
    assert m["exploration/spark_count"] == 1.0 and "exploration/spark_prob/wait" not in m
    assert cb.compute() == {}  # the window was reset


def _model():
    cfg = Qwen2Config(
        vocab_size=107,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(cfg)


@pytest.mark.parametrize("fused", [True, False])
def test_hook_reads_label_log_probs(fused):
    """The hook sees exactly the label probabilities of a (fused or plain) training forward; no-grad forwards are
    ignored."""
    from trl.trainer.utils import add_fused_lm_head

    model = _model().train()
    if fused:
        add_fused_lm_head(model, outputs=("log_probs", "entropy"))
    cb = ExplorationDiagnosticsCallback(thresholds=(0.0095, 0.009))
    cb.watch(model)
    ids = torch.randint(0, 107, (3, 10))
    labels = ids.masked_fill(torch.arange(10) < 4, -100)
    kwargs = {"fused_lm_head": True} if fused else {}
    model(input_ids=ids, labels=labels, **kwargs)
    with torch.no_grad():
        model(input_ids=ids, labels=labels, **kwargs)  # not counted
        logits = model(input_ids=ids).logits if not fused else model(input_ids=ids, fused_lm_head=False).logits
    p = torch.softmax(logits[:, :-1].double(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)[:, 3:]
    m = cb.compute()
    assert m["exploration/frac_prob_lt_0.0095"] == pytest.approx(float((p < 0.0095).double().mean()), abs=1e-9)
    assert m["exploration/frac_prob_lt_0.009"] == pytest.approx(float((p < 0.009).double().mean()), abs=1e-9)
    assert 0 < m["exploration/frac_prob_lt_0.0095"] < 1


def test_logs_with_trl_grpo_trainer(tmp_path):
    """Works with a plain TRL GRPOTrainer: every logging step carries the exploration metrics."""
    from grpo_helpers import build_trainer
    from trl import GRPOConfig, GRPOTrainer

    cb = ExplorationDiagnosticsCallback()
    trainer = build_trainer(GRPOTrainer, GRPOConfig, tmp_path, max_steps=2)
    trainer.add_callback(cb)
    cb.attach(trainer)
    assert trainer.callback_handler.callbacks[0] is cb
    trainer.train()
    logs = [e for e in trainer.state.log_history if "loss" in e]
    assert len(logs) == 2
    for entry in logs:
        assert 0.0 <= entry["exploration/frac_prob_lt_0.01"] <= entry["exploration/frac_prob_lt_0.1"] <= 1.0
        assert entry["exploration/frac_prob_lt_0.1"] > 0  # an untrained 107-token model: most p < 0.1
        assert "exploration/spark_count" in entry and math.isfinite(entry["exploration/spark_count"])


def test_invalid_threshold():
    with pytest.raises(ValueError, match="thresholds"):
        ExplorationDiagnosticsCallback(thresholds=(0.0,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_label_log_probs_in_tiles_equal_log_softmax(monkeypatch, dtype):
    """Scoring labels from plain logits works in whole-row float32 tiles (here 3 rows per tile, ragged last tile)
    and equals ``log_softmax(logits.float()).gather`` to float32 rounding: ``z[x] − logsumexp(z)`` and log_softmax's
    ``z − max − log Σ exp(z − max)`` are other operation orders, a few ulps of the logits' magnitude apart."""
    import trl_explore.callbacks.exploration as exploration

    monkeypatch.setattr(exploration, "_TILE_FLOATS", 3 * 11)
    torch.manual_seed(0)
    logits = (4 * torch.randn(2, 5, 11)).to(dtype)
    targets = torch.randint(0, 11, (2, 5))
    got = exploration._label_log_probs(logits, targets)
    want = torch.log_softmax(logits.float(), -1).gather(-1, targets[..., None]).squeeze(-1)
    assert got.shape == (2, 5) and got.dtype == torch.float32
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(got, want, rtol=0, atol=4 * eps * float(logits.float().abs().max()))
