"""`answer_choice_mass` on tiny toy models against the no-cache reference (`tests/reference/answer_choice_reference.py`):
PM from a plain forward, string / cloze / PMI scores from full-sequence log-probs, duplicates, collisions, formats,
demonstrations, chat template, generation, validation."""

import copy

import pytest
import torch
from reference.answer_choice_reference import next_token_logprobs, pmi_ratio, sequence_logprob, sfc_resolved
from tokenizers import AddedToken

from trl_explore.metrics.answer_choice import (
    answer_choice_mass,
    build_prompt,
    draw_demos,
    parse_generation,
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
    """"cat" and "car" share their first token "c": PM = P(c) + P(d), not 2 P(c) + P(d); the collision is flagged."""
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
        for a, b in zip(one.choice_logprobs + one.unconditional_logprobs, three.choice_logprobs + three.unconditional_logprobs):
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


def test_draw_demos_seeded_nested_and_self_excluding():
    pool = [{"question": f"q{i}", "choices": ["a", "b"], "answer": 0} for i in range(6)]
    two = draw_demos(pool, 6, 2, seed=3, exclude_self=True)
    four = draw_demos(pool, 6, 4, seed=3, exclude_self=True)
    assert two == draw_demos(pool, 6, 2, seed=3, exclude_self=True)  # seeded
    assert two != draw_demos(pool, 6, 2, seed=4, exclude_self=True)
    for i in range(6):
        assert four[i][:2] == two[i]  # k shots are a prefix of k + 2 shots
        assert pool[i] not in four[i] and len({d["question"] for d in four[i]}) == 4
    with pytest.raises(ValueError, match="num_shots"):
        draw_demos(pool, 6, 6, exclude_self=True)


def test_k_shot_uses_the_drawn_demos(model, tok):
    """num_shots=2, demos drawn from the other questions: the mass equals the plain forward over that exact prompt."""
    r = _run(model, tok, answers=ANSWERS, num_shots=2, seed=5)
    pool = [{"question": q, "choices": c, "answer": a} for q, c, a in zip(QUESTIONS, CHOICES, ANSWERS)]
    demos = draw_demos(pool, 3, 2, seed=5, exclude_self=True)
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
    demo = draw_demos(pool, 3, 1, seed=0, exclude_self=True)[0][0]
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
def test_parse_generation():
    assert parse_generation(" B", ["x", "y"], "enumerated") == 1
    assert parse_generation("(A) because", ["x", "y"], "enumerated") == 0
    assert parse_generation("A: x", ["x", "y"], "enumerated") == 0
    assert parse_generation("C", ["x", "y"], "enumerated") is None  # not a choice of this question
    assert parse_generation("Because", ["x", "y"], "enumerated") is None
    assert parse_generation(" Green sea, surely\nmore", ["green", "green sea"], "string") == 1  # longest match
    assert parse_generation("purple", ["green", "blue"], "cloze") is None


def test_greedy_generation_and_invalid_rate(model, tok):
    r = _run(model, tok, answers=ANSWERS, greedy_max_new_tokens=3)
    assert len(r.generations) == 3 and all(isinstance(g, str) for g in r.generations)
    assert r.pred_generation == [parse_generation(g, c, "enumerated") for g, c in zip(r.generations, CHOICES)]
    assert r.invalid_rate == pytest.approx(sum(p is None for p in r.pred_generation) / 3)
    assert r.generation_accuracy == pytest.approx(sum(p == a for p, a in zip(r.pred_generation, ANSWERS)) / 3)


def test_restores_training_mode_and_summary(model, tok):
    model.train()
    try:
        r = _run(model, tok, answers=ANSWERS, pmi=True)
        assert model.training
    finally:
        model.eval()
    s = r.summary()
    assert s["num_questions"] == 3 and 0.0 <= s["mass"] <= 1.0 and 0.0 <= s["sfc_resolved"] <= 1.0
    assert s["accuracy"] == pytest.approx(sum(p == a for p, a in zip(r.pred_sequence, ANSWERS)) / 3)
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
