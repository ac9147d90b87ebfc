"""`answer_choice_mass` on tiny toy models against the no-cache reference (`tests/reference/answer_choice_reference.py`):
PM from a plain forward, string / cloze / PMI scores from full-sequence log-probs, duplicates, collisions, formats,
demonstrations, chat template, generation, validation."""

import copy

import pytest
import torch
from reference.answer_choice_reference import (
    greedy_token_ids,
    next_token_logprobs,
    pmi_ratio,
    released_answer_index,
    sequence_logprob,
    sfc_resolved,
)
from tokenizers import AddedToken

from trl_explore.metrics.answer_choice import (
    answer_choice_mass,
    build_prompt,
    draw_demos,
    draw_shared_demos,
    parse_generation,
    released_instruction,
    unconditional_premise,
)
from trl_explore.toy import make_tiny_model, make_tokenizer

QUESTIONS = ["What is 2+3?", "Which city is the capital of France?", "Sky?"]
CHOICES = [["5", "6", "7"], ["Paris", "Rome", "Berlin", "Madrid"], ["blue", "green sea"]]
ANSWERS = [0, 0, 1]


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return make_tiny_model(tok, seed=0)


@pytest.fixture(scope="module")
def model64(model):
    return copy.deepcopy(model).to(torch.float64)


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def _run(model, tok, **kwargs):
    kwargs.setdefault("show_progress", False)
    return answer_choice_mass(model, tok, kwargs.pop("questions", QUESTIONS), kwargs.pop("choices", CHOICES), **kwargs)


# -------------------------------------------------------------------------------------------------- acceptance
def test_enumerated_mass_equals_softmax_sum_from_a_plain_forward(model, tok):
    """PM = Σ over the unique first tokens of P(token | prompt) at the answer position. With the toy tokenizer " A",
    " B" share the first token " ", so the space is moved into the prompt ("...Answer: ") and "A", "B", ... are scored:
    the hand computation reads the last position of one plain forward over that prompt."""
    r = _run(model, tok, format="enumerated", batch_size=2)
    for i, (q, c) in enumerate(zip(QUESTIONS, CHOICES)):
        logp = next_token_logprobs(model, _ids(tok, build_prompt(q, c, "enumerated") + " "))
        ids = [_ids(tok, s)[0] for s in "ABCD"[: len(c)]]
        assert r.first_token_ids[i] == ids
        assert r.mass[i] == pytest.approx(float(logp[ids].exp().sum()), rel=1e-5, abs=1e-9)
        assert r.choice_probs[i] == pytest.approx(logp[ids].exp().tolist(), rel=1e-5, abs=1e-9)
        assert r.sfc_resolved[i] == sfc_resolved(r.choice_probs[i])
    assert r.moved_prefix == [" "] * 3
    assert any("moved into the prompt" in w for w in r.warnings)
    assert r.all_token_mass == pytest.approx(r.mass)  # single-token symbols: the two masses coincide


@pytest.mark.parametrize("fmt", ["string", "cloze"])
def test_string_scores_equal_full_sequence_logprobs_without_cache(model64, tok, fmt):
    """In float64 the cached, batched, padded scoring equals one uncached forward per choice to 1e-10."""
    r = _run(model64, tok, format=fmt, batch_size=2, pmi=True)
    for i, (q, c) in enumerate(zip(QUESTIONS, CHOICES)):
        prompt = _ids(tok, build_prompt(q, c, fmt) + " ")
        premise = _ids(tok, unconditional_premise(c, fmt) + " ")
        expected = [sequence_logprob(model64, prompt, _ids(tok, choice)) for choice in c]
        expected_unc = [sequence_logprob(model64, premise, _ids(tok, choice)) for choice in c]
        assert r.choice_logprobs[i] == pytest.approx(expected, abs=1e-10)
        assert r.unconditional_logprobs[i] == pytest.approx(expected_unc, abs=1e-10)
        assert r.pmi_scores[i] == pytest.approx([pmi_ratio(a, b) for a, b in zip(expected, expected_unc)], rel=1e-8)
        first = next_token_logprobs(model64, prompt)
        assert r.first_token_logprobs[i] == pytest.approx([float(first[_ids(tok, x)[0]]) for x in c], abs=1e-10)
        assert r.pred_pmi[i] == max(range(len(c)), key=lambda j: expected[j] - expected_unc[j])


