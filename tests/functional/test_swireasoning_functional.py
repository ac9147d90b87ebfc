"""`trl_explore.functional.swireasoning`: entropy, soft embeddings, schedules, mixing and the switch rule on
synthetic entropy sequences (hand-derived tables)."""

from __future__ import annotations

import math

import pytest
import torch

from trl_explore.functional.swireasoning import (
    mix_embeddings,
    mix_weight,
    soft_embeddings,
    swireasoning_entropy,
    swireasoning_switch,
)

L, E = False, True  # modes


def test_entropy_hand_values():
    """uniform over 4: ln 4; a -inf logit adds nothing (uniform over the other 2: ln 2); one dominant logit: ~0;
    p = (e^1, 1, 1) / (e + 2): H = ln(e + 2) - e / (e + 2)."""
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, -math.inf, 0.0, -math.inf], [100.0, 0.0, 0.0, 0.0]])
    h, p = swireasoning_entropy(logits)
    assert h.dtype == torch.float32 and p.shape == (3, 4)
    assert h[0].item() == pytest.approx(math.log(4), abs=1e-6)
    assert h[1].item() == pytest.approx(math.log(2), abs=1e-6)
    assert h[2].item() == pytest.approx(0.0, abs=1e-6)
    assert p[1].tolist() == [0.5, 0.0, 0.5, 0.0]
    h3, _ = swireasoning_entropy(torch.tensor([[1.0, 0.0, 0.0]]))
    e = math.e
    assert h3.item() == pytest.approx(math.log(e + 2) - e / (e + 2), abs=1e-6)


def test_entropy_upcasts_half_precision():
    logits = torch.randn(2, 50).to(torch.bfloat16)
    h, p = swireasoning_entropy(logits)
    ref = torch.distributions.Categorical(logits=logits.double()).entropy()
    assert h.dtype == p.dtype == torch.float32
    torch.testing.assert_close(h.double(), ref, atol=1e-5, rtol=0)


def test_soft_embeddings_hand_values():
    """p = (0.25, 0.75), E = [[1, 0], [0, 2]]: p @ E = (0.25, 1.5); an embedding scale of 2 doubles it."""
    probs = torch.tensor([[0.25, 0.75]])
    weight = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert soft_embeddings(probs, weight).tolist() == [[0.25, 1.5]]
    assert soft_embeddings(probs, weight, 2.0).tolist() == [[0.5, 3.0]]


def test_soft_embeddings_equal_the_mixture_of_scaled_lookups():
    """A Gemma-like embedding module that scales its lookups: e_soft = Σ_v p(v) · embed(v)."""
    torch.manual_seed(0)
    weight = torch.randn(7, 3)
    probs = torch.softmax(torch.randn(2, 7), -1)
    scale = 1.7
    expected = sum(probs[:, v : v + 1] * (weight[v] * scale) for v in range(7))
    torch.testing.assert_close(soft_embeddings(probs, weight, scale), expected)


def test_mix_weight_schedule():
    """w_t = w0 + (1 - w0) t / T: w0 = 0.7 -> 0.7 at t = 0, 0.85 at t = T/2, 1 at t = T; w0 = 1 stays 1."""
    assert mix_weight(0.7, 0, 100) == pytest.approx(0.7)
    assert mix_weight(0.7, 50, 100) == pytest.approx(0.85)
    assert mix_weight(0.7, 100, 100) == pytest.approx(1.0)
    assert mix_weight(1.0, 37, 100) == 1.0
    with pytest.raises(ValueError, match="max_new_tokens"):
        mix_weight(0.5, 0, 0)


def test_mix_embeddings_exact_ends_and_mixture():
    soft = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    anchor = torch.tensor([[3.0, 5.0], [3.0, 5.0], [3.0, 5.0]])
    coef = torch.tensor([0.0, 1.0, 0.25])
    out = mix_embeddings(soft, anchor, coef)
    assert out[0].tolist() == [3.0, 5.0]  # c = 0: the anchor exactly
    assert out[1].tolist() == [1.0, 2.0]  # c = 1: the soft embedding exactly
    assert out[2].tolist() == pytest.approx([0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 5])  # (2.5, 4.25)
    assert mix_embeddings(None, anchor, torch.zeros(3)) is anchor


def run_rule(entropies, ends=None, *, window=2, start=L, frozen=None, batch_rows=1):
    """Step the switch rule through a sequence; return (modes after each step, events per step)."""
    n = len(entropies)
    ends = ends or [0] * n
    frozen = frozen or [0] * n
    explicit = torch.full((batch_rows,), start)
    dwell = torch.zeros(batch_rows, dtype=torch.long)
    locked = torch.zeros(batch_rows, dtype=torch.bool)
    reference = None
    modes, events = [], []
    for t, h in enumerate(entropies):
        entropy = torch.full((batch_rows,), float(h))
        if t == 0:
            reference = entropy.clone()
        out = swireasoning_switch(
            explicit,
            entropy,
            reference,
            dwell,
            locked,
            torch.full((batch_rows,), bool(ends[t])),
            window,
            torch.full((batch_rows,), bool(frozen[t])),
        )
        step_events = []
        if out.to_explicit[0]:
            step_events.append("to_explicit" + ("(drop)" if out.entropy_drop[0] else "(end)"))
        if out.to_latent[0]:
            step_events.append("to_latent")
        if out.locked[0] and not locked[0]:
            step_events.append("locked")
        explicit, reference, dwell, locked = out.explicit, out.reference, out.dwell, out.locked
        modes.append(bool(explicit[0]))
        events.append(step_events)
    return modes, events


