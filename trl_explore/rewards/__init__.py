"""TRL-contract reward functions: verifiable math answers (``math_accuracy_reward``, ``make_math_reward``) and SPEAR's
tool-call curriculum (``toolcall_reward``).

Names are resolved lazily, and even :mod:`trl_explore.rewards.math` imports neither sympy nor latex2sympy2 (only the
verification worker processes do), so ``import trl_explore.rewards`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "MathReward": "math",
    "extract_normalized_answer": "math",
    "make_math_reward": "math",
    "math_accuracy_reward": "math",
    "math_reward_stats": "math",
    "reset_math_reward_stats": "math",
    "count_tool_calls": "toolcall",
    "toolcall_reward": "toolcall",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


if TYPE_CHECKING:  # pragma: no cover
    from .math import (
        MathReward,
        extract_normalized_answer,
        make_math_reward,
        math_accuracy_reward,
        math_reward_stats,
        reset_math_reward_stats,
    )
    from .toolcall import count_tool_calls, toolcall_reward
