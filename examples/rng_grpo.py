# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "peft",
#     "bitsandbytes; sys_platform == 'linux'",
# ]
# ///
"""Relative-negative GRPO (GRPO-N / GSPO-N, arXiv 2510.04028; NSR / PSR / W-REINFORCE, arXiv 2506.01347) on a
verifiable math dataset with `RelativeNegativeGRPOTrainer`.

`RelativeNegativeConfig` defaults to GRPO-N (`--advantage_mode grpo_n`); choose another mode on the command line:
`grpo` (baseline, same metrics), `gspo_n` (sets sequence-level importance sampling), `nsr`, `psr`, `w_reinforce`
(`--positive_weight 0.1`). `--negative_normalization selected_tokens` divides by the kept samples' tokens only (NSR's
released code). Completions are scored by `trl_explore.rewards.math_accuracy_reward`; `--pass_at_k 8` tracks the
capability boundary (pass@1 ... pass@8 on held-out problems, `pass_at_k.csv` in the output dir).

NSR with the released recipe (clip 0.2 both sides, no KL, lr 1e-6 constant, 4 optimizer steps per generation:
`--steps_per_generation` = 4 x `--gradient_accumulation_steps`), single GPU, LoRA (add `--load_in_4bit` for QLoRA):

```bash
accelerate launch --config_file examples/accelerate_configs/single_gpu_lora.yaml examples/rng_grpo.py \
    --model_name_or_path Qwen/Qwen2.5-Math-1.5B --dataset_name DigitalLearningGmbH/MATH-lighteval \
    --problem_column problem --solution_column solution --dataset_train_split train --dataset_test_split test \
    --advantage_mode nsr --negative_normalization selected_tokens \
    --epsilon 0.2 --epsilon_high 0.2 --beta 0.0 --loss_type dapo --learning_rate 1e-6 --lr_scheduler_type constant \
    --per_device_train_batch_size 8 --num_generations 8 --gradient_accumulation_steps 4 --steps_per_generation 16 \
    --use_peft --lora_r 32 --lora_alpha 64 --lora_target_modules all-linear \
    --max_completion_length 1024 --max_steps 110 --bf16 --logging_steps 1 --pass_at_k 8 --pass_at_k_steps 20 \
    --output_dir Qwen2.5-Math-1.5B-NSR
```

Multi-GPU (DeepSpeed ZeRO-3 or FSDP2) with vLLM colocated generation, GRPO-N:

```bash
accelerate launch --config_file examples/accelerate_configs/deepspeed_zero3.yaml examples/rng_grpo.py \
    --model_name_or_path Qwen/Qwen2.5-Math-7B --dataset_name DigitalLearningGmbH/MATH-lighteval \
    --problem_column problem --solution_column solution --advantage_mode grpo_n \
    --use_vllm --vllm_mode colocate --num_generations 8 --per_device_train_batch_size 16 \
    --gradient_accumulation_steps 8 --max_completion_length 3072 --bf16 --output_dir Qwen2.5-Math-7B-GRPO-N
```

A local file works as well: `--dataset_name data/train.jsonl` (json, jsonl, csv or parquet; or a `save_to_disk` folder).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from trl_explore.callbacks.pass_at_k import PassAtKCallback
from trl_explore.data import load_any_dataset, to_prompt_solution
from trl_explore.rewards import math_accuracy_reward
from trl_explore.trainers import RelativeNegativeConfig, RelativeNegativeGRPOTrainer

logger = logging.getLogger(__name__)

@dataclass
class RngScriptArguments(ScriptArguments):
    """Script arguments of the relative-negative example.

    Args:
        problem_column (`str`, *optional*, defaults to `"problem"`):
            Column with the problem: a string (wrapped into a user message) or a conversational prompt.
        solution_column (`str`, *optional*, defaults to `"solution"`):
            Column with the gold answer, passed to the reward as `solution`.
        system_prompt (`str`, *optional*):
            System message prepended to string problems.
        pass_at_k (`int`, *optional*, defaults to `0`):
            Largest k of the pass@k curve tracked by `PassAtKCallback` (`0`: off).
        pass_at_k_steps (`int`, *optional*, defaults to `50`):
            Evaluate pass@k every this many optimizer steps.
        pass_at_k_prompts (`int`, *optional*, defaults to `64`):
            Held-out problems for pass@k: the first rows of the test split when there is one, else rows held out of
            the training split.
    """

    problem_column: str = field(default="problem", metadata={"help": "Column holding the problem / prompt."})
    solution_column: str = field(default="solution", metadata={"help": "Column holding the gold answer."})
    system_prompt: str | None = field(
        default="Solve the problem step by step and put the final answer in \\boxed{}.",
        metadata={"help": "System message prepended to string problems (empty string: none)."},
    )
    pass_at_k: int = field(default=0, metadata={"help": "Largest k of the tracked pass@k curve (0: off)."})
    pass_at_k_steps: int = field(default=50, metadata={"help": "Evaluate pass@k every this many steps."})
    pass_at_k_prompts: int = field(default=64, metadata={"help": "Held-out problems for pass@k."})


def _columns(args: RngScriptArguments) -> tuple[str, str, str | None]:
    return args.problem_column, args.solution_column, args.system_prompt


def main(
    script_args: RngScriptArguments, training_args: RelativeNegativeConfig, model_args: ModelConfig
) -> RelativeNegativeGRPOTrainer:
    model_init_kwargs = dict(
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
        attn_implementation=model_args.attn_implementation,
        dtype=model_args.dtype,
    )
    quantization_config = get_quantization_config(model_args)
    if quantization_config is not None:
        model_init_kwargs["quantization_config"] = quantization_config
    training_args.model_init_kwargs = {**model_init_kwargs, **(training_args.model_init_kwargs or {})}

    dataset = load_any_dataset(script_args.dataset_name, script_args.dataset_config)
    train = to_prompt_solution(dataset[script_args.dataset_train_split], *_columns(script_args))
    evaluation = None
    has_test = script_args.dataset_test_split in dataset
    if training_args.eval_strategy != "no":
        evaluation = to_prompt_solution(dataset[script_args.dataset_test_split], *_columns(script_args))
    callbacks = []
    if script_args.pass_at_k > 0:
        if has_test:
            held_out = to_prompt_solution(dataset[script_args.dataset_test_split], *_columns(script_args))
            held_out = held_out.select(range(min(script_args.pass_at_k_prompts, len(held_out))))
        else:
            n = min(script_args.pass_at_k_prompts, len(train) // 2)
            held_out, train = train.select(range(n)), train.select(range(n, len(train)))
        callbacks.append(
            PassAtKCallback(
                held_out, math_accuracy_reward, k=script_args.pass_at_k, eval_steps=script_args.pass_at_k_steps
            )
        )

    trainer = RelativeNegativeGRPOTrainer(
        model=model_args.model_name_or_path,
        reward_funcs=[math_accuracy_reward],
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        peft_config=get_peft_config(model_args),
        callbacks=callbacks or None,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    logger.info("Model saved to %s", training_args.output_dir)
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)
    return trainer


if __name__ == "__main__":
    parser = TrlParser((RngScriptArguments, RelativeNegativeConfig, ModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config()
    main(script_args, training_args, model_args)