def test_string_scores_fp32_and_llama(tok):
    """float32 on a Llama-architecture model, batch of 1 question with 5 choices and one of 2: 1e-5 of the reference."""
    llama = make_tiny_model(tok, arch="llama", hidden_size=48, num_hidden_layers=3, num_attention_heads=3, seed=1)
    questions = ["Pick one", "Odd one out: 1, 3, 4, 5?"]
    choices = [["a", "bb", "ccc", "dddd", "eeeee"], ["4", "one"]]
    r = _run(llama, tok, format="string", questions=questions, choices=choices, batch_size=4)
    for i, (q, c) in enumerate(zip(questions, choices)):
        prompt = _ids(tok, build_prompt(q, c, "string") + " ")
        expected = [sequence_logprob(llama, prompt, _ids(tok, x)) for x in c]
        assert r.choice_logprobs[i] == pytest.approx(expected, abs=2e-5)


def test_duplicate_first_tokens_counted_once(model, tok):
    """ "cat" and "car" share their first token "c": PM = P(c) + P(d), not 2 P(c) + P(d); the collision is flagged."""
    questions, choices = ["Which animal barks?"], [["cat", "car", "dog"]]
    r = _run(model, tok, format="string", questions=questions, choices=choices)
    logp = next_token_logprobs(model, _ids(tok, build_prompt(questions[0], choices[0], "string") + " "))
    c_id, d_id = _ids(tok, "c")[0], _ids(tok, "d")[0]
    assert r.mass[0] == pytest.approx(float(logp[c_id].exp() + logp[d_id].exp()), rel=1e-5)
    assert r.first_token_collision == [True]
    assert any("share their first token" in w for w in r.warnings)


def test_surface_form_variants_deduplicated_by_token_id(model, tok):
    """Forms " {symbol}" (primary), "{symbol}" and "({symbol})": after the space moves into the prompt the first two
    give the same ids "A", "B"; "(A)" and "(B)" share "(". PM = P(A) + P(B) + P("(")."""
    questions, choices = ["Q?"], [["yes", "no"]]
    forms = [" {symbol}", "{symbol}", "({symbol})"]
    r = _run(model, tok, questions=questions, choices=choices, surface_forms=forms)
    logp = next_token_logprobs(model, _ids(tok, build_prompt("Q?", ["yes", "no"], "enumerated") + " "))
    ids = {_ids(tok, "A")[0], _ids(tok, "B")[0], _ids(tok, "(")[0]}
    assert len(r.mass_token_ids[0]) == 6 and set(r.mass_token_ids[0]) == ids
    assert r.mass[0] == pytest.approx(float(logp[list(ids)].exp().sum()), rel=1e-5)
    plain = _run(model, tok, questions=questions, choices=choices)
    assert r.choice_logprobs[0] == pytest.approx(plain.choice_logprobs[0])  # the primary form is scored either way


def test_no_collision_with_single_token_leading_space_forms():
    """A tokenizer with " A" and " B" as single tokens needs no moved prefix and warns nothing."""
    tok = make_tokenizer()
    tok.add_tokens([AddedToken(" A", normalized=False), AddedToken(" B", normalized=False)])
    model = make_tiny_model(tok, seed=3)
    r = _run(model, tok, questions=["Q?"], choices=[["x", "y"]])
    assert r.moved_prefix == [""] and r.warnings == []
    assert r.first_token_ids == [[tok.convert_tokens_to_ids(" A"), tok.convert_tokens_to_ids(" B")]]
    logp = next_token_logprobs(model, _ids(tok, build_prompt("Q?", ["x", "y"], "enumerated")))
    assert r.mass[0] == pytest.approx(float(logp[r.first_token_ids[0]].exp().sum()), rel=1e-5)


def test_batching_left_padding_and_position_ids(model, tok):
    """Batch size 1 and 3 agree (left padding with position ids counted from each row's first real token)."""
    for fmt in ("enumerated", "string"):
        one = _run(model, tok, format=fmt, batch_size=1, pmi=True)
        three = _run(model, tok, format=fmt, batch_size=3, pmi=True)
        for a, b in zip(
            one.choice_logprobs + one.unconditional_logprobs, three.choice_logprobs + three.unconditional_logprobs
        ):
            assert a == pytest.approx(b, abs=2e-5)


