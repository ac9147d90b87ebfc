"""Fourier head speed / memory: ``trl_explore.FourierHead`` vs the published algorithm's approach vs ``nn.Linear``.

Forward + backward of ``sum(head(x) * w)`` at rows x in_features inputs; median wall time (``time_fn``) and peak
memory above the live set (``peak_memory_bytes``), one thread by default. The published approach (grouped-conv1d
autocorrelation + a ``[rows, m, N]`` complex evaluation) is re-implemented in
``tests/reference/fourier_reference.py::PublishedAlgorithmFourierHead`` and shares our weights.

    python benchmarks/fourier_head.py                                   # rows 4096, m in {256, 1024}, N in {12, 64}
    python benchmarks/fourier_head.py --rows 64 --bins 16 --freqs 4 --repeats 1 --no-csv   # smoke
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from torch import nn

from trl_explore.modules.fourier_head import FourierHead

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from _common import append_rows, make_row, peak_memory_bytes, time_fn  # noqa: E402
from reference.fourier_reference import PublishedAlgorithmFourierHead  # noqa: E402


def _step(module: nn.Module, x: torch.Tensor, w: torch.Tensor):
    def fn() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        (module(x) * w).sum().backward()

    return fn


def measure(rows: int, in_features: int, num_bins: int, num_frequencies: int, repeats: int) -> dict[str, dict]:
    torch.manual_seed(0)
    ours = FourierHead(in_features, num_bins, num_frequencies)
    ref = PublishedAlgorithmFourierHead(in_features, num_bins, num_frequencies)
    ref.linear.load_state_dict(ours.linear.state_dict())
    linear = nn.Linear(in_features, num_bins)
    x = torch.randn(rows, in_features, requires_grad=True)
    w = torch.randn(rows, num_bins)
    with torch.no_grad():
        max_diff = (ours(x) - ref(x)).abs().max().item()
    out = {"max_abs_diff": max_diff}
    for name, module in (("ours", ours), ("published", ref), ("linear", linear)):
        fn = _step(module, x, w)
        out[name] = {"time_s": time_fn(fn, warmup=1, repeats=repeats), "peak_bytes": peak_memory_bytes(fn)}
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--in-features", type=int, default=256)
    parser.add_argument("--bins", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--freqs", type=int, nargs="+", default=[12, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", default=None)
    parser.add_argument("--no-csv", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    rows_out = []
    print(f"# Fourier head forward+backward, rows={args.rows}, in_features={args.in_features}, threads={args.threads}")
    print(
        "| m | N | ours ms | published ms | linear ms | speed-up vs published | ours MiB | published MiB | "
        "linear MiB | memory ratio ours/published | max |diff| |"
    )
    print("|" + "---|" * 11)
    for m in args.bins:
        for n in args.freqs:
            r = measure(args.rows, args.in_features, m, n, args.repeats)
            o, p, lin = r["ours"], r["published"], r["linear"]
            mib = 1024.0**2
            print(
                f"| {m} | {n} | {o['time_s'] * 1e3:.2f} | {p['time_s'] * 1e3:.2f} | {lin['time_s'] * 1e3:.2f} | "
                f"{p['time_s'] / o['time_s']:.1f}x | {o['peak_bytes'] / mib:.1f} | {p['peak_bytes'] / mib:.1f} | "
                f"{lin['peak_bytes'] / mib:.1f} | {o['peak_bytes'] / max(p['peak_bytes'], 1):.3f} | "
                f"{r['max_abs_diff']:.2e} |"
            )
            cfg = {
                "rows": args.rows,
                "in_features": args.in_features,
                "num_bins": m,
                "num_frequencies": n,
                "threads": args.threads,
                "pass": "forward+backward",
            }
            rows_out += [
                make_row("fourier_head_vs_published", "time", "s", o["time_s"], p["time_s"], cfg),
                make_row("fourier_head_vs_published", "peak_memory", "bytes", o["peak_bytes"], p["peak_bytes"], cfg),
                make_row("fourier_head_vs_linear", "time", "s", o["time_s"], lin["time_s"], cfg),
                make_row("fourier_head_vs_linear", "peak_memory", "bytes", o["peak_bytes"], lin["peak_bytes"], cfg),
            ]
    if not args.no_csv:
        append_rows(rows_out, args.csv)
    return rows_out


if __name__ == "__main__":
    main()
