"""Sampling-based pass-rate evaluation of a (toy) model on a verifiable task."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

_NON_REWARD_COLUMNS = ("prompt", "completion", "completion_ids")


def _is_conversational(prompt: Any) -> bool:
    return isinstance(prompt, list) and len(prompt) > 0 and isinstance(prompt[0], dict) and "role" in prompt[0]


def evaluate_pass_rate(
    model_or_path: PreTrainedModel | str | os.PathLike,
    dataset: Dataset,
    reward_fn: Callable[..., list[float | None]],
    num_samples_per_prompt: int = 4,
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    batch_size: int = 64,
    success_threshold: float = 1.0,
    seed: int = 0,
) -> float:
    """Fraction of sampled completions that the reward marks as correct.

    For every prompt of `dataset`, `num_samples_per_prompt` completions are sampled with `model.generate` (pure
    temperature sampling: `top_k=0`, `top_p=1.0`; batched, left-padded), decoded with `skip_special_tokens=True` like
    TRL's trainers do, and scored by `reward_fn` under TRL's reward contract: ``reward_fn(prompts=..., completions=...,
    completion_ids=..., **other_columns)``; conversational prompts get the chat template with a generation prompt and
    conversational completions. A completion passes when its reward is `>= success_threshold`; completions scored
    `None` are left out. With every prompt sampled equally often, this pooled fraction is the mean over prompts of the
    per-prompt pass@1 estimate.

    Args:
        model_or_path (`PreTrainedModel` or `str`):
            A causal LM, or a local directory holding one and its tokenizer (e.g. the path `warm_start` returns).
        dataset (`datasets.Dataset`):
            Rows with a `prompt` column and the columns `reward_fn` needs.
        reward_fn (`Callable`):
            A TRL-contract reward function, e.g. `countdown_reward` or `math_accuracy_reward`.
        num_samples_per_prompt (`int`, *optional*, defaults to `4`):
            Completions sampled per prompt.
        tokenizer (`PreTrainedTokenizerBase`, *optional*):
            Required when a model object is passed; loaded from the directory otherwise.
        max_new_tokens (`int`, *optional*, defaults to `48`):
            Generation budget per completion.
        temperature (`float`, *optional*, defaults to `1.0`):
            Sampling temperature (> 0).
        batch_size (`int`, *optional*, defaults to `64`):
            Sequences generated per `generate` call.
        success_threshold (`float`, *optional*, defaults to `1.0`):
            Reward at or above which a completion counts as a pass.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the sampling (the global torch RNG state is restored afterwards).

    Returns:
        `float`: pass rate in [0, 1] (`0.0` for an empty dataset).
    """
    if num_samples_per_prompt < 1:
        raise ValueError(f"num_samples_per_prompt must be >= 1, got {num_samples_per_prompt}.")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if isinstance(model_or_path, (str, os.PathLike)):
        model = AutoModelForCausalLM.from_pretrained(model_or_path)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(model_or_path)
    else:
        model = model_or_path
        if tokenizer is None:
            raise ValueError("tokenizer must be given when model_or_path is a model object.")
    if len(dataset) == 0:
        return 0.0

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos_ids = model.generation_config.eos_token_id
    eos_ids = [] if eos_ids is None else [eos_ids] if isinstance(eos_ids, int) else list(eos_ids)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos_ids:
        eos_ids.insert(0, tokenizer.eos_token_id)

    rows = [dataset[i] for i in range(len(dataset))]
    conversational = _is_conversational(rows[0]["prompt"])
    prompt_ids: list[list[int]] = []
    for row in rows:
        if conversational:
            ids = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True)
            ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        else:
            ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        prompt_ids.append(list(ids))
    # Repeat every prompt num_samples_per_prompt times (consecutively, like TRL's GRPO sampler).
    order = [i for i in range(len(rows)) for _ in range(num_samples_per_prompt)]

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    completions_text: list[str] = []
    completion_ids_all: list[list[int]] = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, len(order), batch_size):
            batch = [prompt_ids[i] for i in order[start : start + batch_size]]
            width = max(len(ids) for ids in batch)
            input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in batch], device=device)
            attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=device)
            output = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                eos_token_id=eos_ids,
                pad_token_id=pad_id,
            )
            for seq in output[:, width:].tolist():
                # Cut at the first stop token (generate pads finished rows).
                cut = next((j for j, tok in enumerate(seq) if tok in eos_ids), len(seq))
                completion_ids_all.append(seq[: cut + 1] if cut < len(seq) else seq)
                completions_text.append(tokenizer.decode(seq[:cut], skip_special_tokens=True))
    if was_training:
        model.train()

    prompts = [rows[i]["prompt"] for i in order]
    completions: list[Any] = (
        [[{"role": "assistant", "content": text}] for text in completions_text] if conversational else completions_text
    )
    columns = {key: [rows[i][key] for i in order] for key in rows[0] if key not in _NON_REWARD_COLUMNS}
    rewards = reward_fn(prompts=prompts, completions=completions, completion_ids=completion_ids_all, **columns)
    scored = [r for r in rewards if r is not None]
    if not scored:
        logger.warning("evaluate_pass_rate: the reward function scored every completion None.")
        return 0.0
    return sum(1.0 for r in scored if r >= success_threshold) / len(scored)
