# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # SwiReasoning: switch-thinking between latent and explicit reasoning
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/swireasoning.ipynb)
#
# [SwiReasoning](https://arxiv.org/abs/2510.05069) is a training-free decoding method for thinking models (Qwen3,
# R1-distill, QwQ). At every step it looks at the entropy of the next-token distribution: while the model is unsure
# (entropy above its value at the start of the block) it *thinks latently*, feeding the probability-weighted mixture
# of all token embeddings instead of one sampled token; when the entropy drops it switches back to ordinary
# (*explicit*) tokens. A switch cap forces the model to conclude after too many switches.
#
# This notebook runs `trl_explore.generation.swi_generate` on `Qwen/Qwen3-1.7B` and GSM8K on a free Colab T4, plots
# what the decoder did at every step (mode and entropy), shows the `model.generate(custom_generate=...)` route, and
# compares accuracy and generated tokens with plain sampling at the same budgets.

# %% [markdown]
# ## Setup
#
# On Colab pick a GPU runtime (*Runtime → Change runtime type → T4 GPU*). The next cell installs `trl_explore` from
# its repository when it is missing. No Hugging Face login is needed (public model and data); nothing is pushed to
# the Hub (`PUSH_TO_HUB = False`: this notebook trains nothing).
#
# *Smoke mode*: with `TRL_EXPLORE_SMOKE=1` the notebook uses a randomly initialised tiny model and the toy arithmetic
# task of `trl_explore.toy` on the CPU (the text is noise, the traces are real) — this is how the test-suite runs it.

# %%
# ruff: noqa: E402 - each cell imports what it uses
import importlib.util
import os
import subprocess
import sys

SMOKE = os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"
if not SMOKE and importlib.util.find_spec("trl_explore") is None:
    subprocess.check_call(
        [sys.executable, "-m", "pip", "install", "-q", "trl_explore @ git+https://github.com/trl-explore/trl_explore"]
    )

# %%
import json
import warnings

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from trl_explore.colab import notebook_setup

warnings.filterwarnings("ignore", category=FutureWarning)
SETUP = notebook_setup(SMOKE, fp16_weights=True)  # bf16 from compute capability 8.0 (Ampere), fp16 below (a T4)
HAS_GPU, DTYPE = SETUP.has_gpu, SETUP.dtype
PUSH_TO_HUB = False  # nothing is trained here
print(SETUP.summary())

if SMOKE:
    from trl_explore.toy import make_tiny_model, make_tokenizer

    torch.set_num_threads(1)  # the toy model's matmuls are tiny: one thread is fastest
    MODEL = "toy (random init)"
    tokenizer = make_tokenizer()
    model = make_tiny_model(tokenizer, initializer_range=0.2)  # peaked distributions: entropies move, rows switch
else:
    MODEL = "Qwen/Qwen3-1.7B"  # a thinking model: `<think>` and `</think>` are single tokens
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=DTYPE).to("cuda" if HAS_GPU else "cpu")
model.eval()

# %% [markdown]
# ## Data
#
# GSM8K test problems (`openai/gsm8k`, `main`), gold answers brought to `\boxed{}` form by `load_math_dataset`, prompts
# rendered with the model's chat template (Qwen3 opens its own `<think>` block).

# %%
from trl_explore.evaluation import SamplingConfig, load_math_dataset, render_prompts

if SMOKE:
    from trl_explore.toy import make_arithmetic_dataset

    data = make_arithmetic_dataset(6, seed=1)
    prompts = list(data["prompt"])
    BUDGETS = [24, 48]
else:
    data = load_math_dataset("openai/gsm8k", split="test", subset="main", limit=32)
    system = "Please reason step by step, and put your final answer within \\boxed{}."
    prompts = render_prompts(tokenizer, data["prompt"], SamplingConfig(system_prompt=system))
    BUDGETS = [512, 1024]
print(len(prompts), "problems; budgets", BUDGETS)
print(prompts[0])

# %% [markdown]
# ## One batch with `swi_generate`, and what the decoder did
#
# `SwiReasoningConfig` carries the paper's settings: β0 = 0.7, a window of 512 explicit steps before the decoder may
# go latent again, the math-token override, the step-0 newline mix, and sampling at temperature 0.6, top-p 0.95,
# top-k 20. α0 = 0.5 is the paper's GSM8K value for Qwen3-8B; the switch cap C = 2 is the README example (for Qwen
# models the convergence string is `</think>`).

# %%
from trl_explore.generation import SwiReasoningConfig, swi_generate
from trl_explore.generation.swireasoning_eval import plot_traces

config = SwiReasoningConfig(alpha0=0.5, max_switch_count=2, seed=0)
if not SMOKE:
    config = SwiReasoningConfig(alpha0=0.5, max_switch_count=2, convergence_string="</think>", seed=0)
out = swi_generate(model, tokenizer, prompts[:4], config, max_new_tokens=BUDGETS[0], add_special_tokens=False,
                   progress=True)
