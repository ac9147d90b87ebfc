"""`notebooks/swireasoning`: a smoke run (random tiny model, toy arithmetic task, CPU) and what it writes. The static
checks (generated from its source, no outputs, precision rule) are in `test_notebooks.py`, for every notebook."""

from __future__ import annotations

from notebook_runner import assert_png, execute, read_summary


def test_smoke_run(tmp_path):
    execute("swireasoning.ipynb", tmp_path)
    summary = read_summary(tmp_path, "swireasoning_summary.json")
    assert summary["budgets"] == [24, 48] and summary["num_problems"] == 6
    assert [(r["decoder"], r["budget"]) for r in summary["rows"]] == [
        ("sampling", 24),
        ("SwiReasoning", 24),
        ("sampling", 48),
        ("SwiReasoning", 48),
    ]
    for row in summary["rows"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and 1.0 <= row["mean_tokens"] <= row["budget"]
    swi = summary["rows"][1]
    assert 0.0 <= swi["latent_share"] <= 1.0 and swi["switches"] >= 0.0
    assert summary["batch_summary"]["num_sequences"] == 4.0
    for name in ("swireasoning_traces.png", "swireasoning_budget.png"):
        assert_png(tmp_path / name)
