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
# # HAPO: entropy-aware sampling, advantages and clipping for GRPO
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/hapo.ipynb)
#
# GRPO treats every token alike. HAPO ([arXiv 2509.16591](https://arxiv.org/abs/2509.16591)) scores each token by its
# entropy (h̃ in [-1, 1]) and lets four parts of training depend on it: rollouts are sampled hotter at high-entropy
# positions (adaptive temperature), advantages are normalised over the tokens of a group (TLGA), high-entropy tokens
# get larger updates where the policy moved and low-entropy tokens smaller ones where it did not (redistribution), and
# the clip range widens upward for high-entropy and downward for low-entropy tokens (adaptive clipping).
#
# This notebook trains `Qwen/Qwen2.5-0.5B-Instruct` with LoRA on GSM8K twice from the same start — plain GRPO and
# `HAPOGRPOTrainer` with the same budget and several optimizer steps per generation batch (HAPO's redistribution and
# clipping need an importance ratio that moves) — and plots the reward, the policy entropy, the rollout temperatures
# and HAPO's own statistics. About 25 minutes on a T4.

# %% [markdown]
# ## Setup
#
# On Colab pick a GPU runtime (*Runtime → Change runtime type → T4 GPU*). The cell below installs `trl_explore`
# from its repository (skipped when it is already installed). No Hugging Face login is needed: the model and data
# are public, and pushing the result to the Hub is off (`PUSH_TO_HUB = False`).
#
# *Smoke mode*: with the environment variable `TRL_EXPLORE_SMOKE=1` the notebook uses the offline toy model and the
# toy countdown task of `trl_explore.toy`, a few steps on CPU — this is how the test-suite runs it.

# %%
# ruff: noqa: E402 - each cell imports what it uses, as notebooks do
import importlib.util
import os

SMOKE = os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"
if not SMOKE and importlib.util.find_spec("trl_explore") is None:
    # %pip install -q "trl_explore[quantization] @ git+https://github.com/trl-explore/trl_explore"
    pass

# %%
import json
import warnings

import torch

from trl_explore.colab import notebook_setup

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
SETUP = notebook_setup(SMOKE)  # bf16 from compute capability 8.0 (Ampere); a T4 (7.5): fp16 autocast
HAS_GPU, USE_BF16, USE_FP16 = SETUP.has_gpu, SETUP.use_bf16, SETUP.use_fp16
PUSH_TO_HUB = False  # True (after `huggingface_hub.notebook_login()`) uploads the trained adapters
print(SETUP.summary())

# %% [markdown]
# ## Settings
#
# Both runs: the same model, prompts, seed, learning rate and number of optimizer steps; 8 completions per prompt and
# 4 optimizer steps per generation batch (`steps_per_generation = 4 · gradient_accumulation_steps`), so that the
# later steps of each batch are off-policy and clipped against the generating policy. HAPO runs with the released
# defaults (τ = 0.05, pivot 0.8, α = β = 1, dual clip 10) and the paper's sign convention.

# %%
SEED = 0
OUTPUT_DIR = "hapo_runs"
if SMOKE:
    MODEL_NAME = None  # the toy kit's tiny Qwen2, built in code
    NUM_PROMPTS, MAX_STEPS, NUM_GENERATIONS, BATCH, MAX_COMPLETION = 32, 4, 4, 8, 16
    LEARNING_RATE, GRAD_ACCUM = 1e-2, 1
else:
    MODEL_NAME = "Qwen/Qwen2.5-0.5B-Instruct"
    NUM_PROMPTS, MAX_STEPS, NUM_GENERATIONS, BATCH, MAX_COMPLETION = 512, 40, 8, 16, 256
    LEARNING_RATE, GRAD_ACCUM = 1e-5, 2

# %% [markdown]
# ## Data, reward and model loading

# %%
from datasets import load_dataset

from trl_explore.evaluation import gold_to_solution
from trl_explore.rewards import math_accuracy_reward
from trl_explore.toy import countdown_reward, make_countdown_dataset, make_tiny_model, make_tokenizer

if SMOKE:
    train = make_countdown_dataset(NUM_PROMPTS, seed=SEED)
    reward = countdown_reward
else:
    gsm8k = load_dataset("openai/gsm8k", "main", split="train").shuffle(seed=SEED).select(range(NUM_PROMPTS))
    instruction = "Solve the problem step by step and put the final answer in \\boxed{}."
    train = gsm8k.map(
        lambda row: {
            "prompt": [{"role": "system", "content": instruction}, {"role": "user", "content": row["question"]}],
            "solution": gold_to_solution(row["answer"]),
        },
        remove_columns=gsm8k.column_names,
    )
    reward = math_accuracy_reward
print(train)


