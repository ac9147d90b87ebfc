"""Offline toy kit: a character-level tokenizer, tiny Qwen2/Llama models, synthetic verifiable tasks and warm start,
and a tool-calling task with a sandboxed calculator (`tool_task`, `tools`).

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
    "make_multiple_choice_sft_dataset": "multiple_choice",
    "multiple_choice_reward": "multiple_choice",
    "make_detection_texts": "detection",
    # tool-calling task (SPEAR)
    "calculator": "tools",
    "make_tool_tokenizer": "tool_task",
    "make_tool_dataset": "tool_task",
    "warm_start_tool_task": "tool_task",
    "evaluate_tool_pass_rate": "tool_task",
    "sample_tool_conversations": "tool_task",
    "spear_toy_settings": "tool_task",
    # the examples' offline route (a warm-started chat model, conversational data, rewards)
    "TOY_MATH_DATASETS": "route",
    "TOY_WARM_START": "route",
    "toy_model_path": "route",
    "toy_multiple_choice_model_path": "route",
    "TOY_MC_WARM_START": "route",
    "toy_base_model_path": "route",
    "toy_math_dataset": "route",
    "toy_sft_dataset": "route",
    "toy_math_reward": "route",
    # a real pretrained chat model, offline (SmolLM2-135M-Instruct)
    "PRETRAINED_ALIASES": "pretrained",
    "PRETRAINED_MODELS": "pretrained",
    "pretrained_model_path": "pretrained",
    "resolve_pretrained": "pretrained",
    "make_word_problem_dataset": "word_problems",
    "sample_word_problems": "word_problems",
}

# `warm_start` is both a submodule and a function. Import it eagerly (the module only imports the standard library at
# import time) so that `trl_explore.toy.warm_start` is always the function, whatever was imported first; the module
# stays reachable as `sys.modules["trl_explore.toy.warm_start"]` and through `from trl_explore.toy.warm_start import ...`.
from .warm_start import default_cache_dir, warm_start, warm_start_path  # noqa: E402

__all__ = sorted([*_LAZY, "default_cache_dir", "warm_start", "warm_start_path"])
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


if TYPE_CHECKING:  # pragma: no cover
    from .detection import make_detection_texts
    from .evaluation import evaluate_pass_rate
    from .expression import ExpressionError, parse_expression
    from .models import make_tiny_model
    from .multiple_choice import make_multiple_choice_dataset, make_multiple_choice_sft_dataset, multiple_choice_reward
    from .pretrained import PRETRAINED_ALIASES, PRETRAINED_MODELS, pretrained_model_path, resolve_pretrained
    from .route import (
        TOY_MATH_DATASETS,
        TOY_MC_WARM_START,
        TOY_WARM_START,
        toy_base_model_path,
        toy_math_dataset,
        toy_math_reward,
        toy_model_path,
        toy_multiple_choice_model_path,
        toy_sft_dataset,
    )
    from .tasks import (
        arithmetic_reward,
        countdown_reward,
        countdown_solutions,
        make_arithmetic_dataset,
        make_countdown_dataset,
        verify_countdown,
    )
    from .tokenizer import make_tokenizer
    from .tool_task import (
        evaluate_tool_pass_rate,
        make_tool_dataset,
        make_tool_tokenizer,
        sample_tool_conversations,
        spear_toy_settings,
        warm_start_tool_task,
    )
    from .tools import calculator
    from .word_problems import make_word_problem_dataset, sample_word_problems