def test_prompt_prefilled_once_with_one_logit_row(model, tok):
    """Enumerated: one forward per batch, returning a single logit row (never [T, V] for the prompt). String with
    PMI: per batch, a prefill (one row) and one continuation forward, for the question and for the premise."""
    shapes = []
    handle = model.register_forward_hook(lambda m, a, out: shapes.append(tuple(out.logits.shape)))
    try:
        _run(model, tok, format="enumerated", batch_size=3)
        assert shapes == [(3, 1, model.config.vocab_size)]
        shapes.clear()
        _run(model, tok, format="string", batch_size=3, pmi=True)
    finally:
        handle.remove()
    longest = max(len(x) for c in CHOICES for x in c)  # "green sea": 9 tokens -> 8 fed after the first
    num_long = sum(len(x) > 1 for c in CHOICES for x in c)
    assert shapes == [(3, 1, 262), (num_long, longest - 1, 262)] * 2


# ------------------------------------------------------------------------------------------------- prompts, demos
def test_prompt_formats_exactly():
    assert build_prompt("Q?", ["a", "b", "c"], "enumerated") == "Question: Q?\nChoices:\n A: a\n B: b\n C: c\nAnswer:"
    assert build_prompt("Q?", ["a", "b", "c"], "string") == (
        "question: Q?\nanswer choices: a, b, or c\nThe correct answer is:"
    )
    assert build_prompt("Q?", ["a", "b"], "string").endswith("answer choices: a or b\nThe correct answer is:")
    assert build_prompt("Q?", ["a", "b"], "cloze") == "Q?"
    demo = {"question": "D?", "choices": ["x", "y"], "answer": 1}
    assert build_prompt("Q?", ["a", "b"], "cloze", [demo]) == "D? y\nQ?"
    assert build_prompt("Q?", ["a", "b"], "enumerated", [demo]).startswith(
        "Question: D?\nChoices:\n A: x\n B: y\nAnswer: B\n\nQuestion: Q?"
    )
    assert unconditional_premise(["a", "b"], "cloze") == "?"
    assert unconditional_premise(["a", "b", "c"], "string") == "answer choices: a, b, or c\nThe correct answer is:"
    assert unconditional_premise(["a", "b"], "enumerated") == "Choices:\n A: a\n B: b\nAnswer:"
    with pytest.raises(ValueError, match="format"):
        build_prompt("Q?", ["a", "b"], "mcq")


# The released prompts, typed by hand from the authors' templates (arXiv 2305.14596, Appendix; the released
# evaluation script): a header and a blank line, then the demonstrations, then the question.
CSQA_STRING_1SHOT = (
    "Let's answer commonsense reasoning questions.\n\n"
    "question: Where do fish live?\nanswer choices: tree, sea, sky, desk, or moon\nThe correct answer is: sea\n\n"
    "question: What barks?\nanswer choices: dog, cat, cow, hen, or ant\nThe correct answer is:"
)
OBQA_ENUMERATED_1SHOT = (
    "The following are elementary-level multiple-choice questions about science. For the question below, select the "
    "most suitable answer from the 4 options given.\n\n"
    "Question: Where do fish live?\nChoices:\n A: tree\n B: sea\n C: sky\n D: desk\nAnswer: B\n\n"
    "Question: What barks?\nChoices:\n A: dog\n B: cat\n C: cow\n D: hen\nAnswer:"
)
MMLU_ENUMERATED_0SHOT = (
    "The following are multiple-choice questions about abstract algebra. For the question below, select the most "
    "suitable answer from the 4 options given.\n\n"
    "Question: What barks?\nChoices:\n A: dog\n B: cat\n C: cow\n D: hen\nAnswer:"
)
CLOZE_1SHOT = "Where do fish live? sea\nWhat barks?"


