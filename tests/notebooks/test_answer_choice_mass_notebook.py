"""`notebooks/answer_choice_mass`: a smoke run (toy model, synthetic questions, CPU) and what it writes. The static
checks (generated from its source, no outputs, precision rule) are in `test_notebooks.py`, for every notebook."""

from __future__ import annotations

from notebook_runner import assert_png, execute, read_summary, stdout_of


def test_smoke_run(tmp_path):
    nb = execute("answer_choice_mass.ipynb", tmp_path)
    summary = read_summary(tmp_path, "answer_choice_mass_summary.json")
    assert [(r["format"], r["k"]) for r in summary["sweep"]] == [
        (f, k) for f in ("enumerated", "string", "cloze") for k in (0, 1, 2)
    ]
    for row in summary["sweep"]:
        assert 0.0 <= row["mass"] <= 1.0 and row["num_questions"] == 12 and row["pmi_accuracy"] is not None
    steps = [row["step"] for row in summary["training"]]
    assert steps == [0, 10, 20, 30, 40]
    # SFT on the symbols teaches the toy model to answer with a choice: the mass rises far above its start
    assert summary["training"][-1]["mass"] > 0.5 and summary["training"][0]["mass"] < 0.1
    for name in ("answer_choice_mass_by_k.png", "answer_choice_mass_training.png"):
        assert_png(tmp_path / name)
    assert "moved into the prompt" in stdout_of(nb)  # the toy tokenizer's shared " " is reported
    assert (tmp_path / "answer_choice_mass" / "answer_choice_mass.csv").is_file()
