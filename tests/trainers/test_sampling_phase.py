"""The ``sampling`` phase: a component's logits processors reach training rollouts, in plain generation and in every
turn of TRL's multi-turn tool-calling loop, and nowhere else."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from grpo_helpers import config_kwargs, const_reward, peaky_model, tiny_dataset, tiny_tokenizer
from transformers import LogitsProcessor

from trl_explore.trainers import (
    ExploreComponent,
    ExploreGRPOConfig,
    ExploreGRPOTrainer,
    SamplingRequest,
    register_component,
    unregister_component,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class Forbid(LogitsProcessor):
    """Never sample ``token_id``; counts its calls."""

    def __init__(self, token_id: int) -> None:
        self.token_id = token_id
        self.calls = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.calls += 1
        scores = scores.clone()
        scores[:, self.token_id] = -float("inf")
        return scores


class Script(LogitsProcessor):
    """Force ``ids`` as the first tokens of every row (the prompts are left-padded to one length)."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.start: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.start is None:
            self.start = input_ids.shape[1]
        position = input_ids.shape[1] - self.start
        if position >= len(self.ids):
            return scores
        forced = torch.full_like(scores, -float("inf"))
        forced[:, self.ids[position]] = 0.0
        return forced


class SamplingProbe(ExploreComponent):
    """Test component: per call of the sampling phase, the processors of `plan` (a list, one entry per call, cycled)."""

    name = "test_sampling_probe"
    plan: list[list[LogitsProcessor]] = []
    calls = 0

    @classmethod
    def enabled(cls, args):
        return True

    def sampling(self, ctx):
        assert ctx.mode == "train" and ctx.backend == "transformers"
        processors = type(self).plan[type(self).calls % len(type(self).plan)]
        type(self).calls += 1
        return SamplingRequest(logits_processors=list(processors))


@pytest.fixture
def probe():
    SamplingProbe.plan, SamplingProbe.calls = [[]], 0
    register_component(SamplingProbe)
    yield SamplingProbe
    unregister_component(SamplingProbe.name)


def _trainer(tmp_path, tokenizer=None, model=None, **overrides):
    tok = tokenizer or tiny_tokenizer()
    args = ExploreGRPOConfig(**config_kwargs(tmp_path, temperature=1.0, max_completion_length=16, **overrides))
    return ExploreGRPOTrainer(
        model=model or peaky_model(tok, scale=30.0),
        reward_funcs=const_reward,
        args=args,
        train_dataset=tiny_dataset(),
        processing_class=tok,
    )


def _sampled(trainer, batch, seed=0):
    torch.manual_seed(seed)
    out = trainer._generate_and_score_completions(batch)
    ids, mask = out["completion_ids"], out["completion_mask"].bool()
    if out.get("tool_mask") is not None:
        mask &= out["tool_mask"].bool()
    return out, Counter(ids[mask].tolist())


def test_processor_applied_to_training_rollouts_only(tmp_path, probe):
    """The token the untrained model samples most is never sampled once a processor forbids it (training rollouts);
    evaluation rollouts do not go through the phase."""
    trainer = _trainer(tmp_path)
    batch = [{"prompt": f"{i}+{i}="} for i in range(8)]
    trainer.model.train()
    _, free = _sampled(trainer, batch)
    token, count = free.most_common(1)[0]
    assert count >= 3, "the test needs a token the model does sample"
    forbid = Forbid(token)
    probe.plan = [[forbid]]
    _, constrained = _sampled(trainer, batch)
    assert forbid.calls >= 1 and constrained[token] == 0 and sum(constrained.values()) > 0
    trainer.model.eval()
    calls = forbid.calls
    _, evaluated = _sampled(trainer, batch)
    assert forbid.calls == calls, "evaluation rollouts must not run the sampling phase"
    assert "generate" not in trainer.accelerator.unwrap_model(trainer.model_wrapped).__dict__, "binding must be undone"


