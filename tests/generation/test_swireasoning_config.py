"""`SwiReasoningConfig` validation (every field: type, range, finiteness) and the tokenizer look-ups."""

from __future__ import annotations

import math

import pytest

from trl_explore.generation import SwiReasoningConfig
from trl_explore.generation.swireasoning_config import is_math_text, math_token_ids, resolve_tokens
from trl_explore.toy import make_tokenizer

BAD_VALUES = [
    ("alpha0", -0.1),
    ("alpha0", 1.5),
    ("alpha0", math.nan),
    ("alpha0", "0.5"),
    ("alpha0", True),
    ("beta0", 1.01),
    ("beta0", math.inf),
    ("beta0", None),
    ("window_size", 0),
    ("window_size", 2.5),
    ("window_size", True),
    ("window_size", -3),
    ("max_switch_count", 0),
    ("max_switch_count", 1.0),
    ("max_switch_count", "2"),
    ("think_token", ""),
    ("think_token", None),
    ("end_think_token", 3),
    ("convergence_string", ""),
    ("termination_string", 5),
    ("answer_budget", -1),
    ("answer_budget", 3.0),
    ("answer_budget", None),
    ("answer_budget", 0),
    ("answer_budget_from", "termination"),
    ("answer_budget_from", None),
    ("math_tokens", "vocabulary"),
    ("math_tokens", None),
    ("math_override", 1),
    ("math_override", "yes"),
    ("math_token_ids", [1, -2]),
    ("math_token_ids", "123"),
    ("math_token_ids", [1.5]),
    ("math_token_ids", 7),
    ("start_mode", "soft"),
    ("start_mode", None),
    ("initial_soft_weight", 1.2),
    ("initial_soft_weight", -math.inf),
    ("initial_mix_token", ""),
    ("initial_mix_token", 10),
    ("do_sample", 0),
    ("temperature", 0.0),
    ("temperature", -1.0),
    ("temperature", math.inf),
    ("temperature", math.nan),
    ("top_p", 0.0),
    ("top_p", 1.5),
    ("top_p", math.nan),
    ("top_k", -1),
    ("top_k", 2.0),
    ("min_p", 1.5),
    ("min_p", -0.1),
    ("min_p", math.nan),
    ("seed", -1),
    ("seed", 1.5),
    ("seed", True),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_invalid_values_name_the_field(name, value):
    with pytest.raises(ValueError, match=f"`{name}`"):
        SwiReasoningConfig(**{name: value})


def test_think_tokens_must_differ():
    with pytest.raises(ValueError, match="`think_token` and `end_think_token`"):
        SwiReasoningConfig(think_token="<t>", end_think_token="<t>")


def test_valid_edges_and_defaults():
    config = SwiReasoningConfig()
    assert (config.alpha0, config.beta0, config.window_size, config.max_switch_count) == (1.0, 0.7, 512, None)
    assert (config.answer_budget, config.answer_budget_from) == (32, "switch")
    assert (config.math_override, config.math_tokens, config.start_mode) == (True, "released", "latent")
    assert (config.initial_soft_weight, config.initial_mix_token) == (0.9, "\n")
    assert (config.temperature, config.top_p, config.top_k, config.min_p) == (0.6, 0.95, 20, None)
    assert config.resolved_convergence_string == "\n\n</think>\n\n"
    assert config.resolved_termination_string == "</think>\n\nThe final answer is"
    edge = SwiReasoningConfig(
        alpha0=0,
        beta0=1,
        window_size=None,
        max_switch_count=1,
        answer_budget=0,
        answer_budget_from="after_termination",
        math_tokens="pattern",
        top_k=0,
        top_p=1.0,
        min_p=0.0,
        initial_mix_token=None,
        math_token_ids=(3, 4),
        seed=0,
    )
    assert edge.math_token_ids == [3, 4]
    custom = SwiReasoningConfig(end_think_token="<|/reason|>", think_token="<|reason|>")
    assert custom.resolved_termination_string.startswith("<|/reason|>")


def test_is_math_text():
    for text in ["7", " 42", "+", ")=", "3.5", "\\frac", " \\sqrt", "x", " y", "{", "^", "$"]:
        assert is_math_text(text), text
    for text in ["", " ", "\n", "the", " The", ":", "hello", "ab", "#"]:
        assert not is_math_text(text), text


def test_resolve_tokens_with_the_toy_tokenizer():
    """The toy tokenizer has <think> (260) and </think> (261) as single tokens and one token per ASCII character
    (byte b -> id 4 + b), so digits, operators and letters are math tokens, spaces and newlines are not."""
    tok = make_tokenizer()
    tokens = resolve_tokens(tok, SwiReasoningConfig(max_switch_count=2))
    assert (tokens.think_id, tokens.end_think_id, tokens.initial_mix_id) == (260, 261, 4 + ord("\n"))
    assert tokens.convergence_ids == [14, 14, 261, 14, 14]  # "\n\n</think>\n\n"
    assert tokens.termination_ids[0] == 261 and tok.decode(tokens.termination_ids) == "</think>\n\nThe final answer is"
    math_ids = set(tokens.math_ids)
    for ch in "0123456789+-*/=()xyzABC":
        assert 4 + ord(ch) in math_ids, ch
    for ch in " \n:#@.,":  # not in the released symbol list
        assert 4 + ord(ch) not in math_ids, ch
    assert tok.pad_token_id not in math_ids and tok.eos_token_id not in math_ids
    assert math_token_ids(tok) is math_token_ids(tok)  # cached per tokenizer


def test_math_override_off_and_explicit_ids():
    tok = make_tokenizer()
    assert resolve_tokens(tok, SwiReasoningConfig(math_override=False)).math_ids == []
    assert resolve_tokens(tok, SwiReasoningConfig(math_token_ids=[40, 41])).math_ids == [40, 41]
    # explicit start or weight 1: no step-0 mix token needed
    assert resolve_tokens(tok, SwiReasoningConfig(start_mode="explicit")).initial_mix_id is None
    assert resolve_tokens(tok, SwiReasoningConfig(initial_soft_weight=1.0)).initial_mix_id is None


def test_missing_think_tokens_give_a_clear_error():
    tok = make_tokenizer()
    with pytest.raises(ValueError, match=r"`think_token` '<reflect>' is not a single token .*add them"):
        resolve_tokens(tok, SwiReasoningConfig(think_token="<reflect>"))
    with pytest.raises(ValueError, match="`end_think_token`"):
        resolve_tokens(tok, SwiReasoningConfig(end_think_token="</reflect>"))
    with pytest.raises(ValueError, match="`initial_mix_token`"):
        resolve_tokens(tok, SwiReasoningConfig(initial_mix_token="\n\n"))
    with pytest.raises(ValueError, match="tokenizer"):
        resolve_tokens(None, SwiReasoningConfig())


def test_added_think_tokens_are_found():
    """A tokenizer without think tokens works once they are added (as a real model's tokenizer would be)."""
    tok = make_tokenizer()
    tok.add_tokens(["<reflect>", "</reflect>"])
    tokens = resolve_tokens(tok, SwiReasoningConfig(think_token="<reflect>", end_think_token="</reflect>"))
    assert tokens.think_id == len(tok) - 2 and tokens.end_think_id == len(tok) - 1


# ----------------------------------------------------------------------------------- math tokens, real-format BPE
# A byte-level BPE tokenizer in the format of Qwen2/Qwen3's `tokenizer.json`: Qwen's pre-tokenizer split regex, then
# the byte-level alphabet (256 symbols, ' ' is 'Ġ'), then a few merges to Qwen-style tokens.
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
MERGES = [
    ("Ġ", "+"),
    ("Ġ", "="),
    ("Ġ", "\\"),
    ("\\", "f"),
    ("\\f", "r"),
    ("\\fr", "a"),
    ("\\fra", "c"),
    ("p", "m"),
    ("Ġ", "t"),
    ("Ġt", "h"),
    ("Ġth", "e"),
]


def qwen_style_bpe():
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=MERGES))
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ("<think>", "</think>")])
    return tok


