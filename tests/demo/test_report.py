"""The report's verdict and tables on a hand-built run (no training): the numbers equal hand computations."""

import math

import pytest

from trl_explore.demo.methods import METHODS
from trl_explore.demo.report import change, verdict, versus_baseline, write_report
from trl_explore.demo.runner import DemoRun, DemoSettings, RunResult

STEPS = 10  # the "start" / "end" windows of a training-log quantity are the first / last step (a tenth of 10)


RATES = {"grpo": 5e-4, "lp_reg": 1.5e-4, "nsr": 5e-5}  # each method's (recorded) learning rate


def _run_result(method, seed, entropy_end, pass_end, start):
    logs = [
        {
            "step": float(t),
            "entropy": 0.5 if t == 1 else entropy_end,
            "reward": 0.2,
            "exploration/frac_prob_lt_0.1": 0.03,
        }
        for t in range(1, STEPS + 1)
    ]
    final = {"step": float(STEPS), "pass@1": pass_end[0], "pass@2": pass_end[1], "pass@4": pass_end[2]}
    return RunResult(
        method=method,
        label=METHODS[method].label,
        seed=seed,
        logs=logs,
        evals=[final],
        train_seconds=1.0,
        eval_seconds=0.1,
        steps=STEPS,
        start_eval=start,
        learning_rate=RATES[method],
    )


def _run(grpo_pass1_end):
    settings = DemoSettings(methods=["grpo", "lp_reg", "nsr"], seeds=3, steps=STEPS, k=4, workers=1)
    starts = {s: {"step": 0.0, "pass@1": 0.2, "pass@2": 0.35, "pass@4": 0.6} for s in range(3)}
    grpo_entropy, lp_entropy = (0.25, 0.30, 0.32), (0.31, 0.37, 0.37)
    grpo_pass4, nsr_pass4 = (0.60, 0.65, 0.70), (0.50, 0.60, 0.70)
    results = []
    for s in range(3):
        results.append(_run_result("grpo", s, grpo_entropy[s], (grpo_pass1_end[s], 0.4, grpo_pass4[s]), starts[s]))
        results.append(_run_result("lp_reg", s, lp_entropy[s], (grpo_pass1_end[s], 0.4, 0.6), starts[s]))
        results.append(_run_result("nsr", s, 0.45, (0.1, 0.3, nsr_pass4[s]), starts[s]))
    methods = [METHODS[n] for n in ("grpo", "lp_reg", "nsr")]
    return DemoRun(
        settings=settings,
        methods=methods,
        results=results,
        start_evals=starts,
        model_path="toy",
        warm_seconds=0.0,
        total_seconds=1.0,
        workers=1,
    )