def test_switch_rule_dwell_window_lock_and_count():
    """window 2, latent start, ref = H_0 = 3.0:
    t0 3.0: not < 3.0 -> latent                                  t1 2.5 < 3.0 -> explicit (ref 2.5, dwell 0)
    t2 2.8 > 2.5 but dwell 1 < 2 -> stays explicit               t3 2.9 > 2.5, dwell 2 >= 2 -> latent (ref 2.9)
    t4 2.9: not < 2.9 -> latent                                  t5 2.4 < 2.9 -> explicit (ref 2.4)
    t6 samples </think>: locked (dwell 1)                        t7, t8 3.5, 3.6 > 2.4, dwell >= 2, but locked
    Three switches, two of them latent -> explicit (the count)."""
    modes, events = run_rule([3.0, 2.5, 2.8, 2.9, 2.9, 2.4, 2.6, 3.5, 3.6], [0, 0, 0, 0, 0, 0, 1, 0, 0])
    assert modes == [L, E, E, L, L, E, E, E, E]
    assert events == [[], ["to_explicit(drop)"], [], ["to_latent"], [], ["to_explicit(drop)"], ["locked"], [], []]
    assert sum(e.startswith("to_explicit") for step in events for e in step) == 2


def test_switch_rule_window_counts_explicit_steps_since_the_switch():
    """window 3: after the switch at t1 the explicit steps t2, t3, t4 make dwell 1, 2, 3; H > ref all along, so the
    switch back happens at t4 exactly. Window 1 switches back at the first step after the switch (t2)."""
    entropies = [2.0, 1.0, 1.5, 1.5, 1.5, 1.5]
    assert run_rule(entropies, window=3)[0] == [L, E, E, E, L, L]
    assert run_rule(entropies, window=1)[0] == [L, E, L, L, L, L]
    # an explicit start counts step 0: dwell 1 at t0, 2 at t1 (window 2: back to latent at t1 when H > ref)
    assert run_rule([1.0, 1.5, 1.2], window=2, start=E)[0] == [E, L, E]


def test_switch_rule_end_think_in_latent_switches_and_locks():
    """A latent row that samples </think> switches to explicit at once (counted, not an entropy drop) and stays."""
    modes, events = run_rule([2.0, 2.1, 3.0, 4.0], [0, 1, 0, 0], window=1)
    assert modes == [L, E, E, E]
    assert events[1] == ["to_explicit(end)", "locked"]


def test_switch_rule_infinite_window_and_frozen_rows():
    """window inf: never back to latent. A frozen row (a forced string is being fed) keeps its mode."""
    assert run_rule([1.0, 5.0, 6.0], window=math.inf, start=E)[0] == [E, E, E]
    assert run_rule([2.0, 1.0, 0.5], frozen=[0, 1, 0])[0] == [L, L, E]
    assert run_rule([1.0, 2.0, 2.0], window=1, start=E, frozen=[0, 1, 0])[0] == [E, E, L]


def test_switch_rule_is_row_independent():
    """Rows of a batch follow the rule independently: batched == one by one."""
    torch.manual_seed(0)
    batch, steps = 5, 12
    h = torch.rand(steps, batch) * 3
    ends = torch.rand(steps, batch) < 0.1
    explicit = torch.tensor([False, True, False, True, False])
    state = (explicit, h[0].clone(), torch.zeros(batch, dtype=torch.long), torch.zeros(batch, dtype=torch.bool))
    batched = []
    for t in range(steps):
        out = swireasoning_switch(state[0], h[t], state[1], state[2], state[3], ends[t], 2)
        state = (out.explicit, out.reference, out.dwell, out.locked)
        batched.append(out.explicit.tolist())
    for row in range(batch):
        single = (
            explicit[row : row + 1],
            h[0, row : row + 1].clone(),
            torch.zeros(1, dtype=torch.long),
            torch.zeros(1, dtype=torch.bool),
        )
        for t in range(steps):
            out = swireasoning_switch(
                single[0], h[t, row : row + 1], single[1], single[2], single[3], ends[t, row : row + 1], 2
            )
            single = (out.explicit, out.reference, out.dwell, out.locked)
            assert out.explicit.item() == batched[t][row]


def test_switch_rule_rejects_a_non_positive_window():
    t = torch.tensor([True])
    with pytest.raises(ValueError, match="window_size"):
        swireasoning_switch(t, torch.ones(1), torch.ones(1), torch.zeros(1, dtype=torch.long), ~t, ~t, 0)
