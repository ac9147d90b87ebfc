"""SPEAR on `ExploreGRPOTrainer`: the replay buffer (insertion, capture of behaviour log-probs, ageing, trigger,
recalibration, power-of-two subsets, emptying), the loss of mixed batches against a float64 reference, exactness when
the switches are off, Clip-Cov and Dr.BoT in the trainer, and the recipe."""

from __future__ import annotations

import copy
import math
import os
import sys

import pytest
import torch
from grpo_helpers import build_trainer, completion_logits, fixed_batch, loss_and_grads, tiny_model, tiny_tokenizer
from trl import GRPOConfig, GRPOTrainer

from trl_explore.functional.covariance import clip_cov_mask
from trl_explore.trainers import (
    ExploreComponent,
    SPEARConfig,
    SPEARGRPOTrainer,
    register_component,
    unregister_component,
)
from trl_explore.trainers.components import ADDED_KEY, IN_MASK_KEY, KEEP_KEY, ROW_WEIGHT_KEY
from trl_explore.trainers.components.rows import take_row
from trl_explore.trainers.components.spear import PENDING_KEY, ReplayBuffer, ReplayEntry, RewardBaseline

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from spear_reference import reference_mixed_loss, reference_p50  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
OFF = dict(sil=False, clip_cov_replay_ratio=0.0)


def _trainer(tmp_path, **overrides):
    kwargs = dict(loss_type="bnpo", clip_cov_replay_ratio=0.0, sil_warmup_steps=0, sil_loss_coef=0.7)
    kwargs.update(overrides)
    return build_trainer(SPEARGRPOTrainer, SPEARConfig, tmp_path, **kwargs)


def _generate(trainer, rewards, advantages, seed=0):
    """One training generation batch through the trainer's generation phases (a fixed batch of 4 rows)."""
    trainer.model.train()
    trainer._last_rewards_per_func = torch.tensor(rewards, dtype=torch.float32).unsqueeze(1)
    batch = fixed_batch(len(trainer.processing_class), seed=seed)
    batch["advantages"] = torch.tensor(advantages, dtype=torch.float32)
    return trainer._run_generation_phases(batch)


def _entry(trainer, reward, seed=0, row=0, step=0, advantage=1.0):
    batch = fixed_batch(len(trainer.processing_class), seed=seed)
    data = take_row(batch, row, skip=("advantages",))
    data["old_per_token_logps"] = -torch.rand(data["completion_ids"].numel()) - 1.0
    return ReplayEntry(row=data, reward=reward, advantage=advantage, group=seed, step=step)


def _component(trainer):
    return next(c for c in trainer.components if c.name == "spear")


# ------------------------------------------------------------------------------------------------- buffer parts
def test_buffer_ageing_and_state():
    """tolerate 2: at generation 4, entries of generations 1 (age 3) leave, 2 and 3 (ages 2, 1) stay."""
    buffer = ReplayBuffer(2)
    row = {"completion_ids": torch.tensor([1]), "old_per_token_logps": torch.tensor([-1.0])}
    for step in (1, 2, 3):
        buffer.add(ReplayEntry(dict(row), reward=float(step), advantage=1.0, group=step, step=step))
    assert buffer.age_out(4) == 1 and [e.step for e in buffer.entries] == [2, 3]
    assert buffer.count_above(2.0) == 1 and buffer.count_above(math.nan) == 0
    restored = ReplayBuffer(5)
    restored.load_state_dict(copy.deepcopy(buffer.state_dict()))
    assert [(e.step, e.reward) for e in restored.entries] == [(2, 2.0), (3, 3.0)] and restored.tolerate_steps == 2
    with pytest.raises(ValueError, match="behaviour"):
        buffer.add(ReplayEntry({"completion_ids": torch.tensor([1])}, 1.0, 1.0, 0, 0))
    with pytest.raises(ValueError, match="tolerate_steps"):
        ReplayBuffer(11)


def test_baseline_fifo_and_median():
    baseline = RewardBaseline(4)
    baseline.extend(torch.tensor([5.0, 1.0, math.nan, 3.0]))  # NaN (unscorable groups) is not a reward
    assert baseline.values.tolist() == [5.0, 1.0, 3.0] and baseline.p50() == reference_p50([5, 1, 3]) == 3.0
    baseline.extend(torch.tensor([0.0, 2.0]))  # capacity 4: the oldest (5) leaves
    assert baseline.values.tolist() == [1.0, 3.0, 0.0, 2.0] and baseline.p50() == reference_p50([1, 3, 0, 2]) == 1.5
    assert math.isnan(RewardBaseline(3).p50())


