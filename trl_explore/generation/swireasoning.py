"""SwiReasoning decoding (arXiv 2510.05069) for any Hugging Face causal LM: a decode loop that feeds soft (latent)
or token (explicit) input embeddings, switching on the next-token entropy, with per-sequence traces.

`model.generate` cannot do this with a logits processor (a processor cannot change the next *input*), and accepts
`inputs_embeds` only for the prompt, so the loop here drives the model's forward with the KV cache itself:

- prefill the (left-padded) prompts once, position ids from the attention mask;
- each step: entropy of the raw next-token distribution, a token sampled with transformers' own warpers
  (`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`, `MinPLogitsWarper`) and recorded, the switch rule
  (`trl_explore.functional.swireasoning`), then one forward of the next input embedding through the cache;
- finished rows (EOS, answer budget after the switch cap) leave the batch and the cache
  (`Cache.batch_select_indices`).

The math of a step lives in `trl_explore.functional.swireasoning`; the public entry points are `swi_generate` and
`swireasoning_decoding` (for ``model.generate(custom_generate=swireasoning_decoding, ...)``).

transformers: tested with 5.24, whose models take the cache as ``cache=``; older versions (down to the package floor,
4.56.2, checked by ``tests/generation/transformers_floor_check.py``) name it ``past_key_values=``, and the loop picks
whichever name the model's ``forward`` declares. On transformers 4.x pass the config and tokenizer of the
``custom_generate`` route with ``functools.partial`` (4.x rejects unknown ``generate`` keyword arguments).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from ..functional.swireasoning import (
    mix_embeddings,
    mix_weight,
    soft_embeddings,
    swireasoning_entropy,
    swireasoning_switch,
)
from .swireasoning_config import SwiReasoningConfig, SwiReasoningTokens, math_mask, resolve_tokens

logger = logging.getLogger(__name__)

__all__ = [
    "EXPLICIT",
    "LATENT",
    "MATH_OVERRIDE",
    "SwiReasoningEvent",
    "SwiReasoningOutput",
    "swi_generate",
    "swireasoning_decoding",
]

#: Codes of `SwiReasoningOutput.mode_trace`: how the input after each step was built.
LATENT = 0  #: soft embedding (latent step, step-0 mix, explicit -> latent switch step)
EXPLICIT = 1  #: explicit mode (token embedding; the latent -> explicit switch step mixes in `</think>`)
MATH_OVERRIDE = 2  #: latent mode, but the sampled token is a math token: its embedding was fed

#: Bits of the per-step event codes, in the order they are reported.
EVENT_BITS: dict[str, int] = {
    "to_explicit": 1,  # latent -> explicit switch (counted by switch_count)
    "to_latent": 2,  # explicit -> latent switch
    "end_think": 4,  # the model sampled the end-of-thinking token: explicit locked
    "convergence": 8,  # switch cap: convergence string fed
    "termination": 16,  # switch cap: termination string fed, answer budget follows
}
_FINISH_REASONS = ("length", "eos", "answer_budget", "stopping_criteria")


class SwiReasoningEvent(NamedTuple):
    """One trigger event of a sequence: the decoding step (0-based) and its kind (a key of `EVENT_BITS`)."""

    step: int
    kind: str


@dataclass
class SwiReasoningOutput:
    """What `swi_generate` returns: the sequences and, per sequence, what the decoder did at each step.

    Args:
        sequences (`torch.LongTensor` of shape `[B, P + T]`):
            The left-padded prompts followed by the generated tokens, padded with the pad id after a sequence
            finished (the layout of `model.generate`). Every step records one token: the sampled one, or the forced
            one while a cap string is fed. In latent steps the recorded token is sampled but its embedding is not
            fed (the soft embedding is).
        texts (`list[str]`):
            Decoded completions (special tokens skipped).
        mode_trace (`list[list[int]]`):
            Per sequence and step, how the next input was built: `LATENT` (0), `EXPLICIT` (1) or `MATH_OVERRIDE` (2).
        entropy_trace (`list[list[float]]`):
            Per sequence and step, the entropy (nats) of the raw next-token distribution.
        switch_count (`list[int]`):
            Latent -> explicit switches per sequence.
        trigger_events (`list[list[SwiReasoningEvent]]`):
            Per sequence, the switches and cap events in step order.
        latent_share (`list[float]`):
            Per sequence, the share of steps whose input was a soft embedding (``mode_trace == LATENT``).
        num_generated_tokens (`list[int]`):
            Steps (= recorded tokens, EOS included) per sequence.
        finish_reason (`list[str]`):
            `"eos"`, `"answer_budget"`, `"length"` (max_new_tokens reached) or `"stopping_criteria"`.
        prompt_length (`int`):
            Width ``P`` of the padded prompt block of `sequences`.
    """

    sequences: torch.Tensor
    texts: list[str]
    mode_trace: list[list[int]]
    entropy_trace: list[list[float]]
    switch_count: list[int]
    trigger_events: list[list[SwiReasoningEvent]]
    latent_share: list[float]
    num_generated_tokens: list[int]
    finish_reason: list[str]
    prompt_length: int
    config: SwiReasoningConfig | None = field(default=None, repr=False)

    @property
    def math_override_count(self) -> list[int]:
        """Steps per sequence fed explicitly by the math-token override."""
        return [sum(1 for m in trace if m == MATH_OVERRIDE) for trace in self.mode_trace]

    def summary(self) -> dict[str, float]:
        """Means over the sequences: latent share, switches, math overrides, generated tokens, cap events."""
        n = max(len(self.mode_trace), 1)
        steps = max(sum(self.num_generated_tokens), 1)

        def count(kind: str) -> float:
            return sum(1 for events in self.trigger_events for e in events if e.kind == kind) / n

        return {
            "num_sequences": float(len(self.mode_trace)),
            "mean_generated_tokens": sum(self.num_generated_tokens) / n,
            "mean_latent_share": sum(self.latent_share) / n,
            "latent_step_share": sum(t.count(LATENT) for t in self.mode_trace) / steps,
            "math_override_step_share": sum(self.math_override_count) / steps,
            "mean_switch_count": sum(self.switch_count) / n,
            "mean_to_latent": count("to_latent"),
            "mean_convergence": count("convergence"),
            "mean_termination": count("termination"),
            "end_think_share": sum(1 for ev in self.trigger_events if any(e.kind == "end_think" for e in ev)) / n,
        }

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per sequence (text, traces, events, counts)."""
        return [
            {
                "text": self.texts[i],
                "num_generated_tokens": self.num_generated_tokens[i],
                "finish_reason": self.finish_reason[i],
                "switch_count": self.switch_count[i],
                "latent_share": self.latent_share[i],
                "mode_trace": self.mode_trace[i],
                "entropy_trace": self.entropy_trace[i],
                "trigger_events": [list(e) for e in self.trigger_events[i]],
            }
            for i in range(len(self.texts))
        ]


