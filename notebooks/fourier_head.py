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
# # Fourier head: smooth distributions over ordered bins
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/fourier_head.ipynb)
#
# The [Fourier head](https://arxiv.org/abs/2410.22269) (Gillman et al., ICLR 2025) replaces
# `nn.Linear(d, m)` when the `m` classes are ordered bins of a continuous quantity: it predicts the
# coefficients of a Fourier series, i.e. a smooth density on [-1, 1], and reads the bin probabilities off
# it. `trl_explore.modules.fourier_head.FourierHead` is the layer; `trl_explore.metrics.smoothness` holds
# the paper's smoothness metric and the KL to a target pmf.
#
# Part 1 reproduces the paper's toy experiment (gaussian and gmm2 data, linear vs. Fourier head) and plots
# the learned pmfs. Part 2 puts a numeric-token Fourier head on a small LM
# (`trl_explore.modules.numeric_head`): the distribution over the digit tokens becomes smooth. About
# 15 minutes on a T4 (part 1 runs on the CPU).

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
# ## Part 1 — the toy experiment
#
# `x ~ U(−0.8, 0.8)`; *gaussian*: `y ~ N(x, 0.01)`, `z ~ N(y, 0.01)`; *gmm2*: `y ~ U(−0.8, 0.8)`,
# `z ~ ½ N(x, 0.01) + ½ N(y, 0.01)` (variances). An MLP 2 → 64 → 32 → head reads `(x, y)` and predicts
# `z`'s bin among m = 50 (cross-entropy, Adam 1e-3, batch 32). The test metric is KL(true pmf ‖ predicted)
# (the true density at the bin centres, normalised) and the smoothness `s(P)` (lower is smoother).
# The paper (500 epochs, 4 seeds, N = 12) reports KL 0.170 → 0.116 and smoothness 0.116 → 0.057 on
# gaussian, KL 0.238 → 0.146 and smoothness 0.068 → 0.038 on gmm2 (linear → Fourier).

# %%
import numpy as np
from torch import nn

from trl_explore.functional.fourier import bin_centers, quantize
from trl_explore.metrics.smoothness import kl_to_target, smoothness
from trl_explore.modules.fourier_head import FourierHead

if SMOKE:
    NUM_SAMPLES, EPOCHS = 800, 2
else:
    NUM_SAMPLES, EPOCHS = 5000, 100  # the paper trains 500 epochs; 100 already separates the heads
NUM_BINS, NUM_FREQUENCIES, GAMMA, VAR = 50, 12, 1e-6, 0.01


def make_toy(name, n, seed):
    """[n, 3] samples (x, y, z) of the named dataset."""
    rng = np.random.default_rng(seed)
    sd = VAR**0.5
    x = rng.uniform(-0.8, 0.8, n)
    if name == "gaussian":
        y = rng.normal(x, sd)
        z = rng.normal(y, sd)
    else:  # gmm2
        y = rng.uniform(-0.8, 0.8, n)
        z = rng.normal(np.where(rng.uniform(size=n) < 0.5, x, y), sd)
    return np.stack([x, y, z], axis=1)


def true_pmf(name, xy, centers):
    """The true conditional density at the bin centres, normalised per row: [R, 2] -> [R, m]."""

    def normal(mean):
        pdf = np.exp(-0.5 * (centers[None, :] - mean) ** 2 / VAR)
        return pdf / pdf.sum(1, keepdims=True)

    x, y = xy[:, :1], xy[:, 1:]
    return normal(y) if name == "gaussian" else 0.5 * normal(x) + 0.5 * normal(y)


class MLP(nn.Module):
    def __init__(self, head):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.head = head

    def forward(self, xy):  # -> log-probabilities [B, m]
        out = self.head(self.body(xy))
        return out if isinstance(self.head, FourierHead) else torch.log_softmax(out, dim=-1)