def test_released_prompts_byte_for_byte():
    fish5 = {"question": "Where do fish live?", "choices": ["tree", "sea", "sky", "desk", "moon"], "answer": 1}
    fish4 = {"question": "Where do fish live?", "choices": ["tree", "sea", "sky", "desk"], "answer": 1}
    header = released_instruction("commonsense_qa", "string")
    assert build_prompt("What barks?", ["dog", "cat", "cow", "hen", "ant"], "string", [fish5], header) == (
        CSQA_STRING_1SHOT
    )
    header = released_instruction("openbookqa", "enumerated")
    assert build_prompt("What barks?", ["dog", "cat", "cow", "hen"], "enumerated", [fish4], header) == (
        OBQA_ENUMERATED_1SHOT
    )
    header = released_instruction("mmlu", "enumerated", subject="abstract_algebra")
    assert build_prompt("What barks?", ["dog", "cat", "cow", "hen"], "enumerated", (), header) == MMLU_ENUMERATED_0SHOT
    assert released_instruction("openbookqa", "cloze") is None
    assert build_prompt("What barks?", ["dog", "cat"], "cloze", [fish4], None) == CLOZE_1SHOT
    assert released_instruction("mmlu", "string") == "Let's answer multiple-choice questions."
    with pytest.raises(ValueError, match="subject"):
        released_instruction("mmlu", "enumerated")
    with pytest.raises(ValueError, match="dataset"):
        released_instruction("arc", "string")
    with pytest.raises(ValueError, match="instruction"):
        build_prompt("Q?", ["a", "b"], "string", (), 3)


def test_released_protocol_scores_the_released_prompt(model, tok):
    """protocol="released", one shot from a separate pool with seed 10: every question gets the same demonstration,
    the one Python's ``random.seed(10); random.sample(range(3), 3)[0]`` (= 2) picks (the released draw), and the mass is the
    softmax sum after a plain forward over the hand-written prompt (plus the moved space of the toy tokenizer)."""
    import random

    pool = [
        {"question": "What is 1+1?", "choices": ["2", "3", "4", "5"], "answer": 0},
        {"question": "Which is red?", "choices": ["grass", "sky", "blood", "snow"], "answer": 2},
        {"question": "Where do fish live?", "choices": ["tree", "sea", "sky", "desk"], "answer": 1},
    ]
    state = random.getstate()
    random.seed(10)  # the released script seeds Python's global generator
    first = random.sample([i for i in range(len(pool))], len(pool))[0]
    random.setstate(state)
    assert first == 2  # so the hand-written prompt's demonstration is pool[2]
    header = released_instruction("openbookqa", "enumerated")
    r = _run(
        model,
        tok,
        questions=["What barks?", "What barks?"],
        choices=[["dog", "cat", "cow", "hen"]] * 2,
        num_shots=1,
        demos=pool,
        seed=10,
        protocol="released",
        instruction=header,
    )
    logp = next_token_logprobs(model, _ids(tok, OBQA_ENUMERATED_1SHOT + " "))
    ids = [_ids(tok, x)[0] for x in "ABCD"]
    assert r.mass == pytest.approx([float(logp[ids].exp().sum())] * 2, rel=1e-5)
    assert draw_shared_demos(pool, 2, seed=10) == [pool[j] for j in random.Random(10).sample(range(3), 3)[:2]]


def test_instruction_and_shared_draw_options(model, tok):
    """`instruction` alone (default protocol) opens the prompt; `demo_sampling="shared"` gives every question the
    same demonstrations; the released protocol refuses to run without a header or without a separate pool."""
    pool = [{"question": f"d{i}?", "choices": ["a", "b"], "answer": i % 2} for i in range(5)]
    r = _run(model, tok, instruction="Answer.", num_shots=2, demos=pool, demo_sampling="shared", seed=3)
    shared = [pool[j] for j in random_sample(3, 5)[:2]]
    for i, (q, c) in enumerate(zip(QUESTIONS, CHOICES)):
        prompt = (
            "Answer.\n\n"
            + "".join(
                f"Question: {d['question']}\nChoices:\n A: a\n B: b\nAnswer: {'AB'[d['answer']]}\n\n" for d in shared
            )
            + build_prompt(q, c, "enumerated")
            + " "
        )
        logp = next_token_logprobs(model, _ids(tok, prompt))
        assert r.mass[i] == pytest.approx(float(logp[r.first_token_ids[i]].exp().sum()), rel=1e-5)
    with pytest.raises(ValueError, match="instruction"):
        _run(model, tok, protocol="released")
    with pytest.raises(ValueError, match="separate pool"):
        _run(model, tok, protocol="released", instruction="x", num_shots=1, answers=ANSWERS)
    with pytest.raises(ValueError, match="protocol"):
        _run(model, tok, protocol="paper")
    with pytest.raises(ValueError, match="demo_sampling"):
        _run(model, tok, demo_sampling="global")


