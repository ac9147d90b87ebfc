"""`notebooks/spear`: a smoke run (toy tool task, CPU) and what it writes. The static checks (generated from its
source, no outputs, precision rule) are in `test_notebooks.py`, for every notebook."""

from __future__ import annotations

from notebook_runner import assert_png, execute, read_summary

SPEAR_METRICS = {"spear/buffer_size", "spear/replay_triggered", "spear/replay_rows", "spear/sil_weight",
                 "spear/baseline_p50", "spear/toolcall_weight"}  # fmt: skip


def test_smoke_run(tmp_path):
    execute("spear.ipynb", tmp_path, env={"TRL_EXPLORE_CACHE": str(tmp_path / "cache")})
    summary = read_summary(tmp_path, "spear_summary.json")
    assert summary["steps"] == 4 and set(summary["methods"]) == {"Dr.BoT", "SPEAR"}
    spear, baseline = summary["methods"]["SPEAR"], summary["methods"]["Dr.BoT"]
    assert spear["logged_steps"] == baseline["logged_steps"] == 4
    assert set(spear["metrics"]) >= SPEAR_METRICS and "clip_cov/frac_selected" in spear["metrics"]
    assert "spear/replay_triggered" not in baseline["metrics"] and "dr_bot/frac_groups_kept" in baseline["metrics"]
    assert spear["replays"] >= 1, "the smoke run's small buffer must trigger a replay"
    for result in (summary["before"], spear["after"], baseline["after"]):
        assert 0.0 <= result["pass_rate"] <= 1.0 and 0.0 <= result["tool_call_rate"] <= 1.0
    assert_png(tmp_path / "spear_training.png")
    assert (tmp_path / "spear" / "SPEAR" / "config.json").is_file()
