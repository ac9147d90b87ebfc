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


def _next_token_model(tok, successor: dict[int, int]):
    """A toy model whose greedy next token is ``successor[current token]``, whatever came before.

    Every layer's output projections (attention ``o_proj``, MLP ``down_proj``) are zero, so the residual stream is the
    current token's embedding. Token ``x`` (the ``i``-th key of ``successor``) embeds as the unit vector ``e_i``; the
    final RMSNorm maps it to ``e_i / sqrt(1/64 + 1e-6) ≈ 8 e_i``; the untied head has ``W[successor[x], i] = 1`` and
    zeros elsewhere, so the logit of ``successor[x]`` is ≈ 8 and every other logit is 0."""
    model = make_tiny_model(tok, tie_word_embeddings=False)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        for i, (x, nxt) in enumerate(successor.items()):
            model.model.embed_tokens.weight[x] = torch.nn.functional.one_hot(torch.tensor(i), 64).float()
            model.lm_head.weight[nxt, i] = 1.0
    return model


def test_generate_stops_and_pads(tok) -> None:
    """The generation config stops a row at eos or ``<|im_end|>``, pads it with the pad id afterwards, and stops the
    call once every row has stopped. Hand-built chains (`_next_token_model`; ids from the tokenizer):

    row 0  "xy":  y -> eos                       new tokens [eos, pad, pad, ...]
    row 1  "pq":  q -> r -> s -> eos             [r, s, eos, pad, ...]
    row 2  "uv":  v -> w -> <|im_end|>           [w, im_end, pad, ...]
    row 3  "ijk": k -> k (never stops)           [k, k, k, k, k]  (max_new_tokens = 5)

    Rows 0-2 left-padded by one pad (the tokenizer pads on the left). With row 3 the call runs the 5 steps; without it
    every row has stopped after 3 steps, so 3 new tokens, not 5.
    """
    one = {c: tok.convert_tokens_to_ids(c) for c in "xypqrsuvwijk"}
    eos, pad, im_end = tok.eos_token_id, tok.pad_token_id, tok.convert_tokens_to_ids("<|im_end|>")
    assert len({eos, pad, im_end}) == 3
    successor = {
        one["y"]: eos,
        one["q"]: one["r"],
        one["r"]: one["s"],
        one["s"]: eos,
        one["v"]: one["w"],
        one["w"]: im_end,
        one["k"]: one["k"],
    }
    model = _next_token_model(tok, successor)
    batch = tok(["xy", "pq", "uv", "ijk"], padding=True, return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert batch["input_ids"][:3, 0].tolist() == [pad, pad, pad]
    assert out[:, :3].tolist() == batch["input_ids"].tolist()
    assert out[:, 3:].tolist() == [
        [eos, pad, pad, pad, pad],
        [one["r"], one["s"], eos, pad, pad],
        [one["w"], im_end, pad, pad, pad],
        [one["k"]] * 5,
    ]
    batch = tok(["xy", "pq", "uv"], padding=True, return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert out[:, 2:].tolist() == [[eos, pad, pad], [one["r"], one["s"], eos], [one["w"], im_end, pad]]
