"""`components.rows`: a batch row taken without padding and appended back (padding widths and values, per-row and
per-token keys, missing-key fills), and the trainer's `add_rows` seam (keep / weight / added marks, token recount,
divisibility)."""

from __future__ import annotations

import math

import pytest
import torch
from grpo_helpers import build_trainer, fixed_batch

from trl_explore.trainers import ExploreComponent, ExploreGRPOConfig, ExploreGRPOTrainer, register_component
from trl_explore.trainers.components import ADDED_KEY, IN_MASK_KEY, KEEP_KEY, ROW_WEIGHT_KEY, unregister_component
from trl_explore.trainers.components.rows import append_rows, completion_length, take_row

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
PAD = 0


def _batch():
    return {
        "prompt_ids": torch.tensor([[0, 7, 8], [5, 6, 9]]),
        "prompt_mask": torch.tensor([[0, 1, 1], [1, 1, 1]]),
        "completion_ids": torch.tensor([[11, 12, 0, 0], [13, 14, 15, 16]]),
        "completion_mask": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]),
        "tool_mask": torch.tensor([[1, 1, 1, 1], [1, 0, 0, 1]]),
        "ref_per_token_logps": torch.tensor([[-1.0, -2.0, 0.0, 0.0], [-3.0, -4.0, -5.0, -6.0]]),
        "advantages": torch.tensor([0.5, -0.5]),
        "importance_sampling_ratio": torch.tensor([[1.5], [0.5]]),
        "num_items_in_batch": torch.tensor(6),
    }


def test_take_row_drops_padding():
    row = take_row(_batch(), 0)
    assert row["prompt_ids"].tolist() == [7, 8] and row["prompt_mask"].tolist() == [1, 1]
    assert row["completion_ids"].tolist() == [11, 12] and row["tool_mask"].tolist() == [1, 1]
    assert row["ref_per_token_logps"].tolist() == [-1.0, -2.0]
    assert row["advantages"].dim() == 0 and row["importance_sampling_ratio"].tolist() == [1.5]
    assert "num_items_in_batch" not in row
    assert "advantages" not in take_row(_batch(), 1, skip=("advantages",))
    assert completion_length(torch.tensor([1, 1, 0, 1, 0])) == 4 and completion_length(torch.zeros(3)) == 0


def test_append_rows_pads_both_sides():
    """A row with a 4-token prompt and a 6-token completion widens the batch: prompts left-padded (mask 0), completions
    right-padded (ids pad, mask 0, tool_mask 1, log-probs 0); per-row keys concatenated; scalars kept."""
    batch = _batch()
    row = {
        "prompt_ids": torch.tensor([1, 2, 3, 4]),
        "prompt_mask": torch.ones(4, dtype=torch.long),
        "completion_ids": torch.tensor([21, 22, 23, 24, 25, 26]),
        "completion_mask": torch.ones(6, dtype=torch.long),
        "tool_mask": torch.tensor([1, 1, 0, 0, 1, 1]),
        "ref_per_token_logps": -torch.arange(1.0, 7.0),
        "advantages": torch.tensor(2.0),
        "importance_sampling_ratio": torch.tensor([1.0]),
    }
    out = append_rows(batch, [row, take_row(batch, 0)], pad_token_id=PAD)
    assert out["prompt_ids"].tolist() == [[0, 0, 7, 8], [0, 5, 6, 9], [1, 2, 3, 4], [0, 0, 7, 8]]
    assert out["prompt_mask"].tolist() == [[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1]]
    assert out["completion_ids"][0].tolist() == [11, 12, 0, 0, 0, 0]
    assert out["completion_mask"][1].tolist() == [1, 1, 1, 1, 0, 0]
    assert out["tool_mask"][1].tolist() == [1, 0, 0, 1, 1, 1] and out["tool_mask"][3].tolist() == [1, 1, 1, 1, 1, 1]
    assert out["ref_per_token_logps"][2].tolist() == [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]
    assert out["advantages"].tolist() == [0.5, -0.5, 2.0, 0.5]
    assert out["importance_sampling_ratio"].tolist() == [[1.5], [0.5], [1.0], [1.5]]
    assert int(out["num_items_in_batch"]) == 6 and batch["completion_ids"].shape == (2, 4)
    # pad_to_multiple_of rounds the new widths up
    out = append_rows(batch, [row], pad_token_id=PAD, pad_to_multiple_of=4)
    assert out["completion_ids"].shape == (3, 8) and out["prompt_ids"].shape == (3, 4)


