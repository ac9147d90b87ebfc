"""Scoring with a causal LM: one prefill per batch of prompts keeping only the answer position's logits, multi-token
continuations from that prefill's repeated KV cache, and greedy generation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import torch


def _cache_name() -> str:
    """The name of the KV cache in forward kwargs and outputs: ``cache`` (transformers >= 5.24) or
    ``past_key_values`` (before)."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in {f.name for f in fields(CausalLMOutputWithPast)} else "past_key_values"


def _model_device(model: torch.nn.Module) -> torch.device:
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else next(model.parameters()).device


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids [B, T], attention_mask [B, T])`` with the rows right-aligned (left padding)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        ids[b, width - len(row) :] = torch.as_tensor(row, dtype=torch.long)
        mask[b, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """float32 for half-precision logits; float32 / float64 unchanged."""
    return x.float() if x.element_size() < 4 else x


_TILE_FLOATS = 1 << 24  # logits converted at a time (64 MiB in float32)


def _label_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[target]`` per position, upcast in tiles of whole rows. ``[N, L, V]``, ``[N, L]`` ->
    ``[N, L]``."""
    vocab = logits.shape[-1]
    flat, flat_targets = logits.reshape(-1, vocab), targets.reshape(-1, 1)
    out = torch.empty(flat.shape[0], device=logits.device, dtype=_upcast(flat[:1]).dtype)
    rows = max(1, _TILE_FLOATS // vocab)
    for start in range(0, flat.shape[0], rows):
        z = _upcast(flat[start : start + rows])  # [rows, V]
        out[start : start + rows] = z.gather(1, flat_targets[start : start + rows]).squeeze(1) - z.logsumexp(-1)
    return out.view(targets.shape)


@torch.no_grad()
def _score(
    model: torch.nn.Module,
    contexts: Sequence[Sequence[int]],
    continuations: Sequence[Sequence[Sequence[int]]],
    extra_first_ids: Sequence[Sequence[int]],
    pad_id: int,
) -> tuple[list[list[float]], list[list[float]], list[list[float]]]:
    """Score the continuations of a batch of contexts.

    Returns per context: ``log P(first token | context)`` of each continuation, the full ``log P(continuation |
    context)`` of each, and ``log P(u | context)`` for each id ``u`` in ``extra_first_ids``.

    One prefill of the left-padded contexts keeps only the last position's logits (``logits_to_keep=1``). When a
    continuation is longer than one token, the prefill's cache is repeated once per such continuation
    (``reorder_cache`` with a repeated batch index) and the continuations, right-padded, run as one forward after it;
    position ids continue from each context's own length.
    """
    device = _model_device(model)
    ids, mask = _left_pad(contexts, pad_id, device)  # [B, T]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, T]
    long_rows = [(b, j) for b, conts in enumerate(continuations) for j, c in enumerate(conts) if len(c) > 1]
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, use_cache=bool(long_rows))
    answer_logp = torch.log_softmax(_upcast(out.logits[:, -1]), dim=-1)  # [B, V]: the softmax at the answer position
    first = [answer_logp[b, [c[0] for c in conts]].tolist() for b, conts in enumerate(continuations)]
    extra = [answer_logp[b, list(u)].tolist() if len(u) else [] for b, u in enumerate(extra_first_ids)]
    total = [list(row) for row in first]
    if long_rows:
        cache_name = _cache_name()
        cache = getattr(out, cache_name)
        index = torch.tensor([b for b, _ in long_rows], device=device)  # [N]
        cache.reorder_cache(index)  # [B, ...] -> [N, ...]: one copy of the prompt's cache per long continuation
        width = max(len(continuations[b][j]) - 1 for b, j in long_rows)
        feed = torch.full((len(long_rows), width), pad_id, dtype=torch.long)  # [N, L]: c_1 .. c_{n-1}
        targets = torch.zeros((len(long_rows), width), dtype=torch.long)  # [N, L]: c_2 .. c_n
        feed_mask = torch.zeros((len(long_rows), width), dtype=torch.long)  # [N, L]
        for r, (b, j) in enumerate(long_rows):
            c = continuations[b][j]
            feed[r, : len(c) - 1] = torch.as_tensor(c[:-1])
            targets[r, : len(c) - 1] = torch.as_tensor(c[1:])
            feed_mask[r, : len(c) - 1] = 1
        feed, targets, feed_mask = feed.to(device), targets.to(device), feed_mask.to(device)
        attention = torch.cat([mask[index], feed_mask], dim=1)  # [N, T + L]
        cont_positions = mask.sum(dim=1)[index].unsqueeze(1) + torch.arange(width, device=device)  # [N, L]
        logits = model(
            input_ids=feed, attention_mask=attention, position_ids=cont_positions, use_cache=True, **{cache_name: cache}
        ).logits  # [N, L, V]: the continuations' own positions only
        rest = (_label_logprobs(logits, targets) * feed_mask).sum(dim=1).tolist()  # [N]
        for r, (b, j) in enumerate(long_rows):
            total[b][j] += rest[r]
    return first, total, extra


@torch.no_grad()
def _generate(
    model: torch.nn.Module, tokenizer: Any, contexts: Sequence[Sequence[int]], max_new_tokens: int, pad_id: int
) -> list[str]:
    ids, mask = _left_pad(contexts, pad_id, _model_device(model))
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        do_sample=False,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad_id,
        temperature=None,
        top_p=None,
        top_k=None,
    )
    return tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
