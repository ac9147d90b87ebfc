r"""Two short LoRA fine-tunes of a real chat model, SmolLM2-135M-Instruct (float32, CPU), each method against TRL's
`SFTTrainer` with >= 3 paired seeds (issue 27 §3). Within a seed the two arms share the training data and order, the
LoRA initialisation and the evaluation's sampling seed; only the method differs.

**(a) Rank-aware SFT vs TRL's SFT** (Wu et al., "Diversity or Precision? A Deep Dive into Next Token Prediction",
arXiv 2512.22955). `RankAwareSFTTrainer` with the paper's **precision** preset (``rank_aware_beta=-0.25``, λ_high =
λ_low = 0; its best prior, chosen before any run) against `trl.SFTTrainer` (cross-entropy). The diversity preset
(β = 0.5) is not run: the paper reports it as worse, and a third arm would not fit the time budget. Task: English
one-step word problems (`trl_explore.toy.sample_word_problems`; the user message is the question plus "Think step by
step, then give the final answer as a number in \boxed{}."), rendered with the model's ChatML template (its default
system prompt included). SFT target, a short worked answer: ``"15 - 3 = 12. The final answer is \boxed{12}."``.
Training problems: a pool of 200 (seed 1000, minus any question also held out); held out: the first
``--a_problems`` of `make_word_problem_dataset(seed=0)`. Metric: held-out pass@k, k in {1, 2, 4, 8}, by the unbiased
estimator (`trl_explore.functional.pass_at_k`) from n = ``--a_samples`` samples per problem at temperature 1 (no
top-k / top-p; the paper gives no other evaluation temperature for pass@k), graded by
`make_math_reward(extractors=("boxed", "final_answer"))` (the trained format). The base model (no fine-tune) is
evaluated the same way once (sampling seed 0), for reference.

**(b) Fourier numeric head vs the plain head** (Gillman et al., "Fourier Head", ICLR 2025, arXiv 2410.22269).
`FourierSFTTrainer` with a hybrid `FourierNumericHead` over the default digit tokens "0"-"9" (N = 4 frequencies, the
config default; γ = 1e-6, the paper's) against `trl.SFTTrainer` on the same data. Task, a numeric regression in
English with a one-digit bin answer: "What is the first digit after the decimal point of the average of 0.12 and
0.53? Answer with a single digit." -> "3" (the operands are uniform hundredths, so the digit is the bin of the mean
in 10 equal bins, ``(x + y) // 20`` in hundredths: exact integer arithmetic). 400 training rows (seed 1000), ``--b_eval``
held-out rows (seed 2000). Metrics on the held-out rows, from the next-token distribution at the answer position:
mean absolute error in bins of the argmax digit and of the expected digit (both under the distribution renormalised
over the 10 digit tokens), and the NLL of the correct digit under the model's full distribution.

Fixed choices (all made before the evaluation runs, none changed after):

- LoRA r = 16, alpha = 32, dropout 0, ``target_modules="all-linear"`` (PEFT leaves the LM head out), the same
  `LoraConfig` for every arm. In (b) the Fourier arm trains its whole LM head (`FourierSFTTrainer` puts the numeric
  head in ``modules_to_save``, untied from the input embeddings); so that only the head's form differs, the plain arm
  gets the same: its LM head is untied (cloned) and in ``modules_to_save``. The numeric head is attached by the script
  (`attach_numeric_head`, digits, N = 4, hybrid: what ``fourier_head_number_tokens`` would attach) before the seed is
  set, so its random init does not shift the LoRA init: both arms draw the same LoRA matrices.
- Learning rates, one per question and the same for both arms (the papers compare losses at one recipe): (a) 1e-3,
  (b) 5e-4, AdamW, TRL's linear decay, no warmup, no gradient checkpointing. LoRA's usual range is 1e-4 .. 1e-3; the
  top end because the runs are a few dozen examples long. Not tuned on the evaluation: one pilot of the two TRL arms
  alone at these settings with seed 100 (not one of the evaluation seeds; ``train_arm`` + the evaluations of this
  script, called from a scratch driver) checked only that the format is learned and measured the time.
- Seeds 0, 1, 2 (``--seeds``): seed s sets the LoRA init, the training order (which of the pool's rows a run sees)
  and the evaluation's sampling seed.
- Sizes, for <= 30 minutes on an idle 2-core machine at one torch thread: measured here, a LoRA forward + backward
  costs ~1.2 CPU-s per 110-token sequence, a prompt prefill ~0.3 s, a sampled token ~9 ms per row. (a) 10 steps of
  batch 4 (40 examples), 24 held-out problems x 8 samples, at most 40 new tokens (each prompt prefilled once, its 8
  samples share the cache, finished rows leave the batch); (b) 48 steps of batch 4 (192 examples of ~55 tokens), 64
  held-out rows. The pilot (seed 100, TRL arms) measured (a) 43 CPU-s of training + 41 of evaluation per arm (pass@1
  0.71, pass@8 0.92: solvable sometimes, not saturated) and (b) 57 CPU-s per arm at 24 steps, whose held-out bin
  error (argmax MAE 2.1) was still worse than always answering the middle bin, so (b) got 48 steps (~115 CPU-s per
  arm). Total: 12 trainings + 13 evaluations, ~1,300 CPU-s (~22 minutes idle).

    python benchmarks/real_model_sft.py --json benchmarks/real_results/sft.json     # both questions, seeds 0 1 2
    python benchmarks/real_model_sft.py --questions b --seeds 0 1 2 3 4               # one question, more seeds
    python benchmarks/real_model_sft.py --quick                                       # smoke: 1 seed, tiny sizes

Rows are appended to ``benchmarks/results.csv`` (``--csv``); per-seed values, means and paired 95 % t-intervals are
printed, and written with some completions to ``--json``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_rows, make_row  # noqa: E402
from _real import machine_note, paired_t_interval  # noqa: E402

DIGITS = [str(d) for d in range(10)]
KS = (1, 2, 4, 8)
A_ARMS = ("sft", "rank_aware")  # baseline first
B_ARMS = ("sft", "fourier")
B_METRICS = ("mae_argmax", "mae_expected", "nll")


def _output_cache(output):
    """The KV cache a forward returned (``output.cache`` in recent transformers 5 releases, else
    ``output.past_key_values``)."""
    cache = getattr(output, "cache", None)
    return output.past_key_values if cache is None else cache


def _log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------------------- data
def worked_answer(question: str, answer: int) -> str:
    """The SFT target of a word problem: ``"a op b = answer. The final answer is \\boxed{answer}."`` — the operands
    are the question's first two numbers (every template states them in that order), the operation the one that
    gives the answer (``+`` before ``-`` before ``*``: ``2 + 2`` and ``2 * 2`` read the same)."""
    a, b = (int(x) for x in re.findall(r"\d+", question)[:2])
    for op, value in (("+", a + b), ("-", a - b), ("*", a * b)):
        if value == answer:
            return f"{a} {op} {b} = {answer}. The final answer is \\boxed{{{answer}}}."
    raise AssertionError(f"no operation of {a} and {b} gives {answer}: {question!r}")  # a template bug


def word_problem_data(num_eval: int, pool: int = 200) -> tuple[Any, Any]:
    """``(train, held_out)``: conversational prompt-completion rows (worked answers) from ``pool`` problems of seed
    1000 minus the held-out questions, and the first ``num_eval`` rows of ``make_word_problem_dataset(seed=0)``."""
    from datasets import Dataset

    from trl_explore.toy.word_problems import (
        WORD_PROBLEM_INSTRUCTION,
        make_word_problem_dataset,
        sample_word_problems,
    )

    held_out = make_word_problem_dataset(num_eval, seed=0)
    seen = {row["prompt"][0]["content"] for row in held_out}
    rows = []
    for question, answer in sample_word_problems(pool, seed=1000):
        content = f"{question} {WORD_PROBLEM_INSTRUCTION}"
        if content not in seen:
            rows.append(
                {
                    "prompt": [{"role": "user", "content": content}],
                    "completion": [{"role": "assistant", "content": worked_answer(question, answer)}],
                }
            )
    return Dataset.from_list(rows), held_out


def mean_digit_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` rows of the numeric task: two numbers ``x, y`` of two decimals (uniform hundredths 0.00-0.99), the
    answer the first decimal digit of their average, ``(X + Y) // 20`` with ``X, Y`` in hundredths — the bin of the
    mean among 10 equal bins of [0, 1), computed in integers (no float rounding at the bin edges)."""
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x, y = rng.randrange(100), rng.randrange(100)
        question = (
            f"What is the first digit after the decimal point of the average of {x / 100:.2f} and {y / 100:.2f}? "
            "Answer with a single digit."
        )
        rows.append({"question": question, "bin": (x + y) // 20})
    return rows


def numeric_dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": r["question"]}],
                "completion": [{"role": "assistant", "content": DIGITS[r["bin"]]}],
            }
            for r in rows
        ]
    )