def test_append_rows_fills_missing_and_broadcasts_advantages():
    batch = _batch()
    batch["advantages"] = torch.tensor([[0.5] * 4, [-0.5] * 4])  # per-token advantages
    row = {**take_row(batch, 0, skip=("advantages",)), "advantages": torch.tensor(3.0)}
    row["old_per_token_logps"] = torch.tensor([-0.1, -0.2])
    out = append_rows(batch, [row], pad_token_id=PAD, fill_missing={"old_per_token_logps": math.nan})
    assert out["advantages"][2].tolist() == [3.0, 3.0, 0.0, 0.0]
    assert torch.isnan(out["old_per_token_logps"][:2]).all() and out["old_per_token_logps"][2].tolist()[:2] == [
        pytest.approx(-0.1),
        pytest.approx(-0.2),
    ]
    with pytest.raises(ValueError, match="missing keys"):
        append_rows(batch, [{"completion_ids": torch.tensor([1])}], pad_token_id=PAD)
    with pytest.raises(ValueError, match="unknown keys"):
        append_rows(batch, [{**take_row(batch, 0), "surprise": torch.tensor(1)}], pad_token_id=PAD)
    with pytest.raises(ValueError, match="multimodal"):
        take_row({**batch, "num_images": [1, 1]}, 0)


class _Adder(ExploreComponent):
    """Adds ``count`` copies of the batch's row 0 (weight 0.25, advantage 1.5) to the batch."""

    name = "test_row_adder"
    edits_loss = True
    count = 2

    @classmethod
    def enabled(cls, args):
        return True

    def advantages(self, ctx):
        row = take_row(ctx.output, 0, skip=("advantages",))
        rows = [dict(row) for _ in range(type(self).count)]
        ctx.add_rows(rows, torch.full((len(rows),), 1.5), torch.full((len(rows),), 0.25))


@pytest.fixture
def adder():
    register_component(_Adder)
    yield _Adder
    unregister_component(_Adder.name)


def test_trainer_appends_rows_marks_them_and_recounts(tmp_path, adder):
    """4 generated rows (17 loss tokens) + 2 copies of row 0 (5 tokens each): 6 rows, 27 tokens; the added rows are
    kept, marked, weighted 0.25 and have NaN-free behaviour log-probs only where they carry them (here none: NaN)."""
    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path, steps_per_generation=2)
    trainer._last_rewards_per_func = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    trainer.model.train()
    out = trainer._run_generation_phases(fixed_batch(len(trainer.processing_class)))
    assert out["completion_ids"].shape[0] == 6 and int(out["num_items_in_batch"]) == 17 + 10
    assert out[ADDED_KEY].tolist() == [False] * 4 + [True] * 2
    assert out[ROW_WEIGHT_KEY].tolist() == [1.0] * 4 + [0.25] * 2
    assert out[KEEP_KEY].all() and out[IN_MASK_KEY].all()
    assert out["advantages"][4:].tolist() == [1.5, 1.5]
    assert torch.equal(out["completion_ids"][4], out["completion_ids"][0])
    adder.count = 1  # 5 rows cannot be split into steps_per_generation=2 micro-batches
    with pytest.raises(ValueError, match="steps_per_generation"):
        trainer._run_generation_phases(fixed_batch(len(trainer.processing_class)))
    adder.count = 2


def test_added_row_weight_scales_its_policy_loss(tmp_path, adder):
    """A batch of row 0 and two weighted copies of it (weight 0.25, same advantage): with `bnpo` the loss is
    (1 + 2·0.25)·Σ_row0 / (3·n_row0) = 0.5 × the loss of row 0 alone (all three rows share the mask)."""
    from grpo_helpers import loss_and_grads

    trainer = build_trainer(ExploreGRPOTrainer, ExploreGRPOConfig, tmp_path, loss_type="bnpo", steps_per_generation=1)
    trainer._last_rewards_per_func = torch.tensor([[1.0]])
    trainer.model.train()
    full = fixed_batch(len(trainer.processing_class))
    single = {k: (v if v.dim() == 0 else v[:1]) for k, v in full.items()}
    single["advantages"] = torch.tensor([1.5])
    trainer.num_generations = 1
    mixed = trainer._run_generation_phases(dict(single))
    assert mixed["completion_ids"].shape[0] == 3
    loss_single, _ = loss_and_grads(trainer, {**single, "num_items_in_batch": torch.tensor(5)})
    loss_mixed, _ = loss_and_grads(trainer, mixed)
    torch.testing.assert_close(loss_mixed, 0.5 * loss_single)