# ------------------------------------------------------------------------------------------- insertion, capture
class _DropLast(ExploreComponent):
    """Drops row 3 from the loss before SPEAR runs (stands in for any sample filter)."""

    name = "test_drop_last"
    order = {"advantages": 10}

    @classmethod
    def enabled(cls, args):
        return True

    def advantages(self, ctx):
        ctx.drop_samples(torch.tensor([False, False, False, True]))


def test_only_positive_kept_rows_are_stored_with_first_pass_logps(tmp_path):
    """Advantages [1, -0.5, -1.5, 0.8] with row 3 dropped by a filter: only row 0 is collected. TRL computes no old
    log-probs here (on-policy), so the row's behaviour log-probs are captured at its first loss pass: the model's own
    log-probs of the row then, not those of a later pass."""
    register_component(_DropLast)
    try:
        trainer = _trainer(tmp_path)
        spear = _component(trainer)
        out = _generate(trainer, [1.0, 0.0, 0.0, 1.0], [1.0, -0.5, -1.5, 0.8])
    finally:
        unregister_component(_DropLast.name)
    assert out[PENDING_KEY].tolist() == [0, -1, -1, -1] and len(spear.pending) == 1
    entry = spear.pending[0]
    assert entry.reward == 1.0 and entry.advantage == 1.0 and entry.step == 0 and entry.group == 0
    assert "old_per_token_logps" not in entry.row
    ids = torch.cat([out["prompt_ids"], out["completion_ids"]], 1)
    att = torch.cat([out["prompt_mask"], out["completion_mask"]], 1)
    with torch.no_grad():
        expected, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, att, ids.size(1) - 3)
    loss_and_grads(trainer, out)
    torch.testing.assert_close(entry.row["old_per_token_logps"], expected[0, :5])
    with torch.no_grad():  # a later pass (after an update) does not overwrite the captured values
        for p in trainer.model.parameters():
            p.add_(0.05)
    loss_and_grads(trainer, out)
    torch.testing.assert_close(entry.row["old_per_token_logps"], expected[0, :5])
    # the next generation commits it to the buffer; the baseline holds both generations' group means
    _generate(trainer, [0.0, 0.0, 1.0, 1.0], [-1.0, -1.0, 1.0, 1.0], seed=1)
    assert len(spear.buffer) == 1 and spear.buffer.entries[0] is entry
    assert spear.baseline.values.tolist() == [0.5, 0.5]


def test_off_policy_batches_store_trl_old_logps_at_once(tmp_path):
    trainer = _trainer(tmp_path)
    spear = _component(trainer)
    trainer.model.train()
    trainer._last_rewards_per_func = torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    batch = fixed_batch(len(trainer.processing_class), off_policy=True)
    batch["advantages"] = torch.tensor([1.0, -0.3, -0.3, -0.4])
    trainer._run_generation_phases(batch)
    torch.testing.assert_close(spear.pending[0].row["old_per_token_logps"], batch["old_per_token_logps"][0])


# ------------------------------------------------------------------------------ trigger, recalibration, sampling
def _preload(trainer, rewards, baseline):
    spear = _component(trainer)
    spear.baseline.extend(torch.tensor(baseline))
    for i, reward in enumerate(rewards):
        spear.buffer.add(_entry(trainer, reward, seed=10 + i, row=i % 4, advantage=0.5 + i))
    return spear


