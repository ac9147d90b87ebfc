"""The demo's report: a three-line verdict, paired statistics against GRPO, plots and tidy CSV files.

`write_report` builds the Markdown report from a list of section builders (`SECTIONS`); a module that adds a section
(e.g. a decoding comparison) appends its builder there. Numbers come from `trl_explore.demo.quantities` (what is
measured) and `trl_explore.demo.stats` (paired differences across seeds).
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .methods import BASELINE
from .plots import _band_note, plot_curves, plot_mechanisms, plot_overview, plot_pass_at_k  # noqa: F401 (re-exported)
from .quantities import QUANTITIES, window
from .regime import QUICK_REGIME
from .stats import CONFIDENCE, PairedDifference, paired_difference, t_critical
from .tuned import TUNED_DATE, TUNED_PROVISIONAL, collapse_note, learning_rate_of

logger = logging.getLogger(__name__)

OVERVIEW_PNG = "overview.png"
PASS_AT_K_PNG = "pass_at_k.png"
CURVES_PNG = "training_curves.png"
MECHANISMS_PNG = "mechanisms.png"


# ------------------------------------------------------------------------------------------------------- numbers
def quantity_values(run: Any, method: str, key: str, *, at_end: bool = True) -> list[float]:
    """One value of quantity `key` per seed (seed order) for `method`."""
    q = QUANTITIES[key]
    return [q.end(r, run.settings) if at_end else q.start(r, run.settings) for r in run.runs(method)]


def change(run: Any, method: str, key: str) -> PairedDifference | None:
    """End minus start of `key` for `method`, paired by seed (None when a value is missing)."""
    end, start = quantity_values(run, method, key), quantity_values(run, method, key, at_end=False)
    if not end or not all(math.isfinite(v) for v in end + start):
        return None
    return paired_difference(end, start)


def versus_baseline(run: Any, method: str, key: str) -> PairedDifference | None:
    """End value of `key` for `method` minus GRPO's, paired by seed (None when a value is missing)."""
    mine, base = quantity_values(run, method, key), quantity_values(run, BASELINE, key)
    if not mine or len(mine) != len(base) or not all(math.isfinite(v) for v in mine + base):
        return None
    return paired_difference(mine, base)


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def _label(run: Any, key: str) -> str:
    return QUANTITIES[key].label(run.settings)


def compared_keys(method: Any) -> list[str]:
    """The quantities a method is compared with GRPO on: its targets, then pass@1."""
    return [*method.targets, *([] if "pass@1" in method.targets else ["pass@1"])]


def method_learning_rate(run: Any, method: str) -> float:
    """The learning rate `method` trained at: recorded in its runs, else what the settings give it (a folder written
    before runs recorded their rate had one shared rate)."""
    recorded = [r.learning_rate for r in run.runs(method) if getattr(r, "learning_rate", None) is not None]
    return recorded[0] if recorded else learning_rate_of(run.settings.learning_rate, method)


def _interval(diff: PairedDifference) -> str:
    """``[+0.010, +0.110]``: the two-sided 95% t-interval mean ± t_{0.975, n-1} · se; ``n/a`` below 2 seeds."""
    if not math.isfinite(diff.half_width):
        return "n/a"
    return f"[{diff.mean - diff.half_width:+.3f}, {diff.mean + diff.half_width:+.3f}]"


def _with_relative(run: Any, diff: PairedDifference, key: str) -> str:
    """``+0.047 ± 0.009 (+22 % of GRPO's)`` when GRPO's end value is positive."""
    base = _mean(quantity_values(run, BASELINE, key))
    if math.isfinite(base) and base > 0:
        return f"{diff.format()} ({100 * diff.mean / base:+.0f} % of GRPO's)"
    return diff.format()


# ------------------------------------------------------------------------------------------------------- verdict
def _span(start: float, end: float) -> str:
    """``0.199 → 0.264``; ``stayed at 3.518`` when both print alike at three decimals."""
    return f"stayed at {end:.3f}" if f"{start:.3f}" == f"{end:.3f}" else f"{start:.3f} → {end:.3f}"


