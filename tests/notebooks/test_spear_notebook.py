"""`notebooks/spear` (jupytext source + generated notebook): in sync, no outputs, the T4 precision rule, and a smoke
run (``TRL_EXPLORE_SMOKE=1``: the toy tool task, a tiny warm-started model, CPU) with nbclient."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks" / "spear.py"
NOTEBOOK = ROOT / "notebooks" / "spear.ipynb"
SMOKE_ENV = {
    "TRL_EXPLORE_SMOKE": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_DISABLED": "true",
}  # fmt: skip
SPEAR_METRICS = {"spear/buffer_size", "spear/replay_triggered", "spear/replay_rows", "spear/sil_weight",
                 "spear/baseline_p50", "spear/toolcall_weight"}  # fmt: skip


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def test_notebook_is_generated_from_its_source():
    """`jupytext --to ipynb notebooks/spear.py` reproduces the committed cells."""
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
    assert "colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/spear.ipynb" in (
        nb.cells[0].source
    )
    assert "import bitsandbytes" not in sources


def test_smoke_run(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {**SMOKE_ENV, "TRL_EXPLORE_CACHE": str(tmp_path / "cache")}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
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
    summary = json.loads((tmp_path / "spear_summary.json").read_text())
    assert summary["steps"] == 4 and set(summary["methods"]) == {"Dr.BoT", "SPEAR"}
    spear, baseline = summary["methods"]["SPEAR"], summary["methods"]["Dr.BoT"]
    assert spear["logged_steps"] == baseline["logged_steps"] == 4
    assert SPEAR_METRICS <= set(spear["metrics"]) and "clip_cov/frac_selected" in spear["metrics"]
    assert "spear/replay_triggered" not in baseline["metrics"] and "dr_bot/frac_groups_kept" in baseline["metrics"]
    assert spear["replays"] >= 1, "the smoke run's small buffer must trigger a replay"
    for result in (summary["before"], spear["after"], baseline["after"]):
        assert 0.0 <= result["pass_rate"] <= 1.0 and 0.0 <= result["tool_call_rate"] <= 1.0
    data = (tmp_path / "spear_training.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    assert (tmp_path / "spear" / "SPEAR" / "config.json").is_file()