@pytest.mark.parametrize(("factor", "buffer_size", "expected_rows"), [(1.0, 2, 2), (1.0, 1, 1), (1.5, 2, 0)])
def test_trigger_recalibration_power_of_two_and_emptying(tmp_path, factor, buffer_size, expected_rows):
    """Baseline [0, 0.5, 1] -> P50 0.5; rewards [1, 1, 0.5, 0.2, 2]: 3 above P50. Trigger iff 3 > factor·size:
    (1.0, 2) and (1.0, 1) trigger, (1.5, 2) does not (3 > 3 is false). Ã = R - 0.5 = [0.5, 0.5, 0, -0.3, 1.5]: 4
    entries with Ã >= 0; subset = power_of_two_floor(min(4, size)) = 2 or 1 rows, weight γ = c = 0.7 (no warm-up).
    After a trigger the buffer is empty (the batch's own positive rows are pending)."""
    trainer = _trainer(tmp_path, sil_trigger_factor=factor, sil_buffer_size=buffer_size)
    spear = _preload(trainer, [1.0, 1.0, 0.5, 0.2, 2.0], [0.0, 0.5, 1.0])
    expected_adv = {10: 0.5, 11: 0.5, 12: 0.0, 14: 1.5}  # by entry group (seed)
    out = _generate(trainer, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4], seed=0)
    assert out["completion_ids"].size(0) == 4 + expected_rows
    metrics = trainer._metrics["train"]
    assert metrics["spear/replay_triggered"] == [float(expected_rows > 0)]
    assert metrics["spear/replay_rows"] == [float(expected_rows)]
    assert metrics["spear/sil_weight"] == [pytest.approx(0.7)]
    if expected_rows:
        assert len(spear.buffer) == 0 and len(spear.last_replay) == expected_rows
        assert {e.group for e in spear.last_replay} <= set(expected_adv)
        torch.testing.assert_close(
            out["advantages"][4:], torch.tensor([expected_adv[e.group] for e in spear.last_replay])
        )
        assert out[ROW_WEIGHT_KEY][4:].tolist() == [pytest.approx(0.7)] * expected_rows
        assert out[ADDED_KEY].tolist() == [False] * 4 + [True] * expected_rows
        assert out[KEEP_KEY].all() and out[IN_MASK_KEY].all() and out[PENDING_KEY][4:].tolist() == [-1] * expected_rows
        for k, entry in enumerate(
            spear.last_replay
        ):  # each replayed row is its stored row, behaviour log-probs included
            n = entry.row["completion_ids"].numel()
            assert out["completion_ids"][4 + k, :n].tolist() == entry.row["completion_ids"].tolist()
            torch.testing.assert_close(out["old_per_token_logps"][4 + k, :n], entry.row["old_per_token_logps"])
        assert torch.isnan(out["old_per_token_logps"][:4]).all()  # generated rows: current policy
    else:
        assert len(spear.buffer) == 5 and ADDED_KEY not in out
    # baseline now holds this batch's group mean too: [0, 0.5, 1, 0.25] -> P50 0.375
    assert metrics["spear/baseline_p50"] == [pytest.approx(0.375)]
    assert metrics["spear/buffer_size"] == [float(len(spear.buffer) + len(spear.pending))]


def test_decay_recalibration_and_warmup_weight(tmp_path):
    """`decay`: Ã = 0.1·Â for the stored advantages 0.5 + i; γ(t) at global step 50 of a 100-step warm-up, c = 0.7:
    0.7·(1 - cos(π/2))/2 = 0.35."""
    trainer = _trainer(
        tmp_path, sil_recalibration="decay", sil_decay=0.1, sil_buffer_size=4, sil_trigger_factor=0.5,
        sil_warmup_steps=100,
    )  # fmt: skip
    spear = _preload(trainer, [1.0, 1.0, 0.5, 0.2, 2.0], [0.0, 0.5, 1.0])
    trainer.state.global_step = 50
    out = _generate(trainer, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4])
    assert out["completion_ids"].size(0) == 8  # 5 entries, all Ã >= 0 -> 4 (power of two, <= 4)
    torch.testing.assert_close(
        out["advantages"][4:], torch.tensor([0.1 * (0.5 + e.group - 10) for e in spear.last_replay])
    )
    assert out[ROW_WEIGHT_KEY][4:].tolist() == [pytest.approx(0.35)] * 4


def test_power_of_two_share_respects_steps_per_generation(tmp_path):
    """steps_per_generation = 2: units of 2 rows; 4 eligible entries, size 8 -> 2 units -> 4 rows; 3 eligible -> 1 unit
    -> 2 rows (the batch of 4 + 2 splits into 2 micro-batches of 3)."""
    for rewards, rows in (([1.0, 1.0, 0.5, 2.0], 4), ([1.0, 1.0, 2.0], 2)):
        trainer = _trainer(tmp_path, sil_trigger_factor=0.1, sil_buffer_size=8, steps_per_generation=2)
        _preload(trainer, rewards, [0.0, 0.5, 1.0])
        out = _generate(trainer, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4])
        assert out["completion_ids"].size(0) == 4 + rows


