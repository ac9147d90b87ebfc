"""`notebooks/swireasoning` (jupytext py:percent source + generated .ipynb): structure, and a smoke run with nbclient
(``TRL_EXPLORE_SMOKE=1``: random tiny model, toy arithmetic task, CPU) checking what it writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOURCE, NOTEBOOK = NOTEBOOKS / "swireasoning.py", NOTEBOOKS / "swireasoning.ipynb"


def test_notebook_is_generated_from_its_source_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    source = jupytext.read(SOURCE)
    assert [(c.cell_type, c.source) for c in nb.cells] == [(c.cell_type, c.source) for c in source.cells], (
        "notebooks/swireasoning.ipynb is stale: run `jupytext --to ipynb notebooks/swireasoning.py`")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    text = "\n".join(c.source for c in code)
    assert 'SMOKE = os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"' in text
    assert 'if not SMOKE and importlib.util.find_spec("trl_explore") is None:' in text
    assert "torch.cuda.get_device_capability()" in text and "is_bf16_supported" not in text
    assert "PUSH_TO_HUB = False" in text and "login(" not in text
    assert "colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/swireasoning.ipynb" in \
        nb.cells[0].source


def test_smoke_run(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {"TRL_EXPLORE_SMOKE": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    summary = json.loads((tmp_path / "swireasoning_summary.json").read_text())
    assert summary["budgets"] == [24, 48] and summary["num_problems"] == 6
    assert [(r["decoder"], r["budget"]) for r in summary["rows"]] == [
        ("sampling", 24), ("SwiReasoning", 24), ("sampling", 48), ("SwiReasoning", 48)]
    for row in summary["rows"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and 1.0 <= row["mean_tokens"] <= row["budget"]
    swi = summary["rows"][1]
    assert 0.0 <= swi["latent_share"] <= 1.0 and swi["switches"] >= 0.0
    assert summary["batch_summary"]["num_sequences"] == 4.0
    for name in ("swireasoning_traces.png", "swireasoning_budget.png"):
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000, name
