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
# # Relative negative gradients and the capability boundary (pass@k)
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/relative_negative_gradients.ipynb)
#
# RL with verifiable rewards tends to over-exploit: pass@1 rises while pass@k at large k — what the model
# can solve at all — shrinks. Training on the negative samples only ([NSR](https://arxiv.org/abs/2506.01347)),
# down-weighting the positives (W-REINFORCE, λ = 0.1) or keeping only relative-negative advantages
# ([GRPO-N](https://arxiv.org/abs/2510.04028)) is reported to keep large-k pass@k near the base model.
#
# This notebook trains the same start with GRPO, GRPO-N, NSR, W-REINFORCE and PSR and tracks the pass@1 … pass@k
# curve on held-out prompts with `trl_explore.callbacks.pass_at_k.PassAtKCallback`, sampled with the papers'
# evaluation protocol (temperature 0.6, top-p 0.95). Every method runs in the regime of the NSR / W-REINFORCE recipe
# (`RelativeNegativeConfig.recipe_defaults`): PPO clip 0.2 on both sides, no KL, token-mean loss, constant learning
# rate and **4 optimizer steps per generation batch** — the NSR paper's authors report that its gains disappear
# without clipping and several updates per generation. A method is its advantage mode (plus, for NSR and PSR, the loss
# normalised over the kept samples' tokens, as in the released code). About 30 minutes per method on a T4.

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

# %%
if SMOKE:
    MODEL_NAME = None  # the toy model, warm-started on countdown below
    MAX_STEPS, PROMPTS_PER_MICRO_BATCH, NUM_GENERATIONS, GRAD_ACCUM = 4, 2, 4, 1
    MAX_COMPLETION_LENGTH = 32
    LEARNING_RATE = 1e-3
    LORA_R = 8
    NUM_TRAIN_PROMPTS, NUM_EVAL_PROMPTS, K, EVAL_STEPS = 64, 6, 4, 4
    EVAL_BATCH = 8
else:
    MODEL_NAME = "Qwen/Qwen2.5-0.5B-Instruct"
    MAX_STEPS, PROMPTS_PER_MICRO_BATCH, NUM_GENERATIONS, GRAD_ACCUM = 60, 2, 8, 2
    MAX_COMPLETION_LENGTH = 320
    LEARNING_RATE = 2e-5
    LORA_R = 32
    NUM_TRAIN_PROMPTS, NUM_EVAL_PROMPTS, K, EVAL_STEPS = None, 64, 16, 20
    EVAL_BATCH = 8
OUTPUT_DIR = "relative_negative_gradients"
SEED = 0

# %% [markdown]
# ## The methods and their shared recipe
#
# `make_config` builds every run from `RelativeNegativeConfig.recipe_defaults` (the released NSR / W-REINFORCE
# optimisation settings: `epsilon = epsilon_high = 0.2`, `beta = 0`, `loss_type="dapo"`, constant learning rate,
# `steps_per_generation = 4 · gradient_accumulation_steps`, temperature 1) plus this notebook's budget (model size,
# steps, completion length, learning rate for LoRA). What differs between runs is only the method's fields below.
# NSR uses `negative_normalization="selected_tokens"` (the released code averages over the incorrect samples' tokens;
# with `"all_tokens"` the NSR spec reports the gains disappearing). A config that raises stops the notebook: no
# method is skipped silently.

# %%
from trl_explore.trainers import ExploreGRPOTrainer, RelativeNegativeConfig

METHODS = {
    "grpo": {"advantage_mode": "grpo"},  # the baseline, same recipe and `rng/*` metrics
    "grpo_n": {"advantage_mode": "grpo_n", "negative_normalization": "all_tokens"},
    "nsr": {"advantage_mode": "nsr", "negative_normalization": "selected_tokens"},
    "w_reinforce": {"advantage_mode": "w_reinforce", "positive_weight": 0.1},
    "psr": {"advantage_mode": "psr", "negative_normalization": "selected_tokens"},
}


