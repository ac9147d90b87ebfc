"""`examples/evaluate_math.py --backend swireasoning`: SwiReasoning vs plain sampling on the toy task, budget sweep."""

import json

import pytest
from example_utils import load_example


def test_swireasoning_backend_compares_with_sampling(quick_warm_start, tmp_path):
    script = load_example("evaluate_math")
    out = tmp_path / "eval"
    args = script.EvalArguments(
        model_name_or_path=str(quick_warm_start),
        datasets=["toy-arithmetic"],
        limit=4,
        num_samples=2,
        max_new_tokens=16,
        batch_size=4,
        temperature=1.0,
        output_dir=str(out),
        backend="swireasoning",
        swi_budgets=[8, 24],
        swi_window_size=4,
    )
    tables = script.main(args)
    rows = tables["toy-arithmetic"]
    assert [(r["decoder"], r["budget"]) for r in rows] == [
        ("sampling", 8),
        ("swireasoning", 8),
        ("sampling", 24),
        ("swireasoning", 24),
    ]
    for r in rows:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["num_graded"] == 8
        assert 1.0 <= r["mean_tokens"] <= r["budget"]
        assert 0.0 <= r["truncated"] <= 1.0
        if r["decoder"] == "swireasoning":
            assert 0.0 <= r["latent_share"] <= 1.0 and r["switches"] >= 0.0
            assert 0.0 <= r["math_override_share"] <= 1.0
        else:
            assert "latent_share" not in r
    assert json.loads((out / "swireasoning_comparison.json").read_text()) == tables
    table = (out / "swireasoning_comparison.md").read_text()
    assert "| swireasoning | 24 |" in table and "| sampling | 8 |" in table


def test_swireasoning_arguments_parse_from_the_command_line():
    from trl import TrlParser

    script = load_example("evaluate_math")
    (args,) = TrlParser(script.EvalArguments).parse_args_and_config(
        [
            "--model_name_or_path",
            "toy",
            "--backend",
            "swireasoning",
            "--swi_budgets",
            "64",
            "128",
            "--swi_max_switch_count",
            "2",
            "--swi_alpha0",
            "0.5",
        ]
    )
    assert args.swi_budgets == [64, 128] and args.swi_max_switch_count == 2 and args.swi_alpha0 == 0.5


def test_rejects_unknown_backend_names_swireasoning(tmp_path):
    script = load_example("evaluate_math")
    with pytest.raises(ValueError, match="swireasoning"):
        script.main(script.EvalArguments(model_name_or_path="x", backend="tgi", output_dir=str(tmp_path)))
