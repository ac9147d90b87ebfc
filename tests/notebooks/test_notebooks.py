"""Execute every Colab notebook in smoke mode (``TRL_EXPLORE_SMOKE=1``: toy model, local data, CPU) with nbclient.

Each notebook runs in its own temporary working directory; a test asserts that every cell ran without error and
checks what the notebook wrote there (its summary JSON and plots). The committed notebooks must match what
`notebooks/_build.py` generates, and carry no outputs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
# notebooks with a jupytext source (`notebooks/<name>.py`) follow the newer convention and have their own test files
NOTEBOOK_FILES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if not p.with_suffix(".py").exists())
CELL_TIMEOUT = 300  # seconds per cell; a smoke run takes well under a minute in total
RUNTIMES: dict[str, float] = {}


def _load_build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def execute(name: str, workdir: Path) -> nbformat.NotebookNode:
    """Run `notebooks/<name>` in smoke mode with `workdir` as its working directory; return the executed notebook."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    env = {
        "TRL_EXPLORE_SMOKE": "1",
        "MPLBACKEND": "Agg",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
    }
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        RUNTIMES[name] = time.perf_counter() - start
        print(f"{name}: smoke run {RUNTIMES[name]:.1f} s")  # shown with `pytest -s`
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def stdout_of(nb: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path.name} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert path.stat().st_size > 5_000, f"{path.name} is suspiciously small"


def read_summary(workdir: Path, name: str) -> dict:
    path = workdir / name
    assert path.is_file(), f"{name} was not written"
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------------------ static checks
def test_every_notebook_is_listed_and_built():
    build = _load_build_module()
    assert sorted(build.NOTEBOOKS) == NOTEBOOK_FILES
    assert set(NOTEBOOK_FILES) == {
        "lp_reg_quickstart.ipynb",
        "rank_aware_sft.ipynb",
        "fourier_head.ipynb",
        "relative_negative_gradients.ipynb",
    }


def test_committed_notebooks_match_the_generator():
    result = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "_build.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_notebook_structure(name):
    """No outputs are committed; the guarded install cell, smoke switch, T4 precision and Colab link are there."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code_cells), "commit notebooks without outputs"
    sources = "\n".join(c.source for c in code_cells)
    install = '%pip install -q "trl_explore[quantization] @ git+https://github.com/trl-explore/trl_explore"'
    install_cell = next(c.source for c in code_cells if install in c.source)
    assert 'if not SMOKE and importlib.util.find_spec("trl_explore") is None:' in install_cell
    assert 'os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"' in sources
    assert "torch.cuda.is_bf16_supported()" in sources and "fp16=USE_FP16" in sources
    assert "PUSH_TO_HUB = False" in sources
    assert not re.search(r"^\s*(huggingface_hub\.)?(notebook_)?login\(", sources, re.MULTILINE), "no login needed"
    assert f"colab.research.google.com/github/trl-explore/trl_explore/blob/main/notebooks/{name}" in nb.cells[0].source


def test_smoke_mode_never_imports_bitsandbytes():
    """bitsandbytes is imported only inside the real path's `LOAD_IN_4BIT` branch."""
    for name in NOTEBOOK_FILES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        for cell in nb.cells:
            if "BitsAndBytesConfig" in cell.source:
                assert "if LOAD_IN_4BIT:" in cell.source and "LOAD_IN_4BIT = False" in "".join(
                    c.source for c in nb.cells
                )
            assert "import bitsandbytes" not in cell.source


# ------------------------------------------------------------------------------------------------------- execution
def test_lp_reg_quickstart_smoke(tmp_path):
    nb = execute("lp_reg_quickstart.ipynb", tmp_path)
    summary = read_summary(tmp_path, "lp_reg_quickstart_summary.json")
    assert summary["steps"] == 4
    assert summary["first_reward"] is not None and 0.0 <= summary["first_reward"] <= 1.0
    assert {"lp_reg/frac_selected", "lp_reg/kept_mass"} <= set(summary["lp_reg_metrics"])
    assert "exploration/frac_prob_lt_0.1" in summary["exploration_metrics"]
    assert_png(tmp_path / "lp_reg_quickstart_metrics.png")
    assert (tmp_path / "lp_reg_quickstart" / "adapter_config.json").is_file()  # the LoRA adapter was saved
    assert "reward of (correct, unanswered): [1.0, 0.0]" in stdout_of(nb)


def test_rank_aware_sft_smoke(tmp_path):
    execute("rank_aware_sft.ipynb", tmp_path)
    summary = read_summary(tmp_path, "rank_aware_summary.json")
    assert list(summary) == ["cross_entropy", "precision (β = −0.25)"]
    for run in summary.values():
        assert run["steps"] == 6
        assert 0.0 < run["entropy"] < 10.0  # nats over a ~100-token vocabulary: at most log(V) ≈ 4.7
        assert 0.0 <= run["top1_accuracy"] <= 1.0
        assert run["last_train_entropy"] is not None
    # different losses from the same start give different models
    assert summary["cross_entropy"]["entropy"] != summary["precision (β = −0.25)"]["entropy"]
    assert_png(tmp_path / "rank_aware_entropy.png")


def test_fourier_head_smoke(tmp_path):
    execute("fourier_head.ipynb", tmp_path)
    summary = read_summary(tmp_path, "fourier_head_summary.json")
    assert set(summary["toy"]) == {"gaussian/linear", "gaussian/fourier", "gmm2/linear", "gmm2/fourier"}
    for metrics in summary["toy"].values():
        assert metrics["kl"] > 0.0 and metrics["smoothness"] > 0.0
    assert set(summary["numeric_head"]) == {"plain", "fourier"}
    for metrics in summary["numeric_head"].values():
        assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["smoothness"] > 0.0
    assert "fourier/regularization" in summary["fourier_metrics_logged"]
    assert_png(tmp_path / "fourier_toy_pmfs.png")
    assert_png(tmp_path / "fourier_numeric_pmfs.png")


def test_relative_negative_gradients_smoke(tmp_path):
    """Runs whatever advantage modes the installed library supports: GRPO only while `ExploreGRPOConfig` has no
    `advantage_mode` field, GRPO plus NSR and W-REINFORCE (at least) once it has."""
    from trl_explore.trainers import ExploreGRPOConfig

    has_modes = "advantage_mode" in {f.name for f in dataclasses.fields(ExploreGRPOConfig)}
    execute("relative_negative_gradients.ipynb", tmp_path)
    summary = read_summary(tmp_path, "relative_negative_gradients_summary.json")
    assert summary["has_advantage_modes"] is has_modes
    if has_modes:
        assert {"grpo", "nsr", "w_reinforce"} <= set(summary["methods"])
    else:
        assert summary["methods"] == ["grpo"]
        assert set(summary["unsupported"]) == {"grpo_n", "nsr", "w_reinforce", "psr"}
    k = summary["k"]
    assert set(summary["table"]) == set(summary["methods"])
    for name, row in summary["table"].items():
        assert 0.0 <= row["pass@1_start"] <= row[f"pass@{k}_start"] <= 1.0
        assert 0.0 <= row["pass@1_end"] <= row[f"pass@{k}_end"] <= 1.0
        csv = tmp_path / "relative_negative_gradients" / name / "pass_at_k.csv"
        assert csv.is_file() and len(csv.read_text().splitlines()) == 1 + 2 * 3  # header + 2 evaluations x ks 1,2,4
    assert_png(tmp_path / "relative_negative_gradients.png")
