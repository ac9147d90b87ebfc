"""Each method's learning rate (issue 26): the table, reading a finished sweep, which rate a run trains at, and the
default demo's seeds against the tuning seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trl_explore.demo import tuned
from trl_explore.demo.methods import resolve_methods
from trl_explore.demo.sweep import SWEEP_LEARNING_RATES, TUNING_SEEDS
from trl_explore.demo.tuned import (
    TUNED_LEARNING_RATES,
    collapse_note,
    collapsed_from_sweep,
    learning_rate_of,
    rates_from_sweep,
)

ROOT = Path(__file__).resolve().parents[2]


def _sweep_json(path: Path, choices: dict, collapsed: tuple = ()) -> Path:
    """The shape `run_sweep` writes: {"choices": {method: RateChoice fields}, "cells": [...]}."""
    path.write_text(
        json.dumps(
            {
                "choices": {
                    m: {
                        "method": m,
                        "learning_rate": r,
                        "criterion": 0.5,
                        "criterion_se": 0.01,
                        "ineligible": [],
                        "collapsed": m in collapsed,
                    }
                    for m, r in choices.items()
                },
                "cells": [],
            }
        )
    )
    return path


def test_rates_from_a_hand_made_sweep(tmp_path):
    path = _sweep_json(tmp_path / "sweep.json", {"grpo": 5e-4, "nsr": 1.5e-4, "w_reinforce": 5e-5}, ("nsr",))
    assert rates_from_sweep(path) == {"grpo": 5e-4, "nsr": 1.5e-4, "w_reinforce": 5e-5}
    assert collapsed_from_sweep(path) == ("nsr",)
    (tmp_path / "bad.json").write_text(json.dumps({"cells": []}))
    with pytest.raises(ValueError, match="no `choices`"):
        rates_from_sweep(tmp_path / "bad.json")
    _sweep_json(tmp_path / "neg.json", {"nsr": -1.0})
    with pytest.raises(ValueError, match="'nsr' has learning_rate -1.0"):
        rates_from_sweep(tmp_path / "neg.json")


def test_the_table_covers_the_default_methods_and_matches_the_sweep_when_it_is_there():
    """Every default method has a rate among the declared candidates. Once the finished sweep's sweep.json is in the
    repository (`TUNED_SWEEP_JSON`), the table must be what it chose and must no longer say provisional; until then
    it must say provisional."""
    assert {m.name for m in resolve_methods(None)} <= set(TUNED_LEARNING_RATES)
    assert set(TUNED_LEARNING_RATES.values()) <= set(SWEEP_LEARNING_RATES)
    committed = ROOT / tuned.TUNED_SWEEP_JSON
    if committed.is_file():
        assert not tuned.TUNED_PROVISIONAL and tuned.TUNED_DATE
        assert rates_from_sweep(committed) == {m: TUNED_LEARNING_RATES[m] for m in rates_from_sweep(committed)}
        assert collapsed_from_sweep(committed) == tuned.TUNED_COLLAPSED
    else:
        assert tuned.TUNED_PROVISIONAL and tuned.TUNED_DATE is None


def test_which_rate_a_method_trains_at(monkeypatch):
    """No --learning-rate: the method's table entry (GRPO's for a method without one); --learning-rate: that rate for
    every method."""
    monkeypatch.setattr(tuned, "TUNED_LEARNING_RATES", {"grpo": 5e-4, "nsr": 1.5e-4})
    assert learning_rate_of(None, "nsr") == 1.5e-4
    assert learning_rate_of(None, "psr") == 5e-4
    assert learning_rate_of(1e-3, "nsr") == 1e-3 and learning_rate_of(1e-3, "grpo") == 1e-3


def test_the_report_names_a_method_whose_every_rate_collapsed(monkeypatch):
    """A method the sweep flagged (every candidate rate pulled pass@1 below the base model) gets a sentence in the
    report's method list when it trains at its tuned rate; not with a shared --learning-rate, not for the others."""
    monkeypatch.setattr(tuned, "TUNED_COLLAPSED", ("nsr",))
    assert "every candidate rate pulled its pass@1 below the base model's" in collapse_note(None, "nsr")
    assert collapse_note(1e-3, "nsr") == "" and collapse_note(None, "grpo") == ""


def test_default_demo_seeds_are_not_the_tuning_seeds():
    """The CLI's default run (seeds 0, 1, 2) and `DemoSettings()` never train on the sweep's tuning seeds."""
    from trl_explore.cli import build_parser
    from trl_explore.demo.regime import DEFAULT_SEEDS
    from trl_explore.demo.runner import DemoSettings

    args = build_parser().parse_args(["demo"])
    cli_seeds = range(args.seed, args.seed + (args.seeds or DEFAULT_SEEDS))
    assert not set(cli_seeds) & set(TUNING_SEEDS)
    assert not set(DemoSettings().seed_list) & set(TUNING_SEEDS)
    assert DemoSettings().learning_rate is None  # the default demo uses the per-method table


def test_a_training_run_uses_its_methods_rate(quick_warm_start, monkeypatch):
    """Two steps of GRPO and NSR in this process with the table monkeypatched to 5e-4 / 1.5e-4: the trainer logs
    (constant schedule) and the run records the table's rate; with a shared rate both train at it."""
    import trl_explore.demo.runner as runner

    monkeypatch.setattr(tuned, "TUNED_LEARNING_RATES", {"grpo": 5e-4, "nsr": 1.5e-4})
    settings = runner.DemoSettings.quick(methods=["grpo", "nsr"], seeds=1, steps=2, workers=1, show_progress=False)
    with runner.restoring_process_state():
        runner._configure_process(settings)
        for method, rate in (("grpo", 5e-4), ("nsr", 1.5e-4)):
            out = runner.run_job(runner.Job("train", 0, method), settings, str(quick_warm_start), lambda e: None)
            assert out["result"]["learning_rate"] == rate
            # exact: the constant schedule logs the base rate times 1.0
            assert [e["learning_rate"] for e in out["result"]["logs"]] == [rate, rate]
        shared = runner.DemoSettings.quick(methods=["nsr"], seeds=1, steps=2, workers=1, learning_rate=1e-3)
        out = runner.run_job(runner.Job("train", 0, "nsr"), shared, str(quick_warm_start), lambda e: None)
    assert [e["learning_rate"] for e in out["result"]["logs"]] == [1e-3, 1e-3]


def test_cli_sweep_runs_the_declared_sweep(monkeypatch, capsys):
    """`trl-explore demo --sweep` calls `run_sweep` with the declared candidates and seeds (none passed) and prints
    each method's choice; flags that would change the declared sweep are refused in one line."""
    import trl_explore.demo.sweep as sweep
    from trl_explore.cli import main
    from trl_explore.demo.sweep import RateChoice

    calls = []

    def fake_run_sweep(output_dir, **kwargs):
        calls.append((output_dir, kwargs))
        return {"nsr": RateChoice("nsr", 1.5e-4, 0.41, 0.01, (1.5e-3,), False)}

    monkeypatch.setattr(sweep, "run_sweep", fake_run_sweep)
    assert main(["demo", "--sweep", "--methods", "grpo", "nsr", "--workers", "2", "--no-progress"]) == 0
    assert calls == [("trl_explore_sweep", {"methods": ["grpo", "nsr"], "workers": 2, "show_progress": False})]
    assert "nsr          lr 0.00015  criterion 0.410 ± 0.010" in capsys.readouterr().out
    assert main(["demo", "--sweep", "--seeds", "5", "--learning-rate", "1e-3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--learning-rate, --seeds cannot be combined with --sweep" in err
    assert len(calls) == 1