# ----------------------------------------------------------------------------------------------- model plumbing
def _forward_parameters(model: Any) -> Any:
    target = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inspect.signature(target.forward).parameters


def _cache_argument(parameters: Any) -> str:
    """Name of the KV-cache argument of the model's forward: ``cache`` (recent transformers 5 releases) or
    ``past_key_values`` (older releases, e.g. the 4.56 floor)."""
    if "cache" in parameters:
        return "cache"
    if "past_key_values" in parameters:
        return "past_key_values"
    return "cache"


def _output_cache(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    if cache is None:
        cache = getattr(output, "past_key_values", None)
    if cache is None:
        raise ValueError("The model returned no KV cache (SwiReasoning needs `use_cache=True` support).")
    return cache


def _to_list(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.flatten().tolist()]
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def _sampling_processors(config: SwiReasoningConfig) -> Any:
    """transformers' own warpers for the config's sampling settings, in `generate`'s order."""
    from transformers import (
        LogitsProcessorList,
        MinPLogitsWarper,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    processors = LogitsProcessorList()
    if not config.do_sample:
        return processors
    if config.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(config.temperature))
    if config.top_k:
        processors.append(TopKLogitsWarper(top_k=config.top_k))
    if config.top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p=config.top_p))
    if config.min_p is not None:
        processors.append(MinPLogitsWarper(min_p=config.min_p))
    return processors


