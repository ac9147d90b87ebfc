# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "peft",
#     "bitsandbytes; sys_platform == 'linux'",
# ]
# ///
r"""Rank-aware next-token prediction (arXiv 2512.22955): continued pre-training or SFT with `RankAwareSFTTrainer`.

The loss replaces cross-entropy's ground-truth reward by `(1/π(x))^((1 − π(x))^β)` and gives the negatives of the
top-k head set (λ_high) and of the tail (λ_low) their own rewards. `--rank_aware_preset` picks one of the paper's
settings (precision: β = −0.25, its best; tail_suppression: λ_low = −0.1; head_preservation: λ_high = 0.1;
diversity: β = 0.5); the individual `--rank_aware_*` flags override it.

Offline on a CPU (toy kit; no Hub, no GPU; an untrained tiny model learns toy arithmetic, the loss falls within
seconds):

```bash
python examples/rank_aware_sft.py --model_name_or_path toy --dataset_name toy-arithmetic \
    --rank_aware_preset precision --learning_rate 3e-3 --max_steps 20 --per_device_train_batch_size 16 \
    --logging_steps 5 --report_to none --output_dir /tmp/rank_aware_toy
```

Two processes on a CPU (gloo): `torchrun --nproc_per_node 2 examples/rank_aware_sft.py <the toy flags above>`.

Continued pre-training on a plain-text dataset (a `text` column, a Hub name or a local `.txt` / `.jsonl` file), one
GPU:

```bash
python examples/rank_aware_sft.py \
    --model_name_or_path Qwen/Qwen2.5-0.5B \
    --dataset_name roneneldan/TinyStories --dataset_train_split train \
    --rank_aware_preset precision \
    --max_length 1024 --packing \
    --per_device_train_batch_size 8 --gradient_accumulation_steps 4 \
    --learning_rate 2e-5 --max_steps 1000 --bf16 \
    --output_dir Qwen2.5-0.5B-RankAware
```

SFT on a chat dataset (a `messages` column) with LoRA (QLoRA: add `--load_in_4bit`, needs
`pip install 'trl_explore[quantization]'`), one GPU:

```bash
accelerate launch --config_file examples/accelerate_configs/single_gpu_lora.yaml examples/rank_aware_sft.py \
    --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct --dataset_name trl-lib/Capybara \
    --rank_aware_beta -0.25 --rank_aware_lambda_low -0.1 --rank_aware_top_k 100 --assistant_only_loss \
    --use_peft --lora_r 32 --lora_alpha 16 --lora_target_modules all-linear \
    --per_device_train_batch_size 4 --learning_rate 2e-4 --num_train_epochs 1 --bf16 \
    --output_dir Qwen2.5-0.5B-Instruct-RankAware-LoRA
```

Multi-GPU, DeepSpeed ZeRO-3 (`pip install deepspeed`; or `--config_file examples/accelerate_configs/fsdp2.yaml`, no
extra install):

```bash
accelerate launch --config_file examples/accelerate_configs/deepspeed_zero3.yaml examples/rank_aware_sft.py \
    --model_name_or_path Qwen/Qwen2.5-7B --dataset_name trl-lib/Capybara --rank_aware_preset precision \
    --per_device_train_batch_size 4 --gradient_accumulation_steps 4 --learning_rate 1e-5 --num_train_epochs 1 \
    --bf16 --output_dir Qwen2.5-7B-RankAware
```

Data: a Hub name, a local file (`.json`, `.jsonl`, `.csv`, `.parquet`, `.txt`) or a `Dataset.save_to_disk` folder,
with a `text`, `messages` or `prompt` + `completion` column. Without a GPU the script trains on the CPU in float32.
Logged metrics: TRL's `loss`, `entropy`, `mean_token_accuracy`, `num_tokens`, plus `rank_aware/entropy`,
`rank_aware/p_tail`, `rank_aware/p_topk_neg` and `rank_aware/w_mean`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from trl import ModelConfig, ScriptArguments, get_peft_config, get_quantization_config

from trl_explore._validation import check_choice, check_int
from trl_explore.data import check_toy_name, load_any_dataset, load_split
from trl_explore.scripts import (
    TOY_MATH_DATASETS,
    ExampleParser,
    UsageError,
    check_model_path,
    check_quantization,
    is_toy,
    run_example,
    set_model_init_kwargs,
    toy_base_model_path,
    toy_sft_dataset,
    train_and_save,
)
from trl_explore.trainers.rank_aware_config import RANK_AWARE_PRESETS, RankAwareSFTConfig
from trl_explore.trainers.rank_aware_trainer import RankAwareSFTTrainer

logger = logging.getLogger(__name__)


@dataclass
class RankAwareScriptArguments(ScriptArguments):
    """Script arguments: TRL's, plus a preset of the paper's settings and the toy route.

    Args:
        rank_aware_preset (`str`, *optional*):
            One of `precision`, `tail_suppression`, `head_preservation`, `diversity`, `cross_entropy`. Applied to the
            `rank_aware_*` fields the command line leaves at their defaults.
        toy_samples (`int`, *optional*, defaults to `1000`):
            Toy datasets (`toy-arithmetic`, `toy-countdown`): training rows.
    """

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Hub dataset name, local file (.json/.jsonl/.csv/.parquet/.txt) or save_to_disk folder; "
            "toy-arithmetic or toy-countdown for synthetic prompt-completion rows (the default with "
            "--model_name_or_path toy)."
        },
    )
    rank_aware_preset: str | None = field(
        default=None,
        metadata={
            "help": "Paper setting applied to the rank_aware_* flags left at their defaults.",
            "choices": sorted(RANK_AWARE_PRESETS),
        },
    )
    toy_samples: int = field(default=1000, metadata={"help": "Toy datasets: training rows."})

    def __post_init__(self) -> None:
        if self.rank_aware_preset is not None:
            check_choice(self, "rank_aware_preset", sorted(RANK_AWARE_PRESETS))
        check_int(self, "toy_samples", low=1)


#: Toy route (``--model_name_or_path toy``): these values unless the command line sets them (`ExampleParser`)
TOY_DEFAULTS = {
    "learning_rate": 3e-3,
    "max_steps": 20,
    "per_device_train_batch_size": 16,
    "logging_steps": 5,
}


def make_parser() -> ExampleParser:
    return ExampleParser(
        (RankAwareScriptArguments, RankAwareSFTConfig, ModelConfig), doc=__doc__, toy_defaults=TOY_DEFAULTS
    )


def apply_preset(training_args: RankAwareSFTConfig, preset: str | None) -> None:
    """Set the preset's fields on `training_args` where the command line kept the default value."""
    if preset is None:
        return
    defaults = {f: RankAwareSFTConfig.__dataclass_fields__[f].default for f in RANK_AWARE_PRESETS["cross_entropy"]}
    defaults["rank_aware_top_k"] = RankAwareSFTConfig.__dataclass_fields__["rank_aware_top_k"].default
    for name, value in RANK_AWARE_PRESETS[preset].items():
        if getattr(training_args, name) == defaults[name]:
            setattr(training_args, name, value)
    logger.info("rank-aware preset %s: %s", preset, RANK_AWARE_PRESETS[preset])


