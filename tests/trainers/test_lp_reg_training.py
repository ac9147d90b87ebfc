"""Tiny-model training runs of `LpRegGRPOTrainer`: every `lp_reg/*` metric is logged and the parameters change."""

from __future__ import annotations

import math

import torch
from grpo_helpers import build_trainer, peaky_model, tiny_tokenizer

from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer

LP_REG_METRICS = ("lp_reg/threshold", "lp_reg/frac_selected", "lp_reg/reg_ratio", "lp_reg/kept_mass", "lp_reg/k3_mean")
TRL_METRICS = ("entropy", "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "reward", "loss")


def _train(tmp_path, **overrides):
    tok = tiny_tokenizer()
    trainer = build_trainer(
        LpRegGRPOTrainer,
        LpRegConfig,
        tmp_path,
        model=peaky_model(tok),
        max_steps=5,
        learning_rate=1e-2,
        lp_reg_rho=0.25,
        lp_reg_require_below_proxy=False,
        max_completion_length=8,
        **overrides,
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "lp_reg/frac_selected" in entry]
    changed = any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())
    return trainer, logs, changed


def test_five_steps_log_every_metric(tmp_path):
    """5 on-policy steps: each step logs all lp_reg/* metrics (finite somewhere) next to TRL's standard metrics."""
    trainer, logs, changed = _train(tmp_path)
    assert len(logs) == 5 and changed
    for key in LP_REG_METRICS + TRL_METRICS:
        assert all(key in entry for entry in logs), key
        values = [entry[key] for entry in logs if entry[key] is not None]
        assert values and any(math.isfinite(v) for v in values), key
    for entry in logs:
        assert 0.0 <= entry["lp_reg/frac_selected"] <= 1.0
        assert 0.0 < entry["lp_reg/kept_mass"] <= 1.0 + 1e-6


def test_off_policy_training_uses_old_proxy(tmp_path):
    """num_iterations = 2: TRL computes old log-probs, the proxy travels in the inputs and training still logs."""
    trainer, logs, changed = _train(tmp_path, num_iterations=2)
    assert trainer._computes_old_logps() and changed
    assert "explore_old_proxy_logps" in trainer._buffered_inputs[0]
    assert all(key in logs[-1] for key in LP_REG_METRICS)
