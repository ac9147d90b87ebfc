"""SwiReasoning on real tiny transformers models (Qwen2, Llama): greedy equivalence with `model.generate` under the
degenerate settings, mixed-length batch == one by one, cached decoding == the full-recompute reference, the
`custom_generate` route == `swi_generate`, the older-transformers cache argument, seeding, inputs and outputs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from reference.swireasoning_reference import reference_swireasoning
from torch import nn

from trl_explore.generation import SwiReasoningConfig, SwiReasoningOutput, swi_generate, swireasoning_decoding
from trl_explore.generation.swireasoning import LATENT
from trl_explore.generation.swireasoning_config import resolve_tokens
from trl_explore.generation.swireasoning_loop import _cache_argument, _forward_parameters
from trl_explore.toy import make_tiny_model, make_tokenizer

TOK = make_tokenizer()
PROMPTS = ["Compute (3+4)*2\n", "x=1\n", "Use 3 5 7 to make 22\n", "What is 12*12?\n"]  # 16, 4, 21, 15 tokens
DEGENERATE = SwiReasoningConfig(
    start_mode="explicit", alpha0=1.0, beta0=1.0, math_override=False, window_size=None, do_sample=False
)


def tiny(arch: str = "qwen2", seed: int = 0) -> nn.Module:
    """Initialised with std 0.2: peaked, varying next-token distributions, so entropies move and rows switch."""
    return make_tiny_model(TOK, arch=arch, hidden_size=32, num_hidden_layers=2, seed=seed, initializer_range=0.2)


def encode(prompts=PROMPTS):
    return TOK(prompts, return_tensors="pt", padding=True)


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_degenerate_settings_equal_generate_greedy(arch):
    """Start explicit, α = β = 1, no math override, infinite window: every step feeds E[x_t], exactly `generate`'s
    greedy decoding, on a left-padded batch of mixed lengths; rows stop at an eos id at different steps (pruned)."""
    model = tiny(arch)
    enc = encode()
    free = model.generate(**enc, do_sample=False, max_new_tokens=24, eos_token_id=None)
    eos = int(free[0, enc["input_ids"].shape[1] + 6])  # the token row 0 emits at step 6
    theirs = model.generate(**enc, do_sample=False, max_new_tokens=24, eos_token_id=eos)
    out = swi_generate(
        model, TOK, enc["input_ids"], DEGENERATE, 24, attention_mask=enc["attention_mask"], eos_token_id=eos
    )
    assert out.sequences.shape == theirs.shape
    assert torch.equal(out.sequences, theirs)
    assert "eos" in out.finish_reason and len(set(out.num_generated_tokens)) > 1  # rows left the batch
    assert all(set(trace) == {1} for trace in out.mode_trace) and out.switch_count == [0] * 4


def test_degenerate_settings_equal_generate_with_text_prompts_and_model_eos():
    model = tiny(seed=3)
    out = swi_generate(model, TOK, PROMPTS, DEGENERATE, 30)
    theirs = model.generate(**encode(), do_sample=False, max_new_tokens=30)
    assert torch.equal(out.sequences, theirs)


SWITCHING = {
    "latent_cap_override": dict(window_size=2, alpha0=0.5, beta0=0.7, max_switch_count=1, answer_budget=4),
    "cap_after_termination": dict(
        window_size=2,
        alpha0=0.5,
        max_switch_count=1,
        answer_budget=4,
        answer_budget_from="after_termination",
        math_tokens="pattern",
    ),
    "explicit_start_no_override": dict(
        start_mode="explicit", window_size=3, alpha0=0.3, math_override=False, initial_mix_token=None
    ),
}


def reference_for(model, prompt: str, config: SwiReasoningConfig, max_new_tokens: int) -> dict:
    tokens = resolve_tokens(TOK, config)
    return reference_swireasoning(
        model,
        TOK.encode(prompt),
        max_new_tokens=max_new_tokens,
        think_id=tokens.think_id,
        end_think_id=tokens.end_think_id,
        eos_ids=[1, 3],
        alpha0=config.alpha0,
        beta0=config.beta0,
        window_size=config.window_size,
        max_switch_count=config.max_switch_count,
        convergence_ids=tokens.convergence_ids,
        termination_ids=tokens.termination_ids,
        answer_budget=config.answer_budget,
        answer_budget_from=config.answer_budget_from,
        math_ids=set(tokens.math_ids),
        start_mode=config.start_mode,
        initial_soft_weight=config.initial_soft_weight,
        initial_mix_id=tokens.initial_mix_id,
    )


@pytest.mark.parametrize("setting", sorted(SWITCHING))
def test_cached_batched_decoding_equals_the_full_recompute_reference(setting):
    """The reference re-runs the model on every input embedding fed so far, one prompt at a time, no cache and no
    padding, float64 rule: tokens, modes, events and finish reasons match exactly, entropies to 1e-4."""
    model = tiny(seed=1)
    config = SwiReasoningConfig(do_sample=False, **SWITCHING[setting])
    out = swi_generate(model, TOK, PROMPTS, config, 40)
    assert sum(out.switch_count) > 0 and any(share > 0 for share in out.latent_share)  # latent steps happened
    for row, prompt in enumerate(PROMPTS):
        ref = reference_for(model, prompt, config, 40)
        n = out.num_generated_tokens[row]
        assert out.sequences[row, out.prompt_length : out.prompt_length + n].tolist() == ref["tokens"], row
        assert out.mode_trace[row] == ref["modes"], row
        assert [(e.step, e.kind) for e in out.trigger_events[row]] == ref["events"], row
        assert out.finish_reason[row] == ref["reason"]
        assert out.entropy_trace[row] == pytest.approx(ref["entropies"], abs=1e-4)


@pytest.mark.parametrize("setting", ["latent_cap_override", "cap_after_termination"])
def test_switch_cap_terminates_real_rows(setting):
    """With C = 1 and a short window the toy model's rows reach the termination string and stop after the answer
    budget of 4 (the reference test above checks the same rows step by step): counted from the switch step (the
    released count) the row stops 3 steps after it, inside the 22-token termination string; counted after the
    string, the row ends with the whole string and 4 more tokens."""
    model = tiny(seed=1)
    config = SwiReasoningConfig(do_sample=False, **SWITCHING[setting])
    out = swi_generate(model, TOK, PROMPTS, config, 80)
    assert "answer_budget" in out.finish_reason
    termination = TOK.encode("</think>\n\nThe final answer is")
    for row, reason in enumerate(out.finish_reason):
        if reason == "answer_budget":
            n = out.num_generated_tokens[row]
            ids = out.sequences[row, out.prompt_length : out.prompt_length + n].tolist()
            switch_step = [e.step for e in out.trigger_events[row] if e.kind == "termination"]
            if setting == "latent_cap_override":
                assert switch_step == [n - 4] and ids[-4:] == termination[:4]
            else:
                assert switch_step == [n - 4 - len(termination)] and ids[-4 - len(termination) : -4] == termination


@pytest.mark.parametrize("setting", sorted(SWITCHING))
def test_mixed_length_batch_equals_one_by_one(setting):
    model = tiny(seed=2)
    config = SwiReasoningConfig(do_sample=False, **SWITCHING[setting])
    batched = swi_generate(model, TOK, PROMPTS, config, 32)
    for row, prompt in enumerate(PROMPTS):
        alone = swi_generate(model, TOK, [prompt], config, 32)
        n = alone.num_generated_tokens[0]
        assert batched.num_generated_tokens[row] == n
        assert batched.texts[row] == alone.texts[0]
        assert (
            batched.sequences[row, batched.prompt_length : batched.prompt_length + n].tolist()
            == alone.sequences[0, alone.prompt_length :].tolist()
        )
        assert batched.mode_trace[row] == alone.mode_trace[0]
        assert batched.trigger_events[row] == alone.trigger_events[0]
        assert batched.entropy_trace[row] == pytest.approx(alone.entropy_trace[0], abs=1e-4)


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("prompts", [PROMPTS, PROMPTS[:1]], ids=["padded_batch", "single"])
def test_custom_generate_route_equals_swi_generate(sampled, prompts):
    model = tiny(seed=4)
    sampling = dict(do_sample=True, temperature=0.6, top_k=20, top_p=0.95) if sampled else dict(do_sample=False)
    config = SwiReasoningConfig(seed=123, window_size=3, alpha0=0.5, max_switch_count=2, answer_budget=5, **sampling)
    ours = swi_generate(model, TOK, prompts, config, 40)
    enc = encode(prompts)
    theirs = model.generate(
        **enc,
        custom_generate=swireasoning_decoding,
        swi_tokenizer=TOK,
        swi_config=config,
        max_new_tokens=40,
        **sampling,
    )
    assert torch.equal(theirs, ours.sequences)
    full = model.generate(
        **enc,
        custom_generate=swireasoning_decoding,
        swi_tokenizer=TOK,
        swi_config=config,
        max_new_tokens=40,
        return_dict_in_generate=True,
        **sampling,
    )
    assert isinstance(full, SwiReasoningOutput)
    assert full.mode_trace == ours.mode_trace and full.trigger_events == ours.trigger_events
    assert full.texts == ours.texts


def test_custom_generate_with_functools_partial():
    """Binding the config and tokenizer with functools.partial (the way that also works on transformers 4.x, which
    rejects unknown `generate` keyword arguments) gives the same output."""
    import functools

    model = tiny(seed=4)
    config = SwiReasoningConfig(do_sample=False, window_size=3, alpha0=0.5)
    decoding = functools.partial(swireasoning_decoding, swi_tokenizer=TOK, swi_config=config)
    routed = model.generate(**encode(), custom_generate=decoding, do_sample=False, max_new_tokens=30)
    assert torch.equal(routed, swi_generate(model, TOK, PROMPTS, config, 30).sequences)


def test_custom_generate_needs_the_tokenizer():
    model = tiny()
    with pytest.raises(ValueError, match="swi_tokenizer"):
        model.generate(**encode(PROMPTS[:1]), custom_generate=swireasoning_decoding, max_new_tokens=4)


class PastKeyValuesModel(nn.Module):
    """A model with the older forward signature (``past_key_values=``, no ``logits_to_keep``) and output attribute."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.generation_config = inner.generation_config
        self.calls = []

    @property
    def device(self):
        return self.inner.device

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        inputs_embeds=None,
        use_cache=None,
    ):
        self.calls.append(past_key_values is not None)
        out = self.inner(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
        )
        return SimpleNamespace(logits=out.logits, past_key_values=out.cache)


