"""The demo end to end with a shortened budget: report, plots, metrics CSV and an honest comparison."""

import pytest

from trl_explore.cli import main
from trl_explore.demo import METHODS, DemoSettings
from trl_explore.demo.methods import resolve_methods


def test_settings_validation():
    with pytest.raises(ValueError, match="steps"):
        DemoSettings(steps=0)
    with pytest.raises(ValueError, match="num_generations"):
        DemoSettings(num_generations=1)
    with pytest.raises(ValueError, match="Unknown method"):
        DemoSettings(methods=["nope"])


def test_grpo_runs_first_and_every_method_loads():
    names = [m.name for m in resolve_methods(["lp_reg", "grpo"])]
    assert names[0] == "grpo" and set(names) == {"grpo", "lp_reg"}
    for method in METHODS.values():
        trainer_cls, config_cls = method.load()
        assert trainer_cls.__name__.endswith("Trainer") and config_cls.__name__.endswith("Config")


def test_demo_shortened_budget(quick_warm_start, tmp_path, monkeypatch):
    """`trl-explore demo` with no `--model` warm-starts the toy model (here: the session's quick warm start) and
    writes the report, the plots and the metrics of every method."""
    import trl_explore.demo.runner as runner

    monkeypatch.setattr("trl_explore.toy.warm_start", lambda **kwargs: quick_warm_start)
    out = tmp_path / "demo"
    rc = main(["demo", "--steps", "2", "--eval-every", "1", "--eval-prompts", "4", "--k", "2",
               "--output-dir", str(out)])
    assert rc == 0
    report = (out / "demo_report.md").read_text()
    for name in ("reward.png", "entropy.png", "low_prob_tokens.png", "pass_at_k.png", "metrics.csv"):
        assert (out / name).stat().st_size > 0, name
    table = report.split("## Final table")[1].split("##")[0]
    for method in METHODS.values():
        assert f"| {method.label} |" in table
    assert "What this run shows" in report and "GRPO" in report
    metrics = (out / "metrics.csv").read_text()
    assert "lp_reg,2,lp_reg/kept_mass" in metrics and "grpo,2,entropy" in metrics
    assert "pass_at_k/pass@2" in metrics
    assert runner.TOY_TASKS == ("countdown", "arithmetic")