def random_sample(seed: int, n: int) -> list[int]:
    """The released draw: Python's generator seeded with `seed`, the pool's indices sampled without replacement."""
    import random

    return random.Random(seed).sample(range(n), n)


def _drawn_by_hand(pool, i, k, seed):
    """The documented draw, restated: question i shuffles the pool with ``numpy.random.default_rng([seed, i])`` and
    takes the first k entries other than itself."""
    import numpy as np

    return [pool[int(j)] for j in np.random.default_rng([seed, i]).permutation(len(pool)) if j != i][:k]


def test_draw_demos_seeded_nested_and_self_excluding():
    pool = [{"question": f"q{i}", "choices": ["a", "b"], "answer": 0} for i in range(6)]
    two = draw_demos(pool, 6, 2, seed=3, exclude_self=True)
    four = draw_demos(pool, 6, 4, seed=3, exclude_self=True)
    assert two == draw_demos(pool, 6, 2, seed=3, exclude_self=True)  # seeded
    assert two != draw_demos(pool, 6, 2, seed=4, exclude_self=True)
    for i in range(6):
        assert four[i][:2] == two[i]  # k shots are a prefix of k + 2 shots
        assert pool[i] not in four[i] and len({d["question"] for d in four[i]}) == 4
    assert four == [_drawn_by_hand(pool, i, 4, seed=3) for i in range(6)]
    with pytest.raises(ValueError, match="num_shots"):
        draw_demos(pool, 6, 6, exclude_self=True)


def test_k_shot_uses_the_drawn_demos(model, tok):
    """num_shots=2, demos drawn from the other questions: the mass equals the plain forward over that exact prompt."""
    r = _run(model, tok, answers=ANSWERS, num_shots=2, seed=5)
    pool = [{"question": q, "choices": c, "answer": a} for q, c, a in zip(QUESTIONS, CHOICES, ANSWERS)]
    demos = [_drawn_by_hand(pool, i, 2, seed=5) for i in range(3)]
    for i in range(3):
        prompt = build_prompt(QUESTIONS[i], CHOICES[i], "enumerated", demos[i]) + " "
        logp = next_token_logprobs(model, _ids(tok, prompt))
        assert r.mass[i] == pytest.approx(float(logp[r.first_token_ids[i]].exp().sum()), rel=1e-5)
    explicit = _run(model, tok, answers=ANSWERS, num_shots=2, demos=demos)  # per-question lists, used as given
    assert explicit.mass == pytest.approx(r.mass)
    pooled = _run(model, tok, num_shots=1, demos=pool[:1])  # a pool: drawn, no answers needed
    assert pooled.accuracy is None and len(pooled.mass) == 3


def test_chat_template(model, tok):
    """The prompt becomes a ChatML user turn (demos as user / assistant turns); default forms have no leading space,
    so nothing is moved."""
    r = _run(model, tok, use_chat_template=True, answers=ANSWERS, num_shots=1)
    pool = [{"question": q, "choices": c, "answer": a} for q, c, a in zip(QUESTIONS, CHOICES, ANSWERS)]
    demo = _drawn_by_hand(pool, 0, 1, seed=0)[0]
    messages = [
        {"role": "user", "content": build_prompt(demo["question"], demo["choices"], "enumerated")},
        {"role": "assistant", "content": "ABCD"[demo["answer"]]},
        {"role": "user", "content": build_prompt(QUESTIONS[0], CHOICES[0], "enumerated")},
    ]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    logp = next_token_logprobs(model, _ids(tok, text))
    assert r.moved_prefix[0] == "" and r.first_token_ids[0] == [_ids(tok, s)[0] for s in "ABC"]
    assert r.mass[0] == pytest.approx(float(logp[r.first_token_ids[0]].exp().sum()), rel=1e-5)


