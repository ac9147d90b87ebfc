"""KL-Cov in `ExploreGRPOTrainer` (Cui et al., arXiv 2505.22617, Sec. 4.2): the on-policy warning and the two
surrogates (`kl_cov_surrogate`), with hand-derived losses and gradients."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import pytest
import torch
from grpo_helpers import build_trainer, config_kwargs, fixed_batch, loss_and_grads, tiny_model, tiny_tokenizer
from trl import GRPOConfig, GRPOTrainer

from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer
from trl_explore.trainers.components import KLCovComponent, LossContext

ON_POLICY_WARNING = "the importance ratio is 1"


def test_warns_when_kl_cov_runs_on_policy(tmp_path, caplog):
    """One optimizer step per generation batch: TRL computes no old log-probs, |log r| = 0 with gradient 0."""
    with caplog.at_level(logging.WARNING):
        build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "a", kl_cov_ratio=0.2)
    assert caplog.text.count(ON_POLICY_WARNING) == 1 and "KL-Cov's penalty" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # two optimizer steps per generation: TRL computes old log-probs
        build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "b", kl_cov_ratio=0.2, steps_per_generation=2)
    assert ON_POLICY_WARNING not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # replayed rows carry their own behaviour log-probs: no warning
        build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "c", kl_cov_replay_ratio=0.2)
    assert ON_POLICY_WARNING not in caplog.text


def test_kl_cov_surrogate_is_validated(tmp_path):
    with pytest.raises(ValueError, match="kl_cov_surrogate"):
        ExploreGRPOConfig(**config_kwargs(tmp_path, kl_cov_ratio=0.2, kl_cov_surrogate="verl"))


def _component(surrogate: str) -> KLCovComponent:
    args = SimpleNamespace(
        kl_cov_ratio=0.25, kl_cov_coef=0.1, kl_cov_replay_ratio=0.0, kl_cov_replay_coef=0.1,
        kl_cov_surrogate=surrogate, steps_per_generation=2, gradient_accumulation_steps=1,
    )  # fmt: skip
    trainer = SimpleNamespace(args=args, num_iterations=1, use_vllm=False)
    return KLCovComponent(trainer)


@pytest.mark.parametrize(
    ("surrogate", "expected_loss", "expected_grad"),
    [
        ("clipped", [[-1.2, -1.0], [1.0, 0.8 + 0.1 * math.log(2.0)]], [[0.0, -1.0], [1.0, -0.1]]),
        ("unclipped", [[-1.5, -1.0], [1.0, 0.5 + 0.1 * math.log(2.0)]], [[-1.5, -1.0], [1.0, 0.4]]),
    ],
)
def test_kl_cov_surrogates_hand_derived(surrogate, expected_loss, expected_grad):
    """Two rows, A = [+1, −1], log π_θ = [[−0.5, −1.0], [−1.0, −1.7]] (mean −1.05), ratios r = [[1.5, 1], [1, 0.5]],
    ε = 0.2.

    cov_t = (A − 0)·(log π_θ + 1.05) = [[0.55, 0.05], [−0.05, 0.65]]; ratio 0.25 of 4 tokens: k = 1, token (1, 1);
    penalty 0.1·|log 0.5| = 0.1·ln 2 there.

    * clipped: −min(r·A, clip(r, 0.8, 1.2)·A) = [[−min(1.5, 1.2), −1], [−min(−1, −1), −min(−0.5, −0.8)]]
      = [[−1.2, −1], [1, 0.8]]; d/d log π_θ (dr/d log π_θ = r): clipped tokens (0, 0) and (1, 1) have 0, the
      others −A·r = [−1, 1]; the penalty adds 0.1·sign(log r) = −0.1 at (1, 1).
    * unclipped: −r·A = [[−1.5, −1], [1, 0.5]], gradient −A·r = [[−1.5, −1], [1, 0.5]], (1, 1): 0.5 − 0.1 = 0.4.
    """
    from trl_explore.trainers import ExploreGRPOTrainer as Trainer

    logps = torch.tensor([[-0.5, -1.0], [-1.0, -1.7]], dtype=torch.float64, requires_grad=True)
    ratios = torch.tensor([[1.5, 1.0], [1.0, 0.5]], dtype=torch.float64)
    ctx = LossContext(
        model=None, inputs={}, mode="train", mask=torch.ones(2, 2, dtype=torch.float64), per_token_logps=logps,
        old_per_token_logps=logps.detach() - torch.log(ratios), advantages=torch.tensor([[1.0], [-1.0]], dtype=torch.float64),
        eps_low=0.2, eps_high=0.2,
    )  # fmt: skip
    component = _component(surrogate)
    component.prepare_loss(ctx)
    ctx.per_token_loss = Trainer._clipped_surrogate(SimpleNamespace(args=SimpleNamespace(delta=None)), ctx)
    component.adjust_loss(ctx)
    expected = torch.tensor(expected_loss, dtype=torch.float64)
    torch.testing.assert_close(ctx.per_token_loss, expected, rtol=1e-12, atol=1e-12)
    ctx.per_token_loss.sum().backward()
    torch.testing.assert_close(logps.grad, torch.tensor(expected_grad, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    assert [float(v) for v in ctx.records["kl_cov"]["frac_selected"]] == [1.0, 4.0]


@pytest.mark.parametrize(("surrogate", "trl_epsilon"), [("clipped", 0.2), ("unclipped", 1e9)])
def test_kl_cov_surrogate_in_the_trainer_equals_trl(tmp_path, surrogate, trl_epsilon):
    """KL-Cov on every generated row with weight 0 (the penalty adds 0 and 0 gradient), on an off-policy batch
    (ratios away from 1): `"clipped"` leaves TRL's loss (ε = 0.2); `"unclipped"` gives TRL's loss with ε = 1e9, where
    clip(r, 1 − ε, 1 + ε) = r, i.e. −r·A: the oracle is TRL's own code. Both sides take the same steps in the same
    order except the clamp, whose result is r either way; a few float32 ulps allowed."""
    tok = tiny_tokenizer()
    ours = build_trainer(
        ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path / "ours", model=tiny_model(tok), loss_type="bnpo",
        kl_cov_ratio=0.5, kl_cov_coef=0.0, kl_cov_surrogate=surrogate, steps_per_generation=2,
    )  # fmt: skip
    trl = build_trainer(
        GRPOTrainer, GRPOConfig, tmp_path / "trl", model=tiny_model(tok), loss_type="bnpo", epsilon=trl_epsilon,
        steps_per_generation=2,
    )  # fmt: skip
    inputs = fixed_batch(len(tok), off_policy=True)
    loss_a, grads_a = loss_and_grads(trl, inputs)
    loss_b, grads_b = loss_and_grads(ours, inputs)
    tol = dict(rtol=4 * torch.finfo(torch.float32).eps, atol=4 * torch.finfo(torch.float32).eps)
    torch.testing.assert_close(loss_b, loss_a, **tol)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], **tol, msg=name)
    # the batch is off-policy enough that the two surrogates differ (the test would be vacuous otherwise)
    other = build_trainer(
        GRPOTrainer, GRPOConfig, tmp_path / "other", model=tiny_model(tok), loss_type="bnpo",
        epsilon=1e9 if surrogate == "clipped" else 0.2, steps_per_generation=2,
    )  # fmt: skip
    loss_c, _ = loss_and_grads(other, inputs)
    assert not torch.allclose(loss_c, loss_a, rtol=1e-3, atol=0.0)
