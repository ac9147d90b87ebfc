"""Fourier head toy reproduction (Gillman et al., ICLR 2025, arXiv 2410.22269, Table 1 regime).

Three synthetic conditional distributions p(z | x, y) on [-1, 1], each quantised into m = 50 bins:

    gaussian  x ~ U(-0.8, 0.8), y ~ N(x, 0.01), z ~ N(y, 0.01)                   (second argument: variance)
    gmm2      x, y ~ U(-0.8, 0.8), z ~ 1/2 N(x, 0.01) + 1/2 N(y, 0.01)
    beta      x ~ U(-0.8, 0.8), y ~ N(x, 0.01), z = s * Beta(100 |x|, 100 |y|), s = +-1 with probability 1/2

An MLP 2 -> 64 -> 32 -> head (ReLU) reads the bin indices of (x, y) and is trained with cross-entropy on z's bin
(Adam 1e-3, batch 32, 80/20 train/test split of 5000 samples). Heads: ``linear`` (nn.Linear(32, 50)), ``fourier``
(FourierHead N = 12, gamma = 0) and ``fourier_reg`` (N = 12, gamma = 1e-6). Metrics on the test split, averaged over
seeds: KL(true pmf || predicted pmf) (true pmf = true pdf at the bin centres, normalised) and the smoothness metric.

All runs of one head (datasets x seeds) train at once as one batched model: every run keeps its own initialisation,
data order and Adam state (Adam is element-wise and the summed loss has independent per-run gradients), so this is
exactly G independent trainings, just without G times the Python overhead.

Full setting (paper):  python benchmarks/fourier_toy.py --epochs 500
Quick check:           python benchmarks/fourier_toy.py --epochs 20 --seeds 1
Many seeds (the per-run spread, paired differences and a plot of each run):
    python benchmarks/fourier_toy.py --seeds $(seq 1 44) --results-json /tmp/toy44.json --plot toy44.png
One head per process, then one table:
    python benchmarks/fourier_toy.py --heads linear --results-json /tmp/lin.json
    python benchmarks/fourier_toy.py --heads fourier --results-json /tmp/fou.json
    python benchmarks/fourier_toy.py --from-json /tmp/lin.json /tmp/fou.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as torch_f
from scipy import stats
from torch import Tensor, nn

from trl_explore.functional import fourier as F
from trl_explore.metrics.smoothness import kl_to_target, smoothness
from trl_explore.modules.fourier_head import FourierHead

logger = logging.getLogger("fourier_toy")
DATASETS = ("gaussian", "gmm2", "beta")
HEADS = ("linear", "fourier", "fourier_reg")
VAR = 0.01
# Official saved metrics (mean of 4 seeds, N = 12, m = 50), from the paper's table (which does not state the γ of the
# published Fourier runs; the paper gives no numbers for γ = 1e-6, so the `fourier_reg` rows have no paper column).
PAPER = {
    "gaussian": {"kl_linear": 0.170, "kl_fourier": 0.116, "smooth_linear": 0.116, "smooth_fourier": 0.057},
    "gmm2": {"kl_linear": 0.238, "kl_fourier": 0.146, "smooth_linear": 0.068, "smooth_fourier": 0.038},
    "beta": {"kl_linear": 0.234, "kl_fourier": 0.191, "smooth_linear": 0.127, "smooth_fourier": 0.076},
}


# ---------------------------------------------------------------------------------------------------------- data
def make_dataset(name: str, n: int, seed: int) -> np.ndarray:
    """``[n, 3]`` samples ``(x, y, z)`` of the named dataset.

    The random draws follow the official data scripts call for call on ``np.random.default_rng(seed)``, so a seed
    gives the same samples as the paper's runs with that seed: gaussian and beta draw whole arrays in the order
    x, y, (sign,) z; gmm2 draws x and y as arrays, then per sample one uniform (which component) followed by that
    component's normal draw.
    """
    rng = np.random.default_rng(seed)
    sd = math.sqrt(VAR)
    x = rng.uniform(-0.8, 0.8, n)
    if name == "gaussian":
        y = rng.normal(x, sd)
        z = rng.normal(y, sd)
    elif name == "gmm2":
        y = rng.uniform(-0.8, 0.8, n)
        z = np.empty(n)
        for i in range(n):  # interleaved draws: numpy's normal sampler uses a variable number of raw draws
            z[i] = rng.normal(x[i] if rng.uniform(0.0, 1.0) < 0.5 else y[i], sd)
    elif name == "beta":
        y = rng.normal(x, sd)
        sign = rng.choice(np.array([1.0, -1.0]), size=n)
        z = sign * rng.beta(np.abs(100 * x), np.abs(100 * y))
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    return np.stack([x, y, z], axis=1)


def split_indices(n: int, test_fraction: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices of the paper's split: ``RandomState(seed).permutation(n)``, the first
    ``ceil(test_fraction * n)`` rows for test and the rest for training (what scikit-learn's ``train_test_split``
    with ``random_state=42`` computes, reproduced without the dependency)."""
    perm = np.random.RandomState(seed).permutation(n)
    n_test = math.ceil(test_fraction * n)
    return perm[n_test:], perm[:n_test]


