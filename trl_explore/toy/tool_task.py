"""Offline tool-calling task for the toy kit: arithmetic the tiny model cannot do in its head, with a calculator tool.

* `make_tool_tokenizer`: the toy tokenizer with a short tool chat template that TRL's tool loop accepts (it renders
  ``user → assistant with tool_calls → tool`` turns, is prefix-preserving, and carries a ``response_template`` so that
  ``tokenizer.parse_response`` — transformers >= 5.13 — reads tool calls back). A call is written
  ``<call>calculator expression=37*48+19</call>``; turns are not separated by newlines, so a completion that ends
  with ``<|im_end|>`` is followed directly by the tool turn TRL appends.
* `make_tool_dataset`: two-operation arithmetic on numbers up to 30 (`make_arithmetic_dataset`), conversational, with a
  target conversation (call the calculator with the expression, read the result, answer ``\\boxed{result}``).
* `warm_start_tool_task`: a short cached SFT on those conversations (tool results masked from the loss), so RL starts
  from a model that calls the tool.
* `sample_tool_conversations` / `evaluate_tool_pass_rate`: a small multi-turn sampler (the same turn layout as TRL's
  tool loop) and the pass rate with the tool.
* `spear_toy_settings`: the keyword arguments of a `SPEARConfig` sized for this task on a CPU (a small replay buffer
  that triggers).

The calculator is `trl_explore.toy.tools.calculator` (the safe parser; model text never reaches `eval`); answers are
graded by `trl_explore.toy.arithmetic_reward`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from packaging.version import Version
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .tasks import arithmetic_reward, make_arithmetic_dataset
from .tokenizer import IM_END_TOKEN, make_tokenizer
from .tools import calculator

__all__ = [
    "MIN_TRANSFORMERS",
    "TOOL_CHAT_TEMPLATE",
    "TOOL_RESPONSE_TEMPLATE",
    "evaluate_tool_pass_rate",
    "make_tool_dataset",
    "make_tool_tokenizer",
    "sample_tool_conversations",
    "spear_toy_settings",
    "tokenize_tool_conversations",
    "tool_conversation",
    "warm_start_tool_task",
]

logger = logging.getLogger(__name__)

# `response_template` parsing (`tokenizer.parse_response(..., prefix=...)`) landed in transformers 5.13
MIN_TRANSFORMERS = "5.13.0"
METADATA_FILE = "warm_start.json"

# ChatML without newlines between turns; tool calls as `<call>NAME key=value</call>` (one argument per line)
TOOL_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}{%- endif -%}"
    "{%- if message.tool_calls -%}{%- for call in message.tool_calls -%}"
    "{%- set fn = call['function'] if call['function'] is defined else call -%}"
    "{{- '<call>' + fn['name'] -}}"
    "{%- if fn['arguments'] is mapping -%}"
    "{%- for key, value in fn['arguments'].items() -%}"
    "{{- (' ' if loop.first else '\n') + key + '=' + (value | string) -}}"
    "{%- endfor -%}"
    "{%- elif fn['arguments'] -%}{{- ' ' + (fn['arguments'] | string) -}}"
    "{%- endif -%}"
    "{{- '</call>' -}}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>' -}}"
    "{%- endgeneration -%}"
    "{%- else -%}"
    "{{- message['content'] + '<|im_end|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)

# transformers' response template reading the assistant turns of TOOL_CHAT_TEMPLATE back into a message
TOOL_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open_pattern": r"<call>(?P<name>[A-Za-z_][A-Za-z0-9_]*)[ \n]?",
            "close": "</call>",
            "repeats": True,
            "content": "kv-lines",
            "content_args": {"kv_sep": "="},
            "transform": {"type": "function", "function": {"name": "{name}", "arguments": "{content}"}},
        },
        "content": {"close_pattern": r"<\|im_end\|>", "content": "text"},
    },
}


def _check_transformers() -> None:
    import transformers

    if Version(transformers.__version__) < Version(MIN_TRANSFORMERS):
        raise ImportError(
            f"The toy tool task needs transformers >= {MIN_TRANSFORMERS} (response templates for tool-call parsing), "
            f"found {transformers.__version__}."
        )


def make_tool_tokenizer(model_max_length: int = 512) -> PreTrainedTokenizerBase:
    """The toy tokenizer (`make_tokenizer`, same vocabulary) with `TOOL_CHAT_TEMPLATE` and `TOOL_RESPONSE_TEMPLATE`.

    Both are saved by ``save_pretrained`` and restored by ``AutoTokenizer.from_pretrained``.
    """
    _check_transformers()
    tokenizer = make_tokenizer(model_max_length=model_max_length)
    tokenizer.chat_template = TOOL_CHAT_TEMPLATE
    tokenizer.response_template = copy.deepcopy(TOOL_RESPONSE_TEMPLATE)
    return tokenizer


def tool_conversation(expression: str, result: str, name: str = "calculator") -> list[dict[str, Any]]:
    """The target completion: call ``name`` with the expression, read ``result``, answer ``\\boxed{result}``."""
    call = {"type": "function", "function": {"name": name, "arguments": {"expression": expression}}}
    return [
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "name": name, "content": result},
        {"role": "assistant", "content": f"\\boxed{{{result}}}"},
    ]


def make_tool_dataset(
    num_samples: int, seed: int = 0, num_steps: int = 2, max_operand: int = 30, operations: str = "+-*"
) -> Dataset:
    """Arithmetic problems whose answers a tiny model cannot compute but can look up with the calculator.

    Rows of `make_arithmetic_dataset` (conversational, prompt ``Compute 37*48+19``) whose `completion` is the target
    tool conversation (`tool_conversation`). Columns: `prompt`, `solution` (``\\boxed{1795}``), `completion`,
    `expression`, `answer`.

    Args:
        num_samples (`int`): rows.
        seed (`int`, *optional*, defaults to `0`): generator seed.
        num_steps (`int`, *optional*, defaults to `2`): operations per problem.
        max_operand (`int`, *optional*, defaults to `30`): largest operand (results reach 27 000: no mental
            arithmetic for a tiny model, while copying two-digit numbers stays learnable).
        operations (`str`, *optional*, defaults to `"+-*"`): operators drawn from.
    """
    data = make_arithmetic_dataset(
        num_samples, seed=seed, num_steps=num_steps, max_operand=max_operand, operations=operations,
        conversational=True,
    )  # fmt: skip
    completions = [tool_conversation(e, str(a)) for e, a in zip(data["expression"], data["answer"])]
    return data.remove_columns("completion").add_column("completion", completions)


def tokenize_tool_conversations(dataset: Dataset, tokenizer: PreTrainedTokenizerBase) -> Dataset:
    """``input_ids`` / ``labels`` for SFT on prompt + tool conversation, with the loss on the assistant turns only.

    The prompt and every tool turn (the tool message and the next assistant header: what TRL's tool loop appends and
    masks with ``tool_mask``) get label -100.
    """
    input_ids, labels = [], []
    for prompt, completion in zip(dataset["prompt"], dataset["completion"]):
        start = len(tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=False))
        ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=False)
        label = [-100] * start + ids[start:]
        for k, message in enumerate(completion):
            if message["role"] != "tool":
                continue
            before = prompt + completion[:k]
            masked_from = len(tokenizer.apply_chat_template(before, tokenize=True, return_dict=False))
            masked_to = len(
                tokenizer.apply_chat_template(
                    before + [message], tokenize=True, add_generation_prompt=True, return_dict=False
                )
            )
            label[masked_from:masked_to] = [-100] * (masked_to - masked_from)
        input_ids.append(ids)
        labels.append(label)
    return Dataset.from_dict({"input_ids": input_ids, "labels": labels})


@torch.no_grad()
def sample_tool_conversations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[dict[str, Any]]],
    tools: list[Callable[..., Any]] | None = None,
    *,
    max_new_tokens: int = 48,
    max_turns: int = 2,
    temperature: float = 1.0,
    seed: int = 0,
    chat_template_kwargs: dict[str, Any] | None = None,
) -> list[list[dict[str, Any]]]:
    """Sample a tool-using conversation per prompt, turn by turn, as TRL's tool loop lays it out.

    Each turn generates until ``<|im_end|>`` or eos (at most `max_new_tokens`), parses the turn with
    ``tokenizer.parse_response`` (the tokenizer needs a ``response_template``: the toy tool tokenizer has one, TRL's
    ``add_response_schema`` adds it for known templates such as Qwen3's), runs the requested tools (a `ValueError` or
    `TypeError`, e.g. a bad expression or wrong arguments, becomes ``{"error": ...}`` as in TRL; anything else
    propagates) and appends the tool turns; rows stop when a turn has no tool call or after
    `max_turns` tool rounds. Prompts are rendered with the tools' schemas (``apply_chat_template(tools=...)``) and
    `chat_template_kwargs` (e.g. ``{"enable_thinking": False}``).

    Returns:
        One completion (a list of messages) per prompt, as TRL passes it to reward functions.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    tool_list = list(tools or [calculator])
    tool_map = {t.__name__: t for t in tool_list}
    template_kwargs = {"tools": tool_list, **(chat_template_kwargs or {})}
    end_id = tokenizer.convert_tokens_to_ids(IM_END_TOKEN)
    stop_ids = sorted({i for i in (end_id, tokenizer.eos_token_id) if isinstance(i, int) and i >= 0})
    pad_id = tokenizer.pad_token_id
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = [
        list(
            tokenizer.apply_chat_template(
                p, tokenize=True, add_generation_prompt=True, return_dict=False, **template_kwargs
            )
        )
        for p in prompts
    ]
    completions: list[list[dict[str, Any]]] = [[] for _ in prompts]
    active = list(range(len(prompts)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for turn in range(max_turns + 1):
            if not active:
                break
            width = max(len(ids[i]) for i in active)
            input_ids = torch.tensor([[pad_id] * (width - len(ids[i])) + ids[i] for i in active], device=device)
            attention = (torch.arange(width, device=device)[None] >= torch.tensor(
                [width - len(ids[i]) for i in active], device=device)[:, None]).long()  # fmt: skip
            out = model.generate(
                input_ids=input_ids, attention_mask=attention, do_sample=True, temperature=temperature, top_k=0,
                top_p=1.0, max_new_tokens=max_new_tokens, eos_token_id=stop_ids, pad_token_id=pad_id,
            )  # fmt: skip
            still = []
            for row, i in enumerate(active):
                generated = out[row, width:].tolist()
                cut = next((j for j, tok in enumerate(generated) if tok in stop_ids), None)
                generated = generated if cut is None else generated[: cut + 1]
                message = _parse_turn(tokenizer, generated, ids[i], tool_list)
                completions[i].append(message)
                ids[i] = ids[i] + generated
                calls = message.get("tool_calls") or []
                if not calls or cut is None or turn == max_turns:
                    continue
                tool_messages = []
                for call in calls:
                    fn = call.get("function", {})
                    name = fn.get("name", "")
                    try:
                        if name not in tool_map:
                            raise ValueError(f"Tool {name} not found.")
                        result = tool_map[name](**(fn.get("arguments") or {}))
                    except (ValueError, TypeError) as error:
                        result = {"error": str(error)}
                    tool_messages.append({"role": "tool", "name": name, "content": str(result)})
                completions[i].extend(tool_messages)
                history = prompts[i] + completions[i][: -len(tool_messages)]
                ids[i] = ids[i] + _tool_suffix_ids(tokenizer, history, tool_messages, template_kwargs)
                still.append(i)
            active = still
    if was_training:
        model.train()
    return completions


def _parse_turn(
    tokenizer: PreTrainedTokenizerBase, generated: list[int], prefix: list[int], tools: list[Callable[..., Any]]
) -> dict[str, Any]:
    try:
        message = tokenizer.parse_response(generated, prefix=prefix, tools=tools)
    except (ValueError, TypeError):
        message = None
    if not isinstance(message, dict):
        return {"role": "assistant", "content": tokenizer.decode(generated, skip_special_tokens=True)}
    message["content"] = message.get("content") or ""
    return message


def _tool_suffix_ids(
    tokenizer: PreTrainedTokenizerBase, history: list[dict], tool_messages: list[dict], template_kwargs: dict
) -> list[int]:
    """The tool turns and the next assistant header, as TRL's `_get_tool_suffix_ids` computes them: the rendering of
    history + tool messages past the rendering of the history (cut after its last eos, where templates add a newline)."""
    before = list(tokenizer.apply_chat_template(history, tokenize=True, return_dict=False, **template_kwargs))
    after = list(
        tokenizer.apply_chat_template(
            history + tool_messages, tokenize=True, add_generation_prompt=True, return_dict=False, **template_kwargs
        )
    )
    eos = [k for k, tok in enumerate(before) if tok == tokenizer.eos_token_id]
    if eos:
        before = before[: eos[-1] + 1]
    return after[len(before) :]


def evaluate_tool_pass_rate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    num_samples_per_prompt: int = 1,
    reward_fn: Callable[..., list[float | None]] = arithmetic_reward,
    **sample_kwargs: Any,
) -> dict[str, float]:
    """Pass rate (reward = 1) and tool-call rate of `sample_tool_conversations` on `dataset`'s prompts.

    Args:
        model: the policy.
        tokenizer: its tokenizer (a chat template for tools and a response template).
        dataset: rows with `prompt` and `solution` (and whatever else `reward_fn` reads).
        num_samples_per_prompt: conversations sampled per prompt.
        reward_fn: a TRL-contract reward (default `arithmetic_reward`; e.g. `math_accuracy_reward` for real data).
        **sample_kwargs: arguments of `sample_tool_conversations` (`tools`, `max_new_tokens`, `seed`, ...).

    Returns:
        ``{"pass_rate": ..., "tool_call_rate": ...}`` (fractions of the sampled conversations; the tool-call rate
        counts conversations with at least one call).
    """
    if num_samples_per_prompt < 1:
        raise ValueError(f"num_samples_per_prompt must be >= 1, got {num_samples_per_prompt}.")
    rows = [dataset[i] for i in range(len(dataset)) for _ in range(num_samples_per_prompt)]
    if not rows:
        return {"pass_rate": 0.0, "tool_call_rate": 0.0}
    completions = sample_tool_conversations(model, tokenizer, [r["prompt"] for r in rows], **sample_kwargs)
    columns = {k: [r[k] for r in rows] for k in rows[0] if k not in ("prompt", "completion")}
    rewards = reward_fn(prompts=[r["prompt"] for r in rows], completions=completions, **columns)
    calls = [any(m.get("tool_calls") for m in c if m.get("role") == "assistant") for c in completions]
    return {
        "pass_rate": sum(r == 1.0 for r in rewards) / len(rows),
        "tool_call_rate": sum(calls) / len(rows),
    }


def _default_cache_root() -> Path:
    from .warm_start import default_cache_dir

    return default_cache_dir()


def warm_start_tool_task(
    *,
    seed: int = 0,
    max_steps: int = 800,
    learning_rate: float = 3e-3,
    per_device_train_batch_size: int = 32,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_steps: int = 2,
    max_operand: int = 30,
    cache_dir: str | os.PathLike | None = None,
    force: bool = False,
    num_eval_prompts: int = 32,
) -> Path:
    """SFT a tiny model on tool conversations of `make_tool_dataset` (cached on disk) and return its directory.

    The model (`make_tiny_model`, seeded) is trained with TRL's `SFTTrainer` on ``max_steps ·
    per_device_train_batch_size`` rows of `make_tool_dataset` (``num_steps``, ``max_operand``) tokenized by
    `tokenize_tool_conversations` (tool results masked), AdamW, cosine schedule, CPU. Its pass rate and tool-call rate
    with the calculator (`evaluate_tool_pass_rate`, held-out prompts, temperature 1) are written to ``warm_start.json``
    with the settings. The folder is built in a temporary directory and renamed into place; the same settings reuse
    the cache. On the defaults (800 steps, about 2 CPU-minutes) the model calls the tool in every conversation and
    passes about 60% of held-out problems (it sometimes miscopies a number): room for RL.

    Returns:
        `pathlib.Path` loadable with `AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained` (the
        tokenizer keeps the tool chat template and response template).
    """
    from .._version import __version__

    _check_transformers()
    for name, value in (("max_steps", max_steps), ("per_device_train_batch_size", per_device_train_batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    settings = {
        "task": "tool_arithmetic", "seed": seed, "max_steps": max_steps, "learning_rate": learning_rate,
        "per_device_train_batch_size": per_device_train_batch_size, "hidden_size": hidden_size,
        "num_hidden_layers": num_hidden_layers, "num_attention_heads": num_attention_heads, "num_steps": num_steps,
        "max_operand": max_operand, "trl_explore_version": __version__,
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else _default_cache_root()
    final = root / f"tool_arithmetic-{digest}"
    if (final / METADATA_FILE).is_file() and not force:
        logger.info("warm_start_tool_task: reusing %s", final)
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=root))
    try:
        metadata = _train_tool_model(settings, tmp, num_eval_prompts)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _train_tool_model(settings: dict[str, Any], out_dir: Path, num_eval_prompts: int) -> dict[str, Any]:
    from trl import SFTConfig, SFTTrainer

    from .models import make_tiny_model

    tokenizer = make_tool_tokenizer()
    model = make_tiny_model(
        tokenizer,
        hidden_size=settings["hidden_size"],
        num_hidden_layers=settings["num_hidden_layers"],
        num_attention_heads=settings["num_attention_heads"],
        seed=settings["seed"],
    )
    rows = settings["max_steps"] * settings["per_device_train_batch_size"]
    task = {"num_steps": settings["num_steps"], "max_operand": settings["max_operand"]}
    train = tokenize_tool_conversations(make_tool_dataset(rows, seed=settings["seed"], **task), tokenizer)
    args = SFTConfig(
        output_dir=str(out_dir / "trainer"), use_cpu=True, max_steps=settings["max_steps"],
        per_device_train_batch_size=settings["per_device_train_batch_size"],
        learning_rate=settings["learning_rate"], lr_scheduler_type="cosine",
        warmup_steps=max(1, settings["max_steps"] // 20), weight_decay=0.0, max_length=tokenizer.model_max_length,
        completion_only_loss=True, dataset_kwargs={"skip_prepare_dataset": True},
        logging_steps=max(1, settings["max_steps"] // 10), save_strategy="no", report_to="none",
        seed=settings["seed"], data_seed=settings["seed"], bf16=False, fp16=False, dataloader_num_workers=0,
    )  # fmt: skip
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start
    shutil.rmtree(out_dir / "trainer", ignore_errors=True)
    model = trainer.model
    scores = {"pass_rate": None, "tool_call_rate": None}
    if num_eval_prompts > 0:
        held_out = make_tool_dataset(num_eval_prompts, seed=10_000 + settings["seed"], **task)
        scores = evaluate_tool_pass_rate(model, tokenizer, held_out, seed=settings["seed"])
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"settings": settings, **scores, "train_seconds": round(train_seconds, 2)}


def spear_toy_settings(output_dir: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of a `SPEARConfig` for the toy tool task on a CPU (``SPEARConfig(**spear_toy_settings(out))``):
    8 completions per prompt, 128 tokens (a call, the tool turn and the answer take about 90), one tool round, a replay
    buffer of 16 rows that triggers within a few steps (`sil_trigger_factor=1.0`), a 10-step warm-up of γ(t).
    Keyword arguments override any field (e.g. ``max_steps``)."""
    kwargs: dict[str, Any] = dict(
        output_dir=output_dir, use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1,
        per_device_train_batch_size=16, num_generations=8, max_completion_length=128, max_tool_calling_iterations=1,
        temperature=1.0, learning_rate=5e-4, max_steps=20, beta=0.0, loss_type="dr_grpo", scale_rewards="none",
        epsilon=0.2, epsilon_high=0.28, sil_buffer_size=16, sil_trigger_factor=1.0, sil_warmup_steps=10,
        sil_tolerate_steps=5, seed=0,
    )  # fmt: skip
    kwargs.update(overrides)
    return kwargs