def test_processor_applied_in_every_tool_calling_turn(tmp_path, probe):
    """TRL's tool loop: turn 1 is scripted to call the tool, turn 2 samples freely. The token most sampled in turn 2
    without the processor is never sampled with it, in either turn; the processor ran in both turns."""
    from trl.chat_template_utils import qwen3_chat_template

    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: The first integer.
            b: The second integer.
        """
        return a + b

    tok = tiny_tokenizer()
    tok.chat_template = qwen3_chat_template
    tok.model_max_length = 4096
    model = peaky_model(tok, scale=30.0)
    model.config.max_position_embeddings = 4096
    trainer = ExploreGRPOTrainer(
        model=model,
        reward_funcs=const_reward,
        args=ExploreGRPOConfig(
            **config_kwargs(
                tmp_path, temperature=1.0, max_completion_length=192, max_tool_calling_iterations=1, report_to="none"
            )
        ),
        train_dataset=tiny_dataset(),
        processing_class=tok,
        tools=[add],
    )
    script = tok('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call><|im_end|>')["input_ids"]
    batch = [{"prompt": [{"role": "user", "content": "1+2?"}]} for _ in range(4)]
    trainer.model.train()

    probe.plan = [[Script(script)], []]  # turn 1 scripted, turn 2 free
    out, _ = _sampled(trainer, batch)
    assert trainer._metrics["train"]["tools/call_frequency"][-1] == 1.0, "every row must have called the tool"
    free = _turn_two(out)
    candidates = Counter({t: n for t, n in free.items() if t not in set(script)})
    token, count = candidates.most_common(1)[0]
    assert count >= 3, "the test needs a token the model samples in turn 2"

    forbid = Forbid(token)
    probe.plan = [[forbid, Script(script)], [forbid]]
    trainer._metrics["train"].clear()
    out, everything = _sampled(trainer, batch)
    assert trainer._metrics["train"]["tools/call_frequency"][-1] == 1.0
    assert everything[token] == 0 and sum(_turn_two(out).values()) >= 4 * 8
    assert probe.calls == 4 and forbid.calls > len(script), "the processor must run in both turns"


def _turn_two(out) -> Counter:
    """Tokens sampled after the tool response (model tokens after the last tool-masked one)."""
    tokens: Counter = Counter()
    for ids, mask, tool in zip(out["completion_ids"], out["completion_mask"], out["tool_mask"]):
        last_tool = int(torch.nonzero(tool == 0).max())
        tokens.update(ids[last_tool + 1 :][mask[last_tool + 1 :].bool()].tolist())
    return tokens


def test_vllm_extra_args_bound_for_the_rollout_only():
    """vLLM: colocate merges into ``SamplingParams.extra_args``, server into the request's ``vllm_xargs``; both are
    restored afterwards. Transformers processors cannot reach vLLM, and continuous batching takes none: clear errors."""
    from types import SimpleNamespace

    from trl_explore.trainers import _trl_compat as compat

    generation = SimpleNamespace(mode="colocate", generation_kwargs={"seed": 1})
    trainer = SimpleNamespace(use_vllm=True, vllm_generation=generation, use_transformers_continuous_batching=False)
    with compat.bound_sampling(trainer, [], {"tau": 0.5}):
        assert generation.generation_kwargs == {"seed": 1, "extra_args": {"tau": 0.5}}
    assert generation.generation_kwargs == {"seed": 1}
    generation.mode, generation.generation_kwargs = "server", {"vllm_xargs": {"a": 1}}
    with compat.bound_sampling(trainer, [], {"b": 2}):
        assert generation.generation_kwargs == {"vllm_xargs": {"a": 1, "b": 2}}
    assert generation.generation_kwargs == {"vllm_xargs": {"a": 1}}
    with pytest.raises(ValueError, match="vllm_extra_args"), compat.bound_sampling(trainer, [Forbid(0)], {}):
        pass
    paged = SimpleNamespace(use_vllm=False, use_transformers_continuous_batching=True)
    with pytest.raises(ValueError, match="continuous batching"), compat.bound_sampling(paged, [Forbid(0)], {}):
        pass
