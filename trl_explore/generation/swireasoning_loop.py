"""The SwiReasoning decode loop (arXiv 2510.05069), one named step per method of `_Decoder`:

```text
prefill                 the (left-padded) prompts once, position ids from the attention mask
for each step t:
    sample              H_t and p_t of the raw logits; x_t sampled with the user's warpers and recorded
    decide_mode         the switch rule: latent -> explicit on an entropy drop, explicit -> latent after the window
    apply_switch_cap    count the switch; force-feed the convergence / termination string; the answer budget
    math_override       a latent row whose x_t is a math token feeds E[x_t] this step
    record              token, mode, override, entropy, lock of the step into the row's traces
    finish              rows done (eos, answer budget, stopping criteria, length) leave the batch and the cache
    next_inputs         c · e_soft + (1 - c) · E[anchor] per row (latent, explicit and switch steps)
    forward             one input embedding per row through the KV cache -> the next raw logits
```

The math of a step lives in `trl_explore.functional.swireasoning`; the public entry points (`swi_generate`,
`swireasoning_decoding`) and the output type in `trl_explore.generation.swireasoning`.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch

from ..functional.swireasoning import (
    SwitchStep,
    mix_embeddings,
    mix_weight,
    soft_embeddings,
    swireasoning_entropy,
    swireasoning_switch,
)
from .swireasoning_config import SwiReasoningConfig, SwiReasoningTokens, math_mask

FINISH_REASONS = ("length", "eos", "answer_budget", "stopping_criteria")
CONVERGENCE, TERMINATION = 1, 2  # codes of the cap trace (and rows of the forced-string table)
TRACES = ("ids", "explicit_trace", "override_trace", "entropies", "lock_trace", "cap_trace")


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


# -------------------------------------------------------------------------------------------------- row state
class _RowState:
    """Per-row decoding state of the active rows (all tensors ``[b]`` or ``[b, ...]``), pruned together."""

    NAMES = (
        "row_ids",
        "explicit",
        "reference",
        "dwell",
        "locked",
        "count",
        "next_pos",
        "mask",
        "ids",
        "explicit_trace",
        "override_trace",
        "entropies",
        "lock_trace",
        "cap_trace",
        "forced_kind",
        "forced_pos",
        "remaining",
        "terminating",
    )

    def __init__(self, **tensors: torch.Tensor | None) -> None:
        for name in self.NAMES:
            setattr(self, name, tensors.get(name))

    def select(self, index: torch.Tensor) -> None:
        for name in self.NAMES:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.index_select(0, index))


def _finish_reasons(
    token: torch.Tensor,
    eos: torch.Tensor | None,
    budget_done: torch.Tensor | None,
    finished: torch.Tensor | None,
    last: bool,
) -> torch.Tensor:
    """Index into `FINISH_REASONS` per active row: eos, else answer budget, else stopping criteria, else length."""
    reason = torch.zeros_like(token)
    if finished is not None:
        reason = torch.where(finished, FINISH_REASONS.index("stopping_criteria"), reason)
    if budget_done is not None:
        reason = torch.where(budget_done, FINISH_REASONS.index("answer_budget"), reason)
    if eos is not None:
        reason = torch.where(torch.isin(token, eos), FINISH_REASONS.index("eos"), reason)
    return reason


def _answer_budget_left(
    remaining: torch.Tensor,
    budget: int,
    counted_from: str,
    *,
    inject_termination: torch.Tensor,
    termination_done: torch.Tensor,
    forcing: torch.Tensor,
) -> torch.Tensor:
    """Tokens a row may still record after the current step (``-1``: no budget running), per row ``[b]``.

    ``counted_from == "switch"`` (the released code): the budget starts at the termination switch step, counts every
    recorded token from it on, the termination string included, and the row stops when it reaches 0: it records
    ``budget`` tokens from the switch step (the released 32 stop 31 steps after the switch).
    ``"after_termination"``: the budget starts once the termination string is fed and counts the tokens after it;
    the row records ``len(termination) + budget`` tokens from the switch step.
    """
    if counted_from == "switch":
        remaining = torch.where(inject_termination, budget, remaining)
        return remaining - (remaining > 0).long()
    answering = (remaining > 0) & ~forcing
    return torch.where(termination_done, budget, remaining - answering.long())


# -------------------------------------------------------------------------------------------------- the loop
class _Decoder:
    """One SwiReasoning run over a batch of left-padded prompts; `run` drives the steps named in the module doc."""

    def __init__(
        self,
        model: Any,
        config: SwiReasoningConfig,
        tokens: SwiReasoningTokens,
        *,
        processors: Any,
        do_sample: bool,
        eos_ids: list[int],
        pad_id: int,
        max_new_tokens: int,
        generator: torch.Generator | None,
        stopping_criteria: Any = None,
    ) -> None:
        parameters = _forward_parameters(model)
        self.model = model
        self.cache_name = _cache_argument(parameters)
        self.keep_logits = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}
        self.embedding = model.get_input_embeddings()
        self.weight = self.embedding.weight  # [V_emb, D]
        self.embed_scale = getattr(self.embedding, "embed_scale", None)
        self.config, self.tokens = config, tokens
        self.processors, self.do_sample, self.generator = processors, do_sample, generator
        self.stopping_criteria = stopping_criteria
        self.eos_ids, self.pad_id, self.steps = eos_ids, pad_id, max_new_tokens
        self.cap = config.max_switch_count
        self.window = math.inf if config.window_size is None else float(config.window_size)
        self.mix_id = tokens.initial_mix_id if config.start_mode == "latent" else None

    # ---- set-up
    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, cache: Any) -> torch.Tensor:
        """Run the prompts ``[B, P]`` once, set up the row state; returns the raw logits of step 0 ``[B, V]``."""
        device = self.device = input_ids.device
        self.prompt_len = input_ids.shape[1]
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = attention_mask.long()
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # [B, P]; pads get 0 (never attended)
        padded = not bool(attention_mask.all())
        prefill_kwargs = {
            "attention_mask": attention_mask if padded else None,
            "position_ids": position_ids,
            "use_cache": True,
            **self.keep_logits,
        }
        if cache is not None:
            prefill_kwargs[self.cache_name] = cache
        output = self.model(input_ids=input_ids, **prefill_kwargs)
        self.cache = _output_cache(output)
        logits = output.logits[:, -1].to(device)  # [B, V] (a model split over devices may return it elsewhere)
        del output
        vocab = logits.shape[-1]
        if vocab > self.weight.shape[0]:
            raise ValueError(
                f"The model's logits have {vocab} entries but its input embedding matrix only {self.weight.shape[0]} "
                "rows: soft embeddings p @ E need one embedding per vocabulary entry."
            )
        self.weight = self.weight[:vocab]
        self.is_math = math_mask(self.tokens.math_ids, vocab, device) if self.tokens.math_ids else None
        self.eos = torch.tensor(self.eos_ids, dtype=torch.long, device=device) if self.eos_ids else None
        self._init_state(input_ids, attention_mask if padded else None, position_ids)
        return logits

    def _init_state(self, input_ids: torch.Tensor, mask: torch.Tensor | None, position_ids: torch.Tensor) -> None:
        batch, steps, device = input_ids.shape[0], self.steps, self.device

        def zeros(dtype: torch.dtype, *shape: int) -> torch.Tensor:
            return torch.zeros(batch, *shape, dtype=dtype, device=device)

        self.state = _RowState(
            row_ids=torch.arange(batch, device=device),
            explicit=torch.full((batch,), self.config.start_mode == "explicit", dtype=torch.bool, device=device),
            reference=zeros(torch.float32),
            dwell=zeros(torch.long),
            locked=zeros(torch.bool),
            next_pos=position_ids[:, -1:] + 1,  # [B, 1]
            mask=mask,
            ids=torch.cat([input_ids, input_ids.new_full((batch, steps), self.pad_id)], dim=1),  # [B, P + T]
            explicit_trace=zeros(torch.bool, steps),
            override_trace=zeros(torch.bool, steps) if self.is_math is not None else None,
            entropies=zeros(torch.float32, steps),
            lock_trace=zeros(torch.bool, steps),
        )
        if self.cap is not None:
            forced = [[], self.tokens.convergence_ids, self.tokens.termination_ids]
            width = max(len(f) for f in forced)
            self.forced_table = torch.tensor(
                [f + [self.pad_id] * (width - len(f)) for f in forced], dtype=torch.long, device=device
            )  # [3, L]
            self.forced_len = torch.tensor([len(f) for f in forced], dtype=torch.long, device=device)  # [3]
            self.state.count = zeros(torch.long)
            self.state.cap_trace = zeros(torch.int8, steps)
            self.state.forced_kind = zeros(torch.long)
            self.state.forced_pos = zeros(torch.long)
            self.state.remaining = torch.full((batch,), -1, dtype=torch.long, device=device)
            self.state.terminating = zeros(torch.bool)
        # finished rows land here, in the original order
        self.done = {
            name: torch.zeros_like(getattr(self.state, name))
            for name in TRACES
            if getattr(self.state, name) is not None
        }
        self.done["ids"].fill_(self.pad_id)
        self.done_steps = zeros(torch.long)
        self.done_reason = zeros(torch.long)

    # ---- one step
    def sample(self, logits: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Entropy ``[b]`` and probabilities ``[b, V]`` of the raw distribution, and the sampled token ``[b]``."""
        entropy, probs = swireasoning_entropy(logits)  # [b], [b, V] (raw distribution)
        scores = logits.float()
        if self.processors:
            scores = self.processors(self.state.ids[:, : self.prompt_len + step], scores)
        if self.do_sample:
            sampled = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=self.generator).squeeze(1)
        else:
            sampled = scores.argmax(dim=-1)
        return entropy, probs, sampled

    def _forcing(self) -> torch.Tensor:
        """``[b]``: the row is feeding a forced string (convergence or termination) at this step."""
        return self.state.forced_pos < self.forced_len[self.state.forced_kind]

    def decide_mode(self, entropy: torch.Tensor, sampled: torch.Tensor, step: int) -> SwitchStep:
        """The switch rule (`swireasoning_switch`); rows feeding a forced string keep their mode and do not "sample"
        ``</think>``. Updates the mode, reference entropy, dwell counter and lock of every row."""
        state = self.state
        if step == 0:
            state.reference = entropy
        end_think = sampled == self.tokens.end_think_id
        frozen = None
        if self.cap is not None:
            forcing = self._forcing()
            frozen = forcing | state.terminating
            end_think = end_think & ~forcing
        switch = swireasoning_switch(
            state.explicit, entropy, state.reference, state.dwell, state.locked, end_think, self.window, frozen
        )
        state.explicit, state.reference, state.dwell, state.locked = (
            switch.explicit,
            switch.reference,
            switch.dwell,
            switch.locked,
        )
        return switch

    def apply_switch_cap(
        self, switch: SwitchStep, sampled: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Switch cap C: count latent -> explicit switches; on an entropy-drop switch bringing the count to C … 2C
        force-feed the convergence string, beyond 2C the termination string and start the answer budget.

        Returns the recorded token ``[b]`` (forced or sampled), the rows whose answer budget is spent (`None`
        without a cap) and the rows whose input is the β blend (latent -> explicit switch steps not forced).
        """
        blended = switch.entropy_drop  # latent -> explicit switch steps: β·e_soft + (1 - β)·E[</think>]
        if self.cap is None:
            return sampled, None, blended
        state, cap = self.state, self.cap
        state.count = state.count + switch.to_explicit.long()
        inject_convergence = switch.entropy_drop & (state.count >= cap) & (state.count <= 2 * cap)
        inject_termination = switch.entropy_drop & (state.count > 2 * cap)
        inject = inject_convergence | inject_termination
        state.forced_kind = torch.where(
            inject_convergence, CONVERGENCE, torch.where(inject_termination, TERMINATION, state.forced_kind)
        )
        state.forced_pos = torch.where(inject, 0, state.forced_pos)
        state.terminating = state.terminating | inject_termination
        forcing = self._forcing()
        position = state.forced_pos.clamp(max=self.forced_table.shape[1] - 1)
        token = torch.where(forcing, self.forced_table[state.forced_kind, position], sampled)
        state.forced_pos = state.forced_pos + forcing.long()
        termination_done = forcing & (state.forced_kind == TERMINATION) & (state.forced_pos == self.forced_len[2])
        state.remaining = _answer_budget_left(
            state.remaining,
            self.config.answer_budget,
            self.config.answer_budget_from,
            inject_termination=inject_termination,
            termination_done=termination_done,
            forcing=forcing,
        )
        state.cap_trace[:, step] = inject_convergence.to(torch.int8) + inject_termination.to(torch.int8) * 2
        return token, state.remaining == 0, blended & ~inject

    def math_override(self, sampled: torch.Tensor, step: int) -> torch.Tensor:
        """Rows fed a soft embedding this step ``[b]``: latent rows, except those whose sampled token is a math
        token (they feed that token; the mode is unchanged)."""
        fed_latent = ~self.state.explicit
        if self.is_math is not None:
            override = fed_latent & self.is_math[sampled]
            fed_latent = fed_latent & ~override
            self.state.override_trace[:, step] = override
        return fed_latent

    def record(self, step: int, token: torch.Tensor, entropy: torch.Tensor, was_locked: torch.Tensor) -> None:
        """Write the step's token, mode, entropy and lock change into the active rows' traces."""
        state = self.state
        state.ids[:, self.prompt_len + step] = token
        state.explicit_trace[:, step] = state.explicit
        state.entropies[:, step] = entropy
        state.lock_trace[:, step] = state.locked ^ was_locked

    def finish(self, step: int, token: torch.Tensor, budget_done: torch.Tensor | None) -> torch.Tensor | None:
        """Move rows that are done after this step to the output buffers and drop them from the batch and the cache.

        Returns `None` when every row goes on, else the kept (local) row indices (empty: the loop ends).
        """
        state = self.state
        finished = torch.isin(token, self.eos) if self.eos is not None else None
        if budget_done is not None:
            finished = budget_done if finished is None else finished | budget_done
        if self.stopping_criteria:
            stop = self.stopping_criteria(state.ids[:, : self.prompt_len + step + 1], None).to(self.device)
            finished = stop if finished is None else finished | stop
        last = step == self.steps - 1
        if not last and (finished is None or not bool(finished.any())):
            return None
        reason = _finish_reasons(token, self.eos, budget_done, finished, last)
        local = slice(None) if last else finished
        rows = state.row_ids[local]
        for name, buffer in self.done.items():
            buffer[rows] = getattr(state, name)[local]
        self.done_steps[rows] = step + 1
        self.done_reason[rows] = reason[local]
        if last:
            return token.new_zeros(0)
        keep = (~finished).nonzero().squeeze(1)
        if keep.numel():
            state.select(keep)
            self.cache.batch_select_indices(keep)
        return keep

    def next_inputs(
        self,
        step: int,
        token: torch.Tensor,
        probs: torch.Tensor,
        fed_latent: torch.Tensor,
        blended: torch.Tensor,
        to_latent: torch.Tensor,
    ) -> torch.Tensor:
        """The next input embeddings ``[b, D]``: ``c · e_soft + (1 - c) · E[anchor]`` per row.

        explicit step c = 0, anchor x_t; latent step c = 1; step 0 in latent start c = `initial_soft_weight`,
        anchor the mix token; explicit -> latent switch step c = α_t, anchor ``<think>``; latent -> explicit switch
        step c = β_t, anchor ``</think>``.
        """
        if not bool((fed_latent | blended).any()):
            return self.embedding(token)  # [b, D]: explicit steps only
        config, tokens = self.config, self.tokens
        coef = fed_latent.to(torch.float32)
        anchor = token
        if step == 0 and self.mix_id is not None:
            coef = torch.where(fed_latent, config.initial_soft_weight, coef)
            anchor = torch.where(fed_latent, self.mix_id, anchor)
        to_latent = to_latent & fed_latent
        coef = torch.where(to_latent, mix_weight(config.alpha0, step, self.steps), coef)
        anchor = torch.where(to_latent, tokens.think_id, anchor)
        coef = torch.where(blended, mix_weight(config.beta0, step, self.steps), coef)
        anchor = torch.where(blended, tokens.end_think_id, anchor)
        soft = soft_embeddings(probs, self.weight, self.embed_scale) if bool((coef > 0).any()) else None
        return mix_embeddings(soft, self.embedding(anchor), coef)  # [b, D]

    def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        """One input embedding per active row through the KV cache; returns the next raw logits ``[b, V]``."""
        state = self.state
        if state.mask is not None:
            state.mask = torch.cat([state.mask, state.mask.new_ones(state.mask.shape[0], 1)], dim=1)
        output = self.model(
            inputs_embeds=inputs_embeds[:, None],
            attention_mask=state.mask,
            position_ids=state.next_pos,
            use_cache=True,
            **{self.cache_name: self.cache},
            **self.keep_logits,
        )
        state.next_pos = state.next_pos + 1
        logits = output.logits[:, -1].to(self.device)
        del output
        return logits

    # ---- the loop
    def run(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, cache: Any = None, progress: bool = False
    ) -> dict[str, Any]:
        """Decode; returns the per-row buffers (see `trl_explore.generation.swireasoning._build_output`)."""
        from tqdm.auto import tqdm

        logits = self.prefill(input_ids, attention_mask, cache)
        bar = tqdm(total=self.steps, desc="swireasoning", unit="step", disable=not progress, leave=False)
        for step in range(self.steps):
            entropy, probs, sampled = self.sample(logits, step)
            was_locked = self.state.locked
            switch = self.decide_mode(entropy, sampled, step)
            token, budget_done, blended = self.apply_switch_cap(switch, sampled, step)
            fed_latent = self.math_override(sampled, step)
            self.record(step, token, entropy, was_locked)
            bar.update(1)
            keep = self.finish(step, token, budget_done)
            to_latent = switch.to_latent
            if keep is not None:
                if keep.numel() == 0:
                    break
                token, probs, fed_latent, blended, to_latent = (
                    token[keep],
                    probs[keep],
                    fed_latent[keep],
                    blended[keep],
                    to_latent[keep],
                )
            logits = self.forward(self.next_inputs(step, token, probs, fed_latent, blended, to_latent))
        bar.close()
        return {
            "steps": self.done_steps,
            "reason": self.done_reason,
            "prompt_length": self.prompt_len,
            "start_explicit": self.config.start_mode == "explicit",
            **self.done,
        }


@torch.no_grad()
def decode(
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
    """The SwiReasoning loop over left-padded ``input_ids [B, P]``; returns per-row buffers.

    Per step it records, for each active row, the token, the mode after the switch rule (explicit or not), whether
    the math override fired, the entropy, whether explicit became locked and any cap injection; switches are the
    mode changes of that trace (`_build_output` turns it into events).
    """
    decoder = _Decoder(
        model,
        config,
        tokens,
        processors=processors,
        do_sample=do_sample,
        eos_ids=eos_ids,
        pad_id=pad_id,
        max_new_tokens=max_new_tokens,
        generator=generator,
        stopping_criteria=stopping_criteria,
    )
    return decoder.run(input_ids, attention_mask, cache, progress)
