# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "peft",
#     "bitsandbytes; sys_platform == 'linux'",
# ]
# ///
r"""Lp-Reg GRPO (arXiv 2510.03222) on a verifiable math dataset with `LpRegGRPOTrainer`.

`LpRegConfig` carries the released recipe's defaults (κ = 0.02, ρ = 0.01, β = 1, clip ratio in [0, 10], no reference
KL, token-mean loss, temperature 1, top-p 1, constant lr 1e-6); every `--lp_reg_*` flag overrides one of them.
Completions are scored by `trl_explore.rewards.math_accuracy_reward` (last ``\boxed{}`` answer vs the solution).

Offline on a CPU (toy kit; no Hub, no GPU; a cached warm start of a tiny model, then RL, under a minute):

```bash
python examples/lpreg_grpo.py --model_name_or_path toy --dataset_name toy-arithmetic \
    --learning_rate 1e-4 --max_steps 10 --per_device_train_batch_size 16 --num_generations 8 \
    --max_completion_length 24 --logging_steps 1 --report_to none --output_dir /tmp/lpreg_toy
```

Two processes on a CPU (gloo): `torchrun --nproc_per_node 2 examples/lpreg_grpo.py <the toy flags above>`.

One GPU, LoRA (QLoRA: add `--load_in_4bit`, needs `pip install 'trl_explore[quantization]'`):

```bash
accelerate launch --config_file examples/accelerate_configs/single_gpu_lora.yaml examples/lpreg_grpo.py \
    --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct \
    --dataset_name open-r1/DAPO-Math-17k-Processed --dataset_config en --dataset_train_split train \
    --problem_column prompt --solution_column solution \
    --use_peft --lora_r 32 --lora_alpha 64 --lora_target_modules all-linear --learning_rate 1e-5 \
    --per_device_train_batch_size 8 --num_generations 8 --gradient_accumulation_steps 4 \
    --max_completion_length 1024 --max_steps 200 --bf16 --logging_steps 1 \
    --output_dir Qwen2.5-0.5B-LpReg
```

Multi-GPU, DeepSpeed ZeRO-3 (`pip install deepspeed`; or `--config_file examples/accelerate_configs/fsdp2.yaml`, no
extra install), vLLM colocated generation (`pip install 'trl_explore[vllm]'`), the 14B recipe's 256 prompts x 8:

```bash
accelerate launch --config_file examples/accelerate_configs/deepspeed_zero3.yaml examples/lpreg_grpo.py \
    --model_name_or_path Qwen/Qwen3-14B-Base --dataset_name open-r1/DAPO-Math-17k-Processed --dataset_config en \
    --problem_column prompt --solution_column solution \
    --use_vllm --vllm_mode colocate --num_generations 8 --per_device_train_batch_size 16 \
    --gradient_accumulation_steps 16 --max_completion_length 8192 --bf16 --output_dir Qwen3-14B-LpReg
```

Data: a Hub name or a local file, `--dataset_name data/train.jsonl` (json, jsonl, csv or parquet; or a `save_to_disk`
folder) with a problem and a solution column. Without a GPU the script trains on the CPU in float32.
"""

from __future__ import annotations

from trl import ModelConfig

from trl_explore.scripts import (
    ExampleParser,
    MathScriptArguments,
    load_math_data,
    math_grpo_trainer,
    run_example,
    set_model_init_kwargs,
    train_and_save,
)
from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer

#: Toy route (``--model_name_or_path toy``): these values unless the command line sets them (`ExampleParser`)
TOY_DEFAULTS = {
    "learning_rate": 1e-4,
    "max_steps": 10,
    "per_device_train_batch_size": 16,
    "num_generations": 8,
    "max_completion_length": 24,
    "logging_steps": 1,
}


def make_parser() -> ExampleParser:
    return ExampleParser((MathScriptArguments, LpRegConfig, ModelConfig), doc=__doc__, toy_defaults=TOY_DEFAULTS)


def main(script_args: MathScriptArguments, training_args: LpRegConfig, model_args: ModelConfig) -> LpRegGRPOTrainer:
    set_model_init_kwargs(training_args, model_args)
    data = load_math_data(script_args, training_args, model_args)
    trainer = math_grpo_trainer(LpRegGRPOTrainer, data, training_args, model_args)
    return train_and_save(trainer, training_args, script_args.dataset_name)


if __name__ == "__main__":
    run_example(make_parser(), main)
