"""`trl_explore.toy.human_text`: offline human prose (Python's reference documentation) and the detection papers'
continuation protocol (issue 27: real human text for Lastde / Lastde++)."""

from __future__ import annotations

import pytest
import torch

from trl_explore.toy import make_tiny_model, make_tokenizer
from trl_explore.toy.human_text import _prose, human_prose_texts, make_real_detection_texts


def test_prose_filter_on_hand_written_blocks():
    prose = "The loop runs once for each item in the sequence, in order.\nIt stops when the sequence is exhausted."
    assert _prose(prose, min_words=5) == (
        "The loop runs once for each item in the sequence, in order. It stops when the sequence is exhausted."
    )
    assert _prose("   for x in y:\n      pass and then more words here to pass the count.", min_words=3) is None
    assert _prose(">>> print(1) is an example of an interactive prompt line.", min_words=3) is None
    assert _prose("the lower-case start is not a paragraph start, so it is dropped.", min_words=3) is None
    assert _prose("A sentence without the final period", min_words=3) is None
    assert _prose("A (b) = c[d] * e_f {g} <h> | i: j.", min_words=3) is None  # mostly code punctuation
    assert _prose("Too short.", min_words=3) is None


def test_at_least_150_distinct_paragraphs_and_seeded_order():
    texts = human_prose_texts()
    assert len(texts) >= 150 and len(set(texts)) == len(texts)
    assert all(len(t.split()) >= 35 and "\n" not in t for t in texts)
    assert human_prose_texts(10, seed=1) == human_prose_texts(10, seed=1)
    assert human_prose_texts(10, seed=1) != human_prose_texts(10, seed=2)
    assert sorted(human_prose_texts(seed=3)) == sorted(texts)
    with pytest.raises(ValueError, match="num_texts"):
        human_prose_texts(10_000)


def test_machine_text_continues_the_human_prefix_to_the_same_length():
    tokenizer = make_tokenizer()  # one token per byte: token counts are character counts
    model = make_tiny_model(tokenizer, seed=0)
    state = torch.random.get_rng_state()
    pair = make_real_detection_texts(model, tokenizer, 6, prefix_tokens=30, max_tokens=80, seed=0, show_progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is restored
    assert len(pair["human"]) == len(pair["machine"]) == 6
    for human, machine in zip(pair["human"], pair["machine"]):
        assert len(human.encode()) <= 80
        assert machine.encode()[:30] == human.encode()[:30]  # the first 30 bytes are the human prefix
    again = make_real_detection_texts(model, tokenizer, 6, prefix_tokens=30, max_tokens=80, seed=0, show_progress=False)
    assert again == pair
    with pytest.raises(ValueError, match="max_tokens"):
        make_real_detection_texts(model, tokenizer, 6, prefix_tokens=30, max_tokens=30)
