"""HAPO components on `ExploreGRPOTrainer`: TRL parity with the knobs at zero, the float64 reference (arXiv 2509.16591,
Sec. 3),
TLGA in the advantages phase, adaptive temperature in training rollouts, metrics, resume, composition with Lp-Reg."""

from __future__ import annotations

import copy
import logging
import math

import pytest
import torch
from grpo_helpers import (
    build_trainer,
    completion_logits,
    config_kwargs,
    const_reward,
    dapo_normalizer,
    fixed_batch,
    loss_and_grads,
    peaky_model,
    sampled_batch,
    tiny_dataset,
    tiny_model,
    tiny_tokenizer,
)
from reference.hapo_reference import hapo_reference_loss
from trl import GRPOConfig, GRPOTrainer

from trl_explore.trainers import (
    ExploreGRPOConfig,
    ExploreGRPOTrainer,
    HAPOConfig,
    HAPOGRPOTrainer,
    LpRegConfig,
    LpRegGRPOTrainer,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

HAPO_METRICS = (
    "hapo/h_mean",
    "hapo/frac_high_entropy",
    "hapo/eps_low_mean",
    "hapo/eps_high_mean",
    "hapo/dar_frac_amplified",
    "hapo/dar_frac_dampened",
    "hapo/tlga_fallback_groups",
    "hapo/temperature_mean",
    "hapo/temperature_min",
    "hapo/temperature_max",
)
ONE_STEP = dict(steps_per_generation=None, gradient_accumulation_steps=1)


def _assert_same(a, b, rtol=0.0, atol=0.0):
    loss_a, grads_a = a
    loss_b, grads_b = b
    torch.testing.assert_close(loss_b, loss_a, rtol=rtol, atol=atol)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=rtol, atol=atol, msg=name)


# --------------------------------------------------------------------------------------------------- config
def test_hapo_config_defaults_and_validation(tmp_path, caplog):
    cfg = HAPOConfig(**config_kwargs(tmp_path))
    assert (cfg.hapo_tlga, cfg.hapo_dar, cfg.hapo_adaptive_clip, cfg.hapo_adaptive_temperature) == (True,) * 4
    assert cfg.steps_per_generation == 16 and cfg.vllm_importance_sampling_correction is False
    assert (cfg.loss_type, cfg.beta, cfg.epsilon, cfg.epsilon_high, cfg.hapo_temperature_tau) == (
        "dapo",
        0.0,
        0.2,
        0.2,
        0.05,
    )
    assert HAPOConfig(**config_kwargs(tmp_path, generation_batch_size=8)).steps_per_generation == 2
    assert not ExploreGRPOConfig(**config_kwargs(tmp_path)).hapo_enabled
    for field, bad in [
        ("hapo_entropy_pivot", 0.0),
        ("hapo_entropy_pivot", math.nan),
        ("hapo_clip_alpha", -1.0),
        ("hapo_adv_beta", 1.5),
        ("hapo_temperature_tau", 1.0),
        ("hapo_temperature_tau", "0.1"),
        ("hapo_sign", "both"),
        ("hapo_stats_scope", "global"),
        ("hapo_tlga_fallback", 0.0),
        ("hapo_dual_clip", 1.0),
        ("hapo_dar", 1),
    ]:
        with pytest.raises(ValueError, match=field):
            ExploreGRPOConfig(**config_kwargs(tmp_path, **{field: bad}))
    assert ExploreGRPOConfig(**config_kwargs(tmp_path, hapo_sign="released", hapo_adv_beta=2.0)).hapo_adv_beta == 2.0
    with pytest.raises(ValueError, match="loss_type"):
        ExploreGRPOConfig(**config_kwargs(tmp_path, hapo_dar=True, loss_type="cispo"))
    with caplog.at_level(logging.WARNING):
        ExploreGRPOConfig(**config_kwargs(tmp_path, hapo_clip_alpha=0.5))
    assert "every HAPO part is off" in caplog.text


def test_warns_when_the_ratio_is_one(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path, hapo_dar=True, hapo_adaptive_clip=True)
    assert caplog.text.count("the importance ratio is 1") == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "b", hapo_dar=True, steps_per_generation=2)
    assert "the importance ratio is 1" not in caplog.text


