# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   language_info:
#     name: python
# ---

# %% [markdown]
# # Quickstart: Lp-Reg GRPO with LoRA on GSM8K
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/lp_reg_quickstart.ipynb)
#
# [Lp-Reg](https://arxiv.org/abs/2510.03222) keeps GRPO exploring: on negative-advantage samples it
# shields the rare low-probability "reasoning spark" tokens with a KL to a min-p-filtered proxy of the
# policy, so they are not driven to zero. `trl_explore.trainers.LpRegGRPOTrainer` is TRL's `GRPOTrainer`
# with that component switched on and `LpRegConfig` carries the released recipe's defaults
# (κ = 0.02, ρ = 1%, β = 1, clip ratio in [0, 10], no reference KL, token-mean loss).
#
# This notebook trains `Qwen/Qwen2.5-0.5B-Instruct` with LoRA on GSM8K, grades completions with the safe
# math reward `trl_explore.rewards.math_accuracy_reward` (last `\boxed{}` answer vs. the gold answer),
# watches exploration with `ExplorationDiagnosticsCallback` and plots reward, entropy and the `lp_reg/*`
# metrics. About 40 minutes on a T4.

# %% [markdown]
# ## Setup
#
# On Colab pick a GPU runtime (*Runtime → Change runtime type → T4 GPU*). The cell below installs `trl_explore`
# from its repository (skipped when it is already installed). No Hugging Face login is needed: the model and data
# are public, and pushing the result to the Hub is off (`PUSH_TO_HUB = False`).
#
# *Smoke mode*: with the environment variable `TRL_EXPLORE_SMOKE=1` the notebook uses the offline toy model and
# synthetic data of `trl_explore.toy`, a few steps on CPU — this is how the test-suite runs it.

# %%
import importlib.util
import os

SMOKE = os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"
if not SMOKE and importlib.util.find_spec("trl_explore") is None:
    import subprocess
    import sys

    REQUIREMENT = "trl_explore[quantization] @ git+https://github.com/trl-explore/trl_explore"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", REQUIREMENT], check=True)

# %%
import json
import warnings

import torch

from trl_explore.colab import notebook_setup

warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
SETUP = notebook_setup(SMOKE)  # bf16 from compute capability 8.0 (Ampere); a T4 (7.5): fp16 autocast
HAS_GPU, USE_BF16, USE_FP16, DTYPE = SETUP.has_gpu, SETUP.use_bf16, SETUP.use_fp16, SETUP.dtype
PUSH_TO_HUB = False  # True (after `huggingface_hub.notebook_login()`) uploads the trained adapter
print(SETUP.summary())

# %% [markdown]
# ## Settings
#
# The real run: 2 prompts × 8 completions per micro-batch, 2 accumulation steps (32 completions per
# optimizer step), completions of up to 320 tokens, LoRA r = 32 on every linear layer. LoRA wants a larger
# learning rate than the recipe's full fine-tuning `1e-6`. `LOAD_IN_4BIT = True` switches to QLoRA
# (bitsandbytes) for a larger model; TRL keeps QLoRA adapters in bf16, which a T4 only emulates, so plain
# LoRA is the better choice for this 0.5B model.

# %%
if SMOKE:
    MODEL_NAME = None  # the toy model, warm-started below
    MAX_STEPS, PROMPTS_PER_MICRO_BATCH, NUM_GENERATIONS, GRAD_ACCUM = 4, 2, 4, 1
    MAX_COMPLETION_LENGTH = 24
    LEARNING_RATE = 1e-3
    LORA_R = 8
    LP_REG_RHO = 0.05  # a toy batch has ~100 tokens: ρ = 1% would select nothing (needs int(n·ρ) > 1)
    NUM_TRAIN_PROMPTS, NUM_EVAL_PROMPTS = 64, 4
else:
    MODEL_NAME = "Qwen/Qwen2.5-0.5B-Instruct"
    MAX_STEPS, PROMPTS_PER_MICRO_BATCH, NUM_GENERATIONS, GRAD_ACCUM = 120, 2, 8, 2
    MAX_COMPLETION_LENGTH = 320
    LEARNING_RATE = 2e-5
    LORA_R = 32
    LP_REG_RHO = 0.01  # the released recipe
    NUM_TRAIN_PROMPTS, NUM_EVAL_PROMPTS = None, 64  # None: all 7,473 GSM8K training problems
