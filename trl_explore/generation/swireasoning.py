"""SwiReasoning decoding (arXiv 2510.05069) for any Hugging Face causal LM: a decode loop that feeds soft (latent)
or token (explicit) input embeddings, switching on the next-token entropy, with per-sequence traces.

`model.generate` cannot do this with a logits processor (a processor cannot change the next *input*), and accepts
`inputs_embeds` only for the prompt, so a loop of its own (`trl_explore.generation.swireasoning_loop`, one method per
step) drives the model's forward with the KV cache:

- prefill the (left-padded) prompts once, position ids from the attention mask;
- each step: entropy of the raw next-token distribution, a token sampled with transformers' own warpers
  (`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`, `MinPLogitsWarper`) and recorded, the switch rule
  (`trl_explore.functional.swireasoning`), then one forward of the next input embedding through the cache;
- finished rows (EOS, answer budget after the switch cap) leave the batch and the cache
  (`Cache.batch_select_indices`).

The math of a step lives in `trl_explore.functional.swireasoning`; this module holds the output type and the public
entry points, `swi_generate` and `swireasoning_decoding` (for ``model.generate(custom_generate=swireasoning_decoding, ...)``).

transformers: tested with 5.24, whose models take the cache as ``cache=``; older versions (down to the package floor,
4.56.2, checked by ``tests/generation/transformers_floor_check.py``) name it ``past_key_values=``, and the loop picks
whichever name the model's ``forward`` declares. On transformers 4.x pass the config and tokenizer of the
``custom_generate`` route with ``functools.partial`` (4.x rejects unknown ``generate`` keyword arguments).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from .swireasoning_config import SwiReasoningConfig, resolve_tokens
from .swireasoning_loop import CONVERGENCE, FINISH_REASONS, TERMINATION, decode

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


def _left_align(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
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


def _build_output(raw: dict[str, Any], tokenizer: Any, config: SwiReasoningConfig) -> SwiReasoningOutput:
    """Traces, events and texts per sequence from the buffers of `swireasoning_loop.decode`."""
    steps = raw["steps"].tolist()
    prompt_len = raw["prompt_length"]
    longest = max(steps) if steps else 0
    sequences = raw["ids"][:, : prompt_len + longest]
    explicit = raw["explicit_trace"].cpu()
    override = raw["override_trace"].cpu() if "override_trace" in raw else torch.zeros_like(explicit)
    modes = torch.where(explicit, EXPLICIT, torch.where(override, MATH_OVERRIDE, LATENT))
    previous = torch.cat([torch.full_like(explicit[:, :1], raw["start_explicit"]), explicit[:, :-1]], dim=1)
    codes = (
        (explicit & ~previous).long() * EVENT_BITS["to_explicit"]
        + (~explicit & previous).long() * EVENT_BITS["to_latent"]
        + raw["lock_trace"].cpu().long() * EVENT_BITS["end_think"]
    )
    if "cap_trace" in raw:
        cap = raw["cap_trace"].cpu().long()
        codes += (cap == CONVERGENCE).long() * EVENT_BITS["convergence"]
        codes += (cap == TERMINATION).long() * EVENT_BITS["termination"]
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
        finish_reason=[FINISH_REASONS[r] for r in raw["reason"].tolist()],
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
            attention_mask = (
                attention_mask[None] if attention_mask is not None and attention_mask.dim() == 1 else attention_mask
            )
        if ids.dim() != 2 or ids.shape[1] == 0:
            raise ValueError(f"`input_ids` must be a non-empty [B, P] tensor, got shape {tuple(prompts.shape)}.")
        mask = torch.ones_like(ids) if attention_mask is None else attention_mask.to(ids.device)
        return _left_align(ids, mask, pad_id)
    if attention_mask is not None:
        raise ValueError("`attention_mask` goes with tensor `input_ids`; text prompts are tokenized here.")
    if not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise ValueError(
            f"`prompts` must be a string, a non-empty list of strings or a [B, P] tensor, got {prompts!r}."
        )
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
        raw = decode(
            model,
            input_ids.to(device),
            mask.to(device),
            config=config,
            tokens=tokens,
            processors=_sampling_processors(config),
            do_sample=config.do_sample,
            eos_ids=eos_ids,
            pad_id=int(pad_id),
            max_new_tokens=max_new_tokens,
            generator=_generator(config.seed, device),
            progress=progress,
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
    eos_ids = _to_list(
        generation_config._eos_token_tensor
        if generation_config._eos_token_tensor is not None
        else generation_config.eos_token_id
    )
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
    raw = decode(
        model,
        input_ids,
        attention_mask,
        config=config,
        tokens=tokens,
        processors=logits_processor,
        do_sample=bool(generation_config.do_sample),
        eos_ids=eos_ids,
        pad_id=pad_id,
        max_new_tokens=max_new_tokens,
        generator=_generator(config.seed, input_ids.device),
        cache=cache,
        stopping_criteria=extra or None,
    )
    result = _build_output(raw, swi_tokenizer, config)
    if generation_config.return_dict_in_generate:
        return result
    return result.sequences
