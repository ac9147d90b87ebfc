"""`LpRegGRPOTrainer`: parity with the float64 full-logits reference, degenerate equivalence, off-policy proxy."""

from __future__ import annotations

import math

import pytest
import torch
from grpo_helpers import (
    build_trainer,
    completion_logits,
    dapo_normalizer,
    loss_and_grads,
    peaky_model,
    sampled_batch,
    tiny_tokenizer,
)
from reference.lp_reg_reference import lp_reg_reference_loss

from trl_explore.functional.lp_reg import lp_reg_proxy_logps
from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer, LpRegConfig, LpRegGRPOTrainer

CONFIGS = [
    (threshold, scope, est)
    for threshold in ("min_p", "fixed")
    for scope in ("micro_batch_negative", "batch_all")
    for est in ("k3_sampled", "forward_full")
]


@pytest.mark.parametrize(("threshold", "scope", "estimator"), CONFIGS)
def test_trainer_matches_reference(tmp_path, threshold, scope, estimator):
    """Loss and every parameter gradient of `LpRegGRPOTrainer.compute_loss` equal the float64 reference."""
    tok = tiny_tokenizer()
    min_p = 0.02 if threshold == "min_p" else 0.002
    trainer = build_trainer(
        LpRegGRPOTrainer,
        LpRegConfig,
        tmp_path,
        model=peaky_model(tok),
        temperature=0.9,
        lp_reg_rho=0.3,
        lp_reg_beta=0.7,
        lp_reg_min_p=min_p,
        lp_reg_threshold=threshold,
        lp_reg_percentile_scope=scope,
        lp_reg_kl_estimator=estimator,
    )
    inputs = sampled_batch(trainer.model, len(tok))
    loss, grads = loss_and_grads(trainer, inputs)
    m64, logits = completion_logits(trainer.model, inputs)
    ref, info = lp_reg_reference_loss(
        logits,
        inputs["completion_ids"],
        inputs["completion_mask"].bool(),
        inputs["advantages"].double(),
        dapo_normalizer(trainer, inputs),
        min_p=min_p,
        threshold=threshold,
        temperature=0.9,
        rho=0.3,
        beta=0.7,
        scope=scope,
        kl_estimator=estimator,
    )
    assert len(info["selected"]) > 0, "the case must exercise a selection"
    torch.testing.assert_close(loss.double(), ref.detach(), rtol=1e-4, atol=1e-6)
    ref.backward()
    ref_grads = {n: p.grad for n, p in m64.named_parameters() if p.grad is not None}
    assert grads.keys() == ref_grads.keys()
    for name, g in grads.items():
        torch.testing.assert_close(g.double(), ref_grads[name], rtol=1e-3, atol=2e-5, msg=name)
    metrics = trainer._metrics["train"]
    n_valid = int(inputs["completion_mask"].sum())
    assert metrics["lp_reg/frac_selected"][-1] == pytest.approx(len(info["selected"]) / n_valid)
    assert metrics["lp_reg/reg_ratio"][-1] == pytest.approx(len(info["selected"]) / len(info["candidates"]))
    assert metrics["lp_reg/threshold"][-1] == pytest.approx(info["threshold"], rel=1e-4)
    assert metrics["lp_reg/kept_mass"][-1] == pytest.approx(sum(info["kept_mass"]) / n_valid, rel=1e-4)
    assert metrics["lp_reg/k3_mean"][-1] == pytest.approx(
        sum(info["kl"].values()) / len(info["kl"]), rel=1e-3, abs=1e-6
    )


def test_trainer_off_policy_proxy_from_inputs(tmp_path):
    """Off-policy: ratio from `old_per_token_logps`, proxy from the carried old-policy statistics."""
    tok = tiny_tokenizer()
    trainer = build_trainer(LpRegGRPOTrainer, LpRegConfig, tmp_path, model=peaky_model(tok), lp_reg_rho=0.3)
    inputs = sampled_batch(trainer.model, len(tok))
    old_model = peaky_model(tok, seed=1)
    _, old_logits = completion_logits(old_model, inputs)
    old_logits = old_logits.detach()
    labels = inputs["completion_ids"]
    old_logps = torch.log_softmax(old_logits, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    proxy, kept = lp_reg_proxy_logps(old_logits, labels, 0.02)
    inputs.update(
        old_per_token_logps=old_logps.float(), explore_old_proxy_logps=proxy.float(), explore_old_kept_mass=kept.float()
    )
    loss, grads = loss_and_grads(trainer, inputs)
    m64, logits = completion_logits(trainer.model, inputs)
    ref, info = lp_reg_reference_loss(
        logits,
        labels,
        inputs["completion_mask"].bool(),
        inputs["advantages"].double(),
        dapo_normalizer(trainer, inputs),
        old_logps=old_logps,
        proxy_logits=old_logits,
        rho=0.3,
    )
    assert len(info["selected"]) > 0
    torch.testing.assert_close(loss.double(), ref.detach(), rtol=1e-4, atol=1e-6)
    ref.backward()
    for name, p in m64.named_parameters():
        torch.testing.assert_close(grads[name].double(), p.grad, rtol=1e-3, atol=2e-5, msg=name)


@pytest.mark.parametrize("loss_type", ["dapo", "bnpo"])
def test_beta_zero_equals_base_trainer(tmp_path, loss_type):
    """lp_reg_beta = 0 with the recipe clip [0, 10]: selected negative tokens get -A·r, which the clipped surrogate
    already is for A < 0, so the loss and gradients equal the base trainer's."""
    tok = tiny_tokenizer()
    common = dict(epsilon=1.0, epsilon_high=9.0, loss_type=loss_type)
    base = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "a", model=peaky_model(tok), **common)
    lp = build_trainer(
        LpRegGRPOTrainer, LpRegConfig, tmp_path / "b", model=peaky_model(tok), lp_reg_beta=0.0, lp_reg_rho=0.3, **common
    )
    inputs = sampled_batch(base.model, len(tok), off_policy=True)
    loss_a, grads_a = loss_and_grads(base, inputs)
    loss_b, grads_b = loss_and_grads(lp, inputs)
    assert lp._metrics["train"]["lp_reg/frac_selected"][-1] > 0
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-6)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-4, atol=1e-6, msg=name)
    # and with β > 0 the loss differs (the knob is live)
    lp.args.lp_reg_beta = 1.0
    loss_c, _ = loss_and_grads(lp, inputs)
    assert not math.isclose(loss_c.item(), loss_a.item(), rel_tol=1e-6)


