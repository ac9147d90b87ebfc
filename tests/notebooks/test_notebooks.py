"""Execute every Colab notebook in smoke mode (``TRL_EXPLORE_SMOKE=1``: toy model, local data, CPU) with nbclient.

Each notebook runs in its own temporary working directory; a test asserts that every cell ran without error and
checks what the notebook wrote there (its summary JSON and plots). Every notebook is a jupytext ``py:percent`` source
``notebooks/<name>.py`` (linted by ruff) and the ``notebooks/<name>.ipynb`` jupytext generates from it
(``jupytext --to ipynb notebooks/<name>.py``), committed without outputs: the static checks below cover every
notebook in the folder, the smoke runs of the notebooks added later live in their own test files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from notebook_runner import (  # skips the module when nbformat / nbclient are missing
    NOTEBOOK_FILES,
    NOTEBOOKS,
    SOURCE_FILES,
    assert_png,
    execute,
    nbformat,
    read_summary,
    stdout_of,
)


# ------------------------------------------------------------------------------------------------------ static checks
def test_every_notebook_has_its_source():
    """Each ``.ipynb`` has its jupytext source ``.py`` next to it and vice versa (no generator script)."""
    assert [Path(n).stem for n in NOTEBOOK_FILES] == [Path(n).stem for n in SOURCE_FILES]
    assert {
        "lp_reg_quickstart.ipynb",
        "rank_aware_sft.ipynb",
        "fourier_head.ipynb",
        "relative_negative_gradients.ipynb",
    } <= set(NOTEBOOK_FILES)
    assert not (NOTEBOOKS / "_build.py").exists()


def _content(nb: nbformat.NotebookNode) -> tuple:
    """What a notebook says: cell types, sources and metadata (not the random cell ids), and its metadata."""
    cells = [(c.cell_type, c.source, dict(c.metadata), c.get("outputs"), c.get("execution_count")) for c in nb.cells]
    return cells, dict(nb.metadata), nb.nbformat


@pytest.mark.parametrize("name", SOURCE_FILES)
def test_notebook_equals_what_jupytext_generates_from_its_source(name):
    """``notebooks/<name>.ipynb`` is ``jupytext --to ipynb notebooks/<name>.py``: edit the ``.py``, regenerate."""
    jupytext = pytest.importorskip("jupytext")
    # what `jupytext --to ipynb` writes (it drops the text-representation metadata that `read` attaches)
    generated = nbformat.reads(jupytext.writes(jupytext.read(NOTEBOOKS / name, fmt="py:percent"), fmt="ipynb"), 4)
    committed = nbformat.read(NOTEBOOKS / name.replace(".py", ".ipynb"), as_version=4)
    assert _content(committed) == _content(generated), f"regenerate it: jupytext --to ipynb notebooks/{name}"


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_notebook_structure(name):
    """No outputs are committed; the guarded install cell, smoke switch, T4 precision and Colab link are there."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code_cells), "commit notebooks without outputs"
    sources = "\n".join(c.source for c in code_cells)
    install = "@ git+https://github.com/trl-explore/trl_explore"
    install_cell = next(c.source for c in code_cells if install in c.source)
    assert 'if not SMOKE and importlib.util.find_spec("trl_explore") is None:' in install_cell
    assert "pip" in install_cell and "install" in install_cell
    assert 'os.environ.get("TRL_EXPLORE_SMOKE", "0") == "1"' in sources
    # the shared setup decides the precision (fp16 below compute capability 8, bf16 from Ampere on; see test_colab.py);
    # never `is_bf16_supported()` (True on a T4) nor a precision rule of the notebook's own
    assert "SETUP = notebook_setup(SMOKE" in sources and "is_bf16_supported" not in sources
    assert "get_device_capability" not in sources
    if "Trainer(" in sources:  # a notebook that trains passes the precision it decided to the trainer's config
        assert "fp16=USE_FP16" in sources
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
    assert "fourier_head/regularization" in summary["fourier_metrics_logged"]
    assert_png(tmp_path / "fourier_toy_pmfs.png")
    assert_png(tmp_path / "fourier_numeric_pmfs.png")


def test_relative_negative_gradients_smoke(tmp_path):
    """Every method runs in the NSR / W-REINFORCE recipe's regime (4 optimizer steps per generation, clip 0.2 / 0.2;
    NSR normalised over the kept tokens) and pass@k is sampled with the papers' protocol (T 0.6, top-p 0.95)."""
    execute("relative_negative_gradients.ipynb", tmp_path)
    summary = read_summary(tmp_path, "relative_negative_gradients_summary.json")
    assert summary["methods"] == ["grpo", "grpo_n", "nsr", "w_reinforce", "psr"]
    for name, recipe in summary["recipe"].items():
        assert recipe["advantage_mode"] == name
        assert recipe["updates_per_generation"] == 4 and recipe["epsilon"] == recipe["epsilon_high"] == 0.2
    assert summary["recipe"]["nsr"]["negative_normalization"] == "selected_tokens"
    assert summary["eval_sampling"] == {"temperature": 0.6, "top_p": 0.95}
    k = summary["k"]
    assert set(summary["table"]) == set(summary["methods"])
    for name, row in summary["table"].items():
        assert 0.0 <= row["pass@1_start"] <= row[f"pass@{k}_start"] <= 1.0
        assert 0.0 <= row["pass@1_end"] <= row[f"pass@{k}_end"] <= 1.0
        csv = tmp_path / "relative_negative_gradients" / name / "pass_at_k.csv"
        assert csv.is_file() and len(csv.read_text().splitlines()) == 1 + 2 * 3  # header + 2 evaluations x ks 1,2,4
    assert_png(tmp_path / "relative_negative_gradients.png")
