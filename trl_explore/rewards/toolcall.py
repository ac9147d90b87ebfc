"""SPEAR's tool-call reward with its curriculum (arXiv 2509.22601, Sec. 3.3), as a TRL reward function.

``R_toolcall = μ(t) · min(cap, per_call · n_calls)`` per conversational completion, ``μ(t)`` the schedule weight at
the trainer's global step (`trl_explore.functional.spear.toolcall_weight`): early in training tool use is rewarded on
its own, and the bonus fades out by ``steps`` (cosine) so that the outcome reward takes over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .._validation import check_choice, check_int, check_number
from ..functional.spear import TOOLCALL_SCHEDULES, toolcall_reward_value, toolcall_weight

__all__ = ["COUNT_MODES", "count_tool_calls", "toolcall_reward"]

logger = logging.getLogger(__name__)

COUNT_MODES = ("messages", "calls")
METRIC_NAME = "spear/toolcall_weight"


def count_tool_calls(completion: Any, count: str = "messages") -> int | None:
    """Tool calls in a conversational completion (a list of messages), ``None`` for a plain-text completion.

    ``count="messages"``: assistant messages with at least one tool call (SPEAR's math setting: one per turn);
    ``"calls"``: every entry of the assistant messages' ``tool_calls``. Malformed messages count 0.
    """
    check_choice(None, "count", COUNT_MODES, value=count)
    if not isinstance(completion, list):
        return None
    total = 0
    for message in completion:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            total += 1 if count == "messages" else len(calls)
    return total


def toolcall_reward(
    per_call: float = 0.1,
    cap: float = 1.0,
    schedule: str = "cosine",
    steps: int = 200,
    count: str = "messages",
) -> Callable[..., list[float | None]]:
    """A TRL reward function ``μ(t) · min(cap, per_call · n_calls)`` (SPEAR's tool-call curriculum).

    The returned function follows TRL's reward contract: it reads the ``trainer_state`` TRL passes (``global_step`` is
    ``t``; 0 when called outside a trainer), returns one value per completion (``None`` for plain-text completions,
    which TRL skips) and logs ``spear/toolcall_weight`` (μ(t)) through TRL's ``log_metric``. TRL's own
    ``tools/call_frequency`` and ``tools/failure_frequency`` are not duplicated.

    Args:
        per_call (`float`, *optional*, defaults to `0.1`):
            Reward per tool call, `>= 0`.
        cap (`float`, *optional*, defaults to `1.0`):
            Largest tool-call reward, `>= 0`.
        schedule (`str`, *optional*, defaults to `"cosine"`):
            μ(t): `"none"` (always 0: the reward is off), `"constant"` (always 1), `"cosine"` (from 1 at step 0 to 0 at
            `steps`, 0 afterwards).
        steps (`int`, *optional*, defaults to `200`):
            `T_μ` of the cosine schedule, `>= 1`.
        count (`str`, *optional*, defaults to `"messages"`):
            `"messages"`: assistant turns with tool calls; `"calls"`: individual tool calls.

    Returns:
        The reward function (named ``toolcall_reward``: TRL logs it as ``rewards/toolcall_reward/mean``).

    Example:
        ```python
        reward_funcs = [accuracy_reward, toolcall_reward(per_call=0.1, cap=1.0, schedule="cosine", steps=200)]
        ```
    """
    check_number(None, "per_call", value=per_call, low=0.0)
    check_number(None, "cap", value=cap, low=0.0)
    check_choice(None, "schedule", TOOLCALL_SCHEDULES, value=schedule)
    check_int(None, "steps", value=steps, low=1)
    check_choice(None, "count", COUNT_MODES, value=count)
    warned = []

    def reward(completions: list[Any], trainer_state: Any = None, log_metric: Any = None, **kwargs: Any):
        step = int(getattr(trainer_state, "global_step", 0) or 0)
        weight = toolcall_weight(step, schedule, steps)
        if log_metric is not None:
            log_metric(METRIC_NAME, weight)
        rewards: list[float | None] = []
        for completion in completions:
            calls = count_tool_calls(completion, count)
            if calls is None:
                if not warned:
                    logger.warning("toolcall_reward got a plain-text completion: it scores conversations only (None).")
                    warned.append(True)
                rewards.append(None)
                continue
            rewards.append(weight * toolcall_reward_value(calls, per_call, cap))
        return rewards

    reward.__name__ = reward.__qualname__ = "toolcall_reward"
    reward.per_call, reward.cap, reward.schedule, reward.steps, reward.count = per_call, cap, schedule, steps, count
    return reward