# ------------------------------------------------------------------------------------------------------ generation
ANIMALS = ["dog", "cat", "bird", "fish"]


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        # the released rule: first line, periods stripped from both ends, then whitespace; an exact, case-sensitive match
        (" cat", "string", 1),
        ("cat.", "string", 1),
        (" fish.\nbecause it swims", "string", 3),
        (" catfish", "string", None),  # a prefix is not an answer (the lenient parser said 1)
        (" Dog", "string", None),  # case matters
        (" dog house", "string", None),
        (" cat. ", "string", None),  # periods go before the whitespace: "cat." is left
        ("\ncat", "string", None),  # the first line is empty
        (" bird", "cloze", 2),
        (" B", "enumerated", 1),
        ("D.", "enumerated", 3),
        (" (B)", "enumerated", None),
        (" C: bird", "enumerated", None),
        (" b", "enumerated", None),
        (" E", "enumerated", None),  # not a symbol of this question's four choices
    ],
)
def test_parse_generation_strict_is_the_released_rule(text, fmt, expected):
    """Default parsing: the hand-read answer of each generation (cases from the audit of issue 24 §2.3), and the
    released rule as written in `tests/reference` agrees on every case."""
    assert parse_generation(text, ANIMALS, fmt) == expected
    assert released_answer_index(text, ANIMALS, "ABCD" if fmt == "enumerated" else None) == expected


@pytest.mark.parametrize(
    ("text", "choices", "fmt", "expected"),
    [
        (" catfish", ANIMALS, "string", 1),  # prefix of "catfish": "cat"
        (" Dog house", ANIMALS, "string", 0),
        (" Green sea, surely\nmore", ["green", "green sea"], "string", 1),  # the longest match wins
        ("purple", ["green", "blue"], "cloze", None),
        ("(A) because", ["x", "y"], "enumerated", 0),
        ("A: x", ["x", "y"], "enumerated", 0),
        ("C", ["x", "y"], "enumerated", None),  # not a choice of this question
        ("Because", ["x", "y"], "enumerated", None),
    ],
)
def test_parse_generation_lenient(text, choices, fmt, expected):
    assert parse_generation(text, choices, fmt, answer_parsing="lenient") == expected


def test_parse_generation_rejects_unknown_mode():
    with pytest.raises(ValueError, match="answer_parsing"):
        parse_generation("A", ["x", "y"], "enumerated", answer_parsing="loose")


def test_invalid_rate_counts_rejected_generations(model, tok, monkeypatch):
    """Generations fixed by hand (the model's are replaced): " catfish", " cat", " Dog" for questions whose choices
    are ANIMALS, answer 1 ("cat"). Strict: invalid, valid and right, invalid -> invalid rate 2/3, generation accuracy
    1/3. Lenient: "cat", "cat", "dog" -> invalid rate 0, accuracy 2/3."""
    import trl_explore.metrics.answer_choice.core as core

    monkeypatch.setattr(core, "_generate", lambda *a, **k: [" catfish", " cat", " Dog"])
    kwargs = {
        "questions": ["q1", "q2", "q3"],
        "choices": [ANIMALS] * 3,
        "answers": [1, 1, 1],
        "format": "string",
        "greedy_max_new_tokens": 4,
    }
    strict = _run(model, tok, **kwargs)
    assert strict.pred_generation == [None, 1, None]
    assert strict.invalid_rate == pytest.approx(2 / 3) and strict.generation_accuracy == pytest.approx(1 / 3)
    lenient = _run(model, tok, answer_parsing="lenient", **kwargs)
    assert lenient.pred_generation == [1, 1, 0]
    assert lenient.invalid_rate == 0.0 and lenient.generation_accuracy == pytest.approx(2 / 3)


def test_greedy_generation_matches_a_hand_decoding(model, tok):
    """The generations equal a token-by-token argmax decoding of the same prompt (uncached, unbatched; the reference),
    and their parse, invalid rate and accuracy follow the released rule as written in `tests/reference`."""
    r = _run(model, tok, answers=ANSWERS, greedy_max_new_tokens=3, batch_size=2)
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    expected_text = []
    for q, c in zip(QUESTIONS, CHOICES):
        ids = greedy_token_ids(model, _ids(tok, build_prompt(q, c, "enumerated")), 3, eos_ids)
        expected_text.append(tok.decode(ids, skip_special_tokens=True))
    assert r.generations == expected_text
    expected_pred = [released_answer_index(g, c, "ABCD") for g, c in zip(expected_text, CHOICES)]
    assert r.pred_generation == expected_pred
    assert r.invalid_rate == pytest.approx(sum(p is None for p in expected_pred) / 3)
    assert r.generation_accuracy == pytest.approx(sum(p == a for p, a in zip(expected_pred, ANSWERS)) / 3)