def test_the_bpe_tokenizer_splits_like_qwen():
    """The pieces the membership below is derived from (Qwen's regex: one non-letter may lead a run of letters,
    digits split one by one, a space leads a run of punctuation)."""
    tok = qwen_style_bpe()
    pieces = {
        s: tok.convert_ids_to_tokens(tok.encode(s, add_special_tokens=False))
        for s in ("\\frac", "\\forall", "\\dfrac", "{pmatrix}", " + x = 12.5, the", " \\frac")
    }
    assert pieces == {
        "\\frac": ["\\frac"],
        "\\forall": ["\\f", "o", "r", "a", "l", "l"],  # merge '\\'+'f', then no '\\f'+'o'
        "\\dfrac": ["\\", "d", "f", "r", "a", "c"],  # no merge starts with '\\'+'d'
        "{pmatrix}": ["{", "pm", "a", "t", "r", "i", "x", "}"],
        " + x = 12.5, the": ["Ġ+", "Ġ", "x", "Ġ=", "Ġ", "1", "2", ".", "5", ",", "Ġthe"],
        " \\frac": ["Ġ\\", "f", "r", "a", "c"],
    }


def test_default_math_tokens_are_the_released_construction_on_a_bpe_vocabulary():
    """arXiv 2510.05069 (released code): the ids of the bare encodings of its symbol list. On this vocabulary every
    symbol's characters are single-byte tokens, except the merges reached from a bare symbol: '\\frac' (from
    "\\frac"), '\\f' (from "\\forall", see the pieces above) and 'pm' (from "\\begin{pmatrix}" /
    "\\end{pmatrix}"). The characters of the list: 17 operators and brackets + - * / ^ _ = < > | ( ) [ ] { } \\,
    10 digits, 52 letters: 17 + 10 + 52 + 3 = 82 tokens. No space-prefixed token ('Ġ+', 'Ġ=', 'Ġ\\') and no '.' or
    ',' (the derived pattern set of the earlier default had all of them, so this test fails on it)."""
    tok = qwen_style_bpe()
    want = {
        *"+-*/^_=<>|()[]{}\\",
        *"0123456789",
        *"abcdefghijklmnopqrstuvwxyz",
        *"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "\\frac",
        "\\f",
        "pm",
    }
    assert len(want) == 82
    ids = resolve_tokens(tok, SwiReasoningConfig()).math_ids
    assert len(ids) == 82 and set(tok.convert_ids_to_tokens(ids)) == want
    for token in (".", ",", "Ġ+", "Ġ=", "Ġ\\", "\\fra", "Ġt", "Ġthe", "<think>", "</think>"):
        assert tok.convert_tokens_to_ids(token) not in ids, token


