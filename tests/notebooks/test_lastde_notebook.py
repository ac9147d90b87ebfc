"""`notebooks/lastde`: a smoke run (tiny toy model, the toy human-vs-machine set, CPU) and what it writes. The static
checks (generated from its source, no outputs, precision rule) are in `test_notebooks.py`, for every notebook."""

from __future__ import annotations

from notebook_runner import assert_png, execute, read_summary, stdout_of


def test_smoke_run(tmp_path):
    nb = execute("lastde.ipynb", tmp_path)
    summary = read_summary(tmp_path, "lastde_summary.json")
    methods = ["likelihood", "log_rank", "entropy", "fast_detectgpt", "lastde", "lastde_closed", "lastde++"]
    assert list(summary["metrics"]) == methods and summary["num_texts_per_side"] == 16
    for m in summary["metrics"].values():
        assert 0.0 <= m["auroc"] <= 1.0 and 0.0 <= m["tpr_at_fpr"] <= 1.0
        assert m["num_human"] + m["num_machine"] + m["num_unscored"] == 32
    assert summary["metrics"]["likelihood"]["num_unscored"] == 0  # every text has >= 2 tokens
    assert 0.0 <= summary["held_out_accuracy"] <= 1.0
    for name in ("lastde_tps.png", "lastde_roc.png"):
        assert_png(tmp_path / name)
    assert "| method | AUROC | PR-AUC | TPR@1%FPR | unscored |" in stdout_of(nb)