def test_verdict_matches_hand_computation(tmp_path):
    """GRPO pass@1 0.2 -> (0.30, 0.32, 0.31): gains (0.10, 0.12, 0.11), mean 0.11, sd 0.01, se 0.01/sqrt(3) = 0.0058:
    learned: the 95% t-interval at 2 degrees of freedom, 0.11 ± 4.30265 * 0.0058 = 0.11 ± 0.0248, excludes 0.
    Its entropy 0.5 -> (0.25, 0.30, 0.32) mean 0.29: fell.
    Lp-Reg entropy (0.31, 0.37, 0.37) vs GRPO (0.25, 0.30, 0.32): d = (0.06, 0.07, 0.05), mean 0.06, sd 0.01,
    se 0.0058, interval [0.06 - 0.0248, 0.06 + 0.0248] = [+0.035, +0.085]: resolved, as intended (entropy up),
    0.06 / 0.29 = +21 % of GRPO's.
    NSR pass@4 (0.50, 0.60, 0.70) vs GRPO (0.60, 0.65, 0.70): d = (-0.10, -0.05, 0), mean -0.05, sd 0.05,
    se 0.0289: half-width 4.30265 * 0.0289 = 0.1242 > 0.05, not resolved (-0.05 / 0.65 = -8 % of GRPO's); Lp-Reg's
    share equals GRPO's. NSR pass@1 0.1 vs GRPO (0.30, 0.32, 0.31): d = (-0.20, -0.22, -0.21), mean -0.21,
    se 0.0058: below GRPO, resolved."""
    run = _run((0.30, 0.32, 0.31))
    gain = change(run, "grpo", "pass@1")
    assert gain.mean == pytest.approx(0.11) and gain.se == pytest.approx(0.01 / math.sqrt(3))
    lp = versus_baseline(run, "lp_reg", "entropy")
    assert lp.mean == pytest.approx(0.06) and lp.se == pytest.approx(0.01 / math.sqrt(3)) and lp.resolved
    nsr = versus_baseline(run, "nsr", "pass@k")
    assert nsr.mean == pytest.approx(-0.05) and nsr.se == pytest.approx(0.05 / math.sqrt(3)) and not nsr.resolved

    lines = verdict(run)
    assert len(lines) == 3
    assert lines[0].startswith(
        "**GRPO learned:** held-out pass@1 0.200 → 0.310 (+0.110 ± 0.006 across 3 seeds, 95% t-interval above 0)"
    )
    assert "entropy fell 0.500 → 0.290" in lines[0] and "pass@4 rose 0.600 → 0.650" in lines[0]
    assert "(resolved = 95% paired t-interval excludes 0)" in lines[1]
    assert "moved as intended: Lp-Reg entropy +0.060 ± 0.006 (+21 % of GRPO's)" in lines[1]
    assert (
        "; not resolved: Lp-Reg share p<0.1 +0.000 ± 0.000 (+0 % of GRPO's), NSR pass@4 -0.050 ± 0.029 (-8 % of GRPO's)."
        in lines[1]
    )
    assert "below GRPO (resolved): NSR -0.210 ± 0.006" in lines[2] and "within noise: Lp-Reg +0.000" in lines[2]

    report = write_report(run, tmp_path).read_text()
    assert "| Lp-Reg | entropy (target) | 0.350 | 0.290 | +0.060 ± 0.006 | [+0.035, +0.085] | **yes** |" in report
    # -0.05 ± 0.12422: [-0.174, +0.074]
    assert "| NSR | pass@4 (target) | 0.600 | 0.650 | -0.050 ± 0.029 | [-0.174, +0.074] | no |" in report
    # the rate each method trained at, as its runs recorded it
    assert "| GRPO | 0.0005 |" in report and "| Lp-Reg | 0.00015 |" in report and "| NSR | 5e-05 |" in report
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert "lp_reg,1,entropy,0.5,0.37" in summary


def test_verdict_says_plainly_when_grpo_did_not_learn():
    """GRPO pass@1 0.2 -> (0.25, 0.15, 0.21): gains (0.05, -0.05, 0.01), mean 0.0033, not resolved."""
    first = verdict(_run((0.25, 0.15, 0.21)))[0]
    assert first.startswith("**GRPO did not clearly learn:**") and "not resolved" in first


def _all_methods_run(settings: DemoSettings, value: float = 0.0) -> DemoRun:
    """Every default method, 2 seeds, every quantity flat at `value` (a `--quick` run's degenerate numbers)."""
    from trl_explore.demo.methods import resolve_methods

    methods = resolve_methods(settings.methods)
    start = {"step": 0.0, **{f"pass@{k}": value for k in (1, 2, 4)}}
    results = []
    for seed in settings.seed_list:
        logs = [
            {"step": float(t), "entropy": 3.518, "reward": value, "exploration/frac_prob_lt_0.1": 0.03}
            for t in range(1, settings.steps + 1)
        ]
        for m in methods:
            results.append(
                RunResult(
                    method=m.name,
                    label=m.label,
                    seed=seed,
                    logs=logs,
                    evals=[{**start, "step": float(settings.steps)}],
                    train_seconds=1.0,
                    eval_seconds=0.1,
                    steps=settings.steps,
                    start_eval=start,
                )
            )
    return DemoRun(
        settings=settings,
        methods=methods,
        results=results,
        start_evals=dict.fromkeys(settings.seed_list, start),
        model_path="toy",
        warm_seconds=0.0,
        total_seconds=1.0,
        workers=1,
    )


