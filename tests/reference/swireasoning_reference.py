"""Slow, obviously-correct reference of SwiReasoning decoding, written from the paper (Shi et al., arXiv
2510.05069, Sec. 3), the released code's behaviour and the documented choices of `docs/methods/swireasoning.md`: one
sequence at a time, plain Python scalars for the
rule, float64 for the distribution and the embeddings, and **no KV cache**: every step re-runs the model on the whole
sequence of input embeddings fed so far (prompt token embeddings + one embedding per step). Greedy only.

Per step t (0-based), with T = max_new_tokens:
  p = softmax(z), H = -Σ p log p; ref = H at step 0
  x = argmax z (the recorded token unless a forced string is being fed)
  dwell += 1 if explicit
  locked |= (x == </think> and not forcing)
  latent:   x == </think>                        -> explicit (counted)
            H < ref and not frozen               -> explicit (counted; "entropy drop")
  explicit: H > ref, dwell >= W, not locked, not frozen -> latent
  on a switch: ref = H, dwell = 0
  cap C: entropy drop that makes count in [C, 2C] -> feed the convergence string; count > 2C -> feed the termination
         string and stop when the answer budget is spent: answer_budget_from "switch" (released) -> stop at step
         t_switch + answer_budget - 1; "after_termination" -> `answer_budget` more tokens after the string. Fed
         strings start at this step (replacing x) and freeze the mode; after the termination string the mode stays
         frozen.
  next input (float64):
    explicit after an entropy drop (no string fed): β_t e_soft + (1-β_t) E[</think>], β_t = β0 + (1-β0) t / T
    explicit otherwise:                              E[token]
    latent and x a math token (override):            E[x]
    latent right after explicit -> latent:           α_t e_soft + (1-α_t) E[<think>]
    latent at step 0 (latent start):                 w0 e_soft + (1-w0) E[mix token]
    latent otherwise:                                e_soft = p @ E
  stop on an eos token (any mode) or when the answer budget is spent.
"""

from __future__ import annotations

import torch

LATENT, EXPLICIT, MATH_OVERRIDE = 0, 1, 2


@torch.no_grad()
def reference_swireasoning(
    model,
    prompt_ids: list[int],
    *,
    max_new_tokens: int,
    think_id: int,
    end_think_id: int,
    eos_ids: list[int],
    alpha0: float = 1.0,
    beta0: float = 0.7,
    window_size: int | None = 512,
    max_switch_count: int | None = None,
    convergence_ids: list[int] = (),
    termination_ids: list[int] = (),
    answer_budget: int = 32,
    answer_budget_from: str = "switch",
    math_ids: set[int] = frozenset(),
    start_mode: str = "latent",
    initial_soft_weight: float = 0.9,
    initial_mix_id: int | None = None,
) -> dict:
    """Decode one prompt greedily; returns tokens, modes, entropies, events ``[(step, kind)]`` and the finish reason."""
    weight = model.get_input_embeddings().weight.detach().double()  # [V, D]
    dtype = model.get_input_embeddings().weight.dtype
    fed = [weight[i] for i in prompt_ids]
    explicit = start_mode == "explicit"
    ref = None
    dwell = 0
    locked = False
    count = 0
    forced: list[int] = []
    terminating = False
    remaining = None
    termination_step = None
    tokens, modes, entropies, events = [], [], [], []
    reason = "length"
    for t in range(max_new_tokens):
        inputs = torch.stack(fed)[None].to(dtype)  # [1, L, D]
        logits = model(inputs_embeds=inputs, use_cache=False).logits[0, -1].double()  # [V]
        vocab = logits.shape[0]
        p = torch.softmax(logits, dim=-1)
        h = float(-(p[p > 0] * p[p > 0].log()).sum())
        if t == 0:
            ref = h
        x = int(logits.argmax())
        forcing = len(forced) > 0
        frozen = forcing or terminating
        end_think = x == end_think_id and not forcing
        if explicit:
            dwell += 1
        if end_think and not locked:
            events.append((t, "end_think"))
        locked = locked or end_think
        to_explicit = to_latent = drop = False
        if not explicit:
            if end_think:
                to_explicit = True
            elif h < ref and not frozen:
                to_explicit = drop = True
        elif h > ref and window_size is not None and dwell >= window_size and not locked and not frozen:
            to_latent = True
        if to_explicit or to_latent:
            ref, dwell, explicit = h, 0, not explicit
        if to_explicit:
            count += 1
            events.append((t, "to_explicit"))
        if to_latent:
            events.append((t, "to_latent"))
        injected = False
        if max_switch_count is not None and drop:
            if max_switch_count <= count <= 2 * max_switch_count:
                forced, injected = list(convergence_ids), True
                events.append((t, "convergence"))
            elif count > 2 * max_switch_count:
                forced, injected, terminating = list(termination_ids), True, True
                termination_step = t
                events.append((t, "termination"))
        budget_done = False
        if forced:
            token = forced.pop(0)
            if terminating and not forced:  # the termination string is complete: the answer budget starts
                remaining = answer_budget
                budget_done = remaining == 0
        else:
            token = x
            if remaining is not None:
                remaining -= 1
                budget_done = remaining == 0
        if answer_budget_from == "switch":  # count the steps from the termination switch step, that one included
            budget_done = termination_step is not None and t - termination_step + 1 == answer_budget
        override = not explicit and x in math_ids and x < vocab
        modes.append(EXPLICIT if explicit else MATH_OVERRIDE if override else LATENT)
        tokens.append(token)
        entropies.append(h)

        soft = p @ weight[:vocab]  # [D]
        if explicit:
            if drop and not injected:
                beta = beta0 + (1 - beta0) * t / max_new_tokens
                nxt = beta * soft + (1 - beta) * weight[end_think_id]
            else:
                nxt = weight[token]
        elif override:
            nxt = weight[x]
        elif to_latent:
            alpha = alpha0 + (1 - alpha0) * t / max_new_tokens
            nxt = alpha * soft + (1 - alpha) * weight[think_id]
        elif t == 0 and start_mode == "latent" and initial_mix_id is not None:
            nxt = initial_soft_weight * soft + (1 - initial_soft_weight) * weight[initial_mix_id]
        else:
            nxt = soft
        fed.append(nxt)
        if token in eos_ids:
            reason = "eos"
            break
        if budget_done:
            reason = "answer_budget"
            break
    events.sort(
        key=lambda e: (e[0], ["to_explicit", "to_latent", "end_think", "convergence", "termination"].index(e[1]))
    )
    return {"tokens": tokens, "modes": modes, "entropies": entropies, "events": events, "reason": reason}
