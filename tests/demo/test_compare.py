"""`compare_verdicts`: every classification of two demo runs side by side, on hand-made run folders."""

from __future__ import annotations

import json
from dataclasses import asdict

from trl_explore.demo.compare import VerdictItem, compare_items, compare_verdicts, main, verdict_items
from trl_explore.demo.methods import METHODS
from trl_explore.demo.runner import MARKER_FILE, DemoRun, DemoSettings, RunResult

STEPS = 10
GRPO_PASS1, GRPO_PASS4 = (0.30, 0.32, 0.31), (0.60, 0.65, 0.70)
GRPO_ENTROPY = (0.25, 0.30, 0.32)


def _result(method, seed, entropy_end, pass1, pass4):
    logs = [
        {
            "step": float(t),
            "entropy": 0.5 if t == 1 else entropy_end,
            "reward": 0.2,
            "exploration/frac_prob_lt_0.1": 0.03,
        }
        for t in range(1, STEPS + 1)
    ]
    start = {"step": 0.0, "pass@1": 0.2, "pass@2": 0.35, "pass@4": 0.6}
    final = {"step": float(STEPS), "pass@1": pass1, "pass@2": 0.4, "pass@4": pass4}
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
        learning_rate=5e-4,
    )


def _run(nsr_pass4):
    """GRPO, Lp-Reg and NSR on 3 seeds. GRPO pass@1 0.2 -> (0.30, 0.32, 0.31): gain 0.11 ± 0.0058, learned. Lp-Reg:
    entropy GRPO's + (0.05, 0.10, 0.03) (mean 0.06, se 0.0208, half-width 4.303 * 0.0208 = 0.0896: not resolved),
    share and pass@1 equal to GRPO's (not resolved / within noise). NSR pass@1 0.1: d = (-0.20, -0.22, -0.21), below
    GRPO (se 0.0058); NSR pass@4 as given."""
    settings = DemoSettings(methods=["grpo", "lp_reg", "nsr"], seeds=3, steps=STEPS, k=4, workers=1)
    results = []
    for s in range(3):
        results += [
            _result("grpo", s, GRPO_ENTROPY[s], GRPO_PASS1[s], GRPO_PASS4[s]),
            _result("lp_reg", s, GRPO_ENTROPY[s] + (0.05, 0.10, 0.03)[s], GRPO_PASS1[s], GRPO_PASS4[s]),
            _result("nsr", s, 0.45, 0.1, nsr_pass4[s]),
        ]
    starts = {s: results[0].start_eval for s in range(3)}
    return DemoRun(
        settings=settings,
        methods=[METHODS[n] for n in ("grpo", "lp_reg", "nsr")],
        results=results,
        start_evals=starts,
        model_path="toy",
        warm_seconds=0.0,
    )


# NSR pass@4 - GRPO's: A (0.10, 0.11, 0.09): mean 0.10, se 0.01 / sqrt(3) = 0.0058, half-width 0.0248: resolved, as
# intended. B (0.10, 0.11, -0.06): mean 0.05, deviations (0.05, 0.06, -0.11), variance 0.0182 / 2 = 0.0091,
# se sqrt(0.0091 / 3) = 0.0551, half-width 0.237: not resolved.
RUN_A, RUN_B = (0.70, 0.76, 0.79), (0.70, 0.76, 0.64)


def _write(run: DemoRun, folder):
    """A demo folder as `run_demo` writes it (marker, settings.json, runs/<method>/seed<k>.json)."""
    (folder / "runs").mkdir(parents=True)
    (folder / MARKER_FILE).write_text("test\n")
    (folder / "settings.json").write_text(
        json.dumps({**asdict(run.settings), "resolved_methods": [m.name for m in run.methods], "timing": {}})
    )
    for r in run.results:
        (folder / "runs" / r.method).mkdir(exist_ok=True)
        (folder / "runs" / r.method / f"seed{r.seed}.json").write_text(json.dumps(asdict(r)))
    return folder


def test_verdict_items_hand_computed():
    items = {i.item: i.label for i in verdict_items(_run(RUN_A))}
    assert items == {
        "GRPO pass@1 end − start": "learned",
        "Lp-Reg entropy vs GRPO": "not resolved",
        "Lp-Reg share p<0.1 vs GRPO": "not resolved",
        "Lp-Reg pass@1 vs GRPO": "within noise",
        "NSR pass@4 vs GRPO": "moved as intended",
        "NSR pass@1 vs GRPO": "below GRPO",
    }


def test_compare_two_folders_finds_the_flip(tmp_path, capsys):
    a, b = _write(_run(RUN_A), tmp_path / "a"), _write(_run(RUN_B), tmp_path / "b")
    comparison = compare_verdicts(a, b)
    assert comparison.agree == 5 and len(comparison.rows) == 6
    assert comparison.flips == ["NSR pass@4 vs GRPO"]
    table = comparison.markdown(("threads", "avx2"))
    row = "| NSR pass@4 vs GRPO | moved as intended (+0.100 ± 0.006) | not resolved (+0.050 ± 0.055) | **no** |"
    assert row in table
    assert table.endswith("5 of 6 items classified alike; flips among resolved items: NSR pass@4 vs GRPO.")
    assert compare_verdicts(a, a).flips == [] and compare_verdicts(a, a).agree == 6
    assert main([str(a), str(b)]) == 1 and main([str(a), str(a)]) == 0
    assert "no resolved item flips." in capsys.readouterr().out


def test_compare_items_missing_and_unresolved_items():
    """An item only one run has is a flip when that run resolved it, not when it did not."""
    a = [VerdictItem("x", "below GRPO", "-0.1"), VerdictItem("y", "within noise", "+0.0")]
    b = [VerdictItem("z", "not resolved", "+0.0")]
    comparison = compare_items(a, b)
    assert [name for name, _, _ in comparison.rows] == ["x", "y", "z"]
    assert comparison.flips == ["x"] and comparison.agree == 0
