"""The decode loop on synthetic entropy sequences (a scripted LM, see `scripted_lm.py`): switch rule, dwell window,
lock, switch count, math override, the inputs fed, the switch cap with its strings and answer budget, and pruning."""

from __future__ import annotations

import pytest
import torch
from scripted_lm import ScriptedLM, scripted_entropy, scripted_probs

from trl_explore.generation import SwiReasoningConfig, SwiReasoningEvent, swi_generate
from trl_explore.generation.swireasoning import EXPLICIT, LATENT, MATH_OVERRIDE
from trl_explore.toy import make_tokenizer

TOK = make_tokenizer()
V = len(TOK)
HASH, AT, COLON, SEVEN, NEWLINE = (4 + ord(c) for c in "#@:7\n")  # '#', '@', ':' are not math tokens, '7' is
THINK, END_THINK, EOS = 260, 261, TOK.eos_token_id
PROMPT = [[4 + ord(c) for c in "Q?"]]


def greedy(**overrides) -> SwiReasoningConfig:
    return SwiReasoningConfig(do_sample=False, **overrides)


# (s_t, token_t): the entropy H(s) falls as s grows
RULE_SCRIPT = [
    (1.0, HASH),  # t0 latent, ref = H(1)            input 0.9·e_soft + 0.1·E["\n"]
    (2.0, HASH),  # t1 H(2) < H(1): -> explicit       input β_1·e_soft + (1 - β_1)·E[</think>]
    (0.5, HASH),  # t2 H > ref, dwell 1 < 2: stays    input E['#']
    (0.5, AT),  # t3 dwell 2: -> latent, ref = H(.5)  input α_3·e_soft + (1 - α_3)·E[<think>]
    (0.5, SEVEN),  # t4 equal: latent; '7' is math    input E['7'] (override)
    (0.5, COLON),  # t5 latent                         input e_soft
    (1.0, HASH),  # t6 H(1) < H(.5): -> explicit      input β_6 blend
    (1.0, END_THINK),  # t7 the model samples </think>: locked
    (0.2, HASH),  # t8 H > ref, dwell 2, but locked: stays explicit
    (1.0, EOS),  # t9 eos: done
]


def test_switch_rule_on_a_scripted_entropy_sequence():
    model = ScriptedLM(RULE_SCRIPT, [2])
    out = swi_generate(model, TOK, PROMPT, greedy(window_size=2, alpha0=0.5), max_new_tokens=20)
    assert out.mode_trace == [
        [LATENT, EXPLICIT, EXPLICIT, LATENT, MATH_OVERRIDE, LATENT, EXPLICIT, EXPLICIT, EXPLICIT, EXPLICIT]
    ]
    assert out.trigger_events == [
        [
            SwiReasoningEvent(1, "to_explicit"),
            SwiReasoningEvent(3, "to_latent"),
            SwiReasoningEvent(6, "to_explicit"),
            SwiReasoningEvent(7, "end_think"),
        ]
    ]
    assert out.switch_count == [2]  # three switches, two latent -> explicit
    assert out.latent_share == [pytest.approx(3 / 10)]  # steps 0, 3, 5
    assert out.math_override_count == [1]
    assert out.finish_reason == ["eos"] and out.num_generated_tokens == [10]
    assert out.sequences[0, 2:].tolist() == [tok for _, tok in RULE_SCRIPT]
    expected_h = [scripted_entropy(s, V) for s, _ in RULE_SCRIPT]
    assert out.entropy_trace[0] == pytest.approx(expected_h, abs=1e-5)


def test_inputs_fed_after_each_step():
    """c · e_soft + (1 - c) · E[a] per step (hand-listed in RULE_SCRIPT), T = 20, α0 = 0.5, β0 = 0.7."""
    model = ScriptedLM(RULE_SCRIPT, [2])
    swi_generate(model, TOK, PROMPT, greedy(window_size=2, alpha0=0.5), max_new_tokens=20)
    emb = model.embed.weight.detach()
    soft = [scripted_probs(s, tok) @ emb for s, tok in RULE_SCRIPT]
    beta = [0.7 + 0.3 * t / 20 for t in range(20)]
    alpha = [0.5 + 0.5 * t / 20 for t in range(20)]
    expected = [
        0.9 * soft[0] + 0.1 * emb[NEWLINE],
        beta[1] * soft[1] + (1 - beta[1]) * emb[END_THINK],
        emb[HASH],
        alpha[3] * soft[3] + (1 - alpha[3]) * emb[THINK],
        emb[SEVEN],
        soft[5],
        beta[6] * soft[6] + (1 - beta[6]) * emb[END_THINK],
        emb[END_THINK],
        emb[HASH],
    ]
    fed = [inputs[0] for _, inputs in model.fed]
    assert len(fed) == 9  # no forward after the eos step
    for step, (got, want) in enumerate(zip(fed, expected)):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5, msg=f"step {step}")


