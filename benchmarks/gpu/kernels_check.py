"""CUDA checks of the tiling core (run by ``benchmarks/gpu/kernels_check.sh``): the paths a CPU never takes.

On CUDA with bf16 inputs the core's gradient GEMMs take bf16 operands with a float32 output (``out_dtype``), and TRL's
fused head scores only the labelled rows (Triton). Each check compares a CUDA result with a float64 CPU reference of
the same bf16-rounded inputs and prints the largest relative error; the script exits 1 when one exceeds its bound.

    python benchmarks/gpu/kernels_check.py                                   # about 1 minute on one GPU
    python benchmarks/gpu/kernels_check.py --device cpu --tokens 300 --vocab 4000   # the script itself, on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from trl_explore.kernels._tiled_head import NumberGroup, TiledHead
from trl_explore.kernels.detection_stats import detection_stats
from trl_explore.kernels.rank_aware import RankAwareRequest
from trl_explore.kernels.token_stats import TokenStatsRequest

DEVICE = torch.device("cuda")
RESULTS: dict[str, float] = {}
BOUNDS: dict[str, float] = {}
FAILED: list[str] = []


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def check(name: str, got: torch.Tensor, want: torch.Tensor, bound: float) -> None:
    err = _rel(got, want)
    RESULTS[name] = err
    BOUNDS[name] = bound
    status = "ok" if err <= bound else "FAIL"
    if err > bound:
        FAILED.append(name)
    print(f"{status:4s} {name:40s} rel. error {err:.2e} (bound {bound:.0e})", flush=True)


def inputs(n: int, hidden: int, vocab: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    h = (torch.randn(n, hidden, generator=g) * 2).bfloat16()
    w = (torch.randn(vocab, hidden, generator=g) / hidden**0.5).bfloat16()
    b = (torch.randn(vocab, generator=g) * 0.1).bfloat16()
    labels = torch.randint(0, vocab, (n,), generator=g)
    return h, w, b, labels


def on_cuda(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(DEVICE).requires_grad_(t.is_floating_point()) for t in tensors]


def on_cpu64(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.double().requires_grad_() if t.is_floating_point() else t for t in tensors]


def main(argv: list[str] | None = None) -> int:
    global DEVICE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tokens", type=int, default=3000)  # several tiles: rows_per_tile(50000) = 2684
    parser.add_argument("--vocab", type=int, default=50000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--csv", default=None, help="also append one row per check to this CSV (benchmarks/_common.py)")
    args = parser.parse_args(argv)
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda":
        if not torch.cuda.is_available():
            print("no CUDA device")
            return 1
        print(torch.cuda.get_device_name(0), torch.__version__, flush=True)
    n, hidden, vocab = args.tokens, args.hidden, args.vocab

    # token statistics, bf16 on CUDA vs float64 on CPU, values and gradients
    h, w, b, labels = inputs(n, hidden, vocab, 0)
    m = min(n, 500)
    hc, wc, bc = on_cuda(h, w, b)
    stats = TokenStatsRequest(min_p=0.05).stats(hc, TiledHead(wc, bc, 0.8, 30.0), labels.to(DEVICE), temperature=0.9)
    g1, g2 = torch.randn(n), torch.randn(n)
    loss = (stats.logprobs * g1.to(DEVICE)).sum() + (stats.entropy * g2.to(DEVICE)).sum()
    grads = torch.autograd.grad(loss, [hc, wc, bc])
    h64, w64, b64 = on_cpu64(h, w, b)
    ref = TokenStatsRequest(min_p=0.05).stats(h64, TiledHead(w64, b64, 0.8, 30.0), labels, temperature=0.9)
    ref_grads = torch.autograd.grad(
        (ref.logprobs * g1.double()).sum() + (ref.entropy * g2.double()).sum(), [h64, w64, b64]
    )
    check("token_stats/logprobs", stats.logprobs, ref.logprobs, 2e-2)
    check("token_stats/kept_mass", stats.kept_mass, ref.kept_mass, 2e-2)
    for name, a, r in zip(("hidden", "weight", "bias"), grads, ref_grads):
        check(f"token_stats/grad_{name}", a, r, 3e-2)

    # rank-aware loss: precompute schedule (sum) and its fallback (weighted sum), bf16 on CUDA
    knobs = {"beta": -0.25, "top_k": 100, "lambda_high": 0.1, "lambda_low": -0.1}
    for weighting in ("sum", "weighted"):
        hc, wc = on_cuda(h, w)
        per_token, _ = RankAwareRequest(**knobs).loss(hc, TiledHead(wc), labels.to(DEVICE))
        weights = torch.ones(n) if weighting == "sum" else torch.rand(n, generator=torch.Generator().manual_seed(1))
        grads = torch.autograd.grad((per_token * weights.to(DEVICE)).sum(), [hc, wc])
        h64, w64 = on_cpu64(h, w)
        ref_loss, _ = RankAwareRequest(**knobs).loss(h64, TiledHead(w64), labels)
        ref_grads = torch.autograd.grad((ref_loss * weights.double()).sum(), [h64, w64])
        check(f"rank_aware/{weighting}/loss", per_token, ref_loss, 2e-2)
        for name, a, r in zip(("hidden", "weight"), grads, ref_grads):
            check(f"rank_aware/{weighting}/grad_{name}", a, r, 3e-2)

    # a number group (numeric head) on CUDA
    part = torch.nn.Linear(hidden, 10).to(DEVICE)
    ids = torch.arange(10, 20)
    # labels inside the group: outside it the Fourier part's gradient is exactly 0 (the group's mass is the LM head's)
    labels = labels.clone()
    labels[:m] = ids[labels[:m] % 10]
    hc, wc = on_cuda(h[:m], w)
    group = NumberGroup(ids.to(DEVICE), "hybrid", lambda rows: torch.log_softmax(part(rows.float()), -1))
    stats = TokenStatsRequest(min_p=None).stats(hc, TiledHead(wc, group=group), labels[:m].to(DEVICE))
    (gp,) = torch.autograd.grad(stats.logprobs.sum(), [part.weight])
    part64 = torch.nn.Linear(hidden, 10).double()
    part64.load_state_dict({k: v.double().cpu() for k, v in part.state_dict().items()})
    h64, w64 = on_cpu64(h[:m], w)
    group64 = NumberGroup(ids, "hybrid", lambda rows: torch.log_softmax(part64(rows), -1))
    ref = TokenStatsRequest(min_p=None).stats(h64, TiledHead(w64, group=group64), labels[:m])
    (rp,) = torch.autograd.grad(ref.logprobs.sum(), [part64.weight])
    check("number_group/logprobs", stats.logprobs, ref.logprobs, 2e-2)
    check("number_group/grad_fourier_part", gp, rp, 3e-2)

    # detection statistics with a reference model
    h2, w2, _, _ = inputs(n, 128, vocab, 2)
    det = detection_stats(
        h.to(DEVICE),
        TiledHead(w.to(DEVICE)),
        labels.to(DEVICE),
        reference_hidden=h2.to(DEVICE),
        reference_head=TiledHead(w2.to(DEVICE)),
    )
    ref = detection_stats(
        h.double(), TiledHead(w.double()), labels, reference_hidden=h2.double(), reference_head=TiledHead(w2.double())
    )
    for name in ("label_logprob", "entropy", "expected_logp", "expected_logp2"):
        check(f"detection/{name}", getattr(det, name), getattr(ref, name), 2e-2)
    # ranks are counted on the bf16-rounded logits (as the kernel rounds them): compare with those
    z = (h.double() @ w.double().t()).bfloat16().double()
    rank = (z > z.gather(1, labels[:, None])).sum(-1) + 1
    agree = (det.label_rank.cpu() == rank).double().mean().item()
    RESULTS["detection/label_rank_agreement"] = agree
    print(f"     detection/label_rank agreement with bf16-rounded logits {agree:.3f}", flush=True)
    if agree < 0.95:
        FAILED.append("detection/label_rank")

    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "kernels_check.json"), "w") as f:
            json.dump({"results": RESULTS, "failed": FAILED}, f, indent=2)
    if args.csv:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        from _common import append_rows, make_row

        config = {"device": str(DEVICE), "tokens": n, "vocab": vocab, "hidden": hidden}
        rows = [
            make_row(f"kernels_check/{name}", "relative error vs float64" if "agreement" not in name else "agreement",
                     "", value, BOUNDS.get(name), {**config, "failed": name in FAILED})
            for name, value in RESULTS.items()
        ]  # fmt: skip
        append_rows(rows, args.csv)
    print("FAILED: " + ", ".join(FAILED) if FAILED else "all checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