def train_toy(name, head_kind, seed=0):
    data = make_toy(name, NUM_SAMPLES, seed)
    n_test = NUM_SAMPLES // 5
    test, train = data[:n_test], data[n_test:]
    torch.manual_seed(seed)
    if head_kind == "linear":
        head = nn.Linear(32, NUM_BINS)
    else:
        head = FourierHead(32, NUM_BINS, NUM_FREQUENCIES, regularization_gamma=GAMMA)
    model = MLP(head)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_train = torch.tensor(train[:, :2], dtype=torch.float32)
    y_train = quantize(torch.tensor(train[:, 2]), NUM_BINS)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(x_train), generator=generator).split(32):
            loss = nn.functional.nll_loss(model(x_train[batch]), y_train[batch])
            if isinstance(head, FourierHead):  # + gamma * int |f'|^2 of this batch's densities
                loss = loss + head.regularization(model.body(x_train[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        x_test = torch.tensor(test[:, :2], dtype=torch.float32)
        pmf = model(x_test).exp()
        pmf = pmf / pmf.sum(-1, keepdim=True)
    target = torch.tensor(true_pmf(name, test[:, :2], bin_centers(NUM_BINS).double().numpy()), dtype=torch.float32)
    return {
        "kl": kl_to_target(pmf, target).mean().item(),
        "smoothness": smoothness(pmf).mean().item(),
        "pmf": pmf[:3].numpy(),
        "target": target[:3].numpy(),
        "xy": test[:3, :2],
    }


toy = {(name, kind): train_toy(name, kind) for name in ("gaussian", "gmm2") for kind in ("linear", "fourier")}
print(f"{'dataset':<10}{'head':<9}{'KL':>8}{'smoothness':>12}")
for (name, kind), r in toy.items():
    print(f"{name:<10}{kind:<9}{r['kl']:>8.3f}{r['smoothness']:>12.3f}")

# %%
import matplotlib.pyplot as plt

centers = bin_centers(NUM_BINS).numpy()
fig, axes = plt.subplots(2, 3, figsize=(15, 6), sharex=True)
for row, name in enumerate(("gaussian", "gmm2")):
    for col in range(3):
        ax = axes[row, col]
        ref = toy[(name, "linear")]
        ax.plot(centers, ref["target"][col], "k--", label="true pmf")
        for kind in ("linear", "fourier"):
            ax.plot(centers, toy[(name, kind)]["pmf"][col], label=f"{kind} head")
        x, y = ref["xy"][col]
        ax.set_title(f"{name}: x = {x:.2f}, y = {y:.2f}")
        if row == 0 and col == 0:
            ax.legend()
fig.tight_layout()
fig.savefig("fourier_toy_pmfs.png", dpi=100)
plt.show()

# %% [markdown]
# ## Part 2 — a numeric-token Fourier head on a language model
#
# `attach_numeric_head(model, number_token_ids, num_frequencies)` replaces the LM head by a
# `FourierNumericHead`: in the default *hybrid* mode the total probability of the number tokens (here the
# digits 0–9, one token each in Qwen's vocabulary) still comes from the LM head, but its shape across the
# digits is a Fourier density. The task: `"a=0.12 b=0.53 mean:"` → the digit of the bin of `(a + b) / 2`.
# We fine-tune with LoRA twice — plain LM head vs. numeric Fourier head (`modules_to_save` trains the head
# fully) — and compare the digit distributions. The Fourier run uses `FourierSFTTrainer` / `FourierSFTConfig`
# (TRL's `SFTTrainer` and `SFTConfig` plus the head): `fourier_head_number_tokens` attaches the head and adds it to
# PEFT's `modules_to_save`, the smoothness penalty `γ ∫|f'|²` (`fourier_head_regularization_gamma`, paper value
# 1e-6) joins the loss, and `fourier_head/*` metrics are logged.

# %%
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from trl_explore.trainers import FourierSFTConfig, FourierSFTTrainer

DIGITS = [str(d) for d in range(10)]
if SMOKE:
    LM_STEPS, LM_BATCH, LM_LR, LM_SAMPLES, LM_FREQUENCIES = 6, 16, 3e-3, 128, 4
else:
    LM_STEPS, LM_BATCH, LM_LR, LM_SAMPLES, LM_FREQUENCIES = 300, 16, 2e-4, 4800, 4


def mean_task(n, seed):
    """'a=0.12 b=0.53 mean:' -> the digit token of the bin of (a + b) / 2 (10 bins of [0, 1])."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(n, generator=g), torch.rand(n, generator=g)
    bins = quantize(a + b - 1.0, len(DIGITS))
    return Dataset.from_list(
        [
            {"prompt": f"a={x:.2f} b={y:.2f} mean:", "completion": DIGITS[int(k)]}
            for x, y, k in zip(a.tolist(), b.tolist(), bins.tolist())
        ]
    )


def load_lm():
    if SMOKE:
        from trl_explore.toy import make_tiny_model, make_tokenizer

        tok = make_tokenizer()
        return make_tiny_model(tok, seed=0), tok
    tok = AutoTokenizer.from_pretrained("Qwen/Qwen2.5-0.5B")
    return AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-0.5B", dtype=DTYPE), tok


lm_train = mean_task(LM_SAMPLES, seed=0)
lm_eval = mean_task(64, seed=1)
lm_runs = {}
for kind in ("plain", "fourier"):
    torch.manual_seed(0)
    model, tokenizer = load_lm()
    digit_ids = [tokenizer(d, add_special_tokens=False)["input_ids"][0] for d in DIGITS]
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    fourier = kind == "fourier"
    head_fields = {"fourier_head_number_tokens": DIGITS, "fourier_head_num_frequencies": LM_FREQUENCIES}
    args = (FourierSFTConfig if fourier else SFTConfig)(
        output_dir=f"fourier_numeric/{kind}",
        max_steps=LM_STEPS,
        per_device_train_batch_size=LM_BATCH,
        learning_rate=LM_LR,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=USE_BF16,
        fp16=USE_FP16,
        use_cpu=not HAS_GPU,
        seed=0,
        disable_tqdm=SMOKE,
        **(head_fields if fourier else {}),
    )
    trainer_cls = FourierSFTTrainer if fourier else SFTTrainer
    trainer = trainer_cls(model=model, args=args, train_dataset=lm_train, processing_class=tokenizer, peft_config=lora)
    trainer.train()
    lm_runs[kind] = (trainer, tokenizer, digit_ids)


# %%
@torch.no_grad()
def digit_pmfs(trainer, tokenizer, digit_ids, prompts):
    """[len(prompts), 10]: the next-token distribution restricted to the digits, renormalised."""
    model = trainer.model.eval()
    rows = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        logits = model(**ids).logits[0, -1].float()
        rows.append(torch.softmax(logits[digit_ids], dim=-1).cpu())
    return torch.stack(rows)


targets = torch.tensor([DIGITS.index(c) for c in lm_eval["completion"]])
lm_results = {}
for kind, (trainer, tokenizer, digit_ids) in lm_runs.items():
    pmf = digit_pmfs(trainer, tokenizer, digit_ids, lm_eval["prompt"])
    expected = (pmf * torch.arange(10)).sum(-1)
    lm_results[kind] = {
        "pmf": pmf,
        "accuracy": (pmf.argmax(-1) == targets).float().mean().item(),
        "mean_abs_bin_error": (expected - targets).abs().mean().item(),
        "smoothness": smoothness(pmf.double()).mean().item(),
    }
    print(
        f"{kind:>8} head: accuracy {lm_results[kind]['accuracy']:.3f}, "
        f"mean |E[bin] - bin| {lm_results[kind]['mean_abs_bin_error']:.2f}, "
        f"smoothness {lm_results[kind]['smoothness']:.3f}"
    )

fig, axes = plt.subplots(1, 3, figsize=(15, 3.5), sharey=True)
for i, ax in enumerate(axes):
    for kind, r in lm_results.items():
        offset = 0.2 if kind == "fourier" else -0.2
        ax.bar(np.arange(10) + offset, r["pmf"][i].numpy(), width=0.4, label=f"{kind} head")
    ax.axvline(int(targets[i]), color="k", linestyle="--", label="target bin")
    ax.set_title(lm_eval["prompt"][i])
    ax.set_xticks(range(10))
axes[0].legend()
fig.tight_layout()
fig.savefig("fourier_numeric_pmfs.png", dpi=100)
plt.show()

# %%
trainer, _, _ = lm_runs["fourier"]
fourier_logged = sorted({k for entry in trainer.state.log_history for k in entry if k.startswith("fourier_head/")})
trainer.save_model("fourier_numeric/fourier")  # adapter + the head (modules_to_save)
if PUSH_TO_HUB:
    trainer.push_to_hub()

SUMMARY = {
    "toy": {f"{name}/{kind}": {"kl": r["kl"], "smoothness": r["smoothness"]} for (name, kind), r in toy.items()},
    "numeric_head": {kind: {k: v for k, v in r.items() if k != "pmf"} for kind, r in lm_results.items()},
    "fourier_metrics_logged": fourier_logged,
}
with open("fourier_head_summary.json", "w") as f:
    json.dump(SUMMARY, f, indent=2)
print(json.dumps(SUMMARY, indent=2))