LOAD_IN_4BIT = False
OUTPUT_DIR = "lp_reg_quickstart"

# %% [markdown]
# ## Data and reward
#
# GSM8K's gold answers end in `#### 42`; `trl_explore.evaluation.gold_to_solution` brings them to the
# `\boxed{42}` form the reward grades. The reward is checked on a correct and an unanswered completion.

# %%
from datasets import load_dataset

from trl_explore.evaluation import gold_to_solution
from trl_explore.rewards import math_accuracy_reward

SYSTEM_PROMPT = "Solve the math problem step by step. Put the final answer in \\boxed{}."

if SMOKE:
    from trl_explore.toy import make_arithmetic_dataset

    # plain-text prompts "Compute (3+4)*2" with gold solutions already in \boxed{} form
    train_dataset = make_arithmetic_dataset(NUM_TRAIN_PROMPTS, seed=1).select_columns(["prompt", "solution"])
    eval_dataset = make_arithmetic_dataset(NUM_EVAL_PROMPTS, seed=2).select_columns(["prompt", "solution"])
else:
    gsm8k = load_dataset("openai/gsm8k", "main")

    def to_prompt_solution(row):
        prompt = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": row["question"]}]
        return {"prompt": prompt, "solution": gold_to_solution(row["answer"])}

    train_dataset = gsm8k["train"].map(to_prompt_solution, remove_columns=gsm8k["train"].column_names)
    if NUM_TRAIN_PROMPTS is not None:
        train_dataset = train_dataset.select(range(NUM_TRAIN_PROMPTS))
    eval_dataset = gsm8k["test"].select(range(NUM_EVAL_PROMPTS))
    eval_dataset = eval_dataset.map(to_prompt_solution, remove_columns=eval_dataset.column_names)

example = train_dataset[0]
print(example)


def as_completion(text, prompt=example["prompt"]):
    return text if isinstance(prompt, str) else [{"role": "assistant", "content": text}]


check = math_accuracy_reward(
    completions=[as_completion("... so the answer is " + example["solution"]), as_completion("I am not sure.")],
    solution=[example["solution"]] * 2,
)
print("reward of (correct, unanswered):", check)
assert check == [1.0, 0.0]

# %% [markdown]
# ## Model and LoRA
#
# In smoke mode the model is the toy kit's tiny Qwen2, warm-started by a short SFT on the arithmetic task
# (cached under `toy_cache/`).

# %%
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer

model_kwargs = {}
if SMOKE:
    from trl_explore.toy import warm_start

    MODEL_PATH = str(warm_start(task="arithmetic", max_steps=30, cache_dir="toy_cache", num_eval_prompts=0))
else:
    MODEL_PATH = MODEL_NAME
    model_kwargs["dtype"] = DTYPE
    if LOAD_IN_4BIT:
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16 if USE_BF16 else torch.float16,
            bnb_4bit_use_double_quant=True,
        )
        model_kwargs["device_map"] = {"": 0}

tokenizer = AutoTokenizer.from_pretrained(MODEL_PATH)
model = AutoModelForCausalLM.from_pretrained(MODEL_PATH, **model_kwargs)
peft_config = LoraConfig(
    r=LORA_R, lora_alpha=2 * LORA_R, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
)
print(f"{MODEL_PATH}: {model.num_parameters() / 1e6:.1f}M parameters")

# %% [markdown]
# ## Train
#
# `LpRegConfig` is a `GRPOConfig`: every TRL option works. `ExplorationDiagnosticsCallback` logs the share
# of sampled tokens with probability below 0.1 / 0.01 and the probability of "spark" words
# (*wait*, *however*, *perhaps*, ...) from the training forward, at no extra cost.

# %%
from trl_explore.callbacks.exploration import ExplorationDiagnosticsCallback
from trl_explore.trainers import LpRegConfig, LpRegGRPOTrainer

