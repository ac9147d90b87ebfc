"""SPEAR end to end on the tiny model: a multi-turn tool-calling run (``tools=[...]`` and ``environment_factory``)
that triggers replay and logs every ``spear/*`` metric, and save → resume restoring the replay buffer (the same next
replay batch as the uninterrupted run)."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from grpo_helpers import build_trainer, config_kwargs, const_reward, tiny_model
from transformers import LogitsProcessor

from trl_explore.rewards import toolcall_reward
from trl_explore.toy.tool_task import make_tool_tokenizer
from trl_explore.toy.tools import calculator
from trl_explore.trainers import (
    ExploreComponent,
    SamplingRequest,
    SPEARConfig,
    SPEARGRPOTrainer,
    register_component,
    unregister_component,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
SPEAR_METRICS = {
    "spear/buffer_size", "spear/replay_triggered", "spear/replay_rows", "spear/sil_weight", "spear/baseline_p50",
    "spear/toolcall_weight",
}  # fmt: skip


class _ScriptFirstTurn(LogitsProcessor):
    """Force ``ids`` as the first tokens of the turn (left-padded prompts share one length)."""

    def __init__(self, ids: list[int]) -> None:
        self.ids, self.start = ids, None

    def __call__(self, input_ids, scores):
        if self.start is None:
            self.start = input_ids.shape[1]
        position = input_ids.shape[1] - self.start
        if position >= len(self.ids):
            return scores
        forced = torch.full_like(scores, -float("inf"))
        forced[:, self.ids[position]] = 0.0
        return forced


class _CallTheTool(ExploreComponent):
    """Test component: the first turn of every rollout calls the calculator (the untrained model cannot); later turns
    sample freely. Counts turns by the sampling calls: two per generation (tool round, answer)."""

    name = "test_call_the_tool"
    script: list[int] = []
    calls = 0

    @classmethod
    def enabled(cls, args):
        return True

    def sampling(self, ctx):
        type(self).calls += 1
        if type(self).calls % 2 == 1:
            return SamplingRequest(logits_processors=[_ScriptFirstTurn(type(self).script)])
        return None


class CalculatorEnv:
    """A minimal `environment_factory` environment exposing the calculator as a method."""

    def reset(self, **kwargs):
        return None

    def calculator(self, expression: str) -> str:
        """Evaluate an arithmetic expression exactly.

        Args:
            expression: An arithmetic expression, e.g. "3*4".
        """
        return calculator(expression)


@pytest.fixture
def scripted_tool_call():
    tok = make_tool_tokenizer()
    _CallTheTool.script = tok("<call>calculator expression=1+2</call><|im_end|>", add_special_tokens=False)["input_ids"]
    _CallTheTool.calls = 0
    register_component(_CallTheTool)
    yield tok
    unregister_component(_CallTheTool.name)


@pytest.mark.parametrize("route", ["tools", "environment"])
def test_tool_calling_run_triggers_replay_and_logs_spear_metrics(tmp_path, scripted_tool_call, route):
    tok = scripted_tool_call
    model = tiny_model(tok)
    args = SPEARConfig(
        **config_kwargs(
            tmp_path, max_steps=5, learning_rate=1e-3, max_completion_length=96, max_tool_calling_iterations=1,
            temperature=1.0, sil_buffer_size=2, sil_trigger_factor=1.0, sil_warmup_steps=2, loss_type="dr_grpo",
            clip_cov_replay_lb=-1e9, clip_cov_replay_ub=1e9,
        )
    )  # fmt: skip
    prompts = [[{"role": "user", "content": f"Compute {i}+{i}"}] for i in range(8)]
    extra = {"tools": [calculator]} if route == "tools" else {"environment_factory": CalculatorEnv}
    trainer = SPEARGRPOTrainer(
        model=model,
        reward_funcs=[const_reward, toolcall_reward(per_call=0.1, cap=1.0, schedule="cosine", steps=4)],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tok,
        **extra,
    )
    spear = next(c for c in trainer.components if c.name == "spear")
    stored = []
    original = spear._commit_pending

    def commit():
        stored.extend(e for e in spear.pending if "old_per_token_logps" in e.row)
        original()

    spear._commit_pending = commit
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    logs = [e for e in trainer.state.log_history if "spear/replay_triggered" in e]
    assert len(logs) == 5 and all(set(e) >= SPEAR_METRICS for e in logs)
    assert any(e["spear/replay_triggered"] == 1.0 and e["spear/replay_rows"] > 0 for e in logs)
    assert all(e["tools/call_frequency"] >= 1.0 for e in logs), "every rollout calls the calculator"
    assert logs[0]["spear/toolcall_weight"] == 1.0 and logs[-1]["spear/toolcall_weight"] == 0.0  # μ(0), μ(4)
    assert [e["spear/sil_weight"] for e in logs[:3]] == [0.0, pytest.approx(0.5), 1.0]  # γ(0), γ(1), γ(2)
    # stored rows carry the tool mask: the calculator's result tokens are excluded from their loss
    assert stored and all((e.row["tool_mask"] == 0).any() for e in stored)
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())


def test_save_resume_restores_the_buffer(tmp_path):
    """Run A trains 6 steps with a checkpoint after each; run B resumes from the checkpoint just before A's first
    replay after step 1 and must replay exactly the same stored rows (same groups, steps, ids, behaviour log-probs,
    advantages)."""
    common = dict(sil_buffer_size=2, sil_trigger_factor=1.0, sil_warmup_steps=0, learning_rate=1e-3)

    def record(trainer):
        spear = next(c for c in trainer.components if c.name == "spear")
        replays = {}
        original = spear._replay

        def replay(ctx, p50, weight):
            generation = spear.generation
            count = original(ctx, p50, weight)
            replays[generation] = (list(spear.last_replay), spear.last_replay_advantages.clone())
            return count

        spear._replay = replay
        return spear, replays

    first = build_trainer(
        SPEARGRPOTrainer, SPEARConfig, tmp_path, max_steps=6, save_strategy="steps", save_steps=1, **common
    )
    _, replays_a = record(first)
    first.train()
    later = sorted(g for g in replays_a if g >= 1)
    assert later, "run A must replay after its first step"
    generation = later[0]
    checkpoint = tmp_path / f"checkpoint-{generation}"
    assert (checkpoint / "explore_components_rank0.pt").is_file()

    second = build_trainer(
        SPEARGRPOTrainer, SPEARConfig, tmp_path / "resumed", max_steps=generation + 1, save_strategy="no", **common
    )
    spear_b, replays_b = record(second)
    second.train(resume_from_checkpoint=str(checkpoint))
    assert list(replays_b) == [generation]
    entries_a, adv_a = replays_a[generation]
    entries_b, adv_b = replays_b[generation]
    assert [(e.group, e.step, e.reward) for e in entries_a] == [(e.group, e.step, e.reward) for e in entries_b]
    for a, b in zip(entries_a, entries_b):
        assert a.row.keys() == b.row.keys()
        for key in a.row:  # exact: stored tensors restored from the checkpoint, no arithmetic
            torch.testing.assert_close(a.row[key], b.row[key], rtol=0, atol=0)
    torch.testing.assert_close(adv_a, adv_b, rtol=0, atol=0)
    assert spear_b.generation == generation + 1