@pytest.mark.parametrize(
    ("steps_per_generation", "buffer_size", "expected_rows"), [(8, 4, 0), (4, 2, 0), (2, 3, 2), (4, 8, 8)]
)
def test_replay_never_exceeds_sil_buffer_size(tmp_path, caplog, steps_per_generation, buffer_size, expected_rows):
    """8 eligible entries (all rewards 1 > P50 = 0.5), trigger factor 0.1. Replay comes in units of
    `steps_per_generation` rows and at most `sil_buffer_size` rows in all: ⌊4 / 8⌋ = ⌊2 / 4⌋ = 0 units (nothing can be
    replayed, said at construction; before the fix max(1, 0) = 1 unit gave 8 and 4 rows, twice the cap), ⌊3 / 2⌋ = 1
    unit = 2 rows <= 3, ⌊8 / 4⌋ = 2 units = 8 rows (power_of_two_floor(min(8 / 4 = 2 available, 2)) = 2)."""
    with caplog.at_level("WARNING", logger="trl_explore.trainers.components.spear"):
        trainer = _trainer(
            tmp_path, sil_trigger_factor=0.1, sil_buffer_size=buffer_size, steps_per_generation=steps_per_generation
        )
    assert ("nothing can ever be replayed" in caplog.text) == (expected_rows == 0)
    _preload(trainer, [1.0] * 8, [0.0, 0.5, 1.0])
    out = _generate(trainer, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4])
    assert out["completion_ids"].size(0) == 4 + expected_rows
    assert trainer._metrics["train"]["spear/replay_rows"] == [float(expected_rows)]
    assert expected_rows <= buffer_size
    assert trainer._metrics["train"]["spear/replay_triggered"] == [float(expected_rows > 0)]


def test_replay_combines_with_relative_negative_and_lp_reg(tmp_path):
    """GRPO-N (with its metrics over the generated rows) and Lp-Reg run on a batch with replayed rows mixed in."""
    trainer = _trainer(
        tmp_path, sil_buffer_size=2, sil_trigger_factor=1.0, advantage_mode="grpo_n", lp_reg=True, lp_reg_rho=0.3,
        lp_reg_require_below_proxy=False, clip_cov_replay_ratio=0.2, clip_cov_replay_lb=-1e9, clip_cov_replay_ub=1e9,
    )  # fmt: skip
    assert [c.name for c in trainer.components] == ["lp_reg", "relative_negative", "clip_cov", "spear"]
    _preload(trainer, [1.0, 1.0, 0.5, 0.2, 2.0], [0.0, 0.5, 1.0])
    out = _generate(trainer, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4])
    assert out["completion_ids"].size(0) == 6
    torch.testing.assert_close(out["advantages"][:4], torch.tensor([0.0, -0.3, -0.3, -0.4]))
    assert out[KEEP_KEY].tolist() == [False, True, True, True, True, True]  # GRPO-N drops row 0, replay rows kept
    loss, grads = loss_and_grads(trainer, out)
    assert torch.isfinite(loss) and any(g.abs().sum() > 0 for g in grads.values())
    metrics = trainer._metrics["train"]
    assert metrics["rng/frac_kept_samples"] == [0.75] and len(metrics["lp_reg/frac_selected"]) == 1
    assert metrics["clip_cov/frac_selected_replay"][0] > 0


def test_replay_combines_with_hapo(tmp_path):
    """HAPO's token-level group average (advantages phase, before the replay), adaptive clip and advantage
    redistribution (prepare_loss, after the capture of behaviour log-probs) run on a batch with replayed rows."""
    trainer = _trainer(
        tmp_path, sil_buffer_size=2, sil_trigger_factor=1.0, hapo_tlga=True, hapo_adaptive_clip=True, hapo_dar=True,
    )  # fmt: skip
    names = [c.name for c in trainer.components]
    assert names[-1] == "spear" and {"hapo_tlga", "hapo_adaptive_clip", "hapo_dar"} <= set(names)
    _preload(trainer, [1.0, 1.0, 0.5, 0.2, 2.0], [0.0, 0.5, 1.0])
    out = _generate(trainer, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4])
    assert out["completion_ids"].size(0) == 6
    loss, grads = loss_and_grads(trainer, out)
    assert torch.isfinite(loss) and any(g.abs().sum() > 0 for g in grads.values())
    assert len(trainer._metrics["train"]["hapo/eps_low_mean"]) == 1


