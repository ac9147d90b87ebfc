"""`examples/evaluate_math.py` end to end on a local JSONL benchmark and on the toy task, with a local toy model."""

import json

import pytest
from example_utils import load_example


def test_local_jsonl_and_toy_task(quick_warm_start, tmp_path):
    script = load_example("evaluate_math")
    data = tmp_path / "gsm8k_like.jsonl"
    data.write_text(
        "".join(json.dumps({"question": f"{a} + {a} = ?", "answer": f"so\n#### {2 * a}"}) + "\n" for a in range(1, 4))
    )
    out = tmp_path / "eval"
    args = script.EvalArguments(
        model_name_or_path=str(quick_warm_start),
        datasets=[str(data), "toy-arithmetic"],
        limit=3,
        num_samples=4,
        max_new_tokens=12,
        batch_size=4,
        temperature=1.0,
        output_dir=str(out),
    )
    summary = script.main(args)
    assert set(summary) == {str(data), "toy-arithmetic"}
    for row in summary.values():
        assert set(row) == {"pass@1", "pass@2", "pass@4", "avg@4", "maj@4", "num_problems"}
        assert row["num_problems"] == 3
        assert 0.0 <= row["pass@1"] <= row["pass@2"] <= row["pass@4"] <= 1.0
        assert row["avg@4"] == pytest.approx(row["pass@1"])
    assert (out / "summary.md").read_text().count("|") > 10
    lines = (out / "samples_gsm8k_like.jsonl").read_text().splitlines()
    assert len(lines) == 3 and len(json.loads(lines[0])["completions"]) == 4


def test_rejects_unknown_backend(tmp_path):
    script = load_example("evaluate_math")
    with pytest.raises(ValueError, match="backend"):
        script.main(script.EvalArguments(model_name_or_path="x", backend="tgi", output_dir=str(tmp_path)))
