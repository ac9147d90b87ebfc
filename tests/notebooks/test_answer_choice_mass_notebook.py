"""`notebooks/answer_choice_mass` (jupytext source + generated notebook): in sync, no outputs, the T4 precision rule,
and a smoke run (``TRL_EXPLORE_SMOKE=1``: toy model, synthetic questions, CPU) with nbclient."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks" / "answer_choice_mass.py"
NOTEBOOK = ROOT / "notebooks" / "answer_choice_mass.ipynb"
SMOKE_ENV = {
    "TRL_EXPLORE_SMOKE": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_DISABLED": "true",
}


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def test_notebook_is_generated_from_its_source():
    """`jupytext --to ipynb notebooks/answer_choice_mass.py` reproduces the committed cells."""
    jupytext = pytest.importorskip("jupytext")
    assert _cells(jupytext.read(SOURCE)) == _cells(nbformat.read(NOTEBOOK, as_version=4))


def test_source_passes_ruff():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run([ruff, "check", str(SOURCE)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout


def test_structure():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit the notebook without outputs"
    sources = "\n".join(c.source for c in code)
    install = '%pip install -q "trl_explore[quantization] @ git+https://github.com/trl-explore/trl_explore"'
    install_cell = next(c.source for c in code if install in c.source)
    assert 'if not SMOKE and importlib.util.find_spec("trl_explore") is None:' in install_cell
    assert 'os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"' in sources
    # precision from the compute capability (a T4 is 7.5: fp16), never from is_bf16_supported()
    assert "torch.cuda.get_device_capability()" in sources and "is_bf16_supported" not in sources
    assert "fp16=USE_FP16" in sources and "bf16=USE_BF16" in sources
    assert "PUSH_TO_HUB = False" in sources and "login(" not in sources.replace("notebook_login()`", "")
    assert "colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/answer_choice_mass.ipynb" in (
        nb.cells[0].source
    )


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
    summary = json.loads((tmp_path / "answer_choice_mass_summary.json").read_text())
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
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, name
    stdout = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "moved into the prompt" in stdout  # the toy tokenizer's shared " " is reported
    assert (tmp_path / "answer_choice_mass" / "answer_choice_mass.csv").is_file()
