# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # SPEAR: self-imitation replay for tool-using agents, on TRL's tool calling
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/spear.ipynb)
#
# SPEAR (Qin et al., [arXiv 2509.22601](https://arxiv.org/abs/2509.22601)) trains agents with GRPO plus two
# curricula: **self-imitation replay** — completions with a positive advantage are kept with their behaviour
# log-probs and replayed once enough of them beat the recent median reward, weighted by a cosine warm-up γ(t) — and a
# **tool-call reward** μ(t) · min(1, 0.1 · calls) that fades out as the outcome reward takes over. Clip-Cov
# ([arXiv 2505.22617](https://arxiv.org/abs/2505.22617)) keeps the replayed rows from collapsing the entropy.
#
# This notebook trains `Qwen/Qwen3-0.6B` with LoRA on GSM8K with a **calculator tool**, through TRL's own multi-turn
# tool calling (`tools=[calculator]`), twice from the same start: the Dr.BoT baseline (SPEAR's strong GRPO
# recipe) and Dr.BoT + SPEAR (`SPEARConfig.dr_bot_recipe()`). It plots the replay buffer, the triggers, γ(t), μ(t) and
# the tool use, and compares the pass rate with the tool before and after. About 40 minutes on a T4.

# %% [markdown]
# ## Setup
#
# On Colab pick a GPU runtime (*Runtime → Change runtime type → T4 GPU*). The cell below installs `trl_explore`
# from its repository (skipped when it is already installed). No Hugging Face login is needed: the model and data
# are public, and pushing the result to the Hub is off (`PUSH_TO_HUB = False`).
#
# *Smoke mode*: with the environment variable `TRL_EXPLORE_SMOKE=1` the notebook uses the offline toy tool task of
# `trl_explore.toy` (a tiny model warm-started to call the calculator), a few steps on CPU — this is how the
# test-suite runs it.

# %%
# ruff: noqa: E402 - each cell imports what it uses, as notebooks do
import importlib.util
import os

SMOKE = os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"
if not SMOKE and importlib.util.find_spec("trl_explore") is None:
    # %pip install -q "trl_explore[quantization] @ git+https://github.com/trl-explore/trl_explore"
    pass

# %%
import contextlib
import json
import warnings

import torch

from trl_explore.colab import notebook_setup

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
SETUP = notebook_setup(SMOKE)  # bf16 from compute capability 8.0 (Ampere); a T4 (7.5): fp16 autocast
HAS_GPU, USE_BF16, USE_FP16, DTYPE = SETUP.has_gpu, SETUP.use_bf16, SETUP.use_fp16, SETUP.dtype
PUSH_TO_HUB = False  # True (after `huggingface_hub.notebook_login()`) uploads the SPEAR adapter
print(SETUP.summary())

# %% [markdown]
# ## Settings
#
# The real run trains 40 steps per method: 8 prompts × 8 completions per step, up to 768 completion tokens including
# up to 3 tool rounds, LoRA r = 16 on every linear layer. The replay buffer is sized for this small batch (a replay
# subset of at most 32 rows, triggered when more than 32 stored completions beat the median reward), and γ(t) warms
# up over 20 steps. The evaluation samples one conversation per held-out problem with the tool, at temperature 1.

# %%
if SMOKE:
    MODEL_NAME = None  # the toy kit's tiny Qwen2, warm-started on the toy tool task
    TRAIN_STEPS, PROMPTS_PER_STEP, NUM_GENERATIONS, MAX_COMPLETION, TOOL_ROUNDS = 4, 2, 4, 128, 1
    MICRO_BATCH = 8  # completions per forward / backward
    LEARNING_RATE, NUM_EVAL, EVAL_TOKENS = 5e-4, 8, 48
    SIL_BUFFER, SIL_FACTOR, SIL_WARMUP, TOOLCALL_STEPS = 2, 0.5, 2, 10
    WARM_START_STEPS, WARM_START_LR = 60, 1e-2  # ~10 s: the tiny model starts calling the calculator
else:
    MODEL_NAME = "Qwen/Qwen3-0.6B"
    TRAIN_STEPS, PROMPTS_PER_STEP, NUM_GENERATIONS, MAX_COMPLETION, TOOL_ROUNDS = 40, 8, 8, 768, 3
    MICRO_BATCH = 16  # completions per forward / backward (4 micro-batches per optimizer step)
    LEARNING_RATE, NUM_EVAL, EVAL_TOKENS = 1e-5, 64, 384
    SIL_BUFFER, SIL_FACTOR, SIL_WARMUP, TOOLCALL_STEPS = 32, 1.0, 20, 30
