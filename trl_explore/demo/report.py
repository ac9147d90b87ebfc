"""The demo's report: PNG plots per metric and a Markdown report that states plainly what the run shows."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOW_PROB_PREFIX = "exploration/frac_prob_lt_"


def _series(logs: Sequence[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    pts = [(e["step"], e[key]) for e in logs if key in e and "step" in e]
    return [p[0] for p in pts], [p[1] for p in pts]


def _low_prob_key(results: Sequence[Any]) -> str | None:
    keys = sorted({k for r in results for e in r.logs for k in e if k.startswith(LOW_PROB_PREFIX)},
                  key=lambda k: -float(k[len(LOW_PROB_PREFIX):]))
    return keys[0] if keys else None


def _tail_mean(values: Sequence[float], n: int = 5) -> float:
    tail = list(values)[-n:]
    return sum(tail) / len(tail) if tail else float("nan")


def _smooth(values: Sequence[float], window: int = 5) -> list[float]:
    out = []
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1) : i + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def _plot_metric(results: Sequence[Any], key: str, title: str, ylabel: str, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    drawn = False
    for i, r in enumerate(results):
        steps, values = _series(r.logs, key)
        if not steps:
            continue
        color = f"C{i}"
        ax.plot(steps, values, color=color, alpha=0.25, linewidth=1)
        ax.plot(steps, _smooth(values), color=color, linewidth=2, label=r.label)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_title(title)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_pass_at_k(results: Sequence[Any], k: int, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(r.pass_at_k for r in results):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0), sharex=True)
    for i, r in enumerate(results):
        steps = [row["step"] for row in r.pass_at_k]
        for ax, key in zip(axes, ("pass@1", f"pass@{k}")):
            ax.plot(steps, [row.get(key, float("nan")) for row in r.pass_at_k], marker="o", color=f"C{i}",
                    label=r.label)
    for ax, key in zip(axes, ("pass@1", f"pass@{k}")):
        ax.set_title(f"{key} on held-out prompts")
        ax.set_xlabel("optimizer step")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _first_last(r: Any, key: str) -> tuple[float, float]:
    if not r.pass_at_k:
        return float("nan"), float("nan")
    return r.pass_at_k[0].get(key, float("nan")), r.pass_at_k[-1].get(key, float("nan"))


def _standard_error(p: float, n: int) -> float:
    """Binomial standard error of a rate measured on `n` observations, with the Laplace estimate (c + 1) / (n + 2) so
    that rates of exactly 0 or 1 do not claim zero noise."""
    if not math.isfinite(p):
        return float("nan")
    smoothed = (p * n + 1) / (n + 2)
    return math.sqrt(smoothed * (1 - smoothed) / max(n, 1))


def compare_with_baseline(results: Sequence[Any], settings: Any) -> list[str]:
    """Plain sentences comparing each method's final pass@1 / pass@k and entropy with GRPO's (noise-aware)."""
    base = next((r for r in results if r.name == "grpo"), None)
    if base is None:
        return ["GRPO was not run, so no method is compared with the baseline."]
    lines = []
    k = settings.k
    n_prompts = settings.eval_prompts
    for r in results:
        if r is base:
            continue
        for key, n_obs in (("pass@1", n_prompts * k), (f"pass@{k}", n_prompts)):
            mine, theirs = _first_last(r, key)[1], _first_last(base, key)[1]
            noise = 2 * math.hypot(_standard_error(mine, n_obs), _standard_error(theirs, n_obs))
            diff = mine - theirs
            if not math.isfinite(diff):
                continue
            if abs(diff) <= noise:
                verdict = f"within noise (±{noise:.3f}, two standard errors): no difference shown on this run"
            elif diff > 0:
                verdict = f"higher than GRPO by {diff:.3f} (beyond two standard errors, ±{noise:.3f})"
            else:
                verdict = f"lower than GRPO by {-diff:.3f} (beyond two standard errors, ±{noise:.3f}): it does not beat GRPO here"
            lines.append(f"- **{r.label}** final {key} = {mine:.3f} vs GRPO {theirs:.3f}: {verdict}.")
        e_mine, e_base = _tail_mean(_series(r.logs, "entropy")[1]), _tail_mean(_series(base.logs, "entropy")[1])
        if math.isfinite(e_mine) and math.isfinite(e_base):
            rel = "higher than" if e_mine > e_base + 5e-4 else "lower than" if e_mine < e_base - 5e-4 else "the same as"
            lines.append(f"- **{r.label}** ends with policy entropy {e_mine:.3f} ({rel} GRPO's {e_base:.3f}; mean "
                         "of the last 5 steps).")
    return lines


def _write_metrics_csv(results: Sequence[Any], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "step", "metric", "value"])
        for r in results:
            for entry in r.logs:
                for key, value in entry.items():
                    if key != "step":
                        writer.writerow([r.name, int(entry.get("step", -1)), key, value])
            for row in r.pass_at_k:
                for key, value in row.items():
                    if key.startswith("pass@"):
                        writer.writerow([r.name, int(row["step"]), f"pass_at_k/{key}", value])


def final_table(results: Sequence[Any], k: int) -> list[str]:
    """Markdown rows: pass@1 and pass@k (start → end), entropy, low-probability share, wall time per step."""
    low_key = _low_prob_key(results)
    low_label = f"share p<{low_key[len(LOW_PROB_PREFIX):]}" if low_key else "share low-p"
    rows = [
        f"| method | pass@1 (start → end) | pass@{k} (start → end) | entropy | {low_label} | reward | s / step |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        p1 = _first_last(r, "pass@1")
        pk = _first_last(r, f"pass@{k}")
        ent = _tail_mean(_series(r.logs, "entropy")[1])
        low = _tail_mean(_series(r.logs, low_key)[1]) if low_key else float("nan")
        rew = _tail_mean(_series(r.logs, "reward")[1])
        rows.append(
            f"| {r.label} | {p1[0]:.3f} → {p1[1]:.3f} | {pk[0]:.3f} → {pk[1]:.3f} | {ent:.3f} | {low:.3f} | "
            f"{rew:.3f} | {r.seconds_per_step:.2f} |"
        )
    return rows


def write_report(
    results: Sequence[Any], settings: Any, output_dir: Path, *, model_path: str, warm_seconds: float,
    total_seconds: float,
) -> Path:
    """Write plots, ``metrics.csv`` and ``demo_report.md`` under `output_dir`; return the report's path."""
    output_dir = Path(output_dir)
    plots = []
    low_key = _low_prob_key(results)
    for key, title, ylabel, name in [
        ("reward", "Training reward (mean over the batch)", "reward", "reward.png"),
        ("entropy", "Policy entropy of sampled completions", "nats / token", "entropy.png"),
        *([(low_key, f"Share of sampled tokens with p < {low_key[len(LOW_PROB_PREFIX):]}", "share",
            "low_prob_tokens.png")] if low_key else []),
    ]:
        p = _plot_metric(results, key, title, ylabel, output_dir / name)
        if p is not None:
            plots.append((title, p.name))
    p = _plot_pass_at_k(results, settings.k, output_dir / "pass_at_k.png")
    if p is not None:
        plots.append((f"pass@1 and pass@{settings.k}", p.name))
    _write_metrics_csv(results, output_dir / "metrics.csv")

    model_desc = settings.model or f"toy Qwen2 warm-started on {settings.task} ({model_path})"
    lines = [
        "# trl_explore demo report",
        "",
        f"Model: {model_desc}. Task: {settings.task}. Every method starts from the same weights and trains "
        f"{settings.steps} steps of {settings.prompts_per_step} prompts × {settings.num_generations} completions "
        f"(seed {settings.seed}, learning rate {settings.learning_rate:g}, temperature 1.0, token-mean loss, no KL). "
        f"pass@k is measured on {settings.eval_prompts} held-out prompts with {settings.k} samples each "
        f"(temperature 1.0) every {settings.eval_every} steps.",
        "",
        f"Wall time: {total_seconds:.0f} s in all, of which {warm_seconds:.0f} s warm start (0 when cached).",
        "",
        "## Final table",
        "",
        *final_table(results, settings.k),
        "",
        "Entropy, low-probability share and reward are means of the last 5 logged steps.",
        "",
        "## What this run shows",
        "",
        *compare_with_baseline(results, settings),
        "",
        "A toy model and a short run are a smoke-scale experiment: differences within noise are expected and a "
        "method that helps a 14B model need not help here. Use `--steps`, `--model` and `--task` for a real run.",
        "",
        "## Methods",
        "",
        *[f"- **{r.label}** — {r.summary}" for r in results],
        "",
        "## Plots",
        "",
        *[f"### {title}\n\n![{title}]({name})\n" for title, name in plots],
        "Per-step metrics of every method are in `metrics.csv`; each run's logs in `runs/<method>/result.json`.",
        "",
    ]
    path = output_dir / "demo_report.md"
    path.write_text("\n".join(lines))
    return path