def test_component_state_round_trip_gives_the_same_next_replay(tmp_path):
    """The component's state (buffer, captured pending rows, baseline, generation) restores into a fresh trainer,
    which then replays exactly the same rows with the same advantages."""
    trainer = _trainer(tmp_path / "a", sil_buffer_size=2, sil_trigger_factor=1.0)
    spear = _preload(trainer, [1.0, 1.0, 0.5, 0.2, 2.0], [0.0, 0.5, 1.0])
    spear.generation = 3
    state = copy.deepcopy(spear.state_dict())
    other = _trainer(tmp_path / "b", sil_buffer_size=2, sil_trigger_factor=1.0)
    restored = _component(other)
    restored.load_state_dict(state)
    out_a = _generate(trainer, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4])
    out_b = _generate(other, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4])
    assert [e.group for e in spear.last_replay] == [e.group for e in restored.last_replay]
    for key in ("completion_ids", "advantages", "old_per_token_logps", ROW_WEIGHT_KEY):
        torch.testing.assert_close(out_a[key], out_b[key], equal_nan=True)


# ------------------------------------------------------------------------------------------------------ the loss
@pytest.mark.parametrize("loss_type", ["bnpo", "grpo"])
def test_replayed_rows_use_their_stored_behaviour_logps(tmp_path, loss_type):
    """A mixed batch (4 generated rows, 2 replayed with stored behaviour log-probs and weight γ = 0.7), the policy moved
    after collection: loss and gradients equal the float64 reference in which replayed rows' ratios are taken against
    their stored log-probs, and differ from one that uses the current policy for them."""
    trainer = _trainer(tmp_path, loss_type=loss_type, sil_buffer_size=2, sil_trigger_factor=1.0, epsilon_high=0.28)
    spear = _preload(trainer, [1.0, 1.0, 0.5, 0.2, 2.0], [0.0, 0.5, 1.0])
    # stored behaviour log-probs close to the current ones, so that some ratios stay inside the clip range
    ids_probe = fixed_batch(len(trainer.processing_class), seed=10)
    with torch.no_grad():
        ids = torch.cat([ids_probe["prompt_ids"], ids_probe["completion_ids"]], 1)
        att = torch.cat([ids_probe["prompt_mask"], ids_probe["completion_mask"]], 1)
        current, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, att, 5)
    for entry in spear.buffer.entries:
        n = entry.row["completion_ids"].numel()
        entry.row["old_per_token_logps"] = (
            entry.row["old_per_token_logps"][:n] * 0 + current[0, :n] + 0.1 * (entry.group - 12)
        )
    out = _generate(trainer, [1.0, 0.0, 0.0, 0.0], [1.0, -0.3, -0.3, -0.4])
    assert out["completion_ids"].size(0) == 6
    loss, grads = loss_and_grads(trainer, out)

    m64, logits = completion_logits(trainer.model, out)
    logps = torch.log_softmax(logits, -1).gather(-1, out["completion_ids"].unsqueeze(-1)).squeeze(-1)
    behaviour = [None] * 4 + [out["old_per_token_logps"][i].tolist() for i in (4, 5)]
    mask = (out["completion_mask"] * out[IN_MASK_KEY].unsqueeze(1)).tolist()
    args = (out["advantages"].tolist(), mask, out[ROW_WEIGHT_KEY].tolist(), 0.2, 0.28, loss_type)
    expected = reference_mixed_loss(logps, behaviour, *args) / 2  # loss_and_grads: 2 accumulation steps
    torch.testing.assert_close(loss, expected.float(), rtol=1e-5, atol=1e-6)
    expected.backward()
    for name, param in m64.named_parameters():
        torch.testing.assert_close(grads[name], param.grad.float(), rtol=1e-4, atol=1e-6, msg=name)
    wrong = reference_mixed_loss(logps.detach(), [None] * 6, *args) / 2
    assert not torch.isclose(wrong.float(), loss, rtol=1e-3), "the check must be able to tell the behaviour policy"