# --------------------------------------------------------------------------------------------------- parity
def _knobs_at_zero_pair(tmp_path, loss_type, is_level):
    """TRL's GRPOTrainer and ours with adaptive clip α = 0 (bounds = the scalars, as float64 tensors) and no dual
    clip, redistribution β = 0 (advantages ``A · (1 + 0·h̃) = A`` per token), off-policy; the loss and gradients of
    both on one fixed batch."""
    tok = tiny_tokenizer()
    common = dict(loss_type=loss_type, importance_sampling_level=is_level, epsilon_high=0.28)
    trl = build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl", model=tiny_model(tok), **common)
    ours = build_trainer(
        ExploreGRPOTrainer,
        ExploreGRPOConfig,
        tmp_path / "ours",
        model=tiny_model(tok),
        hapo_adaptive_clip=True,
        hapo_dar=True,
        hapo_clip_alpha=0.0,
        hapo_adv_beta=0.0,
        hapo_dual_clip=None,
        **common,
    )
    assert ours._uses_own_loss
    inputs = fixed_batch(len(tok), off_policy=True)
    return trl, ours, loss_and_grads(trl, inputs), loss_and_grads(ours, inputs)


@pytest.mark.parametrize(("loss_type", "is_level"), [("dapo", "token"), ("bnpo", "token")])
def test_knobs_at_zero_equal_trl_bit_for_bit(tmp_path, loss_type, is_level):
    """Token-level ratios: exact equality is sound because both sides run the same operations in the same order on
    the same shapes ([B, T] ratios; the per-token bounds are float64 ``1 ∓ ε`` rounded once to float32, the scalars
    TRL's clamp rounds; the per-token advantages are ``A · 1.0``, the same values broadcast; clamp, min and the masked
    sum are elementwise or reduce the same [B, T] tensor), so no kernel, vector width or thread count can round them
    apart."""
    trl, ours, expected, got = _knobs_at_zero_pair(tmp_path, loss_type, is_level)
    _assert_same(expected, got)
    for key in ("clip_ratio/low_mean", "clip_ratio/high_mean", "entropy"):
        assert ours._metrics["train"][key] == trl._metrics["train"][key]


def test_knobs_at_zero_equal_trl_sequence_level_to_float32_rounding(tmp_path):
    """Sequence-level ratios (GSPO, ``grpo`` loss): TRL's per-token loss is ``[B, 1]`` and its masked sum over T is
    taken in the backward of ``per_token_loss * mask``; with per-token bounds and advantages ours is ``[B, T]`` and
    that sum over T is taken in the backward of ``coef_1 * advantages``: the same terms summed in another order (which
    one a CPU's vectorised reduction picks differs), so the two agree to float32 rounding, not bit for bit.

    Tolerance: each row's ``∂loss/∂r`` is a sum of ``T = 5`` terms, exact to ``T·ε₃₂`` relative, and every gradient
    is linear in those row scalars; 8·ε₃₂ relative plus 8·ε₃₂·max|g| absolute per tensor (rows of both signs cancel)
    bounds it. Changing any coefficient moves the gradients by far more (a β of 1e-3 instead of 0 already does)."""
    eps = torch.finfo(torch.float32).eps
    trl, ours, (loss_a, grads_a), (loss_b, grads_b) = _knobs_at_zero_pair(tmp_path, "grpo", "sequence")
    # the forward is exact: both multiply the same values by the mask and reduce one [B, T] tensor over T
    torch.testing.assert_close(loss_b, loss_a, rtol=0.0, atol=0.0)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name, g in grads_a.items():
        torch.testing.assert_close(grads_b[name], g, rtol=8 * eps, atol=8 * eps * float(g.abs().max()), msg=name)
    for key in ("clip_ratio/low_mean", "clip_ratio/high_mean", "entropy"):
        assert ours._metrics["train"][key] == trl._metrics["train"][key]