def _movement(start: float, end: float) -> str:
    """``rose 0.296 → 0.317`` / ``fell ...``; ``stayed at 3.518`` when both print alike at three decimals."""
    span = _span(start, end)
    return span if span.startswith("stayed") else f"{'rose' if end > start else 'fell'} {span}"


def is_smoke_run(settings: Any) -> bool:
    """A `trl-explore demo --quick` run (`DemoSettings.quick`): the toy model warm-started for `QUICK_REGIME`'s few
    steps, with its batch shape (fields the command line cannot change). Its numbers check the install only."""
    fields = ("warm_start_steps", "prompts_per_step", "num_generations", "steps_per_generation")
    return settings.model is None and all(getattr(settings, f) == getattr(QUICK_REGIME, f) for f in fields)


SMOKE_NOTE = (
    "smoke run (`--quick`): a tiny budget on a barely warm-started model that checks that everything runs; its "
    "numbers do not compare the methods (run `trl-explore demo` for that)"
)


def classify_target(diff: PairedDifference, key: str) -> str:
    """A targeted quantity vs GRPO: ``"moved as intended"`` / ``"moved against the intent"`` when resolved (the sign
    of the mean against the quantity's intended direction), else ``"not resolved"``."""
    if not diff.resolved:
        return "not resolved"
    return "moved as intended" if diff.mean * QUANTITIES[key].intended > 0 else "moved against the intent"


def classify_pass1(diff: PairedDifference) -> str:
    """pass@1 vs GRPO: ``"below GRPO"`` / ``"above GRPO"`` when resolved, else ``"within noise"``."""
    return ("below GRPO" if diff.mean < 0 else "above GRPO") if diff.resolved else "within noise"


def verdict(run: Any) -> list[str]:
    """Three lines: did GRPO learn; which methods changed their targeted quantity (by how much); pass@1 vs GRPO."""
    n = run.settings.seeds
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    gain, ent = change(run, BASELINE, "pass@1"), change(run, BASELINE, "entropy")
    p1s, p1e = (
        _mean(quantity_values(run, BASELINE, "pass@1", at_end=False)),
        _mean(quantity_values(run, BASELINE, "pass@1")),
    )
    if gain is None:
        first = "**GRPO:** no pass@1 measurement."
    else:
        learned = gain.resolved and gain.mean > 0
        head = "GRPO learned" if learned else "GRPO did not clearly learn"
        why = (
            "95% t-interval above 0"
            if learned
            else ("no standard error with one seed" if n < 2 else f"95% t-interval {_interval(gain)}: not resolved")
        )
        first = f"**{head}:** held-out pass@1 {_span(p1s, p1e)} ({gain.format()} across {seeds}, {why})"
        if ent is not None:
            e0, e1 = (
                _mean(quantity_values(run, BASELINE, "entropy", at_end=False)),
                _mean(quantity_values(run, BASELINE, "entropy")),
            )
            first += f"; its policy entropy {_movement(e0, e1)} nats/token"
        big = change(run, BASELINE, "pass@k")
        if big is not None:
            k0, k1 = (
                _mean(quantity_values(run, BASELINE, "pass@k", at_end=False)),
                _mean(quantity_values(run, BASELINE, "pass@k")),
            )
            first += f" and its {_label(run, 'pass@k')} {_movement(k0, k1)}"
        first += "."

    raised, lowered, unresolved = [], [], []
    pass1_diff, pass1_same = [], []
    for method in run.methods:
        if method.name == BASELINE:
            continue
        for key in method.targets:
            diff = versus_baseline(run, method.name, key)
            if diff is None:
                continue
            text = f"{method.label} {_label(run, key)} {_with_relative(run, diff, key)}"
            buckets = {"moved as intended": raised, "moved against the intent": lowered, "not resolved": unresolved}
            buckets[classify_target(diff, key)].append(text)
        diff = versus_baseline(run, method.name, "pass@1")
        if diff is not None:
            (pass1_diff if diff.resolved else pass1_same).append((diff.mean, f"{method.label} {diff.format()}"))
    parts = []
    if raised:
        parts.append("moved as intended: " + ", ".join(raised))
    if lowered:
        parts.append("moved against the intent: " + ", ".join(lowered))
    if unresolved:
        parts.append("not resolved: " + ", ".join(unresolved))
    if not parts:
        second = "**Targeted quantities vs GRPO:** no method besides GRPO was run, so nothing is compared."
    elif not raised and not lowered:
        second = (
            f"**Targeted quantities vs GRPO:** no method's 95% t-interval on the quantity it targets excludes 0 "
            f"at {seeds} ({parts[0]})."
        )
    else:
        second = (
            "**Targeted quantities vs GRPO (resolved = 95% paired t-interval excludes 0):** " + "; ".join(parts) + "."
        )
    if not pass1_diff and not pass1_same:
        third = "**pass@1 vs GRPO:** nothing to compare."
    elif not pass1_diff:
        third = f"**pass@1 vs GRPO:** no method's 95% t-interval excludes 0 at {seeds}."
    else:
        groups = [
            ("below GRPO (resolved)", [t for m, t in pass1_diff if m < 0]),
            ("above GRPO (resolved)", [t for m, t in pass1_diff if m > 0]),
            ("within noise", [t for _, t in pass1_same]),
        ]
        third = "**pass@1 vs GRPO:** " + "; ".join(f"{name}: {', '.join(items)}" for name, items in groups if items)
        third += "."
    return [first, second, third]


