"""`notebooks/hapo` (jupytext source + generated notebook): a smoke run (``TRL_EXPLORE_SMOKE=1``: toy model and task,
CPU) trains GRPO and HAPO and writes its plot and summary."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "hapo.ipynb"
SMOKE_ENV = {
    "TRL_EXPLORE_SMOKE": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_DISABLED": "true",
}  # fmt: skip


def test_smoke_run(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    previous = {k: os.environ.get(k) for k in SMOKE_ENV}
    os.environ.update(SMOKE_ENV)  # the kernel inherits this process's environment
    try:
        nbclient.NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    summary = json.loads((tmp_path / "hapo_summary.json").read_text())
    assert set(summary) == {"GRPO", "HAPO", "steps"} and summary["steps"] == 4
    assert 0.9 < summary["HAPO"]["hapo/temperature_mean"] < 1.1
    assert summary["HAPO"]["hapo/eps_low_mean"] >= 0.2 and summary["GRPO"]["reward"] is not None
    assert (tmp_path / "hapo_runs.png").stat().st_size > 10_000