GRAD_ACCUMULATION = PROMPTS_PER_STEP * NUM_GENERATIONS // MICRO_BATCH
SEED = 0
OUTPUT_DIR = "spear"
CHAT_KWARGS = {} if SMOKE else {"enable_thinking": False}  # Qwen3: answer without a thinking block

# %% [markdown]
# ## Data, model and the calculator
#
# GSM8K's gold answers end in `#### 42`; `trl_explore.evaluation.gold_to_solution` turns them into `\boxed{42}` for
# `math_accuracy_reward`. The calculator (`trl_explore.toy.tools.calculator`) evaluates arithmetic exactly with a
# small safe parser under size limits: the model's text never reaches `eval`. TRL builds the tool's JSON schema from
# its signature and docstring.

# %%
import inspect

from transformers import AutoModelForCausalLM, AutoTokenizer
from trl.chat_template_utils import add_response_schema

from trl_explore.toy.tools import calculator

print(inspect.signature(calculator), "->", calculator("(37+5)*12"), "|", calculator("7/14"))
try:
    calculator("__import__('os')")
except ValueError as error:
    print("refused:", error)

if SMOKE:
    from trl_explore.toy import arithmetic_reward
    from trl_explore.toy.tool_task import make_tool_dataset, warm_start_tool_task

    START = str(
        warm_start_tool_task(
            max_steps=WARM_START_STEPS, learning_rate=WARM_START_LR, per_device_train_batch_size=16, num_eval_prompts=0
        )
    )
    train_dataset = make_tool_dataset(TRAIN_STEPS * PROMPTS_PER_STEP * NUM_GENERATIONS, seed=1)
    eval_dataset = make_tool_dataset(NUM_EVAL, seed=2)
    outcome_reward = arithmetic_reward
else:
    from datasets import load_dataset

    from trl_explore.evaluation import gold_to_solution
    from trl_explore.rewards import math_accuracy_reward

    START = MODEL_NAME
    SYSTEM = "Solve the problem. Use the calculator tool for arithmetic. Put the final answer in \\boxed{}."
    gsm8k = load_dataset("openai/gsm8k", "main")

    def to_prompt_solution(row):
        prompt = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": row["question"]}]
        return {"prompt": prompt, "solution": gold_to_solution(row["answer"])}

    train_dataset = gsm8k["train"].map(to_prompt_solution, remove_columns=gsm8k["train"].column_names)
    eval_dataset = gsm8k["test"].select(range(NUM_EVAL))
    eval_dataset = eval_dataset.map(to_prompt_solution, remove_columns=eval_dataset.column_names)
    outcome_reward = math_accuracy_reward

tokenizer = AutoTokenizer.from_pretrained(START)
if getattr(tokenizer, "response_template", None) is None:
    tokenizer = add_response_schema(tokenizer)  # lets `parse_response` read Qwen3's tool calls in the evaluation
print(len(train_dataset), "training prompts;", len(eval_dataset), "held-out")
print(train_dataset[0]["prompt"][-1]["content"][:200])


def load_model():
    model = AutoModelForCausalLM.from_pretrained(START, dtype=DTYPE)
    return model.to("cuda") if HAS_GPU else model


# %% [markdown]
# ## Before training: pass rate with the tool
#
# `evaluate_tool_pass_rate` samples a conversation per problem the way TRL's tool loop does (generate a turn, run the
# requested tools, append the results, generate again) and grades the final answer.

# %%
from trl_explore.toy.tool_task import evaluate_tool_pass_rate


def pass_rate(model):
    with torch.autocast("cuda", dtype=torch.float16) if USE_FP16 else contextlib.nullcontext():
        return evaluate_tool_pass_rate(
            model, tokenizer, eval_dataset, reward_fn=outcome_reward, tools=[calculator], max_new_tokens=EVAL_TOKENS,
            max_turns=TOOL_ROUNDS, seed=SEED, chat_template_kwargs=CHAT_KWARGS,
        )  # fmt: skip


before = pass_rate(load_model())
print("before training:", before)

# %% [markdown]
# ## Train: Dr.BoT, then Dr.BoT + SPEAR, from the same start
#
# `SPEARConfig.dr_bot_recipe()` is Dr.BoT — no KL, clip 0.2 / 0.28, no std normalisation, Dr.GRPO aggregation,
# overlong / incomplete / repetitive completions masked, the 75% of groups with the largest reward spread kept — with
# SPEAR's replay and replay Clip-Cov on top; `sil=False, clip_cov_replay_ratio=0.0` gives the baseline. Both runs get
# the outcome reward plus the tool-call curriculum `toolcall_reward`.

# %%
from peft import LoraConfig