# ----------------------------------------------------------------------------------------------------- training
def load_model():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trl_explore.toy import pretrained_model_path

    path = pretrained_model_path()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer


def untie_lm_head(model) -> None:
    """Give the LM head its own copy of the (tied) embedding matrix, as `attach_numeric_head` does."""
    import torch

    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    for cfg in {
        id(model.config): model.config,
        id(model.config.get_text_config()): model.config.get_text_config(),
    }.values():
        cfg.tie_word_embeddings = False


def train_arm(question: str, arm: str, seed: int, dataset: Any, args: argparse.Namespace):
    """A fresh model, LoRA-fine-tuned by ``arm``; returns ``(model, tokenizer, seconds)``."""
    import torch
    from peft import LoraConfig
    from transformers import PrinterCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    from trl_explore.trainers import FourierSFTConfig, FourierSFTTrainer, RankAwareSFTConfig, RankAwareSFTTrainer

    start = time.perf_counter()
    model, tokenizer = load_model()
    lora = LoraConfig(
        r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    steps, lr = (args.a_steps, args.a_lr) if question == "a" else (args.b_steps, args.b_lr)
    common = dict(
        max_steps=steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        gradient_checkpointing=False,
        logging_steps=max(1, steps // 2),
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        seed=seed,
        data_seed=seed,
    )
    if question == "b":
        from trl_explore.modules.numeric_head import attach_numeric_head

        if arm == "fourier":
            ids = tokenizer.convert_tokens_to_ids(DIGITS)
            attach_numeric_head(model, ids, num_frequencies=4, mode="hybrid")  # random init: before the seed
        else:
            untie_lm_head(model)
            lora.modules_to_save = ["lm_head"]
    set_seed(seed)  # the LoRA init: the same draws in both arms
    with tempfile.TemporaryDirectory() as tmp:
        if arm == "sft":
            trainer = SFTTrainer(
                model=model, args=SFTConfig(output_dir=tmp, **common), train_dataset=dataset,
                processing_class=tokenizer, peft_config=lora,
            )  # fmt: skip
        elif arm == "rank_aware":
            trainer = RankAwareSFTTrainer(
                model=model, args=RankAwareSFTConfig(output_dir=tmp, rank_aware_beta=-0.25, **common),
                train_dataset=dataset, processing_class=tokenizer, peft_config=lora,
            )  # fmt: skip
        else:
            trainer = FourierSFTTrainer(
                model=model,
                args=FourierSFTConfig(output_dir=tmp, fourier_head_regularization_gamma=1e-6, **common),
                train_dataset=dataset, processing_class=tokenizer, peft_config=lora,
            )  # fmt: skip
        trainer.remove_callback(PrinterCallback)  # the loss logs are kept in the JSON, not printed
        trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    model = trainer.model
    model.eval()
    return model, tokenizer, time.perf_counter() - start, losses


# --------------------------------------------------------------------------------------------------- evaluation
def sample_completions(model, tokenizer, prompts: list[str], n: int, max_new_tokens: int, seed: int,
                       batch_size: int = 8) -> tuple[list[list[str]], list[int], int]:  # fmt: skip
    """``n`` samples per prompt at temperature 1 (the full distribution: no top-k / top-p). Each prompt is prefilled
    once and its ``n`` rows share the KV cache (`DynamicCache.batch_repeat_interleave`); a row that samples EOS
    leaves the batch (`batch_select_indices`). Returns ``(texts [P][n], token counts, rows cut by the budget)``."""
    import torch

    eos = tokenizer.eos_token_id
    generator = torch.Generator().manual_seed(seed)
    texts: list[list[str]] = []
    lengths: list[int] = []
    truncated = 0
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
            mask = enc["attention_mask"]
            position = (mask.cumsum(-1) - 1).clamp(min=0)
            out = model(
                input_ids=enc["input_ids"], attention_mask=mask, position_ids=position, use_cache=True,
                logits_to_keep=1,
            )  # fmt: skip
            cache = _output_cache(out)
            cache.batch_repeat_interleave(n)
            logits = out.logits[:, -1].float().repeat_interleave(n, 0)
            mask = mask.repeat_interleave(n, 0)
            next_position = position[:, -1].repeat_interleave(n, 0) + 1
            rows = len(chunk) * n
            tokens: list[list[int]] = [[] for _ in range(rows)]
            active = torch.arange(rows)
            for step in range(max_new_tokens):
                token = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1)
                for row, t in zip(active.tolist(), token.tolist()):
                    tokens[row].append(t)
                keep = token != eos
                if not keep.any():
                    break
                if step == max_new_tokens - 1:
                    truncated += int(keep.sum())
                    break
                if not keep.all():
                    index = keep.nonzero().squeeze(1)
                    cache.batch_select_indices(index)
                    active, token, mask, next_position = active[index], token[index], mask[index], next_position[index]
                mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
                out = model(
                    input_ids=token[:, None], attention_mask=mask, position_ids=next_position[:, None],
                    cache=cache, use_cache=True,
                )  # fmt: skip
                cache = _output_cache(out)
                logits = out.logits[:, -1].float()
                next_position = next_position + 1
            decoded = tokenizer.batch_decode(tokens, skip_special_tokens=True)
            texts.extend(decoded[i * n : (i + 1) * n] for i in range(len(chunk)))
            lengths.extend(len(t) for t in tokens)
    return texts, lengths, truncated


def evaluate_pass_at_k(model, tokenizer, held_out: Any, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    import numpy as np

    from trl_explore.functional.pass_at_k import pass_at_k
    from trl_explore.rewards import make_math_reward

    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model  # faster sampling
    prompts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in held_out["prompt"]]
    texts, lengths, truncated = sample_completions(
        merged, tokenizer, prompts, args.a_samples, args.a_max_new_tokens, seed
    )
    reward = make_math_reward(extractors=("boxed", "final_answer"))
    correct = []
    for samples, solution in zip(texts, held_out["solution"]):
        scores = reward(samples, [solution] * len(samples))
        correct.append(sum(1 for s in scores if s is not None and s >= 1.0))
    n = np.full(len(correct), args.a_samples)
    result = {f"pass@{k}": float(pass_at_k(n, np.asarray(correct), k).mean()) for k in args.ks}
    result.update(
        correct=correct,
        mean_tokens=float(np.mean(lengths)),
        truncated=truncated / len(lengths),
        examples=[texts[i][0] for i in range(min(3, len(texts)))],
    )
    return result


def evaluate_numeric(model, tokenizer, rows: list[dict[str, Any]], batch_size: int = 16) -> dict[str, Any]:
    """Bin error and NLL at the answer position (the first assistant token after the ChatML generation prompt)."""
    import torch

    ids = torch.tensor(tokenizer.convert_tokens_to_ids(DIGITS))
    prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": r["question"]}], tokenize=False,
                                      add_generation_prompt=True)
        for r in rows
    ]  # fmt: skip
    log_probs = []
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            enc = tokenizer(
                prompts[start : start + batch_size], return_tensors="pt", padding=True, padding_side="left",
                add_special_tokens=False,
            )  # fmt: skip
            mask = enc["attention_mask"]
            out = model(
                input_ids=enc["input_ids"], attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                logits_to_keep=1,
            )  # fmt: skip
            log_probs.append(torch.log_softmax(out.logits[:, -1].double(), -1)[:, ids])
    lp = torch.cat(log_probs)  # [E, 10] log-probabilities of the digits under the full distribution
    target = torch.tensor([r["bin"] for r in rows])
    q = torch.softmax(lp, -1)  # renormalised over the 10 digits
    bins = torch.arange(10, dtype=torch.float64)
    return {
        "mae_argmax": float((q.argmax(-1) - target).abs().double().mean()),
        "mae_expected": float(((q * bins).sum(-1) - target).abs().mean()),
        "nll": float(-lp.gather(1, target[:, None]).mean()),
        "digit_mass": float(lp.exp().sum(-1).mean()),
    }


