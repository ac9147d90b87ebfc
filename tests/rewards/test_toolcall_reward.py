"""`toolcall_reward`: μ(t) · min(cap, per_call · n) per conversational completion, schedules read from TRL's
``trainer_state``, the ``spear/toolcall_weight`` metric, malformed and plain-text completions, argument errors."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from trl_explore.rewards import count_tool_calls, toolcall_reward

CALL = {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "1+1"}}}


def _conversation(turns: list[int]) -> list[dict]:
    """Assistant turns with the given numbers of tool calls, each followed by its tool results."""
    messages = []
    for calls in turns:
        messages.append({"role": "assistant", "content": "", "tool_calls": [CALL] * calls})
        messages.extend({"role": "tool", "name": "calculator", "content": "2"} for _ in range(calls))
    messages.append({"role": "assistant", "content": "\\boxed{2}"})
    return messages


def test_count_tool_calls():
    """[2, 1] calls in two turns: 2 turns with calls ("messages"), 3 calls ("calls"); malformed entries count 0."""
    assert count_tool_calls(_conversation([2, 1])) == 2
    assert count_tool_calls(_conversation([2, 1]), "calls") == 3
    assert count_tool_calls(_conversation([])) == 0
    assert count_tool_calls([{"role": "assistant", "tool_calls": "oops"}, "junk", {"role": "user"}]) == 0
    assert count_tool_calls("plain text") is None


def test_reward_values_and_schedule():
    """per_call 0.1, cap 1, cosine over 200 steps. At t = 0 (μ = 1): 3 turns with calls -> 0.3; 12 -> capped 1.0.
    At t = 100 (μ = 0.5): 3 turns -> 0.15. At t = 200 (μ = 0): 0."""
    reward = toolcall_reward(per_call=0.1, cap=1.0, schedule="cosine", steps=200)
    logged = []
    completions = [_conversation([1, 1, 1]), _conversation([1] * 12), _conversation([])]

    def call(step):
        return reward(
            prompts=[None] * 3, completions=completions, trainer_state=SimpleNamespace(global_step=step),
            log_metric=lambda name, value: logged.append((name, value)),
        )  # fmt: skip

    assert call(0) == [pytest.approx(0.3), 1.0, 0.0]
    assert call(100) == [pytest.approx(0.15), pytest.approx(0.5), 0.0]
    assert call(200) == [0.0, 0.0, 0.0]
    assert logged == [("spear/toolcall_weight", 1.0), ("spear/toolcall_weight", pytest.approx(0.5)),
                      ("spear/toolcall_weight", 0.0)]  # fmt: skip
    assert reward.__name__ == "toolcall_reward"
    # constant: per_call 0.5, cap 1.5, counting calls: [2, 1] -> min(1.5, 1.5) = 1.5 at any step
    constant = toolcall_reward(per_call=0.5, cap=1.5, schedule="constant", count="calls")
    assert constant(completions=[_conversation([2, 1])], trainer_state=SimpleNamespace(global_step=10**6)) == [1.5]
    assert toolcall_reward(schedule="none")(completions=[_conversation([5])]) == [0.0]


def test_outside_a_trainer_and_plain_text(caplog):
    """No trainer_state: t = 0 (μ = 1). Plain-text completions are skipped (None) with one warning."""
    reward = toolcall_reward()
    assert reward(completions=[_conversation([1])]) == [pytest.approx(0.1)]
    assert reward(completions=["text", "more"]) == [None, None]
    assert sum("plain-text" in r.message for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"per_call": -0.1}, "per_call"), ({"cap": math.nan}, "cap"), ({"schedule": "linear"}, "schedule"),
     ({"steps": 0}, "steps"), ({"count": "tokens"}, "count")],
)  # fmt: skip
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        toolcall_reward(**kwargs)
