"""SwiReasoning decoding speed: tokens/s of `swi_generate` vs `model.generate` on the same model, batch and budget.

Both decode a left-padded batch of mixed-length prompts for exactly ``--max-new-tokens`` steps (stop ids disabled,
so every row runs the whole budget and tokens/s = batch × steps / seconds), sampling with the same settings
(temperature 0.6, top-k 20, top-p 0.95 through transformers' warpers). Timings alternate between the decoders (in
alternating order, median of ``--repeats``), so that a shared machine slows all alike; the ratio ``swi / generate``
of the medians (and the median of the paired per-repeat ratios) is printed and appended as tidy rows to
``benchmarks/results.csv`` (or ``--csv``). On CPU the same is also reported on the process's CPU time, which other
jobs on a shared machine disturb much less than the wall clock.

Two SwiReasoning settings are measured:

- ``default``: the paper's defaults (latent start, window 512, math override on). The rows switch to explicit
  within a few steps and stay there (the window is longer than the budget), like most steps of a real run;
- ``switching``: window 4 and no math override, so rows keep switching and the soft embedding ``p @ E`` (a
  ``[b, V] @ [V, D]`` matmul) is computed on a large share of the steps: the expensive case.

    python benchmarks/swireasoning.py                                  # CPU, one thread, Qwen2 64-wide 2 layers
    python benchmarks/swireasoning.py --hidden 256 --layers 4 --batch 16
    python benchmarks/swireasoning.py --device cuda --dtype bfloat16 --hidden 1024 --layers 8 --vocab 32768 --check
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import append_rows, make_row  # noqa: E402

from trl_explore.generation import SwiReasoningConfig, swi_generate  # noqa: E402
from trl_explore.toy import make_tiny_model, make_tokenizer  # noqa: E402

SAMPLING = {"temperature": 0.6, "top_k": 20, "top_p": 0.95}
SETTINGS = {
    "default": {},
    "switching": {"window_size": 4, "math_override": False, "alpha0": 0.5},
}


def _prompts(batch: int) -> list[str]:
    base = ["Compute (3+4)*2\n", "Use 3 5 7 to make 22\n", "What is 12*12? Think step by step.\n", "x=1\n"]
    return [base[i % len(base)] * (1 + i % 3) for i in range(batch)]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _check_equivalence(model, tokenizer, enc, max_new_tokens: int) -> bool:
    """Degenerate settings (start explicit, α = β = 1, no math override, infinite window, greedy) equal
    `model.generate` greedy token for token on this device."""
    config = SwiReasoningConfig(
        start_mode="explicit", alpha0=1.0, beta0=1.0, math_override=False, window_size=None, do_sample=False
    )
    ours = swi_generate(
        model,
        tokenizer,
        enc["input_ids"],
        config,
        max_new_tokens,
        attention_mask=enc["attention_mask"],
        eos_token_id=[],
    ).sequences
    theirs = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens)
    return ours.shape == theirs.shape and bool(torch.equal(ours, theirs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=None, help="embedding rows (default: the toy tokenizer's 262)")
    parser.add_argument("--arch", choices=("qwen2", "llama"), default="qwen2")
    parser.add_argument(
        "--init-range",
        type=float,
        default=0.2,
        help="weight init std: 0.2 gives peaked, varying next-token distributions (rows switch); "
        "the default 0.02 gives near-uniform ones (entropy ~ log V, rows never switch)",
    )
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (0 = leave torch's default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=sorted(SETTINGS))
    parser.add_argument("--check", action="store_true", help="also check greedy equivalence with generate")
    parser.add_argument("--csv", default=None, help="CSV path (default benchmarks/results.csv)")
    args = parser.parse_args()
    if args.threads > 0 and args.device == "cpu":
        torch.set_num_threads(args.threads)

    tokenizer = make_tokenizer()
    model = make_tiny_model(
        tokenizer,
        arch=args.arch,
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        initializer_range=args.init_range,
    )
    model = model.to(device=args.device, dtype=getattr(torch, args.dtype)).eval()
    model.generation_config.eos_token_id = None  # every row decodes the whole budget in both
    enc = tokenizer(_prompts(args.batch), return_tensors="pt", padding=True).to(args.device)
    steps = args.max_new_tokens
    tokens = args.batch * steps
    shape = {
        "init_range": args.init_range,
        "batch": args.batch,
        "max_new_tokens": steps,
        "hidden": args.hidden,
        "layers": args.layers,
        "vocab": model.config.vocab_size,
        "arch": args.arch,
        "dtype": args.dtype,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "prompt_width": int(enc["input_ids"].shape[1]),
    }
    print(
        f"model: {args.arch} hidden {args.hidden} x {args.layers} layers, vocab {model.config.vocab_size}, "
        f"{args.dtype} on {args.device}; batch {args.batch} (mixed prompt lengths), {steps} new tokens"
    )

    def run_generate() -> None:
        torch.manual_seed(0)
        model.generate(**enc, do_sample=True, max_new_tokens=steps, **SAMPLING)

    def runner(overrides: dict):
        config = SwiReasoningConfig(seed=0, **SAMPLING, **overrides)

        def run():
            return swi_generate(
                model, tokenizer, enc["input_ids"], config, steps, attention_mask=enc["attention_mask"], eos_token_id=[]
            )

        return run

    runners = {name: runner(SETTINGS[name]) for name in args.settings}
    latent = {name: run().summary() for name, run in runners.items()}  # warm-up, and what the rows did
    run_generate()
    names = ["generate", *runners]
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    order = [("generate", run_generate), *runners.items()]
    for repeat in range(args.repeats):
        for name, fn in order if repeat % 2 == 0 else order[::-1]:  # alternate the order against drifting load
            _sync(args.device)
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            _sync(args.device)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)

    rows = []
    clocks = [("wall", wall)] + ([("cpu", cpu)] if args.device == "cpu" else [])
    for clock, times in clocks:
        base = statistics.median(times["generate"])
        print(
            f"\n{clock} clock{' (process CPU time: robust to other jobs on a shared machine)' if clock == 'cpu' else ''}"
        )
        print(f"{'decoder':<22} {'tokens/s':>10} {'ratio':>7}  latent steps  switches/seq")
        print(f"{'model.generate':<22} {tokens / base:>10.0f} {1.0:>7.3f}")
        for name in runners:
            median = statistics.median(times[name])
            ratios = [g / s for g, s in zip(times["generate"], times[name])]
            summary = latent[name]
            print(
                f"{'swi_generate/' + name:<22} {tokens / median:>10.0f} {base / median:>7.3f}  "
                f"{summary['latent_step_share']:>12.3f}  {summary['mean_switch_count']:>12.1f}   "
                f"(paired per-repeat ratios: median {statistics.median(ratios):.3f}, "
                f"range {min(ratios):.3f}-{max(ratios):.3f})"
            )
            config = {
                **shape,
                "setting": name,
                "repeats": args.repeats,
                "clock": clock,
                "latent_step_share": round(summary["latent_step_share"], 4),
            }
            metric = "decode_tokens_per_s" if clock == "wall" else "decode_tokens_per_cpu_s"
            rows.append(make_row(f"swireasoning/{name}", metric, "tokens/s", tokens / median, tokens / base, config))
    if args.check:
        ok = _check_equivalence(model, tokenizer, enc, min(steps, 64))
        print(f"greedy equivalence with model.generate (degenerate settings): {'OK' if ok else 'MISMATCH'}")
        if not ok:
            raise SystemExit(1)
    path = append_rows(rows, args.csv)
    print(f"rows appended to {path}")


if __name__ == "__main__":
    main()
