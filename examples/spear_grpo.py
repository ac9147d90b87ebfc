# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "transformers>=5.2",
#     "peft",
#     "bitsandbytes; sys_platform == 'linux'",
# ]
# ///
r"""SPEAR (arXiv 2509.22601) — self-imitation replay and curricula on TRL's tool calling — for math with a calculator.

`SPEARGRPOTrainer` trains with TRL's multi-turn tool calling (``tools=[calculator]``: the sandboxed calculator of
`trl_explore.toy.tools`, exact arithmetic, never `eval`). Rewards: the outcome (`math_accuracy_reward`, last
``\boxed{}`` vs the solution) plus SPEAR's tool-call curriculum `toolcall_reward` (μ(t) · min(cap, 0.1 · calls),
`--toolcall_schedule cosine` fading out over `--toolcall_steps`). `SPEARConfig` turns replay on: positive-advantage
completions are kept with their behaviour log-probs and, when the buffer triggers, a recalibrated power-of-two subset
is mixed into the next batch with weight γ(t) (`--sil_*` flags) and Clip-Cov on the replayed rows
(`--clip_cov_replay_*`). The model's chat template must support tool calling (Qwen2.5 / Qwen3 instruct models do;
`--model_name_or_path smollm2` gets SmolLM2's template extended to tool calls, `trl_explore.toy.pretrained_tools`).

Offline on a CPU (toy kit; no Hub, no GPU): `--model_name_or_path toy` warm-starts a tiny model on the toy tool task
(it learns to call the calculator; cached, `--toy_warm_start_steps`) and trains on toy tool problems
(`--dataset_name toy-tools`, the default with the toy model), graded by exact match: under a minute once the warm
start is cached; the first run builds it first (300 SFT steps on one thread, about 3 minutes on a 2-core CPU, 184 s
measured cold). Unset options take toy-sized values (see the end of `--help`):

```bash
python examples/spear_grpo.py --model_name_or_path toy --max_steps 8 \
    --per_device_train_batch_size 16 --num_generations 8 --max_completion_length 96 --learning_rate 5e-4 \
    --max_tool_calling_iterations 1 --sil_buffer_size 16 --sil_trigger_factor 1.0 --sil_warmup_steps 4 \
    --logging_steps 1 --report_to none --output_dir /tmp/spear_toy
```

Two processes on a CPU (gloo): `torchrun --nproc_per_node 2 examples/spear_grpo.py <the toy flags above>`.

Dr.BoT + SPEAR (the paper's math setting) on one GPU with LoRA (QLoRA: add `--load_in_4bit`, needs
`pip install 'trl_explore[quantization]'`):

```bash
accelerate launch --config_file examples/accelerate_configs/single_gpu_lora.yaml examples/spear_grpo.py \
    --model_name_or_path Qwen/Qwen3-1.7B --dataset_name open-r1/DAPO-Math-17k-Processed --dataset_config en \
    --problem_column prompt --solution_column solution \
    --beta 0.0 --epsilon 0.2 --epsilon_high 0.28 --scale_rewards none --loss_type dr_grpo \
    --mask_truncated_completions --mask_incomplete_completions --mask_repetitive_completions \
    --group_std_keep_ratio 0.75 --sil_warmup_steps 300 --max_tool_calling_iterations 4 \
    --use_peft --lora_r 32 --lora_alpha 64 --lora_target_modules all-linear --learning_rate 1e-5 \
    --per_device_train_batch_size 8 --num_generations 8 --gradient_accumulation_steps 4 \
    --max_completion_length 2048 --max_steps 300 --bf16 --logging_steps 1 --output_dir Qwen3-1.7B-SPEAR
```

Multi-GPU, DeepSpeed ZeRO-3 (`pip install deepspeed`; or `--config_file examples/accelerate_configs/fsdp2.yaml`, no
extra install), vLLM colocated generation (`pip install 'trl_explore[vllm]'`):

```bash
accelerate launch --config_file examples/accelerate_configs/deepspeed_zero3.yaml examples/spear_grpo.py \
    --model_name_or_path Qwen/Qwen3-8B --dataset_name open-r1/DAPO-Math-17k-Processed --dataset_config en \
    --problem_column prompt --solution_column solution --use_vllm --vllm_mode colocate \
    --scale_rewards none --loss_type dr_grpo --group_std_keep_ratio 0.75 --sil_buffer_size 512 \
    --num_generations 8 --per_device_train_batch_size 16 --gradient_accumulation_steps 8 \
    --max_completion_length 4096 --bf16 --output_dir Qwen3-8B-SPEAR
```

Data: a Hub name or a local file, `--dataset_name data/train.jsonl` (json, jsonl, csv or parquet; or a `save_to_disk`
folder) with a problem and a solution column. Without a GPU the script trains on the CPU in float32.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from trl import ModelConfig

from trl_explore._validation import check_choice, check_int, check_number
from trl_explore.rewards import toolcall_reward
from trl_explore.scripts import (
    ExampleParser,
    MathData,
    MathScriptArguments,
    UsageError,
    is_toy,
    load_math_data,
    math_grpo_trainer,
    run_example,
    set_model_init_kwargs,
    train_and_save,
)
from trl_explore.toy.tools import calculator
from trl_explore.toy.warm_start import torch_threads, toy_threads
from trl_explore.trainers import SPEARConfig, SPEARGRPOTrainer

logger = logging.getLogger(__name__)

#: ``--dataset_name`` of the toy tool task (the default with ``--model_name_or_path toy``)
TOY_TOOLS = "toy-tools"
#: Task settings of the toy route (one operation, operands up to 9): the warm start and the RL data share them
TOY_TASK = {"num_steps": 1, "max_operand": 9}


@dataclass
class SpearScriptArguments(MathScriptArguments):
    """Script arguments of the SPEAR example: `MathScriptArguments` plus the tool-call curriculum and the toy route.

    Args:
        toolcall_per_call (`float`, *optional*, defaults to `0.1`):
            Tool-call reward per call (`toolcall_reward`'s `per_call`).
        toolcall_cap (`float`, *optional*, defaults to `1.0`):
            Largest tool-call reward.
        toolcall_schedule (`str`, *optional*, defaults to `"cosine"`):
            μ(t): `"none"`, `"constant"` or `"cosine"`.
        toolcall_steps (`int`, *optional*, defaults to `200`):
            T_μ of the cosine schedule.
        toy_samples (`int`, *optional*, defaults to `1000`):
            Toy route: training problems.
        toy_warm_start_steps (`int`, *optional*, defaults to `300`):
            Toy route: SFT steps of the tool-calling warm start (cached per setting).
        toy_eval_prompts (`int`, *optional*, defaults to `32`):
            Toy route: held-out prompts on which the warm start's pass rate is measured (0: none).
    """

    system_prompt: str | None = field(
        default="Solve the problem. Use the calculator tool for arithmetic. Put the final answer in \\boxed{}.",
        metadata={"help": "System message prepended to string problems (empty string: none; not used by toy data)."},
    )
    toolcall_per_call: float = field(default=0.1, metadata={"help": "Tool-call reward per call."})
    toolcall_cap: float = field(default=1.0, metadata={"help": "Largest tool-call reward."})
    toolcall_schedule: str = field(
        default="cosine",
        metadata={"help": "μ(t) of the tool-call reward.", "choices": ["none", "constant", "cosine"]},
    )
    toolcall_steps: int = field(default=200, metadata={"help": "T_μ of the cosine schedule."})
    toy_warm_start_steps: int | None = field(
        default=300, metadata={"help": "Toy route: SFT steps of the tool-calling warm start (cached)."}
    )
    toy_eval_prompts: int = field(default=32, metadata={"help": "Toy route: held-out prompts of the warm start."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self, "toolcall_per_call", low=0.0)
        check_number(self, "toolcall_cap", low=0.0)
        check_choice(self, "toolcall_schedule", ["none", "constant", "cosine"])
        check_int(self, "toolcall_steps", low=1)
        check_int(self, "toy_eval_prompts", low=0)


#: Toy route (``--model_name_or_path toy``): these values unless the command line sets them (`ExampleParser`)
TOY_DEFAULTS = {
    "max_steps": 8,
    "per_device_train_batch_size": 16,
    "num_generations": 8,
    "max_completion_length": 96,
    "learning_rate": 5e-4,
    "max_tool_calling_iterations": 1,
    "sil_buffer_size": 16,
    "sil_trigger_factor": 1.0,
    "sil_warmup_steps": 4,
    "logging_steps": 1,
}


def make_parser() -> ExampleParser:
    return ExampleParser((SpearScriptArguments, SPEARConfig, ModelConfig), doc=__doc__, toy_defaults=TOY_DEFAULTS)


def _toy_data(script_args: SpearScriptArguments, training_args: SPEARConfig) -> MathData:
    """The toy route: a warm-started tiny model that calls the calculator, the toy tool task, exact-match reward."""
    from trl_explore.toy import arithmetic_reward
    from trl_explore.toy.tool_task import make_tool_dataset, warm_start_tool_task

    if script_args.dataset_name not in (None, TOY_TOOLS):
        raise UsageError(
            f"--model_name_or_path toy trains on the toy tool task (--dataset_name {TOY_TOOLS}), got "
            f"--dataset_name {script_args.dataset_name!r}."
        )
    script_args.dataset_name = TOY_TOOLS
    with torch_threads(toy_threads()):  # a tiny model: one thread (docs/toy.md, "Threads"), restored afterwards
        path = warm_start_tool_task(
            max_steps=script_args.toy_warm_start_steps or 300,
            num_eval_prompts=script_args.toy_eval_prompts,
            **TOY_TASK,
        )
    logger.info("toy route: model %s (warm start on the toy tool task)", path)
    train = make_tool_dataset(script_args.toy_samples, seed=1000 + training_args.seed, **TOY_TASK)
    evaluation = None
    if training_args.eval_strategy != "no":
        evaluation = make_tool_dataset(64, seed=20_000 + training_args.seed, **TOY_TASK)
    return MathData(str(path), train.select_columns(["prompt", "solution"]), evaluation, arithmetic_reward, toy=True)


def _tool_tokenizer(name: str | None, path: str):
    """``--model_name_or_path smollm2``: SmolLM2's tokenizer with its template extended to tool calling
    (`trl_explore.toy.pretrained_tools`; its own template drops tool calls, which TRL refuses); any other model:
    ``None`` (TRL loads the model's tokenizer, whose template must support tool calling)."""
    from transformers import AutoTokenizer

    from trl_explore.toy.pretrained import PRETRAINED_ALIASES
    from trl_explore.toy.pretrained_tools import with_smollm2_tool_template

    if name is None or str(name).lower() not in PRETRAINED_ALIASES or os.path.exists(str(name)):
        return None
    return with_smollm2_tool_template(AutoTokenizer.from_pretrained(path))


def main(script_args: SpearScriptArguments, training_args: SPEARConfig, model_args: ModelConfig) -> SPEARGRPOTrainer:
    curriculum = toolcall_reward(
        per_call=script_args.toolcall_per_call,
        cap=script_args.toolcall_cap,
        schedule=script_args.toolcall_schedule,
        steps=script_args.toolcall_steps,
    )
    set_model_init_kwargs(training_args, model_args)
    if is_toy(model_args.model_name_or_path):
        data = _toy_data(script_args, training_args)
    else:
        data = load_math_data(script_args, training_args, model_args)
    trainer = math_grpo_trainer(
        SPEARGRPOTrainer,
        data,
        training_args,
        model_args,
        reward_funcs=[data.reward, curriculum],
        tools=[calculator],
        processing_class=_tool_tokenizer(model_args.model_name_or_path, data.model),
    )
    return train_and_save(trainer, training_args, script_args.dataset_name)


if __name__ == "__main__":
    run_example(make_parser(), main)