def _left_align(input_ids: torch.Tensor, attention_mask: torch.Tensor, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Move every row's attended tokens to the right end (left padding), keeping their order."""
    if input_ids.shape != attention_mask.shape:
        raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} != input_ids {tuple(input_ids.shape)}.")
    mask = attention_mask.bool()
    lengths = mask.sum(-1)
    if bool((lengths == 0).any()):
        raise ValueError("Every prompt needs at least one token (an attention-mask row is all zeros).")
    width = int(lengths.max())
    # already left-aligned: the attended tokens of each row are its last `length` positions
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    left_aligned = mask == (positions >= input_ids.shape[1] - lengths[:, None])
    if bool(left_aligned.all()):
        return input_ids[:, input_ids.shape[1] - width :], attention_mask[:, input_ids.shape[1] - width :].long()
    ids = torch.full((input_ids.shape[0], width), pad_id, dtype=input_ids.dtype, device=input_ids.device)
    new_mask = torch.zeros_like(ids)
    for row in range(input_ids.shape[0]):
        tokens = input_ids[row][mask[row]]
        ids[row, width - tokens.numel() :] = tokens
        new_mask[row, width - tokens.numel() :] = 1
    return ids, new_mask


# -------------------------------------------------------------------------------------------------- decode loop
class _RowState:
    """Per-row decoding state of the active rows (all tensors ``[b]`` or ``[b, ...]``), pruned together."""

    NAMES = ("row_ids", "explicit", "reference", "dwell", "locked", "count", "next_pos", "mask", "ids", "explicit_trace",
             "override_trace", "entropies", "lock_trace", "cap_trace", "forced_kind", "forced_pos", "remaining",
             "terminating")

    def __init__(self, **tensors: torch.Tensor | None) -> None:
        for name in self.NAMES:
            setattr(self, name, tensors.get(name))

    def select(self, index: torch.Tensor) -> None:
        for name in self.NAMES:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.index_select(0, index))


_TRACES = ("ids", "explicit_trace", "override_trace", "entropies", "lock_trace", "cap_trace")
_CONVERGENCE, _TERMINATION = 1, 2  # codes of the cap trace (and rows of the forced-string table)


