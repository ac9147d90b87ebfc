"""Pieces shared by the example scripts (`examples/*.py`): math-dataset arguments and model loading settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trl import ModelConfig, ScriptArguments, get_quantization_config

from .data import load_any_dataset, to_prompt_solution


@dataclass
class MathScriptArguments(ScriptArguments):
    """`trl.ScriptArguments` plus the columns of a math dataset graded by `math_accuracy_reward`.

    Args:
        problem_column (`str`, *optional*, defaults to `"problem"`):
            Column with the problem: a string (wrapped into a user message) or a conversational prompt.
        solution_column (`str`, *optional*, defaults to `"solution"`):
            Column with the gold answer, passed to the reward as `solution`.
        system_prompt (`str`, *optional*):
            System message prepended to string problems.
    """

    problem_column: str = field(default="problem", metadata={"help": "Column holding the problem / prompt."})
    solution_column: str = field(default="solution", metadata={"help": "Column holding the gold answer."})
    system_prompt: str | None = field(
        default="Solve the problem step by step and put the final answer in \\boxed{}.",
        metadata={"help": "System message prepended to string problems (empty string: none)."},
    )

    def load_split(self, split: str, data: Any | None = None) -> Any:
        """`split` of the dataset (`dataset_name` / `dataset_config`) as TRL `prompt` + `solution` rows."""
        data = data if data is not None else load_any_dataset(self.dataset_name, self.dataset_config)
        return to_prompt_solution(data[split], self.problem_column, self.solution_column, self.system_prompt)


def set_model_init_kwargs(training_args: Any, model_args: ModelConfig, quantization: bool = True) -> None:
    """Fill ``training_args.model_init_kwargs`` from TRL's `ModelConfig` (revision, remote code, attention, dtype and,
    with `quantization`, the bitsandbytes config of ``--load_in_4bit`` / ``--load_in_8bit``); values already set on
    ``training_args.model_init_kwargs`` win."""
    kwargs: dict[str, Any] = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    quantization_config = get_quantization_config(model_args) if quantization else None
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    training_args.model_init_kwargs = {**kwargs, **(training_args.model_init_kwargs or {})}
