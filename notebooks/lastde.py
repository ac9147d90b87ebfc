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
# # Was this written by a model? Lastde, Lastde++ and the baselines on one model
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/lastde.ipynb)
#
# Lastde (Xu et al., [arXiv 2410.06072](https://arxiv.org/abs/2410.06072), ICLR 2025) detects machine-generated text
# from the **token-probability sequence** a language model assigns to it: not only how likely the tokens are, but how
# the sequence's local shape varies across smoothing scales (its *multiscale diversity entropy*). Lastde costs one
# forward pass; Lastde++ standardises it against tokens sampled from a reference model, like Fast-DetectGPT.
#
# This notebook follows the paper's protocol on a small scale: human news articles (XSum) against
# `Qwen/Qwen2.5-0.5B` continuing their first 30 tokens, scored by the same model (white-box). It looks at one text's
# token-probability sequence and its diversity entropy by scale, scores every method from one pass with
# `trl_explore.detection.score_all_methods` (likelihood, log-rank, entropy, Fast-DetectGPT, Lastde, Lastde++), draws the
# ROC curves, and fits a threshold on half of the texts to classify the other half. About 10 minutes on a T4.

# %% [markdown]
# ## Setup
#
# On Colab pick a GPU runtime (*Runtime → Change runtime type → T4 GPU*). The cell below installs `trl_explore`
# from its repository (skipped when it is already installed). No Hugging Face login is needed: the model and data
# are public, and nothing is pushed to the Hub (`PUSH_TO_HUB = False`).
#
# *Smoke mode*: with the environment variable `TRL_EXPLORE_SMOKE=1` the notebook uses a tiny toy model and the toy
# kit's human-vs-machine set (`trl_explore.toy.make_detection_texts`), a few seconds on CPU — this is how the
# test-suite runs it.

# %%
# ruff: noqa: E402 - each cell imports what it uses, as notebooks do
import importlib.util
import os

SMOKE = os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"
if not SMOKE and importlib.util.find_spec("trl_explore") is None:
    # %pip install -q "trl_explore @ git+https://github.com/trl-explore/trl_explore"
    pass

# %%
import json
import warnings

import torch

from trl_explore.colab import notebook_setup

warnings.filterwarnings("ignore", category=FutureWarning)
SETUP = notebook_setup(SMOKE, fp16_weights=True)  # bf16 from compute capability 8.0 (Ampere), fp16 below (a T4)
DTYPE, DEVICE = SETUP.dtype, SETUP.device
PUSH_TO_HUB = False  # nothing is trained here; kept for the notebooks' common settings
print(SETUP.summary())

# %% [markdown]
# ## Settings

# %%
if SMOKE:
    MODEL_NAME = None  # a tiny toy Qwen2 built in code
    NUM_TEXTS, N_SAMPLES, BATCH_SIZE = 16, 10, 8
else:
    MODEL_NAME = "Qwen/Qwen2.5-0.5B"
    NUM_TEXTS, N_SAMPLES, BATCH_SIZE = 150, 100, 8  # texts per side; Lastde++'s K
PREFIX_TOKENS, NEW_TOKENS = 30, 200  # the paper: the source model continues the first 30 tokens
SEED = 0

# %% [markdown]
# ## Model and texts
#
# Real run: the first `NUM_TEXTS` XSum test articles are the human side; the machine side is the model continuing the
# first 30 tokens of each (pure sampling at temperature 1), cut to about the human text's length.

# %%
from transformers import AutoModelForCausalLM, AutoTokenizer

from trl_explore.toy import make_detection_texts, make_tiny_model, make_tokenizer

if SMOKE:
    tokenizer = make_tokenizer()
    model = make_tiny_model(tokenizer, hidden_size=32, num_hidden_layers=1, initializer_range=0.2).eval()
    texts = make_detection_texts(model, tokenizer, NUM_TEXTS, prefix_tokens=8, max_new_tokens=40, seed=SEED)
    human, machine = texts["human"], texts["machine"]
else:
    from datasets import load_dataset

    tokenizer = AutoTokenizer.from_pretrained(MODEL_NAME)
    model = AutoModelForCausalLM.from_pretrained(MODEL_NAME, dtype=DTYPE).to(DEVICE).eval()
    articles = [a for a in load_dataset("EdinburghNLP/xsum", split="test")["document"] if len(a.split()) > 150]
    human = [" ".join(a.split()[:180]) for a in articles[:NUM_TEXTS]]
    torch.manual_seed(SEED)
    machine = []
    for start in range(0, len(human), BATCH_SIZE):
        prefixes = [tokenizer(h)["input_ids"][:PREFIX_TOKENS] for h in human[start : start + BATCH_SIZE]]
        ids = torch.tensor(prefixes, device=DEVICE)  # same length: no padding needed
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0,
                                 top_k=0, top_p=1.0, max_new_tokens=NEW_TOKENS, pad_token_id=tokenizer.eos_token_id)
        machine += tokenizer.batch_decode(out, skip_special_tokens=True)
print(len(human), "human and", len(machine), "machine texts")
print("human:  ", human[0][:300])
print("machine:", machine[0][:300])

