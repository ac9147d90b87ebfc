"""Benchmark loading conventions and grading summaries of `trl_explore.evaluation`."""

import json

import pytest

from trl_explore.evaluation import SamplingConfig, gold_to_solution, grade_samples, load_math_dataset, write_results


@pytest.mark.parametrize(
    ("gold", "expected"),
    [
        ("42", "\\boxed{42}"),
        (42, "\\boxed{42}"),
        ("Natalia sold 48/2 = 24 clips.\n#### 1,072", "\\boxed{1072}"),
        ("So the answer is $\\boxed{\\frac{1}{2}}$.", "So the answer is $\\boxed{\\frac{1}{2}}$."),
        ("\\frac{\\sqrt{3}}{2}", "\\boxed{\\frac{\\sqrt{3}}{2}}"),
    ],
)
def test_gold_to_solution(gold, expected):
    assert gold_to_solution(gold) == expected


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_load_math500_style_jsonl(tmp_path):
    f = _write_jsonl(
        tmp_path / "math500.jsonl",
        [
            {"problem": "What is 1+1?", "solution": "It is $\\boxed{2}$.", "answer": "2", "level": 1},
            {"problem": "Half of 1?", "solution": "$\\boxed{\\frac12}$", "answer": "\\frac{1}{2}", "level": 2},
        ],
    )
    ds = load_math_dataset(str(f))
    assert ds["prompt"] == ["What is 1+1?", "Half of 1?"]
    assert ds["solution"] == ["\\boxed{2}", "\\boxed{\\frac{1}{2}}"]  # `answer` preferred over `solution`


def test_load_gsm8k_style_parquet(tmp_path):
    import datasets

    path = tmp_path / "gsm8k.parquet"
    datasets.Dataset.from_list([{"question": "2 apples + 3?", "answer": "2+3=5\n#### 5"}]).to_parquet(str(path))
    ds = load_math_dataset(str(path))
    assert ds[0]["prompt"] == "2 apples + 3?" and ds[0]["solution"] == "\\boxed{5}"


def test_load_aime_style_with_limit_and_override(tmp_path):
    f = _write_jsonl(tmp_path / "aime.jsonl", [{"id": i, "Problem": f"p{i}", "Answer": i * 10} for i in range(5)])
    ds = load_math_dataset(str(f), limit=3)
    assert len(ds) == 3 and ds["solution"] == ["\\boxed{0}", "\\boxed{10}", "\\boxed{20}"]
    ds = load_math_dataset(str(f), prompt_column="id", answer_column="Answer", limit=1)
    assert ds[0]["prompt"] == 0


def test_load_errors(tmp_path):
    f = _write_jsonl(tmp_path / "bad.jsonl", [{"text": "x"}])
    with pytest.raises(ValueError, match="prompt column"):
        load_math_dataset(str(f))
    with pytest.raises(ValueError, match="not in the dataset"):
        load_math_dataset(str(f), prompt_column="nope")
    other = tmp_path / "data.xlsx"
    other.write_text("x")
    with pytest.raises(ValueError, match="Unsupported"):
        load_math_dataset(str(other))


def test_sampling_config_validation():
    with pytest.raises(ValueError, match="num_samples"):
        SamplingConfig(num_samples=0)
    with pytest.raises(ValueError, match="greedy"):
        SamplingConfig(num_samples=4, temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=0.0)


def test_grade_samples_summary_and_files(tmp_path):
    """P1 samples: [right, wrong, right, right]; P2: all wrong (answer 3 x3, 4 x1).
    pass@1 = (3/4 + 0)/2 = .375; pass@2 = (1 - C(1,2)/C(4,2) + 0)/2 = .5; pass@4 = .5; avg@4 = .375; maj@4: P1 '2' wins (right), P2 wrong -> .5."""
    samples = [["\\boxed{2}", "\\boxed{5}", "\\boxed{2}", "\\boxed{2}"], ["\\boxed{3}"] * 3 + ["\\boxed{4}"]]
    solutions = ["\\boxed{2}", "\\boxed{7}"]

    def reward(completions, solution, **kwargs):
        return [1.0 if c == s else 0.0 for c, s in zip(completions, solution)]

    result = grade_samples(samples, solutions, reward_fn=reward, answer_fn=lambda c: c)
    assert result.pass_at_k == {1: pytest.approx(0.375), 2: pytest.approx(0.5), 4: pytest.approx(0.5)}
    assert result.avg_at_k == pytest.approx(0.375)
    assert result.maj_at_k == pytest.approx(0.5)
    summary = write_results({"toy": result}, tmp_path)
    text = summary.read_text()
    assert "| toy |" in text and "pass@1" in text.splitlines()[0]
    assert json.loads((tmp_path / "summary.json").read_text())["toy"]["maj@4"] == pytest.approx(0.5)
    assert len((tmp_path / "samples_toy.jsonl").read_text().splitlines()) == 2


def test_grade_samples_rejects_ragged():
    with pytest.raises(ValueError, match="same"):
        grade_samples([["a"], ["b", "c"]], ["x", "y"], reward_fn=lambda **k: [], answer_fn=str)
