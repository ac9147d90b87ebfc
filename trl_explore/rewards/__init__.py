"""TRL-contract reward functions: verifiable math answers (``math_accuracy_reward``, ``make_math_reward``).

Names are resolved lazily, and even :mod:`trl_explore.rewards.math` imports neither sympy nor latex2sympy2 (only the
verification worker processes do), so ``import trl_explore.rewards`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "MathReward": "math",
    "extract_normalized_answer": "math",
    "make_math_reward": "math",
    "math_accuracy_reward": "math",
    "math_reward_stats": "math",
    "reset_math_reward_stats": "math",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trl_explore.rewards' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from .math import (
        MathReward,
        extract_normalized_answer,
        make_math_reward,
        math_accuracy_reward,
        math_reward_stats,
        reset_math_reward_stats,
    )