def true_pmf(name: str, xy: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """True conditional pdf at the bin centres, normalised per row: ``xy [R, 2]`` -> ``[R, m]``."""
    sd = math.sqrt(VAR)
    x, y = xy[:, :1], xy[:, 1:]
    if name == "gaussian":
        pdf = stats.norm.pdf(centers[None, :], y, sd)
    elif name == "gmm2":
        a = stats.norm.pdf(centers[None, :], x, sd)
        b = stats.norm.pdf(centers[None, :], y, sd)
        pdf = 0.5 * a / a.sum(1, keepdims=True) + 0.5 * b / b.sum(1, keepdims=True)
    elif name == "beta":
        pdf = 0.5 * stats.beta.pdf(np.abs(centers)[None, :], np.abs(100 * x), np.abs(100 * y))
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    return pdf / pdf.sum(1, keepdims=True)


@dataclass
class Split:
    x_train: Tensor  # [n_train, 2] float (bin indices of x, y)
    y_train: Tensor  # [n_train] long (bin index of z)
    x_test: Tensor  # [n_test, 2]
    target_test: Tensor  # [n_test, m] true pmf


def make_split(name: str, seed: int, num_samples: int, num_bins: int) -> Split:
    data = make_dataset(name, num_samples, seed)
    train_idx, test_idx = split_indices(num_samples)
    train, test = data[train_idx], data[test_idx]
    q = lambda v: F.quantize(torch.from_numpy(v), num_bins)  # noqa: E731
    centers = F.bin_centers(num_bins, dtype=torch.float64).numpy()
    return Split(
        x_train=q(train[:, :2]).float(),
        y_train=q(train[:, 2]),
        x_test=q(test[:, :2]).float(),
        target_test=torch.from_numpy(true_pmf(name, test[:, :2], centers)).float(),
    )


# ---------------------------------------------------------------------------------------------------------- model
def _mlp(head: str, num_bins: int, num_frequencies: int, gamma: float) -> nn.Sequential:
    last = nn.Linear(32, num_bins) if head == "linear" else FourierHead(32, num_bins, num_frequencies, gamma)
    return nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), last)


