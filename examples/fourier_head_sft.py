# /// script
# dependencies = [
#     "trl_explore",
#     "trl>=1.16,<1.17",
#     "peft",
#     "datasets",
# ]
# ///
r"""SFT of a causal LM that emits numbers through a Fourier numeric-token head (Gillman et al., ICLR 2025).

`FourierSFTTrainer` replaces the LM head by a ``FourierNumericHead``: for an ordered list of number tokens
(``--fourier_head_number_tokens``, default the digits ``0``-``9``) the distribution inside the group follows a smooth
Fourier density while the group's total mass comes from the LM head (``--fourier_head_mode hybrid``), or the model only
emits number tokens (``full``). The regulariser gamma * int |f'|^2 (``--fourier_head_regularization_gamma``, paper
value 1e-6) is added to the loss and logged as ``fourier_head/regularization`` / ``fourier_head/smoothness``; the head
is saved with the model (or with the PEFT adapter through ``modules_to_save``).

Data: rows with ``prompt`` and ``completion`` (the completion being one number token), or ``prompt`` and a numeric
``--value_column`` that is scaled from ``--value_range`` into [-1, 1], quantised into len(number_tokens) bins and
written as the bin's number token. ``--dataset_name`` takes a Hub name or a local ``.json``/``.jsonl``/``.csv``/
``.parquet`` file.

Offline on a CPU (toy kit; no Hub, no GPU): ``--model_name_or_path toy`` is an untrained tiny model with the toy
byte-level tokenizer, ``--dataset_name toy-mean`` (its default) a synthetic regression task ("a=0.12 b=0.53 mean:" ->
the bin of the mean); ``--toy`` is short for both. The loss falls within seconds:

```bash
python examples/fourier_head_sft.py --model_name_or_path toy --dataset_name toy-mean \
    --learning_rate 3e-3 --max_steps 20 --per_device_train_batch_size 16 --logging_steps 5 \
    --report_to none --output_dir /tmp/fourier_sft
```

Two processes on a CPU (gloo): `torchrun --nproc_per_node 2 examples/fourier_head_sft.py <the toy flags above>`.

One GPU, LoRA (number tokens = Qwen's digit tokens; QLoRA: add `--load_in_4bit`, needs
`pip install 'trl_explore[quantization]'`):

```bash
accelerate launch --config_file examples/accelerate_configs/single_gpu_lora.yaml examples/fourier_head_sft.py \
    --model_name_or_path Qwen/Qwen2.5-0.5B --dataset_name my_numbers.jsonl --value_column target \
    --value_range 0 100 --fourier_head_num_frequencies 4 --fourier_head_regularization_gamma 1e-6 \
    --use_peft --lora_r 16 --lora_alpha 32 --learning_rate 1e-4 --bf16 --output_dir qwen-fourier-sft
```

Multi-GPU, FSDP2 (no extra install; DeepSpeed ZeRO-3: `--config_file examples/accelerate_configs/deepspeed_zero3.yaml`
after `pip install deepspeed`):

```bash
accelerate launch --config_file examples/accelerate_configs/fsdp2.yaml examples/fourier_head_sft.py \
    --model_name_or_path Qwen/Qwen2.5-7B --dataset_name my_numbers.jsonl --value_column target \
    --value_range 0 100 --fourier_head_num_frequencies 4 --learning_rate 1e-5 --bf16 --output_dir qwen7b-fourier
```

Without a GPU the script trains on the CPU in float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import ModelConfig, ScriptArguments, get_peft_config, get_quantization_config

from trl_explore._validation import check_bool, check_int, check_number
from trl_explore.data import check_dataset, check_toy_name, load_any_dataset, load_split
from trl_explore.functional.fourier import quantize
from trl_explore.scripts import (
    ExampleParser,
    UsageError,
    check_model_path,
    check_quantization,
    is_toy,
    run_example,
    toy_base_model_path,
    train_and_save,
)
from trl_explore.trainers.fourier_head_config import FourierSFTConfig
from trl_explore.trainers.fourier_head_trainer import FourierSFTTrainer

DIGITS = [str(d) for d in range(10)]
#: ``--dataset_name`` of the synthetic regression task (the default with ``--model_name_or_path toy``)
TOY_MEAN = "toy-mean"


@dataclass
class NumericDataArguments:
    """How the data become number tokens (the head itself is configured by `FourierSFTConfig`).

    Args:
        value_column (`str`, *optional*, defaults to `"value"`):
            Numeric column to quantise when the dataset has no `completion` column.
        value_range (`list[float]`, *optional*, defaults to `[-1.0, 1.0]`):
            Range mapped linearly onto [-1, 1] before quantisation.
        toy (`bool`, *optional*, defaults to `False`):
            Short for ``--model_name_or_path toy --dataset_name toy-mean``: the offline toy model and the synthetic
            regression task.
        toy_samples (`int`, *optional*, defaults to `512`):
            Size of the synthetic dataset.
    """

    value_column: str = field(
        default="value", metadata={"help": "Numeric column quantised into number tokens (no `completion` column)."}
    )
    value_range: list[float] = field(
        default_factory=lambda: [-1.0, 1.0],
        metadata={"help": "Two numbers: the range of --value_column mapped linearly onto [-1, 1]."},
    )
    toy: bool = field(
        default=False, metadata={"help": "Short for --model_name_or_path toy --dataset_name toy-mean (offline)."}
    )
    toy_samples: int = field(default=512, metadata={"help": "Rows of the synthetic toy-mean dataset."})

    def __post_init__(self) -> None:
        if not isinstance(self.value_column, str) or not self.value_column:
            raise ValueError(f"`value_column` must be a column name, got {self.value_column!r}.")
        if not isinstance(self.value_range, (list, tuple)) or len(self.value_range) != 2:
            raise ValueError(f"`value_range` must be two increasing finite numbers, got {self.value_range!r}.")
        for value in self.value_range:
            check_number(None, "value_range", value=value)
        if self.value_range[0] >= self.value_range[1]:
            raise ValueError(f"`value_range` must be two increasing finite numbers, got {list(self.value_range)}.")
        check_bool(self, "toy")
        check_int(self, "toy_samples", low=1)


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
    """Rows with ``prompt`` + ``completion`` as they are; rows with ``prompt`` + the value column quantised into the
    number token of their bin."""
    check_dataset(dataset, [], "the training split")
    if "completion" in dataset.column_names:
        check_dataset(dataset, ["prompt", "completion"], "the training split")
        return dataset
    col = data_args.value_column
    if "prompt" not in dataset.column_names or col not in dataset.column_names:
        raise ValueError(
            f"the training split needs 'prompt' and 'completion', or 'prompt' and {col!r} (--value_column) columns; "
            f"it has {dataset.column_names}."
        )
    lo, hi = data_args.value_range

    def convert(row: dict) -> dict:
        scaled = 2.0 * (float(row[col]) - lo) / (hi - lo) - 1.0
        return {"completion": tokens[int(quantize(torch.tensor(scaled), len(tokens)))]}

    return dataset.map(convert)


def _kbit_device_map() -> dict[str, int]:
    """A quantized model lives whole on this process's GPU (bitsandbytes cannot be moved after loading)."""
    from accelerate import PartialState

    return {"": PartialState().local_process_index}


