"""Components combine: Lp-Reg with every relative-negative advantage mode trains (several optimizer steps per
generation, so old log-probs and the captured proxy statistics are used), and one combined loss equals a reference
composed from the two papers (advantages of the mode, arXiv 2506.01347 / 2510.04028, then Lp-Reg, arXiv 2510.03222,
on the masked batch)."""

from __future__ import annotations

import copy
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

from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

MODES = ("grpo_n", "gspo_n", "nsr", "psr", "w_reinforce")


@pytest.mark.parametrize("mode", MODES)
def test_lp_reg_with_advantage_mode_trains(tmp_path, mode):
    """Two optimizer steps per generation batch (TRL computes old log-probs), 2 steps: both components log, the
    parameters move, nothing is NaN."""
    tok = tiny_tokenizer()
    trainer = build_trainer(
        LpRegGRPOTrainer,
        LpRegConfig,
        tmp_path,
        model=peaky_model(tok),
        advantage_mode=mode,
        negative_normalization="selected_tokens" if mode == "nsr" else "all_tokens",
        steps_per_generation=2,
        max_steps=2,
        learning_rate=1e-2,
        lp_reg_rho=0.3,
    )
    assert [c.name for c in trainer.components] == ["lp_reg", "relative_negative"]
    assert trainer._computes_old_logps()
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())
    logs = [e for e in trainer.state.log_history if "loss" in e and "lp_reg/frac_selected" in e]
    assert len(logs) == 2
    for entry in logs:
        assert math.isfinite(entry["loss"]) and math.isfinite(entry["rng/max_prob_sampled"])
    assert "rng/frac_kept_samples" in logs[0], "generation metrics: logged at the step that generated"


@pytest.mark.parametrize(("mode", "normalization"), [("nsr", "selected_tokens"), ("w_reinforce", "all_tokens")])
def test_combined_loss_equals_composed_reference(tmp_path, mode, normalization):
    """Rewards [1, 0, 0, 1] (one group of 4). NSR: advantages [0, -1, -1, 0], rows 0 and 3 leave the mask and the dapo
    denominator; W-REINFORCE (λ = 0.1): [0.1, -1, -1, 0.1], all rows kept. Then Lp-Reg (ρ = 0.3, β = 0.7, T = 0.9) on
    that batch, off-policy: the float64 full-logits reference of each part, composed, gives loss and gradients."""
    tok = tiny_tokenizer()
    trainer = build_trainer(
        LpRegGRPOTrainer,
        LpRegConfig,
        tmp_path,
        model=peaky_model(tok),
        temperature=0.9,
        lp_reg_rho=0.3,
        lp_reg_beta=0.7,
        advantage_mode=mode,
        negative_normalization=normalization,
    )
    inputs = sampled_batch(trainer.model, len(tok))
    inputs["num_items_in_batch"] = inputs["completion_mask"].sum()
    old_model = peaky_model(tok, seed=1)
    _, old_logits = completion_logits(old_model, inputs)
    labels = inputs["completion_ids"]
    old_logps = torch.log_softmax(old_logits.detach() / 0.9, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    inputs["old_per_token_logps"] = old_logps.float()
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])

    trainer.model.train()
    trainer._last_rewards_per_func = rewards.unsqueeze(1)
    generated = trainer._run_generation_phases(copy.deepcopy(inputs))
    loss, grads = loss_and_grads(trainer, generated)

    # the hand values of the docstring (Zhu et al., arXiv 2506.01347: NSR, Eq. 5, keeps only the incorrect samples,
    # with −1; W-REINFORCE, Eq. 7, gives the correct ones +λ = 0.1 and the incorrect ones −1)
    if mode == "nsr":
        advantages, keep = torch.tensor([0.0, -1.0, -1.0, 0.0]), torch.tensor([False, True, True, False])
    else:
        advantages, keep = torch.tensor([0.1, -1.0, -1.0, 0.1]), torch.tensor([True, True, True, True])
    # the trainer's advantage phase produced them (W-REINFORCE's 0.1: one float32 rounding of the product)
    torch.testing.assert_close(generated["advantages"], advantages, rtol=torch.finfo(torch.float32).eps, atol=0.0)
    mask = inputs["completion_mask"].bool()
    if normalization == "selected_tokens":
        mask = mask & keep.unsqueeze(1)
    reference_inputs = dict(inputs, num_items_in_batch=mask.sum())
    m64, logits = completion_logits(trainer.model, inputs)
    ref, info = lp_reg_reference_loss(
        logits,
        labels,
        mask,
        advantages.double(),
        dapo_normalizer(trainer, reference_inputs),
        old_logps=old_logps,
        temperature=0.9,
        rho=0.3,
        beta=0.7,
    )
    assert len(info["selected"]) > 0, "the case must exercise an Lp-Reg selection"
    assert int(generated["num_items_in_batch"]) == int(mask.sum())
    torch.testing.assert_close(loss.double(), ref.detach(), rtol=1e-4, atol=1e-6)
    ref.backward()
    for name, p in m64.named_parameters():
        torch.testing.assert_close(grads[name].double(), p.grad, rtol=1e-3, atol=2e-5, msg=name)