def make_config(name, **method):
    """The shared recipe and budget of every run; `method` is what defines the method."""
    budget = dict(
        output_dir=f"{OUTPUT_DIR}/{name}",
        max_steps=MAX_STEPS,
        per_device_train_batch_size=PROMPTS_PER_MICRO_BATCH * NUM_GENERATIONS,
        num_generations=NUM_GENERATIONS,
        max_completion_length=MAX_COMPLETION_LENGTH,
        learning_rate=LEARNING_RATE,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=USE_BF16,
        fp16=USE_FP16,
        use_cpu=not HAS_GPU,
        seed=SEED,
        disable_tqdm=SMOKE,
    )
    return RelativeNegativeConfig(**{**RelativeNegativeConfig.recipe_defaults(GRAD_ACCUM), **budget, **method})


CONFIGS = {name: make_config(name, **method) for name, method in METHODS.items()}  # raises on an invalid setting
for name, config in CONFIGS.items():
    updates = config.steps_per_generation // config.gradient_accumulation_steps
    print(f"{name:<12} advantage_mode={config.advantage_mode:<12} normalization={config.negative_normalization:<16} "
          f"{updates} optimizer steps per generation, clip {config.epsilon}/{config.epsilon_high}")

# %% [markdown]
# ## Data, reward and model

# %%
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer

if SMOKE:
    from trl_explore.toy import countdown_reward, make_countdown_dataset, warm_start

    REWARD = countdown_reward  # each number once, + - * /, exact value; parsed safely, never eval'd
    train_dataset = make_countdown_dataset(NUM_TRAIN_PROMPTS, seed=1000)
    eval_dataset = make_countdown_dataset(NUM_EVAL_PROMPTS, seed=2000)
    MODEL_PATH = str(warm_start(task="countdown", max_steps=30, cache_dir="toy_cache", num_eval_prompts=0))
else:
    from trl_explore.evaluation import gold_to_solution
    from trl_explore.rewards import math_accuracy_reward

    REWARD = math_accuracy_reward
    SYSTEM_PROMPT = "Solve the math problem step by step. Put the final answer in \\boxed{}."
    gsm8k = load_dataset("openai/gsm8k", "main")

    def to_prompt_solution(row):
        prompt = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": row["question"]}]
        return {"prompt": prompt, "solution": gold_to_solution(row["answer"])}

    train_dataset = gsm8k["train"].map(to_prompt_solution, remove_columns=gsm8k["train"].column_names)
    if NUM_TRAIN_PROMPTS is not None:
        train_dataset = train_dataset.select(range(NUM_TRAIN_PROMPTS))
    eval_dataset = gsm8k["test"].select(range(NUM_EVAL_PROMPTS))
    eval_dataset = eval_dataset.map(to_prompt_solution, remove_columns=eval_dataset.column_names)
    MODEL_PATH = MODEL_NAME
print(train_dataset[0]["prompt"])


def load_model():
    kwargs = {} if SMOKE else {"dtype": DTYPE}
    return AutoModelForCausalLM.from_pretrained(MODEL_PATH, **kwargs), AutoTokenizer.from_pretrained(MODEL_PATH)


# %% [markdown]
# ## Train every method from the same start
#
# Same seed, data order, recipe and budget for each; only the method's fields differ. `PassAtKCallback`
# evaluates before training, every `EVAL_STEPS` steps and at the end, and writes
# `<output_dir>/pass_at_k.csv`.

# %%
import gc
import time

from trl_explore.callbacks.pass_at_k import PassAtKCallback

runs = {}
for name in METHODS:
    torch.manual_seed(SEED)
    model, tokenizer = load_model()
    config = CONFIGS[name]
    # the papers' evaluation sampling (temperature 0.6, top-p 0.95), not the training temperature
    pass_at_k = PassAtKCallback.paper_protocol(
        eval_dataset,
        REWARD,
        k=K,
        eval_steps=EVAL_STEPS,
        max_new_tokens=MAX_COMPLETION_LENGTH,
        batch_size=EVAL_BATCH,
        show_progress=not SMOKE,
    )
    trainer = ExploreGRPOTrainer(
        model=model,
        reward_funcs=REWARD,
        args=config,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=LORA_R, lora_alpha=2 * LORA_R, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
        ),
        callbacks=[pass_at_k],
    )
    start = time.perf_counter()
    trainer.train()
    runs[name] = {
        "pass_at_k": pass_at_k.history,
        "eval_sampling": {"temperature": pass_at_k.temperature, "top_p": pass_at_k.top_p},
        "log_history": trainer.state.log_history,
        "seconds": time.perf_counter() - start,
    }
    print(name, "start:", pass_at_k.history[0], "end:", pass_at_k.history[-1])
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

