"""The `evaluate` module loads from its folder offline and gives the numbers of `answer_choice_mass`."""

import math

import pytest

evaluate = pytest.importorskip("evaluate")

from trl_explore.metrics import ANSWER_CHOICE_MASS_EVALUATE_PATH, answer_choice_mass  # noqa: E402
from trl_explore.toy import make_tiny_model, make_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(ANSWER_CHOICE_MASS_EVALUATE_PATH)


def test_loads_offline_hand_derived(metric):
    """Q0: [0.6, 0.3], gold 0 -> resolved; Q1: [0.4, 0.35], gold 1 -> not resolved (0.25 >= 0.05), wrong.
    PM (single-token choices) = (0.9 + 0.75) / 2 = 0.825; accuracy 1/2; resolved 1/2."""
    log = math.log
    out = metric.compute(predictions=[[log(0.6), log(0.3)], [log(0.4), log(0.35)]], references=[0, 1])
    assert out["mass"] == pytest.approx(0.825) and out["all_token_mass"] == pytest.approx(0.825)
    assert out["accuracy"] == 0.5 and out["first_token_accuracy"] == 0.5
    assert out["sfc_resolved"] == 0.5 and out["pmi_accuracy"] is None


@pytest.mark.parametrize("fmt", ["enumerated", "string"])
def test_matches_the_function(metric, fmt):
    tok = make_tokenizer()
    model = make_tiny_model(tok, seed=2)
    questions = ["What is 1+1?", "Pick the fruit", "Sky colour?"]
    choices = [["2", "3", "11"], ["apple", "chair", "car"], ["blue", "red", "black", "bl"]]
    answers = [0, 0, 0]
    forms = [" {symbol}", "({symbol})"] if fmt == "enumerated" else None
    r = answer_choice_mass(
        model, tok, questions, choices, format=fmt, answers=answers, pmi=True, surface_forms=forms, show_progress=False
    )
    out = metric.compute(
        predictions=r.choice_logprobs,
        references=answers,
        first_token_logprobs=r.first_token_logprobs,
        first_token_ids=r.first_token_ids,
        unconditional_logprobs=r.unconditional_logprobs,
        mass_token_logprobs=r.mass_token_logprobs,
        mass_token_ids=r.mass_token_ids,
    )
    s = r.summary()
    for key in ("mass", "all_token_mass", "accuracy", "first_token_accuracy", "pmi_accuracy", "sfc_resolved"):
        assert out[key] == pytest.approx(s[key], abs=1e-12), key
    if fmt == "string":  # "blue" and "bl"/"black" share first tokens: counted once, the collision is there
        assert r.first_token_collision[2]
