"""A byte-level, one-token-per-character tokenizer built in code (no Hub access) for the toy kit.

Every byte is one token, so every ASCII character (printable ASCII plus ``\\n``, ``\\t``, ...) is exactly one token
and ASCII text round-trips exactly: ``tokenizer.decode(tokenizer.encode(text)) == text``. Non-ASCII characters take
one token per UTF-8 byte and round-trip up to Unicode NFC normalisation (the Qwen2 pipeline normalises to NFC). There are no merges, so the tokenizer is character-level on ASCII. ``<think>`` and ``</think>``
are single (non-special) tokens, so they survive ``skip_special_tokens=True`` decoding the way reasoning rewards expect.

It is a `transformers.Qwen2Tokenizer` (a `PreTrainedTokenizerFast`) with its own vocabulary and no merges. That choice
is deliberate: in transformers 5, ``AutoTokenizer.from_pretrained(dir)`` rebuilds any tokenizer saved next to a
``qwen2`` model config as a `Qwen2Tokenizer` (byte-level pipeline), so a tokenizer with another pipeline would load
differently from a warm-start checkpoint directory than it was saved. Built on the Qwen2 pipeline, it loads identically
from any directory, next to a Qwen2 or Llama config or alone.
"""

from __future__ import annotations

from tokenizers import AddedToken
from transformers import PreTrainedTokenizerFast, Qwen2Tokenizer

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
IM_START_TOKEN = "<|im_start|>"
IM_END_TOKEN = "<|im_end|>"
THINK_START_TOKEN = "<think>"
THINK_END_TOKEN = "</think>"

SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, EOS_TOKEN, IM_START_TOKEN, IM_END_TOKEN)
THINK_TOKENS: tuple[str, ...] = (THINK_START_TOKEN, THINK_END_TOKEN)


def byte_symbols() -> list[str]:
    """The 256 printable stand-ins of byte-level BPE (GPT-2 / Qwen2 convention), indexed by byte value.

    Bytes that are printable Latin-1 characters (``!``..``~``, ``\\xa1``..``\\xac``, ``\\xae``..``\\xff``) stand
    for themselves; the other 68 bytes (space, control characters, ...) map, in byte order, to ``chr(256)``,
    ``chr(257)``, ... (so a space is ``"\\u0120"``, "Ġ", and a newline ``"\\u010a"``, "Ċ").
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    kept = set(keep)
    symbols: list[str] = []
    extra = 0
    for b in range(256):
        if b in kept:
            symbols.append(chr(b))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


# ChatML, as used by Qwen2 instruct models. The assistant turn is wrapped in `{% generation %}` so that TRL's
# `assistant_only_loss=True` works; `add_generation_prompt` opens an assistant turn.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- message['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\n' -}}"
    "{%- else -%}"
    "{{- message['content'] + '<|im_end|>' + '\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)


def make_tokenizer(padding_side: str = "left", model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """Build the toy kit's tokenizer: one token per byte (so per ASCII character), ChatML template, think tags.

    The vocabulary is, in id order: the special tokens ``<|pad|>`` (0), ``<|endoftext|>`` (1, eos), ``<|im_start|>``
    (2) and ``<|im_end|>`` (3); the 256 bytes (4-259, byte ``b`` has id ``4 + b``); then ``<think>`` (260) and
    ``</think>`` (261): 262 tokens in all. pad and eos differ, so padding never masks a real end of sequence. There is
    no bos and no unk token (every byte has an id), and nothing is prepended or appended when encoding.

    Args:
        padding_side (`str`, *optional*, defaults to `"left"`):
            Side on which `tokenizer.pad` / `tokenizer(..., padding=True)` pad. Left padding is what batched
            generation needs; TRL's `GRPOTrainer` and `SFTTrainer` pad their own tensors (prompts left, completions
            and SFT sequences right) whatever this setting is.
        model_max_length (`int`, *optional*, defaults to `512`):
            Maximum sequence length recorded in the tokenizer (matches `make_tiny_model`'s default
            `max_position_embeddings`).

    Returns:
        `transformers.PreTrainedTokenizerFast` (a `Qwen2Tokenizer`): saves with `save_pretrained` and loads back
        unchanged with `AutoTokenizer.from_pretrained(path)` from a local directory, chat template included.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}.")
    if model_max_length < 1:
        raise ValueError(f"model_max_length must be >= 1, got {model_max_length}.")
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *byte_symbols()):
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=None,
        bos_token=None,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens=[IM_START_TOKEN, IM_END_TOKEN],
        padding_side=padding_side,
        truncation_side="left",
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
