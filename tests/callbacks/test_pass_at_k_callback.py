"""`PassAtKCallback`: hand-derived curves from scripted rewards, CSV output, and a GRPO run."""

import csv

import pytest
import torch
from datasets import Dataset

from trl_explore.callbacks.pass_at_k import PassAtKCallback
from trl_explore.toy import make_tiny_model, make_tokenizer


class _Args:
    def __init__(self, output_dir):
        self.output_dir = str(output_dir)
        self.temperature = 1.0
        self.max_completion_length = 4
        self.seed = 0
        self.process_index = 0


def _first_sample_right(k):
    """Reward 1 for the first of every k consecutive completions (one prompt's samples), 0 for the rest."""

    def reward(completions, **kwargs):
        return [1.0 if i % k == 0 else 0.0 for i in range(len(completions))]

    return reward


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    tok = make_tokenizer()
    return make_tiny_model(tok, seed=0), tok


def test_curve_is_hand_derived(tiny, tmp_path):
    """Each prompt has c = 1 correct of k = 4: pass@1 = 1/4, pass@2 = 1 - C(3,2)/C(4,2) = 1/2, pass@4 = 1."""
    model, tok = tiny
    ds = Dataset.from_dict({"prompt": ["1+1=", "2+2=", "3+3="], "solution": ["2", "4", "6"]})
    cb = PassAtKCallback(ds, _first_sample_right(4), k=4, eval_steps=1, show_progress=False)
    row = cb.evaluate(model, tok, _Args(tmp_path), step=0)
    assert row["pass@1"] == pytest.approx(0.25)
    assert row["pass@2"] == pytest.approx(0.5)
    assert row["pass@4"] == pytest.approx(1.0)
    with (tmp_path / "pass_at_k.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["k"]) for r in rows] == [("0", "1"), ("0", "2"), ("0", "4")]
    assert float(rows[1]["pass_at_k"]) == pytest.approx(0.5)


def test_reward_receives_repeated_columns_and_none_is_wrong(tiny, tmp_path):
    model, tok = tiny
    ds = Dataset.from_dict({"prompt": ["a", "b"], "solution": ["x", "y"]})
    seen = {}

    def reward(prompts, completions, completion_ids, solution, **kwargs):
        seen["solution"] = solution
        seen["n"] = len(completions)
        assert len(completion_ids) == len(completions)
        return [None] * len(completions)

    row = PassAtKCallback(ds, reward, k=2, show_progress=False).evaluate(model, tok, _Args(tmp_path), step=3)
    assert seen == {"solution": ["x", "x", "y", "y"], "n": 4}
    assert row["pass@1"] == 0.0 and row["pass@2"] == 0.0


def test_validation():
    ds = Dataset.from_dict({"prompt": ["a"]})
    with pytest.raises(ValueError, match="`k`"):
        PassAtKCallback(ds, _first_sample_right(1), k=0)
    with pytest.raises(ValueError, match="ks"):
        PassAtKCallback(ds, _first_sample_right(1), k=4, ks=[8])
    with pytest.raises(ValueError, match="prompt"):
        PassAtKCallback(Dataset.from_dict({"q": ["a"]}), _first_sample_right(1))


def test_runs_inside_grpo_training(tiny, tmp_path):
    """Evaluates at steps 0, 2 (eval_steps) and 3 (end); logs `pass_at_k/*` and writes the CSV."""
    from trl import GRPOConfig, GRPOTrainer

    model, tok = tiny
    ds = Dataset.from_dict({"prompt": ["1+1=", "2+2=", "3+3=", "4+4="] * 4})
    held_out = Dataset.from_dict({"prompt": ["5+5=", "6+6="]})
    cb = PassAtKCallback(held_out, _first_sample_right(2), k=2, eval_steps=2, show_progress=False)
    args = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=4,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
    )
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        GRPOTrainer(
            model=model,
            reward_funcs=lambda completions, **k: [float(len(c)) for c in completions],
            args=args,
            train_dataset=ds,
            processing_class=tok,
            callbacks=[cb],
        ).train()
    finally:
        torch.set_num_threads(previous)
    assert [row["step"] for row in cb.history] == [0, 2, 3]
    assert all(row["pass@1"] == pytest.approx(0.5) and row["pass@2"] == 1.0 for row in cb.history)
    with (tmp_path / "pass_at_k.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 6