from trl_explore.rewards import toolcall_reward
from trl_explore.trainers import SPEARConfig, SPEARGRPOTrainer

METHODS = {"Dr.BoT": {"sil": False, "clip_cov_replay_ratio": 0.0}, "SPEAR": {}}
results = {}
trainers = {}
for name, switches in METHODS.items():
    args = SPEARConfig.dr_bot_recipe(
        output_dir=f"{OUTPUT_DIR}/{name}", max_steps=TRAIN_STEPS, learning_rate=LEARNING_RATE,
        per_device_train_batch_size=MICRO_BATCH, gradient_accumulation_steps=GRAD_ACCUMULATION,
        num_generations=NUM_GENERATIONS,
        max_completion_length=MAX_COMPLETION, max_tool_calling_iterations=TOOL_ROUNDS, temperature=1.0,
        sil_buffer_size=SIL_BUFFER, sil_trigger_factor=SIL_FACTOR, sil_warmup_steps=SIL_WARMUP,
        chat_template_kwargs=CHAT_KWARGS, logging_steps=1, save_strategy="no", report_to="none", seed=SEED,
        use_cpu=not HAS_GPU, bf16=USE_BF16, fp16=USE_FP16, **switches,
    )  # fmt: skip
    trainer = SPEARGRPOTrainer(
        model=load_model(),
        reward_funcs=[outcome_reward, toolcall_reward(per_call=0.1, cap=1.0, schedule="cosine", steps=TOOLCALL_STEPS)],
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        tools=[calculator],
        peft_config=None if SMOKE else LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"),
    )
    trainer.train()
    trainers[name] = trainer
    logs = [e for e in trainer.state.log_history if "reward" in e]
    results[name] = {"logs": logs, "after": pass_rate(trainer.model)}
    print(name, "after training:", results[name]["after"])

# %% [markdown]
# ## What the replay did
#
# Top left: the reward. Top right: the buffer (entries over all processes) and the steps where replay triggered, i.e.
# where a recalibrated power-of-two subset of stored completions was mixed into the batch, weighted by γ(t). Bottom
# left: the two curricula, γ(t) rising and μ(t) fading. Bottom right: TRL's own tool-call frequency.

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(2, 2, figsize=(11, 7))
for name, result in results.items():
    logs = result["logs"]
    steps = [e["step"] for e in logs]
    axes[0, 0].plot(steps, [e["reward"] for e in logs], label=name)
    axes[1, 1].plot(steps, [e.get("tools/call_frequency", float("nan")) for e in logs], label=name)
spear_logs = results["SPEAR"]["logs"]
steps = [e["step"] for e in spear_logs]
axes[0, 1].plot(steps, [e["spear/buffer_size"] for e in spear_logs], label="buffer size")
triggers = [e["step"] for e in spear_logs if e["spear/replay_triggered"] == 1.0]
axes[0, 1].scatter(triggers, [0] * len(triggers), color="red", marker="^", label="replay", zorder=3)
axes[1, 0].plot(steps, [e["spear/sil_weight"] for e in spear_logs], label="γ(t) replay weight")
axes[1, 0].plot(steps, [e["spear/toolcall_weight"] for e in spear_logs], label="μ(t) tool-call reward weight")
titles = ["reward", "SPEAR replay buffer", "curricula", "tool calls per completion"]
for ax, title in zip(axes.flat, titles):
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.legend()
fig.tight_layout()
fig.savefig("spear_training.png", dpi=120)
plt.show()

# %% [markdown]
# ## Summary

# %%
print(f"{'method':10} {'pass before':>12} {'pass after':>11} {'tool calls':>11} {'replays':>8}")
for name, result in results.items():
    replays = sum(e.get("spear/replay_triggered", 0.0) for e in result["logs"])
    after = result["after"]
    print(f"{name:10} {before['pass_rate']:12.3f} {after['pass_rate']:11.3f} {after['tool_call_rate']:11.3f} "
          f"{replays:8.0f}")  # fmt: skip
summary = {
    "steps": TRAIN_STEPS,
    "before": before,
    "methods": {
        name: {
            "after": result["after"],
            "replays": sum(e.get("spear/replay_triggered", 0.0) for e in result["logs"]),
            "metrics": sorted({k for e in result["logs"] for k in e if k.startswith(("spear/", "clip_cov/", "dr_bot/"))}),
            "logged_steps": len(result["logs"]),
        }
        for name, result in results.items()
    },
}
with open("spear_summary.json", "w") as f:
    json.dump(summary, f, indent=2)
trainers["SPEAR"].save_model(f"{OUTPUT_DIR}/SPEAR")
if PUSH_TO_HUB:
    trainers["SPEAR"].push_to_hub()
