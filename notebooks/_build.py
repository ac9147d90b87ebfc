"""Generate the Colab notebooks of `notebooks/` from the cell sources below (review the code here, not the JSON).

    python notebooks/_build.py            # rewrite every notebook
    python notebooks/_build.py --check    # exit 1 when a committed notebook differs from what this script builds

Each notebook has a smoke mode: with ``TRL_EXPLORE_SMOKE=1`` it swaps in the offline toy model
(`trl_explore.toy`) and local data, runs a few steps on CPU and skips the install cell; the test-suite
(`tests/notebooks/test_notebooks.py`) executes every notebook that way. Without it the notebook is a real run sized
for a free Colab T4 (fp16, no bf16; LoRA; no login needed, pushing to the Hub is off by default).
Notebooks are written without outputs.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
COLAB = "https://colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks"
INSTALL = '%pip install -q "trl_explore[quantization] @ git+https://github.com/trl-explore/trl_explore"'


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


def header(title: str, filename: str, intro: str) -> nbformat.NotebookNode:
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({COLAB}/{filename})"
    return md(f"# {title}\n\n{badge}\n\n{textwrap.dedent(intro).strip()}")


SETUP_MD = md(
    """
    ## Setup

    On Colab pick a GPU runtime (*Runtime → Change runtime type → T4 GPU*). The cell below installs `trl_explore`
    from its repository (skipped when it is already installed). No Hugging Face login is needed: the model and data
    are public, and pushing the result to the Hub is off (`PUSH_TO_HUB = False`).

    *Smoke mode*: with the environment variable `TRL_EXPLORE_SMOKE=1` the notebook uses the offline toy model and
    synthetic data of `trl_explore.toy`, a few steps on CPU — this is how the test-suite runs it.
    """
)

SETUP = code(
    f"""
    import importlib.util
    import os

    SMOKE = os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"
    if not SMOKE and importlib.util.find_spec("trl_explore") is None:
        {INSTALL}
    """
)

DEVICE = code(
    """
    import json
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if SMOKE:
        torch.set_num_threads(1)  # the toy model's matmuls are tiny: one thread is fastest

    HAS_GPU = torch.cuda.is_available() and not SMOKE
    USE_BF16 = HAS_GPU and torch.cuda.is_bf16_supported()  # False on a T4
    USE_FP16 = HAS_GPU and not USE_BF16  # a T4 trains in fp16 mixed precision
    # Weights: bf16 where supported; on a T4 float32 weights + fp16 autocast (fp16 weights can overflow in Qwen2.5
    # and cannot be trained under fp16's gradient scaler).
    DTYPE = torch.bfloat16 if USE_BF16 else torch.float32
    PUSH_TO_HUB = False  # True (after `huggingface_hub.notebook_login()`) uploads the trained adapter
    print(f"smoke={SMOKE} gpu={HAS_GPU} bf16={USE_BF16} fp16={USE_FP16}")
    if not SMOKE and not HAS_GPU:
        print("No GPU found: this will be very slow. On Colab: Runtime -> Change runtime type -> T4 GPU.")
    """
)

HISTORY = code(
    """
    import math


    def series(log_history, key):
        \"\"\"(steps, values) of a logged metric, skipping entries where it is missing or not finite.\"\"\"
        steps, values = [], []
        for entry in log_history:
            value = entry.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value) and "step" in entry:
                steps.append(entry["step"])
                values.append(float(value))
        return steps, values
    """
)


# ----------------------------------------------------------------------------------------------------------------------
# 1. Lp-Reg GRPO quickstart
# ----------------------------------------------------------------------------------------------------------------------
def lp_reg_quickstart() -> nbformat.NotebookNode:
    filename = "lp_reg_quickstart.ipynb"
    cells = [
        header(
            "Quickstart: Lp-Reg GRPO with LoRA on GSM8K",
            filename,
            """
            [Lp-Reg](https://arxiv.org/abs/2510.03222) keeps GRPO exploring: on negative-advantage samples it
            shields the rare low-probability "reasoning spark" tokens with a KL to a min-p-filtered proxy of the
            policy, so they are not driven to zero. `trl_explore.trainers.LpRegGRPOTrainer` is TRL's `GRPOTrainer`
            with that component switched on and `LpRegConfig` carries the released recipe's defaults
            (κ = 0.02, ρ = 1%, β = 1, clip ratio in [0, 10], no reference KL, token-mean loss).

            This notebook trains `Qwen/Qwen2.5-0.5B-Instruct` with LoRA on GSM8K, grades completions with the safe
            math reward `trl_explore.rewards.math_accuracy_reward` (last `\\boxed{}` answer vs. the gold answer),
            watches exploration with `ExplorationDiagnosticsCallback` and plots reward, entropy and the `lp_reg/*`
            metrics. About 40 minutes on a T4.
            """,
        ),
        SETUP_MD,
        SETUP,
        DEVICE,
        md(
            """
            ## Settings

            The real run: 2 prompts × 8 completions per micro-batch, 2 accumulation steps (32 completions per
            optimizer step), completions of up to 320 tokens, LoRA r = 32 on every linear layer. LoRA wants a larger
            learning rate than the recipe's full fine-tuning `1e-6`. `LOAD_IN_4BIT = True` switches to QLoRA
            (bitsandbytes) for a larger model; TRL keeps QLoRA adapters in bf16, which a T4 only emulates, so plain
            LoRA is the better choice for this 0.5B model.
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            ## Data and reward

            GSM8K's gold answers end in `#### 42`; `trl_explore.evaluation.gold_to_solution` brings them to the
            `\\boxed{42}` form the reward grades. The reward is checked on a correct and an unanswered completion.
            """
        ),
        code(
            r"""
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
            """
        ),
        md(
            """
            ## Model and LoRA

            In smoke mode the model is the toy kit's tiny Qwen2, warm-started by a short SFT on the arithmetic task
            (cached under `toy_cache/`).
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            ## Train

            `LpRegConfig` is a `GRPOConfig`: every TRL option works. `ExplorationDiagnosticsCallback` logs the share
            of sampled tokens with probability below 0.1 / 0.01 and the probability of "spark" words
            (*wait*, *however*, *perhaps*, ...) from the training forward, at no extra cost.
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            ## Plot the run

            `reward`, `entropy` and `clip_ratio/*` are TRL's metrics; `lp_reg/frac_selected` is the share of tokens
            the regulariser acted on, `lp_reg/kept_mass` the probability mass the min-p proxy keeps, and
            `lp_reg/k3_mean` the mean KL estimate on the selected tokens. Missing points mean the metric was
            undefined at that step (for example no negative-advantage tokens selected).
            """
        ),
        HISTORY,
        code(
            """
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
            """
        ),
        md("## Try the trained model"),
        code(
            """
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
            """
        ),
        md("## Save (and optionally push)"),
        code(
            """
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
            """
        ),
    ]
    return _notebook(cells)


# ----------------------------------------------------------------------------------------------------------------------
# 2. Rank-aware SFT
# ----------------------------------------------------------------------------------------------------------------------
def rank_aware_sft() -> nbformat.NotebookNode:
    filename = "rank_aware_sft.ipynb"
    cells = [
        header(
            "Rank-aware SFT: cross-entropy vs. the precision prior (β = −0.25)",
            filename,
            """
            [Rank-aware next-token prediction](https://arxiv.org/abs/2512.22955) reads cross-entropy as a policy
            gradient with a reward on the ground-truth token and changes that reward: per token
            `L = − sg(w) · log p_x − λ_high · P(K \\ {x}) − λ_low · P(tail)` with `w = p_x^(1 − (1 − p_x)^β)`.
            β < 0 (the paper's best, "precision") concentrates probability mass — lower next-token entropy, a
            sharper starting point for RL; β = 0 is exactly cross-entropy.

            `trl_explore.trainers.rank_aware_trainer.RankAwareSFTTrainer` is TRL's `SFTTrainer` with that loss
            (a fused kernel that never builds the `[tokens, vocab]` logits). This notebook fine-tunes
            `Qwen/Qwen2.5-0.5B-Instruct` with LoRA on GSM8K solutions twice — cross-entropy and β = −0.25 — and
            compares the next-token entropy during training and on held-out solutions. About 25 minutes on a T4.
            """,
        ),
        SETUP_MD,
        SETUP,
        DEVICE,
        md("## Settings"),
        code(
            """
            if SMOKE:
                MODEL_NAME = None  # the toy model, warm-started below
                MAX_STEPS, BATCH_SIZE, GRAD_ACCUM = 6, 16, 1
                LEARNING_RATE = 3e-3
                LORA_R = 8
                TOP_K = 10  # the toy vocabulary has ~100 tokens; k = 100 would leave no tail
                MAX_LENGTH = 128
                NUM_TRAIN, NUM_EVAL = 96, 16
            else:
                MODEL_NAME = "Qwen/Qwen2.5-0.5B-Instruct"
                MAX_STEPS, BATCH_SIZE, GRAD_ACCUM = 150, 8, 2
                LEARNING_RATE = 1e-4
                LORA_R = 16
                TOP_K = 100  # the paper's head-set size (only used by the λ terms, which stay 0 here)
                MAX_LENGTH = 512
                NUM_TRAIN, NUM_EVAL = None, 64
            OUTPUT_DIR = "rank_aware_sft"
            # One config change per loss: the paper's presets live in RANK_AWARE_PRESETS.
            LOSSES = {"cross_entropy": {"rank_aware_beta": 0.0}, "precision (β = −0.25)": {"rank_aware_beta": -0.25}}
            """
        ),
        md(
            """
            ## Data

            Prompt-completion rows: the question as the user turn, the worked solution (its `#### 42` turned into
            `\\boxed{42}`) as the assistant turn; the loss is on the completion only.
            """
        ),
        code(
            r"""
            import re

            from datasets import load_dataset

            if SMOKE:
                from trl_explore.toy import make_arithmetic_dataset

                train_dataset = make_arithmetic_dataset(NUM_TRAIN, seed=1).select_columns(["prompt", "completion"])
                eval_dataset = make_arithmetic_dataset(NUM_EVAL, seed=2).select_columns(["prompt", "completion"])
            else:
                gsm8k = load_dataset("openai/gsm8k", "main")

                def to_prompt_completion(row):
                    answer = row["answer"].split("####")[-1].replace(",", "").strip()
                    solution = re.sub(r"\s*####.*$", "", row["answer"]) + f"\nThe answer is \\boxed{{{answer}}}."
                    return {
                        "prompt": [{"role": "user", "content": row["question"]}],
                        "completion": [{"role": "assistant", "content": solution}],
                    }

                train_dataset = gsm8k["train"].map(to_prompt_completion, remove_columns=gsm8k["train"].column_names)
                if NUM_TRAIN is not None:
                    train_dataset = train_dataset.select(range(NUM_TRAIN))
                eval_dataset = gsm8k["test"].select(range(NUM_EVAL))
                eval_dataset = eval_dataset.map(to_prompt_completion, remove_columns=eval_dataset.column_names)
            print(train_dataset[0])
            """
        ),
        md("## Train both losses from the same start"),
        code(
            """
            import gc

            from peft import LoraConfig
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from trl_explore.trainers.rank_aware_config import RankAwareSFTConfig
            from trl_explore.trainers.rank_aware_trainer import RankAwareSFTTrainer

            if SMOKE:
                from trl_explore.toy import warm_start

                MODEL_PATH = str(warm_start(task="arithmetic", max_steps=30, cache_dir="toy_cache", num_eval_prompts=0))
            else:
                MODEL_PATH = MODEL_NAME
            tokenizer = AutoTokenizer.from_pretrained(MODEL_PATH)
            peft_config = LoraConfig(
                r=LORA_R, lora_alpha=2 * LORA_R, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
            )

            runs = {}
            for name, overrides in LOSSES.items():
                torch.manual_seed(0)
                model = AutoModelForCausalLM.from_pretrained(MODEL_PATH, dtype=DTYPE)
                config = RankAwareSFTConfig(
                    output_dir=f"{OUTPUT_DIR}/{name.split()[0]}",
                    max_steps=MAX_STEPS,
                    per_device_train_batch_size=BATCH_SIZE,
                    gradient_accumulation_steps=GRAD_ACCUM,
                    learning_rate=LEARNING_RATE,
                    lr_scheduler_type="cosine",
                    warmup_steps=max(1, MAX_STEPS // 20),
                    max_length=MAX_LENGTH,
                    completion_only_loss=True,
                    rank_aware_top_k=TOP_K,
                    logging_steps=1,
                    save_strategy="no",
                    report_to="none",
                    bf16=USE_BF16,
                    fp16=USE_FP16,
                    use_cpu=not HAS_GPU,
                    seed=0,
                    disable_tqdm=SMOKE,
                    **overrides,
                )
                trainer = RankAwareSFTTrainer(
                    model=model, args=config, train_dataset=train_dataset, processing_class=tokenizer, peft_config=peft_config
                )
                trainer.train()
                runs[name] = trainer
                print(f"{name}: done, {trainer.state.global_step} steps")
            """
        ),
        md(
            """
            ## Held-out next-token entropy

            Teacher-forced on the held-out reference solutions: the mean entropy of the model's next-token
            distribution over the completion tokens (`trl_explore.functional.rank_aware.rank_aware_token_stats`).
            """
        ),
        code(
            """
            from trl_explore.functional.rank_aware import rank_aware_token_stats
            from trl_explore.toy.warm_start import tokenize_prompt_completion

            eval_tokens = tokenize_prompt_completion(eval_dataset, tokenizer, max_length=MAX_LENGTH)


            @torch.no_grad()
            def heldout_stats(model):
                model.eval()
                entropy_sum, top1_sum, count = 0.0, 0.0, 0
                for row in eval_tokens:
                    ids = torch.tensor([row["input_ids"]], device=model.device)
                    labels = torch.tensor([row["labels"]], device=model.device)
                    logits = model(input_ids=ids).logits[:, :-1].float()
                    stats = rank_aware_token_stats(logits, labels[:, 1:], top_k=TOP_K)
                    entropy_sum += stats["entropy"].sum().item()
                    top1_sum += stats["is_top1"].sum().item()
                    count += int(stats["mask"].sum())
                return {"entropy": entropy_sum / max(count, 1), "top1_accuracy": top1_sum / max(count, 1)}


            results = {name: heldout_stats(trainer.model) for name, trainer in runs.items()}
            for name, stats in results.items():
                print(f"{name:>24}: held-out entropy {stats['entropy']:.3f} nats, top-1 accuracy {stats['top1_accuracy']:.3f}")
            """
        ),
        md("## Plot"),
        HISTORY,
        code(
            """
            import matplotlib.pyplot as plt

            fig, axes = plt.subplots(1, 3, figsize=(15, 4))
            for name, trainer in runs.items():
                for ax, key in zip(axes[:2], ("rank_aware/entropy", "mean_token_accuracy")):
                    steps, values = series(trainer.state.log_history, key)
                    ax.plot(steps, values, label=name)
            axes[0].set_title("training next-token entropy (nats)")
            axes[1].set_title("training top-1 token accuracy")
            for ax in axes[:2]:
                ax.set_xlabel("step")
                ax.legend()
            names = list(results)
            axes[2].bar(range(len(names)), [results[n]["entropy"] for n in names], color=["C0", "C1"][: len(names)])
            axes[2].set_xticks(range(len(names)), names)
            axes[2].set_title("held-out next-token entropy (nats)")
            fig.tight_layout()
            fig.savefig("rank_aware_entropy.png", dpi=100)
            plt.show()
            """
        ),
        md(
            """
            The paper's claim is that β < 0 ends with lower entropy than cross-entropy (and keeps a better pass@k
            for the RL that follows); check the numbers above rather than assuming it — a short LoRA run can be too
            small to show it.
            """
        ),
        code(
            """
            for trainer in runs.values():
                trainer.save_model(trainer.args.output_dir)
                if PUSH_TO_HUB:
                    trainer.push_to_hub()

            SUMMARY = {
                name: {
                    **results[name],
                    "steps": trainer.state.global_step,
                    "last_train_entropy": (series(trainer.state.log_history, "rank_aware/entropy")[1] or [None])[-1],
                }
                for name, trainer in runs.items()
            }
            with open("rank_aware_summary.json", "w") as f:
                json.dump(SUMMARY, f, indent=2)
            print(json.dumps(SUMMARY, indent=2))
            del runs
            gc.collect()
            """
        ),
    ]
    return _notebook(cells)


# ----------------------------------------------------------------------------------------------------------------------
# 3. Fourier head
# ----------------------------------------------------------------------------------------------------------------------
def fourier_head() -> nbformat.NotebookNode:
    filename = "fourier_head.ipynb"
    cells = [
        header(
            "Fourier head: smooth distributions over ordered bins",
            filename,
            """
            The [Fourier head](https://arxiv.org/abs/2410.22269) (Gillman et al., ICLR 2025) replaces
            `nn.Linear(d, m)` when the `m` classes are ordered bins of a continuous quantity: it predicts the
            coefficients of a Fourier series, i.e. a smooth density on [-1, 1], and reads the bin probabilities off
            it. `trl_explore.modules.fourier_head.FourierHead` is the layer; `trl_explore.metrics.smoothness` holds
            the paper's smoothness metric and the KL to a target pmf.

            Part 1 reproduces the paper's toy experiment (gaussian and gmm2 data, linear vs. Fourier head) and plots
            the learned pmfs. Part 2 puts a numeric-token Fourier head on a small LM
            (`trl_explore.modules.numeric_head`): the distribution over the digit tokens becomes smooth. About
            15 minutes on a T4 (part 1 runs on the CPU).
            """,
        ),
        SETUP_MD,
        SETUP,
        DEVICE,
        md(
            """
            ## Part 1 — the toy experiment

            `x ~ U(−0.8, 0.8)`; *gaussian*: `y ~ N(x, 0.01)`, `z ~ N(y, 0.01)`; *gmm2*: `y ~ U(−0.8, 0.8)`,
            `z ~ ½ N(x, 0.01) + ½ N(y, 0.01)` (variances). An MLP 2 → 64 → 32 → head reads `(x, y)` and predicts
            `z`'s bin among m = 50 (cross-entropy, Adam 1e-3, batch 32). The test metric is KL(true pmf ‖ predicted)
            (the true density at the bin centres, normalised) and the smoothness `s(P)` (lower is smoother).
            The paper (500 epochs, 4 seeds, N = 12) reports KL 0.170 → 0.116 and smoothness 0.116 → 0.057 on
            gaussian, KL 0.238 → 0.146 and smoothness 0.068 → 0.038 on gmm2 (linear → Fourier).
            """
        ),
        code(
            """
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
                \"\"\"[n, 3] samples (x, y, z) of the named dataset.\"\"\"
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
                \"\"\"The true conditional density at the bin centres, normalised per row: [R, 2] -> [R, m].\"\"\"

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
                        if isinstance(head, FourierHead):
                            loss = loss + head.pop_regularization_loss()
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
            """
        ),
        code(
            """
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
            """
        ),
        md(
            """
            ## Part 2 — a numeric-token Fourier head on a language model

            `attach_numeric_head(model, number_token_ids, num_frequencies)` replaces the LM head by a
            `FourierNumericHead`: in the default *hybrid* mode the total probability of the number tokens (here the
            digits 0–9, one token each in Qwen's vocabulary) still comes from the LM head, but its shape across the
            digits is a Fourier density. The task: `"a=0.12 b=0.53 mean:"` → the digit of the bin of `(a + b) / 2`.
            We fine-tune with LoRA twice — plain LM head vs. numeric Fourier head (`modules_to_save` trains the head
            fully) — and compare the digit distributions. `add_fourier_regularization(trainer)` adds the smoothness
            penalty `γ ∫|f'|²` to the loss and logs `fourier/*` metrics.
            """
        ),
        code(
            """
            from datasets import Dataset
            from peft import LoraConfig
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from trl import SFTConfig, SFTTrainer

            from trl_explore.modules.numeric_head import attach_numeric_head, numeric_head_modules_to_save
            from trl_explore.trainers.fourier_integration import add_fourier_regularization

            DIGITS = [str(d) for d in range(10)]
            if SMOKE:
                LM_STEPS, LM_BATCH, LM_LR, LM_SAMPLES, LM_FREQUENCIES = 6, 16, 3e-3, 128, 4
            else:
                LM_STEPS, LM_BATCH, LM_LR, LM_SAMPLES, LM_FREQUENCIES = 300, 16, 2e-4, 4800, 4


            def mean_task(n, seed):
                \"\"\"'a=0.12 b=0.53 mean:' -> the digit token of the bin of (a + b) / 2 (10 bins of [0, 1]).\"\"\"
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
                modules_to_save = None
                if kind == "fourier":
                    attach_numeric_head(model, digit_ids, LM_FREQUENCIES, regularization_gamma=1e-6)
                    modules_to_save = numeric_head_modules_to_save(model)
                lora = LoraConfig(
                    r=16, lora_alpha=32, target_modules="all-linear", modules_to_save=modules_to_save, task_type="CAUSAL_LM"
                )
                args = SFTConfig(
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
                )
                trainer = SFTTrainer(model=model, args=args, train_dataset=lm_train, processing_class=tokenizer, peft_config=lora)
                if kind == "fourier":
                    add_fourier_regularization(trainer)
                trainer.train()
                lm_runs[kind] = (trainer, tokenizer, digit_ids)
            """
        ),
        code(
            """
            @torch.no_grad()
            def digit_pmfs(trainer, tokenizer, digit_ids, prompts):
                \"\"\"[len(prompts), 10]: the next-token distribution restricted to the digits, renormalised.\"\"\"
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
            """
        ),
        code(
            """
            trainer, _, _ = lm_runs["fourier"]
            fourier_logged = sorted({k for entry in trainer.state.log_history for k in entry if k.startswith("fourier/")})
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
            """
        ),
    ]
    return _notebook(cells)


# ----------------------------------------------------------------------------------------------------------------------
# 4. Relative negative gradients + pass@k
# ----------------------------------------------------------------------------------------------------------------------
def relative_negative_gradients() -> nbformat.NotebookNode:
    filename = "relative_negative_gradients.ipynb"
    cells = [
        header(
            "Relative negative gradients and the capability boundary (pass@k)",
            filename,
            """
            RL with verifiable rewards tends to over-exploit: pass@1 rises while pass@k at large k — what the model
            can solve at all — shrinks. Training on the negative samples only ([NSR](https://arxiv.org/abs/2506.01347)),
            down-weighting the positives (W-REINFORCE, λ = 0.1) or keeping only relative-negative advantages
            ([GRPO-N](https://arxiv.org/abs/2510.04028)) is reported to keep large-k pass@k near the base model.

            This notebook trains the same start with each advantage mode the installed `trl_explore` supports and
            tracks the pass@1 … pass@k curve on held-out prompts with `trl_explore.callbacks.pass_at_k.PassAtKCallback`.
            A method is one config change (`advantage_mode` on `ExploreGRPOConfig`); when the installed version has no
            advantage modes yet, the notebook runs plain GRPO only and says so. About 30 minutes per method on a T4.
            """,
        ),
        SETUP_MD,
        SETUP,
        DEVICE,
        md("## Settings"),
        code(
            """
            if SMOKE:
                MODEL_NAME = None  # the toy model, warm-started on countdown below
                MAX_STEPS, PROMPTS_PER_MICRO_BATCH, NUM_GENERATIONS, GRAD_ACCUM = 3, 2, 4, 1
                MAX_COMPLETION_LENGTH = 32
                LEARNING_RATE = 1e-3
                LORA_R = 8
                NUM_TRAIN_PROMPTS, NUM_EVAL_PROMPTS, K, EVAL_STEPS = 64, 6, 4, 3
                EVAL_TEMPERATURE, EVAL_TOP_P, EVAL_BATCH = 1.0, 1.0, 8
            else:
                MODEL_NAME = "Qwen/Qwen2.5-0.5B-Instruct"
                MAX_STEPS, PROMPTS_PER_MICRO_BATCH, NUM_GENERATIONS, GRAD_ACCUM = 60, 2, 8, 2
                MAX_COMPLETION_LENGTH = 320
                LEARNING_RATE = 2e-5
                LORA_R = 32
                NUM_TRAIN_PROMPTS, NUM_EVAL_PROMPTS, K, EVAL_STEPS = None, 64, 16, 20
                EVAL_TEMPERATURE, EVAL_TOP_P, EVAL_BATCH = 0.6, 0.95, 8  # the NSR paper's evaluation sampling
            OUTPUT_DIR = "relative_negative_gradients"
            SEED = 0
            """
        ),
        md(
            """
            ## Which methods this installation supports

            Every run gets the same budget from `make_config`; a method is only its `overrides` (GRPO needs none, NSR
            is `advantage_mode="nsr"`, ...). The relative-negative modes need the `advantage_mode` field of
            `ExploreGRPOConfig`; a mode is kept only when the installed config accepts it with this budget.
            """
        ),
        code(
            """
            import dataclasses

            from trl_explore.trainers import ExploreGRPOConfig, ExploreGRPOTrainer

            CANDIDATES = {
                "grpo": {},
                "grpo_n": {"advantage_mode": "grpo_n"},
                "nsr": {"advantage_mode": "nsr"},
                "w_reinforce": {"advantage_mode": "w_reinforce"},  # λ = positive_weight, 0.1 by default
                "psr": {"advantage_mode": "psr"},
                # one more method = one more entry, e.g. "gspo_n": {"advantage_mode": "gspo_n"}
            }
            HAS_ADVANTAGE_MODES = "advantage_mode" in {f.name for f in dataclasses.fields(ExploreGRPOConfig)}


            def make_config(name, **overrides):
                \"\"\"The shared budget of every run; `overrides` is what defines the method.\"\"\"
                return ExploreGRPOConfig(
                    output_dir=f"{OUTPUT_DIR}/{name}",
                    max_steps=MAX_STEPS,
                    per_device_train_batch_size=PROMPTS_PER_MICRO_BATCH * NUM_GENERATIONS,
                    gradient_accumulation_steps=GRAD_ACCUM,
                    num_generations=NUM_GENERATIONS,
                    max_completion_length=MAX_COMPLETION_LENGTH,
                    learning_rate=LEARNING_RATE,
                    lr_scheduler_type="constant",
                    beta=0.0,
                    loss_type="dapo",
                    temperature=1.0,
                    logging_steps=1,
                    save_strategy="no",
                    report_to="none",
                    bf16=USE_BF16,
                    fp16=USE_FP16,
                    use_cpu=not HAS_GPU,
                    seed=SEED,
                    disable_tqdm=SMOKE,
                    **overrides,
                )


            METHODS, UNSUPPORTED = {}, {}
            for name, overrides in CANDIDATES.items():
                if overrides and not HAS_ADVANTAGE_MODES:
                    UNSUPPORTED[name] = "this trl_explore version has no `advantage_mode` yet"
                    continue
                try:
                    make_config(name, **overrides)  # the installed config validates the mode and its settings
                except (TypeError, ValueError) as err:
                    UNSUPPORTED[name] = str(err)
                    continue
                METHODS[name] = overrides
            print("methods to run:", list(METHODS))
            for name, why in UNSUPPORTED.items():
                print(f"  skipped {name}: {why}")
            """
        ),
        md("## Data, reward and model"),
        code(
            """
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
                SYSTEM_PROMPT = "Solve the math problem step by step. Put the final answer in \\\\boxed{}."
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
            """
        ),
        md(
            """
            ## Train every method from the same start

            Same seed, data order and budget for each; only the config overrides differ. `PassAtKCallback`
            evaluates before training, every `EVAL_STEPS` steps and at the end, and writes
            `<output_dir>/pass_at_k.csv`.
            """
        ),
        code(
            """
            import gc
            import time

            from trl_explore.callbacks.pass_at_k import PassAtKCallback

            runs = {}
            for name, overrides in METHODS.items():
                torch.manual_seed(SEED)
                model, tokenizer = load_model()
                config = make_config(name, **overrides)
                pass_at_k = PassAtKCallback(
                    eval_dataset,
                    REWARD,
                    k=K,
                    eval_steps=EVAL_STEPS,
                    temperature=EVAL_TEMPERATURE,
                    top_p=EVAL_TOP_P,
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
                    "log_history": trainer.state.log_history,
                    "seconds": time.perf_counter() - start,
                }
                print(name, "start:", pass_at_k.history[0], "end:", pass_at_k.history[-1])
                del trainer, model
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            """
        ),
        md("## The capability boundary"),
        HISTORY,
        code(
            """
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
            """
        ),
        md(
            """
            The claim to check: negative-only training (NSR, GRPO-N) and W-REINFORCE keep pass@k at large k near
            the start while GRPO and PSR lose some of it. Read the table for what this run shows — a short run on a
            small model can go either way.
            """
        ),
        code(
            """
            SUMMARY = {
                "methods": list(METHODS),
                "has_advantage_modes": HAS_ADVANTAGE_MODES,
                "unsupported": UNSUPPORTED,
                "k": K,
                "table": TABLE,
            }
            with open("relative_negative_gradients_summary.json", "w") as f:
                json.dump(SUMMARY, f, indent=2)
            print(json.dumps(SUMMARY, indent=2))
            """
        ),
    ]
    return _notebook(cells)


# ----------------------------------------------------------------------------------------------------------------------
def _notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata = {
        "accelerator": "GPU",
        "colab": {"provenance": [], "gpuType": "T4"},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(nb.cells):  # stable ids, so a rebuild without changes is byte-identical
        cell["id"] = f"cell-{i:02d}"
    return nb


NOTEBOOKS = {
    "lp_reg_quickstart.ipynb": lp_reg_quickstart,
    "rank_aware_sft.ipynb": rank_aware_sft,
    "fourier_head.ipynb": fourier_head,
    "relative_negative_gradients.ipynb": relative_negative_gradients,
}


def render(builder) -> str:
    nb = builder()
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def content(nb: nbformat.NotebookNode) -> tuple:
    """What a notebook says (cell types and sources, metadata), independent of the nbformat writer's version."""
    return [(cell.cell_type, cell.source) for cell in nb.cells], dict(nb.metadata)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for filename, builder in NOTEBOOKS.items():
        path = HERE / filename
        if args.check:
            if not path.exists() or content(nbformat.read(path, as_version=4)) != content(builder()):
                stale.append(filename)
        else:
            path.write_text(render(builder))
    if stale:
        sys.stderr.write(f"out of date (run python notebooks/_build.py): {', '.join(stale)}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