# ------------------------------------------------------------------------------------------------------- tables
def _fmt(v: float) -> str:
    return f"{v:.3f}" if math.isfinite(v) else "n/a"


def results_table(run: Any) -> list[str]:
    """Per method: its learning rate, the mean over seeds at the start and the end of each quantity, and seconds per
    step."""
    keys = list(QUANTITIES)
    header = (
        "| method | learning rate | " + " | ".join(f"{_label(run, k)} (start → end)" for k in keys) + " | s / step |"
    )
    rows = [header, "|---" * (len(keys) + 3) + "|"]
    for method in run.methods:
        cells = []
        for key in keys:
            s, e = (
                _mean(quantity_values(run, method.name, key, at_end=False)),
                _mean(quantity_values(run, method.name, key)),
            )
            cells.append(f"{_fmt(s)} → {_fmt(e)}")
        sps = _mean([r.seconds_per_step for r in run.runs(method.name)])
        rate = method_learning_rate(run, method.name)
        rows.append(f"| {method.label} | {rate:g} | " + " | ".join(cells) + f" | {sps:.2f} |")
    return rows


def paired_table(run: Any) -> list[str]:
    """Per method and compared quantity: method and GRPO at the end, the paired difference ± SE, its 95% t-interval,
    resolved (the interval excludes 0) or not."""
    rows = [
        "| method | quantity | method (end) | GRPO (end) | difference ± SE | 95% t-interval | resolved? |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in run.methods:
        if method.name == BASELINE:
            continue
        for key in compared_keys(method):
            diff = versus_baseline(run, method.name, key)
            mine, base = _mean(quantity_values(run, method.name, key)), _mean(quantity_values(run, BASELINE, key))
            target = " (target)" if key in method.targets else ""
            if diff is None:
                rows.append(
                    f"| {method.label} | {_label(run, key)}{target} | {_fmt(mine)} | {_fmt(base)} | n/a | n/a | n/a |"
                )
                continue
            word = "**yes**" if diff.resolved else "no"
            rows.append(
                f"| {method.label} | {_label(run, key)}{target} | {_fmt(mine)} | {_fmt(base)} | "
                f"{diff.format()} | {_interval(diff)} | {word} |"
            )
    return rows


def grpo_table(run: Any) -> list[str]:
    """GRPO's own change over the run (end minus start, paired by seed) for each quantity."""
    rows = ["| quantity | start | end | change ± SE | 95% t-interval | resolved? |", "|---|---|---|---|---|---|"]
    for key in QUANTITIES:
        diff = change(run, BASELINE, key)
        s, e = _mean(quantity_values(run, BASELINE, key, at_end=False)), _mean(quantity_values(run, BASELINE, key))
        cells = ("n/a",) * 3 if diff is None else (diff.format(), _interval(diff), "**yes**" if diff.resolved else "no")
        rows.append(f"| {_label(run, key)} | {_fmt(s)} | {_fmt(e)} | " + " | ".join(cells) + " |")
    return rows


# ---------------------------------------------------------------------------------------------------- csv files
def write_metrics_csv(run: Any, path: Path) -> None:
    """Tidy rows ``method, seed, step, metric, value``: every logged training metric and every evaluation."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "seed", "step", "metric", "value"])
        for r in run.results:
            for entry in r.logs:
                for key, value in entry.items():
                    if key != "step":
                        writer.writerow([r.method, r.seed, int(entry.get("step", -1)), key, value])
            for row in [r.start_eval, *r.evals]:
                for key, value in row.items():
                    if key.startswith("pass@"):
                        writer.writerow([r.method, r.seed, int(row["step"]), f"pass_at_k/{key}", value])


def write_summary_csv(run: Any, path: Path) -> None:
    """Rows ``method, seed, quantity, start, end``: the numbers the paired statistics are computed from."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "seed", "quantity", "start", "end"])
        for method in run.methods:
            for r in run.runs(method.name):
                for q in QUANTITIES.values():
                    writer.writerow(
                        [method.name, r.seed, q.label(run.settings), q.start(r, run.settings), q.end(r, run.settings)]
                    )


# -------------------------------------------------------------------------------------------------------- report
def _section_smoke(run: Any, out: Path) -> list[str]:
    if not is_smoke_run(run.settings):
        return []
    s = run.settings
    return [
        f"> **This is a smoke run (`--quick`)**: {s.steps} steps of {s.prompts_per_step} prompts × {s.num_generations} "
        f"completions on a model warm-started for {s.warm_start_steps} steps, {s.eval_prompts} held-out prompts. It "
        "checks that everything runs; its numbers do not compare the methods. Run `trl-explore demo` for the "
        "comparison.",
        "",
    ]


def _section_verdict(run: Any, out: Path) -> list[str]:
    return ["## Verdict", "", *[f"{i}. {line}" for i, line in enumerate(verdict(run), 1)], ""]


def _section_results(run: Any, out: Path) -> list[str]:
    s = run.settings
    w = window(s.steps)
    return [
        "## What GRPO did",
        "",
        *grpo_table(run),
        "",
        f"Start and end of entropy and of the low-probability share are means of the first and last {w} steps; "
        f"pass@k is measured on {s.eval_prompts} held-out prompts with {s.k} samples each (temperature "
        f"{s.temperature:g}). Changes are paired by seed (end minus start of the same run).",
        "",
        "## Paired differences to GRPO",
        "",
        "Each method against GRPO on the quantities it targets and on pass@1: the end-of-run value minus GRPO's with "
        "the same seed, mean ± one standard error across seeds. *Resolved* means the two-sided "
        f"{100 * CONFIDENCE:.0f}% paired t-interval, mean ± t · SE with t = {_t_text(s.seeds)}, excludes 0 (a paired "
        't-test at the 5% level); read an unresolved difference as "not shown at this sample size", not as "no '
        'effect". The error bar is the seed-to-seed spread: a run on another CPU (or `--float-path`) rounds '
        "differently and lands elsewhere within it. Add seeds with `--seeds`.",
        "",
        *paired_table(run),
        "",
        "## All quantities, mean over seeds",
        "",
        *results_table(run),
        "",
    ]


def _t_text(n: int) -> str:
    """``4.30 at 3 seeds (2 degrees of freedom)``; ``n/a`` with one seed."""
    if n < 2:
        return "n/a (one seed)"
    return f"{t_critical(n - 1):.2f} at {n} seeds ({n - 1} degree{'s' if n > 2 else ''} of freedom)"


def _section_plots(run: Any, out: Path) -> list[str]:
    return [
        "## Plots",
        "",
        f"![Overview]({OVERVIEW_PNG})",
        "",
        f"![pass@k over k]({PASS_AT_K_PNG})",
        "",
        f"![Training curves]({CURVES_PNG})",
        "",
        *(
            ["Each method's mechanism at work (the metric it logs for it):", "", f"![Mechanisms]({MECHANISMS_PNG})", ""]
            if (out / MECHANISMS_PNG).is_file()
            else []
        ),
        _band_note(run).capitalize() + ". Per-step metrics of every run are in `metrics.csv`, the per-seed start "
        "and end values behind the tables in `summary.csv`, each run's logs in `runs/<method>/seed<k>.json`.",
        "",
    ]


def _section_settings(run: Any, out: Path) -> list[str]:
    s = run.settings
    model = s.model or f"the toy Qwen2 warm-started on {s.task} (`{run.model_path}`)"
    return [
        "## Settings",
        "",
        f"- Model: {model}. Every run starts from these weights.",
        f"- Seeds {', '.join(map(str, s.seed_list))}: a seed fixes the order of the training prompts, the sampling "
        "during training and the sampling of the held-out evaluation, so the runs of two methods with one seed are "
        "paired.",
        f"- Training: {s.steps} optimizer steps of {s.prompts_per_step} prompts × {s.num_generations} completions, "
        f"{s.steps_per_generation} optimizer steps per generation (importance ratio ≠ 1 from the second), constant "
        f"learning rate {_rate_source(s)}, temperature {s.temperature:g}, token-mean loss, no KL, clip ε = "
        f"{s.epsilon:g} (unless the method sets its own), at most {s.max_completion_length} completion tokens.",
        f"- Wall time: {run.total_seconds:.0f} s in all with {run.workers} worker process"
        f"{'es' if run.workers > 1 else ''}, "
        + (
            f"of which {run.warm_seconds:.0f} s warm start (cached for later runs)"
            if run.warm_seconds >= 5
            else "the warm start cached"
        )
        + (
            f"; CPU time {run.cpu_seconds:.0f} s (on a busy machine the wall time exceeds CPU time / cores)."
            if math.isfinite(run.cpu_seconds)
            else "."
        ),
        "- A toy model and a short run are a smoke-scale experiment: a method that helps a 14B model need not help "
        "here, and one that helps here need not help there.",
        "",
    ]


def _rate_source(s: Any) -> str:
    if s.learning_rate is not None:
        return f"{s.learning_rate:g} for every method (`--learning-rate`)"
    if TUNED_PROVISIONAL:
        return (
            "per method, as in the table above (`trl_explore.demo.tuned`; PROVISIONAL: the learning-rate sweep "
            "has not finished, and every method holds the former shared rate)"
        )
    return f"per method, as in the table above (chosen by the learning-rate sweep of {TUNED_DATE})"


def _section_methods(run: Any, out: Path) -> list[str]:
    lines = ["## Methods", ""]
    for m in run.methods:
        targets = ", ".join(QUANTITIES[t].label(run.settings) for t in m.targets) or "none (the baseline)"
        note = collapse_note(run.settings.learning_rate, m.name)
        lines.append(f"- **{m.label}** — {m.summary} Targets: {targets}.{note}")
    return [*lines, ""]


Section = Callable[[Any, Path], list[str]]


def _section_decoding(run: Any, output_dir: Path) -> list[str]:
    from .decoding import decoding_report_section  # SwiReasoning vs plain sampling on the run's model

    return decoding_report_section(run, output_dir)


SECTIONS: list[Section] = [
    _section_smoke,
    _section_verdict,
    _section_results,
    _section_plots,
    _section_settings,
    _section_methods,
    _section_decoding,
]
"""Builders of the report's sections, in order: ``builder(run, output_dir) -> Markdown lines``. Append to add one."""


def write_report(run: Any, output_dir: Path) -> Path:
    """Write plots, ``metrics.csv``, ``summary.csv`` and ``demo_report.md`` under `output_dir`; return the report."""
    output_dir = Path(output_dir)
    plot_overview(run, output_dir / OVERVIEW_PNG)
    plot_pass_at_k(run, output_dir / PASS_AT_K_PNG)
    plot_curves(run, output_dir / CURVES_PNG)
    plot_mechanisms(run, output_dir / MECHANISMS_PNG)
    write_metrics_csv(run, output_dir / "metrics.csv")
    write_summary_csv(run, output_dir / "summary.csv")
    lines = ["# trl_explore demo report", ""]
    for section in SECTIONS:
        lines.extend(section(run, output_dir))
    path = output_dir / "demo_report.md"
    path.write_text("\n".join(lines))
    if is_smoke_run(run.settings):
        logger.info("%s", SMOKE_NOTE.replace("`", ""))
    return path