def test_no_initial_mix_and_no_override():
    model = ScriptedLM(RULE_SCRIPT, [2])
    out = swi_generate(
        model, TOK, PROMPT, greedy(window_size=2, initial_mix_token=None, math_override=False), max_new_tokens=20
    )
    assert out.mode_trace[0][4] == LATENT  # '7' no longer forces its step explicit
    soft0 = scripted_probs(*RULE_SCRIPT[0]) @ model.embed.weight.detach()
    torch.testing.assert_close(model.fed[0][1][0], soft0)


def cap_script(answer: float = 0.05) -> list[tuple[float, int]]:
    """C = 1, window 1. Steps (H(s) falls with s):
    t0 (1.0) latent, ref H(1);   t1 (2.0) -> explicit, count 1 in [C, 2C]: convergence string at t1..t5
    t2..t5 (0.1) frozen while the string is fed (t3 samples </think>, ignored: no lock)
    t6 (0.1) dwell 5 >= 1, H(.1) > H(2): -> latent, ref H(.1)
    t7 (0.3) H(.3) < H(.1): -> explicit, count 2: convergence again at t7..t11
    t12 (0.1) -> latent;   t13 (0.3) -> explicit, count 3 > 2C: termination string at t13..t34 (22 tokens)
    t35.. the answer budget (H(answer) > ref would switch to latent, but the row is frozen)."""
    script = [(1.0, HASH), (2.0, HASH), (0.1, HASH), (0.1, END_THINK), (0.1, HASH), (0.1, HASH), (0.1, HASH)]
    script += [(0.3, HASH)] + [(0.1, HASH)] * 4 + [(0.1, HASH), (0.3, HASH)] + [(0.1, HASH)] * 21
    script += [(answer, AT)] * 10
    return script


def test_switch_cap_convergence_then_termination_and_answer_budget():
    """The answer budget counted after the termination string (`answer_budget_from="after_termination"`): the
    string at t13..t34, then 3 answer tokens t35..t37: 38 tokens."""
    model = ScriptedLM(cap_script(), [2])
    config = greedy(window_size=1, max_switch_count=1, answer_budget=3, answer_budget_from="after_termination")
    out = swi_generate(model, TOK, PROMPT, config, max_new_tokens=60)
    E_ = SwiReasoningEvent
    assert out.trigger_events[0] == [
        E_(1, "to_explicit"),
        E_(1, "convergence"),
        E_(6, "to_latent"),
        E_(7, "to_explicit"),
        E_(7, "convergence"),
        E_(12, "to_latent"),
        E_(13, "to_explicit"),
        E_(13, "termination"),
    ]
    assert out.switch_count == [3]
    gen = out.sequences[0, 2:].tolist()
    convergence = TOK.encode("\n\n</think>\n\n")
    termination = TOK.encode("</think>\n\nThe final answer is")
    assert len(termination) == 22
    assert gen[1:6] == convergence and gen[7:12] == convergence
    assert gen[13:35] == termination
    assert gen[35:] == [AT, AT, AT]  # three answer tokens, then stop
    assert out.finish_reason == ["answer_budget"] and out.num_generated_tokens == [38]
    modes = out.mode_trace[0]
    assert modes[0] == modes[6] == modes[12] == LATENT
    assert all(m == EXPLICIT for i, m in enumerate(modes) if i not in (0, 6, 12))
    assert not any(e.kind == "end_think" for e in out.trigger_events[0])  # the </think> sampled at t3 was not fed
    assert out.texts[0].endswith("The final answer is@@@")


def test_answer_budget_counts_from_the_termination_switch_by_default():
    """The released count (`answer_budget_from="switch"`, the default) with the released budget 32: the budget is
    set at the termination switch step t13 and counts every recorded token from it on, so the row stops 31 steps
    after it, at t44: 45 tokens = 13 before the switch + 22 of the termination string (t13..t34) + 10 answer tokens
    (t35..t44). (Counted after the string, 32 answer tokens would run into max_new_tokens = 60.)"""
    model = ScriptedLM(cap_script(), [2])
    out = swi_generate(model, TOK, PROMPT, greedy(window_size=1, max_switch_count=1), max_new_tokens=60)
    assert SwiReasoningEvent(13, "termination") in out.trigger_events[0]
    assert out.finish_reason == ["answer_budget"] and out.num_generated_tokens == [45]
    gen = out.sequences[0, 2:].tolist()
    assert gen[13:35] == TOK.encode("</think>\n\nThe final answer is")
    assert gen[35:] == [AT] * 10


