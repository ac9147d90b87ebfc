# /// script
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "peft",
#     "datasets",
# ]
# ///
"""SFT of a causal LM that emits numbers through a Fourier numeric-token head (Gillman et al., ICLR 2025).

`FourierSFTTrainer` replaces the LM head by a ``FourierNumericHead``: for an ordered list of number tokens
(``--fourier_head_number_tokens``, default the digits ``0``-``9``) the distribution inside the group follows a smooth
Fourier density while the group's total mass comes from the LM head (``--fourier_head_mode hybrid``), or the model only
emits number tokens (``full``). The regulariser gamma * int |f'|^2 (``--fourier_head_regularization_gamma``, paper
value 1e-6) is added to the loss and logged as ``fourier_head/regularization`` / ``fourier_head/smoothness``; the head
is saved with the model (or with the PEFT adapter through ``modules_to_save``).

Data: rows with ``prompt`` and ``completion`` (the completion being one number token), or ``prompt`` and a numeric
``--value_column`` that is scaled from ``--value_range`` into [-1, 1], quantised into len(number_tokens) bins and
written as the bin's number token. ``--dataset_name`` takes a Hub name or a local ``.json``/``.jsonl``/``.csv``/
``.parquet`` file. ``--toy`` builds an offline character-level model and a synthetic regression task.

Offline smoke run (CPU, seconds):
```bash
python examples/fourier_head_sft.py --toy --output_dir /tmp/fourier_sft --max_steps 20 --report_to none
```

Real model with LoRA (number tokens = Qwen's digit tokens):
```bash
accelerate launch examples/fourier_head_sft.py \
    --model_name_or_path Qwen/Qwen2.5-0.5B --dataset_name my_numbers.jsonl --value_column target \
    --value_range 0 100 --fourier_head_num_frequencies 16 --fourier_head_regularization_gamma 1e-6 \
    --use_peft --lora_r 16 --lora_alpha 32 --learning_rate 1e-4 --output_dir qwen-fourier-sft
```
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config

from trl_explore.data import load_any_dataset
from trl_explore.functional.fourier import quantize
from trl_explore.trainers.fourier_head_config import FourierSFTConfig
from trl_explore.trainers.fourier_head_trainer import FourierSFTTrainer

logger = logging.getLogger(__name__)
DIGITS = [str(d) for d in range(10)]


@dataclass
class NumericDataArguments:
    """How the data become number tokens (the head itself is configured by `FourierSFTConfig`).

    Args:
        value_column (`str`, *optional*, defaults to `"value"`):
            Numeric column to quantise when the dataset has no `completion` column.
        value_range (`list[float]`, *optional*, defaults to `[-1.0, 1.0]`):
            Range mapped linearly onto [-1, 1] before quantisation.
        toy (`bool`, *optional*, defaults to `False`):
            Use the offline toy tokenizer/model and a synthetic task (ignores `model_name_or_path`/`dataset_name`).
        toy_samples (`int`, *optional*, defaults to `512`):
            Size of the synthetic dataset.
    """

    value_column: str = "value"
    value_range: list[float] = field(default_factory=lambda: [-1.0, 1.0])
    toy: bool = False
    toy_samples: int = 512

    def __post_init__(self) -> None:
        if len(self.value_range) != 2 or self.value_range[0] >= self.value_range[1]:
            raise ValueError(f"value_range must be two increasing numbers, got {self.value_range}")
        if self.toy_samples < 1:
            raise ValueError(f"toy_samples must be >= 1, got {self.toy_samples}")


def toy_dataset(n: int, number_tokens: list[str], seed: int = 0) -> Dataset:
    """Synthetic regression: ``"a=0.12 b=0.53 mean:"`` -> the bin token of (a + b) / 2 mapped to [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(n, generator=g), torch.rand(n, generator=g)
    bins = quantize((a + b) - 1.0, len(number_tokens))
    rows = [
        {"prompt": f"a={x:.2f} b={y:.2f} mean:", "completion": number_tokens[int(k)]}
        for x, y, k in zip(a.tolist(), b.tolist(), bins.tolist())
    ]
    return Dataset.from_list(rows)


def to_prompt_completion(dataset: Dataset, data_args: NumericDataArguments, tokens: list[str]) -> Dataset:
    if "completion" in dataset.column_names:
        return dataset
    col = data_args.value_column
    if "prompt" not in dataset.column_names or col not in dataset.column_names:
        raise ValueError(
            f"dataset needs 'prompt' and 'completion', or 'prompt' and '{col}' columns; got {dataset.column_names}"
        )
    lo, hi = data_args.value_range

    def convert(row: dict) -> dict:
        scaled = 2.0 * (float(row[col]) - lo) / (hi - lo) - 1.0
        return {"completion": tokens[int(quantize(torch.tensor(scaled), len(tokens)))]}

    return dataset.map(convert)


def main(
    script_args: ScriptArguments,
    training_args: FourierSFTConfig,
    model_args: ModelConfig,
    data_args: NumericDataArguments,
) -> FourierSFTTrainer:
    if training_args.fourier_head_number_tokens is None:
        training_args.fourier_head_number_tokens = DIGITS
    tokens = training_args.fourier_head_number_tokens
    if data_args.toy:
        from trl_explore.toy import make_tiny_model, make_tokenizer

        tokenizer = make_tokenizer()
        model = make_tiny_model(tokenizer, hidden_size=64, num_hidden_layers=2)
        dataset = toy_dataset(data_args.toy_samples, tokens)
    else:
        if not model_args.model_name_or_path or not script_args.dataset_name:
            raise ValueError("pass --model_name_or_path and --dataset_name, or --toy")
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
        dtype = model_args.dtype if model_args.dtype in ("auto", None) else getattr(torch, model_args.dtype)
        model = AutoModelForCausalLM.from_pretrained(
            model_args.model_name_or_path,
            revision=model_args.model_revision,
            dtype=dtype,
            attn_implementation=model_args.attn_implementation,
        )
        dataset = to_prompt_completion(
            load_any_dataset(script_args.dataset_name, script_args.dataset_config)[script_args.dataset_train_split],
            data_args,
            tokens,
        )

    # attaches the numeric head over `fourier_head_number_tokens`; with PEFT it joins `modules_to_save`
    trainer = FourierSFTTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    trainer.train()
    trainer.save_model(training_args.output_dir)
    return trainer


if __name__ == "__main__":
    parser = TrlParser((ScriptArguments, FourierSFTConfig, ModelConfig, NumericDataArguments))
    script_args, training_args, model_args, data_args = parser.parse_args_and_config()
    main(script_args, training_args, model_args, data_args)
