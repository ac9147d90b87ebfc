"""`examples/lastde_detect.py` (and `trl-explore detect`) end to end offline: a local tiny model, a labelled JSONL,
human / machine CSV files, an unlabelled Parquet (score mode) and the toy set; writes scores, the metrics table and
the ROC plot; bad arguments are refused."""

from __future__ import annotations

import json

import pytest
from example_utils import load_example

from trl_explore.toy import make_tiny_model, make_tokenizer

HUMAN = [
    "The cat sat on the mat and looked around.",
    "Rain fell softly over the quiet old town.",
    "She wrote three letters before breakfast.",
    "We walked to the river after the storm.",
]
MACHINE = [
    "aaaa aaaa aaaa aaaa aaaa aaaa aaaa aaaa",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15",
    "the the the the the the the the the the",
    "xyxyxyxyxyxyxyxyxyxyxyxyxyxyxyxy",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("lastde_model")
    tok = make_tokenizer()
    make_tiny_model(tok, hidden_size=32, num_hidden_layers=1, initializer_range=0.2).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_labelled_jsonl_end_to_end(model_dir, tmp_path, capsys):
    script = load_example("lastde_detect")
    data = tmp_path / "texts.jsonl"
    rows = [{"text": t, "label": "human"} for t in HUMAN] + [{"text": t, "label": "machine"} for t in MACHINE]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    args = script.LastdeDetectArguments(
        model_name_or_path=str(model_dir),
        data_files=[str(data)],
        label_column="label",
        n_samples=8,
        batch_size=3,
        output_dir=str(out),
    )
    report = script.main(args)
    methods = ["likelihood", "log_rank", "entropy", "fast_detectgpt", "lastde", "lastde_closed", "lastde++"]
    assert list(report["metrics"]) == methods
    for m in report["metrics"].values():
        assert 0.0 <= m["auroc"] <= 1.0 and m["num_human"] + m["num_machine"] + m["num_unscored"] == 8
    lines = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(lines) == 8 and lines[0]["label"] == 0 and lines[-1]["label"] == 1 and "lastde++" in lines[0]
    md = (out / "metrics.md").read_text()
    assert md.count("\n") == 2 + len(methods) and "| lastde++ |" in md
    assert json.loads((out / "metrics.json").read_text())["lastde"]["num_machine"] >= 1
    png = (out / "roc.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "| method | AUROC | PR-AUC | TPR@1%FPR |" in capsys.readouterr().out


def test_csv_pairs_parquet_score_mode_and_cli(model_dir, tmp_path):
    """human/machine CSV files evaluate; an unlabelled Parquet is scored only (no metrics, no plot); the
    `trl-explore detect` subcommand takes the same arguments with dashes."""
    import pandas as pd

    from trl_explore.cli import main as cli_main

    script = load_example("lastde_detect")
    pd.DataFrame({"body": HUMAN}).to_csv(tmp_path / "human.csv", index=False)
    pd.DataFrame({"body": MACHINE}).to_csv(tmp_path / "machine.csv", index=False)
    args = script.LastdeDetectArguments(
        model_name_or_path=str(model_dir),
        human_files=[str(tmp_path / "human.csv")],
        machine_files=[str(tmp_path / "machine.csv")],
        text_column="body",
        methods=["likelihood", "lastde"],
        output_dir=str(tmp_path / "pairs"),
    )
    report = script.main(args)
    assert list(report["metrics"]) == ["likelihood", "lastde"]
    pd.DataFrame({"text": HUMAN + MACHINE}).to_parquet(tmp_path / "unknown.parquet")
    out = tmp_path / "scored"
    assert (
        cli_main(
            [
                "detect",
                "--model-name-or-path",
                str(model_dir),
                "--data-files",
                str(tmp_path / "unknown.parquet"),
                "--methods",
                "fast_detectgpt",
                "lastde",
                "--output-dir",
                str(out),
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(lines) == 8 and "label" not in lines[0] and set(lines[0]) >= {"fast_detectgpt", "lastde"}
    assert not (out / "metrics.md").exists() and not (out / "roc.png").exists()


def test_toy_set_route(model_dir, tmp_path):
    """`--data_files toy`: the toy kit's human-vs-machine set built with the given model (no download)."""
    script = load_example("lastde_detect")
    args = script.LastdeDetectArguments(
        model_name_or_path=str(model_dir),
        data_files=["toy"],
        limit=6,
        methods=["likelihood", "lastde++"],
        n_samples=4,
        output_dir=str(tmp_path / "toy"),
    )
    report = script.main(args)
    assert report["metrics"]["likelihood"]["num_human"] == 6 and report["metrics"]["likelihood"]["num_machine"] == 6


def test_real_text_route(model_dir, tmp_path):
    """`--data_files real`: human prose from Python's documentation and the scoring model's continuations of its first
    30 tokens (`trl_explore.toy.human_text`), labelled human / machine."""
    script = load_example("lastde_detect")
    args = script.LastdeDetectArguments(
        model_name_or_path=str(model_dir),
        data_files=["real"],
        limit=4,
        methods=["likelihood"],
        n_samples=4,
        output_dir=str(tmp_path / "real"),
    )
    report = script.main(args)
    assert report["metrics"]["likelihood"]["num_human"] == 4 and report["metrics"]["likelihood"]["num_machine"] == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": ["gptzero"]}, "methods"),
        ({"data_files": None}, "data_files"),
        ({"n_samples": 1}, "n_samples"),
        ({"limit": 0}, "limit"),
        ({"dtype": "int8"}, "dtype"),
        ({"short_text": "drop"}, "short_text"),
        ({"rank_ties": "max"}, "rank_ties"),
        ({"human_files": ["h.csv"]}, "either"),
        ({"data_files": ["x.txt"]}, "unsupported"),
    ],
)
def test_rejects_bad_arguments(model_dir, tmp_path, kwargs, match):
    script = load_example("lastde_detect")
    base = {
        "model_name_or_path": str(model_dir),
        "data_files": [str(tmp_path / "x.jsonl")],
        "output_dir": str(tmp_path),
    }
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match=match):
        script.main(script.LastdeDetectArguments(**{**base, **kwargs}))
