# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "peft",
#     "bitsandbytes; sys_platform == 'linux'",
# ]
# ///
r"""Relative-negative GRPO (GRPO-N / GSPO-N, arXiv 2510.04028; NSR / PSR / W-REINFORCE, arXiv 2506.01347) on a
verifiable math dataset with `RelativeNegativeGRPOTrainer`.

`RelativeNegativeConfig` defaults to GRPO-N (`--advantage_mode grpo_n`); choose another mode on the command line:
`grpo` (baseline, same metrics), `gspo_n` (sets sequence-level importance sampling), `nsr`, `psr`, `w_reinforce`
(`--positive_weight 0.1`). `--negative_normalization selected_tokens` divides by the kept samples' tokens only (NSR's
released code). Completions are scored by `trl_explore.rewards.math_accuracy_reward`; `--pass_at_k 8` tracks the
capability boundary (pass@1 ... pass@8 on held-out problems, `pass_at_k.csv` in the output dir), sampled with the
papers' evaluation protocol (temperature 0.6, top-p 0.95; `--pass_at_k_protocol training` samples like training).

Offline on a CPU (toy kit; no Hub, no GPU; a cached warm start of a tiny model, then NSR with 4 optimizer steps per
generation, under a minute):

```bash
python examples/rng_grpo.py --model_name_or_path toy --dataset_name toy-arithmetic \
    --advantage_mode nsr --negative_normalization selected_tokens --steps_per_generation 4 \
    --learning_rate 1e-4 --max_steps 8 --per_device_train_batch_size 16 --num_generations 8 \
    --max_completion_length 24 --pass_at_k 4 --pass_at_k_steps 4 --pass_at_k_prompts 16 \
    --logging_steps 1 --report_to none --output_dir /tmp/rng_toy
```

Two processes on a CPU (gloo): `torchrun --nproc_per_node 2 examples/rng_grpo.py <the toy flags above>`.

NSR with the released recipe (clip 0.2 both sides, no KL, lr 1e-6 constant, 4 optimizer steps per generation:
`--steps_per_generation` = 4 x `--gradient_accumulation_steps`), one GPU, LoRA (QLoRA: add `--load_in_4bit`, needs
`pip install 'trl_explore[quantization]'`):

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

Multi-GPU, DeepSpeed ZeRO-3 (`pip install deepspeed`; or `--config_file examples/accelerate_configs/fsdp2.yaml`, no
extra install), vLLM colocated generation (`pip install 'trl_explore[vllm]'`), GRPO-N:

```bash
accelerate launch --config_file examples/accelerate_configs/deepspeed_zero3.yaml examples/rng_grpo.py \
    --model_name_or_path Qwen/Qwen2.5-Math-7B --dataset_name DigitalLearningGmbH/MATH-lighteval \
    --problem_column problem --solution_column solution --advantage_mode grpo_n \
    --use_vllm --vllm_mode colocate --num_generations 8 --per_device_train_batch_size 16 \
    --gradient_accumulation_steps 8 --max_completion_length 3072 --bf16 --output_dir Qwen2.5-Math-7B-GRPO-N
```

Data: a Hub name or a local file, `--dataset_name data/train.jsonl` (json, jsonl, csv or parquet; or a `save_to_disk`
folder) with a problem and a solution column. Without a GPU the script trains on the CPU in float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import ModelConfig

from trl_explore._validation import check_choice, check_int
from trl_explore.callbacks.pass_at_k import PAPER_PROTOCOL, PassAtKCallback
from trl_explore.scripts import (
    ExampleParser,
    MathScriptArguments,
    load_math_data,
    math_grpo_trainer,
    run_example,
    set_model_init_kwargs,
    train_and_save,
)
from trl_explore.trainers import RelativeNegativeConfig, RelativeNegativeGRPOTrainer


@dataclass
class RngScriptArguments(MathScriptArguments):
    """Script arguments of the relative-negative example: `MathScriptArguments` plus pass@k tracking.

    Args:
        pass_at_k (`int`, *optional*, defaults to `0`):
            Largest k of the pass@k curve tracked by `PassAtKCallback` (`0`: off).
        pass_at_k_steps (`int`, *optional*, defaults to `50`):
            Evaluate pass@k every this many optimizer steps.
        pass_at_k_prompts (`int`, *optional*, defaults to `64`):
            Held-out problems for pass@k: the first rows of the test split when there is one, else rows held out of
            the training split.
        pass_at_k_protocol (`str`, *optional*, defaults to `"paper"`):
            Sampling of the pass@k evaluation: `"paper"` (temperature 0.6, top-p 0.95, the papers' protocol) or
            `"training"` (the training temperature and top-p 1).
    """

    pass_at_k: int = field(default=0, metadata={"help": "Largest k of the tracked pass@k curve (0: off)."})
    pass_at_k_steps: int = field(default=50, metadata={"help": "Evaluate pass@k every this many steps."})
    pass_at_k_prompts: int = field(default=64, metadata={"help": "Held-out problems for pass@k."})
    pass_at_k_protocol: str = field(
        default="paper",
        metadata={
            "help": "pass@k sampling: paper (T 0.6, top-p 0.95) or training (training temperature, top-p 1).",
            "choices": ["paper", "training"],
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "pass_at_k", low=0)
        check_int(self, "pass_at_k_steps", low=1)
        check_int(self, "pass_at_k_prompts", low=1)
        check_choice(self, "pass_at_k_protocol", ["paper", "training"])


#: Toy route (``--model_name_or_path toy``): these values unless the command line sets them (`ExampleParser`)
TOY_DEFAULTS = {
    "steps_per_generation": 4,
    "learning_rate": 1e-4,
    "max_steps": 8,
    "per_device_train_batch_size": 16,
    "num_generations": 8,
    "max_completion_length": 24,
    "logging_steps": 1,
}


def make_parser() -> ExampleParser:
    return ExampleParser(
        (RngScriptArguments, RelativeNegativeConfig, ModelConfig), doc=__doc__, toy_defaults=TOY_DEFAULTS
    )


def main(
    script_args: RngScriptArguments, training_args: RelativeNegativeConfig, model_args: ModelConfig
) -> RelativeNegativeGRPOTrainer:
    set_model_init_kwargs(training_args, model_args)
    held_out = script_args.pass_at_k_prompts if script_args.pass_at_k > 0 else 0
    data = load_math_data(script_args, training_args, model_args, held_out=held_out)
    callbacks = []
    if script_args.pass_at_k > 0:
        sampling = PAPER_PROTOCOL if script_args.pass_at_k_protocol == "paper" else {}
        callbacks.append(
            PassAtKCallback(
                data.held_out, data.reward, k=script_args.pass_at_k, eval_steps=script_args.pass_at_k_steps, **sampling
            )
        )

    trainer = math_grpo_trainer(
        RelativeNegativeGRPOTrainer, data, training_args, model_args, callbacks=callbacks or None
    )
    return train_and_save(trainer, training_args, script_args.dataset_name)


if __name__ == "__main__":
    run_example(make_parser(), main)
