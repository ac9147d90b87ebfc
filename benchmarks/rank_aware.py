"""Rank-aware NTP loss: time and peak memory of the fused kernel vs TRL `SFTTrainer`'s own loss path, same run.

Three loss paths over the same hidden states ``[N, d]`` and LM head ``[V, d]``, forward + backward:

- ``trl_sft``: what `SFTTrainer` 1.16 computes per micro-batch — the fused LM head `add_fused_lm_head` installs,
  i.e. `trl.kernels.ChunkedLogProbFunction` over every position (CPU path) with the `log_probs`, `entropy` and
  `is_top1` outputs SFTTrainer requests, and ``loss = −Σ log p / N``. This is the baseline of every ratio.
- ``rank_aware_fused``: `trl_explore.kernels.rank_aware.fused_rank_aware_loss` (loss + `rank_aware/*` statistics).
- ``rank_aware_naive``: full ``[N, V]`` logits + `trl_explore.functional.rank_aware_token_loss` (for reference).

Prints time and peak-memory ratios against ``trl_sft`` and appends tidy rows to ``benchmarks/results.csv``.

    python benchmarks/rank_aware.py                     # V = 32768, N = 8192, d = 256, one thread, CPU
    python benchmarks/rank_aware.py --tokens 16384 --hidden 1024 --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import append_rows, make_row, peak_memory_bytes, time_fn  # noqa: E402

from trl_explore.functional.rank_aware import rank_aware_token_loss  # noqa: E402
from trl_explore.kernels.rank_aware import fused_rank_aware_loss  # noqa: E402


def _trl_sft_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # The call `add_fused_lm_head` makes inside SFTTrainer.compute_loss (trl/trainer/utils.py), CPU path
    from trl.kernels import ChunkedLogProbFunction
    from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

    log_probs, entropy, _, _, is_top1 = ChunkedLogProbFunction.apply(
        hidden, weight, None, labels, 1.0, _CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0, ("log_probs", "entropy", "is_top1")
    )
    return -log_probs.sum() / labels.numel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--vocab", type=int, default=32768)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (0 = leave torch's default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--beta", type=float, default=-0.25)
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--lambda-high", type=float, default=0.0)
    parser.add_argument("--lambda-low", type=float, default=-0.1)
    parser.add_argument("--skip-naive", action="store_true", help="skip the full-logits version (large N × V)")
    parser.add_argument("--csv", default=None, help="CSV path (default benchmarks/results.csv)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    gen = torch.Generator().manual_seed(0)
    hidden = (torch.randn(args.tokens, args.hidden, generator=gen) * 2.0).to(device, dtype).requires_grad_()
    weight = (torch.randn(args.vocab, args.hidden, generator=gen) / args.hidden**0.5).to(device, dtype)
    weight.requires_grad_()
    labels = torch.randint(0, args.vocab, (args.tokens,), generator=gen).to(device)
    knobs = {"beta": args.beta, "top_k": args.top_k, "lambda_high": args.lambda_high, "lambda_low": args.lambda_low}

    def step(loss_fn):
        def run():
            hidden.grad = None
            weight.grad = None
            loss_fn().backward()

        return run

    paths = {
        "trl_sft": lambda: _trl_sft_loss(hidden, weight, labels),
        "rank_aware_fused": lambda: fused_rank_aware_loss(hidden, weight, labels, **knobs)[0] / labels.numel(),
    }
    if not args.skip_naive:
        paths["rank_aware_naive"] = lambda: rank_aware_token_loss(hidden @ weight.t(), labels, **knobs).mean()

    sync = torch.cuda.synchronize if device.type == "cuda" else None
    # Rounds alternate the paths, so that load from other processes on a shared machine hits them alike
    times = {name: [] for name in paths}
    for round_ in range(args.repeats):
        for name, fn in paths.items():
            times[name].append(time_fn(step(fn), warmup=1 if round_ == 0 else 0, repeats=1, sync=sync))
    results = {}
    for name, fn in paths.items():
        seconds = sorted(times[name])[len(times[name]) // 2]  # median
        peak = peak_memory_bytes(step(fn))
        results[name] = (seconds, peak)
        print(f"{name:18s} time {seconds:8.3f} s   peak {peak / 2**20:9.1f} MiB", flush=True)

    base_t, base_m = results["trl_sft"]
    config = {
        "tokens": args.tokens,
        "vocab": args.vocab,
        "hidden": args.hidden,
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "device": device.type,
        **knobs,
    }
    rows = []
    for name, (seconds, peak) in results.items():
        if name != "trl_sft":
            print(
                f"{name:18s} time ratio {seconds / base_t:6.3f}   peak-memory ratio {peak / base_m:6.3f}  (vs trl_sft)"
            )
        rows.append(make_row(f"rank_aware/{name}", "time_fwd_bwd", "s", seconds, base_t, config))
        rows.append(make_row(f"rank_aware/{name}", "peak_memory", "bytes", peak, base_m, config))
    path = append_rows(rows, args.csv)
    print(f"rows appended to {path}")


if __name__ == "__main__":
    main()