def test_restores_training_mode_and_summary(model, tok):
    """Enumerated accuracy against the reference: the argmax of the symbols' probabilities after a plain forward
    over each prompt (with the moved space)."""
    model.train()
    try:
        r = _run(model, tok, answers=ANSWERS, pmi=True)
        assert model.training
    finally:
        model.eval()
    s = r.summary()
    hits = 0
    for q, c, a in zip(QUESTIONS, CHOICES, ANSWERS):
        logp = next_token_logprobs(model, _ids(tok, build_prompt(q, c, "enumerated") + " "))
        symbol_logp = [float(logp[_ids(tok, x)[0]]) for x in "ABCD"[: len(c)]]
        hits += int(max(range(len(c)), key=symbol_logp.__getitem__) == a)
    assert s["num_questions"] == 3 and 0.0 <= s["mass"] <= 1.0 and 0.0 <= s["sfc_resolved"] <= 1.0
    assert s["accuracy"] == pytest.approx(hits / 3)
    assert set(r.to_dict()) >= {"mass", "choice_probs", "pmi_scores", "summary"}


# ------------------------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"format": "mcq"}, "format"),
        ({"questions": "What?"}, "questions"),
        ({"questions": []}, "questions"),
        ({"choices": CHOICES[:2]}, "choices"),
        ({"choices": [["5"], CHOICES[1], CHOICES[2]]}, r"choices\[0\]"),
        ({"choices": [["5", ""], CHOICES[1], CHOICES[2]]}, r"choices\[0\]"),
        ({"choices": [["5", 6], CHOICES[1], CHOICES[2]]}, r"choices\[0\]"),
        ({"questions": [1, "b", "c"]}, r"questions\[0\]"),
        ({"answers": [0, 1]}, "answers"),
        ({"answers": [0, 9, 0]}, r"answers\[1\]"),
        ({"answers": [0, True, 0]}, r"answers\[1\]"),
        ({"num_shots": -1}, "num_shots"),
        ({"num_shots": 1.5}, "num_shots"),
        ({"num_shots": 1}, "answers"),  # demos from the questions need the answers
        ({"num_shots": 3, "answers": ANSWERS}, "num_shots"),  # only 2 other questions
        ({"num_shots": 1, "demos": [{"question": "q"}]}, r"demos\[0\]"),
        ({"num_shots": 1, "demos": [[{"question": "q", "choices": ["a", "b"], "answer": 0}]]}, "one list per question"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"pmi": 1}, "pmi"),
        ({"surface_forms": []}, "surface_forms"),
        ({"surface_forms": [" {choice}"]}, "surface_forms"),  # enumerated needs {symbol}
        ({"format": "string", "surface_forms": ["{symbol}"]}, "surface_forms"),
        ({"greedy_max_new_tokens": -1}, "greedy_max_new_tokens"),
        ({"use_chat_template": "yes"}, "use_chat_template"),
        ({"show_progress": None}, "show_progress"),
        ({"seed": "0"}, "seed"),
    ],
)
def test_validation(model, tok, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _run(model, tok, **kwargs)


def test_validation_of_model_tokenizer_and_chat(model, tok):
    with pytest.raises(ValueError, match="model"):
        answer_choice_mass("gpt2", tok, QUESTIONS, CHOICES)
    with pytest.raises(ValueError, match="tokenizer"):
        answer_choice_mass(model, None, QUESTIONS, CHOICES)
    plain = copy.copy(tok)
    plain.chat_template = None
    with pytest.raises(ValueError, match="chat template"):
        answer_choice_mass(model, plain, QUESTIONS, CHOICES, use_chat_template=True)
    with pytest.raises(ValueError, match="26"):
        answer_choice_mass(model, tok, ["q"], [[str(i) for i in range(27)]])


def test_plot_labels_coinciding_points_once():
    """k=0 and k=1 land within 0.05 of each other (PM 0.000 and 0.040, accuracy 0.25 and 0.27): one label "k=0, 1"
    at the first point instead of two drawn over each other; k=2, 0.5 away, keeps its own."""
    from trl_explore.metrics.answer_choice.plot import _point_labels

    labels = _point_labels([0, 1, 2], [0.0, 0.04, 0.5], [0.25, 0.27, 0.5])
    assert labels == {(0.0, 0.25): "k=0, 1", (0.5, 0.5): "k=2"}