def test_pattern_math_tokens_scan_the_vocabulary():
    """`math_tokens="pattern"`: every token whose decoded text, whitespace stripped, is a LaTeX command, digits and
    operators, or one letter: '.', ',', '%', '$', '!' and the space-prefixed 'Ġ+' (" +"), 'Ġ=' , 'Ġ\\' and 'Ġt'
    (" t": one letter) are in; the LaTeX fragments '\\f', '\\fr', '\\fra' are commands too; 'pm' (two letters) and
    'Ġthe' are not; neither are the added think tokens nor the eos."""
    tok = qwen_style_bpe()
    ids = set(resolve_tokens(tok, SwiReasoningConfig(math_tokens="pattern")).math_ids)
    for token in (".", ",", "%", "$", "!", "Ġ+", "Ġ=", "Ġ\\", "Ġt", "\\f", "\\fr", "\\fra", "\\frac", "7", "x"):
        assert tok.convert_tokens_to_ids(token) in ids, token
    for token in ("pm", "Ġthe", "Ġ", "<think>", "</think>", "<|endoftext|>"):
        assert tok.convert_tokens_to_ids(token) not in ids, token
    assert math_token_ids(tok, "pattern") is math_token_ids(tok, "pattern")  # cached per tokenizer and set
    assert math_token_ids(tok, "released") != math_token_ids(tok, "pattern")
    with pytest.raises(ValueError, match="`math_tokens`"):
        math_token_ids(tok, "vocabulary")