def test_quick_report_says_it_is_a_smoke_run(tmp_path, caplog):
    """`--quick` settings (`DemoSettings.quick`): the report opens with the smoke-run note, the console says it too,
    and a quantity that did not move reads "stayed at 3.518", not "rose 3.518 → 3.518". The default settings get no
    note."""
    import logging

    run = _all_methods_run(DemoSettings.quick(workers=1, k=4))
    with caplog.at_level(logging.INFO, logger="trl_explore.demo.report"):
        report = write_report(run, tmp_path).read_text()
    head = report.split("## Verdict")[0]
    assert (
        "> **This is a smoke run (`--quick`)**: 4 steps of 2 prompts × 4 completions on a model warm-started for "
        "60 steps, 8 held-out prompts." in head
    )
    assert "smoke run (--quick)" in caplog.text
    first = verdict(run)[0]
    assert "its policy entropy stayed at 3.518 nats/token and its pass@4 stayed at 0.000." in first
    assert "→" not in first  # (the tables still give start → end)
    assert "smoke run" not in write_report(_run((0.30, 0.32, 0.31)), tmp_path).read_text()


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("plot", ["plot_pass_at_k", "plot_overview", "plot_curves"])
def test_legend_and_note_clear_the_axis_labels(plot, tmp_path, monkeypatch):
    """With every default method the legend takes two rows (8 labels, 7 per row); it must not be drawn over any
    panel's x-axis label or tick labels, nor over the note under it."""
    from matplotlib.figure import Figure

    import trl_explore.demo.report as report

    checked = []

    def check(fig, path, **kwargs):
        fig.canvas.draw()  # places the axis labels where the saved image has them
        renderer = fig.canvas.get_renderer()
        [legend] = fig.legends
        box = legend.get_window_extent(renderer)
        note = fig.texts[-1].get_window_extent(renderer)
        assert not _overlaps(box, note)
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            parts = [ax.xaxis.label, *ax.get_xticklabels()]
            for part in parts:
                if part.get_visible() and part.get_text():
                    assert not _overlaps(box, part.get_window_extent(renderer)), (plot, part.get_text())
        assert box.y0 >= 0 and note.y0 >= 0
        checked.append(len(legend.get_texts()))

    monkeypatch.setattr(Figure, "savefig", check)
    run = _all_methods_run(DemoSettings(seeds=2, steps=STEPS, k=4, workers=1), value=0.25)
    getattr(report, plot)(run, tmp_path / "x.png")
    assert checked and checked[0] == len(run.methods) + (plot != "plot_curves")  # + "start (every method)"


def test_rate_column_without_recorded_rates_and_t_wording(tmp_path):
    """A folder written before runs recorded their rate: the table shows the settings' shared rate (1e-3 here, as
    `--learning-rate 1e-3` gives), the title says "lr 0.001", and the text states the t value at 3 seeds (4.30)."""
    import dataclasses

    from trl_explore.demo.report import method_learning_rate, results_table

    run = _run((0.30, 0.32, 0.31))
    run.results = [dataclasses.replace(r, learning_rate=None) for r in run.results]
    run.settings = dataclasses.replace(run.settings, learning_rate=1e-3)
    assert method_learning_rate(run, "nsr") == 1e-3
    assert results_table(run)[2].startswith("| GRPO | 0.001 | ")
    report = write_report(run, tmp_path).read_text()
    assert "mean ± t · SE with t = 4.30 at 3 seeds (2 degrees of freedom), excludes 0" in report
    assert "constant learning rate 0.001 for every method (`--learning-rate`)," in report