class BatchedMLP(nn.Module):
    """G independent MLPs evaluated with batched matmuls; run g is initialised exactly as ``_mlp`` under its seed."""

    def __init__(self, head: str, seeds: list[int], num_bins: int, num_frequencies: int, gamma: float) -> None:
        super().__init__()
        nets = []
        for s in seeds:
            torch.manual_seed(s)
            nets.append(_mlp(head, num_bins, num_frequencies, gamma))
        linears = [[n[0], n[2], n[4] if head == "linear" else n[4].linear] for n in nets]
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([lin[i].weight.detach().t() for lin in linears])) for i in range(3)]
        )  # [G, in, out]
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([lin[i].bias.detach()[None, :] for lin in linears])) for i in range(3)]
        )  # [G, 1, out]
        self.head = head
        self.gamma = gamma
        self.fourier = nets[0][4] if head != "linear" else None  # holds the bases

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x [G, B, 2]`` -> (log-probs or logits ``[G, B, m]``, per-run regulariser summed over runs)."""
        h = torch.relu(torch.baddbmm(self.biases[0], x, self.weights[0]))
        h = torch.relu(torch.baddbmm(self.biases[1], h, self.weights[1]))
        out = torch.baddbmm(self.biases[2], h, self.weights[2])
        if self.fourier is None:
            return out, out.new_zeros(())
        log_probs, c = F.fourier_bin_log_probs(out, self.fourier.basis, eps=self.fourier.eps)
        reg = out.shape[0] * F.fourier_regularization(c, self.gamma)  # sum over runs of each run's row-mean
        return log_probs, reg


def train_head(
    head: str,
    splits: list[Split],
    seeds: list[int],
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    num_bins: int = 50,
    num_frequencies: int = 12,
    gamma: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Train one head on G runs at once; returns (KL ``[G]``, smoothness ``[G]``) on each run's test split."""
    model = BatchedMLP(head, seeds, num_bins, num_frequencies, gamma)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    x_train = torch.stack([s.x_train for s in splits])  # [G, n, 2]
    y_train = torch.stack([s.y_train for s in splits])  # [G, n]
    g, n = y_train.shape
    gens = [torch.Generator().manual_seed(1000 + s) for s in seeds]
    rows = torch.arange(g)[:, None]
    for epoch in range(epochs):
        if epoch % 50 == 0:
            logger.info("head %s: epoch %d/%d", head, epoch, epochs)
        perm = torch.stack([torch.randperm(n, generator=gen) for gen in gens])  # [G, n]
        for start in range(0, n, batch_size):
            idx = perm[:, start : start + batch_size]  # [G, B]
            out, reg = model(x_train[rows, idx])
            ce = torch_f.cross_entropy(out.reshape(-1, num_bins), y_train[rows, idx].reshape(-1), reduction="none")
            loss = ce.view(g, -1).mean(1).sum() + reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        out, _ = model(torch.stack([s.x_test for s in splits]))
        pmf = torch.softmax(out, -1).double()  # [G, n_test, m]
        target = torch.stack([s.target_test for s in splits]).double()
        kl = kl_to_target(pmf, target).mean(-1)
        smooth = smoothness(pmf).mean(-1)
    return kl, smooth


def run_toy_runs(
    *,
    epochs: int = 500,
    seeds: tuple[int, ...] = (1, 2, 3, 42),
    datasets: tuple[str, ...] = DATASETS,
    heads: tuple[str, ...] = HEADS,
    num_samples: int = 5000,
    num_bins: int = 50,
    num_frequencies: int = 12,
    gamma: float = 1e-6,
) -> dict[str, dict[str, dict[str, list]]]:
    """Per-run results: ``{dataset: {head: {"seeds": [...], "kl": [...], "smoothness": [...]}}}``."""
    if len(set(seeds)) != len(seeds):  # a repeated seed is the same run again and would be counted twice
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    runs = [(d, s) for d in datasets for s in seeds]
    splits = [make_split(d, s, num_samples, num_bins) for d, s in runs]
    results: dict[str, dict[str, dict[str, list]]] = {d: {} for d in datasets}
    for head in heads:
        kl, smooth = train_head(
            head,
            splits,
            [s for _, s in runs],
            epochs=epochs,
            num_bins=num_bins,
            num_frequencies=num_frequencies,
            gamma=gamma if head == "fourier_reg" else 0.0,
        )
        for i, (d, s) in enumerate(runs):
            logger.info("head %s dataset %s seed %d: KL %.4f smoothness %.4f", head, d, s, kl[i], smooth[i])
            entry = results[d].setdefault(head, {"seeds": [], "kl": [], "smoothness": []})
            entry["seeds"].append(s)
            entry["kl"].append(kl[i].item())
            entry["smoothness"].append(smooth[i].item())
    return results


