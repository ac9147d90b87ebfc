"""The toy tool task: the calculator's sandbox, the short tool chat template as TRL's tool loop needs it, the response
template round trip, the SFT labels, the multi-turn sampler (scripted) and the warm start (slow)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import AutoTokenizer, LogitsProcessor

from trl_explore.toy import ExpressionError, make_tiny_model
from trl_explore.toy.tool_task import (
    TOOL_RESPONSE_TEMPLATE,
    evaluate_tool_pass_rate,
    make_tool_dataset,
    make_tool_tokenizer,
    sample_tool_conversations,
    spear_toy_settings,
    tokenize_tool_conversations,
    tool_conversation,
    warm_start_tool_task,
)
from trl_explore.toy.tools import MAX_CHARACTERS, calculator

torch.set_num_threads(1)


def test_calculator_exact_and_sandboxed():
    assert calculator("(37+5)*12") == "504" and calculator("7/14") == "1/2" and calculator("-3*4") == "-12"
    for bad in ("__import__('os').system('ls')", "2**10", "1/0", "9" * 13, "(" * 20 + "1" + ")" * 20,
                "1+" * MAX_CHARACTERS, "", "3 4", 12):  # fmt: skip
        with pytest.raises(ExpressionError):
            calculator(bad)
    with pytest.raises(ExpressionError, match="result"):  # 6 literals of 12 digits multiplied: 72 digits > 64
        calculator("*".join(["999999999999"] * 6))


def test_template_is_accepted_by_trl_tool_loop():
    """TRL refuses tools with a template that cannot render a tool exchange or is not prefix-preserving, and parses
    tool calls with the tokenizer's response template; the template survives save / load."""
    from trl.chat_template_utils import is_chat_template_prefix_preserving, parse_response, supports_tool_calling

    tok = make_tool_tokenizer()
    assert supports_tool_calling(tok) and is_chat_template_prefix_preserving(tok)
    prompt = [{"role": "user", "content": "Compute 3*4"}]
    prefix = tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=False)
    assert len(prefix) < 40, "prompts stay short with the byte-level tokenizer"
    ids = tok("<call>calculator expression=3*4</call><|im_end|>", add_special_tokens=False)["input_ids"]
    parsed = parse_response(tok, ids, prefix=prefix, tools=[calculator])
    assert parsed["tool_calls"] == [{"type": "function", "function": {"name": "calculator",
                                                                      "arguments": {"expression": "3*4"}}}]  # fmt: skip
    ids = tok("\\boxed{12}<|im_end|>", add_special_tokens=False)["input_ids"]
    assert parse_response(tok, ids, prefix=prefix) == {"role": "assistant", "content": "\\boxed{12}"}
    # rendering a parsed call gives the same text back (what the model learns is what TRL replays)
    conversation = prompt + tool_conversation("3*4", "12")
    text = tok.apply_chat_template(conversation, tokenize=False)
    assert text == ("<|im_start|>user\nCompute 3*4<|im_end|><|im_start|>assistant\n<call>calculator expression=3*4"
                    "</call><|im_end|><|im_start|>tool\n12<|im_end|><|im_start|>assistant\n\\boxed{12}<|im_end|>")  # fmt: skip


def test_template_saved_and_loaded(tmp_path):
    tok = make_tool_tokenizer()
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.chat_template == tok.chat_template and loaded.response_template == TOOL_RESPONSE_TEMPLATE


def test_dataset_and_sft_labels():
    """Labels cover the two assistant turns only: the prompt and the tool turn (result + next header) are -100."""
    data = make_tool_dataset(4, seed=3)
    assert set(data.column_names) >= {"prompt", "solution", "completion", "expression", "answer"}
    row = data[0]
    assert row["completion"][0]["tool_calls"][0]["function"]["arguments"]["expression"] == row["expression"]
    assert row["completion"][1]["content"] == calculator(row["expression"]) == str(row["answer"])
    tok = make_tool_tokenizer()
    tokenized = tokenize_tool_conversations(data, tok)
    ids, labels = tokenized[0]["input_ids"], tokenized[0]["labels"]
    trained = tok.decode([i for i, lab in zip(ids, labels) if lab != -100])
    answer = row["answer"]
    assert trained == f"<call>calculator expression={row['expression']}</call><|im_end|>\\boxed{{{answer}}}<|im_end|>"


class _Script(LogitsProcessor):
    """Force ``ids`` as the first generated tokens of a `generate` call."""

    def __init__(self, ids: list[int]) -> None:
        self.ids, self.start = ids, None

    def __call__(self, input_ids, scores):
        if self.start is None:
            self.start = input_ids.shape[1]
        position = input_ids.shape[1] - self.start
        if position >= len(self.ids):
            return scores
        forced = torch.full_like(scores, -math.inf)
        forced[:, self.ids[position]] = 0.0
        return forced


def test_sampler_runs_the_tool_between_turns(monkeypatch):
    """A model scripted to call the calculator with the prompt's expression and then to answer `\\boxed{504}`: the
    sampler runs the calculator between the turns and the pass rate counts the answer."""
    tok = make_tool_tokenizer()
    model = make_tiny_model(tok, hidden_size=32, num_hidden_layers=1)
    turns = [tok(t, add_special_tokens=False)["input_ids"] for t in
             ("<call>calculator expression=(37+5)*12</call><|im_end|>", "\\boxed{504}<|im_end|>")]  # fmt: skip
    original = model.generate

    def scripted(*args, **kwargs):  # turn 1: the tool call; turn 2: the answer
        script = _Script(turns[min(scripted.turn, 1)])
        scripted.turn += 1
        return original(*args, logits_processor=[script], **kwargs)

    scripted.turn = 0
    monkeypatch.setattr(model, "generate", scripted)
    prompts = [[{"role": "user", "content": "Compute (37+5)*12"}]]
    conversation = sample_tool_conversations(model, tok, prompts, max_new_tokens=48)[0]
    assert [m["role"] for m in conversation] == ["assistant", "tool", "assistant"]
    assert conversation[1] == {"role": "tool", "name": "calculator", "content": "504"}
    assert conversation[2]["content"] == "\\boxed{504}"
    scripted.turn = 0
    data = make_tool_dataset(1).map(lambda _: {"prompt": prompts[0], "solution": "\\boxed{504}"})
    assert evaluate_tool_pass_rate(model, tok, data, max_new_tokens=48) == {"pass_rate": 1.0, "tool_call_rate": 1.0}


def test_spear_toy_settings():
    from trl_explore.trainers import SPEARConfig

    args = SPEARConfig(**spear_toy_settings("out", max_steps=3))
    assert args.sil and args.sil_buffer_size == 16 and args.max_steps == 3 and args.max_tool_calling_iterations == 1


@pytest.mark.slow
def test_warm_start_tool_task_calls_the_tool(tmp_path):
    """A short warm start (150 steps) already calls the calculator in most conversations; the cache is reused."""
    path = warm_start_tool_task(max_steps=150, cache_dir=tmp_path, num_eval_prompts=16)
    meta = json.loads((path / "warm_start.json").read_text())
    assert meta["tool_call_rate"] >= 0.5 and 0.0 <= meta["pass_rate"] <= 1.0
    assert warm_start_tool_task(max_steps=150, cache_dir=tmp_path, num_eval_prompts=16) == path
    loaded = AutoTokenizer.from_pretrained(path)
    assert loaded.response_template == TOOL_RESPONSE_TEMPLATE
