"""Speed and memory of `answer_choice_mass` against the plain way of scoring multiple-choice questions, same run.

Baseline ("naive"): one forward per (prompt + choice) sequence — the choices of a batch of questions right-padded
together — keeping the full ``[B, T, V]`` logits and a float32 log-softmax over them, as a straightforward
implementation (or ``model(...).logits`` in a loop) does; the PMI premise the same way. Ours: one forward per
question batch to the answer position with ``logits_to_keep=1``, the choices' remaining tokens from the repeated KV
cache. Both produce the same choice log-probabilities (the script prints the largest difference).

Models: ``toy`` (the toy kit's 64-wide Qwen2, CPU) or ``qwen2.5-0.5b`` (a randomly initialised model of Qwen2.5-0.5B's
shape, V = 151936, built from a config in code: no download). The toy byte-level tokenizer is used with both (the
Qwen-shaped model's extra vocabulary rows still cost their full share of every logit row). Rows (seconds per
question, peak CUDA memory) are appended to ``--csv`` (default ``benchmarks/results.csv``).

    python benchmarks/answer_choice_mass.py --model toy --questions 32 --shots 4
    python benchmarks/answer_choice_mass.py --model qwen2.5-0.5b --device cuda --dtype bfloat16 --shots 8
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import append_rows, make_row  # noqa: E402

from trl_explore.metrics.answer_choice import (  # noqa: E402
    answer_choice_mass,
    build_prompt,
    draw_demos,
    unconditional_premise,
)
from trl_explore.toy import make_multiple_choice_dataset, make_tiny_model, make_tokenizer  # noqa: E402

MODELS = {
    "toy": {},
    "qwen2.5-0.5b": {
        "vocab_size": 151936,
        "hidden_size": 896,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "intermediate_size": 4864,
        "max_position_embeddings": 32768,
    },
}


@torch.no_grad()
def naive_logprobs(
    model, tokenizer, contexts: list[str], continuations: list[list[str]], batch: int
) -> list[list[float]]:
    """log P(continuation | context) per choice from full-sequence forwards with full logits (no cache)."""
    device = next(model.parameters()).device
    seqs, spans = [], []
    for ctx, conts in zip(contexts, continuations):
        c_ids = tokenizer(ctx)["input_ids"]
        for cont in conts:
            ids = tokenizer(ctx + cont)["input_ids"]
            seqs.append(ids)
            spans.append((len(c_ids), len(ids)))
    out: list[float] = []
    per_batch = batch * max(len(c) for c in continuations)
    for start in range(0, len(seqs), per_batch):
        chunk, chunk_spans = seqs[start : start + per_batch], spans[start : start + per_batch]
        width = max(len(s) for s in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for i, s in enumerate(chunk):
            ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
        logp = torch.log_softmax(model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float(), -1)
        for i, (a, b) in enumerate(chunk_spans):
            targets = ids[i, a:b].to(device)
            out.append(float(logp[i, a - 1 : b - 1].gather(1, targets[:, None]).sum()))
    it = iter(out)
    return [[next(it) for _ in conts] for conts in continuations]


def run(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    tok = make_tokenizer(model_max_length=32768)
    model = make_tiny_model(tok, seed=0, **MODELS[args.model]).to(device=device, dtype=dtype)
    rows_ds = make_multiple_choice_dataset(args.questions, seed=1).to_list()
    pool = make_multiple_choice_dataset(64, seed=2).to_list()
    questions = [r["question"] for r in rows_ds]
    choices = [[f"{c} ({w})" for c, w in zip(r["choices"], ("one", "two", "three", "four"))] for r in rows_ds]
    demos = draw_demos(pool, len(rows_ds), args.shots, seed=0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for fmt in args.formats:
        ours = partial(
            answer_choice_mass,
            model,
            tok,
            questions,
            choices,
            format=fmt,
            num_shots=args.shots,
            demos=demos,
            pmi=True,
            batch_size=args.batch,
            show_progress=False,
        )
        # the same prompts (with the shared leading space moved into them, as `answer_choice_mass` does)
        contexts = [build_prompt(q, c, fmt, d) + " " for q, c, d in zip(questions, choices, demos)]
        premises = [unconditional_premise(c, fmt) + " " for c in choices]
        forms = [list("ABCD"[: len(c)]) if fmt == "enumerated" else list(c) for c in choices]

        def naive(contexts=contexts, premises=premises, forms=forms):
            return (
                naive_logprobs(model, tok, contexts, forms, args.batch),
                naive_logprobs(model, tok, premises, forms, args.batch),
            )

        results, timings, peaks = {}, {}, {}
        for name, fn in (("ours", ours), ("naive", naive)):
            fn()  # warm-up
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            times = []
            for _ in range(args.repeats):
                sync()
                t = time.perf_counter()
                results[name] = fn()
                sync()
                times.append(time.perf_counter() - t)
            timings[name] = sorted(times)[len(times) // 2] / len(questions)
            peaks[name] = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
        diff = max(
            abs(a - b)
            for ours_rows, naive_rows in (
                (results["ours"].choice_logprobs, results["naive"][0]),
                (results["ours"].unconditional_logprobs, results["naive"][1]),
            )
            for ro, rn in zip(ours_rows, naive_rows)
            for a, b in zip(ro, rn)
        )
        prompt_tokens = sum(
            len(tok(build_prompt(q, c, fmt, d))["input_ids"]) for q, c, d in zip(questions, choices, demos)
        ) / len(questions)
        config = {
            "model": args.model,
            "device": args.device,
            "dtype": args.dtype,
            "format": fmt,
            "shots": args.shots,
            "questions": len(questions),
            "batch": args.batch,
            "pmi": True,
            "mean_prompt_tokens": round(prompt_tokens, 1),
        }
        print(
            f"{fmt:<10} shots={args.shots} prompt≈{prompt_tokens:.0f} tokens: ours {timings['ours'] * 1e3:.2f} ms/q, "
            f"naive {timings['naive'] * 1e3:.2f} ms/q, speed-up {timings['naive'] / timings['ours']:.2f}x, "
            f"max |Δ log p| = {diff:.2e}"
            + (
                f", peak MiB ours {peaks['ours']:.0f} vs naive {peaks['naive']:.0f}"
                if peaks["ours"] is not None
                else ""
            )
        )
        rows.append(
            make_row("answer_choice_mass", "seconds_per_question", "s", timings["ours"], timings["naive"], config)
        )
        if peaks["ours"] is not None:
            rows.append(make_row("answer_choice_mass", "peak_memory", "MiB", peaks["ours"], peaks["naive"], config))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="toy")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--formats", nargs="+", default=["enumerated", "string"])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: leave as is)")
    parser.add_argument("--csv", default=None, help="CSV to append rows to (default benchmarks/results.csv)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("trl_explore.metrics.answer_choice").setLevel(logging.ERROR)  # the toy tokenizer's notices
    path = append_rows(run(args), args.csv)
    print(f"rows appended to {path}")


if __name__ == "__main__":
    main()