def summarize(runs: dict[str, dict[str, dict[str, list]]]) -> dict[str, dict[str, tuple[float, float]]]:
    """Mean KL and smoothness per dataset and head: ``{dataset: {head: (kl, smoothness)}}``."""
    return {
        d: {h: (float(np.mean(r["kl"])), float(np.mean(r["smoothness"]))) for h, r in per_head.items()}
        for d, per_head in runs.items()
    }


def paired_values(head_runs: dict[str, list], linear_runs: dict[str, list], metric: str) -> np.ndarray:
    """``[P, 2]`` (linear, head) values of ``metric`` on the P seeds both heads ran."""
    lin = dict(zip(linear_runs["seeds"], linear_runs[metric]))
    pairs = [(lin[s], v) for s, v in zip(head_runs["seeds"], head_runs[metric]) if s in lin]
    return np.array(pairs, dtype=np.float64).reshape(-1, 2)


def paired_comparison(
    head_runs: dict[str, list], linear_runs: dict[str, list], metric: str
) -> tuple[float, float, int, int]:
    """Head minus linear on the seeds both have: (mean difference, its standard error, runs where the head is
    lower, number of paired runs). The standard error is ``nan`` for a single pair."""
    pairs = paired_values(head_runs, linear_runs, metric)
    diffs = pairs[:, 1] - pairs[:, 0]
    if diffs.size == 0:
        return math.nan, math.nan, 0, 0
    se = float(diffs.std(ddof=1) / math.sqrt(diffs.size)) if diffs.size > 1 else math.nan
    return float(diffs.mean()), se, int((diffs < 0).sum()), int(diffs.size)


def plot_runs(runs: dict[str, dict[str, dict[str, list]]], path: str) -> None:
    """One panel per dataset: each run's Fourier-head KL against the linear head's KL on the same seed (points below
    the diagonal are runs where the Fourier head is closer to the true distribution), means marked with crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in runs if "linear" in runs[d]]
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 4.2), squeeze=False)
    colors = {"fourier": "tab:blue", "fourier_reg": "tab:orange"}
    for ax, d in zip(axes[0], datasets):
        values = list(runs[d]["linear"]["kl"])
        for head, r in runs[d].items():
            if head == "linear":
                continue
            pairs = paired_values(r, runs[d]["linear"], "kl")
            if pairs.size == 0:
                continue
            wins = int((pairs[:, 1] < pairs[:, 0]).sum())
            label = f"{head} (lower in {wins}/{len(pairs)})"
            ax.scatter(pairs[:, 0], pairs[:, 1], s=14, alpha=0.7, color=colors.get(head), label=label)
            ax.scatter(*pairs.mean(0), marker="X", s=120, color=colors.get(head), edgecolor="black")
            values += pairs[:, 1].tolist()
        lo, hi = min(values), max(values)
        pad = 0.05 * (hi - lo + 1e-9)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="gray", lw=1, ls="--")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(f"{d}: KL per run")
        ax.set_xlabel("linear head KL")
        ax.set_ylabel("Fourier head KL")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _paper(paper: dict[str, float], metric: str, kind: str | None) -> str:
    """The paper's number for this head, ``—`` where the paper gives none (the γ = 1e-6 head)."""
    return "—" if kind is None else f"{paper[f'{metric}_{kind}']:.3f}"


def run_toy(**kwargs) -> dict[str, dict[str, tuple[float, float]]]:
    """Mean KL and smoothness per dataset and head (:func:`run_toy_runs` arguments): ``{dataset: {head: (kl,
    smoothness)}}``."""
    return summarize(run_toy_runs(**kwargs))