def test_older_cache_argument_name():
    model = tiny(seed=1)
    old = PastKeyValuesModel(model)
    assert _cache_argument(_forward_parameters(old)) == "past_key_values"
    assert _cache_argument(_forward_parameters(model)) == "cache"
    config = SwiReasoningConfig(do_sample=False, **SWITCHING["latent_cap_override"])
    ours = swi_generate(old, TOK, PROMPTS, config, 20)
    assert old.calls[0] is False and all(old.calls[1:])  # prefill creates the cache, then it is passed back
    plain = swi_generate(model, TOK, PROMPTS, config, 20)
    assert torch.equal(ours.sequences, plain.sequences) and ours.mode_trace == plain.mode_trace


def test_sampling_is_seeded():
    model = tiny(seed=5)
    config = SwiReasoningConfig(seed=7, temperature=1.0, top_k=None, top_p=1.0)
    a = swi_generate(model, TOK, PROMPTS, config, 24)
    b = swi_generate(model, TOK, PROMPTS, config, 24)
    c = swi_generate(model, TOK, PROMPTS, SwiReasoningConfig(seed=8, temperature=1.0, top_k=None, top_p=1.0), 24)
    assert torch.equal(a.sequences, b.sequences) and a.mode_trace == b.mode_trace
    assert not torch.equal(a.sequences, c.sequences)
    # seed None: the global RNG
    torch.manual_seed(3)
    d = swi_generate(model, TOK, PROMPTS, SwiReasoningConfig(), 24)
    torch.manual_seed(3)
    e = swi_generate(model, TOK, PROMPTS, SwiReasoningConfig(), 24)
    assert torch.equal(d.sequences, e.sequences)


