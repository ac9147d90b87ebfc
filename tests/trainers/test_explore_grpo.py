"""`ExploreGRPOTrainer` with every component off equals TRL's `GRPOTrainer` (DESIGN principle 2-3)."""

from __future__ import annotations

import inspect

import pytest
import torch
from lp_reg_helpers import build_trainer, fixed_batch, loss_and_grads, tiny_model, tiny_tokenizer
from trl import GRPOConfig, GRPOTrainer

from trl_explore.trainers import ExploreComponent, ExploreGRPOConfig, ExploreGRPOTrainer, LpRegConfig, LpRegGRPOTrainer

CASES = [
    # (loss_type, importance_sampling_level, beta, off_policy)
    ("grpo", "token", 0.0, False),
    ("bnpo", "token", 0.0, True),
    ("dr_grpo", "sequence", 0.0, True),
    ("dapo", "token", 0.0, False),
    ("dapo", "sequence", 0.04, True),
    ("grpo", "sequence", 0.04, False),
    ("bnpo", "token", 0.04, True),
    ("dr_grpo", "token", 0.04, False),
]


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
    torch.testing.assert_close(loss_b, loss_a, rtol=0, atol=0)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=0, atol=0, msg=name)
    assert ours._metrics["train"].keys() == trl._metrics["train"].keys()


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


def test_rejects_plain_grpo_config(tmp_path):
    with pytest.raises(TypeError, match="ExploreGRPOConfig"):
        build_trainer(ExploreGRPOTrainer, GRPOConfig, tmp_path)


# Signatures of the TRL methods the base hooks or calls, recorded from trl 1.16.0. A change means our overrides may
# silently stop matching TRL: re-read the TRL method and update the override and this record together.
HOOKED = {
    "_generate_and_score_completions": "(self, inputs: list[dict[str, torch.Tensor | typing.Any]]) -> dict[str, torch.Tensor | typing.Any]",
    "_calculate_rewards": "(self, inputs, prompts, completions, completion_ids_list)",
    "_compute_loss": "(self, model, inputs)",
    "_save_checkpoint": "(self, model, trial)",
    "_load_optimizer_and_scheduler": "(self, checkpoint)",
    "compute_loss": "(self, model, inputs, return_outputs=False, num_items_in_batch=None)",
    "get_high_entropy_mask": "(self, entropies: torch.Tensor, mask: torch.Tensor, threshold: float) -> torch.Tensor",
    "get_off_policy_mask": "(advantages: torch.Tensor, per_token_logps: torch.Tensor, sampling_per_token_logps: torch.Tensor, mask: torch.Tensor, off_policy_threshold: float) -> torch.Tensor",
    "_get_per_token_logps_and_entropies": "(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False, compute_aux_loss=False, pixel_values=None, image_grid_thw=None, num_images=None, pixel_attention_mask=None, spatial_shapes=None, num_tiles=None, image_sizes=None, token_type_ids=None, mm_token_type_ids=None, image_position_ids=None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]",
}


@pytest.mark.parametrize("name", sorted(HOOKED))
def test_hooked_trl_signatures_unchanged(name):
    """Fails loudly when TRL changes a method our base overrides or calls."""
    assert str(inspect.signature(getattr(GRPOTrainer, name))) == HOOKED[name], (
        f"trl.GRPOTrainer.{name} changed signature; review trl_explore.trainers.explore_grpo_trainer."
    )


def test_fused_head_kernel_hook_unchanged():
    """The fused-head kernel symbol the token statistics route through still exists with the recorded signature."""
    import trl.trainer.utils as trl_utils
    from trl.kernels import ChunkedLogProbFunction

    assert hasattr(trl_utils, "_ChunkedLogProbFunction") and hasattr(trl_utils, "add_fused_lm_head")
    assert str(inspect.signature(ChunkedLogProbFunction.forward)) == (
        "(ctx, hidden: 'torch.Tensor', weight: 'torch.Tensor', bias: 'torch.Tensor | None', targets: 'torch.Tensor', "
        "temperature: 'float', chunk_size: 'int', final_logit_softcapping: 'float | None' = None, "
        "logit_scale: 'float' = 1.0, outputs: 'tuple[str, ...]' = ('entropy', 'log_sum_sq_probs', 'mean_logits', "
        "'is_top1')) -> 'tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, "
        "torch.Tensor | None]'"
    )
    src = inspect.getsource(trl_utils.add_fused_lm_head)
    assert "_ChunkedLogProbFunction.apply(" in src


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