@pytest.mark.parametrize(
    ("sign", "parts"),
    [("paper", (True, True)), ("released", (True, True)), ("paper", (True, False)), ("paper", (False, True))],
)
def test_loss_matches_float64_reference(tmp_path, sign, parts):
    """Adaptive clip and/or redistribution, off-policy (old log-probs of another model, so ratios spread around 1):
    loss and every gradient equal the float64 full-logits reference (tests/reference/hapo_reference.py); metrics by hand
    from its scores."""
    adaptive_clip, dar = parts
    tok = tiny_tokenizer()
    trainer = build_trainer(
        ExploreGRPOTrainer,
        ExploreGRPOConfig,
        tmp_path,
        model=peaky_model(tok, scale=2.0),
        temperature=0.9,
        hapo_adaptive_clip=adaptive_clip,
        hapo_dar=dar,
        hapo_sign=sign,
        hapo_clip_alpha=0.8,
        hapo_adv_beta=0.7,
        hapo_dual_clip=1.5,
    )
    inputs = sampled_batch(trainer.model, len(tok))
    _, old_logits = completion_logits(peaky_model(tok, seed=1, scale=2.0), inputs)
    labels = inputs["completion_ids"]
    old = torch.log_softmax(old_logits.detach() / 0.9, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    inputs["old_per_token_logps"] = old.float()
    loss, grads = loss_and_grads(trainer, inputs)
    m64, logits = completion_logits(trainer.model, inputs)
    ref = hapo_reference_loss(
        logits,
        labels,
        inputs["completion_mask"].bool(),
        inputs["advantages"].double(),
        old,
        dapo_normalizer(trainer, inputs),
        temperature=0.9,
        alpha=0.8,
        beta=0.7,
        dual_clip=1.5,
        sign=sign,
        adaptive_clip=adaptive_clip,
        dar=dar,
    )
    # The float32 policy's log-probs carry its forward's rounding (a few ε₃₂ · |logit|, |logit| < 2 here) into every
    # term r·A(1 + β·h̃) of a sum whose signs cancel (advantages of both signs), so the bound scales with
    # S = Σ|A|·r·(1 + β) / N, the sum of the terms' magnitudes, not with the loss: 64·ε₃₂·S (measured: 12·ε₃₂·S with
    # AVX2 kernels; the auditor's 1.48e-6 is ~30·ε₃₂·S). β = 0.69 instead of 0.7 moves the loss by ~2500·ε₃₂·S.
    ratio = (torch.log_softmax(logits.detach() / 0.9, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1) - old).exp()
    magnitude = (inputs["advantages"].double().abs().unsqueeze(1) * ratio * inputs["completion_mask"]).sum() * 1.7
    scale = float(magnitude) / dapo_normalizer(trainer, inputs)
    torch.testing.assert_close(loss.double(), ref.detach(), rtol=0.0, atol=64 * torch.finfo(torch.float32).eps * scale)
    ref.backward()
    for name, p in m64.named_parameters():
        torch.testing.assert_close(grads[name].double(), p.grad, rtol=1e-3, atol=2e-5, msg=name)
    metrics = trainer._metrics["train"]
    high = metrics["hapo/frac_high_entropy"][-1]
    assert 0.0 < high < 1.0 if sign == "paper" else high > 0.9  # released: every score but the pivot's is positive
    if adaptive_clip:
        assert metrics["hapo/eps_low_mean"][-1] >= 0.2 and metrics["hapo/eps_high_mean"][-1] >= 0.2
    if dar:
        assert metrics["hapo/dar_frac_amplified"][-1] + metrics["hapo/dar_frac_dampened"][-1] > 0


def test_tlga_advantages_phase_and_order_before_selection(tmp_path):
    """TLGA replaces TRL's advantages with the length-weighted ones (gathered lengths from the loss mask); with
    GRPO-N also on, GRPO-N keeps min(A_TLGA, 0): the normalisation runs first.

    By hand (HAPO Eq. 5), rewards r = [1, 0, 0.5, 0], lengths L = [5, 3, 4, 5], ΣL = 17: μ = (5 + 2) / 17 = 7/17,
    r − μ = [10, −7, 1.5, −7] / 17, σ² = (5·100 + 3·49 + 4·2.25 + 5·49) / 17³ = 901 / 4913, so
    A = (r − μ) / (σ + 1e-6) ≈ [1.3736, −0.9615, 0.2060, −0.9615] (no |A| ≥ 5: no fallback); GRPO-N keeps
    min(A, 0) = [0, −0.9615, 0, −0.9615] and rows 1 and 3."""
    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path, hapo_tlga=True, advantage_mode="grpo_n")
    inputs = fixed_batch(len(trainer.processing_class))
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.0])
    trainer.model.train()
    trainer._last_rewards_per_func = rewards.unsqueeze(1)
    out = trainer._run_generation_phases(copy.deepcopy(inputs))
    assert inputs["completion_mask"].sum(-1).tolist() == [5, 3, 4, 5]
    sigma = math.sqrt(901 / 4913)
    tlga = torch.tensor([10.0, -7.0, 1.5, -7.0], dtype=torch.float64) / 17 / (sigma + 1e-6)
    assert tlga.tolist() == pytest.approx([1.3736, -0.9615, 0.2060, -0.9615], abs=1e-4)
    # float64 math rounded once to the float32 advantages: 2·ε₃₂ relative
    eps = torch.finfo(torch.float32).eps
    torch.testing.assert_close(out["advantages"].double(), tlga.clamp(max=0.0), rtol=2 * eps, atol=0.0)
    assert out["explore_keep"].tolist() == [False, True, False, True]
    assert trainer._metrics["train"]["hapo/tlga_fallback_groups"] == [0.0]


