"""`notebooks/hapo`: a smoke run (toy model and task, CPU) trains GRPO and HAPO and writes its plot and summary. The
static checks (generated from its source, no outputs, precision rule) are in `test_notebooks.py`, for every notebook."""

from __future__ import annotations

from notebook_runner import assert_png, execute, read_summary


def test_smoke_run(tmp_path):
    execute("hapo.ipynb", tmp_path)
    summary = read_summary(tmp_path, "hapo_summary.json")
    assert set(summary) == {"GRPO", "HAPO", "steps"} and summary["steps"] == 4
    assert 0.9 < summary["HAPO"]["hapo/temperature_mean"] < 1.1
    assert summary["HAPO"]["hapo/eps_low_mean"] >= 0.2 and summary["GRPO"]["reward"] is not None
    assert_png(tmp_path / "hapo_runs.png")