print(out.texts[0][:1500])
print(json.dumps(out.summary(), indent=2))
for row in range(len(out.texts)):
    events = ", ".join(f"{e.kind}@{e.step}" for e in out.trigger_events[row][:12])
    print(f"sequence {row}: {out.num_generated_tokens[row]} tokens ({out.finish_reason[row]}), "
          f"latent share {out.latent_share[row]:.3f}, switches {out.switch_count[row]}: {events}")

# %%
from IPython.display import Image, Markdown, display

plot_traces(out, "swireasoning_traces.png", title=f"SwiReasoning on {MODEL}: entropy per step, shaded by mode")
display(Image("swireasoning_traces.png"))

# %% [markdown]
# ## The same decoder through `model.generate`
#
# `swireasoning_decoding` is a `custom_generate` callable: `generate` prepares the inputs, the cache and its own
# warpers (from `do_sample`, `temperature`, `top_p`, `top_k`), and the SwiReasoning loop runs on them. Pass the
# tokenizer as `swi_tokenizer` (`generate` keeps `tokenizer` for itself); `return_dict_in_generate=True` returns the
# traces too.

# %%
from trl_explore.generation import swireasoning_decoding

enc = tokenizer(prompts[:1], return_tensors="pt", add_special_tokens=False).to(model.device)
ids = model.generate(**enc, custom_generate=swireasoning_decoding, swi_tokenizer=tokenizer, swi_config=config,
                     do_sample=True, temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=64)
print(tokenizer.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True))

# %% [markdown]
# ## SwiReasoning vs plain sampling at the same budgets
#
# Every decoder samples with temperature 0.6 and top-p 0.95 (no top-k) and the same `max_new_tokens`; accuracy is
# the mean of `math_accuracy_reward` over the problems.

# %%
from trl_explore.generation.swireasoning_eval import compare_decoding
from trl_explore.rewards import math_accuracy_reward

comparison = compare_decoding(
    model, tokenizer, prompts, math_accuracy_reward, {"solution": data["solution"]},
    swi_configs={"SwiReasoning": config}, budgets=BUDGETS, num_samples=1, temperature=0.6, top_p=0.95,
    batch_size=8 if SMOKE else 16, seed=0,
)
display(Markdown(comparison.markdown()))

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for decoder in ["sampling", "SwiReasoning"]:
    rows = [r for r in comparison.rows if r["decoder"] == decoder]
    budgets = [r["budget"] for r in rows]
    axes[0].plot(budgets, [r["accuracy"] or 0.0 for r in rows], marker="o", label=decoder)
    axes[1].plot(budgets, [r["mean_tokens"] for r in rows], marker="o", label=decoder)
axes[0].set(xlabel="budget (max new tokens)", ylabel="accuracy", title="Accuracy")
axes[1].set(xlabel="budget (max new tokens)", ylabel="tokens / sample", title="Generated tokens")
for ax in axes:
    ax.legend()
    ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig("swireasoning_budget.png", dpi=110)
plt.show()

SUMMARY = {
    "model": MODEL,
    "budgets": BUDGETS,
    "num_problems": len(prompts),
    "rows": comparison.rows,
    "batch_summary": out.summary(),
}
with open("swireasoning_summary.json", "w") as f:
    json.dump(SUMMARY, f, indent=2)
print(json.dumps(SUMMARY["rows"], indent=2))

# %% [markdown]
# ## Reading the numbers
#
# - **Latent share.** Users of the official code report latent segments of about 1.5 tokens and under 1 % of the
#   steps latent (its issues #3 and #8): once the entropy falls below the block's reference the decoder goes
#   explicit and, with a 512-step window, rarely comes back within a GSM8K-length answer. The gains the paper reports
#   (+1.5–2.8 % pass@1, +56–79 % token efficiency under budgets) come mostly from the entropy-gated nudges (the
#   `</think>` / `<think>` blends on switch steps) and the switch cap, not from long latent stretches. The traces
#   above show this directly: count the shaded steps.
# - **The reference entropy.** `H_0` is the entropy of the first generated token. Qwen3's chat template leaves
#   `<think>` to the model, which predicts it almost surely: the first reference is near zero, and the decoder stays in
#   latent mode until an even more certain token. Ending the prompts with `"<think>\n"` makes step 0 a real thinking
#   token; try both and compare the traces.
# - **Math override.** A sampled digit, operator, single letter or LaTeX command forces its step explicit. With a
#   character-level tokenizer (the toy kit's) almost every latent step is such a token; with Qwen3's tokenizer far
#   fewer are.
# - **Budgets.** With a small budget, the switch cap (`max_switch_count`) is what makes SwiReasoning stop thinking
#   and answer (`</think>` then "The final answer is" and 32 more tokens); plain sampling often runs out of budget
#   inside its thinking. Compare the `truncated` column.