config = LpRegConfig(
    output_dir=OUTPUT_DIR,
    max_steps=MAX_STEPS,
    per_device_train_batch_size=PROMPTS_PER_MICRO_BATCH * NUM_GENERATIONS,
    gradient_accumulation_steps=GRAD_ACCUM,
    num_generations=NUM_GENERATIONS,
    max_completion_length=MAX_COMPLETION_LENGTH,
    learning_rate=LEARNING_RATE,
    lp_reg_rho=LP_REG_RHO,
    logging_steps=1,
    save_strategy="no",
    report_to="none",
    bf16=USE_BF16,
    fp16=USE_FP16,
    use_cpu=not HAS_GPU,
    seed=0,
    disable_tqdm=SMOKE,
)
diagnostics = ExplorationDiagnosticsCallback(tokenizer=tokenizer)
trainer = LpRegGRPOTrainer(
    model=model,
    reward_funcs=math_accuracy_reward,
    args=config,
    train_dataset=train_dataset,
    processing_class=tokenizer,
    peft_config=peft_config,
    callbacks=[diagnostics],
)
diagnostics.attach(trainer)  # first in the callback list, so every logger sees its metrics
trainer.train()

# %% [markdown]
# ## Plot the run
#
# `reward`, `entropy` and `clip_ratio/*` are TRL's metrics; `lp_reg/frac_selected` is the share of tokens
# the regulariser acted on, `lp_reg/kept_mass` the probability mass the min-p proxy keeps, and
# `lp_reg/k3_mean` the mean KL estimate on the selected tokens. Missing points mean the metric was
# undefined at that step (for example no negative-advantage tokens selected).

# %%
import math


def series(log_history, key):
    """(steps, values) of a logged metric, skipping entries where it is missing or not finite."""
    steps, values = [], []
    for entry in log_history:
        value = entry.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value) and "step" in entry:
            steps.append(entry["step"])
            values.append(float(value))
    return steps, values


# %%
import matplotlib.pyplot as plt

PANELS = [
    ("reward", "mean reward"),
    ("entropy", "policy entropy (nats)"),
    ("exploration/frac_prob_lt_0.1", "sampled tokens with p < 0.1"),
    ("lp_reg/frac_selected", "Lp-Reg: share of tokens regularised"),
    ("lp_reg/kept_mass", "Lp-Reg: proxy kept mass"),
    ("lp_reg/k3_mean", "Lp-Reg: mean KL on selected tokens"),
]
history = trainer.state.log_history
fig, axes = plt.subplots(2, 3, figsize=(14, 7))
for ax, (key, title) in zip(axes.flat, PANELS):
    steps, values = series(history, key)
    ax.plot(steps, values, marker="o", markersize=3)
    ax.set_title(title)
    ax.set_xlabel("step")
    if not values:
        ax.text(0.5, 0.5, "not defined in this run", ha="center", va="center", transform=ax.transAxes)
fig.tight_layout()
fig.savefig("lp_reg_quickstart_metrics.png", dpi=100)
plt.show()

# %% [markdown]
# ## Try the trained model

# %%
sample = eval_dataset[0]
prompt = sample["prompt"]
if isinstance(prompt, str):
    text = prompt
else:
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
policy = trainer.model.eval()
inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(policy.device)
with torch.no_grad():
    output = policy.generate(**inputs, max_new_tokens=MAX_COMPLETION_LENGTH, do_sample=False)
answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
print(answer)
print("reward:", math_accuracy_reward(completions=[as_completion(answer, prompt)], solution=[sample["solution"]]))

# %% [markdown]
# ## Save (and optionally push)

# %%
trainer.save_model(OUTPUT_DIR)  # the LoRA adapter
if PUSH_TO_HUB:
    trainer.push_to_hub()

rewards = series(history, "reward")[1]
SUMMARY = {
    "steps": trainer.state.global_step,
    "first_reward": rewards[0] if rewards else None,
    "last_reward": rewards[-1] if rewards else None,
    "lp_reg_metrics": sorted({k for entry in history for k in entry if k.startswith("lp_reg/")}),
    "exploration_metrics": sorted({k for entry in history for k in entry if k.startswith("exploration/")}),
}
with open("lp_reg_quickstart_summary.json", "w") as f:
    json.dump(SUMMARY, f, indent=2)
print(json.dumps(SUMMARY, indent=2))
