"""The toy kit's character-level tokenizer: exact round trips, special tokens, chat template, save/load."""

from __future__ import annotations

import string

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from trl_explore.toy import make_tokenizer
from trl_explore.toy.tokenizer import CHAT_TEMPLATE


@pytest.fixture(scope="module")
def tok() -> PreTrainedTokenizerFast:
    return make_tokenizer()


TEXTS = [
    "",
    "a",
    "Hello,  world!\n",
    "Use 3 5 7 to make 22\n<think>3*5=15,15+7=22</think>\\boxed{3*5+7}",
    string.printable,
    "  leading and trailing spaces  ",
    "tabs\tand\nnew\nlines\r\n",
    "{[(<>)]} ~`!@#$%^&*_-+=|\\:;\"',.?/",
]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_is_exact(tok: PreTrainedTokenizerFast, text: str) -> None:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_one_token_per_character(tok: PreTrainedTokenizerFast) -> None:
    """`"ab 1\\n"` has 5 characters, so 5 tokens; each character maps to its own id."""
    ids = tok("ab 1\n", add_special_tokens=False)["input_ids"]
    assert len(ids) == 5
    assert len(set(ids)) == 5
    assert tok.convert_ids_to_tokens(ids) == ["a", "b", "\u0120", "1", "\u010a"]  # byte-level stand-ins


def test_special_tokens(tok: PreTrainedTokenizerFast) -> None:
    assert tok.pad_token == "<|pad|>" and tok.eos_token == "<|endoftext|>"
    assert tok.pad_token_id != tok.eos_token_id
    assert tok.bos_token is None
    vocab = tok.get_vocab()
    for token in ("<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"):
        assert token in vocab
        # Each is a single token when it appears in text.
        assert tok(f"x{token}y", add_special_tokens=False)["input_ids"] == [vocab["x"], vocab[token], vocab["y"]]
    # 4 special tokens + 256 bytes + <think> + </think>
    assert len(tok) == 262
    assert tok.unk_token is None
    assert tok.padding_side == "left"
    assert tok("abc")["input_ids"] == tok("abc", add_special_tokens=False)["input_ids"]  # nothing added


def test_skip_special_tokens_keeps_think_tags(tok: PreTrainedTokenizerFast) -> None:
    text = "<|im_start|><think>1+1=2</think>\\boxed{2}<|im_end|><|endoftext|><|pad|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=True) == "<think>1+1=2</think>\\boxed{2}"


def test_byte_ids_and_non_ascii(tok: PreTrainedTokenizerFast) -> None:
    """Byte b has id 4 + b: "a" is 0x61 = 97 -> 101, " " is 0x20 = 32 -> 36, "\\n" is 10 -> 14.

    "é" is UTF-8 0xC3 0xA9 -> ids 199 and 173, and decodes back to "é" (already NFC).
    """
    assert tok("a \n", add_special_tokens=False)["input_ids"] == [101, 36, 14]
    ids = tok("aé", add_special_tokens=False)["input_ids"]
    assert ids == [101, 4 + 0xC3, 4 + 0xA9]
    assert tok.decode(ids) == "aé"


def test_byte_symbols_match_gpt2_convention() -> None:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    from trl_explore.toy.tokenizer import byte_symbols

    mapping = bytes_to_unicode()
    assert byte_symbols() == [mapping[b] for b in range(256)]


def test_chat_template_renders_chatml(tok: PreTrainedTokenizerFast) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"}]
    text = tok.apply_chat_template(messages, tokenize=False)
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n1+1?<|im_end|>\n"
    with_prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert with_prompt == text + "<|im_start|>assistant\n"
    full = tok.apply_chat_template([*messages, {"role": "assistant", "content": "\\boxed{2}"}], tokenize=False)
    assert full == with_prompt + "\\boxed{2}<|im_end|>\n"
    # The prompt tokens are a prefix of prompt+completion tokens (what TRL's SFT completion mask relies on).
    ids_prompt = tok(with_prompt, add_special_tokens=False)["input_ids"]
    ids_full = tok(full, add_special_tokens=False)["input_ids"]
    assert ids_full[: len(ids_prompt)] == ids_prompt


def test_chat_template_assistant_mask(tok: PreTrainedTokenizerFast) -> None:
    """The `{% generation %}` block marks exactly the assistant content plus its <|im_end|>."""
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(masked) == "ok<|im_end|>"


@pytest.mark.parametrize("config", [None, "qwen2", "llama"])
def test_save_and_load_round_trip(tok: PreTrainedTokenizerFast, tmp_path, config) -> None:
    """Loads identically alone and next to a model config (transformers 5 picks the class from a qwen2 config)."""
    tok.save_pretrained(tmp_path)
    if config is not None:
        from transformers import LlamaConfig, Qwen2Config

        (Qwen2Config() if config == "qwen2" else LlamaConfig()).save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, PreTrainedTokenizerFast)
    assert loaded.get_vocab() == tok.get_vocab()
    assert (loaded.pad_token_id, loaded.eos_token_id, loaded.padding_side) == (
        tok.pad_token_id,
        tok.eos_token_id,
        tok.padding_side,
    )
    assert loaded.chat_template == CHAT_TEMPLATE
    for text in TEXTS:
        assert loaded(text, add_special_tokens=False)["input_ids"] == tok(text, add_special_tokens=False)["input_ids"]
        assert loaded.decode(loaded(text, add_special_tokens=False)["input_ids"]) == text
    messages = [{"role": "user", "content": "Use 1 2 3 to make 6"}]
    assert loaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == tok.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )


def test_batch_padding_left_by_default(tok: PreTrainedTokenizerFast) -> None:
    batch = tok(["a", "abc"], padding=True, add_special_tokens=False)
    assert batch["input_ids"][0][:2] == [tok.pad_token_id, tok.pad_token_id]
    assert batch["attention_mask"][0] == [0, 0, 1]
    right = make_tokenizer(padding_side="right")
    assert right(["a", "abc"], padding=True)["input_ids"][0][1:] == [right.pad_token_id] * 2


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="padding_side"):
        make_tokenizer(padding_side="middle")
    with pytest.raises(ValueError, match="model_max_length"):
        make_tokenizer(model_max_length=0)