def test_prompt_forms_agree():
    model = tiny()
    config = SwiReasoningConfig(do_sample=False, window_size=2)
    ids = [TOK.encode(p) for p in PROMPTS[:2]]
    from_text = swi_generate(model, TOK, PROMPTS[:2], config, 12)
    from_lists = swi_generate(model, TOK, ids, config, 12)
    # right-padded tensor + mask: re-aligned to the left
    width = max(len(i) for i in ids)
    right = torch.tensor([i + [0] * (width - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    from_right = swi_generate(model, TOK, right, config, 12, attention_mask=mask)
    for out in (from_lists, from_right):
        assert torch.equal(out.sequences, from_text.sequences) and out.mode_trace == from_text.mode_trace
    single = swi_generate(model, TOK, PROMPTS[1], config, 12)
    one_dim = swi_generate(model, TOK, torch.tensor(ids[1]), config, 12)
    assert single.texts == one_dim.texts == [from_text.texts[1]]


def test_bad_inputs_raise_clear_errors():
    model = tiny()
    with pytest.raises(ValueError, match="max_new_tokens"):
        swi_generate(model, TOK, PROMPTS, SwiReasoningConfig(), 0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        swi_generate(model, TOK, PROMPTS, SwiReasoningConfig(), 3.5)
    with pytest.raises(ValueError, match="at least one token"):
        swi_generate(model, TOK, ["", "x"], SwiReasoningConfig(), 4)
    with pytest.raises(ValueError, match="at least one token"):
        swi_generate(
            model,
            TOK,
            torch.ones(2, 3, dtype=torch.long),
            SwiReasoningConfig(),
            4,
            attention_mask=torch.tensor([[1, 1, 1], [0, 0, 0]]),
        )
    with pytest.raises(ValueError, match="SwiReasoningConfig"):
        swi_generate(model, TOK, PROMPTS, {"alpha0": 0.5}, 4)
    with pytest.raises(ValueError, match="not a mix"):
        swi_generate(model, TOK, ["a", [1, 2]], SwiReasoningConfig(), 4)
    with pytest.raises(ValueError, match="end_think_token"):
        swi_generate(model, TOK, PROMPTS, SwiReasoningConfig(end_think_token="</reason>"), 4)
    for bad in ("1", [1, "x"], -2, [True]):
        with pytest.raises(ValueError, match="eos_token_id"):
            swi_generate(model, TOK, PROMPTS, SwiReasoningConfig(), 4, eos_token_id=bad)


def test_output_is_consistent_and_json_ready():
    model = tiny(seed=1)
    model.train()
    out = swi_generate(model, TOK, PROMPTS, SwiReasoningConfig(seed=0, window_size=2, alpha0=0.5), 20)
    assert model.training  # restored
    for row in range(len(PROMPTS)):
        n = out.num_generated_tokens[row]
        assert len(out.mode_trace[row]) == len(out.entropy_trace[row]) == n
        assert out.latent_share[row] == pytest.approx(out.mode_trace[row].count(LATENT) / n)
        completion = out.sequences[row, out.prompt_length : out.prompt_length + n]
        assert out.texts[row] == TOK.decode(completion, skip_special_tokens=True)
        assert out.switch_count[row] == sum(e.kind == "to_explicit" for e in out.trigger_events[row])
    records = json.loads(json.dumps(out.to_records()))
    assert records[0]["mode_trace"] == out.mode_trace[0]
    summary = out.summary()
    assert summary["num_sequences"] == 4.0
    assert summary["mean_latent_share"] == pytest.approx(sum(out.latent_share) / 4)
    assert 0.0 <= summary["latent_step_share"] <= 1.0 and 0.0 <= summary["math_override_step_share"] <= 1.0
