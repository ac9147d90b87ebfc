# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "peft",
#     "bitsandbytes; sys_platform == 'linux'",
# ]
# ///
"""Rank-aware next-token prediction (arXiv 2512.22955): continued pre-training or SFT with `RankAwareSFTTrainer`.

The loss replaces cross-entropy's ground-truth reward by `(1/π(x))^((1 − π(x))^β)` and gives the negatives of the
top-k head set (λ_high) and of the tail (λ_low) their own rewards. `--rank_aware_preset` picks one of the paper's
settings (precision: β = −0.25, its best; tail_suppression: λ_low = −0.1; head_preservation: λ_high = 0.1;
diversity: β = 0.5); the individual `--rank_aware_*` flags override it.

Continued pre-training on a plain-text dataset (a `text` column, a Hub name or a local `.txt` / `.jsonl` file):

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

SFT on a chat dataset (a `messages` column) with LoRA (add `--load_in_4bit` for QLoRA), multi-GPU with accelerate:

```bash
accelerate launch --num_processes 2 examples/rank_aware_sft.py \
    --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct \
    --dataset_name trl-lib/Capybara \
    --rank_aware_beta -0.25 --rank_aware_lambda_low -0.1 --rank_aware_top_k 100 \
    --assistant_only_loss \
    --use_peft --lora_r 32 --lora_alpha 16 --lora_target_modules all-linear \
    --per_device_train_batch_size 4 --learning_rate 2e-4 --num_train_epochs 1 --bf16 \
    --output_dir Qwen2.5-0.5B-Instruct-RankAware-LoRA
```

A local dataset file works the same way: `--dataset_name data/train.jsonl` (`.json`, `.jsonl`, `.csv`, `.parquet`,
`.txt`) or a directory written by `Dataset.save_to_disk`. Logged metrics: TRL's `loss`, `entropy`,
`mean_token_accuracy`, `num_tokens`, plus `rank_aware/entropy`, `rank_aware/p_tail`, `rank_aware/p_topk_neg` and
`rank_aware/w_mean`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config, get_quantization_config

from trl_explore.data import load_any_dataset
from trl_explore.scripts import set_model_init_kwargs
from trl_explore.trainers.rank_aware_config import RANK_AWARE_PRESETS, RankAwareSFTConfig
from trl_explore.trainers.rank_aware_trainer import RankAwareSFTTrainer

logger = logging.getLogger(__name__)


@dataclass
class RankAwareScriptArguments(ScriptArguments):
    """Script arguments: TRL's, plus a preset of the paper's settings.

    Args:
        rank_aware_preset (`str`, *optional*):
            One of `precision`, `tail_suppression`, `head_preservation`, `diversity`, `cross_entropy`. Applied to the
            `rank_aware_*` fields the command line leaves at their defaults.
    """

    rank_aware_preset: str | None = field(
        default=None,
        metadata={"help": "Paper setting to apply.", "choices": sorted(RANK_AWARE_PRESETS)},
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


def main(script_args: RankAwareScriptArguments, training_args: RankAwareSFTConfig, model_args: ModelConfig) -> None:
    apply_preset(training_args, script_args.rank_aware_preset)
    # the quantization config goes to the trainer below (SFTTrainer builds the model with it)
    set_model_init_kwargs(training_args, model_args, quantization=False)

    dataset = load_any_dataset(script_args.dataset_name, script_args.dataset_config)
    eval_dataset = None
    if training_args.eval_strategy != "no":
        eval_dataset = dataset[script_args.dataset_test_split]

    trainer = RankAwareSFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset[script_args.dataset_train_split],
        eval_dataset=eval_dataset,
        quantization_config=get_quantization_config(model_args),  # QLoRA with --load_in_4bit / --load_in_8bit
        peft_config=get_peft_config(model_args),
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=script_args.dataset_name)


if __name__ == "__main__":
    parser = TrlParser((RankAwareScriptArguments, RankAwareSFTConfig, ModelConfig))
    main(*parser.parse_args_and_config())