# ------------------------------------------------------------------------------------------- exactness when off
CASES = [("grpo", "token", 0.0, False), ("dapo", "sequence", 0.04, True), ("dr_grpo", "token", 0.04, False)]


def _pair(tmp_path, overrides, **common):
    tok = tiny_tokenizer()
    trl = build_trainer(GRPOTrainer, GRPOConfig, tmp_path / "trl", model=tiny_model(tok), **common)
    ours = build_trainer(SPEARGRPOTrainer, SPEARConfig, tmp_path / "ours", model=tiny_model(tok), **overrides, **common)
    return trl, ours


def _assert_equal(trl, ours, inputs):
    """Exact: switched off, ours is TRL's `_compute_loss`; with replay waiting and an empty Clip-Cov band, the own loss
    path runs TRL's operations in TRL's order and the cut mask multiplies by 1.0 (exact), so the same values reach the
    same reductions on every float path."""
    loss_a, grads_a = loss_and_grads(trl, inputs)
    loss_b, grads_b = loss_and_grads(ours, inputs)
    torch.testing.assert_close(loss_b, loss_a, rtol=0, atol=0)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize(("loss_type", "is_level", "beta", "off_policy"), CASES)
def test_switches_off_equal_trl_bit_for_bit(tmp_path, loss_type, is_level, beta, off_policy):
    common = dict(loss_type=loss_type, importance_sampling_level=is_level, beta=beta, epsilon_high=0.28)
    trl, ours = _pair(tmp_path, OFF, **common)
    assert ours.components == []
    _assert_equal(trl, ours, fixed_batch(len(trl.processing_class), off_policy=off_policy, ref=beta != 0.0))
    # TRL's metrics, plus the trainer's fault counts (`faults/*`, docs/robustness.md)
    ours_keys = {k for k in ours._metrics["train"] if not k.startswith("faults/")}
    assert ours_keys == set(trl._metrics["train"]) and "faults/empty_micro_batches" in ours._metrics["train"]


@pytest.mark.parametrize(("loss_type", "is_level", "beta", "off_policy"), CASES)
def test_replay_on_without_trigger_and_empty_clip_cov_band_equal_trl(tmp_path, loss_type, is_level, beta, off_policy):
    """Replay on (nothing replayed yet: the batch carries only the collection marks) and Clip-Cov on with a band no
    token reaches: TRL's loss and gradients bit for bit."""
    common = dict(loss_type=loss_type, importance_sampling_level=is_level, beta=beta, epsilon_high=0.28)
    overrides = dict(sil=True, clip_cov_ratio=0.5, clip_cov_lb=1e6, clip_cov_ub=1e7, clip_cov_replay_ratio=0.02)
    trl, ours = _pair(tmp_path, overrides, **common)
    assert [c.name for c in ours.components] == ["clip_cov", "spear"] and ours._uses_own_loss
    inputs = fixed_batch(len(trl.processing_class), off_policy=off_policy, ref=beta != 0.0)
    inputs[PENDING_KEY] = torch.tensor([0, -1, -1, 1])
    _assert_equal(trl, ours, inputs)
    assert ours._metrics["train"]["clip_cov/frac_selected"] == [0.0]