def test_generation_captures_old_proxy(tmp_path):
    """With num_iterations = 2 TRL computes old log-probs during generation; the proxy statistics of that same pass
    travel in the inputs and equal the full-logits proxy of the generating model."""
    tok = tiny_tokenizer()
    trainer = build_trainer(LpRegGRPOTrainer, LpRegConfig, tmp_path, model=peaky_model(tok), num_iterations=2)
    assert trainer._computes_old_logps()
    batch = [{"prompt": f"{i}+1="} for i in range(4)]
    trainer.model.train()
    out = trainer._generate_and_score_completions(batch)
    assert "old_per_token_logps" in out and "explore_old_proxy_logps" in out and "explore_old_kept_mass" in out
    _, logits = completion_logits(trainer.model, out)
    proxy, kept = lp_reg_proxy_logps(logits.detach(), out["completion_ids"], 0.02)
    mask = out["completion_mask"].bool()
    torch.testing.assert_close(out["explore_old_kept_mass"][mask].double(), kept[mask], rtol=1e-4, atol=1e-5)
    finite = mask & torch.isfinite(proxy)
    assert torch.equal(torch.isfinite(out["explore_old_proxy_logps"])[mask], torch.isfinite(proxy)[mask])
    torch.testing.assert_close(out["explore_old_proxy_logps"][finite].double(), proxy[finite], rtol=1e-4, atol=1e-4)


CPU = dict(report_to="none", use_cpu=True, bf16=False)


def test_config_validation():
    with pytest.raises(ValueError, match="lp_reg_rho"):
        ExploreGRPOConfig(output_dir="x", lp_reg_rho=1.5, **CPU)
    with pytest.raises(ValueError, match="lp_reg_min_p"):
        ExploreGRPOConfig(output_dir="x", lp_reg_min_p=0.0, **CPU)
    with pytest.raises(ValueError, match="lp_reg_beta"):
        ExploreGRPOConfig(output_dir="x", lp_reg_beta=-1.0, **CPU)
    with pytest.raises(ValueError, match="lp_reg_kl_estimator"):
        ExploreGRPOConfig(output_dir="x", lp_reg_kl_estimator="k2", **CPU)
    with pytest.raises(ValueError, match="lp_reg_percentile_scope"):
        ExploreGRPOConfig(output_dir="x", lp_reg_percentile_scope="global", **CPU)
    with pytest.raises(ValueError, match="loss_type"):
        LpRegConfig(output_dir="x", loss_type="cispo", **CPU)
    with pytest.raises(ValueError, match="lp_reg_rho"):
        ExploreGRPOConfig(output_dir="x", lp_reg_rho=math.nan, **CPU)
    with pytest.raises(ValueError, match="lp_reg_beta"):
        ExploreGRPOConfig(output_dir="x", lp_reg_beta=math.inf, **CPU)
    with pytest.raises(ValueError, match="lp_reg_min_p"):
        ExploreGRPOConfig(output_dir="x", lp_reg_min_p="0.5", **CPU)
    assert LpRegConfig(output_dir="x", entropy_coef=0.01, **CPU).entropy_coef == 0.01  # the base carries the bonus
    cfg = LpRegConfig(output_dir="x", **CPU)
    assert (cfg.lp_reg, cfg.epsilon, cfg.epsilon_high, cfg.beta, cfg.loss_type) == (True, 1.0, 9.0, 0.0, "dapo")
    assert (cfg.temperature, cfg.top_p, cfg.lp_reg_min_p, cfg.lp_reg_rho, cfg.lp_reg_beta) == (
        1.0,
        1.0,
        0.02,
        0.01,
        1.0,
    )
    assert not ExploreGRPOConfig(output_dir="x", **CPU).lp_reg


def test_forward_full_estimator_refused_under_zero3(monkeypatch):
    """The full-vocabulary KL projects through `lm_head.weight` in the loss, outside the forward; under ZeRO-3 that
    weight is partitioned, so the combination is refused with a clear message instead of failing mid-training."""
    from types import SimpleNamespace

    import transformers.integrations.deepspeed as ds

    from trl_explore.trainers.components import LpRegComponent

    args = LpRegConfig(
        output_dir="/tmp/unused", lp_reg_kl_estimator="forward_full", report_to=[], use_cpu=True, bf16=False
    )
    monkeypatch.setattr(ds, "is_deepspeed_zero3_enabled", lambda: True)
    with pytest.raises(ValueError, match="not supported with DeepSpeed ZeRO-3"):
        LpRegComponent(SimpleNamespace(args=args))
    args.lp_reg_kl_estimator = "k3_sampled"
    assert LpRegComponent(SimpleNamespace(args=args)).args.lp_reg_kl_estimator == "k3_sampled"
    monkeypatch.setattr(ds, "is_deepspeed_zero3_enabled", lambda: False)
    args.lp_reg_kl_estimator = "forward_full"
    assert LpRegComponent(SimpleNamespace(args=args)).args.lp_reg_kl_estimator == "forward_full"
