"""`ExploreGRPOTrainer` with every component off equals TRL's `GRPOTrainer` (DESIGN principle 2-3)."""

from __future__ import annotations

import pytest
import torch
from grpo_helpers import LOSS_CASES, build_trainer, fixed_batch, loss_and_grads, tiny_model, tiny_tokenizer
from trl import GRPOConfig, GRPOTrainer

from trl_explore.trainers import ExploreComponent, ExploreGRPOConfig, ExploreGRPOTrainer, LpRegConfig, LpRegGRPOTrainer

CASES = LOSS_CASES


def _pair(tmp_path, **overrides):
    tok = tiny_tokenizer()
    m1, m2 = tiny_model(tok), tiny_model(tok)
    trl = build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl", model=m1, **overrides)
    ours = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "ours", model=m2, **overrides)
    return trl, ours


@pytest.mark.parametrize(("loss_type", "is_level", "beta", "off_policy"), CASES)
def test_all_components_off_equals_trl(tmp_path, loss_type, is_level, beta, off_policy):
    """Loss and every parameter gradient equal TRL's GRPOTrainer exactly on a fixed batch."""
    trl, ours = _pair(tmp_path, loss_type=loss_type, importance_sampling_level=is_level, beta=beta, epsilon_high=0.28)
    assert ours.components == []
    inputs = fixed_batch(len(trl.processing_class), off_policy=off_policy, ref=beta != 0.0)
    loss_a, grads_a = loss_and_grads(trl, inputs)
    loss_b, grads_b = loss_and_grads(ours, inputs)
    # exact: with no component ours calls TRL's own `_compute_loss`, the same operations in the same order
    torch.testing.assert_close(loss_b, loss_a, rtol=0, atol=0)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=0, atol=0, msg=name)
    # TRL's metrics, plus the trainer's fault counts (`faults/*`, docs/robustness.md)
    ours_keys = {k for k in ours._metrics["train"] if not k.startswith("faults/")}
    assert ours_keys == set(trl._metrics["train"]) and "faults/empty_micro_batches" in ours._metrics["train"]


@pytest.mark.parametrize(("loss_type", "is_level", "beta", "off_policy"), CASES)
def test_own_loss_path_equals_trl(tmp_path, loss_type, is_level, beta, off_policy):
    """The explore loss path (forced on through Lp-Reg with β = 0 and ρ tiny, so nothing changes) equals TRL.

    With clip [1 - 1, 1 + 9] the unclipped `-A·r` of a selected negative-advantage token equals the clipped surrogate
    (for A < 0, -min(rA, clip(r)A) = -A·max(r, min(r, 10)) = -A·r), so β = 0 makes Lp-Reg an identity.
    """
    common = dict(loss_type=loss_type, importance_sampling_level=is_level, beta=beta, epsilon=1.0, epsilon_high=9.0)
    tok = tiny_tokenizer()
    trl = build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl", model=tiny_model(tok), **common)
    ours = build_trainer(
        LpRegGRPOTrainer,
        LpRegConfig,
        tmp_path / "ours",
        model=tiny_model(tok),
        lp_reg_beta=0.0,
        lp_reg_rho=0.3,
        lp_reg_require_below_proxy=False,
        **common,
    )
    assert ours._uses_own_loss
    inputs = fixed_batch(len(tok), off_policy=off_policy, ref=beta != 0.0)
    loss_a, grads_a = loss_and_grads(trl, inputs)
    loss_b, grads_b = loss_and_grads(ours, inputs)
    assert ours._metrics["train"]["lp_reg/frac_selected"][-1] > 0, "the test must exercise a selection"
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-6)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-4, atol=1e-6, msg=name)
    for key in ("entropy", "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"):
        assert ours._metrics["train"][key][-1] == pytest.approx(trl._metrics["train"][key][-1], rel=1e-5, abs=1e-7)


class _CounterComponent(ExploreComponent):
    """A stateful component: counts generation batches (stands in for replay buffers, schedules, ...)."""

    name = "counter"

    def __init__(self, trainer):
        super().__init__(trainer)
        self.generations = 0

    def post_generation(self, output):
        self.generations += 1
        output["advantages"] = output["advantages"] * 1.0  # post-processing hook receives TRL's output
        return output

    def state_dict(self):
        return {"generations": self.generations}

    def load_state_dict(self, state):
        self.generations = int(state["generations"])


class _CounterTrainer(ExploreGRPOTrainer):
    def _build_components(self):
        return [*super()._build_components(), _CounterComponent(self)]


def test_component_state_survives_resume(tmp_path):
    """Component state is saved with each checkpoint and restored on resume (DESIGN principle 7)."""
    first = build_trainer(
        _CounterTrainer, ExploreGRPOConfig, tmp_path, max_steps=2, save_strategy="steps", save_steps=1
    )
    first.train()
    assert first.components[0].generations == 2
    checkpoint = tmp_path / "checkpoint-2"
    assert (checkpoint / "explore_components.pt").is_file()
    second = build_trainer(_CounterTrainer, ExploreGRPOConfig, tmp_path, max_steps=3, save_strategy="no")
    second.train(resume_from_checkpoint=str(checkpoint))
    assert second.components[0].generations == 3  # 2 restored + 1 new generation
    assert second._last_rewards_per_func is not None  # rewards stashed for advantage components