# %% [markdown]
# ## One text's token-probability sequence, and its diversity entropy by scale
#
# `statistics` runs the model's backbone and the fused detection kernel: per token the log-probability, the rank,
# the entropy and Fast-DetectGPT's moments, without ever keeping the `[T, V]` logits. `multiscale_diversity_entropy`
# is the paper's MDE: the entropy of the cosine similarities of consecutive orbits of the smoothed sequence, for
# scales τ = 1..τ'. Lastde divides the mean log-probability by the std of these values.

# %%
import matplotlib.pyplot as plt

from trl_explore.detection import LastdeDetector
from trl_explore.functional import multiscale_diversity_entropy

lastde = LastdeDetector(model, tokenizer, preset="lastde", batch_size=BATCH_SIZE, show_progress=not SMOKE)
pair = lastde.statistics([human[0], machine[0]])
fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
for name, st, color in (("human", pair[0], "tab:blue"), ("machine", pair[1], "tab:red")):
    axes[0].plot(st.label_logprob.numpy(), label=f"{name} (mean {st.label_logprob.mean():.2f})", color=color,
                 linewidth=0.9)
    _, info = multiscale_diversity_entropy(st.label_logprob.double(), 3, 10, 15)
    axes[1].plot(range(1, 16), info["diversity_entropy"].numpy(), marker="o", label=name, color=color)
axes[0].set_xlabel("token position")
axes[0].set_ylabel("log p(token | prefix)")
axes[0].set_title("token-probability sequence")
axes[0].legend()
axes[1].set_xlabel("scale τ (moving-average window)")
axes[1].set_ylabel("diversity entropy DE_τ")
axes[1].set_title("multiscale diversity entropy (s = 3, ε = 10 n)")
axes[1].legend()
fig.tight_layout()
fig.savefig("lastde_tps.png", dpi=110)
plt.show()

# %% [markdown]
# ## Every method, one pass
#
# `score_all_methods` computes the statistics once (with the K samples Lastde++ needs) and derives every score from
# them. Higher = more machine-like. `detection_metrics` gives AUROC, PR-AUC and the true-positive rate at 1% false
# positives (scikit-learn).

# %%
import numpy as np

from trl_explore.detection import detection_metrics, plot_roc, score_all_methods

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # short toy texts are clamped; the counts are in the details
    results = score_all_methods(model, tokenizer, human + machine, n_samples=N_SAMPLES, batch_size=BATCH_SIZE,
                                seed=SEED, show_progress=not SMOKE)
n = len(human)
metrics = {m: detection_metrics(r.scores[:n], r.scores[n:]) for m, r in results.items()}
print("| method | AUROC | PR-AUC | TPR@1%FPR | unscored |")
for method, m in metrics.items():
    print(f"| {method} | {m['auroc']:.3f} | {m['pr_auc']:.3f} | {m['tpr_at_fpr']:.3f} | {m['num_unscored']} |")
plot_roc({m: (r.scores[:n], r.scores[n:]) for m, r in results.items()}, "lastde_roc.png",
         title=f"ROC: {MODEL_NAME or 'toy model'} scoring human vs its own continuations")

# %% [markdown]
# For comparison, the paper's averages over 12 source models (white-box): likelihood 82.5, log-rank 86.1,
# Fast-DetectGPT 97.8, Lastde 95.9, Lastde++ 98.9 AUROC.
#
# ## A classifier: threshold and calibrated probabilities
#
# `fit` picks the threshold maximising Youden's J (TPR − FPR) — or one for a target false-positive rate — and a Platt
# calibration on labelled texts; `predict` and `predict_proba` then classify new texts. Here: fit on the first half,
# test on the second.

# %%
half = n // 2
train = human[:half] + machine[:half]
train_labels = [0] * half + [1] * half
test_human, test_machine = human[half:], machine[half:]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    detector = LastdeDetector(model, tokenizer, preset="lastde", batch_size=BATCH_SIZE, show_progress=False)
    detector.fit(train, train_labels)
    pred = detector.predict(test_human + test_machine)
    proba = detector.predict_proba(test_human + test_machine)[:, 1]
truth = np.array([0] * len(test_human) + [1] * len(test_machine))
scored = pred >= 0
accuracy = float((pred[scored] == truth[scored]).mean())
print(f"threshold {detector.threshold_:.3f}; held-out accuracy {accuracy:.3f} on {int(scored.sum())} scored texts")
print("mean P(machine): human", round(float(np.nanmean(proba[truth == 0])), 3),
      "| machine", round(float(np.nanmean(proba[truth == 1])), 3))

# %%
summary = {
    "model": MODEL_NAME or "toy",
    "num_texts_per_side": n,
    "n_samples": N_SAMPLES,
    "metrics": metrics,
    "held_out_accuracy": accuracy,
    "threshold": detector.threshold_,
}
with open("lastde_summary.json", "w") as f:
    json.dump(summary, f, indent=1)
print(json.dumps({m: round(v["auroc"], 3) for m, v in metrics.items()}))
