"""Tiny causal language models of real architectures, built in code from configs (no Hub access)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from .tokenizer import IM_END_TOKEN, make_tokenizer

_ARCHITECTURES: dict[str, tuple[type[PretrainedConfig], type[PreTrainedModel]]] = {
    "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    "llama": (LlamaConfig, LlamaForCausalLM),
}


def make_tiny_model(
    tokenizer: PreTrainedTokenizerBase | None = None,
    arch: str = "qwen2",
    vocab_size: int | None = None,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    seed: int = 0,
    **config_overrides: Any,
) -> PreTrainedModel:
    """Build a freshly initialised tiny causal LM (`Qwen2ForCausalLM` or `LlamaForCausalLM`).

    The weights depend only on the configuration and `seed` (same seed -> identical weights); the global torch RNG
    is left untouched. Token ids come from the tokenizer: `pad_token_id`, `eos_token_id` and `bos_token_id` (the eos
    id, as in Qwen2, since the toy tokenizer has no bos). The generation config stops on eos and, when the tokenizer
    has it, on ``<|im_end|>`` (end of a chat turn), and pads with the pad id.

    Args:
        tokenizer (`PreTrainedTokenizerBase`, *optional*):
            Tokenizer whose special-token ids and length the model uses. Defaults to `make_tokenizer()`.
        arch (`str`, *optional*, defaults to `"qwen2"`):
            `"qwen2"` or `"llama"`.
        vocab_size (`int`, *optional*):
            Embedding rows; defaults to `len(tokenizer)`. Must be at least `len(tokenizer)`.
        hidden_size (`int`, *optional*, defaults to `64`):
            Model width; must be divisible by `num_attention_heads`.
        num_hidden_layers (`int`, *optional*, defaults to `2`):
            Number of decoder layers.
        num_attention_heads (`int`, *optional*, defaults to `4`):
            Attention heads (also the key/value heads unless `num_key_value_heads` is overridden).
        seed (`int`, *optional*, defaults to `0`):
            Seed of the weight initialisation.
        **config_overrides:
            Any other field of the architecture's config (e.g. `intermediate_size`, `max_position_embeddings`,
            `tie_word_embeddings`, `num_key_value_heads`). Defaults: `intermediate_size=4 * hidden_size`,
            `max_position_embeddings=512`, `tie_word_embeddings=True`.

    Returns:
        `PreTrainedModel`: the model in float32, in eval mode.
    """
    if arch not in _ARCHITECTURES:
        raise ValueError(f"arch must be one of {sorted(_ARCHITECTURES)}, got {arch!r}.")
    if tokenizer is None:
        tokenizer = make_tokenizer()
    tokenizer_length = len(tokenizer)
    if vocab_size is None:
        vocab_size = tokenizer_length
    if vocab_size < tokenizer_length:
        raise ValueError(f"vocab_size must be >= len(tokenizer) = {tokenizer_length}, got {vocab_size}.")
    if hidden_size < 1 or num_hidden_layers < 1 or num_attention_heads < 1:
        raise ValueError(
            "hidden_size, num_hidden_layers and num_attention_heads must be >= 1, got "
            f"{hidden_size}, {num_hidden_layers} and {num_attention_heads}."
        )
    if hidden_size % num_attention_heads != 0:
        raise ValueError(
            f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads})."
        )

    eos_id = tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
    bos_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos_id
    config_kwargs: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": 4 * hidden_size,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": num_attention_heads,
        "num_key_value_heads": num_attention_heads,
        "max_position_embeddings": 512,
        "tie_word_embeddings": True,
        "pad_token_id": pad_id,
        "eos_token_id": eos_id,
        "bos_token_id": bos_id,
    }
    config_kwargs.update(config_overrides)
    config_cls, model_cls = _ARCHITECTURES[arch]
    config = config_cls(**config_kwargs)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    model.eval()

    stop_ids = [eos_id]
    im_end_id = tokenizer.convert_tokens_to_ids(IM_END_TOKEN) if IM_END_TOKEN in tokenizer.get_vocab() else None
    if im_end_id is not None and im_end_id != eos_id:
        stop_ids.append(im_end_id)
    model.generation_config = GenerationConfig(
        bos_token_id=bos_id,
        eos_token_id=stop_ids if len(stop_ids) > 1 else stop_ids[0],
        pad_token_id=pad_id,
    )
    return model