def main(
    script_args: RankAwareScriptArguments, training_args: RankAwareSFTConfig, model_args: ModelConfig
) -> RankAwareSFTTrainer:
    apply_preset(training_args, script_args.rank_aware_preset)
    check_quantization(model_args)
    # the quantization config goes to the trainer below (SFTTrainer builds the model with it)
    set_model_init_kwargs(training_args, model_args, quantization=False)
    toy_model = is_toy(model_args.model_name_or_path)
    model = toy_base_model_path() if toy_model else check_model_path(model_args.model_name_or_path)
    name = script_args.dataset_name or ("toy-arithmetic" if toy_model else None)
    if name is None:
        raise UsageError(
            "--dataset_name is required: a Hub dataset, a local file, or toy-arithmetic / toy-countdown (or use "
            "--model_name_or_path toy for the whole offline route)."
        )
    check_toy_name(name, list(TOY_MATH_DATASETS))
    eval_dataset = None
    if name in TOY_MATH_DATASETS:
        train_dataset = toy_sft_dataset(name, script_args.toy_samples, seed=1000 + training_args.seed)
        if training_args.eval_strategy != "no":
            eval_dataset = toy_sft_dataset(name, 64, seed=20_000 + training_args.seed)
    else:
        dataset = load_any_dataset(name, script_args.dataset_config)
        train_dataset = load_split(dataset, script_args.dataset_train_split, name)
        if training_args.eval_strategy != "no":
            eval_dataset = load_split(dataset, script_args.dataset_test_split, name)

    trainer = RankAwareSFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        quantization_config=get_quantization_config(model_args),  # QLoRA with --load_in_4bit / --load_in_8bit
        peft_config=get_peft_config(model_args),
    )
    return train_and_save(trainer, training_args, script_args.dataset_name)


if __name__ == "__main__":
    run_example(make_parser(), main)