# ----------------------------------------------------------------------------------------------- training
def _hapo_trainer(tmp_path, **overrides):
    tok = tiny_tokenizer()
    kwargs = dict(max_steps=5, learning_rate=1e-2, gradient_accumulation_steps=1, steps_per_generation=4)
    kwargs.update(overrides)
    args = HAPOConfig(**config_kwargs(tmp_path, **kwargs))
    return HAPOGRPOTrainer(
        model=peaky_model(tok, scale=3.0),
        reward_funcs=const_reward,
        args=args,
        train_dataset=tiny_dataset(32),
        processing_class=tok,
    )


def test_five_steps_all_parts_log_every_metric(tmp_path):
    """All four parts, 4 optimizer steps per generation batch: every `hapo/*` metric is logged and finite, the
    rollouts after the first step sample at adapted temperatures around T_base, the parameters move."""
    trainer = _hapo_trainer(tmp_path)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert set(HAPO_METRICS) <= logged, set(HAPO_METRICS) - logged
    for entry in trainer.state.log_history:
        for key in HAPO_METRICS:
            if key in entry:
                assert math.isfinite(entry[key]), key
    temps = [e for e in trainer.state.log_history if "hapo/temperature_mean" in e]
    assert temps[0]["hapo/temperature_min"] == temps[0]["hapo/temperature_max"] == 1.0  # step 1: plain T_base
    later = temps[-1]
    assert 0.95 - 1e-6 <= later["hapo/temperature_min"] < later["hapo/temperature_max"] <= 1.05 + 1e-6  # τ = 0.05


def test_resume_restores_entropy_statistics(tmp_path):
    """Train 2 steps and save; a resumed run restores the sampling statistics and its step 3 logs the same loss as an
    uninterrupted 3-step run (one optimizer step per generation: the rollout of step 3 uses step 2's statistics)."""
    common = dict(steps_per_generation=1, hapo_dar=False, hapo_adaptive_clip=False, logging_steps=1)
    full = _hapo_trainer(tmp_path / "full", max_steps=3, **common)
    full.train()
    first = _hapo_trainer(tmp_path / "run", max_steps=2, save_strategy="steps", save_steps=2, **common)
    first.train()
    stats = first.components[-1].stats
    assert stats is not None
    resumed = _hapo_trainer(tmp_path / "run", max_steps=3, **common)
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-2"))
    temperature = next(c for c in resumed.components if c.name == "hapo_adaptive_temperature")
    assert temperature.stats is not None
    loss_full = [e["loss"] for e in full.state.log_history if "loss" in e]
    loss_resumed = [e["loss"] for e in resumed.state.log_history if "loss" in e]
    assert loss_resumed[-1] == pytest.approx(loss_full[2], rel=1e-6)
    temps_full = [e["hapo/temperature_mean"] for e in full.state.log_history if "hapo/temperature_mean" in e]
    temps_resumed = [e["hapo/temperature_mean"] for e in resumed.state.log_history if "hapo/temperature_mean" in e]
    assert temps_resumed[-1] == pytest.approx(temps_full[2], rel=1e-6) and temps_full[2] != 1.0


def test_hapo_with_lp_reg_trains(tmp_path):
    tok = tiny_tokenizer()
    trainer = build_trainer(
        LpRegGRPOTrainer,
        LpRegConfig,
        tmp_path,
        model=peaky_model(tok),
        hapo_tlga=True,
        hapo_dar=True,
        hapo_adaptive_clip=True,
        hapo_adaptive_temperature=True,
        steps_per_generation=2,
        max_steps=3,
        learning_rate=1e-2,
        lp_reg_rho=0.3,
    )
    assert [c.name for c in trainer.components] == [
        "lp_reg",
        "hapo_tlga",
        "hapo_adaptive_clip",
        "hapo_dar",
        "hapo_adaptive_temperature",
    ]
    trainer.train()
    logs = [e for e in trainer.state.log_history if "loss" in e]
    assert len(logs) == 3 and all(math.isfinite(e["loss"]) for e in logs)
    assert all("lp_reg/frac_selected" in e and "hapo/eps_high_mean" in e for e in logs)