def test_clip_cov_in_the_trainer_cuts_the_drawn_tokens(tmp_path):
    """On-policy (ratio 1, nothing PPO-clipped), a band holding every token and ratio 0.3 of the 17 valid tokens:
    k = 5 tokens drawn by the component's seeded generator lose their term. `bnpo`: loss = Σ_kept(-A_b) / 17 / 2."""
    trainer = build_trainer(
        SPEARGRPOTrainer, SPEARConfig, tmp_path, loss_type="bnpo", clip_cov_ratio=0.3, clip_cov_lb=-1e9,
        clip_cov_ub=1e9, **OFF,
    )  # fmt: skip
    inputs = fixed_batch(len(trainer.processing_class))
    seed = int(trainer.args.seed) * 1_000_003 + 0 * 7919 + 1
    mask = inputs["completion_mask"]
    adv = inputs["advantages"].unsqueeze(1)
    selected, _ = clip_cov_mask(
        adv, torch.zeros(mask.shape), mask, torch.zeros(mask.shape, dtype=torch.bool), 0.3, -1e9, 1e9,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    assert int(selected.sum()) == 5
    loss, _ = loss_and_grads(trainer, inputs)
    kept = (mask.bool() & ~selected).float()
    torch.testing.assert_close(loss, (-(adv * kept).sum() / 17 / 2).float())
    assert trainer._metrics["train"]["clip_cov/frac_selected"] == [pytest.approx(5 / 17)]


# -------------------------------------------------------------------------------------------------------- Dr.BoT
def test_dr_bot_filters(tmp_path):
    """Row 0 ends with an unanswered tool call (incomplete), row 1 repeats a 2-gram 4 times (n = 2, count 3), and with
    groups of 2 the rewards [0, 1 | 1, 1] keep ⌈0.5·2⌉ = 1 group (std 0.71 vs 0): rows 2 and 3 go. Everything dropped
    with `selected_tokens` leaves the loss mask and the token count."""
    trainer = build_trainer(
        SPEARGRPOTrainer, SPEARConfig, tmp_path, num_generations=2, mask_incomplete_completions=True,
        mask_repetitive_completions=True, repetition_ngram_size=2, repetition_min_count=3, group_std_keep_ratio=0.5,
        **OFF,
    )  # fmt: skip
    batch = fixed_batch(len(trainer.processing_class))
    batch["completion_ids"][1] = torch.tensor([9, 9, 9, 9, 9])  # (9, 9) four times
    batch["completion_mask"][1] = 1
    call = {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "1"}}}
    trainer._last_completions = [
        [{"role": "assistant", "content": "", "tool_calls": [call]}],
        [{"role": "assistant", "content": "fine"}],
        [{"role": "assistant", "content": "", "tool_calls": [call]}, {"role": "tool", "content": "1"},
         {"role": "assistant", "content": "done"}],
        [{"role": "assistant", "content": "ok"}],
    ]  # fmt: skip
    trainer._last_rewards_per_func = torch.tensor([[0.0], [1.0], [1.0], [1.0]])
    trainer.model.train()
    out = trainer._run_generation_phases(batch)
    assert out[KEEP_KEY].tolist() == [False, False, False, False] and not out[IN_MASK_KEY].any()
    assert int(out["num_items_in_batch"]) == 0
    metrics = trainer._metrics["train"]
    assert metrics["dr_bot/frac_incomplete"] == [0.25] and metrics["dr_bot/frac_repetitive"] == [0.25]
    assert metrics["dr_bot/frac_groups_kept"] == [0.5]


def test_dr_bot_recipe():
    args = SPEARConfig.dr_bot_recipe(output_dir="out", use_cpu=True, report_to="none", max_steps=3)
    assert (args.beta, args.epsilon, args.epsilon_high, args.scale_rewards, args.loss_type) == (
        0.0, 0.2, 0.28, "none", "dr_grpo",
    )  # fmt: skip
    assert args.mask_truncated_completions and args.mask_incomplete_completions and args.mask_repetitive_completions
    assert (args.repetition_ngram_size, args.repetition_min_count, args.group_std_keep_ratio) == (20, 10, 0.75)
    assert args.sil and args.clip_cov_replay_ratio == 0.02 and args.max_steps == 3
    baseline = SPEARConfig.dr_bot_recipe(output_dir="out", use_cpu=True, sil=False, clip_cov_replay_ratio=0.0)
    assert not baseline.sil


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("sil_tolerate_steps", 11, "sil_tolerate_steps"),
        ("sil_buffer_size", 0, "sil_buffer_size"),
        ("sil_recalibration", "p90", "sil_recalibration"),
        ("sil_decay", 0.0, "sil_decay"),
        ("clip_cov_replay_lb", 50.0, "clip_cov_replay_lb"),
        ("clip_cov_ratio", 1.0, "clip_cov_ratio"),
        ("group_std_keep_ratio", 0.0, "group_std_keep_ratio"),
        ("repetition_min_count", 1, "repetition_min_count"),
        ("loss_type", "cispo", "loss_type"),
    ],
)
def test_config_validation(field, value, match):
    with pytest.raises(ValueError, match=match):
        SPEARConfig(output_dir="out", use_cpu=True, report_to="none", **{field: value})
