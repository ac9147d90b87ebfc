"""A scripted causal "LM" for testing the SwiReasoning loop on synthetic entropy sequences.

At decoding step ``t`` every row gets the logits ``z = 0`` except ``z[token_t] = s_t`` (``s_t > 0``): greedy picks
``token_t``, and the entropy ``H(s) = log(e^s + V - 1) - s·e^s / (e^s + V - 1)`` decreases in ``s``, so the script
fixes the order of the entropies exactly. The step of a row is read from its position ids (a prompt of ``P`` tokens
produces step 0 at position ``P - 1``), so rows of any prompt length follow the same script. It records every input
it is fed, and its cache supports `batch_select_indices` like transformers' caches.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn


def scripted_entropy(s: float, vocab: int) -> float:
    """Entropy of the scripted distribution: one logit ``s``, ``V - 1`` zeros."""
    z = math.exp(s) + vocab - 1
    return math.log(z) - s * math.exp(s) / z


class ScriptCache:
    """Minimal cache: one row index per active row (what `batch_select_indices` keeps) and the length seen."""

    def __init__(self, batch: int) -> None:
        self.rows = torch.arange(batch)
        self.length = 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.rows = self.rows[indices]

    def get_seq_length(self) -> int:
        return self.length


class ScriptedLM(nn.Module):
    """``script[t] = (s_t, token_t)`` for every row, or ``scripts[row][t]`` per row; ``prompt_lengths[row]`` = unpadded
    prompt length of each row. Past the end of a script its last entry repeats."""

    def __init__(self, script: list | dict[int, list], prompt_lengths: list[int], vocab: int = 262, dim: int = 8):
        super().__init__()
        self.scripts = script if isinstance(script, dict) else {row: script for row in range(len(prompt_lengths))}
        self.prompt_lengths = torch.tensor(prompt_lengths)
        self.embed = nn.Embedding(vocab, dim)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            nn.init.normal_(self.embed.weight)
        self.vocab = vocab
        self.fed: list[
            tuple[torch.Tensor, torch.Tensor]
        ] = []  # (original row ids, inputs_embeds [b, D]) per decode step
        self.generation_config = None

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        cache=None,
        inputs_embeds=None,
        use_cache=None,
        logits_to_keep=0,
    ):
        if cache is None:
            cache = ScriptCache(input_ids.shape[0])
        if inputs_embeds is not None:
            self.fed.append((cache.rows.clone(), inputs_embeds[:, -1].detach().clone()))
        width = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        cache.length += width
        step = position_ids[:, -1] - (self.prompt_lengths[cache.rows] - 1)  # [b]
        logits = torch.zeros(step.shape[0], 1, self.vocab)
        for i, (row, t) in enumerate(zip(cache.rows.tolist(), step.tolist())):
            script = self.scripts[row]
            s, token = script[min(t, len(script) - 1)]
            logits[i, 0, token] = s
        return SimpleNamespace(logits=logits, cache=cache)


def scripted_probs(s: float, token: int, vocab: int = 262) -> torch.Tensor:
    """``[V]`` probabilities of a scripted step (float32, like the decoder's)."""
    logits = torch.zeros(vocab)
    logits[token] = s
    return torch.softmax(logits, -1)
