"""The demo end to end with the quick budget: report, verdict, plots, CSV files, re-runs, and the CLI's errors."""

import json
from pathlib import Path

import pytest

from trl_explore.cli import main
from trl_explore.demo import METHODS, DemoMethod, DemoSettings, register_method
from trl_explore.demo.methods import resolve_methods
from trl_explore.demo.quantities import QUANTITIES
from trl_explore.demo.report import write_report
from trl_explore.demo.runner import DemoUsageError, load_run, run_demo


@pytest.fixture
def quick_model(quick_warm_start, monkeypatch):
    """The demo's warm start replaced by the session's quick warm start (no extra SFT)."""
    monkeypatch.setattr("trl_explore.toy.warm_start", lambda **kwargs: quick_warm_start)
    return quick_warm_start


def test_settings_validation():
    with pytest.raises(ValueError, match="`steps` must be >= 1, got 0"):
        DemoSettings(steps=0)
    with pytest.raises(ValueError, match="num_generations"):
        DemoSettings(num_generations=1)
    with pytest.raises(ValueError, match="Unknown method"):
        DemoSettings(methods=["nope"])
    with pytest.raises(ValueError, match="`seeds` must be >= 1"):
        DemoSettings(seeds=0)
    with pytest.raises(ValueError, match="learning_rate"):
        DemoSettings(learning_rate=float("nan"))
    with pytest.raises(ValueError, match="Did you mean 'countdown'"):
        DemoSettings(task="countdwon")
    settings = DemoSettings(seed=5, seeds=3, steps=10, eval_every=4)
    assert settings.seed_list == [5, 6, 7]
    assert settings.eval_steps == [4, 8, 10]


def test_registry_grpo_first_every_method_loads():
    names = [m.name for m in resolve_methods(["lp_reg", "grpo"])]
    assert names == ["grpo", "lp_reg"]
    assert [m.name for m in resolve_methods(["nsr"])] == ["grpo", "nsr"]  # the baseline is always run
    assert "psr" not in [m.name for m in resolve_methods(None)]  # not in the default run
    for method in METHODS.values():
        trainer_cls, config_cls = method.load()
        assert trainer_cls.__name__.endswith("Trainer") and config_cls.__name__.endswith("Config")
        assert method.name == "grpo" or method.targets, method.name
    with pytest.raises(ValueError, match="already registered"):
        register_method(METHODS["nsr"])
    with pytest.raises(ValueError, match="not quantities"):
        DemoMethod(name="x", label="X", trainer="a:B", config="a:C", targets=("pass@1000",))


def test_registering_a_method_adds_it_to_the_default_run(monkeypatch):
    monkeypatch.setattr("trl_explore.demo.methods.METHODS", dict(METHODS))
    import trl_explore.demo.methods as methods

    register_method(
        DemoMethod(name="new", label="New", trainer="trl:GRPOTrainer", config="trl:GRPOConfig", targets=("entropy",))
    )
    assert "new" in [m.name for m in methods.resolve_methods(None)]


