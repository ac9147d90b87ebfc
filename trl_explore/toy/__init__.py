"""Offline toy kit: a character-level tokenizer, tiny Qwen2/Llama models, synthetic verifiable tasks and warm start.

Everything is built in code (no Hub access) so tests, the demo and notebook smoke runs work offline on a CPU.
Names are imported lazily, so ``import trl_explore.toy`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "make_tokenizer": "tokenizer",
    "make_tiny_model": "models",
    "make_arithmetic_dataset": "tasks",
    "make_countdown_dataset": "tasks",
    "countdown_reward": "tasks",
    "arithmetic_reward": "tasks",
    "countdown_solutions": "tasks",
    "verify_countdown": "tasks",
    "parse_expression": "expression",
    "ExpressionError": "expression",
    "evaluate_pass_rate": "evaluation",
    "make_multiple_choice_dataset": "multiple_choice",
}

# `warm_start` is both a submodule and a function. Import it eagerly (the module only imports the standard library at
# import time) so that `trl_explore.toy.warm_start` is always the function, whatever was imported first; the module
# stays reachable as `sys.modules["trl_explore.toy.warm_start"]` and through `from trl_explore.toy.warm_start import ...`.
from .warm_start import default_cache_dir, warm_start, warm_start_path  # noqa: E402

__all__ = sorted([*_LAZY, "default_cache_dir", "warm_start", "warm_start_path"])
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


if TYPE_CHECKING:  # pragma: no cover
    from .evaluation import evaluate_pass_rate
    from .expression import ExpressionError, parse_expression
    from .models import make_tiny_model
    from .multiple_choice import make_multiple_choice_dataset
    from .tasks import (
        arithmetic_reward,
        countdown_reward,
        countdown_solutions,
        make_arithmetic_dataset,
        make_countdown_dataset,
        verify_countdown,
    )
    from .tokenizer import make_tokenizer
