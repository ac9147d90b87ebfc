"""Tiny Qwen2 / Llama models from the toy kit: seeded, any vocab size, ids from the tokenizer, save/load."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM, Qwen2ForCausalLM

from trl_explore.toy import make_tiny_model, make_tokenizer


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("arch,cls", [("qwen2", Qwen2ForCausalLM), ("llama", LlamaForCausalLM)])
def test_architecture_and_ids(tok, arch: str, cls: type) -> None:
    model = make_tiny_model(tok, arch=arch)
    assert type(model) is cls
    cfg = model.config
    assert cfg.vocab_size == len(tok) == 262
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (64, 2, 4)
    assert cfg.pad_token_id == tok.pad_token_id and cfg.eos_token_id == tok.eos_token_id
    assert cfg.bos_token_id == tok.eos_token_id  # no bos in the toy tokenizer: Qwen2 convention
    gen = model.generation_config
    assert gen.pad_token_id == tok.pad_token_id
    assert gen.eos_token_id == [tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")]
    logits = model(torch.tensor([[5, 6, 7]])).logits
    assert logits.shape == (1, 3, 262)
    assert torch.isfinite(logits).all()


def test_same_seed_same_weights_and_rng_untouched(tok) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = make_tiny_model(tok, seed=7)
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG stream is not consumed
    b = make_tiny_model(tok, seed=7)
    c = make_tiny_model(tok, seed=8)
    assert _same_weights(a, b)
    assert not _same_weights(a, c)


def test_vocab_size_and_overrides(tok) -> None:
    model = make_tiny_model(
        tok,
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=48,
        num_key_value_heads=1,
    )
    cfg = model.config
    assert cfg.vocab_size == 300 and model.get_input_embeddings().weight.shape == (300, 32)
    assert cfg.intermediate_size == 48 and cfg.num_key_value_heads == 1
    assert model(torch.tensor([[1, 299]])).logits.shape == (1, 2, 300)
    default = make_tiny_model()  # builds its own tokenizer
    assert default.config.vocab_size == 262


def test_invalid_arguments(tok) -> None:
    with pytest.raises(ValueError, match="arch"):
        make_tiny_model(tok, arch="gpt9")
    with pytest.raises(ValueError, match="vocab_size"):
        make_tiny_model(tok, vocab_size=10)
    with pytest.raises(ValueError, match="divisible"):
        make_tiny_model(tok, hidden_size=30, num_attention_heads=4)


def test_save_load_round_trip(tok, tmp_path) -> None:
    model = make_tiny_model(tok, arch="llama", seed=3)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert _same_weights(model, loaded)
    assert loaded.generation_config.eos_token_id == model.generation_config.eos_token_id
    x = torch.tensor([[10, 11, 12, 13]])
    torch.testing.assert_close(loaded(x).logits, model(x).logits)


def test_generate_stops_and_pads(tok) -> None:
    model = make_tiny_model(tok)
    ids = tok(["ab", "abcd"], padding=True, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[0] == 2 and out.shape[1] <= 4 + 5