# %% [markdown]
# ## The capability boundary

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

first_row = runs[next(iter(runs))]["pass_at_k"][0]
ks = sorted(int(key.removeprefix("pass@")) for key in first_row if key.startswith("pass@"))
fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
for i, (name, run) in enumerate(runs.items()):
    color = f"C{i}"
    first, last = run["pass_at_k"][0], run["pass_at_k"][-1]
    if i == 0:
        axes[0].plot(ks, [first[f"pass@{k}"] for k in ks], "k--", marker="o", label="start (all methods)")
    axes[0].plot(ks, [last[f"pass@{k}"] for k in ks], color=color, marker="o", label=f"{name} (end)")
    steps = [row["step"] for row in run["pass_at_k"]]
    axes[1].plot(steps, [row["pass@1"] for row in run["pass_at_k"]], color=color, marker="o", label=f"{name} pass@1")
    pass_k = [row[f"pass@{K}"] for row in run["pass_at_k"]]
    axes[1].plot(steps, pass_k, color=color, linestyle=":", marker="s", label=f"{name} pass@{K}")
    axes[2].plot(*series(run["log_history"], "reward"), color=color, label=name)
axes[0].set_xscale("log", base=2)
axes[0].set_xlabel("k")
axes[0].set_title("pass@k on held-out prompts")
axes[1].set_xlabel("step")
axes[1].set_title(f"pass@1 (solid) and pass@{K} (dotted)")
axes[2].set_xlabel("step")
axes[2].set_title("training reward")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("relative_negative_gradients.png", dpi=100)
plt.show()

HEADERS = ("pass@1 start", "pass@1 end", f"pass@{K} start", f"pass@{K} end")
print(f"{'method':<12}" + "".join(f"{h:>14}" for h in HEADERS) + f"{'s/run':>8}")
TABLE = {}
for name, run in runs.items():
    first, last = run["pass_at_k"][0], run["pass_at_k"][-1]
    TABLE[name] = {
        "pass@1_start": first["pass@1"],
        "pass@1_end": last["pass@1"],
        f"pass@{K}_start": first[f"pass@{K}"],
        f"pass@{K}_end": last[f"pass@{K}"],
        "seconds": run["seconds"],
    }
    row = TABLE[name]
    cells = [row["pass@1_start"], row["pass@1_end"], row[f"pass@{K}_start"], row[f"pass@{K}_end"]]
    print(f"{name:<12}" + "".join(f"{v:>14.3f}" for v in cells) + f"{run['seconds']:>8.1f}")

# %% [markdown]
# The claim to check: negative-only training (NSR, GRPO-N) and W-REINFORCE keep pass@k at large k near
# the start while GRPO and PSR lose some of it. Read the table for what this run shows — a short run on a
# small model can go either way.

# %%
SUMMARY = {
    "methods": list(METHODS),
    "recipe": {
        name: {
            "advantage_mode": config.advantage_mode,
            "negative_normalization": config.negative_normalization,
            "updates_per_generation": config.steps_per_generation // config.gradient_accumulation_steps,
            "epsilon": config.epsilon,
            "epsilon_high": config.epsilon_high,
        }
        for name, config in CONFIGS.items()
    },
    "eval_sampling": runs[next(iter(runs))]["eval_sampling"],
    "k": K,
    "table": TABLE,
}
with open("relative_negative_gradients_summary.json", "w") as f:
    json.dump(SUMMARY, f, indent=2)
print(json.dumps(SUMMARY, indent=2))
