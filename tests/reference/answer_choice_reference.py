"""Slow, obviously-correct reference of answer-choice scoring, written from the paper
(Wiegreffe et al., arXiv 2305.14596, Sec. 3; PMI_DC: Holtzman et al., arXiv 2104.08315): one plain forward per (prompt +
continuation) string, no padding, no batching,
no KV cache, full ``[T, V]`` logits, log-softmax in float64, Python loops."""

from __future__ import annotations

import math

import torch


@torch.no_grad()
def next_token_logprobs(model, ids: list[int]) -> torch.Tensor:
    """``log P(· | ids)`` at the last position, float64 ``[V]``, from a plain forward over the whole sequence."""
    logits = model(input_ids=torch.tensor([ids])).logits[0]  # [T, V]: everything, as a reference may
    return torch.log_softmax(logits[-1].double(), dim=-1)


@torch.no_grad()
def sequence_logprob(model, prompt_ids: list[int], continuation_ids: list[int]) -> float:
    """``log P(continuation | prompt) = Σ_j log P(c_j | prompt, c_<j)`` from one forward over prompt + continuation."""
    ids = list(prompt_ids) + list(continuation_ids)
    logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), dim=-1)  # [T, V]
    total = 0.0
    for j, token in enumerate(continuation_ids):
        total += float(logp[len(prompt_ids) - 1 + j, token])  # the position before c_j predicts c_j
    return total


def unique_mass(probs_by_id: dict[int, float], ids: list[int]) -> float:
    """``Σ over the distinct ids of P(id)``."""
    return sum(probs_by_id[i] for i in set(ids))


def sfc_resolved(choice_probs: list[float]) -> bool:
    """``max(0, 1 − s) < P(top) − P(second)``."""
    ordered = sorted(choice_probs, reverse=True)
    gap = ordered[0] - (ordered[1] if len(ordered) > 1 else 0.0)
    return max(0.0, 1.0 - sum(choice_probs)) < gap


def pmi_ratio(conditional_logprob: float, unconditional_logprob: float) -> float:
    """``P(c | x) / P(c | x_unc)``."""
    return math.exp(conditional_logprob) / math.exp(unconditional_logprob)


@torch.no_grad()
def greedy_token_ids(model, ids: list[int], max_new_tokens: int, eos_ids: set[int]) -> list[int]:
    """Greedy decoding by hand: append the argmax of the last position's logits (one uncached forward over the whole
    sequence each step) until `max_new_tokens` tokens or an end-of-sequence id (kept, as `generate` keeps it)."""
    out: list[int] = []
    for _ in range(max_new_tokens):
        logits = model(input_ids=torch.tensor([list(ids) + out])).logits[0, -1]  # [V]
        token = int(torch.argmax(logits))
        out.append(token)
        if token in eos_ids:
            break
    return out


def released_answer_index(text: str, choices: list[str], symbols: str | None = None) -> int | None:
    """The released rule for a greedy answer, written from the paper's released evaluation: the first line of the
    generation with periods stripped from both ends and then whitespace must equal a choice (or, with `symbols`, a
    choice's symbol) exactly; otherwise the answer is invalid (`None`)."""
    answer = text.split("\n")[0].strip(".").strip()
    labels = list(symbols[: len(choices)]) if symbols else list(choices)
    return labels.index(answer) if answer in labels else None