def load_model_and_tokenizer():
    """A fresh copy of the starting model (both runs start from the same weights)."""
    if SMOKE:
        tokenizer = make_tokenizer()
        return make_tiny_model(tokenizer, seed=SEED), tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODEL_NAME)
    dtype = torch.bfloat16 if USE_BF16 else torch.float32  # fp16 weights can overflow in Qwen2.5: fp32 + fp16 autocast
    return AutoModelForCausalLM.from_pretrained(MODEL_NAME, dtype=dtype), tokenizer


# %% [markdown]
# ## Train GRPO and HAPO
#
# `HAPOConfig` is `GRPOConfig` plus the HAPO fields, with the four parts on. Everything else — LoRA, batch sizes,
# lengths — is the same config for both runs; only the trainer class changes.

# %%
from peft import LoraConfig
from trl import GRPOConfig, GRPOTrainer

from trl_explore.trainers import HAPOConfig, HAPOGRPOTrainer

common = dict(
    learning_rate=LEARNING_RATE,
    max_steps=MAX_STEPS,
    per_device_train_batch_size=BATCH,
    gradient_accumulation_steps=GRAD_ACCUM,
    steps_per_generation=4 * GRAD_ACCUM,
    num_generations=NUM_GENERATIONS,
    max_completion_length=MAX_COMPLETION,
    temperature=1.0,
    loss_type="dapo",
    beta=0.0,
    logging_steps=1,
    save_strategy="no",
    report_to="none",
    seed=SEED,
    bf16=USE_BF16,
    fp16=USE_FP16,
    use_cpu=not HAS_GPU,
    gradient_checkpointing=HAS_GPU,
)
peft_config = None if SMOKE else LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
histories = {}
for name, trainer_cls, config_cls in (("GRPO", GRPOTrainer, GRPOConfig), ("HAPO", HAPOGRPOTrainer, HAPOConfig)):
    model, tokenizer = load_model_and_tokenizer()
    args = config_cls(output_dir=f"{OUTPUT_DIR}/{name}", **common)
    trainer = trainer_cls(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=train,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.train()
    histories[name] = [entry for entry in trainer.state.log_history if "loss" in entry]
    if PUSH_TO_HUB:
        trainer.push_to_hub()
    del trainer, model
    if HAS_GPU:
        torch.cuda.empty_cache()

# %% [markdown]
# ## What changed
#
# Left: reward and policy entropy of both runs. Right: the effective rollout temperatures HAPO sampled at (mean and
# range over rows and decode steps; the first generation samples at plain T_base, later ones with the previous step's
# entropy statistics) and the share of tokens whose advantage the redistribution amplified or dampened.

# %%
import matplotlib.pyplot as plt


def series(name, key):
    return [(e["step"], e[key]) for e in histories[name] if key in e]


fig, axes = plt.subplots(1, 4, figsize=(18, 3.6))
for name, color in (("GRPO", "tab:gray"), ("HAPO", "tab:blue")):
    for ax, key, label in ((axes[0], "reward", "reward"), (axes[1], "entropy", "policy entropy (nats)")):
        points = series(name, key)
        ax.plot([s for s, _ in points], [v for _, v in points], marker="o", color=color, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.legend()
temps = series("HAPO", "hapo/temperature_mean")
low, high = series("HAPO", "hapo/temperature_min"), series("HAPO", "hapo/temperature_max")
axes[2].plot([s for s, _ in temps], [v for _, v in temps], marker="o", color="tab:blue", label="mean")
axes[2].fill_between([s for s, _ in low], [v for _, v in low], [v for _, v in high], alpha=0.2, label="min-max")
axes[2].set_xlabel("generation step")
axes[2].set_ylabel("rollout temperature")
axes[2].legend()
for key, label in (("hapo/dar_frac_amplified", "amplified"), ("hapo/dar_frac_dampened", "dampened")):
    points = series("HAPO", key)
    axes[3].plot([s for s, _ in points], [v for _, v in points], marker="o", label=label)
axes[3].set_xlabel("step")
axes[3].set_ylabel("share of tokens (redistribution)")
axes[3].legend()
fig.tight_layout()
fig.savefig("hapo_runs.png", dpi=120)
plt.show()

# %% [markdown]
# ## Summary
#
# Final values of each run, written to `hapo_summary.json`. At this size and number of steps a difference in reward is
# noise; what the run shows is the mechanism: HAPO's temperatures spread around T_base and its clip bounds and
# advantages move with the entropy of each token.

# %%
def last_value(name, key):
    """The latest logged value of `key` (generation metrics such as the reward are logged once per generation)."""
    values = [e[key] for e in histories[name] if key in e]
    return values[-1] if values else None


summary = {name: {key: last_value(name, key) for key in ("reward", "entropy", "loss")} for name in histories}
for key in ("hapo/temperature_mean", "hapo/eps_low_mean", "hapo/eps_high_mean", "hapo/h_mean"):
    summary["HAPO"][key] = last_value("HAPO", key)
summary["steps"] = MAX_STEPS
with open("hapo_summary.json", "w") as f:
    json.dump(summary, f, indent=2)
print(json.dumps(summary, indent=2))