@torch.no_grad()
def _decode(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *,
    config: SwiReasoningConfig,
    tokens: SwiReasoningTokens,
    processors: Any,
    do_sample: bool,
    eos_ids: list[int],
    pad_id: int,
    max_new_tokens: int,
    generator: torch.Generator | None,
    cache: Any = None,
    stopping_criteria: Any = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The SwiReasoning loop over left-padded ``input_ids [B, P]``; returns per-row buffers (see `_build_output`).

    Per step it records, for each active row, the token, the mode after the switch rule (explicit or not), whether
    the math override fired, the entropy, whether explicit became locked and any cap injection; switches are the
    mode changes of that trace (`_build_output` turns it into events).
    """
    from tqdm.auto import tqdm

    device = input_ids.device
    batch, prompt_len = input_ids.shape
    parameters = _forward_parameters(model)
    cache_name = _cache_argument(parameters)
    keep_logits = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}
    embedding = model.get_input_embeddings()
    weight = embedding.weight  # [V_emb, D]
    embed_scale = getattr(embedding, "embed_scale", None)

    # ---- prefill
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    attention_mask = attention_mask.long()
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # [B, P]; pads get 0 (never attended)
    padded = not bool(attention_mask.all())
    prefill_kwargs = {"attention_mask": attention_mask if padded else None, "position_ids": position_ids,
                      "use_cache": True, **keep_logits}
    if cache is not None:
        prefill_kwargs[cache_name] = cache
    output = model(input_ids=input_ids, **prefill_kwargs)
    cache = _output_cache(output)
    logits = output.logits[:, -1].to(device)  # [B, V] (a model split over devices may return it elsewhere)
    del output
    vocab = logits.shape[-1]
    if vocab > weight.shape[0]:
        raise ValueError(
            f"The model's logits have {vocab} entries but its input embedding matrix only {weight.shape[0]} rows: "
            "soft embeddings p @ E need one embedding per vocabulary entry."
        )
    weight = weight[:vocab]

    # ---- per-row state and traces
    cap = config.max_switch_count
    window = math.inf if config.window_size is None else float(config.window_size)
    is_math = math_mask(tokens.math_ids, vocab, device) if tokens.math_ids else None
    steps = max_new_tokens

    def zeros(dtype: torch.dtype, *shape: int) -> torch.Tensor:
        return torch.zeros(batch, *shape, dtype=dtype, device=device)

    state = _RowState(
        row_ids=torch.arange(batch, device=device),
        explicit=torch.full((batch,), config.start_mode == "explicit", dtype=torch.bool, device=device),
        reference=zeros(torch.float32),
        dwell=zeros(torch.long),
        locked=zeros(torch.bool),
        next_pos=position_ids[:, -1:] + 1,  # [B, 1]
        mask=attention_mask if padded else None,
        ids=torch.cat([input_ids, input_ids.new_full((batch, steps), pad_id)], dim=1),  # [B, P + T]
        explicit_trace=zeros(torch.bool, steps),
        override_trace=zeros(torch.bool, steps) if is_math is not None else None,
        entropies=zeros(torch.float32, steps),
        lock_trace=zeros(torch.bool, steps),
    )
    if cap is not None:
        forced = [[], tokens.convergence_ids, tokens.termination_ids]
        width = max(len(f) for f in forced)
        forced_table = torch.tensor([f + [pad_id] * (width - len(f)) for f in forced], dtype=torch.long,
                                    device=device)  # [3, L]
        forced_len = torch.tensor([len(f) for f in forced], dtype=torch.long, device=device)  # [3]
        state.count = zeros(torch.long)
        state.cap_trace = zeros(torch.int8, steps)
        state.forced_kind = zeros(torch.long)
        state.forced_pos = zeros(torch.long)
        state.remaining = torch.full((batch,), -1, dtype=torch.long, device=device)
        state.terminating = zeros(torch.bool)
    eos = torch.tensor(eos_ids, dtype=torch.long, device=device) if eos_ids else None
    mix_id = tokens.initial_mix_id if config.start_mode == "latent" else None

    # finished rows land here, in the original order
    done = {name: torch.zeros_like(getattr(state, name)) for name in _TRACES if getattr(state, name) is not None}
    done["ids"].fill_(pad_id)
    done_steps = zeros(torch.long)
    done_reason = zeros(torch.long)

    def flush(local: torch.Tensor | slice, n_steps: int, reason: torch.Tensor) -> None:
        rows = state.row_ids[local]
        for name, buffer in done.items():
            buffer[rows] = getattr(state, name)[local]
        done_steps[rows] = n_steps
        done_reason[rows] = reason[local]

    bar = tqdm(total=steps, desc="swireasoning", unit="step", disable=not progress, leave=False)
    for step in range(steps):
        entropy, probs = swireasoning_entropy(logits)  # [b], [b, V] (raw distribution)
        if step == 0:
            state.reference = entropy
        scores = logits.float()
        if processors:
            scores = processors(state.ids[:, : prompt_len + step], scores)
        if do_sample:
            sampled = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(1)
        else:
            sampled = scores.argmax(dim=-1)

        # the switch rule; rows feeding a forced string keep their mode and do not "sample" </think>
        end_think = sampled == tokens.end_think_id
        frozen = None
        if cap is not None:
            forcing = state.forced_pos < forced_len[state.forced_kind]
            frozen = forcing | state.terminating
            end_think = end_think & ~forcing
        was_locked = state.locked
        switch = swireasoning_switch(state.explicit, entropy, state.reference, state.dwell, was_locked, end_think,
                                     window, frozen)
        state.explicit, state.reference, state.dwell, state.locked = (
            switch.explicit, switch.reference, switch.dwell, switch.locked)
        blended = switch.entropy_drop  # latent -> explicit switch steps: β·e_soft + (1 - β)·E[</think>]

        # switch cap: force-feed the convergence / termination string from this step on
        token = sampled
        budget_done = None
        if cap is not None:
            state.count = state.count + switch.to_explicit.long()
            inject_convergence = switch.entropy_drop & (state.count >= cap) & (state.count <= 2 * cap)
            inject_termination = switch.entropy_drop & (state.count > 2 * cap)
            inject = inject_convergence | inject_termination
            state.forced_kind = torch.where(inject_convergence, _CONVERGENCE,
                                            torch.where(inject_termination, _TERMINATION, state.forced_kind))
            state.forced_pos = torch.where(inject, 0, state.forced_pos)
            state.terminating = state.terminating | inject_termination
            forcing = state.forced_pos < forced_len[state.forced_kind]
            position = state.forced_pos.clamp(max=forced_table.shape[1] - 1)
            token = torch.where(forcing, forced_table[state.forced_kind, position], sampled)
            state.forced_pos = state.forced_pos + forcing.long()
            termination_done = forcing & (state.forced_kind == _TERMINATION) & (state.forced_pos == forced_len[2])
            answering = (state.remaining > 0) & ~forcing
            state.remaining = torch.where(termination_done, config.answer_budget, state.remaining - answering.long())
            budget_done = state.remaining == 0
            blended = blended & ~inject
            state.cap_trace[:, step] = inject_convergence.to(torch.int8) + inject_termination.to(torch.int8) * 2

        # math override: a latent row whose sampled token is a math token feeds that token this step
        fed_latent = ~state.explicit
        if is_math is not None:
            override = fed_latent & is_math[sampled]
            fed_latent = fed_latent & ~override
            state.override_trace[:, step] = override

        state.ids[:, prompt_len + step] = token
        state.explicit_trace[:, step] = state.explicit
        state.entropies[:, step] = entropy
        state.lock_trace[:, step] = state.locked ^ was_locked
        bar.update(1)

        # finished rows leave the batch and the cache
        finished = torch.isin(token, eos) if eos is not None else None
        if budget_done is not None:
            finished = budget_done if finished is None else finished | budget_done
        if stopping_criteria:
            stop = stopping_criteria(state.ids[:, : prompt_len + step + 1], None).to(device)
            finished = stop if finished is None else finished | stop
        last = step == steps - 1
        if last or (finished is not None and bool(finished.any())):
            reason = _finish_reasons(token, eos, budget_done, finished, last)
            flush(slice(None) if last else finished, step + 1, reason)
            if last:
                break
            keep = (~finished).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            state.select(keep)
            cache.batch_select_indices(keep)
            token, probs, fed_latent, blended = token[keep], probs[keep], fed_latent[keep], blended[keep]
            to_latent = switch.to_latent[keep]
        else:
            to_latent = switch.to_latent

        # next input: c · e_soft + (1 - c) · E[anchor]  (c = 0 for explicit rows: the token's own embedding)
        if bool((fed_latent | blended).any()):
            coef = fed_latent.to(torch.float32)
            anchor = token
            if step == 0 and mix_id is not None:
                coef = torch.where(fed_latent, config.initial_soft_weight, coef)
                anchor = torch.where(fed_latent, mix_id, anchor)
            to_latent = to_latent & fed_latent
            coef = torch.where(to_latent, mix_weight(config.alpha0, step, steps), coef)
            anchor = torch.where(to_latent, tokens.think_id, anchor)
            coef = torch.where(blended, mix_weight(config.beta0, step, steps), coef)
            anchor = torch.where(blended, tokens.end_think_id, anchor)
            soft = soft_embeddings(probs, weight, embed_scale) if bool((coef > 0).any()) else None
            inputs_embeds = mix_embeddings(soft, embedding(anchor), coef)  # [b, D]
        else:
            inputs_embeds = embedding(token)  # [b, D]
        if state.mask is not None:
            state.mask = torch.cat([state.mask, state.mask.new_ones(state.mask.shape[0], 1)], dim=1)
        output = model(
            inputs_embeds=inputs_embeds[:, None], attention_mask=state.mask, position_ids=state.next_pos,
            use_cache=True, **{cache_name: cache}, **keep_logits,
        )
        state.next_pos = state.next_pos + 1
        logits = output.logits[:, -1].to(device)
        del output
    bar.close()
    return {"steps": done_steps, "reason": done_reason, "prompt_length": prompt_len,
            "start_explicit": config.start_mode == "explicit", **done}


def _finish_reasons(
    token: torch.Tensor, eos: torch.Tensor | None, budget_done: torch.Tensor | None, finished: torch.Tensor | None,
    last: bool,
) -> torch.Tensor:
    """Index into `_FINISH_REASONS` per active row: eos, else answer budget, else stopping criteria, else length."""
    reason = torch.zeros_like(token)
    if finished is not None:
        reason = torch.where(finished, _FINISH_REASONS.index("stopping_criteria"), reason)
    if budget_done is not None:
        reason = torch.where(budget_done, _FINISH_REASONS.index("answer_budget"), reason)
    if eos is not None:
        reason = torch.where(torch.isin(token, eos), _FINISH_REASONS.index("eos"), reason)
    return reason


def _build_output(raw: dict[str, Any], tokenizer: Any, config: SwiReasoningConfig) -> SwiReasoningOutput:
    """Traces, events and texts per sequence from the buffers of `_decode`."""
    steps = raw["steps"].tolist()
    prompt_len = raw["prompt_length"]
    longest = max(steps) if steps else 0
    sequences = raw["ids"][:, : prompt_len + longest]
    explicit = raw["explicit_trace"].cpu()
    override = raw["override_trace"].cpu() if "override_trace" in raw else torch.zeros_like(explicit)
    modes = torch.where(explicit, EXPLICIT, torch.where(override, MATH_OVERRIDE, LATENT))
    previous = torch.cat([torch.full_like(explicit[:, :1], raw["start_explicit"]), explicit[:, :-1]], dim=1)
    codes = ((explicit & ~previous).long() * EVENT_BITS["to_explicit"]
             + (~explicit & previous).long() * EVENT_BITS["to_latent"]
             + raw["lock_trace"].cpu().long() * EVENT_BITS["end_think"])
    if "cap_trace" in raw:
        cap = raw["cap_trace"].cpu().long()
        codes += (cap == _CONVERGENCE).long() * EVENT_BITS["convergence"]
        codes += (cap == _TERMINATION).long() * EVENT_BITS["termination"]
    entropies = raw["entropies"].cpu()
    mode_trace, entropy_trace, trigger_events, latent_share, switch_count = [], [], [], [], []
    for row, n in enumerate(steps):
        trace = modes[row, :n].tolist()
        mode_trace.append(trace)
        entropy_trace.append(entropies[row, :n].tolist())
        row_codes = codes[row, :n]
        row_events = [
            SwiReasoningEvent(step, kind)
            for step in row_codes.nonzero().flatten().tolist()
            for kind, bit in EVENT_BITS.items()
            if int(row_codes[step]) & bit
        ]
        trigger_events.append(row_events)
        switch_count.append(sum(1 for e in row_events if e.kind == "to_explicit"))
        latent_share.append(trace.count(LATENT) / n if n else 0.0)
    completions = [sequences[row, prompt_len : prompt_len + n] for row, n in enumerate(steps)]
    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in completions] if tokenizer is not None else []
    return SwiReasoningOutput(
        sequences=sequences,
        texts=texts,
        mode_trace=mode_trace,
        entropy_trace=entropy_trace,
        switch_count=switch_count,
        trigger_events=trigger_events,
        latent_share=latent_share,
        num_generated_tokens=steps,
        finish_reason=[_FINISH_REASONS[r] for r in raw["reason"].tolist()],
        prompt_length=prompt_len,
        config=config,
    )


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def _check_max_new_tokens(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`max_new_tokens` must be an int >= 1, got {value!r}.")
    return value


def _encode_prompts(
    tokenizer: Any, prompts: Any, attention_mask: torch.Tensor | None, pad_id: int, add_special_tokens: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(prompts, str):
        prompts = [prompts]
    if isinstance(prompts, torch.Tensor):
        ids = prompts.long()
        if ids.dim() == 1:
            ids = ids[None]
            attention_mask = attention_mask[None] if attention_mask is not None and attention_mask.dim() == 1 else attention_mask
        if ids.dim() != 2 or ids.shape[1] == 0:
            raise ValueError(f"`input_ids` must be a non-empty [B, P] tensor, got shape {tuple(prompts.shape)}.")
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask.to(ids.device)
        return _left_align(ids, mask, pad_id)
    if attention_mask is not None:
        raise ValueError("`attention_mask` goes with tensor `input_ids`; text prompts are tokenized here.")
    if not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise ValueError(f"`prompts` must be a string, a non-empty list of strings or a [B, P] tensor, got {prompts!r}.")
    if all(isinstance(p, str) for p in prompts):
        encoded = tokenizer(list(prompts), add_special_tokens=add_special_tokens)["input_ids"]
    elif all(isinstance(p, Sequence) and all(isinstance(i, int) for i in p) for p in prompts):
        encoded = [list(p) for p in prompts]
    else:
        raise ValueError("`prompts` must be strings or lists of token ids, not a mix.")
    if any(len(p) == 0 for p in encoded):
        raise ValueError("Every prompt needs at least one token (an empty prompt was given).")
    width = max(len(p) for p in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(encoded):
        ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[row, width - len(p) :] = 1
    return ids, mask


def swi_generate(
    model: Any,
    tokenizer: Any,
    prompts: str | Sequence[str] | Sequence[Sequence[int]] | torch.Tensor,
    config: SwiReasoningConfig | None = None,
    max_new_tokens: int = 1024,
    *,
    attention_mask: torch.Tensor | None = None,
    add_special_tokens: bool = True,
    eos_token_id: int | list[int] | None = None,
    progress: bool = False,
) -> SwiReasoningOutput:
    """Generate with SwiReasoning: switch between latent (soft-embedding) and explicit (token) reasoning on the
    next-token entropy, and report per-sequence traces.

    Args:
        model (`PreTrainedModel`):
            Any causal LM with an input embedding matrix (`get_input_embeddings().weight`), on any device.
        tokenizer (`PreTrainedTokenizerBase`):
            Its tokenizer: it must have `config.think_token` and `config.end_think_token` as single tokens.
        prompts (`str`, `list[str]`, `list[list[int]]` or `torch.LongTensor`):
            Prompt texts (tokenized here, left-padded), token-id lists, or ``input_ids [B, P]`` (any padding side
            with `attention_mask`; re-aligned to left padding).
        config (`SwiReasoningConfig`, *optional*):
            Decoding settings (defaults: `SwiReasoningConfig()`).
        max_new_tokens (`int`, *optional*, defaults to `1024`):
            Decoding steps per sequence at most (also the horizon of the α/β schedules).
        attention_mask (`torch.LongTensor`, *optional*):
            Mask of tensor prompts (default: all ones).
        add_special_tokens (`bool`, *optional*, defaults to `True`):
            Passed to the tokenizer for text prompts (use `False` for prompts rendered with a chat template).
        eos_token_id (`int` or `list[int]`, *optional*):
            Stop ids; default: the model's generation config, else the tokenizer's eos. `[]`: no stop id.
        progress (`bool`, *optional*, defaults to `False`):
            Show a progress bar over the decoding steps.

    Returns:
        `SwiReasoningOutput`.
    """
    config = SwiReasoningConfig() if config is None else config
    if not isinstance(config, SwiReasoningConfig):
        raise ValueError(f"`config` must be a SwiReasoningConfig, got {type(config).__name__}.")
    max_new_tokens = _check_max_new_tokens(max_new_tokens)
    if eos_token_id is not None:
        values = [eos_token_id] if isinstance(eos_token_id, int) else eos_token_id
        if isinstance(values, (str, bytes)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
        ):
            raise ValueError(f"`eos_token_id` must be an int >= 0 or a list of them, got {eos_token_id!r}.")
    tokens = resolve_tokens(tokenizer, config)
    generation_config = getattr(model, "generation_config", None)
    eos_ids = _to_list(eos_token_id)
    if eos_token_id is None:
        eos_ids = _to_list(getattr(generation_config, "eos_token_id", None)) or _to_list(tokenizer.eos_token_id)
    pad_id = getattr(generation_config, "pad_token_id", None)
    if pad_id is None:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos_ids[0] if eos_ids else 0)
    input_ids, mask = _encode_prompts(tokenizer, prompts, attention_mask, int(pad_id), add_special_tokens)
    device = model.device
    was_training = model.training
    model.eval()
    try:
        raw = _decode(
            model, input_ids.to(device), mask.to(device), config=config, tokens=tokens,
            processors=_sampling_processors(config), do_sample=config.do_sample, eos_ids=eos_ids, pad_id=int(pad_id),
            max_new_tokens=max_new_tokens, generator=_generator(config.seed, device), progress=progress,
        )
    finally:
        model.train(was_training)
    return _build_output(raw, tokenizer, config)


def swireasoning_decoding(
    model: Any,
    input_ids: torch.Tensor,
    logits_processor: Any = None,
    stopping_criteria: Any = None,
    generation_config: Any = None,
    synced_gpus: bool = False,
    streamer: Any = None,
    swi_config: SwiReasoningConfig | None = None,
    swi_tokenizer: Any = None,
    **model_kwargs: Any,
) -> torch.Tensor | SwiReasoningOutput:
    """SwiReasoning as a `custom_generate` callable:
    ``model.generate(**inputs, custom_generate=swireasoning_decoding, swi_tokenizer=tokenizer, swi_config=config,
    do_sample=True, temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=...)``.

    `generate` prepares the inputs, the cache, its logits processors (temperature / top-k / top-p warpers from its
    own arguments and generation config: they replace the config's sampling fields here) and the stopping criteria
    (max length and EOS; other criteria, e.g. stop strings, are applied each step). `swi_tokenizer` is required
    (`generate` keeps its own `tokenizer` argument for itself). Returns the sequences, or the full
    `SwiReasoningOutput` with ``return_dict_in_generate=True``. `synced_gpus` and `streamer` are not supported.
    On transformers 4.x, which rejects unknown `generate` keyword arguments, bind them:
    ``custom_generate=functools.partial(swireasoning_decoding, swi_tokenizer=tokenizer, swi_config=config)``.
    """
    from transformers.generation.stopping_criteria import EosTokenCriteria, MaxLengthCriteria

    if synced_gpus:
        raise ValueError("swireasoning_decoding does not support `synced_gpus`.")
    if streamer is not None:
        raise ValueError("swireasoning_decoding does not support `streamer`.")
    if swi_tokenizer is None:
        raise ValueError("swireasoning_decoding needs `swi_tokenizer=<the model's tokenizer>` in the generate call.")
    config = SwiReasoningConfig() if swi_config is None else swi_config
    if not isinstance(config, SwiReasoningConfig):
        raise ValueError(f"`swi_config` must be a SwiReasoningConfig, got {type(config).__name__}.")
    tokens = resolve_tokens(swi_tokenizer, config)
    attention_mask = model_kwargs.pop("attention_mask", None)
    cache = model_kwargs.pop("cache", None)
    if cache is None:
        cache = model_kwargs.pop("past_key_values", None)
    for name in ("position_ids", "use_cache", "logits_to_keep", "cache_position"):
        model_kwargs.pop(name, None)
    unsupported = sorted(k for k, v in model_kwargs.items() if v is not None)
    if unsupported:
        raise ValueError(f"swireasoning_decoding does not support the model inputs {unsupported}.")
    if cache is not None and cache.get_seq_length() > 0:
        raise ValueError("swireasoning_decoding starts from an empty cache; got a cache that already holds tokens.")
    max_length = generation_config.max_length
    max_new_tokens = _check_max_new_tokens(max_length - input_ids.shape[1])
    eos_ids = _to_list(generation_config._eos_token_tensor if generation_config._eos_token_tensor is not None
                       else generation_config.eos_token_id)
    pad = generation_config._pad_token_tensor
    pad_id = int(pad) if pad is not None else (eos_ids[0] if eos_ids else 0)
    extra = None
    if stopping_criteria:
        from transformers import StoppingCriteriaList

        extra = StoppingCriteriaList(
            c for c in stopping_criteria if not isinstance(c, (MaxLengthCriteria, EosTokenCriteria))
        )
    if attention_mask is not None:
        input_ids, attention_mask = _left_align(input_ids, attention_mask, pad_id)
    raw = _decode(
        model, input_ids, attention_mask, config=config, tokens=tokens, processors=logits_processor,
        do_sample=bool(generation_config.do_sample), eos_ids=eos_ids, pad_id=pad_id, max_new_tokens=max_new_tokens,
        generator=_generator(config.seed, input_ids.device), cache=cache, stopping_criteria=extra or None,
    )
    result = _build_output(raw, swi_tokenizer, config)
    if generation_config.return_dict_in_generate:
        return result
    return result.sequences