# -------------------------------------------------------------------------------------------------------- report
def summarise(per_seed: dict[str, list[dict[str, Any]]], arms: tuple[str, str], metrics: list[str]) -> dict:
    baseline, method = arms
    return {m: paired_t_interval([r[m] for r in per_seed[method]], [r[m] for r in per_seed[baseline]]) for m in metrics}


def print_table(title: str, per_seed: dict, arms: tuple[str, str], metrics: list[str], seeds: list[int],
                summary: dict, base: dict | None) -> None:  # fmt: skip
    baseline, method = arms
    print(f"\n{title}")
    print(f"{'arm':<12}{'seed':>6}" + "".join(f"{m:>14}" for m in metrics))
    if base is not None:
        print(f"{'base model':<12}{'-':>6}" + "".join(f"{base[m]:>14.4f}" for m in metrics))
    for arm in arms:
        for seed, row in zip(seeds, per_seed[arm]):
            print(f"{arm:<12}{seed:>6}" + "".join(f"{row[m]:>14.4f}" for m in metrics))
        key = "mean_baseline" if arm == baseline else "mean_method"
        print(f"{arm:<12}{'mean':>6}" + "".join(f"{summary[m][key]:>14.4f}" for m in metrics))
    print(f"paired difference {method} - {baseline}, mean and 95 % t-interval over {len(seeds)} seeds:")
    for m in metrics:
        s = summary[m]
        print(f"  {m:<14}{s['diff']:+.4f}  [{s['low']:+.4f}, {s['high']:+.4f}]  excludes 0: {bool(s['excludes_zero'])}")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--questions", nargs="+", choices=["a", "b"], default=["a", "b"],
                   help="(a) rank-aware vs TRL's SFT, (b) Fourier vs plain head (default: both)")  # fmt: skip
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="paired seeds (default: %(default)s)")
    p.add_argument("--a_steps", type=int, default=10, help="(a) optimizer steps per run (default: %(default)s)")
    p.add_argument("--a_lr", type=float, default=1e-3, help="(a) learning rate, both arms (default: %(default)s)")
    p.add_argument("--a_problems", type=int, default=24, help="(a) held-out problems (default: %(default)s)")
    p.add_argument("--a_samples", type=int, default=8, help="(a) samples per problem, n (default: %(default)s)")
    p.add_argument("--a_max_new_tokens", type=int, default=40, help="(a) sampling budget (default: %(default)s)")
    p.add_argument("--b_steps", type=int, default=48, help="(b) optimizer steps per run (default: %(default)s)")
    p.add_argument("--b_lr", type=float, default=5e-4, help="(b) learning rate, both arms (default: %(default)s)")
    p.add_argument("--b_eval", type=int, default=64, help="(b) held-out rows (default: %(default)s)")
    p.add_argument("--batch_size", type=int, default=4, help="training batch size (default: %(default)s)")
    p.add_argument("--lora_r", type=int, default=16, help="LoRA rank (default: %(default)s)")
    p.add_argument("--lora_alpha", type=int, default=32, help="LoRA alpha (default: %(default)s)")
    p.add_argument("--skip_base", action="store_true", help="skip the base-model reference evaluations")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (pinned; default: %(default)s)")
    p.add_argument("--csv", default=None, help="tidy rows (default: benchmarks/results.csv)")
    p.add_argument("--json", default=None, help="write the numbers and a few completions as JSON here")
    p.add_argument("--quick", action="store_true", help="smoke test: seed 0, 2 steps, 2 problems x 4 samples, 8 rows")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.a_steps, args.b_steps, args.a_problems, args.a_samples = [0], 2, 2, 2, 4
        args.a_max_new_tokens, args.b_eval = 16, 8
    args.ks = [k for k in KS if k <= args.a_samples]
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    logging.getLogger("trl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    start, cpu0 = time.perf_counter(), _cpu_seconds()
    config = {k: v for k, v in vars(args).items() if k not in ("csv", "json")}
    config["model"] = "SmolLM2-135M-Instruct"
    result: dict[str, Any] = {"config": config, "machine_start": machine_note()}
    rows = []

    if "a" in args.questions:
        train, held_out = word_problem_data(args.a_problems)
        metrics = [f"pass@{k}" for k in args.ks]
        base = None
        if not args.skip_base:
            t0 = time.perf_counter()
            model, tokenizer = load_model()
            base = evaluate_pass_at_k(model.eval(), tokenizer, held_out, args, seed=0)
            _log(
                f"(a) base model: {', '.join(f'{m} {base[m]:.3f}' for m in metrics)} ({time.perf_counter() - t0:.0f} s)"
            )
            del model
        per_seed: dict[str, list[dict[str, Any]]] = {arm: [] for arm in A_ARMS}
        for seed in args.seeds:
            for arm in A_ARMS:
                model, tokenizer, seconds, losses = train_arm("a", arm, seed, train, args)
                t0 = time.perf_counter()
                res = evaluate_pass_at_k(model, tokenizer, held_out, args, seed=seed)
                res.update(train_seconds=seconds, eval_seconds=time.perf_counter() - t0, losses=losses)
                per_seed[arm].append(res)
                _log(f"(a) seed {seed} {arm}: {', '.join(f'{m} {res[m]:.3f}' for m in metrics)}, "
                     f"tokens {res['mean_tokens']:.1f}, cut {res['truncated']:.2f} "
                     f"(train {seconds:.0f} s, eval {res['eval_seconds']:.0f} s)")  # fmt: skip
                del model
        summary = summarise(per_seed, A_ARMS, metrics + ["mean_tokens"])
        print_table(
            f"(a) rank-aware (precision, beta = -0.25) vs TRL's SFTTrainer: held-out pass@k, {args.a_problems} "
            f"problems x {args.a_samples} samples at T = 1",
            per_seed, A_ARMS, metrics + ["mean_tokens"], args.seeds, summary,
            None if base is None else base,
        )  # fmt: skip
        result["a"] = {"base": base, "per_seed": per_seed, "summary": summary}
        cfg = {**config, "question": "a"}
        for m in metrics:
            rows.append(make_row("real_sft/rank_aware", m, "fraction", summary[m]["mean_method"],
                                 summary[m]["mean_baseline"], cfg))  # fmt: skip
            if base is not None:
                rows.append(make_row("real_sft/base_model", m, "fraction", base[m], None, cfg))

    if "b" in args.questions:
        train = numeric_dataset(mean_digit_rows(400, seed=1000))
        held_out = mean_digit_rows(args.b_eval, seed=2000)
        metrics = list(B_METRICS)
        base = None
        if not args.skip_base:
            model, tokenizer = load_model()
            base = evaluate_numeric(model.eval(), tokenizer, held_out)
            _log(f"(b) base model: {', '.join(f'{m} {base[m]:.3f}' for m in metrics)}")
            del model
        per_seed = {arm: [] for arm in B_ARMS}
        for seed in args.seeds:
            for arm in B_ARMS:
                model, tokenizer, seconds, losses = train_arm("b", arm, seed, train, args)
                res = evaluate_numeric(model, tokenizer, held_out)
                res.update(train_seconds=seconds, losses=losses)
                per_seed[arm].append(res)
                _log(f"(b) seed {seed} {arm}: {', '.join(f'{m} {res[m]:.3f}' for m in metrics)}, digit mass "
                     f"{res['digit_mass']:.3f} (train {seconds:.0f} s)")  # fmt: skip
                del model
        summary = summarise(per_seed, B_ARMS, metrics)
        print_table(
            f"(b) Fourier numeric head vs the plain head: {args.b_eval} held-out rows, bins 0-9",
            per_seed, B_ARMS, metrics, args.seeds, summary, base,
        )  # fmt: skip
        result["b"] = {"base": base, "per_seed": per_seed, "summary": summary}
        cfg = {**config, "question": "b"}
        for m in metrics:
            unit = "nats" if m == "nll" else "bins"
            rows.append(make_row("real_sft/fourier", m, unit, summary[m]["mean_method"], summary[m]["mean_baseline"],
                                 cfg))  # fmt: skip
            if base is not None:
                rows.append(make_row("real_sft/base_model", m, unit, base[m], None, cfg))

    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu0
    result.update(wall_s=wall, cpu_s=cpu, machine_end=machine_note())
    print(f"\nwall time {wall:.0f} s, {cpu:.0f} CPU-seconds; {machine_note()}")
    rows.append(make_row("real_sft", "wall_time", "s", wall, None, config))
    print(f"rows appended to {append_rows(rows, args.csv)}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
