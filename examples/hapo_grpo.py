# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "peft",
#     "bitsandbytes; sys_platform == 'linux'",
# ]
# ///
r"""HAPO GRPO (arXiv 2509.16591) on a verifiable math dataset with `HAPOGRPOTrainer`.

`HAPOConfig` turns on the four parts of HAPO with the released recipe's defaults: token-level group average
advantages, differential advantage redistribution (β = 1), asymmetric adaptive clipping (α = 1, clip 0.2 / 0.2, dual
clip 10) and adaptive temperature sampling of the rollouts (τ = 0.05, pivot 0.8), 16 optimizer steps per generation
batch, token-mean loss, no KL, lr 1e-6 with 10 warm-up steps, weight decay 0.1. Every `--hapo_*` flag overrides one
of them (`--hapo_adaptive_temperature false`, `--hapo_sign released`, ...). Completions are scored by
`trl_explore.rewards.math_accuracy_reward`.

Offline on a CPU (toy kit; no Hub, no GPU; a cached warm start of a tiny model, then HAPO with 4 optimizer steps per
generation, under a minute):

```bash
python examples/hapo_grpo.py --model_name_or_path toy --dataset_name toy-arithmetic \
    --steps_per_generation 4 --learning_rate 1e-4 --warmup_steps 0 --max_steps 8 \
    --per_device_train_batch_size 16 --num_generations 8 --max_completion_length 24 \
    --logging_steps 1 --report_to none --output_dir /tmp/hapo_toy
```

Two processes on a CPU (gloo): `torchrun --nproc_per_node 2 examples/hapo_grpo.py <the toy flags above>`.

One GPU, LoRA (QLoRA: add `--load_in_4bit`, needs `pip install 'trl_explore[quantization]'`):

```bash
accelerate launch --config_file examples/accelerate_configs/single_gpu_lora.yaml examples/hapo_grpo.py \
    --model_name_or_path Qwen/Qwen2.5-Math-1.5B \
    --dataset_name open-r1/DAPO-Math-17k-Processed --dataset_config en --dataset_train_split train \
    --problem_column prompt --solution_column solution \
    --use_peft --lora_r 32 --lora_alpha 64 --lora_target_modules all-linear --learning_rate 1e-5 \
    --per_device_train_batch_size 16 --num_generations 16 --gradient_accumulation_steps 1 \
    --steps_per_generation 8 --max_completion_length 2048 --max_steps 200 --bf16 --logging_steps 1 \
    --output_dir Qwen2.5-Math-1.5B-HAPO
```

Multi-GPU, DeepSpeed ZeRO-3 (`pip install deepspeed`; or `--config_file examples/accelerate_configs/fsdp2.yaml`, no
extra install), vLLM colocated generation (`pip install 'trl_explore[vllm]'`; the adaptive temperature runs inside vLLM
through the `vllm.logits_processors` entry point this package installs):

```bash
accelerate launch --config_file examples/accelerate_configs/deepspeed_zero3.yaml examples/hapo_grpo.py \
    --model_name_or_path Qwen/Qwen2.5-Math-7B --dataset_name open-r1/DAPO-Math-17k-Processed --dataset_config en \
    --problem_column prompt --solution_column solution \
    --use_vllm --vllm_mode colocate --num_generations 16 --per_device_train_batch_size 32 \
    --max_completion_length 8192 --bf16 --output_dir Qwen2.5-Math-7B-HAPO
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
from trl_explore.trainers import HAPOConfig, HAPOGRPOTrainer

#: Toy route (``--model_name_or_path toy``): these values unless the command line sets them (`ExampleParser`)
TOY_DEFAULTS = {
    "steps_per_generation": 4,
    "learning_rate": 1e-4,
    "warmup_steps": 0,
    "max_steps": 8,
    "per_device_train_batch_size": 16,
    "num_generations": 8,
    "max_completion_length": 24,
    "logging_steps": 1,
}


def make_parser() -> ExampleParser:
    return ExampleParser((MathScriptArguments, HAPOConfig, ModelConfig), doc=__doc__, toy_defaults=TOY_DEFAULTS)


def main(script_args: MathScriptArguments, training_args: HAPOConfig, model_args: ModelConfig) -> HAPOGRPOTrainer:
    set_model_init_kwargs(training_args, model_args)
    data = load_math_data(script_args, training_args, model_args)
    trainer = math_grpo_trainer(HAPOGRPOTrainer, data, training_args, model_args)
    return train_and_save(trainer, training_args, script_args.dataset_name)


if __name__ == "__main__":
    run_example(make_parser(), main)