def main(argv: list[str] | None = None) -> dict[str, dict[str, tuple[float, float]]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 42])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--heads", nargs="+", default=list(HEADS), choices=HEADS)
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--num-frequencies", type=int, default=12)
    parser.add_argument("--gamma", type=float, default=1e-6, help="regularisation weight of the fourier_reg head")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", default=None, help="CSV file for tidy rows (default benchmarks/results.csv)")
    parser.add_argument("--no-csv", action="store_true")
    parser.add_argument("--results-json", default=None, help="also write the per-run results to this JSON file")
    parser.add_argument("--plot", default=None, help="PNG of each run's Fourier KL against the linear KL")
    parser.add_argument(
        "--from-json",
        nargs="+",
        default=None,
        help="print the table from JSON files of earlier runs (e.g. one per head) instead of training",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    start = time.perf_counter()
    if args.from_json:
        runs: dict[str, dict[str, dict[str, list]]] = {}
        for path in args.from_json:
            with open(path) as f:
                for d, per_head in json.load(f).items():
                    runs.setdefault(d, {}).update(per_head)
    else:
        runs = run_toy_runs(
            epochs=args.epochs,
            seeds=tuple(args.seeds),
            datasets=tuple(args.datasets),
            heads=tuple(args.heads),
            num_samples=args.num_samples,
            num_frequencies=args.num_frequencies,
            gamma=args.gamma,
        )
    elapsed = time.perf_counter() - start
    if args.results_json:
        with open(args.results_json, "w") as f:
            json.dump(runs, f, indent=2)
    results = summarize(runs)
    if args.plot:
        plot_runs(runs, args.plot)
    seeds = sorted({s for per_head in runs.values() for r in per_head.values() for s in r["seeds"]})
    config = {
        "epochs": args.epochs,
        "seeds": seeds,
        "num_samples": args.num_samples,
        "num_bins": 50,
        "num_frequencies": args.num_frequencies,
        "gamma": args.gamma,
    }
    print(f"# Fourier head toy: {config}, {elapsed:.0f} s" + (f" (from {args.from_json})" if args.from_json else ""))
    header = "| dataset | head | runs | KL (ours) | KL sd | KL (paper) | smoothness (ours) | smoothness sd | smoothness (paper) |"
    print(header)
    print("|" + "---|" * 9)
    rows = []
    for d, per_head in results.items():
        for head, (kl, smooth) in per_head.items():
            kind = {"linear": "linear", "fourier": "fourier"}.get(head)
            paper = PAPER[d]
            r = runs[d][head]
            kl_sd = float(np.std(r["kl"], ddof=1)) if len(r["kl"]) > 1 else math.nan
            sm_sd = float(np.std(r["smoothness"], ddof=1)) if len(r["kl"]) > 1 else math.nan
            print(
                f"| {d} | {head} | {len(r['kl'])} | {kl:.3f} | {kl_sd:.3f} | {_paper(paper, 'kl', kind)} | {smooth:.3f} | "
                f"{sm_sd:.3f} | {_paper(paper, 'smooth', kind)} |"
            )
            base = per_head.get("linear")
            cfg = {**config, "dataset": d, "head": head}
            rows.append(make_row("fourier_toy", "kl", "nats", kl, base[0] if base else None, cfg))
            rows.append(make_row("fourier_toy", "smoothness", "", smooth, base[1] if base else None, cfg))
    for d, per_head in results.items():
        if "linear" not in per_head:
            continue
        for head in per_head:
            if head == "linear":
                continue
            kl_ok = per_head[head][0] < per_head["linear"][0]
            sm_ok = per_head[head][1] < per_head["linear"][1]
            kl_diff, kl_se, kl_wins, n = paired_comparison(runs[d][head], runs[d]["linear"], "kl")
            sm_diff, sm_se, sm_wins, _ = paired_comparison(runs[d][head], runs[d]["linear"], "smoothness")
            print(
                f"{d}: {head} KL below linear: {kl_ok} (paired difference {kl_diff:+.3f} ± {kl_se:.3f} se, lower in "
                f"{kl_wins}/{n} runs); smoother than linear: {sm_ok} ({sm_diff:+.3f} ± {sm_se:.3f} se, "
                f"{sm_wins}/{n} runs)"
            )
    if not args.no_csv:
        append_rows(rows, args.csv)
    return results


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import append_rows, make_row  # noqa: E402

if __name__ == "__main__":
    main()