def test_answer_budget_counted_from_the_switch_can_cut_the_termination_string():
    """`answer_budget=1` from the switch: the row records only the switch step t13, the string's first token."""
    model = ScriptedLM(cap_script(), [2])
    out = swi_generate(
        model, TOK, PROMPT, greedy(window_size=1, max_switch_count=1, answer_budget=1), max_new_tokens=60
    )
    assert out.num_generated_tokens == [14] and out.finish_reason == ["answer_budget"]
    assert out.sequences[0, -1].item() == END_THINK


def test_forced_strings_feed_their_own_embeddings():
    model = ScriptedLM(cap_script(), [2])
    swi_generate(model, TOK, PROMPT, greedy(window_size=1, max_switch_count=1, answer_budget=3), max_new_tokens=60)
    emb = model.embed.weight.detach()
    fed = [inputs[0] for _, inputs in model.fed]
    for step, token in zip(range(1, 6), TOK.encode("\n\n</think>\n\n")):
        torch.testing.assert_close(fed[step], emb[token])  # no β blend on an injected switch step


def test_answer_budget_zero_stops_after_the_termination_string():
    model = ScriptedLM(cap_script(), [2])
    config = greedy(window_size=1, max_switch_count=1, answer_budget=0, answer_budget_from="after_termination")
    out = swi_generate(model, TOK, PROMPT, config, max_new_tokens=60)
    assert out.num_generated_tokens == [35] and out.finish_reason == ["answer_budget"]
    assert TOK.decode(out.sequences[0, -22:]) == "</think>\n\nThe final answer is"


def test_cap_counts_before_injecting():
    """C = 2, window 1: t1 (2.0) -> explicit, count 1 < C: the usual β blend, no string; t2 (0.1) -> latent;
    t3 (0.3) -> explicit, count 2 = C: convergence string at t3..t7; t8 (0.1): the string is done and a forced
    </think> does not lock, so H(.1) > ref switches back to latent."""
    script = [(1.0, HASH), (2.0, HASH), (0.1, HASH), (0.3, HASH)] + [(0.1, AT)] * 10
    model = ScriptedLM(script, [2])
    out = swi_generate(model, TOK, PROMPT, greedy(window_size=1, max_switch_count=2), max_new_tokens=9)
    assert [(e.step, e.kind) for e in out.trigger_events[0]] == [
        (1, "to_explicit"),
        (2, "to_latent"),
        (3, "to_explicit"),
        (3, "convergence"),
        (8, "to_latent"),
    ]
    assert out.sequences[0, 2:].tolist() == [HASH, HASH, HASH, *TOK.encode("\n\n</think>\n\n"), AT]


def test_max_new_tokens_stops_with_length():
    model = ScriptedLM([(1.0, HASH)], [2])
    out = swi_generate(model, TOK, PROMPT, greedy(), max_new_tokens=7)
    assert out.num_generated_tokens == [7] and out.finish_reason == ["length"]
    assert len(model.fed) == 6  # no forward after the last step


def test_finished_rows_leave_the_batch_and_the_others_continue_unchanged():
    """Three rows of different prompt lengths and scripts; row 1 ends at step 2, row 0 at step 5: the surviving rows
    (read through the pruned cache) produce exactly what they produce alone."""
    scripts = {
        0: [(1.0, HASH), (2.0, HASH), (0.5, HASH), (0.5, AT), (2.0, COLON), (1.0, EOS)],
        1: [(1.0, AT), (0.2, AT), (1.0, EOS)],
        2: [(1.0, HASH), (0.4, HASH), (3.0, COLON), (0.1, AT), (0.1, SEVEN), (2.0, HASH), (0.2, HASH), (5.0, HASH)],
    }
    prompts = [[40, 41, 42], [40], [40, 41, 42, 43, 44]]
    config = greedy(window_size=1, alpha0=0.5)
    batched = swi_generate(ScriptedLM(scripts, [3, 1, 5]), TOK, prompts, config, max_new_tokens=8)
    assert batched.num_generated_tokens == [6, 3, 8]
    assert batched.finish_reason == ["eos", "eos", "length"]
    for row in range(3):
        alone = swi_generate(
            ScriptedLM({0: scripts[row]}, [len(prompts[row])]), TOK, [prompts[row]], config, max_new_tokens=8
        )
        assert alone.mode_trace[0] == batched.mode_trace[row]
        assert alone.trigger_events[0] == batched.trigger_events[row]
        n = alone.num_generated_tokens[0]
        assert batched.sequences[row, 5 : 5 + n].tolist() == alone.sequences[0, -n:].tolist()
        assert alone.entropy_trace[0] == pytest.approx(batched.entropy_trace[row], abs=1e-6)
    # the padded tail after a row finished is pad
    assert batched.sequences[1, 5 + 3 :].tolist() == [TOK.pad_token_id] * 5