#: Toy route (``--model_name_or_path toy``): these values unless the command line sets them (`ExampleParser`)
TOY_DEFAULTS = {
    "learning_rate": 3e-3,
    "max_steps": 20,
    "per_device_train_batch_size": 16,
    "logging_steps": 5,
}


def make_parser() -> ExampleParser:
    parser = ExampleParser(
        (ScriptArguments, FourierSFTConfig, ModelConfig, NumericDataArguments), doc=__doc__, toy_defaults=TOY_DEFAULTS
    )
    parser.set_defaults(fourier_head_number_tokens=DIGITS)  # this script always attaches a numeric head
    return parser


def main(
    script_args: ScriptArguments,
    training_args: FourierSFTConfig,
    model_args: ModelConfig,
    data_args: NumericDataArguments,
) -> FourierSFTTrainer:
    if data_args.toy:
        model_args.model_name_or_path = model_args.model_name_or_path or "toy"
        script_args.dataset_name = script_args.dataset_name or TOY_MEAN
    if training_args.fourier_head_number_tokens is None:
        training_args.fourier_head_number_tokens = DIGITS
    tokens = training_args.fourier_head_number_tokens
    check_quantization(model_args)
    toy_model = is_toy(model_args.model_name_or_path)
    path = toy_base_model_path() if toy_model else check_model_path(model_args.model_name_or_path)
    name = script_args.dataset_name or (TOY_MEAN if toy_model else None)
    if name is None:
        raise UsageError("--dataset_name is required: a Hub dataset, a local file, or toy-mean (or use --toy).")
    check_toy_name(name, [TOY_MEAN])
    if name == TOY_MEAN:
        dataset = toy_dataset(data_args.toy_samples, tokens, seed=training_args.seed)
    else:
        data = load_any_dataset(name, script_args.dataset_config)
        dataset = to_prompt_completion(load_split(data, script_args.dataset_train_split, name), data_args, tokens)

    tokenizer = AutoTokenizer.from_pretrained(path, revision=model_args.model_revision)
    dtype = model_args.dtype if model_args.dtype in ("auto", None) else getattr(torch, model_args.dtype)
    quantization_config = get_quantization_config(model_args)  # QLoRA with --load_in_4bit / --load_in_8bit
    model = AutoModelForCausalLM.from_pretrained(
        path,
        revision=model_args.model_revision,
        dtype=dtype,
        attn_implementation=model_args.attn_implementation,
        quantization_config=quantization_config,
        device_map=_kbit_device_map() if quantization_config is not None else None,
    )

    # attaches the numeric head over `fourier_head_number_tokens`; with PEFT it joins `modules_to_save`
    trainer = FourierSFTTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    return train_and_save(trainer, training_args, script_args.dataset_name)


if __name__ == "__main__":
    run_example(make_parser(), main)