def _toy_page_outputs() -> str:
    """docs/toy.md's "What the run writes" section."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "toy.md").read_text()
    start = text.index("### What the run writes\n")
    return text[start : text.index("\n### ", start + 1)]


def _read_report(out):
    report = (out / "demo_report.md").read_text()
    verdict = report.split("## Verdict")[1].split("##")[0].strip().splitlines()
    return report, verdict


def test_quick_demo_two_workers(quick_model, tmp_path, capfd):
    """`trl-explore demo --quick` with two worker processes: every method, two paired seeds, the report opens with a
    three-line verdict, the paired table has a row per method and compared quantity, the plots and CSVs exist, the
    console shows one summary line per evaluation and no raw metrics dicts."""
    out = tmp_path / "demo"
    rc = main(["demo", "--quick", "--workers", "2", "--output-dir", str(out)])
    assert rc == 0
    report, verdict = _read_report(out)
    assert len(verdict) == 3 and verdict[0].startswith("1. **GRPO") and verdict[2].startswith("3. **pass@1")
    paired = report.split("## Paired differences to GRPO")[1].split("##")[0]
    for method in resolve_methods(None):
        if method.name != "grpo":
            assert f"| {method.label} | pass@1 |" in paired or f"| {method.label} | pass@1 (target) |" in paired
            for target in method.targets:
                label = QUANTITIES[target].label(DemoSettings.quick())
                assert f"| {method.label} | {label} (target) |" in paired
    for name in ("overview.png", "pass_at_k.png", "training_curves.png", "metrics.csv", "summary.csv"):
        assert (out / name).stat().st_size > 0, name
    documented = _toy_page_outputs()
    for path in out.iterdir():  # docs/toy.md lists every file and folder the run writes
        assert path.name.startswith(".") or f"`{path.name}" in documented, path.name
    metrics = (out / "metrics.csv").read_text()
    assert "lp_reg,0,2,lp_reg/kept_mass" in metrics and "grpo,1,4,entropy" in metrics
    assert "nsr,1,4,pass_at_k/pass@4" in metrics
    for method in resolve_methods(None):
        for seed in (0, 1):
            result = json.loads((out / "runs" / method.name / f"seed{seed}.json").read_text())
            assert result["steps"] == 4 and len(result["logs"]) == 4
    console = capfd.readouterr()  # file descriptors: the workers' output too
    text = console.out + console.err
    assert "{'loss'" not in text and "'grad_norm'" not in text
    assert "FutureWarning" not in text and "Loading weights" not in text and "Traceback" not in text
    again = tmp_path / "again"
    again.mkdir()
    assert write_report(load_run(out), again).read_text() == report  # a finished run reads back unchanged
    n_eval_lines = sum(1 for line in text.splitlines() if "pass@1 " in line and " seed " in line)
    assert n_eval_lines == 2 + 2 * len(resolve_methods(None))  # starts + one end-of-run line per run


def test_rerun_replaces_only_its_own_files(quick_model, tmp_path):
    """A re-run replaces the files the demo wrote (its manifest) and removes the ones it does not write again; a file
    the demo did not write survives every re-run (issue 25), and one in the way of a demo file is refused by name."""
    out = tmp_path / "demo"
    common = dict(output_dir=str(out), workers=1, show_progress=False)
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    (out / "runs").mkdir()
    (out / "runs" / "notes.md").write_text("mine too")
    run_demo(DemoSettings.quick(methods=["grpo", "nsr"], **common))
    assert (out / "runs" / "nsr" / "seed1.json").is_file()
    run_demo(DemoSettings.quick(methods=["grpo"], seeds=1, **common))
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["grpo", "notes.md"]
    assert sorted(p.name for p in (out / "runs" / "grpo").iterdir()) == ["seed0.json"]
    assert (out / "mine.txt").read_text() == "keep me" and (out / "runs" / "notes.md").read_text() == "mine too"
    metrics = (out / "metrics.csv").read_text().splitlines()[1:]
    assert metrics and all(line.startswith("grpo,0,") for line in metrics)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".demo.")]  # no staging folder left behind
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "demo_report.md").write_text("my own report")
    with pytest.raises(DemoUsageError, match=r"would overwrite file\(s\) it did not write: demo_report.md"):
        run_demo(DemoSettings.quick(output_dir=str(foreign), workers=1, show_progress=False))
    assert [p.name for p in foreign.iterdir()] == ["demo_report.md"]
    assert (foreign / "demo_report.md").read_text() == "my own report"


def test_quick_demo_with_a_local_model_path(quick_warm_start, tmp_path):
    """`--model <folder>` trains that model (one process, no warm start); a missing model is a one-line error."""
    out = tmp_path / "demo"
    rc = main(
        [
            "demo",
            "--quick",
            "--model",
            str(quick_warm_start),
            "--methods",
            "grpo",
            "--seeds",
            "1",
            "--no-progress",
            "--output-dir",
            str(out),
        ]
    )
    assert rc == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["model"] == str(quick_warm_start) and settings["timing"]["workers"] == 1
    assert f"Model: {quick_warm_start}" in (out / "demo_report.md").read_text()


def test_missing_model_is_a_one_line_error_and_leaves_nothing(tmp_path, capsys):
    rc = main(["demo", "--quick", "--model", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "demo")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("trl-explore demo: error: Could not load the model") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no output folder, no staging folder


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--steps", "0"], "argument --steps: must be >= 1, got 0"),
        (["demo", "--steps", "ten"], "argument --steps: must be an integer >= 1, got 'ten'"),
        (["demo", "--task", "countdwon"], "Unknown task 'countdwon'"),
        (["demo", "--methods", "nsrr"], "argument --methods: invalid choice: 'nsrr'"),
        (["demo", "--learning-rate", "-1"], "argument --learning-rate: must be a finite number > 0"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys):
    try:
        rc = main(argv)
    except SystemExit as exit_:
        rc = exit_.code
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("trl-explore demo: error: ") and message in err


def test_cli_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "``" not in top and "demo" in top and "warm-start" in top
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert text.index("offline exploration lab") < text.index("options:") < text.index("methods (--methods")
    for method in METHODS.values():
        assert f"  {method.name}" in text and method.summary[:30] in text


def test_console_lines_stay_aligned_with_the_longest_label():
    """`SPEAR (replay)` (14 characters) is longer than the old 12-character column: every label gets the width of
    the longest one, so "seed" starts in the same column on every line."""
    from trl_explore.demo.runner import _format_eval

    row = {"pass@1": 0.25, "pass@4": 0.5}
    labels = ["start", "GRPO", "W-REINFORCE", "SPEAR (replay)", *(m.label for m in METHODS.values())]
    lines = [_format_eval(label, 0, 4, 4, row, 4) for label in labels]
    assert {line.index(" seed 0") for line in lines} == {len("SPEAR (replay)")}
    assert lines[3] == "SPEAR (replay) seed 0  step    4/4  pass@1 0.250  pass@4 0.500"


def test_collect_in_process_restores_threads_and_wandb(monkeypatch, tmp_path):
    """Collecting in the caller's process (a notebook) runs the toy jobs with one torch thread and W&B disabled, and
    afterwards leaves the process as it was: the thread count and `WANDB_DISABLED` (unset, or the user's value)."""
    import os

    import torch

    import trl_explore.demo.runner as runner

    seen = []

    def fake_execute(jobs, settings, model_path, console, workers):
        seen.append((torch.get_num_threads(), os.environ.get("WANDB_DISABLED")))
        return []

    monkeypatch.setattr(runner, "execute", fake_execute)
    monkeypatch.setattr(runner, "prepare_model", lambda settings: "toy")
    monkeypatch.setattr(runner, "_uses_cpu_toy", lambda settings: True)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.delenv("WANDB_DISABLED", raising=False)
        runner.collect(DemoSettings.quick(methods=["grpo"], seeds=1, workers=1, show_progress=False))
        assert seen[-1] == (1, "true")  # during the run
        assert torch.get_num_threads() == 2 and "WANDB_DISABLED" not in os.environ  # after it
        monkeypatch.setenv("WANDB_DISABLED", "false")
        runner.collect(DemoSettings.quick(methods=["grpo"], seeds=1, workers=1, show_progress=False))
        assert seen[-1] == (1, "false") and os.environ["WANDB_DISABLED"] == "false"
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
