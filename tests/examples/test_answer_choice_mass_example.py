"""`examples/answer_choice_mass.py` end to end offline: a local toy model, a local JSONL in the CommonsenseQA
convention and the toy multiple-choice task; writes the table, CSV, JSON and plot."""

import csv
import json

import pytest
from example_utils import load_example

from trl_explore.toy import make_tiny_model, make_tokenizer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("acm_model")
    tok = make_tokenizer()
    make_tiny_model(tok, hidden_size=32, num_hidden_layers=1).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_end_to_end_offline(model_dir, tmp_path, capsys):
    script = load_example("answer_choice_mass")
    data = tmp_path / "csqa_like.jsonl"
    rows = [
        {
            "question": f"Which is {w}?",
            "choices": {"label": ["A", "B", "C"], "text": [w, "stone", "river"]},
            "answerKey": "A",
        }
        for w in ("red", "blue", "green", "yellow", "black")
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    args = script.AnswerChoiceMassArguments(
        model_name_or_path=str(model_dir),
        datasets=[str(data), "toy-mc"],
        limit=5,
        shots=[0, 1, 2],
        pmi=True,
        greedy_max_new_tokens=2,
        batch_size=4,
        output_dir=str(out),
    )
    table = script.main(args)
    assert len(table) == 2 * 3 * 3  # datasets x formats x k
    for row in table:
        assert row["num_questions"] == 5
        assert 0.0 <= row["mass"] <= 1.0 and 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["sfc_resolved"] <= 1.0
        assert row["pmi_accuracy"] is not None and row["invalid_rate"] is not None
    # one more in-context example changes the prompt, so the mass changes
    by_key = {(r["dataset"], r["format"], r["k"]): r["mass"] for r in table}
    assert by_key[(str(data), "enumerated", 0)] != by_key[(str(data), "enumerated", 1)]
    md = (out / "results.md").read_text()
    assert md.count("\n") == 2 + len(table) and "| enumerated | 2 |" in md
    with (out / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(table)
    details = json.loads((out / "results.json").read_text())
    assert len(details) == len(table) and len(details[0]["mass"]) == 5
    png = (out / "mass_vs_accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert "| dataset | format | k | mass |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"formats": ["mcq"]}, "formats"),
        ({"shots": [-1]}, "shots"),
        ({"limit": 0}, "limit"),
        ({"dtype": "int8"}, "dtype"),
        ({"datasets": []}, "datasets"),
    ],
)
def test_rejects_bad_arguments(tmp_path, kwargs, match):
    script = load_example("answer_choice_mass")
    with pytest.raises(ValueError, match=match):
        script.main(script.AnswerChoiceMassArguments(model_name_or_path="x", output_dir=str(tmp_path), **kwargs))


def test_help_explains_the_script():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "answer_choice_mass.py"
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--shots" in out.stdout and "--formats" in out.stdout
    assert out.stdout.index("Does the model attend to the answer choices") < out.stdout.index("options:")


def test_released_protocol_headers():
    """`--protocol released` gives the released header of a known dataset (typed here from the released prompts),
    none for cloze or the default protocol, and refuses MMLU without a subject and unknown datasets, naming them."""
    script = load_example("answer_choice_mass")
    args = script.AnswerChoiceMassArguments(model_name_or_path="x", protocol="released")
    assert script._instruction("commonsense_qa", "string", args) == "Let's answer commonsense reasoning questions."
    assert script._instruction("allenai/openbookqa", "enumerated", args) == (
        "The following are elementary-level multiple-choice questions about science. For the question below, select "
        "the most suitable answer from the 4 options given."
    )
    assert script._instruction("openbookqa", "cloze", args) is None
    with pytest.raises(ValueError, match="--subset"):
        script._instruction("mmlu", "enumerated", args)
    args.subset = "high_school_physics"
    assert script._instruction("mmlu", "enumerated", args).startswith(
        "The following are multiple-choice questions about high school physics. For the question below"
    )
    with pytest.raises(ValueError, match="toy-mc"):
        script._instruction("toy-mc", "string", args)
    default = script.AnswerChoiceMassArguments(model_name_or_path="x")
    assert script._instruction("commonsense_qa", "string", default) is None
